//! Writes a study as a results layer the root stage can sublayer: an `over` on every simulated line and
//! station prim (same paths as in the plant) with `twinloom:flow:*` attributes, and `customLayerData`
//! saying which stage, lines, seed, replications and horizon produced it, with the notes on defaults.
//! Written atomically, and never over a layer of the stage: a what-if sibling writes only its own file.
//!
//! The schema's own `twinloom:throughput` (TwinloomLineAPI) is *measured* output, so simulated throughput
//! goes to `twinloom:flow:throughputJph` and never shadows the live value.

use std::path::Path;

use twinloom_usd::kit::{usd, ResultsLayer, StageError};
use twinloom_usd::Value;

use crate::study::Study;

/// Line: mean simulated throughput, jobs per working hour.
pub const THROUGHPUT_JPH: &str = "twinloom:flow:throughputJph";
/// Line: 95 % confidence half-width of the throughput over replications.
pub const THROUGHPUT_CI95_JPH: &str = "twinloom:flow:throughputCi95Jph";
/// Line: time-average work in progress (jobs).
pub const WIP: &str = "twinloom:flow:wip";
/// Line: mean flow time through the line, seconds.
pub const FLOW_TIME_S: &str = "twinloom:flow:flowTimeS";
/// Line: relationship to the bottleneck station.
pub const BOTTLENECK: &str = "twinloom:flow:bottleneck";
/// Station: share of working time busy.
pub const UTILISATION: &str = "twinloom:flow:utilisation";
/// Station: share of working time blocked (its output full).
pub const BLOCKED_SHARE: &str = "twinloom:flow:blockedShare";
/// Station: share of working time starved (no unit to work on).
pub const STARVED_SHARE: &str = "twinloom:flow:starvedShare";
/// Station: share of working time down (failed or in repair).
pub const DOWN_SHARE: &str = "twinloom:flow:downShare";
/// Station: whether it is the line's bottleneck.
pub const IS_BOTTLENECK: &str = "twinloom:flow:isBottleneck";
/// Station: share of replications in which it was the bottleneck.
pub const BOTTLENECK_SHARE: &str = "twinloom:flow:bottleneckShare";
/// Station: the mean cycle time the model used, seconds (shows where a default was taken).
pub const MODEL_CYCLE_TIME_S: &str = "twinloom:flow:modelCycleTimeS";

/// Writes `study` to `out` (atomically). Refuses when `out` is a layer of the studied stage.
pub fn write_results(study: &Study, out: &Path) -> Result<(), StageError> {
    let creator = format!("twinloom-flow-stage {}", env!("CARGO_PKG_VERSION"));
    let mut w = ResultsLayer::create(out, &study.layers, &creator)?;
    for (key, value) in &study.root_metadata {
        w.layer().set_metadata("/", key, value).map_err(usd(format!("layer metadata {key}")))?;
    }
    w.layer().set_documentation(
        "Twinloom flow results: simulated throughput, bottleneck, utilisation and blocked/starved shares per station.",
    )
    .map_err(usd("documentation"))?;
    let o = &study.options;
    let stage = study.layers.first().unwrap_or(&study.stage);
    w.layer_data("twinloom:flow:stage", Value::String(stage.display().to_string()))?;
    w.layer_data("twinloom:flow:lines", Value::StringArray(study.lines.iter().map(|l| l.line.prim.clone()).collect()))?;
    w.layer_data("twinloom:flow:seed", Value::Int64(o.seed as i64))?;
    w.layer_data("twinloom:flow:replications", Value::Int(o.replications as i32))?;
    w.layer_data("twinloom:flow:horizonH", Value::Double(o.horizon_h))?;
    w.layer_data("twinloom:flow:warmupH", Value::Double(o.warmup_h))?;
    w.layer_data("twinloom:flow:source", Value::String("saturated".into()))?;
    let notes: Vec<String> = study.lines.iter().flat_map(|l| l.line.notes.iter().cloned()).collect();
    w.layer_data("twinloom:flow:notes", Value::StringArray(notes))?;
    for r in &study.lines {
        let line = &r.line.prim;
        let s = &r.summary;
        w.over(line)?;
        w.set_custom(line, THROUGHPUT_JPH, Value::Double(s.throughput_per_h.mean))?;
        w.set_custom(line, THROUGHPUT_CI95_JPH, Value::Double(s.throughput_per_h.ci95))?;
        w.set_custom(line, WIP, Value::Double(s.wip.mean))?;
        w.set_custom(line, FLOW_TIME_S, Value::Double(s.mean_flow_time_s.mean))?;
        if let Some(b) = r.bottleneck_prim() {
            w.layer().define_relationship(line, BOTTLENECK, &[b], true).map_err(usd(format!("{line}.{BOTTLENECK}")))?;
        }
        let bottleneck = r.bottleneck();
        for (i, (prim, st)) in r.line.stations.iter().zip(&s.stations).enumerate() {
            w.over(prim)?;
            w.set_custom(prim, UTILISATION, Value::Double(st.utilisation.mean))?;
            w.set_custom(prim, BLOCKED_SHARE, Value::Double(st.blocked.mean))?;
            w.set_custom(prim, STARVED_SHARE, Value::Double(st.starved.mean))?;
            w.set_custom(prim, DOWN_SHARE, Value::Double(st.down.mean))?;
            w.set_custom(prim, IS_BOTTLENECK, Value::Bool(bottleneck == Some(i)))?;
            w.set_custom(prim, BOTTLENECK_SHARE, Value::Double(st.bottleneck_share))?;
            if let Some(m) = r.line.model.stations.get(i) {
                w.set_custom(prim, MODEL_CYCLE_TIME_S, Value::Double(m.time.mean()))?;
            }
        }
    }
    w.save()
}
