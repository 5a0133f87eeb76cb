//! One step on its hosts: batches, the failure budget, `on_failure: "undo_host"`, and the
//! body on one host (`when`, `timeout`, `retries`/`until`, the rollback's edit restores).

use super::scheduler::step_failed;
use super::*;
use tokio::task::JoinSet;

/// A host's task in a step: its state back, the body's result, how long it took, and the
/// result of undoing it (`on_failure: "undo_host"`).
type HostRun = (
    HostState,
    Result<bool, Fail>,
    Duration,
    Option<Result<bool, Fail>>,
);

/// Run one step (or its rollback) on `hosts`. Returns the hosts where it started,
/// whether the step succeeded within its failure budget, and whether the hosts it undid
/// (`on_failure: "undo_host"`) were undone well.
pub(super) async fn run_step(
    sh: &Arc<Shared>,
    index: usize,
    hosts: &[String],
    states: &mut IndexMap<String, HostState>,
    rollback: bool,
) -> (Vec<String>, bool, Option<bool>) {
    let step = &sh.flow.steps[index];
    let t0 = Instant::now();
    // Events name the step itself; `rollback` says which half runs.
    let name = step.name.clone();
    let _ = sh.events.send(Event::StepStarted {
        step: name.clone(),
        index,
        hosts: hosts.to_vec(),
        rollback,
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
            let _ = sh.events.send(Event::HostStarted {
                step: step.name.clone(),
                host: h.clone(),
                rollback,
            });
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
                step: name.clone(),
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
        rollback,
    });
    // An interrupted step is not finished: no `step_end`, so `resume` picks it up.
    // A step stopped by a lost lease is not finished either (its refused hosts run it
    // again on resume, their guards deciding what is left).
    let lease_lost = sh.lease_lost.load(std::sync::atomic::Ordering::SeqCst);
    let stopped_early = !queue.is_empty() || lease_lost;
    let finished = !sh.interrupted() || rollback || !stopped_early;
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
    // A host whose iteration had begun when the run stopped passed `when:` then; it
    // finishes that iteration (a join's `when: not is_member(...)` is false halfway).
    let resumed_inside = sh
        .opts
        .resume
        .as_ref()
        .is_some_and(|r| r.start_step == index && r.unknown_hosts.contains(&hs.name));
    if !rollback && !resumed_inside {
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
pub(super) fn step_options(
    sh: &Shared,
    step: &ir::Step,
    states: &IndexMap<String, HostState>,
) -> Result<options::StepOptions, options::OptionError> {
    let empty = Vec::new();
    let bindings = states.get(LOCAL).map_or(&empty, |s| &s.bindings);
    options::evaluate(step, &sh.ctx(None, bindings, &[]))
}
