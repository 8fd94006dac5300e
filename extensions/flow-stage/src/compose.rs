//! The layer stack a plant stage is read through: `twinloom_usd`'s [`LayerStack`] (the root layer and
//! its sublayers, recursively, strongest first, composed just enough for the line prims a plant stage
//! holds: prim children in namespace order, the strongest type name and attribute default, root-layer
//! metadata; a layer reached twice is read once) and [`join`], re-exported, with readers that name what
//! they were reading in their errors. References, payloads, variants and time samples are not composed.

use std::path::Path;

pub use twinloom_usd::stack::{join, LayerStack};
use twinloom_usd::Value;

use crate::error::{usd, StageError};

/// Opens the layer stack of the stage `root` (read-only: nothing here saves a layer).
pub fn open(root: &Path) -> Result<LayerStack, StageError> {
    LayerStack::open(root).map_err(usd(format!("opening {}", root.display())))
}

/// The strongest default of the attribute `name` on `prim` (`None` when no layer authors one).
pub fn value(stack: &LayerStack, prim: &str, name: &str) -> Result<Option<Value>, StageError> {
    let attr_path = format!("{prim}.{name}");
    stack.value(&attr_path).map_err(usd(format!("reading {attr_path}")))
}

/// A metadata field of the root layer itself (`metersPerUnit`, `upAxis`, `defaultPrim`, …).
pub fn root_metadata(stack: &LayerStack, key: &str) -> Result<Option<Value>, StageError> {
    stack.root_metadata(key).map_err(usd(format!("reading {key} of {}", stack.root().display())))
}
