//! The stage kit: typed reads name prim, attribute, expected and found type; a real array of the wrong
//! length and a missing prim are errors naming them; the results writer refuses every layer of the stage
//! (however the path is spelled), leaves it byte-identical, and writes `over`s with their ancestors.

use std::path::Path;

use twinloom_tests::TempDir;
use twinloom_usd::kit::{ResultsLayer, Stage, StageError};
use twinloom_usd::{AttributeDef, Layer, Specifier, Value};

/// plant.usda (root) over layout.usda, with attributes of several types on /Plant/A.
fn plant(dir: &Path) {
    let mut l = Layer::create_new(&dir.join("layout.usda")).unwrap();
    l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
    l.define_prim("/Plant/A", Specifier::Def, "Xform").unwrap();
    for (name, v) in [
        ("speed", Value::Float(1.5)),
        ("count", Value::Int(3)),
        ("six", Value::IntArray(vec![1, 2, 3, 4, 5, 6])),
        ("three", Value::DoubleArray(vec![1.0, 2.0, 3.0])),
        ("label", Value::String("a".into())),
    ] {
        l.set_attribute("/Plant/A", &AttributeDef::new(name, v.value_type()), &v).unwrap();
    }
    l.save().unwrap();
    let mut root = Layer::create_new(&dir.join("plant.usda")).unwrap();
    root.set_sublayers(&["./layout.usda"]).unwrap();
    root.define_prim("/Plant", Specifier::Over, "").unwrap();
    root.define_prim("/Plant/A", Specifier::Over, "").unwrap();
    root.set_attribute("/Plant/A", &AttributeDef::new("count", Value::Int64(0).value_type()), &Value::Int64(7))
        .unwrap();
    root.save().unwrap();
}

#[test]
fn typed_reads_name_what_is_wrong() {
    let dir = TempDir::new("kit-read");
    plant(dir.path());
    let stage = Stage::open(&dir.path().join("plant.usda")).unwrap();
    assert_eq!(stage.real("/Plant/A", "speed").unwrap(), Some(1.5));
    assert_eq!(stage.int("/Plant/A", "count").unwrap(), Some(7), "the root's opinion is the strongest");
    assert_eq!(stage.reals_n::<6>("/Plant/A", "six").unwrap(), Some([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    assert_eq!(stage.real("/Plant/A", "nothing").unwrap(), None);
    match stage.real("/Plant/A", "label").unwrap_err() {
        StageError::WrongType { prim, attribute, expected, found } => {
            assert_eq!((prim.as_str(), attribute.as_str(), found.as_str()), ("/Plant/A", "label", "string"));
            assert_eq!(expected, "a float or double");
        }
        other => panic!("expected a wrong type, got {other:?}"),
    }
    let err = stage.reals_n::<6>("/Plant/A", "three").unwrap_err();
    assert!(matches!(&err, StageError::InvalidValue { attribute, .. } if attribute == "three"), "{err:?}");
    assert!(err.to_string().contains("/Plant/A: three = 3 values: must have 6 values"), "{err}");
    let err = stage.expect_prim("/Plant/Nowhere").unwrap_err();
    assert!(err.to_string().ends_with("no prim at /Plant/Nowhere"), "{err}");
    assert!(stage.expect_prim("/Plant/A").is_ok());
}

#[test]
fn results_never_overwrite_the_stage() {
    let dir = TempDir::new("kit-results");
    plant(dir.path());
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    let layers = Stage::open(&dir.path().join("plant.usda")).unwrap().layer_paths().to_vec();
    assert_eq!(layers.len(), 2);
    let before: Vec<Vec<u8>> = layers.iter().map(|l| std::fs::read(l).unwrap()).collect();
    for out in [dir.path().join("plant.usda"), dir.path().join("./layout.usda"), dir.path().join("sub/../layout.usda")]
    {
        let err = ResultsLayer::create(&out, &layers, "test").err().expect("refused");
        assert!(matches!(err, StageError::WouldOverwriteStage { .. }), "{}: {err:?}", out.display());
        assert!(err.to_string().starts_with("refusing to write"), "{err}");
    }
    let after: Vec<Vec<u8>> = layers.iter().map(|l| std::fs::read(l).unwrap()).collect();
    assert_eq!(before, after, "a layer of the stage changed");

    let out = dir.path().join("sub/results.usda");
    let mut w = ResultsLayer::create(&out, &layers, "kit test").unwrap();
    w.over("/Plant/A/Deep").unwrap();
    w.set_custom("/Plant/A/Deep", "test:value", Value::Double(2.5)).unwrap();
    w.def("/Plant/Results", "Scope").unwrap();
    w.save().unwrap();
    let back = Layer::open(&out).unwrap();
    for p in ["/Plant", "/Plant/A", "/Plant/A/Deep"] {
        assert_eq!(back.prim(p).unwrap().specifier, Specifier::Over, "{p}");
    }
    assert_eq!(back.default_value("/Plant/A/Deep.test:value").unwrap(), Some(Value::Double(2.5)));
    assert_eq!(back.prim("/Plant/Results").unwrap().type_name, "Scope");
    assert_eq!(back.custom_layer_data("creator").unwrap(), Some(Value::String("kit test".into())));
}
