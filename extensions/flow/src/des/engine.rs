//! The discrete-event engine for serial lines with blocking after service.
//!
//! Events sit in a binary heap ordered by time and then by insertion. A station pulls its next job when it is
//! starved; a finished job moves into the link after the station if the link has room (a link of capacity 0
//! hands the job straight to an idle next station), otherwise the station is blocked until room frees up.
//! Failures are operation-dependent: the busy time to the next failure is exponential with mean MTBF; the
//! repair then takes a draw of MTTR. Processing and repairs advance in working time of the shift calendar.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::des::calendar::Calendar;
use crate::des::dist::Dist;
use crate::des::model::{LineModel, Source};
use crate::des::rng::Rng;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starved,
    Busy,
    Down,
    Blocked,
}

#[derive(Debug, Clone, Copy)]
struct Job {
    variant: u16,
    arrived: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Arrival,
    Done(u32),
    Fail(u32),
    Repaired(u32),
    LinkReady(u32),
}

struct Item {
    t: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    // Reversed: the heap pops the earliest event, ties in insertion order.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

/// Statistics of one station over the measured window (shares of working time).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StationStats {
    pub name: String,
    pub utilisation: f64,
    pub down: f64,
    pub blocked: f64,
    pub starved: f64,
    /// Mean length of the active periods (busy or down, uninterrupted), seconds.
    pub mean_active_period_s: f64,
    pub jobs: u64,
}

/// Results of one replication.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunStats {
    /// Jobs leaving the line per working hour of the measured window.
    pub throughput_per_h: f64,
    pub completed: u64,
    /// Time-average number of jobs in the line (queue, stations, links).
    pub wip: f64,
    /// Mean wait in the source queue before the first station, seconds (0 with a saturated source).
    pub mean_queue_wait_s: f64,
    /// Mean time from arrival (or release) to leaving the line, seconds.
    pub mean_flow_time_s: f64,
    /// Index of the bottleneck by the active-period method (longest mean active period).
    pub bottleneck: usize,
    pub stations: Vec<StationStats>,
    /// Events the engine processed.
    pub events: u64,
}

struct Sta {
    times: Vec<Dist>,
    failures: Option<(f64, Dist)>,
    cap: usize,
    transport: f64,
    state: State,
    since: f64,
    job: Option<Job>,
    remaining: f64,
    ttf: f64,
    active_since: f64,
    acc: [f64; 4],
    active_sum: f64,
    active_n: u64,
    jobs: u64,
}

/// A line ready to simulate (model compiled once, run many times).
pub struct Sim {
    model: LineModel,
    calendar: Calendar,
    cum_shares: Vec<f64>,
}

struct Run<'a> {
    sim: &'a Sim,
    rng: Rng,
    heap: BinaryHeap<Item>,
    seq: u64,
    st: Vec<Sta>,
    links: Vec<VecDeque<(f64, Job)>>,
    queue: VecDeque<Job>,
    warm: f64,
    end: f64,
    in_system: u64,
    wip_last: f64,
    wip_area: f64,
    completed: u64,
    flow_sum: f64,
    started: u64,
    wait_sum: f64,
    events: u64,
}

impl Sim {
    /// Validates and compiles a model.
    pub fn new(model: &LineModel) -> Result<Self> {
        model.validate()?;
        let calendar = match &model.calendar {
            Some(c) => Calendar::from_spec(c)
                .map_err(|e| crate::FlowError::invalid(format!("model {:?}: calendar", model.name), e))?,
            None => Calendar::always(),
        };
        let total: f64 = model.variants.iter().map(|v| v.share).sum();
        let mut acc = 0.0;
        let cum_shares = model
            .variants
            .iter()
            .map(|v| {
                acc += v.share / total;
                acc
            })
            .collect();
        Ok(Sim { model: model.clone(), calendar, cum_shares })
    }

    /// The model simulated.
    pub fn model(&self) -> &LineModel {
        &self.model
    }

    /// Runs one replication with its own random stream.
    pub fn run(&self, seed: u64, replication: u64) -> RunStats {
        let m = &self.model;
        let nv = m.variants.len().max(1);
        let st = m
            .stations
            .iter()
            .map(|s| {
                let times = (0..nv)
                    .map(|v| m.variants.get(v).and_then(|x| s.time_by_variant.get(&x.name)).copied().unwrap_or(s.time))
                    .collect();
                let link = s.next.clone().unwrap_or(crate::des::model::Link { capacity: 0, transport_s: 0.0 });
                Sta {
                    times,
                    failures: s.failures.as_ref().map(|f| (f.mtbf_s, f.mttr)),
                    cap: link.capacity,
                    transport: link.transport_s,
                    state: State::Starved,
                    since: 0.0,
                    job: None,
                    remaining: 0.0,
                    ttf: f64::INFINITY,
                    active_since: 0.0,
                    acc: [0.0; 4],
                    active_sum: 0.0,
                    active_n: 0,
                    jobs: 0,
                }
            })
            .collect();
        let warm = m.warmup_h * 3600.0;
        let r = Run {
            sim: self,
            rng: Rng::new(seed, replication),
            heap: BinaryHeap::new(),
            seq: 0,
            st,
            links: vec![VecDeque::new(); m.stations.len()],
            queue: VecDeque::new(),
            warm,
            end: warm + m.horizon_h * 3600.0,
            in_system: 0,
            wip_last: 0.0,
            wip_area: 0.0,
            completed: 0,
            flow_sum: 0.0,
            started: 0,
            wait_sum: 0.0,
            events: 0,
        };
        r.simulate()
    }
}

impl Run<'_> {
    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Item { t, seq: self.seq, ev });
    }

    fn clip(&self, t: f64) -> f64 {
        t.clamp(self.warm, self.end)
    }

    fn working(&self, a: f64, b: f64) -> f64 {
        self.sim.calendar.working_between(self.clip(a), self.clip(b))
    }

    fn set_state(&mut self, i: usize, new: State, now: f64) {
        let old = self.st[i].state;
        let w = self.working(self.st[i].since, now);
        let s = &mut self.st[i];
        s.acc[old as usize] += w;
        s.since = now;
        s.state = new;
        let active = |x: State| matches!(x, State::Busy | State::Down);
        if !active(old) && active(new) {
            self.st[i].active_since = now;
        } else if active(old) && !active(new) {
            self.close_active(i, now);
        }
    }

    fn close_active(&mut self, i: usize, now: f64) {
        if now > self.warm {
            let len = self.sim.calendar.working_between(self.st[i].active_since, now);
            self.st[i].active_sum += len;
            self.st[i].active_n += 1;
        }
    }

    fn wip(&mut self, now: f64, delta: i64) {
        let c = self.clip(now);
        self.wip_area += self.in_system as f64 * (c - self.wip_last);
        self.wip_last = c;
        self.in_system = (self.in_system as i64 + delta) as u64;
    }

    fn sample_variant(&mut self) -> u16 {
        let cum = &self.sim.cum_shares;
        if cum.len() <= 1 {
            return 0;
        }
        let u = self.rng.uniform();
        cum.iter().position(|&c| u <= c).unwrap_or(cum.len() - 1) as u16
    }

    /// Continues the work of station `i`: either it completes or a failure interrupts it.
    fn work(&mut self, i: usize, now: f64) {
        let s = &mut self.st[i];
        let w = s.remaining;
        if s.ttf < w {
            let ttf = s.ttf;
            s.remaining -= ttf;
            s.ttf = 0.0;
            let t = self.sim.calendar.advance(now, ttf);
            self.push(t, Ev::Fail(i as u32));
        } else {
            s.ttf -= w;
            s.remaining = 0.0;
            let t = self.sim.calendar.advance(now, w);
            self.push(t, Ev::Done(i as u32));
        }
    }

    fn try_start(&mut self, i: usize, now: f64) {
        if self.st[i].state != State::Starved {
            return;
        }
        let job = if i == 0 {
            match self.sim.model.source {
                Source::Saturated => {
                    let variant = self.sample_variant();
                    self.wip(now, 1);
                    Job { variant, arrived: now }
                }
                Source::Arrivals { .. } => match self.queue.pop_front() {
                    Some(j) => j,
                    None => return,
                },
            }
        } else {
            match self.links[i - 1].front() {
                Some(&(ready, j)) if ready <= now => {
                    self.links[i - 1].pop_front();
                    j
                }
                None if self.st[i - 1].state == State::Blocked => {
                    // A link of capacity 0: the blocked upstream station hands its job over directly.
                    self.release(i - 1, now);
                    return;
                }
                _ => return,
            }
        };
        if i == 0 && now >= self.warm {
            self.started += 1;
            self.wait_sum += now - job.arrived;
        }
        let d = self.st[i].times[job.variant as usize];
        let p = d.sample(&mut self.rng);
        let s = &mut self.st[i];
        s.job = Some(job);
        s.remaining = p;
        if s.ttf.is_infinite() {
            if let Some((mtbf, _)) = s.failures {
                s.ttf = self.rng.exp(mtbf);
            }
        }
        self.set_state(i, State::Busy, now);
        self.work(i, now);
        if i > 0 && self.st[i - 1].state == State::Blocked {
            self.release(i - 1, now);
        }
    }

    /// Moves the finished job of station `i` downstream if there is room; returns false when blocked.
    fn release(&mut self, i: usize, now: f64) -> bool {
        let last = self.st.len() - 1;
        let Some(job) = self.st[i].job else {
            return true;
        };
        if i == last {
            self.st[i].job = None;
            if now > self.warm {
                self.completed += 1;
                self.flow_sum += now - job.arrived;
            }
            self.wip(now, -1);
            self.set_state(i, State::Starved, now);
            self.try_start(i, now);
            return true;
        }
        let (cap, transport) = (self.st[i].cap, self.st[i].transport);
        let direct = cap == 0 && self.links[i].is_empty() && self.st[i + 1].state == State::Starved;
        if self.links[i].len() >= cap && !direct {
            if self.st[i].state != State::Blocked {
                self.set_state(i, State::Blocked, now);
            }
            return false;
        }
        self.st[i].job = None;
        self.links[i].push_back((now + transport, job));
        self.set_state(i, State::Starved, now);
        if transport > 0.0 {
            self.push(now + transport, Ev::LinkReady(i as u32));
        } else {
            self.try_start(i + 1, now);
        }
        self.try_start(i, now);
        true
    }

    fn simulate(mut self) -> RunStats {
        if let Source::Arrivals { interarrival } = self.sim.model.source {
            let t = interarrival.sample(&mut self.rng);
            self.push(t, Ev::Arrival);
        } else {
            self.try_start(0, 0.0);
        }
        while let Some(Item { t, ev, .. }) = self.heap.pop() {
            if t > self.end {
                break;
            }
            self.events += 1;
            match ev {
                Ev::Arrival => {
                    let variant = self.sample_variant();
                    self.wip(t, 1);
                    self.queue.push_back(Job { variant, arrived: t });
                    if let Source::Arrivals { interarrival } = self.sim.model.source {
                        let next = t + interarrival.sample(&mut self.rng);
                        self.push(next, Ev::Arrival);
                    }
                    self.try_start(0, t);
                }
                Ev::Done(i) => {
                    let i = i as usize;
                    if t > self.warm {
                        self.st[i].jobs += 1;
                    }
                    self.release(i, t);
                }
                Ev::Fail(i) => {
                    let i = i as usize;
                    self.set_state(i, State::Down, t);
                    let repair = self.st[i].failures.map_or(0.0, |(_, d)| d.sample(&mut self.rng));
                    let at = self.sim.calendar.advance(t, repair);
                    self.push(at, Ev::Repaired(i as u32));
                }
                Ev::Repaired(i) => {
                    let i = i as usize;
                    if let Some((mtbf, _)) = self.st[i].failures {
                        self.st[i].ttf = self.rng.exp(mtbf);
                    }
                    self.set_state(i, State::Busy, t);
                    self.work(i, t);
                }
                Ev::LinkReady(i) => self.try_start(i as usize + 1, t),
            }
        }
        self.finish()
    }

    fn finish(mut self) -> RunStats {
        let end = self.end;
        self.wip(end, 0);
        let window = self.sim.calendar.working_between(self.warm, end);
        for i in 0..self.st.len() {
            let s = self.st[i].state;
            self.set_state(i, s, end);
            if matches!(s, State::Busy | State::Down) {
                self.close_active(i, end);
            }
        }
        let stations: Vec<StationStats> = self
            .st
            .iter()
            .zip(&self.sim.model.stations)
            .map(|(s, spec)| StationStats {
                name: spec.name.clone(),
                utilisation: s.acc[State::Busy as usize] / window,
                down: s.acc[State::Down as usize] / window,
                blocked: s.acc[State::Blocked as usize] / window,
                starved: s.acc[State::Starved as usize] / window,
                mean_active_period_s: if s.active_n > 0 { s.active_sum / s.active_n as f64 } else { 0.0 },
                jobs: s.jobs,
            })
            .collect();
        let bottleneck = stations
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.mean_active_period_s.total_cmp(&b.1.mean_active_period_s))
            .map_or(0, |(i, _)| i);
        RunStats {
            throughput_per_h: self.completed as f64 / (window / 3600.0),
            completed: self.completed,
            wip: self.wip_area / (end - self.warm),
            mean_queue_wait_s: if self.started > 0 { self.wait_sum / self.started as f64 } else { 0.0 },
            mean_flow_time_s: if self.completed > 0 { self.flow_sum / self.completed as f64 } else { 0.0 },
            bottleneck,
            stations,
            events: self.events,
        }
    }
}
