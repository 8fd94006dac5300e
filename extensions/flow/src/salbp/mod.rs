//! Simple assembly line balancing (SALBP): instances, file readers, exact SALBP-1/SALBP-2 solvers and
//! station workload reports.

pub mod binpack;
pub mod bitset;
pub mod bounds;
pub mod cbfs;
pub mod dir;
pub mod heuristic;
pub mod instance;
pub mod parse;
pub mod report;
pub mod search;
pub mod solve;

pub use instance::{Instance, Zoning};
pub use parse::{parse_alb, parse_in2, read_instance};
pub use report::{solve_balance, station_report, BalanceSummary, StationReport};
pub use solve::{solve_salbp1, solve_salbp2, Balance, Balance2, Options};

/// A small deterministic generator for the module tests (no dependency): `next(m)` is in `0..m`.
#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |m: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % m
    }
}
