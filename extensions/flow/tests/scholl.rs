//! Solves all 269 SALBP-1 instances of Scholl's data set (graphs and proven optima copied from the public
//! benchmark into tests/data) with a budget of 6 million search steps each (deterministic, about 30 s in all).
//! Every balance must be feasible, never beat the proven optimum, and its lower bound must never exceed it;
//! every instance the solver reports as proven must match the optimum exactly. The solver does not yet prove
//! all 269 within the budget (see the crate README): the test pins the number it does prove (253) so a
//! regression shows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use twinloom_flow::salbp::{read_instance, solve_salbp1, Instance, Options};

/// Search steps allowed per instance.
const STEPS: u64 = 6_000_000;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Checks the balance: every task once, precedences respected, station loads within the cycle time.
fn check_feasible(inst: &Instance, c: u64, stations: &[Vec<usize>]) {
    let mut at = vec![usize::MAX; inst.len()];
    for (s, tasks) in stations.iter().enumerate() {
        let load: u64 = tasks.iter().map(|&j| inst.times[j]).sum();
        assert!(
            load <= c,
            "{} c={c}: station {} load {load}",
            inst.name,
            s + 1
        );
        for &j in tasks {
            assert_eq!(at[j], usize::MAX, "{}: task {} twice", inst.name, j + 1);
            at[j] = s;
        }
    }
    assert!(
        at.iter().all(|&s| s != usize::MAX),
        "{}: a task is unassigned",
        inst.name
    );
    for &(a, b) in &inst.precedences {
        assert!(
            at[a] <= at[b],
            "{} c={c}: precedence {}->{} violated",
            inst.name,
            a + 1,
            b + 1
        );
    }
}

#[test]
fn all_269_scholl_instances_feasible_bounded_and_mostly_proven() {
    let csv = std::fs::read_to_string(data().join("scholl_salbp1_optima.csv")).unwrap();
    let mut graphs: HashMap<String, Instance> = HashMap::new();
    let mut count = 0;
    let mut proven = 0;
    let mut slow = Vec::new();
    let start = Instant::now();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (graph, c, opt): (&str, u64, usize) =
            (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
        let inst = graphs
            .entry(graph.to_string())
            .or_insert_with(|| read_instance(&data().join("scholl").join(graph)).unwrap());
        let t0 = Instant::now();
        let opts = Options {
            time_limit: None,
            step_limit: Some(STEPS),
        };
        let b = solve_salbp1(inst, c, &opts).unwrap();
        let dt = t0.elapsed().as_secs_f64();
        if dt > 0.5 && b.optimal {
            slow.push(format!("{graph} c={c}: {dt:.2}s, {} nodes", b.nodes));
        }
        check_feasible(inst, c, &b.stations);
        assert!(
            b.stations.len() >= opt,
            "{graph} c={c}: {} stations beat the proven optimum {opt}",
            b.stations.len()
        );
        assert!(
            b.lower_bound <= opt,
            "{graph} c={c}: lower bound {} above the optimum {opt}",
            b.lower_bound
        );
        assert!(
            b.stations.len() <= opt + 2,
            "{graph} c={c}: {} stations, optimum {opt}",
            b.stations.len()
        );
        if b.optimal {
            assert_eq!(b.stations.len(), opt, "{graph} c={c}: claimed optimal");
            assert_eq!(b.lower_bound, opt, "{graph} c={c}: lower bound");
            proven += 1;
        } else {
            slow.push(format!(
                "{graph} c={c}: not proven ({} stations, lower bound {})",
                b.stations.len(),
                b.lower_bound
            ));
        }
        count += 1;
    }
    eprintln!(
        "269 instances in {:.1} s, {proven} proven optimal; {slow:#?}",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(count, 269);
    assert!(proven >= 253, "only {proven} of 269 proven optimal");
}
