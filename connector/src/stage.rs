//! The root stage `plant.usda`: stage metadata, the sublayer stack (results, live layers, layout) and the
//! prims that bound attributes live on, each with a `TwinloomSignalBindingAPI` instance per bound attribute
//! saying where its values come from. Written once at start-up, atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use twinloom_usd::{AttributeDef, Layer, Specifier, UpAxis, Value, ValueType};
use twinloom_usd_schemas::signal;

use crate::binding::BindingTable;

/// What goes into the root layer.
pub struct RootStage<'a> {
    /// Root prim name (defaultPrim).
    pub root: &'a str,
    pub capability_level: i64,
    /// Sublayers, strongest first, relative to the stage folder.
    pub sublayers: Vec<String>,
    /// A layout layer (already among `sublayers`) whose `def` prims the root must not redefine.
    pub layout: Option<&'a Path>,
    pub bindings: &'a BindingTable,
    /// `sourceKind` per source name.
    pub source_kinds: &'a BTreeMap<String, String>,
}

/// Prim type of a prim that only holds bound attributes and children.
const CONTAINER_TYPE: &str = "Xform";

/// Writes the root layer to `path` (atomically).
pub fn write_root(path: &Path, stage: &RootStage) -> Result<(), twinloom_usd::UsdError> {
    let mut l = Layer::create_anonymous("plant", "usda")?;
    l.set_default_prim(stage.root)?;
    l.set_up_axis(UpAxis::Z)?;
    l.set_meters_per_unit(1.0)?;
    l.set_kilograms_per_unit(1.0)?;
    l.set_custom_layer_data("creator", &Value::String(format!("twinloom {}", env!("CARGO_PKG_VERSION"))))?;
    l.set_custom_layer_data("twinloom:capabilityLevel", &Value::Int(stage.capability_level as i32))?;
    l.set_documentation("Twinloom live plant stage: live/*.usdc hold the connector's values (over opinions only).")?;
    l.set_sublayers(&stage.sublayers)?;

    // The layout and its own sublayers (e.g. a geometry .usdc): prims they hold are not redefined here.
    let mut layout: Vec<Layer> = Vec::new();
    if let Some(p) = stage.layout.filter(|p| p.exists()) {
        let l = Layer::open(p)?;
        let dir = p.parent().unwrap_or(Path::new("."));
        for sub in l.sublayers() {
            let sub_path = dir.join(&sub);
            if sub_path.exists() {
                layout.push(Layer::open(&sub_path)?);
            }
        }
        layout.push(l);
    }
    let defined_in_layout = |path: &str| layout.iter().any(|l| l.has_spec(path));

    // Every prim on the way to a bound attribute, parents first.
    let mut prims: BTreeSet<String> = BTreeSet::new();
    prims.insert(format!("/{}", stage.root));
    for b in &stage.bindings.bindings {
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
        }
    }
    l.set_kind(&format!("/{}", stage.root), "assembly")?;

    // The binding API instances, grouped per prim.
    let mut per_prim: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in stage.bindings.bindings.iter().enumerate() {
        per_prim.entry(b.prim.as_str()).or_default().push(i);
    }
    for (prim, idxs) in per_prim {
        let mut applied = Vec::with_capacity(idxs.len());
        for &i in &idxs {
            let b = &stage.bindings.bindings[i];
            let inst = signal::instance_name(&b.attr);
            applied.push(signal::applied_schema(&inst));
            let kind = stage.source_kinds.get(&b.source).map(String::as_str).unwrap_or("unknown");
            fn uniform_token(name: &str) -> AttributeDef<'_> {
                AttributeDef::new(name, ValueType::Token).uniform()
            }
            let f = |field: &str| signal::property(&inst, field);
            l.set_attribute(prim, &uniform_token(&f(signal::field::ATTRIBUTE)), &Value::Token(b.attr.clone()))?;
            l.set_attribute(prim, &uniform_token(&f(signal::field::SOURCE_KIND)), &Value::Token(kind.to_string()))?;
            l.set_attribute(prim, &AttributeDef::new(&f(signal::field::ADDRESS), ValueType::String).uniform(), &Value::String(b.address.clone()))?;
            if let Some(unit) = &b.unit {
                l.set_attribute(prim, &uniform_token(&f(signal::field::UNIT)), &Value::Token(unit.clone()))?;
            }
            if b.scale != 1.0 || b.offset != 0.0 {
                l.set_attribute(prim, &AttributeDef::new(&f(signal::field::SCALE), ValueType::Double).uniform(), &Value::Double(b.scale))?;
                l.set_attribute(prim, &AttributeDef::new(&f(signal::field::OFFSET), ValueType::Double).uniform(), &Value::Double(b.offset))?;
            }
            // The live attribute is declared here with its type (unless the layout declares it); the live
            // layer holds its values.
            let attr_path = format!("{prim}.{}", b.attr);
            if !defined_in_layout(&attr_path) {
                l.define_attribute(prim, &AttributeDef::new(&b.attr, b.value_type).custom())?;
            }
            if let Some(name) = &b.display_name {
                l.set_metadata(&format!("{prim}.{}", b.attr), "displayName", &Value::String(name.clone()))?;
            }
        }
        l.set_api_schemas(prim, &applied)?;
    }
    l.export_atomic(path)
}
