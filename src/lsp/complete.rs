//! Completion and hover, from the checker's own tables (actions and their arguments,
//! step options, builtins, record fields, cluster facts), the flow's declarations and
//! the inventory the document is checked with.

use super::analysis::Analysis;
use super::symbols::{self, Decl, Kind};
use super::text;
use crate::check::builtins::BUILTINS;
use crate::check::schema::{self, ActionSpec, ArgSpec, ArgTy};
use crate::check::types::{cluster_fields, Ty};
use crate::source::FileId;
use lsp_types::{CompletionItem, CompletionItemKind, InsertTextFormat};

const ITEM_KEYWORDS: &[(&str, &str)] = &[
    (
        "flow",
        "flow NAME: the flow's name (after its `##` doc comment)",
    ),
    ("param", "param NAME: TYPE = DEFAULT  ## doc"),
    ("hosts", "hosts NAME = group(\"...\"): a host set"),
    (
        "cluster",
        "cluster NAME { members: HOSTS ... }: an etcd cluster",
    ),
    ("step", "step NAME on HOSTS OPTIONS { ... }"),
    (
        "block",
        "block NAME(p: TYPE) { ... }: statements reused by `use`",
    ),
    (
        "include",
        "include \"file.flow\": splice another file's items in",
    ),
    (
        "point_of_no_return",
        "point_of_no_return \"message\": rollback stops here",
    ),
];

const STMT_KEYWORDS: &[(&str, &str)] = &[
    ("let", "let NAME = ACTION_OR_EXPR: bind a value"),
    ("assert", "assert COND, \"message\""),
    ("if", "if COND { ... } else { ... }"),
    ("for", "for X in XS { ... }"),
    (
        "rollback",
        "rollback { ... }: runs when the run fails after this step started",
    ),
    ("use", "use BLOCK(args): a block's statements here"),
];

const HOST_FIELDS: &[(&str, &str)] = &[
    ("name", "str: the inventory name"),
    ("address", "str: ansible_host, or the name"),
    ("port", "port: the SSH port"),
    ("user", "str: the SSH user"),
    ("groups", "list[str]: the host's groups"),
    ("vars", "the host's inventory variables: `host.vars.NAME`"),
];

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: (!detail.is_empty()).then(|| detail.to_string()),
        ..CompletionItem::default()
    }
}

pub fn arg_ty(t: &ArgTy) -> String {
    match t {
        ArgTy::T(t) => t.to_string(),
        ArgTy::Command => "shell string or argv list".into(),
        ArgTy::Text => "str or secret".into(),
        ArgTy::Choice(c) => c
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(" | "),
        ArgTy::Mode => "octal mode string (\"0644\")".into(),
        ArgTy::LocalPath => "path on the controller".into(),
        ArgTy::RemotePath => "absolute path on the host".into(),
        ArgTy::Vars => "map of template variables".into(),
        ArgTy::ClusterName => "a declared cluster".into(),
        ArgTy::Flag => "flag".into(),
    }
}

fn arg_item(a: &ArgSpec) -> CompletionItem {
    let flag = matches!(a.ty, ArgTy::Flag);
    CompletionItem {
        label: a.name.to_string(),
        kind: Some(CompletionItemKind::PROPERTY),
        detail: Some(format!(
            "{}{}",
            arg_ty(&a.ty),
            if a.required { " (required)" } else { "" }
        )),
        documentation: Some(lsp_types::Documentation::String(a.doc.to_string())),
        insert_text: Some(if flag {
            a.name.to_string()
        } else {
            format!("{}: ", a.name)
        }),
        ..CompletionItem::default()
    }
}

pub fn action_doc(spec: &ActionSpec) -> String {
    let mut s = format!("**{}** — {}\n\n", spec.verb, spec.doc);
    if let Some((name, ty, req)) = &spec.positional {
        s.push_str(&format!(
            "- `{name}` (positional{}): {}\n",
            if *req { ", required" } else { "" },
            arg_ty(ty)
        ));
    }
    for a in &spec.args {
        s.push_str(&format!(
            "- `{}:` {}{} — {}\n",
            a.name,
            arg_ty(&a.ty),
            if a.required { " (required)" } else { "" },
            a.doc
        ));
    }
    s.push_str(&format!("\nresult: `{}`", spec.result));
    s
}

/// The type of a flow-level name (a param or a `let` binding).
fn type_of(a: &Analysis, name: &str) -> Option<Ty> {
    let flow = a.flow.as_ref()?;
    flow.params
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.ty.clone())
        .or_else(|| {
            flow.bindings
                .iter()
                .rev()
                .find(|b| b.name == name)
                .map(|b| b.ty.clone())
        })
}

fn fields_of(ty: &Ty) -> Vec<(String, String)> {
    match ty {
        Ty::Record(r) => r
            .fields()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
        Ty::Cluster => cluster_fields()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
        Ty::Optional(t) => fields_of(t),
        _ => Vec::new(),
    }
}

/// The action a line's statement starts with (`run`, `let r = etcd.members`...).
fn verb_of_line(line: &str) -> Option<&'static ActionSpec> {
    let t = line.trim_start();
    let t = match t.strip_prefix("let ") {
        Some(rest) => rest.split_once('=').map_or("", |(_, v)| v.trim_start()),
        None => t,
    };
    let verb: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    schema::action(&verb)
}

pub fn complete(
    a: &Analysis,
    decls: &[Decl],
    file: FileId,
    text_: &str,
    offset: usize,
) -> Vec<CompletionItem> {
    let offset = offset.min(text_.len());
    let line_start = text_[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text_[line_start..offset];
    let cx = text::context(text_, offset);
    let word = text::word_before(text_, offset);
    let before_word = &line[..line.len() - word.len()];
    let mut out = Vec::new();
    if cx.in_string && !cx.in_interp {
        if before_word.ends_with("group(\"")
            || line
                .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                .ends_with("group(\"")
        {
            if let Some(f) = &a.facts {
                out.extend(
                    f.groups
                        .keys()
                        .map(|g| item(g, CompletionItemKind::ENUM_MEMBER, "inventory group")),
                );
            }
        }
        return out;
    }
    if let Some((base, _)) = word.rsplit_once('.') {
        match base {
            "host" => out.extend(
                HOST_FIELDS
                    .iter()
                    .map(|(n, d)| item(n, CompletionItemKind::FIELD, d)),
            ),
            "host.vars" => {
                if let Some(f) = &a.facts {
                    let mut names: Vec<&String> = f.var_names.values().flatten().collect();
                    names.sort();
                    names.dedup();
                    out.extend(
                        names
                            .into_iter()
                            .map(|n| item(n, CompletionItemKind::VARIABLE, "inventory variable")),
                    );
                }
            }
            _ => {}
        }
        if matches!(base, "etcd" | "tls") && before_word.trim().is_empty()
            || before_word.trim_end().ends_with('=')
        {
            let prefix = format!("{base}.");
            out.extend(
                schema::actions()
                    .iter()
                    .filter_map(|s| s.verb.strip_prefix(prefix.as_str()).map(|rest| (rest, s)))
                    .map(|(rest, s)| item(rest, CompletionItemKind::FUNCTION, s.doc)),
            );
        }
        let root = base.split('.').next().unwrap_or(base);
        if !base.contains('.') {
            if decls
                .iter()
                .any(|d| d.name == root && d.kind == Kind::Cluster)
            {
                out.extend(
                    cluster_fields()
                        .into_iter()
                        .map(|(n, t)| item(n, CompletionItemKind::FIELD, &t.to_string())),
                );
            } else if let Some(t) = type_of(a, root) {
                out.extend(
                    fields_of(&t)
                        .into_iter()
                        .map(|(n, t)| item(&n, CompletionItemKind::FIELD, &t)),
                );
            }
        }
        return out;
    }
    let statement_start = before_word.trim().is_empty();
    if statement_start && cx.depth == 0 {
        out.extend(
            ITEM_KEYWORDS
                .iter()
                .map(|(k, d)| item(k, CompletionItemKind::KEYWORD, d)),
        );
        return out;
    }
    if statement_start {
        out.extend(
            STMT_KEYWORDS
                .iter()
                .map(|(k, d)| item(k, CompletionItemKind::KEYWORD, d)),
        );
        out.extend(
            schema::actions()
                .iter()
                .map(|s| item(s.verb, CompletionItemKind::FUNCTION, s.doc)),
        );
        return out;
    }
    let trimmed = before_word.trim_start();
    if trimmed.starts_with("use ") && !trimmed.contains('(') {
        out.extend(
            decls
                .iter()
                .filter(|d| d.kind == Kind::Block)
                .map(|d| item(&d.name, CompletionItemKind::MODULE, "block")),
        );
        return out;
    }
    if cx.depth == 0 && trimmed.starts_with("step ") && trimmed.contains(" on ") {
        out.extend(schema::step_options().args.iter().map(arg_item));
    } else if !cx.in_interp {
        if let Some(spec) = verb_of_line(line) {
            out.extend(spec.args.iter().map(arg_item));
        }
    }
    // Expression names in scope.
    for d in decls {
        let visible = match d.kind {
            Kind::Local => d.scope.is_some_and(|s| {
                s.file == file && (s.start as usize) <= offset && offset <= s.end as usize
            }),
            Kind::Step => false,
            _ => true,
        };
        if visible {
            let kind = match d.kind {
                Kind::Param => CompletionItemKind::CONSTANT,
                Kind::Hosts => CompletionItemKind::ENUM,
                Kind::Cluster => CompletionItemKind::STRUCT,
                Kind::Block => CompletionItemKind::MODULE,
                _ => CompletionItemKind::VARIABLE,
            };
            let ty = type_of(a, &d.name)
                .map(|t| t.to_string())
                .unwrap_or_default();
            out.push(item(&d.name, kind, &ty));
        }
    }
    for (name, _, _, sig) in BUILTINS {
        let mut it = item(name, CompletionItemKind::FUNCTION, sig);
        it.insert_text = Some(format!("{name}($1)"));
        it.insert_text_format = Some(InsertTextFormat::SNIPPET);
        out.push(it);
    }
    for (k, d) in [
        ("host", "the step's current host"),
        ("local", "the controller"),
        ("true", "bool"),
        ("false", "bool"),
        ("none", "the empty optional"),
    ] {
        out.push(item(k, CompletionItemKind::KEYWORD, d));
    }
    out
}

/// Markdown for the name or diagnostic under the cursor.
pub fn hover(
    a: &Analysis,
    decls: &[Decl],
    file: FileId,
    text_: &str,
    offset: usize,
) -> Option<String> {
    let mut parts = Vec::new();
    for d in &a.diagnostics {
        if d.labels.iter().any(|l| {
            l.primary
                && l.span.file == file
                && (l.span.start as usize) <= offset
                && offset <= l.span.end as usize
        }) {
            let mut s = format!("**[{}]** {}", d.code, d.message);
            if let Some(h) = &d.help {
                s.push_str(&format!("\n\nhelp: {h}"));
            }
            if let Some(info) = crate::diagnostics::codes::CODES
                .iter()
                .find(|c| c.code == d.code)
            {
                s.push_str(&format!(
                    "\n\n---\n`etcdflow explain {}`: {}\n\n{}",
                    d.code, info.summary, info.explanation
                ));
            }
            parts.push(s);
        }
    }
    if let Some((s, e)) = text::word_at(text_, offset) {
        let b = text_.as_bytes();
        // A dotted verb (`etcd.member_add`): the whole of it.
        let mut vs = s;
        while vs > 0
            && (b[vs - 1] == b'.' || b[vs - 1].is_ascii_alphanumeric() || b[vs - 1] == b'_')
        {
            vs -= 1;
        }
        let dotted = &text_[vs..e];
        let word = &text_[s..e];
        let line_start = text_[..s].rfind('\n').map_or(0, |i| i + 1);
        let line = &text_[line_start..e];
        let followed_by = |c: u8| text_[e..].trim_start_matches(' ').as_bytes().first() == Some(&c);
        if let Some(spec) =
            schema::action(dotted).filter(|_| verb_of_line(line).is_some_and(|v| v.verb == dotted))
        {
            parts.push(action_doc(spec));
        } else if followed_by(b':')
            && text::context(text_, s).depth == 0
            && line.trim_start().starts_with("step ")
        {
            if let Some(o) = schema::step_options().arg(word) {
                parts.push(format!("**{}:** {} — {}", o.name, arg_ty(&o.ty), o.doc));
            }
        } else if followed_by(b':') && verb_of_line(line).is_some() {
            if let Some(arg) = verb_of_line(line).and_then(|v| v.arg(word)) {
                parts.push(format!(
                    "**{}:** {}{} — {}",
                    arg.name,
                    arg_ty(&arg.ty),
                    if arg.required { " (required)" } else { "" },
                    arg.doc
                ));
            }
        } else if followed_by(b'(') {
            if let Some((_, _, _, sig)) = BUILTINS.iter().find(|b| b.0 == word) {
                parts.push(format!("```\n{sig}\n```"));
            }
        } else if word == "host" && vs == s {
            parts.push(format!(
                "**host**: the step's current host — {}",
                HOST_FIELDS
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if vs == s {
            if let Some(d) = symbols::resolve(decls, file, word, s) {
                let mut h = format!("```\n{}\n```", symbols::describe(d, &a.sources));
                if let Some(t) =
                    type_of(a, word).filter(|_| matches!(d.kind, Kind::Param | Kind::Binding))
                {
                    h.push_str(&format!("\n\ntype: `{t}`"));
                }
                if !d.docs.is_empty() {
                    h.push_str(&format!("\n\n{}", d.docs.join("\n")));
                }
                parts.push(h);
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n\n---\n\n"))
}
