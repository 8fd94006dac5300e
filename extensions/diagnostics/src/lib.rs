//! Streaming anomaly detection on plant signals (issue 18).
//!
//! [`Detector`] (one signal) and [`DetectorBank`] (many signals, one configuration) take one sample
//! at a time, `(timestamp_ms, value)`, do O(1) work, keep a fixed-size state per signal
//! ([`SignalState::BYTES`]) and return a [`Verdict`]: an anomaly score in [0, 1], a [`Label`] and,
//! for anomalous samples, an [`Explanation`] (normal band, distance outside it, onset, duration).
//! Bad input follows the rules in [`input`]. [`nab`] reads the Numenta Anomaly Benchmark corpus and
//! scores results the way NAB's own scorer does (the reported numbers come from NAB itself: `ci/nab`).

pub mod config;
pub mod detector;
pub mod error;
pub mod explain;
pub mod input;
pub mod live;
pub mod nab;

pub use config::{DetectorConfig, SEASON_BINS};
pub use detector::{Detector, DetectorBank, Label, SignalState, Verdict};
pub use error::{DiagnosticsError, Result};
pub use explain::{Component, Explanation};
pub use input::{InputCounters, Rejection, MAX_ABS};
pub use live::{Event, EventKind, Monitor, MonitorConfig};
