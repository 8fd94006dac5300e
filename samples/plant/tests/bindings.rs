//! The demo bindings against the two things they connect: every signal exists in the plant simulator's
//! own model (same path, a compatible type, the same unit), and every target attribute exists in the
//! written layout.usda with the binding's value type and carries its filled `TwinloomSignalBindingAPI`.

use std::collections::HashMap;

use twinloom_plant_layout::{demo_bindings, write_layout};
use twinloom_simulator::{ModelConfig, PlantModel, ValueType as SimType};
use twinloom_tests::TempDir;
use twinloom_usd::{Layer, Value, ValueType};
use twinloom_usd_schemas::signal;

#[test]
fn every_bound_signal_exists_in_the_simulator_with_its_unit() {
    let model = PlantModel::new(&ModelConfig::default());
    let infos: HashMap<&str, _> = model.infos().iter().map(|i| (i.path.as_str(), i)).collect();
    let bindings = demo_bindings();
    assert!(bindings.len() > 100, "{}", bindings.len());
    for b in &bindings {
        let info = infos.get(b.signal.as_str()).unwrap_or_else(|| panic!("{} is not a simulator signal", b.signal));
        assert_eq!(info.unit, b.unit, "unit of {}", b.signal);
        let compatible = match info.value_type {
            SimType::Double | SimType::Int32 | SimType::Int64 => {
                matches!(b.value_type, ValueType::Float | ValueType::Double)
            }
            SimType::String => b.value_type == ValueType::String,
            SimType::Boolean => b.value_type == ValueType::Bool,
        };
        assert!(compatible, "{} ({}) cannot feed a {}", b.signal, info.value_type, b.value_type);
    }
    // Every robot joint and every station state of the simulator drives the layout.
    for info in model.infos() {
        let p = info.path.as_str();
        let joint =
            p.starts_with("Plant/BIW/") && p.rsplit('/').next().is_some_and(|l| l.len() == 2 && l.starts_with('J'));
        let station_state = (p.starts_with("Plant/BIW/Station") || p.starts_with("Plant/Assembly/Station"))
            && p.ends_with("/State")
            && p.matches('/').count() == 3;
        if joint || station_state {
            assert!(bindings.iter().any(|b| b.signal == p), "{p} drives nothing");
        }
    }
}

#[test]
fn every_binding_targets_an_attribute_of_its_type_in_the_layout() {
    let dir = TempDir::new("plant-bindings");
    let path = dir.path().join("layout.usda");
    write_layout(&path).expect("write layout");
    let layer = Layer::open(&path).expect("open layout.usda");
    for b in demo_bindings() {
        let spec = layer.attribute(&b.attr_path()).unwrap_or_else(|e| panic!("{} is missing: {e}", b.attr_path()));
        assert_eq!(spec.type_name, b.value_type.sdf_name(), "type of {}", b.attr_path());
        assert!(spec.has_default, "{} has a value", b.attr_path());
        let instance = signal::instance_name(&b.attribute);
        assert!(layer.api_schemas(&b.prim).unwrap().contains(&signal::applied_schema(&instance)), "{}", b.prim);
        let field = |f| layer.default_value(&format!("{}.{}", b.prim, signal::property(&instance, f))).unwrap();
        assert_eq!(field(signal::field::ATTRIBUTE), Some(Value::Token(b.attribute.clone())));
        assert_eq!(field(signal::field::ADDRESS), Some(Value::String(b.node_id())));
        assert_eq!(field(signal::field::SCALE), Some(Value::Double(b.scale)));
        assert_eq!(field(signal::field::OFFSET), Some(Value::Double(b.offset)));
    }
}
