//! Independent replications in parallel (rayon), deterministic for a seed, with 95 % confidence intervals.

use rayon::prelude::*;
use serde::Serialize;

use crate::des::engine::{RunStats, Sim};

/// Mean and 95 % confidence half-width of a statistic over replications.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    /// Half-width of the 95 % confidence interval (Student t); 0 with one replication.
    pub ci95: f64,
}

/// Two-sided 97.5 % quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

impl Estimate {
    /// Estimate from samples.
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        if n < 2 {
            return Estimate { mean, ci95: 0.0 };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let t = T975.get(n - 2).copied().unwrap_or(1.96);
        Estimate { mean, ci95: t * (var / n as f64).sqrt() }
    }
}

/// Per-station estimates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StationSummary {
    pub name: String,
    pub utilisation: Estimate,
    pub down: Estimate,
    pub blocked: Estimate,
    pub starved: Estimate,
    pub mean_active_period_s: Estimate,
    /// Share of replications in which this station was the bottleneck.
    pub bottleneck_share: f64,
}

/// Estimates over all replications.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub replications: usize,
    pub seed: u64,
    pub throughput_per_h: Estimate,
    pub wip: Estimate,
    pub mean_queue_wait_s: Estimate,
    pub mean_flow_time_s: Estimate,
    /// The station with the longest mean active period over all replications.
    pub bottleneck: String,
    pub stations: Vec<StationSummary>,
    pub events: u64,
}

/// Runs `n` replications in parallel; replication `r` uses stream `r` of `seed`, so results do not depend on
/// the number of threads.
pub fn replicate(sim: &Sim, n: usize, seed: u64) -> (Summary, Vec<RunStats>) {
    let runs: Vec<RunStats> = (0..n.max(1) as u64).into_par_iter().map(|r| sim.run(seed, r)).collect();
    (summarize(&runs, seed), runs)
}

fn summarize(runs: &[RunStats], seed: u64) -> Summary {
    let est = |f: &dyn Fn(&RunStats) -> f64| Estimate::of(&runs.iter().map(f).collect::<Vec<_>>());
    let ns = runs.first().map_or(0, |r| r.stations.len());
    let stations: Vec<StationSummary> = (0..ns)
        .map(|i| StationSummary {
            name: runs[0].stations[i].name.clone(),
            utilisation: est(&|r| r.stations[i].utilisation),
            down: est(&|r| r.stations[i].down),
            blocked: est(&|r| r.stations[i].blocked),
            starved: est(&|r| r.stations[i].starved),
            mean_active_period_s: est(&|r| r.stations[i].mean_active_period_s),
            bottleneck_share: runs.iter().filter(|r| r.bottleneck == i).count() as f64 / runs.len() as f64,
        })
        .collect();
    let bottleneck = stations
        .iter()
        .max_by(|a, b| a.mean_active_period_s.mean.total_cmp(&b.mean_active_period_s.mean))
        .map_or_else(String::new, |s| s.name.clone());
    Summary {
        replications: runs.len(),
        seed,
        throughput_per_h: est(&|r| r.throughput_per_h),
        wip: est(&|r| r.wip),
        mean_queue_wait_s: est(&|r| r.mean_queue_wait_s),
        mean_flow_time_s: est(&|r| r.mean_flow_time_s),
        bottleneck,
        stations,
        events: runs.iter().map(|r| r.events).sum(),
    }
}
