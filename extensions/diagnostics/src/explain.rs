//! Explanation data attached to an anomalous sample: what a shift lead needs to judge it.

/// Which part of the model a sample deviates from most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// A sudden change from the previous sample (a spike or a step).
    Jump,
    /// A value far from the long-term level.
    Outlier,
    /// The short-term mean has moved away from the long-term level (a level shift).
    Shift,
    /// The short-term variance differs from the learned variance (noisier, or stuck/flat).
    Variance,
    /// A value far from what this time of day (or cycle phase) usually shows.
    Season,
    /// A value beyond the range (highest and lowest values, slowly forgotten) seen so far.
    Range,
}

/// Why a sample is anomalous, as plain numbers: the normal band, how far outside it the value is,
/// since when and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Explanation {
    /// The sample's value.
    pub value: f64,
    /// Expected value: the seasonal level for this phase when learned, else the long-term level.
    pub expected: f64,
    /// Learned standard deviation around `expected`.
    pub sigma: f64,
    /// Lower edge of the normal band (`expected - band_k * sigma`).
    pub band_low: f64,
    /// Upper edge of the normal band (`expected + band_k * sigma`).
    pub band_high: f64,
    /// Signed distance from `expected` in sigmas (positive: above).
    pub deviation_sigmas: f64,
    /// Distance outside the band in the signal's own unit (0 when inside the band).
    pub outside_by: f64,
    /// The component that drove the score.
    pub component: Component,
    /// Timestamp (ms) of the first anomalous sample of the current episode.
    pub onset_ms: i64,
    /// Time since the onset, in ms.
    pub duration_ms: i64,
    /// Anomalous samples in the episode so far.
    pub samples: u32,
    /// Highest score in the episode so far.
    pub peak_score: f64,
}
