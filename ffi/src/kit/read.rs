//! A plant stage opened for reading: the [`LayerStack`] (every method of it is available on [`Stage`])
//! plus typed attribute reads. Each read returns `Ok(None)` when no layer authors the attribute and a
//! [`StageError`] naming the prim, the attribute and what was found when it holds the wrong type.

use std::ops::Deref;
use std::path::Path;

use super::error::{usd, StageError};
use crate::stack::LayerStack;
use crate::Value;

/// A stage's layer stack, read-only, with typed reads.
#[derive(Debug)]
pub struct Stage {
    stack: LayerStack,
}

impl Deref for Stage {
    type Target = LayerStack;
    fn deref(&self) -> &LayerStack {
        &self.stack
    }
}

impl Stage {
    /// Opens the stage `root` and its sublayers (nothing here saves a layer).
    pub fn open(root: &Path) -> Result<Stage, StageError> {
        Ok(Stage { stack: LayerStack::open(root).map_err(usd(format!("opening {}", root.display())))? })
    }

    /// The layer stack underneath.
    pub fn stack(&self) -> &LayerStack {
        &self.stack
    }

    /// An error unless some layer has a spec at `prim`.
    pub fn expect_prim(&self, prim: &str) -> Result<(), StageError> {
        if self.stack.has_spec(prim) {
            Ok(())
        } else {
            Err(StageError::NoSuchPrim { stage: self.stack.root().display().to_string(), prim: prim.to_string() })
        }
    }

    /// The strongest default of the attribute `name` on `prim`.
    pub fn value(&self, prim: &str, name: &str) -> Result<Option<Value>, StageError> {
        let attr_path = format!("{prim}.{name}");
        self.stack.value(&attr_path).map_err(usd(format!("reading {attr_path}")))
    }

    /// A float or double attribute, as f64.
    pub fn real(&self, prim: &str, name: &str) -> Result<Option<f64>, StageError> {
        match self.value(prim, name)? {
            None => Ok(None),
            Some(Value::Double(v)) => Ok(Some(v)),
            Some(Value::Float(v)) => Ok(Some(v as f64)),
            Some(other) => Err(StageError::wrong_type(prim, name, "a float or double", &other)),
        }
    }

    /// An int or int64 attribute.
    pub fn int(&self, prim: &str, name: &str) -> Result<Option<i64>, StageError> {
        match self.value(prim, name)? {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(v as i64)),
            Some(Value::Int64(v)) => Ok(Some(v)),
            Some(other) => Err(StageError::wrong_type(prim, name, "an int", &other)),
        }
    }

    /// A real array attribute (`double[]`, `float[]` or `int[]`), as f64s.
    pub fn reals(&self, prim: &str, name: &str) -> Result<Option<Vec<f64>>, StageError> {
        Ok(Some(match self.value(prim, name)? {
            None => return Ok(None),
            Some(Value::DoubleArray(v)) => v,
            Some(Value::FloatArray(v)) => v.into_iter().map(f64::from).collect(),
            Some(Value::IntArray(v)) => v.into_iter().map(f64::from).collect(),
            Some(other) => return Err(StageError::wrong_type(prim, name, "a double[], float[] or int[]", &other)),
        }))
    }

    /// A real array attribute that must hold exactly `N` values.
    pub fn reals_n<const N: usize>(&self, prim: &str, name: &str) -> Result<Option<[f64; N]>, StageError> {
        let Some(v) = self.reals(prim, name)? else { return Ok(None) };
        let n = v.len();
        v.try_into()
            .map(Some)
            .map_err(|_| StageError::invalid_value(prim, name, format!("{n} values"), format!("must have {N} values")))
    }

    /// A token[] attribute.
    pub fn tokens(&self, prim: &str, name: &str) -> Result<Option<Vec<String>>, StageError> {
        match self.value(prim, name)? {
            None => Ok(None),
            Some(Value::TokenArray(v)) => Ok(Some(v)),
            Some(other) => Err(StageError::wrong_type(prim, name, "a token[]", &other)),
        }
    }

    /// A metadata field of the root layer (`metersPerUnit`, `upAxis`, `defaultPrim`, …).
    pub fn root_metadata(&self, key: &str) -> Result<Option<Value>, StageError> {
        self.stack.root_metadata(key).map_err(usd(format!("reading {key} of {}", self.stack.root().display())))
    }
}
