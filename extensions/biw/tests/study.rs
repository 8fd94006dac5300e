//! Collision study on the synthetic BIW line: the planted clash and near miss are found, with the right
//! depth, clearance and place.

use twinloom_biw::study::{run_study, EventKind, StudySettings};
use twinloom_biw::synth::sample_biw_study;

#[test]
fn sample_line_finds_planted_clash_and_near_miss() {
    let stations = sample_biw_study(0.05).expect("sample study builds");
    let report = run_study(&stations, &StudySettings::default());
    for line in report.describe() {
        eprintln!("{line}");
    }
    for s in &report.summaries {
        eprintln!("{s:?}");
    }
    let clash = report
        .events
        .iter()
        .filter(|e| e.robot == "R1" && e.kind == EventKind::Clash && e.other == "body")
        .max_by(|a, b| a.max_depth.total_cmp(&b.max_depth))
        .expect("R1 clashes with the body");
    assert_eq!(clash.station, "14");
    assert_eq!(clash.link, "flange");
    assert!(clash.region.starts_with("left"), "{}", clash.region);
    // The flange capsule tip is pushed 40 mm through the panel.
    assert!((clash.max_depth - 0.040).abs() < 0.002, "depth {}", clash.max_depth);
    let near = report
        .events
        .iter()
        .find(|e| e.robot == "R2" && e.kind == EventKind::NearMiss && e.other == "body")
        .expect("R2 near miss");
    assert!((near.min_distance - 0.006).abs() < 0.0005, "clearance {}", near.min_distance);
    assert!(!report.events.iter().any(|e| e.robot == "R2" && e.kind == EventKind::Clash));
    let r2 = report.summaries.iter().find(|s| s.robot == "R2").unwrap();
    assert_eq!(r2.clashes, 0);
    assert!(r2.near_misses >= 1);
    assert!((r2.min_clearance - 0.006).abs() < 0.0005);
}
