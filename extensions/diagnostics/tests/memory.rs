//! The memory bound per signal and determinism.

mod common;

use common::seasonal;
use twinloom_diagnostics::{Detector, DetectorBank, DetectorConfig, SignalState};

// The bound is checked at compile time too.
const _: () = assert!(SignalState::BYTES <= 512);

#[test]
fn state_per_signal_is_at_most_512_bytes() {
    let state = SignalState::new();
    let bytes = std::mem::size_of_val(&state);
    assert_eq!(bytes, SignalState::BYTES);
    assert!(bytes <= 512, "{bytes} bytes per signal");
}

#[test]
fn state_size_does_not_grow_with_history() {
    // The state is a plain struct with no heap: a clone after a long run is the same size and a
    // bank of N signals holds exactly N states.
    let mut bank = DetectorBank::new(DetectorConfig::default(), 4).expect("valid");
    for (t, x) in seasonal(20, 9) {
        for i in 0..bank.len() {
            bank.update(i, t, x + i as f64);
        }
    }
    assert_eq!(std::mem::size_of_val(bank.signal(0).expect("signal 0")), SignalState::BYTES);
    assert_eq!(bank.update(99, 0, 1.0), None);
}

#[test]
fn runs_are_deterministic() {
    let signal = seasonal(10, 21);
    let run = || {
        let mut d = Detector::new(DetectorConfig::default()).expect("valid");
        signal.iter().map(|&(t, x)| d.update(t, x)).collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let bits = |v: &Vec<twinloom_diagnostics::Verdict>| v.iter().map(|v| v.score.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn bank_signals_are_independent() {
    let cfg = DetectorConfig::default();
    let mut bank = DetectorBank::new(cfg, 0).expect("valid");
    let (a, b) = (bank.add_signal(), bank.add_signal());
    let mut alone = Detector::new(cfg).expect("valid");
    for (i, (t, x)) in seasonal(5, 2).into_iter().enumerate() {
        let va = bank.update(a, t, x).expect("signal a");
        bank.update(b, t, if i % 2 == 0 { f64::NAN } else { -x * 1e3 });
        assert_eq!(va, alone.update(t, x));
    }
}
