//! A minimal composition of a layer stack, shared by the readers of plant stages: the root layer and its
//! sublayers (recursively, strongest first; paths relative to the layer naming them), read through the
//! Sdf-level [`Layer`] API. Prim children are the union over all layers, the type name, attribute default
//! and relationship targets are the strongest opinion, and the root layer's own metadata is read as is.
//! A sublayer that does not exist is an error naming it ([`UsdError::MissingSublayer`]); a layer reached
//! twice (two layers sublayering the same file) is read once, at its strongest place. References,
//! payloads, variants, inherits and time samples are not composed.
//!
//! ```no_run
//! use twinloom_usd::stack::{join, LayerStack};
//! let stack = LayerStack::open("plant.usda".as_ref())?;
//! for child in stack.children("/Plant") {
//!     let path = join("/Plant", &child);
//!     println!("{path}: {} {:?}", stack.type_name(&path), stack.value(&format!("{path}.speed"))?);
//! }
//! # Ok::<(), twinloom_usd::UsdError>(())
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Result, UsdError};
use crate::{Layer, Value};

/// The layers of a stage, strongest first, opened read-only: nothing here saves a layer. The layers are
/// held (and so cannot be opened again in this process) until the stack is dropped.
#[derive(Debug)]
pub struct LayerStack {
    layers: Vec<Layer>,
    /// Canonical file of each layer, parallel to `layers`.
    paths: Vec<PathBuf>,
    root: PathBuf,
}

impl LayerStack {
    /// Opens `root` and every sublayer below it (paths relative to the layer naming them). A layer
    /// reached twice (two layers sublayering the same file) is read once, at its strongest place.
    pub fn open(root: &Path) -> Result<LayerStack> {
        let mut stack = LayerStack { layers: Vec::new(), paths: Vec::new(), root: root.to_path_buf() };
        stack.open_into(root)?;
        Ok(stack)
    }

    fn open_into(&mut self, path: &Path) -> Result<()> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.paths.contains(&canonical) {
            return Ok(());
        }
        let layer = Layer::open(path)?;
        let subs = layer.sublayers();
        self.layers.push(layer);
        self.paths.push(canonical);
        let dir = path.parent().unwrap_or(Path::new("."));
        for sub in subs {
            let sub_path = dir.join(&sub);
            if !sub_path.exists() {
                return Err(UsdError::MissingSublayer { layer: path.to_path_buf(), sublayer: sub, path: sub_path });
            }
            self.open_into(&sub_path)?;
        }
        Ok(())
    }

    /// The root layer's path as given to [`LayerStack::open`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files of every layer of the stack (canonical paths), strongest first.
    pub fn layer_paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Whether any layer has a spec (prim or property) at `path`.
    pub fn has_spec(&self, path: &str) -> bool {
        self.layers.iter().any(|l| l.has_spec(path))
    }

    /// Names of the children of `path` over all layers, in order of first appearance from the weakest
    /// layer up (the layout's namespace order; stronger layers append the children they add).
    pub fn children(&self, path: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in self.layers.iter().rev().filter(|l| l.has_spec(path)).filter_map(|l| l.prim(path).ok()) {
            for c in p.children {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// The strongest non-empty type name of the prim at `path` (empty when none).
    pub fn type_name(&self, path: &str) -> String {
        self.layers
            .iter()
            .filter(|l| l.has_spec(path))
            .filter_map(|l| l.prim(path).ok())
            .map(|p| p.type_name)
            .find(|t| !t.is_empty())
            .unwrap_or_default()
    }

    /// The API schemas applied to the prim at `path` in any layer (each once, strongest layer first).
    pub fn api_schemas(&self, path: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.layers.iter().filter(|l| l.has_spec(path)) {
            for s in l.api_schemas(path).unwrap_or_default() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Whether API schema `schema` is applied to the prim at `path` in any layer.
    pub fn has_api(&self, path: &str, schema: &str) -> bool {
        self.layers
            .iter()
            .filter(|l| l.has_spec(path))
            .any(|l| l.api_schemas(path).is_ok_and(|v| v.iter().any(|s| s == schema)))
    }

    /// The strongest default value of the attribute `attr_path` (`/Prim.name`); `None` when no layer
    /// authors one. A layer with a spec there but no default defers to the weaker layers.
    pub fn value(&self, attr_path: &str) -> Result<Option<Value>> {
        for l in self.layers.iter().filter(|l| l.has_spec(attr_path)) {
            if let Some(v) = l.default_value(attr_path)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The strongest non-empty targets of the relationship `rel_path` (empty when none).
    pub fn targets(&self, rel_path: &str) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.has_spec(rel_path))
            .find_map(|l| l.relationship_targets(rel_path).ok().filter(|t| !t.is_empty()))
            .unwrap_or_default()
    }

    /// A metadata field of the root layer itself (`metersPerUnit`, `upAxis`, `defaultPrim`, …); `None`
    /// when the root layer does not author it.
    pub fn root_metadata(&self, key: &str) -> Result<Option<Value>> {
        match self.layers.first() {
            Some(l) => l.metadata("/", key),
            None => Ok(None),
        }
    }
}

/// Joins a child name to a prim path (`join("/", "Plant")` is `/Plant`).
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}
