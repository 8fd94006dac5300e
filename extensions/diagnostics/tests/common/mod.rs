//! Shared helpers of the integration tests: a deterministic seasonal signal generator.

#![allow(dead_code)]

/// Sample interval of the synthetic signals: 5 minutes, as most NAB series.
pub const STEP_MS: i64 = 300_000;
/// Samples per day at that interval.
pub const DAY: usize = 288;

/// A small deterministic PRNG (xorshift64*) with Gaussian draws (Box–Muller).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A clean seasonal signal: level 50, daily sine of amplitude 10, Gaussian noise of sigma 1.
pub fn seasonal(days: usize, seed: u64) -> Vec<(i64, f64)> {
    let mut rng = Rng::new(seed);
    (0..days * DAY)
        .map(|i| {
            let phase = (i % DAY) as f64 / DAY as f64;
            let x = 50.0 + 10.0 * (std::f64::consts::TAU * phase).sin() + rng.gauss();
            (1_700_000_000_000 + i as i64 * STEP_MS, x)
        })
        .collect()
}
