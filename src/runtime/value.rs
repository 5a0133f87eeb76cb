//! Run-time values.

use indexmap::IndexMap;
use std::fmt;

/// A secret: its `Debug` and `Display` never show the text (SAFETY.md inv. 24).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The text, for the few places that may see it (stdin, file content, etcd auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Str(String),
    Int(i64),
    Bool(bool),
    /// Milliseconds.
    Duration(u64),
    /// Bytes.
    Size(u64),
    Secret(Secret),
    List(Vec<Value>),
    Map(IndexMap<String, Value>),
    Json(serde_json::Value),
    /// One inventory host, by name.
    Host(String),
    /// Inventory hosts, in order, without duplicates.
    Hosts(Vec<String>),
    Record(IndexMap<&'static str, Value>),
    Ordering(Order),
    Cluster(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    LeaderLast(usize),
    LeaderFirst(usize),
}

impl Value {
    /// Text for interpolation and messages. Secrets never render.
    pub fn to_text(&self) -> String {
        match self {
            Value::None => String::new(),
            Value::Str(s) | Value::Host(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Duration(ms) => fmt_duration(*ms),
            Value::Size(b) => b.to_string(),
            Value::Secret(s) => s.to_string(),
            Value::Json(serde_json::Value::String(s)) => s.clone(),
            Value::Json(j) => j.to_string(),
            Value::List(xs) => xs.iter().map(Value::to_text).collect::<Vec<_>>().join(" "),
            Value::Hosts(hs) => hs.join(","),
            Value::Map(_) | Value::Record(_) => {
                serde_json::to_string(&self.to_json()).unwrap_or_default()
            }
            Value::Ordering(_) => "<ordering>".into(),
            Value::Cluster(_) => "<cluster>".into(),
        }
    }

    /// JSON form (template contexts, journals). Secrets are redacted.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::None => J::Null,
            Value::Str(s) | Value::Host(s) => J::String(s.clone()),
            Value::Int(n) => J::from(*n),
            Value::Bool(b) => J::Bool(*b),
            Value::Duration(ms) => J::String(fmt_duration(*ms)),
            Value::Size(b) => J::from(*b),
            Value::Secret(_) => J::String("<secret>".into()),
            Value::List(xs) => J::Array(xs.iter().map(Value::to_json).collect()),
            Value::Hosts(hs) => J::Array(hs.iter().map(|h| J::String(h.clone())).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Record(m) => J::Object(
                m.iter()
                    .map(|(k, v)| ((*k).to_string(), v.to_json()))
                    .collect(),
            ),
            Value::Json(j) => j.clone(),
            Value::Ordering(_) | Value::Cluster(_) => J::Null,
        }
    }

    /// The value as a `-e NAME=VALUE` text that parses back to this value for the
    /// param's type (what the journal keeps and `resume` gives back): lists as JSON
    /// arrays (items may hold commas), sizes in bytes, maps and json as JSON.
    pub fn to_arg(&self) -> String {
        match self {
            Value::List(xs) => serde_json::Value::Array(
                xs.iter()
                    .map(|x| serde_json::Value::String(x.to_arg()))
                    .collect(),
            )
            .to_string(),
            Value::Hosts(hs) => serde_json::to_string(hs).unwrap_or_default(),
            Value::Map(_) | Value::Record(_) => self.to_json().to_string(),
            Value::Json(j) => j.to_string(),
            other => other.to_text(),
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::None => false,
            Value::Json(j) => !(j.is_null() || j == &serde_json::Value::Bool(false)),
            _ => true,
        }
    }
}

pub fn fmt_duration(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
