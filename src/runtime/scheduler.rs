//! The scheduler: steps in order, each step's hosts in batches or in parallel (one task
//! per host, owning its connection), the failure budget, and the rollback in reverse.

use super::steps::{run_step, step_options};
use super::*;

pub(super) async fn run_inner(prep: Prepared) -> RunStatus {
    use crate::journal::Record;
    let sh = prep.shared;
    let t0 = Instant::now();
    let send = |e: Event| {
        let _ = sh.events.send(e);
    };
    let (all, uses_local) = Prepared {
        shared: Arc::clone(&sh),
        targets: prep.targets.clone(),
    }
    .all_hosts();
    send(Event::RunStarted {
        run_id: sh.run_id.clone(),
        flow: sh.flow.name.clone(),
        steps: sh.flow.steps.len(),
        hosts: all.len(),
    });
    match (&sh.opts.resume, &sh.opts.meta) {
        (Some(r), _) => {
            sh.journal(Record::Resumed {
                at: run_id(),
                operator: crate::journal::operator(),
            })
            .await;
            etcd::reverify(&sh, &r.verified).await;
        }
        (None, Some(m)) => {
            let secret_params: Vec<String> = sh
                .flow
                .params
                .iter()
                .zip(&sh.params)
                .filter(|(_, v)| matches!(v, Value::Secret(_)))
                .map(|(p, _)| p.name.clone())
                .collect();
            sh.journal(Record::Run {
                run_id: sh.run_id.clone(),
                flow: m.flow.clone(),
                flow_sha256: m.flow_sha256.clone(),
                inventory: Box::new(m.inventory.clone()),
                params: sh
                    .flow
                    .params
                    .iter()
                    .zip(&sh.params)
                    .map(|(p, v)| (p.name.clone(), v.to_arg()))
                    .collect(),
                secret_params,
                operator: crate::journal::operator(),
                started: sh.started.clone(),
                ssh_config: m.ssh_config.clone(),
                known_hosts: m.known_hosts.clone(),
                forks: sh.opts.forks,
                limit: sh.opts.limit.clone(),
            })
            .await;
        }
        (None, None) => {}
    }

    // Ctrl-C and SIGTERM: stop starting work; running commands finish or hit their deadline.
    let watcher = {
        let sh2 = Arc::clone(&sh);
        tokio::spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            let name = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                () = term => "SIGTERM",
            };
            sh2.interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            sh2.journal(Record::Interrupted {
                signal: name.into(),
            })
            .await;
            let _ = sh2.events.send(Event::Log {
                step: String::new(),
                host: LOCAL.into(),
                message: format!(
                    "{name}: no new work starts; running commands finish or reach their deadline"
                ),
            });
        })
    };

    // Connect everything first: an unreachable host refuses the run before any change.
    let mut states: IndexMap<String, HostState> = IndexMap::new();
    let mut set = JoinSet::new();
    for h in all
        .iter()
        .cloned()
        .chain(uses_local.then(|| LOCAL.to_string()))
    {
        let sh2 = Arc::clone(&sh);
        set.spawn(async move {
            let t = Instant::now();
            let tag = format!("{}-{h}", sh2.run_id);
            let conn = connect(&sh2, &h, &tag).await;
            (h, conn, t.elapsed())
        });
    }
    let mut refused = false;
    while let Some(r) = set.join_next().await {
        let Ok((h, conn, took)) = r else {
            refused = true;
            continue;
        };
        match conn {
            Ok(c) => {
                send(Event::Connected {
                    host: h.clone(),
                    ms: ms(took),
                });
                states.insert(h.clone(), host_state(&sh, h, c));
            }
            Err(e) => {
                send(Event::ConnectFailed {
                    host: h,
                    error: e.to_string(),
                });
                refused = true;
            }
        }
    }
    // Hosts that actions are delegated to, where known before the run (`on: first(new)`,
    // a `host` param): connected now, so an unreachable one refuses the run before any
    // change. Others (`on:` a per-host value) connect at their first use.
    if !refused {
        let mut known: Vec<String> = Vec::new();
        for site in sh.flow.actions() {
            if let Some(Arg::Value(e)) = site.action.args.get("on") {
                if let Ok(Value::Host(h)) = eval::eval(e, &sh.ctx(None, &[], &[])) {
                    if !known.contains(&h) {
                        known.push(h);
                    }
                }
            }
        }
        for h in known {
            if let Err(Fail(e)) = sh.delegate(&h).await {
                send(Event::ConnectFailed { host: h, error: e });
                refused = true;
            }
        }
    }
    if let Ok(mut p) = sh.probers.lock() {
        p.extend(states.iter().map(|(h, s)| (h.clone(), s.conn.prober())));
    }
    // One operator per cluster (inv. 19): a local lock file for every cluster the flow
    // acts on, and a lease lock in etcd for those it changes through the API.
    let mut _local_locks = Vec::new();
    if !refused {
        // Tunnels first: the locks may be taken through them.
        let setup = match etcd::open_tunnels(&sh, &states, None).await {
            Ok(()) => etcd::take_locks(&sh, None).await,
            Err(m) => Err(m),
        };
        match setup {
            Ok(files) => _local_locks = files,
            Err(m) => {
                send(Event::Log {
                    step: String::new(),
                    host: LOCAL.into(),
                    message: m,
                });
                refused = true;
            }
        }
    }
    if refused {
        for (_, s) in states {
            s.conn.close().await;
        }
        watcher.abort();
        sh.journal(Record::RunEnd {
            status: "refused".into(),
            exit_code: RunStatus::Refused.exit_code(),
        })
        .await;
        send(Event::RunDone {
            status: RunStatus::Refused,
            exit_code: RunStatus::Refused.exit_code(),
            ms: ms(t0.elapsed()),
        });
        return RunStatus::Refused;
    }

    // Steps.
    let (first, mut ran) = match &sh.opts.resume {
        Some(r) => (r.start_step, r.ran.clone()),
        None => (0, Vec::new()),
    };
    let mut failed_at: Option<usize> = None;
    // The failing step had `on_failure: "undo_host"`: whether its hosts' undo succeeded.
    let mut undone_at: Option<bool> = None;
    let mut interrupted = false;
    for (i, step) in sh.flow.steps.iter().enumerate().skip(first) {
        if etcd::lock_lost(&sh).await || sh.interrupted() {
            interrupted = true;
            break;
        }
        let mut hosts: Vec<String> = match &prep.targets[i] {
            None => vec![LOCAL.to_string()],
            Some(h) => h.clone(),
        };
        // `connect_late`: the hosts no earlier step needed connect now, before any change.
        if let Err(m) = connect_late(&sh, step, &hosts, &mut states).await {
            send(step_failed(step, m));
            failed_at = Some(i);
            ran.push((i, Vec::new()));
            break;
        }
        // A cluster the flow creates (`lazy: true`) is set up at the first step that uses
        // it, before that step's first change: tunnels, then its lock (inv. 19).
        // A step whose `when:` is run-wide (`when: not recover`) and false runs nowhere:
        // it sets up nothing.
        let mode_off = match step.options.get("when") {
            Some(Arg::Value(e)) if e.run_wide() => !matches!(
                eval::eval(e, &sh.ctx(None, &[], &[])),
                Ok(Value::Bool(true))
            ),
            _ => false,
        };
        let mut lazy_failed = None;
        for (ci, c) in sh.cluster_confs.iter().enumerate() {
            if mode_off
                || !c.lazy
                || sh.etcd.get(ci).is_none_or(etcd::ClusterState::is_active)
                || !super::prepare::step_uses_cluster(step, ci)
            {
                continue;
            }
            // A cluster an earlier step just started may need a moment for its quorum:
            // its lock is tried for up to 60 s (a lock another run holds is refused at once).
            let t_end = Instant::now() + Duration::from_secs(60);
            let setup = loop {
                let r = match etcd::open_tunnels(&sh, &states, Some(ci)).await {
                    Ok(()) => etcd::take_locks(&sh, Some(ci)).await,
                    Err(m) => Err(m),
                };
                match r {
                    Err(m) if !m.contains("cluster-locked") && Instant::now() < t_end => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    r => break r,
                }
            };
            match setup {
                Ok(files) => {
                    _local_locks.extend(files);
                    if let Some(st) = sh.etcd.get(ci) {
                        st.active.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    send(Event::Log {
                        step: step.name.clone(),
                        host: LOCAL.into(),
                        message: format!(
                            "cluster `{}` (lazy) is used from this step on: connected and locked",
                            c.name
                        ),
                    });
                }
                Err(m) => {
                    lazy_failed = Some(m);
                    break;
                }
            }
        }
        if let Some(m) = lazy_failed {
            send(step_failed(step, m));
            failed_at = Some(i);
            ran.push((i, Vec::new()));
            break;
        }
        // Facts are read fresh before every step that may use them.
        if sh.uses_facts {
            if let Err(e) = sh.refresh_facts().await {
                send(step_failed(
                    step,
                    format!("cannot read the cluster's facts: {e}"),
                ));
                failed_at = Some(i);
                ran.push((i, Vec::new()));
                break;
            }
        }
        let opts = match step_options(&sh, step, &states) {
            Ok(o) => o,
            Err(e) => {
                send(step_failed(step, e.describe(&step.name)));
                failed_at = Some(i);
                ran.push((i, Vec::new()));
                break;
            }
        };
        if let Err(e) = order_step_hosts(&sh, step, &states, &mut hosts) {
            send(step_failed(step, format!("cannot order the hosts: {e}")));
            failed_at = Some(i);
            ran.push((i, Vec::new()));
            break;
        }
        if opts.run_once {
            hosts.truncate(1);
        }
        // Resuming inside a step: hosts that finished it are done; hosts whose outcome
        // is unknown run it again without deciding `when:` anew (it held when their
        // iteration began), and its guards (`creates:`, `removes:`, the idempotent etcd
        // actions) re-observe what is already there.
        let mut already = Vec::new();
        if let Some(r) = sh.opts.resume.as_ref().filter(|r| r.start_step == i) {
            already = hosts
                .iter()
                .filter(|h| r.done_hosts.contains(h))
                .cloned()
                .collect();
            hosts.retain(|h| !r.done_hosts.contains(h));
            for h in &r.unknown_hosts {
                send(Event::Log { step: step.name.clone(), host: h.clone(), message: "outcome unknown after the interruption: running the step again (its `when:` held when it began); its guards decide what is left to do".into() });
            }
        }
        let (mut started_on, ok, undone) = run_step(&sh, i, &hosts, &mut states, false).await;
        started_on.extend(already);
        ran.push((i, started_on));
        if !ok && sh.lease_lost.load(std::sync::atomic::Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        if !ok {
            failed_at = Some(i);
            undone_at = undone;
            break;
        }
        if sh.interrupted() {
            interrupted = true;
            break;
        }
    }

    let rollback = |sh: Arc<Shared>,
                    ran: Vec<(usize, Vec<String>)>,
                    mut states: IndexMap<String, HostState>| async move {
        let with_rb: Vec<(usize, Vec<String>)> = ran
            .into_iter()
            .rev()
            .filter(|(s, hosts)| {
                !hosts.is_empty()
                    && (sh.flow.steps[*s].rollback.is_some() || sh.flow.steps[*s].edits())
            })
            .collect();
        let _ = sh.events.send(Event::RollbackStarted {
            steps: with_rb
                .iter()
                .map(|(s, _)| sh.flow.steps[*s].name.clone())
                .collect(),
        });
        let mut all_ok = true;
        for (s, hosts) in &with_rb {
            if etcd::lock_lost(&sh).await {
                all_ok = false;
                let _ = sh.events.send(Event::Log {
                    step: sh.flow.steps[*s].name.clone(),
                    host: LOCAL.into(),
                    message: format!("rollback stopped: {}", etcd::LEASE_LOST),
                });
                break;
            }
            // The reverse of the order the step ran in, with the step's own width.
            let hosts: Vec<String> = hosts.iter().rev().cloned().collect();
            let (_, ok, _) = run_step(&sh, *s, &hosts, &mut states, true).await;
            if !ok {
                all_ok = false;
                break;
            }
        }
        (all_ok, states)
    };
    let status = if sh.lease_lost.load(std::sync::atomic::Ordering::SeqCst) && failed_at.is_none() {
        // No rollback without the lock: it would change the cluster under another
        // operator. The journal keeps where the run stood.
        send(Event::Log {
            step: String::new(),
            host: LOCAL.into(),
            message: format!(
                "{}. Once the cluster is yours again: `{}`",
                etcd::LEASE_LOST,
                resume_command(&sh)
            ),
        });
        RunStatus::Interrupted
    } else if interrupted && failed_at.is_none() {
        // On a terminal, offer the rollback; otherwise `--rollback-on-interrupt` decides.
        let offered = !sh.opts.rollback_on_interrupt
            && sh
                .opts
                .prompter
                .as_ref()
                .is_some_and(|p| p("interrupted: roll back the steps that ran?"));
        if sh.opts.rollback_on_interrupt || offered {
            let (ok, st) = rollback(Arc::clone(&sh), ran.clone(), states).await;
            states = st;
            if ok {
                RunStatus::FailedRolledBack
            } else {
                RunStatus::FailedRollbackFailed
            }
        } else {
            send(Event::Log {
                step: String::new(),
                host: LOCAL.into(),
                message: format!("interrupted: continue with `{}`", resume_command(&sh)),
            });
            RunStatus::Interrupted
        }
    } else {
        match failed_at {
            None => RunStatus::Success,
            // `on_failure: "undo_host"`: the failing hosts' change was undone in the step;
            // nothing else is rolled back.
            Some(_) if undone_at.is_some() => {
                if undone_at == Some(true) {
                    send(Event::Log {
                        step: String::new(),
                        host: LOCAL.into(),
                        message: format!(
                            "the failing host's change was undone and the run stopped; once the cause is fixed, `{}` runs that step again where it did not finish",
                            resume_command(&sh)
                        ),
                    });
                    RunStatus::FailedUndone
                } else {
                    RunStatus::FailedRollbackFailed
                }
            }
            Some(i) => {
                if let Some(msg) = &sh.flow.steps[i].no_return {
                    // Past the point of no return the failing step's own rollback still
                    // runs (on the hosts where it ran); earlier steps are not undone.
                    let step = &sh.flow.steps[i];
                    let mut own_ok = true;
                    if !sh.opts.no_rollback && (step.rollback.is_some() || step.edits()) {
                        let own: Vec<(usize, Vec<String>)> =
                            ran.iter().filter(|(s, _)| *s == i).cloned().collect();
                        let (ok, st) = rollback(Arc::clone(&sh), own, states).await;
                        own_ok = ok;
                        states = st;
                    }
                    let cx = sh.ctx(None, &[], &[]);
                    let text = eval::render(msg, &cx, false).unwrap_or_else(|e| {
                        format!("(recovery message could not be rendered: {e})")
                    });
                    send(Event::NoReturn { message: text });
                    if own_ok {
                        RunStatus::FailedNoRollback
                    } else {
                        RunStatus::FailedRollbackFailed
                    }
                } else if sh.opts.no_rollback {
                    RunStatus::FailedNoRollback
                } else {
                    let (ok, st) = rollback(Arc::clone(&sh), ran.clone(), states).await;
                    states = st;
                    if ok {
                        RunStatus::FailedRolledBack
                    } else {
                        RunStatus::FailedRollbackFailed
                    }
                }
            }
        }
    };
    for (_, mut s) in states {
        // A run that ended well (or rolled back completely) needs no edit backups; one
        // that did not leaves them beside the files for the operator.
        if matches!(status, RunStatus::Success | RunStatus::FailedRolledBack) {
            edits::forget(&sh, &mut s).await;
        }
        s.conn.close().await;
    }
    for (_, d) in std::mem::take(&mut *sh.delegates.lock().await) {
        if let Ok(c) = Arc::try_unwrap(d) {
            c.into_inner().close().await;
        }
    }
    watcher.abort();
    let status_name = serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    sh.journal(Record::RunEnd {
        status: status_name,
        exit_code: status.exit_code(),
    })
    .await;
    send(Event::RunDone {
        status,
        exit_code: status.exit_code(),
        ms: ms(t0.elapsed()),
    });
    status
}

/// A connection to `host` (the controller for `local` or an `ansible_connection=local`
/// host), its control socket tagged `tag`.
/// A connected host's state: its bindings (restored from the journal on resume) and the
/// edits a resumed run still has to undo there.
fn host_state(sh: &Shared, h: String, conn: Conn) -> HostState {
    let mut bindings = vec![None; sh.flow.bindings.len()];
    if let Some(saved) = sh.opts.resume.as_ref().and_then(|r| r.bindings.get(&h)) {
        for (i, v) in saved {
            if let Some(slot) = bindings.get_mut(*i) {
                *slot = Some(eval::json_value(v.clone()));
            }
        }
    }
    sh.publish(&h, &bindings);
    let undo = sh
        .opts
        .resume
        .as_ref()
        .and_then(|r| r.edits.get(&h))
        .cloned()
        .unwrap_or_default();
    HostState {
        name: h,
        conn,
        bindings,
        step_opts: None,
        undo,
        delegated: None,
        deadline: None,
    }
}

/// Connect a `connect_late` step's hosts that are not connected yet (all of them at
/// once); an unreachable one fails the step before anything ran on it.
async fn connect_late(
    sh: &Arc<Shared>,
    step: &ir::Step,
    hosts: &[String],
    states: &mut IndexMap<String, HostState>,
) -> Result<(), String> {
    if !step.options.contains_key("connect_late") {
        return Ok(());
    }
    let missing: Vec<String> = hosts
        .iter()
        .filter(|h| *h != LOCAL && !states.contains_key(*h))
        .cloned()
        .collect();
    let mut set = JoinSet::new();
    for h in missing {
        let sh2 = Arc::clone(sh);
        set.spawn(async move {
            let t = Instant::now();
            let tag = format!("{}-{h}", sh2.run_id);
            let conn = connect(&sh2, &h, &tag).await;
            (h, conn, t.elapsed())
        });
    }
    let mut errors = Vec::new();
    while let Some(r) = set.join_next().await {
        let Ok((h, conn, took)) = r else {
            errors.push("a connection task failed".to_string());
            continue;
        };
        match conn {
            Ok(c) => {
                let _ = sh.events.send(Event::Connected {
                    host: h.clone(),
                    ms: ms(took),
                });
                if let Ok(mut p) = sh.probers.lock() {
                    p.insert(h.clone(), c.prober());
                }
                states.insert(h.clone(), host_state(sh, h, c));
            }
            Err(e) => {
                let _ = sh.events.send(Event::ConnectFailed {
                    host: h.clone(),
                    error: e.to_string(),
                });
                errors.push(format!("{h}: {e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cannot connect to the step's late hosts ({}): nothing ran on them",
            errors.join("; ")
        ))
    }
}

pub(super) async fn connect(
    sh: &Shared,
    h: &str,
    tag: &str,
) -> Result<Conn, transport::TransportError> {
    if h == LOCAL {
        return Conn::local_tagged(LOCAL, tag).await;
    }
    match sh.inventory.target(h) {
        Some(t) if t.local => Conn::local_tagged(h, tag).await,
        Some(t) => {
            let ep = Endpoint {
                name: h.to_string(),
                address: t.address,
                port: t.port,
                user: t.user,
                key_file: t.key_file,
                local: false,
                tag: tag.to_string(),
                ssh: t.ssh,
            };
            Conn::ssh(&ep, &sh.opts.ssh).await
        }
        None => Err(transport::TransportError::Connect(format!(
            "`{h}` is not in the inventory"
        ))),
    }
}

/// A binding restored from the journal: scalars come back typed, records as JSON
/// (field access, comparison and interpolation work on both).
/// A step that fails on the controller before any host starts it.
pub(super) fn step_failed(step: &ir::Step, error: String) -> Event {
    Event::HostDone {
        step: step.name.clone(),
        host: LOCAL.into(),
        ok: false,
        error: Some(error),
        ms: 0,
        rollback: false,
    }
}

/// Put a step's hosts in the order its `order:` asks for: `by(key)`/`reverse_by(key)`
/// per host, or an ordering value (`leader_last(c)`...) from the facts just read.
pub(super) fn order_step_hosts(
    sh: &Shared,
    step: &ir::Step,
    states: &IndexMap<String, HostState>,
    hosts: &mut Vec<String>,
) -> Result<(), String> {
    let Some(Arg::Value(e)) = step.options.get("order") else {
        return Ok(());
    };
    if let ExprKind::Call { func, args } = &e.kind {
        if let (true, Some(key)) = (matches!(*func, "by" | "reverse_by"), args.first()) {
            *hosts = order_hosts(sh, states, hosts, key, *func == "reverse_by")?;
            return Ok(());
        }
    }
    let (c, leader_first) = match eval::eval(e, &sh.ctx(None, &[], &[]))? {
        Value::Ordering(value::Order::LeaderLast(c)) => (c, false),
        Value::Ordering(value::Order::LeaderFirst(c)) => (c, true),
        other => return Err(format!("`{}` is not an ordering", other.to_text())),
    };
    // Followers first and the leader last (or the reverse), as etcd facts say.
    let leader_host = match sh.ctx(None, &[], &[]).facts.get(c).cloned().flatten() {
        Some(Value::Record(m)) => match m.get("leader") {
            Some(Value::Record(l)) => match l.get("host") {
                Some(Value::Host(h)) => Some(h.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let Some(lh) = leader_host else {
        return Err("the cluster's leader is not known (no facts, or no leader)".into());
    };
    if let Some(pos) = hosts.iter().position(|h| *h == lh) {
        let l = hosts.remove(pos);
        if leader_first {
            hosts.insert(0, l);
        } else {
            hosts.push(l);
        }
    }
    Ok(())
}

/// Sort a step's hosts by a per-host key (stable: equal keys keep inventory order).
pub(super) fn order_hosts(
    sh: &Shared,
    states: &IndexMap<String, HostState>,
    hosts: &[String],
    key: &ir::Expr,
    descending: bool,
) -> Result<Vec<String>, String> {
    let mut keyed = Vec::new();
    for h in hosts {
        let empty = Vec::new();
        let bindings = states.get(h).map_or(&empty, |s| &s.bindings);
        let cx = sh.ctx(Some(h), bindings, &[]);
        keyed.push((eval::eval(key, &cx)?, h.clone()));
    }
    let rank = |v: &Value| -> (u8, i128, String) {
        match v {
            Value::Int(n) => (0, i128::from(*n), String::new()),
            Value::Duration(n) | Value::Size(n) => (0, i128::from(*n), String::new()),
            Value::Bool(b) => (0, i128::from(*b), String::new()),
            Value::Json(j) if j.is_number() => {
                (0, j.as_f64().map_or(0, |f| f as i128), String::new())
            }
            Value::Str(s) => match s.trim().parse::<i128>() {
                Ok(n) => (0, n, String::new()),
                Err(_) => (1, 0, s.clone()),
            },
            other => (1, 0, other.to_text()),
        }
    };
    keyed.sort_by(|a, b| {
        let o = rank(&a.0).cmp(&rank(&b.0));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    Ok(keyed.into_iter().map(|(_, h)| h).collect())
}

/// The exact `etcdflow resume` command for this run: the state dir when it is not the
/// default, and the secret params, which are never journaled, to give again.
fn resume_command(sh: &Shared) -> String {
    let mut cmd = format!("etcdflow resume {}", sh.run_id);
    if let Some(d) = sh
        .opts
        .state_dir
        .as_ref()
        .filter(|d| d.as_os_str() != ".etcdflow")
    {
        cmd.push_str(&format!(
            " --state-dir {}",
            crate::transport::agent::quote(&d.display().to_string())
        ));
    }
    for p in sh
        .flow
        .params
        .iter()
        .filter(|p| p.ty == crate::check::types::Ty::Secret)
    {
        cmd.push_str(&format!(" -e {}=...", p.name));
    }
    cmd
}
