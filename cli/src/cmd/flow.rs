//! `twinloom flow`: simulates a line model (and evaluates its paint shop) from a TOML model file, optionally
//! with a scenario merged over it as a what-if sibling; or, with `--stage`, simulates the lines of a plant
//! stage and writes a results layer next to it (never into the stage's own layers); prints a report or
//! JSON (docs/flow.md). With `--gpu auto|on|off` a plain serial line is replicated by the max-plus recursion
//! instead (on the GPU when one is usable, else on the CPU).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use twinloom_flow::des::{replicate, replicate_maxplus, MaxPlusLine, MaxPlusSummary, Sim, Summary};
use twinloom_flow::gpu::{select, GpuMode};
use twinloom_flow::scenario::read_model;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML with [line] and/or [paint]).
    #[arg(long, required_unless_present = "stage", conflicts_with = "stage")]
    pub model: Option<PathBuf>,
    /// Scenario file merged over the model (the model file is never changed).
    #[arg(long, conflicts_with = "stage")]
    pub scenario: Option<PathBuf>,
    /// Plant stage (root layer; its sublayers are read too): simulate its lines and write a results layer.
    #[arg(long)]
    pub stage: Option<PathBuf>,
    /// With --stage: simulate only this line prim (one with TwinloomLineAPI; repeatable; default: every line with stations).
    #[arg(long, conflicts_with = "model")]
    pub line: Vec<String>,
    /// With --stage: where to write the results layer (default: flow-results.usda next to the stage).
    #[arg(long, conflicts_with = "model")]
    pub out: Option<PathBuf>,
    /// Independent replications (run in parallel).
    #[arg(long, default_value_t = 10)]
    pub replications: usize,
    /// Random seed; the same seed gives the same results.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// With --model: replicate the line by the max-plus recursion (plain serial lines: saturated source, no
    /// failures, shifts or product mix) on the GPU (`on`), the CPU (`off`) or the GPU when usable (`auto`).
    #[arg(long, value_parser = ["auto", "on", "off"], conflicts_with = "stage")]
    pub gpu: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.replications >= 1, "--replications must be at least 1");
    if let Some(stage) = &args.stage {
        return run_stage(stage, &args);
    }
    let model_path = args.model.as_deref().context("--model FILE or --stage FILE is required")?;
    let model = read_model(model_path, args.scenario.as_deref())?;
    let gpu = args.gpu.as_deref().map(str::parse::<GpuMode>).transpose()?;
    let (line, maxplus) = match (&model.line, gpu) {
        (Some(l), Some(mode)) => {
            let mp = MaxPlusLine::from_model(l)?;
            let device = select(mode)?;
            (None, Some(replicate_maxplus(&mp, args.replications, args.seed, &device)?))
        }
        (Some(l), None) => (Some(replicate(&Sim::new(l)?, args.replications, args.seed).0), None),
        (None, _) => (None, None),
    };
    let paint = match &model.paint {
        Some(p) => Some((p.evaluate()?, if p.whatif.is_some() { p.what_if()? } else { Vec::new() })),
        None => None,
    };
    if args.json {
        let out = json!({
            "model": model_path.display().to_string(),
            "scenario": args.scenario.as_ref().map(|s| s.display().to_string()),
            "line": line,
            "maxplus": maxplus,
            "paint": paint.as_ref().map(|(r, w)| json!({ "result": r, "whatif": w })),
        });
        out!("{}", serde_json::to_string_pretty(&out).context("JSON")?);
        return Ok(ExitCode::SUCCESS);
    }
    if let (Some(s), Some(l)) = (&line, &model.line) {
        print_line(&l.name, s);
    }
    if let (Some(s), Some(l)) = (&maxplus, &model.line) {
        print_maxplus(&l.name, s);
    }
    if let Some((r, whatif)) = &paint {
        out!(
            "paint shop: {:.1} cars/h, {:.2} kWh/car (booth {:.2}, oven {:.2}), cure ok for {:.0} % of cars",
            r.throughput_per_h,
            r.kwh_per_car,
            r.booth_kwh_per_car,
            r.oven_kwh_per_car,
            r.cure_ok_share * 100.0
        );
        for c in &r.cure {
            out!(
                "  {:<10} {:>6.1} min at temperature, peak {:>5.1} °C  {}",
                c.body,
                c.time_at_temp_min,
                c.peak_temp_c,
                if c.ok { "ok" } else { "FAILS cure window" }
            );
        }
        if !whatif.is_empty() {
            out!(
                "  what-if: {:>7} {:>6} {:>7} {:>8} {:>8} {:>7}",
                "m/min",
                "air",
                "oven_c",
                "cars/h",
                "kWh/car",
                "cure"
            );
            for w in whatif {
                out!(
                    "           {:>7.1} {:>6.2} {:>7.1} {:>8.1} {:>8.2} {:>6.0}%",
                    w.conveyor_m_min,
                    w.booth_air_velocity_m_s,
                    w.oven_setpoint_c,
                    w.throughput_per_h,
                    w.kwh_per_car,
                    w.cure_ok_share * 100.0
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one line's summary: throughput, WIP, flow time, bottleneck and a row per station.
fn print_line(name: &str, s: &Summary) {
    out!("line {} ({} replications, seed {}):", name, s.replications, s.seed);
    out!("  throughput {:.2} ± {:.2} jobs/h", s.throughput_per_h.mean, s.throughput_per_h.ci95);
    out!(
        "  WIP {:.2} ± {:.2}, flow time {:.0} ± {:.0} s",
        s.wip.mean,
        s.wip.ci95,
        s.mean_flow_time_s.mean,
        s.mean_flow_time_s.ci95
    );
    out!("  bottleneck (active-period method): {}", s.bottleneck);
    out!(
        "  {:<16} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6}",
        "station",
        "util",
        "down",
        "blocked",
        "starved",
        "active_s",
        "bn"
    );
    for st in &s.stations {
        out!(
            "  {:<16} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>9.1} {:>6.2}",
            st.name,
            st.utilisation.mean,
            st.down.mean,
            st.blocked.mean,
            st.starved.mean,
            st.mean_active_period_s.mean,
            st.bottleneck_share
        );
    }
}

/// Prints the max-plus replications of a line: throughput, interdeparture and flow time, a row per station.
fn print_maxplus(name: &str, s: &MaxPlusSummary) {
    out!(
        "line {} (max-plus, {} replications of {} jobs with {} warm-up, seed {}, on {}):",
        name,
        s.replications,
        s.jobs,
        s.warmup_jobs,
        s.seed,
        s.device
    );
    out!(
        "  throughput {:.2} ± {:.2} jobs/h, interdeparture {:.1} ± {:.1} s, flow time {:.0} ± {:.0} s",
        s.throughput_per_h.mean,
        s.throughput_per_h.ci95,
        s.mean_interdeparture_s.mean,
        s.mean_interdeparture_s.ci95,
        s.mean_flow_time_s.mean,
        s.mean_flow_time_s.ci95
    );
    out!("  {:<16} {:>7} {:>7} {:>7}", "station", "util", "blocked", "starved");
    for st in &s.stations {
        out!("  {:<16} {:>7.3} {:>7.3} {:>7.3}", st.name, st.utilisation.mean, st.blocked.mean, st.starved.mean);
    }
}

/// `--stage`: reads the stage's lines, simulates them and writes the results layer (its own file only).
fn run_stage(stage: &Path, args: &Args) -> anyhow::Result<ExitCode> {
    use twinloom_flow_stage::{analyze, default_results_path, write_results, Options};
    let options =
        Options { lines: args.line.clone(), replications: args.replications, seed: args.seed, ..Options::default() };
    let study = analyze(stage, &options).with_context(|| format!("simulating the lines of {}", stage.display()))?;
    let out = args.out.clone().unwrap_or_else(|| default_results_path(stage));
    write_results(&study, &out).with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        let mut v = study.to_json();
        v["results"] = json!(out.display().to_string());
        out!("{}", serde_json::to_string_pretty(&v).context("JSON")?);
        return Ok(ExitCode::SUCCESS);
    }
    for l in &study.lines {
        print_line(&l.line.prim, &l.summary);
        for note in &l.line.notes {
            out!("  note: {note}");
        }
    }
    for skipped in &study.skipped {
        out!("skipped {skipped}: no station children (TwinloomStationAPI)");
    }
    out!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
