//! Exact SALBP-1 and SALBP-2 drivers: bounds, heuristic upper bounds, and the bidirectional decision search.
//!
//! SALBP-1: the lower bound is the best of LB1/LB2/LB3, Martello–Toth's L2 and the precedence bounds; the upper
//! bound is Hoffmann's heuristic on the graph and on its reverse. While they differ, the solver asks whether
//! `lb` stations suffice (then `lb + 1`, …), taking turns between four searches with doubling step budgets (each
//! keeps its memory): depth-first and cyclic best-first, each on the forward and on the reversed graph, so that
//! the one that suits the instance decides. SALBP-2 bisects the cycle time with exact SALBP-1 decisions.

use std::time::{Duration, Instant};

use crate::error::{FlowError, Result};
use crate::salbp::bitset::{self as bs, Set};
use crate::salbp::bounds::{ceil_div, lb123, martello_toth_l2};
use crate::salbp::instance::Instance;
use crate::salbp::search::{hoffmann, Cbfs, Decide, Dir, Outcome};

/// Solver options.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop and report the best solution found so far after this long.
    pub time_limit: Option<Duration>,
    /// Stop after this many search steps (deterministic, unlike the time limit).
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
    /// Search steps (partial station loads enumerated).
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

/// One of the decision searches run side by side.
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

    fn run(&mut self, node_limit: u64) -> Outcome {
        match self {
            Search::Depth(d) => d.run(node_limit),
            Search::Best(b) => b.run(node_limit),
        }
    }
}

/// The part of the solver that depends on the set width.
struct Solver<const W: usize> {
    fwd: Dir<W>,
    rev: Dir<W>,
}

impl<const W: usize> Solver<W> {
    fn new(inst: &Instance, c: u64) -> Self {
        Solver {
            fwd: Dir::new(inst, c),
            rev: Dir::new(&inst.reversed(), c),
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

    fn lower_bound(&self, inst: &Instance, c: u64) -> usize {
        let lb = lb123(&inst.times, c).max(martello_toth_l2(&inst.times, c));
        let e = self
            .fwd
            .e
            .iter()
            .chain(&self.rev.e)
            .copied()
            .max()
            .unwrap_or(0) as u64;
        lb.max(e) as usize
    }

    fn heuristic(&self) -> Option<Vec<Vec<usize>>> {
        let f = hoffmann(&self.fwd, 300).map(|l| Self::stations(&self.fwd, &l, false));
        let r = hoffmann(&self.rev, 300).map(|l| Self::stations(&self.rev, &l, true));
        match (f, r) {
            (Some(a), Some(b)) => Some(if b.len() < a.len() { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Can all tasks go on `m` stations? Takes turns between the four searches with doubling step budgets.
    fn decide(
        &self,
        m: usize,
        deadline: Option<Instant>,
        steps: Option<u64>,
        nodes: &mut u64,
    ) -> Decision {
        let m = m as u32;
        let mut searches = [
            (Search::Depth(Decide::new(&self.fwd, m, deadline)), false),
            (Search::Depth(Decide::new(&self.rev, m, deadline)), true),
            (Search::Best(Cbfs::new(&self.fwd, m, deadline)), false),
            (Search::Best(Cbfs::new(&self.rev, m, deadline)), true),
        ];
        let mut budget = 2_000u64;
        loop {
            for (search, reversed) in searches.iter_mut() {
                let left = steps.map_or(u64::MAX, |s| s.saturating_sub(*nodes));
                if left == 0 {
                    return Decision::Unknown;
                }
                let d = search.decide();
                let before = d.nodes;
                let out = search.run(budget.min(left));
                let d = search.decide();
                *nodes += d.nodes - before;
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

    fn salbp1(
        &self,
        inst: &Instance,
        c: u64,
        deadline: Option<Instant>,
        steps: Option<u64>,
    ) -> Result<Balance> {
        let mut nodes = 0;
        let mut lb = self.lower_bound(inst, c);
        let mut best = self.heuristic();
        // Bottom-up from the lower bound: the tight idle-time budget of a small target prunes hardest, and the
        // first target that is feasible is optimal. The heuristic solution stands when the limits stop the search.
        let mut m = lb;
        while m <= inst.len() && best.as_ref().is_none_or(|s| m < s.len()) {
            match self.decide(m, deadline, steps, &mut nodes) {
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
        Ok(Balance {
            cycle_time: c,
            optimal: stations.len() == lb,
            lower_bound: lb,
            stations,
            nodes,
        })
    }
}

fn check(inst: &Instance, c: u64) -> Result<()> {
    inst.validate()?;
    if inst.is_empty() {
        return Err(FlowError::invalid(&inst.name, "no tasks"));
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

fn salbp1_w<const W: usize>(
    inst: &Instance,
    c: u64,
    deadline: Option<Instant>,
    steps: Option<u64>,
) -> Result<Balance> {
    Solver::<W>::new(inst, c).salbp1(inst, c, deadline, steps)
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
        return Err(FlowError::invalid(
            &inst.name,
            "the number of stations must be at least 1",
        ));
    }
    inst.validate()?;
    let deadline = opts.time_limit.map(|d| Instant::now() + d);
    let tmax = inst.times.iter().copied().max().unwrap_or(0);
    let mut sorted = inst.times.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    // Two of the m + 1 longest tasks share a station.
    let pair = if sorted.len() > m {
        sorted[m - 1] + sorted[m]
    } else {
        0
    };
    let mut lo = tmax
        .max(ceil_div(inst.total_time(), m as u64))
        .max(pair)
        .max(1);
    let mut hi = inst.total_time().max(lo);
    let mut best: Option<Balance> = None;
    let mut optimal = true;
    // Heuristic start: the first cycle time (doubling the step from lo) at which SALBP-1 reaches m stations.
    let mut step = 1u64;
    let mut probe = lo;
    loop {
        let b = solve_salbp1(
            inst,
            probe,
            &Options {
                time_limit: Some(Duration::ZERO),
                step_limit: Some(0),
            },
        )?;
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
        let b = solve_salbp1(
            inst,
            mid,
            &Options {
                time_limit: left,
                step_limit: opts.step_limit,
            },
        )?;
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
        None => solve_salbp1(
            inst,
            hi,
            &Options {
                time_limit: Some(Duration::ZERO),
                step_limit: Some(0),
            },
        )?,
    };
    Ok(Balance2 {
        stations_count: m,
        optimal: optimal && lo == balance.cycle_time,
        cycle_time_lower_bound: lo,
        balance,
    })
}
