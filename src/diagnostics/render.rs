//! The one renderer: ariadne for people, JSON for machines. Nothing else in etcdflow
//! formats a diagnostic, and nothing else imports ariadne.

use super::{Diagnostic, Severity};
use crate::source::SourceMap;
use ariadne::{CharSet, Color, Config, IndexType, Label, Report, ReportKind};
use serde::Serialize;

/// Human output. `color` is decided by the caller (a TTY check), never here.
pub fn human(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    let mut out = Vec::new();
    for d in diags {
        render_one(d, sources, color, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn render_one(d: &Diagnostic, sources: &SourceMap, color: bool, out: &mut Vec<u8>) {
    let kind = match d.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let Some(primary) = d.primary_span().filter(|s| sources.get(s.file).is_some()) else {
        plain(d, out);
        return;
    };
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte)
        .with_char_set(if color {
            CharSet::Unicode
        } else {
            CharSet::Ascii
        });
    let name = |id| sources.name(id).to_string();
    let clamp = |s: crate::source::Span| {
        let len = sources.text(s.file).len();
        let start = (s.start as usize).min(len);
        let end = (s.end as usize).clamp(start, len);
        start..end
    };
    let mut report = Report::build(kind, (name(primary.file), clamp(primary)))
        .with_config(config)
        .with_code(d.code)
        .with_message(&d.message);
    for (i, l) in d.labels.iter().enumerate() {
        if sources.get(l.span.file).is_none() {
            continue;
        }
        let c = if l.primary { Color::Red } else { Color::Blue };
        report = report.with_label(
            Label::new((name(l.span.file), clamp(l.span)))
                .with_message(&l.message)
                .with_color(c)
                .with_order(i as i32),
        );
    }
    for n in &d.notes {
        report = report.with_note(n);
    }
    if let Some(h) = &d.help {
        report = report.with_help(h);
    }
    let cache = ariadne::sources(
        sources
            .iter()
            .map(|(id, f)| (name(id), f.text.clone()))
            .collect::<Vec<_>>(),
    );
    if report.finish().write(cache, &mut *out).is_err() {
        plain(d, out);
    }
}

/// A diagnostic with no source location (a usage problem, an unreadable file).
fn plain(d: &Diagnostic, out: &mut Vec<u8>) {
    let sev = match d.severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
    };
    let mut s = format!("[{}] {sev}: {}\n", d.code, d.message);
    for n in &d.notes {
        s.push_str(&format!("    Note: {n}\n"));
    }
    if let Some(h) = &d.help {
        s.push_str(&format!("    Help: {h}\n"));
    }
    out.extend_from_slice(s.as_bytes());
}

/// The JSON form of one diagnostic (documented in the README; stable).
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub severity: Severity,
    pub code: &'a str,
    pub message: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub labels: Vec<JsonLabel<'a>>,
    pub notes: &'a [String],
    pub help: Option<&'a str>,
}

#[derive(Serialize)]
pub struct JsonLabel<'a> {
    pub file: &'a str,
    pub start: u32,
    pub end: u32,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: &'a str,
    pub primary: bool,
}

pub fn to_json<'a>(d: &'a Diagnostic, sources: &'a SourceMap) -> JsonDiagnostic<'a> {
    let labels: Vec<JsonLabel<'a>> = d
        .labels
        .iter()
        .map(|l| {
            let (line, column) = sources.line_col(l.span.file, l.span.start);
            let (end_line, end_column) = sources.line_col(l.span.file, l.span.end);
            JsonLabel {
                file: sources.name(l.span.file),
                start: l.span.start,
                end: l.span.end,
                line,
                column,
                end_line,
                end_column,
                message: &l.message,
                primary: l.primary,
            }
        })
        .collect();
    let primary = labels.iter().find(|l| l.primary).or(labels.first());
    JsonDiagnostic {
        severity: d.severity,
        code: d.code,
        message: &d.message,
        file: primary.map(|l| l.file),
        line: primary.map(|l| l.line),
        column: primary.map(|l| l.column),
        end_line: primary.map(|l| l.end_line),
        end_column: primary.map(|l| l.end_column),
        notes: &d.notes,
        help: d.help.as_deref(),
        labels,
    }
}

/// `{"diagnostics": [...], "errors": N, "warnings": N}` as one JSON document.
pub fn json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        version: u32,
        diagnostics: Vec<JsonDiagnostic<'a>>,
        errors: usize,
        warnings: usize,
    }
    let doc = Doc {
        version: 1,
        diagnostics: diags.iter().map(|d| to_json(d, sources)).collect(),
        errors: diags.iter().filter(|d| d.is_error()).count(),
        warnings: diags.iter().filter(|d| !d.is_error()).count(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        format!("{{\"error\": \"this is a bug in etcdflow: cannot serialise diagnostics: {e}\"}}")
    })
}

/// The diagnostics as the values of `check --format json`'s `diagnostics` (for the
/// `refused` event of `run --output json`).
pub fn json_values(diags: &[Diagnostic], sources: &SourceMap) -> Vec<serde_json::Value> {
    diags
        .iter()
        .filter_map(|d| serde_json::to_value(to_json(d, sources)).ok())
        .collect()
}

/// SARIF 2.1.0 (what GitHub code scanning reads): one run, every documented code as a
/// rule (with its explanation as help), every diagnostic as a result located by a
/// repository-relative URI and a 1-based region.
pub fn sarif(diags: &[Diagnostic], sources: &SourceMap) -> String {
    use serde_json::json;
    let codes = &*super::codes::CODES;
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c.code,
                "name": c.code.split('-').map(|w| {
                    let mut cs = w.chars();
                    cs.next().map(|f| f.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
                }).collect::<String>(),
                "shortDescription": { "text": c.summary },
                "fullDescription": { "text": c.summary },
                "help": { "text": c.explanation },
                "defaultConfiguration": { "level": level(c.severity) },
            })
        })
        .collect();
    let uri = |name: &str| -> String {
        let p = std::path::Path::new(name);
        let rel = std::env::current_dir()
            .ok()
            .and_then(|cwd| p.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf))
            .unwrap_or_else(|| p.to_path_buf());
        rel.display()
            .to_string()
            .replace('\\', "/")
            .replace(' ', "%20")
    };
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let j = to_json(d, sources);
            let mut r = json!({
                "ruleId": d.code,
                "level": level(d.severity),
                "message": { "text": match &d.help {
                    Some(h) => format!("{} ({h})", d.message),
                    None => d.message.clone(),
                } },
            });
            if let Some(i) = codes.iter().position(|c| c.code == d.code) {
                r["ruleIndex"] = json!(i);
            }
            if let (Some(file), Some(line), Some(col)) = (j.file, j.line, j.column) {
                r["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(file) },
                        "region": {
                            "startLine": line,
                            "startColumn": col,
                            "endLine": j.end_line.unwrap_or(line).max(line),
                            "endColumn": j.end_column.unwrap_or(col).max(1),
                        }
                    }
                }]);
            }
            r
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "etcdflow",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/etcdflow/etcdflow",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        format!("{{\"error\": \"this is a bug in etcdflow: cannot serialise SARIF: {e}\"}}")
    })
}
