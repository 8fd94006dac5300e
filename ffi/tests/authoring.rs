//! Authors a layer through the bridge with every supported value type, reads it back through the bridge and
//! with Pixar's usd-core (Python), and runs NVIDIA's omni_asset_validate on a written stage.

use twinloom_tests::{omni_asset_validate, run_python, TempDir};
use twinloom_usd::{AttributeDef, Layer, Specifier, UpAxis, Value, ValueType};

fn sample_values() -> Vec<(&'static str, Value)> {
    vec![
        ("vBool", Value::Bool(true)),
        ("vInt", Value::Int(-42)),
        ("vInt64", Value::Int64(1 << 40)),
        ("vFloat", Value::Float(1.5)),
        ("vDouble", Value::Double(-0.125)),
        ("vString", Value::String("VIN WVW123 \"quoted\" ü".into())),
        ("vToken", Value::Token("running".into())),
        ("vAsset", Value::Asset("./layout.usda".into())),
        ("vFloat2", Value::Float2([0.5, -0.5])),
        ("vFloat3", Value::Float3([1.0, 2.0, 3.0])),
        ("vDouble3", Value::Double3([0.1, 0.2, 0.3])),
        ("vColor3f", Value::Color3f([1.0, 0.5, 0.0])),
        ("vPoint3f", Value::Point3f([4.0, 5.0, 6.0])),
        ("vVector3f", Value::Vector3f([0.0, 0.0, 1.0])),
        ("vQuatf", Value::Quatf([1.0, 0.0, 0.0, 0.0])),
        ("vQuatd", Value::Quatd([0.5, 0.5, 0.5, 0.5])),
        ("vMatrix4d", Value::Matrix4d([1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0., 10., 20., 30., 1.])),
        ("vIntArray", Value::IntArray(vec![3, 0, 1, 2])),
        ("vFloatArray", Value::FloatArray(vec![0.25, 0.5])),
        ("vDoubleArray", Value::DoubleArray(vec![1e-9, 1e9])),
        ("vFloat3Array", Value::Float3Array(vec![[1.0, 1.0, 1.0]])),
        ("vPoint3fArray", Value::Point3fArray(vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
        ("vNormal3fArray", Value::Normal3fArray(vec![[0.0, 0.0, 1.0]])),
        ("vVector3fArray", Value::Vector3fArray(vec![[0.0, 1.0, 0.0]])),
        ("vColor3fArray", Value::Color3fArray(vec![[0.2, 0.4, 0.6]])),
        ("vTexCoord2fArray", Value::TexCoord2fArray(vec![[0.0, 1.0], [1.0, 0.0]])),
        ("vTokenArray", Value::TokenArray(vec!["a".into(), "b".into()])),
        ("vStringArray", Value::StringArray(vec!["x y".into(), "".into()])),
    ]
}

/// Writes /Plant (Xform, kind assembly) with a station carrying every value type, time samples,
/// a relationship, metadata and a removed spec.
fn author(path: &std::path::Path) -> Layer {
    let mut l = Layer::create_new(path).expect("create layer");
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_kilograms_per_unit(1.0).unwrap();
    l.set_comment("written by twinloom-usd tests").unwrap();
    l.set_time_codes_per_second(20.0).unwrap();
    l.set_start_time_code(0.0).unwrap();
    l.set_end_time_code(10.0).unwrap();
    l.set_custom_layer_data("creator", &Value::String("twinloom 0.1.0".into())).unwrap();
    l.set_custom_layer_data("twinloom:capabilityLevel", &Value::Int(1)).unwrap();
    l.set_sublayers(&["./results.usda", "./live/biw.usdc"]).unwrap();

    l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
    l.set_kind("/Plant", "assembly").unwrap();
    l.define_prim("/Plant/Station01", Specifier::Def, "Xform").unwrap();
    l.set_kind("/Plant/Station01", "group").unwrap();
    l.set_metadata("/Plant/Station01", "displayName", &Value::String("Station 01 (BIW)".into())).unwrap();
    l.set_api_schemas("/Plant/Station01", &["MaterialBindingAPI"]).unwrap();
    for (name, v) in sample_values() {
        l.set_attribute("/Plant/Station01", &AttributeDef::new(name, v.value_type()).custom(), &v).unwrap();
    }
    l.set_metadata("/Plant/Station01.vDouble", "displayName", &Value::String("Cycle time".into())).unwrap();
    l.define_attribute("/Plant/Station01", &AttributeDef::new("cycleTime", ValueType::Double).custom()).unwrap();
    for (t, v) in [(0.0, 55.0), (1.0, 56.5), (2.5, 54.0)] {
        l.set_time_sample("/Plant/Station01.cycleTime", t, &Value::Double(v)).unwrap();
    }
    l.define_attribute("/Plant/Station01", &AttributeDef::new("label", ValueType::Token).uniform().custom()).unwrap();
    l.set_default("/Plant/Station01.label", &Value::Token("BIW".into())).unwrap();
    l.define_relationship("/Plant/Station01", "robots", &["/Plant/Station01/R01"], true).unwrap();
    l.define_prim("/Plant/Station01/R01", Specifier::Def, "Xform").unwrap();
    l.define_prim("/Plant/Scratch", Specifier::Def, "Scope").unwrap();
    l.remove_spec("/Plant/Scratch").unwrap();
    l.define_prim("/Plant/Class", Specifier::Class, "").unwrap();
    l.define_prim("/Plant/Station01/Over", Specifier::Over, "").unwrap();
    l.save().expect("save");
    l
}

#[test]
fn values_round_trip_through_the_bridge() {
    let dir = TempDir::new("usd-author");
    let path = dir.path().join("plant.usda");
    let l = author(&path);
    for (name, v) in sample_values() {
        let read = l.default_value(&format!("/Plant/Station01.{name}")).unwrap();
        assert_eq!(read, Some(v.clone()), "{name}");
        assert_eq!(l.attribute(&format!("/Plant/Station01.{name}")).unwrap().type_name, v.value_type().sdf_name());
    }
    let ct = l.attribute("/Plant/Station01.cycleTime").unwrap();
    assert_eq!(ct.time_samples, vec![0.0, 1.0, 2.5]);
    assert!(!ct.has_default);
    assert_eq!(l.time_sample("/Plant/Station01.cycleTime", 1.0).unwrap(), Some(Value::Double(56.5)));
    assert_eq!(l.time_sample("/Plant/Station01.cycleTime", 1.5).unwrap(), None);
    let label = l.attribute("/Plant/Station01.label").unwrap();
    assert_eq!(label.variability, twinloom_usd::Variability::Uniform);
    assert!(label.custom);
    let prim = l.prim("/Plant/Station01").unwrap();
    assert_eq!(prim.specifier, Specifier::Def);
    assert_eq!(prim.type_name, "Xform");
    assert_eq!(prim.children, vec!["R01", "Over"]);
    assert!(prim.properties.contains(&"robots".to_string()));
    assert_eq!(l.prim("/Plant/Class").unwrap().specifier, Specifier::Class);
    assert!(!l.has_spec("/Plant/Scratch"));
    assert_eq!(l.relationship_targets("/Plant/Station01.robots").unwrap(), vec!["/Plant/Station01/R01"]);
    assert_eq!(l.api_schemas("/Plant/Station01").unwrap(), vec!["MaterialBindingAPI"]);
    assert_eq!(l.metadata("/", "defaultPrim").unwrap(), Some(Value::Token("Plant".into())));
    assert_eq!(l.metadata("/", "upAxis").unwrap(), Some(Value::Token("Z".into())));
    assert_eq!(l.metadata("/", "metersPerUnit").unwrap(), Some(Value::Double(1.0)));
    assert_eq!(l.metadata("/Plant", "kind").unwrap(), Some(Value::Token("assembly".into())));
    assert_eq!(l.custom_layer_data("twinloom:capabilityLevel").unwrap(), Some(Value::Int(1)));
    assert_eq!(l.custom_layer_data_keys().unwrap(), vec!["creator", "twinloom"]);
    assert_eq!(l.sublayers(), vec!["./results.usda", "./live/biw.usdc"]);

    // Re-open the saved file in a fresh layer object: what was saved is what we read.
    drop(l);
    let again = Layer::open(&path).unwrap();
    assert_eq!(again.default_value("/Plant/Station01.vQuatd").unwrap(), Some(Value::Quatd([0.5, 0.5, 0.5, 0.5])));
}

const USD_CORE_CHECK: &str = r#"
import sys, math
from pxr import Usd, Sdf, UsdGeom, Gf
path = sys.argv[1]
stage = Usd.Stage.Open(path)
assert stage, path
layer = stage.GetRootLayer()
assert layer.defaultPrim == "Plant", layer.defaultPrim
assert UsdGeom.GetStageUpAxis(stage) == "Z"
assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
assert layer.timeCodesPerSecond == 20.0 and layer.startTimeCode == 0.0 and layer.endTimeCode == 10.0
assert layer.comment == "written by twinloom-usd tests", layer.comment
assert layer.customLayerData["creator"] == "twinloom 0.1.0"
assert layer.customLayerData["twinloom"]["capabilityLevel"] == 1
assert list(layer.subLayerPaths) == ["./results.usda", "./live/biw.usdc"]
st = stage.GetPrimAtPath("/Plant/Station01")
assert st.GetTypeName() == "Xform"
assert Usd.ModelAPI(stage.GetPrimAtPath("/Plant")).GetKind() == "assembly"
assert st.GetDisplayName() == "Station 01 (BIW)"
assert "MaterialBindingAPI" in st.GetAppliedSchemas(), st.GetAppliedSchemas()
def attr(n):
    a = st.GetAttribute(n)
    assert a, n
    return a
expect = {
  "vBool": ("bool", True), "vInt": ("int", -42), "vInt64": ("int64", 1 << 40), "vFloat": ("float", 1.5),
  "vDouble": ("double", -0.125), "vString": ("string", 'VIN WVW123 "quoted" ü'), "vToken": ("token", "running"),
  "vFloat2": ("float2", Gf.Vec2f(0.5, -0.5)), "vFloat3": ("float3", Gf.Vec3f(1, 2, 3)),
  "vDouble3": ("double3", Gf.Vec3d(0.1, 0.2, 0.3)), "vColor3f": ("color3f", Gf.Vec3f(1, 0.5, 0)),
  "vPoint3f": ("point3f", Gf.Vec3f(4, 5, 6)), "vVector3f": ("vector3f", Gf.Vec3f(0, 0, 1)),
  "vQuatf": ("quatf", Gf.Quatf(1, 0, 0, 0)), "vQuatd": ("quatd", Gf.Quatd(0.5, 0.5, 0.5, 0.5)),
  "vMatrix4d": ("matrix4d", Gf.Matrix4d(1,0,0,0, 0,1,0,0, 0,0,1,0, 10,20,30,1)),
}
for n, (t, v) in expect.items():
    a = attr(n)
    assert str(a.GetTypeName()) == t, (n, a.GetTypeName())
    assert a.Get() == v, (n, a.Get(), v)
assert attr("vAsset").Get().path == "./layout.usda"
assert list(attr("vIntArray").Get()) == [3, 0, 1, 2]
assert list(attr("vDoubleArray").Get()) == [1e-9, 1e9]
assert list(attr("vPoint3fArray").Get()) == [Gf.Vec3f(0,0,0), Gf.Vec3f(1,0,0), Gf.Vec3f(0,1,0)]
assert str(attr("vPoint3fArray").GetTypeName()) == "point3f[]"
assert str(attr("vNormal3fArray").GetTypeName()) == "normal3f[]"
assert str(attr("vTexCoord2fArray").GetTypeName()) == "texCoord2f[]"
assert list(attr("vTokenArray").Get()) == ["a", "b"]
assert list(attr("vStringArray").Get()) == ["x y", ""]
assert attr("vDouble").GetDisplayName() == "Cycle time"
ct = attr("cycleTime")
assert ct.GetTimeSamples() == [0.0, 1.0, 2.5], ct.GetTimeSamples()
assert ct.Get(1.0) == 56.5 and ct.Get(2.5) == 54.0
assert attr("label").GetVariability() == Sdf.VariabilityUniform
assert st.GetRelationship("robots").GetTargets() == [Sdf.Path("/Plant/Station01/R01")]
assert not stage.GetPrimAtPath("/Plant/Scratch")
assert layer.GetPrimAtPath("/Plant/Class").specifier == Sdf.SpecifierClass
assert layer.GetPrimAtPath("/Plant/Station01/Over").specifier == Sdf.SpecifierOver
print("ok")
"#;

#[test]
fn usd_core_reads_back_types_values_samples_and_metadata() {
    let dir = TempDir::new("usd-pycheck");
    for ext in ["usda", "usdc"] {
        let path = dir.path().join(format!("plant.{ext}"));
        drop(author(&path));
        let out = run_python(USD_CORE_CHECK, &[path.to_str().unwrap()]);
        assert_eq!(out.trim(), "ok", "{ext}");
    }
}

#[test]
fn export_atomic_writes_usdc_that_usd_core_opens() {
    let dir = TempDir::new("usd-export");
    let src = dir.path().join("plant.usda");
    let l = author(&src);
    let dst = dir.path().join("snapshot.usdc");
    l.export_atomic(&dst).unwrap();
    // No temporary file is left behind.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    let out = run_python(
        "import sys\nfrom pxr import Sdf\nl = Sdf.Layer.FindOrOpen(sys.argv[1])\nprint(l.GetFileFormat().formatId, l.GetAttributeAtPath('/Plant/Station01.vInt').default)",
        &[dst.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "usdc -42");
}

#[test]
fn a_written_stage_passes_omni_asset_validate() {
    let dir = TempDir::new("usd-validate");
    let path = dir.path().join("stage.usda");
    let mut l = Layer::create_new(&path).unwrap();
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_kilograms_per_unit(1.0).unwrap();
    l.set_custom_layer_data("creator", &Value::String("twinloom".into())).unwrap();
    l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
    l.set_kind("/Plant", "assembly").unwrap();
    l.define_prim("/Plant/Floor", Specifier::Def, "Mesh").unwrap();
    let pts = vec![[-5.0, -5.0, 0.0], [5.0, -5.0, 0.0], [5.0, 5.0, 0.0], [-5.0, 5.0, 0.0]];
    l.set_attribute("/Plant/Floor", &AttributeDef::new("points", ValueType::Point3fArray), &Value::Point3fArray(pts))
        .unwrap();
    l.set_attribute(
        "/Plant/Floor",
        &AttributeDef::new("faceVertexCounts", ValueType::IntArray),
        &Value::IntArray(vec![4]),
    )
    .unwrap();
    l.set_attribute(
        "/Plant/Floor",
        &AttributeDef::new("faceVertexIndices", ValueType::IntArray),
        &Value::IntArray(vec![0, 1, 2, 3]),
    )
    .unwrap();
    l.set_attribute(
        "/Plant/Floor",
        &AttributeDef::new("normals", ValueType::Normal3fArray),
        &Value::Normal3fArray(vec![[0.0, 0.0, 1.0]; 4]),
    )
    .unwrap();
    l.set_metadata("/Plant/Floor.normals", "interpolation", &Value::Token("vertex".into())).unwrap();
    l.set_attribute(
        "/Plant/Floor",
        &AttributeDef::new("subdivisionScheme", ValueType::Token).uniform(),
        &Value::Token("none".into()),
    )
    .unwrap();
    l.set_attribute(
        "/Plant/Floor",
        &AttributeDef::new("extent", ValueType::Float3Array),
        &Value::Float3Array(vec![[-5.0, -5.0, 0.0], [5.0, 5.0, 0.0]]),
    )
    .unwrap();
    l.save().unwrap();
    omni_asset_validate(&path);
}
