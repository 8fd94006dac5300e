//! The bad-input rules: how each kind of malformed or awkward sample is handled and counted.
//!
//! | rule | what happens |
//! | --- | --- |
//! | NaN or ±inf value | sample rejected, state untouched, `non_finite` counted |
//! | \|value\| > 1e30 | sample rejected (beyond what the f32 seasonal profile holds), `out_of_range` counted |
//! | duplicate timestamp | sample rejected (the first value at a timestamp wins), `duplicates` counted |
//! | timestamp earlier than the last accepted one | sample rejected, `out_of_order` counted |
//! | gap (interval > `gap_factor` × typical interval) | sample accepted; short-term state restarts from the long-term model, any open episode closes, `gaps` counted |
//! | constant signal | sigma is floored at `sigma_floor_rel` × magnitude, so a flat signal scores 0 and never floods alarms |
//! | new signal without history | first `warmup_samples` accepted samples only learn (label `Learning`, score 0) |

/// Largest accepted magnitude: the seasonal profile is stored in `f32` (and squares stay finite).
pub const MAX_ABS: f64 = 1e30;

/// Why a sample was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The value is NaN or infinite.
    NonFinite,
    /// The magnitude exceeds [`MAX_ABS`].
    OutOfRange,
    /// The timestamp equals the last accepted one.
    Duplicate,
    /// The timestamp is earlier than the last accepted one.
    OutOfOrder,
}

/// Per-signal counts of the input rules that fired (20 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputCounters {
    /// Samples with a NaN or infinite value.
    pub non_finite: u32,
    /// Samples whose magnitude exceeds [`MAX_ABS`].
    pub out_of_range: u32,
    /// Samples repeating the last accepted timestamp.
    pub duplicates: u32,
    /// Samples older than the last accepted one.
    pub out_of_order: u32,
    /// Accepted samples that followed a gap.
    pub gaps: u32,
}

impl InputCounters {
    /// Counts one rejection.
    pub fn count(&mut self, why: Rejection) {
        let slot = match why {
            Rejection::NonFinite => &mut self.non_finite,
            Rejection::OutOfRange => &mut self.out_of_range,
            Rejection::Duplicate => &mut self.duplicates,
            Rejection::OutOfOrder => &mut self.out_of_order,
        };
        *slot = slot.saturating_add(1);
    }

    /// Total rejected samples.
    pub fn rejected(&self) -> u64 {
        u64::from(self.non_finite)
            + u64::from(self.out_of_range)
            + u64::from(self.duplicates)
            + u64::from(self.out_of_order)
    }
}
