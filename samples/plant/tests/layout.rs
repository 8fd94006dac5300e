//! The written layout against Pixar's usd-core and NVIDIA's validator (both from `.venv`, with the
//! Twinloom schemas on `PXR_PLUGINPATH_NAME`): it validates cleanly, its stage metadata, kinds and mesh
//! extents are right, a J2 update turns exactly the subtree below Link2, and turning a state lamp's
//! drum by 72° × state shows that state's colour on top. Without the plugin, plain usd-core places every
//! element the same (tests/peers/portable_stage.py).

use std::path::{Path, PathBuf};
use std::process::Command;

use twinloom_plant_layout::{plant, write_layout, LayoutSummary};
use twinloom_tests::{check_output, venv_bin, TempDir};
use twinloom_usd_schemas::{plugin_path_env, PXR_PLUGIN_PATH_VAR};

/// A freshly written layout in its own temporary folder.
struct Written {
    dir: TempDir,
    summary: LayoutSummary,
}

impl Written {
    fn new() -> Written {
        let dir = TempDir::new("plant-layout");
        let summary = write_layout(&dir.path().join("layout.usda")).expect("write layout");
        Written { dir, summary }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("layout.usda")
    }
}

/// Runs a Python script in the venv with the Twinloom schemas on the plugin path; returns its stdout.
fn python_with_schemas(script: &str, args: &[&str]) -> String {
    let path = plugin_path_env(None);
    twinloom_tests::run_python_with_env(
        script,
        args,
        &[(PXR_PLUGIN_PATH_VAR, &path)],
        "python with the Twinloom schemas",
    )
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn omni_asset_validate_finds_no_issues() {
    let written = Written::new();
    let path = &written.path();
    let out = Command::new(venv_bin("omni_asset_validate"))
        .arg(path)
        .env(PXR_PLUGIN_PATH_VAR, plugin_path_env(None))
        .output()
        .expect("start omni_asset_validate");
    check_output(&format!("omni_asset_validate {}", path.display()), &out);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("No issues found"), "omni_asset_validate reported issues:\n{report}");
}

/// Stage metadata, kinds, schema types, extents of every mesh, and usd-core's UsdValidation.
const STAGE_SCRIPT: &str = r#"
import sys
from pxr import Usd, UsdGeom, Kind, Gf, UsdValidation
stage = Usd.Stage.Open(sys.argv[1])
assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
assert UsdGeom.GetStageUpAxis(stage) == "Z"
assert stage.GetDefaultPrim().GetPath() == "/Plant"
assert stage.GetDefaultPrim().GetTypeName() == "Xform" and stage.GetDefaultPrim().HasAPI("TwinloomSiteAPI")
assert Usd.ModelAPI(stage.GetDefaultPrim()).GetKind() == "assembly"
meshes = 0
for prim in stage.Traverse():
    if prim.IsA(UsdGeom.Mesh):
        meshes += 1
        mesh = UsdGeom.Mesh(prim)
        ext = mesh.GetExtentAttr().Get()
        assert ext is not None and len(ext) == 2, prim.GetPath()
        want = UsdGeom.PointBased.ComputeExtent(mesh.GetPointsAttr().Get())
        assert ext == want, (prim.GetPath(), ext, want)
        assert mesh.GetNormalsAttr().HasAuthoredValue(), prim.GetPath()
        assert UsdGeom.PrimvarsAPI(prim).GetPrimvar("displayColor").HasAuthoredValue(), prim.GetPath()
    kind = Usd.ModelAPI(prim).GetKind()
    if kind:
        assert prim.IsModel(), ("kind breaks the model hierarchy", prim.GetPath(), kind)
robot = stage.GetPrimAtPath("/Plant/BIW/Line/Station01/R01")
assert robot.GetTypeName() == "Xform" and robot.HasAPI("TwinloomRobotAPI") and robot.IsModel()
assert robot.HasAPI("TwinloomEquipmentIdentityAPI") and robot.GetAttribute("twinloom:isa95Level").Get() == "equipmentModule"
assert robot.GetAttribute("twinloom:manufacturer").Get() in ("ABB", "KUKA", "FANUC"), robot.GetAttribute("twinloom:manufacturer").Get()
assert abs(robot.GetAttribute("twinloom:opw:c2").Get() - 1.075) < 1e-9
assert list(robot.GetAttribute("twinloom:opw:signCorrections").Get()) == [1, 1, -1, -1, -1, -1]
assert "TwinloomSignalBindingAPI:xformOp_rotateY" in stage.GetPrimAtPath(
    "/Plant/BIW/Line/Station01/R01/Base/Link1/Link2").GetAppliedSchemas()
assert stage.GetPrimAtPath("/Plant/Paint/Oven/Zone03").HasAPI("TwinloomOvenZoneAPI")
assert stage.GetPrimAtPath("/Plant/Paint/Booths/Primer").HasAPI("TwinloomPaintBoothAPI")
assert stage.GetPrimAtPath("/Plant/Paint/Conveyors/Oven").HasAPI("TwinloomConveyorAPI")
weld = stage.GetPrimAtPath("/Plant/BIW/Line/Station02/Body/WeldPoints/W001")
assert weld.GetAttribute("twinloom:weld:approach").Get() is not None
assert len(weld.GetRelationship("twinloom:weld:robot").GetTargets()) == 1
validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
assert len(validators) > 10, len(validators)
problems = UsdValidation.ValidationContext(validators).Validate(stage)
print("meshes", meshes)
print("problems", len(problems))
for p in problems:
    print("problem", p.GetType(), p.GetMessage())
"#;

/// Plain usd-core without the Twinloom plugin (and omni_asset_validate without it) places every element
/// where it is with the plugin: the elements are `Xform`s with API schemas, not unknown prim types.
#[test]
fn the_layout_is_placed_the_same_without_the_twinloom_plugin() {
    let written = Written::new();
    let summary = twinloom_tests::assert_portable_stage(&written.path());
    let v: serde_json::Value = serde_json::from_str(summary.trim()).expect("JSON summary");
    // Every area, station, robot, link, conveyor, zone … placed by xform ops is compared.
    assert!(v["prims_compared"].as_u64().is_some_and(|n| n > 300), "{v}");
    assert_eq!((v["errors_without_plugin"].as_u64(), v["errors_with_plugin"].as_u64()), (Some(0), Some(0)), "{v}");
    eprintln!("{v}");
}

#[test]
fn usd_core_reads_the_stage_and_usd_validation_finds_nothing() {
    let written = Written::new();
    let (path, summary) = (&written.path(), &written.summary);
    let out = python_with_schemas(STAGE_SCRIPT, &[arg(path)]);
    assert!(out.contains(&format!("meshes {}\n", summary.meshes)), "{out}");
    assert!(out.contains("problems 0\n"), "UsdValidation reported problems:\n{out}");
}

/// Turns J2 of R01 by 30° and compares every link's world transform (UsdGeom.XformCache) with the
/// rotation about the J2 axis applied to the subtree below it.
const J2_SCRIPT: &str = r#"
import sys
from pxr import Usd, UsdGeom, Gf
stage = Usd.Stage.Open(sys.argv[1])
robot = "/Plant/BIW/Line/Station01/R01"
names = ["Base", "Link1", "Link2", "Link3", "Link4", "Link5", "Link6", "Tool"]
paths, p = [], robot
for n in names:
    p = p + "/" + n
    paths.append(p)
def world():
    cache = UsdGeom.XformCache()
    return [cache.GetLocalToWorldTransform(stage.GetPrimAtPath(q)) for q in paths]
before = world()
op = stage.GetPrimAtPath(paths[2]).GetAttribute("xformOp:rotateY")
op.Set(op.Get() + 30.0)
after = world()
close = lambda a, b: all(abs(a[i][j] - b[i][j]) < 1e-6 for i in range(4) for j in range(4))
# Base and Link1 do not move.
assert close(before[0], after[0]) and close(before[1], after[1])
# Link2 turns about its own Y axis through its origin (row vectors: world = local * parent).
turn = Gf.Matrix4d().SetRotate(Gf.Rotation(Gf.Vec3d(0, 1, 0), 30.0))
assert close(after[2], turn * before[2])
assert (after[2].ExtractTranslation() - before[2].ExtractTranslation()).GetLength() < 1e-9
# Everything below Link2 moves rigidly with it.
delta = before[2].GetInverse() * after[2]
for k in range(3, len(paths)):
    assert close(after[k], before[k] * delta), paths[k]
moved = (after[7].ExtractTranslation() - before[7].ExtractTranslation()).GetLength()
print("tool moved %.3f" % moved)
"#;

#[test]
fn setting_j2_turns_the_subtree_below_link2() {
    let written = Written::new();
    let path = &written.path();
    let out = python_with_schemas(J2_SCRIPT, &[arg(path)]);
    let moved: f64 = out.trim().strip_prefix("tool moved ").and_then(|m| m.parse().ok()).expect("tool distance");
    // FANUC R-2000iC: the tool is metres from J2, so 30° moves it by more than a metre.
    assert!(moved > 1.0, "{out}");
}

/// For each state code: turn one station's drum to 72° × code and print which colour faces up.
const LAMP_SCRIPT: &str = r#"
import sys
from pxr import Usd, UsdGeom, Gf
stage = Usd.Stage.Open(sys.argv[1])
drum = stage.GetPrimAtPath("/Plant/BIW/Line/Station03/StateLamp/Drum")
faces = UsdGeom.Mesh(stage.GetPrimAtPath("/Plant/BIW/Line/Station03/StateLamp/Drum/Faces"))
pts = faces.GetPointsAttr().Get()
idx = faces.GetFaceVertexIndicesAttr().Get()
color = UsdGeom.PrimvarsAPI(faces.GetPrim()).GetPrimvar("displayColor")
colors = color.ComputeFlattened()
assert color.GetInterpolation() == "uniform" and len(colors) == len(idx) // 3
for code in range(5):
    drum.GetAttribute("xformOp:rotateX").Set(72.0 * code)
    m = UsdGeom.XformCache().GetLocalToWorldTransform(faces.GetPrim())
    best, best_up = None, -2.0
    for f in range(len(idx) // 3):
        a, b, c = (m.Transform(Gf.Vec3d(pts[idx[3 * f + k]])) for k in range(3))
        n = Gf.Cross(b - a, c - a).GetNormalized()
        if n[2] > best_up:
            best, best_up = f, n[2]
    col = colors[best]
    print(code, "%.2f %.2f %.2f %.3f" % (col[0], col[1], col[2], best_up))
"#;

#[test]
fn turning_the_state_drum_shows_the_state_colour_on_top() {
    let written = Written::new();
    let path = &written.path();
    let out = python_with_schemas(LAMP_SCRIPT, &[arg(path)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), plant::state::COLORS.len(), "{out}");
    for ((code, name, rgb), line) in plant::state::COLORS.iter().zip(lines) {
        let want = format!("{code} {:.2} {:.2} {:.2} 1.000", rgb[0], rgb[1], rgb[2]);
        assert_eq!(line, want, "state {name}");
    }
}

/// Poses R01 (FANUC, sign corrections and a J3 offset) and R07 (ABB) at controller angles through the
/// same scale and offset the bindings use, and compares the wrist centre and flange frame from the
/// prim hierarchy (UsdGeom.XformCache) with the closed-form OPW forward kinematics of Brandstötter et
/// al. (2014), computed here from the robot's own `twinloom:opw:*` attributes.
const OPW_SCRIPT: &str = r#"
import sys, json, math
from pxr import Usd, UsdGeom, Gf
stage = Usd.Stage.Open(sys.argv[1])
bindings = json.loads(sys.argv[2])
q_deg = [20.0, -15.0, 35.0, 40.0, -50.0, 60.0]
def rz(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, -s, 0], [s, c, 0], [0, 0, 1]]
def ry(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, 0, s], [0, 1, 0], [-s, 0, c]]
def mul(A, B):
    return [[sum(A[i][k] * B[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
worst = 0.0
for robot, links in bindings.items():
    r = stage.GetPrimAtPath(robot)
    p = {k: r.GetAttribute("twinloom:opw:" + k).Get() for k in ["a1", "a2", "b", "c1", "c2", "c3", "c4"]}
    t = []
    for j, (prim, attr, scale, offset) in enumerate(links):
        v = q_deg[j] * scale + offset
        stage.GetPrimAtPath(prim).GetAttribute(attr).Set(v)
        t.append(math.radians(v))
    cache = UsdGeom.XformCache()
    base_inv = cache.GetLocalToWorldTransform(r).GetInverse()
    rel = lambda prim: cache.GetLocalToWorldTransform(stage.GetPrimAtPath(prim)) * base_inv
    wrist = rel(links[4][0]).ExtractTranslation()
    flange = rel(links[5][0] + "/Tool")
    # Closed-form OPW: wrist centre, then the flange c4 along the tool axis.
    psi3 = math.atan2(p["a2"], p["c3"])
    k = math.hypot(p["a2"], p["c3"])
    cx1 = p["c2"] * math.sin(t[1]) + k * math.sin(t[1] + t[2] + psi3) + p["a1"]
    cy1 = p["b"]
    cz1 = p["c2"] * math.cos(t[1]) + k * math.cos(t[1] + t[2] + psi3)
    c = [cx1 * math.cos(t[0]) - cy1 * math.sin(t[0]), cx1 * math.sin(t[0]) + cy1 * math.cos(t[0]), cz1 + p["c1"]]
    R = mul(mul(mul(rz(t[0]), ry(t[1] + t[2])), mul(rz(t[3]), ry(t[4]))), rz(t[5]))
    want_flange = [c[i] + p["c4"] * R[i][2] for i in range(3)]
    got_flange = flange.ExtractTranslation()
    for i in range(3):
        worst = max(worst, abs(wrist[i] - c[i]), abs(got_flange[i] - want_flange[i]))
        # Row-vector matrices: row j of the flange matrix is its local axis j in the base frame.
        for j in range(3):
            worst = max(worst, abs(flange[j][i] - R[i][j]))
print("worst %.2e" % worst)
"#;

#[test]
fn robot_links_follow_opw_forward_kinematics() {
    let written = Written::new();
    let mut robots = serde_json::Map::new();
    for robot in ["/Plant/BIW/Line/Station01/R01", "/Plant/BIW/Line/Station04/R07"] {
        let links: Vec<serde_json::Value> = twinloom_plant_layout::demo_bindings()
            .into_iter()
            .filter(|b| b.prim.starts_with(&format!("{robot}/")) && b.unit == "deg")
            .map(|b| serde_json::json!([b.prim, b.attribute, b.scale, b.offset]))
            .collect();
        assert_eq!(links.len(), 6, "{robot}");
        robots.insert(robot.to_string(), serde_json::Value::Array(links));
    }
    let out = python_with_schemas(OPW_SCRIPT, &[arg(&written.path()), &serde_json::Value::Object(robots).to_string()]);
    let worst: f64 = out.trim().strip_prefix("worst ").and_then(|w| w.parse().ok()).expect("worst error");
    // Float rotate ops and float points: agreement to well under a millimetre.
    assert!(worst < 1e-4, "{out}");
}
