//! etcd from the controller, through etcd-client: the facts a flow can read
//! (`main.members`, `main.leader`, `main.status`...). Membership decisions need fresh,
//! per-member reads (SAFETY.md inv. 8): a linearizable read is the barrier before the
//! member list, and each member's status comes from a client connected to that member
//! alone, never through the balanced client.

use etcd_client::{Client, ConnectOptions};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub learner: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub endpoint: String,
    pub member_id: u64,
    pub version: String,
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub leader: u64,
    pub raft_index: u64,
    pub raft_applied_index: u64,
    pub raft_term: u64,
    pub is_learner: bool,
    pub errors: Vec<String>,
    pub cluster_id: u64,
    pub revision: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub endpoint: String,
    pub healthy: bool,
    pub took_ms: u64,
    pub error: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub members: Vec<Member>,
    pub status: Vec<Status>,
    pub health: Vec<Health>,
    pub leader: Option<u64>,
    pub cluster_id: u64,
    pub revision: i64,
}

fn options(timeout: Duration) -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout)
}

/// Gather the facts of the cluster reachable at `endpoints`.
pub async fn facts(endpoints: &[String], timeout: Duration) -> Result<Facts, String> {
    let mut client =
        tokio::time::timeout(timeout, Client::connect(endpoints, Some(options(timeout))))
            .await
            .map_err(|_| {
                format!(
                    "no etcd endpoint answered within {timeout:?} ({})",
                    endpoints.join(", ")
                )
            })?
            .map_err(|e| format!("cannot reach etcd at {}: {e}", endpoints.join(", ")))?;
    // Linearizable read first: the member list that follows is not stale (inv. 8).
    let barrier = client
        .get("etcdflow/barrier", None)
        .await
        .map_err(|e| format!("linearizable read failed: {e}"))?;
    let revision = barrier.header().map_or(0, |h| h.revision());
    let cluster_id = barrier.header().map_or(0, |h| h.cluster_id());
    let list = client
        .member_list()
        .await
        .map_err(|e| format!("member list failed: {e}"))?;
    let members: Vec<Member> = list
        .members()
        .iter()
        .map(|m| Member {
            id: m.id(),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            learner: m.is_learner(),
        })
        .collect();
    let mut status = Vec::new();
    let mut health = Vec::new();
    let mut leader = None;
    for m in &members {
        let Some(ep) = m.client_urls.first() else {
            continue;
        };
        let t0 = Instant::now();
        let one = async {
            let mut c = Client::connect([ep.as_str()], Some(options(timeout))).await?;
            c.status().await
        };
        match tokio::time::timeout(timeout, one).await {
            Ok(Ok(s)) => {
                let header = s.header();
                leader = leader.or(Some(s.leader()).filter(|l| *l != 0));
                status.push(Status {
                    endpoint: ep.clone(),
                    member_id: header.map_or(m.id, |h| h.member_id()),
                    version: s.version().to_string(),
                    db_size: s.db_size(),
                    db_size_in_use: s.raft_used_db_size(),
                    leader: s.leader(),
                    raft_index: s.raft_index(),
                    raft_applied_index: s.raft_applied_index(),
                    raft_term: s.raft_term(),
                    is_learner: s.is_learner(),
                    errors: s.errors().to_vec(),
                    cluster_id: header.map_or(0, |h| h.cluster_id()),
                    revision: header.map_or(0, |h| h.revision()),
                });
                health.push(Health {
                    endpoint: ep.clone(),
                    healthy: true,
                    took_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(0),
                    error: String::new(),
                });
            }
            Ok(Err(e)) => health.push(Health {
                endpoint: ep.clone(),
                healthy: false,
                took_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(0),
                error: e.to_string(),
            }),
            Err(_) => health.push(Health {
                endpoint: ep.clone(),
                healthy: false,
                took_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(0),
                error: format!("no answer within {timeout:?}"),
            }),
        }
    }
    Ok(Facts {
        members,
        status,
        health,
        leader,
        cluster_id,
        revision,
    })
}
