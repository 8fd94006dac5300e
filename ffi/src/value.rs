//! Typed USD values and value types as plain Rust data, and their conversion to and from the bridge form.

use crate::bridge::ffi::FfiValue;
use crate::error::UsdError;

/// The Sdf value types a plant needs (the name after each variant is its `.usda` spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Bool,
    Int,
    Int64,
    Float,
    Double,
    String,
    Token,
    Asset,
    Float2,
    Float3,
    Double3,
    Color3f,
    Point3f,
    Vector3f,
    Quatf,
    Quatd,
    Matrix4d,
    IntArray,
    FloatArray,
    DoubleArray,
    Float3Array,
    Point3fArray,
    Normal3fArray,
    Vector3fArray,
    Color3fArray,
    TexCoord2fArray,
    TokenArray,
    StringArray,
}

impl ValueType {
    /// Every type, for tests and tables.
    pub const ALL: [ValueType; 28] = [
        ValueType::Bool,
        ValueType::Int,
        ValueType::Int64,
        ValueType::Float,
        ValueType::Double,
        ValueType::String,
        ValueType::Token,
        ValueType::Asset,
        ValueType::Float2,
        ValueType::Float3,
        ValueType::Double3,
        ValueType::Color3f,
        ValueType::Point3f,
        ValueType::Vector3f,
        ValueType::Quatf,
        ValueType::Quatd,
        ValueType::Matrix4d,
        ValueType::IntArray,
        ValueType::FloatArray,
        ValueType::DoubleArray,
        ValueType::Float3Array,
        ValueType::Point3fArray,
        ValueType::Normal3fArray,
        ValueType::Vector3fArray,
        ValueType::Color3fArray,
        ValueType::TexCoord2fArray,
        ValueType::TokenArray,
        ValueType::StringArray,
    ];

    /// The Sdf value type name, as written in `.usda`.
    pub fn sdf_name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::Int => "int",
            ValueType::Int64 => "int64",
            ValueType::Float => "float",
            ValueType::Double => "double",
            ValueType::String => "string",
            ValueType::Token => "token",
            ValueType::Asset => "asset",
            ValueType::Float2 => "float2",
            ValueType::Float3 => "float3",
            ValueType::Double3 => "double3",
            ValueType::Color3f => "color3f",
            ValueType::Point3f => "point3f",
            ValueType::Vector3f => "vector3f",
            ValueType::Quatf => "quatf",
            ValueType::Quatd => "quatd",
            ValueType::Matrix4d => "matrix4d",
            ValueType::IntArray => "int[]",
            ValueType::FloatArray => "float[]",
            ValueType::DoubleArray => "double[]",
            ValueType::Float3Array => "float3[]",
            ValueType::Point3fArray => "point3f[]",
            ValueType::Normal3fArray => "normal3f[]",
            ValueType::Vector3fArray => "vector3f[]",
            ValueType::Color3fArray => "color3f[]",
            ValueType::TexCoord2fArray => "texCoord2f[]",
            ValueType::TokenArray => "token[]",
            ValueType::StringArray => "string[]",
        }
    }

    /// The type for an Sdf value type name (`None` for names this crate does not model).
    pub fn from_sdf_name(name: &str) -> Option<ValueType> {
        ValueType::ALL.iter().copied().find(|t| t.sdf_name() == name)
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sdf_name())
    }
}

/// A USD value. Quaternions are `[w, x, y, z]`; matrices are row-major as in OpenUSD's GfMatrix4d.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i32),
    Int64(i64),
    Float(f32),
    Double(f64),
    String(String),
    Token(String),
    Asset(String),
    Float2([f32; 2]),
    Float3([f32; 3]),
    Double3([f64; 3]),
    Color3f([f32; 3]),
    Point3f([f32; 3]),
    Vector3f([f32; 3]),
    Quatf([f32; 4]),
    Quatd([f64; 4]),
    Matrix4d([f64; 16]),
    IntArray(Vec<i32>),
    FloatArray(Vec<f32>),
    DoubleArray(Vec<f64>),
    Float3Array(Vec<[f32; 3]>),
    Point3fArray(Vec<[f32; 3]>),
    Normal3fArray(Vec<[f32; 3]>),
    Vector3fArray(Vec<[f32; 3]>),
    Color3fArray(Vec<[f32; 3]>),
    TexCoord2fArray(Vec<[f32; 2]>),
    TokenArray(Vec<String>),
    StringArray(Vec<String>),
}

fn reals<const N: usize>(v: &[[f32; N]]) -> Vec<f64> {
    v.iter().flat_map(|x| x.iter().map(|&c| c as f64)).collect()
}

fn chunks<const N: usize>(r: &[f64]) -> Vec<[f32; N]> {
    r.chunks_exact(N).map(|c| std::array::from_fn(|i| c[i] as f32)).collect()
}

fn fixed<const N: usize>(r: &[f64]) -> Option<[f64; N]> {
    (r.len() == N).then(|| std::array::from_fn(|i| r[i]))
}

impl Value {
    /// This value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Bool(_) => ValueType::Bool,
            Value::Int(_) => ValueType::Int,
            Value::Int64(_) => ValueType::Int64,
            Value::Float(_) => ValueType::Float,
            Value::Double(_) => ValueType::Double,
            Value::String(_) => ValueType::String,
            Value::Token(_) => ValueType::Token,
            Value::Asset(_) => ValueType::Asset,
            Value::Float2(_) => ValueType::Float2,
            Value::Float3(_) => ValueType::Float3,
            Value::Double3(_) => ValueType::Double3,
            Value::Color3f(_) => ValueType::Color3f,
            Value::Point3f(_) => ValueType::Point3f,
            Value::Vector3f(_) => ValueType::Vector3f,
            Value::Quatf(_) => ValueType::Quatf,
            Value::Quatd(_) => ValueType::Quatd,
            Value::Matrix4d(_) => ValueType::Matrix4d,
            Value::IntArray(_) => ValueType::IntArray,
            Value::FloatArray(_) => ValueType::FloatArray,
            Value::DoubleArray(_) => ValueType::DoubleArray,
            Value::Float3Array(_) => ValueType::Float3Array,
            Value::Point3fArray(_) => ValueType::Point3fArray,
            Value::Normal3fArray(_) => ValueType::Normal3fArray,
            Value::Vector3fArray(_) => ValueType::Vector3fArray,
            Value::Color3fArray(_) => ValueType::Color3fArray,
            Value::TexCoord2fArray(_) => ValueType::TexCoord2fArray,
            Value::TokenArray(_) => ValueType::TokenArray,
            Value::StringArray(_) => ValueType::StringArray,
        }
    }

    pub(crate) fn to_ffi(&self) -> FfiValue {
        let mut f = FfiValue { type_name: self.value_type().sdf_name().to_string(), ..Default::default() };
        match self {
            Value::Bool(b) => f.ints.push(*b as i64),
            Value::Int(i) => f.ints.push(*i as i64),
            Value::Int64(i) => f.ints.push(*i),
            Value::Float(x) => f.reals.push(*x as f64),
            Value::Double(x) => f.reals.push(*x),
            Value::String(s) | Value::Token(s) | Value::Asset(s) => f.strings.push(s.clone()),
            Value::Float2(v) => f.reals.extend(v.iter().map(|&c| c as f64)),
            Value::Float3(v) | Value::Color3f(v) | Value::Point3f(v) | Value::Vector3f(v) => {
                f.reals.extend(v.iter().map(|&c| c as f64))
            }
            Value::Double3(v) => f.reals.extend_from_slice(v),
            Value::Quatf(v) => f.reals.extend(v.iter().map(|&c| c as f64)),
            Value::Quatd(v) => f.reals.extend_from_slice(v),
            Value::Matrix4d(m) => f.reals.extend_from_slice(m),
            Value::IntArray(a) => f.ints.extend(a.iter().map(|&i| i as i64)),
            Value::FloatArray(a) => f.reals.extend(a.iter().map(|&x| x as f64)),
            Value::DoubleArray(a) => f.reals.extend_from_slice(a),
            Value::Float3Array(a)
            | Value::Point3fArray(a)
            | Value::Normal3fArray(a)
            | Value::Vector3fArray(a)
            | Value::Color3fArray(a) => f.reals = reals(a),
            Value::TexCoord2fArray(a) => f.reals = reals(a),
            Value::TokenArray(a) | Value::StringArray(a) => f.strings.extend(a.iter().cloned()),
        }
        f
    }

    /// Converts a value read from OpenUSD; `Ok(None)` when nothing is authored.
    pub(crate) fn from_ffi(f: FfiValue, context: &str) -> Result<Option<Value>, UsdError> {
        if f.type_name.is_empty() {
            return Ok(None);
        }
        let bad = || UsdError::Unsupported(format!("{context}: cannot read a value of type {}", f.type_name));
        let ty = ValueType::from_sdf_name(&f.type_name).ok_or_else(bad)?;
        let one_int = || f.ints.first().copied().ok_or_else(bad);
        let one_real = || f.reals.first().copied().ok_or_else(bad);
        let one_str = || f.strings.first().cloned().ok_or_else(bad);
        let v3 = || fixed::<3>(&f.reals).map(|a| a.map(|c| c as f32)).ok_or_else(bad);
        Ok(Some(match ty {
            ValueType::Bool => Value::Bool(one_int()? != 0),
            ValueType::Int => Value::Int(one_int()? as i32),
            ValueType::Int64 => Value::Int64(one_int()?),
            ValueType::Float => Value::Float(one_real()? as f32),
            ValueType::Double => Value::Double(one_real()?),
            ValueType::String => Value::String(one_str()?),
            ValueType::Token => Value::Token(one_str()?),
            ValueType::Asset => Value::Asset(one_str()?),
            ValueType::Float2 => Value::Float2(fixed::<2>(&f.reals).map(|a| a.map(|c| c as f32)).ok_or_else(bad)?),
            ValueType::Float3 => Value::Float3(v3()?),
            ValueType::Color3f => Value::Color3f(v3()?),
            ValueType::Point3f => Value::Point3f(v3()?),
            ValueType::Vector3f => Value::Vector3f(v3()?),
            ValueType::Double3 => Value::Double3(fixed::<3>(&f.reals).ok_or_else(bad)?),
            ValueType::Quatf => Value::Quatf(fixed::<4>(&f.reals).map(|a| a.map(|c| c as f32)).ok_or_else(bad)?),
            ValueType::Quatd => Value::Quatd(fixed::<4>(&f.reals).ok_or_else(bad)?),
            ValueType::Matrix4d => Value::Matrix4d(fixed::<16>(&f.reals).ok_or_else(bad)?),
            ValueType::IntArray => Value::IntArray(f.ints.iter().map(|&i| i as i32).collect()),
            ValueType::FloatArray => Value::FloatArray(f.reals.iter().map(|&x| x as f32).collect()),
            ValueType::DoubleArray => Value::DoubleArray(f.reals),
            ValueType::Float3Array => Value::Float3Array(chunks::<3>(&f.reals)),
            ValueType::Point3fArray => Value::Point3fArray(chunks::<3>(&f.reals)),
            ValueType::Normal3fArray => Value::Normal3fArray(chunks::<3>(&f.reals)),
            ValueType::Vector3fArray => Value::Vector3fArray(chunks::<3>(&f.reals)),
            ValueType::Color3fArray => Value::Color3fArray(chunks::<3>(&f.reals)),
            ValueType::TexCoord2fArray => Value::TexCoord2fArray(chunks::<2>(&f.reals)),
            ValueType::TokenArray => Value::TokenArray(f.strings),
            ValueType::StringArray => Value::StringArray(f.strings),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdf_names_round_trip() {
        for t in ValueType::ALL {
            assert_eq!(ValueType::from_sdf_name(t.sdf_name()), Some(t));
        }
        assert_eq!(ValueType::from_sdf_name("half"), None);
    }

    #[test]
    fn ffi_round_trip_keeps_values() {
        let values = [
            Value::Bool(true),
            Value::Int(-7),
            Value::Int64(1 << 40),
            Value::Float(1.5),
            Value::Double(-2.25),
            Value::Token("running".into()),
            Value::Float3([1.0, 2.0, 3.0]),
            Value::Quatd([1.0, 0.0, 0.0, 0.0]),
            Value::Point3fArray(vec![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]),
            Value::TexCoord2fArray(vec![[0.5, 0.25]]),
            Value::StringArray(vec!["a".into(), "b".into()]),
        ];
        for v in values {
            assert_eq!(Value::from_ffi(v.to_ffi(), "test").unwrap(), Some(v.clone()));
        }
    }
}
