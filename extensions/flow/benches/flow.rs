//! Flow benchmarks: events per second of the line simulation against SimPy on the same M/M/1 and serial-line
//! models (events counted the same way: one per arrival and one per service completion), and the total time
//! of the exact SALBP-1 solver over Scholl's 269 instances (one core, and spread over all cores). Prints one
//! JSON object per line on stdout. Max-plus Monte-Carlo: replications per second of a 10-station line on the
//! CPU (all threads) and, when `select(GpuMode::Auto)` finds one (build with `--features cuda`), on the GPU.
//! Usage: `cargo bench -p twinloom-flow -- [PREFIX]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use twinloom_flow::des::maxplus::{runs_cpu, summarize};
use twinloom_flow::des::{
    replicate, Dist, LineModel, Link, MaxPlusLine, MaxPlusSummary, MpStation, Sim, Source, Station,
};
use twinloom_flow::salbp::{read_instance, solve_salbp1, Instance, Options};

/// SimPy models: `mm1 JOBS` or `line JOBS STATIONS BUFFER`; prints `events seconds`.
const SIMPY: &str = r#"
import sys, time, random, simpy
kind, jobs = sys.argv[1], int(sys.argv[2])
random.seed(1)
env = simpy.Environment()
events = [0]
done = [0]
if kind == "mm1":
    server = simpy.Resource(env, capacity=1)
    def customer(env):
        with server.request() as req:
            yield req
            yield env.timeout(random.expovariate(1 / 45.0))
            events[0] += 1
            done[0] += 1
    def source(env):
        for _ in range(jobs):
            yield env.timeout(random.expovariate(1 / 60.0))
            events[0] += 1
            env.process(customer(env))
    env.process(source(env))
else:
    stations, buf = int(sys.argv[3]), int(sys.argv[4])
    stores = [simpy.Store(env, capacity=buf) for _ in range(stations - 1)]
    def station(env, i):
        while True:
            if i > 0:
                yield stores[i - 1].get()
            yield env.timeout(random.expovariate(1 / 50.0))
            events[0] += 1
            if i < stations - 1:
                yield stores[i].put(1)
            else:
                done[0] += 1
                if done[0] >= jobs:
                    return
    procs = [env.process(station(env, i)) for i in range(stations)]
t0 = time.perf_counter()
if kind == "mm1":
    env.run()
else:
    env.run(until=procs[-1])
print(events[0], time.perf_counter() - t0)
"#;

fn simpy(args: &[&str]) -> (f64, f64) {
    let out = twinloom_tests::run_python(SIMPY, args);
    let mut it = out.split_whitespace().map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
    (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN))
}

fn station(name: String, next: Option<usize>) -> Station {
    Station {
        name,
        time: Dist::Exp { mean: 50.0 },
        time_by_variant: BTreeMap::new(),
        failures: None,
        next: next.map(|capacity| Link { capacity, transport_s: 0.0 }),
    }
}

fn mm1(jobs: f64) -> LineModel {
    let mut s = station("server".into(), None);
    s.time = Dist::Exp { mean: 45.0 };
    LineModel {
        name: "mm1".into(),
        horizon_h: jobs * 60.0 / 3600.0,
        warmup_h: 0.0,
        source: Source::Arrivals { interarrival: Dist::Exp { mean: 60.0 } },
        variants: vec![],
        calendar: None,
        stations: vec![s],
    }
}

fn serial(jobs: f64, stations: usize, buffer: usize) -> LineModel {
    LineModel {
        name: "line".into(),
        // About 45 jobs/h leave a 5-station exponential line with 2 places between stations.
        horizon_h: jobs / 45.0,
        warmup_h: 0.0,
        source: Source::Saturated,
        variants: vec![],
        calendar: None,
        stations: (0..stations).map(|i| station(format!("s{i}"), (i + 1 < stations).then_some(buffer))).collect(),
    }
}

/// Best of three runs, events per second.
fn ours(model: &LineModel) -> (f64, u64) {
    let sim = Sim::new(model).unwrap_or_else(|e| panic!("bench model: {e}"));
    let mut best = 0.0f64;
    let mut events = 0;
    for r in 0..3 {
        let t0 = Instant::now();
        let s = sim.run(1, r);
        let rate = s.events as f64 / t0.elapsed().as_secs_f64();
        best = best.max(rate);
        events = s.events;
    }
    (best, events)
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let want = |name: &str| name.starts_with(&prefix);
    let jobs = 200_000.0f64;
    let jobs = jobs as u64;
    let models = [
        (
            "des_events_per_s_mm1",
            mm1(1_000_000.0),
            vec!["mm1".to_string(), jobs.to_string()],
            "M/M/1, mean interarrival 60 s, mean service 45 s",
        ),
        (
            "des_events_per_s_line",
            serial(1_000_000.0, 5, 2),
            vec!["line".into(), (jobs / 5).to_string(), "5".into(), "2".into()],
            "5 exponential stations (mean 50 s), 2 buffer places between, saturated source",
        ),
    ];
    for (name, model, simpy_args, what) in models {
        let simpy_name = format!("{name}_simpy");
        let ours_rate = want(name).then(|| {
            eprintln!("{name}: twinloom-flow");
            ours(&model)
        });
        let base = want(&simpy_name).then(|| {
            eprintln!("{name}: SimPy");
            let args: Vec<&str> = simpy_args.iter().map(|s| s.as_str()).collect();
            let (ev, s) = simpy(&args);
            (ev / s, ev)
        });
        if let Some((rate, events)) = ours_rate {
            emit(json!({"name": name, "value": rate, "unit": "events/s", "events": events, "model": what,
                "speedup_vs_simpy": base.map(|(r, _)| rate / r)}));
        }
        if let Some((r, ev)) = base {
            emit(
                json!({"name": simpy_name, "value": r, "unit": "events/s", "events": ev, "model": what, "simpy": "4.1.1"}),
            );
        }
    }
    maxplus(&want);
    if want("salbp1_scholl_total_s") {
        eprintln!("SALBP-1: Scholl's 269 instances");
        salbp1_scholl();
    }
}

/// The max-plus bench line: 10 stations (exponential, lognormal and normal service times around 50 s), 2
/// buffer places between them, 10,000 jobs per replication of which 1,000 warm-up.
fn maxplus_line() -> MaxPlusLine {
    let time = |i: usize| match i % 3 {
        0 => Dist::Exp { mean: 50.0 },
        1 => Dist::Lognormal { mean: 48.0, sd: 15.0 },
        _ => Dist::Normal { mean: 52.0, sd: 8.0 },
    };
    MaxPlusLine {
        name: "maxplus-10".into(),
        stations: (0..10).map(|i| MpStation { name: format!("s{i}"), time: time(i), buffer_after: 2 }).collect(),
        jobs: 10_000,
        warmup_jobs: 1_000,
    }
}

/// Best of three timings of `f`, with its last result.
fn best_of_3<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..3 {
        let t0 = Instant::now();
        last = Some(f());
        best = best.min(t0.elapsed().as_secs_f64());
    }
    (best, last.unwrap_or_else(|| unreachable!()))
}

fn maxplus(want: &dyn Fn(&str) -> bool) {
    let line = maxplus_line();
    let what = "10 stations (exp/lognormal/normal, means 48-52 s), 2 buffer places, 10,000 jobs (1,000 warm-up)";
    let want_gpu = want("maxplus_reps_per_s_gpu");
    if !want("maxplus_reps_per_s_cpu") && !want_gpu {
        return;
    }
    // The CPU run is also the reference the GPU's mean is checked against.
    let reps = 512;
    eprintln!("maxplus: {reps} replications on the CPU");
    let (secs, runs) = best_of_3(|| runs_cpu(&line, reps, 1).unwrap_or_else(|e| panic!("{e}")));
    let cpu = summarize(&line, &runs, 1, "cpu".into());
    if want("maxplus_reps_per_s_cpu") {
        // The event engine on the same line and about the same number of jobs, for comparison.
        let des = des_reps_per_s(&line, cpu.throughput_per_h.mean);
        emit(json!({"name": "maxplus_reps_per_s_cpu", "value": reps as f64 / secs, "unit": "replications/s",
            "replications": reps, "threads": rayon::current_num_threads(), "model": what,
            "throughput_per_h": cpu.throughput_per_h.mean, "throughput_ci95": cpu.throughput_per_h.ci95,
            "station_steps_per_s": (reps as u64 * line.jobs * 10) as f64 / secs,
            "des_reps_per_s": des, "speedup_vs_des": reps as f64 / secs / des}));
    }
    if want_gpu {
        maxplus_gpu(&line, &cpu, what);
    }
}

/// Replications per second of the event engine on `line` (all threads), its horizon set to the same number of
/// jobs at the throughput the max-plus run measured.
fn des_reps_per_s(line: &MaxPlusLine, throughput_per_h: f64) -> f64 {
    let model = LineModel {
        name: line.name.clone(),
        horizon_h: (line.jobs - line.warmup_jobs) as f64 / throughput_per_h,
        warmup_h: line.warmup_jobs as f64 / throughput_per_h,
        source: Source::Saturated,
        variants: vec![],
        calendar: None,
        stations: line
            .stations
            .iter()
            .map(|s| Station {
                name: s.name.clone(),
                time: s.time,
                time_by_variant: BTreeMap::new(),
                failures: None,
                next: Some(Link { capacity: s.buffer_after, transport_s: 0.0 }),
            })
            .collect(),
    };
    let sim = Sim::new(&model).unwrap_or_else(|e| panic!("{e}"));
    let reps = 64;
    let (secs, _) = best_of_3(|| replicate(&sim, reps, 1));
    reps as f64 / secs
}

#[cfg(not(feature = "cuda"))]
fn maxplus_gpu(_: &MaxPlusLine, _: &MaxPlusSummary, _: &str) {
    eprintln!("maxplus_reps_per_s_gpu: skipped, this build has no CUDA path (--features cuda)");
}

#[cfg(feature = "cuda")]
fn maxplus_gpu(line: &MaxPlusLine, cpu: &MaxPlusSummary, what: &str) {
    use twinloom_flow::des::maxplus_kernel::GpuMaxPlus;
    use twinloom_flow::gpu::{select, Device, GpuMode};
    let gpu = match select(GpuMode::Auto) {
        Ok(Device::Cuda(gpu)) => gpu.gpu().clone(),
        Ok(Device::Cpu { reason }) => {
            eprintln!("maxplus_reps_per_s_gpu: skipped, {reason}");
            return;
        }
        Err(e) => {
            eprintln!("maxplus_reps_per_s_gpu: skipped, {e}");
            return;
        }
    };
    let name = gpu.name().to_string();
    let kernel = GpuMaxPlus::new(gpu).unwrap_or_else(|e| panic!("{e}"));
    let reps = 65_536;
    eprintln!("maxplus: {reps} replications on {name}");
    let (secs, runs) = best_of_3(|| kernel.runs(line, reps, 1).unwrap_or_else(|e| panic!("{e}")));
    let g = summarize(line, &runs, 1, format!("gpu ({name})"));
    let c = cpu.throughput_per_h;
    emit(json!({"name": "maxplus_reps_per_s_gpu", "value": reps as f64 / secs, "unit": "replications/s",
        "replications": reps, "device": name, "model": what,
        "throughput_per_h": g.throughput_per_h.mean, "throughput_ci95": g.throughput_per_h.ci95,
        "cpu_throughput_per_h": c.mean, "cpu_ci95": c.ci95,
        "gpu_mean_in_cpu_ci": (g.throughput_per_h.mean - c.mean).abs() <= c.ci95}));
}

/// Scholl's 269 SALBP-1 instances with the test's step limit: the total of the single-threaded solve times (one
/// instance after the other), then the wall time with the instances spread over all cores.
fn salbp1_scholl() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let csv = std::fs::read_to_string(data.join("scholl_salbp1_optima.csv")).unwrap_or_default();
    let mut graphs: BTreeMap<String, Instance> = BTreeMap::new();
    let mut cases = Vec::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(g), Some(c), Some(opt)) =
            (f.first(), f.get(1).and_then(|x| x.parse::<u64>().ok()), f.get(2).and_then(|x| x.parse::<usize>().ok()))
        else {
            continue;
        };
        if !graphs.contains_key(*g) {
            match read_instance(&data.join("scholl").join(g)) {
                Ok(i) => graphs.insert(g.to_string(), i),
                Err(e) => panic!("{e}"),
            };
        }
        cases.push((g.to_string(), c, opt));
    }
    let limit = 50_000_000u64;
    let solve = |(g, c, opt): &(String, u64, usize)| {
        let t0 = Instant::now();
        let b = solve_salbp1(&graphs[g], *c, &Options { time_limit: None, step_limit: Some(limit) })
            .unwrap_or_else(|e| panic!("{e}"));
        (t0.elapsed().as_secs_f64(), b.optimal && b.stations.len() == *opt)
    };
    let serial: Vec<(f64, bool)> = cases.iter().map(solve).collect();
    let total: f64 = serial.iter().map(|r| r.0).sum();
    let proven = serial.iter().filter(|r| r.1).count();
    let slowest = serial.iter().map(|r| r.0).fold(0.0, f64::max);
    let t0 = Instant::now();
    let parallel_proven = cases.par_iter().map(solve).filter(|r| r.1).count();
    let parallel = t0.elapsed().as_secs_f64();
    emit(json!({"name": "salbp1_scholl_total_s", "value": total, "unit": "s", "instances": cases.len(),
        "proven_optimal": proven, "slowest_instance_s": slowest, "step_limit_per_instance": limit,
        "parallel_wall_s": parallel, "parallel_threads": rayon::current_num_threads(),
        "parallel_proven_optimal": parallel_proven,
        "reference": "BB&R (Sewell & Jacobson) 32.7 s CPU for all 269, all proven"}));
}
