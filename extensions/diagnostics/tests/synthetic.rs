//! The detector on synthetic seasonal data: quiet on clean noise after learning, and flags an injected
//! level shift, spike and variance change soon after it starts.

mod common;

use common::{seasonal, Rng, DAY};
use twinloom_diagnostics::{Detector, DetectorConfig, Label, Verdict};

fn run(signal: &[(i64, f64)]) -> Vec<Verdict> {
    let mut d = Detector::new(DetectorConfig::default()).expect("default config is valid");
    signal.iter().map(|&(t, x)| d.update(t, x)).collect()
}

/// Index of the first anomalous sample at or after `from`.
fn first_alarm(verdicts: &[Verdict], from: usize) -> Option<usize> {
    (from..verdicts.len()).find(|&i| verdicts[i].label == Label::Anomalous)
}

#[test]
fn quiet_on_clean_seasonal_noise() {
    for seed in 1..=3 {
        let signal = seasonal(14, seed);
        let verdicts = run(&signal);
        let alarms = verdicts.iter().filter(|v| v.label == Label::Anomalous).count();
        let learning = verdicts.iter().filter(|v| v.label == Label::Learning).count();
        assert_eq!(learning, DetectorConfig::default().warmup_samples as usize);
        assert_eq!(alarms, 0, "seed {seed}: {alarms} alarms on clean seasonal noise");
    }
}

#[test]
fn flags_level_shift() {
    let mut signal = seasonal(10, 7);
    let at = 6 * DAY + 40;
    for s in &mut signal[at..] {
        s.1 += 6.0;
    }
    let v = run(&signal);
    assert_eq!(first_alarm(&v, 0).map(|i| i >= at), Some(true), "no alarm before the shift");
    let hit = first_alarm(&v, at).expect("level shift flagged");
    assert!(hit - at <= 12, "flagged {} samples after the shift", hit - at);
    let e = v[hit].explanation.expect("anomalous samples carry an explanation");
    assert!(e.value > e.band_high, "value above the normal band: {e:?}");
    assert_eq!(e.onset_ms, signal[hit].0 - e.duration_ms);
}

#[test]
fn flags_spike() {
    let mut signal = seasonal(10, 11);
    let at = 7 * DAY + 100;
    signal[at].1 += 12.0;
    let v = run(&signal);
    assert_eq!(first_alarm(&v, 0), Some(at), "the spike is the first alarm");
    let e = v[at].explanation.expect("explanation");
    assert!(e.deviation_sigmas > 5.0 && e.outside_by > 0.0, "{e:?}");
    assert_eq!(e.duration_ms, 0);
    assert_eq!(e.samples, 1);
}

#[test]
fn flags_variance_change() {
    let mut signal = seasonal(10, 5);
    let at = 6 * DAY + 10;
    let mut rng = Rng::new(99);
    for s in &mut signal[at..] {
        s.1 += 4.0 * rng.gauss();
    }
    let v = run(&signal);
    assert_eq!(first_alarm(&v, 0).map(|i| i >= at), Some(true), "no alarm before the change");
    let hit = first_alarm(&v, at).expect("variance change flagged");
    assert!(hit - at <= 24, "flagged {} samples after the change", hit - at);
}

#[test]
fn episode_tracks_onset_and_duration() {
    let mut signal = seasonal(10, 3);
    let at = 6 * DAY;
    for s in &mut signal[at..at + 30] {
        s.1 += 40.0;
    }
    let v = run(&signal);
    let start = first_alarm(&v, at).expect("flagged");
    let onset = signal[start].0;
    let mut last = start;
    while last + 1 < v.len() && v[last + 1].label == Label::Anomalous {
        last += 1;
    }
    assert!(last > start, "a sustained excursion stays anomalous");
    let e = v[last].explanation.expect("explanation");
    assert_eq!(e.onset_ms, onset);
    assert_eq!(e.duration_ms, signal[last].0 - onset);
    assert_eq!(e.samples as usize, last - start + 1);
    assert!(e.peak_score >= v[start].score);
    // One alert for the whole episode: the rest period silences the repeats.
    let alerts = v[start..=last].iter().filter(|v| v.alert >= DetectorConfig::default().alarm_score).count();
    assert_eq!(alerts, 1);
}
