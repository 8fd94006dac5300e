//! Upper bounds for SALBP-1: Hoffmann's heuristic, with Sewell and Jacobson's weighted choice of loads. Each
//! station gets the best load found by a capped enumeration, where a load costs its idle time minus `alpha`
//! times the positional weights of its tasks (the work that waits for them).

use crate::salbp::bitset::{self as bs, Set};
use crate::salbp::dir::Dir;

/// The weights `alpha` tried: the fullest load (Hoffmann's), and loads that favour tasks with much work
/// behind them. More of Sewell and Jacobson's weightings improve the first upper bound a little, but on
/// Scholl's data set they cost more time than the search they save.
pub const ALPHAS: [f64; 2] = [0.0, 0.005];

/// Hoffmann's heuristic with the load cost weight `alpha`, enumerating at most `per_station` partial loads
/// per station. Returns the station loads in order, or None when zoning blocks every load.
pub fn hoffmann<const W: usize>(d: &Dir<W>, alpha: f64, per_station: u64) -> Option<Vec<Set<W>>> {
    let mut chooser = Chooser { d, alpha, assigned: [0u64; W], best: None, budget: 0 };
    let mut loads = Vec::new();
    while chooser.assigned != d.full {
        chooser.best = None;
        chooser.budget = per_station;
        let avail = d.available(&chooser.assigned);
        chooser.extend(&mut [0u64; W], 0, 0.0, &avail);
        let (_, load) = chooser.best?;
        chooser.assigned = bs::union(&chooser.assigned, &load);
        loads.push(load);
    }
    Some(loads)
}

/// The capped enumeration of one station's loads.
struct Chooser<'d, const W: usize> {
    d: &'d Dir<W>,
    alpha: f64,
    assigned: Set<W>,
    /// Least cost found and its load.
    best: Option<(f64, Set<W>)>,
    budget: u64,
}

impl<const W: usize> Chooser<'_, W> {
    /// Tries every task of `avail` (unplaced, predecessors placed) that can join `load` (of time `load_t`,
    /// positional weight `weight` so far), longest first.
    fn extend(&mut self, load: &mut Set<W>, load_t: u64, weight: f64, avail: &Set<W>) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        let d = self.d;
        let mut cands: Vec<usize> = Vec::new();
        bs::for_each(avail, |j| {
            if d.t[j] <= d.c - load_t && !bs::intersects(&d.apart[j], load) {
                cands.push(j);
            }
        });
        cands.sort_by_key(|&j| std::cmp::Reverse(d.t[j]));
        for j in cands {
            bs::insert(load, j);
            let next = d.available_after(avail, &bs::union(&self.assigned, load), j);
            self.extend(load, load_t + d.t[j], weight + d.pw[j] as f64, &next);
            bs::remove(load, j);
        }
        let cost = (d.c - load_t) as f64 - self.alpha * weight;
        let empty = *load == [0u64; W];
        if !empty && d.together_ok(load) && self.best.is_none_or(|(b, _)| cost < b) {
            self.best = Some((cost, *load));
        }
    }
}
