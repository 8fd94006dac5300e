//! `twinloom forecast rul --test FILE [--train FILE | --model FILE] [--truth FILE] [--json] [--plot FILE.svg]`:
//! remaining useful life (twinloom-forecast, docs/forecast.md) of every engine of a C-MAPSS test file at its
//! last cycle. The model is the shipped FD001 model unless `--model` names another or `--train` trains one
//! (fixed seeds: the same file gives the same model). With `--truth` (one true RUL per line, NASA's
//! `RUL_FD001.txt` layout) it also prints the RMSE and NASA's asymmetric score.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;
use twinloom_forecast::{cmapss, nasa_score, predict_engines, rmse, RulModel};

use super::plot::{self, Chart, Series, Style};

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

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Rul(a) => rul(a),
    }
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
