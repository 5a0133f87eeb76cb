//! `edit` and `read`: a remote file read, changed on the controller ([`crate::edit`]),
//! written back like `copy` (temp file, sha256, `mv -T`) only when its value changes.
//! Before the first change of a step on a host, the file is kept as
//! `.NAME.etcdflow-RUN-sSTEP-HOST.orig` beside it (`cp -p`: bytes, mode, owner; a dot
//! file, so a kubelet manifest directory does not load it), or a `.absent` marker of the
//! same name when `edit ... create` makes it.
//! A rollback of the step puts the previous bytes back (`mv -T`), or removes a file the
//! step created, before the step's own `rollback` block runs; the journal records each
//! edit, so a resumed run restores them too. A run that ends well removes its backups.

use super::*;
use crate::edit::{self, Format};
use sha2::Digest;

/// What a rollback undoes on a host: one edited (or created) file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Undo {
    pub step: usize,
    /// The host the file is on when the edit ran `on:` another host.
    #[serde(default)]
    pub on: Option<String>,
    pub path: String,
    /// The backup beside it (`None`: the step created the file).
    pub backup: Option<String>,
    pub marker: Option<String>,
    pub become_user: Option<String>,
}

type Become<'a> = Option<(&'a str, Option<&'a str>)>;

/// The parts of a host's state an `edit` uses (its bindings are borrowed by the context).
pub(super) struct Target<'a> {
    pub name: &'a str,
    pub on: Option<&'a str>,
    pub conn: &'a mut Conn,
    pub undo: &'a mut Vec<Undo>,
}

fn beside(path: &str, run_id: &str, suffix: &str) -> String {
    let p = std::path::Path::new(path);
    let dir = p.parent().map_or("/".into(), |d| d.display().to_string());
    let base = p
        .file_name()
        .map_or(String::new(), |b| b.to_string_lossy().into_owned());
    let dir = if dir.is_empty() { "/".into() } else { dir };
    format!(
        "{}/.{base}.etcdflow-{run_id}.{suffix}",
        dir.trim_end_matches('/')
    )
}

/// One backup per run, step and step host: each iteration of a rolling step undoes only
/// its own change (the last one first), even when several edit the same file.
fn backup_tag(run_id: &str, step: usize, host: &str) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{run_id}-s{step}-{host}")
}

fn remote_err(path: &str, r: &transport::ExecResult) -> Fail {
    Fail(format!(
        "{path}: {}",
        String::from_utf8_lossy(&r.stderr).trim()
    ))
}

async fn exec_as(
    conn: &mut Conn,
    script: String,
    timeout: Duration,
    become_: Become<'_>,
) -> Result<transport::ExecResult, Fail> {
    let mut req = ExecRequest::shell(script, timeout);
    if let Some((u, pw)) = become_ {
        req.become_user = Some(u.to_string());
        req.become_password = pw.map(str::to_string);
    }
    Ok(conn.exec(&req).await?)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn edit(
    sh: &Arc<Shared>,
    step: usize,
    a: &ir::Action,
    cx: &Ctx<'_>,
    host: Target<'_>,
    timeout: Duration,
    become_: Become<'_>,
) -> Result<(Value, Option<i32>, bool), Fail> {
    let Target {
        name,
        on,
        conn,
        undo: undos,
    } = host;
    let on = on.map(str::to_string);
    let label = action_label(a);
    let path = eval::render(
        a.positional
            .as_ref()
            .ok_or(Fail("`edit` without a file".into()))?,
        cx,
        false,
    )?;
    crate::values::remote_path(&path).map_err(|why| Fail(format!("{label}: {why}")))?;
    let fmt_text = eval::render(
        arg(a, "format").ok_or(Fail("no `format:`".into()))?,
        cx,
        false,
    )?;
    let format = Format::parse(&fmt_text)
        .ok_or_else(|| Fail(format!("{label}: unknown format `{fmt_text}`")))?;
    let mut changes: Vec<edit::Change> = Vec::new();
    if let Some(e) = arg(a, "set") {
        match eval::eval(e, cx)? {
            Value::Map(m) => changes.extend(m.into_iter().map(|(k, v)| (k, Some(v.to_json())))),
            other => {
                return Err(Fail(format!(
                    "{label}: `set` is `{}`, not a map",
                    other.to_text()
                )))
            }
        }
    }
    if let Some(e) = arg(a, "delete") {
        match eval::eval(e, cx)? {
            Value::List(xs) => changes.extend(xs.iter().map(|x| (x.to_text(), None))),
            other => {
                return Err(Fail(format!(
                    "{label}: `delete` is `{}`, not a list",
                    other.to_text()
                )))
            }
        }
    }
    let current = conn.read_file(&path, timeout, become_).await?;
    if current.is_none() && !a.args.contains_key("create") {
        return Err(Fail(format!(
            "{label}: {path} does not exist (add `create` to make it)"
        )));
    }
    let before = match &current {
        Some(f) => Some(
            String::from_utf8(f.bytes.clone())
                .map_err(|_| Fail(format!("{label}: {path} is not UTF-8 text")))?,
        ),
        None => None,
    };
    let after = edit::apply(format, before.as_deref(), &changes)
        .map_err(|e| Fail(format!("{label}: {path}: {e}")))?;
    if edit::same(format, before.as_deref(), &after) {
        let bytes = current.map(|f| f.bytes).unwrap_or_default();
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        return Ok((
            interp::file_record(&path, &sha, bytes.len() as u64, false),
            None,
            false,
        ));
    }
    // Keep the previous state once per run (a retried or resumed step keeps the first).
    let q = transport::agent::quote;
    // The previous bytes (`cp -p`: mode, owner), or a marker that the file was absent.
    let tag = backup_tag(&sh.run_id, step, name);
    let (kept, script) = match &current {
        Some(_) => {
            let b = beside(&path, &tag, "orig");
            let script = format!("[ -e {b} ] || cp -p -- {p} {b}", b = q(&b), p = q(&path));
            (b, script)
        }
        None => {
            let m = beside(&path, &tag, "absent");
            let script = format!("umask 077 && : > {}", q(&m));
            (m, script)
        }
    };
    let r = exec_as(conn, script, timeout, become_).await?;
    if r.rc != 0 {
        return Err(remote_err(&path, &r));
    }
    let (backup, marker) = if current.is_some() {
        (Some(kept), None)
    } else {
        (None, Some(kept))
    };
    let undo = Undo {
        step,
        on: on.clone(),
        path: path.clone(),
        backup,
        marker,
        become_user: become_.map(|(u, _)| u.to_string()),
    };
    if !undos.iter().any(|u| u.path == undo.path && u.on == undo.on) {
        sh.journal(crate::journal::Record::Edit {
            host: name.to_string(),
            undo: undo.clone(),
        })
        .await;
        undos.push(undo);
    }
    let (mode, owner) = match &current {
        Some(f) => (
            Some(f.mode.clone()),
            (!f.reader_is_owner).then(|| f.owner.clone()),
        ),
        None => (
            arg(a, "mode")
                .map(|e| eval::render(e, cx, false))
                .transpose()?,
            arg(a, "owner")
                .map(|e| eval::render(e, cx, false))
                .transpose()?,
        ),
    };
    if let Some(m) = &mode {
        crate::values::mode(m).map_err(|why| Fail(format!("{label}: `mode`: {why}")))?;
    }
    if let Some(o) = &owner {
        crate::values::owner(o).map_err(|why| Fail(format!("{label}: `owner`: {why}")))?;
    }
    let (sha, changed) = conn
        .put(
            after.as_bytes(),
            &path,
            mode.as_deref(),
            owner.as_deref(),
            timeout,
            become_,
        )
        .await?;
    Ok((
        interp::file_record(&path, &sha, after.len() as u64, changed),
        None,
        changed,
    ))
}

pub(super) async fn read(
    a: &ir::Action,
    cx: &Ctx<'_>,
    conn: &mut Conn,
    timeout: Duration,
    become_: Become<'_>,
) -> Result<(Value, Option<i32>, bool), Fail> {
    let label = action_label(a);
    let path = eval::render(
        a.positional
            .as_ref()
            .ok_or(Fail("`read` without a file".into()))?,
        cx,
        false,
    )?;
    crate::values::remote_path(&path).map_err(|why| Fail(format!("{label}: {why}")))?;
    let format = match arg(a, "format") {
        Some(e) => eval::render(e, cx, false)?,
        None => "text".into(),
    };
    let mut r: IndexMap<&'static str, Value> = IndexMap::new();
    r.insert("path", Value::Str(path.clone()));
    let Some(f) = conn.read_file(&path, timeout, become_).await? else {
        if !a.args.contains_key("missing_ok") {
            return Err(Fail(format!("{label}: {path} does not exist (add `missing_ok` to read an absent file as `exists: false`)")));
        }
        r.insert("exists", Value::Bool(false));
        r.insert("text", Value::Str(String::new()));
        r.insert("value", Value::None);
        r.insert("sha256", Value::Str(String::new()));
        return Ok((Value::Record(r), None, false));
    };
    let text = String::from_utf8(f.bytes.clone())
        .map_err(|_| Fail(format!("{label}: {path} is not UTF-8 text")))?;
    let value = match format.as_str() {
        "json" => Value::Json(
            serde_json::from_str(&text)
                .map_err(|e| Fail(format!("{label}: {path}: not JSON: {e}")))?,
        ),
        "yaml" => Value::Json(
            serde_yaml_ng::from_str(&text)
                .map_err(|e| Fail(format!("{label}: {path}: not YAML: {e}")))?,
        ),
        _ => Value::None,
    };
    r.insert("exists", Value::Bool(true));
    r.insert(
        "sha256",
        Value::Str(hex::encode(sha2::Sha256::digest(&f.bytes))),
    );
    r.insert("text", Value::Str(text));
    r.insert("value", value);
    Ok((Value::Record(r), None, false))
}

/// Put back what step `step` edited on this host, newest first (a rollback, before the
/// step's own `rollback` block).
pub(super) async fn restore(sh: &Arc<Shared>, step: usize, hs: &mut HostState) -> Result<(), Fail> {
    let q = transport::agent::quote;
    let mine: Vec<Undo> = hs.undo.iter().filter(|u| u.step == step).cloned().collect();
    for u in mine.iter().rev() {
        let script = match (&u.backup, &u.marker) {
            (Some(b), _) => format!(
                "if [ -e {b} ]; then mv -fT -- {b} {p}; fi",
                b = q(b),
                p = q(&u.path)
            ),
            (None, Some(m)) => format!(
                "if [ -e {m} ]; then rm -f -- {p} {m}; fi",
                m = q(m),
                p = q(&u.path)
            ),
            (None, None) => continue,
        };
        let pw = sh
            .inventory
            .target(u.on.as_deref().unwrap_or(&hs.name))
            .and_then(|t| {
                t.vars
                    .get("ansible_become_password")
                    .or_else(|| t.vars.get("ansible_become_pass"))
                    .cloned()
            });
        let who = u.become_user.as_deref().map(|u| (u, pw.as_deref()));
        let r = match &u.on {
            Some(h) => {
                let d = sh.delegate(h).await?;
                let mut g = d.lock().await;
                exec_as(&mut g, script, sh.opts.default_timeout, who).await?
            }
            None => exec_as(&mut hs.conn, script, sh.opts.default_timeout, who).await?,
        };
        if r.rc != 0 {
            return Err(Fail(format!(
                "restoring {}: {}",
                u.path,
                String::from_utf8_lossy(&r.stderr).trim()
            )));
        }
        let _ = sh.events.send(Event::Log {
            step: sh.flow.steps[step].name.clone(),
            host: hs.name.clone(),
            message: match (&u.backup, &u.on) {
                (Some(_), None) => format!("restored {} as it was before the step", u.path),
                (Some(_), Some(h)) => {
                    format!("restored {} on {h} as it was before the step", u.path)
                }
                (None, None) => format!("removed {}, which the step created", u.path),
                (None, Some(h)) => format!("removed {} on {h}, which the step created", u.path),
            },
        });
    }
    hs.undo.retain(|u| u.step != step);
    Ok(())
}

/// After a run that ended well: the backups of its edits are not needed any more.
pub(super) async fn forget(sh: &Shared, hs: &mut HostState) {
    let q = transport::agent::quote;
    for u in std::mem::take(&mut hs.undo) {
        let Some(f) = u.backup.or(u.marker) else {
            continue;
        };
        let mut req = ExecRequest::shell(format!("rm -f -- {}", q(&f)), sh.opts.default_timeout);
        req.become_user = u.become_user;
        match &u.on {
            Some(h) => {
                if let Ok(d) = sh.delegate(h).await {
                    let _ = d.lock().await.exec(&req).await;
                }
            }
            None => {
                let _ = hs.conn.exec(&req).await;
            }
        }
    }
}
