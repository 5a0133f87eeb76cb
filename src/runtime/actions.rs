//! The actions themselves: run, copy, template, fetch, wait, log/fail/confirm, and the
//! hand-off to the etcd actions (`etcd.rs`).

use super::*;

pub(super) async fn action_inner(
    sh: &Arc<Shared>,
    step: &ir::Step,
    a: &ir::Action,
    hs: &mut HostState,
    locals: &mut [(String, Value)],
    rollback: bool,
) -> Result<Value, Fail> {
    let t0 = Instant::now();
    let host = if hs.name == LOCAL {
        None
    } else {
        Some(hs.name.clone())
    };
    let cx = sh.ctx(host.as_deref(), &hs.bindings, locals);
    let step_opts = hs
        .step_opts
        .clone()
        .unwrap_or_else(|| options::StepOptions {
            width: options::Width::Parallel,
            timeout: None,
            retries: 0,
            delay: Duration::from_secs(1),
            max_fail: 0,
            run_once: false,
            become_: false,
            become_user: None,
            undo_host: false,
        });
    let own_timeout = match arg(a, "timeout").map(|e| eval::eval(e, &cx)).transpose()? {
        Some(Value::Duration(0)) => {
            return Err(Fail(format!(
                "{}: `timeout: 0s` would end the command at once",
                action_label(a)
            )))
        }
        Some(Value::Duration(ms)) => Some(Duration::from_millis(ms)),
        Some(v) => {
            return Err(Fail(format!(
                "{}: `timeout` must be a duration, the value is `{}`",
                action_label(a),
                v.to_text()
            )))
        }
        None => None,
    };
    // A command's deadline: its own `timeout:`, else the step's, else the default; never
    // past what is left of the step's deadline.
    let mut timeout = own_timeout
        .or(step_opts.timeout)
        .unwrap_or(sh.opts.default_timeout);
    if let Some(end) = hs.deadline {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fail("step deadline passed".into()));
        }
        timeout = timeout.min(left);
    }
    // Who runs it: the step's host, or the host it is delegated to (its become settings).
    let target = match &hs.delegated {
        Some((h, _)) => sh.inventory.target(h),
        None => host.as_deref().and_then(|h| sh.inventory.target(h)),
    };
    let inventory_become = target.as_ref().is_some_and(|t| t.become_);
    let become_user = if a.args.contains_key("become")
        || step_opts.become_
        || arg(a, "become_user").is_some()
        || step_opts.become_user.is_some()
        || inventory_become
    {
        Some(match arg(a, "become_user") {
            Some(e) => eval::eval(e, &cx)?.to_text(),
            None => match &step_opts.become_user {
                Some(u) => u.clone(),
                None => target
                    .as_ref()
                    .and_then(|t| t.vars.get("ansible_become_user").cloned())
                    .unwrap_or_else(|| "root".to_string()),
            },
        })
    } else {
        None
    };
    // Ansible's inventory variables for the sudo password; they never reach argv or logs.
    let become_password = target.as_ref().and_then(|t| {
        t.vars
            .get("ansible_become_password")
            .or_else(|| t.vars.get("ansible_become_pass"))
            .cloned()
    });
    let label = action_label(a);
    let (result, rc, changed) = match a.kind {
        ActionKind::Run => {
            let Some(cmd_expr) = &a.positional else {
                return Err(Fail("`run` without a command".into()));
            };
            let command = match &cmd_expr.kind {
                ExprKind::List(items) => {
                    let mut argv = Vec::new();
                    let mut after_dashdash = false;
                    for it in items {
                        let v = eval::eval(it, &cx)?;
                        if matches!(v, Value::Secret(_)) {
                            return Err(Fail(
                                "this is a bug in etcdflow: a secret reached argv".into(),
                            ));
                        }
                        let text = v.to_text();
                        // The author's own flag: a literal, or a string whose text
                        // begins with the author's characters (`"--name={{ n }}"`).
                        let literal = match &it.kind {
                            ExprKind::Str(_) => true,
                            ExprKind::Interp(parts) => {
                                matches!(parts.first(), Some(ir::InterpPart::Text(t)) if !t.is_empty())
                            }
                            _ => false,
                        };
                        // The one rule for shell strings and argv (`crate::shell`): a
                        // value that begins a word may not become an option.
                        let hole = crate::shell::Hole {
                            quote: crate::shell::Quote::None,
                            word_start: !literal,
                            after_dashdash,
                        };
                        if let Some(why) =
                            crate::shell::refuse(&text, hole).filter(|_| !argv.is_empty())
                        {
                            return Err(Fail(format!(
                                "argument {}: {why} (SAFETY.md inv. 20)",
                                argv.len()
                            )));
                        }
                        after_dashdash |= text == "--";
                        argv.push(text);
                    }
                    transport::CommandLine::Argv(argv)
                }
                _ => transport::CommandLine::Shell(eval::render(cmd_expr, &cx, true)?),
            };
            // A command fed a secret may print it: its output is secret (the record,
            // the host log, `-v`, the failure message).
            let mut secret_stdin = false;
            let stdin = match arg(a, "stdin").map(|e| eval::eval(e, &cx)).transpose()? {
                Some(Value::Secret(s)) => {
                    secret_stdin = true;
                    Some(s.expose().to_string())
                }
                Some(v) => Some(v.to_text()),
                None => None,
            };
            let cwd = arg(a, "cwd")
                .map(|e| eval::eval(e, &cx))
                .transpose()?
                .map(|v| v.to_text());
            if let Some(d) = &cwd {
                crate::values::remote_path(d).map_err(|m| Fail(format!("run: `cwd`: {m}")))?;
            }
            let env: Vec<(String, String)> =
                match arg(a, "env").map(|e| eval::eval(e, &cx)).transpose()? {
                    Some(Value::Map(m)) => m.into_iter().map(|(k, v)| (k, v.to_text())).collect(),
                    Some(Value::Json(serde_json::Value::Object(m))) => m
                        .into_iter()
                        .map(|(k, v)| (k, eval::json_value(v).to_text()))
                        .collect(),
                    None => Vec::new(),
                    Some(other) => {
                        return Err(Fail(format!(
                            "run: `env` must be a map, the value is `{}`",
                            other.to_text()
                        )))
                    }
                };
            for (k, _) in &env {
                crate::values::env_name(k).map_err(|m| Fail(format!("run: `env`: {m}")))?;
            }
            let ok_codes: Vec<i64> =
                match arg(a, "ok_codes").map(|e| eval::eval(e, &cx)).transpose()? {
                    Some(Value::List(xs)) => xs
                        .iter()
                        .map(|x| match x {
                            Value::Int(n) => Ok(*n),
                            other => Err(Fail(format!(
                                "run: `ok_codes`: `{}` is not an exit code",
                                other.to_text()
                            ))),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(other) => {
                        return Err(Fail(format!(
                            "run: `ok_codes` must be a list of exit codes, the value is `{}`",
                            other.to_text()
                        )))
                    }
                    None => vec![0],
                };
            let creates = arg(a, "creates")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            let removes = arg(a, "removes")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            let retries = arg_count(a, "retries", &cx)?.unwrap_or(0);
            let delay = arg_duration(a, "delay", &cx)?.unwrap_or(Duration::from_secs(1));
            let req = ExecRequest {
                command,
                stdin,
                timeout,
                cwd,
                env,
                become_user,
                become_password,
            };
            let mut skip = false;
            if let Some(p) = &creates {
                skip |= hs
                    .conn
                    .exec(&ExecRequest::argv(["test", "-e", p.as_str()], timeout))
                    .await?
                    .rc
                    == 0;
            }
            if let Some(p) = &removes {
                skip |= hs
                    .conn
                    .exec(&ExecRequest::argv(["test", "-e", p.as_str()], timeout))
                    .await?
                    .rc
                    != 0;
            }
            if skip {
                (
                    command_record(0, true, b"", b"", Duration::ZERO, true),
                    Some(0),
                    false,
                )
            } else {
                // `-v`: each line as it arrives (never the output of a command fed a
                // secret).
                let sink: Option<transport::Sink> = (sh.opts.verbose && !secret_stdin).then(|| {
                    let events = sh.events.clone();
                    let (step, host) = (step.name.clone(), hs.name.clone());
                    std::sync::Arc::new(move |stream: &'static str, line: &[u8]| {
                        let _ = events.send(Event::Output {
                            step: step.clone(),
                            host: host.clone(),
                            stream,
                            text: String::from_utf8_lossy(line).into_owned(),
                        });
                    }) as transport::Sink
                });
                let mut attempt = 0;
                let r = loop {
                    let r = hs.conn.exec_streaming(&req, sink.clone()).await?;
                    if ok_codes.contains(&i64::from(r.rc)) || attempt >= retries {
                        break r;
                    }
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                };
                if let Some(j) = &sh.journal {
                    let shown = match &req.command {
                        transport::CommandLine::Shell(s) => s.clone(),
                        transport::CommandLine::Argv(v) => v
                            .iter()
                            .map(|w| transport::agent::quote(w))
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    let (out, err) = if secret_stdin {
                        (
                            "<output of a command fed a secret: not logged>\n".into(),
                            String::new(),
                        )
                    } else {
                        (
                            String::from_utf8_lossy(&r.stdout).into_owned(),
                            String::from_utf8_lossy(&r.stderr).into_owned(),
                        )
                    };
                    j.host_log(
                        &hs.name,
                        &format!(
                            "$ {shown}\n{out}{err}[exit {}{}]\n",
                            r.rc,
                            if r.timed_out { ", deadline" } else { "" }
                        ),
                    );
                }
                let ok = ok_codes.contains(&i64::from(r.rc));
                if !ok {
                    let why = if r.timed_out {
                        format!("deadline of {} passed", value::fmt_duration(ms(timeout)))
                    } else {
                        format!("exit code {}", r.rc)
                    };
                    let err = if secret_stdin {
                        std::borrow::Cow::Borrowed("")
                    } else {
                        String::from_utf8_lossy(&r.stderr)
                    };
                    let tail: String = err
                        .trim()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .chars()
                        .take(300)
                        .collect();
                    let _ = sh.events.send(Event::ActionDone {
                        step: step.name.clone(),
                        host: hs.name.clone(),
                        action: label.into(),
                        rc: Some(r.rc),
                        ms: ms(t0.elapsed()),
                        changed: true,
                        rollback,
                    });
                    return Err(Fail(if tail.is_empty() {
                        format!("command failed: {why}")
                    } else {
                        format!("command failed: {why}: {tail}")
                    }));
                }
                let rec = command_record(r.rc, ok, &r.stdout, &r.stderr, r.duration, false);
                (
                    if secret_stdin {
                        secret_output(rec)
                    } else {
                        rec
                    },
                    Some(r.rc),
                    true,
                )
            }
        }
        ActionKind::Copy | ActionKind::Template => {
            let dest = eval::render(arg(a, "to").ok_or(Fail("no `to:`".into()))?, &cx, false)?;
            let mut secret_content = false;
            let data: Vec<u8> = if a.kind == ActionKind::Template {
                let id = a.template.ok_or(Fail(
                    "this is a bug in etcdflow: a template without source".into(),
                ))?;
                let mut ctx = serde_json::Map::new();
                for (p, v) in sh.flow.params.iter().zip(&sh.params) {
                    if !matches!(v, Value::Secret(_)) {
                        ctx.insert(p.name.clone(), v.to_json());
                    }
                }
                if let Some(h) = &host {
                    let mut hm = serde_json::Map::new();
                    for f in ["name", "address", "port", "user"] {
                        if let Ok(v) = eval::eval(
                            &ir::Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(ir::Expr {
                                        kind: ExprKind::CurrentHost,
                                        ty: crate::check::types::Ty::Host,
                                        span: a.span,
                                    }),
                                    field: f.into(),
                                },
                                ty: crate::check::types::Ty::Str,
                                span: a.span,
                            },
                            &cx,
                        ) {
                            hm.insert(f.to_string(), v.to_json());
                        }
                    }
                    hm.insert(
                        "vars".into(),
                        eval::eval(
                            &ir::Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(ir::Expr {
                                        kind: ExprKind::CurrentHost,
                                        ty: crate::check::types::Ty::Host,
                                        span: a.span,
                                    }),
                                    field: "vars".into(),
                                },
                                ty: crate::check::types::Ty::Str,
                                span: a.span,
                            },
                            &cx,
                        )
                        .map(|v| v.to_json())
                        .unwrap_or_default(),
                    );
                    let _ = h;
                    ctx.insert("host".into(), serde_json::Value::Object(hm));
                }
                if let Some(Value::Map(m)) =
                    arg(a, "vars").map(|e| eval::eval(e, &cx)).transpose()?
                {
                    for (k, v) in m {
                        if let Value::Secret(s) = &v {
                            // The rendered file is then a secret: no digest journaled.
                            secret_content = true;
                            ctx.insert(k, serde_json::Value::String(s.expose().to_string()));
                        } else {
                            ctx.insert(k, template_value(&v, &cx));
                        }
                    }
                }
                let src = sh.sources.text(id);
                crate::template::render(sh.sources.name(id), src, &serde_json::Value::Object(ctx))
                    .map_err(|e| Fail(format!("template {}: {}", sh.sources.name(id), e.message)))?
                    .into_bytes()
            } else if let Some(e) = arg(a, "content") {
                match eval::eval(e, &cx)? {
                    Value::Secret(s) => {
                        secret_content = true;
                        s.expose().as_bytes().to_vec()
                    }
                    v => v.to_text().into_bytes(),
                }
            } else {
                let src = eval::render(
                    a.positional
                        .as_ref()
                        .ok_or(Fail("`copy` without a source".into()))?,
                    &cx,
                    false,
                )?;
                let path = sh.opts.flow_dir.join(&src);
                tokio::fs::read(&path)
                    .await
                    .map_err(|e| Fail(format!("cannot read {}: {e}", path.display())))?
            };
            let mode = arg(a, "mode")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            if let Some(m) = &mode {
                crate::values::mode(m)
                    .map_err(|why| Fail(format!("{}: `mode`: {why}", action_label(a))))?;
            }
            let owner = arg(a, "owner")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            if let Some(o) = &owner {
                crate::values::owner(o)
                    .map_err(|why| Fail(format!("{}: `owner`: {why}", action_label(a))))?;
            }
            crate::values::remote_path(&dest)
                .map_err(|why| Fail(format!("{}: `to`: {why}", action_label(a))))?;
            let size = data.len() as u64;
            let (sha, changed) = hs
                .conn
                .put(
                    &data,
                    &dest,
                    mode.as_deref(),
                    owner.as_deref(),
                    timeout,
                    become_user
                        .as_deref()
                        .map(|u| (u, become_password.as_deref())),
                )
                .await?;
            // A secret's digest is never recorded (journal, result): only that it was
            // written.
            let sha = if secret_content { String::new() } else { sha };
            (file_record(&dest, &sha, size, changed), None, changed)
        }
        ActionKind::Fetch => {
            let src = eval::render(
                a.positional
                    .as_ref()
                    .ok_or(Fail("`fetch` without a source".into()))?,
                &cx,
                false,
            )?;
            let dest = eval::render(arg(a, "to").ok_or(Fail("no `to:`".into()))?, &cx, false)?;
            let (sha, size) = hs
                .conn
                .fetch(
                    &src,
                    std::path::Path::new(&dest),
                    timeout,
                    become_user
                        .as_deref()
                        .map(|u| (u, become_password.as_deref())),
                )
                .await?;
            (file_record(&dest, &sha, size, true), None, true)
        }
        ActionKind::Wait => {
            let every = arg_duration(a, "every", &cx)?
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(50));
            // Its own `timeout:` (default 5m), never past what is left of the step's.
            let mut limit = own_timeout.unwrap_or(Duration::from_secs(300));
            if let Some(end) = hs.deadline {
                limit = limit.min(end.saturating_duration_since(Instant::now()));
            }
            let probe = if let Some(p) = arg(a, "port") {
                let port = eval::eval(p, &cx)?.to_text();
                let addr = arg(a, "address")
                    .map(|e| eval::render(e, &cx, false))
                    .transpose()?
                    .unwrap_or_default();
                let want_open = !a.args.contains_key("closed");
                Some((port_probe(&port, &addr), want_open))
            } else if let Some(p) = arg(a, "path") {
                let path = eval::render(p, &cx, false)?;
                Some((
                    format!("test -e {}", transport::agent::quote(&path)),
                    !a.args.contains_key("absent"),
                ))
            } else {
                None
            };
            let start = Instant::now();
            loop {
                let done = match &probe {
                    Some((cmd, want)) => {
                        let r = hs
                            .conn
                            .exec(&ExecRequest::shell(cmd.clone(), Duration::from_secs(10)))
                            .await?;
                        if r.rc == 2 {
                            return Err(Fail("cannot probe ports on this host: it has neither `ss`, `nc` nor `bash`".into()));
                        }
                        (r.rc == 0) == *want
                    }
                    None => {
                        let cond =
                            arg(a, "until").ok_or(Fail("`wait` without a condition".into()))?;
                        if sh.uses_facts {
                            // A fact that is not readable yet (etcd still starting) is "not yet".
                            if sh.refresh_facts().await.is_err() {
                                tokio::time::sleep(every).await;
                                if start.elapsed() >= limit {
                                    return Err(Fail(format!(
                                        "waited {} and the cluster's facts are still unreadable",
                                        value::fmt_duration(ms(limit))
                                    )));
                                }
                                continue;
                            }
                        }
                        let cx = sh.ctx(host.as_deref(), &hs.bindings, locals);
                        eval::eval(cond, &cx)?.truthy()
                    }
                };
                if done {
                    break;
                }
                if start.elapsed() >= limit {
                    return Err(Fail(format!(
                        "waited {} and the condition still does not hold",
                        value::fmt_duration(ms(limit))
                    )));
                }
                tokio::time::sleep(every).await;
            }
            (Value::None, None, false)
        }
        ActionKind::Fail => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => "failed".into(),
            };
            return Err(Fail(msg));
        }
        ActionKind::Log => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => String::new(),
            };
            let _ = sh.events.send(Event::Log {
                step: step.name.clone(),
                host: hs.name.clone(),
                message: msg,
            });
            (Value::None, None, false)
        }
        ActionKind::Confirm => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => "continue?".into(),
            };
            let yes = sh.opts.yes || sh.opts.prompter.as_ref().is_some_and(|p| p(&msg));
            let index = sh.step_index(step);
            sh.journal(crate::journal::Record::Confirm {
                step: index,
                host: hs.name.clone(),
                message: msg.clone(),
                answer: yes,
            })
            .await;
            let _ = sh.events.send(Event::Log {
                step: step.name.clone(),
                host: hs.name.clone(),
                message: format!("confirm: {msg} -> {}", if yes { "yes" } else { "no" }),
            });
            if !yes {
                return Err(Fail(format!("not confirmed: {msg}")));
            }
            (Value::None, None, false)
        }
        ActionKind::Edit | ActionKind::Read => {
            let who = become_user
                .as_deref()
                .map(|u| (u, become_password.as_deref()));
            if a.kind == ActionKind::Read {
                edits::read(a, &cx, &mut hs.conn, timeout, who).await?
            } else {
                let index = sh.step_index(step);
                let t = edits::Target {
                    name: &hs.name,
                    on: hs.delegated.as_ref().map(|(h, _)| h.as_str()),
                    conn: &mut hs.conn,
                    undo: &mut hs.undo,
                };
                edits::edit(sh, index, a, &cx, t, timeout, who).await?
            }
        }
        ActionKind::TlsCa | ActionKind::TlsCert => {
            let base = eval::render(
                a.positional
                    .as_ref()
                    .ok_or(Fail("a TLS action without a base path".into()))?,
                &cx,
                false,
            )?;
            let base = sh.opts.flow_dir.join(base);
            let cn = arg(a, "cn")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            let files = if a.kind == ActionKind::TlsCa {
                pki::ca(&base, cn.as_deref().unwrap_or("etcdflow CA"))
            } else {
                let ca = eval::render(arg(a, "ca").ok_or(Fail("no `ca:`".into()))?, &cx, false)?;
                let sans: Vec<String> =
                    match arg(a, "sans").map(|e| eval::eval(e, &cx)).transpose()? {
                        Some(Value::List(xs)) => xs.iter().map(Value::to_text).collect(),
                        _ => return Err(Fail("`sans` must be a list".into())),
                    };
                if sans.is_empty() {
                    return Err(Fail(format!("{}: `sans` is empty", action_label(a))));
                }
                let usage = eval::render(
                    arg(a, "usage").ok_or(Fail("no `usage:`".into()))?,
                    &cx,
                    false,
                )?;
                let cn = cn.unwrap_or_else(|| sans[0].clone());
                pki::cert(&base, &sh.opts.flow_dir.join(ca), &sans, &cn, &usage)
            }
            .map_err(|e| Fail(format!("{}: {e}", action_label(a))))?;
            let mut r: IndexMap<&'static str, Value> = IndexMap::new();
            r.insert("cert", Value::Str(files.cert.display().to_string()));
            r.insert("key", Value::Str(files.key.display().to_string()));
            r.insert("changed", Value::Bool(files.changed));
            (Value::Record(r), None, files.changed)
        }
        ActionKind::Etcd(op) => {
            let h = etcd::Host {
                step: &step.name,
                name: &hs.name,
                conn: &mut hs.conn,
            };
            etcd::action(sh, op, a, &cx, h, timeout, become_user.clone()).await?
        }
    };
    let _ = sh.events.send(Event::ActionDone {
        step: step.name.clone(),
        host: hs.name.clone(),
        action: label.into(),
        rc,
        ms: ms(t0.elapsed()),
        changed,
        rollback,
    });
    Ok(result)
}

/// A command result whose output fields are secrets (`secret_command_result`).
fn secret_output(rec: Value) -> Value {
    let Value::Record(mut r) = rec else {
        return rec;
    };
    for k in ["stdout", "stderr", "json"] {
        if let Some(v) = r.get_mut(k) {
            *v = Value::Secret(value::Secret::new(match &*v {
                Value::Str(s) => s.clone(),
                other => other.to_json().to_string(),
            }));
        }
    }
    if let Some(Value::List(xs)) = r.get_mut("lines") {
        for x in xs.iter_mut() {
            *x = Value::Secret(value::Secret::new(x.to_text()));
        }
    }
    Value::Record(r)
}

/// A value as a template sees it: hosts with their fields (`name`, `address`, `port`,
/// `user`, `groups`, `vars`), not just their names; the rest as JSON.
fn template_value(v: &Value, cx: &Ctx<'_>) -> serde_json::Value {
    let host = |h: &str| {
        let mut m = serde_json::Map::new();
        for f in ["name", "address", "port", "user", "groups", "vars"] {
            if let Ok(x) = eval::host_field(h, f, cx.inventory) {
                m.insert(f.to_string(), x.to_json());
            }
        }
        serde_json::Value::Object(m)
    };
    match v {
        Value::Host(h) => host(h),
        Value::Hosts(hs) => serde_json::Value::Array(hs.iter().map(|h| host(h)).collect()),
        Value::List(xs) => {
            serde_json::Value::Array(xs.iter().map(|x| template_value(x, cx)).collect())
        }
        Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), template_value(x, cx)))
                .collect(),
        ),
        other => other.to_json(),
    }
}
