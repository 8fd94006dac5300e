//! Each bad-input rule: the sample is handled as documented, counted, and nothing panics.

mod common;

use common::{seasonal, DAY, STEP_MS};
use twinloom_diagnostics::{Detector, DetectorConfig, Label, Rejection};

fn detector() -> Detector {
    Detector::new(DetectorConfig::default()).expect("default config is valid")
}

#[test]
fn non_finite_values_are_rejected_and_counted() {
    let mut d = detector();
    let signal = seasonal(3, 1);
    let mut reference = detector();
    for (i, &(t, x)) in signal.iter().enumerate() {
        if i % 50 == 7 {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let v = d.update(t, bad);
                assert_eq!(v.label, Label::Rejected(Rejection::NonFinite));
                assert_eq!((v.score, v.alert), (0.0, 0.0));
            }
        }
        // The good samples get exactly the verdicts they would get without the bad ones.
        assert_eq!(d.update(t, x), reference.update(t, x));
    }
    let expected = 3 * signal.iter().enumerate().filter(|(i, _)| i % 50 == 7).count() as u32;
    assert_eq!(d.state().counters().non_finite, expected);
    assert_eq!(d.state().counters().rejected(), u64::from(expected));
}

#[test]
fn duplicate_and_out_of_order_timestamps_are_rejected() {
    let mut d = detector();
    let signal = seasonal(2, 2);
    for &(t, x) in &signal[..400] {
        d.update(t, x);
    }
    let (t, _) = signal[399];
    assert_eq!(d.update(t, 1e9).label, Label::Rejected(Rejection::Duplicate));
    assert_eq!(d.update(t - STEP_MS, 1e9).label, Label::Rejected(Rejection::OutOfOrder));
    assert_eq!(d.update(i64::MIN, 0.0).label, Label::Rejected(Rejection::OutOfOrder));
    let c = d.state().counters();
    assert_eq!((c.duplicates, c.out_of_order), (1, 2));
    // The wild values were not learned: the next normal sample is normal.
    let (t, x) = signal[400];
    assert_eq!(d.update(t, x).label, Label::Normal);
    assert_eq!(d.state().samples(), 401);
}

#[test]
fn gaps_are_counted_and_do_not_alarm_by_themselves() {
    let mut d = detector();
    let signal = seasonal(10, 3);
    let mut alarms = 0;
    for (i, &(t, x)) in signal.iter().enumerate() {
        // Two outages: half a day and three days without data.
        if (3 * DAY..3 * DAY + DAY / 2).contains(&i) || (5 * DAY..5 * DAY + 3 * DAY).contains(&i) {
            continue;
        }
        let v = d.update(t, x);
        alarms += usize::from(v.label == Label::Anomalous);
    }
    assert_eq!(d.state().counters().gaps, 2);
    assert_eq!(alarms, 0);
}

#[test]
fn constant_signal_never_floods_alarms() {
    for level in [0.0, 1.0, -273.15, 1e12] {
        let mut d = detector();
        for i in 0..5000 {
            let v = d.update(i * 1000, level);
            assert!(v.label != Label::Anomalous, "constant {level}: alarm at {i}");
            assert!(v.score.is_finite() && (0.0..=1.0).contains(&v.score));
        }
    }
    // Float jitter at the last bit is not an anomaly either.
    let mut d = detector();
    for i in 0..5000 {
        let x = if i % 3 == 0 { 20.0 } else { 20.0 + 20.0 * f64::EPSILON };
        assert!(d.update(i * 1000, x).label != Label::Anomalous);
    }
}

#[test]
fn new_signal_learns_first() {
    let cfg = DetectorConfig::default();
    let mut d = detector();
    let signal = seasonal(2, 4);
    for (i, &(t, x)) in signal.iter().enumerate() {
        let v = d.update(t, x * if i == 10 { 100.0 } else { 1.0 });
        if i < cfg.warmup_samples as usize {
            assert_eq!(v.label, Label::Learning, "sample {i}");
            assert_eq!(v.score, 0.0);
        } else {
            assert!(v.label != Label::Learning);
        }
    }
}

#[test]
fn extreme_values_keep_scores_in_range() {
    let mut d = detector();
    let mut t = 0;
    for x in [1.0, 1e30, -1e30, 0.0, 1e-300, 5e29, -1e30, 3.0] {
        for _ in 0..400 {
            t += 1000;
            let v = d.update(t, x);
            assert!((0.0..=1.0).contains(&v.score) && (0.0..=1.0).contains(&v.alert), "{x}: {v:?}");
        }
    }
    for x in [1.1e30, -1e200, f64::MAX] {
        t += 1000;
        assert_eq!(d.update(t, x).label, Label::Rejected(Rejection::OutOfRange));
    }
    assert_eq!(d.state().counters().out_of_range, 3);
    // The state is still sound: a plain signal afterwards is scored normally.
    for i in 0..2000 {
        t += 1000;
        let v = d.update(t, 3.0 + (i % 7) as f64);
        assert!((0.0..=1.0).contains(&v.score));
    }
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    let cfg = DetectorConfig { alpha_fast: 0.001, ..DetectorConfig::default() };
    assert!(Detector::new(cfg).is_err());
    let mut cfg = DetectorConfig::default();
    assert!(cfg.set("z_half", "-1").is_err());
    assert!(cfg.set("nonsense", "1").is_err());
    assert!(cfg.set("alpha_slow", "abc").is_err());
}
