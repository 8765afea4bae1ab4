//! The dynamic value carried in WAMP options, details and payloads.
//!
//! One type for all three serializers so that a JSON publisher can reach a
//! MessagePack subscriber: each codec maps its own data model onto `Value`.
//! `Value` implements `serde::Serialize` / `Deserialize` (in [`crate::codec`]), so it can
//! also be used with serde formats directly (binary becomes `"\0"+base64` in human-readable ones).

use std::collections::BTreeMap;

/// A WAMP dictionary (`Options|dict`, `Details|dict`, `ArgumentsKw|dict`).
/// `BTreeMap` keeps encoding deterministic, which tests and caches rely on.
pub type Dict = BTreeMap<String, Value>;

/// A WAMP list (`Arguments|list`).
pub type List = Vec<Value>;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// Every integer that fits `i64`; WAMP ids (< 2^53) always do.
    Int(i64),
    /// Only integers above `i64::MAX` (MessagePack and CBOR can carry them).
    UInt(u64),
    Float(f64),
    String(String),
    /// Binary. In JSON it travels as a string `"\0" + base64` (WAMP spec, "Binary conversion of JSON Strings").
    Bytes(Vec<u8>),
    List(List),
    Dict(Dict),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integer (ids, timeouts), whatever width it was sent in.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) if *i >= 0 => Some(*i as u64),
            Value::UInt(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_dict_mut(&mut self) -> Option<&mut Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_list_mut(&mut self) -> Option<&mut List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Any integer that fits `i64` (negative ones included).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A number as `f64` (integers converted, possibly rounding above 2^53).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `self[key]` when `self` is a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?.get(key)
    }

    pub fn into_dict(self) -> Option<Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn into_list(self) -> Option<List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn into_string(self) -> Option<String> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Binary value (there is no `From<Vec<u8>>`, to keep it distinct from a list).
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Value::Bytes(b.into())
    }

    /// A dict value from `(key, value)` pairs: `Value::dict([("a", 1.into())])`.
    pub fn dict<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Dict(dict(pairs))
    }

    /// Short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

/// A [`Dict`] from `(key, value)` pairs: `dict([("acknowledge", true)])`.
pub fn dict<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Dict {
    pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        if u <= i64::MAX as u64 { Value::Int(u as i64) } else { Value::UInt(u) }
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<List> for Value {
    fn from(l: List) -> Self {
        Value::List(l)
    }
}
impl From<Dict> for Value {
    fn from(d: Dict) -> Self {
        Value::Dict(d)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i.into())
    }
}
impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::Int(u.into())
    }
}
impl From<usize> for Value {
    fn from(u: usize) -> Self {
        Value::from(u as u64)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}
