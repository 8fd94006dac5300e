//! The effect of a sibling from paired replications. Replication `r` of the plant and of every sibling use
//! the same random stream (common random numbers), so the difference per replication cancels most of the
//! noise the two runs share; its mean and Student-t 95 % half-width are the effect and its uncertainty.

use serde::Serialize;

use crate::error::PrescriptiveError;

/// Two-sided 97.5 % quantiles of Student's t for 1..=30 degrees of freedom (1.96 beyond).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// A sibling's effect on a statistic against the plant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gain {
    /// Mean of the plant's statistic over the replications.
    pub baseline: f64,
    /// Mean of the sibling's statistic.
    pub sibling: f64,
    /// Mean paired difference (sibling − plant).
    pub mean: f64,
    /// Half-width of the 95 % confidence interval of `mean` (Student t, n − 1 degrees of freedom).
    pub ci95: f64,
    /// `mean` relative to `baseline`, in percent (0 when the baseline is 0).
    pub percent: f64,
    /// Replications paired.
    pub replications: usize,
}

impl Gain {
    /// True when the whole confidence interval lies above zero.
    pub fn significant(&self) -> bool {
        self.mean - self.ci95 > 0.0
    }
}

/// The paired effect of `sibling` (named for errors) over `base`: replication `i` of each used the same seed.
pub fn paired_gain(name: &str, base: &[f64], sibling: &[f64]) -> Result<Gain, PrescriptiveError> {
    if base.len() != sibling.len() {
        return Err(PrescriptiveError::Unpaired { sibling: name.into(), base: base.len(), candidate: sibling.len() });
    }
    let n = base.len();
    if n < 2 {
        return Err(PrescriptiveError::TooFewReplications { sibling: name.into(), n });
    }
    for (i, v) in base.iter().chain(sibling).enumerate() {
        if !v.is_finite() {
            return Err(PrescriptiveError::NotFinite { sibling: name.into(), replication: i % n, value: *v });
        }
    }
    let d: Vec<f64> = sibling.iter().zip(base).map(|(s, b)| s - b).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = T975.get(n - 2).copied().unwrap_or(1.96);
    let baseline = base.iter().sum::<f64>() / n as f64;
    let sib = sibling.iter().sum::<f64>() / n as f64;
    Ok(Gain {
        baseline,
        sibling: sib,
        mean,
        ci95: t * (var / n as f64).sqrt(),
        percent: if baseline != 0.0 { 100.0 * mean / baseline } else { 0.0 },
        replications: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_pairs() {
        // Differences 1, 2, 3: mean 2, sd 1, half-width 4.303 / sqrt(3).
        let g = paired_gain("s", &[10.0, 10.0, 10.0], &[11.0, 12.0, 13.0]).unwrap();
        assert_eq!(g.mean, 2.0);
        assert!((g.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert!((g.percent - 20.0).abs() < 1e-12);
        assert!(!g.significant(), "the interval 2 ± 2.48 includes 0");
        let tight = paired_gain("s", &[10.0, 10.0, 10.0], &[11.5, 12.0, 12.5]).unwrap();
        assert!(tight.significant(), "2 ± 1.24 lies above 0");
    }

    #[test]
    fn refuses_unpaired_short_and_nan() {
        assert!(matches!(paired_gain("s", &[1.0, 2.0], &[1.0]), Err(PrescriptiveError::Unpaired { .. })));
        assert!(matches!(paired_gain("s", &[1.0], &[1.0]), Err(PrescriptiveError::TooFewReplications { .. })));
        let e = paired_gain("s", &[1.0, 2.0], &[1.0, f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("replication 1"), "{e}");
    }
}
