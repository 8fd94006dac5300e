//! The flow part of the module: exact line balancing (SALBP-1 and SALBP-2, from task lists or Scholl's
//! `.IN2` / Otto et al.'s `.alb` files, with zoning), line simulation (event engine or max-plus
//! replications) and the paint-shop model from TOML model files, the same computations as
//! `twinloom balance` and `twinloom flow` (docs/flow.md). Results are dicts with the keys of the CLI's
//! `--json` output; the Python package wraps the balance in dataclasses.

use pyo3::prelude::*;
use serde_json::json;
use std::time::Duration;
use twinloom_flow::des::{replicate, replicate_maxplus, MaxPlusLine, Sim};
use twinloom_flow::gpu::{select, GpuMode};
use twinloom_flow::salbp::{read_instance, solve_balance, Instance, Options, Zoning};
use twinloom_flow::scenario::{parse_model, read_model, FlowModel as Model};

use crate::convert::{json_to_py, path_arg};
use crate::{flow_err, invalid};

/// 1-based task pairs to 0-based ones, named for errors.
fn pairs(v: Vec<(usize, usize)>, what: &str) -> PyResult<Vec<(usize, usize)>> {
    v.into_iter()
        .map(|(a, b)| {
            if a == 0 || b == 0 {
                Err(invalid(format!("{what}: tasks are numbered from 1, got ({a}, {b})")))
            } else {
                Ok((a - 1, b - 1))
            }
        })
        .collect()
}

/// Solves the instance as `twinloom balance` does and returns its `--json` object (without `file`).
fn solve(
    py: Python<'_>,
    mut inst: Instance,
    cycle_time: Option<u64>,
    stations: Option<usize>,
    together: Vec<(usize, usize)>,
    apart: Vec<(usize, usize)>,
    time_limit: Option<f64>,
) -> PyResult<serde_json::Value> {
    inst.zoning.together.extend(pairs(together, "together")?);
    inst.zoning.apart.extend(pairs(apart, "apart")?);
    let time_limit = match time_limit {
        Some(t) if !(t >= 0.0 && t.is_finite()) => {
            return Err(invalid(format!("time_limit must be a finite number of seconds >= 0, got {t}")))
        }
        t => t.map(Duration::from_secs_f64),
    };
    if cycle_time.is_some() && stations.is_some() {
        return Err(invalid("give cycle_time (fewest stations) or stations (shortest cycle time), not both"));
    }
    if cycle_time == Some(0) {
        return Err(invalid("cycle_time must be at least 1"));
    }
    let opts = Options { time_limit, step_limit: None };
    let summary = py
        .detach(|| solve_balance(&inst, cycle_time, stations, &opts))
        .map_err(flow_err)?
        .ok_or_else(|| invalid("give cycle_time (fewest stations) or stations (shortest cycle time)"))?;
    serde_json::to_value(&summary).map_err(|e| invalid(format!("balance as JSON: {e}")))
}

/// Balances a line given as task times and precedence pairs (tasks numbered from 1); see
/// `twinloom.balance`.
#[pyfunction]
#[pyo3(name = "_balance", signature = (times, precedences=None, cycle_time=None, stations=None, together=None, apart=None, time_limit=None, name=None))]
#[allow(clippy::too_many_arguments)]
fn balance_raw<'py>(
    py: Python<'py>,
    times: Vec<u64>,
    precedences: Option<Vec<(usize, usize)>>,
    cycle_time: Option<u64>,
    stations: Option<usize>,
    together: Option<Vec<(usize, usize)>>,
    apart: Option<Vec<(usize, usize)>>,
    time_limit: Option<f64>,
    name: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = name.unwrap_or_else(|| "tasks".to_string());
    if times.is_empty() {
        return Err(invalid("times: give at least one task time"));
    }
    let inst = Instance {
        name,
        times,
        precedences: pairs(precedences.unwrap_or_default(), "precedences")?,
        cycle_time: None,
        zoning: Zoning::default(),
    };
    inst.validate().map_err(flow_err)?;
    let v = solve(py, inst, cycle_time, stations, together.unwrap_or_default(), apart.unwrap_or_default(), time_limit)?;
    json_to_py(py, &v)
}

/// Balances the instance of a Scholl `.IN2` or Otto et al. `.alb` file; see `twinloom.balance_file`.
#[pyfunction]
#[pyo3(name = "_balance_file", signature = (path, cycle_time=None, stations=None, together=None, apart=None, time_limit=None))]
fn balance_file_raw<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
    cycle_time: Option<u64>,
    stations: Option<usize>,
    together: Option<Vec<(usize, usize)>>,
    apart: Option<Vec<(usize, usize)>>,
    time_limit: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let path = path_arg(path)?;
    let inst = py.detach(|| read_instance(&path)).map_err(flow_err)?;
    let mut v =
        solve(py, inst, cycle_time, stations, together.unwrap_or_default(), apart.unwrap_or_default(), time_limit)?;
    v["file"] = json!(path.display().to_string());
    json_to_py(py, &v)
}

/// A flow model: a `[line]` (serial line for the simulation) and/or a `[paint]` table (booth and oven),
/// from a TOML file or text, with an optional scenario merged over it (docs/flow.md).
#[pyclass(module = "twinloom._native", frozen)]
pub struct FlowModel {
    model: Model,
    label: String,
}

#[pymethods]
impl FlowModel {
    /// Reads a model file, with an optional scenario file merged over it (the files are never written).
    #[staticmethod]
    #[pyo3(signature = (path, scenario=None))]
    fn load(py: Python<'_>, path: &Bound<'_, PyAny>, scenario: Option<&Bound<'_, PyAny>>) -> PyResult<FlowModel> {
        let path = path_arg(path)?;
        let scenario = scenario.map(path_arg).transpose()?;
        let model = py.detach(|| read_model(&path, scenario.as_deref())).map_err(flow_err)?;
        let label = match &scenario {
            Some(s) => format!("{} + {}", path.display(), s.display()),
            None => path.display().to_string(),
        };
        Ok(FlowModel { model, label })
    }

    /// Parses a model from TOML text, with an optional scenario text merged over it; `name` labels errors.
    #[staticmethod]
    #[pyo3(signature = (text, scenario=None, name=None))]
    fn parse(text: &str, scenario: Option<&str>, name: Option<String>) -> PyResult<FlowModel> {
        let name = name.unwrap_or_else(|| "model".to_string());
        let model = parse_model(&name, text, scenario.map(|s| ("scenario", s))).map_err(flow_err)?;
        let label = if scenario.is_some() { format!("{name} + scenario") } else { name };
        Ok(FlowModel { model, label })
    }

    /// Whether the model has a `[line]` table.
    #[getter]
    fn has_line(&self) -> bool {
        self.model.line.is_some()
    }

    /// Whether the model has a `[paint]` table.
    #[getter]
    fn has_paint(&self) -> bool {
        self.model.paint.is_some()
    }

    /// The line's name, or None without a `[line]` table.
    #[getter]
    fn line_name(&self) -> Option<String> {
        self.model.line.as_ref().map(|l| l.name.clone())
    }

    /// The model (after merging the scenario) as a dict of the TOML file's shape.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = serde_json::to_value(&self.model).map_err(|e| invalid(format!("model: {e}")))?;
        json_to_py(py, &v)
    }

    /// Simulates the `[line]` with independent replications (replication r uses random stream r of `seed`),
    /// as `twinloom flow --json` does: the dict of its `line` key (event engine) or, with `maxplus=True`,
    /// of its `maxplus` key (max-plus recursion of a plain serial line on the CPU).
    #[pyo3(signature = (replications=10, seed=1, maxplus=false))]
    fn simulate<'py>(
        &self,
        py: Python<'py>,
        replications: usize,
        seed: u64,
        maxplus: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !(1..=1_000_000).contains(&replications) {
            return Err(invalid(format!("replications must be in 1..=1000000, got {replications}")));
        }
        let line = self
            .model
            .line
            .as_ref()
            .ok_or_else(|| invalid(format!("{}: the model has no [line] table", self.label)))?;
        let v = py
            .detach(|| -> twinloom_flow::Result<serde_json::Value> {
                if maxplus {
                    let mp = MaxPlusLine::from_model(line)?;
                    let device = select(GpuMode::Off)?;
                    Ok(json!(replicate_maxplus(&mp, replications, seed, &device)?))
                } else {
                    Ok(json!(replicate(&Sim::new(line)?, replications, seed).0))
                }
            })
            .map_err(flow_err)?;
        json_to_py(py, &v)
    }

    /// Evaluates the `[paint]` model and its what-if grid, as the `paint` key of `twinloom flow --json`:
    /// `{"result": {...}, "whatif": [...]}`.
    fn paint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = self
            .model
            .paint
            .as_ref()
            .ok_or_else(|| invalid(format!("{}: the model has no [paint] table", self.label)))?;
        let result = p.evaluate().map_err(flow_err)?;
        let whatif = if p.whatif.is_some() { p.what_if().map_err(flow_err)? } else { Vec::new() };
        json_to_py(py, &json!({ "result": result, "whatif": whatif }))
    }

    fn __repr__(&self) -> String {
        format!(
            "FlowModel({:?}, line={}, paint={})",
            self.label,
            if self.model.line.is_some() { "True" } else { "False" },
            if self.model.paint.is_some() { "True" } else { "False" }
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlowModel>()?;
    m.add_function(wrap_pyfunction!(balance_raw, m)?)?;
    m.add_function(wrap_pyfunction!(balance_file_raw, m)?)?;
    Ok(())
}
