//! The C-MAPSS reader: the real files parse, malformed rows are rejected with file and line.

use std::path::Path;

use twinloom_forecast::cmapss::{parse_cmapss, read_cmapss, INFORMATIVE_SENSORS};
use twinloom_forecast::ForecastError;

fn row(unit: u32, cycle: usize) -> String {
    let mut f = vec![unit.to_string(), cycle.to_string()];
    f.extend((0..24).map(|k| format!("{}.5", k + 1)));
    f.join(" ")
}

fn malformed(text: &str) -> (String, usize, String) {
    match parse_cmapss(text, Path::new("bad_FD001.txt")) {
        Err(e @ ForecastError::Malformed { .. }) => {
            let shown = e.to_string();
            match e {
                ForecastError::Malformed { path, line, .. } => (path.display().to_string(), line, shown),
                _ => unreachable!(),
            }
        }
        other => panic!("expected a malformed-row error, got {other:?}"),
    }
}

#[test]
fn real_files_parse() {
    let dir = twinloom_forecast::cmapss_dir();
    let train = read_cmapss(&dir.join("train_FD001.txt")).expect("train_FD001");
    let test = read_cmapss(&dir.join("test_FD001.txt")).expect("test_FD001");
    assert_eq!(train.len(), 100);
    assert_eq!(test.len(), 100);
    assert_eq!(train.iter().map(|e| e.len()).sum::<usize>(), 20631);
    assert_eq!(test.iter().map(|e| e.len()).sum::<usize>(), 13096);
    let cols: Vec<String> = INFORMATIVE_SENSORS.iter().map(|s| s.to_string()).collect();
    let h = train[0].select(&cols).expect("sensors exist");
    assert_eq!(h[0].len(), 14);
    assert_eq!(h[0][0], 641.82, "s2 of unit 1 cycle 1");
}

#[test]
fn rejects_malformed_rows_with_file_and_line() {
    let good = format!("{}\n{}\n", row(1, 1), row(1, 2));
    assert_eq!(parse_cmapss(&good, Path::new("ok.txt")).expect("valid").len(), 1);

    let short = format!("{}\n1 2 3.0 4.0\n", row(1, 1));
    let (path, line, shown) = malformed(&short);
    assert_eq!((path.as_str(), line), ("bad_FD001.txt", 2));
    assert!(shown.starts_with("bad_FD001.txt:2: expected 26 columns, found 4"), "{shown}");

    let text = format!("{}\n{}\n", row(1, 1), row(1, 2).replace("7.5", "x7"));
    let (_, line, shown) = malformed(&text);
    assert_eq!(line, 2);
    assert!(shown.contains("not a number"), "{shown}");

    let (_, line, shown) = malformed(&format!("{}\n\n{}\n", row(1, 1), row(1, 3)));
    assert_eq!(line, 3, "blank lines still count");
    assert!(shown.contains("cycle 3 follows cycle 1"), "{shown}");

    let (_, line, _) = malformed(&format!("{}\n{}\n{}\n", row(1, 1), row(2, 1), row(1, 2)));
    assert_eq!(line, 3, "a unit may not come back");

    let (_, line, _) = malformed(&row(1, 2));
    assert_eq!(line, 1, "a unit starts at cycle 1");

    let (_, line, _) = malformed(&row(1, 1).replace("1 1 ", "-1 1 "));
    assert_eq!(line, 1, "negative unit");

    let (_, line, _) = malformed(&format!("{}\n{}\n", row(1, 1), row(1, 2).replace("3.5", "NaN")));
    assert_eq!(line, 2, "non-finite value");

    let (_, line, _) = malformed("\n  \n");
    assert_eq!(line, 0, "no data at all");
}

#[test]
fn missing_file_names_the_path() {
    let err = read_cmapss(Path::new("/nonexistent/train_FD009.txt")).expect_err("no such file");
    assert!(matches!(err, ForecastError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/train_FD009.txt"), "{err}");
}
