//! Actions, step options and cluster fields: arguments checked against [`schema`].

use super::schema::{self, ActionSpec, ArgTy};
use super::types::Ty;
use super::values::validate_path;
use super::Checker;
use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::ir::{self, ActionKind};
use crate::source::Span;
use crate::syntax::ast;
use indexmap::IndexMap;

impl Checker<'_> {
    pub(crate) fn action(&mut self, a: &ast::Action) -> Option<ir::Action> {
        let Some(spec) = schema::action(&a.verb.name) else {
            let help = match a.verb.name.as_str() {
                "point_of_no_return" => "`point_of_no_return \"message\"` stands between steps, at the top level of the flow, not inside a step".to_string(),
                "include" | "param" | "hosts" | "cluster" | "step" => format!("`{}` is a declaration: it stands at the top level of the flow, not inside a step", a.verb.name),
                "shell" | "command" => "Ansible's `shell`/`command` is `run \"...\"` (a shell string) or `run [\"cmd\", \"arg\"]` (argv)".to_string(),
                "debug" => "Ansible's `debug` is `log \"...\"`".to_string(),
                "lineinfile" | "replace" => "a `KEY=VALUE` file is edited with `edit FILE format: \"env\" set: { KEY: value }`".to_string(),
                _ => did_you_mean(
                    &a.verb.name,
                    schema::actions().iter().map(|s| s.verb),
                    "actions",
                ),
            };
            self.emit(
                Diagnostic::error(
                    "unknown-action",
                    format!("unknown action `{}`", a.verb.name),
                )
                .at(a.verb.span, "not an action")
                .help(help),
            );
            return None;
        };
        let positional = match (&spec.positional, &a.positional) {
            (Some((name, ty, _)), Some(e)) => {
                Some(self.arg_value(e, ty, &format!("`{}`'s {name}", spec.verb)))
            }
            (None, Some(e)) => {
                let hint = spec
                    .args
                    .iter()
                    .find(|x| !matches!(x.ty, ArgTy::Flag))
                    .map(|x| format!("; write it as `{}: ...`", x.name))
                    .unwrap_or_default();
                self.emit(
                    Diagnostic::error(
                        "unknown-argument",
                        format!("`{}` takes no positional argument", spec.verb),
                    )
                    .at(e.span, "unexpected argument")
                    .help(format!(
                        "`{}` takes {}{hint}",
                        spec.verb,
                        arg_list(spec)
                    )),
                );
                None
            }
            (Some((name, _, true)), None) if !in_one_of(spec, "_") => {
                self.emit(
                    Diagnostic::error(
                        "missing-argument",
                        format!("`{}` needs its {name}", spec.verb),
                    )
                    .at(a.verb.span, format!("no {name} given"))
                    .help(format!("write `{} <{name}>`", spec.verb)),
                );
                None
            }
            _ => None,
        };
        let has_positional = a.positional.is_some();
        let mut args = self.clauses(
            spec,
            Some(has_positional),
            &a.clauses,
            a.verb.span,
            spec.verb,
        );

        let mut cluster = None;
        if let ActionKind::Etcd(_) = spec.kind {
            // Verifying a snapshot file needs no cluster; with one declared it is still
            // attached (its default endpoint for messages).
            if !(a.verb.name == "etcd.snapshot_verify" && self.clusters.is_empty()) {
                cluster = self.resolve_cluster(&mut args, a);
            }
        }
        let mut template = None;
        if spec.kind == ActionKind::Template {
            template = self.template(a, args.get("vars"));
        }
        if spec.kind == ActionKind::Copy {
            self.copy_source_exists(positional.as_ref());
        }
        // Actions after which a controller file may exist that did not before.
        if matches!(
            spec.kind,
            ActionKind::TlsCa
                | ActionKind::TlsCert
                | ActionKind::Fetch
                | ActionKind::Etcd(crate::ir::EtcdOp::SnapshotSave)
        ) || (spec.kind == ActionKind::Run && self.site.targets.is_none())
        {
            self.controller_writes = true;
        }
        Some(ir::Action {
            kind: spec.kind,
            positional,
            args,
            cluster,
            template,
            span: a.span,
        })
    }

    fn resolve_cluster(
        &mut self,
        args: &mut IndexMap<&'static str, ir::Arg>,
        a: &ast::Action,
    ) -> Option<usize> {
        if let Some(ir::Arg::Value(e)) = args.get("cluster") {
            return match &e.kind {
                ir::ExprKind::Cluster(i) => Some(*i),
                _ => None,
            };
        }
        match self.clusters.len() {
            1 => {
                self.clusters[0].used = true;
                Some(0)
            }
            0 => {
                self.emit(
                    Diagnostic::error(
                        "unknown-cluster",
                        format!(
                            "`{}` needs an etcd cluster, and the flow declares none",
                            a.verb.name
                        ),
                    )
                    .at(a.verb.span, "no cluster to talk to")
                    .help("declare one: `cluster main { members: group(\"etcd\") }`"),
                );
                None
            }
            _ => {
                let names: Vec<String> = self
                    .clusters
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect();
                self.emit(
                    Diagnostic::error(
                        "missing-argument",
                        format!(
                            "`{}` needs `cluster:`: the flow declares several",
                            a.verb.name
                        ),
                    )
                    .at(a.verb.span, "which cluster?")
                    .help(format!("add `cluster: NAME`, one of {}", names.join(", "))),
                );
                None
            }
        }
    }

    fn template(
        &mut self,
        a: &ast::Action,
        vars: Option<&ir::Arg>,
    ) -> Option<crate::source::FileId> {
        let pos = a.positional.as_ref()?;
        let Some(rel) = pos.as_plain_str() else {
            self.emit(
                Diagnostic::error(
                    "template-path-not-literal",
                    "the template path must be a plain string",
                )
                .at(pos.span, "computed path")
                .help("write the path as a literal so the template can be checked before the run"),
            );
            return None;
        };
        let entry = self.prog.templates.get(&(self.file, rel.clone()))?.clone();
        let id = match entry {
            Ok(id) => id,
            Err(why) => {
                self.emit(
                    Diagnostic::error(
                        "template-not-found",
                        format!("cannot read template `{rel}`"),
                    )
                    .at(pos.span, why)
                    .help("template paths are relative to the flow file"),
                );
                return None;
            }
        };
        let source = self.sources.text(id).to_string();
        let undeclared = match crate::template::undeclared_variables(&rel, &source) {
            Ok(v) => v,
            Err(e) => {
                let line_span = e
                    .line
                    .and_then(|l| line_span(&source, l))
                    .map(|(s, e2)| Span::new(id, s, e2));
                let mut d = Diagnostic::error(
                    "template-syntax",
                    format!("template `{rel}` is not valid: {}", e.message),
                );
                d = match line_span {
                    Some(s) => d.at(s, e.message.clone()).also(pos.span, "used here"),
                    None => d.at(pos.span, e.message.clone()),
                };
                self.emit(d.help("see the Jinja2 template syntax reference"));
                return None;
            }
        };
        for (f, line) in crate::template::unknown_filters(&rel, &source).unwrap_or_default() {
            let at = line
                .and_then(|l| line_span(&source, l))
                .map(|(s, e2)| Span::new(id, s, e2));
            let mut d = Diagnostic::error(
                "template-unknown-filter",
                format!("template `{rel}` uses `{f}`, which is no filter or test etcdflow's templates have"),
            );
            d = match at {
                Some(s) => d
                    .at(s, format!("`{f}` is unknown"))
                    .also(pos.span, "rendered here"),
                None => d.at(pos.span, format!("`{f}` is unknown")),
            };
            self.emit(d.help("the filters are minijinja's builtins (`tojson`, `indent`, `join`, `default`...) and `toyaml`; Ansible's `to_nice_yaml` is `toyaml`, `to_json` is `tojson`"));
        }
        let mut provided: Vec<String> = vec!["host".into()];
        if let Some(ir::Arg::Value(v)) = vars {
            if let ir::ExprKind::Map(entries) = &v.kind {
                provided.extend(entries.iter().map(|(k, _)| k.clone()));
            }
        }
        for p in self.params.iter_mut() {
            if p.ty != Ty::Secret && undeclared.contains(&p.name) {
                p.used = true;
            }
        }
        provided.extend(
            self.params
                .iter()
                .filter(|p| p.ty != Ty::Secret)
                .map(|p| p.name.clone()),
        );
        for var in &undeclared {
            if provided.contains(var) {
                continue;
            }
            let at = find_var(&source, var).map(|(s, e)| crate::source::Span::new(id, s, e));
            let secret = self
                .params
                .iter()
                .any(|p| p.ty == Ty::Secret && p.name == *var);
            let ansible = match var.as_str() {
                "vars" => Some("a template's variables are the `vars:` keys themselves: write `{{ name }}` and pass `vars: { name: ... }`".to_string()),
                "inventory_hostname" | "ansible_hostname" => Some("that is Ansible's name for the host: in a template it is `{{ host.name }}`".to_string()),
                "ansible_host" => Some("that is Ansible's address variable: in a template it is `{{ host.address }}`".to_string()),
                "hostvars" => Some("Ansible's `hostvars`: pass the hosts with `vars: { nodes: HOSTS }` and read `{{ n.vars.NAME }}` for each".to_string()),
                "groups" => Some("Ansible's `groups`: pass a host set with `vars: { masters: masters }` (each host arrives with its fields)".to_string()),
                _ => None,
            };
            let help = if let Some(h) = ansible {
                h
            } else if secret {
                format!("`{var}` is a secret: pass it on purpose with `vars: {{ {var}: {var} }}` (the rendered file is then a secret: written owner-only, never journaled)")
            } else {
                let h = did_you_mean(var, provided.iter().map(String::as_str), "variables");
                format!("{h}; pass it with `vars: {{ {var}: ... }}`")
            };
            let mut d = Diagnostic::error(
                "template-undefined-variable",
                format!("template `{rel}` uses `{var}`, which the flow does not provide"),
            );
            d = match at {
                Some(s) => d.at(s, "undefined here").also(pos.span, "rendered here"),
                None => d.at(pos.span, format!("`{var}` is undefined")),
            };
            self.emit(d.help(help));
        }
        Some(id)
    }

    /// Check `key: value` / flag clauses against a spec. `positional` is whether a
    /// positional argument was given (for `one_of` groups that include it).
    pub(crate) fn clauses(
        &mut self,
        spec: &ActionSpec,
        positional: Option<bool>,
        clauses: &[ast::Clause],
        at: Span,
        what: &str,
    ) -> IndexMap<&'static str, ir::Arg> {
        let mut out: IndexMap<&'static str, ir::Arg> = IndexMap::new();
        let mut spans: IndexMap<&'static str, Span> = IndexMap::new();
        for c in clauses {
            let Some(arg) = spec.arg(&c.key.name) else {
                let help = did_you_mean(&c.key.name, spec.args.iter().map(|a| a.name), "arguments");
                let d = Diagnostic::error(
                    "unknown-argument",
                    format!("`{what}` has no argument `{}`", c.key.name),
                )
                .at(c.key.span, "unknown argument")
                .help(help);
                self.emit(d);
                if let Some(v) = &c.value {
                    self.expr(v);
                }
                continue;
            };
            if let Some(prev) = spans.get(arg.name) {
                let prev = *prev;
                self.emit(
                    Diagnostic::error(
                        "duplicate-argument",
                        format!("`{}` is given twice", arg.name),
                    )
                    .at(c.span, "again here")
                    .also(prev, "first here")
                    .help("keep one of them"),
                );
                continue;
            }
            spans.insert(arg.name, c.span);
            match (&arg.ty, &c.value) {
                (ArgTy::Flag, None) => {
                    out.insert(arg.name, ir::Arg::Flag(c.span));
                }
                (ArgTy::Flag, Some(v)) => {
                    self.emit(
                        Diagnostic::error(
                            "flag-needs-no-value",
                            format!("`{}` is a flag and takes no value", arg.name),
                        )
                        .at(v.span, "remove this value")
                        .help(format!("write just `{}`", arg.name)),
                    );
                    out.insert(arg.name, ir::Arg::Flag(c.span));
                }
                (_, None) => {
                    self.emit(
                        Diagnostic::error(
                            "flag-needs-no-value",
                            format!("`{}` needs a value", arg.name),
                        )
                        .at(c.span, "no value")
                        .help(format!("write `{}: VALUE` ({})", arg.name, arg.doc)),
                    );
                }
                (ty, Some(v)) => {
                    let x = self.arg_value(v, ty, &format!("`{}`", arg.name));
                    out.insert(arg.name, ir::Arg::Value(x));
                }
            }
        }
        for arg in spec.args.iter().filter(|a| a.required) {
            if !out.contains_key(arg.name) && !spans.contains_key(arg.name) {
                self.emit(
                    Diagnostic::error(
                        "missing-argument",
                        format!("`{what}` needs `{}:`", arg.name),
                    )
                    .at(at, format!("`{}` missing", arg.name))
                    .help(format!("add `{}: ...` ({})", arg.name, arg.doc)),
                );
            }
        }
        for group in &spec.any_of {
            if !group.iter().any(|g| spans.contains_key(g)) {
                let names: Vec<String> = group.iter().map(|g| format!("`{g}:`")).collect();
                self.emit(
                    Diagnostic::error(
                        "missing-argument",
                        format!("`{what}` needs {}", names.join(" or ")),
                    )
                    .at(at, "nothing to do")
                    .help(format!("give {} (or both)", names.join(" or "))),
                );
            }
        }
        for group in &spec.one_of {
            let given: Vec<&str> = group
                .iter()
                .copied()
                .filter(|g| {
                    if *g == "_" {
                        positional == Some(true)
                    } else {
                        spans.contains_key(g)
                    }
                })
                .collect();
            let show = |g: &str| {
                if g == "_" {
                    format!(
                        "a {}",
                        spec.positional
                            .as_ref()
                            .map_or("positional argument", |p| p.0)
                    )
                } else {
                    format!("`{g}:`")
                }
            };
            let options: Vec<String> = group.iter().map(|g| show(g)).collect();
            if given.is_empty() {
                self.emit(
                    Diagnostic::error(
                        "missing-argument",
                        format!("`{what}` needs one of {}", options.join(", ")),
                    )
                    .at(at, "none given")
                    .help(format!("give exactly one of {}", options.join(", "))),
                );
            } else if given.len() > 1 {
                let second = given[1];
                let s = if second == "_" {
                    at
                } else {
                    spans.get(second).copied().unwrap_or(at)
                };
                self.emit(
                    Diagnostic::error(
                        "conflicting-arguments",
                        format!("`{what}` takes only one of {}", options.join(", ")),
                    )
                    .at(s, format!("{} given too", show(second)))
                    .help(format!(
                        "keep one of {}",
                        given.iter().map(|g| show(g)).collect::<Vec<_>>().join(", ")
                    )),
                );
            }
        }
        for (a, b) in &spec.conflicts {
            if let (Some(_), Some(sb)) = (spans.get(a), spans.get(b)) {
                self.emit(
                    Diagnostic::error(
                        "conflicting-arguments",
                        format!("`{a}` and `{b}` cannot be used together"),
                    )
                    .at(*sb, format!("conflicts with `{a}`"))
                    .help(format!("keep either `{a}` or `{b}`")),
                );
            }
        }
        out
    }

    /// One argument value against its schema type.
    /// An argv item that is a param whose value is known now (a literal default, or this
    /// invocation's `-e`) and would become an option: decided here, as the run would.
    fn argv_options(&mut self, x: &ir::Expr) {
        let ir::ExprKind::List(items) = &x.kind else {
            return;
        };
        let mut after_dashdash = false;
        for (i, it) in items.iter().enumerate() {
            match &it.kind {
                ir::ExprKind::Str(s) => after_dashdash |= s == "--",
                ir::ExprKind::Param(p) if i > 0 && !after_dashdash => {
                    let Some((name, v)) = self
                        .params
                        .get(*p)
                        .and_then(|p| p.known.clone().map(|v| (p.name.clone(), v)))
                    else {
                        continue;
                    };
                    if v.starts_with('-') {
                        self.emit(
                            Diagnostic::error(
                                "invalid-param-value",
                                format!("`{name}` is `{v}` here, which the command would read as an option"),
                            )
                            .at(it.span, "this argument")
                            .help(format!("put \"--\" before it: `run [..., \"--\", {name}]`, or give a value that does not start with `-`")),
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// A command string's holes must sit where a quoted value stays one literal word
    /// (`crate::shell`): not in a comment, a here-document, backquotes, `${...}`...
    fn shell_contexts(&mut self, x: &ir::Expr) {
        let ir::ExprKind::Interp(parts) = &x.kind else {
            return;
        };
        let mut texts = vec![String::new()];
        let mut spans = Vec::new();
        for p in parts {
            match p {
                ir::InterpPart::Text(t) => {
                    if let Some(s) = texts.last_mut() {
                        s.push_str(t);
                    }
                }
                // A `raw` value is code whose text is known only at run time.
                ir::InterpPart::Value { raw: true, .. } => {}
                ir::InterpPart::Value { expr, .. } => {
                    spans.push(expr.span);
                    texts.push(String::new());
                }
            }
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        if let Err(u) = crate::shell::holes(&refs) {
            let span = spans.get(u.hole).copied().unwrap_or(x.span);
            self.emit(
                Diagnostic::error(
                    "unsafe-interpolation",
                    format!("a value is interpolated into {} of a shell command", u.context),
                )
                .at(span, format!("inside {}, the shell would read this value as code or drop it", u.context))
                .help("pass the value as its own word: `run [\"logger\", \"-t\", \"etcdflow\", \"maintenance: {{ msg }}\"]`, or through `env:` or `stdin:`"),
            );
        }
    }

    fn arg_value(&mut self, e: &ast::Expr, ty: &ArgTy, what: &str) -> ir::Expr {
        match ty {
            ArgTy::T(t) => self.expect(e, t, what),
            ArgTy::Command => {
                let x = self.expr(e);
                // On hosts, a `path` param with a relative value in a command is relative
                // to the login directory: never what a procedure means.
                if self.site.targets.is_some() {
                    self.relative_path_params(&x, "a command on a host");
                }
                let ok = x.ty.fits(&Ty::Str) || x.ty.fits(&Ty::list(Ty::Str));
                if !ok {
                    if x.ty.contains_secret() {
                        self.secret_leak(x.span, "a command");
                    } else {
                        self.emit(
                            Diagnostic::error("type-mismatch", format!("a command must be a string or a list of strings, found `{}`", x.ty))
                                .at(x.span, format!("this is `{}`", x.ty))
                                .help("write `run \"systemctl stop kubelet\"` or `run [\"systemctl\", \"stop\", unit]`"),
                        );
                    }
                }
                self.shell_contexts(&x);
                self.argv_options(&x);
                x
            }
            ArgTy::Text => {
                self.secret_text = true;
                let x = self.expr(e);
                self.secret_text = false;
                if !(x.ty.fits(&Ty::Str) || x.ty == Ty::Secret) {
                    let t = x.ty.clone();
                    self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("{what} must be text or a secret, found `{t}`"),
                        )
                        .at(x.span, format!("this is `{t}`"))
                        .help("convert with `to_str(...)`"),
                    );
                }
                x
            }
            ArgTy::Choice(choices) => {
                let x = self.expect(e, &Ty::Str, what);
                if let ir::ExprKind::Str(s) = &x.kind {
                    if !choices.contains(&s.as_str()) {
                        let list: Vec<String> =
                            choices.iter().map(|c| format!("\"{c}\"")).collect();
                        self.emit(
                            Diagnostic::error(
                                "type-mismatch",
                                format!("{what} must be one of {}", list.join(", ")),
                            )
                            .at(x.span, format!("`{s}` is not allowed"))
                            .help(format!("write one of {}", list.join(", "))),
                        );
                    }
                }
                x
            }
            ArgTy::Mode => {
                let x = self.expr(e);
                match &x.kind {
                    ir::ExprKind::Str(s) => {
                        if let Err(why) = crate::values::mode(s) {
                            self.emit(
                                Diagnostic::error(
                                    "invalid-mode",
                                    format!("`{s}` is not a file mode etcdflow writes"),
                                )
                                .at(x.span, why)
                                .help("write a mode like \"0644\" or \"0600\" (no setuid, setgid or sticky bit, not writable by every user)"),
                            );
                        }
                    }
                    ir::ExprKind::Int(n) => self.emit(
                        Diagnostic::error(
                            "invalid-mode",
                            format!("file mode `{n}` is a decimal number"),
                        )
                        .at(x.span, "a number here would be read as decimal")
                        .help(format!("write the mode as a string: mode: \"{n:0>4}\"")),
                    ),
                    _ if x.ty.fits(&Ty::Str) => {}
                    _ => self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("{what} must be a mode string, found `{}`", x.ty),
                        )
                        .at(x.span, format!("this is `{}`", x.ty))
                        .help("write a mode like \"0644\""),
                    ),
                }
                x
            }
            ArgTy::LocalPath | ArgTy::RemotePath => {
                let x = self.expect(e, &Ty::Path, what);
                if matches!(ty, ArgTy::RemotePath) {
                    self.relative_path_params(&x, what);
                }
                if let ir::ExprKind::Str(s) = &x.kind {
                    let remote = matches!(ty, ArgTy::RemotePath);
                    if let Err(why) = validate_path(s, remote) {
                        // `validate_literal` already reported empty and `/`.
                        if !(s.is_empty() || s.trim_end_matches('/').is_empty()) {
                            self.emit(
                                Diagnostic::error(
                                    "invalid-path",
                                    format!("`{s}` is not a usable path here"),
                                )
                                .at(x.span, why)
                                .help("paths on hosts are absolute: \"/var/lib/etcd\""),
                            );
                        }
                    }
                }
                x
            }
            ArgTy::Vars => {
                self.template_vars = true;
                let x = self.expr(e);
                self.template_vars = false;
                match &x.kind {
                    ir::ExprKind::Map(entries) => {
                        // A secret value makes the rendered file a secret (its bytes and
                        // digest never journaled or logged); a record holding secrets
                        // (a command's result) would be dumped whole, so it is refused.
                        for (k, v) in entries {
                            if (v.ty.contains_secret() && v.ty != Ty::Secret)
                                || v.ty.has_secret_fields()
                            {
                                self.emit(
                                    Diagnostic::error("secret-in-template", format!("template variable `{k}` holds secrets"))
                                        .at(v.span, format!("a `{}` with secret fields", v.ty))
                                        .note("a record would reach the template whole (SAFETY.md invariant 24)")
                                        .help(format!("pass the one secret field: `{k}: NAME.stdout`")),
                                );
                            }
                        }
                    }
                    _ if x.ty == Ty::Error => {}
                    _ => self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("{what} must be a map literal `{{ name: value }}`"),
                        )
                        .at(x.span, format!("this is `{}`", x.ty))
                        .help("write `vars: { token: token, members: names(masters) }`"),
                    ),
                }
                x
            }
            ArgTy::ClusterName => {
                let x = self.expr(e);
                if !matches!(x.kind, ir::ExprKind::Cluster(_)) && x.ty != Ty::Error {
                    let help = did_you_mean(
                        &format!("{:?}", e.kind),
                        self.clusters.iter().map(|c| c.name.as_str()),
                        "clusters",
                    );
                    self.emit(
                        Diagnostic::error(
                            "unknown-cluster",
                            format!("{what} must name a declared cluster"),
                        )
                        .at(x.span, format!("this is `{}`", x.ty))
                        .help(help),
                    );
                }
                x
            }
            ArgTy::Flag => self.expr(e),
        }
    }
}

fn in_one_of(spec: &ActionSpec, name: &str) -> bool {
    spec.one_of.iter().any(|g| g.contains(&name))
}

fn arg_list(spec: &ActionSpec) -> String {
    let names: Vec<String> = spec.args.iter().map(|a| format!("`{}`", a.name)).collect();
    if names.is_empty() {
        "no arguments".into()
    } else {
        names.join(", ")
    }
}

fn line_span(src: &str, line: usize) -> Option<(usize, usize)> {
    let mut start = 0;
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return Some((start, start + l.trim_end_matches('\n').len()));
        }
        start += l.len();
    }
    None
}

fn find_var(src: &str, var: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = src[from..].find(var) {
        let s = from + i;
        let e = s + var.len();
        let before = src[..s].chars().next_back();
        let after = src[e..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !ident(before)
            && !ident(after)
            && src[..s].rfind("{{").or(src[..s].rfind("{%")).is_some()
        {
            return Some((s, e));
        }
        from = e;
    }
    None
}
