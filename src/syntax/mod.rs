//! Syntax: `.flow` text to a spanned [`ast::File`], with syntax diagnostics.
//!
//! The grammar is `grammar/etcdflow.pest`. pest's `Pair` and `Rule` never leave this
//! module: [`parse`] returns plain AST and [`crate::diagnostics::Diagnostic`]s.
//!
//! Error recovery works per top-level item: when pest stops at an error, the error is
//! reported and parsing restarts at the next line that begins (in column 0) with an item
//! keyword (`param`, `hosts`, `cluster`, `step`, `include`, `flow`,
//! `point_of_no_return`) or a `##` doc line. So one run reports one error per broken
//! item, and the items that parse still reach the checker (which then does not report
//! follow-on errors for names the broken items would have defined).
//!
//! Example: `param x: int = 5` lowers to `ItemKind::Param(Param { name: "x", ty: int,
//! default: Some(Int(5)) })`.

pub mod ast;
mod expr;
#[doc(hidden)]
pub mod gen;
pub mod limits;
mod lower;
mod names;

pub use lower::{parse_expr, parse_type};

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/etcdflow.pest"]
struct FlowParser;

/// What a parse gives: the items that parsed, and the syntax errors.
pub struct Parsed {
    pub file: ast::File,
    pub diagnostics: Vec<Diagnostic>,
    /// True when recovery skipped text: names the skipped items defined are unknown.
    pub recovered: bool,
}

/// Parse one file's text.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    if let Some(d) = limits::check(file, text) {
        return Parsed {
            file: ast::File { file, items },
            diagnostics: vec![d],
            recovered: true,
        };
    }
    let mut offset = 0usize;
    let mut recovered = false;
    let mut rule = Rule::file;
    loop {
        let input = &text[offset..];
        match FlowParser::parse(rule, input) {
            Ok(mut pairs) => {
                let mut lw = lower::Lowerer::new(file, offset);
                if let Some(top) = pairs.next() {
                    lw.items(top, &mut items);
                }
                diagnostics.append(&mut lw.diagnostics);
                break;
            }
            Err(err) => {
                let (diag, at) = names::syntax_error(file, offset, input, &err);
                diagnostics.push(diag);
                recovered = true;
                // Keep the items before the error: parse the prefix up to the start of the
                // item that failed. The error's item starts at the last item-start line
                // at or before `at`.
                let fail_abs = offset + at;
                let item_start = last_item_start(text, offset, fail_abs);
                if item_start > offset {
                    if let Ok(mut pairs) =
                        FlowParser::parse(Rule::items_tail, &text[offset..item_start])
                    {
                        let mut lw = lower::Lowerer::new(file, offset);
                        if let Some(top) = pairs.next() {
                            lw.items(top, &mut items);
                        }
                        diagnostics.append(&mut lw.diagnostics);
                    }
                }
                match next_item_start(text, fail_abs) {
                    Some(next) => {
                        offset = next;
                        rule = Rule::items_tail;
                    }
                    None => break,
                }
            }
        }
    }
    Parsed {
        file: ast::File { file, items },
        diagnostics,
        recovered,
    }
}

const ITEM_KEYWORDS: &[&str] = &[
    "param ",
    "hosts ",
    "cluster ",
    "step ",
    "include ",
    "flow ",
    "point_of_no_return ",
    "##",
];

fn is_item_start(line: &str) -> bool {
    ITEM_KEYWORDS.iter().any(|k| line.starts_with(k))
}

/// Byte offsets of line starts in `text[from..to]`.
fn line_starts(text: &str, from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
    let first = std::iter::once(from).filter(move |&f| f == 0 || text.as_bytes()[f - 1] == b'\n');
    first.chain(
        text[from..to.min(text.len())]
            .match_indices('\n')
            .map(move |(i, _)| from + i + 1)
            .filter(move |&s| s < text.len()),
    )
}

fn last_item_start(text: &str, from: usize, at: usize) -> usize {
    let mut best = from;
    for s in line_starts(text, from, at) {
        if s <= at && is_item_start(&text[s..]) {
            // A `##` block belongs to the item after it: back up to the first doc line.
            best = s;
        }
    }
    // Do not split a doc block from its item.
    let mut start = best;
    while start > from {
        let prev_end = start - 1;
        let prev_start = text[..prev_end].rfind('\n').map_or(0, |i| i + 1);
        if prev_start >= from && text[prev_start..].starts_with("##") {
            start = prev_start;
        } else {
            break;
        }
    }
    start
}

fn next_item_start(text: &str, after: usize) -> Option<usize> {
    let from = text[after..].find('\n').map(|i| after + i + 1)?;
    line_starts(text, from, text.len()).find(|&s| is_item_start(&text[s..]))
}

pub(crate) fn span(file: FileId, offset: usize, s: pest::Span<'_>) -> Span {
    Span::new(file, offset + s.start(), offset + s.end())
}

#[cfg(test)]
mod tests;
