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
    /// Held while a membership change is decided, made and checked (inv. 2).
    pub change: tokio::sync::Mutex<()>,
    /// The run's lease lock in this cluster (inv. 19).
    pub lock: tokio::sync::Mutex<Option<tx::Lock>>,
    /// Since when each member (by id) has answered without a break (inv. 1: ≥ 5 s).
    pub healthy_since: std::sync::Mutex<std::collections::HashMap<u64, Instant>>,
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

fn member_value(m: &tx::Member, f: &tx::Facts) -> Value {
    rec(vec![
        ("id", Value::Str(format!("{:x}", m.id))),
        ("name", Value::Str(m.name.clone())),
        (
            "peer_urls",
            Value::List(m.peer_urls.iter().cloned().map(Value::Str).collect()),
        ),
        (
            "client_urls",
            Value::List(m.client_urls.iter().cloned().map(Value::Str).collect()),
        ),
        ("learner", Value::Bool(m.learner)),
        ("started", Value::Bool(!m.name.is_empty())),
        ("is_leader", Value::Bool(f.leader == Some(m.id))),
        ("host", Value::None),
    ])
}

/// Find a member by name or hex id.
fn find<'f>(f: &'f tx::Facts, who: &str) -> Option<&'f tx::Member> {
    f.members
        .iter()
        .find(|m| m.name == who || format!("{:x}", m.id) == who.to_ascii_lowercase())
}

fn healthy(f: &tx::Facts, m: &tx::Member) -> bool {
    let Some(ep) = m.client_urls.first() else {
        return false;
    };
    f.health.iter().any(|h| &h.endpoint == ep && h.healthy)
        && f.status
            .iter()
            .find(|s| &s.endpoint == ep)
            .is_some_and(|s| s.errors.is_empty())
}

fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Fresh facts, with each member's continuous-health clock updated.
async fn observe(sh: &Shared, cluster: usize) -> Result<tx::Facts, Fail> {
    let c = conf(sh, cluster)?;
    let f = tx::facts(c)
        .await
        .map_err(|e| Fail(format!("cluster `{}`: {e}", c.name)))?;
    if let Some(st) = sh.etcd.get(cluster) {
        if let Ok(mut since) = st.healthy_since.lock() {
            let now = Instant::now();
            let up: Vec<u64> = f
                .members
                .iter()
                .filter(|m| healthy(&f, m))
                .map(|m| m.id)
                .collect();
            since.retain(|id, _| up.contains(id));
            for id in up {
                since.entry(id).or_insert(now);
            }
        }
    }
    Ok(f)
}

/// inv. 1: the voters that will count after the change are started, answering, free of
/// alarms, have been so for `HEALTH_INTERVAL`, and are enough for the new quorum (with a
/// margin of one from three voters up). Waits (re-observing) while the only problem is
/// that the health clock is younger than `HEALTH_INTERVAL`.
async fn quorum_gate(
    sh: &Shared,
    cluster: usize,
    what: &str,
    voters_after: usize,
    counted: &(dyn Fn(&tx::Member) -> bool + Sync),
    deadline: Instant,
) -> Result<tx::Facts, Fail> {
    loop {
        let f = observe(sh, cluster).await?;
        let alarms: Vec<&String> = f.status.iter().flat_map(|s| &s.errors).collect();
        if !alarms.is_empty() {
            return Err(refuse(
                "etcd-alarm-active",
                &format!("{what} needs a cluster without alarms (inv. 13)"),
                &format!("alarms {alarms:?}"),
                "clear them first (NOSPACE: compact, `etcd.defrag` one member at a time, `etcd.alarm_disarm`; CORRUPT needs a human)",
            ));
        }
        if let Some(found) = version_skew(&f) {
            return Err(refuse(
                "etcd-version-skew",
                &format!("{what} needs every member on the same minor version (inv. 15)"),
                &found,
                "finish the upgrade (or downgrade) first",
            ));
        }
        let counting: Vec<&tx::Member> = f.members.iter().filter(|m| counted(m)).collect();
        let up: Vec<&&tx::Member> = counting
            .iter()
            .filter(|m| !m.name.is_empty() && healthy(&f, m))
            .collect();
        let need = quorum(voters_after) + usize::from(voters_after >= 3);
        if up.len() < need {
            let down: Vec<String> = counting
                .iter()
                .filter(|m| m.name.is_empty() || !healthy(&f, m))
                .map(|m| {
                    if m.name.is_empty() {
                        format!("{:x} (not started)", m.id)
                    } else {
                        m.name.clone()
                    }
                })
                .collect();
            return Err(refuse(
                "etcd-quorum-gate",
                &format!("{what} leaves {voters_after} voters, which need {need} started, healthy voters (quorum {} plus a margin from 3 voters up, inv. 1)", quorum(voters_after)),
                &format!("{} healthy ({}), not healthy: {}", up.len(), up.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "), if down.is_empty() { "none".into() } else { down.join(", ") }),
                "bring the members back first, or replace a failed member by removing it before adding its successor (inv. 4)",
            ));
        }
        let young = sh.etcd.get(cluster).and_then(|st| {
            st.healthy_since.lock().ok().map(|since| {
                up.iter().any(|m| {
                    since
                        .get(&m.id)
                        .is_none_or(|t| t.elapsed() < HEALTH_INTERVAL)
                })
            })
        });
        if young != Some(true) {
            return Ok(f);
        }
        if Instant::now() >= deadline {
            return Err(refuse(
                "etcd-quorum-gate",
                &format!(
                    "{what} needs every counted voter answering for {HEALTH_INTERVAL:?} (inv. 1)"
                ),
                "a member that only recently came back",
                "wait for the cluster to settle",
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Hold the cluster's membership-change lock (inv. 2: one change in flight).
async fn one_change(st: Option<&ClusterState>) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match st {
        Some(s) => Some(s.change.lock().await),
        None => None,
    }
}

/// inv. 15: the members' versions when they run different minor versions.
fn version_skew(f: &tx::Facts) -> Option<String> {
    let minors: std::collections::BTreeSet<String> = f
        .status
        .iter()
        .map(|s| s.version.split('.').take(2).collect::<Vec<_>>().join("."))
        .collect();
    (minors.len() > 1).then(|| {
        format!(
            "versions {}",
            f.status
                .iter()
                .map(|s| format!("{} {}", s.endpoint, s.version))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// inv. 2: no add or promote while a member is unstarted, or (for an add) a learner exists.
fn one_in_flight(f: &tx::Facts, adding: bool) -> Result<(), Fail> {
    if let Some(m) = f.members.iter().find(|m| m.name.is_empty()) {
        return Err(refuse(
            "etcd-change-in-flight",
            "a membership change waits until the previous one is finished (inv. 2)",
            &format!(
                "member {:x} ({}) added but not started",
                m.id,
                m.peer_urls.join(",")
            ),
            "start that member (or remove it) before the next change",
        ));
    }
    if adding {
        if let Some(m) = f.members.iter().find(|m| m.learner) {
            return Err(refuse(
                "etcd-change-in-flight",
                "a member is added only when no learner waits for promotion (inv. 2; etcd 3.4 allows one learner)",
                &format!("learner `{}` ({:x})", m.name, m.id),
                "promote or remove it first",
            ));
        }
    }
    Ok(())
}

/// inv. 14: every voter healthy, one leader, one cluster id, no alarms, no learner or
/// unstarted member left over; waits for it until `deadline`.
async fn post_conditions(
    sh: &Shared,
    cluster: usize,
    what: &str,
    deadline: Instant,
) -> Result<tx::Facts, Fail> {
    loop {
        let problem = match observe(sh, cluster).await {
            Err(Fail(e)) => e,
            Ok(f) => {
                let voters: Vec<&tx::Member> = f.members.iter().filter(|m| !m.learner).collect();
                let leaders: std::collections::BTreeSet<u64> =
                    f.status.iter().map(|s| s.leader).collect();
                let ids: std::collections::BTreeSet<u64> =
                    f.status.iter().map(|s| s.cluster_id).collect();
                if let Some(m) = voters.iter().find(|m| !healthy(&f, m)) {
                    format!("voter `{}` ({:x}) is not healthy", m.name, m.id)
                } else if f.leader.is_none() || leaders.len() != 1 || leaders.contains(&0) {
                    format!("members disagree on the leader: {leaders:x?}")
                } else if ids.len() != 1 {
                    format!("members report {} cluster ids", ids.len())
                } else if let Some(m) = f.members.iter().find(|m| m.name.is_empty()) {
                    format!("member {:x} is not started", m.id)
                } else if f.status.iter().any(|s| !s.errors.is_empty()) {
                    "an alarm is active".to_string()
                } else {
                    match same_hash(sh, cluster, &f).await {
                        Ok(()) => return Ok(f),
                        Err(e) => e,
                    }
                }
            }
        };
        if Instant::now() >= deadline {
            return Err(Fail(format!(
                "post-conditions after {what} do not hold (inv. 14): {problem}; the run stops here"
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// inv. 14: every member's key space hashes the same at a revision they all have.
async fn same_hash(sh: &Shared, cluster: usize, f: &tx::Facts) -> Result<(), String> {
    let c = conf(sh, cluster).map_err(|Fail(e)| e)?;
    let Some(rev) = f.status.iter().map(|s| s.revision).min().filter(|r| *r > 0) else {
        return Ok(());
    };
    let mut seen: Vec<(String, u32, i64)> = Vec::new();
    for s in &f.status {
        let (h, _, compact) = tx::hash_kv(c, &s.endpoint, rev).await?;
        seen.push((s.endpoint.clone(), h, compact));
    }
    let first = seen.first().map(|x| (x.1, x.2));
    if seen.iter().all(|x| Some((x.1, x.2)) == first) {
        Ok(())
    } else {
        Err(format!(
            "members disagree on the key space at revision {rev}: {}",
            seen.iter()
                .map(|(e, h, _)| format!("{e} {h:08x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The lock must still be ours before an etcd mutation (inv. 19).
async fn fenced(sh: &Shared, cluster: usize) -> Result<Option<i64>, Fail> {
    let Some(st) = sh.etcd.get(cluster) else {
        return Ok(None);
    };
    let g = st.lock.lock().await;
    match g.as_ref() {
        Some(l) if l.lost() => Err(Fail(
            "the cluster lock's lease was lost (inv. 19): another operator may act now; the run stops"
                .into(),
        )),
        Some(l) => Ok(Some(l.revision)),
        None => Ok(None),
    }
}

fn verified_with(sh: &Shared, sha: &str) -> Option<Verified> {
    sh.verified
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|s| s.sha256 == sha).cloned())
}

fn any_verified(sh: &Shared) -> Option<Verified> {
    sh.verified.lock().ok().and_then(|v| v.last().cloned())
}

fn snapshot_value(v: &Verified, size: u64, endpoint: &str, taken_at: &str) -> Value {
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
async fn verify_file(sh: &Shared, path: &std::path::Path) -> Result<(Verified, u64), Fail> {
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
pub(super) async fn reverify(sh: &Shared, files: &[(std::path::PathBuf, String)]) {
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
        let _ = sh.events.send(super::Event::Log {
            step: String::new(),
            host: LOCAL.into(),
            message,
        });
    }
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

/// The peer URL's host part and port.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    let (h, p) = hostport.rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
}

/// A peer or client URL in one canonical form, `scheme://host:port`: the scheme and host
/// lowercased, an IPv6 address in its canonical text and brackets, the port a number
/// (`02380` is `2380`). Guards compare these, never the text as written (a URL that
/// differs only in spelling is the same member's). A path, query, user info or a missing
/// port is refused.
pub(super) fn norm_url(url: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` has no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{url}`: the scheme must be http or https"));
    }
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if hostport.contains(['/', '?', '#', '@']) || hostport.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{url}` must be scheme://host:port, with no path, query or user"
        ));
    }
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("`{url}` has no port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{url}`: `{port}` is not a port"))?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => format!(
            "[{}]",
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{url}`: `{v6}` is not an IPv6 address"))?
        ),
        None if host.contains(':') => {
            return Err(format!("`{url}`: an IPv6 address goes in brackets"))
        }
        None => match host.parse::<std::net::Ipv4Addr>() {
            Ok(v4) => v4.to_string(),
            Err(_) if !host.is_empty() => host.to_ascii_lowercase(),
            Err(_) => return Err(format!("`{url}` has no host")),
        },
    };
    Ok(format!("{scheme}://{host}:{port}"))
}

/// Whether two URLs name the same endpoint (canonical forms; text when one does not parse).
pub(super) fn same_url(a: &str, b: &str) -> bool {
    match (norm_url(a), norm_url(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// inv. 5: scheme explicit and matching the cluster, the host is an inventory machine,
/// the URL is new, and the address answers from every existing member's host (open or
/// actively refused: the machine is there; silence means a wrong address or a firewall).
async fn check_peer_url(sh: &Shared, cluster: usize, url: &str, f: &tx::Facts) -> Result<(), Fail> {
    let cc = &sh.cluster_confs[cluster];
    let bad = |found: String, todo: &str| {
        refuse(
            "etcd-peer-url",
            &format!(
                "the peer URL `{url}` of a new member must be right before `member add` (inv. 5)"
            ),
            &found,
            todo,
        )
    };
    let scheme = url.split_once("://").map(|(s, _)| s);
    let want = if cc.scheme == "https" || cc.conn.as_ref().is_some_and(|c| c.ca.is_some()) {
        "https"
    } else {
        "http"
    };
    match scheme {
        Some(s) if s == want => {}
        Some(s) => {
            return Err(bad(
                format!("scheme `{s}` where the cluster uses `{want}`"),
                "use the cluster's scheme",
            ))
        }
        None => {
            return Err(bad(
                "no scheme".into(),
                "write it in full, e.g. `peer_url(main, host)` or \"https://10.0.0.4:2380\"",
            ))
        }
    }
    let Some((addr, port)) = url_host_port(url) else {
        return Err(bad(
            "no host:port".into(),
            "write it as scheme://address:port",
        ));
    };
    if let Err(why) = norm_url(url) {
        return Err(bad(why, "write it as scheme://address:port"));
    }
    if let Some(m) = f
        .members
        .iter()
        .find(|m| m.peer_urls.iter().any(|u| same_url(u, url)))
    {
        return Err(bad(
            format!("it already belongs to member `{}` ({:x})", m.name, m.id),
            "every member needs its own peer URL",
        ));
    }
    let known = sh.inventory.hosts().any(|h| {
        sh.inventory
            .target(h)
            .is_some_and(|t| t.address == addr || h == addr)
    });
    if !known {
        return Err(bad(
            format!("`{addr}` is no host of the inventory"),
            "use an inventory host's address (`peer_url(cluster, host)` builds it)",
        ));
    }
    // From every started member's host (inv. 5): open or actively refused means the
    // machine is there (the new member's etcd does not run yet); silence is refused.
    let mut from = Vec::new();
    for m in f.members.iter().filter(|m| !m.name.is_empty()) {
        let prober = member_host(sh, cluster, m)
            .and_then(|h| sh.probers.get().and_then(|p| p.get(&h)).cloned());
        match prober {
            Some(p) => from.push(p),
            None => {
                return Err(bad(
                    format!("member `{}` runs on no host of this run, so the path from it cannot be checked", m.name),
                    "list the members' hosts in the cluster's `members:` (they are connected for this check)",
                ))
            }
        }
    }
    for p in from {
        match p.tcp(&addr, port).await? {
            transport::Reach::Open | transport::Reach::Refused => {}
            transport::Reach::Silent(why) => {
                return Err(bad(
                    format!(
                        "{addr}:{port} cannot be reached from member host {} ({why})",
                        p.host
                    ),
                    "check the address and the firewall between the members",
                ))
            }
        }
    }
    Ok(())
}

fn leader_endpoint(f: &tx::Facts) -> Option<String> {
    f.members
        .iter()
        .find(|m| Some(m.id) == f.leader)
        .and_then(|m| m.client_urls.first().cloned())
}

/// Move leadership to `to` and wait until it holds (inv. 7).
async fn hand_over(
    sh: &Shared,
    cluster: usize,
    f: &tx::Facts,
    to: u64,
    deadline: Instant,
) -> Result<(), Fail> {
    let c = conf(sh, cluster)?;
    let ep = leader_endpoint(f).ok_or_else(|| Fail("the cluster has no leader".into()))?;
    let name = |id: Option<u64>| {
        f.members
            .iter()
            .find(|m| Some(m.id) == id)
            .map_or_else(|| format!("{id:x?}"), |m| m.name.clone())
    };
    let _ = sh.events.send(super::Event::Log {
        step: String::new(),
        host: LOCAL.into(),
        message: format!(
            "moving leadership from {} to {} (inv. 7)",
            name(f.leader),
            name(Some(to))
        ),
    });
    tx::move_leader(c, &ep, to).await?;
    wait_for(
        sh,
        cluster,
        "the new leader",
        Duration::from_millis(200),
        deadline,
        &|f| {
            if f.leader == Some(to) {
                Ok(())
            } else {
                Err(format!("leader is {:x?}", f.leader))
            }
        },
    )
    .await
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
            fenced(sh, cluster).await?;
            let (m, list) = match tx::member_add(&c, &url, voter).await {
                Ok(r) => r,
                Err(e) if e.contains("Peer URLs already exists") => {
                    // The add landed before an ambiguous failure: look it up (inv. 17).
                    let f = observe(sh, cluster).await?;
                    let m = f
                        .members
                        .iter()
                        .find(|m| m.peer_urls.iter().any(|u| same_url(u, &url)))
                        .cloned()
                        .ok_or_else(|| Fail(e.clone()))?;
                    (m, f.members.clone())
                }
                Err(e) => return Err(Fail(e)),
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
                return Ok((member_value(&m, &f), None, false));
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
            fenced(sh, cluster).await?;
            loop {
                match tx::member_promote(&c, m.id).await {
                    Ok(()) => break,
                    Err(e)
                        if (e.contains("not ready") || e.contains("not in sync"))
                            && Instant::now() < deadline =>
                    {
                        tokio::time::sleep(every).await;
                    }
                    Err(e) => return Err(Fail(e)),
                }
            }
            let f = post_conditions(sh, cluster, "the promotion", deadline).await?;
            let now = f.members.iter().find(|x| x.id == m.id).unwrap_or(&m);
            Ok((member_value(now, &f), None, true))
        }
        EtcdOp::MemberRemove => {
            let who = need(a, "member", cx)?;
            let _one = one_change(st).await;
            let f = observe(sh, cluster).await?;
            let Some(m) = find(&f, &who).cloned() else {
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
                    hand_over(sh, cluster, &f, to, deadline).await?;
                }
            } else {
                fenced(sh, cluster).await?;
            }
            match tx::member_remove(&c, m.id, &m.client_urls).await {
                Ok(()) => {}
                Err(e) if e.contains("member not found") => {}
                Err(e) => {
                    // An ambiguous failure: look again before calling it one (inv. 17).
                    let f = observe(sh, cluster).await?;
                    if f.members.iter().any(|x| x.id == m.id) {
                        return Err(Fail(e));
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
            hand_over(sh, cluster, &f, m.id, deadline).await?;
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
            let taken = super::timestamp_utc(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            Ok((snapshot_value(&v, size, &endpoint, &taken), None, true))
        }
        EtcdOp::SnapshotVerify => {
            let file = sh.opts.flow_dir.join(need(a, "file", cx)?);
            let (v, size) = verify_file(sh, &file).await?;
            Ok((snapshot_value(&v, size, "", ""), None, false))
        }
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
            tx::put(&c, &key, &value, fence).await?;
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
            let n = tx::delete(&c, &k, prefix, fence).await?;
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

/// SSH tunnels to the members of clusters declared with `tunnel: true`, through each
/// member host's connection, before anything talks to etcd.
pub(super) async fn open_tunnels(
    sh: &Shared,
    states: &IndexMap<String, super::HostState>,
) -> Result<(), String> {
    for c in sh.cluster_confs.iter().filter(|c| c.tunnel) {
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
fn changes_through_api(op: EtcdOp) -> bool {
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
const LOCK_TTL: Duration = Duration::from_secs(10);

/// Take the run's locks before the first step (inv. 19). Returns the local lock files
/// (held until they are dropped at the end of the run).
pub(super) async fn take_locks(sh: &Shared) -> Result<Vec<std::fs::File>, String> {
    let mut files = Vec::new();
    for (i, c) in sh.cluster_confs.iter().enumerate() {
        let on = |pred: &dyn Fn(EtcdOp) -> bool| {
            super::flow_any(&sh.flow, &|_| false, &|a: &ir::Action| {
                matches!(a.kind, ir::ActionKind::Etcd(op) if a.cluster == Some(i) && pred(op))
            })
            .is_some()
        };
        if !on(&|_| true) {
            continue;
        }
        let Some(conn) = &c.conn else { continue };
        let holder = serde_json::json!({
            "operator": crate::journal::operator(),
            "run_id": sh.run_id,
            "flow": sh.flow.name,
            "pid": std::process::id(),
            "since": super::timestamp_utc(std::time::SystemTime::now()
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

pub(super) async fn lock_lost(sh: &Shared) -> bool {
    for st in &sh.etcd {
        if st.lock.lock().await.as_ref().is_some_and(tx::Lock::lost) {
            return true;
        }
    }
    false
}

pub(super) async fn release_locks(sh: &Shared) {
    for (st, c) in sh.etcd.iter().zip(&sh.cluster_confs) {
        let l = st.lock.lock().await.take();
        if let (Some(l), Some(conn)) = (l, &c.conn) {
            l.release(conn).await;
        }
    }
}

/// A member as it is now (fresh facts), as the `etcd_member` record.
async fn member_now(sh: &Shared, cluster: usize, id: u64) -> Result<Value, Fail> {
    let f = observe(sh, cluster).await?;
    Ok(f.members
        .iter()
        .find(|m| m.id == id)
        .map_or(Value::None, |m| member_value(m, &f)))
}

fn names(f: &tx::Facts) -> String {
    f.members
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                format!("{:x}", m.id)
            } else {
                m.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name=peer_url,...` for a joining member, from the member list the add returned
/// (inv. 6), with the new member under the name it will start with.
fn initial_cluster(list: &[tx::Member], new_id: u64, new_name: &str) -> String {
    list.iter()
        .flat_map(|m| {
            let n = if m.id == new_id {
                new_name.to_string()
            } else {
                m.name.clone()
            };
            m.peer_urls.iter().map(move |u| format!("{n}={u}"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn added(m: &tx::Member, name: &str, initial_cluster: String, already: bool) -> Value {
    rec(vec![
        ("id", Value::Str(format!("{:x}", m.id))),
        ("name", Value::Str(name.to_string())),
        (
            "peer_urls",
            Value::List(m.peer_urls.iter().cloned().map(Value::Str).collect()),
        ),
        ("learner", Value::Bool(m.learner)),
        ("initial_cluster", Value::Str(initial_cluster)),
        ("already", Value::Bool(already)),
    ])
}

fn member_host(sh: &Shared, cluster: usize, m: &tx::Member) -> Option<String> {
    let cc = &sh.cluster_confs[cluster];
    cc.members
        .iter()
        .find(|h| {
            let addr = sh
                .inventory
                .target(h)
                .map(|t| t.address)
                .unwrap_or_default();
            m.name == **h
                || m.client_urls
                    .iter()
                    .chain(&m.peer_urls)
                    .any(|u| url_host_port(u).is_some_and(|(a, _)| a == addr))
        })
        .cloned()
}

/// inv. 3: a learner is started and its applied index within `gap` of the leader's.
async fn caught_up(
    sh: &Shared,
    cluster: usize,
    m: &tx::Member,
    gap: u64,
    every: Duration,
    deadline: Instant,
) -> Result<(), Fail> {
    let id = m.id;
    wait_for(
        sh,
        cluster,
        "the member to catch up",
        every,
        deadline,
        &|f| {
            let me = f
                .members
                .iter()
                .find(|x| x.id == id)
                .ok_or("it was removed")?;
            if me.name.is_empty() {
                return Err("it has not started".into());
            }
            let ep = me.client_urls.first().ok_or("it has no client URL")?;
            let mine = f
                .status
                .iter()
                .find(|s| &s.endpoint == ep)
                .ok_or("it does not answer status on its own endpoint")?;
            let leader = f
                .status
                .iter()
                .find(|s| Some(s.member_id) == f.leader)
                .ok_or("there is no leader")?;
            let behind = leader
                .raft_applied_index
                .saturating_sub(mine.raft_applied_index);
            if behind <= gap {
                Ok(())
            } else {
                Err(format!(
                    "{behind} entries behind the leader (allowed {gap})"
                ))
            }
        },
    )
    .await
}

/// inv. 9, 11, 15: restore a verified snapshot into a data dir that does not exist, with
/// the tool the host's etcd version calls for.
async fn restore(
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
        let _ = sh.events.send(super::Event::Log {
            step: String::new(),
            host: hs.name.to_string(),
            message: note.clone(),
        });
    }
    Ok((restored_value(&v, &note, false), Some(rc), true))
}

fn restored_value(v: &Verified, note: &str, already: bool) -> Value {
    rec(vec![
        ("sha256", Value::Str(v.sha256.clone())),
        ("revision", Value::Int(v.revision)),
        ("key_count", Value::Int(v.key_count)),
        ("already", Value::Bool(already)),
        ("note", Value::Str(note.to_string())),
    ])
}

/// `3.4.23` >= (maj, min, patch).
fn version_at_least(v: &str, maj: u64, min: u64, patch: u64) -> bool {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_at_least("3.4.27", 3, 4, 27));
        assert!(!version_at_least("3.4.23", 3, 4, 27));
        assert!(version_at_least("3.5.0", 3, 4, 27));
        assert!(!version_at_least("garbage", 3, 4, 0));
    }

    #[test]
    fn initial_cluster_names_the_new_member() {
        let m = |id, name: &str, url: &str| tx::Member {
            id,
            name: name.into(),
            peer_urls: vec![url.into()],
            client_urls: vec![],
            learner: false,
        };
        let list = [m(1, "a", "http://a:2380"), m(2, "", "http://b:2380")];
        assert_eq!(
            initial_cluster(&list, 2, "b"),
            "a=http://a:2380,b=http://b:2380"
        );
    }

    #[test]
    fn version_skew_is_by_minor_version() {
        let st = |ep: &str, v: &str| tx::Status {
            endpoint: ep.into(),
            member_id: 1,
            version: v.into(),
            db_size: 0,
            db_size_in_use: 0,
            leader: 1,
            raft_index: 0,
            raft_applied_index: 0,
            raft_term: 0,
            is_learner: false,
            errors: vec![],
            cluster_id: 1,
            revision: 0,
        };
        let mut f = tx::Facts {
            status: vec![st("a", "3.4.23"), st("b", "3.4.27")],
            ..tx::Facts::default()
        };
        assert_eq!(version_skew(&f), None, "patch versions may differ");
        f.status.push(st("c", "3.5.9"));
        assert!(version_skew(&f).is_some_and(|m| m.contains("c 3.5.9")));
    }

    #[test]
    fn quorum_sizes() {
        assert_eq!(
            [1, 2, 3, 4, 5].map(quorum),
            [1, 2, 2, 3, 3],
            "quorum of 1..5 voters"
        );
    }

    #[test]
    fn peer_url_parts() {
        assert_eq!(
            url_host_port("https://[fd00::1]:2380"),
            Some(("fd00::1".into(), 2380))
        );
        assert_eq!(url_host_port("10.0.0.1:2380"), None);
    }

    #[test]
    fn urls_are_compared_in_canonical_form() {
        assert_eq!(
            norm_url("http://10.213.31.12:02380"),
            Ok("http://10.213.31.12:2380".into())
        );
        assert_eq!(
            norm_url("HTTPS://Etcd-B.Internal:2380/"),
            Ok("https://etcd-b.internal:2380".into())
        );
        assert_eq!(
            norm_url("https://[FD00:0::1]:2380"),
            Ok("https://[fd00::1]:2380".into())
        );
        assert!(same_url("http://10.0.0.1:2380", "http://10.0.0.1:02380"));
        assert!(!same_url("http://10.0.0.1:2380", "http://10.0.0.2:2380"));
        for bad in [
            "10.0.0.1:2380",
            "ftp://a:1",
            "http://a",
            "http://a:0",
            "http://u@a:1",
            "http://a:1/p",
            "http://fd00::1:2380",
        ] {
            assert!(norm_url(bad).is_err(), "{bad}");
        }
    }
}
