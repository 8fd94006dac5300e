//! `twinloom analyze distance A B`, `twinloom analyze reach --robot … --points FILE.csv` and
//! `twinloom analyze biw --stage plant.usda`: thin wrappers over the `twinloom-biw` and
//! `twinloom-biw-stage` libraries, printing text or `--json` (documented in docs/biw.md).

use anyhow::Context;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use twinloom_biw::distance::{mesh_distance, penetration_depth, Collider};
use twinloom_biw::io::load_mesh;
use twinloom_biw::kinematics::RobotModel;
use twinloom_biw::math::{Iso3, Vec3};
use twinloom_biw::reach::{check_points, parse_points_csv, suggest_base_shift, ReachSettings};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Minimum distance between two meshes (STL, OBJ or glTF; metres), whether they intersect, and the closest points.
    Distance(DistanceArgs),
    /// Whether a robot reaches each weld point of a CSV file, how far outside it is, and a base shift that fixes it.
    Reach(ReachArgs),
    /// Collision and reach study of every BIW robot of a plant stage; writes results.usda.
    Biw(BiwArgs),
}

#[derive(clap::Args)]
pub struct BiwArgs {
    /// The plant stage (root layer; its sublayers are read too).
    #[arg(long)]
    pub stage: PathBuf,
    /// Where to write the results layer (default: results.usda next to the stage).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where the collision study runs: `auto` the CUDA GPU when this build has the `cuda` feature and one
    /// is present, else the CPU (all cores); `on` the GPU or an error saying what is missing; `off` the CPU.
    #[arg(long, value_parser = ["auto", "on", "off"], default_value = "auto")]
    pub gpu: String,
    /// Near-miss threshold, millimetres.
    #[arg(long, default_value_t = 10.0)]
    pub near_miss_mm: f64,
    /// Allowed rotation of the gun about the approach axis, +- degrees.
    #[arg(long, default_value_t = 30.0)]
    pub spin_tolerance_deg: f64,
    /// Only this station (prim name, e.g. Station01); repeatable. Default: every BIW station.
    #[arg(long)]
    pub station: Vec<String>,
}

#[derive(clap::Args)]
pub struct DistanceArgs {
    /// First mesh file (.stl ASCII or binary, .obj, .gltf, .glb), coordinates in metres.
    pub a: PathBuf,
    /// Second mesh file.
    pub b: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ReachArgs {
    /// Robot model.
    #[arg(long, value_parser = ["abb-irb2400", "kuka-kr6-r700", "fanuc-r2000ic-165f"])]
    pub robot: String,
    /// CSV with columns id,x,y,z,qw,qx,qy,qz (metres, unit quaternion, robot base frame; approach = flange z).
    #[arg(long)]
    pub points: PathBuf,
    /// Allowed rotation about the approach axis, +- degrees.
    #[arg(long, default_value_t = 10.0)]
    pub spin_tolerance_deg: f64,
    /// Half size of the base-shift search box, millimetres per axis.
    #[arg(long, default_value_t = 500.0)]
    pub search_mm: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Distance(a) => distance(a),
        Command::Reach(a) => reach(a),
        Command::Biw(a) => biw(a),
    }
}

fn xyz(v: Vec3) -> Value {
    json!([v.x, v.y, v.z])
}

fn distance(args: DistanceArgs) -> anyhow::Result<ExitCode> {
    let a = Collider::new(load_mesh(&args.a)?);
    let b = Collider::new(load_mesh(&args.b)?);
    let id = Iso3::IDENTITY;
    let d = mesh_distance(&a, &id, &b, &id)
        .with_context(|| format!("{} or {} has no triangles", args.a.display(), args.b.display()))?;
    let depth = if d.intersect { Some(penetration_depth(&a, &id, &b, &id)) } else { None };
    if args.json {
        let out = json!({
            "a": args.a.display().to_string(),
            "b": args.b.display().to_string(),
            "triangles_a": a.mesh.triangles.len(),
            "triangles_b": b.mesh.triangles.len(),
            "distance_m": d.distance,
            "intersect": d.intersect,
            "closest_point_a": xyz(d.point_a),
            "closest_point_b": xyz(d.point_b),
            "triangle_a": d.tri_a,
            "triangle_b": d.tri_b,
            "penetration_depth_m": depth,
        });
        out!("{out}");
    } else {
        out!("distance: {:.9} m", d.distance);
        out!("intersect: {}", if d.intersect { "yes" } else { "no" });
        out!(
            "closest point on A: ({:.6}, {:.6}, {:.6}) m (triangle {})",
            d.point_a.x,
            d.point_a.y,
            d.point_a.z,
            d.tri_a
        );
        out!(
            "closest point on B: ({:.6}, {:.6}, {:.6}) m (triangle {})",
            d.point_b.x,
            d.point_b.y,
            d.point_b.z,
            d.tri_b
        );
        if let Some(depth) = depth {
            out!("penetration depth (estimate): {:.1} mm", depth * 1000.0);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn reach(args: ReachArgs) -> anyhow::Result<ExitCode> {
    let model = RobotModel::by_name(&args.robot)?;
    let text =
        std::fs::read_to_string(&args.points).with_context(|| format!("cannot read {}", args.points.display()))?;
    let points = parse_points_csv(&text, &args.points)?;
    anyhow::ensure!(args.spin_tolerance_deg >= 0.0, "--spin-tolerance-deg must be >= 0");
    anyhow::ensure!(args.search_mm > 0.0, "--search-mm must be > 0");
    let settings = ReachSettings { spin_tolerance: args.spin_tolerance_deg.to_radians(), ..ReachSettings::default() };
    let results = check_points(&model, &points, &settings);
    let all = results.iter().all(|r| r.reachable);
    let half = Vec3::new(args.search_mm, args.search_mm, args.search_mm) * 0.001;
    let shift = if all { None } else { Some(suggest_base_shift(&model, &points, &settings, half, 0.001)) };
    let mm = |v: f64| (v * 1e4).round() / 10.0;
    if args.json {
        let pts: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "reachable": r.reachable,
                    "outside_mm": if r.outside_mm.is_finite() { json!((r.outside_mm * 10.0).round() / 10.0) } else { Value::Null },
                    "joints_deg": r.joints.map(|q| q.iter().map(|v| (v.to_degrees() * 1000.0).round() / 1000.0).collect::<Vec<_>>()),
                    "spin_deg": (r.spin.to_degrees() * 1000.0).round() / 1000.0,
                    "nearest_position_m": xyz(r.nearest_position),
                })
            })
            .collect();
        let base_shift = shift.map(|s| {
            json!({
                "found": s.shift.is_some(),
                "shift_mm": s.shift.map(|v| json!([mm(v.x), mm(v.y), mm(v.z)])),
                "norm_mm": s.shift.map(|v| mm(v.norm())),
                "search_half_mm": [mm(s.search_half.x), mm(s.search_half.y), mm(s.search_half.z)],
                "resolution_mm": mm(s.resolution),
            })
        });
        let out = json!({
            "robot": model.name,
            "spin_tolerance_deg": args.spin_tolerance_deg,
            "all_reachable": all,
            "points": pts,
            "base_shift": base_shift,
        });
        out!("{out}");
    } else {
        for r in &results {
            if r.reachable {
                out!("{}: reachable", r.id);
            } else if r.outside_mm.is_finite() {
                out!("{}: NOT reachable, {:.1} mm outside {}'s envelope", r.id, r.outside_mm, model.name);
            } else {
                out!("{}: NOT reachable, no reachable pose with this approach direction", r.id);
            }
        }
        match shift {
            None => out!("all {} points are reachable", results.len()),
            Some(s) => match s.shift {
                Some(v) => out!(
                    "shifting the base by ({:+.1}, {:+.1}, {:+.1}) mm ({:.1} mm) makes all points reachable",
                    mm(v.x),
                    mm(v.y),
                    mm(v.z),
                    mm(v.norm())
                ),
                None => out!(
                    "no base shift within +-{:.0} mm per axis (searched on a grid refined to {:.0} mm) makes all points reachable",
                    args.search_mm,
                    mm(s.resolution)
                ),
            },
        }
    }
    Ok(if all { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn biw(args: BiwArgs) -> anyhow::Result<ExitCode> {
    use twinloom_biw_stage::{analyze, write_results, GpuMode, Options};
    anyhow::ensure!(args.near_miss_mm >= 0.0, "--near-miss-mm must be >= 0");
    anyhow::ensure!(args.spin_tolerance_deg >= 0.0, "--spin-tolerance-deg must be >= 0");
    let gpu: GpuMode = args.gpu.parse()?;
    let defaults = Options::default();
    let options = Options {
        near_miss: args.near_miss_mm / 1000.0,
        gpu,
        reach: ReachSettings { spin_tolerance: args.spin_tolerance_deg.to_radians(), ..defaults.reach },
        stations: args.station.clone(),
        ..defaults
    };
    let analysis = analyze(&args.stage, &options)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.stage.parent().unwrap_or(std::path::Path::new(".")).join("results.usda"));
    let markers = write_results(&analysis, &out).with_context(|| format!("writing {}", out.display()))?;
    if args.json {
        let mut v = analysis.to_json();
        v["results"] = json!(out.display().to_string());
        v["markers"] = json!(markers);
        out!("{v}");
    } else {
        for line in analysis.sentences() {
            out!("{line}");
        }
        out!(
            "{} clashes, {} near misses, {} unreachable weld points in {:.1} s on the {}{}; wrote {} ({markers} markers)",
            analysis.clashes(),
            analysis.near_misses(),
            analysis.unreachable(),
            analysis.elapsed_s,
            analysis.device.to_uppercase(),
            analysis.device_reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
            out.display()
        );
    }
    let clean = analysis.clashes() == 0 && analysis.unreachable() == 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
