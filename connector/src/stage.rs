//! The root stage `plant.usda`: stage metadata, the sublayer stack (results, live layers, layout) and the
//! prims that bound attributes live on, each with a `TwinloomSignalBindingAPI` instance per bound attribute
//! saying where its values come from. Written once at start-up, atomically.
//!
//! With many bindings the root layer is large (five properties per binding) and OpenUSD keeps much of what
//! building it touched (path nodes, tokens, freed heap) for the life of the process. The service can
//! therefore have a short-lived child process write it ([`write_root_in_child`]): the spec travels as JSON
//! and the long-running connector never holds the root layer at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use twinloom_usd::{AttributeDef, Layer, LayerStack, Specifier, UpAxis, Value, ValueType};
use twinloom_usd_schemas::signal;

use crate::binding::BindingTable;

/// What goes into the root layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootStage {
    /// Root prim name (defaultPrim).
    pub root: String,
    pub capability_level: i64,
    /// Sublayers, strongest first, relative to the stage folder.
    pub sublayers: Vec<String>,
    /// A layout layer (already among `sublayers`) whose `def` prims the root must not redefine.
    pub layout: Option<PathBuf>,
    pub bindings: Vec<BoundAttribute>,
    /// Prims whose name differs from the source's (`path → original name`), declared with it as
    /// displayName.
    #[serde(default)]
    pub prim_display_names: BTreeMap<String, String>,
}

/// One bound attribute as the root layer declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundAttribute {
    pub prim: String,
    pub attr: String,
    /// Sdf type name, e.g. `double`.
    pub value_type: String,
    pub address: String,
    /// `sourceKind` of its source (e.g. `opcua`).
    pub source_kind: String,
    pub unit: Option<String>,
    pub scale: f64,
    pub offset: f64,
    pub display_name: Option<String>,
}

impl BoundAttribute {
    /// Every binding of `table`, with its source's kind from `source_kinds` (`unknown` when missing).
    pub fn all(table: &BindingTable, source_kinds: &BTreeMap<String, String>) -> Vec<BoundAttribute> {
        table
            .bindings
            .iter()
            .map(|b| BoundAttribute {
                prim: b.prim.clone(),
                attr: b.attr.clone(),
                value_type: b.value_type.sdf_name().to_string(),
                address: b.address.clone(),
                source_kind: source_kinds.get(&b.source).cloned().unwrap_or_else(|| "unknown".into()),
                unit: b.unit.clone(),
                scale: b.scale,
                offset: b.offset,
                display_name: b.display_name.clone(),
            })
            .collect()
    }
}

/// Why the root layer could not be written by a child process.
pub use crate::child_writer::ChildWriteError as RootWriteError;

/// Writes the root layer to `path` in a child process: `exe write-root --spec FILE --out PATH` (the
/// `twinloom` binary's hidden subcommand), the spec passed as a JSON file next to `path`.
pub fn write_root_in_child(exe: &Path, path: &Path, stage: &RootStage) -> Result<(), RootWriteError> {
    use std::io::Write;
    let io = |what: String| move |error| RootWriteError::Io { what, error };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let spec = dir.join(format!(".root-stage-{}.json", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&spec).map_err(io(format!("create {}", spec.display())))?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut w, stage)
            .map_err(|e| RootWriteError::Io { what: format!("write {}", spec.display()), error: e.into() })?;
        w.flush().map_err(io(format!("write {}", spec.display())))?;
        drop(w);
        crate::child_writer::run(exe, "write-root", &spec, path)
    })();
    let _ = std::fs::remove_file(&spec);
    result
}

/// Reads a spec written by [`write_root_in_child`].
pub fn read_spec(path: &Path) -> Result<RootStage, RootWriteError> {
    let file = std::fs::File::open(path)
        .map_err(|error| RootWriteError::Io { what: format!("open {}", path.display()), error })?;
    serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| RootWriteError::Io { what: format!("read {}", path.display()), error: e.into() })
}

/// Prim type of a prim that only holds bound attributes and children.
const CONTAINER_TYPE: &str = "Xform";

/// Writes the root layer to `path` (atomically).
pub fn write_root(path: &Path, stage: &RootStage) -> Result<(), twinloom_usd::UsdError> {
    let mut l = Layer::create_anonymous("plant", "usda")?;
    l.set_default_prim(&stage.root)?;
    l.set_up_axis(UpAxis::Z)?;
    l.set_meters_per_unit(1.0)?;
    l.set_kilograms_per_unit(1.0)?;
    l.set_custom_layer_data("creator", &Value::String(format!("twinloom {}", env!("CARGO_PKG_VERSION"))))?;
    l.set_custom_layer_data("twinloom:capabilityLevel", &Value::Int(stage.capability_level as i32))?;
    l.set_documentation("Twinloom live plant stage: live/*.usdc hold the connector's values (over opinions only).")?;
    l.set_sublayers(&stage.sublayers)?;

    // The layout and its own sublayers (e.g. a geometry .usdc): prims they hold are not redefined here.
    let layout = match stage.layout.as_deref().filter(|p| p.exists()) {
        Some(p) => Some(LayerStack::open(p)?),
        None => None,
    };
    let defined_in_layout = |path: &str| layout.as_ref().is_some_and(|l| l.has_spec(path));

    // Every prim on the way to a bound attribute, parents first.
    let mut prims: BTreeSet<String> = BTreeSet::new();
    prims.insert(format!("/{}", stage.root));
    for b in &stage.bindings {
        let mut p = b.prim.as_str();
        loop {
            prims.insert(p.to_string());
            match p.rfind('/') {
                Some(0) | None => break,
                Some(i) => p = &p[..i],
            }
        }
    }
    for p in &prims {
        if defined_in_layout(p) {
            l.define_prim(p, Specifier::Over, "")?;
        } else {
            l.define_prim(p, Specifier::Def, CONTAINER_TYPE)?;
            if let Some(name) = stage.prim_display_names.get(p) {
                l.set_metadata(p, "displayName", &Value::String(name.clone()))?;
            }
        }
    }
    l.set_kind(&format!("/{}", stage.root), "assembly")?;

    // The binding API instances, grouped per prim.
    let mut per_prim: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in stage.bindings.iter().enumerate() {
        per_prim.entry(b.prim.as_str()).or_default().push(i);
    }
    for (prim, idxs) in per_prim {
        let mut applied = Vec::with_capacity(idxs.len());
        for &i in &idxs {
            let b = &stage.bindings[i];
            let inst = signal::instance_name(&b.attr);
            applied.push(signal::applied_schema(&inst));
            fn uniform_token(name: &str) -> AttributeDef<'_> {
                AttributeDef::new(name, ValueType::Token).uniform()
            }
            let f = |field: &str| signal::property(&inst, field);
            l.set_attribute(prim, &uniform_token(&f(signal::field::ATTRIBUTE)), &Value::Token(b.attr.clone()))?;
            l.set_attribute(
                prim,
                &uniform_token(&f(signal::field::SOURCE_KIND)),
                &Value::Token(b.source_kind.clone()),
            )?;
            l.set_attribute(
                prim,
                &AttributeDef::new(&f(signal::field::ADDRESS), ValueType::String).uniform(),
                &Value::String(b.address.clone()),
            )?;
            if let Some(unit) = &b.unit {
                l.set_attribute(
                    prim,
                    &AttributeDef::new(&f(signal::field::UNIT), ValueType::String).uniform(),
                    &Value::String(unit.clone()),
                )?;
            }
            if b.scale != 1.0 || b.offset != 0.0 {
                l.set_attribute(
                    prim,
                    &AttributeDef::new(&f(signal::field::SCALE), ValueType::Double).uniform(),
                    &Value::Double(b.scale),
                )?;
                l.set_attribute(
                    prim,
                    &AttributeDef::new(&f(signal::field::OFFSET), ValueType::Double).uniform(),
                    &Value::Double(b.offset),
                )?;
            }
            // The live attribute is declared here with its type (unless the layout declares it); the live
            // layer holds its values.
            let attr_path = format!("{prim}.{}", b.attr);
            if !defined_in_layout(&attr_path) {
                let ty = ValueType::from_sdf_name(&b.value_type).ok_or_else(|| {
                    twinloom_usd::UsdError::Unsupported(format!("{attr_path}: type {}", b.value_type))
                })?;
                l.define_attribute(prim, &AttributeDef::new(&b.attr, ty).custom())?;
            }
            if let Some(name) = &b.display_name {
                l.set_metadata(&format!("{prim}.{}", b.attr), "displayName", &Value::String(name.clone()))?;
            }
        }
        l.set_api_schemas(prim, &applied)?;
    }
    l.export_atomic(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> RootStage {
        RootStage {
            root: "Plant".into(),
            capability_level: 1,
            sublayers: vec!["live/biw.usdc".into()],
            layout: None,
            bindings: vec![BoundAttribute {
                prim: "/Plant/BIW/R01".into(),
                attr: "j1".into(),
                value_type: "double".into(),
                address: "ns=2;s=R01.J1".into(),
                source_kind: "opcua".into(),
                unit: Some("deg".into()),
                scale: 1.0,
                offset: 0.0,
                display_name: Some("J1 (°)".into()),
            }],
            prim_display_names: BTreeMap::from([("/Plant/BIW".into(), "Body shop".into())]),
        }
    }

    #[test]
    fn spec_travels_as_json_unchanged() {
        let dir = std::env::temp_dir().join(format!("twinloom-stage-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spec.json");
        std::fs::write(&path, serde_json::to_vec(&stage()).unwrap()).unwrap();
        assert_eq!(read_spec(&path).unwrap(), stage());
        std::fs::write(&path, b"{not json").unwrap();
        let err = read_spec(&path).unwrap_err().to_string();
        assert!(err.contains("spec.json"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_writer_program_is_named_and_leaves_no_spec_behind() {
        let dir = std::env::temp_dir().join(format!("twinloom-stage-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("no-such-twinloom");
        let err = write_root_in_child(&exe, &dir.join("plant.usda"), &stage()).unwrap_err().to_string();
        assert!(err.contains("no-such-twinloom"), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the spec file is removed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
