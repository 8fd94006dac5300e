//! Station-oriented branch, bound and remember: the decision "can all tasks be placed on `m` stations?" for
//! one direction of a SALBP-1 instance, as a depth-first search, and the station-load generation and state
//! bounds that the cyclic best-first search ([`crate::salbp::cbfs`]) shares.
//!
//! Stations are filled one at a time with task sets that are load-maximal (no further available task fits).
//! A partial load is cut when the tasks that could still join it cannot fill it to the idle-time budget
//! `m·c − Σt`, by their total or by the sums their subsets can reach; a complete load is cut by Jackson's
//! dominance rule and by the rule that stations of tasks without successors go last. A state (the set of
//! placed tasks after a closed station) is cut by the latest stations of the tasks left, by LB2/LB3,
//! Martello–Toth L2 and the quarter-weight bound on them, and by an exact bin packing of them while that pays
//! off. Every state proven to fail is remembered with its station count, so no subproblem is searched twice.

use std::cell::RefCell;
use std::time::Instant;

use crate::salbp::binpack::{BinPacking, PackingBound};
use crate::salbp::bitset::{self as bs, bits, Set, SetMap};
use crate::salbp::dir::Dir;

/// How one search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A balance with at most `m` stations (in [`Decide::loads`]).
    Found,
    /// No balance with `m` stations exists (or, in best-first mode, the load generation is exhausted).
    Fail,
    /// The step budget or the deadline ran out.
    Abort,
}

/// Memory for remembered states, in bytes (about; beyond it no new state is remembered).
const MEMO_BYTES: usize = 1 << 29;
/// Largest table of reachable load sums per station, in 64-bit words (larger ones are not built).
const SUMS_WORDS: usize = 1 << 17;

/// The decision search "all tasks on `m` stations?" with its memory.
pub struct Decide<'a, const W: usize> {
    pub dir: &'a Dir<W>,
    pub m: u32,
    idle_budget: u64,
    /// `lmask[s]`: tasks whose latest station is at most `s`.
    lmask: Vec<Set<W>>,
    /// Sets of placed tasks proven to fail, with the fewest stations they failed with (in best-first mode:
    /// every state collected, so that none is collected twice).
    memo: SetMap<W, u32>,
    memo_cap: usize,
    /// Work done: one step per partial station load, plus the cost of the bounds evaluated on states.
    pub steps: u64,
    step_limit: u64,
    /// Steps charged for evaluating the bounds on one state.
    bound_cost: u64,
    deadline: Option<Instant>,
    /// Station loads of the solution found, last station first.
    pub loads: Vec<Set<W>>,
    /// Best-first mode: the states reached by closing a station are collected here instead of searched.
    pub(crate) collect: Option<Vec<Set<W>>>,
    /// Best-first mode: at most this many complete loads are generated per state (then `truncated` is set).
    pub(crate) load_cap: u64,
    loads_generated: u64,
    pub(crate) truncated: bool,
    scratch: Vec<u64>,
    /// Per station number, the reusable rows of reachable load sums.
    sums: Vec<Vec<u64>>,
    packing: PackingBound<'a>,
}

impl<'a, const W: usize> Decide<'a, W> {
    /// The search on `dir` for `m` stations; `packing` is the instance's bin-packing memory (shared).
    pub fn new(dir: &'a Dir<W>, packing: &'a RefCell<BinPacking>, m: u32, deadline: Option<Instant>) -> Self {
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
            memo_cap: MEMO_BYTES / (std::mem::size_of::<Set<W>>() + 16),
            steps: 0,
            step_limit: u64::MAX,
            bound_cost: 1 + dir.n as u64 / 16,
            deadline,
            loads: Vec::new(),
            collect: None,
            load_cap: u64::MAX,
            loads_generated: 0,
            truncated: false,
            scratch: Vec::with_capacity(dir.n),
            sums: vec![Vec::new(); m as usize + 1],
            packing: PackingBound::new(packing, &dir.t),
        }
    }

    /// True when the root state already fails the bounds.
    pub(crate) fn root_fails(&self) -> bool {
        let d = self.dir;
        d.total > self.m as u64 * d.c || bs::intersects(&self.lmask[0], &d.full) || d.lb_rest(&[0u64; W]) > self.m
    }

    /// Sets the step limit to `budget` more steps.
    pub(crate) fn allow(&mut self, budget: u64) {
        self.step_limit = self.steps.saturating_add(budget);
    }

    /// Runs the search with at most `budget` more steps; the memory carries over between runs.
    pub fn run(&mut self, budget: u64) -> Outcome {
        if self.root_fails() {
            return Outcome::Fail;
        }
        self.allow(budget);
        self.loads.clear();
        self.station(&[0u64; W], 0, 0)
    }

    /// Searches the loads of station `k + 1` after the tasks `assigned` were placed on `k` stations with
    /// `idle` idle time.
    pub(crate) fn station(&mut self, assigned: &Set<W>, k: u32, idle: u64) -> Outcome {
        let d = self.dir;
        let need = d.c - (self.idle_budget - idle).min(d.c);
        let avail = d.available(assigned);
        let joinable = d.joinable(assigned);
        // suffix[j]: time of the tasks numbered j or more that can join this station (the most that can still
        // join a load whose next task is numbered j or more).
        let mut suffix = vec![0u64; d.n + 1];
        for j in (0..d.n).rev() {
            suffix[j] = suffix[j + 1] + if bs::contains(&joinable, j) { d.t[j] } else { 0 };
        }
        // Depth-first search needs a table per station on its path; best-first expands one state at a time.
        let level = if self.collect.is_some() { 0 } else { k as usize };
        let mut sums = std::mem::take(&mut self.sums[level]);
        subset_sums(d, &joinable, &mut sums);
        self.loads_generated = 0;
        let mut open = OpenStation {
            assigned,
            k,
            idle,
            need,
            suffix: &suffix,
            sums: &sums,
            words: d.c as usize / 64 + 1,
            load: [0u64; W],
        };
        let r = self.gen(&mut open, 0, 0, &avail);
        self.sums[level] = sums;
        r
    }

    /// Enumerates the loads of the open station that extend its load with tasks numbered `start` or more and
    /// fill it to at least `need` (load-maximal ones only, unless zoning is present), and continues the search
    /// from each, trying tasks of higher positional weight first. `avail`: the unplaced tasks whose
    /// predecessors are all placed (kept up to date as tasks join the load, so only those are scanned).
    fn gen(&mut self, open: &mut OpenStation<W>, load_t: u64, start: usize, avail: &Set<W>) -> Outcome {
        self.steps += 1;
        if self.steps > self.step_limit {
            return Outcome::Abort;
        }
        if self.steps & 4095 == 0 && self.deadline.is_some_and(|dl| Instant::now() >= dl) {
            return Outcome::Abort;
        }
        if self.loads_generated >= self.load_cap {
            self.truncated = true;
            return Outcome::Fail;
        }
        let d = self.dir;
        // Work that could still join this load (the load's tasks are all numbered below `start`): enough?
        if load_t + open.suffix[start] < open.need || !open.can_reach(load_t, start, d.c) {
            return Outcome::Fail;
        }
        let cap = d.c - load_t;
        let station = open.k + 1;
        let mut any_fit = false;
        let mut cands = [0u64; W];
        bs::for_each(avail, |j| {
            if d.t[j] <= cap && d.e[j] <= station && !bs::intersects(&d.apart[j], &open.load) {
                any_fit = true;
                if j >= start {
                    bs::insert(&mut cands, j);
                }
            }
        });
        if cands == [0u64; W] {
            self.loads_generated += 1;
        }
        let done = bs::union(open.assigned, &open.load);
        while let Some(j) = bs::pop_first(&mut cands) {
            bs::insert(&mut open.load, j);
            let next = d.available_after(avail, &bs::union(&done, &open.load), j);
            let r = self.gen(open, load_t + d.t[j], j + 1, &next);
            bs::remove(&mut open.load, j);
            if r != Outcome::Fail {
                return r;
            }
        }
        if (any_fit && d.maximal) || open.load == [0u64; W] || load_t < open.need {
            return Outcome::Fail;
        }
        if d.maximal
            && (d.dominated(open.assigned, &open.load, d.c - load_t, station)
                || d.sinks_too_early(open.assigned, &open.load))
        {
            return Outcome::Fail;
        }
        let load = open.load;
        self.close(open.assigned, open.k, open.idle + (d.c - load_t), &load)
    }

    /// Closes station `k + 1` with `load` and continues with the next station (or, in best-first mode,
    /// collects the new state).
    fn close(&mut self, assigned: &Set<W>, k: u32, idle: u64, load: &Set<W>) -> Outcome {
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
        if k2 >= self.m || self.memo.get(&done).is_some_and(|&kk| kk <= k2) {
            return Outcome::Fail;
        }
        let r = if self.state_fails(&done, k2) {
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
                if self.memo.len() < self.memo_cap {
                    self.memo.insert(done, k2);
                }
            }
            Outcome::Abort => {}
        }
        r
    }

    /// The bounds on the state `done` after `k` stations: some task is past its latest station, or the tasks
    /// left need more than the `m - k` stations left.
    fn state_fails(&mut self, done: &Set<W>, k: u32) -> bool {
        let d = self.dir;
        let open = bs::minus(&d.full, done);
        if bs::intersects(&open, &self.lmask[k as usize]) {
            return true;
        }
        self.steps += self.bound_cost;
        let left = self.m - k;
        if d.lb_rest(done) > left || d.bin_bound(done, &mut self.scratch) > left {
            return true;
        }
        let work_left = d.total - d.work(done);
        let (fails, steps) = self.packing.fails(|f| bs::for_each(&open, f), work_left, left);
        self.steps += steps;
        fails
    }
}

/// The station being filled: the state it extends and its load so far.
struct OpenStation<'s, const W: usize> {
    assigned: &'s Set<W>,
    k: u32,
    idle: u64,
    /// The least load that keeps the idle time within the budget.
    need: u64,
    suffix: &'s [u64],
    /// Row `j` (of `words` words): the sums reachable with the joinable tasks numbered `j` or more.
    sums: &'s [u64],
    words: usize,
    load: Set<W>,
}

impl<const W: usize> OpenStation<'_, W> {
    /// True when tasks numbered `start` or more can bring the load (of time `load_t`) to between `need` and
    /// `c`, as far as their times tell (always true without a table of sums).
    fn can_reach(&self, load_t: u64, start: usize, c: u64) -> bool {
        if load_t >= self.need || self.sums.is_empty() {
            return true;
        }
        let row = &self.sums[start * self.words..(start + 1) * self.words];
        bits::any_in(row, (self.need - load_t) as usize, (c - load_t) as usize + 1)
    }
}

/// Fills `sums` with one row per task number `j` (and a last one): the sums up to the cycle time reachable
/// by subsets of the joinable tasks numbered `j` or more. Leaves it empty when the table would be too large.
fn subset_sums<const W: usize>(d: &Dir<W>, joinable: &Set<W>, sums: &mut Vec<u64>) {
    let words = d.c as usize / 64 + 1;
    sums.clear();
    if (d.n + 1).saturating_mul(words) > SUMS_WORDS {
        return;
    }
    sums.resize((d.n + 1) * words, 0);
    bits::set(&mut sums[d.n * words..], 0);
    for j in (0..d.n).rev() {
        let (head, tail) = sums.split_at_mut((j + 1) * words);
        let (row, next) = (&mut head[j * words..], &tail[..words]);
        row.copy_from_slice(next);
        if bs::contains(joinable, j) {
            bits::shift_or(row, next, d.t[j] as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salbp::cbfs::Cbfs;
    use crate::salbp::instance::{Instance, Zoning};

    /// Fewest stations by dynamic programming over precedence-closed task sets.
    fn brute_force(inst: &Instance, c: u64) -> usize {
        let n = inst.len();
        let full = (1usize << n) - 1;
        let closed = |s: usize| inst.precedences.iter().all(|&(a, b)| s >> b & 1 == 0 || s >> a & 1 == 1);
        let load = |s: usize| (0..n).filter(|&j| s >> j & 1 == 1).map(|j| inst.times[j]).sum::<u64>();
        let mut f = vec![usize::MAX; full + 1];
        f[0] = 0;
        for s in 0..=full {
            if f[s] == usize::MAX || !closed(s) {
                continue;
            }
            let rest = full & !s;
            let mut l = rest;
            while l > 0 {
                if f[s] + 1 < f[s | l] && closed(s | l) && load(l) <= c {
                    f[s | l] = f[s] + 1;
                }
                l = (l - 1) & rest;
            }
        }
        f[full]
    }

    /// A random instance: `n` tasks, times up to `tmax` (one in eight zero), arcs `i -> j` (i < j) with
    /// probability `p` percent.
    fn random_instance(next: &mut impl FnMut(u64) -> u64, n: usize, tmax: u64, p: u64) -> Instance {
        let times = (0..n).map(|_| if next(8) == 0 { 0 } else { 1 + next(tmax) }).collect();
        let mut precedences = Vec::new();
        for j in 0..n {
            for i in 0..j {
                if next(100) < p {
                    precedences.push((i, j));
                }
            }
        }
        Instance { name: "random".into(), times, precedences, cycle_time: None, zoning: Zoning::default() }
    }

    /// Checks station loads of `d` (first station first) against the instance.
    fn check_loads(d: &Dir<1>, inst: &Instance, c: u64, loads: &[Set<1>]) {
        let mut station = vec![usize::MAX; inst.len()];
        for (s, l) in loads.iter().enumerate() {
            assert!(d.work(l) <= c);
            bs::for_each(l, |j| station[d.orig[j]] = s);
        }
        assert!(station.iter().all(|&s| s != usize::MAX), "a task is left out");
        for &(a, b) in &inst.precedences {
            assert!(station[a] <= station[b], "precedence {a} -> {b}");
        }
    }

    /// Every decision of the depth-first and best-first searches, in both directions, against brute force on
    /// random graphs (all the cuts and dominance rules at work, including the bin-packing bound).
    #[test]
    fn decisions_match_brute_force_on_random_graphs() {
        let mut next = crate::salbp::test_rng(0x0123_4567_89ab_cdefu64);
        for round in 0..300 {
            let n = 6 + next(6) as usize;
            let (tmax, p) = (4 + next(12), 10 + next(40));
            let inst = random_instance(&mut next, n, tmax, p);
            let tmax = inst.times.iter().copied().max().unwrap_or(0).max(1);
            let total = inst.total_time();
            for c in [tmax, tmax + 1, tmax.max((tmax + total) / 4), tmax.max(total / 3)] {
                let opt = brute_force(&inst, c) as u32;
                for (graph, reversed) in [(inst.clone(), false), (inst.reversed(), true)] {
                    let d = Dir::<1>::new(&graph, c);
                    let packing = RefCell::new(BinPacking::new(&graph.times, c));
                    for m in opt.saturating_sub(2).max(1)..=opt + 1 {
                        let mut dfs = Decide::new(&d, &packing, m, None);
                        let r = dfs.run(u64::MAX);
                        let what = format!("round {round} reversed {reversed} c={c} m={m} opt={opt}");
                        assert_eq!(r == Outcome::Found, m >= opt, "depth-first, {what}");
                        if r == Outcome::Found {
                            let mut loads = dfs.loads.clone();
                            loads.reverse();
                            check_loads(&d, &graph, c, &loads);
                        }
                        let mut best = Cbfs::new(&d, &packing, m, None);
                        let r = best.run(u64::MAX);
                        if m >= opt {
                            assert_eq!(r, Outcome::Found, "best-first, {what}");
                            let mut loads = best.dec.loads.clone();
                            loads.reverse();
                            check_loads(&d, &graph, c, &loads);
                        } else {
                            assert_ne!(r, Outcome::Found, "best-first, {what}");
                        }
                    }
                }
            }
        }
    }
}
