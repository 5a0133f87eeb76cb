//! The runtime: runs a checked [`ir::Flow`] on an inventory.
//!
//! Algorithm. Resolve params, host sets and cluster connections (TLS files read); refuse
//! before touching anything if a `confirm` gate cannot be answered; connect to every host
//! any step targets (and the member hosts a tunnel or a peer-URL probe needs), in
//! parallel, and refuse if one is unreachable; open SSH tunnels to etcd; take the
//! clusters' locks (`etcd.rs`), refusing if another operator holds one. Then run the
//! steps in order. Within a step each target host runs the
//! body in its own task, which owns that host's connection and bindings for the duration
//! (results come back over a `JoinSet`; no locks); at most `forks` hosts run at once
//! (`serial`: one, `batch: N`: N). The first failure beyond the step's `max_fail` budget
//! stops the run: no new host starts, running ones finish or hit their deadline. Then the
//! `rollback` blocks of the steps that ran are run in reverse order, each on the hosts
//! where its step ran, unless a `point_of_no_return` was passed.
//!
//! The runtime never prints; it sends [`events::Event`]s.

mod actions;
mod calls;
pub mod edits;
pub mod etcd;
mod eval;
pub mod events;
mod interp;
pub mod options;
mod pki;
pub mod plan;
mod prepare;
mod resume;
mod scheduler;
mod steps;
pub mod value;

use crate::inventory::Inventory;
use crate::ir::{self, ActionKind, Arg, ExprKind};
use crate::source::SourceMap;
use crate::transport::{self, Conn, Endpoint, ExecRequest, SshOptions};
use eval::Ctx;
use events::{Event, RunStatus, Sender};
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use value::Value;

use actions::*;
use interp::*;
use prepare::*;
pub use prepare::{missing_hosts, prepare, run_id, timestamp_utc, Prepared};
pub use resume::ResumeFrom;
use scheduler::*;

/// A confirmation prompt: returns the operator's answer.
pub type Prompter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub struct Options {
    pub forks: usize,
    pub ssh: SshOptions,
    /// Answer every `confirm` with yes (`--yes`).
    pub yes: bool,
    /// Ask `confirm` questions (a TTY); `None` without one.
    pub prompter: Option<Prompter>,
    pub no_rollback: bool,
    /// Directory of the flow file: relative controller paths start here.
    pub flow_dir: PathBuf,
    /// Stream command output as events.
    pub verbose: bool,
    pub default_timeout: Duration,
    /// Where run journals live (`<state_dir>/runs/<id>/`); `None`: no journal.
    pub state_dir: Option<PathBuf>,
    /// What the journal's first record says about this run.
    pub meta: Option<RunMeta>,
    /// Continue an interrupted run instead of starting a new one.
    pub resume: Option<ResumeFrom>,
    /// On Ctrl-C / SIGTERM, roll back instead of stopping (`--rollback-on-interrupt`).
    pub rollback_on_interrupt: bool,
    /// `--limit PATTERN` (Ansible's host patterns): steps run only on these hosts.
    pub limit: Option<String>,
}

/// Facts about a run for its journal.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    pub flow: PathBuf,
    pub flow_sha256: String,
    pub inventory: crate::inventory::Sources,
    pub ssh_config: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            forks: 10,
            ssh: SshOptions::default(),
            yes: false,
            prompter: None,
            no_rollback: false,
            flow_dir: PathBuf::from("."),
            verbose: false,
            default_timeout: Duration::from_secs(600),
            state_dir: None,
            meta: None,
            resume: None,
            rollback_on_interrupt: false,
            limit: None,
        }
    }
}

/// Why a run was refused before any host was touched.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub help: String,
}

struct Shared {
    flow: ir::Flow,
    params: Vec<Value>,
    hosts: Vec<Value>,
    inventory: Inventory,
    sources: SourceMap,
    binding_names: Vec<String>,
    run_id: String,
    started: String,
    opts: Options,
    events: Sender,
    journal: Option<crate::journal::Journal>,
    interrupted: std::sync::atomic::AtomicBool,
    /// A cluster lock's lease may have expired: nothing more is changed (inv. 19).
    lease_lost: std::sync::atomic::AtomicBool,
    facts: std::sync::Mutex<Arc<Vec<Option<Value>>>>,
    /// Second connections to hosts that actions are delegated to (`on:`), one action at
    /// a time per host; a host's own connection stays its step tasks' alone.
    delegates: tokio::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Conn>>>>,
    /// Every host's flow bindings, published when it ends a step (copy on write).
    published: std::sync::Mutex<Arc<eval::Published>>,
    /// By binding index: bound once and visible on every host.
    binding_global: Vec<bool>,
    cluster_confs: Vec<eval::ClusterConf>,
    /// Per-cluster locks and membership-change serialization (by cluster index).
    etcd: Vec<etcd::ClusterState>,
    /// Snapshots verified in this run (inv. 9).
    verified: std::sync::Mutex<Vec<etcd::Verified>>,
    /// Side channels to every connected host, for probes (set once connected).
    /// Every connected host's prober (hosts of `connect_late` steps join at their step).
    probers: std::sync::Mutex<std::collections::HashMap<String, transport::Prober>>,
    /// Some step, option or wait reads cluster facts.
    uses_facts: bool,
}

/// The inventory host an etcd member runs on: by name, or by the address of one of its
/// URLs (the one finder for facts and etcd actions).
pub(crate) fn member_host_of(
    m: &transport::etcd::Member,
    hosts: &[String],
    inv: &Inventory,
    conf: &transport::etcd::Conf,
) -> Option<String> {
    hosts
        .iter()
        .find(|h| {
            let addr = inv.target(h).map(|t| t.address).unwrap_or_default();
            m.name == **h
                || m.client_urls.iter().chain(&m.peer_urls).any(|u| {
                    etcd::url_host(u)
                        .is_some_and(|a| a == addr || conf.alias(&a) == Some(addr.clone()))
                })
        })
        .cloned()
}

/// An `etcd_member` record (`check::types::Record::EtcdMember`), the one builder.
pub(crate) fn member_record(
    m: &transport::etcd::Member,
    f: &transport::etcd::Facts,
    host: Option<String>,
) -> Value {
    let mut r: IndexMap<&'static str, Value> = IndexMap::new();
    r.insert("id", Value::Str(format!("{:x}", m.id)));
    r.insert("name", Value::Str(m.name.clone()));
    r.insert(
        "peer_urls",
        Value::List(m.peer_urls.iter().cloned().map(Value::Str).collect()),
    );
    r.insert(
        "client_urls",
        Value::List(m.client_urls.iter().cloned().map(Value::Str).collect()),
    );
    r.insert("learner", Value::Bool(m.learner));
    r.insert("started", Value::Bool(!m.name.is_empty()));
    r.insert("is_leader", Value::Bool(f.leader == Some(m.id)));
    r.insert("host", host.map_or(Value::None, Value::Host));
    Value::Record(r)
}

/// A cluster's facts as the record its fields promise (`check::types::cluster_fields`).
fn facts_value(
    name: &str,
    f: &transport::etcd::Facts,
    hosts: &[String],
    conf: &transport::etcd::Conf,
    inv: &Inventory,
) -> Value {
    let endpoints = &conf.endpoints;
    let member = |m: &transport::etcd::Member| -> Value {
        member_record(m, f, member_host_of(m, hosts, inv, conf))
    };
    let members: Vec<Value> = f.members.iter().map(member).collect();
    let leader = f
        .members
        .iter()
        .find(|m| f.leader == Some(m.id))
        .map_or(Value::None, member);
    let status: Vec<Value> = f
        .status
        .iter()
        .map(|s| {
            let mut r: IndexMap<&'static str, Value> = IndexMap::new();
            r.insert("endpoint", Value::Str(s.endpoint.clone()));
            r.insert("member_id", Value::Str(format!("{:x}", s.member_id)));
            r.insert("version", Value::Str(s.version.clone()));
            r.insert(
                "db_size",
                Value::Size(u64::try_from(s.db_size).unwrap_or(0)),
            );
            r.insert(
                "db_size_in_use",
                Value::Size(u64::try_from(s.db_size_in_use).unwrap_or(0)),
            );
            r.insert("leader_id", Value::Str(format!("{:x}", s.leader)));
            r.insert("is_leader", Value::Bool(s.leader == s.member_id));
            r.insert("is_learner", Value::Bool(s.is_learner));
            r.insert(
                "raft_index",
                Value::Int(i64::try_from(s.raft_index).unwrap_or(i64::MAX)),
            );
            r.insert(
                "raft_applied_index",
                Value::Int(i64::try_from(s.raft_applied_index).unwrap_or(i64::MAX)),
            );
            r.insert(
                "raft_term",
                Value::Int(i64::try_from(s.raft_term).unwrap_or(i64::MAX)),
            );
            r.insert(
                "alarms",
                Value::List(s.errors.iter().cloned().map(Value::Str).collect()),
            );
            r.insert("cluster_id", Value::Str(format!("{:x}", s.cluster_id)));
            r.insert("revision", Value::Int(s.revision));
            Value::Record(r)
        })
        .collect();
    let health: Vec<Value> = f
        .health
        .iter()
        .map(|h| {
            let mut r: IndexMap<&'static str, Value> = IndexMap::new();
            r.insert("endpoint", Value::Str(h.endpoint.clone()));
            r.insert("healthy", Value::Bool(h.healthy));
            r.insert("took", Value::Duration(h.took_ms));
            r.insert("error", Value::Str(h.error.clone()));
            Value::Record(r)
        })
        .collect();
    let voters: Vec<Value> = f
        .members
        .iter()
        .filter(|m| !m.learner)
        .map(member)
        .collect();
    let mut r: IndexMap<&'static str, Value> = IndexMap::new();
    r.insert("name", Value::Str(name.to_string()));
    r.insert("hosts", Value::Hosts(hosts.to_vec()));
    r.insert(
        "endpoints",
        Value::List(endpoints.iter().cloned().map(Value::Str).collect()),
    );
    r.insert(
        "followers",
        Value::List(
            f.members
                .iter()
                .filter(|m| f.leader != Some(m.id) && !m.learner)
                .map(member)
                .collect(),
        ),
    );
    r.insert(
        "learners",
        Value::List(f.members.iter().filter(|m| m.learner).map(member).collect()),
    );
    r.insert(
        "quorum",
        Value::Int(i64::try_from(etcd::quorum(voters.len())).unwrap_or(0)),
    );
    r.insert("voters", Value::List(voters));
    r.insert("members", Value::List(members));
    r.insert("leader", leader);
    r.insert(
        "healthy",
        Value::Bool(
            f.leader.is_some() && !f.health.is_empty() && f.health.iter().all(|h| h.healthy),
        ),
    );
    r.insert("status", Value::List(status));
    r.insert("health", Value::List(health));
    r.insert("cluster_id", Value::Str(format!("{:x}", f.cluster_id)));
    r.insert("revision", Value::Int(f.revision));
    Value::Record(r)
}

impl Shared {
    /// What an expression sees on `host` (`None`: the controller).
    fn ctx<'a>(
        &'a self,
        host: Option<&'a str>,
        bindings: &'a [Option<Value>],
        locals: &'a [(String, Value)],
    ) -> Ctx<'a> {
        Ctx {
            params: &self.params,
            hosts: &self.hosts,
            inventory: &self.inventory,
            host,
            bindings,
            binding_names: &self.binding_names,
            locals,
            run_id: &self.run_id,
            started: &self.started,
            facts: self
                .facts
                .lock()
                .map(|f| Arc::clone(&f))
                .unwrap_or_default(),
            published: self
                .published
                .lock()
                .map(|p| Arc::clone(&p))
                .unwrap_or_default(),
            globals: &self.binding_global,
            clusters: &self.cluster_confs,
        }
    }

    /// The index of `step` in the flow.
    fn step_index(&self, step: &ir::Step) -> usize {
        self.flow
            .steps
            .iter()
            .position(|s| std::ptr::eq(s, step))
            .unwrap_or(usize::MAX)
    }

    /// The delegate connection to `host`, made on first use.
    async fn delegate(&self, host: &str) -> Result<Arc<tokio::sync::Mutex<Conn>>, Fail> {
        let mut map = self.delegates.lock().await;
        if let Some(c) = map.get(host) {
            return Ok(Arc::clone(c));
        }
        let conn = scheduler::connect(self, host, &format!("{}-{host}-on", self.run_id))
            .await
            .map_err(|e| {
                Fail(format!(
                    "cannot connect to {host} to run an action on it: {e}"
                ))
            })?;
        let c = Arc::new(tokio::sync::Mutex::new(conn));
        map.insert(host.to_string(), Arc::clone(&c));
        Ok(c)
    }

    /// Make host `host`'s bindings visible to every host (`r[h]`, bound-once values).
    fn publish(&self, host: &str, bindings: &[Option<Value>]) {
        if let Ok(mut slot) = self.published.lock() {
            let mut next = (**slot).clone();
            next.insert(host.to_string(), bindings.to_vec());
            *slot = Arc::new(next);
        }
    }

    /// Gather every cluster's facts from etcd (before a step that reads them, and on each
    /// round of a `wait until:`).
    async fn refresh_facts(&self) -> Result<(), String> {
        let mut all = Vec::new();
        for (i, c) in self.cluster_confs.iter().enumerate() {
            // A `lazy` cluster has no facts before the step that first uses it.
            if !self.etcd.get(i).is_some_and(etcd::ClusterState::is_active) {
                all.push(None);
                continue;
            }
            let Some(conn) = &c.conn else {
                all.push(None);
                continue;
            };
            if conn.endpoints.is_empty() {
                return Err(format!("cluster `{}` has no endpoints", c.name));
            }
            let f = etcd::gather(self, i).await.map_err(|Fail(e)| e)?;
            all.push(Some(facts_value(
                &c.name,
                &f,
                &c.members,
                conn,
                &self.inventory,
            )));
        }
        if let Ok(mut slot) = self.facts.lock() {
            *slot = Arc::new(all);
        }
        Ok(())
    }

    /// Journal a record and wait until it is durable.
    async fn journal(&self, r: crate::journal::Record) {
        if let Some(j) = &self.journal {
            j.record(&r).await;
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

struct HostState {
    name: String,
    conn: Conn,
    bindings: Vec<Option<Value>>,
    /// The options of the step running here, evaluated for this host, and when its
    /// `timeout:` ends (every command's deadline is cut to it).
    step_opts: Option<options::StepOptions>,
    deadline: Option<Instant>,
    /// Files this host's steps edited, for their rollback.
    undo: Vec<edits::Undo>,
    /// While an action runs `on:` another host: that host's name and the delegate
    /// connection's lock, whose connection is swapped into `conn` for the action.
    delegated: Option<(String, tokio::sync::OwnedMutexGuard<Conn>)>,
}

impl HostState {
    /// Give a delegate connection back (after the action, or after its future was
    /// dropped by a deadline): `conn` is this host's own again.
    fn undelegate(&mut self) {
        if let Some((_, mut g)) = self.delegated.take() {
            std::mem::swap(&mut self.conn, &mut *g);
        }
    }
}

/// A failure on one host: the message, and whether it is a lost connection (unknown
/// outcome) rather than a clean failure.
#[derive(Debug)]
struct Fail(String);

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail(s)
    }
}

impl From<transport::TransportError> for Fail {
    fn from(e: transport::TransportError) -> Fail {
        Fail(e.to_string())
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

const LOCAL: &str = "local";

/// Run a prepared flow. Returns the final status (also sent as `RunDone`).
pub async fn run(prep: Prepared) -> RunStatus {
    let sh = Arc::clone(&prep.shared);
    let status = run_inner(prep).await;
    etcd::release_locks(&sh).await;
    status
}

#[cfg(test)]
mod record_tests {
    //! Every record the runtime builds has exactly the fields the checker declares for
    //! its type (`check::types::Record::fields`, `cluster_fields`): a field the checker
    //! accepts is a field the run fills.
    use super::*;
    use crate::check::types::{cluster_fields, Record};
    use crate::transport::etcd::{Facts, Health, Member, Status};
    use std::collections::BTreeSet;

    pub(crate) fn keys(v: &Value) -> BTreeSet<String> {
        match v {
            Value::Record(r) => r.keys().map(|k| (*k).to_string()).collect(),
            other => panic!("not a record: {other:?}"),
        }
    }

    pub(crate) fn declared(r: Record) -> BTreeSet<String> {
        r.fields().into_iter().map(|(k, _)| k.to_string()).collect()
    }

    pub(crate) fn facts() -> (Member, Facts) {
        let m = Member {
            id: 1,
            name: "n1".into(),
            peer_urls: vec!["http://10.0.0.1:2380".into()],
            client_urls: vec!["http://10.0.0.1:2379".into()],
            learner: false,
        };
        let status = Status {
            endpoint: "http://10.0.0.1:2379".into(),
            member_id: 1,
            version: "3.4.23".into(),
            db_size: 1,
            db_size_in_use: 1,
            leader: 1,
            raft_index: 1,
            raft_applied_index: 1,
            raft_term: 1,
            is_learner: false,
            errors: Vec::new(),
            cluster_id: 7,
            revision: 3,
        };
        let health = Health {
            endpoint: "http://10.0.0.1:2379".into(),
            healthy: true,
            took_ms: 1,
            error: String::new(),
        };
        let f = Facts {
            members: vec![m.clone()],
            status: vec![status],
            health: vec![health],
            leader: Some(1),
            cluster_id: 7,
            revision: 3,
        };
        (m, f)
    }

    #[test]
    fn records_the_runtime_builds_are_the_records_the_checker_declares() {
        let (m, f) = facts();
        assert_eq!(
            keys(&member_record(&m, &f, None)),
            declared(Record::EtcdMember)
        );
        let conf = transport::etcd::Conf {
            name: "main".into(),
            endpoints: vec![],
            timeout: std::time::Duration::from_secs(1),
            ca: None,
            identity: None,
            auth: None,
            tunnels: Default::default(),
            aliases: Default::default(),
            cluster_id: Default::default(),
        };
        let c = facts_value("main", &f, &[], &conf, &Inventory::default());
        let want: BTreeSet<String> = cluster_fields()
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(keys(&c), want, "cluster facts");
        let Value::Record(r) = &c else { unreachable!() };
        for (field, rec) in [
            ("members", Record::EtcdMember),
            ("status", Record::EndpointStatus),
            ("health", Record::EndpointHealth),
        ] {
            match r.get(field) {
                Some(Value::List(xs)) if !xs.is_empty() => {
                    for x in xs {
                        assert_eq!(keys(x), declared(rec), "{field}");
                    }
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        assert_eq!(
            keys(&interp::command_record(
                0,
                true,
                b"x",
                b"",
                Duration::ZERO,
                false
            )),
            declared(Record::CommandResult)
        );
        assert_eq!(
            keys(&interp::file_record("/etc/x", "ab", 1, true)),
            declared(Record::FileResult)
        );
    }
}
