//! The batch path: a `LayerWriter` owns one layer, interns attributes into small handles once, and applies a
//! whole tick of values in one FFI call inside one SdfChangeBlock.
//!
//! ```no_run
//! # use twinloom_usd::{Layer, LayerWriter, Tick, ValueType};
//! # fn main() -> Result<(), twinloom_usd::UsdError> {
//! let mut w = LayerWriter::new(Layer::create_anonymous("live", "usdc")?);
//! let speed = w.intern("/Plant/Paint/Conveyor", "speed", ValueType::Double)?;
//! let mut tick = Tick::default();
//! tick.set_f64(speed, 0.25);
//! w.apply(&tick)?; // one FFI call, one change block
//! # Ok(()) }
//! ```

use crate::bridge::ffi::TickColumns;
use crate::error::{Result, UsdError};
use crate::layer::Layer;
use crate::value::{Value, ValueType};

/// An interned attribute of one writer: an index plus the value column it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrHandle {
    index: u32,
    column: Column,
    writer: u32,
}

impl AttrHandle {
    /// The attribute's index within its writer (dense, from 0).
    pub fn index(self) -> u32 {
        self.index
    }
}

/// The value columns of the batch path. Role types share their column (`point3f` goes with `float3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Bool,
    Int,
    Int64,
    Float,
    Double,
    Float3,
    Double3,
    Quatf,
    String,
    Token,
}

impl Column {
    /// The column for a value type, or `None` if the batch path does not carry it (use `Layer` for those).
    pub fn for_type(t: ValueType) -> Option<Column> {
        Some(match t {
            ValueType::Bool => Column::Bool,
            ValueType::Int => Column::Int,
            ValueType::Int64 => Column::Int64,
            ValueType::Float => Column::Float,
            ValueType::Double => Column::Double,
            ValueType::Float3 | ValueType::Color3f | ValueType::Point3f | ValueType::Vector3f => Column::Float3,
            ValueType::Double3 => Column::Double3,
            ValueType::Quatf => Column::Quatf,
            ValueType::String => Column::String,
            ValueType::Token => Column::Token,
            _ => return None,
        })
    }
}

/// One tick of edits: typed columns of (handle, value). Reuse it across ticks with `clear` to keep its
/// allocations. With `at_time`, values become time samples; otherwise they set defaults.
#[derive(Default)]
pub struct Tick {
    cols: TickColumns,
    /// The writer the handles belong to (0 until the first push).
    writer: u32,
    mismatches: Vec<(AttrHandle, Column)>,
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident, $col:ident, $ty:ty, $handles:ident, $values:ident) => {
        $(#[$m])*
        pub fn $name(&mut self, h: AttrHandle, v: $ty) {
            if self.check(h, Column::$col) {
                self.cols.$handles.push(h.index);
                self.cols.$values.push(v);
            }
        }
    };
}

impl Tick {
    /// Values of this tick become time samples at `time` instead of defaults.
    pub fn at_time(time: f64) -> Tick {
        let mut t = Tick::default();
        t.cols.has_time = true;
        t.cols.time = time;
        t
    }

    /// Empties the tick, keeping its buffers (and its time mode).
    pub fn clear(&mut self) {
        let c = &mut self.cols;
        c.bool_handles.clear();
        c.bool_values.clear();
        c.int_handles.clear();
        c.int_values.clear();
        c.int64_handles.clear();
        c.int64_values.clear();
        c.float_handles.clear();
        c.float_values.clear();
        c.double_handles.clear();
        c.double_values.clear();
        c.float3_handles.clear();
        c.float3_values.clear();
        c.double3_handles.clear();
        c.double3_values.clear();
        c.quatf_handles.clear();
        c.quatf_values.clear();
        c.string_handles.clear();
        c.string_values.clear();
        c.token_handles.clear();
        c.token_values.clear();
        self.mismatches.clear();
    }

    /// Sets the time of a time-sampled tick.
    pub fn set_time(&mut self, time: f64) {
        self.cols.has_time = true;
        self.cols.time = time;
    }

    /// Number of values in the tick.
    pub fn len(&self) -> usize {
        let c = &self.cols;
        c.bool_handles.len()
            + c.int_handles.len()
            + c.int64_handles.len()
            + c.float_handles.len()
            + c.double_handles.len()
            + c.float3_handles.len()
            + c.double3_handles.len()
            + c.quatf_handles.len()
            + c.string_handles.len()
            + c.token_handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.mismatches.is_empty()
    }

    fn check(&mut self, h: AttrHandle, col: Column) -> bool {
        if self.writer == 0 {
            self.writer = h.writer;
        }
        if h.column != col || h.writer != self.writer {
            self.mismatches.push((h, col));
            return false;
        }
        true
    }

    setter!(set_bool_raw, Bool, u8, bool_handles, bool_values);
    setter!(set_i32, Int, i32, int_handles, int_values);
    setter!(set_i64, Int64, i64, int64_handles, int64_values);
    setter!(set_f32, Float, f32, float_handles, float_values);
    setter!(set_f64, Double, f64, double_handles, double_values);
    setter!(set_string, String, String, string_handles, string_values);
    setter!(
        /// Sets a token-valued attribute (e.g. a station state).
        set_token, Token, String, token_handles, token_values
    );

    pub fn set_bool(&mut self, h: AttrHandle, v: bool) {
        self.set_bool_raw(h, v as u8)
    }

    pub fn set_float3(&mut self, h: AttrHandle, v: [f32; 3]) {
        if self.check(h, Column::Float3) {
            self.cols.float3_handles.push(h.index);
            self.cols.float3_values.extend_from_slice(&v);
        }
    }

    pub fn set_double3(&mut self, h: AttrHandle, v: [f64; 3]) {
        if self.check(h, Column::Double3) {
            self.cols.double3_handles.push(h.index);
            self.cols.double3_values.extend_from_slice(&v);
        }
    }

    /// Sets a quatf attribute; `v` is `[w, x, y, z]`.
    pub fn set_quatf(&mut self, h: AttrHandle, v: [f32; 4]) {
        if self.check(h, Column::Quatf) {
            self.cols.quatf_handles.push(h.index);
            self.cols.quatf_values.extend_from_slice(&v);
        }
    }
}

/// Owns one layer and writes ticks into it. `Send` (it can live on a dedicated writer thread) but not
/// `Sync`: one writer per layer, as SdfLayer requires.
pub struct LayerWriter {
    layer: Layer,
    id: u32,
    columns: Vec<Column>,
}

fn next_writer_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl LayerWriter {
    pub fn new(layer: Layer) -> LayerWriter {
        LayerWriter { layer, id: next_writer_id(), columns: Vec::new() }
    }

    /// Interns `prim_path.name` with a value type, once, at configuration time: creates `over` prims and the
    /// attribute spec if missing and checks an existing attribute's type. Returns the handle for ticks.
    pub fn intern(&mut self, prim_path: &str, name: &str, ty: ValueType) -> Result<AttrHandle> {
        let column = Column::for_type(ty).ok_or_else(|| {
            UsdError::Unsupported(format!("{prim_path}.{name}: the batch path does not carry {ty} values"))
        })?;
        let index = self.layer.intern_attribute(prim_path, name, ty)?;
        debug_assert_eq!(index as usize, self.columns.len());
        self.columns.push(column);
        Ok(AttrHandle { index, column, writer: self.id })
    }

    /// Number of interned attributes.
    pub fn interned(&self) -> usize {
        self.columns.len()
    }

    /// Applies a tick in one FFI call inside one SdfChangeBlock; returns the number of values written.
    /// A tick holding handles of another writer or of the wrong column is rejected whole, before any write.
    pub fn apply(&mut self, tick: &Tick) -> Result<usize> {
        if tick.writer != 0 && tick.writer != self.id {
            return Err(UsdError::BadHandle("the tick's handles belong to another writer".into()));
        }
        if let Some((h, col)) = tick.mismatches.first() {
            return Err(UsdError::BadHandle(if h.writer != self.id {
                format!("handle {} belongs to another writer", h.index)
            } else {
                format!(
                    "handle {} holds {:?} values, not {:?} ({} bad values in this tick)",
                    h.index,
                    h.column,
                    col,
                    tick.mismatches.len()
                )
            }));
        }
        if tick.is_empty() {
            return Ok(0);
        }
        self.layer.apply_tick(&tick.cols)
    }

    /// Calls `f(handle index, value)` for every interned attribute whose default is set, in one FFI call
    /// (handles are numbered 0, 1, … in intern order). What the layer holds, not what was sent to it.
    pub fn visit_defaults(&self, mut f: impl FnMut(u32, Value)) -> Result<()> {
        let c = self.layer.read_defaults()?;
        let each =
            |handles: &[u32], f: &mut dyn FnMut(usize, u32)| handles.iter().enumerate().for_each(|(i, &h)| f(i, h));
        each(&c.bool_handles, &mut |i, h| f(h, Value::Bool(c.bool_values[i] != 0)));
        each(&c.int_handles, &mut |i, h| f(h, Value::Int(c.int_values[i])));
        each(&c.int64_handles, &mut |i, h| f(h, Value::Int64(c.int64_values[i])));
        each(&c.float_handles, &mut |i, h| f(h, Value::Float(c.float_values[i])));
        each(&c.double_handles, &mut |i, h| f(h, Value::Double(c.double_values[i])));
        each(&c.float3_handles, &mut |i, h| {
            f(h, Value::Float3([c.float3_values[3 * i], c.float3_values[3 * i + 1], c.float3_values[3 * i + 2]]))
        });
        each(&c.double3_handles, &mut |i, h| {
            f(h, Value::Double3([c.double3_values[3 * i], c.double3_values[3 * i + 1], c.double3_values[3 * i + 2]]))
        });
        each(&c.quatf_handles, &mut |i, h| {
            f(
                h,
                Value::Quatf([
                    c.quatf_values[4 * i],
                    c.quatf_values[4 * i + 1],
                    c.quatf_values[4 * i + 2],
                    c.quatf_values[4 * i + 3],
                ]),
            )
        });
        each(&c.string_handles, &mut |i, h| f(h, Value::String(c.string_values[i].clone())));
        each(&c.token_handles, &mut |i, h| f(h, Value::Token(c.token_values[i].clone())));
        Ok(())
    }

    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// The layer, for edits outside the batch path (metadata, new prims). Interned handles stay valid as
    /// long as their attribute specs are not removed.
    pub fn layer_mut(&mut self) -> &mut Layer {
        &mut self.layer
    }

    pub fn into_layer(self) -> Layer {
        self.layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_back_in_one_call() {
        let mut w = LayerWriter::new(Layer::create_anonymous("t", "usda").unwrap());
        let x = w.intern("/A", "x", ValueType::Double).unwrap();
        let unset = w.intern("/A", "unset", ValueType::Int).unwrap();
        let p = w.intern("/A/B", "p", ValueType::Point3f).unwrap();
        let s = w.intern("/A/B", "s", ValueType::Token).unwrap();
        let mut t = Tick::default();
        t.set_f64(x, 2.5);
        t.set_float3(p, [1.0, 2.0, 3.0]);
        t.set_token(s, "run".into());
        w.apply(&t).unwrap();
        let mut got = Vec::new();
        w.visit_defaults(|h, v| got.push((h, v))).unwrap();
        got.sort_by_key(|(h, _)| *h);
        assert_eq!(
            got,
            vec![
                (x.index(), Value::Double(2.5)),
                (p.index(), Value::Float3([1.0, 2.0, 3.0])),
                (s.index(), Value::Token("run".into()))
            ]
        );
        assert!(got.iter().all(|(h, _)| *h != unset.index()));
    }

    #[test]
    fn role_types_share_columns() {
        assert_eq!(Column::for_type(ValueType::Point3f), Some(Column::Float3));
        assert_eq!(Column::for_type(ValueType::Color3f), Some(Column::Float3));
        assert_eq!(Column::for_type(ValueType::Matrix4d), None);
    }

    #[test]
    fn tick_counts_and_clears() {
        let h = AttrHandle { index: 0, column: Column::Double, writer: 7 };
        let mut t = Tick::default();
        t.set_f64(h, 1.0);
        t.set_f64(h, 2.0);
        assert_eq!(t.len(), 2);
        t.set_i32(h, 3); // wrong column: recorded, not pushed
        assert_eq!(t.len(), 2);
        assert_eq!(t.mismatches.len(), 1);
        t.clear();
        assert!(t.is_empty());
    }
}
