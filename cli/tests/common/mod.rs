//! Shared by the history tests: a stage folder with a minimal portable plant root and an open history store.

use std::path::Path;

use twinloom_history::{HistoryStore, StoreOptions};
use twinloom_usd::{Layer, Specifier, UpAxis};

/// `stage/plant.usda` (defaultPrim /Plant, Z up, metres) defining `prims` as Xforms, and the stage's
/// history store (clips anchored on /Plant, `history.usda` sublayering `plant.usda`).
pub fn plant_with_history(stage: &Path, prims: &[&str]) -> HistoryStore {
    std::fs::create_dir_all(stage).unwrap();
    let mut plant = Layer::create_new(&stage.join("plant.usda")).unwrap();
    plant.set_default_prim("Plant").unwrap();
    plant.set_up_axis(UpAxis::Z).unwrap();
    plant.set_meters_per_unit(1.0).unwrap();
    for p in prims {
        plant.define_prim(p, Specifier::Def, "Xform").unwrap();
    }
    plant.save().unwrap();
    let options = StoreOptions {
        root_prim: "/Plant".into(),
        base_layers: vec!["plant.usda".into()],
        up_axis: UpAxis::Z,
        meters_per_unit: 1.0,
    };
    HistoryStore::open(stage, options).unwrap()
}
