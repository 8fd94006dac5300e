//! Solves all 269 SALBP-1 instances of Scholl's data set (graphs and proven optima copied from the public
//! benchmark into tests/data) with a budget of 50 million search steps each (deterministic; the steps and
//! the total and slowest times are printed by `cargo bench -p twinloom-flow`). Every balance must be feasible and
//! proven optimal, with the published optimum as its number of stations and its lower bound.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use twinloom_flow::salbp::{read_instance, solve_salbp1, Instance, Options};

/// Search steps allowed per instance.
const STEPS: u64 = 50_000_000;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Checks the balance: every task once, precedences respected, station loads within the cycle time.
fn check_feasible(inst: &Instance, c: u64, stations: &[Vec<usize>]) {
    let mut at = vec![usize::MAX; inst.len()];
    for (s, tasks) in stations.iter().enumerate() {
        let load: u64 = tasks.iter().map(|&j| inst.times[j]).sum();
        assert!(load <= c, "{} c={c}: station {} load {load}", inst.name, s + 1);
        for &j in tasks {
            assert_eq!(at[j], usize::MAX, "{}: task {} twice", inst.name, j + 1);
            at[j] = s;
        }
    }
    assert!(at.iter().all(|&s| s != usize::MAX), "{}: a task is unassigned", inst.name);
    for &(a, b) in &inst.precedences {
        assert!(at[a] <= at[b], "{} c={c}: precedence {}->{} violated", inst.name, a + 1, b + 1);
    }
}

#[test]
fn all_269_scholl_instances_proven_optimal() {
    let csv = std::fs::read_to_string(data().join("scholl_salbp1_optima.csv")).unwrap();
    let mut graphs: HashMap<String, Instance> = HashMap::new();
    let mut count = 0;
    let mut unproven = Vec::new();
    let mut slow = Vec::new();
    let start = Instant::now();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (graph, c, opt): (&str, u64, usize) = (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
        let inst = graphs
            .entry(graph.to_string())
            .or_insert_with(|| read_instance(&data().join("scholl").join(graph)).unwrap());
        let t0 = Instant::now();
        let opts = Options { time_limit: None, step_limit: Some(STEPS) };
        let b = solve_salbp1(inst, c, &opts).unwrap();
        let dt = t0.elapsed().as_secs_f64();
        check_feasible(inst, c, &b.stations);
        assert!(b.stations.len() >= opt, "{graph} c={c}: {} stations beat the proven optimum {opt}", b.stations.len());
        assert!(b.lower_bound <= opt, "{graph} c={c}: lower bound {} above the optimum {opt}", b.lower_bound);
        if b.optimal {
            assert_eq!(b.stations.len(), opt, "{graph} c={c}: claimed optimal");
            assert_eq!(b.lower_bound, opt, "{graph} c={c}: lower bound");
            if dt > 0.25 {
                slow.push(format!("{graph} c={c}: {dt:.2} s, {} steps", b.nodes));
            }
        } else {
            unproven.push(format!(
                "{graph} c={c}: {} stations, lower bound {}, optimum {opt}",
                b.stations.len(),
                b.lower_bound
            ));
        }
        count += 1;
    }
    eprintln!("{count} instances in {:.1} s; over 0.25 s: {slow:#?}", start.elapsed().as_secs_f64());
    assert_eq!(count, 269);
    assert!(unproven.is_empty(), "not proven optimal: {unproven:#?}");
}

/// Diagnostic run over chosen instances: `SALBP_ONLY="SCHOLL:1394,WEE-MAG:47"` (graph name without `.IN2`, a
/// missing cycle time means all of that graph's) and `SALBP_STEPS` (default: the main test's budget). Prints one
/// line per instance (`WRONG` when the result contradicts the published optimum) and the total time.
#[test]
#[ignore]
fn selected_instances() {
    let only = std::env::var("SALBP_ONLY").unwrap_or_default();
    let steps = std::env::var("SALBP_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(STEPS);
    let wanted = |graph: &str, c: u64| {
        only.split(',').any(|w| {
            let mut it = w.split(':');
            let g = it.next().unwrap_or_default();
            graph.trim_end_matches(".IN2") == g && it.next().is_none_or(|x| x == c.to_string())
        })
    };
    let csv = std::fs::read_to_string(data().join("scholl_salbp1_optima.csv")).unwrap();
    let start = Instant::now();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (graph, c, opt): (&str, u64, usize) = (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
        if !wanted(graph, c) {
            continue;
        }
        let inst = read_instance(&data().join("scholl").join(graph)).unwrap();
        let t0 = Instant::now();
        let opts = Options { time_limit: None, step_limit: Some(steps) };
        let b = solve_salbp1(&inst, c, &opts).unwrap();
        check_feasible(&inst, c, &b.stations);
        let wrong = b.stations.len() < opt || b.lower_bound > opt;
        eprintln!(
            "{}{graph} c={c} opt={opt}: {} stations, lb {}, optimal {}, {} steps, {:.2} s",
            if wrong { "WRONG " } else { "" },
            b.stations.len(),
            b.lower_bound,
            b.optimal,
            b.nodes,
            t0.elapsed().as_secs_f64()
        );
    }
    eprintln!("total {:.2} s", start.elapsed().as_secs_f64());
}
