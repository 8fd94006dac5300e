//! Reader for the NASA C-MAPSS text format: 26 space-separated numbers per row (unit, cycle, three
//! operational settings, 21 sensors), rows of one unit contiguous and its cycles consecutive from 1.

use std::path::Path;

use crate::error::{ForecastError, Result};

/// The sensors that vary in FD001 (one operating condition); the other seven are constant or nearly so.
pub const INFORMATIVE_SENSORS: [&str; 14] =
    ["s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21"];

/// Names of the 24 measurement columns after unit and cycle: `os1..os3`, `s1..s21`.
pub fn column_names() -> Vec<String> {
    (1..=3).map(|i| format!("os{i}")).chain((1..=21).map(|i| format!("s{i}"))).collect()
}

/// One engine's trajectory: one row of 24 measurements per cycle, cycle 1 first.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    /// Unit number as written in the file.
    pub unit: u32,
    /// Measurements per cycle, in the order of [`column_names`].
    pub rows: Vec<[f64; 24]>,
}

impl Engine {
    /// Number of cycles recorded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no cycle is recorded (never true for an engine returned by the reader).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The history restricted to the named columns, one `Vec` per cycle.
    pub fn select(&self, names: &[String]) -> Result<Vec<Vec<f64>>> {
        let all = column_names();
        let idx = names
            .iter()
            .map(|n| {
                all.iter().position(|c| c == n).ok_or_else(|| ForecastError::Input(format!("no C-MAPSS column {n:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.rows.iter().map(|r| idx.iter().map(|&i| r[i]).collect()).collect())
    }
}

/// Reads a C-MAPSS file (`train_FD00x.txt` or `test_FD00x.txt`).
pub fn read_cmapss(path: &Path) -> Result<Vec<Engine>> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ForecastError::Io { path: path.to_path_buf(), source })?;
    parse_cmapss(&text, path)
}

/// Parses C-MAPSS text; `path` only names the source in errors. Blank lines are skipped.
pub fn parse_cmapss(text: &str, path: &Path) -> Result<Vec<Engine>> {
    let mut engines: Vec<Engine> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |message: String| ForecastError::Malformed { path: path.to_path_buf(), line: i + 1, message };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 26 {
            return Err(bad(format!("expected 26 columns, found {}", fields.len())));
        }
        let unit: u32 =
            fields[0].parse().map_err(|_| bad(format!("unit {:?} is not a positive integer", fields[0])))?;
        let cycle: usize =
            fields[1].parse().map_err(|_| bad(format!("cycle {:?} is not a positive integer", fields[1])))?;
        let mut row = [0.0; 24];
        for (k, f) in fields[2..].iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| bad(format!("column {} value {f:?} is not a number", k + 3)))?;
            if !v.is_finite() {
                return Err(bad(format!("column {} value {f:?} is not finite", k + 3)));
            }
            row[k] = v;
        }
        let new_unit = engines.last().is_none_or(|e| e.unit != unit);
        if new_unit {
            if engines.iter().any(|e| e.unit == unit) {
                return Err(bad(format!("unit {unit} appears again after other units")));
            }
            if cycle != 1 {
                return Err(bad(format!("unit {unit} starts at cycle {cycle}, expected 1")));
            }
            engines.push(Engine { unit, rows: Vec::new() });
        }
        let engine = engines.last_mut().ok_or_else(|| bad("internal: no engine".into()))?;
        if cycle != engine.rows.len() + 1 {
            return Err(bad(format!("unit {unit}: cycle {cycle} follows cycle {}", engine.rows.len())));
        }
        engine.rows.push(row);
    }
    if engines.is_empty() {
        return Err(ForecastError::Malformed { path: path.to_path_buf(), line: 0, message: "no data rows".into() });
    }
    Ok(engines)
}
