//! Structured file edits (`edit PATH format: ...`): pure transformations of a file's text,
//! done on the controller; the runtime reads the file, applies one of these, and writes
//! the result back like `copy` (temp file, sha256, rename) only when it changed.
//!
//! - `env`: `KEY=VALUE` lines (sysconfig files, etcd's `ETCD_*` environment files,
//!   `export KEY=VALUE` too). Comments, blank lines, order and unrelated lines are kept
//!   byte for byte; `set` replaces every assignment of a key (keeping its `export` and its
//!   quoting) or appends one; `delete` removes every assignment of a key.
//! - `yaml`, `json`: a document edited by path. A path is dotted keys with list
//!   selectors: `spec.containers[0].env[name=ETCD_INITIAL_CLUSTER_STATE].value`;
//!   `[N]` is the N-th item (0-based), `[field=value]` the first map item whose `field`
//!   is `value` (`set` appends `{field: value}` when there is none), `[^PREFIX]` the first
//!   string item that starts with PREFIX (a manifest's `command` flag:
//!   `command[^--advertise-address=]`; `set` replaces it, or appends the value when there
//!   is none, and the value must start with PREFIX so that a second run finds it again;
//!   `delete` removes every such item); a key with dots or
//!   brackets is written in quotes: `metadata.annotations["kops.k8s.io/x"]`. `set` makes
//!   missing maps on the way; `delete` of something absent does nothing. The file is
//!   re-serialised from its parsed value (YAML comments are not kept), so it is rewritten
//!   only when the value changes.

use serde_json::Value as J;

/// Bound on a path's segments and on a document's nesting (no stack overflow on input).
const MAX_SEGMENTS: usize = 64;
const MAX_FILE: usize = 8 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Env,
    Yaml,
    Json,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["env", "yaml", "json"];

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "env" => Some(Format::Env),
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One `set` (a value) or `delete` (`None`).
pub type Change = (String, Option<J>);

/// The edited text of `text` (`None`: the file does not exist yet).
pub fn apply(format: Format, text: Option<&str>, changes: &[Change]) -> Result<String, String> {
    if text.is_some_and(|t| t.len() > MAX_FILE) {
        return Err(format!("the file is larger than {} MiB", MAX_FILE >> 20));
    }
    match format {
        Format::Env => {
            for (k, v) in changes {
                if !valid_env_key(k) {
                    return Err(format!(
                        "`{k}` is not a variable name (letters, digits, `_`)"
                    ));
                }
                if v.as_ref()
                    .is_some_and(|v| text_of(v).contains(['\n', '\r', '\0']))
                {
                    return Err(format!("the value of `{k}` holds a line break or NUL"));
                }
            }
            Ok(env(text.unwrap_or(""), changes))
        }
        Format::Yaml | Format::Json => {
            let mut doc = match text.map(str::trim) {
                None | Some("") => J::Object(serde_json::Map::new()),
                Some(t) if format == Format::Json => {
                    serde_json::from_str(t).map_err(|e| format!("not JSON: {e}"))?
                }
                Some(t) => yaml_doc(t)?,
            };
            for (path, v) in changes {
                let segs = parse_path(path)?;
                match v {
                    Some(v) => {
                        set(&mut doc, &segs, v.clone()).map_err(|e| format!("set `{path}`: {e}"))?
                    }
                    None => delete(&mut doc, &segs).map_err(|e| format!("delete `{path}`: {e}"))?,
                }
            }
            Ok(if format == Format::Json {
                serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n"
            } else {
                serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?
            })
        }
    }
}

/// Whether the edit leaves the file's meaning as it is (the file is then not rewritten,
/// and for YAML its comments and layout stay).
pub fn same(format: Format, before: Option<&str>, after: &str) -> bool {
    let Some(before) = before else {
        return false;
    };
    match format {
        Format::Env => before == after,
        Format::Json => {
            serde_json::from_str::<J>(before).ok() == serde_json::from_str::<J>(after).ok()
        }
        Format::Yaml => yaml_doc(before)
            .ok()
            .is_some_and(|b| yaml_doc(after).ok() == Some(b)),
    }
}

fn yaml_doc(t: &str) -> Result<J, String> {
    use serde::Deserialize;
    let mut docs = serde_yaml_ng::Deserializer::from_str(t);
    let first = docs.next().ok_or("empty YAML")?;
    let v = J::deserialize(first).map_err(|e| format!("not YAML: {e}"))?;
    if docs.next().is_some() {
        return Err("the file has several YAML documents; edit one per file".into());
    }
    Ok(v)
}

// ------------------------------------------------------------------------------- env

/// The key a line assigns, with where its value starts (after `KEY=`).
fn env_key(line: &str) -> Option<(&str, usize)> {
    let body = line.trim_start();
    let lead = line.len() - body.len();
    let (body, lead) = match body.strip_prefix("export ") {
        Some(b) => (b.trim_start(), line.len() - b.trim_start().len()),
        None => (body, lead),
    };
    let eq = body.find('=')?;
    let key = &body[..eq];
    valid_env_key(key).then_some((key, lead + eq + 1))
}

fn valid_env_key(key: &str) -> bool {
    !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit())
}

/// A value as the shell reads it back: bare when it is plain, else double-quoted.
fn env_value(v: &str, quoted_before: Option<char>) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:,=@%+-".contains(c));
    match quoted_before {
        Some('\'') if !v.contains('\'') => format!("'{v}'"),
        None if plain => v.to_string(),
        _ => {
            let mut s = String::from("\"");
            for c in v.chars() {
                if matches!(c, '"' | '\\' | '$' | '`') {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
            s
        }
    }
}

fn text_of(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn env(text: &str, changes: &[Change]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (key, v) in changes {
        let mut found = false;
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            match env_key(&line) {
                Some((k, at)) if k == key => {
                    found = true;
                    if let Some(v) = v {
                        let quote = line[at..]
                            .chars()
                            .next()
                            .filter(|c| *c == '"' || *c == '\'');
                        out.push(format!("{}{}", &line[..at], env_value(&text_of(v), quote)));
                    }
                }
                _ => out.push(line),
            }
        }
        if !found {
            if let Some(v) = v {
                out.push(format!("{key}={}", env_value(&text_of(v), None)));
            }
        }
        lines = out;
    }
    let mut s = lines.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

// ------------------------------------------------------------------------- yaml/json

#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
    Match(String, String),
    /// The first string item that starts with this.
    Prefix(String),
}

/// `a.b[0].c[name=X]["k.with.dots"]`.
pub fn parse_path(p: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = p.chars().collect();
    let mut i = 0;
    let bad = |why: &str| format!("path `{p}`: {why}");
    while i < b.len() {
        if out.len() >= MAX_SEGMENTS {
            return Err(bad("too many segments"));
        }
        match b[i] {
            '.' if i > 0 && i + 1 < b.len() && b[i + 1] != '.' && b[i + 1] != '[' => i += 1,
            '.' => return Err(bad("an empty key")),
            '[' => {
                let end = b[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|e| i + e)
                    .ok_or_else(|| bad("`[` without `]`"))?;
                let inner: String = b[i + 1..end].iter().collect();
                let inner = inner.trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    out.push(Seg::Key(q.to_string()));
                } else if let Some(pre) = inner.strip_prefix('^') {
                    if pre.is_empty() {
                        return Err(bad("`[^...]` needs the prefix an item starts with"));
                    }
                    out.push(Seg::Prefix(pre.to_string()));
                } else if let Some((f, v)) = inner.split_once('=') {
                    if f.trim().is_empty() {
                        return Err(bad("`[=...]` needs a field name"));
                    }
                    out.push(Seg::Match(f.trim().to_string(), v.trim().to_string()));
                } else {
                    let n = inner.parse().map_err(|_| {
                        bad("`[...]` holds an index, `field=value`, `^prefix` or a quoted key")
                    })?;
                    out.push(Seg::Index(n));
                }
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != '.' && b[i] != '[' {
                    i += 1;
                }
                out.push(Seg::Key(b[start..i].iter().collect()));
            }
        }
    }
    if out.is_empty() {
        return Err(bad("empty"));
    }
    Ok(out)
}

fn starts(item: &J, pre: &str) -> bool {
    item.as_str().is_some_and(|t| t.starts_with(pre))
}

fn matches(item: &J, field: &str, want: &str) -> bool {
    item.get(field).is_some_and(|v| text_of(v) == want)
}

fn set(doc: &mut J, segs: &[Seg], v: J) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        *doc = v;
        return Ok(());
    };
    let child: &mut J = match first {
        Seg::Key(k) => {
            if doc.is_null() {
                *doc = J::Object(serde_json::Map::new());
            }
            let J::Object(m) = doc else {
                return Err(format!("`{k}`: the parent is not a map"));
            };
            m.entry(k.clone()).or_insert(J::Null)
        }
        Seg::Index(n) => {
            let J::Array(a) = doc else {
                return Err(format!("`[{n}]`: not a list"));
            };
            let len = a.len();
            a.get_mut(*n)
                .ok_or_else(|| format!("`[{n}]`: the list has {len} items"))?
        }
        Seg::Match(f, want) => {
            if doc.is_null() {
                *doc = J::Array(Vec::new());
            }
            let J::Array(a) = doc else {
                return Err(format!("`[{f}={want}]`: not a list"));
            };
            let at = match a.iter().position(|x| matches(x, f, want)) {
                Some(at) => at,
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert(f.clone(), J::String(want.clone()));
                    a.push(J::Object(m));
                    a.len() - 1
                }
            };
            &mut a[at]
        }
        Seg::Prefix(pre) => {
            if !rest.is_empty() {
                return Err(format!(
                    "`[^{pre}]`: selects a string, nothing can follow it"
                ));
            }
            if !v.as_str().is_some_and(|t| t.starts_with(pre.as_str())) {
                return Err(format!(
                    "`[^{pre}]`: the new value must start with `{pre}` (a second run must find it again)"
                ));
            }
            if doc.is_null() {
                *doc = J::Array(Vec::new());
            }
            let J::Array(a) = doc else {
                return Err(format!("`[^{pre}]`: not a list"));
            };
            match a.iter().position(|x| starts(x, pre)) {
                Some(at) => a[at] = v,
                None => a.push(v),
            }
            return Ok(());
        }
    };
    set(child, rest, v)
}

fn delete(doc: &mut J, segs: &[Seg]) -> Result<(), String> {
    let Some((last, parents)) = segs.split_last() else {
        return Ok(());
    };
    let mut cur = doc;
    for s in parents {
        let next = match (s, cur) {
            (Seg::Key(k), J::Object(m)) => m.get_mut(k),
            (Seg::Index(n), J::Array(a)) => a.get_mut(*n),
            (Seg::Match(f, w), J::Array(a)) => a.iter_mut().find(|x| matches(x, f, w)),
            (Seg::Prefix(_), _) => None,
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return Ok(()),
        }
    }
    match (last, cur) {
        (Seg::Key(k), J::Object(m)) => {
            m.shift_remove(k);
        }
        (Seg::Index(n), J::Array(a)) if *n < a.len() => {
            a.remove(*n);
        }
        (Seg::Match(f, w), J::Array(a)) => a.retain(|x| !matches(x, f, w)),
        (Seg::Prefix(pre), J::Array(a)) => a.retain(|x| !starts(x, pre)),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
