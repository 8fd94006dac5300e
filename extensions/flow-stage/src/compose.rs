//! A minimal composition of a layer stack: the root layer and its sublayers (recursively, strongest
//! first), read through `twinloom-usd`'s Sdf-level API. Enough for the line prims a plant stage holds:
//! prim children in namespace order, the strongest type name and the strongest attribute default.
//! References, payloads, variants and time samples are not composed.

use std::path::{Path, PathBuf};

use twinloom_usd::{Layer, Value};

use crate::error::{usd, StageError};

/// The layers of a stage, strongest first. Opened read-only: nothing here saves a layer.
pub struct Stack {
    layers: Vec<Layer>,
    paths: Vec<PathBuf>,
    root: PathBuf,
}

impl Stack {
    /// Opens `root` and every sublayer below it (paths relative to the layer naming them). A layer
    /// reached twice (two layers sublayering the same file) is read once, at its strongest place.
    pub fn open(root: &Path) -> Result<Stack, StageError> {
        let mut stack = Stack {
            layers: Vec::new(),
            paths: Vec::new(),
            root: root.to_path_buf(),
        };
        stack.open_into(root)?;
        Ok(stack)
    }

    fn open_into(&mut self, path: &Path) -> Result<(), StageError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.paths.contains(&canonical) {
            return Ok(());
        }
        let layer = Layer::open(path).map_err(usd(format!("opening {}", path.display())))?;
        let subs = layer.sublayers();
        self.layers.push(layer);
        self.paths.push(canonical);
        let dir = path.parent().unwrap_or(Path::new("."));
        for sub in subs {
            let sub_path = dir.join(&sub);
            if !sub_path.exists() {
                return Err(StageError::MissingSublayer {
                    layer: path.display().to_string(),
                    sublayer: sub,
                    path: sub_path,
                });
            }
            self.open_into(&sub_path)?;
        }
        Ok(())
    }

    /// The root layer's path as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The files of every layer of the stack (canonical paths), strongest first.
    pub fn layer_paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Whether any layer has a spec at `path`.
    pub fn has_prim(&self, path: &str) -> bool {
        self.layers.iter().any(|l| l.has_spec(path))
    }

    /// Names of the children of `path` over all layers, in order of first appearance from the weakest
    /// layer up (the layout's namespace order; stronger layers append the children they add).
    pub fn children(&self, path: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in self.layers.iter().rev() {
            if !l.has_spec(path) {
                continue;
            }
            if let Ok(p) = l.prim(path) {
                for c in p.children {
                    if !out.contains(&c) {
                        out.push(c);
                    }
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

    /// The strongest default value of the attribute `name` on `prim` (`None` when no layer authors one).
    pub fn value(&self, prim: &str, name: &str) -> Result<Option<Value>, StageError> {
        let attr_path = format!("{prim}.{name}");
        for l in &self.layers {
            if l.has_spec(&attr_path) {
                if let Some(v) = l
                    .default_value(&attr_path)
                    .map_err(usd(format!("reading {attr_path}")))?
                {
                    return Ok(Some(v));
                }
            }
        }
        Ok(None)
    }

    /// A metadata field of the root layer itself (`metersPerUnit`, `upAxis`, `defaultPrim`, …).
    pub fn root_metadata(&self, key: &str) -> Result<Option<Value>, StageError> {
        match self.layers.first() {
            Some(l) => l
                .metadata("/", key)
                .map_err(usd(format!("reading {key} of {}", self.root.display()))),
            None => Ok(None),
        }
    }
}

/// Joins a child name to a prim path.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}
