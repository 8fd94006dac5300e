//! OpenUSD's rejections come back as typed Rust errors carrying OpenUSD's message; nothing aborts, and the
//! layer stays usable after every error.

use twinloom_tests::TempDir;
use twinloom_usd::{AttributeDef, Layer, LayerWriter, Specifier, Tick, UsdError, Value, ValueType};

fn layer(tag: &str) -> Layer {
    let mut l = Layer::create_anonymous(tag, "usda").unwrap();
    l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
    l.define_attribute("/Plant", &AttributeDef::new("speed", ValueType::Double)).unwrap();
    l
}

#[test]
fn invalid_paths_are_rejected_with_the_reason() {
    let mut l = layer("paths");
    for bad in ["Plant/Relative", "/Plant/has space", "/Plant/1leadingDigit", "", "/Plant.speed"] {
        let e = l.define_prim(bad, Specifier::Def, "Xform").unwrap_err();
        assert!(matches!(e, UsdError::InvalidPath(_)), "{bad:?}: {e:?}");
        assert!(e.to_string().contains("path"), "{e}");
    }
    let e = l.set_default("/Nowhere.speed", &Value::Double(1.0)).unwrap_err();
    assert!(matches!(e, UsdError::InvalidPath(ref m) if m.contains("no attribute spec at /Nowhere.speed")), "{e:?}");
    let e = l.remove_spec("/Plant/Missing").unwrap_err();
    assert!(matches!(e, UsdError::InvalidPath(_)), "{e:?}");
    // The layer is still fine.
    l.set_default("/Plant.speed", &Value::Double(2.0)).unwrap();
    assert_eq!(l.default_value("/Plant.speed").unwrap(), Some(Value::Double(2.0)));
}

#[test]
fn invalid_names_are_rejected() {
    let mut l = layer("names");
    // (OpenUSD accepts Unicode identifiers such as "ü" since 24.03.)
    for bad in ["has space", "1x", "a-b", "", "x.y"] {
        let e = l.define_attribute("/Plant", &AttributeDef::new(bad, ValueType::Double)).unwrap_err();
        assert!(matches!(e, UsdError::InvalidName(_)), "{bad:?}: {e:?}");
    }
    let e = l.set_metadata("/Plant", "notAField", &Value::Int(1)).unwrap_err();
    assert!(matches!(e, UsdError::InvalidName(ref m) if m.contains("notAField")), "{e:?}");
    let e = l.define_prim("/Plant/X", Specifier::Def, "Not A Type").unwrap_err();
    assert!(matches!(e, UsdError::InvalidName(_)), "{e:?}");
    let e = l.set_api_schemas("/Plant", &["Bad Schema"]).unwrap_err();
    assert!(matches!(e, UsdError::InvalidName(_)), "{e:?}");
    // Namespaced names are fine.
    l.define_attribute("/Plant", &AttributeDef::new("twinloom:binding:address", ValueType::String).custom()).unwrap();
}

#[test]
fn wrong_value_types_are_rejected() {
    let mut l = layer("types");
    let e = l.set_default("/Plant.speed", &Value::Float3([1.0, 2.0, 3.0])).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(ref m) if m.contains("double") && m.contains("float3")), "{e:?}");
    let e = l.set_time_sample("/Plant.speed", 1.0, &Value::String("fast".into())).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(_)), "{e:?}");
    let e = l.set_time_sample("/Plant.speed", f64::NAN, &Value::Double(1.0)).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(_)), "{e:?}");
    // Redefining an attribute with another type is refused.
    let e = l.define_attribute("/Plant", &AttributeDef::new("speed", ValueType::Int)).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(_)), "{e:?}");
    // A field of a declared type refuses text.
    let e = l.set_metadata("/", "metersPerUnit", &Value::String("one".into())).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(_)), "{e:?}");
    // Numbers convert to the field's type (int -> double).
    l.set_metadata("/", "metersPerUnit", &Value::Int(1)).unwrap();
    assert_eq!(l.metadata("/", "metersPerUnit").unwrap(), Some(Value::Double(1.0)));
    // A uniform attribute takes no time samples.
    l.define_attribute("/Plant", &AttributeDef::new("model", ValueType::Token).uniform()).unwrap();
    let e = l.set_time_sample("/Plant.model", 0.0, &Value::Token("x".into())).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(ref m) if m.contains("uniform")), "{e:?}");
}

#[test]
fn unwritable_paths_fail_cleanly() {
    let e = Layer::create_new(std::path::Path::new("/proc/twinloom/nope.usda")).unwrap_err();
    assert!(matches!(e, UsdError::Io(_) | UsdError::Usd(_)), "{e:?}");
    let e = Layer::open(std::path::Path::new("/definitely/missing.usda")).unwrap_err();
    assert!(matches!(e, UsdError::Io(ref m) if m.contains("missing.usda")), "{e:?}");
    let l = layer("export");
    let e = l.export(std::path::Path::new("/proc/twinloom/out.usda")).unwrap_err();
    assert!(matches!(e, UsdError::Io(_) | UsdError::Usd(_)), "{e:?}");
    let e = l.export_atomic(std::path::Path::new("/proc/twinloom/out.usdc")).unwrap_err();
    assert!(matches!(e, UsdError::Io(_) | UsdError::Usd(_)), "{e:?}");
    // A layer made anonymous cannot be saved in place.
    let mut a = Layer::create_anonymous("anon", "").unwrap();
    assert!(matches!(a.save().unwrap_err(), UsdError::Io(_)));
    // A file with garbage is not a layer.
    let dir = TempDir::new("usd-garbage");
    let p = dir.path().join("garbage.usda");
    std::fs::write(&p, "#usda 1.0\ndef Xform \"A\" { double x = \"not a number\" }\n").unwrap();
    let e = Layer::open(&p).unwrap_err();
    assert!(!e.to_string().is_empty());
}

#[test]
fn a_layer_has_one_owner_in_the_process() {
    let dir = TempDir::new("usd-owner");
    let p = dir.path().join("owned.usda");
    let mut l = Layer::create_new(&p).unwrap();
    l.save().unwrap();
    let e = Layer::open(&p).unwrap_err();
    assert!(matches!(e, UsdError::AlreadyOpen(_)), "{e:?}");
    drop(l);
    Layer::open(&p).expect("free again once dropped");
}

#[test]
fn handles_of_another_writer_or_type_are_rejected() {
    let mut a = LayerWriter::new(Layer::create_anonymous("a", "usdc").unwrap());
    let mut b = LayerWriter::new(Layer::create_anonymous("b", "usdc").unwrap());
    let ha = a.intern("/Plant/A", "x", ValueType::Double).unwrap();
    let hb = b.intern("/Plant/B", "x", ValueType::Double).unwrap();
    let mut t = Tick::default();
    t.set_f64(ha, 1.0);
    assert!(matches!(b.apply(&t).unwrap_err(), UsdError::BadHandle(_)));
    let mut t = Tick::default();
    t.set_f64(hb, 1.0);
    t.set_f64(ha, 1.0);
    assert!(matches!(b.apply(&t).unwrap_err(), UsdError::BadHandle(_)));
    let mut t = Tick::default();
    t.set_i32(ha, 1);
    assert!(matches!(a.apply(&t).unwrap_err(), UsdError::BadHandle(_)));
    // Interning an existing attribute with another type fails; with a bad name too.
    assert!(matches!(a.intern("/Plant/A", "x", ValueType::Int).unwrap_err(), UsdError::TypeMismatch(_)));
    assert!(matches!(a.intern("/Plant/A", "bad name", ValueType::Int).unwrap_err(), UsdError::InvalidName(_)));
    assert!(matches!(a.intern("/Plant/A", "m", ValueType::Matrix4d).unwrap_err(), UsdError::Unsupported(_)));
    // The writer still works.
    let mut t = Tick::default();
    t.set_f64(ha, 3.5);
    assert_eq!(a.apply(&t).unwrap(), 1);
    assert_eq!(a.layer().default_value("/Plant/A.x").unwrap(), Some(Value::Double(3.5)));
}

#[test]
fn upsert_default_creates_what_is_missing_and_keeps_types() {
    let mut l = layer("upsert");
    // Missing prims become `over` specs up to the root, the attribute takes the value's type.
    l.change_block(|l| {
        l.upsert_default("/Plant/WIP/Car1.twinloom:wip:vin", &Value::String("V1".into()))?;
        l.upsert_default("/Plant/WIP/Car1.twinloom:wip:sequence", &Value::Int64(7))?;
        l.upsert_default("/Plant.speed", &Value::Double(3.5))
    })
    .unwrap();
    assert_eq!(l.prim("/Plant/WIP").unwrap().specifier, Specifier::Over);
    assert_eq!(l.attribute("/Plant/WIP/Car1.twinloom:wip:sequence").unwrap().type_name, "int64");
    assert_eq!(l.default_value("/Plant/WIP/Car1.twinloom:wip:vin").unwrap(), Some(Value::String("V1".into())));
    assert_eq!(l.default_value("/Plant.speed").unwrap(), Some(Value::Double(3.5)));
    // An existing attribute keeps its type; not a property path, or a bad one, is refused (every time:
    // refused paths are not remembered by the path cache).
    let e = l.upsert_default("/Plant.speed", &Value::Int(1)).unwrap_err();
    assert!(matches!(e, UsdError::TypeMismatch(_)), "{e:?}");
    for _ in 0..2 {
        let e = l.upsert_default("/Plant/WIP", &Value::Int(1)).unwrap_err();
        assert!(matches!(e, UsdError::InvalidPath(ref m) if m.contains("not a property path")), "{e:?}");
        let e = l.upsert_default("/Plant/has space.x", &Value::Int(1)).unwrap_err();
        assert!(matches!(e, UsdError::InvalidPath(_)), "{e:?}");
    }
    // An error inside a change block closes the block; the layer goes on.
    let r = l.change_block(|l| l.upsert_default("/Plant.speed", &Value::Bool(true)));
    assert!(r.is_err());
    l.upsert_default("/Plant.speed", &Value::Double(4.0)).unwrap();
    assert_eq!(l.default_value("/Plant.speed").unwrap(), Some(Value::Double(4.0)));
}
