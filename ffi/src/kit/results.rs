//! The guarded results-layer writer: a new layer of `over`s and new prims that the root stage can
//! sublayer, written atomically, and never over a layer of the stage the results were computed from.

use std::path::{Path, PathBuf};

use super::error::{usd, StageError};
use crate::{AttributeDef, Layer, Specifier, Value};

/// A results layer being built in memory; [`ResultsLayer::save`] writes it.
pub struct ResultsLayer {
    layer: Layer,
    out: PathBuf,
}

/// `out` as the canonical path it will have once written (its folder canonicalised when the file does not
/// exist yet), so it compares with a stack's canonical layer paths.
fn canonical_target(out: &Path) -> PathBuf {
    if let Ok(p) = out.canonicalize() {
        return p;
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (dir.canonicalize(), out.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => out.to_path_buf(),
    }
}

/// An error when `out` is one of `stage_layers` (canonical paths, as `LayerStack::layer_paths` gives).
fn refuse_stage_layer(out: &Path, stage_layers: &[PathBuf]) -> Result<(), StageError> {
    let target = canonical_target(out);
    match stage_layers.iter().find(|l| **l == target) {
        Some(layer) => Err(StageError::WouldOverwriteStage { out: out.to_path_buf(), layer: layer.clone() }),
        None => Ok(()),
    }
}

impl ResultsLayer {
    /// Starts a results layer for `out`, computed from the stage whose layers are `stage_layers`; refuses
    /// when `out` is one of them. `creator` goes to `customLayerData.creator`.
    pub fn create(out: &Path, stage_layers: &[PathBuf], creator: &str) -> Result<ResultsLayer, StageError> {
        refuse_stage_layer(out, stage_layers)?;
        let layer = Layer::create_anonymous("twinloom-results", "usda").map_err(usd("creating the results layer"))?;
        let mut r = ResultsLayer { layer, out: out.to_path_buf() };
        r.layer_data("creator", Value::String(creator.to_string()))?;
        Ok(r)
    }

    /// The layer, for what this writer has no method for (layer metadata, relationships, …).
    pub fn layer(&mut self) -> &mut Layer {
        &mut self.layer
    }

    /// Defines a prim of `type_name` (a standard OpenUSD type such as `Scope` or `Sphere`).
    pub fn def(&mut self, path: &str, type_name: &str) -> Result<(), StageError> {
        self.layer.define_prim(path, Specifier::Def, type_name).map_err(usd(format!("defining {path}")))
    }

    /// `over`s for `path` and each of its ancestors that has no spec in this layer yet.
    pub fn over(&mut self, path: &str) -> Result<(), StageError> {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            if !self.layer.has_spec(&at) {
                self.layer.define_prim(&at, Specifier::Over, "").map_err(usd(format!("over {at}")))?;
            }
        }
        Ok(())
    }

    /// Sets an attribute the prim's schema declares (`radius`, `extent`, `xformOp:translate`, …).
    pub fn set(&mut self, prim: &str, name: &str, value: Value) -> Result<(), StageError> {
        let def = AttributeDef::new(name, value.value_type());
        self.layer.set_attribute(prim, &def, &value).map_err(usd(format!("{prim}.{name}")))
    }

    /// Sets a custom attribute (results the schemas do not declare, such as `twinloom:flow:*`).
    pub fn set_custom(&mut self, prim: &str, name: &str, value: Value) -> Result<(), StageError> {
        let def = AttributeDef::new(name, value.value_type()).custom();
        self.layer.set_attribute(prim, &def, &value).map_err(usd(format!("{prim}.{name}")))
    }

    /// Sets `customLayerData[key]`.
    pub fn layer_data(&mut self, key: &str, value: Value) -> Result<(), StageError> {
        self.layer.set_custom_layer_data(key, &value).map_err(usd(format!("customLayerData {key}")))
    }

    /// Writes the layer to its file atomically: a reader never sees a partly written file.
    pub fn save(self) -> Result<(), StageError> {
        self.layer.export_atomic(&self.out).map_err(usd(format!("writing {}", self.out.display())))
    }
}
