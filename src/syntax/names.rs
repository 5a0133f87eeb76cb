//! Human names for grammar rules, and pest errors turned into diagnostics. The match in
//! [`rule_name`] is exhaustive on purpose: a new grammar rule does not compile until
//! someone says how an error message should call it.

use super::Rule;
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};

pub(crate) fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::item_kind => "an item",
        Rule::field_sep => "`,` or a new line",
        Rule::gap => "a new line",
        Rule::stmt => "a statement",
        Rule::operand => "a value",
        Rule::prefix => "`not` or `-`",
        Rule::postfix => "`.field`, `[index]` or `?`",
        Rule::infix => "an operator",
        Rule::literal => "a literal",
        Rule::ident_char => "a letter, digit or `_`",
        Rule::WHITESPACE => "whitespace",
        Rule::COMMENT => "a comment",
        Rule::file | Rule::items_tail => "a flow item",
        Rule::item => "an item (`flow`, `param`, `hosts`, `cluster`, `step`, `include`)",
        Rule::doc_block | Rule::doc => "a `##` doc comment",
        Rule::flow_decl => "a `flow NAME` header",
        Rule::include_decl => "an `include \"FILE\"`",
        Rule::param_decl => "a `param NAME: TYPE` declaration",
        Rule::hosts_decl => "a `hosts NAME = ...` declaration",
        Rule::cluster_decl => "a `cluster NAME { ... }` declaration",
        Rule::field => "a `key: value` field",
        Rule::no_return_decl => "a `point_of_no_return \"...\"` marker",
        Rule::step_decl => "a `step NAME on HOSTS { ... }` declaration",
        Rule::block_decl => "a block definition `block NAME(params) { ... }`",
        Rule::block_param => "a block parameter `name: type`",
        Rule::use_stmt => "a block use `use NAME(args)`",
        Rule::type_expr | Rule::type_only => "a type",
        Rule::optional_mark => "`?`",
        Rule::block => "a `{ ... }` block",
        Rule::rollback_block => "a `rollback { ... }` block",
        Rule::if_stmt => "an `if` statement",
        Rule::for_stmt => "a `for` loop",
        Rule::let_stmt => "a `let` binding",
        Rule::assert_stmt => "an `assert`",
        Rule::action => "an action",
        Rule::verb => "an action name",
        Rule::positional => "an argument",
        Rule::clause => "an argument (`key: value` or a flag)",
        Rule::clause_key => "an argument name",
        Rule::action_kw => "an action name",
        Rule::expr | Rule::expr_only => "an expression",
        Rule::paren => "`(`",
        Rule::op_not => "`not`",
        Rule::op_neg => "`-`",
        Rule::field_access => "`.field`",
        Rule::index => "`[index]`",
        Rule::op_or => "`or`",
        Rule::op_and => "`and`",
        Rule::op_eq => "`==`",
        Rule::op_ne => "`!=`",
        Rule::op_le => "`<=`",
        Rule::op_ge => "`>=`",
        Rule::op_lt => "`<`",
        Rule::op_gt => "`>`",
        Rule::op_in => "`in`",
        Rule::op_not_in => "`not in`",
        Rule::op_union => "`|`",
        Rule::op_inter => "`&`",
        Rule::op_add => "`+`",
        Rule::op_sub => "`-`",
        Rule::op_mul => "`*`",
        Rule::op_div => "`/`",
        Rule::call => "a function call",
        Rule::list => "a list `[...]`",
        Rule::comp_tail => "a comprehension `for x in xs`",
        Rule::map => "a map `{...}`",
        Rule::map_entry => "a map entry `key: value`",
        Rule::boolean => "`true` or `false`",
        Rule::none => "`none`",
        Rule::int => "an integer",
        Rule::duration => "a duration (`30s`, `5m`, `1h30m`)",
        Rule::size => "a size (`512MiB`, `2GiB`)",
        Rule::bad_number => "a number",
        Rule::string => "a string",
        Rule::str_text => "string text",
        Rule::escape => "an escape sequence",
        Rule::interp => "a `{{ ... }}` interpolation",
        Rule::raw_string => "a '...' string",
        Rule::raw_text => "string text",
        Rule::ident | Rule::raw_ident | Rule::name => "a name",
        Rule::keyword => "a keyword",
        Rule::kw_flow => "`flow`",
        Rule::kw_include => "`include`",
        Rule::kw_param => "`param`",
        Rule::kw_hosts => "`hosts`",
        Rule::kw_cluster => "`cluster`",
        Rule::kw_step => "`step`",
        Rule::kw_block => "`block`",
        Rule::kw_use => "`use`",
        Rule::kw_on => "`on`",
        Rule::kw_rollback => "`rollback`",
        Rule::kw_if => "`if`",
        Rule::kw_else => "`else`",
        Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_let => "`let`",
        Rule::kw_assert => "`assert`",
        Rule::kw_point_of_no_return => "`point_of_no_return`",
    }
}

/// Operators and postfixes are named as one group in "expected" lists.
fn is_operator(r: Rule) -> bool {
    matches!(
        r,
        Rule::op_or
            | Rule::op_and
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_le
            | Rule::op_ge
            | Rule::op_lt
            | Rule::op_gt
            | Rule::op_in
            | Rule::op_not_in
            | Rule::op_union
            | Rule::op_inter
            | Rule::op_add
            | Rule::op_sub
            | Rule::op_mul
            | Rule::op_div
            | Rule::field_access
            | Rule::index
            | Rule::optional_mark
            | Rule::infix
            | Rule::postfix
    )
}

/// What stands at `at`: a short, quoted description for "found ...".
fn found(input: &str, at: usize) -> String {
    let rest = &input[at.min(input.len())..];
    let Some(c) = rest.chars().next() else {
        return "end of file".to_string();
    };
    if c == '\n' || c == '\r' {
        return "end of line".to_string();
    }
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return format!("`{word}`");
    }
    format!("`{c}`")
}

/// Convert a pest error to a diagnostic; also returns the error's offset in `input`.
pub(crate) fn syntax_error(
    file: FileId,
    offset: usize,
    input: &str,
    err: &pest::error::Error<Rule>,
) -> (Diagnostic, usize) {
    let at = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&'static str> = Vec::new();
    let mut unexpected: Vec<&'static str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError {
        positives,
        negatives,
    } = &err.variant
    {
        for r in positives {
            // Doc comments fit almost anywhere a line can end: naming them helps no one.
            if matches!(r, Rule::doc | Rule::doc_block) {
                continue;
            }
            let n = if is_operator(*r) {
                "an operator"
            } else {
                rule_name(*r)
            };
            if !expected.contains(&n) {
                expected.push(n);
            }
        }
        for r in negatives {
            let n = rule_name(*r);
            if !unexpected.contains(&n) {
                unexpected.push(n);
            }
        }
    }
    let what = found(input, at);
    let end = at
        + input[at.min(input.len())..]
            .chars()
            .next()
            .filter(|c| *c != '\n')
            .map_or(0, |c| {
                if c.is_alphanumeric() || c == '_' {
                    input[at..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .map(char::len_utf8)
                        .sum()
                } else {
                    c.len_utf8()
                }
            });
    let span = Span::new(file, offset + at, offset + end);
    let expected_text = join_or(&expected);
    let (message, label) = if !unexpected.is_empty() && expected.is_empty() {
        (
            format!("unexpected {}", join_or(&unexpected)),
            format!("{} is not allowed here", join_or(&unexpected)),
        )
    } else if expected.is_empty() {
        (
            format!("unexpected {what}"),
            "not expected here".to_string(),
        )
    } else {
        (
            format!("expected {expected_text}, found {what}"),
            format!("expected {expected_text}"),
        )
    };
    let mut d = Diagnostic::error("syntax-error", message).at(span, label);
    d = d.help(syntax_help(input, at, &what, &unexpected));
    (d, at)
}

fn syntax_help(input: &str, at: usize, found: &str, unexpected: &[&str]) -> String {
    let rest = &input[at.min(input.len())..];
    if !unexpected.is_empty() {
        return "keywords cannot be used as names; pick another name".to_string();
    }
    if rest.starts_with("=>") || rest.starts_with("->") {
        return "etcdflow writes arguments as `key: value`".to_string();
    }
    let line_before = input[..at.min(input.len())]
        .rsplit('\n')
        .next()
        .unwrap_or("");
    if line_before.matches("{{").count() > line_before.matches("}}").count() {
        return "an interpolation is still open here: is its `}}` missing?".to_string();
    }
    if let Some(h) = misspelled_action(line_before) {
        return h;
    }
    if let Some((c, line)) = unclosed_bracket(&input[..at.min(input.len())]) {
        return format!(
            "the `{c}` opened on line {line} is never closed: is a `{}` missing?",
            if c == '[' { ']' } else { ')' }
        );
    }
    if found == "end of file" {
        return "the file ends too early: is a `}`, `]`, `)` or `\"` missing?".to_string();
    }
    if found == "end of line" {
        return "a statement ends at the end of its line; continue it with a trailing `\\`"
            .to_string();
    }
    "see the language reference in the README, or `etcdflow explain syntax-error`".to_string()
}

/// The words that begin an action (the grammar's `action_kw`).
const ACTIONS: &[&str] = &[
    "run", "copy", "fetch", "template", "edit", "read", "wait", "fail", "confirm", "log",
];

/// `runn "cmd"` or `let r = rnu "cmd"`: a statement that starts with a word that is no
/// action, followed by an argument.
fn misspelled_action(line: &str) -> Option<String> {
    let t = line.trim_start();
    let t = match t.strip_prefix("let ") {
        Some(rest) => rest.split_once('=').map(|(_, v)| v.trim_start())?,
        None => t,
    };
    let word: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    if word.is_empty() || word.len() != t.trim_end().len() || ACTIONS.contains(&word.as_str()) {
        return None;
    }
    let best = ACTIONS
        .iter()
        .map(|a| (strsim::levenshtein(a, &word), a))
        .min()
        .filter(|(d, _)| *d <= 2)?;
    Some(format!("`{word}` is no action: did you mean `{}`?", best.1))
}

/// The innermost `[` or `(` before `at` that is never closed (strings and comments
/// skipped), with its 1-based line.
fn unclosed_bracket(text: &str) -> Option<(char, usize)> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '#' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '"' | '\'' => {
                while let Some(d) = chars.next() {
                    if d == '\\' && c == '"' {
                        chars.next();
                    } else if d == c {
                        break;
                    } else if d == '\n' {
                        line += 1;
                    }
                }
            }
            '[' | '(' => stack.push((c, line)),
            ']' | ')' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().copied()
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
