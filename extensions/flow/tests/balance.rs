//! SALBP-1, SALBP-2 and zoning against an independent brute force (dynamic programming over all task sets that
//! respect precedence) on Scholl's small graphs, the .alb reader against the .IN2 reader, and the workload report.

use std::path::PathBuf;

use twinloom_flow::salbp::{read_instance, solve_salbp1, solve_salbp2, station_report, Instance, Options, Zoning};

fn data(f: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(f)
}

/// Fewest stations for cycle time `c` by DP over precedence-closed task sets (None when infeasible).
fn brute_force(inst: &Instance, c: u64) -> Option<usize> {
    let n = inst.len();
    let full = (1usize << n) - 1;
    let closed = |s: usize| inst.precedences.iter().all(|&(a, b)| s >> b & 1 == 0 || s >> a & 1 == 1);
    let load = |s: usize| (0..n).filter(|&j| s >> j & 1 == 1).map(|j| inst.times[j]).sum::<u64>();
    let zoning_ok = |l: usize| {
        inst.zoning.together.iter().all(|&(a, b)| (l >> a & 1) == (l >> b & 1))
            && inst.zoning.apart.iter().all(|&(a, b)| !(l >> a & 1 == 1 && l >> b & 1 == 1))
    };
    let mut f = vec![usize::MAX; full + 1];
    f[0] = 0;
    for s in 0..=full {
        if f[s] == usize::MAX || !closed(s) {
            continue;
        }
        let rest = full & !s;
        let mut l = rest;
        while l > 0 {
            let t = s | l;
            if f[s] + 1 < f[t] && closed(t) && load(l) <= c && zoning_ok(l) {
                f[t] = f[s] + 1;
            }
            l = (l - 1) & rest;
        }
    }
    (f[full] != usize::MAX).then_some(f[full])
}

fn check_balance(inst: &Instance, c: u64, stations: &[Vec<usize>]) {
    let mut at = vec![usize::MAX; inst.len()];
    for (s, tasks) in stations.iter().enumerate() {
        assert!(tasks.iter().map(|&j| inst.times[j]).sum::<u64>() <= c);
        for &j in tasks {
            at[j] = s;
        }
    }
    assert!(at.iter().all(|&s| s != usize::MAX));
    for &(a, b) in &inst.precedences {
        assert!(at[a] <= at[b]);
    }
    for &(a, b) in &inst.zoning.together {
        assert_eq!(at[a], at[b], "together {} {}", a + 1, b + 1);
    }
    for &(a, b) in &inst.zoning.apart {
        assert_ne!(at[a], at[b], "apart {} {}", a + 1, b + 1);
    }
}

#[test]
fn salbp1_matches_brute_force_on_every_cycle_time() {
    for g in ["MERTENS.IN2", "BOWMAN8.IN2", "JACKSON.IN2", "MANSOOR.IN2"] {
        let inst = read_instance(&data(&format!("scholl/{g}"))).unwrap();
        if inst.len() > 12 {
            continue;
        }
        let tmax = *inst.times.iter().max().unwrap();
        for c in tmax..=inst.total_time() {
            let b = solve_salbp1(&inst, c, &Options::default()).unwrap();
            assert!(b.optimal);
            assert_eq!(Some(b.stations.len()), brute_force(&inst, c), "{g} c={c}");
            check_balance(&inst, c, &b.stations);
        }
    }
}

#[test]
fn salbp2_matches_brute_force() {
    for g in ["MERTENS.IN2", "BOWMAN8.IN2", "JACKSON.IN2"] {
        let inst = read_instance(&data(&format!("scholl/{g}"))).unwrap();
        for m in 1..=inst.len() {
            let b = solve_salbp2(&inst, m, &Options::default()).unwrap();
            let best = (1..=inst.total_time()).find(|&c| brute_force(&inst, c).is_some_and(|k| k <= m)).unwrap();
            assert!(b.optimal, "{g} m={m}");
            assert_eq!(b.balance.cycle_time, best, "{g} m={m}");
            assert_eq!(b.cycle_time_lower_bound, best);
            assert!(b.balance.stations.len() <= m);
            check_balance(&inst, best, &b.balance.stations);
        }
    }
}

#[test]
fn zero_time_tasks_and_a_zero_cycle_time() {
    let inst = |times: Vec<u64>, precedences: Vec<(usize, usize)>| Instance {
        name: "zero".into(),
        times,
        precedences,
        cycle_time: None,
        zoning: Zoning::default(),
    };
    let cases = [
        inst(vec![0, 0], vec![(0, 1)]),
        inst(vec![0, 3, 0, 2], vec![(0, 1), (1, 2), (2, 3)]),
        inst(vec![2, 0, 3, 0, 4], vec![(0, 1), (1, 2), (3, 4)]),
    ];
    for i in &cases {
        let tmax = *i.times.iter().max().unwrap();
        for c in tmax.max(1)..=i.total_time().max(1) {
            let b = solve_salbp1(i, c, &Options::default()).unwrap();
            assert!(b.optimal, "{:?} c={c}", i.times);
            assert_eq!(Some(b.stations.len()), brute_force(i, c), "{:?} c={c}", i.times);
            check_balance(i, c, &b.stations);
        }
    }
    let e = solve_salbp1(&cases[0], 0, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("cycle time"), "{e}");
}

#[test]
fn zoning_constraints_are_respected_and_optimal() {
    let base = read_instance(&data("scholl/JACKSON.IN2")).unwrap();
    let cases = [
        Zoning { together: vec![(5, 8)], apart: vec![] },
        Zoning { together: vec![], apart: vec![(1, 2), (3, 4), (6, 7)] },
        Zoning { together: vec![(1, 4), (7, 9)], apart: vec![(0, 1), (8, 10)] },
    ];
    for z in cases {
        let inst = Instance { zoning: z.clone(), ..base.clone() };
        for c in [10, 13, 21] {
            match (solve_salbp1(&inst, c, &Options::default()), brute_force(&inst, c)) {
                (Ok(b), Some(k)) => {
                    assert!(b.optimal);
                    assert_eq!(b.stations.len(), k, "{z:?} c={c}");
                    check_balance(&inst, c, &b.stations);
                }
                (Err(e), None) => assert!(e.to_string().contains("no feasible assignment"), "{e}"),
                (r, k) => panic!("{z:?} c={c}: solver {r:?}, brute force {k:?}"),
            }
        }
    }
    // Must-share tasks 1 and 11 (the whole chain between them) cannot fit a cycle time of 7.
    let inst = Instance { zoning: Zoning { together: vec![(0, 10)], apart: vec![] }, ..base };
    let e = solve_salbp1(&inst, 7, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("no feasible assignment"), "{e}");
}

#[test]
fn alb_reader_matches_in2_reader() {
    let alb = read_instance(&data("JACKSON.alb")).unwrap();
    let in2 = read_instance(&data("scholl/JACKSON.IN2")).unwrap();
    assert_eq!(alb.times, in2.times);
    assert_eq!(alb.precedences, in2.precedences);
    assert_eq!(alb.cycle_time, Some(10));
}

#[test]
fn in2_reader_handles_the_traps_of_the_data_set() {
    // ARC111 has a non-UTF-8 byte and arcs in free text after the end mark; all files use CRLF.
    let arc = read_instance(&data("scholl/ARC111.IN2")).unwrap();
    assert_eq!(arc.len(), 111);
    assert!(!arc.precedences.contains(&(42, 90)), "text after -1,-1 must be ignored");
    let scholl = read_instance(&data("scholl/SCHOLL.IN2")).unwrap();
    assert_eq!(scholl.len(), 297);
    let e = read_instance(&data("scholl/NOPE.IN2")).unwrap_err().to_string();
    assert!(e.contains("NOPE.IN2"), "{e}");
}

#[test]
fn workload_report_per_station() {
    let inst = read_instance(&data("scholl/JACKSON.IN2")).unwrap();
    let b = solve_salbp1(&inst, 10, &Options::default()).unwrap();
    let r = station_report(&b, &inst.times, None);
    assert_eq!(r.len(), b.stations.len());
    assert_eq!(r.iter().map(|s| s.load).sum::<u64>(), inst.total_time());
    for s in &r {
        assert_eq!(s.load + s.idle, 10);
        assert!((s.utilisation - s.load as f64 / 10.0).abs() < 1e-12);
        let longest = s.tasks.iter().map(|&t| inst.times[t - 1]).max().unwrap() as f64;
        let expect = s.utilisation * (1.0 + longest / 10.0) / 2.0;
        assert!((s.ergonomics - expect).abs() < 1e-12);
    }
}
