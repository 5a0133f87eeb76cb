//! Param values given on the command line or in a vars file, step option ranges, and
//! what is declared but never used or missing from the inventory.

use super::*;

impl Checker<'_> {
    /// A literal step option out of range is a check error (a computed one is refused
    /// by the run before it starts, `runtime::options`).
    pub(super) fn literal_option_ranges(&mut self, options: &IndexMap<&'static str, ir::Arg>) {
        let literal = |e: &ir::Expr| -> Option<i64> {
            match &e.kind {
                ir::ExprKind::Int(n) => Some(*n),
                ir::ExprKind::Unary {
                    op: ast::UnaryOp::Neg,
                    expr,
                } => match expr.kind {
                    ir::ExprKind::Int(n) => Some(-n),
                    _ => None,
                },
                ir::ExprKind::Duration(ms) => i64::try_from(*ms).ok(),
                _ => None,
            }
        };
        for (name, min, what) in [
            ("batch", 1, "a batch needs at least one host"),
            ("retries", 0, "retries cannot be negative"),
            ("max_fail", 0, "a failure budget cannot be negative"),
            (
                "timeout",
                1,
                "a deadline of 0 would end every command at once",
            ),
        ] {
            let Some(ir::Arg::Value(e)) = options.get(name) else {
                continue;
            };
            if let Some(n) = literal(e).filter(|n| *n < min) {
                self.emit(
                    Diagnostic::error(
                        "invalid-step-option",
                        format!(
                            "`{name}: {}` is out of range",
                            self.sources.span_text(e.span).trim()
                        ),
                    )
                    .at(e.span, what)
                    .help(match name {
                        "batch" => {
                            "write `batch: 1` (or `serial`) for one host at a time".to_string()
                        }
                        "timeout" => "give a deadline such as `timeout: 5m`".to_string(),
                        _ => format!("write `{name}: 0` or more (the value is {n})"),
                    }),
                );
            }
        }
    }

    pub(super) fn param_values(&mut self) -> IndexMap<String, ir::Expr> {
        let mut out = IndexMap::new();
        // Params given a value that was refused: reported once, not also as missing.
        let mut refused: Vec<String> = Vec::new();
        let declared: Vec<(String, Ty)> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.ty.clone()))
            .collect();
        for arg in &self.opts.params {
            let Some((_, ty)) = declared.iter().find(|(n, _)| *n == arg.name) else {
                let help = did_you_mean(
                    &arg.name,
                    declared.iter().map(|(n, _)| n.as_str()),
                    "params",
                );
                let d = Diagnostic::error(
                    "unknown-param",
                    format!("the flow has no param `{}`", arg.name),
                );
                let d = if arg.source_shown {
                    d.at(arg.name_span, "not a param of this flow")
                } else {
                    // A vars file's line would show the value (perhaps a secret).
                    d.note(format!(
                        "in {}; its value is not shown",
                        self.sources.name(arg.name_span.file)
                    ))
                };
                self.emit(d.help(help));
                continue;
            };
            let hosts_ok = match (&self.opts.inventory_hosts, ty.strip_optional()) {
                (Some(known), Ty::Host | Ty::Hosts) => values::param_host_names(&arg.value, ty)
                    .into_iter()
                    .find(|h| !known.contains(h))
                    .map(|h| {
                        (
                            h.clone(),
                            crate::diagnostics::suggest(&h, known.iter().map(String::as_str))
                                .map(str::to_string),
                        )
                    }),
                _ => None,
            };
            if let Some((bad, suggestion)) = hosts_ok {
                self.emit(
                    Diagnostic::error(
                        "invalid-param-value",
                        format!("`{bad}` is not a host of the inventory"),
                    )
                    .at(arg.value_span, format!("param `{}` is a `{ty}`", arg.name))
                    .help(match suggestion {
                        Some(s) => format!("did you mean `{s}`? `etcdflow inventory -i INV` lists the hosts"),
                        None => "name a host of the inventory given with `-i` (`etcdflow inventory -i INV` lists them)".into(),
                    }),
                );
                refused.push(arg.name.clone());
                continue;
            }
            match values::param_value(&arg.value, ty, arg.value_span) {
                Ok(e) => {
                    if let Some(p) = self.params.iter_mut().find(|p| p.name == arg.name) {
                        p.used = true;
                        p.known = match &e.kind {
                            ir::ExprKind::Str(s) => Some(s.clone()),
                            _ => None,
                        };
                    }
                    out.insert(arg.name.clone(), e);
                }
                Err(reason) => {
                    refused.push(arg.name.clone());
                    self.emit(
                        Diagnostic::error(
                            "invalid-param-value",
                            format!("`{}` is not a valid `{ty}`", arg.value),
                        )
                        .at(arg.value_span, reason)
                        .help(values::param_value_help(ty)),
                    )
                }
            }
        }
        if self.opts.require_params {
            let missing: Vec<(String, Ty, Span)> = self
                .prog
                .files
                .iter()
                .flat_map(|f| f.items.iter())
                .filter_map(|i| match &i.kind {
                    ast::ItemKind::Param(p) if p.default.is_none() && !p.ty.optional => Some(p),
                    _ => None,
                })
                .filter(|p| !out.contains_key(&p.name.name) && !refused.contains(&p.name.name))
                .filter_map(|p| {
                    let ty = declared.iter().find(|(n, _)| *n == p.name.name)?.1.clone();
                    Some((p.name.name.clone(), ty, p.name.span))
                })
                .collect();
            for (name, ty, span) in missing {
                self.emit(
                    Diagnostic::error("missing-param", format!("param `{name}` has no value"))
                        .at(span, format!("required `{ty}` param without a default"))
                        .help(format!("pass it with `-e {name}=VALUE`")),
                );
            }
        }
        out
    }

    pub(super) fn report_unused(&mut self) {
        let mut ds = Vec::new();
        for p in &self.params {
            if !p.used && !p.name.starts_with('_') {
                ds.push(
                    Diagnostic::warning(
                        "unused-param",
                        format!("param `{}` is never used", p.name),
                    )
                    .at(p.span, "declared here")
                    .help("remove it, or use it in a step"),
                );
            }
        }
        for h in &self.hosts {
            if !h.used && !h.name.starts_with('_') {
                ds.push(
                    Diagnostic::warning(
                        "unused-hosts",
                        format!("host set `{}` is never used", h.name),
                    )
                    .at(h.span, "declared here")
                    .help("remove it, or run a step `on` it"),
                );
            }
        }
        for b in &self.bindings {
            if !b.used && !b.name.starts_with('_') {
                ds.push(
                    Diagnostic::warning("unused-binding", format!("`{}` is never used", b.name))
                        .at(b.span, "bound here")
                        .help(format!("drop `let {} =` to run the action only for its effect, or name it `_{}`", b.name, b.name)),
                );
            }
        }
        self.diags.extend(ds);
    }

    pub(super) fn check_groups(&mut self) {
        let Some(groups) = &self.opts.inventory_groups else {
            return;
        };
        let mut ds = Vec::new();
        for (name, span, optional) in &self.groups_used {
            if *optional || groups.contains(name) || name == "all" || name == "ungrouped" {
                continue;
            }
            let help = match crate::diagnostics::suggest(name, groups.iter().map(String::as_str)) {
                Some(s) => format!(
                    "did you mean `{s}`? If the group may be absent, write `group(\"{name}\")?`"
                ),
                None => format!(
                    "the inventory has: {}; if the group may be absent, write `group(\"{name}\")?`",
                    groups
                        .iter()
                        .map(|g| format!("`{g}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            ds.push(
                Diagnostic::error(
                    "unknown-inventory-group",
                    format!("the inventory has no group `{name}`"),
                )
                .at(*span, "not in the inventory")
                .help(help),
            );
        }
        self.diags.extend(ds);
    }
}
