//! Renderer-neutral diagnostics. Every phase (syntax, load, inventory, check) turns its
//! errors into [`Diagnostic`]s; `render` turns them into text (ariadne) or JSON. The
//! stable codes and their long explanations live in [`codes`].

pub mod codes;
pub mod render;

use crate::source::Span;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One problem, with a stable kebab-case `code` (see `etcdflow explain CODE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// A diagnostic without a location (a CLI usage problem, a missing file) has none.
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// The primary label: where the problem is and what is wrong there.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: label.into(),
            primary: true,
        });
        self
    }

    /// A secondary label, e.g. where a conflicting definition is.
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: label.into(),
            primary: false,
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A did-you-mean suggestion: the closest candidate, if any is close enough.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &'a str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        let score = strsim::jaro_winkler(name, cand);
        let lev = strsim::levenshtein(name, cand);
        let close = score >= 0.85 || lev <= (name.len().max(2) / 3).max(1);
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// `help` text with a did-you-mean, or a fallback listing what exists.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    if let Some(s) = suggest(name, candidates.clone()) {
        return format!("did you mean `{s}`?");
    }
    let all: Vec<&str> = candidates.into_iter().collect();
    if all.is_empty() {
        format!("no {what} are defined here")
    } else {
        let shown: Vec<String> = all.iter().take(8).map(|c| format!("`{c}`")).collect();
        let more = if all.len() > 8 { ", ..." } else { "" };
        format!("known {what}: {}{more}", shown.join(", "))
    }
}

/// Errors first, then by file and position: the order every renderer uses.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        let s = d.primary_span();
        (s.map(|s| s.file), s.map(|s| s.start), d.severity, d.code)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("masterz", ["masters", "nodes"]), Some("masters"));
        assert_eq!(suggest("zzz", ["masters", "nodes"]), None);
        assert_eq!(
            suggest("etcd_prot", ["etcd_port", "etcd_peer"]),
            Some("etcd_port")
        );
    }

    #[test]
    fn did_you_mean_lists_when_nothing_is_close() {
        assert_eq!(
            did_you_mean("x", ["alpha", "beta"], "params"),
            "known params: `alpha`, `beta`"
        );
        assert_eq!(
            did_you_mean("x", Vec::<&str>::new(), "params"),
            "no params are defined here"
        );
    }
}
