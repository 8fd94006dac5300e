//! The MES layer's edits: what the WIP model changes, as live-stream edit ops (`def`, `over`, `set`,
//! `rel`, `remove`; docs/mes.md, "Live edits") that a client applies 1:1 with Sdf calls, and
//! [`apply_edits`], which applies them to a twinloom_usd [`Layer`]. The connector writes `mes.usda` with
//! the same function, so a client that applies every edit holds exactly the saved layer.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use twinloom_usd::{Layer, Specifier, UsdError, Value};

/// One edit of the MES layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum Edit {
    /// `def` the prim (`Sdf.CreatePrimInLayer`, specifier def, type name) and prepend its API schemas.
    Def {
        path: String,
        #[serde(rename = "type")]
        type_name: String,
        #[serde(rename = "apiSchemas", default, skip_serializing_if = "Vec::is_empty")]
        api_schemas: Vec<String>,
    },
    /// An `over` of the prim (created as one when the layer has no spec) with its API schemas prepended.
    Over {
        path: String,
        #[serde(rename = "apiSchemas", default, skip_serializing_if = "Vec::is_empty")]
        api_schemas: Vec<String>,
    },
    /// An attribute's default value, as protocol 1's `set` (`type` adds `string[]`).
    Set {
        path: String,
        #[serde(rename = "type")]
        value_type: String,
        value: Json,
    },
    /// A relationship's explicit targets (none: the relationship is authored with no targets).
    Rel { path: String, targets: Vec<String> },
    /// Removes the prim spec with everything below it.
    Remove { path: String },
}

impl Edit {
    /// A `set` of a string attribute.
    pub fn set_string(prim: &str, attr: &str, value: &str) -> Edit {
        Edit::Set { path: format!("{prim}.{attr}"), value_type: "string".into(), value: Json::from(value) }
    }

    /// A `set` of an int64 attribute.
    pub fn set_i64(prim: &str, attr: &str, value: i64) -> Edit {
        Edit::Set { path: format!("{prim}.{attr}"), value_type: "int64".into(), value: Json::from(value) }
    }

    /// A `set` of a double attribute (non-finite values are written as 0).
    pub fn set_f64(prim: &str, attr: &str, value: f64) -> Edit {
        let value = serde_json::Number::from_f64(value).map_or(Json::from(0.0), Json::Number);
        Edit::Set { path: format!("{prim}.{attr}"), value_type: "double".into(), value }
    }

    /// A `set` of a string[] attribute.
    pub fn set_strings(prim: &str, attr: &str, value: &[String]) -> Edit {
        Edit::Set { path: format!("{prim}.{attr}"), value_type: "string[]".into(), value: Json::from(value.to_vec()) }
    }

    /// A relationship edit.
    pub fn rel(prim: &str, name: &str, targets: Vec<String>) -> Edit {
        Edit::Rel { path: format!("{prim}.{name}"), targets }
    }

    /// The path the edit concerns (a prim or a property path).
    pub fn path(&self) -> &str {
        match self {
            Edit::Def { path, .. }
            | Edit::Over { path, .. }
            | Edit::Set { path, .. }
            | Edit::Rel { path, .. }
            | Edit::Remove { path } => path,
        }
    }
}

/// Why an edit could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("edit {op} {path}: {detail}")]
    Invalid { op: &'static str, path: String, detail: String },
    #[error(transparent)]
    Usd(#[from] UsdError),
}

fn invalid(op: &'static str, path: &str, detail: impl Into<String>) -> EditError {
    EditError::Invalid { op, path: path.to_string(), detail: detail.into() }
}

/// The typed value of a `set` edit.
fn value_of(path: &str, ty: &str, v: &Json) -> Result<Value, EditError> {
    let bad = || invalid("set", path, format!("value {v} is not a {ty}"));
    Ok(match ty {
        "string" => Value::String(v.as_str().ok_or_else(bad)?.to_string()),
        "token" => Value::Token(v.as_str().ok_or_else(bad)?.to_string()),
        "int64" => Value::Int64(v.as_i64().ok_or_else(bad)?),
        "int" => Value::Int(v.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or_else(bad)?),
        "double" => Value::Double(v.as_f64().ok_or_else(bad)?),
        "bool" => Value::Bool(v.as_bool().ok_or_else(bad)?),
        "string[]" => Value::StringArray(
            v.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(invalid("set", path, format!("type {other:?} is not one of the MES edit types"))),
    })
}

fn split_property<'a>(op: &'static str, path: &'a str) -> Result<(&'a str, &'a str), EditError> {
    // The property name starts at the first '.' after the last '/' (names may hold ':').
    let slash = path.rfind('/').ok_or_else(|| invalid(op, path, "not an absolute path"))?;
    let dot = path[slash..].find('.').ok_or_else(|| invalid(op, path, "not a property path"))?;
    Ok((&path[..slash + dot], &path[slash + dot + 1..]))
}

/// Applies edits in order to `layer`, exactly as a live client applies them with Sdf (docs/mes.md), in one
/// Sdf change block.
pub fn apply_edits(layer: &mut Layer, edits: &[Edit]) -> Result<(), EditError> {
    layer.change_block(|layer| edits.iter().try_for_each(|e| apply_edit(layer, e)))
}

/// Applies one edit to `layer`.
pub fn apply_edit(layer: &mut Layer, edit: &Edit) -> Result<(), EditError> {
    match edit {
        Edit::Def { path, type_name, api_schemas } => {
            layer.define_prim(path, Specifier::Def, type_name)?;
            if !api_schemas.is_empty() {
                layer.set_api_schemas(path, api_schemas)?;
            }
        }
        Edit::Over { path, api_schemas } => {
            if !layer.has_spec(path) {
                layer.define_prim(path, Specifier::Over, "")?;
            }
            if !api_schemas.is_empty() {
                layer.set_api_schemas(path, api_schemas)?;
            }
        }
        Edit::Set { path, value_type, value } => {
            split_property("set", path)?;
            // One call: `over` the prim and define the attribute when missing, then set the default.
            layer.upsert_default(path, &value_of(path, value_type, value)?)?;
        }
        Edit::Rel { path, targets } => {
            let (prim, name) = split_property("rel", path)?;
            if !layer.has_spec(prim) {
                layer.define_prim(prim, Specifier::Over, "")?;
            }
            layer.define_relationship(prim, name, targets, false)?;
        }
        Edit::Remove { path } => {
            if layer.has_spec(path) {
                layer.remove_spec(path)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_serialize_as_documented() {
        let edits = vec![
            Edit::Def { path: "/P/A/WIP/V".into(), type_name: "Xform".into(), api_schemas: vec!["X".into()] },
            Edit::Over { path: "/P/A/S".into(), api_schemas: vec![] },
            Edit::set_strings("/P/A/WIP/V", "twinloom:wip:options", &["a".into()]),
            Edit::rel("/P/A/WIP/V", "twinloom:wip:station", vec!["/P/A/S".into()]),
            Edit::Remove { path: "/P/A/WIP/V".into() },
        ];
        let text = serde_json::to_string(&edits).unwrap();
        assert_eq!(
            text,
            r#"[{"op":"def","path":"/P/A/WIP/V","type":"Xform","apiSchemas":["X"]},{"op":"over","path":"/P/A/S"},{"op":"set","path":"/P/A/WIP/V.twinloom:wip:options","type":"string[]","value":["a"]},{"op":"rel","path":"/P/A/WIP/V.twinloom:wip:station","targets":["/P/A/S"]},{"op":"remove","path":"/P/A/WIP/V"}]"#
        );
        let back: Vec<Edit> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, edits);
        assert_eq!(split_property("set", "/P/A.b:c.d").unwrap(), ("/P/A", "b:c.d"));
        assert!(split_property("set", "/P/A").is_err());
    }

    #[test]
    fn edits_apply_to_a_layer() {
        let mut layer = Layer::create_anonymous("mes-edit-test", "usda").unwrap();
        let car = "/Plant/Assembly/WIP/V1";
        let edits = vec![
            Edit::Def {
                path: car.into(),
                type_name: "Xform".into(),
                api_schemas: vec!["TwinloomWorkInProcessAPI".into()],
            },
            Edit::set_string(car, "twinloom:wip:vin", "V1"),
            Edit::set_i64(car, "twinloom:wip:sequence", 7),
            Edit::set_f64("/Plant/Assembly/WIP/V1/Genealogy/P", "twinloom:material:quantity", 2.5),
            Edit::rel(car, "twinloom:wip:station", vec!["/Plant/Assembly/S1".into()]),
            Edit::Over { path: "/Plant/Assembly/S1".into(), api_schemas: vec!["TwinloomStationAPI".into()] },
            Edit::set_string("/Plant/Assembly/S1", "twinloom:currentVin", "V1"),
            Edit::set_string("/Plant/Assembly/S1", "twinloom:currentVin", ""),
        ];
        apply_edits(&mut layer, &edits).unwrap();
        assert_eq!(layer.prim(car).unwrap().type_name, "Xform");
        assert_eq!(layer.api_schemas(car).unwrap(), ["TwinloomWorkInProcessAPI"]);
        assert_eq!(layer.default_value(&format!("{car}.twinloom:wip:sequence")).unwrap(), Some(Value::Int64(7)));
        assert_eq!(layer.relationship_targets(&format!("{car}.twinloom:wip:station")).unwrap(), ["/Plant/Assembly/S1"]);
        assert_eq!(layer.prim("/Plant/Assembly/S1").unwrap().specifier, Specifier::Over);
        assert_eq!(
            layer.default_value("/Plant/Assembly/S1.twinloom:currentVin").unwrap(),
            Some(Value::String(String::new()))
        );
        apply_edits(&mut layer, &[Edit::Remove { path: car.into() }, Edit::Remove { path: car.into() }]).unwrap();
        assert!(!layer.has_spec(car));
        let bad = Edit::Set { path: format!("{car}.x"), value_type: "string".into(), value: Json::from(3) };
        assert!(matches!(apply_edit(&mut layer, &bad), Err(EditError::Invalid { .. })));
    }
}
