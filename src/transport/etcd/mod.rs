//! etcd from the controller, through etcd-client: the facts a flow can read
//! (`main.members`, `main.leader`, `main.status`...). Membership decisions need fresh,
//! per-member reads (SAFETY.md inv. 8): a linearizable read is the barrier before the
//! member list, and each member's status comes from a client connected to that member
//! alone, never through the balanced client.

use etcd_client::{Client, ConnectOptions};
use std::time::{Duration, Instant};

mod lock;
mod outcome;

pub use lock::*;
pub use outcome::{EtcdError, Outcome};

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

/// How to reach one cluster: its client URLs, deadline, TLS material and credentials,
/// resolved from the flow's `cluster` declaration before the run starts.
#[derive(Clone)]
pub struct Conf {
    pub name: String,
    pub endpoints: Vec<String>,
    pub timeout: Duration,
    /// CA certificate, and client certificate + key (PEM on the controller: read before
    /// the run, or, for a cluster the flow creates, at each connection).
    pub ca: Option<Pem>,
    pub identity: Option<(Pem, Pem)>,
    /// User and password: the password only ever reaches `ConnectOptions::with_user`
    /// (SAFETY.md inv. 24) and is redacted from `Debug`.
    pub auth: Option<(String, String)>,
    /// SSH tunnels: `scheme://host:port` of a member -> `scheme://127.0.0.1:local`.
    pub tunnels: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    /// Members that advertise URLs by DNS name (kops: `http://etcd-a.internal.example.com:4001`):
    /// name -> the address of the inventory host the member hosts resolve it to (as etcd
    /// itself resolves it there). The controller dials that address (through its tunnel,
    /// if any) and checks a TLS certificate against the name.
    pub aliases: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    /// The cluster's id, from the first linearizable read: an endpoint that answers for
    /// another cluster (kops boots a new master's etcd as a member of a cluster of its
    /// own, on the same client port) is never used for cluster-wide requests.
    pub cluster_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// PEM material: bytes read before the run, or a file read when a connection is made (a
/// cluster declared `lazy: true`, whose certificates an earlier step generates).
#[derive(Clone, Debug)]
pub enum Pem {
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

impl Pem {
    fn load(&self) -> Result<Vec<u8>, String> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(p) => {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
        }
    }
}

impl std::fmt::Debug for Conf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conf")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .field("tls", &self.ca.is_some())
            .field("user", &self.auth.as_ref().map(|a| &a.0))
            .finish_non_exhaustive()
    }
}

impl Conf {
    /// Every client has a connect timeout, a request timeout and keep-alive
    /// (SAFETY.md inv. 16: they all default to none).
    /// The URL to dial for `endpoint` (through its tunnel, if any) and the host name its
    /// TLS certificate must carry when it differs from the dialled one.
    pub fn route(&self, endpoint: &str) -> (String, Option<String>) {
        let trimmed = endpoint.trim_end_matches('/');
        let split = |u: &str| -> Option<(String, String, String)> {
            let (scheme, rest) = u.split_once("://")?;
            let (host, port) = rest.rsplit_once(':')?;
            Some((
                scheme.to_string(),
                host.trim_matches(['[', ']']).to_string(),
                port.to_string(),
            ))
        };
        // A DNS name the member hosts resolve: dial its address, check TLS against the name.
        let (base, named) = match split(trimmed) {
            Some((scheme, host, port)) => match self.alias(&host) {
                Some(addr) => (format!("{scheme}://{addr}:{port}"), Some(host)),
                None => (trimmed.to_string(), None),
            },
            None => (trimmed.to_string(), None),
        };
        let tunnels = self.tunnels.lock().map(|t| t.clone()).unwrap_or_default();
        match tunnels.iter().find(|(from, _)| *from == base) {
            Some((_, to)) => {
                let host = named.or_else(|| split(&base).map(|(_, h, _)| h));
                (to.clone(), host)
            }
            None if named.is_some() => (base, named),
            None => (endpoint.to_string(), None),
        }
    }

    /// The inventory address a member URL's DNS name stands for, once resolved.
    pub fn alias(&self, name: &str) -> Option<String> {
        let aliases = self.aliases.lock().ok()?;
        aliases
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, a)| a.clone())
    }

    fn options(&self, domain: Option<&str>) -> Result<ConnectOptions, String> {
        let mut o = ConnectOptions::new()
            .with_connect_timeout(self.timeout)
            .with_timeout(self.timeout)
            .with_keep_alive(Duration::from_secs(2), self.timeout);
        if self.ca.is_some() || self.identity.is_some() {
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &self.ca {
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca.load()?));
            }
            if let Some((cert, key)) = &self.identity {
                tls = tls.identity(etcd_client::Identity::from_pem(cert.load()?, key.load()?));
            }
            if let Some(d) = domain {
                tls = tls.domain_name(d);
            }
            o = o.with_tls(tls);
        }
        if let Some((u, p)) = &self.auth {
            o = o.with_user(u.clone(), p.clone());
        }
        Ok(o)
    }

    async fn connect_to(&self, endpoints: &[String]) -> Result<Client, String> {
        let (dial, domain) = match endpoints {
            [one] => {
                let (d, dom) = self.route(one);
                (vec![d], dom)
            }
            many => (many.to_vec(), None),
        };
        let options = self
            .options(domain.as_deref())
            .map_err(|e| format!("cluster `{}`: {e}", self.name))?;
        tokio::time::timeout(self.timeout, Client::connect(&dial, Some(options)))
            .await
            .map_err(|_| {
                format!(
                    "no etcd endpoint answered within {:?} ({})",
                    self.timeout,
                    endpoints.join(", ")
                )
            })?
            .map_err(|e| format!("cannot reach etcd at {}: {e}", endpoints.join(", ")))
    }

    /// A client for cluster-wide requests (key-value, membership): connected to the
    /// first voting member that answers a status request, all tried at once. (A client
    /// balanced over every endpoint sends requests to members that are down.)
    pub async fn client(&self) -> Result<Client, String> {
        self.client_except(&[]).await
    }

    /// [`Conf::client`], avoiding these endpoints (a member being removed would stop
    /// before it answers its own removal).
    pub async fn client_except(&self, avoid: &[String]) -> Result<Client, String> {
        let mut set = tokio::task::JoinSet::new();
        for ep in self.endpoints.iter().filter(|e| !avoid.contains(e)) {
            let me = self.clone();
            let ep = ep.clone();
            set.spawn(async move {
                let mut c = me.one(&ep).await?;
                let s = me.deadline(&format!("status of {ep}"), c.status()).await?;
                // A learner answers status but refuses key-value and membership requests.
                if s.is_learner() {
                    return Err(format!("{ep} is a learner"));
                }
                let id = s.header().map_or(0, |h| h.cluster_id());
                let want = me.cluster_id.load(std::sync::atomic::Ordering::SeqCst);
                if want != 0 && id != want {
                    return Err(format!(
                        "{ep} answers for another cluster (id {id:x}, this cluster is {want:x})"
                    ));
                }
                Ok::<Client, String>(c)
            });
        }
        let mut errors = Vec::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(c)) => {
                    set.abort_all();
                    return Ok(c);
                }
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(format!(
            "no endpoint of cluster `{}` answers: {}",
            self.name,
            errors.join("; ")
        ))
    }

    /// A client connected to one member alone (SAFETY.md inv. 8: status, defragment,
    /// snapshot, hash_kv, alarms and move-leader go to one chosen member).
    pub async fn one(&self, endpoint: &str) -> Result<Client, String> {
        self.connect_to(&[endpoint.to_string()]).await
    }

    /// Run `f` within the request deadline.
    pub async fn deadline<T, F>(&self, what: &str, f: F) -> Result<T, String>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no answer within {:?}", self.timeout)),
        }
    }
}

fn member(m: &etcd_client::Member) -> Member {
    Member {
        id: m.id(),
        name: m.name().to_string(),
        peer_urls: m.peer_urls().to_vec(),
        client_urls: m.client_urls().to_vec(),
        learner: m.is_learner(),
    }
}

/// Gather the facts of the cluster.
pub async fn facts(conf: &Conf) -> Result<Facts, String> {
    let mut client = conf.client().await?;
    let timeout = conf.timeout;
    // Linearizable read first: the member list that follows is not stale (inv. 8).
    let barrier = conf
        .deadline("linearizable read", client.get("etcdflow/barrier", None))
        .await?;
    let revision = barrier.header().map_or(0, |h| h.revision());
    let cluster_id = barrier.header().map_or(0, |h| h.cluster_id());
    if cluster_id != 0 {
        let _ = conf.cluster_id.compare_exchange(
            0,
            cluster_id,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        );
    }
    let list = conf.deadline("member list", client.member_list()).await?;
    let members: Vec<Member> = list.members().iter().map(member).collect();
    let mut status = Vec::new();
    let mut health = Vec::new();
    let mut leader = None;
    for m in &members {
        let Some(ep) = m.client_urls.first() else {
            continue;
        };
        let t0 = Instant::now();
        let one = async {
            let mut c = conf.one(ep).await?;
            c.status().await.map_err(|e| e.to_string())
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

/// Add a member (as a learner unless `voter`); returns it and the member list the
/// response carries (a joining member's `--initial-cluster` comes from it, inv. 6).
pub async fn member_add(
    conf: &Conf,
    peer_url: &str,
    voter: bool,
    fence: Option<Token>,
) -> Result<(Member, Vec<Member>), EtcdError> {
    let mut c = conf.client().await?;
    if let Some(t) = fence {
        lock::fence_txn(conf, &mut c, t).await?;
    }
    let opts = (!voter).then(|| etcd_client::MemberAddOptions::new().with_is_learner());
    let r = conf
        .membership("member add", c.member_add([peer_url], opts))
        .await?;
    let m = r
        .member()
        .map(member)
        .ok_or_else(|| EtcdError::from("member add: the response names no member".to_string()))?;
    Ok((m, r.member_list().iter().map(member).collect()))
}

pub async fn member_promote(conf: &Conf, id: u64, fence: Option<Token>) -> Result<(), EtcdError> {
    let mut c = conf.client().await?;
    if let Some(t) = fence {
        lock::fence_txn(conf, &mut c, t).await?;
    }
    conf.membership("member promote", c.member_promote(id))
        .await
        .map(|_| ())
}

/// Remove a member, asking another member (never the one removed).
pub async fn member_remove(
    conf: &Conf,
    id: u64,
    avoid: &[String],
    fence: Option<Token>,
) -> Result<(), EtcdError> {
    let mut c = conf.client_except(avoid).await?;
    if let Some(t) = fence {
        lock::fence_txn(conf, &mut c, t).await?;
    }
    conf.membership("member remove", c.member_remove(id))
        .await
        .map(|_| ())
}

/// Move leadership: the request must reach the current leader itself.
pub async fn move_leader(
    conf: &Conf,
    leader_endpoint: &str,
    to: u64,
    fence: Option<Token>,
) -> Result<(), String> {
    let mut c = conf.one(leader_endpoint).await?;
    if let Some(t) = fence {
        lock::fence_txn(conf, &mut c, t).await?;
    }
    conf.deadline("move leader", c.move_leader(to))
        .await
        .map(|_| ())
}

/// What a saved snapshot was taken from.
#[derive(Clone, Debug)]
pub struct Saved {
    pub revision: i64,
    pub bytes: u64,
}

/// Stream a snapshot from one member into `path`: written to `path.part`, read until
/// the stream ends, fsync'd, renamed, the directory fsync'd (SAFETY.md inv. 9). Each
/// message must arrive within the request timeout; the whole stream within `budget`.
pub async fn snapshot_save(
    conf: &Conf,
    endpoint: &str,
    path: &std::path::Path,
    budget: Duration,
) -> Result<Saved, String> {
    use tokio::io::AsyncWriteExt;
    let mut c = conf.one(endpoint).await?;
    // The revision the snapshot holds at least: read from the same member first.
    let head = conf
        .deadline(
            "snapshot revision",
            c.get(
                "etcdflow/barrier",
                Some(etcd_client::GetOptions::new().with_count_only()),
            ),
        )
        .await?;
    let revision = head.header().map_or(0, |h| h.revision());
    let part = path.with_extension(match path.extension() {
        Some(e) => format!("{}.part", e.to_string_lossy()),
        None => "part".into(),
    });
    let mut f = tokio::fs::File::create(&part)
        .await
        .map_err(|e| format!("cannot create {}: {e}", part.display()))?;
    let t0 = Instant::now();
    let mut stream = conf.deadline("snapshot", c.snapshot()).await?;
    let mut bytes = 0u64;
    let result: Result<(), String> = async {
        loop {
            if t0.elapsed() > budget {
                return Err(format!("snapshot stream exceeded its budget of {budget:?}"));
            }
            match conf.deadline("snapshot stream", stream.message()).await? {
                Some(m) => {
                    f.write_all(m.blob())
                        .await
                        .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
                    bytes += m.blob().len() as u64;
                }
                None => break,
            }
        }
        f.sync_all()
            .await
            .map_err(|e| format!("cannot fsync {}: {e}", part.display()))?;
        Ok(())
    }
    .await;
    drop(f);
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tokio::fs::rename(&part, path)
        .await
        .map_err(|e| format!("cannot rename {} into place: {e}", part.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = tokio::fs::File::open(dir).await {
            let _ = d.sync_all().await;
        }
    }
    Ok(Saved { revision, bytes })
}

/// Write a key; with `fence` (the run's lock revision) only while the lock key still has
/// that create revision (SAFETY.md inv. 19: etcdflow's writes are fenced).
pub async fn put(conf: &Conf, key: &str, value: &str, fence: Option<i64>) -> Result<i64, String> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let mut c = conf.client().await?;
    let Some(rev) = fence else {
        let r = conf.deadline("put", c.put(key, value, None)).await?;
        return Ok(r.header().map_or(0, |h| h.revision()));
    };
    let txn = Txn::new()
        .when([Compare::create_revision(LOCK_KEY, CompareOp::Equal, rev)])
        .and_then([TxnOp::put(key, value, None)]);
    let r = conf.deadline("put", c.txn(txn)).await?;
    if !r.succeeded() {
        return Err("put refused: the run no longer holds the cluster lock (inv. 19)".into());
    }
    Ok(r.header().map_or(0, |h| h.revision()))
}

/// A key's value, its mod revision and version (`None`: absent).
pub async fn get(conf: &Conf, key: &str) -> Result<Option<(String, i64, i64)>, String> {
    let mut c = conf.client().await?;
    let r = conf.deadline("get", c.get(key, None)).await?;
    Ok(r.kvs().first().map(|kv| {
        (
            String::from_utf8_lossy(kv.value()).into_owned(),
            kv.mod_revision(),
            kv.version(),
        )
    }))
}

/// Keys under a prefix (`""`: all keys), counted by the server.
pub async fn count(conf: &Conf, prefix: &str) -> Result<i64, String> {
    let mut c = conf.client().await?;
    let opts = etcd_client::GetOptions::new().with_count_only();
    let opts = if prefix.is_empty() {
        opts.with_all_keys()
    } else {
        opts.with_prefix()
    };
    let r = conf.deadline("count", c.get(prefix, Some(opts))).await?;
    Ok(r.count())
}

pub async fn delete(
    conf: &Conf,
    key: &str,
    prefix: bool,
    fence: Option<i64>,
) -> Result<i64, String> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
    let mut c = conf.client().await?;
    let opts = prefix.then(|| etcd_client::DeleteOptions::new().with_prefix());
    let Some(rev) = fence else {
        let r = conf.deadline("delete", c.delete(key, opts)).await?;
        return Ok(r.deleted());
    };
    let txn = Txn::new()
        .when([Compare::create_revision(LOCK_KEY, CompareOp::Equal, rev)])
        .and_then([TxnOp::delete(key, opts)]);
    let r = conf.deadline("delete", c.txn(txn)).await?;
    if !r.succeeded() {
        return Err("delete refused: the run no longer holds the cluster lock (inv. 19)".into());
    }
    Ok(r.op_responses()
        .into_iter()
        .map(|o| match o {
            TxnOpResponse::Delete(d) => d.deleted(),
            _ => 0,
        })
        .sum())
}

pub async fn defrag(conf: &Conf, endpoint: &str) -> Result<(), String> {
    let mut c = conf.one(endpoint).await?;
    // Defragmenting a large member takes longer than a request: allow ten deadlines.
    match tokio::time::timeout(conf.timeout * 10, c.defragment()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("defragment {endpoint}: {e}")),
        Err(_) => Err(format!(
            "defragment {endpoint}: no answer within {:?}",
            conf.timeout * 10
        )),
    }
}

/// Active alarms as (member id, "NOSPACE" | "CORRUPT").
pub async fn alarms(conf: &Conf) -> Result<Vec<(u64, String)>, String> {
    use etcd_client::{AlarmAction, AlarmType};
    let mut c = conf.client().await?;
    let r = conf
        .deadline(
            "alarm list",
            c.alarm(AlarmAction::Get, AlarmType::None, None),
        )
        .await?;
    Ok(r.alarms()
        .iter()
        .map(|a| {
            let t = match a.alarm() {
                AlarmType::Nospace => "NOSPACE",
                AlarmType::Corrupt => "CORRUPT",
                AlarmType::None => "NONE",
            };
            (a.member_id(), t.to_string())
        })
        .collect())
}

/// Disarm one member's NOSPACE alarm (a CORRUPT alarm is never disarmed: inv. 13).
pub async fn disarm_nospace(conf: &Conf, member_id: u64) -> Result<(), String> {
    use etcd_client::{AlarmAction, AlarmOptions, AlarmType};
    let mut c = conf.client().await?;
    let mut o = AlarmOptions::new();
    o.with_member(member_id);
    conf.deadline(
        "alarm disarm",
        c.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(o)),
    )
    .await
    .map(|_| ())
}

/// (hash, revision it was computed at, compact revision) of one member.
pub async fn hash_kv(
    conf: &Conf,
    endpoint: &str,
    revision: i64,
) -> Result<(u32, i64, i64), String> {
    let mut c = conf.one(endpoint).await?;
    let r = conf.deadline("hash kv", c.hash_kv(revision)).await?;
    Ok((
        r.hash(),
        r.header().map_or(revision, |h| h.revision()),
        r.compact_version(),
    ))
}
