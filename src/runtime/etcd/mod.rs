//! The etcd actions and the guards the interpreter enforces around them, whatever the
//! flow says (SAFETY.md inv. 1, 2, 5, 7, 8, 9, 11, 13, 14, 15, 19). Every refusal names
//! what was checked, what was found and what to do, and comes before the change.
//!
//! Membership changes on one cluster are serialized by a per-cluster mutex (inv. 2: one
//! change in flight even when a flow runs them on several hosts in parallel), each starts
//! from fresh facts read after a linearizable barrier (inv. 8), and the ones that change
//! the voting set end with the post-conditions of inv. 14.

use super::eval::{self, Ctx};
use super::value::Value;
use super::{arg, Fail, Shared, LOCAL};
use crate::ir::{self, EtcdOp};
use crate::transport::Conn;
use crate::transport::{self, etcd as tx, ExecRequest};
use indexmap::IndexMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod guards;
mod health;
mod lock;
mod membership;
mod names;
mod snapshots;

use guards::*;
pub(super) use guards::{quorum, url_host};
pub(super) use lock::{lock_lost, open_tunnels, release_locks, take_locks, LEASE_LOST};
use membership::*;
pub(super) use names::gather;
pub(super) use snapshots::reverify;
use snapshots::*;

/// A snapshot this run verified: destructive steps need one (inv. 9).
#[derive(Clone, Debug)]
pub struct Verified {
    pub sha256: String,
    pub path: String,
    pub revision: i64,
    pub key_count: i64,
}

/// Per-cluster runtime state shared by every host task.
#[derive(Default)]
pub struct ClusterState {
    /// In use: connected, locked, its facts read (a `lazy` cluster from its first step).
    pub active: std::sync::atomic::AtomicBool,
    /// Held while a membership change is decided, made and checked (inv. 2).
    pub change: tokio::sync::Mutex<()>,
    /// The run's lease lock in this cluster (inv. 19).
    pub lock: tokio::sync::Mutex<Option<tx::Lock>>,
    /// Since when each member (by id) has answered without a break (inv. 1: ≥ 5 s).
    pub health: Arc<health::HealthClock>,
    /// The background observer feeding `health` (a flow that changes membership).
    pub observer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Member DNS names that resolved to no inventory host, and when (`names`).
    pub unresolved: std::sync::Mutex<std::collections::HashMap<String, Instant>>,
}

impl ClusterState {
    pub fn new(active: bool) -> ClusterState {
        ClusterState {
            active: std::sync::atomic::AtomicBool::new(active),
            ..ClusterState::default()
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How long every voter must have answered before a membership change (etcd's
/// `HealthInterval`, inv. 1).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

fn refuse(code: &str, checked: &str, found: &str, todo: &str) -> Fail {
    Fail(format!(
        "refused [{code}]: {checked}; found {found}. {todo} (nothing was changed)"
    ))
}

fn conf(sh: &Shared, cluster: usize) -> Result<&tx::Conf, Fail> {
    sh.cluster_confs
        .get(cluster)
        .and_then(|c| c.conn.as_ref())
        .ok_or_else(|| Fail(format!("cluster #{cluster} is not configured")))
}

fn text_arg(a: &ir::Action, k: &str, cx: &Ctx<'_>) -> Result<Option<String>, Fail> {
    Ok(arg(a, k)
        .map(|e| eval::eval(e, cx))
        .transpose()?
        .map(|v| match v {
            Value::Secret(s) => s.expose().to_string(),
            v => v.to_text(),
        }))
}

fn need(a: &ir::Action, k: &str, cx: &Ctx<'_>) -> Result<String, Fail> {
    text_arg(a, k, cx)?.ok_or_else(|| Fail(format!("`{k}:` is required")))
}

fn rec(fields: Vec<(&'static str, Value)>) -> Value {
    Value::Record(fields.into_iter().collect::<IndexMap<_, _>>())
}

/// Fresh facts, with each member's continuous-health clock updated.
async fn observe(sh: &Shared, cluster: usize) -> Result<tx::Facts, Fail> {
    let f = gather(sh, cluster).await?;
    if let Some(st) = sh.etcd.get(cluster) {
        st.health.facts(&f);
    }
    Ok(f)
}

/// Poll `check` with fresh facts until it returns a value or `deadline` passes.
async fn wait_for<T>(
    sh: &Shared,
    cluster: usize,
    what: &str,
    every: Duration,
    deadline: Instant,
    check: &(dyn Fn(&tx::Facts) -> Result<T, String> + Sync),
) -> Result<T, Fail> {
    loop {
        let why = match observe(sh, cluster).await {
            Ok(f) => match check(&f) {
                Ok(v) => return Ok(v),
                Err(why) => why,
            },
            Err(Fail(e)) => e,
        };
        if Instant::now() >= deadline {
            return Err(Fail(format!("timed out waiting for {what}: {why}")));
        }
        tokio::time::sleep(every).await;
    }
}

/// Run a short command on the step's host; its stdout.
/// The step's host: its name (`LOCAL`: the controller) and connection.
pub(super) struct Host<'a> {
    /// The step the action belongs to (named in its events).
    pub step: &'a str,
    pub name: &'a str,
    pub conn: &'a mut Conn,
}

async fn remote(hs: &mut Host<'_>, req: ExecRequest) -> Result<(i32, String, String), Fail> {
    let r = hs.conn.exec(&req).await?;
    Ok((
        r.rc,
        String::from_utf8_lossy(&r.stdout).into_owned(),
        String::from_utf8_lossy(&r.stderr).into_owned(),
    ))
}

/// One etcd action on the step's host (`LOCAL`: the controller). Returns the result, the
/// exit code of a remote command if one ran, and whether anything changed.
pub(super) async fn action(
    sh: &Arc<Shared>,
    op: EtcdOp,
    a: &ir::Action,
    cx: &Ctx<'_>,
    hs: Host<'_>,
    timeout: Duration,
    sudo: Option<String>,
) -> Result<(Value, Option<i32>, bool), Fail> {
    // Verifying a snapshot file talks to no cluster (a flow may have none).
    if op == EtcdOp::SnapshotVerify {
        let file = sh.opts.flow_dir.join(need(a, "file", cx)?);
        let (v, size) = verify_file(sh, &file).await?;
        return Ok((snapshot_value(&v, size, "", ""), None, false));
    }
    let cluster = a.cluster.unwrap_or(0);
    let deadline = Instant::now() + timeout;
    let c = conf(sh, cluster)?.clone();
    let st = sh.etcd.get(cluster);
    let every = match arg(a, "every").map(|e| eval::eval(e, cx)).transpose()? {
        Some(Value::Duration(ms)) => Duration::from_millis(ms.max(50)),
        _ => Duration::from_secs(1),
    };
    match op {
        EtcdOp::MemberAdd => {
            let name = need(a, "name", cx)?;
            // The canonical form goes to etcd, so its own duplicate check sees what the
            // guards saw.
            let url = need(a, "peer_url", cx)?;
            let url = norm_url(&url).map_err(|why| {
                refuse(
                    "etcd-peer-url",
                    "the peer URL of a new member must be scheme://address:port (inv. 5)",
                    &why,
                    "build it with `peer_url(cluster, host)`",
                )
            })?;
            let voter = a.args.contains_key("voter");
            let _one = one_change(st).await;
            let f = observe(sh, cluster).await?;
            // Idempotent (inv. 17): the URL already added, unstarted or under this name.
            if let Some(m) = f
                .members
                .iter()
                .find(|m| m.peer_urls.iter().any(|u| same_url(u, &url)))
                .filter(|m| m.name.is_empty() || m.name == name)
            {
                let ic = initial_cluster(&f.members, m.id, &name);
                return Ok((added(m, &name, ic, true), None, false));
            }
            one_in_flight(&f, true)?;
            let voters = f.members.iter().filter(|m| !m.learner).count();
            if voter && voters <= 2 {
                return Err(refuse(
                    "etcd-quorum-gate",
                    "a voter added directly to a 1- or 2-member cluster raises its quorum before the new member can vote (inv. 1, 3)",
                    &format!("{voters} voting member(s)"),
                    "add it as a learner (the default) and `etcd.member_promote` it once caught up",
                ));
            }
            check_peer_url(sh, cluster, &url, &f).await?;
            let after = voters + usize::from(voter);
            quorum_gate(sh, cluster, "member add", after, &|m| !m.learner, deadline).await?;
            let mut fence = fenced(sh, cluster).await?;
            let mut pause = every;
            let (m, list) = loop {
                match tx::member_add(&c, &url, voter, fence).await {
                    Ok(r) => break r,
                    Err(e)
                        if matches!(
                            e.kind,
                            tx::Outcome::AlreadyExists | tx::Outcome::Unavailable
                        ) =>
                    {
                        // The add may have landed before an ambiguous failure: look it
                        // up (inv. 17); if it did not, try again within the deadline.
                        let f = observe(sh, cluster).await?;
                        if let Some(m) = f
                            .members
                            .iter()
                            .find(|m| m.peer_urls.iter().any(|u| same_url(u, &url)))
                        {
                            break (m.clone(), f.members.clone());
                        }
                        if e.kind == tx::Outcome::AlreadyExists
                            || Instant::now() + pause >= deadline
                        {
                            return Err(Fail(e.message));
                        }
                        retried(sh, hs.step, "member add", &e.message, pause);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                        fence = fenced(sh, cluster).await?;
                    }
                    Err(e) => return Err(Fail(e.message)),
                }
            };
            let ic = initial_cluster(&list, m.id, &name);
            Ok((added(&m, &name, ic, false), None, true))
        }
        EtcdOp::MemberPromote => {
            let who = need(a, "member", cx)?;
            let _one = one_change(st).await;
            let f = observe(sh, cluster).await?;
            let m = find(&f, &who).cloned().ok_or_else(|| {
                Fail(format!(
                    "no member `{who}` in cluster `{}`: members are {}",
                    c.name,
                    names(&f)
                ))
            })?;
            if !m.learner {
                return Ok((member_value(sh, cluster, &m, &f), None, false));
            }
            // inv. 3: started and caught up, checked by the controller itself.
            caught_up(sh, cluster, &m, 100, every, deadline).await?;
            let voters = f.members.iter().filter(|x| !x.learner).count();
            let id = m.id;
            quorum_gate(
                sh,
                cluster,
                "promoting a learner",
                voters + 1,
                &|x| !x.learner || x.id == id,
                deadline,
            )
            .await?;
            let mut pause = every;
            loop {
                // Right before the RPC: the catch-up seen before the gate's wait may be
                // stale by now (a partition since).
                caught_up(sh, cluster, &m, 100, every, deadline).await?;
                let fence = fenced(sh, cluster).await?;
                match tx::member_promote(&c, m.id, fence).await {
                    Ok(()) => break,
                    // Not in sync with the leader (etcd's `ErrLearnerNotReady`), or no
                    // answer / a leader change (gRPC Unavailable, DeadlineExceeded):
                    // retried until the deadline, with backoff; an ambiguous failure is
                    // looked at first, the promotion may have landed (inv. 17).
                    Err(e)
                        if matches!(e.kind, tx::Outcome::NotReady | tx::Outcome::Unavailable)
                            && Instant::now() + pause < deadline =>
                    {
                        if e.kind == tx::Outcome::Unavailable {
                            if let Ok(f) = observe(sh, cluster).await {
                                if f.members.iter().any(|x| x.id == m.id && !x.learner) {
                                    break;
                                }
                            }
                        }
                        retried(sh, hs.step, "member promote", &e.message, pause);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => return Err(Fail(e.message)),
                }
            }
            let f = post_conditions(sh, cluster, "the promotion", deadline).await?;
            let now = f.members.iter().find(|x| x.id == m.id).unwrap_or(&m);
            Ok((member_value(sh, cluster, now, &f), None, true))
        }
        EtcdOp::MemberRemove => {
            let who = need(a, "member", cx)?;
            let _one = one_change(st).await;
            let f = observe(sh, cluster).await?;
            let Some(m) = find(&f, &who).cloned() else {
                // A member that never started has no name yet: removing "by name" would
                // silently leave it (a learner added under that name). Refused, with its id.
                // (Member ids are 64-bit hex: 8 or more hex digits is taken as an id.)
                let by_name = who.len() < 8 || !who.chars().all(|c| c.is_ascii_hexdigit());
                if let Some(u) = f
                    .members
                    .iter()
                    .find(|m| m.name.is_empty())
                    .filter(|_| by_name)
                {
                    return Err(refuse(
                        "etcd-member-unnamed",
                        &format!("no started member is named `{who}`, and an unstarted member has no name yet"),
                        &format!("unstarted member {:x} ({})", u.id, u.peer_urls.join(", ")),
                        "remove it by id: `etcd.member_remove member: added.id` with the `member_add` result",
                    ));
                }
                // Already gone: nothing to do (idempotent on resume).
                return Ok((Value::None, None, false));
            };
            if any_verified(sh).is_none() {
                return Err(refuse(
                    "etcd-no-verified-snapshot",
                    "removing a member needs a snapshot verified in this run (inv. 9)",
                    "none",
                    "take one first with `etcd.snapshot_save` (or verify one with `etcd.snapshot_verify`)",
                ));
            }
            if !m.learner {
                let voters = f.members.iter().filter(|x| !x.learner).count();
                if voters <= 2 {
                    return Err(refuse(
                        "etcd-quorum-gate",
                        "removing a voter from a 1- or 2-member cluster is unsafe (inv. 1)",
                        &format!("{voters} voting member(s)"),
                        "add and promote the replacement first (inv. 4)",
                    ));
                }
                let id = m.id;
                let f = quorum_gate(
                    sh,
                    cluster,
                    "member remove",
                    voters - 1,
                    &|x| !x.learner && x.id != id,
                    deadline,
                )
                .await?;
                fenced(sh, cluster).await?;
                if f.leader == Some(m.id) {
                    // inv. 7: hand leadership to the most caught-up healthy voter that stays.
                    let to = f
                        .members
                        .iter()
                        .filter(|x| !x.learner && x.id != m.id && healthy(&f, x))
                        .max_by_key(|x| {
                            f.status
                                .iter()
                                .find(|s| s.member_id == x.id)
                                .map_or(0, |s| s.raft_applied_index)
                        })
                        .map(|x| x.id)
                        .ok_or_else(|| Fail("no healthy voter can take over leadership".into()))?;
                    hand_over(sh, cluster, &f, to, deadline, hs.step).await?;
                }
            }
            let mut pause = every;
            loop {
                // Fenced again before every attempt (the hand-over above takes time).
                let fence = fenced(sh, cluster).await?;
                match tx::member_remove(&c, m.id, &m.client_urls, fence).await {
                    Ok(()) => break,
                    Err(e) if e.kind == tx::Outcome::NotFound => break,
                    Err(e) => {
                        // An ambiguous failure: look again before calling it one (inv.
                        // 17); no answer or a leader change is tried again within the
                        // deadline.
                        let f = observe(sh, cluster).await?;
                        if !f.members.iter().any(|x| x.id == m.id) {
                            break;
                        }
                        if e.kind != tx::Outcome::Unavailable || Instant::now() + pause >= deadline
                        {
                            return Err(Fail(e.message));
                        }
                        retried(sh, hs.step, "member remove", &e.message, pause);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if !m.learner {
                post_conditions(sh, cluster, "the removal", deadline).await?;
            }
            Ok((Value::None, None, true))
        }
        EtcdOp::MoveLeader => {
            let who = need(a, "to", cx)?;
            let _one = one_change(st).await;
            let f = observe(sh, cluster).await?;
            let m = find(&f, &who)
                .cloned()
                .ok_or_else(|| Fail(format!("no member `{who}`: members are {}", names(&f))))?;
            if f.leader == Some(m.id) {
                return Ok((Value::None, None, false));
            }
            if m.learner || !healthy(&f, &m) {
                return Err(refuse(
                    "etcd-move-leader",
                    "leadership goes only to a started, healthy voter",
                    &format!(
                        "`{}` is {}",
                        m.name,
                        if m.learner {
                            "a learner"
                        } else {
                            "not healthy"
                        }
                    ),
                    "pick another member",
                ));
            }
            fenced(sh, cluster).await?;
            hand_over(sh, cluster, &f, m.id, deadline, hs.step).await?;
            Ok((Value::None, None, true))
        }
        EtcdOp::SnapshotSave => {
            let to = sh.opts.flow_dir.join(need(a, "to", cx)?);
            let endpoint = match text_arg(a, "endpoint", cx)? {
                Some(e) => e,
                None => {
                    let f = observe(sh, cluster).await?;
                    leader_endpoint(&f).ok_or_else(|| {
                        Fail("no leader to take the snapshot from (inv. 9)".into())
                    })?
                }
            };
            if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Fail(format!("cannot create {}: {e}", dir.display())))?;
            }
            let saved = tx::snapshot_save(&c, &endpoint, &to, timeout).await?;
            let (v, size) = verify_file(sh, &to).await?;
            // The file holds exactly what the stream delivered.
            if size != saved.bytes {
                return Err(Fail(format!(
                    "snapshot {}: {size} bytes on disk, but the stream delivered {} (inv. 9)",
                    to.display(),
                    saved.bytes
                )));
            }
            let side = format!("{}.sha256", to.display());
            let name = to
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::write(&side, format!("{}  {name}\n", v.sha256))
                .map_err(|e| Fail(format!("cannot write {side}: {e}")))?;
            let taken = crate::runtime::timestamp_utc(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            Ok((snapshot_value(&v, size, &endpoint, &taken), None, true))
        }
        EtcdOp::SnapshotVerify => Err(Fail(
            "this is a bug in etcdflow: snapshot_verify is answered before the cluster".into(),
        )),
        EtcdOp::SnapshotRestore => restore(sh, a, cx, hs, timeout, sudo).await,
        EtcdOp::Defrag => {
            let f = observe(sh, cluster).await?;
            let mine: Vec<&tx::Member> = f
                .members
                .iter()
                .filter(|m| {
                    hs.name == LOCAL || member_host(sh, cluster, m).as_deref() == Some(hs.name)
                })
                .collect();
            if mine.is_empty() {
                return Err(Fail(format!(
                    "no member of cluster `{}` runs on {}",
                    c.name, hs.name
                )));
            }
            // One member at a time, each healthy again before the next (inv. 13).
            let _one = one_change(st).await;
            for m in mine {
                let ep = m
                    .client_urls
                    .first()
                    .ok_or_else(|| Fail(format!("member `{}` has no client URL", m.name)))?;
                fenced(sh, cluster).await?;
                tx::defrag(&c, ep).await?;
                post_conditions(sh, cluster, "the defragmentation", deadline).await?;
            }
            Ok((Value::None, None, true))
        }
        EtcdOp::AlarmList => {
            let al = tx::alarms(&c).await?;
            Ok((
                Value::List(
                    al.iter()
                        .map(|(m, t)| Value::Str(format!("{m:x}:{t}")))
                        .collect(),
                ),
                None,
                false,
            ))
        }
        EtcdOp::AlarmDisarm => {
            let al = tx::alarms(&c).await?;
            if al.iter().any(|(_, t)| t == "CORRUPT") {
                return Err(refuse(
                    "etcd-corrupt-alarm",
                    "a CORRUPT alarm is never disarmed automatically (inv. 13)",
                    "a CORRUPT alarm",
                    "find the corrupted member (compare `etcd.hash_kv`), replace it, then disarm by hand",
                ));
            }
            fenced(sh, cluster).await?;
            for (m, _) in al.iter().filter(|(_, t)| t == "NOSPACE") {
                tx::disarm_nospace(&c, *m).await?;
            }
            Ok((Value::None, None, !al.is_empty()))
        }
        EtcdOp::Put => {
            let key = need(a, "key", cx)?;
            let value = need(a, "value", cx)?;
            let fence = fenced(sh, cluster).await?;
            tx::put(&c, &key, &value, fence.map(|t| t.revision)).await?;
            Ok((Value::None, None, true))
        }
        EtcdOp::Get => {
            let key = need(a, "key", cx)?;
            let r = tx::get(&c, &key).await?;
            let (value, found, m, v) = match r {
                Some((val, m, v)) => (val, true, m, v),
                None => (String::new(), false, 0, 0),
            };
            Ok((
                rec(vec![
                    ("key", Value::Str(key)),
                    ("value", Value::Str(value)),
                    ("found", Value::Bool(found)),
                    ("mod_revision", Value::Int(m)),
                    ("version", Value::Int(v)),
                ]),
                None,
                false,
            ))
        }
        EtcdOp::Count => {
            let p = need(a, "prefix", cx)?;
            Ok((Value::Int(tx::count(&c, &p).await?), None, false))
        }
        EtcdOp::Delete => {
            let (k, prefix) = match text_arg(a, "key", cx)? {
                Some(k) => (k, false),
                None => (need(a, "prefix", cx)?, true),
            };
            if prefix && k.is_empty() {
                return Err(refuse(
                    "etcd-delete-all",
                    "deleting every key is not an etcd action",
                    "an empty prefix",
                    "name a prefix",
                ));
            }
            let fence = fenced(sh, cluster).await?;
            let n = tx::delete(&c, &k, prefix, fence.map(|t| t.revision)).await?;
            Ok((Value::Int(n), None, n > 0))
        }
        EtcdOp::WaitHealthy => {
            post_conditions(sh, cluster, "waiting for health", deadline).await?;
            Ok((Value::None, None, false))
        }
        EtcdOp::WaitLeader => {
            let f = wait_for(sh, cluster, "one leader", every, deadline, &|f| {
                let leaders: std::collections::BTreeSet<u64> =
                    f.status.iter().map(|s| s.leader).collect();
                match f.leader {
                    Some(l) if leaders.len() == 1 && !leaders.contains(&0) => Ok(l),
                    _ => Err(format!("leaders seen: {leaders:x?}")),
                }
            })
            .await?;
            Ok((member_now(sh, cluster, f).await?, None, false))
        }
        EtcdOp::WaitStarted => {
            let who = need(a, "member", cx)?;
            let id = wait_for(
                sh,
                cluster,
                "the member to start",
                every,
                deadline,
                &|f| match find(f, &who) {
                    Some(m) if !m.name.is_empty() && healthy(f, m) => Ok(m.id),
                    Some(m) if !m.name.is_empty() => Err(format!("`{}` does not answer", m.name)),
                    Some(m) => Err(format!("{:x} has not started", m.id)),
                    None => Err(format!("no member `{who}`")),
                },
            )
            .await?;
            Ok((member_now(sh, cluster, id).await?, None, false))
        }
        EtcdOp::WaitCaughtUp => {
            let who = need(a, "member", cx)?;
            let gap = match arg(a, "max_gap").map(|e| eval::eval(e, cx)).transpose()? {
                Some(Value::Int(n)) => u64::try_from(n).unwrap_or(100),
                _ => 100,
            };
            let f = observe(sh, cluster).await?;
            let m = find(&f, &who)
                .cloned()
                .ok_or_else(|| Fail(format!("no member `{who}`: members are {}", names(&f))))?;
            caught_up(sh, cluster, &m, gap, every, deadline).await?;
            Ok((Value::None, None, false))
        }
        EtcdOp::Status | EtcdOp::Members | EtcdOp::Health => {
            sh.refresh_facts().await?;
            let facts = sh.facts.lock().map(|f| Arc::clone(&f)).unwrap_or_default();
            let field = match op {
                EtcdOp::Status => "status",
                EtcdOp::Members => "members",
                _ => "health",
            };
            let v = match facts.get(cluster) {
                Some(Some(Value::Record(r))) => r.get(field).cloned().unwrap_or(Value::None),
                _ => Value::None,
            };
            Ok((v, None, false))
        }
        EtcdOp::HashKv => {
            let f = observe(sh, cluster).await?;
            let rev = match arg(a, "revision").map(|e| eval::eval(e, cx)).transpose()? {
                Some(Value::Int(n)) => n,
                _ => f.revision,
            };
            let mut out = Vec::new();
            for m in &f.members {
                let Some(ep) = m.client_urls.first() else {
                    continue;
                };
                let (h, r, cr) = tx::hash_kv(&c, ep, rev).await?;
                out.push(rec(vec![
                    ("endpoint", Value::Str(ep.clone())),
                    ("member_id", Value::Str(format!("{:x}", m.id))),
                    ("hash", Value::Str(format!("{h:08x}"))),
                    ("revision", Value::Int(r)),
                    ("compact_revision", Value::Int(cr)),
                ]));
            }
            Ok((Value::List(out), None, false))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

#[cfg(test)]
mod record_tests;
