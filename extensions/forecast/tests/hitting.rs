//! Time to threshold on the sample plant's degrading assets (issue 18, "prediction in the plant"): the
//! simulator's fans, motors and weld tips (their model run standalone, seed 7, 12 model hours) are followed
//! sample by sample; the forecast made halfway through each life must hold the true failure time in its
//! 80 % interval for at least 80 % of the lives, and its median must be close.

use twinloom_forecast::{HittingConfig, HittingForecast, HittingTime};
use twinloom_simulator::model::degradation::Degradation;

struct Life {
    forecasts: Vec<(f64, HittingForecast)>,
}

#[test]
fn forecasts_halfway_to_failure_hold_the_failure_time_in_their_80_percent_interval() {
    let mut plant = Degradation::standalone(7);
    let mut trackers: Vec<HittingTime> =
        plant.assets.iter().map(|a| HittingTime::new(HittingConfig::new(a.kind.threshold))).collect();
    let mut lives: Vec<Life> = plant.assets.iter().map(|_| Life { forecasts: Vec::new() }).collect();
    let (mut failures, mut covered, mut rel_err) = (0usize, 0usize, Vec::new());
    let mut widths = Vec::new();
    for step in 1..=12 * 3600 {
        let t = step as f64;
        for (i, a) in plant.assets.iter_mut().enumerate() {
            let was_down = a.failed_at_s.is_some();
            let failed = a.step(1.0, t);
            let reading = a.measure();
            if failed {
                // Judge the forecast made closest to halfway through this life.
                let (start, end) = (a.life_start_s, t);
                let half = 0.5 * (start + end);
                let best =
                    lives[i].forecasts.iter().min_by(|x, y| (x.0 - half).abs().total_cmp(&(y.0 - half).abs())).copied();
                if let Some((at, f)) = best {
                    failures += 1;
                    let (low, high) = (at + f.low_s, at + f.high_s);
                    covered += usize::from(low <= end && end <= high);
                    rel_err.push(((at + f.median_s) - end).abs() / (end - at));
                    widths.push((high - low) / (end - at));
                }
                lives[i].forecasts.clear();
                // The twin sees `…Failed`: the next life starts from scratch.
                trackers[i].reset();
                continue;
            }
            if was_down || a.failed_at_s.is_some() {
                continue;
            }
            trackers[i].push(t, reading);
            if step % 30 == 0 {
                if let Some(f) = trackers[i].forecast() {
                    lives[i].forecasts.push((t, f));
                }
            }
        }
    }
    let coverage = covered as f64 / failures as f64;
    rel_err.sort_by(f64::total_cmp);
    widths.sort_by(f64::total_cmp);
    let median_err = rel_err[rel_err.len() / 2];
    let median_width = widths[widths.len() / 2];
    println!(
        "{failures} failures, 80 % interval held the failure time {covered} times ({:.1} %); median error of the median {:.1} % of the remaining life; median interval width {:.1} %",
        100.0 * coverage,
        100.0 * median_err,
        100.0 * median_width
    );
    assert!(failures >= 100, "{failures} failures");
    assert!(coverage >= 0.8, "coverage {coverage}");
    // Sharp enough to plan with: the median is within 15 % of the remaining life, the interval narrower
    // than the remaining life.
    assert!(median_err <= 0.15 && median_width <= 1.0, "error {median_err}, width {median_width}");
}
