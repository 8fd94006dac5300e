//! `twinloom forecast rul --test FILE [--train FILE | --model FILE] [--truth FILE] [--json] [--plot FILE.svg]`:
//! remaining useful life (twinloom-forecast, docs/forecast.md) of every engine of a C-MAPSS test file at its
//! last cycle. The model is the shipped FD001 model unless `--model` names another or `--train` trains one
//! (fixed seeds: the same file gives the same model). With `--truth` (one true RUL per line, NASA's
//! `RUL_FD001.txt` layout) it also prints the RMSE and NASA's asymmetric score.
//!
//! `twinloom forecast --stage DIR [--json]`: the time-to-threshold forecasts of the plant's assets as the
//! service last wrote them to the stage (`twinloom:forecast:` in diagnostics.usdc, docs/forecast.md "Live").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;
use twinloom_forecast::{cmapss, nasa_score, predict_engines, rmse, RulModel};

use super::plot::{self, Chart, Series, Style};

/// `twinloom forecast rul …`, or `twinloom forecast --stage DIR` for the plant's assets.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The running (or stopped) service's stage folder: print the time-to-threshold forecasts of its
    /// assets (`[[diagnostics.forecasts]]`) as the service last wrote them to diagnostics.usdc.
    #[arg(long, value_name = "DIR")]
    stage: Option<PathBuf>,
    /// With --stage: print one JSON document instead of a table.
    #[arg(long, requires = "stage")]
    json: bool,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Remaining useful life of each engine of a C-MAPSS test file, at its last cycle.
    Rul(RulArgs),
}

#[derive(clap::Args)]
pub struct RulArgs {
    /// The engines to forecast (C-MAPSS text format: unit, cycle, 3 settings, 21 sensors per line).
    #[arg(long)]
    test: PathBuf,
    /// Train a model on this run-to-failure file first (C-MAPSS format), instead of the shipped FD001 model.
    #[arg(long, conflicts_with = "model")]
    train: Option<PathBuf>,
    /// A model file written by `--save-model` or `train-rul`, instead of the shipped FD001 model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Write the model used to this file.
    #[arg(long, value_name = "FILE")]
    save_model: Option<PathBuf>,
    /// The true RUL of each test engine, one number per line in unit order: adds RMSE and NASA's score.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Draw the predictions (and the truth, when given) per engine into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    match (args.command, args.stage) {
        (Some(Command::Rul(a)), _) => rul(a),
        (None, Some(dir)) => stage_forecasts(&dir, args.json),
        (None, None) => bail!("give a subcommand (rul) or --stage DIR"),
    }
}

/// One asset's forecast as read from the stage: its `twinloom:forecast:<attr>:<field>` values by field.
struct AssetRow {
    path: String,
    fields: std::collections::BTreeMap<String, twinloom_usd::Value>,
}

impl AssetRow {
    fn number(&self, field: &str) -> Option<f64> {
        match self.fields.get(field)? {
            twinloom_usd::Value::Double(x) => Some(*x),
            _ => None,
        }
    }
    fn text(&self, field: &str) -> String {
        match self.fields.get(field) {
            Some(twinloom_usd::Value::String(s) | twinloom_usd::Value::Token(s)) => s.clone(),
            _ => String::new(),
        }
    }
}

/// Every asset forecast in `dir`/diagnostics.usdc, in path order.
fn read_forecasts(dir: &Path) -> Result<Vec<AssetRow>> {
    let file = dir.join(twinloom_connector::observe::LAYER_FILE);
    if !file.is_file() {
        bail!(
            "{} does not exist: the service writes it with [diagnostics] enabled (forecasts with [[diagnostics.forecasts]], docs/forecast.md)",
            file.display()
        );
    }
    let layer = twinloom_usd::Layer::open(&file).with_context(|| format!("open {}", file.display()))?;
    let prefix = twinloom_connector::observe::FORECAST_NAMESPACE;
    let mut rows: std::collections::BTreeMap<String, AssetRow> = std::collections::BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(prim) = stack.pop() {
        let spec = layer.prim(&prim).with_context(|| format!("{}: read {prim}", file.display()))?;
        for child in spec.children.iter().rev() {
            stack.push(if prim == "/" { format!("/{child}") } else { format!("{prim}/{child}") });
        }
        for name in &spec.properties {
            let Some((attr, field)) = name.strip_prefix(prefix).and_then(|rest| rest.rsplit_once(':')) else {
                continue;
            };
            let Ok(Some(value)) = layer.default_value(&format!("{prim}.{name}")) else { continue };
            let path = format!("{prim}.{attr}");
            rows.entry(path.clone())
                .or_insert_with(|| AssetRow { path, fields: Default::default() })
                .fields
                .insert(field.to_string(), value);
        }
    }
    Ok(rows.into_values().collect())
}

/// `twinloom forecast --stage DIR [--json]`.
fn stage_forecasts(dir: &Path, json_out: bool) -> Result<ExitCode> {
    let rows = read_forecasts(dir)?;
    if json_out {
        let num = |x: Option<f64>| x.map_or(serde_json::Value::Null, |x| json!(x));
        let doc: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let high = r.number("remainingHighS").filter(|h| *h >= 0.0);
                json!({
                    "asset": r.path, "status": r.text("status"), "time": r.text("time"),
                    "threshold": num(r.number("threshold")), "level": num(r.number("level")),
                    "coverage": num(r.number("coverage")),
                    "remainingS": num(r.number("remainingS")), "remainingLowS": num(r.number("remainingLowS")),
                    "remainingHighS": num(high),
                    "failAt": r.text("failAt"), "failAtLow": r.text("failAtLow"), "failAtHigh": r.text("failAtHigh"),
                })
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        out!("no asset forecasts in {} yet", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    out!("{:<56} {:>9} {:>10} {:>10}  {:<26} interval", "asset", "status", "level", "threshold", "fails at");
    for r in &rows {
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
        let interval = match (r.number("remainingLowS"), r.number("remainingHighS")) {
            (Some(lo), Some(hi)) if hi >= 0.0 => format!(
                "{:.0}% within {} … {}",
                100.0 * r.number("coverage").unwrap_or(0.8),
                super::diagnose::duration_text((lo * 1e3) as i64),
                super::diagnose::duration_text((hi * 1e3) as i64)
            ),
            (Some(lo), _) => format!("not before {}", super::diagnose::duration_text((lo * 1e3) as i64)),
            _ => String::new(),
        };
        out!(
            "{:<56} {:>9} {:>10} {:>10}  {:<26} {interval}",
            r.path,
            r.text("status"),
            f(r.number("level")),
            f(r.number("threshold")),
            r.text("failAt")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_truth(path: &Path, engines: usize) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut truth = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: f64 =
            line.trim().parse().with_context(|| format!("{}:{}: not a number: {line:?}", path.display(), i + 1))?;
        if !v.is_finite() || v < 0.0 {
            bail!("{}:{}: a remaining useful life is a number of cycles ≥ 0, not {v}", path.display(), i + 1);
        }
        truth.push(v);
    }
    if truth.len() != engines {
        bail!("{}: {} values for {engines} test engines", path.display(), truth.len());
    }
    Ok(truth)
}

fn rul(a: RulArgs) -> Result<ExitCode> {
    let model = match (&a.train, &a.model) {
        (Some(train), _) => {
            twinloom_forecast::train_fd001(train).with_context(|| format!("train on {}", train.display()))?
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
            RulModel::from_text(&text).with_context(|| format!("model {}", path.display()))?
        }
        (None, None) => twinloom_forecast::shipped_fd001().context("the shipped FD001 model")?,
    };
    if let Some(path) = &a.save_model {
        model.save(path).with_context(|| format!("write {}", path.display()))?;
    }
    let engines = cmapss::read_cmapss(&a.test).with_context(|| format!("read {}", a.test.display()))?;
    let predictions = predict_engines(&model, &engines).context("predict")?;
    let truth = a.truth.as_deref().map(|p| read_truth(p, predictions.len())).transpose()?;
    let pred: Vec<f64> = predictions.iter().map(|p| p.1).collect();
    let scores = truth.as_ref().map(|t| (rmse(&pred, t), nasa_score(&pred, t)));

    if let Some(path) = &a.plot {
        let mut series = vec![Series {
            name: "predicted RUL".into(),
            color: "#1f77b4",
            style: Style::Dots,
            points: predictions.iter().map(|&(u, r)| (f64::from(u), r)).collect(),
        }];
        if let Some(t) = &truth {
            series.push(Series {
                name: "true RUL".into(),
                color: "#2ca02c",
                style: Style::Dots,
                points: predictions.iter().zip(t).map(|(&(u, _), &v)| (f64::from(u), v)).collect(),
            });
        }
        let title = match scores {
            Some((r, s)) => format!("{}: RMSE {r:.2} cycles, NASA score {s:.0}", a.test.display()),
            None => format!("{}: predicted remaining useful life", a.test.display()),
        };
        let chart = Chart {
            title,
            x_label: "engine (unit)".into(),
            y_label: "remaining useful life (cycles)".into(),
            series,
            bands: vec![],
            x_text: plot::number_text,
        };
        std::fs::write(path, plot::render(&chart)).with_context(|| format!("write {}", path.display()))?;
    }

    if a.json {
        let engines: Vec<_> = predictions
            .iter()
            .enumerate()
            .map(|(i, &(unit, rul))| {
                let mut e = json!({"unit": unit, "predicted_rul": rul});
                if let Some(t) = &truth {
                    e["true_rul"] = json!(t[i]);
                }
                e
            })
            .collect();
        let mut doc = json!({"test": a.test.display().to_string(), "engines": engines});
        if let Some((r, s)) = scores {
            doc["rmse"] = json!(r);
            doc["nasa_score"] = json!(s);
        }
        out!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!("unit,predicted_rul");
        for (unit, rul) in &predictions {
            out!("{unit},{rul:.1}");
        }
        if let Some((r, s)) = scores {
            out!("# {} engines: RMSE {r:.2} cycles, NASA score {s:.1}", predictions.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
