//! Max-plus Monte-Carlo replications of serial lines: against the discrete-event engine on the same lines
//! (statistics within their confidence intervals), exact results on deterministic lines, the two-station
//! Markov chain, the host-compiled GPU kernel against the Rust recursion replication by replication, the
//! conversion from line models, and GPU selection (`--gpu on` without a GPU is an error).

mod common;

use common::{line, station, two_station_throughput, within};
use twinloom_flow::des::maxplus::{runs_cpu, summarize};
use twinloom_flow::des::maxplus_kernel::{runs_host, Params, MAX_SLOTS, MAX_STATIONS};
use twinloom_flow::des::{
    replicate, replicate_maxplus, Dist, Estimate, Failures, LineModel, Link, MaxPlusLine, MpStation, Sim, Source,
};
use twinloom_flow::gpu::{select, Device, GpuMode};

fn cpu() -> Device {
    Device::Cpu { reason: "test".into() }
}

fn mp_line(times: &[Dist], buffers: &[usize], jobs: u64, warmup_jobs: u64) -> MaxPlusLine {
    MaxPlusLine {
        name: "mp".into(),
        stations: times
            .iter()
            .enumerate()
            .map(|(i, &time)| MpStation {
                name: format!("s{i}"),
                time,
                buffer_after: buffers.get(i).copied().unwrap_or(0),
            })
            .collect(),
        jobs,
        warmup_jobs,
    }
}

/// Two independent estimates of one quantity agree: their difference lies within `widen` times the 95 %
/// interval of a difference, `sqrt(h1² + h2²)`.
fn agree(what: &str, a: Estimate, b: Estimate, widen: f64) {
    let h = (a.ci95.powi(2) + b.ci95.powi(2)).sqrt();
    assert!((a.mean - b.mean).abs() <= widen * h, "{what}: {} ± {} vs {} ± {}", a.mean, a.ci95, b.mean, b.ci95);
}

/// 95 % with a 10 % margin, for the one statistic a test is about.
const ONE: f64 = 1.1;
/// For the many per-station statistics of one test (about 25): the 99.9 % interval (z = 3.29 instead of 1.96),
/// so that chance alone does not fail one of them (Bonferroni).
const MANY: f64 = 3.29 / 1.96;

/// Every distribution the engine has, on lines with and without buffers.
fn lines_with_every_distribution() -> Vec<LineModel> {
    let sat = Source::Saturated;
    vec![
        line(
            sat.clone(),
            vec![
                station("exp", Dist::Exp { mean: 50.0 }, Some(2)),
                station("normal", Dist::Normal { mean: 55.0, sd: 10.0 }, Some(0)),
                station("lognormal", Dist::Lognormal { mean: 48.0, sd: 20.0 }, None),
            ],
            1500.0,
        ),
        line(
            sat.clone(),
            vec![
                station("uniform", Dist::Uniform { min: 30.0, max: 70.0 }, Some(1)),
                station("triangular", Dist::Triangular { min: 35.0, mode: 50.0, max: 75.0 }, Some(3)),
                station("erlang", Dist::Erlang { mean: 52.0, k: 3 }, Some(1)),
                station("const", Dist::Const { value: 45.0 }, None),
            ],
            1500.0,
        ),
    ]
}

#[test]
fn maxplus_agrees_with_the_event_engine() {
    for m in lines_with_every_distribution() {
        let (des, _) = replicate(&Sim::new(&m).unwrap(), 16, 5);
        let mp_line = MaxPlusLine::from_model(&m).unwrap();
        let mp = replicate_maxplus(&mp_line, 16, 5, &cpu()).unwrap();
        assert_eq!(mp.device, "cpu");
        for e in [mp.throughput_per_h, des.throughput_per_h] {
            assert!(e.ci95 < 0.005 * e.mean, "interval too wide to compare: {e:?}");
        }
        let name = &m.stations[0].name;
        agree(&format!("{name}: throughput"), mp.throughput_per_h, des.throughput_per_h, ONE);
        agree(&format!("{name}: flow time"), mp.mean_flow_time_s, des.mean_flow_time_s, MANY);
        for (a, b) in mp.stations.iter().zip(&des.stations) {
            agree(&format!("{}: utilisation", a.name), a.utilisation, b.utilisation, MANY);
            agree(&format!("{}: blocked", a.name), a.blocked, b.blocked, MANY);
            agree(&format!("{}: starved", a.name), a.starved, b.starved, MANY);
        }
        // Interdeparture time is the inverse of throughput (up to the Jensen gap of a ratio estimator).
        let inv = 3600.0 / mp.throughput_per_h.mean;
        assert!((mp.mean_interdeparture_s.mean - inv).abs() < 1e-3 * inv);
    }
}

#[test]
fn two_station_line_matches_markov_chain() {
    for (m1, m2, b) in [(50.0, 60.0, 0), (50.0, 50.0, 2), (60.0, 45.0, 1), (40.0, 40.0, 5)] {
        let exact = two_station_throughput(1.0 / m1, 1.0 / m2, b) * 3600.0;
        let l = mp_line(&[Dist::Exp { mean: m1 }, Dist::Exp { mean: m2 }], &[b], 150_000, 1_000);
        let s = replicate_maxplus(&l, 16, 11, &cpu()).unwrap();
        within(&format!("throughput m1={m1} m2={m2} b={b}"), s.throughput_per_h, exact);
        // The second station works whenever the line delivers: its utilisation is throughput × mean.
        within("utilisation of s2", s.stations[1].utilisation, exact * m2 / 3600.0);
    }
}

#[test]
fn deterministic_lines_are_exact() {
    let c = |value| Dist::Const { value };
    let balanced = mp_line(&[c(60.0); 5], &[1; 4], 1_000, 100);
    let r = balanced.run(1, 0).unwrap();
    assert_eq!(r.throughput_per_h, 60.0);
    assert_eq!(r.mean_interdeparture_s, 60.0);
    assert_eq!(r.mean_flow_time_s, 300.0);
    assert!(r.utilisation.iter().all(|&u| u == 1.0), "{r:?}");
    assert!(r.blocked.iter().all(|&b| b == 0.0), "{r:?}");
    // The slowest station sets the pace; the ones before it block, the ones after it starve.
    let unbalanced = mp_line(&[c(60.0), c(60.0), c(90.0), c(60.0), c(60.0)], &[1; 4], 1_000, 100);
    let r = unbalanced.run(1, 0).unwrap();
    assert_eq!(r.throughput_per_h, 40.0);
    for i in [0, 1] {
        assert!((r.utilisation[i] - 2.0 / 3.0).abs() < 1e-12, "{r:?}");
        assert!((r.blocked[i] - 1.0 / 3.0).abs() < 1e-12, "{r:?}");
    }
    assert_eq!(r.utilisation[2], 1.0);
    for i in [3, 4] {
        assert!((r.utilisation[i] - 2.0 / 3.0).abs() < 1e-12, "{r:?}");
        assert_eq!(r.blocked[i], 0.0);
    }
    // The event engine gives the same throughput on the same line.
    let mut m = line(Source::Saturated, (0..5).map(|i| station(&format!("s{i}"), c(60.0), Some(1))).collect(), 100.0);
    m.stations[2].time = c(90.0);
    let des = Sim::new(&m).unwrap().run(1, 0);
    let mp = MaxPlusLine::from_model(&m).unwrap().run(1, 0).unwrap();
    assert!((des.throughput_per_h - 40.0).abs() < 0.01, "{}", des.throughput_per_h);
    assert_eq!(mp.throughput_per_h, 40.0);
}

#[test]
fn host_compiled_kernel_matches_the_rust_recursion() {
    let mut lines: Vec<MaxPlusLine> = lines_with_every_distribution()
        .iter()
        .map(|m| {
            let mut l = MaxPlusLine::from_model(m).unwrap();
            (l.jobs, l.warmup_jobs) = (3_000, 300);
            l
        })
        .collect();
    lines.push(mp_line(&[Dist::Exp { mean: 30.0 }], &[], 2_000, 0));
    for l in &lines {
        let rust = runs_cpu(l, 8, 99).unwrap();
        let host = runs_host(l, 0, 8, 99).unwrap();
        assert_eq!(rust.len(), host.len());
        for (r, (a, b)) in rust.iter().zip(&host).enumerate() {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1e-300);
            assert!(close(a.throughput_per_h, b.throughput_per_h), "{} rep {r}: {a:?} vs {b:?}", l.name);
            assert!(close(a.mean_flow_time_s, b.mean_flow_time_s), "rep {r}: {a:?} vs {b:?}");
            for i in 0..a.utilisation.len() {
                assert!(close(a.utilisation[i], b.utilisation[i]), "rep {r}: {a:?} vs {b:?}");
                assert!((a.blocked[i] - b.blocked[i]).abs() <= 1e-9, "rep {r}: {a:?} vs {b:?}");
            }
        }
        // Same libm, same operation order, no contraction: in practice bit for bit.
        assert_eq!(rust, host, "{}", l.name);
        // A later range of replications is the same as those replications of a longer run.
        assert_eq!(runs_host(l, 5, 3, 99).unwrap(), host[5..].to_vec());
        let s = summarize(l, &host, 99, "host kernel".into());
        assert_eq!(s.throughput_per_h, summarize(l, &rust, 99, "cpu".into()).throughput_per_h);
    }
}

#[test]
fn replications_are_reproducible_and_shares_add_up() {
    let l = mp_line(&[Dist::Exp { mean: 50.0 }, Dist::Exp { mean: 55.0 }], &[2], 5_000, 500);
    let a = replicate_maxplus(&l, 8, 42, &cpu()).unwrap();
    assert_eq!(a, replicate_maxplus(&l, 8, 42, &cpu()).unwrap());
    assert_ne!(a.throughput_per_h, replicate_maxplus(&l, 8, 43, &cpu()).unwrap().throughput_per_h);
    let runs = runs_cpu(&l, 8, 42).unwrap();
    assert_ne!(runs[0].throughput_per_h, runs[1].throughput_per_h);
    for r in &runs {
        // The saturated source never lets the first station starve; no station works or blocks more than
        // all of its window.
        assert!((r.utilisation[0] + r.blocked[0] - 1.0).abs() < 1e-12, "{r:?}");
        assert!((r.utilisation[1] + r.blocked[1]) < 1.0, "{r:?}");
        assert_eq!(r.blocked[1], 0.0);
    }
}

#[test]
fn only_plain_serial_lines_convert() {
    let base = line(
        Source::Saturated,
        vec![station("a", Dist::Exp { mean: 50.0 }, Some(2)), station("b", Dist::Exp { mean: 40.0 }, None)],
        100.0,
    );
    let l = MaxPlusLine::from_model(&base).unwrap();
    // 10 h warm-up and 100 h at the slowest mean of 50 s.
    assert_eq!((l.warmup_jobs, l.jobs), (720, 720 + 7_200));
    assert_eq!(l.stations[0].buffer_after, 2);
    let err = |m: &LineModel| MaxPlusLine::from_model(m).unwrap_err().to_string();
    let mut m = base.clone();
    m.source = Source::Arrivals { interarrival: Dist::Exp { mean: 60.0 } };
    assert!(err(&m).contains("source must be saturated"), "{}", err(&m));
    let mut m = base.clone();
    m.stations[1].failures = Some(Failures { mtbf_s: 1000.0, mttr: Dist::Exp { mean: 60.0 } });
    assert!(err(&m).contains("stations[1] (b) has failures"), "{}", err(&m));
    let mut m = base.clone();
    m.stations[0].next = Some(Link { capacity: 3, transport_s: 30.0 });
    assert!(err(&m).contains("conveyor"), "{}", err(&m));
    let mut m = base.clone();
    m.stations[0].time = Dist::Exp { mean: -1.0 };
    assert!(err(&m).contains("stations[0] (a).time"), "{}", err(&m));
    // The kernel's caps are checked before any launch.
    let many = mp_line(&vec![Dist::Exp { mean: 1.0 }; MAX_STATIONS + 1], &[], 10, 0);
    let e = Params::of(&many).unwrap_err().to_string();
    assert!(e.contains("at most 64"), "{e}");
    // A buffer larger than the job count never fills: the same as one of exactly that size.
    let huge = mp_line(&[Dist::Exp { mean: 1.0 }; 2], &[usize::MAX], 500, 0);
    let just = mp_line(&[Dist::Exp { mean: 1.0 }; 2], &[500], 500, 0);
    assert_eq!(huge.run(3, 0).unwrap(), just.run(3, 0).unwrap());
    let deep = mp_line(&[Dist::Exp { mean: 1.0 }; 2], &[MAX_SLOTS], 10, 0);
    let e = Params::of(&deep).unwrap_err().to_string();
    assert!(e.contains("buffers too large"), "{e}");
    let e = mp_line(&[Dist::Exp { mean: 1.0 }], &[], 10, 10).run(1, 0).unwrap_err();
    assert!(e.to_string().contains("none after the 10 warm-up jobs"), "{e}");
}

#[test]
fn gpu_selection_without_a_gpu() {
    // `off` is the CPU everywhere; `on` is an error that says why when no GPU can be used.
    assert_eq!(select(GpuMode::Off).unwrap().label(), "cpu");
    match select(GpuMode::On) {
        Err(e) => assert!(e.to_string().starts_with("--gpu on, but"), "{e}"),
        Ok(d) => assert_ne!(d.label(), "cpu"),
    }
    if let Device::Cpu { reason } = select(GpuMode::Auto).unwrap() {
        assert!(!reason.is_empty());
    }
}

/// With the `cuda` feature, where NVRTC is installed (no GPU needed; ci/test installs it): the kernel
/// compiles for the GPU with the options the launch uses, and the PTX holds its entry point.
#[cfg(feature = "cuda")]
#[test]
fn the_kernel_compiles_with_nvrtc_where_it_is_installed() {
    use twinloom_flow::des::maxplus_kernel::{FUNCTION, SOURCE};
    if !twinloom_flow::gpu::nvrtc_for_checks() {
        return;
    }
    let ptx = twinloom_flow::gpu::compile_ptx("sm_80", "maxplus", SOURCE).unwrap_or_else(|e| panic!("{e}"));
    assert!(ptx.contains(&format!(".entry {FUNCTION}(")), "no {FUNCTION} entry in the PTX");
    // No check for fused multiply-adds here: the device's log/exp (libdevice) use them by design, which
    // is why the GPU test compares replications to 1e-9 rather than bit for bit.
}

/// Runs where a GPU is present (build with `--features cuda`): the device's replications against the CPU's.
/// Without a GPU it is skipped, unless `TWINLOOM_REQUIRE_GPU` is set (the device kit, ci/device-kit, sets
/// it): then it fails.
#[cfg(feature = "cuda")]
#[test]
fn gpu_matches_cpu_when_present() {
    let Some(gpu) = twinloom_flow::gpu::gpu_for_checks() else {
        return;
    };
    let kernel = twinloom_flow::des::maxplus_kernel::GpuMaxPlus::new(gpu).unwrap();
    for m in lines_with_every_distribution() {
        let mut l = MaxPlusLine::from_model(&m).unwrap();
        (l.jobs, l.warmup_jobs) = (20_000, 1_000);
        let cpu_runs = runs_cpu(&l, 64, 3).unwrap();
        let gpu_runs = kernel.runs(&l, 64, 3).unwrap();
        for (a, b) in cpu_runs.iter().zip(&gpu_runs) {
            // Device libm differs from the host's by an ulp or two; the recursion does not amplify it.
            let rel = (a.throughput_per_h - b.throughput_per_h).abs() / a.throughput_per_h;
            assert!(rel < 1e-9, "{a:?} vs {b:?}");
        }
        let c = summarize(&l, &cpu_runs, 3, "cpu".into());
        let g = summarize(&l, &gpu_runs, 3, "gpu".into());
        agree("GPU vs CPU throughput", g.throughput_per_h, c.throughput_per_h, ONE);
    }
}
