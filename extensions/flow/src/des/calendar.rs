//! Shift calendars: working windows repeating with a period (e.g. two shifts a day with breaks). Processing
//! only advances in working time; shares (utilisation, blocked, starved) are taken over working time.

use serde::{Deserialize, Serialize};

/// A repeating calendar, in hours as written in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Length of the repeating period in hours (24 for a daily pattern, 168 for a week).
    #[serde(default = "day")]
    pub period_h: f64,
    /// Shift windows `[start_h, end_h]` within the period.
    pub shifts: Vec<[f64; 2]>,
    /// Breaks `[start_h, end_h]` within the period (cut out of the shifts).
    #[serde(default)]
    pub breaks: Vec<[f64; 2]>,
}

fn day() -> f64 {
    24.0
}

/// A calendar in seconds: sorted, disjoint working windows within `[0, period)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    period: f64,
    windows: Vec<(f64, f64)>,
    per_period: f64,
}

impl Calendar {
    /// Always working.
    pub fn always() -> Self {
        Calendar { period: f64::INFINITY, windows: vec![(0.0, f64::INFINITY)], per_period: f64::INFINITY }
    }

    /// Builds the calendar; errors name the offending shift or break.
    pub fn from_spec(spec: &CalendarSpec) -> Result<Self, String> {
        let p = spec.period_h;
        if !(p > 0.0 && p.is_finite()) {
            return Err(format!("period_h = {p} must be positive"));
        }
        let mut on: Vec<(f64, f64)> = Vec::new();
        for (i, &[a, b]) in spec.shifts.iter().enumerate() {
            if !(0.0 <= a && a < b && b <= p) {
                return Err(format!("shifts[{i}] = [{a}, {b}] must satisfy 0 <= start < end <= period_h"));
            }
            on.push((a, b));
        }
        on.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for (a, b) in on {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        for (i, &[a, b]) in spec.breaks.iter().enumerate() {
            if !(0.0 <= a && a < b && b <= p) {
                return Err(format!("breaks[{i}] = [{a}, {b}] must satisfy 0 <= start < end <= period_h"));
            }
            merged =
                merged.into_iter().flat_map(|(s, e)| [(s, e.min(a)), (s.max(b), e)]).filter(|(s, e)| s < e).collect();
        }
        if merged.is_empty() {
            return Err("the calendar has no working time".into());
        }
        let windows: Vec<(f64, f64)> = merged.into_iter().map(|(a, b)| (a * 3600.0, b * 3600.0)).collect();
        let per_period = windows.iter().map(|(a, b)| b - a).sum();
        Ok(Calendar { period: p * 3600.0, windows, per_period })
    }

    /// Working seconds in `[0, t)`.
    pub fn working_until(&self, t: f64) -> f64 {
        if self.period.is_infinite() {
            return t;
        }
        let k = (t / self.period).floor();
        let r = t - k * self.period;
        k * self.per_period + self.windows.iter().map(|&(a, b)| (r.min(b) - a).max(0.0)).sum::<f64>()
    }

    /// Working seconds in `[a, b)`.
    pub fn working_between(&self, a: f64, b: f64) -> f64 {
        if b <= a {
            0.0
        } else {
            self.working_until(b) - self.working_until(a)
        }
    }

    /// The time at which `work` working seconds after `t` have passed.
    pub fn advance(&self, t: f64, work: f64) -> f64 {
        if self.period.is_infinite() {
            return t + work;
        }
        let target = self.working_until(t) + work;
        // The earliest such time: a target at a period boundary ends the previous period's last window.
        let k = ((target / self.per_period).ceil() - 1.0).max(0.0);
        let mut rest = target - k * self.per_period;
        let base = k * self.period;
        for &(a, b) in &self.windows {
            if rest <= b - a {
                return base + a + rest;
            }
            rest -= b - a;
        }
        // Rounding put `rest` past the last window: the end of the period's work.
        base + self.windows.last().map_or(0.0, |w| w.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_shifts_with_breaks() {
        let c = Calendar::from_spec(&CalendarSpec {
            period_h: 24.0,
            shifts: vec![[6.0, 14.0], [14.0, 22.0]],
            breaks: vec![[10.0, 10.5]],
        })
        .unwrap();
        assert_eq!(c.working_until(24.0 * 3600.0), 15.5 * 3600.0);
        // One hour of work starting at 9:30 ends at 11:00 (the break 10:00–10:30 is skipped).
        assert_eq!(c.advance(9.5 * 3600.0, 3600.0), 11.0 * 3600.0);
        // Work started at 21:30 for one hour ends at 6:30 next day.
        assert_eq!(c.advance(21.5 * 3600.0, 3600.0), (24.0 + 6.5) * 3600.0);
        assert_eq!(c.working_between(5.0 * 3600.0, 7.0 * 3600.0), 3600.0);
    }
}
