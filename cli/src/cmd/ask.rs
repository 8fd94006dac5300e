//! `twinloom ask "QUESTION" [--stage DIR] [--ledger FILE] [--json]`: the plant copilot (twinloom-copilot,
//! docs/copilot.md) over the real analyses. The question is parsed by the copilot's grammar; only the
//! analysis its intent needs runs, once per process ([`CliFacts`] caches each fact): the BIW collision and
//! reach study of the stage (or of the sample plant's other body variant), the line simulation of the
//! stage, the payback ledger and the stage's current values. A fact without a source here is
//! `FactError::Unavailable` with the flag to pass; an analysis that fails is an error (exit 2).
//!
//! Exit status: 0 answered, 1 refused or not answerable from the facts given, 2 on an error.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;
use twinloom_copilot::{
    matches_terms, AnomalyFacts, BalanceFact, BiwFacts, BiwStationFact, ClashFact, CurrentFacts, EstimateFact,
    FactError, FactKind, FactResult, FactValue, Facts, Fix, ForecastFacts, GapFact, PaybackFact, SimStationFact,
    SimulationFact, Source, UnreachableFact, ValueFact,
};
use twinloom_plant_layout::Variant;
use twinloom_usd::kit::Stage;
use twinloom_usd::Value;

#[derive(clap::Args)]
pub struct Args {
    /// The question, in plain English (quote it; several words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    question: Vec<String>,
    /// The twin's stage: a folder with plant.usda (what `twinloom demo` writes) or its root layer. Needed
    /// for clash, reach, throughput and current-state questions.
    #[arg(long)]
    stage: Option<PathBuf>,
    /// The payback ledger (docs/payback.md), for questions about savings and payback.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Print one JSON object: question, intent, answered, text, sources.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let question = args.question.join(" ");
    let facts = CliFacts::new(args.stage, args.ledger);
    let answer = twinloom_copilot::ask(&question, &facts);
    if let Some(e) = facts.failure.borrow_mut().take() {
        bail!("{e}");
    }
    if args.json {
        // One line, keys in this order: question, intent, answered, text, sources.
        let field = |k: &str, v: serde_json::Value| format!("{}:{v}", serde_json::Value::from(k));
        let fields = [
            field("question", json!(question)),
            field("intent", serde_json::to_value(&answer.intent)?),
            field("answered", json!(answer.answered)),
            field("text", json!(answer.text)),
            field("sources", serde_json::to_value(&answer.sources)?),
        ];
        out!("{{{}}}", fields.join(","));
    } else {
        out!("{}", answer.text);
        if !answer.sources.is_empty() {
            let names: Vec<String> = answer.sources.iter().map(|s| format!("{} ({})", s.name, s.detail)).collect();
            out!("sources: {}", names.join("; "));
        }
    }
    Ok(if answer.answered { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The answer as `twinloom ask --json` gives it (question, intent, answered, text, sources) from the same
/// facts; an analysis that failed is an error. `POST /v1/ask` serves this ([`handler`]).
pub fn answer_json(
    question: &str,
    stage: Option<PathBuf>,
    ledger: Option<PathBuf>,
) -> anyhow::Result<serde_json::Value> {
    let facts = CliFacts::new(stage, ledger);
    let answer = twinloom_copilot::ask(question, &facts);
    if let Some(e) = facts.failure.borrow_mut().take() {
        bail!("{e}");
    }
    Ok(json!({
        "question": question,
        "intent": serde_json::to_value(&answer.intent)?,
        "answered": answer.answered,
        "text": answer.text,
        "sources": serde_json::to_value(&answer.sources)?,
    }))
}

/// The service's `POST /v1/ask` handler: [`answer_json`] over the stage folder, with the ledger
/// `payback.toml` in that folder when there is one.
pub fn handler() -> twinloom_connector::ask::AskHandler {
    twinloom_connector::ask::AskHandler::new(|question, dir| {
        let ledger = Some(dir.join("payback.toml")).filter(|p| p.is_file());
        answer_json(question, Some(dir.to_path_buf()), ledger).map_err(|e| format!("{e:#}"))
    })
}

/// The stage's root layer: `DIR/plant.usda` for a folder, else the file itself.
fn stage_root(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("plant.usda")
    } else {
        path.to_path_buf()
    }
}

/// Why a fact that needs the stage is unavailable without `--stage`.
fn no_stage(kind: FactKind) -> FactError {
    FactError::Unavailable {
        kind,
        why: "no stage given: pass --stage DIR (the plant stage folder with plant.usda, or its root layer; \
              `twinloom demo` writes one)"
            .into(),
    }
}

/// The copilot's facts from the real analyses, each computed on first use and kept for the process.
pub struct CliFacts {
    stage: Option<PathBuf>,
    ledger: Option<PathBuf>,
    biw: RefCell<BTreeMap<Option<String>, FactResult<BiwFacts>>>,
    simulation: RefCell<BTreeMap<Option<String>, FactResult<SimulationFact>>>,
    payback: RefCell<Option<FactResult<PaybackFact>>>,
    current: RefCell<BTreeMap<String, FactResult<CurrentFacts>>>,
    /// The first analysis that failed: the command reports it as an error.
    failure: RefCell<Option<FactError>>,
}

impl CliFacts {
    pub fn new(stage: Option<PathBuf>, ledger: Option<PathBuf>) -> Self {
        CliFacts {
            stage,
            ledger,
            biw: RefCell::default(),
            simulation: RefCell::default(),
            payback: RefCell::default(),
            current: RefCell::default(),
            failure: RefCell::default(),
        }
    }

    /// Keeps the first failure for [`run`] to report.
    fn note<T>(&self, r: FactResult<T>) -> FactResult<T> {
        if let Err(e @ FactError::Failed { .. }) = &r {
            self.failure.borrow_mut().get_or_insert_with(|| e.clone());
        }
        r
    }

    /// The root layer of `--stage`, checked to exist.
    fn root(&self, kind: FactKind) -> FactResult<PathBuf> {
        let stage = self.stage.as_deref().ok_or_else(|| no_stage(kind))?;
        let root = stage_root(stage);
        if !root.is_file() {
            return Err(FactError::Failed { kind, message: format!("--stage {}: no such file", root.display()) });
        }
        Ok(root)
    }

    fn biw_uncached(&self, variant: Option<&str>) -> FactResult<BiwFacts> {
        let kind = FactKind::Biw;
        let failed = |e: &dyn std::fmt::Display| FactError::Failed { kind, message: e.to_string() };
        let want = match variant {
            None => None,
            Some("new") => Some(Variant::New),
            Some("current") => Some(Variant::Current),
            Some(other) => {
                return Err(FactError::Unavailable {
                    kind,
                    why: format!(
                        "no stage of the {other} variant is known (twinloom writes the sample plant's current and \
                         new bodies): pass --stage with that variant's stage and ask without naming the variant"
                    ),
                })
            }
        };
        let root = self.root(kind)?;
        let (sample, has_new) = {
            let st = Stage::open(&root).map_err(|e| failed(&e))?;
            let sample = matches!(
                st.value(twinloom_plant_layout::plant::PLANT, "twinloom:equipmentId").map_err(|e| failed(&e))?,
                Some(Value::String(s)) if s == "SamplePlant"
            );
            let reinforcement =
                format!("{}/Station01/Body/BPillarReinforcement", twinloom_plant_layout::plant::BIW_LINE);
            (sample, st.has_spec(&reinforcement))
        };
        let words = |v: Variant| if v == Variant::New { "the new variant" } else { "the current body" };
        let stage_variant = if has_new { Variant::New } else { Variant::Current };
        let mut temp = None;
        let (study_root, label, how) = match want {
            None if sample => (root.clone(), words(stage_variant), String::new()),
            None => (root.clone(), "the stage's body", String::new()),
            Some(v) if !sample => {
                return Err(FactError::Unavailable {
                    kind,
                    why: format!(
                        "{} is not the sample plant, and twinloom knows no stage of {} for it: pass --stage with \
                         that variant's stage and ask without naming the variant",
                        root.display(),
                        words(v)
                    ),
                })
            }
            Some(v) if v == stage_variant => (root.clone(), words(v), String::new()),
            Some(v) => {
                let t = TempStage::write(v).map_err(|e| failed(&format!("{e:#}")))?;
                let r = t.root.clone();
                temp = Some(t);
                let flag = if v == Variant::New { "new" } else { "current" };
                (r, words(v), format!(" from `twinloom-plant-layout --variant {flag}` in a temporary stage"))
            }
        };
        let options = twinloom_biw_stage::Options::default();
        let analysis = twinloom_biw_stage::analyze(&study_root, &options).map_err(|e| failed(&format!("{e:#}")))?;
        drop(temp);
        let source = Source::new(
            "BIW collision and reach study",
            format!(
                "twinloom analyze biw --stage {} ({label}{how}), {} stations on the {}",
                root.display(),
                analysis.stations.len(),
                analysis.device
            ),
        );
        // The clash fixes `twinloom recommend` found for this stage (its results layer, when there is one).
        let mut fixes = BTreeMap::new();
        let mut source = source;
        let layer = root.with_file_name("recommendations.usda");
        if study_root == root && layer.is_file() {
            let recs = twinloom_connector::recommend::read_layer(&layer).map_err(|e| failed(&e))?;
            for r in recs {
                if let Some(id) = r.get("id").and_then(|v| v.as_str()) {
                    fixes.insert(id.to_string(), r.clone());
                }
            }
            source
                .detail
                .push_str(&format!("; clash fixes from {} (twinloom recommend, re-run studies)", layer.display()));
        }
        Ok(biw_facts(&analysis, source, label, &fixes))
    }

    fn simulation_uncached(&self, line: Option<&str>) -> FactResult<SimulationFact> {
        let kind = FactKind::Simulation;
        let root = self.root(kind)?;
        let options = twinloom_flow_stage::Options::default();
        let study = twinloom_flow_stage::analyze(&root, &options)
            .map_err(|e| FactError::Failed { kind, message: format!("{e:#}") })?;
        let word = line.unwrap_or("assembly");
        let names: Vec<&str> = study.lines.iter().map(|l| l.line.prim.as_str()).collect();
        let Some(l) = study.lines.iter().find(|l| matches_terms(&l.line.prim, word)) else {
            return Err(FactError::Unavailable {
                kind,
                why: format!(
                    "the stage {} has no simulated {word} line (its lines with stations: {})",
                    root.display(),
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                ),
            });
        };
        let s = &l.summary;
        Ok(SimulationFact {
            source: Source::new(
                "line simulation",
                format!(
                    "twinloom flow --stage {} ({}, {} replications of {} h, seed {})",
                    root.display(),
                    l.line.prim,
                    s.replications,
                    options.horizon_h,
                    s.seed
                ),
            ),
            line: l.line.prim.clone(),
            scenario: None,
            replications: s.replications,
            throughput_per_h: EstimateFact { mean: s.throughput_per_h.mean, ci95: s.throughput_per_h.ci95 },
            bottleneck: Some(s.bottleneck.clone()).filter(|b| !b.is_empty()),
            stations: s
                .stations
                .iter()
                .map(|st| SimStationFact {
                    name: st.name.clone(),
                    utilisation: st.utilisation.mean,
                    blocked: st.blocked.mean,
                    starved: st.starved.mean,
                    bottleneck_share: st.bottleneck_share,
                })
                .collect(),
        })
    }

    fn payback_uncached(&self) -> FactResult<PaybackFact> {
        let kind = FactKind::Payback;
        let path = self.ledger.as_deref().ok_or_else(|| FactError::Unavailable {
            kind,
            why: "no ledger given: pass --ledger FILE (the payback ledger, docs/payback.md)".into(),
        })?;
        let ledger =
            twinloom_payback::read_ledger(path).map_err(|e| FactError::Failed { kind, message: format!("{e:#}") })?;
        let r = twinloom_payback::evaluate(&ledger);
        let month = |m: Option<twinloom_payback::Month>| m.map(|m| m.to_string());
        let gap = |g: &twinloom_payback::Gap| GapFact {
            name: g.name.clone(),
            dimension: g.dimension.clone(),
            through: month(g.through),
            projected_to_date: g.projected_to_date,
            actual_to_date: g.actual_to_date,
            gap_to_date: g.gap_to_date,
            ratio: g.ratio,
            projected_total: g.projected_total,
            actual_total: g.actual_total,
        };
        let through = r.through.map_or("no actuals yet".to_string(), |m| format!("actuals through {m}"));
        Ok(PaybackFact {
            source: Source::new("payback ledger", format!("twinloom payback --ledger {}, {through}", path.display())),
            ledger: ledger.name.clone(),
            currency: ledger.currency.clone(),
            through: month(r.through),
            payback_projected: month(r.payback_projected),
            payback_actual: month(r.payback_actual),
            payback_delay_months: r.payback_projected.zip(r.payback_actual).map(|(p, a)| a.since(p)),
            invest_planned: r.invest_planned_total,
            invest_actual: r.invest_actual_total,
            levers: r.levers.iter().map(gap).collect(),
            dimensions: r.dimensions.iter().map(gap).collect(),
        })
    }

    fn current_uncached(&self, target: &str) -> FactResult<CurrentFacts> {
        let kind = FactKind::Current;
        let root = self.root(kind)?;
        let failed = |e: &dyn std::fmt::Display| FactError::Failed { kind, message: e.to_string() };
        let st = Stage::open(&root).map_err(|e| failed(&e))?;
        // The live attributes of a prim: (attribute, unit) of each `TwinloomSignalBindingAPI:<name>` applied.
        let bound = |prim: &str| -> FactResult<Vec<(String, Option<String>)>> {
            let mut out = Vec::new();
            for api in st.api_schemas(prim) {
                let Some(name) = api.strip_prefix("TwinloomSignalBindingAPI:") else { continue };
                let text = |field: &str| -> FactResult<Option<String>> {
                    Ok(match st.value(prim, &format!("twinloom:signal:{name}:{field}")).map_err(|e| failed(&e))? {
                        Some(Value::String(s) | Value::Token(s)) if !s.is_empty() => Some(s),
                        _ => None,
                    })
                };
                if let Some(attr) = text("attribute")? {
                    out.push((attr, text("unit")?));
                }
            }
            Ok(out)
        };
        let read = |prim: &str, attr: &str, unit: Option<String>| -> FactResult<Option<ValueFact>> {
            let v = st.value(prim, attr).map_err(|e| failed(&e))?;
            Ok(v.and_then(fact_value).map(|value| ValueFact {
                path: format!("{prim}.{attr}"),
                value,
                unit,
                quality: None,
                time: None,
            }))
        };
        let mut values = Vec::new();
        // A written attribute path (`/Plant/Paint/Oven.energyPerCarKWh`): that attribute.
        let written = target.starts_with('/').then(|| target.rsplit_once('.')).flatten();
        if let Some((prim, attr)) = written.filter(|(p, a)| !a.contains('/') && !p.is_empty()) {
            let unit = bound(prim)?.into_iter().find(|(a, _)| a == attr).and_then(|(_, u)| u);
            values.extend(read(prim, attr, unit)?);
        } else {
            // Else every live (signal-bound) attribute and `twinloom:state` whose path (`prim.attr`) has all
            // the terms, in namespace order.
            let mut stack = vec![String::new()];
            while let Some(path) = stack.pop() {
                let children = st.children(if path.is_empty() { "/" } else { &path });
                for c in children.into_iter().rev() {
                    stack.push(format!("{path}/{c}"));
                }
                if path.is_empty() {
                    continue;
                }
                let attrs = std::iter::once(("twinloom:state".to_string(), None)).chain(bound(&path)?);
                for (attr, unit) in attrs.filter(|(a, _)| matches_terms(&format!("{path}.{a}"), target)) {
                    values.extend(read(&path, &attr, unit)?);
                }
            }
        }
        Ok(CurrentFacts { source: Source::new("twin stage", format!("{} (composed values)", root.display())), values })
    }
}

/// The fix `twinloom recommend` found for clash `e` (docs/prescriptive.md, "Method" 6): the recommendation
/// of the clash's program segment, when it found one (a "No fix found" recommendation claims no change),
/// with the residual clearance its re-run study gives.
fn clash_fix(
    st: &twinloom_biw_stage::StationResult,
    e: &twinloom_biw::study::Event,
    fixes: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
) -> Option<Fix> {
    let program = st.programs.iter().find(|p| p.robot == e.robot)?;
    let segment = twinloom_biw_stage::fix::segment_at(program, e.worst_time)?.label();
    ["reteach", "fixture_shift"].iter().find_map(|kind| {
        let id = twinloom_prescriptive::rec::make_id(&["biw", kind, &st.station.name, &e.robot, &segment]);
        let r = fixes.get(&id)?;
        let number = |k: &str| r.get(k).and_then(|v| v.as_f64());
        if number("change").is_none_or(|c| c == 0.0) {
            return None;
        }
        let text = r.get("explanation").and_then(|v| v.as_str()).unwrap_or_default();
        // The change itself, as the explanation words it ("tilt weld point W015's approach axis by 30° …").
        let change = ["Re-teach the segment: ", "; move the fixture "]
            .iter()
            .find_map(|start| {
                let from = text.find(start)? + start.len();
                let len = text[from..].find([';', ':'])?;
                Some(text[from..from + len].trim().to_string())
            })
            .unwrap_or_else(|| kind.replace('_', " "));
        let what = if *kind == "reteach" {
            format!("re-teach {} {segment}: {change}", e.robot)
        } else {
            format!("move the fixture {change}")
        };
        Some(Fix::Other {
            description: format!("{what} (recommendation {id})"),
            residual_clearance_mm: number("value"),
        })
    })
}

/// A stage value as a fact value (numbers, flags, text; arrays and matrices are not answered).
fn fact_value(v: Value) -> Option<FactValue> {
    Some(match v {
        Value::Bool(b) => FactValue::Bool(b),
        Value::Int(i) => FactValue::Number(i as f64),
        Value::Int64(i) => FactValue::Number(i as f64),
        Value::Float(f) => FactValue::Number(f as f64),
        Value::Double(f) => FactValue::Number(f),
        Value::String(s) | Value::Token(s) => FactValue::Text(s),
        _ => return None,
    })
}

/// The study as the copilot's facts (field by field as extensions/copilot/README.md maps them).
fn biw_facts(
    a: &twinloom_biw_stage::Analysis,
    source: Source,
    variant: &str,
    fixes: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
) -> BiwFacts {
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut stations = Vec::new();
    let mut clashes = Vec::new();
    let mut unreachable = Vec::new();
    for st in &a.stations {
        let name = &st.station.name;
        stations.push(BiwStationFact {
            station: name.clone(),
            robots: st.station.robots.iter().map(|r| r.name.clone()).collect(),
            weld_points: st.programs.iter().map(|p| p.reach.len()).sum(),
            min_clearance_mm: finite(st.min_clearance()).map(|c| c * 1000.0),
        });
        for e in &st.events {
            let near_miss = e.kind == twinloom_biw::study::EventKind::NearMiss;
            clashes.push(ClashFact {
                station: name.clone(),
                robot: e.robot.clone(),
                link: e.link.clone(),
                part: if e.region == e.other { e.other.clone() } else { format!("{} ({})", e.other, e.region) },
                near_miss,
                depth_mm: Some(e.max_depth * 1000.0),
                clearance_mm: Some(e.min_distance * 1000.0),
                at_s: Some(e.worst_time),
                fix: if near_miss { None } else { clash_fix(st, e, fixes) },
            });
        }
        for p in &st.programs {
            let fix = match (&p.base_shift, st.robot(&p.robot)) {
                (Some(s), Some(robot)) => Some(match s.shift {
                    Some(v) => {
                        let w = robot.base.rot.mul_vec(v) * 1000.0;
                        Fix::BaseShift { robot: p.robot.clone(), shift_mm: [w.x, w.y, w.z] }
                    }
                    None => Fix::NoBaseShift { robot: p.robot.clone(), search_half_mm: s.search_half.x * 1000.0 },
                }),
                _ => None,
            };
            for r in p.reach.iter().filter(|r| !r.reachable) {
                unreachable.push(UnreachableFact {
                    station: name.clone(),
                    robot: p.robot.clone(),
                    point: r.id.clone(),
                    outside_mm: finite(r.outside_mm),
                    fix: fix.clone(),
                });
            }
        }
    }
    BiwFacts {
        source,
        variant: variant.to_string(),
        near_miss_mm: a.near_miss * 1000.0,
        stations,
        clashes,
        unreachable,
    }
}

/// The sample plant's layout of one body variant with a root layer, in a temporary folder removed on drop.
struct TempStage {
    dir: PathBuf,
    root: PathBuf,
}

impl TempStage {
    fn write(variant: Variant) -> anyhow::Result<TempStage> {
        use anyhow::Context;
        let dir = std::env::temp_dir().join(format!("twinloom-ask-{}", std::process::id()));
        let stage = TempStage { root: dir.join("plant.usda"), dir };
        twinloom_plant_layout::write_layout_variant(&stage.dir.join("layout.usda"), variant)
            .context("writing the sample plant's layout")?;
        let mut l = twinloom_usd::Layer::create_anonymous("twinloom-ask-root", "usda")?;
        l.set_default_prim("Plant")?;
        l.set_up_axis(twinloom_usd::UpAxis::Z)?;
        l.set_meters_per_unit(1.0)?;
        l.set_sublayers(&["./layout.usda"])?;
        l.export_atomic(&stage.root).with_context(|| format!("writing {}", stage.root.display()))?;
        Ok(stage)
    }
}

impl Drop for TempStage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Facts for CliFacts {
    fn biw(&self, variant: Option<&str>) -> FactResult<BiwFacts> {
        let key = variant.map(str::to_lowercase);
        if let Some(r) = self.biw.borrow().get(&key) {
            return r.clone();
        }
        let r = self.note(self.biw_uncached(key.as_deref()));
        self.biw.borrow_mut().insert(key, r.clone());
        r
    }

    fn balance(&self, line: Option<&str>) -> FactResult<BalanceFact> {
        let _ = line;
        Err(FactError::Unavailable {
            kind: FactKind::Balance,
            why: "`twinloom ask` has no task times and precedences to balance (the stage holds none): run \
                  `twinloom balance` on the line's instance"
                .into(),
        })
    }

    fn simulation(&self, line: Option<&str>, scenario: Option<&str>) -> FactResult<SimulationFact> {
        if let Some(s) = scenario {
            return Err(FactError::Unavailable {
                kind: FactKind::Simulation,
                why: format!(
                    "what-if siblings come from a line model: run `twinloom flow --model FILE --scenario {s}`"
                ),
            });
        }
        let key = line.map(str::to_lowercase);
        if let Some(r) = self.simulation.borrow().get(&key) {
            return r.clone();
        }
        let r = self.note(self.simulation_uncached(key.as_deref()));
        self.simulation.borrow_mut().insert(key, r.clone());
        r
    }

    fn anomalies(&self, target: Option<&str>) -> FactResult<AnomalyFacts> {
        let _ = target;
        Err(FactError::Unavailable {
            kind: FactKind::Anomalies,
            why: "`twinloom ask` reads no live signals: run `twinloom diagnose --csv FILE` over a signal's series"
                .into(),
        })
    }

    fn forecasts(&self, asset: Option<&str>) -> FactResult<ForecastFacts> {
        let _ = asset;
        Err(FactError::Unavailable {
            kind: FactKind::Forecasts,
            why: "`twinloom ask` reads no condition signals: run `twinloom forecast rul --test FILE`".into(),
        })
    }

    fn payback(&self) -> FactResult<PaybackFact> {
        if let Some(r) = self.payback.borrow().as_ref() {
            return r.clone();
        }
        let r = self.note(self.payback_uncached());
        *self.payback.borrow_mut() = Some(r.clone());
        r
    }

    fn current(&self, target: &str) -> FactResult<CurrentFacts> {
        if let Some(r) = self.current.borrow().get(target) {
            return r.clone();
        }
        let r = self.note(self.current_uncached(target));
        self.current.borrow_mut().insert(target.to_string(), r.clone());
        r
    }
}
