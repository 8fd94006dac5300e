//! Assembly line: twelve stations on a paced line. Each takt the vehicles (VIN and order) index one station
//! forward; operators pull the andon now and then, which stops the line until it is cleared; stations fail
//! and are repaired (MTBF/MTTR).
//!
//! Writable: the line's `Takt` (the next index happens once the new takt has run, and the stations'
//! work times are drawn from the new takt from then on). Each station's fault and andon can be
//! acknowledged ([`AssemblyLine::acknowledge`]).

use super::setpoint::{Acknowledgement, Setpoint, Target};
use super::{round_to, state, FaultProcess, ModelConfig, SignalId, Signals, SimValue, ValueType};
use crate::rng::Rng;

pub const STATIONS: usize = 12;
const TAKT_S: f64 = 60.0;
/// Range of the writable takt time, seconds.
pub const TAKT_RANGE: (f64, f64) = (10.0, 600.0);
const ANDON_PROB_PER_CYCLE: f64 = 0.04;
const STATION_FAULTS: &[i32] = &[701, 702, 715];
/// VIN characters (no I, O, Q, as in ISO 3779).
const VIN_CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";

#[derive(Debug)]
struct Station {
    sig_state: SignalId,
    sig_cycle_time: SignalId,
    sig_vin: SignalId,
    sig_order: SignalId,
    sig_andon: SignalId,
    sig_fault: SignalId,
    vehicle: Option<(String, String)>,
    work_s: f64,
    andon_left: f64,
    faults: FaultProcess,
}

/// The assembly line.
#[derive(Debug)]
pub struct AssemblyLine {
    stations: Vec<Station>,
    sig_takt: SignalId,
    sig_output: SignalId,
    sig_stopped: SignalId,
    rng: Rng,
    /// The takt time, seconds.
    takt: f64,
    into_takt: f64,
    on_break: bool,
    produced: i64,
    next_order: u64,
}

impl AssemblyLine {
    pub fn new(sig: &mut Signals, cfg: &ModelConfig, setpoints: &mut Vec<Setpoint>) -> Self {
        let base = "Plant/Assembly";
        let stations = (0..STATIONS)
            .map(|s| {
                let b = format!("{base}/Station{:02}", s + 1);
                Station {
                    sig_state: sig.add(format!("{b}/State"), "", SimValue::Int(state::IDLE)),
                    sig_cycle_time: sig.add(format!("{b}/CycleTime"), "s", SimValue::Double(0.0)),
                    sig_vin: sig.add(format!("{b}/Vin"), "", SimValue::Text(String::new())),
                    sig_order: sig.add(format!("{b}/Order"), "", SimValue::Text(String::new())),
                    sig_andon: sig.add(format!("{b}/Andon"), "", SimValue::Bool(false)),
                    sig_fault: sig.add(format!("{b}/FaultCode"), "", SimValue::Int(0)),
                    vehicle: None,
                    work_s: 0.0,
                    andon_left: 0.0,
                    faults: FaultProcess::new(
                        Rng::new(cfg.seed, 5000 + s as u64),
                        5400.0 * cfg.mtbf_scale,
                        120.0,
                        STATION_FAULTS,
                    ),
                }
            })
            .collect();
        let sig_takt = sig.add(format!("{base}/Line/Takt"), "s", SimValue::Double(TAKT_S));
        let (min, max) = TAKT_RANGE;
        setpoints.push(Setpoint::new(sig_takt, ValueType::Double, min, max, Target::Takt));
        AssemblyLine {
            stations,
            sig_takt,
            sig_output: sig.add(format!("{base}/Line/Output"), "", SimValue::Long(0)),
            sig_stopped: sig.add(format!("{base}/Line/Stopped"), "", SimValue::Bool(false)),
            rng: Rng::new(cfg.seed, 6000),
            takt: TAKT_S,
            into_takt: 0.0,
            on_break: false,
            produced: 0,
            next_order: 1,
        }
    }

    fn new_vehicle(&mut self) -> (String, String) {
        let mut vin = String::from("WTL");
        for _ in 0..14 {
            vin.push(VIN_CHARS[self.rng.below(VIN_CHARS.len() as u64) as usize] as char);
        }
        let order = format!("ORD-{:07}", self.next_order);
        self.next_order += 1;
        (vin, order)
    }

    pub fn step(&mut self, sig: &mut Signals, dt: f64, on_break: bool) {
        self.on_break = on_break;
        let mut stopped = on_break;
        for st in &mut self.stations {
            let faulted = st.faults.step(dt, !on_break && st.vehicle.is_some());
            if st.andon_left > 0.0 {
                st.andon_left -= dt;
            }
            stopped |= faulted || st.andon_left > 0.0;
        }
        if !stopped {
            self.into_takt += dt;
            if self.into_takt >= self.takt {
                self.into_takt = 0.0;
                self.index(sig);
            }
        }
        self.publish(sig, stopped);
    }

    /// Serves every station's state, fault code and andon, and whether the line is stopped.
    fn publish(&self, sig: &mut Signals, stopped: bool) {
        let on_break = self.on_break;
        for st in &self.stations {
            let has_car = st.vehicle.is_some();
            let state = if st.faults.code != 0 {
                state::FAULTED
            } else if on_break {
                state::BREAK
            } else if !has_car {
                state::IDLE
            } else if self.into_takt < st.work_s && !stopped {
                state::RUNNING
            } else {
                state::BLOCKED_OR_WELDING
            };
            sig.set_i32(st.sig_state, state);
            sig.set_i32(st.sig_fault, st.faults.code);
            sig.set_bool(st.sig_andon, st.andon_left > 0.0);
        }
        sig.set_bool(self.sig_stopped, stopped);
    }

    /// Moves every vehicle one station forward and feeds a new one.
    fn index(&mut self, sig: &mut Signals) {
        if self.stations.last().is_some_and(|s| s.vehicle.is_some()) {
            self.produced += 1;
        }
        for s in (1..self.stations.len()).rev() {
            let v = self.stations[s - 1].vehicle.take();
            self.stations[s].vehicle = v;
        }
        let v = self.new_vehicle();
        self.stations[0].vehicle = Some(v);
        for st in &mut self.stations {
            st.work_s = round_to(self.rng.range(0.75, 0.98) * self.takt, 1);
            if self.rng.unit() < ANDON_PROB_PER_CYCLE {
                st.andon_left = self.rng.range(5.0, 40.0);
            }
            let (vin, order) = st.vehicle.as_ref().map(|(v, o)| (v.as_str(), o.as_str())).unwrap_or(("", ""));
            sig.set_text(st.sig_vin, vin);
            sig.set_text(st.sig_order, order);
            if !vin.is_empty() {
                sig.set_f64(st.sig_cycle_time, st.work_s);
            }
        }
        sig.set_f64(self.sig_takt, self.takt);
        sig.set_i64(self.sig_output, self.produced);
    }

    /// Sets the takt time (seconds).
    pub fn set_takt(&mut self, sig: &mut Signals, seconds: f64) {
        self.takt = seconds;
        sig.set_f64(self.sig_takt, seconds);
    }

    /// Clears station `station`'s fault (as a repair would: its next failure is drawn) and andon, and
    /// serves the result at once; the line runs again if nothing else stops it.
    pub fn acknowledge(&mut self, sig: &mut Signals, station: usize) -> Acknowledgement {
        let st = &mut self.stations[station];
        let ack = Acknowledgement { fault_code: st.faults.clear(), andon: st.andon_left > 0.0 };
        st.andon_left = 0.0;
        let stopped = self.on_break || self.stations.iter().any(|st| st.faults.code != 0 || st.andon_left > 0.0);
        self.publish(sig, stopped);
        ack
    }
}
