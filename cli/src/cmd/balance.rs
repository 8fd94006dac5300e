//! `twinloom balance`: exact assembly line balancing of a .IN2 or .alb instance (SALBP-1 with `--cycle-time`,
//! SALBP-2 with `--stations`), with optional zoning constraints; prints a report or JSON (docs/flow.md).

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use twinloom_flow::salbp::{read_instance, solve_balance, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Instance file: Scholl's .IN2 or Otto et al.'s .alb.
    pub file: PathBuf,
    /// Cycle time: find the fewest stations (SALBP-1).
    #[arg(long, conflicts_with = "stations")]
    pub cycle_time: Option<u64>,
    /// Number of stations: find the shortest cycle time (SALBP-2).
    #[arg(long)]
    pub stations: Option<usize>,
    /// Stop after this many seconds and report the best balance found and the bound.
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Tasks that must share a station, as `I,J` (1-based); repeatable.
    #[arg(long, value_name = "I,J")]
    pub together: Vec<String>,
    /// Tasks that must not share a station, as `I,J` (1-based); repeatable.
    #[arg(long, value_name = "I,J")]
    pub apart: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn pair(flag: &str, s: &str) -> anyhow::Result<(usize, usize)> {
    let parse = |x: &str| x.trim().parse::<usize>().ok().filter(|&v| v >= 1);
    match s.split_once(',').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(a), Some(b))) => Ok((a - 1, b - 1)),
        _ => bail!("--{flag} {s:?}: expected two task numbers `I,J` (1-based)"),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut inst = read_instance(&args.file)?;
    for s in &args.together {
        inst.zoning.together.push(pair("together", s)?);
    }
    for s in &args.apart {
        inst.zoning.apart.push(pair("apart", s)?);
    }
    let time_limit = match args.time_limit {
        Some(t) if !(t >= 0.0 && t.is_finite()) => bail!("--time-limit {t}: expected seconds >= 0"),
        t => t.map(Duration::from_secs_f64),
    };
    let opts = Options { time_limit, step_limit: None };
    let Some(sum) = solve_balance(&inst, args.cycle_time, args.stations, &opts)? else {
        bail!("give --cycle-time C (fewest stations) or --stations M (shortest cycle time)")
    };
    if args.json {
        let mut out = serde_json::to_value(&sum).context("JSON")?;
        out["file"] = json!(args.file.display().to_string());
        out!("{}", serde_json::to_string_pretty(&out).context("JSON")?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}: {} tasks, total time {}", args.file.display(), sum.tasks, sum.total_time);
    let proof = if sum.optimal { "proven optimal" } else { "NOT proven optimal" };
    match sum.cycle_time_lower_bound {
        Some(lb) => {
            out!(
                "cycle time {} on {} stations ({proof}; cycle time lower bound {lb})",
                sum.cycle_time,
                args.stations.unwrap_or(sum.stations)
            )
        }
        None => out!(
            "stations {} at cycle time {} ({proof}; lower bound {})",
            sum.stations,
            sum.cycle_time,
            sum.lower_bound
        ),
    }
    out!("{:>7} {:>8} {:>6} {:>6} {:>6}  tasks", "station", "load", "idle", "util", "ergo");
    for s in &sum.assignment {
        let tasks: Vec<String> = s.tasks.iter().map(|t| t.to_string()).collect();
        out!(
            "{:>7} {:>8} {:>6} {:>6.3} {:>6.3}  {}",
            s.station,
            s.load,
            s.idle,
            s.utilisation,
            s.ergonomics,
            tasks.join(" ")
        );
    }
    out!("{} search steps, {:.3} s", sum.nodes, sum.seconds);
    Ok(ExitCode::SUCCESS)
}
