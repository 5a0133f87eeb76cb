//! Expressions: name resolution, operator and builtin typing, literal validation.

use super::types::Ty;
use super::values::{validate_path, validate_url};
use super::Checker;
use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::ir::{self, ExprKind as K};
use crate::source::Span;
use crate::syntax::ast::{self, BinOp, UnaryOp};

impl Checker<'_> {
    pub(super) fn err_expr(span: Span) -> ir::Expr {
        ir::Expr {
            kind: K::Error,
            ty: Ty::Error,
            span,
        }
    }

    /// Check `e` where a value of type `want` is expected (`what` names the place).
    pub(crate) fn expect(&mut self, e: &ast::Expr, want: &Ty, what: &str) -> ir::Expr {
        let x = self.expr(e);
        self.expect_built(x, want, what)
    }

    /// [`Self::expect`] of an expression already checked.
    pub(crate) fn expect_built(&mut self, x: ir::Expr, want: &Ty, what: &str) -> ir::Expr {
        self.validate_literal(&x, want);
        if !x.ty.fits(want) {
            if x.ty.contains_secret() {
                self.secret_leak(x.span, what);
            } else {
                let found = x.ty.clone();
                let help = conversion_help(&found, want);
                self.emit(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("{what} must be `{want}`, found `{found}`"),
                    )
                    .at(x.span, format!("this is `{found}`"))
                    .help(help),
                );
            }
            return ir::Expr { ty: Ty::Error, ..x };
        }
        x
    }

    /// `base[index]` of two checked expressions.
    fn index_built(&mut self, b: ir::Expr, ix: ir::Expr, base_span: Span, span: Span) -> ir::Expr {
        let (want_idx, elem) = match &b.ty {
            Ty::List(t) => (Ty::Int, (**t).clone()),
            Ty::Map(t) => (Ty::Str, (**t).clone()),
            Ty::Hosts => (Ty::Int, Ty::Host),
            Ty::Json | Ty::Error => (Ty::Json, b.ty.clone()),
            other => {
                let other = other.clone();
                self.emit(
                    Diagnostic::error("type-mismatch", format!("cannot index a `{other}`"))
                        .at(base_span, format!("this is `{other}`"))
                        .help("lists, maps, host sets and json can be indexed; a value bound per host is read with `r[h]` for a host `h`"),
                );
                return Self::err_expr(span);
            }
        };
        let i = self.expect_built(ix, &want_idx, "an index");
        ir::Expr {
            kind: K::Index {
                base: Box::new(b),
                index: Box::new(i),
            },
            ty: elem,
            span,
        }
    }

    /// A name naming a per-host flow binding (not one bound once).
    fn per_host_binding(&self, base: &ast::Expr) -> Option<usize> {
        let ast::ExprKind::Name(n) = &base.kind else {
            return None;
        };
        if self.locals.iter().flatten().any(|l| &l.name == n) {
            return None;
        }
        let i = *self.binding_index.get(n)?;
        (!self.bindings[i].global).then_some(i)
    }

    pub(crate) fn secret_leak(&mut self, span: Span, what: &str) {
        self.emit(
            Diagnostic::error("secret-in-command", format!("a secret cannot be used as {what}"))
                .at(span, "this is a `secret`")
                .note("secrets never reach command lines, logs, strings or the journal (SAFETY.md invariant 24)")
                .help("pass it with `stdin:` on `run`, `content:` on `copy`, or `password:` on a cluster"),
        );
    }

    /// Literal checks that depend on the expected type: ports, URLs, paths.
    pub(crate) fn validate_literal(&mut self, x: &ir::Expr, want: &Ty) {
        match (want.strip_optional(), &x.kind) {
            (Ty::Port, K::Int(n)) if !(1..=65535).contains(n) => self.emit(
                Diagnostic::error("invalid-port", format!("port {n} is out of range"))
                    .at(x.span, "ports are 1..65535")
                    .help("etcd uses 2379 (client) and 2380 (peer) by default; ICP uses 4001"),
            ),
            (Ty::Url, K::Str(s)) => {
                if let Err(why) = validate_url(s) {
                    self.emit(
                        Diagnostic::error("invalid-url", format!("`{s}` is not a valid URL"))
                            .at(x.span, why)
                            .help("write the scheme explicitly: `https://10.0.0.1:2380`"),
                    );
                }
            }
            (Ty::Path, K::Str(s)) => {
                if let Err(why) = validate_path(s, false) {
                    self.emit(
                        Diagnostic::error("invalid-path", format!("`{s}` is not a usable path"))
                            .at(x.span, why)
                            .help("use a non-empty path that is not `/`"),
                    );
                }
            }
            _ => {}
        }
    }

    pub(crate) fn expr(&mut self, e: &ast::Expr) -> ir::Expr {
        let span = e.span;
        let mk = |kind, ty| ir::Expr { kind, ty, span };
        match &e.kind {
            ast::ExprKind::Str(s) => self.string(s),
            ast::ExprKind::Int(n) => mk(K::Int(*n), Ty::Int),
            ast::ExprKind::Bool(b) => mk(K::Bool(*b), Ty::Bool),
            ast::ExprKind::None => mk(K::None, Ty::NoneTy),
            ast::ExprKind::Duration(ms) => mk(K::Duration(*ms), Ty::Duration),
            ast::ExprKind::Size(b) => mk(K::Size(*b), Ty::Size),
            ast::ExprKind::Invalid(why) => {
                self.emit(
                    Diagnostic::error("invalid-literal", why.clone())
                        .at(span, "invalid literal")
                        .help("durations: `500ms`, `30s`, `5m`, `1h30m`; sizes: `512MiB`, `2GB`; integers fit in 64 bits"),
                );
                Self::err_expr(span)
            }
            ast::ExprKind::Name(n) => self.name(n, span),
            ast::ExprKind::List(items) => {
                let xs: Vec<ir::Expr> = items.iter().map(|i| self.expr(i)).collect();
                let mut elem: Option<Ty> = None;
                for x in &xs {
                    match &elem {
                        None if x.ty.contains_secret() => {
                            self.secret_leak(x.span, "a list item");
                            elem = Some(Ty::Error);
                        }
                        None => elem = Some(x.ty.clone()),
                        Some(_) if x.ty.contains_secret() => {
                            self.secret_leak(x.span, "a list item")
                        }
                        Some(t) if x.ty.fits(t) => {}
                        Some(t) if t.fits(&x.ty) => elem = Some(x.ty.clone()),
                        Some(t) => {
                            let t = t.clone();
                            self.emit(
                                Diagnostic::error(
                                    "type-mismatch",
                                    format!(
                                        "list items must have one type; this one is `{}`",
                                        x.ty
                                    ),
                                )
                                .at(x.span, format!("`{}` in a list of `{t}`", x.ty))
                                .help("make every item the same type"),
                            );
                        }
                    }
                }
                let elem = elem.unwrap_or(Ty::Str);
                mk(K::List(xs), Ty::list(elem))
            }
            ast::ExprKind::Map(entries) => {
                // Only the outermost map of a template's `vars:` (nested maps are checked here).
                let template_vars = std::mem::take(&mut self.template_vars);
                let mut seen: Vec<(&str, Span)> = Vec::new();
                let mut out = Vec::new();
                let mut elem: Option<Ty> = None;
                for (k, v) in entries {
                    if let Some((_, prev)) = seen.iter().find(|(n, _)| *n == k.name) {
                        let prev = *prev;
                        self.emit(
                            Diagnostic::error(
                                "duplicate-argument",
                                format!("key `{}` appears twice in this map", k.name),
                            )
                            .at(k.span, "again here")
                            .also(prev, "first here")
                            .help("remove one of them"),
                        );
                    }
                    seen.push((&k.name, k.span));
                    let x = self.expr(v);
                    // As in a list: a secret inside a map would lose its secrecy (a map
                    // reaches `env:`, templates and logs), so it cannot go in one.
                    if x.ty.contains_secret() {
                        if !template_vars {
                            self.secret_leak(x.span, "a map value");
                        }
                        out.push((k.name.clone(), x));
                        continue;
                    }
                    elem = match elem {
                        None => Some(x.ty.clone()),
                        Some(t) if x.ty.fits(&t) => Some(t),
                        Some(t) if t.fits(&x.ty) => Some(x.ty.clone()),
                        Some(_) => Some(Ty::Json),
                    };
                    out.push((k.name.clone(), x));
                }
                mk(K::Map(out), Ty::Map(Box::new(elem.unwrap_or(Ty::Str))))
            }
            ast::ExprKind::Call { func, args } => self.call(func, args, span, false),
            ast::ExprKind::Comprehension {
                elem,
                var,
                iter,
                cond,
            } => {
                let it = self.expr(iter);
                let item = self.loop_elem(&it);
                self.locals.push(vec![super::Local {
                    name: var.name.clone(),
                    ty: item,
                    span: var.span,
                    used: false,
                    report_unused: false,
                    cluster: None,
                }]);
                let cond = cond
                    .as_ref()
                    .map(|c| Box::new(self.expect(c, &Ty::Bool, "a comprehension's `if`")));
                let elem = self.expr(elem);
                self.pop_locals();
                if elem.ty.contains_secret() {
                    self.secret_leak(elem.span, "a list item");
                }
                let ty = Ty::List(Box::new(elem.ty.clone()));
                mk(
                    K::Comprehension {
                        var: var.name.clone(),
                        iter: Box::new(it),
                        cond,
                        elem: Box::new(elem),
                    },
                    ty,
                )
            }
            ast::ExprKind::Optional(inner) => match &inner.kind {
                ast::ExprKind::Call { func, args } if func.name == "group" => {
                    self.call(func, args, span, true)
                }
                _ => {
                    self.emit(
                        Diagnostic::error("misplaced-optional", "`?` only makes an inventory group optional")
                            .at(span, "`?` on something that is not `group(...)`")
                            .help("write `group(\"name\")?`; for a default value use `default(x, fallback)`"),
                    );
                    self.expr(inner)
                }
            },
            ast::ExprKind::Field { base, field } => {
                let b = self.expr(base);
                if let K::Field { base: hb, field: f } = &b.kind {
                    if matches!(hb.kind, K::CurrentHost) && f == "vars" && !self.allow_unbound {
                        self.host_var_uses.push((field.name.clone(), span));
                    }
                }
                let ty = match &b.ty {
                    Ty::Map(t) => Some((**t).clone()),
                    t => t.field(&field.name),
                };
                match ty {
                    Some(ty) => mk(
                        K::Field {
                            base: Box::new(b),
                            field: field.name.clone(),
                        },
                        ty,
                    ),
                    None => {
                        let names = b.ty.field_names();
                        let help = if names.is_empty() {
                            format!("a `{}` has no fields", b.ty)
                        } else {
                            did_you_mean(&field.name, names.iter().copied(), "fields")
                        };
                        self.emit(
                            Diagnostic::error(
                                "unknown-field",
                                format!("`{}` has no field `{}`", b.ty, field.name),
                            )
                            .at(field.span, "unknown field")
                            .help(help),
                        );
                        Self::err_expr(span)
                    }
                }
            }
            ast::ExprKind::Index { base, index } => {
                // `r[h]` on a per-host binding: host `h`'s value.
                if let Some(i) = self.per_host_binding(base) {
                    let ix = self.expr(index);
                    if ix.ty == Ty::Host {
                        return self.binding_on(i, ix, span);
                    }
                    let b = self.expr(base);
                    return self.index_built(b, ix, base.span, span);
                }
                let b = self.expr(base);
                let ix = self.expr(index);
                self.index_built(b, ix, base.span, span)
            }
            ast::ExprKind::Unary { op, expr } => {
                let (want, what) = match op {
                    UnaryOp::Not => (Ty::Bool, "the operand of `not`"),
                    UnaryOp::Neg => (Ty::Int, "the operand of `-`"),
                };
                let x = self.expect(expr, &want, what);
                mk(
                    K::Unary {
                        op: *op,
                        expr: Box::new(x),
                    },
                    want,
                )
            }
            ast::ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
        }
    }

    fn name(&mut self, n: &str, span: Span) -> ir::Expr {
        let mk = |kind, ty| ir::Expr { kind, ty, span };
        for frame in self.locals.iter_mut().rev() {
            if let Some(l) = frame.iter_mut().rev().find(|l| l.name == n) {
                l.used = true;
                if let Some(c) = l.cluster {
                    return mk(K::Cluster(c), Ty::Cluster);
                }
                return mk(
                    K::Binding(ir::BindingRef::Local(n.to_string())),
                    l.ty.clone(),
                );
            }
        }
        if n == "host" {
            if !self.in_step {
                self.emit(
                    Diagnostic::error(
                        "misplaced-step-variable",
                        "`host` only exists inside a step",
                    )
                    .at(span, "no step runs here")
                    .help("use `host` in a step's body, `when:` or `until:`"),
                );
                return Self::err_expr(span);
            }
            return mk(K::CurrentHost, Ty::Host);
        }
        if n == "local" {
            return mk(K::Local, Ty::Hosts);
        }
        if let Some(&i) = self.binding_index.get(n) {
            self.reach(i, span);
            let b = &mut self.bindings[i];
            b.used = true;
            return mk(K::Binding(ir::BindingRef::Flow(i)), b.ty.clone());
        }
        if let Some((i, p)) = self
            .params
            .iter_mut()
            .enumerate()
            .find(|(_, p)| p.name == n)
        {
            p.used = true;
            return mk(K::Param(i), p.ty.clone());
        }
        let visible = self.hosts_visible;
        if let Some((i, h)) = self
            .hosts
            .iter_mut()
            .enumerate()
            .take(visible)
            .find(|(_, h)| h.name == n)
        {
            h.used = true;
            return mk(K::Hosts(i), Ty::Hosts);
        }
        if let Some((i, c)) = self
            .clusters
            .iter_mut()
            .enumerate()
            .find(|(_, c)| c.name == n)
        {
            c.used = true;
            return mk(K::Cluster(i), Ty::Cluster);
        }
        if let Some((_, def)) = self.gone_locals.iter().rev().find(|(g, _)| g == n).cloned() {
            // One mistake, one diagnostic: it is used, only in the wrong place.
            self.diags.retain(|d| {
                !(d.code == "unused-binding" && d.labels.first().is_some_and(|l| l.span == def))
            });
            self.emit(
                Diagnostic::error("unknown-name", format!("`{n}` is bound only inside a block"))
                    .at(span, "used after that block ended")
                    .also(def, "bound here, inside an `if`, a `for` or a used block")
                    .help(format!("bind `{n}` directly in the step's body (a step-level `let` is visible to later statements and steps), or use it inside the block")),
            );
            return Self::err_expr(span);
        }
        if let Some(def) = self.later_bindings.get(n).copied() {
            self.emit(
                Diagnostic::error("use-before-definition", format!("`{n}` is used before it is bound"))
                    .at(span, "used here")
                    .also(def, "bound later, here")
                    .help("move the `let` above this use; a rollback block sees only what was bound before it"),
            );
            return Self::err_expr(span);
        }
        if let Some(def) = self.later_hosts.get(n).copied() {
            self.emit(
                Diagnostic::error(
                    "use-before-definition",
                    format!("host set `{n}` is used before it is declared"),
                )
                .at(span, "used here")
                .also(def, "declared later, here")
                .help("a host set may only use host sets declared above it"),
            );
            return Self::err_expr(span);
        }
        if !self.prog.recovered {
            let mut cands: Vec<String> = self.params.iter().map(|p| p.name.clone()).collect();
            cands.extend(self.hosts.iter().map(|h| h.name.clone()));
            cands.extend(self.clusters.iter().map(|c| c.name.clone()));
            cands.extend(self.bindings.iter().map(|b| b.name.clone()));
            cands.extend(self.locals.iter().flatten().map(|l| l.name.clone()));
            if self.in_step {
                cands.push("host".into());
            }
            let help = did_you_mean(n, cands.iter().map(String::as_str), "names");
            let help = if self.in_default && self.all_params.iter().any(|p| p == n) {
                format!("a param's default is a constant and cannot use `{n}`: leave the default out and compute the value in a step (`let x = \"{{{{ {n} }}}}-...\"`), or give both with `-e`")
            } else if let Some(h) = ansible_name(n) {
                h.to_string()
            } else if n.starts_with(char::is_uppercase) || n.contains('-') {
                help
            } else if crate::diagnostics::suggest(n, cands.iter().map(String::as_str)).is_none() {
                format!("{help}; text needs quotes: \"{n}\"")
            } else {
                help
            };
            self.emit(
                Diagnostic::error("unknown-name", format!("unknown name `{n}`"))
                    .at(span, "not defined")
                    .help(help),
            );
        }
        Self::err_expr(span)
    }

    fn string(&mut self, s: &ast::StrLit) -> ir::Expr {
        if let Some(plain) = s.as_plain() {
            return ir::Expr {
                kind: K::Str(plain),
                ty: Ty::Str,
                span: s.span,
            };
        }
        let mut parts = Vec::new();
        // Only this string may carry a secret, not strings nested in its `{{ }}`.
        let secret_ok = std::mem::take(&mut self.secret_text);
        let mut secret = false;
        for p in &s.parts {
            match p {
                ast::StrPart::Text(t) => parts.push(ir::InterpPart::Text(t.clone())),
                ast::StrPart::BadEscape(esc, sp) => self.emit(
                    Diagnostic::error("invalid-escape", format!("unknown escape `{esc}`"))
                        .at(*sp, "not an escape sequence")
                        .help("escapes are \\n \\t \\r \\\\ \\\" \\' \\{ \\} \\$; use a '...' string for literal backslashes"),
                ),
                ast::StrPart::Interp(e) => {
                    let (inner, raw) = match &e.kind {
                        ast::ExprKind::Call { func, args } if func.name == "raw" && args.len() == 1 => (&args[0], true),
                        _ => (e, false),
                    };
                    let x = self.expr(inner);
                    if secret_ok && !raw && x.ty == Ty::Secret {
                        secret = true;
                    } else if x.ty.contains_secret() {
                        self.secret_leak(x.span, "text inside `{{ }}`");
                    } else if !x.ty.interpolable() {
                        let t = x.ty.clone();
                        let help = match t {
                            Ty::List(_) => "turn it into text with `join(list, \" \")`",
                            Ty::Hosts => "use `join(names(hosts), \",\")`",
                            Ty::Cluster => "use a fact such as `main.leader.name`",
                            _ => "interpolate one of its fields instead",
                        };
                        self.emit(
                            Diagnostic::error("not-interpolable", format!("a `{t}` cannot be put inside `{{{{ }}}}`"))
                                .at(x.span, format!("this is `{t}`"))
                                .help(help),
                        );
                    }
                    parts.push(ir::InterpPart::Value { expr: x, raw });
                }
            }
        }
        self.secret_text = secret_ok;
        ir::Expr {
            kind: K::Interp(parts),
            // A text with a secret in it is a secret (written to a file or fed to stdin,
            // never shown).
            ty: if secret { Ty::Secret } else { Ty::Str },
            span: s.span,
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &ast::Expr, rhs: &ast::Expr, span: Span) -> ir::Expr {
        use Ty::*;
        // `x | join(",")`, `x | trim`: a Jinja filter, where etcdflow calls a function.
        if op == BinOp::Union {
            let filter = match &rhs.kind {
                ast::ExprKind::Call { func, args } => Some((func.name.clone(), args.len())),
                ast::ExprKind::Name(n) => Some((n.clone(), 0)),
                _ => None,
            };
            if let Some((f, n)) = filter
                .filter(|(f, _)| f != "group" && super::builtins::BUILTINS.iter().any(|b| b.0 == f))
            {
                let more = if n == 0 { "" } else { ", ..." };
                self.expr(lhs);
                self.emit(
                    Diagnostic::error("jinja-filter", format!("`| {f}` is a Jinja filter; etcdflow calls functions"))
                        .at(rhs.span, "a filter")
                        .help(format!("write `{f}(x{more})`: the value goes first, e.g. `join(names(masters), \",\")`; `|` joins host sets")),
                );
                return Self::err_expr(span);
            }
        }
        let l = self.expr(lhs);
        let r = self.expr(rhs);
        if l.ty.contains_secret() || r.ty.contains_secret() {
            let s = if l.ty.contains_secret() {
                l.span
            } else {
                r.span
            };
            self.secret_leak(s, &format!("an operand of `{}`", op.symbol()));
            return Self::err_expr(span);
        }
        let (lt, rt) = (l.ty.clone(), r.ty.clone());
        let ty = if lt == Error || rt == Error {
            Some(match op {
                BinOp::Or
                | BinOp::And
                | BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::In
                | BinOp::NotIn => Bool,
                _ => Error,
            })
        } else {
            match op {
                BinOp::Or | BinOp::And => (lt.fits(&Bool) && rt.fits(&Bool)).then_some(Bool),
                BinOp::Eq | BinOp::Ne => {
                    (lt.fits(&rt) || rt.fits(&lt) || lt == NoneTy || rt == NoneTy).then_some(Bool)
                }
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    let ok = matches!(
                        (lt.strip_optional(), rt.strip_optional()),
                        (Int | Port, Int | Port)
                            | (Duration, Duration)
                            | (Size, Size)
                            | (Str, Str)
                            | (Json, _)
                            | (_, Json)
                    );
                    ok.then_some(Bool)
                }
                BinOp::In | BinOp::NotIn => {
                    let ok = match &rt {
                        List(t) => lt.fits(t),
                        Map(_) | Str => lt.fits(&Str),
                        Hosts => lt.fits(&Host),
                        Json => true,
                        _ => false,
                    };
                    ok.then_some(Bool)
                }
                BinOp::Union | BinOp::Intersect => {
                    (lt.fits(&Hosts) && rt.fits(&Hosts)).then_some(Hosts)
                }
                BinOp::Add => match (&lt, &rt) {
                    (Int | Port, Int | Port) => Some(Int),
                    (Duration, Duration) => Some(Duration),
                    (Size, Size) => Some(Size),
                    (Str | Path | Url, Str | Path | Url) => {
                        Some(if lt == Path { Path } else { Str })
                    }
                    (List(a), List(b)) if b.fits(a) => Some(lt.clone()),
                    _ => None,
                },
                BinOp::Sub => match (&lt, &rt) {
                    (Int | Port, Int | Port) => Some(Int),
                    (Duration, Duration) => Some(Duration),
                    (Size, Size) => Some(Size),
                    (Hosts | Host, Hosts | Host) => Some(Hosts),
                    _ => None,
                },
                BinOp::Mul => match (&lt, &rt) {
                    (Int, Int) => Some(Int),
                    (Duration, Int) | (Int, Duration) => Some(Duration),
                    (Size, Int) | (Int, Size) => Some(Size),
                    _ => None,
                },
                BinOp::Div => match (&lt, &rt) {
                    (Int, Int) => Some(Int),
                    (Duration, Int) => Some(Duration),
                    (Size, Int) => Some(Size),
                    _ => None,
                },
            }
        };
        let Some(ty) = ty else {
            self.emit(
                Diagnostic::error(
                    "type-mismatch",
                    format!("`{}` cannot combine `{lt}` and `{rt}`", op.symbol()),
                )
                .at(span, format!("`{lt}` {} `{rt}`", op.symbol()))
                .also(l.span, format!("`{lt}`"))
                .also(r.span, format!("`{rt}`"))
                .help(op_help(op)),
            );
            return Self::err_expr(span);
        };
        ir::Expr {
            kind: K::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            ty,
            span,
        }
    }
}

fn op_help(op: BinOp) -> &'static str {
    match op {
        BinOp::Or | BinOp::And => "`and`/`or` combine booleans; compare values first (`r.rc == 0`)",
        BinOp::Eq | BinOp::Ne => "compare values of the same type; convert with `to_str`/`to_int`",
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            "order compares ints, durations, sizes or strings of the same type"
        }
        BinOp::In | BinOp::NotIn => {
            "`x in list` needs x of the list's item type; `host in hosts`; `\"s\" in str`"
        }
        BinOp::Union | BinOp::Intersect => "`|` and `&` combine host sets",
        BinOp::Add => "`+` adds numbers, durations or sizes, joins strings and lists",
        BinOp::Sub => "`-` subtracts numbers, durations or sizes, or removes hosts from a host set",
        BinOp::Mul | BinOp::Div => "`*` and `/` take ints, or a duration or size and an int",
    }
}

fn conversion_help(found: &Ty, want: &Ty) -> String {
    match (found, want) {
        (Ty::Str, Ty::Duration) => "write a duration without quotes: `5m`, `30s`".into(),
        (Ty::Str, Ty::Int | Ty::Port) => {
            "write the number without quotes, or convert with `to_int(...)`".into()
        }
        (Ty::Str, Ty::Size) => "write a size without quotes: `512MiB`".into(),
        (Ty::Str, Ty::Bool) => "write `true` or `false` without quotes".into(),
        (Ty::Int | Ty::Bool | Ty::Duration | Ty::Size | Ty::Port, Ty::Str) => {
            "convert with `to_str(...)` or write it inside a string: \"{{ x }}\"".into()
        }
        (Ty::Hosts, Ty::Host) => "pick one host with `first(...)` or `nth(..., i)`".into(),
        (Ty::Str, Ty::Hosts) => "host sets come from the inventory: `group(\"name\")`".into(),
        (Ty::Record(r), Ty::Str) if *r == super::types::Record::CommandResult => {
            "use `.stdout` for the command's output".into()
        }
        (Ty::Optional(t), w) if t.fits(w) => {
            "this may be `none`: give a fallback with `default(x, value)`".into()
        }
        _ => format!("give a `{want}` here"),
    }
}

/// What an Ansible/Jinja habit is written as here.
fn ansible_name(n: &str) -> Option<&'static str> {
    Some(match n {
        "inventory_hostname" | "inventory_hostname_short" | "ansible_hostname" => {
            "that is Ansible's name for the host: here it is `host.name`"
        }
        "ansible_host" | "ansible_default_ipv4" => {
            "that is Ansible's address variable: here it is `host.address`"
        }
        "hostvars" => {
            "Ansible's `hostvars`: here a host's inventory variables are `h.vars.NAME`, and a value another host bound is `r[h]`"
        }
        "groups" => "Ansible's `groups['x']`: here it is `group(\"x\")` (hosts) or `names(group(\"x\"))`",
        "item" => "Ansible's `item`: here loop with `for x in xs { ... }` or `[e for x in xs]`",
        "vars" => "a host's inventory variables are `host.vars.NAME`",
        _ => return None,
    })
}
