//! Paint shop: pretreatment tanks, spray booths (temperature, humidity, air flow), oven zones,
//! conveyors and energy meters. Process values follow their setpoints with first-order lag and noise.

use super::{round_to, ModelConfig, SignalId, Signals, SimValue};
use crate::rng::Rng;

const TANKS: [(&str, f64); 6] =
    [("Degrease", 55.0), ("Rinse1", 30.0), ("Phosphate", 50.0), ("Rinse2", 25.0), ("Ecoat", 32.0), ("Rinse3", 25.0)];
const BOOTHS: [&str; 6] = ["Sealer", "Primer", "Base1", "Base2", "Clear1", "Clear2"];
const OVEN_ZONES: [f64; 6] = [140.0, 160.0, 175.0, 180.0, 170.0, 120.0];
const CONVEYORS: [(&str, f64); 3] = [("Pretreatment", 4.5), ("Booths", 5.0), ("Oven", 4.0)];
const METERS: usize = 8;

/// A process value that tracks a setpoint with lag and noise.
#[derive(Debug)]
struct Lagged {
    sig: SignalId,
    x: f64,
    sp: f64,
    tau_s: f64,
    noise: f64,
    decimals: i32,
}

impl Lagged {
    fn new(
        sig: &mut Signals,
        path: String,
        unit: &'static str,
        sp: f64,
        tau_s: f64,
        noise: f64,
        decimals: i32,
    ) -> Self {
        Lagged { sig: sig.add(path, unit, SimValue::Double(sp)), x: sp, sp, tau_s, noise, decimals }
    }

    fn step(&mut self, sig: &mut Signals, rng: &mut Rng, dt: f64) {
        self.x += (self.sp - self.x) * (dt / self.tau_s).min(1.0) + rng.noise(self.noise);
        sig.set_f64(self.sig, round_to(self.x, self.decimals));
    }
}

#[derive(Debug)]
struct Meter {
    power: SignalId,
    energy: SignalId,
    base_kw: f64,
    kwh: f64,
}

/// The paint shop.
#[derive(Debug)]
pub struct PaintShop {
    rng: Rng,
    lagged: Vec<Lagged>,
    oven_setpoints: Vec<SignalId>,
    booth_states: Vec<SignalId>,
    conveyors: Vec<(SignalId, f64)>,
    meters: Vec<Meter>,
}

impl PaintShop {
    pub fn new(sig: &mut Signals, cfg: &ModelConfig) -> Self {
        let mut lagged = Vec::new();
        for (name, temp) in TANKS {
            let b = format!("Plant/Paint/Pretreatment/{name}");
            lagged.push(Lagged::new(sig, format!("{b}/Temperature"), "degC", temp, 60.0, 0.05, 2));
            lagged.push(Lagged::new(sig, format!("{b}/Conductivity"), "uS/cm", 800.0, 120.0, 2.0, 1));
            lagged.push(Lagged::new(sig, format!("{b}/Level"), "%", 85.0, 300.0, 0.05, 2));
        }
        let mut booth_states = Vec::new();
        for name in BOOTHS {
            let b = format!("Plant/Paint/Booths/{name}");
            lagged.push(Lagged::new(sig, format!("{b}/Temperature"), "degC", 23.0, 30.0, 0.03, 2));
            lagged.push(Lagged::new(sig, format!("{b}/Humidity"), "%RH", 65.0, 30.0, 0.1, 1));
            lagged.push(Lagged::new(sig, format!("{b}/AirFlow"), "m3/h", 90_000.0, 10.0, 150.0, 0));
            lagged.push(Lagged::new(sig, format!("{b}/DownDraft"), "m/s", 0.35, 10.0, 0.002, 3));
            booth_states.push(sig.add(format!("{b}/State"), "", SimValue::Int(1)));
        }
        let mut oven_setpoints = Vec::new();
        for (z, sp) in OVEN_ZONES.iter().enumerate() {
            let b = format!("Plant/Paint/Oven/Zone{:02}", z + 1);
            lagged.push(Lagged::new(sig, format!("{b}/Temperature"), "degC", *sp, 90.0, 0.2, 1));
            oven_setpoints.push(sig.add(format!("{b}/Setpoint"), "degC", SimValue::Double(*sp)));
        }
        let conveyors = CONVEYORS
            .iter()
            .map(|(name, speed)| {
                (sig.add(format!("Plant/Paint/Conveyor/{name}/Speed"), "m/min", SimValue::Double(*speed)), *speed)
            })
            .collect();
        let meters = (0..METERS)
            .map(|m| {
                let b = format!("Plant/Paint/Energy/Meter{:02}", m + 1);
                Meter {
                    power: sig.add(format!("{b}/Power"), "kW", SimValue::Double(0.0)),
                    energy: sig.add(format!("{b}/Energy"), "kWh", SimValue::Double(0.0)),
                    base_kw: 150.0 + 60.0 * m as f64,
                    kwh: 0.0,
                }
            })
            .collect();
        PaintShop { rng: Rng::new(cfg.seed, 4000), lagged, oven_setpoints, booth_states, conveyors, meters }
    }

    /// Advances by `dt` model seconds at model time `t`; meters update when `meters_due`.
    pub fn step(&mut self, sig: &mut Signals, dt: f64, t: f64, meters_due: bool) {
        for v in &mut self.lagged {
            v.step(sig, &mut self.rng, dt);
        }
        for (&sp, zone) in self.oven_setpoints.iter().zip(OVEN_ZONES) {
            sig.set_f64(sp, zone);
        }
        for &b in &self.booth_states {
            sig.set_i32(b, 1);
        }
        for (i, (id, base)) in self.conveyors.iter().enumerate() {
            let wobble = 0.05 * (t / 37.0 + i as f64).sin();
            sig.set_f64(*id, round_to(base + wobble, 2));
        }
        if meters_due {
            for m in &mut self.meters {
                let kw = m.base_kw * (1.0 + 0.1 * (t / 120.0).sin()) + self.rng.noise(2.0);
                m.kwh += kw * dt * 2.0 / 3600.0;
                sig.set_f64(m.power, round_to(kw, 1));
                sig.set_f64(m.energy, round_to(m.kwh, 3));
            }
        }
    }
}
