//! The plant model: a deterministic, tick-driven simulation of a body-in-white line, a paint shop and an
//! assembly line, plus optional field sensors that scale the signal count. The same seed and
//! configuration always produce the same sequence of values, tick by tick, independent of wall-clock time.

mod assembly;
mod biw;
mod field;
mod paint;
mod signals;

pub use signals::{round_to, SignalId, SignalInfo, Signals, SimValue, ValueType};

use crate::rng::Rng;

/// Station and robot state codes served in the `State` signals.
pub mod state {
    /// Waiting for a part (or a robot waiting for its station).
    pub const IDLE: i32 = 0;
    /// Working a cycle.
    pub const RUNNING: i32 = 1;
    /// Done, but the next station is not free (assembly) / robot welding (robots).
    pub const BLOCKED_OR_WELDING: i32 = 2;
    /// Faulted, waiting for repair.
    pub const FAULTED: i32 = 3;
    /// Shift change break.
    pub const BREAK: i32 = 4;
}

/// What the model needs to know; everything else follows from the seed.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Seed of every random choice in the plant.
    pub seed: u64,
    /// Model seconds per tick (0.1 = the default 10 Hz).
    pub tick_s: f64,
    /// Total number of signals wanted; field sensors fill up what the shops do not provide.
    pub signals: usize,
    /// Field sensors update every this many ticks (1 = every tick).
    pub field_period_ticks: u32,
    /// Multiplies every mean time between failures (smaller = more faults).
    pub mtbf_scale: f64,
    /// Length of a shift in model seconds (a short break with state `BREAK` starts each shift).
    pub shift_s: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { seed: 1, tick_s: 0.1, signals: 2000, field_period_ticks: 1, mtbf_scale: 1.0, shift_s: 480.0 }
    }
}

/// A failure/repair process with exponential times (MTBF while working, MTTR while down).
#[derive(Debug, Clone)]
pub(crate) struct FaultProcess {
    rng: Rng,
    mtbf_s: f64,
    mttr_s: f64,
    to_failure: f64,
    to_repair: f64,
    codes: &'static [i32],
    /// The active fault code, 0 when healthy.
    pub code: i32,
}

impl FaultProcess {
    pub fn new(mut rng: Rng, mtbf_s: f64, mttr_s: f64, codes: &'static [i32]) -> Self {
        let to_failure = rng.exp(mtbf_s);
        FaultProcess { rng, mtbf_s, mttr_s, to_failure, to_repair: 0.0, codes, code: 0 }
    }

    /// Advances by `dt` seconds; failures only accrue while `working`. Returns true while faulted.
    pub fn step(&mut self, dt: f64, working: bool) -> bool {
        if self.code != 0 {
            self.to_repair -= dt;
            if self.to_repair <= 0.0 {
                self.code = 0;
                self.to_failure = self.rng.exp(self.mtbf_s);
            }
        } else if working {
            self.to_failure -= dt;
            if self.to_failure <= 0.0 {
                self.code = self.codes[self.rng.below(self.codes.len() as u64) as usize];
                self.to_repair = self.rng.exp(self.mttr_s).max(1.0);
            }
        }
        self.code != 0
    }
}

/// Shift calendar: three shifts, each starting with a short break.
#[derive(Debug)]
struct Shift {
    number: SignalId,
    on_break: SignalId,
    shift_s: f64,
    break_s: f64,
}

impl Shift {
    fn new(sig: &mut Signals, shift_s: f64) -> Self {
        Shift {
            number: sig.add("Plant/Shift/Number".into(), "", SimValue::Int(1)),
            on_break: sig.add("Plant/Shift/Break".into(), "", SimValue::Bool(false)),
            shift_s: shift_s.max(10.0),
            break_s: (shift_s * 0.04).clamp(2.0, 60.0),
        }
    }

    /// Returns true during the break at the start of each shift (except the very first).
    fn step(&self, sig: &mut Signals, t: f64) -> bool {
        let n = (t / self.shift_s).floor();
        let into = t - n * self.shift_s;
        let on_break = n >= 1.0 && into < self.break_s;
        sig.set_i32(self.number, (n as i64 % 3) as i32 + 1);
        sig.set_bool(self.on_break, on_break);
        on_break
    }
}

/// The whole plant.
#[derive(Debug)]
pub struct PlantModel {
    cfg: ModelConfig,
    tick: u64,
    signals: Signals,
    shift: Shift,
    biw: biw::BiwLine,
    paint: paint::PaintShop,
    assembly: assembly::AssemblyLine,
    field: field::FieldSensors,
}

impl PlantModel {
    /// Builds the plant for a configuration; the signal table is complete after this.
    pub fn new(cfg: &ModelConfig) -> Self {
        let mut signals = Signals::default();
        let shift = Shift::new(&mut signals, cfg.shift_s);
        let biw = biw::BiwLine::new(&mut signals, cfg);
        let paint = paint::PaintShop::new(&mut signals, cfg);
        let assembly = assembly::AssemblyLine::new(&mut signals, cfg);
        let wanted_field = cfg.signals.saturating_sub(signals.len());
        let field = field::FieldSensors::new(&mut signals, cfg, wanted_field);
        signals.clear_changes();
        PlantModel { cfg: cfg.clone(), tick: 0, signals, shift, biw, paint, assembly, field }
    }

    /// Advances the plant by one tick and returns the signals whose value changed.
    pub fn step(&mut self) -> &[SignalId] {
        self.signals.clear_changes();
        self.tick += 1;
        let dt = self.cfg.tick_s;
        let t = self.tick as f64 * dt;
        let on_break = self.shift.step(&mut self.signals, t);
        self.biw.step(&mut self.signals, dt, on_break);
        if self.tick.is_multiple_of(5) {
            self.paint.step(&mut self.signals, dt * 5.0, t, self.tick.is_multiple_of(10));
        }
        self.assembly.step(&mut self.signals, dt, on_break);
        self.field.step(&mut self.signals, self.tick);
        self.signals.changed()
    }

    /// The signals changed by the last [`Self::step`].
    pub fn changed(&self) -> &[SignalId] {
        self.signals.changed()
    }

    /// Ticks done so far.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Every signal's description, indexed by [`SignalId`].
    pub fn infos(&self) -> &[SignalInfo] {
        self.signals.infos()
    }

    /// Every signal's current value, indexed by [`SignalId`].
    pub fn values(&self) -> &[SimValue] {
        self.signals.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plant_has_at_least_2000_signals_and_the_required_equipment() {
        let m = PlantModel::new(&ModelConfig::default());
        assert!(m.infos().len() >= 2000, "{}", m.infos().len());
        let has = |p: &str| m.infos().iter().any(|i| i.path == p);
        assert!(has("Plant/BIW/Station06/R12/J6"));
        assert!(has("Plant/Assembly/Station10/Vin"));
        assert!(has("Plant/Paint/Oven/Zone01/Temperature"));
        let mut paths: Vec<&str> = m.infos().iter().map(|i| i.path.as_str()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), m.infos().len(), "paths are unique");
    }

    #[test]
    fn same_seed_same_values_other_seed_differs() {
        let cfg = ModelConfig { seed: 42, ..Default::default() };
        let (mut a, mut b) = (PlantModel::new(&cfg), PlantModel::new(&cfg));
        let mut c = PlantModel::new(&ModelConfig { seed: 43, ..cfg.clone() });
        for _ in 0..300 {
            let ca = a.step().to_vec();
            assert_eq!(ca, b.step());
            c.step();
        }
        assert_eq!(a.values(), b.values());
        assert_ne!(a.values(), c.values());
    }

    #[test]
    fn robots_move_smoothly_and_weld_and_stations_cycle() {
        let mut m = PlantModel::new(&ModelConfig { seed: 3, ..Default::default() });
        let id = |m: &PlantModel, p: &str| m.infos().iter().position(|i| i.path == p).unwrap();
        let j1 = id(&m, "Plant/BIW/Station01/R01/J1");
        let welds = id(&m, "Plant/BIW/Station01/R01/WeldCount");
        let cycles = id(&m, "Plant/BIW/Station01/CycleCount");
        let mut last = m.values()[j1].clone();
        let mut max_jump: f64 = 0.0;
        for _ in 0..3000 {
            m.step();
            if let (SimValue::Double(a), SimValue::Double(b)) = (&last, &m.values()[j1]) {
                max_jump = max_jump.max((a - b).abs());
            }
            last = m.values()[j1].clone();
        }
        assert!(max_jump > 0.0 && max_jump < 20.0, "joint steps are small: {max_jump}");
        assert!(matches!(m.values()[welds], SimValue::Long(n) if n > 10));
        assert!(matches!(m.values()[cycles], SimValue::Long(n) if n > 3));
    }

    #[test]
    fn scale_reaches_the_requested_signal_count() {
        let m = PlantModel::new(&ModelConfig { signals: 50_000, ..Default::default() });
        assert_eq!(m.infos().len(), 50_000);
    }
}
