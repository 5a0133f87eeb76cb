//! Reuse: `block NAME(p: T, ...) { ... }` and `use NAME(args)`. A use is expanded and
//! type-checked where it stands: the params are locals bound to the arguments, the
//! block's `let`s are local to that use (two uses never collide), its statements see
//! what the using step sees. A block may use other blocks, not itself (bounded depth).

use super::*;

/// How deep `use` may nest inside blocks.
const MAX_DEPTH: usize = 16;

impl Checker<'_> {
    pub(super) fn use_block(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<ir::Stmt> {
        let Some((file, def, _)) = self.blocks.get(&name.name).cloned() else {
            let help = did_you_mean(&name.name, self.blocks.keys().map(String::as_str), "blocks");
            self.emit(
                Diagnostic::error("unknown-block", format!("no block `{}`", name.name))
                    .at(name.span, "not a declared block")
                    .help(if help.starts_with("did you mean") {
                        help
                    } else {
                        format!(
                            "declare it with `block {}(...) {{ ... }}` ({help})",
                            name.name
                        )
                    }),
            );
            for a in args {
                self.expr(a);
            }
            return None;
        };
        if self.expanding.contains(&name.name) || self.expanding.len() >= MAX_DEPTH {
            let chain = self.expanding.join(" -> ");
            self.emit(
                Diagnostic::error(
                    "recursive-block",
                    format!("block `{}` uses itself ({chain} -> {})", name.name, name.name),
                )
                .at(name.span, "used again inside its own expansion")
                .help(format!("a block is expanded where it is used, so it cannot recurse (at most {MAX_DEPTH} nested uses)")),
            );
            return None;
        }
        if let Some(b) = self.blocks.get_mut(&name.name) {
            b.2 = true;
        }
        if args.len() != def.params.len() {
            let sig: Vec<String> = def
                .params
                .iter()
                .map(|(n, t)| format!("{}: {}", n.name, type_text(t)))
                .collect();
            self.emit(
                Diagnostic::error(
                    "wrong-arity",
                    format!(
                        "block `{}` takes {} argument{}, found {}",
                        name.name,
                        def.params.len(),
                        if def.params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .at(span, "wrong number of arguments")
                .also(def.name.span, "declared here")
                .help(format!("signature: {}({})", name.name, sig.join(", "))),
            );
            for a in args {
                self.expr(a);
            }
            return None;
        }
        // Arguments in the caller's scope, then the params as the block's first locals.
        let mut stmts = Vec::new();
        let mut frame = Vec::new();
        for ((p, t), a) in def.params.iter().zip(args) {
            // A block may also take a cluster (params cannot: they come from outside).
            let ty = if t.name.name == "cluster" && t.arg.is_none() && !t.optional {
                Ty::Cluster
            } else {
                self.type_expr(t)
            };
            let x = self.expect(
                a,
                &ty,
                &format!("argument `{}` of block `{}`", p.name, name.name),
            );
            let cluster = match x.kind {
                ir::ExprKind::Cluster(c) => Some(c),
                _ => None,
            };
            stmts.push(ir::Stmt::Let {
                binding: ir::BindingRef::Local(p.name.clone()),
                value: ir::LetValue::Expr(x),
            });
            frame.push(Local {
                name: p.name.clone(),
                ty,
                span: p.span,
                used: false,
                report_unused: true,
                cluster,
            });
        }
        self.locals.push(frame);
        let saved = std::mem::replace(&mut self.file, file);
        self.expanding.push(name.name.clone());
        stmts.extend(self.block_stmts(&def.body));
        self.expanding.pop();
        self.file = saved;
        self.pop_locals();
        Some(ir::Stmt::Block(stmts))
    }

    /// Blocks no `use` names.
    pub(super) fn unused_blocks(&mut self) {
        let mut unused: Vec<(String, Span)> = self
            .blocks
            .iter()
            .filter(|(_, (_, _, used))| !used)
            .map(|(n, (_, d, _))| (n.clone(), d.name.span))
            .collect();
        unused.sort_by_key(|(_, s)| (s.file, s.start));
        for (n, s) in unused {
            self.emit(
                Diagnostic::warning("unused-block", format!("block `{n}` is never used"))
                    .at(s, "declared here")
                    .help(format!(
                        "use it in a step with `use {n}(...)`, or remove it"
                    )),
            );
        }
    }
}

fn type_text(t: &ast::TypeExpr) -> String {
    let mut s = t.name.name.clone();
    if let Some(a) = &t.arg {
        s = format!("{s}[{}]", type_text(a));
    }
    if t.optional {
        s.push('?');
    }
    s
}
