//! Explicit bounds on what the parser and the checker are given, checked on the raw text
//! before pest sees it: the grammar and the tree walks recurse, so a nesting or an
//! operator chain deeper than these is a diagnostic (`too-deeply-nested`), never a stack
//! overflow; a file larger than [`MAX_FLOW_BYTES`] is refused (`flow-too-large`) before
//! it costs time or memory. Real flows stay far below every limit (the largest stdlib
//! flow nests 4 deep and chains 6 operators).

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};

pub const MAX_FLOW_BYTES: usize = 2 << 20;
/// Brackets and blocks open at once.
pub const MAX_NESTING: usize = 64;
/// Operators in one logical line (or one `{{ }}`).
pub const MAX_OPERATORS: usize = 128;

fn too_deep(file: FileId, at: usize, what: String, help: &str) -> Diagnostic {
    Diagnostic::error("too-deeply-nested", what)
        .at(Span::new(file, at, at + 1), "here")
        .help(help.to_string())
}

/// The first limit `text` breaks, if any.
pub fn check(file: FileId, text: &str) -> Option<Diagnostic> {
    if text.len() > MAX_FLOW_BYTES {
        return Some(
            Diagnostic::error(
                "flow-too-large",
                format!(
                    "the file is {} bytes; etcdflow reads flows of at most {MAX_FLOW_BYTES}",
                    text.len()
                ),
            )
            .at(Span::new(file, 0, 0), "this file")
            .help("split it with `include`"),
        );
    }
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut ops = 0usize;
    let mut i = 0;
    // Where the scanner is: code, a string (`"` may hold `{{ }}` holes, whose contents
    // are code again and may hold strings of their own), or a hole opened at a bracket
    // depth (its `}}` closes it only at that depth: `{{ {a: {b: 1}} }}`).
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        Code,
        Str(u8),
        Hole(usize),
    }
    let mut stack: Vec<Ctx> = vec![Ctx::Code];
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let here = stack.last().copied().unwrap_or(Ctx::Code);
        if stack.len() > MAX_NESTING {
            return Some(too_deep(
                file,
                i,
                format!("more than {MAX_NESTING} strings and interpolations are nested here"),
                "flatten it: bind the inner value with `let` and interpolate the name",
            ));
        }
        if let Ctx::Str(q) = here {
            if c == b'\\' && q == b'"' {
                i += 2;
                continue;
            }
            if c == q {
                stack.pop();
            } else if q == b'"' && c == b'{' && next == Some(b'{') {
                stack.push(Ctx::Hole(depth));
                i += 2;
                continue;
            } else if c == b'\n' {
                ops = 0;
            }
            i += 1;
            continue;
        }
        if let Ctx::Hole(base) = here {
            if c == b'}' && next == Some(b'}') && depth == base {
                stack.pop();
                i += 2;
                continue;
            }
        }
        match c {
            b'#' if here == Ctx::Code => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => stack.push(Ctx::Str(c)),
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(too_deep(
                        file,
                        i,
                        format!("more than {MAX_NESTING} brackets and blocks are open here"),
                        "flatten it: bind parts with `let`, or split the step",
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                // A line continued with `\` goes on.
                let continued = i > 0 && b[i - 1] == b'\\';
                if !continued {
                    ops = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'=' | b'!' | b'.' | b'|' | b'&' => {
                ops += 1
            }
            b'n' | b'a' | b'o' | b'i'
                if (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
                    && [&b"not"[..], b"and", b"or", b"in"].iter().any(|w| {
                        b[i..].starts_with(w)
                            && !b
                                .get(i + w.len())
                                .is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'_')
                    }) =>
            {
                ops += 1
            }
            _ => {}
        }
        if ops > MAX_OPERATORS {
            return Some(too_deep(
                file,
                i,
                format!("more than {MAX_OPERATORS} operators in one expression"),
                "compute it in parts with `let`, or from a list with `len()`/`join()`",
            ));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<&'static str> {
        check(FileId(0), text).map(|d| d.code)
    }

    #[test]
    fn deep_and_long_inputs_are_diagnostics() {
        let n = 100_000;
        assert_eq!(
            code(&format!("param x: bool = {}true\n", "not ".repeat(n))),
            Some("too-deeply-nested")
        );
        assert_eq!(
            code(&format!("param x: int = {}1\n", "1 + ".repeat(n))),
            Some("too-deeply-nested")
        );
        assert_eq!(
            code(&format!(
                "param x: int = {}1{}\n",
                "(".repeat(5000),
                ")".repeat(5000)
            )),
            Some("too-deeply-nested")
        );
        assert_eq!(
            code(&format!("param x: int = {}1\n", "-".repeat(10_000))),
            Some("too-deeply-nested")
        );
        assert_eq!(
            code(&format!("log \"{{{{ {}1 }}}}\"\n", "1 + ".repeat(1000))),
            Some("too-deeply-nested")
        );
        assert_eq!(
            code(&"x".repeat(MAX_FLOW_BYTES + 1)),
            Some("flow-too-large")
        );
    }

    #[test]
    fn a_string_inside_an_interpolation_does_not_hide_what_follows() {
        // The scanner once lost track at the inner string and counted nothing after it.
        let text = format!(
            "param n: str = \"a {{{{ \"b {{{{ 'r' }}}} c\" }}}} d\"\nstep s on m {{\n  assert {}1\n}}\n",
            "-".repeat(2000)
        );
        assert_eq!(code(&text), Some("too-deeply-nested"));
        let maps = format!(
            "x = \"{{{{ {{a: {{b: 1}}}} }}}}\"\ny = {}1\n",
            "-".repeat(2000)
        );
        assert_eq!(code(&maps), Some("too-deeply-nested"));
        let deep = format!("x = {}", "\"{{{{ ".repeat(100));
        assert_eq!(code(&deep), Some("too-deeply-nested"));
    }

    #[test]
    fn ordinary_text_passes() {
        let shell = format!("run \"{}\"\n", "a --b -c . / + ".repeat(200));
        assert_eq!(
            code(&shell),
            None,
            "operators inside a command string do not count"
        );
        assert_eq!(
            code("# not and or - - - - \nstep s on m {\n  log \"x\"\n}\n"),
            None
        );
        for (f, text) in [
            ("restore-icp", include_str!("../../stdlib/restore-icp.flow")),
            ("snapshot", include_str!("../../playbooks/snapshot.flow")),
        ] {
            assert_eq!(code(text), None, "{f}");
        }
    }
}
