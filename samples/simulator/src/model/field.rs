//! Field sensors: the extra signals that scale the plant to any size (vibration, temperature, pressure and
//! current sensors grouped in zones of 1,000). Each value is a stateless function of (seed, sensor, tick),
//! so a million of them cost no memory beyond the signal table.

use super::{round_to, ModelConfig, SignalId, Signals, SimValue};
use crate::rng::hash_unit;

/// Sensors per zone folder (`Plant/Field/Z0001/S0000001`).
pub const ZONE_SIZE: usize = 1000;
const KINDS: [(&str, f64, f64); 4] = [("mm/s", 2.0, 1.5), ("degC", 40.0, 5.0), ("bar", 6.0, 0.4), ("A", 12.0, 3.0)];

/// All field sensors.
#[derive(Debug)]
pub struct FieldSensors {
    first: SignalId,
    count: u32,
    period_ticks: u64,
    seed: u64,
    tick_s: f64,
}

impl FieldSensors {
    pub fn new(sig: &mut Signals, cfg: &ModelConfig, count: usize) -> Self {
        let first = sig.len() as SignalId;
        for i in 0..count {
            let (unit, base, _) = KINDS[i % KINDS.len()];
            sig.add(format!("Plant/Field/Z{:04}/S{:07}", i / ZONE_SIZE + 1, i + 1), unit, SimValue::Double(base));
        }
        FieldSensors {
            first,
            count: count as u32,
            period_ticks: cfg.field_period_ticks.max(1) as u64,
            seed: cfg.seed,
            tick_s: cfg.tick_s,
        }
    }

    pub fn step(&self, sig: &mut Signals, tick: u64) {
        let t = tick as f64 * self.tick_s;
        for i in 0..self.count {
            // Spread the sensors over the period so each tick carries a similar share.
            if !(tick + i as u64).is_multiple_of(self.period_ticks) {
                continue;
            }
            let (_, base, amp) = KINDS[i as usize % KINDS.len()];
            let phase = hash_unit(self.seed, i as u64, 0) * std::f64::consts::PI;
            let period_s = 20.0 + 40.0 * (hash_unit(self.seed, i as u64, 1) + 1.0);
            let x = base
                + amp * (std::f64::consts::TAU * t / period_s + phase).sin()
                + 0.05 * amp * hash_unit(self.seed, i as u64, tick + 2);
            sig.set_f64(self.first + i, round_to(x, 3));
        }
    }
}
