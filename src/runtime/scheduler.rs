//! The scheduler: steps in order, each step's hosts in batches or in parallel (one task
//! per host, owning its connection), the failure budget, and the rollback in reverse.

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
                inventory: m.inventory.clone(),
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
                states.insert(
                    h.clone(),
                    HostState {
                        name: h,
                        conn: c,
                        bindings,
                        step_opts: None,
                        undo,
                        delegated: None,
                        deadline: None,
                    },
                );
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
    let _ = sh.probers.set(
        states
            .iter()
            .map(|(h, s)| (h.clone(), s.conn.prober()))
            .collect(),
    );
    // One operator per cluster (inv. 19): a local lock file for every cluster the flow
    // acts on, and a lease lock in etcd for those it changes through the API.
    let mut _local_locks = Vec::new();
    if !refused {
        // Tunnels first: the locks may be taken through them.
        let setup = match etcd::open_tunnels(&sh, &states).await {
            Ok(()) => etcd::take_locks(&sh).await,
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
        if etcd::lock_lost(&sh).await {
            sh.interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            send(Event::Log {
                step: step.name.clone(),
                host: LOCAL.into(),
                message: "the cluster lock's lease was lost (inv. 19): no new work starts; `etcdflow resume` once the cluster is yours again".into(),
            });
        }
        if sh.interrupted() {
            interrupted = true;
            break;
        }
        let mut hosts: Vec<String> = match &prep.targets[i] {
            None => vec![LOCAL.to_string()],
            Some(h) => h.clone(),
        };
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
        // is unknown run it again, and its guards (`creates:`, `removes:`, `when:`)
        // re-observe what is already there.
        let mut already = Vec::new();
        if let Some(r) = sh.opts.resume.as_ref().filter(|r| r.start_step == i) {
            already = hosts
                .iter()
                .filter(|h| r.done_hosts.contains(h))
                .cloned()
                .collect();
            hosts.retain(|h| !r.done_hosts.contains(h));
            for h in &r.unknown_hosts {
                send(Event::Log { step: step.name.clone(), host: h.clone(), message: "outcome unknown after the interruption: running the step again; its guards decide what is left to do".into() });
            }
        }
        let (mut started_on, ok, undone) = run_step(&sh, i, &hosts, &mut states, false).await;
        started_on.extend(already);
        ran.push((i, started_on));
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
            .filter(|(s, _)| sh.flow.steps[*s].rollback.is_some() || sh.flow.steps[*s].edits())
            .collect();
        let _ = sh.events.send(Event::RollbackStarted {
            steps: with_rb
                .iter()
                .map(|(s, _)| sh.flow.steps[*s].name.clone())
                .collect(),
        });
        let mut all_ok = true;
        for (s, hosts) in &with_rb {
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
    let status = if interrupted && failed_at.is_none() {
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
                message: format!("interrupted: continue with `etcdflow resume {}`", sh.run_id),
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

/// Run one step (or its rollback) on `hosts`. Returns the hosts where it started and
/// whether the step succeeded within its failure budget.
/// A host's task in a step: its state back, the body's result, how long it took, and the
/// result of undoing it (`on_failure: "undo_host"`).
type HostRun = (
    HostState,
    Result<bool, Fail>,
    Duration,
    Option<Result<bool, Fail>>,
);

pub(super) async fn run_step(
    sh: &Arc<Shared>,
    index: usize,
    hosts: &[String],
    states: &mut IndexMap<String, HostState>,
    rollback: bool,
) -> (Vec<String>, bool, Option<bool>) {
    let step = &sh.flow.steps[index];
    let t0 = Instant::now();
    let name = if rollback {
        format!("{} (rollback)", step.name)
    } else {
        step.name.clone()
    };
    let _ = sh.events.send(Event::StepStarted {
        step: name.clone(),
        index,
        hosts: hosts.to_vec(),
    });
    sh.journal(crate::journal::Record::StepStart {
        step: index,
        name: step.name.clone(),
        hosts: hosts.to_vec(),
        rollback,
    })
    .await;
    let opts = match step_options(sh, step, states) {
        Ok(o) => o,
        Err(e) => {
            let _ = sh.events.send(step_failed(step, e.describe(&step.name)));
            return (Vec::new(), false, None);
        }
    };
    // Fixed batches (`serial` is batches of 1): every host of a batch finishes before
    // the next batch starts; a rollback runs with the same width.
    let (width, batch) = match opts.width {
        options::Width::Parallel => (sh.opts.forks.max(1), None),
        options::Width::Batch(n) => (n.max(1), Some(n.max(1))),
    };
    let max_fail = if rollback { 0 } else { opts.max_fail };
    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut started = Vec::new();
    let mut queue: std::collections::VecDeque<String> = hosts.iter().cloned().collect();
    let mut set: JoinSet<HostRun> = JoinSet::new();
    let undo_host = opts.undo_host && !rollback;
    // Some(all ok) once a failing host's change was undone (`on_failure: "undo_host"`).
    let mut undone: Option<bool> = None;
    let mut stop = false;
    let mut in_batch = 0usize;
    // Hosts where the body ran (not skipped by `when`): a rollback runs there only.
    let mut ran_on = Vec::new();
    loop {
        // Ctrl-C / SIGTERM: start nothing new (a rollback still runs everywhere).
        if sh.interrupted() && !rollback {
            stop = true;
        }
        if let Some(n) = batch {
            if set.is_empty() && in_batch == n {
                in_batch = 0;
            }
            // Facts are read fresh before each batch of a rolling step.
            if set.is_empty() && in_batch == 0 && sh.uses_facts && !started.is_empty() && !stop {
                if let Err(e) = sh.refresh_facts().await {
                    let _ = sh.events.send(step_failed(
                        step,
                        format!("cannot read the cluster's facts: {e}"),
                    ));
                    failed += 1;
                    stop = true;
                }
            }
        }
        while !stop && set.len() < width && batch.is_none_or(|n| in_batch < n) {
            let Some(h) = queue.pop_front() else { break };
            in_batch += 1;
            let Some(state) = states.shift_remove(&h) else {
                continue;
            };
            started.push(h.clone());
            let sh2 = Arc::clone(sh);
            set.spawn(async move {
                let t = Instant::now();
                let mut state = state;
                let r = run_on_host(&sh2, index, &mut state, rollback).await;
                // `on_failure: "undo_host"`: this host's change of the step is undone now,
                // before anything else starts.
                let undo = match &r {
                    Err(_) if undo_host => Some(run_on_host(&sh2, index, &mut state, true).await),
                    _ => None,
                };
                (state, r, t.elapsed(), undo)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let Ok((state, result, took, undo)) = joined else {
            failed += 1;
            stop = true;
            continue;
        };
        let host = state.name.clone();
        let made: Vec<(usize, serde_json::Value)> = if rollback {
            Vec::new()
        } else {
            sh.flow
                .bindings
                .iter()
                .enumerate()
                .filter(|(_, b)| b.step == index)
                .filter_map(|(i, _)| {
                    state
                        .bindings
                        .get(i)
                        .cloned()
                        .flatten()
                        .map(|v| (i, v.to_json()))
                })
                .collect()
        };
        if !rollback {
            sh.publish(&host, &state.bindings);
        }
        sh.journal(crate::journal::Record::HostEnd {
            step: index,
            host: host.clone(),
            ok: result.is_ok(),
            skipped: matches!(result, Ok(false)),
            error: match &result {
                Err(Fail(m)) => Some(m.clone()),
                _ => None,
            },
            rollback,
            bindings: made,
        })
        .await;
        if let Some(u) = &undo {
            sh.journal(crate::journal::Record::HostEnd {
                step: index,
                host: host.clone(),
                ok: u.is_ok(),
                skipped: false,
                error: match u {
                    Err(Fail(m)) => Some(m.clone()),
                    _ => None,
                },
                rollback: true,
                bindings: Vec::new(),
            })
            .await;
            let _ = sh.events.send(Event::HostDone {
                step: format!("{} (undo)", name),
                host: host.clone(),
                ok: u.is_ok(),
                error: u.as_ref().err().map(|Fail(m)| m.clone()),
                ms: 0,
                rollback: true,
            });
            undone = Some(undone.unwrap_or(true) && u.is_ok());
        }
        // A host whose change was undone already is not rolled back again.
        if !matches!(result, Ok(false)) && undo.is_none() {
            ran_on.push(host.clone());
        }
        match result {
            Ok(true) => {
                ok += 1;
                let _ = sh.events.send(Event::HostDone {
                    step: name.clone(),
                    host: host.clone(),
                    ok: true,
                    error: None,
                    ms: ms(took),
                    rollback,
                });
            }
            Ok(false) => skipped += 1,
            Err(Fail(msg)) => {
                failed += 1;
                let _ = sh.events.send(Event::HostDone {
                    step: name.clone(),
                    host: host.clone(),
                    ok: false,
                    error: Some(msg),
                    ms: ms(took),
                    rollback,
                });
                if failed > max_fail {
                    stop = true;
                }
            }
        }
        states.insert(host, state);
    }
    let _ = sh.events.send(Event::StepDone {
        step: name,
        ok,
        failed,
        skipped,
        ms: ms(t0.elapsed()),
    });
    // An interrupted step is not finished: no `step_end`, so `resume` picks it up.
    let finished = !(sh.interrupted() && !rollback && !queue.is_empty());
    if finished {
        sh.journal(crate::journal::Record::StepEnd {
            step: index,
            ok: failed <= max_fail,
            rollback,
        })
        .await;
    }
    started.retain(|h| ran_on.contains(h));
    (started, failed <= max_fail, undone)
}

/// The step body on one host, with `when`, `timeout`, `retries`/`until`. `Ok(false)`
/// means skipped.
pub(super) async fn run_on_host(
    sh: &Arc<Shared>,
    index: usize,
    hs: &mut HostState,
    rollback: bool,
) -> Result<bool, Fail> {
    let step = &sh.flow.steps[index];
    let host = if hs.name == LOCAL {
        None
    } else {
        Some(hs.name.clone())
    };
    if !rollback {
        if let Some(Arg::Value(cond)) = step.options.get("when") {
            let v = {
                let cx = sh.ctx(host.as_deref(), &hs.bindings, &[]);
                eval::eval(cond, &cx)?
            };
            if !v.truthy() {
                let _ = sh.events.send(Event::HostSkipped {
                    step: step.name.clone(),
                    host: hs.name.clone(),
                    reason: "`when` is false".into(),
                });
                return Ok(false);
            }
        }
    }
    if rollback {
        // The step's edits first (the previous bytes back), then its `rollback` block.
        edits::restore(sh, index, hs).await?;
    }
    let body: &[ir::Stmt] = if rollback {
        step.rollback.as_deref().unwrap_or(&[])
    } else {
        &step.body
    };
    let opts = options::evaluate(step, &sh.ctx(host.as_deref(), &hs.bindings, &[]))
        .map_err(|e| Fail(e.describe(&step.name)))?;
    let retries = if rollback { 0 } else { opts.retries };
    let delay = opts.delay;
    let deadline = opts.timeout;
    hs.step_opts = Some(opts);
    let mut attempt = 0;
    loop {
        let mut locals = Vec::new();
        hs.deadline = deadline.map(|d| Instant::now() + d);
        let fut = exec_block(sh, step, body, hs, &mut locals, rollback);
        // Every command's own deadline is cut to what is left of the step's, so the
        // remote `timeout` ends it there; this outer bound only catches a connection
        // that stops answering (the agent's kill grace is 5 s).
        let r = match deadline {
            Some(d) => match tokio::time::timeout(d + Duration::from_secs(7), fut).await {
                Ok(r) => r,
                Err(_) => Err(Fail(format!(
                    "step deadline of {} passed",
                    value::fmt_duration(ms(d))
                ))),
            },
            None => fut.await,
        };
        // A deadline may have dropped an action that ran `on:` another host.
        hs.undelegate();
        let r = match (r, step.options.get("until").filter(|_| !rollback)) {
            (Ok(()), Some(Arg::Value(cond))) => {
                let cx = sh.ctx(host.as_deref(), &hs.bindings, &[]);
                if eval::eval(cond, &cx)?.truthy() {
                    Ok(())
                } else {
                    Err(Fail("`until` is still false".into()))
                }
            }
            (r, _) => r,
        };
        match r {
            Ok(()) => return Ok(true),
            Err(e) if attempt >= retries => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A step's options as the whole step uses them: evaluated on the controller, with what
/// the controller has bound so far (per-host values are evaluated again on each host).
fn step_options(
    sh: &Shared,
    step: &ir::Step,
    states: &IndexMap<String, HostState>,
) -> Result<options::StepOptions, options::OptionError> {
    let empty = Vec::new();
    let bindings = states.get(LOCAL).map_or(&empty, |s| &s.bindings);
    options::evaluate(step, &sh.ctx(None, bindings, &[]))
}
