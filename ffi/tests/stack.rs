//! `LayerStack`: a root layer over two sublayers written through the bridge composes to the strongest
//! opinions, children in weakest-first order of first appearance; a missing sublayer is an error naming
//! it; a layer reached twice is read once.

use std::path::{Path, PathBuf};

use twinloom_tests::TempDir;
use twinloom_usd::stack::join;
use twinloom_usd::{AttributeDef, Layer, LayerStack, Specifier, UsdError, Value, ValueType};

/// Creates the layer file `path` with `sublayers`, lets `author` fill it and saves it.
fn write(path: &Path, sublayers: &[&str], author: impl FnOnce(&mut Layer)) -> PathBuf {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut l = Layer::create_new(path).unwrap();
    l.set_sublayers(sublayers).unwrap();
    author(&mut l);
    l.save().unwrap();
    path.to_path_buf()
}

fn double(l: &mut Layer, prim: &str, name: &str, value: Option<f64>) {
    let def = AttributeDef::new(name, ValueType::Double);
    match value {
        Some(v) => l.set_attribute(prim, &def, &Value::Double(v)).unwrap(),
        None => l.define_attribute(prim, &def).unwrap(),
    }
}

/// plant.usda (root) over live.usda over sub/layout.usda (weakest, in a folder of its own).
fn plant(dir: &Path) -> PathBuf {
    write(&dir.join("sub/layout.usda"), &[], |l| {
        l.set_meters_per_unit(0.01).unwrap();
        l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
        l.define_prim("/Plant/A", Specifier::Def, "Xform").unwrap();
        l.define_prim("/Plant/B", Specifier::Def, "Scope").unwrap();
        double(l, "/Plant/A", "speed", Some(1.0));
        l.set_attribute("/Plant/A", &AttributeDef::new("count", ValueType::Int), &Value::Int(3)).unwrap();
        l.define_relationship("/Plant/A", "feeds", &["/Plant/B"], true).unwrap();
    });
    write(&dir.join("live.usda"), &[], |l| {
        l.set_meters_per_unit(0.001).unwrap();
        l.set_kilograms_per_unit(1.0).unwrap();
        l.define_prim("/Plant", Specifier::Over, "").unwrap();
        l.define_prim("/Plant/C", Specifier::Def, "Cube").unwrap();
        l.define_prim("/Plant/A", Specifier::Over, "").unwrap();
        double(l, "/Plant/A", "speed", Some(2.0));
        l.define_relationship("/Plant/A", "feeds", &["/Plant/C"], true).unwrap();
    });
    write(&dir.join("plant.usda"), &["./live.usda", "sub/layout.usda"], |l| {
        l.set_meters_per_unit(1.0).unwrap();
        l.define_prim("/Plant", Specifier::Over, "").unwrap();
        l.define_prim("/Plant/B", Specifier::Over, "Xform").unwrap();
        l.define_prim("/Plant/A", Specifier::Over, "").unwrap();
        // A spec without a default defers to the weaker layers.
        double(l, "/Plant/A", "speed", None);
    })
}

#[test]
fn the_strongest_opinion_wins() {
    let dir = TempDir::new("stack-strongest");
    let root = plant(dir.path());
    let stack = LayerStack::open(&root).unwrap();
    assert_eq!(stack.root(), root.as_path());
    let expected: Vec<PathBuf> = ["plant.usda", "live.usda", "sub/layout.usda"]
        .iter()
        .map(|f| dir.path().join(f).canonicalize().unwrap())
        .collect();
    assert_eq!(stack.layer_paths(), expected.as_slice());

    assert_eq!(stack.value("/Plant/A.speed").unwrap(), Some(Value::Double(2.0)));
    assert_eq!(stack.value("/Plant/A.count").unwrap(), Some(Value::Int(3)));
    assert_eq!(stack.value("/Plant/A.missing").unwrap(), None);
    assert_eq!(stack.type_name("/Plant/A"), "Xform", "an over without a type keeps the weaker type");
    assert_eq!(stack.type_name("/Plant/B"), "Xform", "the root's typed over beats the layout's Scope");
    assert_eq!(stack.type_name("/Plant/C"), "Cube");
    assert_eq!(stack.type_name("/Plant/Nowhere"), "");
    assert_eq!(stack.targets("/Plant/A.feeds"), vec!["/Plant/C".to_string()]);
    assert!(stack.targets("/Plant/B.feeds").is_empty());
    assert!(stack.has_spec("/Plant/C") && stack.has_spec("/Plant/B"));
    assert!(!stack.has_spec("/Plant/Nowhere"));

    // Root-layer metadata is the root's own, never a sublayer's.
    assert_eq!(stack.root_metadata("metersPerUnit").unwrap(), Some(Value::Double(1.0)));
    assert_eq!(stack.root_metadata("kilogramsPerUnit").unwrap(), None);
}

#[test]
fn children_come_in_weakest_first_order_of_first_appearance() {
    let dir = TempDir::new("stack-children");
    let stack = LayerStack::open(&plant(dir.path())).unwrap();
    // The layout has A, B; live adds C before its over of A; the root adds nothing new.
    assert_eq!(stack.children("/Plant"), ["A", "B", "C"]);
    assert_eq!(stack.children("/"), ["Plant"]);
    assert!(stack.children("/Plant/A").is_empty());
    assert!(stack.children("/Nowhere").is_empty());
    let paths: Vec<String> = stack.children("/").iter().map(|c| join("/", c)).collect();
    assert_eq!(paths, ["/Plant"]);
    assert_eq!(join("/Plant", "A"), "/Plant/A");
}

#[test]
fn a_missing_sublayer_is_an_error_naming_it() {
    let dir = TempDir::new("stack-missing");
    write(&dir.path().join("layout.usda"), &["geometry/body.usdc"], |_| {});
    let root = write(&dir.path().join("plant.usda"), &["layout.usda"], |_| {});
    let e = LayerStack::open(&root).unwrap_err();
    match &e {
        UsdError::MissingSublayer { layer, sublayer, path } => {
            assert_eq!(layer, &dir.path().join("layout.usda"));
            assert_eq!(sublayer, "geometry/body.usdc");
            assert_eq!(path, &dir.path().join("geometry/body.usdc"));
        }
        other => panic!("not a missing sublayer: {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains("sublayer geometry/body.usdc of ") && text.contains("layout.usda"), "{text}");
    // The failed open released the layers it had opened.
    Layer::open(&root).unwrap();
    Layer::open(&dir.path().join("layout.usda")).unwrap();
}

#[test]
fn a_missing_root_is_an_io_error_naming_it() {
    let dir = TempDir::new("stack-no-root");
    let e = LayerStack::open(&dir.path().join("nothing.usda")).unwrap_err();
    assert!(matches!(e, UsdError::Io(ref m) if m.contains("nothing.usda")), "{e:?}");
}

#[test]
fn a_layer_reached_twice_is_read_once_at_its_strongest_place() {
    let dir = TempDir::new("stack-twice");
    write(&dir.path().join("common.usda"), &["plant.usda"], |l| {
        l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
        double(l, "/Plant", "speed", Some(1.0));
    });
    write(&dir.path().join("a.usda"), &["common.usda"], |_| {});
    write(&dir.path().join("b/b.usda"), &["../sub/../common.usda"], |l| {
        l.define_prim("/Plant", Specifier::Over, "").unwrap();
        double(l, "/Plant", "speed", Some(2.0));
    });
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    // common.usda sublayers the root back: the cycle ends there too.
    let root = write(&dir.path().join("plant.usda"), &["a.usda", "b/b.usda"], |_| {});
    let stack = LayerStack::open(&root).unwrap();
    let expected: Vec<PathBuf> = ["plant.usda", "a.usda", "common.usda", "b/b.usda"]
        .iter()
        .map(|f| dir.path().join(f).canonicalize().unwrap())
        .collect();
    assert_eq!(stack.layer_paths(), expected.as_slice());
    // common.usda sits above b.usda (reached first through a.usda), so its opinion wins.
    assert_eq!(stack.value("/Plant.speed").unwrap(), Some(Value::Double(1.0)));
}
