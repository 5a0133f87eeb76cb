//! `etcdflow fmt`: one canonical layout, no options. etcdflow is line-oriented (a newline
//! ends a statement), so the formatter keeps the lines and their order and decides
//! everything else: indentation (two spaces per open `{`, `[` or `(`; one more level on a
//! `\` continuation line), the spaces between tokens, blank lines (at most one, none
//! just inside braces), trailing comments (aligned across consecutive lines, two spaces
//! after the longest code). Strings and comments are kept byte for byte.
//!
//! [`format`] refuses text that does not parse, and checks its own output: the AST of
//! the result must equal the AST of the input (spans aside), or nothing is written.

use crate::source::FileId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Str(&'a str),
    Punct(&'a str),
}

#[derive(Debug, Default)]
struct Line<'a> {
    toks: Vec<Tok<'a>>,
    comment: Option<&'a str>,
    /// Ends with a `\` continuation.
    cont: bool,
}

const OPS: [&str; 6] = ["==", "!=", "<=", ">=", "{{", "}}"];

/// The index of the `"` closing the string that opens at `i`: escapes are skipped and a
/// `{{ ... }}` interpolation may hold strings of its own.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j),
            b'{' if b.get(j + 1) == Some(&b'{') => {
                j += 2;
                loop {
                    match b.get(j)? {
                        b'"' => j = string_end(b, j)? + 1,
                        b'\'' => {
                            j += 1;
                            while *b.get(j)? != b'\'' {
                                j += 1;
                            }
                            j += 1;
                        }
                        b'}' if b.get(j + 1) == Some(&b'}') => {
                            j += 2;
                            break;
                        }
                        _ => j += 1,
                    }
                }
            }
            _ => j += 1,
        }
    }
}

fn lex(src: &str) -> Result<Vec<Line<'_>>, String> {
    let b = src.as_bytes();
    let mut lines = Vec::new();
    let mut cur = Line::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                lines.push(std::mem::take(&mut cur));
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' if matches!(b.get(i + 1..), Some([b'\n', ..]) | Some([b'\r', b'\n', ..])) => {
                cur.cont = true;
                lines.push(std::mem::take(&mut cur));
                i += if b[i + 1] == b'\r' { 3 } else { 2 };
            }
            b'#' => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                cur.comment = Some(src[i..end].trim_end());
                i = end;
            }
            b'"' => {
                let j =
                    string_end(b, i).ok_or_else(|| format!("unterminated string at byte {i}"))?;
                cur.toks.push(Tok::Str(&src[i..=j]));
                i = j + 1;
            }
            b'\'' => {
                let j = src[i + 1..]
                    .find('\'')
                    .map(|n| i + 1 + n)
                    .ok_or_else(|| format!("unterminated string at byte {i}"))?;
                cur.toks.push(Tok::Str(&src[i..=j]));
                i = j + 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c >= 0x80 => {
                let mut j = i;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric()
                        || b[j] == b'_'
                        || b[j] == b'.'
                        || b[j] >= 0x80)
                {
                    j += 1;
                }
                cur.toks.push(Tok::Word(&src[i..j]));
                i = j;
            }
            _ => {
                let two = src.get(i..i + 2).filter(|t| OPS.contains(t));
                let t = two.unwrap_or(&src[i..i + 1]);
                cur.toks.push(Tok::Punct(t));
                i += t.len();
            }
        }
    }
    lines.push(cur);
    Ok(lines)
}

const KEYWORDS: &[&str] = &[
    "flow",
    "include",
    "param",
    "hosts",
    "cluster",
    "step",
    "on",
    "rollback",
    "if",
    "else",
    "for",
    "in",
    "let",
    "assert",
    "and",
    "or",
    "not",
    "point_of_no_return",
];
const VERBS: &[&str] = &[
    "run", "copy", "fetch", "template", "wait", "fail", "confirm", "log",
];

fn keyword_or_verb(w: &str) -> bool {
    KEYWORDS.contains(&w) || VERBS.contains(&w) || w.starts_with("etcd.")
}

/// Whether `t` ends an operand (so a following `-` is binary, `[` an index, `(` a call).
fn ends_operand(t: Tok<'_>) -> bool {
    match t {
        Tok::Word(w) => !keyword_or_verb(w),
        Tok::Str(_) => true,
        Tok::Punct(p) => matches!(p, ")" | "]" | "?" | "}"),
    }
}

fn spaced(line: &Line<'_>) -> String {
    let mut out = String::new();
    let mut prev: Option<Tok<'_>> = None;
    // Whether the previous `-` was unary (no space after it).
    let mut unary = false;
    for &t in &line.toks {
        let space = match (prev, t) {
            (None, _) => false,
            (Some(p), t) => {
                let p_punct = |s: &str| p == Tok::Punct(s);
                match t {
                    Tok::Punct("," | ":" | ")" | "]" | "?") => {
                        // `{}`/`[]`/`()` stay closed; `,` `:` `?` hug the left.
                        false
                    }
                    Tok::Punct("}") => !p_punct("{"),
                    Tok::Punct("(") => !ends_operand(p) || matches!(p, Tok::Punct(_)),
                    Tok::Punct("[") => {
                        // An index hugs its operand; a list literal stands apart.
                        let index = ends_operand(p) && !matches!(p, Tok::Punct("}" | "?"));
                        !index && !p_punct("(") && !p_punct("[")
                    }
                    Tok::Word(w) if w.starts_with('.') => false,
                    _ if p_punct("(") || p_punct("[") => false,
                    _ if p_punct("-") && unary => false,
                    _ => true,
                }
            }
        };
        if space {
            out.push(' ');
        }
        unary = t == Tok::Punct("-") && !prev.is_some_and(ends_operand);
        match t {
            Tok::Word(s) | Tok::Str(s) | Tok::Punct(s) => out.push_str(s),
        }
        prev = Some(t);
    }
    out
}

fn opens(t: Tok<'_>) -> bool {
    matches!(t, Tok::Punct("{" | "[" | "("))
}
fn closes(t: Tok<'_>) -> bool {
    matches!(t, Tok::Punct("}" | "]" | ")"))
}

/// Format etcdflow source text (assumed to parse; see [`format_checked`]).
pub fn format(src: &str) -> Result<String, String> {
    let lines = lex(src)?;
    // Indentation.
    let mut depth: usize = 0;
    let mut cont_prev = false;
    let mut rendered: Vec<Option<(usize, String, Option<&str>)>> = Vec::new();
    for l in &lines {
        if l.toks.is_empty() && l.comment.is_none() {
            rendered.push(None);
            cont_prev = l.cont;
            continue;
        }
        let leading_closers = l.toks.iter().take_while(|t| closes(**t)).count();
        let mut indent = depth.saturating_sub(leading_closers);
        if cont_prev {
            indent += 1;
        }
        for t in &l.toks {
            if opens(*t) {
                depth += 1;
            } else if closes(*t) {
                depth = depth.saturating_sub(1);
            }
        }
        let mut code = spaced(l);
        if l.cont {
            code.push_str(if code.is_empty() { "\\" } else { " \\" });
        }
        rendered.push(Some((indent, code, l.comment)));
        cont_prev = l.cont;
    }
    // Blank lines: at most one, none at the edges or just inside an opener / before a closer.
    let mut kept: Vec<Option<(usize, String, Option<&str>)>> = Vec::new();
    for r in rendered {
        match r {
            None => {
                let after_opener =
                    kept.last()
                        .and_then(|l| l.as_ref())
                        .is_some_and(|(_, c, cm)| {
                            cm.is_none()
                                && (c.ends_with('{') || c.ends_with('[') || c.ends_with('('))
                        });
                if kept.last().is_some_and(Option::is_some) && !after_opener {
                    kept.push(None);
                }
            }
            Some(x) => {
                let starts_closer = x.1.starts_with(['}', ']', ')']);
                if starts_closer && kept.last().is_some_and(Option::is_none) {
                    kept.pop();
                }
                kept.push(Some(x));
            }
        }
    }
    while kept.last().is_some_and(Option::is_none) {
        kept.pop();
    }
    // Trailing comments: aligned within runs of consecutive lines that have code and one.
    let mut out = String::new();
    let mut i = 0;
    while i < kept.len() {
        let Some((indent, code, comment)) = &kept[i] else {
            out.push('\n');
            i += 1;
            continue;
        };
        let pad = "  ".repeat(*indent);
        if code.is_empty() || comment.is_none() {
            out.push_str(&pad);
            out.push_str(code);
            if let Some(c) = comment {
                out.push_str(c);
            }
            out.push('\n');
            i += 1;
            continue;
        }
        let mut j = i;
        let mut width = 0;
        while let Some(Some((ind, c, Some(_)))) = kept.get(j) {
            if c.is_empty() || c.ends_with('\\') {
                break;
            }
            width = width.max(ind * 2 + c.chars().count());
            j += 1;
        }
        if j == i {
            // A continued line with a comment: one space.
            out.push_str(&format!("{pad}{code} {}\n", comment.unwrap_or_default()));
            i += 1;
            continue;
        }
        for line in kept.iter().take(j).skip(i).flatten() {
            let (ind, c, cm) = line;
            let text = format!("{}{c}", "  ".repeat(*ind));
            let gap = width - text.chars().count() + 2;
            out.push_str(&format!(
                "{text}{}{}\n",
                " ".repeat(gap),
                cm.unwrap_or_default()
            ));
        }
        i = j;
    }
    Ok(out)
}

/// The AST of `text` as a string with every span removed: equal for equivalent sources.
pub fn shape(text: &str) -> Result<String, String> {
    let parsed = crate::syntax::parse(FileId(0), text);
    if let Some(d) = parsed.diagnostics.first() {
        return Err(d.message.clone());
    }
    Ok(strip_spans(&format!("{:?}", parsed.file.items)))
}

fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span { file: FileId(") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Format, refusing text that does not parse and any output whose AST differs.
pub fn format_checked(src: &str) -> Result<String, String> {
    let parsed = crate::syntax::parse(FileId(0), src);
    if let Some(d) = parsed.diagnostics.first() {
        return Err(d.message.clone());
    }
    let out = format(src)?;
    if out == src {
        return Ok(out);
    }
    let before = strip_spans(&format!("{:?}", parsed.file.items));
    let after = shape(&out)
        .map_err(|e| format!("this is a bug in etcdflow fmt: its output does not parse ({e})"))?;
    if before != after {
        return Err("this is a bug in etcdflow fmt: the formatted flow would mean something else; the file was left as it is".into());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spacing() {
        let src = "flow   t\nparam x : int=- 1 ## doc\nhosts m=group( \"a\" )|group(\"b\")?\nstep s on m serial  order:leader_last( main ) {\n\tlet r=run [ \"a\" ,x ]\n  assert r.rc==0 and len( names(m) )>-1 , \"ok\"\n  let y = r.lines[ 0 ]\n\n\n  rollback{}\n}\n";
        let out = format(src).unwrap();
        assert_eq!(
            out,
            "flow t\nparam x: int = -1  ## doc\nhosts m = group(\"a\") | group(\"b\")?\nstep s on m serial order: leader_last(main) {\n  let r = run [\"a\", x]\n  assert r.rc == 0 and len(names(m)) > -1, \"ok\"\n  let y = r.lines[0]\n\n  rollback {}\n}\n"
        );
        assert_eq!(format(&out).unwrap(), out, "idempotent");
    }

    #[test]
    fn continuation_maps_and_comments() {
        let src = "step s on local {\n  # a comment\n   template \"x.j2\" to: \"/x\" \\\n  vars: {a: 1,b: [1,2]}   # trailing\n  log \"x\" # two\n}\n";
        let out = format(src).unwrap();
        assert_eq!(
            out,
            "step s on local {\n  # a comment\n  template \"x.j2\" to: \"/x\" \\\n    vars: { a: 1, b: [1, 2] }  # trailing\n  log \"x\"                      # two\n}\n"
        );
        assert_eq!(format(&out).unwrap(), out);
    }
}
