//! twinloom-usd: the only code in Twinloom that touches OpenUSD.
//!
//! A small C++ shim over Sdf (cpp/shim.cc) behind a cxx bridge, and a safe Rust API on top:
//! - [`Layer`]: create/open/save/export `.usda`/`.usdc` layers, layer metadata, prims, attributes of the
//!   value types a plant needs, relationships, defaults and time samples, reading specs back, removing specs;
//! - [`LayerWriter`] + [`Tick`]: the hot path — attributes interned once into handles, a whole tick of typed
//!   values applied in one FFI call inside one SdfChangeBlock;
//! - [`LayerStack`] ([`stack`]): a root layer and its sublayers composed just enough to read a plant stage;
//! - [`kit`]: what the `*-stage` crates share on top: typed reads that name prim and attribute in their
//!   errors, one [`kit::StageError`], and a results-layer writer that never writes over the stage it read.
//!
//! OpenUSD's diagnostics come back as [`UsdError`] values carrying OpenUSD's text; nothing aborts.
//! The OpenUSD plugins (file formats, asset resolver) are registered by [`init`], which every constructor
//! calls, so no `PXR_PLUGINPATH_NAME` is needed; binaries find the libraries through their rpath.

mod bridge;
mod error;
pub mod kit;
mod layer;
mod room;
pub mod stack;
mod value;
mod writer;

pub use error::{Result, UsdError};
pub use layer::{AttributeDef, AttributeSpec, Layer, PrimSpec, Specifier, UpAxis, ValueClips, Variability};
pub use room::ensure_room;
pub use stack::LayerStack;
pub use value::{Value, ValueType};
pub use writer::{AttrHandle, Column, LayerWriter, Tick};

use std::sync::OnceLock;

/// The plugin folders found at build time (OpenUSD's Sdf and Ar plugins and our metadata plugin).
pub const PLUGIN_PATHS: &str = env!("TWINLOOM_USD_PLUGIN_PATHS");

/// Registers OpenUSD's plugins once per process. Extra plugin folders (e.g. codeless schemas) can be
/// given with [`register_plugins`]. Called by every `Layer` constructor.
pub fn init() -> Result<()> {
    static INIT: OnceLock<Result<()>> = OnceLock::new();
    INIT.get_or_init(|| {
        let paths: Vec<String> = PLUGIN_PATHS.split(';').filter(|p| !p.is_empty()).map(String::from).collect();
        for p in &paths {
            if !std::path::Path::new(p).join("plugInfo.json").is_file() {
                return Err(UsdError::Io(format!(
                    "OpenUSD plugin folder {p} (found at build time) has no plugInfo.json: rebuild twinloom-usd"
                )));
            }
        }
        bridge::ffi::register_plugins(&paths).map_err(UsdError::from)
    })
    .clone()
}

/// Registers additional OpenUSD plugin folders (each holding a `plugInfo.json`), e.g. codeless schemas.
pub fn register_plugins<P: AsRef<std::path::Path>>(folders: &[P]) -> Result<()> {
    init()?;
    let paths: Vec<String> = folders.iter().map(|p| p.as_ref().display().to_string()).collect();
    Ok(bridge::ffi::register_plugins(&paths)?)
}
