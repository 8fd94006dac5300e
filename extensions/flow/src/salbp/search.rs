//! Station-oriented branch, bound and remember for one direction of a SALBP-1 instance.
//!
//! A [`Dir`] is the instance renumbered in topological order (forward, or on the reversed graph). The search
//! answers "can all tasks be placed on `m` stations?": it fills stations one at a time with load-maximal
//! task sets (no further available task fits), prunes by the idle-time budget `m·c − Σt`, by earliest and
//! latest stations from the precedence graph, by the LB2/LB3 and Martello–Toth L2 bounds on the remaining
//! tasks, and remembers every set of assigned tasks already proven to fail (memory-based dominance).
//! [`Decide`] searches depth-first; [`Cbfs`] answers the same question by cyclic best-first search over the
//! same station loads and bounds (it finds tight balances that the depth-first order misses).

use std::time::Instant;

use crate::salbp::bitset::{self as bs, Set, SetMap};
use crate::salbp::bounds::{ceil_div, martello_toth_l2_sorted, sixths};
use crate::salbp::instance::Instance;

/// One direction of an instance, ready for the search.
pub struct Dir<const W: usize> {
    pub n: usize,
    pub c: u64,
    /// Internal index -> original task index.
    pub orig: Vec<usize>,
    pub t: Vec<u64>,
    pub pred: Vec<Set<W>>,
    /// Earliest station (1-based) from the task and all its predecessors.
    pub e: Vec<u32>,
    /// Stations needed by the task and all its successors; the latest station is `m + 1 - q`.
    pub q: Vec<u32>,
    pub w2: Vec<u8>,
    pub w3: Vec<u8>,
    /// Tasks that must not share a station with the task.
    pub apart: Vec<Set<W>>,
    pub together: Vec<(usize, usize)>,
    pub full: Set<W>,
    pub total: u64,
    /// Only load-maximal station loads are branched on (valid without zoning constraints).
    pub maximal: bool,
    /// Direct successors of each task.
    pub succ: Vec<Set<W>>,
    /// Tasks that dominate each task (Jackson): at least as long, a superset of its successors (ties by number).
    pub dominators: Vec<Vec<usize>>,
    /// Tasks by increasing time.
    pub by_time: Vec<usize>,
}

impl<const W: usize> Dir<W> {
    /// Builds the direction from an instance that was validated and whose task times all fit `c`.
    pub fn new(inst: &Instance, c: u64) -> Self {
        let n = inst.len();
        let order = positional_weight_order(inst);
        let mut pos = vec![0; n];
        for (i, &o) in order.iter().enumerate() {
            pos[o] = i;
        }
        let t: Vec<u64> = order.iter().map(|&o| inst.times[o]).collect();
        let mut pred = vec![[0u64; W]; n];
        let mut succ = vec![[0u64; W]; n];
        for &(a, b) in &inst.precedences {
            bs::insert(&mut pred[pos[b]], pos[a]);
            bs::insert(&mut succ[pos[a]], pos[b]);
        }
        // Transitive closures in topological order.
        let mut pred_all = pred.clone();
        for j in 0..n {
            let mut acc = pred_all[j];
            bs::for_each(&pred[j], |p| acc = bs::union(&acc, &pred_all[p]));
            pred_all[j] = acc;
        }
        let mut succ_all = succ.clone();
        for j in (0..n).rev() {
            let mut acc = succ_all[j];
            bs::for_each(&succ[j], |s| acc = bs::union(&acc, &succ_all[s]));
            succ_all[j] = acc;
        }
        let sum = |s: &Set<W>| {
            let mut x = 0;
            bs::for_each(s, |k| x += t[k]);
            x
        };
        let e = (0..n)
            .map(|j| ceil_div(t[j] + sum(&pred_all[j]), c) as u32)
            .collect();
        let q = (0..n)
            .map(|j| ceil_div(t[j] + sum(&succ_all[j]), c) as u32)
            .collect();
        let (w2, w3) = t.iter().map(|&x| sixths(x, c)).unzip();
        let mut apart = vec![[0u64; W]; n];
        for &(a, b) in &inst.zoning.apart {
            bs::insert(&mut apart[pos[a]], pos[b]);
            bs::insert(&mut apart[pos[b]], pos[a]);
        }
        let together = inst
            .zoning
            .together
            .iter()
            .map(|&(a, b)| (pos[a], pos[b]))
            .collect();
        let dominators = (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| {
                        j != i
                            && t[j] >= t[i]
                            && bs::is_subset(&succ_all[i], &succ_all[j])
                            && (t[j] > t[i] || succ_all[i] != succ_all[j] || j < i)
                    })
                    .collect()
            })
            .collect();
        let mut by_time: Vec<usize> = (0..n).collect();
        by_time.sort_by_key(|&j| t[j]);
        Dir {
            n,
            c,
            orig: order,
            total: t.iter().sum(),
            t,
            pred,
            e,
            q,
            w2,
            w3,
            apart,
            together,
            full: bs::full(n),
            maximal: inst.zoning.is_empty(),
            succ,
            dominators,
            by_time,
        }
    }

    /// LB2/LB3 of the tasks not in `done`.
    fn lb_rest(&self, done: &Set<W>) -> u32 {
        let (mut s2, mut s3) = (0u32, 0u32);
        bs::for_each(&bs::minus(&self.full, done), |j| {
            s2 += self.w2[j] as u32;
            s3 += self.w3[j] as u32;
        });
        s2.max(s3).div_ceil(6)
    }

    /// Martello and Toth's L2 bin-packing bound on the tasks not in `done`.
    fn l2_rest(&self, done: &Set<W>) -> u32 {
        let ts: Vec<u64> = self
            .by_time
            .iter()
            .filter(|&&j| !bs::contains(done, j))
            .map(|&j| self.t[j])
            .collect();
        martello_toth_l2_sorted(&ts, self.c) as u32
    }

    /// Candidate test: `j` (not yet placed) can join the open station.
    #[inline]
    fn fits(&self, j: usize, done: &Set<W>, load: &Set<W>, cap: u64, station: u32) -> bool {
        self.t[j] <= cap
            && self.e[j] <= station
            && bs::is_subset(&self.pred[j], done)
            && !bs::intersects(&self.apart[j], load)
    }

    /// True when a station load respects the must-share pairs (both or neither in the load).
    fn together_ok(&self, load: &Set<W>) -> bool {
        self.together
            .iter()
            .all(|&(a, b)| bs::contains(load, a) == bs::contains(load, b))
    }
}

/// How one search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Found,
    Fail,
    Abort,
}

/// The decision search "all tasks on `m` stations?" with its memory.
pub struct Decide<'a, const W: usize> {
    pub dir: &'a Dir<W>,
    pub m: u32,
    idle_budget: u64,
    /// `lmask[s]`: tasks whose latest station is at most `s`.
    lmask: Vec<Set<W>>,
    /// Sets of assigned tasks proven to fail, with the fewest stations they failed with.
    pub memo: SetMap<W, u32>,
    /// Search steps taken: one per partial station load enumerated.
    pub nodes: u64,
    node_limit: u64,
    deadline: Option<Instant>,
    /// Station loads of the solution found, last station first.
    pub loads: Vec<Set<W>>,
    /// When set, states reached by closing a station are collected here instead of being searched (the
    /// best-first search expands them later); `memo` then holds every state already queued.
    collect: Option<Vec<Set<W>>>,
}

/// Stop remembering new states beyond this many (bounds memory at a few GiB on the largest sets).
const MEMO_CAP: usize = 30_000_000;

impl<'a, const W: usize> Decide<'a, W> {
    pub fn new(dir: &'a Dir<W>, m: u32, deadline: Option<Instant>) -> Self {
        let mut lmask = vec![[0u64; W]; m as usize + 2];
        for (s, mask) in lmask.iter_mut().enumerate() {
            for j in 0..dir.n {
                // latest station m + 1 - q <= s
                if (m as u64) < s as u64 + dir.q[j] as u64 {
                    bs::insert(mask, j);
                }
            }
        }
        Decide {
            dir,
            m,
            idle_budget: (m as u64 * dir.c).saturating_sub(dir.total),
            lmask,
            memo: SetMap::default(),
            nodes: 0,
            node_limit: u64::MAX,
            deadline,
            loads: Vec::new(),
            collect: None,
        }
    }

    /// Runs the search with at most `node_limit` more search steps; the memory carries over between runs.
    pub fn run(&mut self, node_limit: u64) -> Outcome {
        let d = self.dir;
        if d.total > self.m as u64 * d.c {
            return Outcome::Fail;
        }
        self.node_limit = self.nodes.saturating_add(node_limit);
        self.loads.clear();
        let zero = [0u64; W];
        if bs::intersects(&self.lmask[0], &d.full) || d.lb_rest(&zero) > self.m {
            return Outcome::Fail;
        }
        self.station(&zero, 0, 0)
    }

    fn station(&mut self, assigned: &Set<W>, k: u32, idle: u64) -> Outcome {
        let need = self.dir.c - (self.idle_budget - idle).min(self.dir.c);
        let d = self.dir;
        let mut load = [0u64; W];
        let mut avail = [0u64; W];
        bs::for_each(&bs::minus(&d.full, assigned), |j| {
            if bs::is_subset(&d.pred[j], assigned) {
                bs::insert(&mut avail, j);
            }
        });
        // suffix[j]: time of the unplaced tasks numbered j or more (the most that can still join a load whose
        // next task is numbered j or more).
        let mut suffix = vec![0u64; d.n + 1];
        for j in (0..d.n).rev() {
            suffix[j] = suffix[j + 1] + if bs::contains(assigned, j) { 0 } else { d.t[j] };
        }
        self.gen(assigned, k, idle, need, &mut load, 0, 0, &avail, &suffix)
    }

    /// Enumerates the loads of station `k + 1` that extend `load` with tasks numbered `start` or more and fill
    /// it to at least `need` (load-maximal ones only, unless zoning is present), and continues the search
    /// from each, trying tasks of higher positional weight first. `avail`: the unplaced tasks whose predecessors
    /// are all placed (kept up to date as tasks join the load, so only those are scanned).
    #[allow(clippy::too_many_arguments)]
    fn gen(
        &mut self,
        assigned: &Set<W>,
        k: u32,
        idle: u64,
        need: u64,
        load: &mut Set<W>,
        load_t: u64,
        start: usize,
        avail: &Set<W>,
        suffix: &[u64],
    ) -> Outcome {
        self.nodes += 1;
        if self.nodes > self.node_limit {
            return Outcome::Abort;
        }
        if self.nodes & 4095 == 0 && self.deadline.is_some_and(|dl| Instant::now() >= dl) {
            return Outcome::Abort;
        }
        let d = self.dir;
        let done = bs::union(assigned, load);
        // Work that could still join this load (the load's tasks are all numbered below `start`): enough?
        if load_t + suffix[start] < need {
            return Outcome::Fail;
        }
        let cap = d.c - load_t;
        let station = k + 1;
        let mut any_fit = false;
        let mut cands = [0u64; W];
        bs::for_each(avail, |j| {
            if d.t[j] <= cap && d.e[j] <= station && !bs::intersects(&d.apart[j], load) {
                any_fit = true;
                if j >= start {
                    bs::insert(&mut cands, j);
                }
            }
        });
        while let Some(j) = bs::pop_first(&mut cands) {
            bs::insert(load, j);
            let mut next = *avail;
            bs::remove(&mut next, j);
            bs::for_each(&d.succ[j], |s| {
                if bs::is_subset(&d.pred[s], &bs::union(&done, load)) {
                    bs::insert(&mut next, s);
                }
            });
            let r = self.gen(
                assigned,
                k,
                idle,
                need,
                load,
                load_t + d.t[j],
                j + 1,
                &next,
                suffix,
            );
            bs::remove(load, j);
            if r != Outcome::Fail {
                return r;
            }
        }
        if (any_fit && d.maximal) || load_t == 0 || load_t < need {
            return Outcome::Fail;
        }
        if d.maximal && self.dominated(assigned, load, d.c - load_t, station) {
            return Outcome::Fail;
        }
        self.emit(assigned, k, idle + (d.c - load_t), load)
    }

    /// Jackson's dominance rule: the load is dominated when a task `i` in it, with no successor in the load, can
    /// be swapped for an unplaced, available task `j` that dominates it and still fits (`slack` = idle time).
    fn dominated(&self, assigned: &Set<W>, load: &Set<W>, slack: u64, station: u32) -> bool {
        let d = self.dir;
        let done = bs::union(assigned, load);
        let mut found = false;
        bs::for_each(load, |i| {
            if found || bs::intersects(&d.succ[i], load) {
                return;
            }
            found = d.dominators[i].iter().any(|&j| {
                !bs::contains(&done, j)
                    && d.t[j] - d.t[i] <= slack
                    && d.e[j] <= station
                    && bs::is_subset(&d.pred[j], &done)
            });
        });
        found
    }

    /// Closes station `k + 1` with `load` and continues with the next station.
    fn emit(&mut self, assigned: &Set<W>, k: u32, idle: u64, load: &Set<W>) -> Outcome {
        let d = self.dir;
        if !d.together_ok(load) {
            return Outcome::Fail;
        }
        let done = bs::union(assigned, load);
        let k2 = k + 1;
        if done == d.full {
            self.loads.push(*load);
            return Outcome::Found;
        }
        if k2 >= self.m {
            return Outcome::Fail;
        }
        let open = bs::minus(&d.full, &done);
        if bs::intersects(&open, &self.lmask[k2 as usize]) {
            return Outcome::Fail;
        }
        if self.memo.get(&done).is_some_and(|&kk| kk <= k2) {
            return Outcome::Fail;
        }
        let r = if k2 + d.lb_rest(&done) > self.m || k2 + d.l2_rest(&done) > self.m {
            Outcome::Fail
        } else if let Some(out) = self.collect.as_mut() {
            out.push(done);
            Outcome::Fail
        } else {
            self.station(&done, k2, idle)
        };
        match r {
            Outcome::Found => self.loads.push(*load),
            Outcome::Fail => {
                if self.memo.len() < MEMO_CAP {
                    self.memo.insert(done, k2);
                }
            }
            Outcome::Abort => {}
        }
        r
    }
}

/// The best-first search stops (without a verdict) once it holds this many states (about 1 GiB at most).
const CBFS_CAP: usize = 5_000_000;

/// Cyclic best-first search (Morrison, Sewell & Jacobson 2014) for the same decision: one queue of states per
/// number of closed stations, taken in turn (station 0, 1, …, wrapping round), each giving its state with the
/// least idle time; a state's children are all its station loads that pass the bounds. States already queued
/// are not queued again, so the search ends (Fail) once every reachable state was expanded.
pub struct Cbfs<'a, const W: usize> {
    pub dec: Decide<'a, W>,
    /// Per level: (assigned work, -sequence, assigned tasks); the most work (least idle) first, then FIFO.
    queues: Vec<std::collections::BinaryHeap<(u64, std::cmp::Reverse<u64>, Set<W>)>>,
    parent: SetMap<W, Set<W>>,
    level: usize,
    seq: u64,
    started: bool,
}

impl<'a, const W: usize> Cbfs<'a, W> {
    pub fn new(dir: &'a Dir<W>, m: u32, deadline: Option<Instant>) -> Self {
        let mut dec = Decide::new(dir, m, deadline);
        dec.collect = Some(Vec::new());
        Cbfs {
            dec,
            queues: (0..m.max(1)).map(|_| Default::default()).collect(),
            parent: SetMap::default(),
            level: 0,
            seq: 0,
            started: false,
        }
    }

    fn work(&self, s: &Set<W>) -> u64 {
        let mut x = 0;
        bs::for_each(s, |j| x += self.dec.dir.t[j]);
        x
    }

    /// Runs with at most `node_limit` more search steps; the queues carry over between runs.
    pub fn run(&mut self, node_limit: u64) -> Outcome {
        let d = self.dec.dir;
        let m = self.dec.m;
        let zero = [0u64; W];
        if !self.started {
            self.started = true;
            if d.total > m as u64 * d.c
                || bs::intersects(&self.dec.lmask[0], &d.full)
                || d.lb_rest(&zero) > m
            {
                return Outcome::Fail;
            }
            self.queues[0].push((0, std::cmp::Reverse(0), zero));
        }
        self.dec.node_limit = self.dec.nodes.saturating_add(node_limit);
        loop {
            if self.parent.len() >= CBFS_CAP {
                // Out of room: this search gives up (without a verdict), the depth-first ones go on.
                return Outcome::Abort;
            }
            let levels = self.queues.len();
            let Some(k) = (0..levels)
                .map(|i| (self.level + i) % levels)
                .find(|&k| !self.queues[k].is_empty())
            else {
                return Outcome::Fail;
            };
            self.level = (k + 1) % levels;
            let Some(entry) = self.queues[k].pop() else {
                return Outcome::Fail;
            };
            let s = entry.2;
            let idle = k as u64 * d.c - entry.0;
            self.dec.loads.clear();
            let r = self.dec.station(&s, k as u32, idle);
            if r == Outcome::Found {
                // The last load is in `loads`; the others are the differences along the parent chain.
                let mut cur = s;
                while let Some(&p) = self.parent.get(&cur) {
                    self.dec.loads.push(bs::minus(&cur, &p));
                    cur = p;
                }
                return r;
            }
            let children = self.dec.collect.take().unwrap_or_default();
            for &c in &children {
                self.parent.insert(c, s);
                let w = self.work(&c);
                self.seq += 1;
                if k + 1 < levels {
                    self.queues[k + 1].push((w, std::cmp::Reverse(self.seq), c));
                }
            }
            self.dec.collect = Some(Vec::with_capacity(children.len()));
            if r == Outcome::Abort {
                self.queues[k].push(entry);
                return r;
            }
        }
    }
}

/// Hoffmann's heuristic: fill each station with the fullest load found (enumeration capped per station).
/// Returns the station loads in order, or None when zoning blocks every load.
pub fn hoffmann<const W: usize>(d: &Dir<W>, per_station: u64) -> Option<Vec<Set<W>>> {
    let mut assigned = [0u64; W];
    let mut loads = Vec::new();
    while assigned != d.full {
        let mut best: Option<(u64, Set<W>)> = None;
        let mut budget = per_station;
        let mut load = [0u64; W];
        best_load(
            d,
            &assigned,
            loads.len() as u32 + 1,
            &mut load,
            0,
            &mut best,
            &mut budget,
        );
        let (_, l) = best?;
        assigned = bs::union(&assigned, &l);
        loads.push(l);
    }
    Some(loads)
}

#[allow(clippy::too_many_arguments)]
fn best_load<const W: usize>(
    d: &Dir<W>,
    assigned: &Set<W>,
    station: u32,
    load: &mut Set<W>,
    load_t: u64,
    best: &mut Option<(u64, Set<W>)>,
    budget: &mut u64,
) {
    if *budget == 0 || best.is_some_and(|(bt, _)| bt == d.c) {
        return;
    }
    *budget -= 1;
    let done = bs::union(assigned, load);
    let open = bs::minus(&d.full, &done);
    let mut cands = Vec::new();
    // The earliest-station rule is dropped here: a heuristic station count may exceed the bound it assumes.
    bs::for_each(&open, |j| {
        if d.fits(j, &done, load, d.c - load_t, u32::MAX) {
            cands.push(j);
        }
    });
    let _ = station;
    // Longest tasks first finds full loads sooner.
    cands.sort_by_key(|&j| std::cmp::Reverse(d.t[j]));
    for j in cands {
        bs::insert(load, j);
        best_load(d, assigned, station, load, load_t + d.t[j], best, budget);
        bs::remove(load, j);
    }
    if load_t > 0 && d.together_ok(load) && best.is_none_or(|(bt, _)| load_t > bt) {
        *best = Some((load_t, *load));
    }
}

/// Tasks by decreasing positional weight (own time plus all successors' times), a topological order when
/// times are positive; zero-time ties are broken by a topological rank so the order stays topological.
fn positional_weight_order(inst: &Instance) -> Vec<usize> {
    let n = inst.len();
    let topo = inst.topological_order().unwrap_or_else(|| (0..n).collect());
    let mut rank = vec![0; n];
    for (i, &o) in topo.iter().enumerate() {
        rank[o] = i;
    }
    let mut succ = vec![Vec::new(); n];
    for &(a, b) in &inst.precedences {
        succ[a].push(b);
    }
    let mut reach: Vec<Vec<bool>> = vec![Vec::new(); n];
    let mut pw = vec![0u64; n];
    for &j in topo.iter().rev() {
        let mut r = vec![false; n];
        for &s in &succ[j] {
            r[s] = true;
            for (x, &y) in r.iter_mut().zip(&reach[s]) {
                *x |= y;
            }
        }
        pw[j] = inst.times[j] + (0..n).filter(|&k| r[k]).map(|k| inst.times[k]).sum::<u64>();
        reach[j] = r;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&j| (std::cmp::Reverse(pw[j]), rank[j]));
    order
}
