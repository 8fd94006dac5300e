//! Reads serial lines from a plant stage and builds `twinloom_flow` line models from them.
//!
//! A line is a prim with `TwinloomLineAPI` applied. Its **direct children, in namespace order** (the order
//! the layout authors them; the schema has no order attribute for stations) make the line: every child
//! with `TwinloomStationAPI` is a station, and one with `TwinloomBufferAPI` or `TwinloomConveyorAPI` between
//! two stations is the link after the first of them. A buffer or conveyor before the first or after the
//! last station is not part of the model (the source is saturated, the sink takes everything) and is
//! reported in the notes, as is every default the model falls back on. Other children (paint booths, oven zones, equipment, geometry)
//! are not read: the schema gives them no cycle time.
//!
//! | model value | read from | default |
//! |---|---|---|
//! | station cycle time (s) | `twinloom:cycleTime` if > 0, else `twinloom:taktTime` if > 0 (noted) | none: error |
//! | cycle-time distribution | `twinloom:flow:cycleTimeSd` (custom, s): normal with that sd if > 0 | constant |
//! | failures | `twinloom:flow:mtbf` and `twinloom:flow:mttr` (custom, s; both or neither), MTTR exponential | none |
//! | buffer places | `twinloom:capacity` (int ≥ 0) | none: error |
//! | conveyor carriers | `twinloom:capacity` (int ≥ 1 when it moves) | none: error |
//! | conveyor ride time (s) | `twinloom:length` × `metersPerUnit` / `twinloom:speed` (m/s) | `metersPerUnit` 0.01 (USD's) |
//! | no link between two stations | | capacity 0: direct handover |

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use twinloom_flow::des::{Dist, Failures, LineModel, Link, Source, Station};
use twinloom_usd::kit::{Stage, StageError};
use twinloom_usd::stack::join;
use twinloom_usd::Value;
use twinloom_usd_schemas::{attr, schema};

use crate::error::Error;

/// Custom input attribute: standard deviation of a station's cycle time in seconds.
pub const CYCLE_TIME_SD: &str = "twinloom:flow:cycleTimeSd";
/// Custom input attribute: a station's mean busy time between failures in seconds.
pub const MTBF: &str = "twinloom:flow:mtbf";
/// Custom input attribute: a station's mean time to repair in seconds (exponential).
pub const MTTR: &str = "twinloom:flow:mttr";
/// USD's `metersPerUnit` when a stage does not author one.
pub const DEFAULT_METERS_PER_UNIT: f64 = 0.01;

/// A line read from the stage: its prim, its stations' prims in line order, the model and notes on
/// what was left out or defaulted.
#[derive(Clone, Debug)]
pub struct StageLine {
    /// Prim path of the line (a prim with `TwinloomLineAPI`), e.g. `/Plant/Assembly/Line`.
    pub prim: String,
    /// Prim paths of the stations, in line order (`model.stations[i]` is `stations[i]`).
    pub stations: Vec<String>,
    /// The model to simulate: station names are the prim names.
    pub model: LineModel,
    /// What the model leaves out or falls back on, one sentence each.
    pub notes: Vec<String>,
}

/// Simulation settings the stage does not hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Horizon {
    /// Measured hours after the warm-up.
    pub horizon_h: f64,
    /// Warm-up hours, not counted.
    pub warmup_h: f64,
}

/// Every prim of the stage with `TwinloomLineAPI` applied, depth first in namespace order.
pub fn find_lines(stack: &Stage) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        if stack.has_api(&path, schema::LINE) {
            out.push(path.clone());
        }
        let children: Vec<String> = stack.children(&path).iter().map(|c| join(&path, c)).collect();
        todo.extend(children.into_iter().rev());
    }
    out
}

/// Whether the line prim has at least one child with `TwinloomStationAPI` applied.
pub fn has_stations(stack: &Stage, line: &str) -> bool {
    stack.children(line).iter().any(|c| stack.has_api(&join(line, c), schema::STATION))
}

fn name_of(prim: &str) -> String {
    prim.rsplit('/').next().unwrap_or(prim).to_string()
}

/// Reads the line at `prim` into a model.
pub fn read_line(stack: &Stage, prim: &str, horizon: Horizon) -> Result<StageLine, Error> {
    stack.expect_prim(prim)?;
    if !stack.has_api(prim, schema::LINE) {
        let ty = stack.type_name(prim);
        let apis = stack.api_schemas(prim);
        let found = format!(
            "type {}, API schemas {}",
            if ty.is_empty() { "none" } else { &ty },
            if apis.is_empty() { "none".to_string() } else { apis.join(", ") }
        );
        return Err(Error::NotALine { prim: prim.to_string(), found });
    }
    let mut notes = Vec::new();
    let mut stations: Vec<Station> = Vec::new();
    let mut prims: Vec<String> = Vec::new();
    // The buffer or conveyor seen since the last station: (prim, link).
    let mut pending: Option<(String, Link)> = None;
    let mut outside: Vec<String> = Vec::new();
    for child in stack.children(prim) {
        let path = join(prim, &child);
        let is = |api| stack.has_api(&path, api);
        if is(schema::STATION) {
            let station = read_station(stack, &path, &mut notes)?;
            match (stations.last_mut(), pending.take()) {
                (Some(prev), Some((_, link))) => prev.next = Some(link),
                (None, Some((p, _))) => outside.push(p),
                _ => {}
            }
            stations.push(station);
            prims.push(path);
        } else if is(schema::BUFFER) || is(schema::CONVEYOR) {
            if stations.is_empty() {
                outside.push(path);
                continue;
            }
            if let Some((first, _)) = &pending {
                return Err(Error::InvalidLine {
                    prim: prim.to_string(),
                    message: format!(
                        "{first} and {path} both follow station {}; a station has at most one buffer or conveyor after it",
                        prims.last().map_or("", |s| s.as_str())
                    ),
                });
            }
            let link =
                if is(schema::BUFFER) { read_buffer(stack, &path)? } else { read_conveyor(stack, &path, &mut notes)? };
            pending = Some((path, link));
        }
    }
    if let Some((p, _)) = pending {
        outside.push(p);
    }
    for p in outside {
        notes.push(format!("{p}: before the first or after the last station, not part of the model"));
    }
    if stations.is_empty() {
        return Err(Error::InvalidLine {
            prim: prim.to_string(),
            message: "the line has no station children (prims with TwinloomStationAPI)".into(),
        });
    }
    let model = LineModel {
        name: prim.to_string(),
        horizon_h: horizon.horizon_h,
        warmup_h: horizon.warmup_h,
        source: Source::Saturated,
        variants: Vec::new(),
        calendar: None,
        stations,
    };
    model.validate().map_err(|source| Error::Model { line: prim.to_string(), source })?;
    Ok(StageLine { prim: prim.to_string(), stations: prims, model, notes })
}

/// A real attribute that must be finite and >= 0 when authored.
fn non_negative(stack: &Stage, prim: &str, name: &str) -> Result<Option<f64>, StageError> {
    match stack.real(prim, name)? {
        Some(v) if !(v >= 0.0 && v.is_finite()) => {
            Err(StageError::invalid_value(prim, name, v, "must be a finite number >= 0"))
        }
        v => Ok(v),
    }
}

fn read_station(stack: &Stage, prim: &str, notes: &mut Vec<String>) -> Result<Station, StageError> {
    let mean = match non_negative(stack, prim, attr::CYCLE_TIME)? {
        Some(t) if t > 0.0 => t,
        _ => match non_negative(stack, prim, attr::TAKT_TIME)? {
            Some(t) if t > 0.0 => {
                notes.push(format!(
                    "{prim}: no {} > 0, so the station is assumed to work at its {} of {t} s",
                    attr::CYCLE_TIME,
                    attr::TAKT_TIME
                ));
                t
            }
            _ => {
                return Err(StageError::missing(
                    prim,
                    attr::CYCLE_TIME,
                    format!("a station needs a cycle time > 0 in seconds (or, failing that, {} > 0)", attr::TAKT_TIME),
                ))
            }
        },
    };
    let time = match non_negative(stack, prim, CYCLE_TIME_SD)? {
        Some(sd) if sd > 0.0 => Dist::Normal { mean, sd },
        _ => Dist::Const { value: mean },
    };
    let failures = match (non_negative(stack, prim, MTBF)?, non_negative(stack, prim, MTTR)?) {
        (None, None) => None,
        (Some(mtbf), Some(mttr)) => {
            if !(mtbf > 0.0) {
                return Err(StageError::invalid_value(prim, MTBF, mtbf, "must be > 0"));
            }
            if !(mttr > 0.0) {
                return Err(StageError::invalid_value(prim, MTTR, mttr, "must be > 0"));
            }
            Some(Failures { mtbf_s: mtbf, mttr: Dist::Exp { mean: mttr } })
        }
        (Some(_), None) => {
            return Err(StageError::missing(prim, MTTR, format!("{MTBF} is authored, failures need both")))
        }
        (None, Some(_)) => {
            return Err(StageError::missing(prim, MTBF, format!("{MTTR} is authored, failures need both")))
        }
    };
    Ok(Station { name: name_of(prim), time, time_by_variant: Default::default(), failures, next: None })
}

fn capacity(stack: &Stage, prim: &str, what: &str) -> Result<usize, StageError> {
    let c = stack.int(prim, attr::CAPACITY)?.ok_or_else(|| {
        StageError::missing(prim, attr::CAPACITY, format!("a {what} between stations needs its number of places"))
    })?;
    usize::try_from(c).map_err(|_| StageError::invalid_value(prim, attr::CAPACITY, c, "must be >= 0"))
}

fn read_buffer(stack: &Stage, prim: &str) -> Result<Link, StageError> {
    Ok(Link { capacity: capacity(stack, prim, "buffer")?, transport_s: 0.0 })
}

fn read_conveyor(stack: &Stage, prim: &str, notes: &mut Vec<String>) -> Result<Link, StageError> {
    let capacity = capacity(stack, prim, "conveyor")?;
    let length = non_negative(stack, prim, attr::LENGTH)?
        .ok_or_else(|| StageError::missing(prim, attr::LENGTH, "a conveyor between stations needs its length"))?;
    if length == 0.0 {
        return Ok(Link { capacity, transport_s: 0.0 });
    }
    let speed = match non_negative(stack, prim, attr::SPEED)? {
        Some(s) if s > 0.0 => s,
        Some(s) => {
            return Err(StageError::invalid_value(
                prim,
                attr::SPEED,
                s,
                "a conveyor between stations must move (m/s > 0)",
            ))
        }
        None => {
            return Err(StageError::missing(prim, attr::SPEED, "a conveyor between stations needs its speed in m/s"))
        }
    };
    if capacity == 0 {
        return Err(StageError::invalid_value(
            prim,
            attr::CAPACITY,
            0,
            "a conveyor with a length needs room for at least one unit",
        ));
    }
    let mpu = match stack.root_metadata("metersPerUnit")? {
        Some(Value::Double(m)) if m > 0.0 && m.is_finite() => m,
        Some(Value::Float(m)) if m > 0.0 && m.is_finite() => m as f64,
        _ => {
            notes.push(format!(
                "{}: no metersPerUnit, so {prim}'s length is read in centimetres (USD's default)",
                stack.root().display()
            ));
            DEFAULT_METERS_PER_UNIT
        }
    };
    Ok(Link { capacity, transport_s: length * mpu / speed })
}
