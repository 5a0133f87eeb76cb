//! Statements: `let`, `assert`, `if`, `for`, `use`, actions, and the scopes of bindings
//! (a step-level `let` is a flow binding, one inside a block is local to it).

use super::*;

impl Checker<'_> {
    pub(super) fn unreachable(&mut self, span: Span) {
        self.emit(
            Diagnostic::warning("unreachable-action", "this statement can never run")
                .at(span, "unreachable")
                .help("nothing after `fail` runs; remove it or move it before `fail`"),
        );
    }

    pub(super) fn block_stmts(&mut self, b: &ast::Block) -> Vec<ir::Stmt> {
        let mut out = Vec::new();
        let mut ended = false;
        let mut dead_reported = false;
        for st in &b.stmts {
            if ended && !dead_reported {
                self.unreachable(st.span);
                dead_reported = true;
            }
            if let ast::StmtKind::Rollback(_) = st.kind {
                self.emit(
                    Diagnostic::error("misplaced-rollback", "`rollback` inside a nested block")
                        .at(st.span, "not directly in a step")
                        .help("put the `rollback` block directly in the step's body"),
                );
                continue;
            }
            ended |= ends_block(st);
            if let Some(x) = self.stmt(st, false) {
                out.push(x);
            }
        }
        out
    }

    pub(super) fn pop_locals(&mut self) {
        let quiet = self.prog.recovered || self.diags.iter().any(Diagnostic::is_error);
        if let Some(frame) = self.locals.pop() {
            for l in frame {
                // Remembered, so a use after the block says where it was bound.
                self.gone_locals.push((l.name.clone(), l.span));
                if !quiet && !l.used && l.report_unused && !l.name.starts_with('_') {
                    self.emit(
                        Diagnostic::warning("unused-binding", format!("`{}` is never used", l.name))
                            .at(l.span, "bound here")
                            .help(format!("drop `let {} =` to run the action only for its effect, or name it `_{}`", l.name, l.name)),
                    );
                }
            }
        }
    }

    pub(super) fn stmt(&mut self, st: &ast::Stmt, step_level: bool) -> Option<ir::Stmt> {
        match &st.kind {
            ast::StmtKind::Action(a) => self.action(a).map(ir::Stmt::Action),
            ast::StmtKind::Let { name, value } => {
                let (value, ty) = match value {
                    ast::LetValue::Action(a) => {
                        let Some(act) = self.action(a) else {
                            // The action's mistake is reported there; the name is still
                            // bound (untyped), so its uses give no second error.
                            self.bind(name, Ty::Error, step_level);
                            return None;
                        };
                        let mut ty =
                            schema::action(&a.verb.name).map_or(Ty::Error, |s| s.result.clone());
                        // What a command fed a secret prints is secret (`declassify(...)`
                        // to use it as text, on purpose).
                        if act.kind == ir::ActionKind::Run && act_stdin_secret(&act) {
                            ty = Ty::Record(types::Record::SecretCommandResult);
                        }
                        (ir::LetValue::Action(act), ty)
                    }
                    ast::LetValue::Expr(e) => {
                        let x = self.expr(e);
                        let ty = x.ty.clone();
                        (ir::LetValue::Expr(x), ty)
                    }
                };
                if ty == Ty::NoneTy {
                    self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`{}` would be bound to nothing", name.name),
                        )
                        .at(st.span, "this action returns no value")
                        .help("drop the `let`"),
                    );
                }
                let binding = self.bind(name, ty, step_level);
                Some(ir::Stmt::Let { binding, value })
            }
            ast::StmtKind::Assert { cond, message } => {
                let cond = self.expect(cond, &Ty::Bool, "an assert condition");
                let message = message
                    .as_ref()
                    .map(|m| self.expect(m, &Ty::Str, "an assert message"));
                Some(ir::Stmt::Assert {
                    cond,
                    message,
                    span: st.span,
                })
            }
            ast::StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let cond = self.expect(cond, &Ty::Bool, "an `if` condition");
                self.locals.push(Vec::new());
                let then = self.block_stmts(then);
                self.pop_locals();
                self.locals.push(Vec::new());
                let otherwise = otherwise
                    .as_ref()
                    .map(|b| self.block_stmts(b))
                    .unwrap_or_default();
                self.pop_locals();
                Some(ir::Stmt::If {
                    cond,
                    then,
                    otherwise,
                })
            }
            ast::StmtKind::For { var, iter, body } => {
                let it = self.expr(iter);
                let elem = self.loop_elem(&it);
                self.locals.push(vec![Local {
                    name: var.name.clone(),
                    ty: elem,
                    span: var.span,
                    used: false,
                    report_unused: false,
                    cluster: None,
                }]);
                let body = self.block_stmts(body);
                self.pop_locals();
                Some(ir::Stmt::For {
                    var: var.name.clone(),
                    iter: it,
                    body,
                })
            }
            ast::StmtKind::Rollback(_) => None,
            ast::StmtKind::Use { name, args } => self.use_block(name, args, st.span),
        }
    }

    /// The type of one item of what a `for` or a comprehension loops over.
    pub(super) fn loop_elem(&mut self, it: &ir::Expr) -> Ty {
        match &it.ty {
            Ty::List(t) => (**t).clone(),
            Ty::Hosts => Ty::Host,
            Ty::Map(_) => Ty::Str,
            Ty::Json | Ty::Error => it.ty.clone(),
            other => {
                let other = other.clone();
                self.emit(
                    Diagnostic::error(
                        "type-mismatch",
                        format!("cannot loop over a value of type `{other}`"),
                    )
                    .at(it.span, format!("this is `{other}`"))
                    .help("`for` loops over a list, a map's keys or a host set"),
                );
                Ty::Error
            }
        }
    }

    pub(super) fn bind(&mut self, name: &ast::Ident, ty: Ty, step_level: bool) -> ir::BindingRef {
        let n = name.name.as_str();
        let clash = self
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.span, "param"))
            .chain(
                self.hosts
                    .iter()
                    .map(|h| (h.name.as_str(), h.span, "host set")),
            )
            .chain(
                self.clusters
                    .iter()
                    .map(|c| (c.name.as_str(), c.span, "cluster")),
            )
            .chain(self.binding_index.get(n).map(|&i| {
                (
                    self.bindings[i].name.as_str(),
                    self.bindings[i].span,
                    "binding",
                )
            }))
            .chain(
                self.locals
                    .iter()
                    .flatten()
                    .map(|l| (l.name.as_str(), l.span, "binding")),
            )
            .find(|(other, _, _)| *other == n)
            .map(|(_, s, k)| (s, k));
        if let Some((prev, kind)) = clash {
            self.emit(
                Diagnostic::error("duplicate-binding", format!("`{n}` is already bound"))
                    .at(name.span, "bound again here")
                    .also(prev, format!("already a {kind} here"))
                    .help("`let` names are visible in later steps, so each must be unique in the flow: pick another name"),
            );
        }
        if n == "host" || n == "local" {
            self.emit(
                Diagnostic::error("duplicate-binding", format!("`{n}` is a built-in name"))
                    .at(name.span, "cannot be rebound")
                    .help("pick another name"),
            );
        }
        if step_level {
            let site = &self.site;
            let once = site.targets.is_none() || self.step_once;
            self.bindings.push(BindingInfo {
                name: n.to_string(),
                ty,
                span: name.span,
                used: false,
                step: self.step_index,
                step_name: site.name.clone(),
                global: once,
                conditional: self.step_when,
                run_wide_when: self.step_when_run_wide.clone(),
                targets: site.targets.clone(),
            });
            self.binding_index
                .insert(n.to_string(), self.bindings.len() - 1);
            ir::BindingRef::Flow(self.bindings.len() - 1)
        } else {
            if let Some(frame) = self.locals.last_mut() {
                frame.push(Local {
                    name: n.to_string(),
                    ty,
                    span: name.span,
                    used: false,
                    report_unused: true,
                    cluster: None,
                });
            }
            ir::BindingRef::Local(n.to_string())
        }
    }
}

pub(super) fn act_stdin_secret(a: &ir::Action) -> bool {
    matches!(a.args.get("stdin"), Some(ir::Arg::Value(e)) if e.ty.contains_secret())
}

pub(super) fn ends_block(st: &ast::Stmt) -> bool {
    matches!(&st.kind, ast::StmtKind::Action(a) if a.verb.name == "fail")
}
