//! The YAML inventory format (`all: {hosts, children, vars}`, recursively).

use super::{expand_range, Group, Host, Inventory};
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};
use serde_yaml_ng::Value;

pub(super) fn parse(file: FileId, text: &str) -> (Inventory, Vec<Diagnostic>) {
    let mut inv = Inventory::default();
    let mut diags = Vec::new();
    let doc: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = e.location().map_or(0, |l| l.index());
            diags.push(
                Diagnostic::error(
                    "inventory-syntax",
                    format!("the YAML inventory cannot be read: {e}"),
                )
                .at(Span::new(file, at, (at + 1).min(text.len())), "here")
                .help("a YAML inventory is `all:` with `hosts:`, `children:` and `vars:`"),
            );
            return (inv, diags);
        }
    };
    let Value::Mapping(top) = doc else {
        if !matches!(doc, Value::Null) {
            diags.push(
                Diagnostic::error(
                    "inventory-syntax",
                    "the YAML inventory is not a mapping of groups",
                )
                .at(Span::new(file, 0, text.len().min(1)), "expected `all:`")
                .help("start with `all:`"),
            );
        }
        return (inv, diags);
    };
    let mut p = Parser {
        file,
        text,
        inv: &mut inv,
        diags: &mut diags,
    };
    for (k, v) in &top {
        if let Some(name) = k.as_str() {
            p.group(name, v);
        }
    }
    (inv, diags)
}

struct Parser<'a> {
    file: FileId,
    text: &'a str,
    inv: &'a mut Inventory,
    diags: &'a mut Vec<Diagnostic>,
}

impl Parser<'_> {
    /// A best-effort location: the first line that mentions `key:`.
    fn locate(&self, key: &str) -> Span {
        let mut off = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim_start();
            if t.starts_with(&format!("{key}:"))
                || t.starts_with(&format!("\"{key}\":"))
                || t.starts_with(&format!("'{key}':"))
                || t.trim_end() == format!("- {key}")
            {
                let lead = line.len() - t.len();
                return Span::new(self.file, off + lead, off + lead + key.len());
            }
            off += line.len();
        }
        Span::new(self.file, 0, 0)
    }

    fn group(&mut self, name: &str, v: &Value) {
        let span = self.locate(name);
        self.inv
            .groups
            .entry(name.to_string())
            .or_insert_with(|| Group {
                span: Some(span),
                ..Group::default()
            });
        let Value::Mapping(m) = v else {
            if !matches!(v, Value::Null) {
                self.diags.push(
                    Diagnostic::error(
                        "inventory-syntax",
                        format!("group `{name}` must be a mapping"),
                    )
                    .at(span, "expected `hosts:`, `children:` or `vars:`")
                    .help("write `name:` then indented `hosts:`"),
                );
            }
            return;
        };
        for (k, val) in m {
            match k.as_str() {
                Some("hosts") => {
                    if let Value::Mapping(hosts) = val {
                        for (hk, hv) in hosts {
                            let Some(pattern) = key_str(hk) else { continue };
                            let hspan = self.locate(&pattern);
                            let names = match expand_range(&pattern) {
                                Ok(n) => n,
                                Err(why) => {
                                    self.diags.push(
                                        Diagnostic::error("inventory-syntax", why)
                                            .at(hspan, "bad host range")
                                            .help("write ranges as `node[01:10]`"),
                                    );
                                    continue;
                                }
                            };
                            let vars = scalar_map(hv);
                            for n in names {
                                let h = self.inv.hosts.entry(n.clone()).or_insert_with(|| Host {
                                    name: n.clone(),
                                    span: Some(hspan),
                                    ..Host::default()
                                });
                                h.vars.extend(vars.clone());
                                let g = self.inv.groups.entry(name.to_string()).or_default();
                                if !g.hosts.contains(&n) {
                                    g.hosts.push(n);
                                }
                            }
                        }
                    } else if !matches!(val, Value::Null) {
                        self.diags.push(
                            Diagnostic::error(
                                "inventory-syntax",
                                format!("`hosts` of group `{name}` must be a mapping"),
                            )
                            .at(span, "here")
                            .help("write each host as `name:` under `hosts:`"),
                        );
                    }
                }
                Some("children") => {
                    if let Value::Mapping(children) = val {
                        for (ck, cv) in children {
                            let Some(child) = key_str(ck) else { continue };
                            let g = self.inv.groups.entry(name.to_string()).or_default();
                            if !g.children.contains(&child) {
                                g.children.push(child.clone());
                            }
                            self.group(&child, cv);
                        }
                    }
                }
                Some("vars") => {
                    let vars = scalar_map(val);
                    self.inv
                        .groups
                        .entry(name.to_string())
                        .or_default()
                        .vars
                        .extend(vars);
                }
                Some(other) => {
                    let s = self.locate(other);
                    self.diags.push(
                        Diagnostic::error(
                            "inventory-syntax",
                            format!("group `{name}` has an unknown key `{other}`"),
                        )
                        .at(s, "unknown key")
                        .help("groups have `hosts:`, `children:` and `vars:`"),
                    );
                }
                None => {}
            }
        }
    }
}

fn key_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn scalar_map(v: &Value) -> Vec<(String, String)> {
    let Value::Mapping(m) = v else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let k = key_str(k)?;
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                other => serde_json::to_string(other).ok()?,
            };
            Some((k, v))
        })
        .collect()
}
