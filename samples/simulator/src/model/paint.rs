//! Paint shop: pretreatment tanks, spray booths (temperature, humidity, air flow), oven zones,
//! conveyors and energy meters. Process values follow their setpoints with first-order lag and noise.
//!
//! Writable: each oven zone's `Setpoint` (its `Temperature` follows with the zone's time constant,
//! [`OVEN_TAU_S`]) and each conveyor's `SpeedSetpoint` (its `Speed` ramps there at [`CONVEYOR_RAMP`]).

use super::setpoint::{Setpoint, Target};
use super::{round_to, ModelConfig, SignalId, Signals, SimValue, ValueType};
use crate::rng::Rng;

const TANKS: [(&str, f64); 6] =
    [("Degrease", 55.0), ("Rinse1", 30.0), ("Phosphate", 50.0), ("Rinse2", 25.0), ("Ecoat", 32.0), ("Rinse3", 25.0)];
const BOOTHS: [&str; 6] = ["Sealer", "Primer", "Base1", "Base2", "Clear1", "Clear2"];
const OVEN_ZONES: [f64; 6] = [140.0, 160.0, 175.0, 180.0, 170.0, 120.0];
const CONVEYORS: [(&str, f64); 3] = [("Pretreatment", 4.5), ("Booths", 5.0), ("Oven", 4.0)];
const METERS: usize = 8;
/// Time constant of an oven zone's temperature (first-order lag towards its setpoint), model seconds.
pub const OVEN_TAU_S: f64 = 90.0;
/// Range of an oven zone setpoint, degC.
pub const OVEN_SETPOINT_RANGE: (f64, f64) = (0.0, 300.0);
/// How fast a conveyor's speed ramps towards its setpoint, (m/min) per model second (0.017 m/s²).
pub const CONVEYOR_RAMP: f64 = 1.0;
/// Range of a conveyor speed setpoint, m/min (0..2 m/s).
pub const CONVEYOR_SETPOINT_RANGE: (f64, f64) = (0.0, 120.0);

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

/// A conveyor: its speed ramps towards its setpoint, with a small wobble while it moves.
#[derive(Debug)]
struct Conveyor {
    speed: SignalId,
    setpoint: SignalId,
    /// The setpoint, m/min.
    target: f64,
    /// The ramped speed without wobble, m/min.
    actual: f64,
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
    /// Per oven zone: its temperature's index in `lagged` and its setpoint signal.
    oven: Vec<(usize, SignalId)>,
    booth_states: Vec<SignalId>,
    conveyors: Vec<Conveyor>,
    meters: Vec<Meter>,
}

impl PaintShop {
    pub fn new(sig: &mut Signals, cfg: &ModelConfig, setpoints: &mut Vec<Setpoint>) -> Self {
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
        let mut oven = Vec::new();
        for (z, sp) in OVEN_ZONES.iter().enumerate() {
            let b = format!("Plant/Paint/Oven/Zone{:02}", z + 1);
            lagged.push(Lagged::new(sig, format!("{b}/Temperature"), "degC", *sp, OVEN_TAU_S, 0.2, 1));
            let setpoint = sig.add(format!("{b}/Setpoint"), "degC", SimValue::Double(*sp));
            let (min, max) = OVEN_SETPOINT_RANGE;
            setpoints.push(Setpoint::new(setpoint, ValueType::Double, min, max, Target::OvenZone(z)));
            oven.push((lagged.len() - 1, setpoint));
        }
        let conveyors = CONVEYORS
            .iter()
            .enumerate()
            .map(|(c, (name, speed))| {
                let b = format!("Plant/Paint/Conveyor/{name}");
                let conveyor = Conveyor {
                    speed: sig.add(format!("{b}/Speed"), "m/min", SimValue::Double(*speed)),
                    setpoint: sig.add(format!("{b}/SpeedSetpoint"), "m/min", SimValue::Double(*speed)),
                    target: *speed,
                    actual: *speed,
                };
                let (min, max) = CONVEYOR_SETPOINT_RANGE;
                setpoints.push(Setpoint::new(conveyor.setpoint, ValueType::Double, min, max, Target::Conveyor(c)));
                conveyor
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
        PaintShop { rng: Rng::new(cfg.seed, 4000), lagged, oven, booth_states, conveyors, meters }
    }

    /// Advances by `dt` model seconds at model time `t`; meters update when `meters_due`.
    pub fn step(&mut self, sig: &mut Signals, dt: f64, t: f64, meters_due: bool) {
        for v in &mut self.lagged {
            v.step(sig, &mut self.rng, dt);
        }
        for &(temperature, setpoint) in &self.oven {
            sig.set_f64(setpoint, self.lagged[temperature].sp);
        }
        for &b in &self.booth_states {
            sig.set_i32(b, 1);
        }
        for (i, c) in self.conveyors.iter_mut().enumerate() {
            let max_step = CONVEYOR_RAMP * dt;
            c.actual += (c.target - c.actual).clamp(-max_step, max_step);
            let wobble = 0.05 * (t / 37.0 + i as f64).sin();
            // A stopped conveyor stands still; a moving one never runs backwards.
            let speed = if c.actual <= 0.0 { 0.0 } else { round_to(c.actual + wobble, 2).max(0.0) };
            sig.set_f64(c.speed, speed);
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

    /// Sets oven zone `zone`'s temperature setpoint (degC); the zone's temperature follows from the next
    /// paint step on.
    pub fn set_oven_setpoint(&mut self, sig: &mut Signals, zone: usize, degc: f64) {
        let (temperature, setpoint) = self.oven[zone];
        self.lagged[temperature].sp = degc;
        sig.set_f64(setpoint, degc);
    }

    /// Sets conveyor `conveyor`'s speed setpoint (m/min); its speed ramps there from the next paint step on.
    pub fn set_conveyor_setpoint(&mut self, sig: &mut Signals, conveyor: usize, m_per_min: f64) {
        let c = &mut self.conveyors[conveyor];
        c.target = m_per_min;
        sig.set_f64(c.setpoint, m_per_min);
    }
}
