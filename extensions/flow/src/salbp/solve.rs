//! Exact SALBP-1 and SALBP-2 drivers: bounds, heuristic upper bounds, and the bidirectional decision search.
//!
//! SALBP-1: the lower bound is the best of LB1/LB2/LB3, Martello–Toth's L2, the quarter weights, the earliest
//! stations and the bin packing of all task times; the upper bound is the best of Hoffmann's heuristic with
//! two load choices, on the graph and on its reverse. While they differ, the solver asks whether `lb`
//! stations suffice (then `lb + 1`, …): a cyclic best-first search on the graph and one on its reverse take
//! turns with doubling step budgets (each keeps its memory), the direction with fewer candidates for the first
//! stations getting the larger share, until one finds a balance or proves there is none. SALBP-2 bisects the
//! cycle time with exact SALBP-1 decisions.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::error::{FlowError, Result};
use crate::salbp::binpack::BinPacking;
use crate::salbp::bitset::{self as bs, Set};
use crate::salbp::bounds::{ceil_div, lb123, martello_toth_l2, quarter_weight_bound};
use crate::salbp::cbfs::Cbfs;
use crate::salbp::dir::Dir;
use crate::salbp::heuristic::{hoffmann, ALPHAS};
use crate::salbp::instance::Instance;
use crate::salbp::search::{Decide, Outcome};

/// Solver options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop and report the best solution found so far after this long.
    pub time_limit: Option<Duration>,
    /// Stop after this many search steps (deterministic, unlike the time limit; see [`Balance::nodes`]).
    pub step_limit: Option<u64>,
}

/// A SALBP-1 solution: stations with their tasks (0-based, in line order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub cycle_time: u64,
    pub stations: Vec<Vec<usize>>,
    /// The best lower bound on the number of stations (equal to `stations.len()` when optimal).
    pub lower_bound: usize,
    /// True when the number of stations is proven optimal.
    pub optimal: bool,
    /// Search steps: partial station loads enumerated, plus the bounds evaluated on search states and the bin
    /// packing steps, each weighted by its cost (the unit of [`Options::step_limit`]).
    pub nodes: u64,
}

/// A SALBP-2 solution: the shortest cycle time found for the given number of stations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance2 {
    pub stations_count: usize,
    /// The balance at the best cycle time found.
    pub balance: Balance,
    /// Lower bound on the cycle time (equal to `balance.cycle_time` when optimal).
    pub cycle_time_lower_bound: u64,
    pub optimal: bool,
}

/// Decision result: a solution with at most `m` stations, none exists, or unknown (time limit).
enum Decision {
    Feasible(Vec<Vec<usize>>),
    Infeasible,
    Unknown,
}

/// The decision search in one direction: best-first, or depth-first once best-first ran out of room.
enum Search<'a, const W: usize> {
    Depth(Decide<'a, W>),
    Best(Cbfs<'a, W>),
}

impl<'a, const W: usize> Search<'a, W> {
    fn decide(&self) -> &Decide<'a, W> {
        match self {
            Search::Depth(d) => d,
            Search::Best(b) => &b.dec,
        }
    }

    fn run(&mut self, budget: u64) -> Outcome {
        match self {
            Search::Depth(d) => d.run(budget),
            Search::Best(b) => b.run(budget),
        }
    }

    /// True when it ran out of room for states (running it again tells nothing new).
    fn exhausted(&self) -> bool {
        match self {
            Search::Depth(_) => false,
            Search::Best(b) => b.exhausted(),
        }
    }
}

/// Steps the root bin-packing bound may take.
const ROOT_PACKING_STEPS: u64 = 100_000;
/// Step budget of each search in the first round of [`Solver::decide`] (doubled every round).
const FIRST_BUDGET: u64 = 2_000;
/// The direction that looks harder gets this fraction of the other's budget.
const OTHER_DIRECTION_SHARE: u64 = 4;
/// Partial loads enumerated per station by each heuristic run.
const HEURISTIC_LOADS: u64 = 300;

/// The part of the solver that depends on the set width: both directions of the instance, the bin-packing
/// memory they share, and the limits.
struct Solver<const W: usize> {
    fwd: Dir<W>,
    rev: Dir<W>,
    packing: RefCell<BinPacking>,
    deadline: Option<Instant>,
    step_limit: Option<u64>,
    /// Steps taken so far.
    steps: u64,
}

impl<const W: usize> Solver<W> {
    fn new(inst: &Instance, c: u64, deadline: Option<Instant>, step_limit: Option<u64>) -> Self {
        Solver {
            fwd: Dir::new(inst, c),
            rev: Dir::new(&inst.reversed(), c),
            packing: RefCell::new(BinPacking::new(&inst.times, c)),
            deadline,
            step_limit,
            steps: 0,
        }
    }

    /// Maps station loads of one direction to original task indices in line order.
    fn stations(d: &Dir<W>, loads: &[Set<W>], reversed: bool) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = loads
            .iter()
            .map(|l| {
                let mut v = Vec::new();
                bs::for_each(l, |j| v.push(d.orig[j]));
                v.sort_unstable();
                v
            })
            .collect();
        if reversed {
            out.reverse();
        }
        out
    }

    /// The best of LB1–LB3, Martello–Toth's L2, the quarter weights, the earliest stations in both directions,
    /// and the bin packing of all the times.
    fn lower_bound(&mut self, inst: &Instance, c: u64) -> usize {
        let mut desc = inst.times.clone();
        desc.sort_unstable_by(|a, b| b.cmp(a));
        let e = self.fwd.e.iter().chain(&self.rev.e).copied().max();
        let lb = lb123(&inst.times, c)
            .max(martello_toth_l2(&inst.times, c))
            .max(quarter_weight_bound(&desc, c))
            .max(e.unwrap_or(0) as u64) as u32;
        self.packing_bound(&inst.times, lb) as usize
    }

    /// Raises `lb` while the times provably do not fit in `lb` bins, as far as a step budget allows.
    fn packing_bound(&mut self, times: &[u64], mut lb: u32) -> u32 {
        let mut packing = self.packing.borrow_mut();
        // Counts are kept in bytes: no bin packing for an instance with more equal times.
        let Some(mut counts) = packing.counts(times, 0..times.len()) else {
            return lb;
        };
        let mut budget = ROOT_PACKING_STEPS.min(self.steps_left());
        while budget > 0 {
            let (fits, steps) = packing.fits(&mut counts, lb, budget);
            budget -= steps.min(budget);
            self.steps += steps;
            if fits != Some(false) {
                break;
            }
            lb += 1;
        }
        lb
    }

    /// The best balance of the Hoffmann heuristics in both directions (stopping at `lb` stations).
    fn heuristic(&self, lb: usize) -> Option<Vec<Vec<usize>>> {
        let mut best: Option<Vec<Vec<usize>>> = None;
        for alpha in ALPHAS {
            for (d, reversed) in [(&self.fwd, false), (&self.rev, true)] {
                if best.as_ref().is_some_and(|b| b.len() <= lb) {
                    return best;
                }
                if let Some(loads) = hoffmann(d, alpha, HEURISTIC_LOADS) {
                    if best.as_ref().is_none_or(|b| loads.len() < b.len()) {
                        best = Some(Self::stations(d, &loads, reversed));
                    }
                }
            }
        }
        best
    }

    /// Steps left under the step limit.
    fn steps_left(&self) -> u64 {
        self.step_limit.map_or(u64::MAX, |s| s.saturating_sub(self.steps))
    }

    /// Can all tasks go on `m` stations? Takes turns between a best-first search on the graph and one on its
    /// reverse, with a step budget that doubles every round (the direction that looks easier gets four times
    /// the budget of the other). A best-first search that runs out of room for states hands over to a depth-first
    /// search in the same direction.
    fn decide(&mut self, m: usize) -> Decision {
        let m = m as u32;
        let (packing, deadline) = (&self.packing, self.deadline);
        let reverse_first = self.reverse_looks_easier();
        let mut searches = [(&self.fwd, false), (&self.rev, true)]
            .map(|(d, reversed)| (Search::Best(Cbfs::new(d, packing, m, deadline)), reversed));
        let mut budget = FIRST_BUDGET;
        loop {
            for (search, reversed) in searches.iter_mut() {
                let left = self.steps_left();
                if left == 0 {
                    return Decision::Unknown;
                }
                if search.exhausted() {
                    let dir = search.decide().dir;
                    *search = Search::Depth(Decide::new(dir, packing, m, deadline));
                }
                let share = if *reversed == reverse_first { budget } else { budget / OTHER_DIRECTION_SHARE };
                let before = search.decide().steps;
                let out = search.run(share.min(left));
                let d = search.decide();
                self.steps += d.steps - before;
                match out {
                    Outcome::Found => {
                        let mut loads = d.loads.clone();
                        loads.reverse();
                        return Decision::Feasible(Self::stations(d.dir, &loads, *reversed));
                    }
                    Outcome::Fail => return Decision::Infeasible,
                    Outcome::Abort => {
                        if deadline.is_some_and(|dl| Instant::now() >= dl) {
                            return Decision::Unknown;
                        }
                    }
                }
            }
            budget = budget.saturating_mul(2);
        }
    }

    /// Sewell and Jacobson's choice of direction: the one with fewer tasks that can go on each of the first
    /// five stations (by earliest stations), multiplied over the five.
    fn reverse_looks_easier(&self) -> bool {
        let candidates =
            |d: &Dir<W>| (1..=5u32).map(|s| d.e.iter().filter(|&&e| e <= s).count() as f64).product::<f64>();
        candidates(&self.rev) < candidates(&self.fwd)
    }

    fn salbp1(&mut self, inst: &Instance, c: u64) -> Result<Balance> {
        let mut lb = self.lower_bound(inst, c);
        let mut best = self.heuristic(lb);
        // Bottom-up from the lower bound: the tight idle-time budget of a small target prunes hardest, and the
        // first target that is feasible is optimal. The heuristic solution stands when the limits stop the search.
        let mut m = lb;
        while m <= inst.len() && best.as_ref().is_none_or(|s| m < s.len()) {
            match self.decide(m) {
                Decision::Feasible(s) => {
                    best = Some(s);
                    break;
                }
                Decision::Infeasible => {
                    lb = m + 1;
                    m += 1;
                }
                Decision::Unknown => break,
            }
        }
        let stations = best.ok_or_else(|| {
            FlowError::invalid(
                &inst.name,
                format!("no feasible assignment found for cycle time {c} (zoning constraints)"),
            )
        })?;
        Ok(Balance { cycle_time: c, optimal: stations.len() == lb, lower_bound: lb, stations, nodes: self.steps })
    }
}

fn check(inst: &Instance, c: u64) -> Result<()> {
    inst.validate()?;
    if inst.is_empty() {
        return Err(FlowError::invalid(&inst.name, "no tasks"));
    }
    if c == 0 {
        return Err(FlowError::invalid(&inst.name, "the cycle time must be positive"));
    }
    if let Some((j, &t)) = inst.times.iter().enumerate().find(|(_, &t)| t > c) {
        return Err(FlowError::invalid(
            &inst.name,
            format!("task {} takes {t}, longer than the cycle time {c}", j + 1),
        ));
    }
    Ok(())
}

macro_rules! by_width {
    ($n:expr, $f:ident, $($arg:expr),*) => {
        match $n {
            0..=64 => $f::<1>($($arg),*),
            65..=128 => $f::<2>($($arg),*),
            129..=192 => $f::<3>($($arg),*),
            193..=256 => $f::<4>($($arg),*),
            257..=320 => $f::<5>($($arg),*),
            321..=512 => $f::<8>($($arg),*),
            513..=1024 => $f::<16>($($arg),*),
            n => Err(FlowError::invalid("instance", format!("{n} tasks: the exact solver handles up to 1024"))),
        }
    };
}

fn salbp1_w<const W: usize>(inst: &Instance, c: u64, deadline: Option<Instant>, steps: Option<u64>) -> Result<Balance> {
    Solver::<W>::new(inst, c, deadline, steps).salbp1(inst, c)
}

/// Solves SALBP-1 (fewest stations for cycle time `c`) exactly, or as far as the time limit allows.
pub fn solve_salbp1(inst: &Instance, c: u64, opts: &Options) -> Result<Balance> {
    check(inst, c)?;
    let deadline = opts.time_limit.map(|d| Instant::now() + d);
    by_width!(inst.len(), salbp1_w, inst, c, deadline, opts.step_limit)
}

/// Solves SALBP-2 (shortest cycle time for `m` stations) exactly by bisection over cycle times.
pub fn solve_salbp2(inst: &Instance, m: usize, opts: &Options) -> Result<Balance2> {
    if m == 0 {
        return Err(FlowError::invalid(&inst.name, "the number of stations must be at least 1"));
    }
    inst.validate()?;
    let deadline = opts.time_limit.map(|d| Instant::now() + d);
    let tmax = inst.times.iter().copied().max().unwrap_or(0);
    let mut sorted = inst.times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    // Two of the m + 1 longest tasks share a station.
    let pair = if sorted.len() > m { sorted[m - 1] + sorted[m] } else { 0 };
    let mut lo = tmax.max(ceil_div(inst.total_time(), m as u64)).max(pair).max(1);
    let mut hi = inst.total_time().max(lo);
    let mut best: Option<Balance> = None;
    let mut optimal = true;
    // Heuristic start: the first cycle time (doubling the step from lo) at which SALBP-1 reaches m stations.
    let mut step = 1u64;
    let mut probe = lo;
    loop {
        let b = solve_salbp1(inst, probe, &Options { time_limit: Some(Duration::ZERO), step_limit: Some(0) })?;
        if b.stations.len() <= m {
            hi = probe;
            best = Some(b);
            break;
        }
        if probe >= hi {
            break;
        }
        probe = (probe + step).min(hi);
        step *= 2;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            optimal = false;
            break;
        }
        let b = solve_salbp1(inst, mid, &Options { time_limit: left, step_limit: opts.step_limit })?;
        if b.stations.len() <= m {
            hi = mid;
            best = Some(b);
        } else if b.lower_bound > m {
            lo = mid + 1;
        } else {
            optimal = false;
            break;
        }
    }
    let balance = match best {
        Some(b) => b,
        None => solve_salbp1(inst, hi, &Options { time_limit: Some(Duration::ZERO), step_limit: Some(0) })?,
    };
    Ok(Balance2 {
        stations_count: m,
        optimal: optimal && lo == balance.cycle_time,
        cycle_time_lower_bound: lo,
        balance,
    })
}
