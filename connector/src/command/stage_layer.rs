//! The last command per target on the stage: `commands.usda` in the stage folder, sublayered by the root
//! stage, with an `over` on each commanded prim holding `twinloom:lastCommand:<attribute>:*` attributes
//! (id, state, value, by, atMs). They never shadow the plant's live values: the target attribute itself
//! is not authored here. Saved atomically after every change.

use std::path::{Path, PathBuf};

use twinloom_usd::{AttributeDef, Layer, Specifier, UsdError, Value};

use super::engine::Command;

/// The file name, next to `plant.usda`.
pub const FILE: &str = "commands.usda";

/// The commands layer of a stage.
pub struct CommandLayer {
    layer: Layer,
    path: PathBuf,
}

/// `twinloom:lastCommand:<attribute>:<field>` for a target `/Prim.attribute`.
pub fn attribute_name(target_attr: &str, field: &str) -> String {
    format!("twinloom:lastCommand:{target_attr}:{field}")
}

impl CommandLayer {
    /// Opens `path` (keeping the last commands of earlier runs) or creates it with `root` as defaultPrim.
    pub fn open_or_create(path: &Path, root: &str) -> Result<CommandLayer, UsdError> {
        let layer = if path.exists() {
            Layer::open(path)?
        } else {
            let mut l = Layer::create_anonymous("twinloom-commands", "usda")?;
            l.set_default_prim(root)?;
            l.set_documentation("Twinloom write-back: the last command per target (docs/write-back.md).")?;
            l.export_atomic(path)?;
            l
        };
        Ok(CommandLayer { layer, path: path.to_path_buf() })
    }

    /// Records `cmd` as its target's last command and saves the layer.
    pub fn record(&mut self, cmd: &Command) -> Result<(), UsdError> {
        let Some((prim, attr)) = cmd.target.split_once('.') else { return Ok(()) };
        let mut at = String::new();
        for part in prim.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            if !self.layer.has_spec(&at) {
                self.layer.define_prim(&at, Specifier::Over, "")?;
            }
        }
        let state = serde_json::to_value(cmd.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let at_ms = cmd.history.last().map_or(0, |t| t.at_ms);
        let fields = [
            ("id", Value::String(cmd.id.clone())),
            ("state", Value::Token(state)),
            ("value", Value::String(cmd.value.to_string())),
            ("by", Value::String(cmd.requested_by.clone())),
            ("atMs", Value::Int64(at_ms)),
        ];
        for (field, value) in fields {
            let name = attribute_name(attr, field);
            let def = AttributeDef::new(&name, value.value_type()).custom();
            self.layer.set_attribute(prim, &def, &value)?;
        }
        self.layer.export_atomic(&self.path)
    }
}
