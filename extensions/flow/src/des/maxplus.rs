//! Monte-Carlo replications of serial lines by the max-plus (tandem queue) recursion.
//!
//! Stations in series with service-time distributions, finite buffers between them, a saturated source and
//! blocking after service (a finished job stays in its station until the buffer after it has room). With
//! `S(j,i)` the service time of job `j` at station `i` and `cap_i` the buffer places after station `i`, the
//! departure times follow
//!
//! ```text
//! start(j,i) = max(D(j,i-1), D(j-1,i))                       D(j,-1) = 0: the source is saturated
//! D(j,i)     = max(start(j,i) + S(j,i), D(j-cap_i-1, i+1))    last station: D(j,n-1) = start + S
//! ```
//!
//! (job `j` may leave station `i` once job `j-cap_i-1` has left station `i+1`: then at most `cap_i` jobs wait
//! in the buffer and one is in station `i+1`). This is what the discrete-event engine does for such lines,
//! with no event queue: one pass per job, a few additions and maxima per station. Only the last `cap_{i-1}+1`
//! departures of station `i` are read again, so each replication keeps them in a small ring.
//!
//! Each replication draws from its own stream (`Rng::new(seed, replication)`), job by job and station by
//! station, so results are deterministic for a seed whatever the thread count or device. The CPU path runs
//! replications in parallel with rayon; `kernels/maxplus.cu` is the same recursion for the GPU (one thread per
//! replication, see [`crate::des::maxplus_kernel`]). Statistics are measured over jobs `warmup_jobs..jobs`,
//! each station's shares over its own window: from its departure of the last warm-up job to that of the last
//! job (so the first station's utilisation and blocked share add up to 1: the source never lets it starve).

use rayon::prelude::*;
use serde::Serialize;

use crate::des::dist::Dist;
use crate::des::model::{LineModel, Source};
use crate::des::replicate::Estimate;
use crate::des::rng::Rng;
use crate::error::{FlowError, Result};

/// A station of a max-plus line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MpStation {
    pub name: String,
    /// Service time distribution, seconds.
    pub time: Dist,
    /// Buffer places after the station (ignored after the last one).
    pub buffer_after: usize,
}

/// A serial line for max-plus Monte-Carlo: saturated source, blocking after service, no failures or shifts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaxPlusLine {
    pub name: String,
    pub stations: Vec<MpStation>,
    /// Jobs simulated per replication (warm-up included).
    pub jobs: u64,
    /// Leading jobs left out of the statistics.
    pub warmup_jobs: u64,
}

/// Results of one replication (over the measured jobs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MpRun {
    /// Jobs per hour leaving the last station.
    pub throughput_per_h: f64,
    /// Mean time between departures from the last station, seconds.
    pub mean_interdeparture_s: f64,
    /// Mean time from entering the first station to leaving the last, seconds.
    pub mean_flow_time_s: f64,
    /// Per station: service time over its measured window (from its departure of the last warm-up job, or 0,
    /// to its departure of the last job).
    pub utilisation: Vec<f64>,
    /// Per station: time spent holding a finished job (blocked) over its measured window.
    pub blocked: Vec<f64>,
}

/// Per-station estimates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MpStationSummary {
    pub name: String,
    pub utilisation: Estimate,
    pub blocked: Estimate,
    /// Neither working nor blocked: waiting for a job.
    pub starved: Estimate,
}

/// Estimates over all replications.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaxPlusSummary {
    pub replications: usize,
    pub seed: u64,
    pub jobs: u64,
    pub warmup_jobs: u64,
    /// Where the replications ran: "cpu" or "gpu (<device>)".
    pub device: String,
    pub throughput_per_h: Estimate,
    pub mean_interdeparture_s: Estimate,
    pub mean_flow_time_s: Estimate,
    pub stations: Vec<MpStationSummary>,
}

impl MaxPlusLine {
    /// Checks the line; errors name the line and the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, msg: String| {
            Err(FlowError::invalid(format!("max-plus line {:?}: {field}", self.name), msg))
        };
        if self.stations.is_empty() {
            return bad("stations".into(), "a line needs at least one station".into());
        }
        for (i, s) in self.stations.iter().enumerate() {
            if let Err(e) = s.time.check() {
                return bad(format!("stations[{i}] ({}).time", s.name), e);
            }
        }
        if self.stations.iter().all(|s| s.time.mean() <= 0.0) {
            return bad("stations".into(), "every service time is 0: the line has no cycle time".into());
        }
        if self.jobs <= self.warmup_jobs {
            return bad(
                "jobs".into(),
                format!("{} jobs leave none after the {} warm-up jobs", self.jobs, self.warmup_jobs),
            );
        }
        Ok(())
    }

    /// The max-plus line of a discrete-event model, when the model is a plain serial line: saturated source,
    /// at most one product variant, no failures, no shift calendar, buffers without transport time. The
    /// horizon becomes a job count at the slowest station's mean rate: `jobs = (warm-up + horizon) × 3600 /
    /// slowest mean cycle time`, the first `warm-up × 3600 / slowest mean` of them as warm-up.
    pub fn from_model(model: &LineModel) -> Result<Self> {
        model.validate()?;
        let unsupported = |what: &str| {
            Err(FlowError::invalid(
                format!("model {:?}", model.name),
                format!("max-plus replications need a plain serial line: {what}"),
            ))
        };
        if !matches!(model.source, Source::Saturated) {
            return unsupported("the source must be saturated (kind = \"saturated\")");
        }
        if model.variants.len() > 1 {
            return unsupported("no product mix (at most one variant)");
        }
        if model.calendar.is_some() {
            return unsupported("no shift calendar");
        }
        let mut stations = Vec::with_capacity(model.stations.len());
        for (i, s) in model.stations.iter().enumerate() {
            if s.failures.is_some() {
                return unsupported(&format!("stations[{i}] ({}) has failures", s.name));
            }
            let link = s.next.as_ref();
            if link.is_some_and(|l| l.transport_s > 0.0) && i + 1 < model.stations.len() {
                return unsupported(&format!("stations[{i}] ({}).next is a conveyor (transport_s > 0)", s.name));
            }
            let time = model.variants.first().and_then(|v| s.time_by_variant.get(&v.name)).copied().unwrap_or(s.time);
            stations.push(MpStation { name: s.name.clone(), time, buffer_after: link.map_or(0, |l| l.capacity) });
        }
        let slowest = stations.iter().map(|s| s.time.mean()).fold(0.0, f64::max);
        if slowest <= 0.0 {
            return unsupported("every service time is 0");
        }
        let warmup_jobs = (model.warmup_h * 3600.0 / slowest).round() as u64;
        let measured = ((model.horizon_h * 3600.0 / slowest).round() as u64).max(1);
        let line = MaxPlusLine { name: model.name.clone(), stations, jobs: warmup_jobs + measured, warmup_jobs };
        line.validate()?;
        Ok(line)
    }

    /// Runs replication `replication` of `seed` (the recursion of the module doc).
    pub fn run(&self, seed: u64, replication: u64) -> Result<MpRun> {
        self.validate()?;
        Ok(self.simulate(seed, replication))
    }

    /// The recursion, on a validated line. A buffer larger than the job count never fills, so its ring is
    /// capped at `jobs + 1` slots (the departure read from it is always the initial 0 either way).
    fn simulate(&self, seed: u64, replication: u64) -> MpRun {
        let n = self.stations.len();
        let size: Vec<usize> = (0..n)
            .map(|i| match i {
                0 => 1,
                _ => (self.stations[i - 1].buffer_after as u64).min(self.jobs) as usize + 1,
            })
            .collect();
        let mut ring: Vec<Vec<f64>> = size.iter().map(|&s| vec![0.0; s]).collect();
        let mut pos = vec![0usize; n];
        let (mut busy, mut blocked) = (vec![0.0; n], vec![0.0; n]);
        let mut t0 = vec![0.0; n];
        let mut rng = Rng::new(seed, replication);
        let mut flow = 0.0;
        for j in 0..self.jobs {
            let measured = j >= self.warmup_jobs;
            let (mut up, mut released) = (0.0f64, 0.0);
            for i in 0..n {
                let prev = if pos[i] == 0 { size[i] - 1 } else { pos[i] - 1 };
                let start = max(up, ring[i][prev]);
                let s = self.stations[i].time.sample(&mut rng);
                let done = start + s;
                let d = if i + 1 < n { max(done, ring[i + 1][pos[i + 1]]) } else { done };
                ring[i][pos[i]] = d;
                if i == 0 {
                    released = start;
                }
                if measured {
                    busy[i] += s;
                    blocked[i] += d - done;
                }
                up = d;
            }
            if measured {
                flow += up - released;
            }
            if j + 1 == self.warmup_jobs {
                for i in 0..n {
                    t0[i] = ring[i][pos[i]];
                }
            }
            for (p, &s) in pos.iter_mut().zip(&size) {
                *p = if *p + 1 == s { 0 } else { *p + 1 };
            }
        }
        // Each station's window runs from its departure of job warmup-1 (or 0) to that of the last job.
        let window: Vec<f64> =
            (0..n).map(|i| ring[i][if pos[i] == 0 { size[i] - 1 } else { pos[i] - 1 }] - t0[i]).collect();
        let m = (self.jobs - self.warmup_jobs) as f64;
        let last = window[n - 1];
        MpRun {
            throughput_per_h: m * 3600.0 / last,
            mean_interdeparture_s: last / m,
            mean_flow_time_s: flow / m,
            utilisation: busy.iter().zip(&window).map(|(b, w)| b / w).collect(),
            blocked: blocked.iter().zip(&window).map(|(b, w)| b / w).collect(),
        }
    }
}

/// `a > b ? a : b`, exactly as the kernel computes it.
fn max(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// Runs `n` replications on the CPU in parallel; replication `r` uses stream `r` of `seed`.
pub fn runs_cpu(line: &MaxPlusLine, n: usize, seed: u64) -> Result<Vec<MpRun>> {
    line.validate()?;
    Ok((0..n.max(1) as u64).into_par_iter().map(|r| line.simulate(seed, r)).collect())
}

/// Runs `n` replications on `device` (the GPU when it is one, else the CPU) and summarises them.
pub fn replicate_maxplus(
    line: &MaxPlusLine,
    n: usize,
    seed: u64,
    device: &twinloom_gpu::Device,
) -> Result<MaxPlusSummary> {
    let runs = match device {
        twinloom_gpu::Device::Cpu { .. } => runs_cpu(line, n, seed)?,
        twinloom_gpu::Device::Cuda(gpu) => {
            #[cfg(feature = "cuda")]
            let runs = crate::des::maxplus_kernel::GpuMaxPlus::new(gpu.gpu().clone())?.runs(line, n, seed)?;
            // This build has no CUDA kernels (another crate's feature opened the GPU): the CPU path.
            #[cfg(not(feature = "cuda"))]
            let runs = {
                let _ = gpu;
                runs_cpu(line, n, seed)?
            };
            runs
        }
    };
    Ok(summarize(line, &runs, seed, device.label()))
}

/// Mean and confidence intervals over replications (the same for every device).
pub fn summarize(line: &MaxPlusLine, runs: &[MpRun], seed: u64, device: String) -> MaxPlusSummary {
    let est = |f: &dyn Fn(&MpRun) -> f64| Estimate::of(&runs.iter().map(f).collect::<Vec<_>>());
    let stations = line
        .stations
        .iter()
        .enumerate()
        .map(|(i, s)| MpStationSummary {
            name: s.name.clone(),
            utilisation: est(&|r| r.utilisation[i]),
            blocked: est(&|r| r.blocked[i]),
            starved: est(&|r| 1.0 - r.utilisation[i] - r.blocked[i]),
        })
        .collect();
    MaxPlusSummary {
        replications: runs.len(),
        seed,
        jobs: line.jobs,
        warmup_jobs: line.warmup_jobs,
        device,
        throughput_per_h: est(&|r| r.throughput_per_h),
        mean_interdeparture_s: est(&|r| r.mean_interdeparture_s),
        mean_flow_time_s: est(&|r| r.mean_flow_time_s),
        stations,
    }
}
