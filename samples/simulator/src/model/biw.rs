//! Body-in-white line: six welding stations, two six-axis robots each (R01..R12). A station clamps a
//! body, its robots run their weld program (smooth joint moves between weld points, a dwell per weld),
//! then the body transfers to the next station. Robots and stations fail and get repaired (MTBF/MTTR).
//!
//! Writable: each robot's `ProgramSelect` (1..99; 0, the initial value, lets the line choose among the
//! three standard programs). The robot runs the selected program from its next cycle on; programs 4..99
//! are generated from the seed when first selected.

use std::collections::BTreeMap;

use super::setpoint::{Setpoint, Target};
use super::{round_to, state, FaultProcess, ModelConfig, SignalId, Signals, SimValue, ValueType};
use crate::rng::Rng;

pub const STATIONS: usize = 6;
pub const ROBOTS_PER_STATION: usize = 2;
const CLAMPS: usize = 8;
const PROGRAMS: usize = 3;
/// Range of a robot's program select.
pub const PROGRAM_SELECT_RANGE: (f64, f64) = (1.0, 99.0);
const TRANSFER_S: f64 = 3.0;
const WELD_S: f64 = 0.6;
/// Joint limits in degrees (J1..J6) of a typical 6-axis spot-welding robot.
const LIMITS: [(f64, f64); 6] =
    [(-170.0, 170.0), (-60.0, 85.0), (-120.0, 70.0), (-180.0, 180.0), (-120.0, 120.0), (-270.0, 270.0)];
const HOME: [f64; 6] = [0.0, -30.0, 30.0, 0.0, 45.0, 0.0];
const ROBOT_FAULTS: &[i32] = &[1012, 2040, 2041, 3301];
const STATION_FAULTS: &[i32] = &[501, 502, 610];

/// One weld program: weld points in joint space.
#[derive(Debug)]
struct Program {
    points: Vec<[f64; 6]>,
    move_s: Vec<f64>,
}

impl Program {
    fn generate(rng: &mut Rng) -> Self {
        let n = 4 + rng.below(5) as usize;
        let points = (0..n)
            .map(|_| {
                let mut q = [0.0; 6];
                for (j, (lo, hi)) in LIMITS.iter().enumerate() {
                    q[j] = round_to(rng.range(lo * 0.6, hi * 0.6), 1);
                }
                q
            })
            .collect();
        let move_s = (0..=n).map(|_| rng.range(0.8, 2.0)).collect();
        Program { points, move_s }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Moving to weld point `step` (== points.len(): back home).
    Moving {
        step: usize,
        elapsed: f64,
    },
    Welding {
        step: usize,
        elapsed: f64,
    },
    Done,
}

#[derive(Debug)]
struct Robot {
    sig_joints: [SignalId; 6],
    sig_torques: [SignalId; 6],
    sig_temps: [SignalId; 6],
    sig_program: SignalId,
    sig_step: SignalId,
    sig_welds: SignalId,
    sig_state: SignalId,
    sig_fault: SignalId,
    sig_speed: SignalId,
    sig_select: SignalId,
    /// Weld programs by index (program number - 1): the three standard ones, then any selected later.
    programs: BTreeMap<usize, Program>,
    program: usize,
    /// The selected program index, if a client selected one.
    selected: Option<usize>,
    seed: u64,
    index: usize,
    phase: Phase,
    from: [f64; 6],
    q: [f64; 6],
    welds: i64,
    temps: [f64; 6],
    faults: FaultProcess,
    rng: Rng,
}

impl Robot {
    fn new(sig: &mut Signals, cfg: &ModelConfig, base: &str, index: usize) -> Self {
        let mut rng = Rng::new(cfg.seed, 1000 + index as u64);
        let programs = (0..PROGRAMS).map(|p| (p, Program::generate(&mut rng))).collect();
        let j = |sig: &mut Signals, name: &str, unit, v: f64| {
            std::array::from_fn(|k| sig.add(format!("{base}/{name}{}", k + 1), unit, SimValue::Double(v)))
        };
        let sig_joints: [SignalId; 6] =
            std::array::from_fn(|k| sig.add(format!("{base}/J{}", k + 1), "deg", SimValue::Double(HOME[k])));
        let sig_torques = j(sig, "Torque", "Nm", 0.0);
        let sig_temps = j(sig, "MotorTemp", "degC", 35.0);
        Robot {
            sig_joints,
            sig_torques,
            sig_temps,
            sig_program: sig.add(format!("{base}/Program"), "", SimValue::Int(1)),
            sig_step: sig.add(format!("{base}/Step"), "", SimValue::Int(0)),
            sig_welds: sig.add(format!("{base}/WeldCount"), "", SimValue::Long(0)),
            sig_state: sig.add(format!("{base}/State"), "", SimValue::Int(state::IDLE)),
            sig_fault: sig.add(format!("{base}/FaultCode"), "", SimValue::Int(0)),
            sig_speed: sig.add(format!("{base}/TcpSpeed"), "mm/s", SimValue::Double(0.0)),
            sig_select: sig.add(format!("{base}/ProgramSelect"), "", SimValue::Int(0)),
            faults: FaultProcess::new(
                Rng::new(cfg.seed, 2000 + index as u64),
                1800.0 * cfg.mtbf_scale,
                45.0,
                ROBOT_FAULTS,
            ),
            programs,
            program: 0,
            selected: None,
            seed: cfg.seed,
            index,
            phase: Phase::Done,
            from: HOME,
            q: HOME,
            welds: 0,
            temps: [35.0; 6],
            rng,
        }
    }

    fn start(&mut self, program: usize) {
        self.program = self.selected.unwrap_or(program % PROGRAMS);
        let (seed, index, p) = (self.seed, self.index, self.program);
        // Programs beyond the standard three: their own random stream per robot and number.
        self.programs
            .entry(p)
            .or_insert_with(|| Program::generate(&mut Rng::new(seed, 100_000 + index as u64 * 1000 + p as u64)));
        self.from = self.q;
        self.phase = Phase::Moving { step: 0, elapsed: 0.0 };
    }

    fn target(&self, step: usize) -> [f64; 6] {
        self.programs[&self.program].points.get(step).copied().unwrap_or(HOME)
    }

    /// Advances the robot; `may_work` is false while its station is faulted or on break.
    fn step(&mut self, sig: &mut Signals, dt: f64, may_work: bool, on_break: bool) {
        let working = may_work && self.phase != Phase::Done;
        let faulted = self.faults.step(dt, working);
        let prev = self.q;
        let mut welding = false;
        if working && !faulted {
            let prog = &self.programs[&self.program];
            self.phase = match self.phase {
                Phase::Moving { step, elapsed } => {
                    let dur = prog.move_s[step];
                    let elapsed = elapsed + dt;
                    let u = (elapsed / dur).min(1.0);
                    let s = 0.5 - 0.5 * (std::f64::consts::PI * u).cos();
                    let to = self.target(step);
                    for ((q, from), to) in self.q.iter_mut().zip(self.from).zip(to) {
                        *q = from + (to - from) * s;
                    }
                    if u < 1.0 {
                        Phase::Moving { step, elapsed }
                    } else if step < prog.points.len() {
                        self.welds += 1;
                        Phase::Welding { step, elapsed: 0.0 }
                    } else {
                        Phase::Done
                    }
                }
                Phase::Welding { step, elapsed } => {
                    welding = true;
                    if elapsed + dt < WELD_S {
                        Phase::Welding { step, elapsed: elapsed + dt }
                    } else {
                        self.from = self.q;
                        Phase::Moving { step: step + 1, elapsed: 0.0 }
                    }
                }
                Phase::Done => Phase::Done,
            };
        }
        let st = if faulted {
            state::FAULTED
        } else if on_break {
            state::BREAK
        } else if welding {
            state::BLOCKED_OR_WELDING
        } else if working {
            state::RUNNING
        } else {
            state::IDLE
        };
        let step_no = match self.phase {
            Phase::Moving { step, .. } | Phase::Welding { step, .. } => step as i32 + 1,
            Phase::Done => 0,
        };
        let mut speed2 = 0.0;
        for (k, before) in prev.iter().enumerate() {
            let vel = (self.q[k] - before) / dt;
            speed2 += vel * vel;
            sig.set_f64(self.sig_joints[k], round_to(self.q[k], 3));
            let gravity = if k == 1 || k == 2 { 120.0 * self.q[k].to_radians().cos() } else { 5.0 };
            let torque = if vel == 0.0 && !welding { gravity } else { gravity + 0.8 * vel + self.rng.noise(1.5) };
            sig.set_f64(self.sig_torques[k], round_to(torque, 1));
            let heat = if vel.abs() > 0.0 { 0.02 * vel.abs().min(60.0) } else { 0.0 };
            self.temps[k] += (35.0 + heat * 20.0 - self.temps[k]) * 0.002;
            sig.set_f64(self.sig_temps[k], round_to(self.temps[k], 1));
        }
        sig.set_f64(self.sig_speed, round_to(speed2.sqrt() * 8.0, 1));
        sig.set_i32(self.sig_program, self.program as i32 + 1);
        sig.set_i32(self.sig_step, step_no);
        sig.set_i64(self.sig_welds, self.welds);
        sig.set_i32(self.sig_state, st);
        sig.set_i32(self.sig_fault, self.faults.code);
    }
}

#[derive(Debug)]
struct Station {
    sig_state: SignalId,
    sig_cycle_time: SignalId,
    sig_cycles: SignalId,
    sig_fault: SignalId,
    sig_body: SignalId,
    sig_part: SignalId,
    sig_clamps: [SignalId; CLAMPS],
    robots: Vec<Robot>,
    faults: FaultProcess,
    transfer_left: f64,
    cycle_elapsed: f64,
    cycles: i64,
    body: u64,
}

/// The BIW line.
#[derive(Debug)]
pub struct BiwLine {
    stations: Vec<Station>,
}

impl BiwLine {
    pub fn new(sig: &mut Signals, cfg: &ModelConfig, setpoints: &mut Vec<Setpoint>) -> Self {
        let stations: Vec<Station> = (0..STATIONS)
            .map(|s| {
                let base = format!("Plant/BIW/Station{:02}", s + 1);
                let st = Station {
                    sig_state: sig.add(format!("{base}/State"), "", SimValue::Int(state::IDLE)),
                    sig_cycle_time: sig.add(format!("{base}/CycleTime"), "s", SimValue::Double(0.0)),
                    sig_cycles: sig.add(format!("{base}/CycleCount"), "", SimValue::Long(0)),
                    sig_fault: sig.add(format!("{base}/FaultCode"), "", SimValue::Int(0)),
                    sig_body: sig.add(format!("{base}/BodyId"), "", SimValue::Text(String::new())),
                    sig_part: sig.add(format!("{base}/PartPresent"), "", SimValue::Bool(false)),
                    sig_clamps: std::array::from_fn(|c| {
                        sig.add(format!("{base}/Clamp{:02}", c + 1), "", SimValue::Bool(false))
                    }),
                    robots: (0..ROBOTS_PER_STATION)
                        .map(|r| {
                            let index = s * ROBOTS_PER_STATION + r;
                            Robot::new(sig, cfg, &format!("{base}/R{:02}", index + 1), index)
                        })
                        .collect(),
                    faults: FaultProcess::new(
                        Rng::new(cfg.seed, 3000 + s as u64),
                        3600.0 * cfg.mtbf_scale,
                        60.0,
                        STATION_FAULTS,
                    ),
                    // Stagger the line: station k starts after k transfers.
                    transfer_left: TRANSFER_S * (s as f64 + 1.0),
                    cycle_elapsed: 0.0,
                    cycles: 0,
                    body: 0,
                };
                st
            })
            .collect();
        let (min, max) = PROGRAM_SELECT_RANGE;
        for (i, r) in stations.iter().flat_map(|s| &s.robots).enumerate() {
            setpoints.push(Setpoint::new(r.sig_select, ValueType::Int32, min, max, Target::Program(i)));
        }
        BiwLine { stations }
    }

    /// Selects program number `program` (1..99) for robot `robot` (0 = R01); it runs from the robot's next
    /// cycle on.
    pub fn select_program(&mut self, sig: &mut Signals, robot: usize, program: i32) {
        let r = &mut self.stations[robot / ROBOTS_PER_STATION].robots[robot % ROBOTS_PER_STATION];
        r.selected = Some((program.max(1) - 1) as usize);
        sig.set_i32(r.sig_select, program);
    }

    pub fn step(&mut self, sig: &mut Signals, dt: f64, on_break: bool) {
        for (s, st) in self.stations.iter_mut().enumerate() {
            let busy = st.transfer_left <= 0.0;
            let faulted = st.faults.step(dt, busy && !on_break);
            let may_work = busy && !faulted && !on_break;
            for r in &mut st.robots {
                r.step(sig, dt, may_work, on_break);
            }
            let robot_fault = st.robots.iter().any(|r| r.faults.code != 0);
            if !on_break && !faulted {
                if st.transfer_left > 0.0 {
                    st.transfer_left -= dt;
                    if st.transfer_left <= 0.0 {
                        st.body += 1;
                        st.cycle_elapsed = 0.0;
                        let program = (st.body as usize + s) % PROGRAMS;
                        for r in &mut st.robots {
                            r.start(program);
                        }
                    }
                } else {
                    st.cycle_elapsed += dt;
                    if st.robots.iter().all(|r| r.phase == Phase::Done) {
                        st.cycles += 1;
                        sig.set_f64(st.sig_cycle_time, round_to(st.cycle_elapsed + TRANSFER_S, 2));
                        st.transfer_left = TRANSFER_S;
                    }
                }
            }
            let busy = st.transfer_left <= 0.0;
            let state = if faulted || robot_fault {
                state::FAULTED
            } else if on_break {
                state::BREAK
            } else if busy {
                state::RUNNING
            } else {
                state::IDLE
            };
            sig.set_i32(st.sig_state, state);
            sig.set_i64(st.sig_cycles, st.cycles);
            sig.set_i32(st.sig_fault, if faulted { st.faults.code } else { 0 });
            if st.body > 0 {
                sig.set_text(st.sig_body, &format!("B{:06}", st.body * 10 + s as u64));
            }
            sig.set_bool(st.sig_part, busy);
            for &c in &st.sig_clamps {
                sig.set_bool(c, busy);
            }
        }
    }
}
