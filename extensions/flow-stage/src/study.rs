//! Runs the flow study on a stage: opens the layer stack, reads the selected lines ([`crate::read`]),
//! simulates each with `twinloom_flow`'s replications and keeps what the results layer and the
//! command-line report need.

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use twinloom_flow::des::{replicate, Sim, Summary};
use twinloom_usd::kit::Stage;
use twinloom_usd::Value;

use crate::error::Error;
use crate::read::{find_lines, has_stations, read_line, Horizon, StageLine};

/// What to simulate and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Prim paths of the lines to simulate; empty: every line (`TwinloomLineAPI`) with station children.
    pub lines: Vec<String>,
    /// Independent replications (at least 1), run in parallel.
    pub replications: usize,
    /// Random seed; replication `r` uses stream `r` of it.
    pub seed: u64,
    /// Measured hours per replication (after the warm-up).
    pub horizon_h: f64,
    /// Warm-up hours per replication, not counted.
    pub warmup_h: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { lines: Vec::new(), replications: 10, seed: 1, horizon_h: 240.0, warmup_h: 24.0 }
    }
}

/// One simulated line.
#[derive(Clone, Debug)]
pub struct LineResult {
    pub line: StageLine,
    pub summary: Summary,
}

impl LineResult {
    /// Index of the bottleneck station (active-period method over all replications).
    pub fn bottleneck(&self) -> Option<usize> {
        self.summary.stations.iter().position(|s| s.name == self.summary.bottleneck)
    }

    /// Prim path of the bottleneck station.
    pub fn bottleneck_prim(&self) -> Option<&str> {
        self.bottleneck().and_then(|i| self.line.stations.get(i)).map(String::as_str)
    }
}

/// The study of one stage.
#[derive(Clone, Debug)]
pub struct Study {
    /// The stage's root layer as given.
    pub stage: PathBuf,
    /// Every layer of the stage (canonical paths, strongest first): results never go to one of these.
    pub layers: Vec<PathBuf>,
    pub options: Options,
    /// The root layer's `defaultPrim`, `upAxis` and `metersPerUnit`, copied into the results layer.
    pub root_metadata: Vec<(String, Value)>,
    /// Lines of the stage without stations, not simulated (all-lines mode only).
    pub skipped: Vec<String>,
    pub lines: Vec<LineResult>,
}

impl Study {
    /// The study as JSON: stage, settings, and per line the prim, notes, the summary and station prims.
    pub fn to_json(&self) -> Json {
        json!({
            "stage": self.stage.display().to_string(),
            "replications": self.options.replications,
            "seed": self.options.seed,
            "horizon_h": self.options.horizon_h,
            "warmup_h": self.options.warmup_h,
            "skipped_lines": self.skipped,
            "lines": self.lines.iter().map(|l| json!({
                "prim": l.line.prim,
                "stations": l.line.stations,
                "bottleneck_prim": l.bottleneck_prim(),
                "notes": l.line.notes,
                "summary": l.summary,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Where results go by default: `flow-results.usda` next to the stage.
pub fn default_results_path(stage: &Path) -> PathBuf {
    stage.parent().unwrap_or(Path::new(".")).join("flow-results.usda")
}

/// Reads the stage's lines and simulates them. The stage's layers are closed again before it returns.
pub fn analyze(stage: &Path, options: &Options) -> Result<Study, Error> {
    let stack = Stage::open(stage)?;
    let horizon = Horizon { horizon_h: options.horizon_h, warmup_h: options.warmup_h };
    let mut skipped = Vec::new();
    let prims = if options.lines.is_empty() {
        let (with, without): (Vec<String>, Vec<String>) =
            find_lines(&stack).into_iter().partition(|l| has_stations(&stack, l));
        skipped = without;
        if with.is_empty() {
            return Err(Error::NoLines(stage.display().to_string()));
        }
        with
    } else {
        options.lines.clone()
    };
    let read: Vec<StageLine> = prims.iter().map(|p| read_line(&stack, p, horizon)).collect::<Result<_, _>>()?;
    let mut root_metadata = Vec::new();
    for key in ["defaultPrim", "upAxis", "metersPerUnit"] {
        if let Some(v) = stack.root_metadata(key)? {
            root_metadata.push((key.to_string(), v));
        }
    }
    let layers = stack.layer_paths().to_vec();
    drop(stack);
    let mut lines = Vec::with_capacity(read.len());
    for line in read {
        let sim = Sim::new(&line.model).map_err(|source| Error::Model { line: line.prim.clone(), source })?;
        let (summary, _) = replicate(&sim, options.replications.max(1), options.seed);
        lines.push(LineResult { line, summary });
    }
    Ok(Study { stage: stage.to_path_buf(), layers, options: options.clone(), root_metadata, skipped, lines })
}
