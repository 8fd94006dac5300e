//! One direction of a SALBP-1 instance (the precedence graph as given, or reversed), prepared for the search:
//! tasks renumbered by decreasing positional weight (a topological order), precedence as bit sets, earliest
//! stations and station tails, Jackson dominators, and the bounds on the tasks a search state has left.

use crate::salbp::bitset::{self as bs, Set};
use crate::salbp::bounds::{ceil_div, martello_toth_l2_sorted, quarter_weight_bound, sixths};
use crate::salbp::instance::Instance;

/// One direction of an instance, ready for the search. Task indices are internal (see `orig`).
pub struct Dir<const W: usize> {
    pub n: usize,
    pub c: u64,
    /// Internal index -> original task index.
    pub orig: Vec<usize>,
    pub t: Vec<u64>,
    /// Direct predecessors and successors of each task.
    pub pred: Vec<Set<W>>,
    pub succ: Vec<Set<W>>,
    /// All (transitive) predecessors of each task.
    pub pred_all: Vec<Set<W>>,
    /// Positional weight: the task's time plus the times of all its successors.
    pub pw: Vec<u64>,
    /// Earliest station (1-based) from the task and all its predecessors.
    pub e: Vec<u32>,
    /// Stations needed by the task and all its successors; the latest station is `m + 1 - q`.
    pub q: Vec<u32>,
    /// LB2 and LB3 weights of each task, in sixths of a station.
    pub w2: Vec<u8>,
    pub w3: Vec<u8>,
    /// Tasks that must not share a station with the task.
    pub apart: Vec<Set<W>>,
    /// Pairs of tasks that must share a station.
    pub together: Vec<(usize, usize)>,
    pub full: Set<W>,
    pub total: u64,
    /// Without zoning constraints the search keeps to load-maximal stations and the dominance rules.
    pub maximal: bool,
    /// Tasks that dominate each task (Jackson): at least as long, a superset of its successors (ties by number).
    pub dominators: Vec<Vec<usize>>,
    /// Tasks with at least one successor.
    pub has_succ: Set<W>,
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
        let pred_all = closure(&pred, (0..n).collect());
        let succ_all = closure(&succ, (0..n).rev().collect());
        let work = |s: &Set<W>| {
            let mut x = 0;
            bs::for_each(s, |k| x += t[k]);
            x
        };
        let pw: Vec<u64> = (0..n).map(|j| t[j] + work(&succ_all[j])).collect();
        let e = (0..n).map(|j| ceil_div(t[j] + work(&pred_all[j]), c) as u32).collect();
        let q = pw.iter().map(|&p| ceil_div(p, c) as u32).collect();
        let (w2, w3) = t.iter().map(|&x| sixths(x, c)).unzip();
        let (apart, together) = zoning(inst, &pos);
        let mut has_succ = [0u64; W];
        for (j, s) in succ.iter().enumerate() {
            if *s != [0u64; W] {
                bs::insert(&mut has_succ, j);
            }
        }
        let mut by_time: Vec<usize> = (0..n).collect();
        by_time.sort_by_key(|&j| t[j]);
        Dir {
            n,
            c,
            orig: order,
            total: t.iter().sum(),
            dominators: jackson_dominators(&t, &succ_all),
            t,
            pred,
            pred_all,
            succ,
            pw,
            e,
            q,
            w2,
            w3,
            apart,
            together,
            full: bs::full(n),
            maximal: inst.zoning.is_empty(),
            has_succ,
            by_time,
        }
    }

    /// Total time of a set of tasks.
    pub fn work(&self, s: &Set<W>) -> u64 {
        let mut x = 0;
        bs::for_each(s, |j| x += self.t[j]);
        x
    }

    /// The unplaced tasks whose predecessors are all in `assigned`.
    pub fn available(&self, assigned: &Set<W>) -> Set<W> {
        let mut avail = [0u64; W];
        bs::for_each(&bs::minus(&self.full, assigned), |j| {
            if bs::is_subset(&self.pred[j], assigned) {
                bs::insert(&mut avail, j);
            }
        });
        avail
    }

    /// `avail` after task `j` joined the placed tasks (`placed`, which includes `j`): without `j`, with those of
    /// its successors whose predecessors are now all placed.
    pub fn available_after(&self, avail: &Set<W>, placed: &Set<W>, j: usize) -> Set<W> {
        let mut next = *avail;
        bs::remove(&mut next, j);
        bs::for_each(&self.succ[j], |s| {
            if bs::is_subset(&self.pred[s], placed) {
                bs::insert(&mut next, s);
            }
        });
        next
    }

    /// The unplaced tasks that can still join the next station: each with its unplaced predecessors (all of
    /// which would have to join too) within the cycle time.
    pub fn joinable(&self, assigned: &Set<W>) -> Set<W> {
        let mut out = [0u64; W];
        bs::for_each(&bs::minus(&self.full, assigned), |j| {
            let room = self.c - self.t[j];
            let mut before = 0;
            let fits = bs::try_for_each(&bs::minus(&self.pred_all[j], assigned), |p| {
                before += self.t[p];
                before <= room
            });
            if fits {
                bs::insert(&mut out, j);
            }
        });
        out
    }

    /// LB2/LB3 of the tasks not in `done`.
    pub fn lb_rest(&self, done: &Set<W>) -> u32 {
        let (mut s2, mut s3) = (0u32, 0u32);
        bs::for_each(&bs::minus(&self.full, done), |j| {
            s2 += self.w2[j] as u32;
            s3 += self.w3[j] as u32;
        });
        s2.max(s3).div_ceil(6)
    }

    /// The bin-packing bounds (Martello and Toth's L2, the quarter-weight bound) on the tasks not in `done`;
    /// `scratch` is reused between calls.
    pub fn bin_bound(&self, done: &Set<W>, scratch: &mut Vec<u64>) -> u32 {
        scratch.clear();
        scratch.extend(self.by_time.iter().filter(|&&j| !bs::contains(done, j)).map(|&j| self.t[j]));
        let l2 = martello_toth_l2_sorted(scratch, self.c);
        scratch.reverse();
        l2.max(quarter_weight_bound(scratch, self.c)) as u32
    }

    /// Candidate test: `j` (not yet placed) can join the open station.
    #[inline]
    pub fn fits(&self, j: usize, done: &Set<W>, load: &Set<W>, cap: u64, station: u32) -> bool {
        self.t[j] <= cap
            && self.e[j] <= station
            && bs::is_subset(&self.pred[j], done)
            && !bs::intersects(&self.apart[j], load)
    }

    /// True when a station load respects the must-share pairs (both or neither in the load).
    pub fn together_ok(&self, load: &Set<W>) -> bool {
        self.together.iter().all(|&(a, b)| bs::contains(load, a) == bs::contains(load, b))
    }

    /// Jackson's dominance rule: a load is dominated when a task `i` in it, with no successor in the load, can
    /// be swapped for an unplaced, available task `j` that dominates it and still fits (`slack` = idle time).
    pub fn dominated(&self, assigned: &Set<W>, load: &Set<W>, slack: u64, station: u32) -> bool {
        let done = bs::union(assigned, load);
        let mut found = false;
        bs::for_each(load, |i| {
            if found || bs::intersects(&self.succ[i], load) {
                return;
            }
            found = self.dominators[i].iter().any(|&j| {
                !bs::contains(&done, j)
                    && self.t[j] - self.t[i] <= slack
                    && self.e[j] <= station
                    && bs::is_subset(&self.pred[j], &done)
            });
        });
        found
    }

    /// The rule that stations of tasks without successors go last: a load of such tasks only is cut while a
    /// task with successors is left. Moving such a station to the end of the line keeps every precedence, and
    /// it goes together with the load-maximal and Jackson rules: order the balances by the station numbers of
    /// their tasks with successors (summed, then weighted by time, by successor count and by task number), then
    /// by those of the other tasks; moving the station, filling an earlier station with an available task and
    /// a Jackson swap each make a balance smaller, so a smallest optimal balance breaks none of the rules.
    pub fn sinks_too_early(&self, assigned: &Set<W>, load: &Set<W>) -> bool {
        !bs::intersects(load, &self.has_succ)
            && bs::intersects(&bs::minus(&bs::minus(&self.full, assigned), load), &self.has_succ)
    }
}

/// The zoning constraints in internal numbers (`pos[original]`): per task, the tasks it must not share a
/// station with; and the pairs that must share one.
#[allow(clippy::type_complexity)]
fn zoning<const W: usize>(inst: &Instance, pos: &[usize]) -> (Vec<Set<W>>, Vec<(usize, usize)>) {
    let mut apart = vec![[0u64; W]; inst.len()];
    for &(a, b) in &inst.zoning.apart {
        bs::insert(&mut apart[pos[a]], pos[b]);
        bs::insert(&mut apart[pos[b]], pos[a]);
    }
    let together = inst.zoning.together.iter().map(|&(a, b)| (pos[a], pos[b])).collect();
    (apart, together)
}

/// Transitive closure of `direct` (predecessors or successors), visiting tasks in `order` so that every
/// task's direct neighbours come first.
fn closure<const W: usize>(direct: &[Set<W>], order: Vec<usize>) -> Vec<Set<W>> {
    let mut all = direct.to_vec();
    for j in order {
        let mut acc = all[j];
        bs::for_each(&direct[j], |p| acc = bs::union(&acc, &all[p]));
        all[j] = acc;
    }
    all
}

/// For each task, the tasks that dominate it by Jackson's rule: at least as long and a superset of its
/// successors, ties (same time and successors) broken by the lower number.
fn jackson_dominators<const W: usize>(t: &[u64], succ_all: &[Set<W>]) -> Vec<Vec<usize>> {
    let n = t.len();
    (0..n)
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
        .collect()
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
