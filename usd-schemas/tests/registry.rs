//! The schema files against Pixar's usd-core (in `.venv`, made by `ci/python-env`): they are what
//! usdGenSchema makes from schema.usda, `Usd.SchemaRegistry` finds every schema with the kinds,
//! properties and allowed tokens this crate lists, prims get the fallbacks, applied signal bindings show
//! in `GetAppliedSchemas`, and a small plant stage using them passes NVIDIA's `omni_asset_validate` and
//! is portable: without the plugin its elements are plain `Xform`s placed where they are with it.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use twinloom_tests::{assert_portable_stage, check_output, python, venv_bin, TempDir};
use twinloom_usd_schemas::{plugin_dir, plugin_path_env, schema, signal, SchemaKind, PXR_PLUGIN_PATH_VAR, SCHEMAS};

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

#[test]
fn generated_files_are_up_to_date() {
    let dir = TempDir::new("usd-schemas-gen");
    let src = plugin_dir();
    for file in ["schema.usda", "plugInfo.json"] {
        std::fs::copy(src.join(file), dir.path().join(file)).expect("copy schema sources");
    }
    let out = Command::new(python())
        .args(["-m", "pxr.Usd.usdGenSchema", "schema.usda", "."])
        .current_dir(dir.path())
        .output()
        .expect("start usdGenSchema");
    check_output("usdGenSchema", &out);
    for file in ["generatedSchema.usda", "plugInfo.json"] {
        let fresh = std::fs::read_to_string(dir.path().join(file)).expect("generated file");
        let committed = std::fs::read_to_string(src.join(file)).expect("committed file");
        assert!(fresh == committed, "usd-schemas/{file} is out of date with schema.usda: run ci/gen-schemas");
    }
}

/// For each schema: its kind as usd-core reports it, and the `twinloom:` properties of a prim using it
/// with their allowed tokens and whether a fallback value is there.
const REGISTRY_SCRIPT: &str = r#"
import json, sys
from pxr import Usd, Plug
schemas = json.loads(sys.argv[1])
assert Plug.Registry().GetPluginWithName("twinloom") is not None, "plugin 'twinloom' not registered"
reg = Usd.SchemaRegistry()
stage = Usd.Stage.CreateInMemory()
out = {}
for i, name in enumerate(schemas):
    kind = str(Usd.SchemaRegistry.GetSchemaKind(name)).split(".")[-1]
    prim = stage.DefinePrim(f"/P{i}", "Xform")
    builtin = []
    if kind == "SingleApplyAPI":
        assert prim.ApplyAPI(name), name
        assert prim.HasAPI(name)
        builtin = list(reg.FindAppliedAPIPrimDefinition(name).GetAppliedAPISchemas())
        assert builtin[0] == name, builtin
        builtin = builtin[1:]
        assert prim.GetAppliedSchemas() == [name] + builtin, prim.GetAppliedSchemas()
        assert all(prim.HasAPI(b) for b in builtin), builtin
    else:
        assert prim.ApplyAPI(name, "probe"), name
        assert prim.HasAPI(name, "probe")
        assert prim.GetAppliedSchemas() == [name + ":probe"], prim.GetAppliedSchemas()
    props = {}
    prefix = "twinloom:signal:probe:" if kind == "MultipleApplyAPI" else "twinloom:"
    for attr in prim.GetAttributes():
        n = attr.GetName()
        if n.startswith(prefix):
            key = n[len(prefix):] if kind == "MultipleApplyAPI" else n
            allowed = attr.GetMetadata("allowedTokens")
            props[key] = {"allowed": [str(t) for t in allowed] if allowed else [], "fallback": attr.Get() is not None}
    level = prim.GetAttribute("twinloom:isa95Level")
    rels = sorted(r.GetName() for r in prim.GetRelationships() if r.GetName().startswith("twinloom:"))
    out[name] = {"kind": kind, "builtin": builtin, "properties": props, "relationships": rels,
                 "isa95Level": level.Get() if level else None}
json.dump(out, sys.stdout)
"#;

#[test]
fn registry_has_every_schema_with_its_properties() {
    let names: Vec<&str> = SCHEMAS.iter().map(|s| s.name).collect();
    let report: Value = serde_json::from_str(&python_with_schemas(REGISTRY_SCRIPT, &[&json!(names).to_string()]))
        .expect("registry report is JSON");
    for schema in SCHEMAS {
        let got = &report[schema.name];
        let kind = match schema.kind {
            SchemaKind::SingleApplyApi => "SingleApplyAPI",
            SchemaKind::MultipleApplyApi => "MultipleApplyAPI",
        };
        assert_eq!(got["kind"], kind, "kind of {}", schema.name);
        assert_eq!(
            got["builtin"],
            json!(schema.builtin.into_iter().collect::<Vec<_>>()),
            "built-in schemas of {}",
            schema.name
        );
        let props = got["properties"].as_object().expect("properties object");
        let all = schema.all_properties();
        let mut want: Vec<&str> = all.iter().map(|p| p.name).collect();
        let mut have: Vec<&str> = props.keys().map(String::as_str).collect();
        want.sort_unstable();
        have.sort_unstable();
        assert_eq!(have, want, "properties of {}", schema.name);
        for p in &all {
            let allowed: Vec<&str> =
                props[p.name]["allowed"].as_array().expect("allowed").iter().filter_map(Value::as_str).collect();
            assert_eq!(allowed, p.allowed_tokens, "allowed tokens of {}.{}", schema.name, p.name);
            assert_eq!(props[p.name]["fallback"], true, "{}.{} has a fallback", schema.name, p.name);
        }
        let mut rels = schema.relationships.to_vec();
        rels.sort_unstable();
        assert_eq!(got["relationships"], json!(rels), "relationships of {}", schema.name);
    }
    // Each element keeps the ISA-95 level fallback its typed schema had (the built-in identity's, or
    // its own override).
    let levels: Vec<(&str, &str)> = SCHEMAS
        .iter()
        .filter(|s| s.is_element())
        .map(|s| (s.name, report[s.name]["isa95Level"].as_str().unwrap_or("")))
        .collect();
    let want = [
        (schema::SITE, "site"),
        (schema::AREA, "area"),
        (schema::LINE, "workCenter"),
        (schema::STATION, "workUnit"),
        (schema::EQUIPMENT, "equipmentModule"),
        (schema::ROBOT, "equipmentModule"),
        (schema::CONVEYOR, "equipmentModule"),
        (schema::BUFFER, "equipmentModule"),
        (schema::PAINT_BOOTH, "equipmentModule"),
        (schema::OVEN_ZONE, "equipmentModule"),
        (schema::SENSOR, "controlModule"),
    ];
    assert_eq!(levels, want);
}

/// Writes a small plant with every element API schema on Xform prims, robots bound to live signals;
/// checks fallbacks and applied schemas through the USD API and runs usd-core's UsdValidation on it;
/// saves it to argv[1].
const PLANT_SCRIPT: &str = r#"
import sys
from pxr import Usd, UsdGeom, Sdf, Gf
path = sys.argv[1]
stage = Usd.Stage.CreateNew(path)
UsdGeom.SetStageMetersPerUnit(stage, 1.0)
UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)

def element(path, api):
    """A plant element as Twinloom writes it: an Xform with its element API schema applied."""
    prim = UsdGeom.Xform.Define(stage, path).GetPrim()
    assert prim.ApplyAPI(api), (path, api)
    return prim

plant = element("/Plant", "TwinloomSiteAPI")
stage.SetDefaultPrim(plant)
element("/Plant/BIW", "TwinloomAreaAPI").GetAttribute("twinloom:shop").Set("bodyInWhite")
element("/Plant/BIW/Line1", "TwinloomLineAPI").GetAttribute("twinloom:taktTime").Set(60.0)
st = element("/Plant/BIW/Line1/ST010", "TwinloomStationAPI")
st.SetDisplayName("Station 010")
UsdGeom.Xformable(st).AddTranslateOp().Set(Gf.Vec3d(12.0, 3.5, 0.0))
st.GetAttribute("twinloom:state").Set("working")
st.GetAttribute("twinloom:currentVin").Set("WVWZZZ1JZXW000001")
robot = element("/Plant/BIW/Line1/ST010/R1", "TwinloomRobotAPI")
UsdGeom.Xformable(robot).AddTranslateOp().Set(Gf.Vec3d(-1.2, 0.8, 0.0))
UsdGeom.Xformable(robot).AddRotateZOp().Set(90.0)
for k, v in {"a1": 0.175, "a2": -0.175, "b": 0.0, "c1": 0.495, "c2": 0.9, "c3": 0.96, "c4": 0.135}.items():
    robot.GetAttribute("twinloom:opw:" + k).Set(v)
robot.GetAttribute("twinloom:joints:positions").Set([0, -30, 45, 0, 30, 0])
for attr in ["twinloom:joints:positions", "twinloom:state"]:
    inst = attr.replace(":", "_")
    assert robot.ApplyAPI("TwinloomSignalBindingAPI", inst)
    robot.GetAttribute(f"twinloom:signal:{inst}:attribute").Set(attr)
    robot.GetAttribute(f"twinloom:signal:{inst}:sourceKind").Set("opcua")
    robot.GetAttribute(f"twinloom:signal:{inst}:address").Set("ns=2;s=ST010.R1." + inst)
    robot.GetAttribute(f"twinloom:signal:{inst}:quality").Set("good")
    robot.GetAttribute(f"twinloom:signal:{inst}:sourceTimestamp").Set(1764000000.5)
element("/Plant/BIW/Line1/ST010/Fixture", "TwinloomEquipmentAPI")
conveyor = element("/Plant/BIW/Line1/Conveyor1", "TwinloomConveyorAPI")
conveyor.GetAttribute("twinloom:speed").Set(0.3)
UsdGeom.Xformable(conveyor).AddTranslateOp().Set(Gf.Vec3d(20.0, 0.0, 0.5))
element("/Plant/BIW/Line1/Buffer1", "TwinloomBufferAPI").GetAttribute("twinloom:capacity").Set(8)
element("/Plant/Paint", "TwinloomAreaAPI").GetAttribute("twinloom:shop").Set("paint")
element("/Plant/Paint/Booth1", "TwinloomPaintBoothAPI").GetAttribute("twinloom:temperature").Set(23.5)
element("/Plant/Paint/OvenZone1", "TwinloomOvenZoneAPI").GetAttribute("twinloom:temperatureSetpoint").Set(180.0)
sensor = element("/Plant/Paint/Booth1/TempSensor", "TwinloomSensorAPI")
assert sensor.ApplyAPI("TwinloomSignalBindingAPI", "twinloom_value")
# A car in work at ST010 (from the MES) with one part of its genealogy.
UsdGeom.Xform.Define(stage, "/Plant/BIW/WIP")
car = UsdGeom.Xform.Define(stage, "/Plant/BIW/WIP/WVWZZZ1JZXW000001").GetPrim()
assert car.ApplyAPI("TwinloomWorkInProcessAPI")
car.GetAttribute("twinloom:wip:vin").Set("WVWZZZ1JZXW000001")
car.GetAttribute("twinloom:wip:options").Set(["PANORAMA", "TOWBAR"])
car.GetAttribute("twinloom:wip:sequence").Set(1001)
car.GetRelationship("twinloom:wip:station").SetTargets(["/Plant/BIW/Line1/ST010"])
UsdGeom.Scope.Define(stage, "/Plant/BIW/WIP/WVWZZZ1JZXW000001/Genealogy")
part = UsdGeom.Scope.Define(stage, "/Plant/BIW/WIP/WVWZZZ1JZXW000001/Genealogy/P5Q0123").GetPrim()
assert part.ApplyAPI("TwinloomMaterialActualAPI")
part.GetAttribute("twinloom:material:lot").Set("L-77")
part.GetAttribute("twinloom:material:quantity").Set(1.0)
part.GetRelationship("twinloom:material:station").SetTargets(["/Plant/BIW/Line1/ST010"])
stage.GetRootLayer().Save()

# Read back through a fresh stage: types, fallbacks, applied schemas.
s = Usd.Stage.Open(path)
r = s.GetPrimAtPath("/Plant/BIW/Line1/ST010/R1")
assert r.GetTypeName() == "Xform"
assert r.GetAppliedSchemas() == ["TwinloomRobotAPI", "TwinloomEquipmentIdentityAPI", "TwinloomSignalBindingAPI:twinloom_joints_positions", "TwinloomSignalBindingAPI:twinloom_state"], r.GetAppliedSchemas()
assert r.HasAPI("TwinloomRobotAPI") and r.HasAPI("TwinloomEquipmentIdentityAPI")
assert r.GetAttribute("twinloom:manufacturer").Get() == ""
assert r.IsA(UsdGeom.Xformable)
assert r.GetAttribute("twinloom:opw:signCorrections").Get() == [1, 1, 1, 1, 1, 1]
assert r.GetAttribute("twinloom:joints:upperLimits").Get() == [180] * 6
assert r.GetAttribute("twinloom:baseFrame").Get() == Gf.Matrix4d(1)
assert r.GetAttribute("twinloom:state").Get() == "unknown"
assert r.GetAttribute("twinloom:isa95Level").Get() == "equipmentModule"
assert r.GetAttribute("twinloom:signal:twinloom_state:scale").Get() == 1.0
assert r.GetAttribute("twinloom:signal:twinloom_state:quality").Get() == "good"
assert s.GetPrimAtPath("/Plant").GetAttribute("twinloom:isa95Level").Get() == "site"
assert s.GetPrimAtPath("/Plant/BIW/Line1").GetAttribute("twinloom:isa95Level").Get() == "workCenter"
st = s.GetPrimAtPath("/Plant/BIW/Line1/ST010")
assert st.GetAttribute("twinloom:isa95Level").Get() == "workUnit" and st.GetAttribute("twinloom:state").Get() == "working"
assert st.GetAttribute("twinloom:state").GetMetadata("allowedTokens")[3] == "working"
t = s.GetPrimAtPath("/Plant/Paint/Booth1/TempSensor")
assert t.GetAttribute("twinloom:isa95Level").Get() == "controlModule"
assert t.GetAttribute("twinloom:signal:twinloom_value:quality").Get() == "uncertain"
assert s.GetPrimAtPath("/Plant/Paint/OvenZone1").GetAttribute("twinloom:temperature").Get() == 0.0
car = s.GetPrimAtPath("/Plant/BIW/WIP/WVWZZZ1JZXW000001")
assert car.GetTypeName() == "Xform" and car.GetAppliedSchemas() == ["TwinloomWorkInProcessAPI"], car.GetAppliedSchemas()
assert list(car.GetAttribute("twinloom:wip:options").Get()) == ["PANORAMA", "TOWBAR"]
assert car.GetAttribute("twinloom:wip:sequence").Get() == 1001 and car.GetAttribute("twinloom:wip:model").Get() == ""
assert car.GetAttribute("twinloom:wip:lastEventAtMs").Get() == 0
assert car.GetRelationship("twinloom:wip:station").GetTargets() == [Sdf.Path("/Plant/BIW/Line1/ST010")]
part = s.GetPrimAtPath("/Plant/BIW/WIP/WVWZZZ1JZXW000001/Genealogy/P5Q0123")
assert part.GetTypeName() == "Scope" and part.HasAPI("TwinloomMaterialActualAPI")
assert part.GetAttribute("twinloom:material:lot").Get() == "L-77" and part.GetAttribute("twinloom:material:serial").Get() == ""

# usd-core's own validators (UsdValidation, all registered ones) find nothing.
from pxr import UsdValidation
validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
assert len(validators) > 10, len(validators)
problems = UsdValidation.ValidationContext(validators).Validate(s)
assert not problems, [(str(p.GetType()), p.GetMessage()) for p in problems]
print("ok")
"#;

#[test]
fn plant_stage_with_the_schemas_loads_and_validates() {
    let dir = TempDir::new("usd-schemas-plant");
    let file = dir.path().join("plant.usda");
    let file_arg = file.to_str().expect("UTF-8 temp path");
    assert_eq!(python_with_schemas(PLANT_SCRIPT, &[file_arg]).trim(), "ok");
    let text = std::fs::read_to_string(&file).expect("plant.usda written");
    assert!(text.contains("def Xform \"R1\""), "{text}");
    assert!(text.contains(schema::ROBOT), "{text}");
    assert!(text.contains(&signal::applied_schema("twinloom_state")), "{text}");
    omni_asset_validate_with_schemas(&file);
    // The same stage without the plugin: every element is placed where it is with it.
    let summary: Value = serde_json::from_str(assert_portable_stage(&file).trim()).expect("JSON summary");
    assert_eq!(summary["prims_compared"], 3, "{summary}");
}

/// NVIDIA's validator, with the schemas on its plugin path; panics with its report unless it exits 0.
fn omni_asset_validate_with_schemas(file: &Path) {
    let out = Command::new(venv_bin("omni_asset_validate"))
        .arg(file)
        .env(PXR_PLUGIN_PATH_VAR, plugin_path_env(None))
        .output()
        .expect("start omni_asset_validate");
    check_output(&format!("omni_asset_validate {}", file.display()), &out);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("No issues found"), "omni_asset_validate reported issues:\n{report}");
}
