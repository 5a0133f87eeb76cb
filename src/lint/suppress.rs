//! Inline suppressions: `# etcdflow: allow(code, code) -- reason`. On a line of its own it
//! covers the next line that is not blank or a comment; after code it covers its own
//! line. A diagnostic is covered when its primary location starts on a covered line.
//! The reason is mandatory; a suppression without one, or that covers nothing, is itself
//! a warning. Only lint rules can be suppressed: a type error stays an error.

use super::RULES;
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, SourceMap, Span};

#[derive(Debug)]
struct Allow {
    file: FileId,
    /// 1-based line it covers.
    line: usize,
    codes: Vec<String>,
    span: Span,
    reason: bool,
    used: bool,
}

/// The byte offset of a `#` comment on this line (outside strings), if any.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => return Some(i),
                _ => {}
            },
        }
    }
    None
}

fn parse(file: FileId, text: &str) -> Vec<Allow> {
    let lines: Vec<&str> = text.lines().collect();
    let mut offsets = Vec::with_capacity(lines.len());
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        offsets.push(at);
        at += l.len();
    }
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = comment_start(line) else {
            continue;
        };
        let comment = &line[c..];
        let Some(rest) = comment
            .trim_start_matches('#')
            .trim_start()
            .strip_prefix("etcdflow:")
        else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(args) = rest.strip_prefix("allow(") else {
            continue;
        };
        let (inner, after) = args.split_once(')').unwrap_or((args, ""));
        let codes: Vec<String> = inner
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        let reason = after
            .trim_start()
            .strip_prefix("--")
            .is_some_and(|r| !r.trim().is_empty());
        let own_line = line[..c].trim().is_empty();
        let covered = if own_line {
            lines
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, l)| {
                    let t = l.trim();
                    !t.is_empty() && !t.starts_with('#')
                })
                .map_or(i + 1, |(j, _)| j + 1)
        } else {
            i + 1
        };
        let base = offsets.get(i).copied().unwrap_or(0);
        out.push(Allow {
            file,
            line: covered,
            codes,
            span: Span::new(file, base + c, base + line.len()),
            reason,
            used: false,
        });
    }
    out
}

/// Drop the diagnostics that suppressions in `files` cover; add warnings for
/// suppressions without a reason, with unknown codes, or covering nothing.
pub fn apply(diags: Vec<Diagnostic>, sources: &SourceMap, files: &[FileId]) -> Vec<Diagnostic> {
    let mut allows: Vec<Allow> = files
        .iter()
        .flat_map(|f| parse(*f, sources.text(*f)))
        .collect();
    let mut kept = Vec::new();
    for d in diags {
        let suppressible = RULES.contains(&d.code);
        let at = d
            .primary_span()
            .map(|s| (s.file, sources.line_col(s.file, s.start).0));
        let hit = at.and_then(|(file, line)| {
            allows
                .iter_mut()
                .find(|a| a.file == file && a.line == line && a.codes.iter().any(|c| c == d.code))
        });
        match hit {
            Some(a) if suppressible => a.used = true,
            _ => kept.push(d),
        }
    }
    for a in &allows {
        for c in &a.codes {
            if !RULES.contains(&c.as_str()) {
                let known = crate::diagnostics::codes::lookup(c).is_some();
                kept.push(
                    Diagnostic::warning(
                        "unused-suppression",
                        if known {
                            format!("`{c}` is not a lint rule: it cannot be suppressed")
                        } else {
                            format!("there is no rule `{c}`")
                        },
                    )
                    .at(a.span, "this suppression")
                    .help(crate::diagnostics::did_you_mean(
                        c,
                        RULES.iter().copied(),
                        "rules",
                    )),
                );
            }
        }
        if !a.used && a.codes.iter().all(|c| RULES.contains(&c.as_str())) {
            kept.push(
                Diagnostic::warning(
                    "unused-suppression",
                    "this suppression covers no diagnostic",
                )
                .at(a.span, "nothing to allow here")
                .help("remove it; on a line of its own it covers the next line of code"),
            );
        }
        if !a.reason {
            kept.push(
                Diagnostic::warning("suppression-without-reason", "a suppression needs a reason")
                    .at(a.span, "no `-- reason`")
                    .help("write why the rule does not apply: `# etcdflow: allow(missing-rollback) -- read-only probe`"),
            );
        }
    }
    kept
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn comments_outside_strings_only() {
        assert_eq!(comment_start("run \"a # b\" # c"), Some(12));
        assert_eq!(comment_start("run 'a # b'"), None);
        assert_eq!(comment_start("  # x"), Some(2));
    }
}
