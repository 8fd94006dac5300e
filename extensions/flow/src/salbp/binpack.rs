//! Bin packing of task-time multisets (precedence ignored), remembered across calls: "do the tasks left in a
//! search state fit in the stations left?" is a relaxation of the line balancing question, and proving it
//! false prunes the state (Sewell and Jacobson use the same bound).
//!
//! A multiset is a count per distinct task time. The decision search takes the largest item, tries each set
//! of other items that fits beside it in one bin, wastes no more room than the bins can spare and is not
//! dominated (Korf's bin completions), and recurses; every multiset it settles is kept with the bounds learnt
//! on its fewest bins, so later calls answer from memory. Each call has a step budget and gives no answer
//! when it runs out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::salbp::bitset::{bits, WordHasher};
use crate::salbp::bounds::{ceil_div, martello_toth_l2_sorted, quarter_weight_bound};

/// What is known about the fewest bins of one multiset.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// It needs at least this many bins.
    lb: u32,
    /// It fits in this many bins.
    ub: u32,
}

/// The bin being filled by [`BinPacking::complete`].
#[derive(Debug, Clone, Copy)]
struct Bin {
    /// Room left in the bin.
    room: u64,
    /// The smallest size passed over that still has items outside the bin (the filling is maximal only if
    /// this ends up larger than the room).
    smallest_left: u64,
    /// The most room the bin may leave unused (the room all bins can leave, given the total size).
    waste: u64,
    /// Bins for the items left after this one.
    bins: u32,
    /// Where this bin's items start in `BinPacking::taken`.
    first_taken: usize,
}

/// The search ran out of its step budget.
struct OutOfSteps;

/// Bin packing decisions over multisets of one instance's task times, with memory.
pub struct BinPacking {
    c: u64,
    /// Distinct task times, decreasing.
    sizes: Vec<u64>,
    memo: HashMap<Box<[u8]>, Known, BuildHasherDefault<WordHasher>>,
    memo_cap: usize,
    /// Steps charged for computing the bounds of one multiset.
    bounds_cost: u64,
    steps_left: u64,
    /// Reused buffer of item sizes (decreasing) for the bounds.
    items: Vec<u64>,
    /// Items in the bin being filled: (size index, count).
    taken: Vec<(usize, u8)>,
    /// Bit sets of subset sums for the dominance test.
    one: Vec<u64>,
    two: Vec<u64>,
    /// Tests only: keep to the work bound, so that the search itself is exercised.
    #[cfg(test)]
    plain: bool,
}

/// Memory for remembered multisets, in bytes (about; beyond it no new one is remembered).
const MEMO_BYTES: usize = 1 << 28;

impl BinPacking {
    /// Bin packing over the multisets of `times` with bins of capacity `c` (every time at most `c`). Items of
    /// size zero fit anywhere and are left out.
    pub fn new(times: &[u64], c: u64) -> Self {
        let mut sizes: Vec<u64> = times.iter().copied().filter(|&t| t > 0).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        BinPacking {
            c,
            memo: HashMap::default(),
            // A key of one byte per size, its box and the bounds, in the table.
            memo_cap: MEMO_BYTES / (sizes.len() + 48),
            sizes,
            bounds_cost: 1 + times.len() as u64 / 16,
            steps_left: 0,
            items: Vec::with_capacity(times.len()),
            taken: Vec::new(),
            one: Vec::new(),
            two: Vec::new(),
            #[cfg(test)]
            plain: false,
        }
    }

    /// Index in the distinct sizes of a task time (one of the instance's times), None for a zero time.
    pub fn size_index(&self, t: u64) -> Option<usize> {
        (t > 0).then(|| self.sizes.partition_point(|&s| s > t))
    }

    /// Items per distinct size of the tasks `tasks` lists, whose times `times` gives; None when a count does not
    /// fit in a byte.
    pub fn counts(&self, times: &[u64], tasks: impl Iterator<Item = usize>) -> Option<Vec<u8>> {
        let mut counts = vec![0u8; self.sizes.len()];
        for j in tasks {
            if let Some(i) = self.size_index(times[j]) {
                counts[i] = counts[i].checked_add(1)?;
            }
        }
        Some(counts)
    }

    /// The number of distinct sizes (the length of a count vector).
    pub fn distinct(&self) -> usize {
        self.sizes.len()
    }

    /// Whether the multiset `counts` (items per distinct size; restored on return) fits in `bins` bins, or
    /// `None` when `budget` steps were not enough to tell; with the steps spent.
    pub fn fits(&mut self, counts: &mut [u8], bins: u32, budget: u64) -> (Option<bool>, u64) {
        self.steps_left = budget;
        let r = self.decide(counts, bins).ok();
        (r, budget - self.steps_left)
    }

    /// Charges `steps`, or fails when the budget is spent.
    fn charge(&mut self, steps: u64) -> Result<(), OutOfSteps> {
        if self.steps_left < steps {
            self.steps_left = 0;
            return Err(OutOfSteps);
        }
        self.steps_left -= steps;
        Ok(())
    }

    /// Whether the multiset fits in `bins` bins (the recursion behind [`Self::fits`]).
    fn decide(&mut self, counts: &mut [u8], bins: u32) -> Result<bool, OutOfSteps> {
        let Some(first) = counts.iter().position(|&k| k > 0) else {
            return Ok(true);
        };
        if bins == 0 {
            return Ok(false);
        }
        let known = match self.memo.get(&*counts) {
            Some(&k) => k,
            None => {
                // Multisets that the bounds settle are not remembered (recomputing is cheaper than the memory).
                self.charge(self.bounds_cost)?;
                let k = self.bounds(counts, bins);
                if bins >= k.ub {
                    return Ok(true);
                }
                if bins < k.lb {
                    return Ok(false);
                }
                if self.memo.len() < self.memo_cap {
                    self.memo.insert(counts.into(), k);
                }
                k
            }
        };
        if bins >= known.ub {
            return Ok(true);
        }
        if bins < known.lb {
            return Ok(false);
        }
        let total: u64 = counts.iter().zip(&self.sizes).map(|(&k, &s)| k as u64 * s).sum();
        // Idle room the bins can leave in all: the first bin may waste no more than that.
        let waste = bins as u64 * self.c - total;
        counts[first] -= 1;
        let room = self.c - self.sizes[first];
        let bin = Bin { room, smallest_left: u64::MAX, waste, bins: bins - 1, first_taken: self.taken.len() };
        let found = self.complete(counts, first, bin);
        counts[first] += 1;
        let found = found?;
        if let Some(k) = self.memo.get_mut(&*counts) {
            if found {
                k.ub = k.ub.min(bins);
            } else {
                k.lb = k.lb.max(bins + 1);
            }
        }
        Ok(found)
    }

    /// Tries every undominated filling of the open bin with items of sizes `from..` (most items of the larger
    /// sizes first), each followed by packing what is left into `bin.bins` bins.
    fn complete(&mut self, counts: &mut [u8], from: usize, bin: Bin) -> Result<bool, OutOfSteps> {
        self.charge(1)?;
        let fitting: u64 =
            (from..counts.len()).filter(|&i| self.sizes[i] <= bin.room).map(|i| counts[i] as u64 * self.sizes[i]).sum();
        if bin.room > bin.waste + fitting {
            return Ok(false);
        }
        let next = (from..counts.len()).find(|&i| counts[i] > 0 && self.sizes[i] <= bin.room);
        let Some(i) = next else {
            if bin.smallest_left <= bin.room || self.dominated(counts, bin.room, bin.first_taken) {
                return Ok(false);
            }
            return self.decide(counts, bin.bins);
        };
        let all = counts[i];
        let most = (all as u64).min(bin.room / self.sizes[i]) as u8;
        for take in (0..=most).rev() {
            let inner = Bin {
                room: bin.room - take as u64 * self.sizes[i],
                smallest_left: if take < all { self.sizes[i] } else { bin.smallest_left },
                ..bin
            };
            counts[i] -= take;
            self.taken.push((i, take));
            let r = self.complete(counts, i + 1, inner);
            self.taken.pop();
            counts[i] += take;
            if r? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Korf's dominance of bin completions: the filling is dominated when an item left out could replace some
    /// of the items put in (of total size at most its own, leaving it room to fit): the other filling is as
    /// full or fuller and leaves smaller items to pack. A single item of the same size is no replacement.
    /// The bin's items are `taken[first..]`.
    fn dominated(&mut self, counts: &[u8], room: u64, first: usize) -> bool {
        let words = (self.c as usize + 1).div_ceil(64);
        // Sums reachable with one or more (`one`) and with two or more (`two`) of the items put in.
        self.one.clear();
        self.one.resize(words, 0);
        self.two.clear();
        self.two.resize(words, 0);
        let mut total = 0;
        for k in first..self.taken.len() {
            let (i, take) = self.taken[k];
            let y = self.sizes[i] as usize;
            for _ in 0..take {
                bits::shift_or_self(&mut self.two, y);
                bits::shift_or(&mut self.two, &self.one, y);
                bits::shift_or_self(&mut self.one, y);
                bits::set(&mut self.one, y);
                total += y;
            }
        }
        (0..counts.len()).any(|i| {
            let x = self.sizes[i] as usize;
            counts[i] > 0
                && x <= total + room as usize
                && (bits::any_in(&self.one, x.saturating_sub(room as usize), x) || bits::get(&self.two, x))
        })
    }

    /// Lower and upper bounds of a multiset, computed only as far as needed to answer for `bins` bins: the
    /// work bound, then first fit decreasing, then Martello and Toth's L2 and the quarter-weight bound.
    fn bounds(&mut self, counts: &[u8], bins: u32) -> Known {
        let total: u64 = counts.iter().zip(&self.sizes).map(|(&k, &s)| k as u64 * s).sum();
        let mut known = Known { lb: ceil_div(total, self.c) as u32, ub: u32::MAX };
        #[cfg(test)]
        if self.plain {
            return known;
        }
        if known.lb > bins {
            return known;
        }
        self.items.clear();
        for (i, &k) in counts.iter().enumerate() {
            self.items.extend(std::iter::repeat_n(self.sizes[i], k as usize));
        }
        known.ub = first_fit_decreasing(&self.items, self.c);
        if known.ub <= bins {
            return known;
        }
        let quarter = quarter_weight_bound(&self.items, self.c) as u32;
        self.items.reverse();
        let l2 = martello_toth_l2_sorted(&self.items, self.c) as u32;
        known.lb = known.lb.max(quarter).max(l2);
        known
    }
}

/// Bins used by first fit on items in decreasing order.
fn first_fit_decreasing(items: &[u64], c: u64) -> u32 {
    let mut loads: Vec<u64> = Vec::new();
    for &x in items {
        match loads.iter_mut().find(|l| **l + x <= c) {
            Some(l) => *l += x,
            None => loads.push(x),
        }
    }
    loads.len() as u32
}

/// The bin-packing relaxation as a bound for one search: asks whether the tasks left fit the stations left
/// when only their times count, with a step budget per question, and stops asking once it seldom cuts. The
/// memory of answers ([`BinPacking`]) is shared by all the searches on one instance.
pub struct PackingBound<'a> {
    packing: &'a RefCell<BinPacking>,
    c: u64,
    /// Index of each task's time among the distinct times (None for a zero time).
    size_of: Vec<Option<usize>>,
    counts: Vec<u8>,
    calls: u64,
    cuts: u64,
    enabled: bool,
}

/// Step budget of one question.
const STEPS_PER_CALL: u64 = 2_000;
/// After this many questions, the bound is kept only while at least one in `KEEP_RATIO` cuts the state.
const TRIAL_CALLS: u64 = 64;
const KEEP_RATIO: u64 = 8;

impl<'a> PackingBound<'a> {
    /// The bound for a search whose task `j` takes `times[j]` (a renumbering of the instance's tasks).
    pub fn new(packing: &'a RefCell<BinPacking>, times: &[u64]) -> Self {
        let p = packing.borrow();
        let size_of = times.iter().map(|&t| p.size_index(t)).collect();
        PackingBound {
            // Counts are kept in bytes.
            enabled: p.counts(times, 0..times.len()).is_some(),
            counts: vec![0; p.distinct()],
            c: p.c,
            packing,
            size_of,
            calls: 0,
            cuts: 0,
        }
    }

    /// True when the tasks that `for_each_task` lists (of total time `work`) cannot be packed into `bins` bins;
    /// with the steps spent. Asks only when less than a bin's worth of room is left over (otherwise the bin
    /// packing is seldom tight).
    pub fn fails(&mut self, for_each_task: impl FnOnce(&mut dyn FnMut(usize)), work: u64, bins: u32) -> (bool, u64) {
        if !self.enabled || work + self.c <= bins as u64 * self.c {
            return (false, 0);
        }
        self.counts.iter_mut().for_each(|k| *k = 0);
        let (size_of, counts) = (&self.size_of, &mut self.counts);
        for_each_task(&mut |j| {
            if let Some(i) = size_of[j] {
                counts[i] += 1;
            }
        });
        let (fits, steps) = self.packing.borrow_mut().fits(&mut self.counts, bins, STEPS_PER_CALL);
        self.calls += 1;
        let cut = fits == Some(false);
        if cut {
            self.cuts += 1;
        }
        if self.calls >= TRIAL_CALLS && self.cuts * KEEP_RATIO < self.calls {
            self.enabled = false;
        }
        (cut, steps + self.size_of.len() as u64 / 16)
    }
}

/// Fewest bins by dynamic programming over subsets (small sets only): the test oracle for the packing
/// and the bounds.
#[cfg(test)]
pub(crate) fn exact_bins(items: &[u64], c: u64) -> u32 {
    let n = items.len();
    let load = |m: usize| (0..n).filter(|&i| m >> i & 1 == 1).map(|i| items[i]).sum::<u64>();
    let mut best = vec![u32::MAX; 1 << n];
    best[0] = 0;
    for m in 1..1usize << n {
        let low = m & m.wrapping_neg();
        let rest = m & !low;
        let mut sub = rest;
        loop {
            let bin = sub | low;
            if load(bin) <= c && best[m & !bin] != u32::MAX {
                best[m] = best[m].min(best[m & !bin] + 1);
            }
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & rest;
        }
    }
    best[(1 << n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_decisions_match_brute_force() {
        let mut next = crate::salbp::test_rng(0x9e37_79b9_7f4a_7c15u64);
        for round in 0..2000 {
            let c = 5 + next(60);
            let n = 1 + next(12) as usize;
            // Half the rounds draw from a few sizes around a third of a bin (many ties, tight packings).
            let items: Vec<u64> = if round % 2 == 0 {
                (0..n).map(|_| 1 + next(c)).collect()
            } else {
                let sizes: Vec<u64> = (0..3).map(|_| c / 5 + next(c / 3 + 1)).collect();
                (0..n).map(|_| sizes[next(3) as usize].max(1)).collect()
            };
            let opt = exact_bins(&items, c);
            let mut bp = BinPacking::new(&items, c);
            bp.plain = round % 4 < 2;
            let mut counts = bp.counts(&items, 0..items.len()).unwrap();
            // Ask around the optimum, in an order that exercises the memory.
            for bins in [opt, opt.saturating_sub(1), opt + 1, opt.saturating_sub(2)] {
                let (fits, _) = bp.fits(&mut counts, bins, u64::MAX);
                assert_eq!(fits, Some(bins >= opt), "round {round}: {items:?} c={c} bins={bins} opt={opt}");
            }
        }
    }
}
