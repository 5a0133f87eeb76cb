//! Before any host is touched: params as typed values, host sets, step targets (an
//! empty one refused), step options computed from params (an unusable one refused),
//! cluster connections, the journal.

use super::*;

pub fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{:04x}",
        timestamp_utc(now.as_secs()),
        std::process::id() & 0xffff
    )
}

/// `20260102T030405Z` for a Unix time.
pub fn timestamp_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The first step whose expressions satisfy `pred` or whose actions satisfy `action`.
pub(super) fn flow_any(
    flow: &ir::Flow,
    pred: &dyn Fn(&ir::Expr) -> bool,
    action: &dyn Fn(&ir::Action) -> bool,
) -> Option<String> {
    let acting: std::collections::BTreeSet<usize> = flow
        .actions()
        .into_iter()
        .filter(|s| action(s.action))
        .map(|s| s.step)
        .collect();
    flow.steps
        .iter()
        .enumerate()
        .find(|(i, step)| {
            acting.contains(i) || ir::Flow::step_exprs(step).into_iter().any(|e| e.any(pred))
        })
        .map(|(_, s)| s.name.clone())
}

/// Reads facts: a field of a cluster, or `member(cluster, host)`, or a leader ordering.
/// (`peer_url` and the other addressing functions come from the declaration: no etcd.)
pub(super) fn uses_facts(flow: &ir::Flow) -> bool {
    let reads = |e: &ir::Expr| match &e.kind {
        ExprKind::Field { base, .. } => matches!(base.kind, ExprKind::Cluster(_)),
        ExprKind::Call { func, .. } => matches!(
            *func,
            "member" | "is_member" | "leader_last" | "followers_first" | "leader_first"
        ),
        _ => false,
    };
    flow_any(flow, &reads, &|_| false).is_some()
}

/// Whether a step needs cluster `ci` to run: an etcd action on it, or its facts read
/// (the addressing functions come from the declaration and need nothing running).
pub(super) fn step_uses_cluster(step: &ir::Step, ci: usize) -> bool {
    let is_c = |e: &ir::Expr| matches!(e.kind, ExprKind::Cluster(c) if c == ci);
    let reads = |e: &ir::Expr| match &e.kind {
        ExprKind::Field { base, .. } => is_c(base),
        ExprKind::Call { func, args } => {
            matches!(
                *func,
                "member" | "is_member" | "leader_last" | "followers_first" | "leader_first"
            ) && args.first().is_some_and(is_c)
        }
        _ => false,
    };
    step.actions()
        .iter()
        .any(|s| matches!(s.action.kind, ActionKind::Etcd(_)) && s.action.cluster == Some(ci))
        || ir::Flow::step_exprs(step)
            .into_iter()
            .any(|e| e.any(&reads))
}

pub(super) fn has_confirm(stmts: &[ir::Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        ir::Stmt::Action(a)
        | ir::Stmt::Let {
            value: ir::LetValue::Action(a),
            ..
        } => a.kind == ActionKind::Confirm,
        ir::Stmt::If {
            then, otherwise, ..
        } => has_confirm(then) || has_confirm(otherwise),
        ir::Stmt::For { body, .. } | ir::Stmt::Block(body) => has_confirm(body),
        _ => false,
    })
}

/// Everything a run needs, prepared and checked before any connection.
pub struct Prepared {
    pub(super) shared: Arc<Shared>,
    /// Hosts per step (`None`: the controller).
    pub(super) targets: Vec<Option<Vec<String>>>,
}

pub fn prepare(
    flow: ir::Flow,
    param_values: &IndexMap<String, ir::Expr>,
    inventory: Inventory,
    sources: SourceMap,
    opts: Options,
    events: Sender,
    plan_only: bool,
) -> Result<Prepared, Refusal> {
    let needs_answer = flow.steps.iter().any(|s| has_confirm(&s.body));
    if needs_answer && !opts.yes && opts.prompter.is_none() && !plan_only {
        return Err(Refusal {
            code: "confirm-without-tty",
            message: "this flow asks for confirmation, and there is no terminal to ask on".into(),
            help: "run it from a terminal, or pass `--yes` to answer every `confirm` with yes (the answers are recorded)".into(),
        });
    }
    let run_id = opts
        .resume
        .as_ref()
        .map_or_else(run_id, |r| r.run_id.clone());
    let started = run_id.split('-').next().unwrap_or_default().to_string();
    let binding_names: Vec<String> = flow.bindings.iter().map(|b| b.name.clone()).collect();
    let binding_global: Vec<bool> = flow.bindings.iter().map(|b| b.global).collect();
    let mut params = Vec::new();
    for p in &flow.params {
        let expr = param_values.get(&p.name).or(p.default.as_ref());
        let v = match expr {
            Some(e) => {
                let cx = Ctx::global(&params, &[], &inventory, &binding_names, &run_id, &started);
                eval::param_value(e, &p.ty, &cx).map_err(|m| Refusal {
                    code: "invalid-param-value",
                    message: format!("param `{}`: {m}", p.name),
                    help: "fix the value".into(),
                })?
            }
            None if matches!(p.ty, crate::check::types::Ty::Optional(_)) => Value::None,
            None => {
                return Err(Refusal {
                    code: "missing-param",
                    message: format!("param `{}` has no value", p.name),
                    help: format!("pass it with `-e {}=VALUE`", p.name),
                })
            }
        };
        params.push(v);
    }
    // Outside any host: host sets, step targets and cluster addressing see params only.
    let base = Ctx::global(&params, &[], &inventory, &binding_names, &run_id, &started);
    let mut hosts = Vec::new();
    for h in &flow.hosts {
        let cx = Ctx {
            hosts: &hosts,
            ..base.clone()
        };
        let v = eval::eval(&h.value, &cx).map_err(|m| Refusal {
            code: "unknown-inventory-group",
            message: format!("host set `{}`: {m}", h.name),
            help: "check the inventory given with `-i`".into(),
        })?;
        hosts.push(v);
    }
    let mut targets = Vec::new();
    for s in &flow.steps {
        let t = match &s.targets {
            None => None,
            Some(e) => {
                let cx = Ctx {
                    hosts: &hosts,
                    ..base.clone()
                };
                let hs = match eval::eval(e, &cx).map_err(|m| Refusal {
                    code: "unknown-inventory-group",
                    message: format!("step `{}`: {m}", s.name),
                    help: "check the inventory".into(),
                })? {
                    Value::Hosts(h) => h,
                    Value::Host(h) => vec![h],
                    other => {
                        return Err(Refusal {
                            code: "internal-error",
                            message: format!(
                                "step `{}`: its targets are `{}`, not hosts",
                                s.name,
                                other.to_text()
                            ),
                            help: "this is a bug in etcdflow: the checker let it through".into(),
                        })
                    }
                };
                // A run on zero hosts never reports success: only an optional group
                // (`group("x")?`) may be empty.
                if hs.is_empty() && !may_be_empty(e, &flow) {
                    return Err(Refusal {
                        code: "empty-target",
                        message: format!(
                            "step `{}` targets no host: `{}` is empty in this inventory",
                            s.name,
                            sources.span_text(e.span).trim()
                        ),
                        help: "give the group hosts in the inventory, or write `group(\"NAME\")?` if the step may run on no host".into(),
                    });
                }
                Some(hs)
            }
        };
        targets.push(t);
    }
    // `--limit`: after the check and the empty-target refusal, as Ansible applies it; a
    // limit that leaves no targeted host at all refuses the run.
    if let Some(pattern) = &opts.limit {
        let keep = inventory.select(pattern).map_err(|m| Refusal {
            code: "invalid-limit",
            message: format!("--limit {pattern}: {m}"),
            help: "use Ansible's host patterns: `g1:g2`, `g1:&g2`, `g1:!g2`, host names, `web*`"
                .into(),
        })?;
        let mut any = false;
        for t in targets.iter_mut().flatten() {
            t.retain(|h| keep.contains(h));
            any |= !t.is_empty();
        }
        if !any && targets.iter().any(Option::is_some) {
            return Err(Refusal {
                code: "invalid-limit",
                message: format!("--limit {pattern} leaves no host for any step"),
                help: "check the pattern against `etcdflow inventory -i INV`".into(),
            });
        }
    }
    // Step options computed from params are known now: an unusable value refuses the
    // run before any host is touched (values from bindings are checked at the step).
    for s in &flow.steps {
        if let Err(e) = options::evaluate(s, &base_with(&base, &hosts)) {
            if !e.unknown {
                return Err(Refusal {
                    code: "invalid-step-option",
                    message: e.describe(&s.name),
                    help: "fix the value given to the option (its param, `-e` value or expression)"
                        .into(),
                });
            }
        }
    }
    let uses_facts_flag = uses_facts(&flow);
    let mut cluster_confs = Vec::new();
    for c in &flow.clusters {
        let cx = Ctx {
            hosts: &hosts,
            ..base.clone()
        };
        let text = |k: &str, default: &str| -> Result<String, Refusal> {
            match c.fields.get(k) {
                Some(e) => eval::eval(e, &cx)
                    .map(|v| v.to_text())
                    .map_err(|m| Refusal {
                        code: "invalid-param-value",
                        message: format!("cluster `{}`: `{k}`: {m}", c.name),
                        help: "fix the cluster declaration".into(),
                    }),
                None => Ok(default.to_string()),
            }
        };
        let members = match c.fields.get("members").map(|e| eval::eval(e, &cx)) {
            Some(Ok(Value::Hosts(h))) => h,
            Some(Ok(Value::Host(h))) => vec![h],
            _ => Vec::new(),
        };
        let scheme_default = if c.fields.contains_key("ca") {
            "https"
        } else {
            "http"
        };
        let refuse = |m: String| Refusal {
            code: "cluster-unreachable",
            message: format!("cluster `{}`: {m}", c.name),
            help: "fix the cluster declaration or the files it names".into(),
        };
        let value = |k: &str| -> Result<Option<Value>, Refusal> {
            c.fields
                .get(k)
                .map(|e| eval::eval(e, &cx))
                .transpose()
                .map_err(|m| refuse(format!("`{k}`: {m}")))
        };
        let scheme = text("scheme", scheme_default)?;
        let client_port = text("client_port", "2379")?;
        let tunnel = value("tunnel")?.is_some_and(|v| v.truthy());
        let endpoints: Vec<String> = match value("endpoints")? {
            Some(Value::List(xs)) => xs.iter().map(Value::to_text).collect(),
            _ => members
                .iter()
                .filter_map(|h| inventory.target(h))
                .map(|t| {
                    let a = if t.address.contains(':') {
                        format!("[{}]", t.address)
                    } else {
                        t.address.clone()
                    };
                    format!("{scheme}://{a}:{client_port}")
                })
                .collect(),
        };
        // A cluster the flow creates (`lazy: true`) has its TLS files read when a step
        // first uses it (an earlier step may generate them); any other reads them now.
        let lazy = value("lazy")?.is_some_and(|v| v.truthy());
        let read = |k: &str| -> Result<Option<transport::etcd::Pem>, Refusal> {
            use transport::etcd::Pem;
            match value(k)? {
                None => Ok(None),
                Some(v) if plan_only => Ok(Some(Pem::Bytes(v.to_text().into_bytes()))),
                Some(v) if lazy => Ok(Some(Pem::File(opts.flow_dir.join(v.to_text())))),
                Some(v) => {
                    let p = opts.flow_dir.join(v.to_text());
                    std::fs::read(&p).map(|b| Some(Pem::Bytes(b))).map_err(|e| {
                        refuse(format!(
                            "`{k}`: cannot read {}: {e} (if a step of the flow creates it, declare the cluster `lazy: true`)",
                            p.display()
                        ))
                    })
                }
            }
        };
        let identity = match (read("cert")?, read("key")?) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(refuse("`cert` and `key` go together".into())),
        };
        let auth = match (value("user")?, value("password")?) {
            (Some(u), Some(Value::Secret(p))) => Some((u.to_text(), p.expose().to_string())),
            (Some(u), None) => Some((u.to_text(), String::new())),
            (None, None) => None,
            _ => return Err(refuse("`password` needs `user`".into())),
        };
        let timeout = match value("timeout")? {
            Some(Value::Duration(ms)) => Duration::from_millis(ms),
            _ => Duration::from_secs(5),
        };
        let conn = transport::etcd::Conf {
            name: c.name.clone(),
            endpoints,
            timeout,
            ca: read("ca")?,
            identity,
            auth,
            tunnels: Arc::default(),
            aliases: Arc::default(),
            cluster_id: Arc::default(),
        };
        cluster_confs.push(eval::ClusterConf {
            name: c.name.clone(),
            scheme,
            client_port,
            peer_port: text("peer_port", "2380")?,
            members,
            name_var: c
                .fields
                .get("name_var")
                .and_then(|e| eval::eval(e, &cx).ok())
                .map(|v| v.to_text()),
            conn: Some(conn),
            tunnel,
            lazy,
        });
    }
    let journal = if plan_only {
        None
    } else if let Some(r) = &opts.resume {
        Some(crate::journal::Journal::open(&r.dir).map_err(|e| Refusal {
            code: "journal-error",
            message: format!("cannot open the journal in {}: {e}", r.dir.display()),
            help: "check the state directory".into(),
        })?)
    } else if let Some(dir) = &opts.state_dir {
        Some(
            crate::journal::Journal::create(dir, &run_id).map_err(|e| Refusal {
                code: "journal-error",
                message: format!("cannot create the run journal under {}: {e}", dir.display()),
                help: "nothing runs without a journal; fix the state directory (`--state-dir`)"
                    .into(),
            })?,
        )
    } else {
        None
    };
    Ok(Prepared {
        shared: Arc::new(Shared {
            flow,
            params,
            hosts,
            inventory,
            sources,
            binding_names,
            run_id,
            started,
            opts,
            events,
            journal,
            interrupted: std::sync::atomic::AtomicBool::new(false),
            lease_lost: std::sync::atomic::AtomicBool::new(false),
            facts: std::sync::Mutex::default(),
            published: std::sync::Mutex::default(),
            delegates: tokio::sync::Mutex::default(),
            binding_global,
            etcd: cluster_confs
                .iter()
                .map(|c| etcd::ClusterState::new(!c.lazy))
                .collect(),
            cluster_confs,
            verified: std::sync::Mutex::default(),
            probers: std::sync::Mutex::default(),
            uses_facts: uses_facts_flag,
        }),
        targets,
    })
}

impl Prepared {
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// The hosts connected before the run: every step's targets, in order (not the hosts
    /// only `connect_late` steps target: those connect at their step), and whether the
    /// controller is used.
    pub fn all_hosts(&self) -> (Vec<String>, bool) {
        let mut all: Vec<String> = Vec::new();
        let mut local = false;
        let late = self.late_hosts();
        for t in &self.targets {
            match t {
                None => local = true,
                Some(hs) => {
                    for h in hs {
                        if !all.contains(h) && !late.contains(h) {
                            all.push(h.clone());
                        }
                    }
                }
            }
        }
        // Tunnels to etcd go through the member hosts' connections, and a new member's
        // peer URL is probed from every existing member (inv. 5).
        let adds = |i: usize| {
            flow_any(&self.shared.flow, &|_| false, &|a: &ir::Action| {
                a.kind == ActionKind::Etcd(ir::EtcdOp::MemberAdd) && a.cluster == Some(i)
            })
            .is_some()
        };
        for (_, c) in self
            .shared
            .cluster_confs
            .iter()
            .enumerate()
            .filter(|(i, c)| c.tunnel || adds(*i))
        {
            for h in &c.members {
                if !all.contains(h) && !late.contains(h) {
                    all.push(h.clone());
                }
            }
        }
        (all, local)
    }

    /// Hosts that only `connect_late` steps target (a machine the operator creates at a
    /// gate during the run): connected when the first of those steps starts.
    pub fn late_hosts(&self) -> Vec<String> {
        let mut late: Vec<String> = Vec::new();
        let mut early: Vec<String> = Vec::new();
        for (step, t) in self.shared.flow.steps.iter().zip(&self.targets) {
            let Some(hs) = t else { continue };
            let list = if step.options.contains_key("connect_late") {
                &mut late
            } else {
                &mut early
            };
            list.extend(hs.iter().cloned());
        }
        late.retain(|h| !early.contains(h));
        late.dedup();
        late
    }
}

pub(super) fn base_with<'a>(base: &Ctx<'a>, hosts: &'a [Value]) -> Ctx<'a> {
    Ctx {
        hosts,
        ..base.clone()
    }
}

/// Whether a target expression may be empty: it takes an optional group somewhere.
pub(super) fn may_be_empty(e: &ir::Expr, flow: &ir::Flow) -> bool {
    match &e.kind {
        ExprKind::Group { optional, .. } => *optional,
        ExprKind::Hosts(i) => flow
            .hosts
            .get(*i)
            .is_some_and(|h| may_be_empty(&h.value, flow)),
        ExprKind::Call { args, .. } => args.iter().any(|a| may_be_empty(a, flow)),
        ExprKind::Binary { lhs, rhs, .. } => may_be_empty(lhs, flow) || may_be_empty(rhs, flow),
        ExprKind::List(xs) => xs.iter().any(|a| may_be_empty(a, flow)),
        _ => false,
    }
}

/// Hosts that are used by the flow but absent from the inventory (for `plan`).
pub fn missing_hosts(prep: &Prepared) -> BTreeSet<String> {
    let (all, _) = prep.all_hosts();
    all.into_iter()
        .filter(|h| prep.shared.inventory.target(h).is_none())
        .collect()
}
