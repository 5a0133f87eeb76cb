//! The INI inventory format.

use super::{expand_range, Group, Host, Inventory};
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};

enum Section {
    Hosts(String),
    Children(String),
    Vars(String),
}

pub(super) fn parse(file: FileId, text: &str) -> (Inventory, Vec<Diagnostic>) {
    let mut inv = Inventory::default();
    let mut diags = Vec::new();
    let mut section = Section::Hosts("ungrouped".into());
    let mut offset = 0usize;
    for raw_line in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim();
        let lead = line.len() - line.trim_start().len();
        let span = Span::new(file, line_start + lead, line_start + lead + trimmed.len());
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        // `[fd00::5]:2201` is a host, as in Ansible: a header ends with `]`.
        let header = trimmed.starts_with('[') && (trimmed.ends_with(']') || !trimmed.contains(']'));
        if let Some(head) = trimmed.strip_prefix('[').filter(|_| header) {
            let Some(head) = head.strip_suffix(']') else {
                diags.push(
                    Diagnostic::error("inventory-syntax", "a section header is not closed")
                        .at(span, "missing `]`")
                        .help("write `[group]`, `[group:children]` or `[group:vars]`"),
                );
                continue;
            };
            let (name, kind) = match head.split_once(':') {
                Some((n, k)) => (n.trim().to_string(), Some(k.trim())),
                None => (head.trim().to_string(), None),
            };
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            {
                diags.push(
                    Diagnostic::error(
                        "inventory-syntax",
                        format!("`{name}` is not a valid group name"),
                    )
                    .at(span, "bad group name")
                    .help("group names use letters, digits, `_` and `-`"),
                );
                continue;
            }
            let g = inv.groups.entry(name.clone()).or_insert_with(|| Group {
                span: Some(span),
                ..Group::default()
            });
            if g.span.is_none() {
                g.span = Some(span);
            }
            section = match kind {
                None => Section::Hosts(name),
                Some("children") => Section::Children(name),
                Some("vars") => Section::Vars(name),
                Some(other) => {
                    diags.push(
                        Diagnostic::error(
                            "inventory-syntax",
                            format!("unknown section kind `:{other}`"),
                        )
                        .at(span, "expected `:children` or `:vars`")
                        .help("write `[group:children]` or `[group:vars]`"),
                    );
                    Section::Hosts(name)
                }
            };
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let words = match split_words(trimmed) {
                    Ok(w) => w,
                    Err(why) => {
                        diags.push(
                            Diagnostic::error("inventory-syntax", why)
                                .at(span, "cannot split this line")
                                .help("quote values with spaces: key=\"a b\""),
                        );
                        continue;
                    }
                };
                let Some((pattern, vars)) = words.split_first() else {
                    continue;
                };
                // `host:2222` and `[fd00::1]:2222` carry the port, as in Ansible.
                let (pattern, port) = split_port(pattern);
                let names = match expand_range(&pattern) {
                    Ok(n) => n,
                    Err(why) => {
                        diags.push(
                            Diagnostic::error("inventory-syntax", why)
                                .at(span, "bad host range")
                                .help("write ranges as `node[01:10]` or `db-[a:c]`"),
                        );
                        continue;
                    }
                };
                let mut host_vars = Vec::new();
                if let Some(p) = port {
                    host_vars.push(("ansible_port".to_string(), p));
                }
                for v in vars {
                    match v.split_once('=') {
                        Some((k, val)) => host_vars.push((k.to_string(), val.to_string())),
                        None => diags.push(
                            Diagnostic::error(
                                "inventory-syntax",
                                format!("`{v}` is not `key=value`"),
                            )
                            .at(span, "host variables are `key=value`")
                            .help("write `ansible_host=10.0.0.1`"),
                        ),
                    }
                }
                for n in names {
                    let h = inv.hosts.entry(n.clone()).or_insert_with(|| Host {
                        name: n.clone(),
                        span: Some(span),
                        ..Host::default()
                    });
                    h.vars.extend(host_vars.iter().cloned());
                    let g = inv.groups.entry(group.clone()).or_default();
                    if !g.hosts.contains(&n) {
                        g.hosts.push(n);
                    }
                }
            }
            Section::Children(group) => {
                // As Ansible reads it: one group name, then optionally a `# comment`.
                // `#` starts a comment only after a space (`m#x` is a group name, as in
                // Ansible).
                let (name, rest) = match trimmed.find(char::is_whitespace) {
                    Some(i) => (&trimmed[..i], trimmed[i..].trim_start()),
                    None => (trimmed, ""),
                };
                if !rest.is_empty() && !rest.starts_with('#') {
                    diags.push(
                        Diagnostic::error(
                            "inventory-syntax",
                            format!("`{trimmed}` is not one group name"),
                        )
                        .at(span, "a `:children` line names one group")
                        .help("write one child group per line; a comment starts with `#`"),
                    );
                    continue;
                }
                let child = name.to_string();
                inv.groups.entry(child.clone()).or_default();
                let g = inv.groups.entry(group.clone()).or_default();
                if !g.children.contains(&child) {
                    g.children.push(child);
                }
            }
            Section::Vars(group) => match trimmed.split_once('=') {
                Some((k, v)) => {
                    let v = unquote(v.trim());
                    inv.groups
                        .entry(group.clone())
                        .or_default()
                        .vars
                        .insert(k.trim().to_string(), v);
                }
                None => diags.push(
                    Diagnostic::error(
                        "inventory-syntax",
                        format!("`{trimmed}` is not `key=value`"),
                    )
                    .at(span, "group variables are `key=value`")
                    .help("write `ansible_user=admin`"),
                ),
            },
        }
    }
    (inv, diags)
}

/// A host pattern and the port written after it (`h:22`, `[::1]:22`), if any.
fn split_port(pattern: &str) -> (String, Option<String>) {
    if let Some(inner) = pattern.strip_prefix('[') {
        if let Some((addr, port)) = inner.split_once("]:") {
            if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() {
                return (format!("[{addr}]"), Some(port.to_string()));
            }
        }
        return (pattern.to_string(), None);
    }
    match pattern.rsplit_once(':') {
        Some((host, port))
            if (!host.contains(':') || host.contains('['))
                && !port.contains(']')
                && !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit()) =>
        {
            (host.to_string(), Some(port.to_string()))
        }
        _ => (pattern.to_string(), None),
    }
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2
        && ((b[0] == b'"' && b[b.len() - 1] == b'"') || (b[0] == b'\'' && b[b.len() - 1] == b'\''))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Split a host line into words, honouring quotes in `key="a b"`; ` #` starts a comment.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if cur.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}
