//! Cyclic best-first search (Morrison, Sewell & Jacobson 2014) for the decision "all tasks on `m` stations?",
//! over the same station loads and bounds as the depth-first [`Decide`].
//!
//! One queue of states per number of closed stations is taken in turn (0, 1, …, wrapping round); each turn
//! expands the queue's best state: the least idle time per station, ties to the states with more tasks left
//! (Sewell and Jacobson's priority). States already queued are not queued again. An expansion generates at
//! most [`LOAD_CAP`] station loads at first, so the search dives quickly to good balances; the states cut
//! short are expanded again, with four times the room, whenever the queues run dry, so the search stays
//! complete: once no state is left, no balance exists.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::salbp::binpack::BinPacking;
use crate::salbp::bitset::{self as bs, Set};
use crate::salbp::dir::Dir;
use crate::salbp::search::{Decide, Outcome};

/// Station loads generated per expanded state at most.
const LOAD_CAP: u64 = 100;
/// Memory for the states, in bytes (about): beyond it the search stops without a verdict.
const STATE_BYTES: usize = 1 << 29;
/// Weight of a task left against the idle time per station in the priority (Sewell and Jacobson's 0.02).
const TASK_WEIGHT: f64 = 0.02;

/// A queued state: priority, then first come first served, then its index in `Cbfs::states`.
type Entry = (i64, Reverse<u32>, u32);

/// The cyclic best-first search with its queues.
pub struct Cbfs<'a, const W: usize> {
    pub dec: Decide<'a, W>,
    /// Every state queued so far: the placed tasks and the index of the state it came from.
    states: Vec<(Set<W>, u32)>,
    /// Per number of closed stations, the queued states.
    queues: Vec<BinaryHeap<Entry>>,
    level: usize,
    started: bool,
    /// States whose expansion was cut short by the load cap, with their station counts: expanded again, with a
    /// larger cap, once the queues run dry.
    deferred: Vec<(usize, u32)>,
    /// The most states it may hold.
    state_cap: usize,
    /// The search ran out of room without a verdict.
    exhausted: bool,
}

impl<'a, const W: usize> Cbfs<'a, W> {
    pub fn new(dir: &'a Dir<W>, packing: &'a RefCell<BinPacking>, m: u32, deadline: Option<Instant>) -> Self {
        let mut dec = Decide::new(dir, packing, m, deadline);
        dec.collect = Some(Vec::new());
        dec.load_cap = LOAD_CAP;
        Cbfs {
            dec,
            states: Vec::new(),
            queues: (0..m.max(1)).map(|_| BinaryHeap::new()).collect(),
            level: 0,
            started: false,
            deferred: Vec::new(),
            // A state is stored here and remembered in `dec`, and queued once.
            state_cap: STATE_BYTES / (2 * std::mem::size_of::<Set<W>>() + 40),
            exhausted: false,
        }
    }

    /// True once the search ran out of room for states (it can say nothing more).
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Priority of a state after `k` stations (higher first): least idle time per station, then most tasks
    /// left.
    fn priority(&self, placed: &Set<W>, k: usize) -> i64 {
        let d = self.dec.dir;
        let idle = (k as u64 * d.c - d.work(placed)) as f64;
        let left = (d.n as u32 - bs::count(placed)) as f64;
        let key = idle / k.max(1) as f64 - TASK_WEIGHT * left;
        (-key * 1e6) as i64
    }

    fn push(&mut self, placed: Set<W>, parent: u32, k: usize) {
        let index = self.states.len() as u32;
        let p = self.priority(&placed, k);
        self.states.push((placed, parent));
        if k < self.queues.len() {
            self.queues[k].push((p, Reverse(index), index));
        }
    }

    /// Runs with at most `budget` more steps; the queues carry over between runs.
    pub fn run(&mut self, budget: u64) -> Outcome {
        if self.exhausted {
            return Outcome::Abort;
        }
        if !self.started {
            self.started = true;
            if self.dec.root_fails() {
                return Outcome::Fail;
            }
            self.push([0u64; W], u32::MAX, 0);
        }
        self.dec.allow(budget);
        loop {
            let Some((k, entry)) = self.next_entry() else {
                if self.requeue_deferred() {
                    continue;
                }
                return Outcome::Fail;
            };
            let (placed, _) = self.states[entry.2 as usize];
            let idle = k as u64 * self.dec.dir.c - self.dec.dir.work(&placed);
            self.dec.loads.clear();
            self.dec.truncated = false;
            match self.dec.station(&placed, k as u32, idle) {
                Outcome::Found => {
                    self.trace_loads(entry.2);
                    return Outcome::Found;
                }
                Outcome::Abort => {
                    // Expand the state again next time (its children so far are queued, and remembered).
                    self.queue_children(entry.2, k);
                    self.queues[k].push(entry);
                    return Outcome::Abort;
                }
                Outcome::Fail => {
                    self.queue_children(entry.2, k);
                    if self.dec.truncated {
                        self.deferred.push((k, entry.2));
                    }
                }
            }
            if self.states.len() >= self.state_cap {
                self.exhausted = true;
                return Outcome::Abort;
            }
        }
    }

    /// The best entry of the next non-empty queue in turn, with its station count.
    fn next_entry(&mut self) -> Option<(usize, Entry)> {
        let levels = self.queues.len();
        let k = (0..levels).map(|i| (self.level + i) % levels).find(|&k| !self.queues[k].is_empty())?;
        self.level = (k + 1) % levels;
        Some((k, self.queues[k].pop()?))
    }

    /// Queues again the states whose expansion was cut short, to be expanded with room for four times as many
    /// loads; false when there are none (the search is complete).
    fn requeue_deferred(&mut self) -> bool {
        if self.deferred.is_empty() {
            return false;
        }
        self.dec.load_cap = self.dec.load_cap.saturating_mul(4);
        for (k, index) in std::mem::take(&mut self.deferred) {
            let p = self.priority(&self.states[index as usize].0, k);
            self.queues[k].push((p, Reverse(index), index));
        }
        true
    }

    fn queue_children(&mut self, parent: u32, k: usize) {
        let children = self.dec.collect.replace(Vec::new()).unwrap_or_default();
        for c in children {
            self.push(c, parent, k + 1);
        }
    }

    /// Completes `dec.loads` (which holds the last station) with the loads along the chain of states.
    fn trace_loads(&mut self, mut index: u32) {
        while let Some(&(placed, parent)) = self.states.get(index as usize) {
            let Some(&(before, _)) = self.states.get(parent as usize) else {
                break;
            };
            self.dec.loads.push(bs::minus(&placed, &before));
            index = parent;
        }
    }
}
