//! The interpreter of a step's statements on one host, and the journaled action wrapper.

use super::*;

pub(super) type BoxFut<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Fail>> + Send + 'a>>;

pub(super) fn exec_block<'a>(
    sh: &'a Arc<Shared>,
    step: &'a ir::Step,
    stmts: &'a [ir::Stmt],
    hs: &'a mut HostState,
    locals: &'a mut Vec<(String, Value)>,
    rollback: bool,
) -> BoxFut<'a> {
    Box::pin(async move {
        let depth = locals.len();
        for s in stmts {
            let host = if hs.name == LOCAL {
                None
            } else {
                Some(hs.name.clone())
            };
            macro_rules! cx {
                () => {
                    sh.ctx(host.as_deref(), &hs.bindings, locals)
                };
            }
            match s {
                ir::Stmt::Action(a) => {
                    action(sh, step, a, hs, locals, rollback).await?;
                }
                ir::Stmt::Let { binding, value } => {
                    let v = match value {
                        ir::LetValue::Action(a) => {
                            action(sh, step, a, hs, locals, rollback).await?
                        }
                        ir::LetValue::Expr(e) => eval::eval(e, &cx!())?,
                    };
                    match binding {
                        ir::BindingRef::Flow(i) => {
                            if let Some(slot) = hs.bindings.get_mut(*i) {
                                *slot = Some(v);
                            }
                        }
                        ir::BindingRef::Local(n) => locals.push((n.clone(), v)),
                    }
                }
                ir::Stmt::Assert { cond, message, .. } => {
                    let ok = eval::eval(cond, &cx!())?.truthy();
                    if !ok {
                        let msg = match message {
                            Some(m) => eval::render(m, &cx!(), false)?,
                            None => "assertion failed".into(),
                        };
                        return Err(Fail(format!("assert: {msg}")));
                    }
                }
                ir::Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = eval::eval(cond, &cx!())?.truthy();
                    exec_block(
                        sh,
                        step,
                        if c { then } else { otherwise },
                        hs,
                        locals,
                        rollback,
                    )
                    .await?;
                }
                ir::Stmt::For { var, iter, body } => {
                    let items = eval::items(eval::eval(iter, &cx!())?)
                        .map_err(|m| Fail(format!("`for {var} in ...`: {m}")))?;
                    for item in items {
                        locals.push((var.clone(), item));
                        let r = exec_block(sh, step, body, hs, locals, rollback).await;
                        locals.pop();
                        r?;
                    }
                }
                // A used block: its own scope (its `let`s end with it).
                ir::Stmt::Block(body) => {
                    exec_block(sh, step, body, hs, locals, rollback).await?;
                }
            }
        }
        locals.truncate(depth);
        Ok(())
    })
}

/// An action's count argument (`retries:`): an int of at least 0, or an error naming it.
pub(super) fn arg_count(a: &ir::Action, k: &str, cx: &Ctx<'_>) -> Result<Option<usize>, Fail> {
    match arg(a, k).map(|e| eval::eval(e, cx)).transpose()? {
        None => Ok(None),
        Some(Value::Int(n)) if n >= 0 => Ok(usize::try_from(n).ok()),
        Some(v) => Err(Fail(format!(
            "{}: `{k}` must be 0 or more, the value is `{}`",
            action_label(a),
            v.to_text()
        ))),
    }
}

/// An action's duration argument, or an error naming it.
pub(super) fn arg_duration(
    a: &ir::Action,
    k: &str,
    cx: &Ctx<'_>,
) -> Result<Option<Duration>, Fail> {
    match arg(a, k).map(|e| eval::eval(e, cx)).transpose()? {
        None => Ok(None),
        Some(Value::Duration(ms)) => Ok(Some(Duration::from_millis(ms))),
        Some(v) => Err(Fail(format!(
            "{}: `{k}` must be a duration, the value is `{}`",
            action_label(a),
            v.to_text()
        ))),
    }
}

pub(super) fn arg<'a>(a: &'a ir::Action, k: &str) -> Option<&'a ir::Expr> {
    match a.args.get(k) {
        Some(Arg::Value(e)) => Some(e),
        _ => None,
    }
}

pub(super) fn action_label(a: &ir::Action) -> &'static str {
    crate::check::schema::verb_of(a.kind)
}

/// One action, journaled before and after (SAFETY.md inv. 18).
pub(super) async fn action(
    sh: &Arc<Shared>,
    step: &ir::Step,
    a: &ir::Action,
    hs: &mut HostState,
    locals: &mut [(String, Value)],
    rollback: bool,
) -> Result<Value, Fail> {
    use crate::journal::Record;
    let index = sh.step_index(step);
    // Nothing is touched once a lock's lease may have expired (inv. 19, fault T18).
    if !matches!(a.kind, ActionKind::Log) && etcd::lock_lost(sh).await {
        return Err(Fail(etcd::LEASE_LOST.into()));
    }
    // `on: h`: this one action runs on `h`, over a delegate connection (`host` stays
    // the step's host); the journal names both.
    let on = match arg(a, "on") {
        Some(e) => {
            let host = (hs.name != LOCAL).then(|| hs.name.clone());
            let v = eval::eval(e, &sh.ctx(host.as_deref(), &hs.bindings, locals))?;
            match v {
                Value::Host(h) => Some(h).filter(|h| *h != hs.name),
                other => {
                    return Err(Fail(format!(
                        "{}: `on:` is `{}`, not a host",
                        action_label(a),
                        other.to_text()
                    )))
                }
            }
        }
        None => None,
    };
    let label = match &on {
        Some(h) => format!("{} on {h}", action_label(a)),
        None => action_label(a).to_string(),
    };
    let journaled = !matches!(
        a.kind,
        ActionKind::Log | ActionKind::Fail | ActionKind::Wait
    );
    if journaled {
        sh.journal(Record::ActionStart {
            step: index,
            host: hs.name.clone(),
            action: label.clone(),
            rollback,
        })
        .await;
    }
    let r = match &on {
        None => action_inner(sh, step, a, hs, locals, rollback).await,
        Some(h) => match sh.delegate(h).await {
            Err(e) => Err(e),
            Ok(d) => {
                let mut g = d.lock_owned().await;
                std::mem::swap(&mut hs.conn, &mut *g);
                hs.delegated = Some((h.clone(), g));
                let r = action_inner(sh, step, a, hs, locals, rollback).await;
                hs.undelegate();
                r
            }
        },
    };
    if journaled {
        let field = |k: &str| match &r {
            Ok(Value::Record(m)) => m.get(k).cloned(),
            _ => None,
        };
        let rc = match field("rc") {
            Some(Value::Int(n)) => i32::try_from(n).ok(),
            _ => None,
        };
        // The identities an action created go to the journal (inv. 18).
        let detail = match (&r, field("sha256"), field("id")) {
            (Err(Fail(m)), _, _) => Some(m.clone()),
            (Ok(_), Some(sha), _) => Some(match field("revision") {
                Some(rev) => format!(
                    "sha256 {} revision {} keys {}",
                    sha.to_text(),
                    rev.to_text(),
                    field("key_count").map(|k| k.to_text()).unwrap_or_default()
                ),
                None if sha.to_text().is_empty() => {
                    "secret content written (no digest kept)".into()
                }
                None => format!("sha256 {}", sha.to_text()),
            }),
            (Ok(_), None, Some(id)) => Some(format!("member id {}", id.to_text())),
            _ => None,
        };
        sh.journal(Record::ActionEnd {
            step: index,
            host: hs.name.clone(),
            action: label,
            ok: r.is_ok(),
            rc,
            changed: matches!(field("changed"), Some(Value::Bool(true))) || rc.is_some(),
            rollback,
            detail,
        })
        .await;
    }
    r
}

/// Exit 0 when the port is open (listening, or accepting at `addr`), 1 when not, 2 when
/// the host has no tool to tell.
pub(super) fn port_probe(port: &str, addr: &str) -> String {
    let p = transport::agent::quote(port);
    let a = transport::agent::quote(addr);
    format!(
        "p={p}; a={a}\nif [ -z \"$a\" ] && command -v ss >/dev/null 2>&1; then ss -Hltn \"sport = :$p\" | grep -q .; exit $?; fi\na=${{a:-127.0.0.1}}\nif command -v nc >/dev/null 2>&1; then nc -z -w 1 \"$a\" \"$p\" >/dev/null 2>&1; exit $?; fi\nif command -v bash >/dev/null 2>&1; then timeout 2 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$a\" \"$p\" 2>/dev/null; exit $?; fi\nexit 2"
    )
}

pub(super) fn command_record(
    rc: i32,
    ok: bool,
    stdout: &[u8],
    stderr: &[u8],
    took: Duration,
    skipped: bool,
) -> Value {
    let out = String::from_utf8_lossy(stdout).into_owned();
    let mut m: IndexMap<&'static str, Value> = IndexMap::new();
    m.insert("rc", Value::Int(i64::from(rc)));
    m.insert("ok", Value::Bool(ok));
    m.insert(
        "lines",
        Value::List(out.lines().map(|l| Value::Str(l.to_string())).collect()),
    );
    m.insert(
        "json",
        Value::Json(serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)),
    );
    m.insert("stdout", Value::Str(out));
    m.insert(
        "stderr",
        Value::Str(String::from_utf8_lossy(stderr).into_owned()),
    );
    m.insert("duration", Value::Duration(ms(took)));
    m.insert("skipped", Value::Bool(skipped));
    Value::Record(m)
}

pub(super) fn file_record(path: &str, sha: &str, size: u64, changed: bool) -> Value {
    let mut m: IndexMap<&'static str, Value> = IndexMap::new();
    m.insert("path", Value::Str(path.to_string()));
    m.insert("sha256", Value::Str(sha.to_string()));
    m.insert("size", Value::Size(size));
    m.insert("changed", Value::Bool(changed));
    Value::Record(m)
}
