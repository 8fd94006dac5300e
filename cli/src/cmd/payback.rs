//! `twinloom payback --ledger FILE [--stage DIR --month YYYY-MM] [--json] [--plot FILE.svg]`: the twin's
//! projected-vs-actual payback (twinloom-payback, docs/payback.md). With `--stage`, every lever that has a
//! `measure` gets its actual for `--month` from the twin's stage (the attribute's composed value).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use twinloom_payback::{evaluate, money, read_ledger, Gap, Month, Report};
use twinloom_usd::kit::Stage;

use super::plot::{self, Chart, Series, Style};

#[derive(clap::Args)]
pub struct Args {
    /// The ledger: investment by phase, levers with projected savings, monthly actuals (docs/payback.md).
    #[arg(long)]
    ledger: PathBuf,
    /// A twin stage folder (with plant.usda) or root layer: levers with a `measure` read their actual for
    /// `--month` from it.
    #[arg(long, requires = "month")]
    stage: Option<PathBuf>,
    /// The month the stage's values stand for (YYYY-MM).
    #[arg(long, requires = "stage")]
    month: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Draw the cumulative net, projected and actual (recalibrated), into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

fn payback_text(p: Option<Month>, start: Month) -> String {
    match p {
        Some(m) => format!("{m} (month {})", m.since(start) + 1),
        None => "not within the horizon".into(),
    }
}

fn gap_json(g: &Gap) -> serde_json::Value {
    json!({
        "name": g.name, "dimension": g.dimension, "through": g.through.map(|m| m.to_string()),
        "projected_to_date": g.projected_to_date, "actual_to_date": g.actual_to_date, "gap_to_date": g.gap_to_date,
        "ratio": g.ratio, "projected_total": g.projected_total, "actual_total": g.actual_total,
    })
}

/// One lever's (`recalibrate` = its ratio's month count) or one dimension's line.
fn gap_line(g: &Gap, recalibrate: Option<u32>) -> String {
    let label = match recalibrate {
        Some(_) => format!("{} ({})", g.name, g.dimension),
        None => g.name.clone(),
    };
    let to_date = match g.through {
        None => "not measured yet: the projection stands".to_string(),
        Some(m) => {
            let realized = if g.projected_to_date > 0.0 {
                format!("{:.0} % realized", 100.0 * g.actual_to_date / g.projected_to_date)
            } else {
                "nothing projected yet".into()
            };
            let forecast = match (recalibrate, g.ratio) {
                (Some(n), Some(r)) => format!("; forecast at {:.0} % of plan (last {n} months)", r * 100.0),
                _ => String::new(),
            };
            format!(
                "to {m}: projected {}, actual {}, gap {} ({realized}){forecast}",
                money(g.projected_to_date),
                money(g.actual_to_date),
                money(g.gap_to_date)
            )
        }
    };
    format!(
        "  {label}: {to_date}\n    whole horizon: projected {}, actual and forecast {}",
        money(g.projected_total),
        money(g.actual_total)
    )
}

/// The stage's root layer: `DIR/plant.usda` for a folder, else the file itself.
fn stage_root(path: &std::path::Path) -> PathBuf {
    if path.is_dir() {
        path.join("plant.usda")
    } else {
        path.to_path_buf()
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut ledger = read_ledger(&args.ledger)?;
    let mut measured = Vec::new();
    if let (Some(stage), Some(month)) = (&args.stage, &args.month) {
        let month = Month::parse(month).ok_or_else(|| anyhow!("--month {month:?} is not a month YYYY-MM"))?;
        let root = stage_root(stage);
        let st = Stage::open(&root).with_context(|| format!("open the stage {}", root.display()))?;
        let levers: Vec<_> = ledger.levers.iter().filter_map(|l| Some((l.id.clone(), l.measure.clone()?))).collect();
        if levers.is_empty() {
            bail!("{}: no lever has a measure, so --stage has nothing to read", args.ledger.display());
        }
        for (id, m) in levers {
            let (prim, name) = m.prim_and_name().ok_or_else(|| anyhow!("lever {id:?}: measure.attr {:?}", m.attr))?;
            let value = st
                .real(prim, name)
                .with_context(|| format!("lever {id:?}: read {}", m.attr))?
                .ok_or_else(|| anyhow!("lever {id:?}: {} has no value in {}", m.attr, root.display()))?;
            let saving =
                ledger.add_measured(&id, month, value).map_err(|e| anyhow!("{}: {e}", args.ledger.display()))?;
            measured.push((id, m.attr.clone(), value, saving));
        }
        ledger.check(&args.ledger.display().to_string())?;
    }
    let report = evaluate(&ledger);

    if let Some(path) = &args.plot {
        let series = |name: &str, color, f: fn(&twinloom_payback::MonthRow) -> f64| Series {
            name: name.into(),
            color,
            style: Style::Line,
            points: report.rows.iter().map(|r| (r.month.since(ledger.start) as f64 + 1.0, f(r))).collect(),
        };
        let chart = Chart {
            title: format!(
                "{}: cumulative net ({}) — payback projected {}, actual {}",
                ledger.name,
                ledger.currency,
                payback_text(report.payback_projected, ledger.start),
                payback_text(report.payback_actual, ledger.start)
            ),
            x_label: format!("month (1 = {})", ledger.start),
            y_label: format!("cumulative net savings ({})", ledger.currency),
            series: vec![
                series("projected", "#1f77b4", |r| r.cumulative_projected),
                series("actual, then recalibrated", "#d62728", |r| r.cumulative_actual),
            ],
            bands: vec![],
            x_text: plot::number_text,
        };
        std::fs::write(path, plot::render(&chart)).with_context(|| format!("write {}", path.display()))?;
    }

    if args.json {
        out!("{}", serde_json::to_string_pretty(&report_json(&ledger, &report, &measured))?);
        return Ok(ExitCode::SUCCESS);
    }
    let through = report.through.map_or("no actuals yet".to_string(), |m| format!("actuals through {m}"));
    let last = ledger.start.plus(ledger.months as i32 - 1);
    out!("{} ({}), {} … {last}, {through}", ledger.name, ledger.currency, ledger.start);
    for (id, attr, value, saving) in &measured {
        out!("measured by the twin: {id}: {attr} = {value} → saving {}", money(*saving));
    }
    out!("investment: planned {}, actual {}", money(report.invest_planned_total), money(report.invest_actual_total));
    out!(
        "payback: projected {}; actual, recalibrated {}",
        payback_text(report.payback_projected, ledger.start),
        payback_text(report.payback_actual, ledger.start)
    );
    if let (Some(p), Some(a)) = (report.payback_projected, report.payback_actual) {
        let d = a.since(p);
        out!(
            "  {}",
            match d {
                0 => "on plan".to_string(),
                d if d > 0 => format!("{d} months later than projected"),
                d => format!("{} months earlier than projected", -d),
            }
        );
    }
    out!("per lever:");
    for g in &report.levers {
        out!("{}", gap_line(g, Some(ledger.recalibrate_months)));
    }
    out!("per dimension:");
    for g in &report.dimensions {
        out!("{}", gap_line(g, None));
    }
    Ok(ExitCode::SUCCESS)
}

fn report_json(
    ledger: &twinloom_payback::Ledger,
    r: &Report,
    measured: &[(String, String, f64, f64)],
) -> serde_json::Value {
    json!({
        "ledger": ledger.name,
        "currency": ledger.currency,
        "start": ledger.start.to_string(),
        "months": ledger.months,
        "through": r.through.map(|m| m.to_string()),
        "payback_projected": r.payback_projected.map(|m| m.to_string()),
        "payback_actual": r.payback_actual.map(|m| m.to_string()),
        "invest_planned_total": r.invest_planned_total,
        "invest_actual_total": r.invest_actual_total,
        "measured": measured.iter().map(|(id, attr, value, saving)| json!({"lever": id, "attr": attr, "value": value, "saving": saving})).collect::<Vec<_>>(),
        "levers": r.levers.iter().map(gap_json).collect::<Vec<_>>(),
        "dimensions": r.dimensions.iter().map(gap_json).collect::<Vec<_>>(),
        "rows": r.rows.iter().map(|m| json!({
            "month": m.month.to_string(), "invest_planned": m.invest_planned, "invest_actual": m.invest_actual,
            "saving_projected": m.saving_projected, "saving_measured": m.saving_measured,
            "saving_actual": m.saving_actual, "cumulative_projected": m.cumulative_projected,
            "cumulative_actual": m.cumulative_actual,
        })).collect::<Vec<_>>(),
    })
}
