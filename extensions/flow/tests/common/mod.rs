//! Helpers shared by the line-simulation tests: small model builders, the confidence-interval check, and the
//! throughput of a two-station line with a finite buffer from its continuous-time Markov chain.
#![allow(dead_code)]

use std::collections::BTreeMap;

use twinloom_flow::des::{Dist, LineModel, Link, Source, Station};

pub fn station(name: &str, time: Dist, buffer: Option<usize>) -> Station {
    Station {
        name: name.into(),
        time,
        time_by_variant: BTreeMap::new(),
        failures: None,
        next: buffer.map(|capacity| Link { capacity, transport_s: 0.0 }),
    }
}

pub fn line(source: Source, stations: Vec<Station>, horizon_h: f64) -> LineModel {
    LineModel { name: "test".into(), horizon_h, warmup_h: 10.0, source, variants: vec![], calendar: None, stations }
}

/// Checks that `exact` lies within the confidence interval (widened by 10 % of its half-width for safety).
pub fn within(what: &str, est: twinloom_flow::des::Estimate, exact: f64) {
    assert!((est.mean - exact).abs() <= est.ci95 * 1.1, "{what}: {} ± {} vs exact {exact}", est.mean, est.ci95);
    assert!(est.ci95 < 0.05 * exact.abs().max(1e-9), "{what}: interval too wide ({})", est.ci95);
}

/// Throughput of two exponential stations with `b` buffer places between them (saturated source, blocking
/// after service), from the stationary distribution of the Markov chain solved by Gaussian elimination.
pub fn two_station_throughput(mu1: f64, mu2: f64, b: usize) -> f64 {
    // State n = jobs past station 1 (in buffer, in station 2, or finished and blocked in station 1): 0..=b+2.
    let k = b + 3;
    let mut q = vec![vec![0.0; k]; k];
    for n in 0..k {
        if n + 1 < k {
            q[n][n + 1] = mu1;
        }
        if n > 0 {
            q[n][n - 1] = mu2;
        }
        let out: f64 = q[n].iter().sum();
        q[n][n] = -out;
    }
    // Solve p Q = 0, Σp = 1: transpose and replace the last equation by the normalisation.
    let mut a: Vec<Vec<f64>> = (0..k).map(|i| (0..k).map(|j| q[j][i]).chain([0.0]).collect()).collect();
    a[k - 1] = vec![1.0; k + 1];
    for c in 0..k {
        let p = (c..k).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs())).unwrap();
        a.swap(c, p);
        for r in 0..k {
            if r != c {
                let f = a[r][c] / a[c][c];
                let pivot = a[c].clone();
                for (x, y) in a[r].iter_mut().zip(&pivot).skip(c) {
                    *x -= f * y;
                }
            }
        }
    }
    let p: Vec<f64> = (0..k).map(|i| a[i][k] / a[i][i]).collect();
    mu2 * (1.0 - p[0])
}
