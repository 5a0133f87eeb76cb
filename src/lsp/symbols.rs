//! The names a flow declares, from its AST: params, host sets, clusters, steps, blocks,
//! `let` bindings and the locals of `for` and block params; and the uses of a name, from
//! the text (the same name as an identifier that is not a field or a key).

use super::text::{self, Token};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Param,
    Hosts,
    Cluster,
    Step,
    Block,
    Binding,
    /// A `for` variable or a block param: visible inside its block only.
    Local,
}

#[derive(Clone, Debug)]
pub struct Decl {
    pub name: String,
    pub kind: Kind,
    /// The name where it is declared.
    pub span: Span,
    /// The whole item or statement (document symbols).
    pub full: Span,
    /// For a local, the block it is visible in.
    pub scope: Option<Span>,
    pub docs: Vec<String>,
}

/// Every declaration of the files of a program, in source order.
pub fn declarations(files: &[ast::File]) -> Vec<Decl> {
    let mut out = Vec::new();
    for f in files {
        for item in &f.items {
            let d = |name: &ast::Ident, kind| Decl {
                name: name.name.clone(),
                kind,
                span: name.span,
                full: item.span,
                scope: None,
                docs: item.docs.clone(),
            };
            match &item.kind {
                ast::ItemKind::Param(p) => out.push(d(&p.name, Kind::Param)),
                ast::ItemKind::Hosts(h) => out.push(d(&h.name, Kind::Hosts)),
                ast::ItemKind::Cluster(c) => out.push(d(&c.name, Kind::Cluster)),
                ast::ItemKind::Step(s) => {
                    out.push(d(&s.name, Kind::Step));
                    block(&s.body, &mut out);
                }
                ast::ItemKind::Block(b) => {
                    out.push(d(&b.name, Kind::Block));
                    for (p, _) in &b.params {
                        out.push(Decl {
                            name: p.name.clone(),
                            kind: Kind::Local,
                            span: p.span,
                            full: p.span,
                            scope: Some(b.body.span),
                            docs: Vec::new(),
                        });
                    }
                    block(&b.body, &mut out);
                }
                _ => {}
            }
        }
    }
    out
}

fn block(b: &ast::Block, out: &mut Vec<Decl>) {
    for s in &b.stmts {
        match &s.kind {
            ast::StmtKind::Let { name, .. } => out.push(Decl {
                name: name.name.clone(),
                kind: Kind::Binding,
                span: name.span,
                full: s.span,
                scope: None,
                docs: Vec::new(),
            }),
            ast::StmtKind::For { var, body, .. } => {
                out.push(Decl {
                    name: var.name.clone(),
                    kind: Kind::Local,
                    span: var.span,
                    full: s.span,
                    scope: Some(body.span),
                    docs: Vec::new(),
                });
                block(body, out);
            }
            ast::StmtKind::If {
                then, otherwise, ..
            } => {
                block(then, out);
                if let Some(o) = otherwise {
                    block(o, out);
                }
            }
            ast::StmtKind::Rollback(body) => block(body, out),
            _ => {}
        }
    }
}

/// The declaration a use of `name` at `offset` in `file` refers to: a local whose block
/// holds it (the innermost), else the flow-level name.
pub fn resolve<'d>(decls: &'d [Decl], file: FileId, name: &str, offset: usize) -> Option<&'d Decl> {
    let inside =
        |s: Span| s.file == file && (s.start as usize) <= offset && offset <= s.end as usize;
    decls
        .iter()
        .filter(|d| d.name == name && d.kind == Kind::Local && d.scope.is_some_and(inside))
        .min_by_key(|d| d.scope.map_or(u32::MAX, |s| s.end - s.start))
        .or_else(|| {
            decls
                .iter()
                .find(|d| d.name == name && d.kind != Kind::Local)
        })
}

/// The uses (and the declaration) of `decl` in one file's text: identifiers of that name
/// that resolve to it (a field `.name` or a clause key `name:` is not one, except where
/// it is the declaration itself).
pub fn occurrences(decls: &[Decl], decl: &Decl, file: FileId, text: &str) -> Vec<(usize, usize)> {
    text::tokens(text)
        .into_iter()
        .filter(|t: &Token| t.name == decl.name && !t.field)
        .filter(|t| {
            let at_decl = decl.span.file == file && decl.span.start as usize == t.start;
            at_decl
                || (!t.key
                    && resolve(decls, file, &t.name, t.start).is_some_and(|d| d.span == decl.span))
        })
        .map(|t| (t.start, t.end))
        .collect()
}

/// One line of what a declaration is, for hover and symbols.
pub fn describe(d: &Decl, sources: &SourceMap) -> String {
    let full = sources.span_text(d.full);
    let first = full
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('{')
        .trim();
    match d.kind {
        Kind::Step | Kind::Block | Kind::Param | Kind::Hosts | Kind::Cluster | Kind::Binding => {
            first.to_string()
        }
        Kind::Local => format!("{} (local)", sources.span_text(d.span)),
    }
}
