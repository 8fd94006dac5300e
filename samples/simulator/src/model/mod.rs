//! The plant model: a deterministic, tick-driven simulation of a body-in-white line, a paint shop and an
//! assembly line, plus optional field sensors that scale the signal count. The same seed and
//! configuration always produce the same sequence of values, tick by tick, independent of wall-clock time.
//!
//! A few signals are setpoints a client may write ([`PlantModel::setpoints`], [`PlantModel::write`]), and
//! an assembly station's fault can be acknowledged ([`PlantModel::acknowledge_fault`]). Both act between
//! two ticks, so a run stays deterministic for a seed and the ticks at which the commands came.

mod assembly;
mod biw;
pub mod degradation;
mod field;
mod paint;
mod setpoint;
mod signals;

pub use assembly::{STATIONS as ASSEMBLY_STATIONS, TAKT_RANGE};
pub use biw::PROGRAM_SELECT_RANGE;
pub use paint::{CONVEYOR_RAMP, CONVEYOR_SETPOINT_RANGE, OVEN_SETPOINT_RANGE, OVEN_TAU_S};
pub use setpoint::{Acknowledgement, Setpoint, WriteError};
pub use signals::{round_to, SignalId, SignalInfo, Signals, SimValue, ValueType};

use setpoint::Target;

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

    /// Clears an active fault as a repair would (the next failure is drawn); returns the cleared code, 0
    /// when there was none.
    pub fn clear(&mut self) -> i32 {
        let code = self.code;
        if code != 0 {
            self.code = 0;
            self.to_failure = self.rng.exp(self.mtbf_s);
        }
        code
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
    setpoints: Vec<Setpoint>,
    shift: Shift,
    biw: biw::BiwLine,
    paint: paint::PaintShop,
    assembly: assembly::AssemblyLine,
    degradation: degradation::Degradation,
    field: field::FieldSensors,
}

impl PlantModel {
    /// Builds the plant for a configuration; the signal table is complete after this.
    pub fn new(cfg: &ModelConfig) -> Self {
        let mut signals = Signals::default();
        let mut setpoints = Vec::new();
        let shift = Shift::new(&mut signals, cfg.shift_s);
        let biw = biw::BiwLine::new(&mut signals, cfg, &mut setpoints);
        let paint = paint::PaintShop::new(&mut signals, cfg, &mut setpoints);
        let assembly = assembly::AssemblyLine::new(&mut signals, cfg, &mut setpoints);
        let degradation = degradation::Degradation::new(&mut signals, cfg);
        let wanted_field = cfg.signals.saturating_sub(signals.len());
        let field = field::FieldSensors::new(&mut signals, cfg, wanted_field);
        signals.clear_changes();
        setpoints.sort_by_key(|s| s.signal);
        PlantModel { cfg: cfg.clone(), tick: 0, signals, setpoints, shift, biw, paint, assembly, degradation, field }
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
        // Condition monitoring reads once a model second.
        if self.tick.is_multiple_of(10) {
            self.degradation.step(&mut self.signals, dt * 10.0, t);
        }
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

    /// The writable signals, in signal-id order: oven zone setpoints, conveyor speed setpoints, the
    /// assembly takt and the robots' program selects. Every other signal is read-only.
    pub fn setpoints(&self) -> &[Setpoint] {
        &self.setpoints
    }

    /// The setpoint of a signal, if it is writable.
    pub fn setpoint(&self, signal: SignalId) -> Option<&Setpoint> {
        self.setpoints.binary_search_by_key(&signal, |s| s.signal).ok().map(|i| &self.setpoints[i])
    }

    /// Writes a setpoint between two ticks. A refused write changes nothing. Afterwards [`Self::changed`]
    /// lists the signals the write changed (the setpoint itself; the process follows over the next ticks).
    pub fn write(&mut self, signal: SignalId, value: &SimValue) -> Result<(), WriteError> {
        self.signals.clear_changes();
        let sp = self.setpoint(signal).ok_or(WriteError::NotWritable)?;
        let (x, target) = (sp.check(value)?, sp.target);
        let sig = &mut self.signals;
        match target {
            Target::OvenZone(z) => self.paint.set_oven_setpoint(sig, z, x),
            Target::Conveyor(c) => self.paint.set_conveyor_setpoint(sig, c, x),
            Target::Takt => self.assembly.set_takt(sig, x),
            Target::Program(r) => self.biw.select_program(sig, r, x as i32),
        }
        Ok(())
    }

    /// Number of assembly stations (`Plant/Assembly/Station01` is station 0).
    pub fn assembly_stations(&self) -> usize {
        ASSEMBLY_STATIONS
    }

    /// Acknowledges assembly station `station`'s fault and andon between two ticks: both are cleared (a
    /// fault as if repaired) and the station's state, fault code, andon and the line's stopped flag are
    /// served at once ([`Self::changed`] lists them). Returns what was active, or `None` when there is no
    /// such station.
    pub fn acknowledge_fault(&mut self, station: usize) -> Option<Acknowledgement> {
        self.signals.clear_changes();
        (station < ASSEMBLY_STATIONS).then(|| self.assembly.acknowledge(&mut self.signals, station))
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

    fn id(m: &PlantModel, p: &str) -> SignalId {
        m.infos().iter().position(|i| i.path == p).unwrap_or_else(|| panic!("{p} is not a signal")) as SignalId
    }

    fn f64_of(m: &PlantModel, p: &str) -> f64 {
        match m.values()[id(m, p) as usize] {
            SimValue::Double(x) => x,
            ref v => panic!("{p} is {v:?}"),
        }
    }

    fn i32_of(m: &PlantModel, p: &str) -> i32 {
        match m.values()[id(m, p) as usize] {
            SimValue::Int(x) => x,
            ref v => panic!("{p} is {v:?}"),
        }
    }

    #[test]
    fn exactly_the_setpoints_are_writable_with_their_types_and_ranges() {
        let m = PlantModel::new(&ModelConfig::default());
        let listed: Vec<(&str, ValueType, f64, f64)> = m
            .setpoints()
            .iter()
            .map(|s| (m.infos()[s.signal as usize].path.as_str(), s.value_type, s.min, s.max))
            .collect();
        assert_eq!(listed.len(), 12 + 6 + 3 + 1, "{listed:?}");
        let has = |p: &str, t, min, max| assert!(listed.contains(&(p, t, min, max)), "{p} in {listed:?}");
        has("Plant/BIW/Station01/R01/ProgramSelect", ValueType::Int32, 1.0, 99.0);
        has("Plant/BIW/Station06/R12/ProgramSelect", ValueType::Int32, 1.0, 99.0);
        has("Plant/Paint/Oven/Zone01/Setpoint", ValueType::Double, 0.0, 300.0);
        has("Plant/Paint/Oven/Zone06/Setpoint", ValueType::Double, 0.0, 300.0);
        has("Plant/Paint/Conveyor/Pretreatment/SpeedSetpoint", ValueType::Double, 0.0, 120.0);
        has("Plant/Paint/Conveyor/Oven/SpeedSetpoint", ValueType::Double, 0.0, 120.0);
        has("Plant/Assembly/Line/Takt", ValueType::Double, 10.0, 600.0);
        // Setpoints start at the values the plant ran with before anyone wrote.
        assert_eq!(f64_of(&m, "Plant/Paint/Conveyor/Booths/SpeedSetpoint"), 5.0);
        assert_eq!(i32_of(&m, "Plant/BIW/Station01/R01/ProgramSelect"), 0);
    }

    #[test]
    fn refused_writes_change_nothing() {
        let cfg = ModelConfig { seed: 9, ..Default::default() };
        let (mut a, mut b) = (PlantModel::new(&cfg), PlantModel::new(&cfg));
        for _ in 0..50 {
            a.step();
            b.step();
        }
        let oven = id(&a, "Plant/Paint/Oven/Zone02/Setpoint");
        let program = id(&a, "Plant/BIW/Station01/R02/ProgramSelect");
        let takt = id(&a, "Plant/Assembly/Line/Takt");
        let temp = id(&a, "Plant/Paint/Oven/Zone02/Temperature");
        let refused = [
            (oven, SimValue::Double(300.5), WriteError::OutOfRange),
            (oven, SimValue::Double(-0.1), WriteError::OutOfRange),
            (oven, SimValue::Double(f64::NAN), WriteError::OutOfRange),
            (oven, SimValue::Int(200), WriteError::TypeMismatch),
            (program, SimValue::Int(0), WriteError::OutOfRange),
            (program, SimValue::Int(100), WriteError::OutOfRange),
            (program, SimValue::Double(2.0), WriteError::TypeMismatch),
            (takt, SimValue::Double(9.9), WriteError::OutOfRange),
            (takt, SimValue::Double(600.1), WriteError::OutOfRange),
            (temp, SimValue::Double(100.0), WriteError::NotWritable),
        ];
        for (signal, value, err) in refused {
            assert_eq!(a.write(signal, &value), Err(err), "{} <- {value:?}", a.infos()[signal as usize].path);
            assert!(a.changed().is_empty());
        }
        for _ in 0..600 {
            assert_eq!(a.step(), b.step());
        }
        assert_eq!(a.values(), b.values());
    }

    #[test]
    fn oven_temperature_follows_its_setpoint_with_a_first_order_lag() {
        let cfg = ModelConfig { seed: 4, ..Default::default() };
        let (mut a, mut b) = (PlantModel::new(&cfg), PlantModel::new(&cfg));
        let sp = "Plant/Paint/Oven/Zone03/Setpoint";
        let temp = "Plant/Paint/Oven/Zone03/Temperature";
        assert_eq!(f64_of(&a, sp), 175.0);
        a.write(id(&a, sp), &SimValue::Double(245.0)).unwrap();
        assert_eq!(a.changed(), [id(&a, sp)]);
        assert_eq!(f64_of(&a, sp), 245.0);
        // Same seed, same noise: the difference to the unwritten plant is the noise-free step response,
        // 70 * (1 - (1 - dt/tau)^n) after n paint steps of dt = 0.5 s (to the served 0.1 degC).
        let a_step = 0.5 / OVEN_TAU_S;
        for tick in 1..=1800u32 {
            a.step();
            b.step();
            if tick % 5 == 0 {
                let n = (tick / 5) as i32;
                let expected = 70.0 * (1.0 - (1.0 - a_step).powi(n));
                let diff = f64_of(&a, temp) - f64_of(&b, temp);
                assert!((diff - expected).abs() <= 0.1 + 1e-9, "tick {tick}: {diff} vs {expected}");
            }
        }
        // After two time constants (180 s), 86 % of the step.
        let diff = f64_of(&a, temp) - f64_of(&b, temp);
        assert!((diff - 70.0 * 0.8647).abs() < 0.5, "{diff}");
        assert_eq!(f64_of(&a, sp), 245.0, "the setpoint stays where it was written");
    }

    #[test]
    fn conveyor_speed_ramps_to_its_setpoint() {
        let cfg = ModelConfig::default();
        let (mut a, mut b) = (PlantModel::new(&cfg), PlantModel::new(&cfg));
        let sp = "Plant/Paint/Conveyor/Booths/SpeedSetpoint";
        let speed = "Plant/Paint/Conveyor/Booths/Speed";
        a.write(id(&a, sp), &SimValue::Double(8.0)).unwrap();
        for tick in 1..=100u32 {
            a.step();
            b.step();
            if tick % 5 == 0 {
                // 1 m/min per second, paint steps of 0.5 s, until the 3 m/min are made up.
                let expected = (CONVEYOR_RAMP * 0.5 * f64::from(tick / 5)).min(3.0);
                let diff = f64_of(&a, speed) - f64_of(&b, speed);
                assert!((diff - expected).abs() <= 0.01 + 1e-9, "tick {tick}: {diff} vs {expected}");
            }
        }
        a.write(id(&a, sp), &SimValue::Double(0.0)).unwrap();
        for _ in 0..200 {
            a.step();
        }
        assert_eq!(f64_of(&a, speed), 0.0, "a conveyor set to 0 stands still");
    }

    #[test]
    fn a_new_takt_paces_the_line_and_its_cycle_times() {
        let cfg = ModelConfig { seed: 2, mtbf_scale: 1e6, shift_s: 1e6, ..Default::default() };
        let mut m = PlantModel::new(&cfg);
        let takt = id(&m, "Plant/Assembly/Line/Takt");
        m.write(takt, &SimValue::Double(20.0)).unwrap();
        let output = id(&m, "Plant/Assembly/Line/Output");
        let mut cycle_times = Vec::new();
        // 20 stations' worth of 20 s takts, but andons may stop the line now and then.
        for _ in 0..6000 {
            m.step();
            let ct = f64_of(&m, "Plant/Assembly/Station01/CycleTime");
            if ct > 0.0 && cycle_times.last() != Some(&ct) {
                cycle_times.push(ct);
            }
        }
        assert!(cycle_times.len() > 5, "{cycle_times:?}");
        assert!(cycle_times.iter().all(|&c| (0.75 * 20.0 - 0.05..=0.98 * 20.0 + 0.05).contains(&c)), "{cycle_times:?}");
        assert!(matches!(m.values()[output as usize], SimValue::Long(n) if n > 5), "{:?}", m.values()[output as usize]);
        assert_eq!(f64_of(&m, "Plant/Assembly/Line/Takt"), 20.0);
    }

    #[test]
    fn a_selected_program_runs_from_the_robots_next_cycle() {
        let cfg = ModelConfig { seed: 5, mtbf_scale: 1e6, ..Default::default() };
        let mut m = PlantModel::new(&cfg);
        for _ in 0..100 {
            m.step();
        }
        let program = "Plant/BIW/Station02/R03/Program";
        let welds = id(&m, "Plant/BIW/Station02/R03/WeldCount");
        m.write(id(&m, "Plant/BIW/Station02/R03/ProgramSelect"), &SimValue::Int(42)).unwrap();
        assert_eq!(i32_of(&m, "Plant/BIW/Station02/R03/ProgramSelect"), 42);
        let mut seen = Vec::new();
        for _ in 0..1200 {
            m.step();
            seen.push(i32_of(&m, program));
        }
        assert_eq!(*seen.last().unwrap(), 42, "{seen:?}");
        let first = seen.iter().position(|&p| p == 42).unwrap();
        assert!(seen[first..].iter().all(|&p| p == 42), "stays on the selected program");
        let welds_before = m.values()[welds as usize].clone();
        for _ in 0..600 {
            m.step();
        }
        assert_ne!(m.values()[welds as usize], welds_before, "the robot welds with program 42");
        // Its neighbour still runs the line's standard programs.
        assert!((1..=3).contains(&i32_of(&m, "Plant/BIW/Station02/R04/Program")));
    }

    #[test]
    fn acknowledging_a_fault_clears_it_and_nothing_to_acknowledge_says_so() {
        let cfg = ModelConfig { seed: 3, mtbf_scale: 0.002, ..Default::default() };
        let mut m = PlantModel::new(&cfg);
        assert_eq!(m.acknowledge_fault(ASSEMBLY_STATIONS), None);
        let station = loop {
            m.step();
            assert!(m.tick() < 100_000, "no assembly fault");
            let faulted = (0..ASSEMBLY_STATIONS)
                .find(|s| i32_of(&m, &format!("Plant/Assembly/Station{:02}/FaultCode", s + 1)) != 0);
            if let Some(s) = faulted {
                break s;
            }
        };
        let base = format!("Plant/Assembly/Station{:02}", station + 1);
        let code = i32_of(&m, &format!("{base}/FaultCode"));
        assert_eq!(i32_of(&m, &format!("{base}/State")), state::FAULTED);
        let ack = m.acknowledge_fault(station).unwrap();
        assert_eq!(ack.fault_code, code);
        assert!(ack.acknowledged());
        assert_eq!(i32_of(&m, &format!("{base}/FaultCode")), 0);
        assert_ne!(i32_of(&m, &format!("{base}/State")), state::FAULTED);
        assert!(m.changed().contains(&id(&m, &format!("{base}/FaultCode"))));
        let again = m.acknowledge_fault(station).unwrap();
        assert_eq!(again, Acknowledgement { fault_code: 0, andon: false });
        assert!(!again.acknowledged());
        assert!(m.changed().is_empty(), "nothing changed");
    }
}
