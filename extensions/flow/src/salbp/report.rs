//! Per-station workload figures for a balance: load, idle time, utilisation and an ergonomics index.
//!
//! The ergonomics index is the station's load relative to the cycle time weighted by the heaviest task share:
//! `utilisation · (1 + max_task / cycle_time) / 2`, in `[0, 1]`. It rises with a busy station and with long
//! single tasks (sustained postures), which is what assembly planners watch; tasks may carry their own
//! strain weights (`strain`, default 1) that scale their time in the load figure.

use serde::Serialize;

use crate::salbp::solve::Balance;

/// Workload of one station.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationReport {
    /// 1-based station number.
    pub station: usize,
    /// 1-based task numbers.
    pub tasks: Vec<usize>,
    pub load: u64,
    pub idle: u64,
    /// `load / cycle_time`.
    pub utilisation: f64,
    /// Strain-weighted load over cycle time, scaled by the longest task's share (see module doc).
    pub ergonomics: f64,
}

/// Workload report of every station. `strain[j]` weights task `j` (1.0 when absent).
pub fn station_report(b: &Balance, times: &[u64], strain: Option<&[f64]>) -> Vec<StationReport> {
    let c = b.cycle_time as f64;
    b.stations
        .iter()
        .enumerate()
        .map(|(s, tasks)| {
            let load: u64 = tasks.iter().map(|&j| times[j]).sum();
            let weighted: f64 =
                tasks.iter().map(|&j| times[j] as f64 * strain.and_then(|w| w.get(j)).copied().unwrap_or(1.0)).sum();
            let longest = tasks.iter().map(|&j| times[j]).max().unwrap_or(0) as f64;
            StationReport {
                station: s + 1,
                tasks: tasks.iter().map(|&j| j + 1).collect(),
                load,
                idle: b.cycle_time - load.min(b.cycle_time),
                utilisation: load as f64 / c,
                ergonomics: (weighted / c * (1.0 + longest / c) / 2.0).min(1.0),
            }
        })
        .collect()
}

/// What `twinloom balance --json` and the Python wheel's `balance` report: the problem solved, the balance
/// found, its bounds and proof, the search effort and every station's workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalanceSummary {
    /// `salbp1` (fewest stations for a cycle time) or `salbp2` (shortest cycle time for a station count).
    pub mode: &'static str,
    pub tasks: usize,
    pub total_time: u64,
    pub cycle_time: u64,
    /// SALBP-2 only: the proven lower bound on the cycle time.
    pub cycle_time_lower_bound: Option<u64>,
    pub stations: usize,
    pub lower_bound: usize,
    pub optimal: bool,
    pub nodes: u64,
    pub seconds: f64,
    pub assignment: Vec<StationReport>,
}

/// Solves SALBP-2 when `stations` is given, else SALBP-1 at `cycle_time` (or the instance's own cycle
/// time); `Ok(None)` when neither is known.
pub fn solve_balance(
    inst: &crate::salbp::Instance,
    cycle_time: Option<u64>,
    stations: Option<usize>,
    opts: &crate::salbp::Options,
) -> crate::error::Result<Option<BalanceSummary>> {
    let start = std::time::Instant::now();
    let (mode, balance, cycle_lb, optimal) = match (cycle_time.or(inst.cycle_time), stations) {
        (_, Some(m)) => {
            let b = crate::salbp::solve_salbp2(inst, m, opts)?;
            ("salbp2", b.balance, Some(b.cycle_time_lower_bound), b.optimal)
        }
        (Some(c), None) => {
            let b = crate::salbp::solve_salbp1(inst, c, opts)?;
            let optimal = b.optimal;
            ("salbp1", b, None, optimal)
        }
        (None, None) => return Ok(None),
    };
    let seconds = start.elapsed().as_secs_f64();
    Ok(Some(BalanceSummary {
        mode,
        tasks: inst.len(),
        total_time: inst.total_time(),
        cycle_time: balance.cycle_time,
        cycle_time_lower_bound: cycle_lb,
        stations: balance.stations.len(),
        lower_bound: balance.lower_bound,
        optimal,
        nodes: balance.nodes,
        seconds,
        assignment: station_report(&balance, &inst.times, None),
    }))
}
