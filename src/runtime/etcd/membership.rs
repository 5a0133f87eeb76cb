//! Membership records and helpers: member values, the initial cluster from the add's
//! response (inv. 6), leadership hand-over (inv. 7), catching up (inv. 3).

use super::*;

/// A member record with the host it runs on.
pub(in crate::runtime) fn member_value(
    sh: &Shared,
    cluster: usize,
    m: &tx::Member,
    f: &tx::Facts,
) -> Value {
    crate::runtime::member_record(m, f, member_host(sh, cluster, m))
}

/// Find a member by name or hex id.
pub(in crate::runtime) fn find<'f>(f: &'f tx::Facts, who: &str) -> Option<&'f tx::Member> {
    f.members
        .iter()
        .find(|m| m.name == who || format!("{:x}", m.id) == who.to_ascii_lowercase())
}

pub(in crate::runtime) fn leader_endpoint(f: &tx::Facts) -> Option<String> {
    f.members
        .iter()
        .find(|m| Some(m.id) == f.leader)
        .and_then(|m| m.client_urls.first().cloned())
}

/// Move leadership to `to` and wait until it holds (inv. 7).
pub(in crate::runtime) async fn hand_over(
    sh: &Shared,
    cluster: usize,
    f: &tx::Facts,
    to: u64,
    deadline: Instant,
    step: &str,
) -> Result<(), Fail> {
    let c = conf(sh, cluster)?;
    let ep = leader_endpoint(f).ok_or_else(|| Fail("the cluster has no leader".into()))?;
    let name = |id: Option<u64>| {
        f.members
            .iter()
            .find(|m| Some(m.id) == id)
            .map_or_else(|| format!("{id:x?}"), |m| m.name.clone())
    };
    let _ = sh.events.send(crate::runtime::Event::Log {
        step: step.into(),
        host: LOCAL.into(),
        message: format!(
            "moving leadership from {} to {} (inv. 7)",
            name(f.leader),
            name(Some(to))
        ),
    });
    let fence = fenced(sh, cluster).await?;
    tx::move_leader(c, &ep, to, fence).await?;
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

/// A member as it is now (fresh facts), as the `etcd_member` record.
pub(in crate::runtime) async fn member_now(
    sh: &Shared,
    cluster: usize,
    id: u64,
) -> Result<Value, Fail> {
    let f = observe(sh, cluster).await?;
    Ok(f.members
        .iter()
        .find(|m| m.id == id)
        .map_or(Value::None, |m| member_value(sh, cluster, m, &f)))
}

pub(in crate::runtime) fn names(f: &tx::Facts) -> String {
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
pub(in crate::runtime) fn initial_cluster(
    list: &[tx::Member],
    new_id: u64,
    new_name: &str,
) -> String {
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

pub(in crate::runtime) fn added(
    m: &tx::Member,
    name: &str,
    initial_cluster: String,
    already: bool,
) -> Value {
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

pub(in crate::runtime) fn member_host(
    sh: &Shared,
    cluster: usize,
    m: &tx::Member,
) -> Option<String> {
    let c = &sh.cluster_confs[cluster];
    let conf = c.conn.as_ref()?;
    crate::runtime::member_host_of(m, &c.members, &sh.inventory, conf)
}

/// inv. 3: a learner is started and its applied index within `gap` of the leader's.
pub(in crate::runtime) async fn caught_up(
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

/// Say that a membership RPC is tried again (a log event: terminal and NDJSON).
pub(in crate::runtime) fn retried(sh: &Shared, step: &str, what: &str, why: &str, pause: Duration) {
    let _ = sh.events.send(crate::runtime::Event::Log {
        step: step.to_string(),
        host: LOCAL.into(),
        message: format!("{what}: {why}; trying again in {pause:?} (within the action's deadline)"),
    });
}
