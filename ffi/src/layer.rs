//! `Layer`: one OpenUSD SdfLayer with a single owner — create, open, author, read back, save, export.
//!
//! OpenUSD keeps one SdfLayer per identifier in a process-wide registry. To make "a layer has one writer"
//! true in the types, this crate refuses to hand out a second `Layer` for an identifier that is already
//! held; a `Layer` is `Send` (it may move to a writer thread) but not `Sync`.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use cxx::UniquePtr;

use crate::bridge::ffi;
use crate::error::{Result, UsdError};
use crate::value::{Value, ValueType};

/// How a prim spec is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Specifier {
    /// `def`: defines the prim.
    Def,
    /// `over`: only adds opinions to a prim defined elsewhere (live layers use these).
    Over,
    /// `class`: an abstract prim others inherit from.
    Class,
}

/// Whether an attribute may vary over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variability {
    Varying,
    Uniform,
}

/// The stage's up axis (layer metadata `upAxis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpAxis {
    Y,
    Z,
}

/// A prim spec read back from a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PrimSpec {
    pub specifier: Specifier,
    pub type_name: String,
    pub children: Vec<String>,
    pub properties: Vec<String>,
}

/// An attribute spec read back from a layer (its values are read with `default_value` / `time_sample`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeSpec {
    /// The Sdf type name, e.g. `point3f[]`.
    pub type_name: String,
    pub variability: Variability,
    pub custom: bool,
    pub has_default: bool,
    pub time_samples: Vec<f64>,
}

/// An attribute to define: name, type, variability and whether it is custom (not from a schema).
/// Bytes beyond twice the replaced file's size that a `.usdc` export must have room for.
const USDC_MARGIN: u64 = 4 << 20;

/// One value-clip set as [`Layer::set_value_clips`] authors it (USD's `clips` dictionary entries).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValueClips {
    /// `assetPaths`: the clip layers, relative to the layer the metadata is authored in.
    pub asset_paths: Vec<String>,
    /// `primPath`: the prim in each clip layer that holds the values for the anchoring prim.
    pub prim_path: String,
    /// `active`: (stage time, index into `asset_paths`) from which each clip is active.
    pub active: Vec<(f64, f64)>,
    /// `times`: (stage time, clip time) mapping, linearly interpolated.
    pub times: Vec<(f64, f64)>,
    /// `manifestAssetPath`: a layer declaring every attribute the clips hold.
    pub manifest: Option<String>,
    /// `interpolateMissingClipValues`: an active clip without samples for an attribute takes them from
    /// the neighbouring clips.
    pub interpolate_missing: bool,
}

#[derive(Debug, Clone)]
pub struct AttributeDef<'a> {
    pub name: &'a str,
    pub value_type: ValueType,
    pub variability: Variability,
    pub custom: bool,
}

impl<'a> AttributeDef<'a> {
    /// A varying, non-custom attribute (the common case for schema properties).
    pub fn new(name: &'a str, value_type: ValueType) -> Self {
        AttributeDef { name, value_type, variability: Variability::Varying, custom: false }
    }
    pub fn uniform(mut self) -> Self {
        self.variability = Variability::Uniform;
        self
    }
    pub fn custom(mut self) -> Self {
        self.custom = true;
        self
    }
}

fn held_layers() -> &'static Mutex<HashSet<String>> {
    static HELD: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashSet::new()))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| UsdError::Io(format!("{} is not valid UTF-8", path.display())))
}

/// One SdfLayer, owned by this value alone. Dropping it releases the layer (unsaved edits are lost).
pub struct Layer {
    inner: UniquePtr<ffi::Layer>,
    identifier: String,
    // Not Sync: SdfLayer is single-writer.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: the C++ layer is only reached through `&`/`&mut Layer`, and the identifier registry guarantees
// no other `Layer` in this process refers to the same SdfLayer, so moving it to another thread is sound.
unsafe impl Send for Layer {}

impl Layer {
    fn adopt(inner: UniquePtr<ffi::Layer>) -> Result<Layer> {
        let identifier = inner.identifier();
        let mut held = held_layers().lock().unwrap_or_else(|e| e.into_inner());
        if !held.insert(identifier.clone()) {
            return Err(UsdError::AlreadyOpen(identifier));
        }
        Ok(Layer { inner, identifier, _not_sync: PhantomData })
    }

    /// Creates a new, empty layer file (`.usda`, `.usdc` or `.usd`, by extension). Fails if the layer is
    /// already open in this process or the file cannot be created.
    pub fn create_new(path: &Path) -> Result<Layer> {
        crate::init()?;
        Self::adopt(ffi::layer_create_new(path_str(path)?)?)
    }

    /// Creates an in-memory layer (format `usda` or `usdc`); save it with `export`.
    pub fn create_anonymous(tag: &str, format: &str) -> Result<Layer> {
        crate::init()?;
        Self::adopt(ffi::layer_create_anonymous(tag, format)?)
    }

    /// Opens an existing layer file.
    pub fn open(path: &Path) -> Result<Layer> {
        crate::init()?;
        Self::adopt(ffi::layer_open(path_str(path)?)?)
    }

    /// OpenUSD's identifier of this layer (the path it was created or opened with, or `anon:…`).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The resolved file path (empty for anonymous layers).
    pub fn real_path(&self) -> String {
        self.inner.real_path()
    }

    /// Saves the layer to its file, atomically: OpenUSD's own `SdfLayer::Save` replaces the file even when
    /// writing fails (a full disk leaves it truncated, and a `.usdc` layer that reads its values lazily
    /// from that file then reads garbage), so this exports to a temporary file and renames it over the
    /// file only once it is complete ([`Layer::export_atomic`]). On failure the file is as it was.
    pub fn save(&mut self) -> Result<()> {
        let path = self.real_path();
        if path.is_empty() {
            return Err(UsdError::Io(format!(
                "{}: an anonymous layer cannot be saved; export it to a file",
                self.identifier()
            )));
        }
        self.export_atomic(Path::new(&path))
    }

    /// Writes the layer to another file; the format follows the extension (`.usda`, `.usdc`).
    pub fn export(&self, path: &Path) -> Result<()> {
        Ok(self.inner.export_to(path_str(path)?)?)
    }

    /// Writes the layer to `path` atomically: exports to a temporary file in the same folder, then renames
    /// it over `path`, so a reader never sees a partly written file.
    pub fn export_atomic(&self, path: &Path) -> Result<()> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| UsdError::Io(format!("{} has no file name", path.display())))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("usda");
        // The extension picks the file format, so the temporary file keeps it.
        let tmp = dir.join(format!(".{name}.{}.tmp.{ext}", std::process::id()));
        if ext == "usdc" {
            // A .usdc write that fails crashes OpenUSD (crate::room): write only what surely fits, judged
            // from the file it replaces.
            let old = std::fs::metadata(path).map_or(0, |m| m.len());
            crate::room::ensure_room(path, old.saturating_mul(2) + USDC_MARGIN)?;
        }
        if let Err(e) = self.export(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            UsdError::Io(format!("rename {} to {}: {e}", tmp.display(), path.display()))
        })
    }

    /// The layer as `.usda` text.
    pub fn to_usda_string(&self) -> Result<String> {
        Ok(self.inner.export_to_string()?)
    }

    // ---- layer metadata ----

    /// Sets a metadata field on a spec (`"/"` for the layer itself), e.g. `kind`, `displayName`, `documentation`.
    /// The field must be registered with OpenUSD; numbers convert to the field's declared type.
    pub fn set_metadata(&mut self, path: &str, key: &str, value: &Value) -> Result<()> {
        Ok(self.inner.pin_mut().set_field(path, key, &value.to_ffi())?)
    }

    /// Reads a metadata field of a spec; `None` when it is not authored.
    pub fn metadata(&self, path: &str, key: &str) -> Result<Option<Value>> {
        Value::from_ffi(self.inner.get_field(path, key)?, &format!("{path} {key}"))
    }

    /// Removes a metadata field from a spec.
    pub fn clear_metadata(&mut self, path: &str, key: &str) -> Result<()> {
        Ok(self.inner.pin_mut().clear_field(path, key)?)
    }

    pub fn set_default_prim(&mut self, name: &str) -> Result<()> {
        self.set_metadata("/", "defaultPrim", &Value::Token(name.to_string()))
    }
    pub fn set_up_axis(&mut self, axis: UpAxis) -> Result<()> {
        let a = match axis {
            UpAxis::Y => "Y",
            UpAxis::Z => "Z",
        };
        self.set_metadata("/", "upAxis", &Value::Token(a.to_string()))
    }
    pub fn set_meters_per_unit(&mut self, m: f64) -> Result<()> {
        self.set_metadata("/", "metersPerUnit", &Value::Double(m))
    }
    pub fn set_kilograms_per_unit(&mut self, kg: f64) -> Result<()> {
        self.set_metadata("/", "kilogramsPerUnit", &Value::Double(kg))
    }
    pub fn set_comment(&mut self, text: &str) -> Result<()> {
        self.set_metadata("/", "comment", &Value::String(text.to_string()))
    }
    pub fn set_documentation(&mut self, text: &str) -> Result<()> {
        self.set_metadata("/", "documentation", &Value::String(text.to_string()))
    }
    pub fn set_time_codes_per_second(&mut self, tcps: f64) -> Result<()> {
        self.set_metadata("/", "timeCodesPerSecond", &Value::Double(tcps))
    }
    pub fn set_start_time_code(&mut self, t: f64) -> Result<()> {
        self.set_metadata("/", "startTimeCode", &Value::Double(t))
    }
    pub fn set_end_time_code(&mut self, t: f64) -> Result<()> {
        self.set_metadata("/", "endTimeCode", &Value::Double(t))
    }

    /// Sets an entry of the layer's `customLayerData`; `key_path` may name nested dictionaries with `:`
    /// (e.g. `twinloom:capabilityLevel`).
    pub fn set_custom_layer_data(&mut self, key_path: &str, value: &Value) -> Result<()> {
        Ok(self.inner.pin_mut().set_custom_layer_data(key_path, &value.to_ffi())?)
    }
    /// Reads an entry of `customLayerData` (nested keys with `:`).
    pub fn custom_layer_data(&self, key_path: &str) -> Result<Option<Value>> {
        Value::from_ffi(self.inner.get_custom_layer_data(key_path)?, key_path)
    }
    /// The top-level keys of `customLayerData`.
    pub fn custom_layer_data_keys(&self) -> Result<Vec<String>> {
        Ok(self.inner.custom_layer_data_keys()?)
    }

    /// Replaces the layer's sublayer list (strongest first).
    pub fn set_sublayers<S: AsRef<str>>(&mut self, paths: &[S]) -> Result<()> {
        let v: Vec<String> = paths.iter().map(|p| p.as_ref().to_string()).collect();
        Ok(self.inner.pin_mut().set_sublayers(&v)?)
    }
    pub fn sublayers(&self) -> Vec<String> {
        self.inner.sublayers()
    }

    // ---- prims ----

    /// Creates (or re-declares) a prim spec with a specifier and type name (empty for typeless). Missing
    /// ancestors are created as `over`.
    pub fn define_prim(&mut self, path: &str, specifier: Specifier, type_name: &str) -> Result<()> {
        let s = match specifier {
            Specifier::Def => 0,
            Specifier::Over => 1,
            Specifier::Class => 2,
        };
        Ok(self.inner.pin_mut().define_prim(path, s, type_name)?)
    }

    /// Sets the prim's `kind` (e.g. `component`, `assembly`, `group`).
    pub fn set_kind(&mut self, path: &str, kind: &str) -> Result<()> {
        self.set_metadata(path, "kind", &Value::Token(kind.to_string()))
    }

    /// Applies API schemas to a prim (prepended to its `apiSchemas` list op).
    pub fn set_api_schemas<S: AsRef<str>>(&mut self, path: &str, schemas: &[S]) -> Result<()> {
        let v: Vec<String> = schemas.iter().map(|p| p.as_ref().to_string()).collect();
        Ok(self.inner.pin_mut().set_api_schemas(path, &v)?)
    }
    pub fn api_schemas(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.inner.api_schemas(path)?)
    }

    /// The prim spec at `path` (`"/"` for the layer's root).
    pub fn prim(&self, path: &str) -> Result<PrimSpec> {
        let info = self.inner.prim_info(path)?;
        Ok(PrimSpec {
            specifier: match info.specifier {
                0 => Specifier::Def,
                1 => Specifier::Over,
                _ => Specifier::Class,
            },
            type_name: info.type_name,
            children: info.children,
            properties: info.properties,
        })
    }

    /// Whether the layer has any spec at `path` (false for paths OpenUSD rejects).
    pub fn has_spec(&self, path: &str) -> bool {
        self.inner.has_spec(path)
    }

    /// Removes the prim or property spec at `path` with everything below it.
    pub fn remove_spec(&mut self, path: &str) -> Result<()> {
        Ok(self.inner.pin_mut().remove_spec(path)?)
    }

    // ---- attributes and relationships ----

    /// Creates an attribute spec on an existing prim spec (or updates variability/custom of an existing one
    /// of the same type).
    pub fn define_attribute(&mut self, prim_path: &str, def: &AttributeDef) -> Result<()> {
        Ok(self.inner.pin_mut().define_attribute(
            prim_path,
            def.name,
            def.value_type.sdf_name(),
            def.variability == Variability::Uniform,
            def.custom,
        )?)
    }

    /// Defines an attribute and sets its default value in one call.
    pub fn set_attribute(&mut self, prim_path: &str, def: &AttributeDef, value: &Value) -> Result<()> {
        self.define_attribute(prim_path, def)?;
        self.set_default(&format!("{prim_path}.{}", def.name), value)
    }

    pub fn attribute(&self, path: &str) -> Result<AttributeSpec> {
        let info = self.inner.attribute_info(path)?;
        Ok(AttributeSpec {
            type_name: info.type_name,
            variability: if info.variability == 1 { Variability::Uniform } else { Variability::Varying },
            custom: info.custom,
            has_default: info.has_default,
            time_samples: info.time_samples,
        })
    }

    /// Sets an attribute's default value; the value's type must match the attribute's.
    pub fn set_default(&mut self, attr_path: &str, value: &Value) -> Result<()> {
        Ok(self.inner.pin_mut().set_default(attr_path, &value.to_ffi())?)
    }

    /// Sets an attribute's default value in one call, creating what is missing first: `over` prim specs up
    /// to the root and a varying, non-custom attribute of the value's type. An existing attribute keeps its
    /// type, and the value must match it.
    pub fn upsert_default(&mut self, attr_path: &str, value: &Value) -> Result<()> {
        Ok(self.inner.pin_mut().upsert_default(attr_path, &value.to_ffi())?)
    }

    /// Runs `f` inside one SdfChangeBlock, so many edits cost one change notification (the block closes
    /// when `f` returns or unwinds).
    pub fn change_block<R>(&mut self, f: impl FnOnce(&mut Layer) -> R) -> R {
        struct Close<'a>(&'a mut Layer);
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                self.0.inner.pin_mut().end_changes();
            }
        }
        self.inner.pin_mut().begin_changes();
        let guard = Close(self);
        f(&mut *guard.0)
    }

    pub fn default_value(&self, attr_path: &str) -> Result<Option<Value>> {
        Value::from_ffi(self.inner.get_default(attr_path)?, attr_path)
    }

    /// Adds (or replaces) a time sample of a varying attribute.
    pub fn set_time_sample(&mut self, attr_path: &str, time: f64, value: &Value) -> Result<()> {
        Ok(self.inner.pin_mut().set_time_sample(attr_path, time, &value.to_ffi())?)
    }
    pub fn time_sample(&self, attr_path: &str, time: f64) -> Result<Option<Value>> {
        Value::from_ffi(self.inner.get_time_sample(attr_path, time)?, attr_path)
    }

    /// The time samples of an attribute in `from..=to` as (time, value), in time order; with `with_prior`
    /// also the last sample before `from` (the value in effect at `from` under held interpolation).
    pub fn time_samples_in(&self, attr_path: &str, from: f64, to: f64, with_prior: bool) -> Result<Vec<(f64, Value)>> {
        let s = self.inner.time_samples_in(attr_path, from, to, with_prior)?;
        let mut out = Vec::with_capacity(s.times.len());
        match s.type_name.as_str() {
            "double" => return Ok(s.times.into_iter().zip(s.reals).map(|(t, x)| (t, Value::Double(x))).collect()),
            "float" => return Ok(s.times.into_iter().zip(s.reals).map(|(t, x)| (t, Value::Float(x as f32))).collect()),
            _ => {}
        }
        for (t, v) in s.times.into_iter().zip(s.values) {
            if let Some(v) = Value::from_ffi(v, attr_path)? {
                out.push((t, v));
            }
        }
        Ok(out)
    }

    /// Authors a value-clip set on a prim spec (the prim's `clips` metadata, other sets kept): the clip
    /// layers `asset_paths`, the prim they hold (`clip_prim_path`), `active` (stage time, clip index) and
    /// `times` (stage time, clip time) pairs, an optional manifest, and `interpolateMissingClipValues`.
    pub fn set_value_clips(&mut self, prim_path: &str, clip_set: &str, clips: &ValueClips) -> Result<()> {
        let flat = |v: &[(f64, f64)]| v.iter().flat_map(|(a, b)| [*a, *b]).collect::<Vec<f64>>();
        Ok(self.inner.pin_mut().set_value_clips(
            prim_path,
            clip_set,
            &clips.asset_paths,
            &clips.prim_path,
            &flat(&clips.active),
            &flat(&clips.times),
            clips.manifest.as_deref().unwrap_or(""),
            clips.interpolate_missing,
        )?)
    }

    /// Creates a relationship with explicit targets (or replaces the targets of an existing one).
    pub fn define_relationship<S: AsRef<str>>(
        &mut self,
        prim_path: &str,
        name: &str,
        targets: &[S],
        custom: bool,
    ) -> Result<()> {
        let v: Vec<String> = targets.iter().map(|p| p.as_ref().to_string()).collect();
        Ok(self.inner.pin_mut().define_relationship(prim_path, name, &v, custom)?)
    }
    pub fn relationship_targets(&self, rel_path: &str) -> Result<Vec<String>> {
        Ok(self.inner.relationship_targets(rel_path)?)
    }

    // ---- batch path (used by LayerWriter) ----

    pub(crate) fn intern_attribute(&mut self, prim_path: &str, name: &str, ty: ValueType) -> Result<u32> {
        Ok(self.inner.pin_mut().intern_attribute(prim_path, name, ty.sdf_name())?)
    }

    pub(crate) fn apply_tick(&mut self, tick: &ffi::TickColumns) -> Result<usize> {
        Ok(self.inner.pin_mut().apply_tick(tick)?)
    }

    pub(crate) fn read_defaults(&self) -> Result<ffi::TickColumns> {
        Ok(self.inner.read_defaults()?)
    }
}

impl Drop for Layer {
    fn drop(&mut self) {
        let mut held = held_layers().lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.identifier);
    }
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer").field("identifier", &self.identifier).finish()
    }
}
