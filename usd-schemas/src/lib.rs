//! Twinloom's codeless OpenUSD schemas: their names, and the folder to put on `PXR_PLUGINPATH_NAME`.
//!
//! The schemas themselves are plain files next to this crate: `schema.usda` (the source),
//! `generatedSchema.usda` and `plugInfo.json` (made from it by usd-core's `usdGenSchema`; run
//! `ci/gen-schemas`). They are codeless (`skipCodeGeneration = true`), so OpenUSD programs load them
//! with no compiled code (tested with usd-core 26.8): add [`plugin_dir`] to the `PXR_PLUGINPATH_NAME` environment variable
//! (see [`plugin_path_env`]) before OpenUSD starts, or register the folder with `Plug.Registry`.
//!
//! This crate only names things: schema names ([`schema`]), property names ([`attr`]), the allowed
//! token values ([`value`]) and the multiple-apply signal-binding API's instance and property names
//! ([`signal`]). [`SCHEMAS`] lists every schema with its built-in schema, own properties and allowed
//! tokens; a test checks it against what usd-core's `Usd.SchemaRegistry` reads from the files.

mod names;
pub mod signal;
mod table;

use std::path::PathBuf;

pub use names::{attr, schema, value};
pub use table::{Property, Schema, SchemaKind, SCHEMAS};

/// The name of the plugin in `plugInfo.json`.
pub const PLUGIN_NAME: &str = "twinloom";

/// Environment variable OpenUSD reads extra plugin folders from (separated by `:` on Unix).
pub const PXR_PLUGIN_PATH_VAR: &str = "PXR_PLUGINPATH_NAME";

/// Environment variable that overrides [`plugin_dir`], for an installed copy of the schema files.
pub const SCHEMAS_DIR_VAR: &str = "TWINLOOM_USD_SCHEMAS_DIR";

/// The folder holding `plugInfo.json` and `generatedSchema.usda`: `$TWINLOOM_USD_SCHEMAS_DIR` when set
/// and not empty, otherwise this crate's folder in the source tree.
pub fn plugin_dir() -> PathBuf {
    match std::env::var_os(SCHEMAS_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

/// The value to give `PXR_PLUGINPATH_NAME` so that OpenUSD finds these schemas: [`plugin_dir`] in front
/// of whatever `existing` value the variable has.
pub fn plugin_path_env(existing: Option<&std::ffi::OsStr>) -> std::ffi::OsString {
    let mut value = plugin_dir().into_os_string();
    if let Some(rest) = existing.filter(|r| !r.is_empty()) {
        value.push(":");
        value.push(rest);
    }
    value
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_dir_holds_the_schema_files() {
        let dir = plugin_dir();
        for file in ["plugInfo.json", "generatedSchema.usda", "schema.usda"] {
            assert!(dir.join(file).is_file(), "{} is missing", dir.join(file).display());
        }
    }

    #[test]
    fn plugin_path_keeps_existing_entries() {
        let dir = plugin_dir().into_os_string();
        assert_eq!(plugin_path_env(None), dir);
        let mut both = dir.clone();
        both.push(":/opt/other");
        assert_eq!(plugin_path_env(Some("/opt/other".as_ref())), both);
    }
}
