//! One operator per cluster (inv. 19): the lease lock and its fencing, and the SSH
//! tunnels to the endpoints.

use super::*;

/// SSH tunnels to the members of clusters declared with `tunnel: true`, through each
/// member host's connection, before anything talks to etcd.
/// Tunnels of the active clusters (`only`: of that cluster alone, at its first use).
pub(in crate::runtime) async fn open_tunnels(
    sh: &Shared,
    states: &IndexMap<String, crate::runtime::HostState>,
    only: Option<usize>,
) -> Result<(), String> {
    for (_, c) in sh
        .cluster_confs
        .iter()
        .enumerate()
        .filter(|(i, c)| c.tunnel && selected(sh, *i, only))
    {
        let Some(conn) = &c.conn else { continue };
        let mut map = Vec::new();
        for ep in &conn.endpoints {
            let Some((addr, port)) = url_host_port(ep) else {
                return Err(format!(
                    "refused [etcd-tunnel]: cluster `{}`: endpoint `{ep}` has no host:port",
                    c.name
                ));
            };
            let host = c
                .members
                .iter()
                .find(|h| sh.inventory.target(h).is_some_and(|t| t.address == addr));
            let Some(hs) = host.and_then(|h| states.get(h)) else {
                return Err(format!(
                    "refused [etcd-tunnel]: cluster `{}`: the tunnel to {ep} goes through the SSH connection of the host at {addr}, and no connected host of the flow has that address. Run a step on the member hosts, or drop `tunnel:`",
                    c.name
                ));
            };
            let local = hs
                .conn
                .forward(&addr, port)
                .await
                .map_err(|e| format!("refused [etcd-tunnel]: cluster `{}`: {e}", c.name))?;
            let scheme = ep.split_once("://").map_or("http", |(s, _)| s);
            map.push((
                ep.trim_end_matches('/').to_string(),
                format!("{scheme}://127.0.0.1:{local}"),
            ));
        }
        if let Ok(mut t) = conn.tunnels.lock() {
            *t = map;
        }
    }
    Ok(())
}

/// Mutating etcd API actions (the ones the lease lock fences).
pub(in crate::runtime) fn changes_through_api(op: EtcdOp) -> bool {
    matches!(
        op,
        EtcdOp::MemberAdd
            | EtcdOp::MemberPromote
            | EtcdOp::MemberRemove
            | EtcdOp::MoveLeader
            | EtcdOp::Defrag
            | EtcdOp::AlarmDisarm
            | EtcdOp::Put
            | EtcdOp::Delete
    )
}

/// The lease TTL of the cluster lock; renewed every third of it.
pub(in crate::runtime) const LOCK_TTL: Duration = Duration::from_secs(10);

/// Take the run's locks before the first step (inv. 19). Returns the local lock files
/// (held until they are dropped at the end of the run).
/// Whether cluster `i` is set up now: the one named, or (`None`) every active one.
fn selected(sh: &Shared, i: usize, only: Option<usize>) -> bool {
    match only {
        Some(o) => o == i,
        None => sh.etcd.get(i).is_some_and(super::ClusterState::is_active),
    }
}

/// Locks of the active clusters (`only`: of that cluster alone, at its first use).
pub(in crate::runtime) async fn take_locks(
    sh: &Shared,
    only: Option<usize>,
) -> Result<Vec<std::fs::File>, String> {
    let mut files = Vec::new();
    for (i, c) in sh.cluster_confs.iter().enumerate() {
        if !selected(sh, i, only) {
            continue;
        }
        let on = |pred: &dyn Fn(EtcdOp) -> bool| {
            crate::runtime::flow_any(&sh.flow, &|_| false, &|a: &ir::Action| {
                matches!(a.kind, ir::ActionKind::Etcd(op) if a.cluster == Some(i) && pred(op))
            })
            .is_some()
        };
        if !on(&|_| true) {
            continue;
        }
        let Some(conn) = &c.conn else { continue };
        // A flow that changes membership has its members' health sampled for the whole
        // run (inv. 1: the gate's 5 s window means no miss in those 5 s).
        let membership = |op| {
            matches!(
                op,
                EtcdOp::MemberAdd | EtcdOp::MemberPromote | EtcdOp::MemberRemove
            )
        };
        if on(&membership) {
            if let Some(st) = sh.etcd.get(i) {
                if let Ok(mut o) = st.observer.lock() {
                    if o.is_none() {
                        *o = Some(super::health::spawn_observer(
                            conn.clone(),
                            Arc::clone(&st.health),
                        ));
                    }
                }
            }
        }
        let holder = serde_json::json!({
            "operator": crate::journal::operator(),
            "run_id": sh.run_id,
            "flow": sh.flow.name,
            "pid": std::process::id(),
            "since": crate::runtime::timestamp_utc(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())),
        })
        .to_string();
        if let Some(dir) = &sh.opts.state_dir {
            use sha2::Digest;
            let dir = dir.join("locks");
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let id = hex::encode(sha2::Sha256::digest(conn.endpoints.join(",")));
            let path = dir.join(format!("{}-{}.lock", c.name, &id[..12]));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            if f.try_lock().is_err() {
                let who = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(format!(
                    "refused [cluster-locked]: another etcdflow run on this machine acts on cluster `{}` ({}): {}. Wait for it to finish; one operator at a time (inv. 19)",
                    c.name,
                    path.display(),
                    who.trim()
                ));
            }
            use std::io::{Seek, Write};
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = f.write_all(holder.as_bytes());
            files.push(f);
        }
        if on(&changes_through_api) {
            match tx::Lock::acquire(conn, &holder, &sh.run_id, LOCK_TTL).await {
                Ok(l) => {
                    if let Some(st) = sh.etcd.get(i) {
                        *st.lock.lock().await = Some(l);
                    }
                }
                Err(tx::LockError::Held(who)) => {
                    return Err(format!(
                        "refused [cluster-locked]: cluster `{}` is held by another etcdflow run: {who}. One operator at a time (inv. 19): wait for it, or, if that run is dead, its lease expires within {LOCK_TTL:?}",
                        c.name
                    ))
                }
                Err(tx::LockError::Failed(e)) => {
                    return Err(format!(
                        "refused [cluster-unreachable]: cannot take the lock in cluster `{}`: {e}. The flow changes the cluster through its API, so it must answer before the first step",
                        c.name
                    ))
                }
            }
        }
    }
    Ok(files)
}

/// Whether a lock of the run may have been lost (inv. 19, fault T18): checked on the
/// controller before every action and step, so a controller that was stopped past its
/// lease changes nothing when it runs again. Once lost, the run stays stopped.
pub(in crate::runtime) async fn lock_lost(sh: &Shared) -> bool {
    if sh.lease_lost.load(std::sync::atomic::Ordering::SeqCst) {
        return true;
    }
    for st in &sh.etcd {
        let g = st.lock.lock().await;
        if let Some(l) = g.as_ref() {
            if !l.held().await {
                sh.lease_lost
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                sh.interrupted
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return true;
            }
        }
    }
    false
}

/// The refusal of an action after the lease may have expired.
pub(in crate::runtime) const LEASE_LOST: &str = "the cluster lock's lease may have expired (inv. 19): another operator may act now, so nothing more is changed: no command, no etcd request, no rollback";

pub(in crate::runtime) async fn release_locks(sh: &Shared) {
    for (st, c) in sh.etcd.iter().zip(&sh.cluster_confs) {
        if let Some(o) = st.observer.lock().ok().and_then(|mut o| o.take()) {
            o.abort();
        }
        let l = st.lock.lock().await.take();
        if let (Some(l), Some(conn)) = (l, &c.conn) {
            l.release(conn).await;
        }
    }
}
