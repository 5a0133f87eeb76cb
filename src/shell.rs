//! Where an interpolated value lands in a shell command string, and how it is rendered
//! there so that it reaches the remote side as exactly its literal bytes (SAFETY.md
//! inv. 20).
//!
//! A command string is the author's text with `{{ }}` holes. The quote context of each
//! hole depends only on the author's text before it (the values are always quoted, so
//! they never change the context), so the checker computes the contexts once and
//! refuses holes in contexts that cannot carry a value safely; the runtime renders
//! every value for the context it sits in:
//!
//! | context | rendered as |
//! |---|---|
//! | unquoted (also inside `$( )`) | one single-quoted word: `'v'` |
//! | inside `"..."` | close, single-quote, reopen: `"'v'"` |
//! | inside `'...'` | close, quote, reopen: `''v''` |
//!
//! Refused: a hole in a comment, in a here-document, inside backquotes, `$'...'`,
//! `${...}`, `$((...))`, or right after a backslash: there the shell would read the
//! value's bytes as code or drop them.

/// Where a hole sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// Outside quotes (at top level or inside `$( )`).
    None,
    Double,
    Single,
}

/// One hole's context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    pub quote: Quote,
    /// The hole begins a word (nothing of the word precedes it but opening quotes): a
    /// value there starting with `-` would be read as an option.
    pub word_start: bool,
    /// A standalone `--` appeared earlier in the same simple command.
    pub after_dashdash: bool,
}

/// Why a hole cannot carry a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsafe {
    /// Index of the hole.
    pub hole: usize,
    pub context: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
enum Frame {
    /// Code: the top level or a `$( )` (with its open parenthesis depth).
    Code(u32),
    Double,
    Single,
    DollarSingle,
    Backtick,
    Brace,
    Arith(u32),
    Comment,
}

/// The contexts of the holes between `texts` (`texts.len() - 1` holes), or the first
/// hole that is unsafe.
pub fn holes(texts: &[&str]) -> Result<Vec<Hole>, Unsafe> {
    let mut stack = vec![Frame::Code(0)];
    let mut out = Vec::new();
    // Characters of the current word seen (besides opening quotes).
    let mut in_word = false;
    let mut dashdash = false;
    let mut word = String::new();
    let mut escaped = false;
    // Here-documents announced on the current line: (delimiter).
    let mut pending_heredocs: Vec<String> = Vec::new();
    let mut heredoc: Option<String> = None;
    let mut line = String::new();
    let mut uncertain = false;
    for (i, text) in texts.iter().enumerate() {
        let chars: Vec<char> = text.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            let next = chars.get(k + 1).copied();
            k += 1;
            if let Some(delim) = &heredoc {
                if c == '\n' {
                    if line.trim_start_matches('\t') == delim {
                        heredoc = pending_heredocs.pop();
                    }
                    line.clear();
                } else {
                    line.push(c);
                }
                continue;
            }
            if escaped {
                escaped = false;
                if c != '\n' {
                    in_word = true;
                    word.push(c);
                }
                continue;
            }
            let top = stack.last().cloned().unwrap_or(Frame::Code(0));
            match top {
                Frame::Single => {
                    if c == '\'' {
                        stack.pop();
                    } else {
                        in_word = true;
                        word.push(c);
                    }
                }
                Frame::DollarSingle => match c {
                    '\\' => escaped = true,
                    '\'' => {
                        stack.pop();
                    }
                    _ => {}
                },
                Frame::Comment => {
                    if c == '\n' {
                        stack.pop();
                        end_of_line(&mut pending_heredocs, &mut heredoc, &mut line);
                        dashdash = false;
                        in_word = false;
                        word.clear();
                    }
                }
                Frame::Double => match c {
                    '\\' => escaped = true,
                    '"' => {
                        stack.pop();
                    }
                    '`' => stack.push(Frame::Backtick),
                    '$' if matches!(next, Some('(' | '{')) => {
                        k = open_expansion(&chars, k, &mut stack);
                    }
                    _ => {
                        in_word = true;
                        word.push(c);
                    }
                },
                Frame::Backtick => match c {
                    '\\' => escaped = true,
                    '`' => {
                        stack.pop();
                    }
                    _ => {}
                },
                Frame::Brace => match c {
                    '\\' => escaped = true,
                    '}' => {
                        stack.pop();
                    }
                    '\'' => stack.push(Frame::Single),
                    '"' => stack.push(Frame::Double),
                    _ => {}
                },
                Frame::Arith(depth) => match c {
                    '(' => set_depth(&mut stack, depth + 1),
                    ')' if depth == 0 && next == Some(')') => {
                        k += 1;
                        stack.pop();
                    }
                    ')' => set_depth(&mut stack, depth.saturating_sub(1)),
                    _ => {}
                },
                Frame::Code(depth) => {
                    let separator = |c: char| matches!(c, ';' | '&' | '|' | '\n');
                    if c.is_whitespace() || separator(c) || c == '(' || c == ')' {
                        if in_word && word == "--" {
                            dashdash = true;
                        }
                        // `case` patterns end in an unbalanced `)`: inside `$( )` the
                        // contexts that follow are not certain.
                        if in_word && word == "case" && stack.len() > 1 {
                            uncertain = true;
                        }
                        in_word = false;
                        word.clear();
                    }
                    match c {
                        '\\' => escaped = true,
                        '\'' => {
                            stack.push(Frame::Single);
                        }
                        '"' => stack.push(Frame::Double),
                        '`' => stack.push(Frame::Backtick),
                        '#' if !in_word => stack.push(Frame::Comment),
                        '$' if next == Some('\'') => {
                            k += 1;
                            stack.push(Frame::DollarSingle);
                        }
                        '$' if matches!(next, Some('(' | '{')) => {
                            k = open_expansion(&chars, k, &mut stack);
                        }
                        '(' => set_depth(&mut stack, depth + 1),
                        ')' if depth == 0 && stack.len() > 1 => {
                            stack.pop();
                        }
                        ')' => set_depth(&mut stack, depth.saturating_sub(1)),
                        '<' if next == Some('<') && chars.get(k + 1) != Some(&'<') => {
                            k += 1;
                            if chars.get(k) == Some(&'-') {
                                k += 1;
                            }
                            while chars.get(k).is_some_and(|c| *c == ' ' || *c == '\t') {
                                k += 1;
                            }
                            let mut delim = String::new();
                            while let Some(&d) = chars.get(k) {
                                if d.is_whitespace() || matches!(d, ';' | '&' | '|' | '<' | '>') {
                                    break;
                                }
                                if !matches!(d, '\'' | '"' | '\\') {
                                    delim.push(d);
                                }
                                k += 1;
                            }
                            pending_heredocs.insert(0, delim);
                        }
                        _ => {}
                    }
                    if separator(c) {
                        if c == '\n' {
                            end_of_line(&mut pending_heredocs, &mut heredoc, &mut line);
                        }
                        dashdash = false;
                    } else if !c.is_whitespace() && !matches!(c, '\'' | '"' | '(' | ')') {
                        in_word = true;
                        word.push(c);
                    }
                }
            }
        }
        if i + 1 == texts.len() {
            break;
        }
        if stack.len() == 1 {
            uncertain = false;
        }
        let context = if uncertain {
            Some("a `case` inside `$( )`")
        } else if heredoc.is_some() {
            Some("a here-document")
        } else if escaped {
            Some("the character after a backslash")
        } else {
            match stack.last() {
                Some(Frame::Comment) => Some("a comment"),
                Some(Frame::Backtick) => Some("backquotes"),
                Some(Frame::DollarSingle) => Some("`$'...'`"),
                Some(Frame::Brace) => Some("`${...}`"),
                Some(Frame::Arith(_)) => Some("`$((...))`"),
                _ => None,
            }
        };
        if let Some(context) = context {
            return Err(Unsafe { hole: i, context });
        }
        let quote = match stack.last() {
            Some(Frame::Double) => Quote::Double,
            Some(Frame::Single) => Quote::Single,
            _ => Quote::None,
        };
        out.push(Hole {
            quote,
            word_start: !in_word,
            after_dashdash: dashdash,
        });
        // The value is part of the word now.
        in_word = true;
        word.push('\u{0}');
    }
    Ok(out)
}

/// After a `$` at `chars[k - 1]` followed by `(` or `{`: open `$((`, `$(` or `${`; the
/// index after what was read.
fn open_expansion(chars: &[char], k: usize, stack: &mut Vec<Frame>) -> usize {
    match (chars.get(k), chars.get(k + 1)) {
        (Some('('), Some('(')) => {
            stack.push(Frame::Arith(0));
            k + 2
        }
        (Some('('), _) => {
            stack.push(Frame::Code(0));
            k + 1
        }
        _ => {
            stack.push(Frame::Brace);
            k + 1
        }
    }
}

fn set_depth(stack: &mut [Frame], d: u32) {
    match stack.last_mut() {
        Some(Frame::Code(x)) | Some(Frame::Arith(x)) => *x = d,
        _ => {}
    }
}

fn end_of_line(pending: &mut Vec<String>, heredoc: &mut Option<String>, line: &mut String) {
    if heredoc.is_none() {
        *heredoc = pending.pop();
    }
    line.clear();
}

/// A value as one shell word, always quoted unless it is plainly inert.
pub fn word(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@,+-".contains(&b))
    {
        return v.to_string();
    }
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// A value rendered for its hole: its bytes reach the command as they are.
pub fn render(v: &str, hole: Hole) -> String {
    match hole.quote {
        Quote::None => word(v),
        Quote::Double => format!("\"{}\"", word(v)),
        Quote::Single => format!("'{}'", word(v)),
    }
}

/// Why a value cannot fill a hole (`None`: it can).
pub fn refuse(v: &str, hole: Hole) -> Option<String> {
    if v.contains('\0') {
        return Some("the value contains a NUL byte, which a shell cannot carry".into());
    }
    if hole.word_start && !hole.after_dashdash && v.starts_with('-') {
        return Some(format!("the value `{v}` starts with `-` and would be read as an option; put ` -- ` before it in the command"));
    }
    None
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
