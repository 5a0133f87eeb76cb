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
    if let Some(d) = limits::check(file, text) {
        return Parsed {
            file: ast::File {
                file,
                items: Vec::new(),
            },
            diagnostics: vec![d],
            recovered: true,
        };
    }
    parse_in_parallel(file, text).unwrap_or_else(|| parse_sequential(file, text))
}

/// One parse of the whole file, with error recovery item by item.
fn parse_sequential(file: FileId, text: &str) -> Parsed {
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
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

/// Below this size one thread parses faster than several (thread start-up, splitting).
const PARALLEL_FROM: usize = 64 * 1024;

/// A large file is cut at top-level item starts into one chunk per core, and the chunks
/// are parsed (pest) and lowered at once; the items are the same as one parse would give,
/// in order. A chunk that does not parse sends the whole file to the sequential parse,
/// whose error recovery and messages are the reference.
fn parse_in_parallel(file: FileId, text: &str) -> Option<Parsed> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if text.len() < PARALLEL_FROM || threads < 2 {
        return None;
    }
    let cuts = split_points(text, threads);
    if cuts.is_empty() {
        return None;
    }
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for c in cuts.into_iter().chain([text.len()]) {
        if c > start {
            bounds.push((start, c));
            start = c;
        }
    }
    let results: Vec<Option<(Vec<ast::Item>, Vec<Diagnostic>)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = bounds
            .iter()
            .map(|&(a, b)| {
                // The main thread's stack size: the depth limits (`limits.rs`) are set
                // for it.
                std::thread::Builder::new()
                    .stack_size(8 << 20)
                    .spawn_scoped(sc, move || {
                        let mut pairs = FlowParser::parse(Rule::items_tail, &text[a..b]).ok()?;
                        let mut lw = lower::Lowerer::new(file, a);
                        let mut items = Vec::new();
                        if let Some(top) = pairs.next() {
                            lw.items(top, &mut items);
                        }
                        Some((items, lw.diagnostics))
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.ok().and_then(|h| h.join().ok().flatten()))
            .collect()
    });
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    for r in results {
        let (mut i, mut d) = r?;
        items.append(&mut i);
        diagnostics.append(&mut d);
    }
    Some(Parsed {
        file: ast::File { file, items },
        diagnostics,
        recovered: false,
    })
}

/// Up to `n - 1` offsets that cut `text` into `n` chunks of about equal size, each at the
/// start of a top-level item (outside any bracket, string or `{{ }}`, not after a `\`
/// continuation, with the item's `##` doc lines).
fn split_points(text: &str, n: usize) -> Vec<usize> {
    let b = text.as_bytes();
    let (mut depth, mut in_str, mut in_interp) = (0usize, false, false);
    let mut starts = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    let mut doc_start: Option<usize> = None;
    let mut continued = false;
    while i < b.len() {
        if line_start && depth == 0 && !in_str && !in_interp && !continued {
            let rest = &text[i..];
            if rest.starts_with("##") {
                doc_start.get_or_insert(i);
            } else if is_item_start(rest) || rest.starts_with("block ") {
                starts.push(doc_start.take().unwrap_or(i));
            } else {
                doc_start = None;
            }
        }
        line_start = false;
        let c = b[i];
        if in_str && !in_interp {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    in_interp = true;
                    i += 1;
                }
                _ => {}
            }
        } else {
            match c {
                b'#' if !in_interp => {
                    while i + 1 < b.len() && b[i + 1] != b'\n' {
                        i += 1;
                    }
                }
                b'}' if in_interp && b.get(i + 1) == Some(&b'}') => {
                    in_interp = false;
                    i += 1;
                }
                b'"' if !in_interp => in_str = true,
                b'\'' if !in_interp => {
                    while i + 1 < b.len() && b[i + 1] != b'\'' && b[i + 1] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                }
                b'{' | b'[' | b'(' if !in_interp => depth += 1,
                b'}' | b']' | b')' if !in_interp => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if b.get(i) == Some(&b'\n') {
            line_start = true;
            continued = i > 0 && b[i - 1] == b'\\';
        }
        i += 1;
    }
    let mut cuts = Vec::new();
    for k in 1..n {
        let want = text.len() * k / n;
        if let Some(&c) = starts.iter().find(|&&s| s >= want) {
            if c > 0 && cuts.last().is_none_or(|&l| c > l) {
                cuts.push(c);
            }
        }
    }
    cuts
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
