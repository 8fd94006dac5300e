//! Model files for `twinloom flow`: a TOML file with a `[line]` table (a [`LineModel`]) and/or a `[paint]` table
//! (a [`PaintModel`]). A scenario file has the same shape and is merged over the model: tables merge key by key,
//! arrays of tables with `name` keys merge element by element by name (new names are appended), other values
//! are replaced. The plant model itself is never changed: a scenario is a sibling.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::des::LineModel;
use crate::error::{FlowError, Result};
use crate::paint::PaintModel;

/// A flow model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowModel {
    #[serde(default)]
    pub line: Option<LineModel>,
    #[serde(default)]
    pub paint: Option<PaintModel>,
}

fn parse_table(name: &str, text: &str) -> Result<Table> {
    text.parse::<Table>().map_err(|e| toml_error(name, text, &e))
}

fn toml_error(name: &str, text: &str, e: &toml::de::Error) -> FlowError {
    let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    FlowError::parse(name, line, e.message().to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|err| FlowError::Io { path: path.display().to_string(), err })
}

/// Merges `over` into `base` (see the module doc).
pub fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (Some(Value::Array(b)), Value::Array(o)) if named(b) && named(o) => {
                for item in o {
                    let name = item.get("name").cloned();
                    match b.iter_mut().find(|x| x.get("name") == name.as_ref()) {
                        Some(Value::Table(t)) => {
                            if let Value::Table(ot) = item {
                                merge(t, ot);
                            }
                        }
                        _ => b.push(item.clone()),
                    }
                }
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn named(a: &[Value]) -> bool {
    !a.is_empty() && a.iter().all(|x| x.as_table().is_some_and(|t| t.contains_key("name")))
}

/// Parses a model from text, with an optional scenario text merged over it.
pub fn parse_model(name: &str, text: &str, scenario: Option<(&str, &str)>) -> Result<FlowModel> {
    let mut table = parse_table(name, text)?;
    let label = match scenario {
        Some((sname, stext)) => {
            merge(&mut table, &parse_table(sname, stext)?);
            format!("{name} + {sname}")
        }
        None => name.to_string(),
    };
    let model: FlowModel = Value::Table(table).try_into().map_err(|e: toml::de::Error| match scenario {
        // Spans refer to the merged document; without a scenario they are lines of the file.
        None => toml_error(name, text, &e),
        Some(_) => FlowError::invalid(&label, e.message().to_string()),
    })?;
    if model.line.is_none() && model.paint.is_none() {
        return Err(FlowError::invalid(&label, "the model has neither a [line] nor a [paint] table"));
    }
    if let Some(l) = &model.line {
        l.validate()?;
    }
    if let Some(p) = &model.paint {
        p.validate()?;
    }
    Ok(model)
}

/// Reads a model file and an optional scenario file.
pub fn read_model(path: &Path, scenario: Option<&Path>) -> Result<FlowModel> {
    let text = read(path)?;
    let stext = scenario.map(read).transpose()?;
    let sname = scenario.map(|p| p.display().to_string());
    parse_model(&path.display().to_string(), &text, sname.as_deref().zip(stext.as_deref()))
}
