//! The guards every etcd action passes whatever the flow says: the quorum gate with its
//! health window (inv. 1), one change in flight (inv. 2), one minor version (inv. 15),
//! the peer URL checks on canonical URLs (inv. 5), post-conditions (inv. 14), fencing.

use super::*;

pub(in crate::runtime) fn healthy(f: &tx::Facts, m: &tx::Member) -> bool {
    let Some(ep) = m.client_urls.first() else {
        return false;
    };
    f.health.iter().any(|h| &h.endpoint == ep && h.healthy)
        && f.status
            .iter()
            .find(|s| &s.endpoint == ep)
            .is_some_and(|s| s.errors.is_empty())
}

pub(in crate::runtime) fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// inv. 1: the voters that will count after the change are started, answering, free of
/// alarms, have been so for `HEALTH_INTERVAL`, and are enough for the new quorum (with a
/// margin of one from three voters up). Waits (re-observing) while the only problem is
/// that the health clock is younger than `HEALTH_INTERVAL`.
pub(in crate::runtime) async fn quorum_gate(
    sh: &Shared,
    cluster: usize,
    what: &str,
    voters_after: usize,
    counted: &(dyn Fn(&tx::Member) -> bool + Sync),
    deadline: Instant,
) -> Result<tx::Facts, Fail> {
    let mut waited = false;
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
        // Enough voters exist and some do not answer now: they may be back soon (a
        // restart, a short partition), so the gate waits for them within the deadline.
        let may_recover = counting.len() >= need && Instant::now() + GATE_POLL < deadline;
        if up.len() < need && may_recover {
            if !waited {
                waited = true;
                let _ = sh.events.send(crate::runtime::Event::Log {
                    step: String::new(),
                    host: LOCAL.into(),
                    message: format!(
                        "{what}: waiting for {} of {} voters to be healthy (inv. 1); {} now",
                        need,
                        counting.len(),
                        up.len()
                    ),
                });
            }
            tokio::time::sleep(GATE_POLL).await;
            continue;
        }
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
        let young = sh.etcd.get(cluster).map(|st| {
            up.iter().any(|m| {
                st.health
                    .healthy_for(m.id)
                    .is_none_or(|t| t < HEALTH_INTERVAL)
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
        tokio::time::sleep(GATE_POLL).await;
    }
}

/// How often a waiting quorum gate looks again.
const GATE_POLL: Duration = Duration::from_millis(500);

/// Hold the cluster's membership-change lock (inv. 2: one change in flight).
pub(in crate::runtime) async fn one_change(
    st: Option<&ClusterState>,
) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    match st {
        Some(s) => Some(s.change.lock().await),
        None => None,
    }
}

/// inv. 15: the members' versions when they run different minor versions.
pub(in crate::runtime) fn version_skew(f: &tx::Facts) -> Option<String> {
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
pub(in crate::runtime) fn one_in_flight(f: &tx::Facts, adding: bool) -> Result<(), Fail> {
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
pub(in crate::runtime) async fn post_conditions(
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
pub(in crate::runtime) async fn same_hash(
    sh: &Shared,
    cluster: usize,
    f: &tx::Facts,
) -> Result<(), String> {
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
pub(in crate::runtime) async fn fenced(
    sh: &Shared,
    cluster: usize,
) -> Result<Option<tx::Token>, Fail> {
    let Some(st) = sh.etcd.get(cluster) else {
        return Ok(None);
    };
    let g = st.lock.lock().await;
    match g.as_ref() {
        Some(l) if !l.held().await => {
            sh.lease_lost
                .store(true, std::sync::atomic::Ordering::SeqCst);
            sh.interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            Err(Fail(super::lock::LEASE_LOST.into()))
        }
        Some(l) => Ok(Some(l.token())),
        None => Ok(None),
    }
}

/// A URL's host part (brackets dropped), for matching members to hosts.
pub(in crate::runtime) fn url_host(url: &str) -> Option<String> {
    url_host_port(url).map(|(h, _)| h)
}

/// The peer URL's host part (brackets dropped) and port.
pub(in crate::runtime) fn url_host_port(url: &str) -> Option<(String, u16)> {
    let u = crate::values::parse_url(url).ok()?;
    Some((u.host.trim_matches(['[', ']']).to_string(), u.port?))
}

/// A peer or client URL in one canonical form, `scheme://host:port` (`crate::values::
/// parse_url`: scheme and host lowercased, IP addresses canonical, the port a number, so
/// `:02380` is `:2380`). Guards compare these, never the text as written. A path, query,
/// user info or a missing port is refused.
pub(in crate::runtime) fn norm_url(url: &str) -> Result<String, String> {
    let u = crate::values::parse_url(url).map_err(|e| format!("`{url}`: {e}"))?;
    if u.scheme != "http" && u.scheme != "https" {
        return Err(format!("`{url}`: the scheme must be http or https"));
    }
    if u.userinfo || !(u.rest.is_empty() || u.rest == "/") {
        return Err(format!(
            "`{url}` must be scheme://host:port, with no path, query or user"
        ));
    }
    let port = u.port.ok_or_else(|| format!("`{url}` has no port"))?;
    Ok(format!("{}://{}:{port}", u.scheme, u.host))
}

/// Whether two URLs name the same endpoint (canonical forms; text when one does not parse).
pub(in crate::runtime) fn same_url(a: &str, b: &str) -> bool {
    match (norm_url(a), norm_url(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// inv. 5: scheme explicit and matching the cluster, the host is an inventory machine,
/// the URL is new, and the address answers from every existing member's host (open or
/// actively refused: the machine is there; silence means a wrong address or a firewall).
pub(in crate::runtime) async fn check_peer_url(
    sh: &Shared,
    cluster: usize,
    url: &str,
    f: &tx::Facts,
) -> Result<(), Fail> {
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
    let inventory_host = |a: &str| {
        sh.inventory.hosts().find(|h| {
            sh.inventory
                .target(h)
                .is_some_and(|t| t.address == a || *h == a)
        })
    };
    let known = inventory_host(&addr).is_some();
    // From every started member's host (inv. 5): open or actively refused means the
    // machine is there (the new member's etcd does not run yet); silence is refused.
    let mut from = Vec::new();
    for m in f.members.iter().filter(|m| !m.name.is_empty()) {
        let prober = member_host(sh, cluster, m)
            .and_then(|h| sh.probers.lock().ok().and_then(|p| p.get(&h).cloned()));
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
    // A DNS name (kops: `etcd-b.internal.example.com`) must resolve, on every member's
    // host (through its `/etc/hosts` or DNS, as etcd will), to one inventory host.
    if !known {
        let is_name = addr.parse::<std::net::IpAddr>().is_err();
        if !is_name || from.is_empty() {
            return Err(bad(
                format!("`{addr}` is no host of the inventory"),
                "use an inventory host's address (`peer_url(cluster, host)` builds it), or a name the member hosts resolve to one",
            ));
        }
        let mut target: Option<String> = None;
        for p in &from {
            let addrs = p.resolve(&addr).await?;
            let hosts: Vec<String> = addrs
                .iter()
                .filter_map(|a| inventory_host(a).map(str::to_string))
                .collect();
            let found = match (hosts.first(), addrs.is_empty()) {
                (_, true) => {
                    return Err(bad(
                        format!("`{addr}` does not resolve on member host {}", p.host),
                        "add the name to that host's /etc/hosts or DNS",
                    ))
                }
                (None, false) => {
                    return Err(bad(
                        format!(
                            "`{addr}` resolves to {} on member host {}, which is no inventory host",
                            addrs.join(", "),
                            p.host
                        ),
                        "point the name at the new member's inventory address",
                    ))
                }
                (Some(h), false) => h.clone(),
            };
            match &target {
                Some(t) if *t != found => {
                    return Err(bad(
                        format!(
                            "`{addr}` is {t} on one member host and {found} on {}",
                            p.host
                        ),
                        "make every member host resolve the name alike",
                    ))
                }
                _ => target = Some(found),
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
