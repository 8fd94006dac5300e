//! The layers a recommendation lives in, written with the guarded results-layer writer of `twinloom-usd`
//! (atomically, and never over a layer of the plant's stage):
//!
//! - a **sibling layer**: a root of its own that sublayers the plant's root layer and overrides the
//!   attributes the candidate changes (`over` prims, the schema's own attribute names), with the plant's
//!   `defaultPrim`, `upAxis` and `metersPerUnit`; opened in any USD app it is the plant as the candidate
//!   would make it, and the plant's files stay byte-identical;
//! - the **results layer** `recommendations.usda`: one `Scope` per recommendation under
//!   `/<defaultPrim>/Recommendations`, its fields as `custom` attributes in the `twinloom:rec:` namespace.

use std::path::{Path, PathBuf};

use twinloom_usd::kit::{usd, ResultsLayer, StageError};
use twinloom_usd::Value;

use crate::error::PrescriptiveError;
use crate::rec::Recommendation;

/// The namespace of the results layer's attributes.
pub const NS: &str = "twinloom:rec:";
/// The scope under the default prim that holds the recommendations.
pub const SCOPE: &str = "Recommendations";

/// What a layer is written against: the plant stage's layers (never overwritten), its root metadata
/// (`defaultPrim`, `upAxis`, `metersPerUnit`, copied) and the creator written to `customLayerData`.
#[derive(Clone, Debug, Default)]
pub struct Plant {
    pub layers: Vec<PathBuf>,
    pub root_metadata: Vec<(String, Value)>,
    pub creator: String,
}

impl Plant {
    /// The plant's default prim (`Plant` when the root layer names none).
    pub fn default_prim(&self) -> String {
        self.root_metadata
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("defaultPrim", Value::String(s) | Value::Token(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "Plant".to_string())
    }

    fn start(&self, out: &Path, doc: &str) -> Result<ResultsLayer, PrescriptiveError> {
        let mut w = ResultsLayer::create(out, &self.layers, &self.creator).map_err(stage_err)?;
        for (key, value) in &self.root_metadata {
            w.layer().set_metadata("/", key, value).map_err(usd(format!("layer metadata {key}"))).map_err(stage_err)?;
        }
        w.layer().set_documentation(doc).map_err(usd("documentation")).map_err(stage_err)?;
        Ok(w)
    }
}

fn stage_err(e: StageError) -> PrescriptiveError {
    PrescriptiveError::Layer(e.to_string())
}

/// One attribute a sibling overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub prim: String,
    pub attribute: String,
    pub value: Value,
}

/// Writes a sibling layer to `out`: sublayers `plant_root` (as written into the layer, e.g. `./plant.usda`)
/// and overrides `sets`. `doc` says what the sibling is.
pub fn write_sibling(
    out: &Path,
    plant: &Plant,
    plant_root: &str,
    doc: &str,
    sets: &[Override],
) -> Result<(), PrescriptiveError> {
    let mut w = plant.start(out, doc)?;
    w.layer().set_sublayers(&[plant_root]).map_err(usd("subLayers")).map_err(stage_err)?;
    for o in sets {
        check_path(&o.prim)?;
        w.over(&o.prim).map_err(stage_err)?;
        w.set(&o.prim, &o.attribute, o.value.clone()).map_err(stage_err)?;
    }
    w.save().map_err(stage_err)
}

/// A prim name for a recommendation id (`-` becomes `_`; a leading digit gets `R_`).
pub fn prim_name(id: &str) -> String {
    let mut s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "R_");
    }
    s
}

fn check_path(p: &str) -> Result<(), PrescriptiveError> {
    let ok = p.starts_with('/')
        && p[1..].split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with(|c: char| c.is_ascii_digit())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(PrescriptiveError::InvalidName { what: "prim path", value: p.into(), kind: "absolute prim path" })
    }
}

/// Writes the results layer: `/<defaultPrim>/Recommendations/<id>` Scopes with `twinloom:rec:*` attributes,
/// and `customLayerData` naming the stage and the recommendation count.
pub fn write_recommendations(
    out: &Path,
    plant: &Plant,
    stage: &str,
    recs: &[Recommendation],
) -> Result<(), PrescriptiveError> {
    let mut w = plant.start(
        out,
        "Twinloom recommendations: ranked actions, each with the sibling it was simulated in, its effect and the \
         writes it would need (docs/prescriptive.md).",
    )?;
    let se = stage_err;
    w.layer_data("twinloom:rec:stage", Value::String(stage.into())).map_err(se)?;
    w.layer_data("twinloom:rec:count", Value::Int(recs.len() as i32)).map_err(se)?;
    let root = format!("/{}", plant.default_prim());
    check_path(&root)?;
    w.over(&root).map_err(se)?;
    let scope = format!("{root}/{SCOPE}");
    w.def(&scope, "Scope").map_err(se)?;
    for r in recs {
        let p = format!("{scope}/{}", prim_name(&r.id));
        w.def(&p, "Scope").map_err(se)?;
        let s = |v: &str| Value::String(v.to_string());
        let mut set = |name: &str, v: Value| w.set_custom(&p, &format!("{NS}{name}"), v).map_err(se);
        set("id", s(&r.id))?;
        set("rank", Value::Int(r.rank as i32))?;
        set("domain", Value::Token(r.domain.as_str().into()))?;
        set("kind", Value::Token(r.kind.clone()))?;
        set("state", Value::Token(r.state.as_str().into()))?;
        set("target", s(&r.target))?;
        set("explanation", s(&r.explanation))?;
        set("sibling", s(r.sibling.as_deref().unwrap_or("")))?;
        set("metric", s(&r.effect.metric))?;
        set("unit", s(&r.effect.unit))?;
        if let Some(b) = r.effect.baseline {
            set("baseline", Value::Double(b))?;
        }
        set("value", Value::Double(r.effect.value))?;
        set("change", Value::Double(r.effect.change))?;
        set("ci95", Value::Double(r.effect.ci95))?;
        set("significant", Value::Bool(r.effect.significant()))?;
        set("replications", Value::Int(r.effect.replications as i32))?;
        let writes = serde_json::to_string(&r.writes).unwrap_or_else(|_| "[]".into());
        set("writes", s(&writes))?;
        set("assumptions", Value::StringArray(r.assumptions.clone()))?;
    }
    w.save().map_err(se)
}
