//! Where a step-level binding is bound, and whether a use can see it (issue: values across
//! hosts). A `let` in a step on hosts is bound on each of those hosts; in a step `on local`
//! or with `run_once` it is bound once and every host sees it. A use elsewhere must be
//! provably bound where it runs: the using step's hosts are a subset of the binding
//! step's (by the host sets' definitions: `a & b`, `a - b`, `first(a)` are in `a`; `a`
//! is in `a | b`), and the binding step has no `when:`. Another host's value is read with
//! `r[h]` (a later step; the value `h` bound, or a run-time error naming `h`). A binding
//! of a step whose `when:` reads only params and literals (a mode of the flow: `when:
//! recover`) is seen by later steps with that same `when:`: the condition has one value
//! for the whole run.

use super::*;
use crate::ir::ExprKind as K;
use crate::syntax::ast::BinOp;

/// Where the step being checked runs.
#[derive(Clone, Default)]
pub(super) struct Site {
    /// Its targets (`None`: `on local`).
    pub targets: Option<ir::Expr>,
    pub name: String,
}

/// The deepest host-set definition chain followed (definitions only name earlier sets,
/// so this bounds nothing a real flow has).
const MAX_DEPTH: usize = 64;

impl Checker<'_> {
    /// A use of flow binding `i` at `span`: an error unless it is bound where it runs.
    pub(super) fn reach(&mut self, i: usize, span: Span) {
        let b = &self.bindings[i];
        if b.step == self.step_index {
            return;
        }
        let (name, bstep) = (b.name.clone(), b.step_name.clone());
        if b.conditional && !self.allow_unbound && !self.same_mode(b.run_wide_when.as_ref()) {
            self.emit(
                Diagnostic::error("maybe-unbound", format!("`{name}` may be unbound here"))
                    .at(span, "used here")
                    .also(b.span, format!("bound only where step `{bstep}`'s `when:` holds"))
                    .help(format!("read it with `default({name}.FIELD, fallback)`, bind it in a step without `when:`, or read it in a step with the same `when:` on params only (a mode: `when: not recover`)")),
            );
            return;
        }
        if b.global {
            return;
        }
        let here = self.site.targets.clone();
        let ok = match (&here, &b.targets) {
            (Some(h), Some(t)) => self.subset(h, t, 0),
            _ => false,
        };
        if !ok {
            let (label, where_) = match &here {
                None => (
                    "read on the controller",
                    format!("step `{}` runs on the controller", self.site.name),
                ),
                Some(_) => (
                    "read on hosts that may not have bound it",
                    format!(
                        "step `{}` may run on hosts that step `{bstep}` does not",
                        self.site.name
                    ),
                ),
            };
            self.unbound_on_host(&name, &bstep, b.span, span, label, &where_);
        }
    }

    fn unbound_on_host(
        &mut self,
        name: &str,
        bstep: &str,
        bspan: Span,
        span: Span,
        label: &str,
        where_: &str,
    ) {
        self.emit(
            Diagnostic::error("unbound-on-host", format!("`{name}` is bound per host, and {where_}"))
                .at(span, label.to_string())
                .also(bspan, format!("bound on each host of step `{bstep}`"))
                .help(format!("read one host's value with `{name}[h]` or all of them with `[{name}[h] for h in HOSTS]`; or run this step on the hosts of `{bstep}` (or a subset: `a & b`, `a - b`, `first(a)`)")),
        );
    }

    /// Step options other than `when:` and `until:` are evaluated once, on the
    /// controller: a value bound per host is not there.
    pub(super) fn hostless_options(&mut self, options: &IndexMap<&'static str, ir::Arg>) {
        let mut found = Vec::new();
        for (k, v) in options {
            let ir::Arg::Value(e) = v else { continue };
            if matches!(*k, "when" | "until") {
                continue;
            }
            e.each(&mut |x| {
                if let K::Binding(ir::BindingRef::Flow(i)) = x.kind {
                    if !self.bindings[i].global {
                        found.push((i, x.span));
                    }
                }
            });
        }
        for (i, span) in found {
            let b = &self.bindings[i];
            let (name, bstep, bspan) = (b.name.clone(), b.step_name.clone(), b.span);
            self.unbound_on_host(
                &name,
                &bstep,
                bspan,
                span,
                "read once, on the controller",
                "a step option is evaluated once, on the controller",
            );
        }
    }

    /// `r[h]`: host `h`'s value of per-host binding `i`.
    pub(super) fn binding_on(&mut self, i: usize, host: ir::Expr, span: Span) -> ir::Expr {
        self.bindings[i].used = true;
        let b = &self.bindings[i];
        let ty = b.ty.clone();
        if b.step == self.step_index {
            let (name, bspan) = (b.name.clone(), b.span);
            self.emit(
                Diagnostic::error(
                    "unbound-on-host",
                    format!("`{name}[...]` reads another host's value in the step that binds it"),
                )
                .at(span, "the other host may not have bound it yet")
                .also(bspan, "bound here")
                .help("hosts run a step concurrently: read the value in a later step"),
            );
        } else if b.conditional && !self.same_mode(b.run_wide_when.as_ref()) {
            let (name, bspan) = (b.name.clone(), b.span);
            self.emit(
                Diagnostic::error(
                    "maybe-unbound",
                    format!("`{name}` may be unbound on that host"),
                )
                .at(span, "used here")
                .also(bspan, "bound only where its step's `when:` holds")
                .help("bind it in a step without `when:`"),
            );
        }
        ir::Expr {
            kind: K::BindingOn {
                binding: i,
                host: Box::new(host),
            },
            ty,
            span,
        }
    }

    /// Whether host set `a` is provably within host set `b`.
    fn subset(&self, a: &ir::Expr, b: &ir::Expr, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let d = depth + 1;
        if a.same(b) {
            return true;
        }
        let left = match &a.kind {
            K::Binary { op, lhs, rhs } => match op {
                BinOp::Intersect => self.subset(lhs, b, d) || self.subset(rhs, b, d),
                BinOp::Sub => self.subset(lhs, b, d),
                BinOp::Union => self.subset(lhs, b, d) && self.subset(rhs, b, d),
                _ => false,
            },
            K::Call { func, args } if matches!(*func, "first" | "last" | "nth") => {
                args.first().is_some_and(|x| self.subset(x, b, d))
            }
            K::Hosts(i) => self.host_defs.get(*i).is_some_and(|x| self.subset(x, b, d)),
            _ => false,
        };
        left || match &b.kind {
            K::Binary {
                op: BinOp::Union,
                lhs,
                rhs,
            } => self.subset(a, lhs, d) || self.subset(a, rhs, d),
            K::Hosts(j) => self.host_defs.get(*j).is_some_and(|x| self.subset(a, x, d)),
            _ => false,
        }
    }
}

impl Checker<'_> {
    /// The step being checked has the run-wide `when:` of a binding's step.
    fn same_mode(&self, when: Option<&ir::Expr>) -> bool {
        match (when, &self.step_when_run_wide) {
            (Some(a), Some(b)) => a.same(b),
            _ => false,
        }
    }
}

impl Checker<'_> {
    /// A `path` param whose value (default or `-e`) is relative, used where a host reads
    /// it as a path: the value is known before the run, so `check` says so.
    pub(super) fn relative_path_params(&mut self, x: &ir::Expr, what: &str) {
        let mut found: Vec<(usize, Span)> = Vec::new();
        let mut note = |e: &ir::Expr| {
            if let K::Param(i) = e.kind {
                found.push((i, e.span));
            }
        };
        // The param itself, an argv item, or the start of an interpolated path/command word.
        match &x.kind {
            K::Param(_) => note(x),
            K::List(items) => items.iter().for_each(|i| match &i.kind {
                K::Param(_) => note(i),
                K::Interp(parts) => {
                    if let Some(ir::InterpPart::Value { expr, .. }) = parts.first() {
                        note(expr);
                    }
                }
                _ => {}
            }),
            K::Interp(parts) => {
                let mut at_word_start = true;
                for p in parts {
                    match p {
                        ir::InterpPart::Text(t) => {
                            at_word_start = t.ends_with([' ', '\t', '=']) || t.is_empty();
                        }
                        ir::InterpPart::Value { expr, .. } => {
                            if at_word_start {
                                note(expr);
                            }
                            at_word_start = false;
                        }
                    }
                }
            }
            _ => {}
        }
        for (i, span) in found {
            let p = &self.params[i];
            if p.ty.strip_optional() != &Ty::Path {
                continue;
            }
            let Some(v) = p
                .known
                .clone()
                .filter(|v| !v.starts_with('/') && !v.is_empty())
            else {
                continue;
            };
            let (name, pspan) = (p.name.clone(), p.span);
            self.emit(
                Diagnostic::error("invalid-path", format!("`{name}` is the relative path `{v}`, used as {what}"))
                    .at(span, "read as a path on the host, relative to the login directory")
                    .also(pspan, "the param")
                    .help(format!("give `{name}` an absolute path (`/{v}`), in its default or with `-e {name}=/...`")),
            );
        }
    }
}
