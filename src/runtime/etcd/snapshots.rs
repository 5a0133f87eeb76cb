//! Snapshots: verification (inv. 9), re-verification on resume, and the restore (inv. 10, 11).

use super::*;

pub(in crate::runtime) fn verified_with(sh: &Shared, sha: &str) -> Option<Verified> {
    sh.verified
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|s| s.sha256 == sha).cloned())
}

pub(in crate::runtime) fn any_verified(sh: &Shared) -> Option<Verified> {
    sh.verified.lock().ok().and_then(|v| v.last().cloned())
}

pub(in crate::runtime) fn snapshot_value(
    v: &Verified,
    size: u64,
    endpoint: &str,
    taken_at: &str,
) -> Value {
    rec(vec![
        ("path", Value::Str(v.path.clone())),
        ("sha256", Value::Str(v.sha256.clone())),
        ("size", Value::Size(size)),
        ("revision", Value::Int(v.revision)),
        ("key_count", Value::Int(v.key_count)),
        ("verified", Value::Bool(true)),
        ("endpoint", Value::Str(endpoint.to_string())),
        ("taken_at", Value::Str(taken_at.to_string())),
    ])
}

/// Verify a file on the controller and remember it as verified.
pub(in crate::runtime) async fn verify_file(
    sh: &Shared,
    path: &std::path::Path,
) -> Result<(Verified, u64), Fail> {
    let p = path.to_path_buf();
    let info = tokio::task::spawn_blocking(move || {
        std::fs::read(&p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
            .and_then(|b| crate::snapshot::verify(&b))
    })
    .await
    .map_err(|e| Fail(format!("snapshot verification stopped: {e}")))?
    .map_err(|e| {
        Fail(format!(
            "refused [snapshot-invalid]: snapshot {} failed verification (inv. 9): {e}. Take a new snapshot from a healthy member",
            path.display()
        ))
    })?;
    let v = Verified {
        sha256: info.sha256.clone(),
        path: path.display().to_string(),
        revision: info.revision,
        key_count: info.key_count,
    };
    if let Ok(mut all) = sh.verified.lock() {
        all.push(v.clone());
    }
    sh.journal(crate::journal::Record::SnapshotVerified {
        path: path.to_path_buf(),
        sha256: v.sha256.clone(),
        revision: v.revision,
        key_count: v.key_count,
    })
    .await;
    Ok((v, info.size))
}

/// A resumed run trusts a snapshot its earlier part verified only after verifying the
/// file again and finding the same sha256 (inv. 9): a file changed in between is not
/// verified, and the destructive steps that need it refuse.
pub(in crate::runtime) async fn reverify(sh: &Shared, files: &[(std::path::PathBuf, String)]) {
    for (path, sha) in files {
        let p = path.clone();
        let again = tokio::task::spawn_blocking(move || {
            std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| crate::snapshot::verify(&b))
        })
        .await;
        let message = match again {
            Ok(Ok(info)) if info.sha256 == *sha => {
                if let Ok(mut all) = sh.verified.lock() {
                    all.push(Verified {
                        sha256: info.sha256,
                        path: path.display().to_string(),
                        revision: info.revision,
                        key_count: info.key_count,
                    });
                }
                format!(
                    "snapshot {} verified again for the resumed run",
                    path.display()
                )
            }
            Ok(Ok(_)) => format!(
                "snapshot {} changed since the run verified it: it is not trusted (inv. 9)",
                path.display()
            ),
            Ok(Err(e)) => format!("snapshot {} no longer verifies: {e}", path.display()),
            Err(e) => format!("snapshot {}: {e}", path.display()),
        };
        let _ = sh.events.send(crate::runtime::Event::Log {
            step: String::new(),
            host: LOCAL.into(),
            message,
        });
    }
}

/// inv. 9, 11, 15: restore a verified snapshot into a data dir that does not exist, with
/// the tool the host's etcd version calls for.
pub(in crate::runtime) async fn restore(
    sh: &Arc<Shared>,
    a: &ir::Action,
    cx: &Ctx<'_>,
    mut hs: Host<'_>,
    timeout: Duration,
    sudo: Option<String>,
) -> Result<(Value, Option<i32>, bool), Fail> {
    let file = need(a, "file", cx)?;
    let data_dir = need(a, "data_dir", cx)?;
    let name = need(a, "name", cx)?;
    let peer_url = need(a, "peer_url", cx)?;
    let initial = need(a, "initial_cluster", cx)?;
    let token = need(a, "token", cx)?;
    if !initial
        .split(',')
        .any(|kv| kv == format!("{name}={peer_url}"))
    {
        return Err(refuse(
            "etcd-restore-args",
            "this member must appear in the initial cluster as name=peer_url (inv. 11)",
            &format!("`{name}={peer_url}` not in `{initial}`"),
            "build both from the same cluster declaration (`member_name`, `peer_url`, `initial_cluster`)",
        ));
    }
    let marker = format!("{data_dir}.etcdflow-restored");
    let short = Duration::from_secs(30).min(timeout);
    let probe = format!(
        "f={}; d={}; m={}\nsha=$(sha256sum < \"$f\" | cut -d' ' -f1) || exit 3\necho \"sha=$sha\"\nif [ -e \"$d\" ]; then echo \"exists=1\"; cat \"$m\" 2>/dev/null | sed 's/^/marker=/'; fi\nif command -v etcdutl >/dev/null 2>&1; then echo \"etcdutl=$(etcdutl version 2>/dev/null | sed -n 's/^etcdutl version: //p')\"; fi\nif command -v etcdctl >/dev/null 2>&1; then echo \"etcdctl=$(ETCDCTL_API=3 etcdctl version 2>/dev/null | sed -n 's/^etcdctl version: //p')\"; fi",
        transport::agent::quote(&file),
        transport::agent::quote(&data_dir),
        transport::agent::quote(&marker)
    );
    let mut req = ExecRequest::shell(probe, short);
    req.become_user.clone_from(&sudo);
    let (rc, out, err) = remote(&mut hs, req.clone()).await?;
    if rc != 0 {
        return Err(Fail(format!(
            "cannot read the snapshot {file} on {}: {}",
            hs.name,
            err.trim()
        )));
    }
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    let sha = field("sha").unwrap_or_default();
    let Some(v) = verified_with(sh, &sha) else {
        return Err(refuse(
            "etcd-no-verified-snapshot",
            &format!("a restore uses only a snapshot verified in this run, byte for byte (inv. 9, 11): {file} on {} was hashed", hs.name),
            &format!("sha256 {sha}, which matches no verified snapshot"),
            "verify the snapshot on the controller first (`etcd.snapshot_verify` or `etcd.snapshot_save`) and copy that same file",
        ));
    };
    let stamp = format!("{} {}", sh.run_id, v.sha256);
    if field("exists").is_some() {
        if field("marker").as_deref() == Some(stamp.as_str()) {
            // This run restored it already (resume): nothing to do.
            return Ok((restored_value(&v, "", true), None, false));
        }
        return Err(refuse(
            "etcd-restore-data-dir-exists",
            &format!(
                "a restore writes into a data dir that does not exist (inv. 10, 11): {data_dir} on {}",
                hs.name
            ),
            "it exists",
            "move it aside first (`mv` to a dated name); never delete it before the restored cluster is proven",
        ));
    }
    let utl = field("etcdutl").filter(|s| !s.is_empty());
    let ctl = field("etcdctl").filter(|s| !s.is_empty());
    let (tool, version) = match (utl, ctl) {
        (Some(v), _) => ("etcdutl", v),
        (None, Some(v)) if !version_at_least(&v, 3, 6, 0) => ("etcdctl", v),
        (None, Some(v)) => {
            return Err(Fail(format!(
                "etcdctl {v} on {} cannot restore snapshots (removed in 3.6) and etcdutl is missing: install etcdutl (inv. 15)",
                hs.name
            )))
        }
        (None, None) => {
            return Err(Fail(format!(
                "neither etcdutl nor etcdctl is installed on {}: a restore needs one of them (inv. 15)",
                hs.name
            )))
        }
    };
    // The data dir appears only whole and with its marker: restore into a temporary
    // sibling named after the run, write the marker, rename. One remote command, which
    // runs to its end even if the controller dies (a resumed run waits for it and then
    // finds the marker).
    let tmp = format!("{data_dir}.etcdflow-restore-{}", sh.run_id);
    let mut argv: Vec<String> = Vec::new();
    if tool == "etcdctl" {
        argv.extend(["env".into(), "ETCDCTL_API=3".into()]);
    }
    argv.extend(
        [
            tool,
            "snapshot",
            "restore",
            file.as_str(),
            "--name",
            name.as_str(),
            "--initial-cluster",
            initial.as_str(),
            "--initial-cluster-token",
            token.as_str(),
            "--initial-advertise-peer-urls",
            peer_url.as_str(),
            "--data-dir",
            tmp.as_str(),
        ]
        .map(String::from),
    );
    // Bump the revision past every revision a watcher may have seen, where the tool can
    // (etcdctl ≥ 3.4.27, etcdutl ≥ 3.5.10; inv. 11).
    let bump = if tool == "etcdutl" {
        version_at_least(&version, 3, 5, 10)
    } else {
        version_at_least(&version, 3, 4, 27)
    };
    if bump {
        argv.extend(["--bump-revision", "1000000000", "--mark-compacted"].map(String::from));
    }
    let q = transport::agent::quote;
    let script = format!(
        "set -e\nrm -rf -- {tmp}\n{cmd}\nprintf '%s\\n' {stamp} > {marker}\nmv -- {tmp} {dir}",
        tmp = q(&tmp),
        cmd = argv.iter().map(|w| q(w)).collect::<Vec<_>>().join(" "),
        stamp = q(&stamp),
        marker = q(&marker),
        dir = q(&data_dir),
    );
    let mut req = ExecRequest::shell(script, timeout);
    req.become_user.clone_from(&sudo);
    let (rc, _out, err) = remote(&mut hs, req).await?;
    if rc != 0 {
        return Err(Fail(format!(
            "{tool} snapshot restore failed on {} (exit {rc}): {}",
            hs.name,
            err.trim().lines().last().unwrap_or_default()
        )));
    }
    let note = if bump {
        String::new()
    } else {
        format!("{tool} {version} cannot bump the revision: restart every watcher (kube-apiserver) after the restore")
    };
    if !note.is_empty() {
        let _ = sh.events.send(crate::runtime::Event::Log {
            step: hs.step.to_string(),
            host: hs.name.to_string(),
            message: note.clone(),
        });
    }
    Ok((restored_value(&v, &note, false), Some(rc), true))
}

pub(in crate::runtime) fn restored_value(v: &Verified, note: &str, already: bool) -> Value {
    rec(vec![
        ("sha256", Value::Str(v.sha256.clone())),
        ("revision", Value::Int(v.revision)),
        ("key_count", Value::Int(v.key_count)),
        ("already", Value::Bool(already)),
        ("note", Value::Str(note.to_string())),
    ])
}

/// `3.4.23` >= (maj, min, patch).
pub(in crate::runtime) fn version_at_least(v: &str, maj: u64, min: u64, patch: u64) -> bool {
    let n: Vec<u64> = v
        .trim()
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .take(3)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let get = |i: usize| n.get(i).copied().unwrap_or(0);
    (get(0), get(1), get(2)) >= (maj, min, patch)
}
