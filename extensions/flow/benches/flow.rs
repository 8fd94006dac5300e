//! Flow benchmarks: events per second of the line simulation against SimPy on the same M/M/1 and serial-line
//! models (events counted the same way: one per arrival and one per service completion), and the total time
//! of the exact SALBP-1 solver over Scholl's 269 instances (one core, and spread over all cores). Prints one
//! JSON object per line on stdout.
//! Usage: `cargo bench -p twinloom-flow -- [PREFIX]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use twinloom_flow::des::{Dist, LineModel, Link, Sim, Source, Station};
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
    let mut it = out
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(f64::NAN));
    (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN))
}

fn station(name: String, next: Option<usize>) -> Station {
    Station {
        name,
        time: Dist::Exp { mean: 50.0 },
        time_by_variant: BTreeMap::new(),
        failures: None,
        next: next.map(|capacity| Link {
            capacity,
            transport_s: 0.0,
        }),
    }
}

fn mm1(jobs: f64) -> LineModel {
    let mut s = station("server".into(), None);
    s.time = Dist::Exp { mean: 45.0 };
    LineModel {
        name: "mm1".into(),
        horizon_h: jobs * 60.0 / 3600.0,
        warmup_h: 0.0,
        source: Source::Arrivals {
            interarrival: Dist::Exp { mean: 60.0 },
        },
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
        stations: (0..stations)
            .map(|i| station(format!("s{i}"), (i + 1 < stations).then_some(buffer)))
            .collect(),
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
    let prefix = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
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
            vec![
                "line".into(),
                (jobs / 5).to_string(),
                "5".into(),
                "2".into(),
            ],
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
            emit(
                json!({"name": name, "value": rate, "unit": "events/s", "events": events, "model": what,
                "speedup_vs_simpy": base.map(|(r, _)| rate / r)}),
            );
        }
        if let Some((r, ev)) = base {
            emit(
                json!({"name": simpy_name, "value": r, "unit": "events/s", "events": ev, "model": what, "simpy": "4.1.1"}),
            );
        }
    }
    if want("salbp1_scholl_total_s") {
        eprintln!("SALBP-1: Scholl's 269 instances");
        salbp1_scholl();
    }
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
        let (Some(g), Some(c), Some(opt)) = (
            f.first(),
            f.get(1).and_then(|x| x.parse::<u64>().ok()),
            f.get(2).and_then(|x| x.parse::<usize>().ok()),
        ) else {
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
        let b = solve_salbp1(
            &graphs[g],
            *c,
            &Options {
                time_limit: None,
                step_limit: Some(limit),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (
            t0.elapsed().as_secs_f64(),
            b.optimal && b.stations.len() == *opt,
        )
    };
    let serial: Vec<(f64, bool)> = cases.iter().map(solve).collect();
    let total: f64 = serial.iter().map(|r| r.0).sum();
    let proven = serial.iter().filter(|r| r.1).count();
    let slowest = serial.iter().map(|r| r.0).fold(0.0, f64::max);
    let t0 = Instant::now();
    let parallel_proven = cases.par_iter().map(solve).filter(|r| r.1).count();
    let parallel = t0.elapsed().as_secs_f64();
    emit(
        json!({"name": "salbp1_scholl_total_s", "value": total, "unit": "s", "instances": cases.len(),
        "proven_optimal": proven, "slowest_instance_s": slowest, "step_limit_per_instance": limit,
        "parallel_wall_s": parallel, "parallel_threads": rayon::current_num_threads(),
        "parallel_proven_optimal": parallel_proven,
        "reference": "BB&R (Sewell & Jacobson) 32.7 s CPU for all 269, all proven"}),
    );
}
