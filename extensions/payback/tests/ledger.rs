//! The payback numbers against a hand calculation (every figure below is worked out in the comments), the
//! actuals CSV, and bad ledgers refused with file and line.

use std::path::Path;

use twinloom_payback::{evaluate, parse_ledger, Month, PaybackError};

const LEDGER: &str = r#"
[ledger]
name = "hand check"
currency = "EUR"
start = "2026-01"
months = 12
recalibrate_months = 2

[[investment]]
phase = "pilot"
month = "2026-01"
amount = 100.0
actual = 120.0

[[investment]]
phase = "operations"
from = "2026-02"
monthly = 10.0

[[lever]]
id = "A"
dimension = "quality"
from = "2026-02"
projected_monthly = 40.0

[[lever]]
id = "B"
dimension = "efficiency"
from = "2026-03"
projected_monthly = 20.0
ramp_months = 2

[[actual]]
month = "2026-02"
lever = "A"
saving = 30.0

[[actual]]
month = "2026-03"
lever = "A"
saving = 30.0

[[actual]]
month = "2026-04"
lever = "A"
saving = 40.0

[[actual]]
month = "2026-03"
lever = "B"
saving = 5.0

[[actual]]
month = "2026-04"
lever = "B"
saving = 10.0
"#;

fn m(s: &str) -> Month {
    Month::parse(s).unwrap()
}

#[test]
fn the_report_matches_the_hand_calculation() {
    let ledger = parse_ledger(LEDGER, "hand.toml", Path::new(".")).unwrap();
    let r = evaluate(&ledger);
    assert_eq!(r.through, Some(m("2026-04")));
    // Projected: Jan -100, Feb +30 (40 - 10), Mar +40 (40 + 10 of B's ramp - 10), Apr on +50 (40 + 20 - 10).
    let cum_p: Vec<f64> = r.rows.iter().map(|r| r.cumulative_projected).collect();
    assert_eq!(&cum_p[..5], &[-100.0, -70.0, -30.0, 20.0, 70.0]);
    assert_eq!(r.payback_projected, Some(m("2026-04")));
    // Actual: Jan -120 (the pilot cost 120), Feb +20 (30 - 10), Mar +25 (35 - 10), Apr +40 (50 - 10): -35.
    // Ratios over the last 2 measured months: A (30 + 40) / (40 + 40) = 0.875, B (5 + 10) / (10 + 20) = 0.5;
    // from May on: 0.875 × 40 + 0.5 × 20 - 10 = +35 a month, so the cumulative is 0 in May: payback.
    let cum_a: Vec<f64> = r.rows.iter().map(|r| r.cumulative_actual).collect();
    assert_eq!(&cum_a[..6], &[-120.0, -100.0, -75.0, -35.0, 0.0, 35.0]);
    assert_eq!(r.payback_actual, Some(m("2026-05")));
    assert_eq!(r.rows[3].saving_measured, Some(50.0));
    assert_eq!(r.rows[4].saving_measured, None);
    assert_eq!((r.invest_planned_total, r.invest_actual_total), (210.0, 230.0));

    let a = &r.levers[0];
    // A to date (Feb–Apr): projected 120, measured 100; totals: 11 × 40 = 440 and 100 + 8 × 35 = 380.
    assert_eq!((a.projected_to_date, a.actual_to_date, a.gap_to_date), (120.0, 100.0, -20.0));
    assert_eq!((a.ratio, a.projected_total, a.actual_total), (Some(0.875), 440.0, 380.0));
    let b = &r.levers[1];
    // B: projected 10 + 20 = 30 to date, 15 measured; totals 10 + 9 × 20 = 190 and 15 + 8 × 10 = 95.
    assert_eq!((b.projected_to_date, b.actual_to_date, b.ratio), (30.0, 15.0, Some(0.5)));
    assert_eq!((b.projected_total, b.actual_total), (190.0, 95.0));
    // Dimensions in the fixed order cost, efficiency, quality, revenue (only those with levers).
    let dims: Vec<(&str, f64, f64)> =
        r.dimensions.iter().map(|d| (d.name.as_str(), d.projected_total, d.actual_total)).collect();
    assert_eq!(dims, [("efficiency", 190.0, 95.0), ("quality", 440.0, 380.0)]);
}

#[test]
fn without_actuals_the_projection_stands_and_a_horizon_below_zero_has_no_payback() {
    let plan = LEDGER.split("[[actual]]").next().unwrap().replace("months = 12", "months = 3");
    let r = evaluate(&parse_ledger(&plan, "plan.toml", Path::new(".")).unwrap());
    assert_eq!(r.through, None);
    assert!(r.levers.iter().all(|l| l.ratio.is_none()));
    // Jan -100, Feb -70, Mar -30 (actual: -120, -90, -50): the horizon ends below zero.
    assert_eq!((r.payback_projected, r.payback_actual), (None, None));
    assert_eq!(r.rows[2].cumulative_actual, -50.0);
}

#[test]
fn actuals_come_from_a_csv_too() {
    let dir = std::env::temp_dir().join(format!("twinloom-payback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("actuals.csv"),
        "month,lever,saving\n2026-02,A,30\n2026-03,A,30\n2026-04,A,40\n2026-03,B,5\n2026-04,B,10\n",
    )
    .unwrap();
    let head = LEDGER
        .split("[[actual]]")
        .next()
        .unwrap()
        .replace("recalibrate_months = 2", "recalibrate_months = 2\nactuals = \"actuals.csv\"");
    let from_csv = evaluate(&parse_ledger(&head, "csv.toml", &dir).unwrap());
    let from_toml = evaluate(&parse_ledger(LEDGER, "hand.toml", Path::new(".")).unwrap());
    assert_eq!(from_csv, from_toml);

    std::fs::write(dir.join("actuals.csv"), "month,lever,saving\n2026-02,A,30\n2026-03,C,1\n").unwrap();
    let e = parse_ledger(&head, "csv.toml", &dir).unwrap_err().to_string();
    assert!(e.contains("actuals.csv:3") && e.contains("unknown lever \"C\""), "{e}");
    std::fs::write(dir.join("actuals.csv"), "2026-02,A\n").unwrap();
    let e = parse_ledger(&head, "csv.toml", &dir).unwrap_err().to_string();
    assert!(e.contains("actuals.csv:1") && e.contains("month,lever,saving"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refused(text: &str) -> String {
    parse_ledger(text, "bad.toml", Path::new(".")).unwrap_err().to_string()
}

#[test]
fn bad_ledgers_are_refused_with_file_and_line() {
    // A negative cost, on the line of its entry.
    let e = refused(&LEDGER.replace("amount = 100.0", "amount = -100.0"));
    assert!(e.starts_with("bad.toml:9:") && e.contains("must be a finite amount ≥ 0"), "{e}");
    // An actual for a lever the ledger does not have.
    let e = refused(&LEDGER.replace("lever = \"B\"\nsaving = 5.0", "lever = \"Z\"\nsaving = 5.0"));
    assert!(e.contains("unknown lever \"Z\"") && e.contains("A, B"), "{e}");
    // Two actuals for one lever and month.
    let e = refused(&LEDGER.replace(
        "month = \"2026-03\"\nlever = \"A\"\nsaving = 30.0",
        "month = \"2026-04\"\nlever = \"B\"\nsaving = 1.0",
    ));
    assert!(e.contains("second actual for lever \"B\" in 2026-04"), "{e}");
    // A missing month: A measured in February and April but not March.
    let gap = LEDGER.replace("[[actual]]\nmonth = \"2026-03\"\nlever = \"A\"\nsaving = 30.0\n", "");
    let e = parse_ledger(&gap, "bad.toml", Path::new(".")).unwrap_err();
    assert!(matches!(e, PaybackError::MissingMonths { .. }), "{e:?}");
    assert!(e.to_string().contains("A 2026-03") && e.to_string().contains("missing actuals"), "{e}");
    // Unknown dimension, unknown key, a month outside the horizon, not a month, a TOML error.
    assert!(refused(&LEDGER.replace("\"quality\"", "\"morale\"")).contains("dimension \"morale\" is not one of"));
    assert!(refused(&LEDGER.replace("ramp_months = 2", "ramp = 2")).contains("unknown field `ramp`"));
    assert!(refused(&LEDGER.replace("month = \"2026-04\"\nlever = \"B\"", "month = \"2027-04\"\nlever = \"B\""))
        .contains("outside the ledger's 2026-01 … 2026-12"));
    assert!(refused(&LEDGER.replace("start = \"2026-01\"", "start = \"January\"")).starts_with("bad.toml:5:"));
    assert!(refused("[ledger\n").starts_with("bad.toml:1:"));
    // A one-off with recurring keys too.
    let e = refused(&LEDGER.replace("actual = 120.0", "actual = 120.0\nmonthly = 3.0"));
    assert!(e.contains("either month + amount (one-off) or from + monthly"), "{e}");
}
