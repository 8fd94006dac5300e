//! `twinloom recommend (--stage DIR | --model FILE) [--tasks FILE] [--domain all|assembly|paint|biw] [--json]`:
//! the prescriptive twin (docs/prescriptive.md). The CLI runs the analyses; `twinloom-prescriptive` proposes
//! the candidates, turns paired sibling runs into effects with confidence intervals, ranks and explains them
//! and writes the layers.
//!
//! Assembly: the line (a stage's `TwinloomLineAPI` line through `twinloom-flow-stage`, or a model file's
//! `[line]`) is simulated with N replications; each candidate around the bottleneck is applied to a copy of
//! the model and simulated with the same seed (replication `r` uses stream `r` for the plant and every
//! sibling: common random numbers). With a stage, each candidate's sibling layer (`sibling-<id>.usda`,
//! sublayering the plant's root) and `recommendations.usda` go to `--out` (default: the stage's folder).
//! Paint: the cheapest oven setpoint and conveyor speed inside the cure window (recommend_paint.rs).
//! BIW (stage only, `recommend_biw`): the collision and reach study of the stage, one recommendation per
//! robot program with unreachable points (the base shift the study found, with its residual clearance) and
//! one per program segment with clashes (the re-teach or fixture shift found, with its residual clearance).
//!
//! Exit status: 0 recommendations made (possibly none), 2 on an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use twinloom_flow::des::{replicate, Dist, LineModel, Link, Sim, Source, Summary};
use twinloom_flow::salbp::{read_instance, solve_salbp2, Options as SalbpOptions};
use twinloom_prescriptive::assembly::{self, Candidate, Change, LineView, LinkView, StationView};
use twinloom_prescriptive::layer::{write_recommendations, write_sibling, Override, Plant};
use twinloom_prescriptive::{paired_gain, rank, Recommendation};
use twinloom_usd::kit::Stage;
use twinloom_usd::stack::join;
use twinloom_usd::Value;
use twinloom_usd_schemas::{attr, schema};

#[derive(clap::Args)]
pub struct Args {
    /// The plant stage: a folder with plant.usda (what `twinloom demo` writes) or its root layer.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    pub stage: Option<PathBuf>,
    /// A model file (TOML with [line] and/or [paint], docs/flow.md): no layers written.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// With --stage: the line prim (default: the first line whose path contains "Assembly", else the first
    /// line with stations).
    #[arg(long)]
    pub line: Option<String>,
    /// The line's tasks (.alb or Scholl .IN2, seconds) for the rebalance candidate (exact SALBP-2 over the
    /// line's stations); without it no rebalance is proposed.
    #[arg(long)]
    pub tasks: Option<PathBuf>,
    /// Which recommendations: all (stage: assembly, paint and BIW; model: assembly, and paint when the file
    /// has a [paint] table), assembly, paint or biw.
    #[arg(long, value_parser = ["all", "assembly", "paint", "biw"], default_value = "all")]
    pub domain: String,
    /// Paint model (TOML with [paint], docs/flow.md); default: --model's [paint], or with --stage the sample
    /// plant's paint model (built in).
    #[arg(long)]
    pub paint_model: Option<PathBuf>,
    /// Paint: least minutes beyond the cure time every body variant keeps at a proposed setting.
    #[arg(long, default_value_t = 0.5)]
    pub cure_margin_min: f64,
    /// Paint: least °C below the maximum body temperature every body variant keeps at a proposed setting.
    #[arg(long, default_value_t = 1.0)]
    pub peak_margin_c: f64,
    /// Paint: least throughput a proposed setting keeps, cars/h (default: today's).
    #[arg(long)]
    pub paint_min_rate: Option<f64>,
    /// Paired replications per sibling (at least 2).
    #[arg(long, default_value_t = 10)]
    pub replications: usize,
    /// Random seed shared by the plant and every sibling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Measured hours per replication (after the warm-up).
    #[arg(long, default_value_t = 240.0)]
    pub horizon_h: f64,
    /// Warm-up hours per replication.
    #[arg(long, default_value_t = 24.0)]
    pub warmup_h: f64,
    /// Cycle-time factor of a station with an extra operator.
    #[arg(long, default_value_t = 0.6)]
    pub operator_factor: f64,
    /// With --stage: folder for the sibling layers and recommendations.usda (default: the stage's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Where a line came from.
struct Loaded {
    model: LineModel,
    /// What the stage reader left out or defaulted (e.g. a station without a measured cycle time).
    notes: Vec<String>,
    /// With a stage: the plant root, its layers and metadata, the station prims, the link prims after them.
    stage: Option<StageInfo>,
}

struct StageInfo {
    root: PathBuf,
    plant: Plant,
    stations: Vec<String>,
    links: Vec<Option<String>>,
}

/// The stage's root layer: `DIR/plant.usda` for a folder, else the file itself.
fn stage_root(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("plant.usda")
    } else {
        path.to_path_buf()
    }
}

pub(super) fn plant_of(stack: &Stage) -> anyhow::Result<Plant> {
    let mut root_metadata = Vec::new();
    for key in ["defaultPrim", "upAxis", "metersPerUnit"] {
        if let Some(v) = stack.root_metadata(key)? {
            root_metadata.push((key.to_string(), v));
        }
    }
    Ok(Plant {
        layers: stack.layer_paths().to_vec(),
        root_metadata,
        creator: format!("twinloom recommend {}", env!("CARGO_PKG_VERSION")),
    })
}

fn load_stage(root: &Path, line: Option<&str>, args: &Args) -> anyhow::Result<Loaded> {
    use twinloom_flow_stage::read::{find_lines, has_stations, read_line, Horizon};
    if !root.is_file() {
        bail!("--stage {}: no such file", root.display());
    }
    let stack = Stage::open(root).with_context(|| root.display().to_string())?;
    let lines: Vec<String> = find_lines(&stack).into_iter().filter(|l| has_stations(&stack, l)).collect();
    let prim = match line {
        Some(l) => l.to_string(),
        None => lines
            .iter()
            .find(|l| l.contains("Assembly"))
            .or(lines.first())
            .cloned()
            .with_context(|| format!("{}: no line with stations (TwinloomLineAPI)", root.display()))?,
    };
    let horizon = Horizon { horizon_h: args.horizon_h, warmup_h: args.warmup_h };
    let read = read_line(&stack, &prim, horizon)?;
    // The buffer or conveyor prim after each station (the reader keeps the links, not their prims).
    let mut links = vec![None; read.stations.len()];
    let mut at: Option<usize> = None;
    for child in stack.children(&prim) {
        let path = join(&prim, &child);
        if let Some(i) = read.stations.iter().position(|s| *s == path) {
            at = Some(i);
        } else if stack.has_api(&path, schema::BUFFER) || stack.has_api(&path, schema::CONVEYOR) {
            if let Some(i) = at.filter(|i| i + 1 < read.stations.len()) {
                links[i] = Some(path);
            }
        }
    }
    let plant = plant_of(&stack)?;
    Ok(Loaded {
        model: read.model,
        notes: read.notes,
        stage: Some(StageInfo { root: root.to_path_buf(), plant, stations: read.stations, links }),
    })
}

/// `d` with every duration scaled by `f`.
fn scale(d: Dist, f: f64) -> Dist {
    match d {
        Dist::Const { value } => Dist::Const { value: value * f },
        Dist::Exp { mean } => Dist::Exp { mean: mean * f },
        Dist::Uniform { min, max } => Dist::Uniform { min: min * f, max: max * f },
        Dist::Triangular { min, mode, max } => Dist::Triangular { min: min * f, mode: mode * f, max: max * f },
        Dist::Normal { mean, sd } => Dist::Normal { mean: mean * f, sd: sd * f },
        Dist::Lognormal { mean, sd } => Dist::Lognormal { mean: mean * f, sd: sd * f },
        Dist::Erlang { mean, k } => Dist::Erlang { mean: mean * f, k },
    }
}

/// A station's mean cycle time over the product mix.
fn mix_mean(model: &LineModel, i: usize) -> f64 {
    let s = &model.stations[i];
    let total: f64 = model.variants.iter().map(|v| v.share).sum();
    if model.variants.is_empty() || total <= 0.0 {
        return s.time.mean();
    }
    model.variants.iter().map(|v| v.share / total * s.time_by_variant.get(&v.name).unwrap_or(&s.time).mean()).sum()
}

fn scale_station(model: &mut LineModel, i: usize, f: f64) {
    let s = &mut model.stations[i];
    s.time = scale(s.time, f);
    for d in s.time_by_variant.values_mut() {
        *d = scale(*d, f);
    }
}

/// The candidate applied to a copy of the plant's model.
fn apply(model: &LineModel, change: &Change) -> LineModel {
    let mut m = model.clone();
    match change {
        Change::Buffer { after, capacity } => {
            let transport_s = m.stations[*after].next.as_ref().map_or(0.0, |l| l.transport_s);
            m.stations[*after].next = Some(Link { capacity: *capacity, transport_s });
        }
        Change::Operator { station, factor } => scale_station(&mut m, *station, *factor),
        Change::Takt { from_s, takt_s, .. } => {
            if let Source::Arrivals { interarrival } = &mut m.source {
                // Exactly the takt for exponential arrivals (scaling may be an ulp off), else scaled in shape.
                *interarrival = match *interarrival {
                    Dist::Exp { .. } => Dist::Exp { mean: *takt_s },
                    d => scale(d, takt_s / from_s),
                };
            }
        }
        Change::Rebalance { loads, .. } => {
            for (i, load) in loads.iter().enumerate() {
                let mean = mix_mean(model, i);
                if mean > 0.0 {
                    scale_station(&mut m, i, load / mean);
                }
                // Exactly the load the sibling layer writes (scaling may be an ulp off).
                if let (true, Dist::Normal { mean, .. }) = (m.variants.is_empty(), &mut m.stations[i].time) {
                    *mean = *load;
                }
            }
        }
    }
    m
}

/// The attributes a candidate's sibling layer overrides on the stage.
fn overrides(info: &StageInfo, model: &LineModel, change: &Change) -> Vec<Override> {
    let cycle = |i: usize, v: f64| Override {
        prim: info.stations[i].clone(),
        attribute: attr::CYCLE_TIME.to_string(),
        value: Value::Double(v),
    };
    let sd = |i: usize, f: f64| match model.stations[i].time {
        Dist::Normal { sd, .. } if sd > 0.0 => Some(Override {
            prim: info.stations[i].clone(),
            attribute: twinloom_flow_stage::read::CYCLE_TIME_SD.to_string(),
            value: Value::Double(sd * f),
        }),
        _ => None,
    };
    match change {
        Change::Buffer { after, capacity } => info.links[*after]
            .iter()
            .map(|p| Override {
                prim: p.clone(),
                attribute: attr::CAPACITY.into(),
                value: Value::Int(*capacity as i32),
            })
            .collect(),
        Change::Operator { station, factor } => {
            let mut v = vec![cycle(*station, mix_mean(model, *station) * factor)];
            v.extend(sd(*station, *factor));
            v
        }
        // A stage's lines have a saturated source: no takt to override.
        Change::Takt { .. } => Vec::new(),
        Change::Rebalance { loads, .. } => {
            let mut v = Vec::new();
            for (i, load) in loads.iter().enumerate() {
                let mean = mix_mean(model, i);
                v.push(cycle(i, *load));
                if mean > 0.0 {
                    v.extend(sd(i, load / mean));
                }
            }
            v
        }
    }
}

/// The rebalance candidate from the tasks file: the exact SALBP-2 balance over the line's stations.
fn rebalance(tasks: &Path, stations: usize) -> anyhow::Result<Change> {
    let inst = read_instance(tasks)?;
    let opts = SalbpOptions { time_limit: Some(std::time::Duration::from_secs(2)), step_limit: None };
    let b = solve_salbp2(&inst, stations, &opts).with_context(|| format!("balancing {}", tasks.display()))?;
    let mut loads: Vec<f64> =
        b.balance.stations.iter().map(|st| st.iter().map(|&t| inst.times[t] as f64).sum()).collect();
    loads.resize(stations, 0.0);
    if loads.contains(&0.0) {
        bail!("{}: the balance leaves a station empty; the line model needs every station", tasks.display());
    }
    Ok(Change::Rebalance { loads, cycle_time: b.balance.cycle_time as f64, optimal: b.optimal })
}

/// A sibling that could not be run: its id and why.
pub struct Failed {
    pub id: String,
    pub error: String,
}

/// What the command found.
pub struct Report {
    pub stage: Option<PathBuf>,
    pub line: Option<String>,
    /// What the line model left out or defaulted (from the stage reader), one sentence each.
    pub notes: Vec<String>,
    pub baseline: Option<Summary>,
    pub recommendations: Vec<Recommendation>,
    pub failed: Vec<Failed>,
    /// The paint search (`--json` `paint`) and its one-line summary, when paint recommendations were made.
    pub paint: Option<(serde_json::Value, String)>,
    pub layer: Option<PathBuf>,
    pub seconds: f64,
}

/// Runs the recommender as `args` asks (the command without its printing).
pub fn recommend(args: &Args) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    if args.replications < 2 {
        bail!("--replications must be at least 2 (a confidence interval needs two)");
    }
    if !(args.operator_factor > 0.0 && args.operator_factor < 1.0) {
        bail!("--operator-factor must lie between 0 and 1 (got {})", args.operator_factor);
    }
    let root = args.stage.as_deref().map(stage_root);
    let assembly_wanted = args.domain == "all" || args.domain == "assembly";
    let paint_wanted = args.domain == "all" || args.domain == "paint";
    // `all` with a model file means assembly only: a line model has no robots.
    let biw_wanted = args.domain == "biw" || (args.domain == "all" && args.stage.is_some());
    if args.model.is_some() && args.domain == "biw" {
        bail!("--domain biw needs --stage (a line model has no robots)");
    }
    let out_dir = match (&args.out, &args.stage) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(_)) => root.as_deref().and_then(Path::parent).map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        }),
        (None, None) => None,
    };
    if let Some(d) = &out_dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut recs = Vec::new();
    let mut failed = Vec::new();
    let mut baseline = None;
    let mut line_name = None;
    let mut notes = Vec::new();
    let mut plant = None;
    if assembly_wanted {
        let loaded = match (&root, &args.model) {
            (Some(r), _) => load_stage(r, args.line.as_deref(), args)?,
            (None, Some(m)) => {
                let fm = twinloom_flow::scenario::read_model(m, None)?;
                let mut model = fm.line.with_context(|| format!("{}: no [line] to recommend for", m.display()))?;
                model.horizon_h = args.horizon_h;
                model.warmup_h = args.warmup_h;
                Loaded { model, notes: Vec::new(), stage: None }
            }
            (None, None) => bail!("--stage DIR or --model FILE is required"),
        };
        let model = &loaded.model;
        let name = loaded.stage.as_ref().map_or(model.name.clone(), |_| args.line.clone().unwrap_or_default());
        let sim = Sim::new(model).context("the plant's line model")?;
        let (summary, runs) = replicate(&sim, args.replications, args.seed);
        let base: Vec<f64> = runs.iter().map(|r| r.throughput_per_h).collect();
        let bottleneck = summary.stations.iter().position(|s| s.name == summary.bottleneck).unwrap_or(0);
        let info = loaded.stage.as_ref();
        let line_prim = info
            .and_then(|i| i.stations.first())
            .and_then(|s| s.rsplit_once('/').map(|(l, _)| l.to_string()))
            .unwrap_or(name);
        let view = LineView {
            name: line_prim.clone(),
            bottleneck,
            stations: summary
                .stations
                .iter()
                .enumerate()
                .map(|(i, s)| StationView {
                    name: s.name.clone(),
                    prim: info.map(|i2| i2.stations[i].clone()),
                    mean_s: mix_mean(model, i),
                    utilisation: s.utilisation.mean,
                    blocked: s.blocked.mean,
                    starved: s.starved.mean,
                    link_after: (i + 1 < model.stations.len()).then(|| LinkView {
                        prim: info.and_then(|i2| i2.links[i].clone()),
                        capacity: model.stations[i].next.as_ref().map_or(0, |l| l.capacity),
                    }),
                })
                .collect(),
        };
        let rebalance = match &args.tasks {
            Some(t) => match rebalance(t, model.stations.len()) {
                Ok(c) => Some(c),
                Err(e) => {
                    failed.push(Failed {
                        id: twinloom_prescriptive::rec::make_id(&["assembly", "rebalance", &line_prim]),
                        error: format!("{e:#}"),
                    });
                    None
                }
            },
            None => None,
        };
        let options = assembly::Options { operator_factor: args.operator_factor, ..Default::default() };
        let mut cands: Vec<Candidate> = assembly::candidates(&view, &options, rebalance);
        let takt_note = match &model.source {
            Source::Arrivals { interarrival } => match assembly::takt_candidate(&view, interarrival.mean()) {
                Ok(c) => {
                    cands.push(c);
                    None
                }
                Err(why) => Some(format!("takt change not proposed: {why}")),
            },
            Source::Saturated => Some(format!(
                "takt change not proposed: {line_prim} has a saturated source (its first station never waits), so a \
                 takt does not set its output"
            )),
        };
        for c in &cands {
            match sibling(model, c, &base, args, info, out_dir.as_deref()) {
                Ok((gain, layer)) => recs.push(assembly::recommendation(&view, c, &gain, layer)),
                Err(e) => failed.push(Failed { id: c.id.clone(), error: format!("{e:#}") }),
            }
        }
        baseline = Some(summary);
        line_name = Some(line_prim);
        notes = loaded.notes.clone();
        notes.extend(takt_note);
        plant = info.map(|i| i.plant.clone());
    }
    let mut paint = None;
    if paint_wanted {
        let pl = match (&plant, &root) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(r)) => Some(plant_of(&Stage::open(r).with_context(|| r.display().to_string())?)?),
            (None, None) => None,
        };
        let dir = out_dir.as_deref();
        if let Some(o) = super::recommend_paint::recommend(args, root.as_deref(), pl.as_ref(), dir, &mut notes)? {
            recs.extend(o.recommendations);
            failed.extend(o.failed);
            paint = Some((o.json, o.summary));
        }
        if plant.is_none() {
            plant = pl;
        }
    }
    if biw_wanted {
        let Some(r) = &root else { bail!("BIW recommendations need --stage") };
        if plant.is_none() {
            let stack = Stage::open(r)?;
            plant = Some(plant_of(&stack)?);
        }
        recs.extend(super::recommend_biw::recommendations(r, out_dir.as_deref(), plant.as_ref())?);
    }
    let recs = rank(recs)?;
    let mut layer = None;
    if let (Some(dir), Some(p)) = (&out_dir, &plant) {
        let path = dir.join("recommendations.usda");
        let stage = root.as_ref().map_or(String::new(), |r| r.display().to_string());
        write_recommendations(&path, p, &stage, &recs)?;
        layer = Some(path);
    }
    Ok(Report {
        stage: root,
        line: line_name,
        notes,
        baseline,
        recommendations: recs,
        failed,
        paint,
        layer,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Runs candidate `c` as a sibling with the plant's seeds; with a stage and an output folder, writes its layer.
fn sibling(
    model: &LineModel,
    c: &Candidate,
    base: &[f64],
    args: &Args,
    info: Option<&StageInfo>,
    out_dir: Option<&Path>,
) -> anyhow::Result<(twinloom_prescriptive::Gain, Option<String>)> {
    let m = apply(model, &c.change);
    let sim = Sim::new(&m).with_context(|| format!("sibling {}", c.id))?;
    let (_, runs) = replicate(&sim, args.replications, args.seed);
    let xs: Vec<f64> = runs.iter().map(|r| r.throughput_per_h).collect();
    let gain = paired_gain(&c.id, base, &xs)?;
    let mut layer = None;
    if let (Some(info), Some(dir)) = (info, out_dir) {
        let file = format!("sibling-{}.usda", c.id);
        let path = dir.join(&file);
        let root_abs = info.root.canonicalize().unwrap_or_else(|_| info.root.clone());
        let dir_abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let sub = match root_abs.strip_prefix(&dir_abs) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => root_abs.display().to_string(),
        };
        let doc = format!("Twinloom digital sibling {}: {} (docs/prescriptive.md).", c.id, c.title);
        write_sibling(&path, &info.plant, &sub, &doc, &overrides(info, model, &c.change))?;
        layer = Some(file);
    }
    Ok((gain, layer))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let r = recommend(&args)?;
    if args.json {
        let failed: Vec<_> = r.failed.iter().map(|f| json!({"id": f.id, "error": f.error})).collect();
        let doc = json!({
            "stage": r.stage.as_ref().map(|p| p.display().to_string()),
            "line": r.line,
            "notes": r.notes,
            "replications": args.replications,
            "seed": args.seed,
            "baseline": r.baseline.as_ref().map(|s| json!({
                "throughput_per_h": s.throughput_per_h,
                "bottleneck": s.bottleneck,
            })),
            "recommendations": r.recommendations,
            "failed": failed,
            "paint": r.paint.as_ref().map(|(j, _)| j),
            "results_layer": r.layer.as_ref().map(|p| p.display().to_string()),
            "seconds": r.seconds,
        });
        out!("{doc}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(s) = &r.baseline {
        out!(
            "{}: {:.2} ± {:.2} jobs/h over {} replications (seed {}), bottleneck {}",
            r.line.as_deref().unwrap_or("line"),
            s.throughput_per_h.mean,
            s.throughput_per_h.ci95,
            s.replications,
            s.seed,
            s.bottleneck
        );
    }
    if let Some((_, summary)) = &r.paint {
        out!("{summary}");
    }
    for n in &r.notes {
        out!("note: {n}");
    }
    for rec in &r.recommendations {
        let e = &rec.effect;
        out!(
            "{} #{} {} [{}]: {} {:+.2} ± {:.2} {}{}",
            rec.domain.as_str(),
            rec.rank,
            rec.id,
            rec.state.as_str(),
            e.metric,
            e.change,
            e.ci95,
            e.unit,
            rec.sibling.as_ref().map_or(String::new(), |s| format!(", sibling {s}"))
        );
        out!("    {}", rec.explanation);
        for w in &rec.writes {
            out!("    write {}.{} = {}", w.prim, w.attribute, w.value);
        }
    }
    if r.recommendations.is_empty() {
        out!("no recommendations");
    }
    for f in &r.failed {
        out!("not recommended: {}: {}", f.id, f.error);
    }
    if let Some(l) = &r.layer {
        out!("results layer: {}", l.display());
    }
    Ok(ExitCode::SUCCESS)
}
