//! Clusters and steps: their fields and options, the step body and its rollback.

use super::*;

impl Checker<'_> {
    pub(super) fn cluster(&mut self, cl: &ast::Cluster) -> IndexMap<&'static str, ir::Expr> {
        let spec = schema::cluster_fields();
        let args = self.clauses(spec, None, &cl.fields, cl.name.span, "cluster");
        let fields: IndexMap<&'static str, ir::Expr> = args
            .into_iter()
            .filter_map(|(k, v)| match v {
                ir::Arg::Value(e) => Some((k, e)),
                ir::Arg::Flag(_) => None,
            })
            .collect();
        self.password_over_http(&fields);
        self.cluster_files_exist(&fields);
        fields
    }

    /// A cluster `password:` sent in clear text: no `ca` (so `http://`), no `https`
    /// scheme, no SSH tunnel, or an endpoint written `http://`.
    pub(super) fn password_over_http(&mut self, fields: &IndexMap<&'static str, ir::Expr>) {
        let Some(pw) = fields.get("password") else {
            return;
        };
        let literal = |k: &str| match fields.get(k).map(|e| &e.kind) {
            Some(ir::ExprKind::Str(s)) => Some(s.clone()),
            Some(ir::ExprKind::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let http_endpoint = match fields.get("endpoints").map(|e| &e.kind) {
            Some(ir::ExprKind::List(xs)) => xs
                .iter()
                .any(|x| matches!(&x.kind, ir::ExprKind::Str(u) if u.starts_with("http://"))),
            _ => false,
        };
        let tls = fields.contains_key("ca") || literal("scheme").as_deref() == Some("https");
        let tunnel = literal("tunnel").as_deref() == Some("true");
        if (http_endpoint || !tls) && !tunnel {
            self.emit(
                Diagnostic::warning(
                    "password-over-http",
                    "the cluster's password would cross the network in clear text",
                )
                .at(pw.span, "sent over `http://`")
                .help("give the cluster `ca:` (https), or `tunnel: true` to reach it through the hosts' SSH connections"),
            );
        }
    }

    pub(super) fn step(&mut self, s: &ast::Step, docs: &[String], span: Span) -> ir::Step {
        self.in_step = true;
        let targets = match &s.targets.kind {
            ast::ExprKind::Name(n) if n == "local" => None,
            _ => Some(self.expect(&s.targets, &Ty::Hosts, "a step's targets")),
        };
        // `until:` is evaluated after each attempt of the body, so it sees what the body
        // binds (`retries: 5 until: probe.rc == 0` with `let probe = run ...` inside).
        let (until, before): (Vec<ast::Clause>, Vec<ast::Clause>) = s
            .options
            .iter()
            .cloned()
            .partition(|c| c.key.name == "until");
        self.host_var_uses.clear();
        self.site = reach::Site {
            targets: targets.clone(),
            name: s.name.name.clone(),
        };
        let mut options = self.clauses(schema::step_options(), None, &before, s.name.span, "step");
        self.hostless_options(&options);
        self.step_once = options.contains_key("run_once");
        self.step_when = options.contains_key("when");
        self.step_when_run_wide = match options.get("when") {
            Some(ir::Arg::Value(e)) if e.run_wide() => Some(e.clone()),
            _ => None,
        };
        self.literal_option_ranges(&options);
        self.locals.push(Vec::new());
        let mut body = Vec::new();
        let mut rollback: Option<Vec<ir::Stmt>> = None;
        let mut rollback_span: Option<Span> = None;
        let mut dead_reported = false;
        let mut ended = false;
        for st in &s.body.stmts {
            if ended && !dead_reported && !matches!(st.kind, ast::StmtKind::Rollback(_)) {
                self.unreachable(st.span);
                dead_reported = true;
            }
            if let ast::StmtKind::Rollback(b) = &st.kind {
                if let Some(prev) = rollback_span {
                    self.emit(
                        Diagnostic::error(
                            "misplaced-rollback",
                            "a step has a second `rollback` block",
                        )
                        .at(st.span, "second rollback")
                        .also(prev, "first rollback")
                        .help("merge them into one block"),
                    );
                    continue;
                }
                rollback_span = Some(st.span);
                self.locals.push(Vec::new());
                let stmts = self.block_stmts(b);
                self.pop_locals();
                rollback = Some(stmts);
                continue;
            }
            ended |= ends_block(st);
            if let Some(x) = self.stmt(st, true) {
                body.push(x);
            }
        }
        self.pop_locals();
        if !until.is_empty() {
            let u = self.clauses(schema::step_options(), None, &until, s.name.span, "step");
            options.extend(u);
        }
        self.host_vars_present();
        self.in_step = false;
        ir::Step {
            name: s.name.name.clone(),
            docs: docs.to_vec(),
            targets,
            options,
            body,
            rollback,
            no_return: None,
            span,
        }
    }
}
