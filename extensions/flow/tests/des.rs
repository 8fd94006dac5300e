//! The line simulation against closed forms: M/M/1 waiting time, a two-station line with a finite buffer
//! (its continuous-time Markov chain is solved in tests/common), deterministic balanced lines, failures, shift
//! calendars, and reproducibility for a seed.

mod common;

use common::{line, station, two_station_throughput, within};
use twinloom_flow::des::calendar::CalendarSpec;
use twinloom_flow::des::{replicate, Dist, Failures, Link, Sim, Source};

#[test]
fn mm1_waiting_time_matches_closed_form() {
    // λ = 1/60 s, μ = 1/45 s: ρ = 0.75, Wq = ρ / (μ − λ) = 135 s, L = ρ / (1 − ρ) = 3.
    let m = line(
        Source::Arrivals { interarrival: Dist::Exp { mean: 60.0 } },
        vec![station("server", Dist::Exp { mean: 45.0 }, None)],
        2000.0,
    );
    let (s, _) = replicate(&Sim::new(&m).unwrap(), 16, 7);
    within("Wq", s.mean_queue_wait_s, 135.0);
    within("L", s.wip, 3.0);
    within("throughput", s.throughput_per_h, 60.0);
    within("utilisation", s.stations[0].utilisation, 0.75);
}

#[test]
fn two_station_line_with_finite_buffer_matches_markov_chain() {
    for (m1, m2, b) in [(50.0, 60.0, 0), (50.0, 50.0, 2), (60.0, 45.0, 1)] {
        let exact = two_station_throughput(1.0 / m1, 1.0 / m2, b) * 3600.0;
        let m = line(
            Source::Saturated,
            vec![station("s1", Dist::Exp { mean: m1 }, Some(b)), station("s2", Dist::Exp { mean: m2 }, None)],
            2000.0,
        );
        let (s, _) = replicate(&Sim::new(&m).unwrap(), 16, 11);
        within(&format!("throughput m1={m1} m2={m2} b={b}"), s.throughput_per_h, exact);
    }
    // The chain itself: equal rates, no buffer: states 0,1,2 equally likely, throughput 2/3 μ.
    assert!((two_station_throughput(1.0, 1.0, 0) - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn deterministic_balanced_line_runs_at_the_cycle_time() {
    let m = line(
        Source::Saturated,
        (0..5).map(|i| station(&format!("s{i}"), Dist::Const { value: 60.0 }, Some(1))).collect(),
        100.0,
    );
    let r = Sim::new(&m).unwrap().run(1, 0);
    assert_eq!(r.throughput_per_h, 60.0);
    for s in &r.stations {
        assert!((s.utilisation - 1.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.blocked + s.starved, 0.0);
    }
    // An unbalanced deterministic line runs at its slowest station; the faster ones starve or block.
    let mut m2 = m.clone();
    m2.stations[2].time = Dist::Const { value: 90.0 };
    let r2 = Sim::new(&m2).unwrap().run(1, 0);
    assert!((r2.throughput_per_h - 40.0).abs() < 0.01, "{}", r2.throughput_per_h);
    assert_eq!(r2.bottleneck, 2);
    assert!((r2.stations[0].blocked - 1.0 / 3.0).abs() < 1e-3);
    assert!((r2.stations[4].starved - 1.0 / 3.0).abs() < 1e-3);
}

#[test]
fn failures_reduce_throughput_by_the_availability() {
    // Operation-dependent failures: throughput = 1/p · MTBF / (MTBF + MTTR) = 60 · 0.8 = 48 jobs/h.
    let mut s = station("press", Dist::Const { value: 60.0 }, None);
    s.failures = Some(Failures { mtbf_s: 2400.0, mttr: Dist::Exp { mean: 600.0 } });
    let m = line(Source::Saturated, vec![s], 2000.0);
    let (sum, _) = replicate(&Sim::new(&m).unwrap(), 16, 3);
    within("throughput with failures", sum.throughput_per_h, 48.0);
    within("down share", sum.stations[0].down, 0.2);
}

#[test]
fn conveyor_transport_time_and_shift_calendar() {
    // A conveyor adds its transport time to the flow time without changing a deterministic rate.
    let mut a = station("a", Dist::Const { value: 60.0 }, None);
    a.next = Some(Link { capacity: 5, transport_s: 120.0 });
    let b = station("b", Dist::Const { value: 60.0 }, None);
    let m = line(Source::Saturated, vec![a, b], 50.0);
    let r = Sim::new(&m).unwrap().run(1, 0);
    assert_eq!(r.throughput_per_h, 60.0);
    assert!((r.mean_flow_time_s - 240.0).abs() < 1e-9, "{}", r.mean_flow_time_s);
    // Two 8 h shifts with a 30 min break each: 15 h of work a day, 60 jobs per working hour, 900 a day.
    let mut m2 = line(Source::Saturated, vec![station("a", Dist::Const { value: 60.0 }, None)], 240.0);
    m2.warmup_h = 0.0;
    m2.calendar = Some(CalendarSpec {
        period_h: 24.0,
        shifts: vec![[6.0, 14.0], [14.0, 22.0]],
        breaks: vec![[10.0, 10.5], [18.0, 18.5]],
    });
    let r2 = Sim::new(&m2).unwrap().run(1, 0);
    assert_eq!(r2.completed, 9000);
    assert_eq!(r2.throughput_per_h, 60.0);
}

#[test]
fn replications_are_reproducible_for_a_seed() {
    let m = line(
        Source::Saturated,
        vec![station("a", Dist::Exp { mean: 50.0 }, Some(2)), station("b", Dist::Normal { mean: 55.0, sd: 5.0 }, None)],
        100.0,
    );
    let sim = Sim::new(&m).unwrap();
    let (x, _) = replicate(&sim, 8, 42);
    let (y, _) = replicate(&sim, 8, 42);
    let (z, _) = replicate(&sim, 8, 43);
    assert_eq!(x, y);
    assert_ne!(x.throughput_per_h, z.throughput_per_h);
}

#[test]
fn invalid_models_name_the_field() {
    let mut m = line(Source::Saturated, vec![station("weld", Dist::Exp { mean: -1.0 }, None)], 10.0);
    let e = Sim::new(&m).err().unwrap().to_string();
    assert!(e.starts_with("model \"test\": stations[0] (weld).time:"), "{e}");
    m.stations[0].time = Dist::Const { value: 1.0 };
    m.horizon_h = 0.0;
    assert!(Sim::new(&m).err().unwrap().to_string().contains("horizon_h"));
}
