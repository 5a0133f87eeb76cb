//! Positions and names in a flow's text: LSP positions (UTF-16 columns) to byte offsets
//! and back, and a lexical scan of the identifiers a flow uses (outside comments and
//! string text, inside `{{ }}`), for references, rename and the completion context.

use lsp_types::{Position, Range};

/// Line starts of one text, for offset/position conversion.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The byte offset of an LSP position (clamped to the text).
    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(p.line as usize + 1)
            .map_or(self.text.len(), |e| e - 1);
        let mut units = 0u32;
        for (i, c) in self.text[start..end].char_indices() {
            if units >= p.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let start = self.starts[line];
        let mut o = offset;
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        let character = self.text[start..o]
            .chars()
            .map(|c| c.len_utf16() as u32)
            .sum();
        Position::new(line as u32, character)
    }

    pub fn range(&self, r: std::ops::Range<usize>) -> Range {
        Range::new(self.position(r.start), self.position(r.end))
    }
}

/// One identifier in the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub name: String,
    pub start: usize,
    pub end: usize,
    /// After a `.`: a field or fact name, or the second part of a dotted verb.
    pub field: bool,
    /// Followed by `:` (a clause or map key, or a declaration's name).
    pub key: bool,
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every identifier outside comments and string text (interpolations included).
pub fn tokens(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Inside a double-quoted string, and inside a `{{ }}` of it.
    let (mut in_str, mut in_interp) = (false, false);
    while i < b.len() {
        let c = b[i];
        if in_str && !in_interp {
            match c {
                b'\\' => i += 2,
                b'"' => {
                    in_str = false;
                    i += 1;
                }
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    in_interp = true;
                    i += 2;
                }
                _ => i += 1,
            }
            continue;
        }
        match c {
            b'#' if !in_interp => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'}' if in_interp && b.get(i + 1) == Some(&b'}') => {
                in_interp = false;
                i += 2;
            }
            b'"' if !in_interp => {
                in_str = true;
                i += 1;
            }
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' && b[i] != b'\n' {
                    i += 1;
                }
                i += 1;
            }
            c if ident_start(c) => {
                let start = i;
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
                let field = start > 0 && b[start - 1] == b'.';
                let mut j = i;
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                let key = b.get(j) == Some(&b':');
                out.push(Token {
                    name: text[start..i].to_string(),
                    start,
                    end: i,
                    field,
                    key,
                });
            }
            c if c.is_ascii_digit() => {
                // A number or a duration/size literal (`5m`, `2GiB`): not a name.
                while i < b.len() && ident_char(b[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Where the cursor is, lexically: inside a string (and a `{{ }}`), the brace depth.
#[derive(Debug, Default, PartialEq)]
pub struct Context {
    pub in_string: bool,
    pub in_interp: bool,
    pub depth: usize,
}

pub fn context(text: &str, offset: usize) -> Context {
    let b = &text.as_bytes()[..offset.min(text.len())];
    let mut cx = Context::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if cx.in_string && !cx.in_interp {
            match c {
                b'\\' => i += 1,
                b'"' => cx.in_string = false,
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    cx.in_interp = true;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'#' if !cx.in_interp => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'}' if cx.in_interp && b.get(i + 1) == Some(&b'}') => {
                cx.in_interp = false;
                i += 1;
            }
            b'"' if !cx.in_interp => cx.in_string = true,
            b'{' if !cx.in_interp => cx.depth += 1,
            b'}' if !cx.in_interp => cx.depth = cx.depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    cx
}

/// The identifier (with dots: `etcd.member_add`, `host.vars.x`) ending at `offset`.
pub fn word_before(text: &str, offset: usize) -> &str {
    let b = text.as_bytes();
    let mut s = offset.min(b.len());
    while s > 0 && (ident_char(b[s - 1]) || b[s - 1] == b'.') {
        s -= 1;
    }
    &text[s..offset.min(b.len())]
}

/// The identifier around `offset` (its range), if the cursor is on one.
pub fn word_at(text: &str, offset: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let offset = offset.min(b.len());
    let mut s = offset;
    while s > 0 && ident_char(b[s - 1]) {
        s -= 1;
    }
    let mut e = offset;
    while e < b.len() && ident_char(b[e]) {
        e += 1;
    }
    (s < e && ident_start(b[s])).then_some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let t = "a\n€x = 1\n";
        let li = LineIndex::new(t);
        let p = li.position(t.find('x').unwrap_or(0));
        assert_eq!(p, Position::new(1, 1));
        assert_eq!(li.offset(p), t.find('x').unwrap_or(0));
        assert_eq!(li.offset(Position::new(9, 0)), t.len());
    }

    #[test]
    fn tokens_skip_comments_and_string_text_but_not_interpolations() {
        let t = "# c\nstep s on m { run \"x {{ p }} y\" timeout: t }\n";
        let names: Vec<(String, bool, bool)> = tokens(t)
            .into_iter()
            .map(|k| (k.name, k.field, k.key))
            .collect();
        assert_eq!(
            names,
            vec![
                ("step".into(), false, false),
                ("s".into(), false, false),
                ("on".into(), false, false),
                ("m".into(), false, false),
                ("run".into(), false, false),
                ("p".into(), false, false),
                ("timeout".into(), false, true),
                ("t".into(), false, false),
            ]
        );
        assert!(context(t, t.find(" y").unwrap_or(0)).in_string);
        assert!(context(t, t.find("p }}").unwrap_or(0)).in_interp);
        assert_eq!(context(t, t.find("timeout").unwrap_or(0)).depth, 1);
    }
}
