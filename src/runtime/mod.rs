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

pub mod etcd;
mod eval;
pub mod events;
pub mod options;
pub mod plan;
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
}

/// Facts about a run for its journal.
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    pub flow: PathBuf,
    pub flow_sha256: String,
    pub inventory: PathBuf,
    pub ssh_config: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

/// Where an interrupted run stands, reconstructed from its journal.
#[derive(Clone, Debug, Default)]
pub struct ResumeFrom {
    pub run_id: String,
    pub dir: PathBuf,
    /// The first step that did not finish.
    pub start_step: usize,
    /// Hosts on which `start_step` is known to have finished.
    pub done_hosts: Vec<String>,
    /// Hosts on which `start_step` started without a recorded end: outcome unknown.
    pub unknown_hosts: Vec<String>,
    /// Steps that ran, with their hosts (for rollback).
    pub ran: Vec<(usize, Vec<String>)>,
    /// Per host, the flow bindings made by finished steps (binding index, JSON value).
    pub bindings: std::collections::HashMap<String, Vec<(usize, serde_json::Value)>>,
    /// Snapshot files the run verified (path, sha256): verified again before use.
    pub verified: Vec<(PathBuf, String)>,
}

impl ResumeFrom {
    /// Rebuild the state of a run from its journal records.
    pub fn from_journal(
        run_id: &str,
        dir: &std::path::Path,
        records: &[crate::journal::Record],
    ) -> Result<ResumeFrom, String> {
        use crate::journal::Record as R;
        let mut r = ResumeFrom {
            run_id: run_id.to_string(),
            dir: dir.to_path_buf(),
            ..ResumeFrom::default()
        };
        let mut step_ok: std::collections::BTreeMap<usize, bool> =
            std::collections::BTreeMap::new();
        let mut started: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut host_ok: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut action_open: std::collections::BTreeMap<(usize, String), bool> =
            std::collections::BTreeMap::new();
        for rec in records {
            match rec {
                R::RunEnd { status, .. } if status != "interrupted" => {
                    return Err(format!("run {run_id} already ended ({status}); start a new run instead"));
                }
                R::StepStart { step, rollback: false, .. } => {
                    started.entry(*step).or_default();
                }
                R::StepStart { rollback: true, .. } => return Err(format!("run {run_id} was rolling back when it stopped; check the hosts and start a new run")),
                R::ActionStart { step, host, rollback: false, .. } => {
                    let hs = started.entry(*step).or_default();
                    if !hs.contains(host) {
                        hs.push(host.clone());
                    }
                    action_open.insert((*step, host.clone()), true);
                }
                R::ActionEnd { step, host, rollback: false, .. } => {
                    action_open.insert((*step, host.clone()), false);
                }
                R::HostEnd { step, host, ok, skipped, rollback: false, bindings, .. } => {
                    let hs = started.entry(*step).or_default();
                    if !hs.contains(host) && !skipped {
                        hs.push(host.clone());
                    }
                    if *ok || *skipped {
                        host_ok.entry(*step).or_default().push(host.clone());
                        r.bindings.entry(host.clone()).or_default().extend(bindings.iter().cloned());
                    }
                }
                R::StepEnd { step, ok, rollback: false } => {
                    step_ok.insert(*step, *ok);
                }
                R::SnapshotVerified { path, sha256, .. } => {
                    r.verified.push((path.clone(), sha256.clone()));
                }
                _ => {}
            }
        }
        if step_ok.values().any(|ok| !ok) {
            return Err(format!(
                "a step of run {run_id} failed; it is not resumable"
            ));
        }
        let next = step_ok.keys().next_back().map_or(0, |s| s + 1);
        for (s, hs) in &started {
            if *s < next {
                r.ran.push((*s, hs.clone()));
            }
        }
        r.start_step = next;
        r.done_hosts = host_ok.get(&next).cloned().unwrap_or_default();
        r.unknown_hosts = started
            .get(&next)
            .map(|hs| {
                hs.iter()
                    .filter(|h| !r.done_hosts.contains(h))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let _ = action_open;
        Ok(r)
    }
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
    facts: std::sync::Mutex<Arc<Vec<Option<Value>>>>,
    cluster_confs: Vec<eval::ClusterConf>,
    /// Per-cluster locks and membership-change serialization (by cluster index).
    etcd: Vec<etcd::ClusterState>,
    /// Snapshots verified in this run (inv. 9).
    verified: std::sync::Mutex<Vec<etcd::Verified>>,
    /// Side channels to every connected host, for probes (set once connected).
    probers: std::sync::OnceLock<std::collections::HashMap<String, transport::Prober>>,
    /// Some step, option or wait reads cluster facts.
    uses_facts: bool,
}

/// A cluster's facts as the record its fields promise (`check::types::cluster_fields`).
fn facts_value(
    name: &str,
    f: &transport::etcd::Facts,
    hosts: &[String],
    endpoints: &[String],
    inv: &Inventory,
) -> Value {
    let host_of = |m: &transport::etcd::Member| -> Value {
        hosts
            .iter()
            .find(|h| {
                let addr = inv.target(h).map(|t| t.address).unwrap_or_default();
                m.name == **h
                    || m.client_urls.iter().chain(&m.peer_urls).any(|u| {
                        u.split("://")
                            .nth(1)
                            .and_then(|r| r.rsplit_once(':'))
                            .map(|(a, _)| a.trim_matches(['[', ']']))
                            == Some(addr.as_str())
                    })
            })
            .map_or(Value::None, |h| Value::Host(h.clone()))
    };
    let member = |m: &transport::etcd::Member| -> Value {
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
        r.insert("host", host_of(m));
        Value::Record(r)
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
        Value::Int(i64::try_from(voters.len() / 2 + 1).unwrap_or(0)),
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
            clusters: &self.cluster_confs,
        }
    }

    /// Gather every cluster's facts from etcd (before a step that reads them, and on each
    /// round of a `wait until:`).
    async fn refresh_facts(&self) -> Result<(), String> {
        let mut all = Vec::new();
        for c in &self.cluster_confs {
            let Some(conn) = &c.conn else {
                all.push(None);
                continue;
            };
            if conn.endpoints.is_empty() {
                return Err(format!("cluster `{}` has no endpoints", c.name));
            }
            let f = transport::etcd::facts(conn)
                .await
                .map_err(|e| format!("cluster `{}`: {e}", c.name))?;
            all.push(Some(facts_value(
                &c.name,
                &f,
                &c.members,
                &conn.endpoints,
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

pub fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{:04x}",
        timestamp_utc(now.as_secs()),
        std::process::id() & 0xffff
    )
}

/// `20260102T030405Z` for a Unix time.
pub fn timestamp_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Whether any expression in the flow (or an action kind) satisfies `pred`.
fn flow_any(
    flow: &ir::Flow,
    pred: &dyn Fn(&ir::Expr) -> bool,
    action: &dyn Fn(&ir::Action) -> bool,
) -> Option<String> {
    fn expr_any(e: &ir::Expr, pred: &dyn Fn(&ir::Expr) -> bool) -> bool {
        if pred(e) {
            return true;
        }
        match &e.kind {
            ExprKind::Call { args, .. } => args.iter().any(|a| expr_any(a, pred)),
            ExprKind::Interp(parts) => parts
                .iter()
                .any(|p| matches!(p, ir::InterpPart::Value { expr, .. } if expr_any(expr, pred))),
            ExprKind::List(xs) => xs.iter().any(|x| expr_any(x, pred)),
            ExprKind::Map(xs) => xs.iter().any(|(_, x)| expr_any(x, pred)),
            ExprKind::Field { base, .. } => expr_any(base, pred),
            ExprKind::Index { base, index } => expr_any(base, pred) || expr_any(index, pred),
            ExprKind::Unary { expr, .. } => expr_any(expr, pred),
            ExprKind::Binary { lhs, rhs, .. } => expr_any(lhs, pred) || expr_any(rhs, pred),
            _ => false,
        }
    }
    let args_any = |args: &IndexMap<&'static str, Arg>| {
        args.values()
            .any(|a| matches!(a, Arg::Value(e) if expr_any(e, pred)))
    };
    fn stmts_any(
        stmts: &[ir::Stmt],
        pred: &dyn Fn(&ir::Expr) -> bool,
        action: &dyn Fn(&ir::Action) -> bool,
    ) -> bool {
        stmts.iter().any(|s| match s {
            ir::Stmt::Action(a)
            | ir::Stmt::Let {
                value: ir::LetValue::Action(a),
                ..
            } => {
                action(a)
                    || a.positional.as_ref().is_some_and(|e| expr_any(e, pred))
                    || a.args
                        .values()
                        .any(|v| matches!(v, Arg::Value(e) if expr_any(e, pred)))
            }
            ir::Stmt::Let {
                value: ir::LetValue::Expr(e),
                ..
            } => expr_any(e, pred),
            ir::Stmt::Assert { cond, message, .. } => {
                expr_any(cond, pred) || message.as_ref().is_some_and(|m| expr_any(m, pred))
            }
            ir::Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                expr_any(cond, pred)
                    || stmts_any(then, pred, action)
                    || stmts_any(otherwise, pred, action)
            }
            ir::Stmt::For { iter, body, .. } => {
                expr_any(iter, pred) || stmts_any(body, pred, action)
            }
        })
    }
    flow.steps
        .iter()
        .find(|step| {
            stmts_any(&step.body, pred, action)
                || step
                    .rollback
                    .as_ref()
                    .is_some_and(|r| stmts_any(r, pred, action))
                || args_any(&step.options)
                || step.targets.as_ref().is_some_and(|e| expr_any(e, pred))
        })
        .map(|s| s.name.clone())
}

/// Reads facts: a field of a cluster, or `member(cluster, host)`, or a leader ordering.
/// (`peer_url` and the other addressing functions come from the declaration: no etcd.)
fn uses_facts(flow: &ir::Flow) -> bool {
    let reads = |e: &ir::Expr| match &e.kind {
        ExprKind::Field { base, .. } => matches!(base.kind, ExprKind::Cluster(_)),
        ExprKind::Call { func, .. } => matches!(
            *func,
            "member" | "leader_last" | "followers_first" | "leader_first"
        ),
        _ => false,
    };
    flow_any(flow, &reads, &|_| false).is_some()
}

fn has_confirm(stmts: &[ir::Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        ir::Stmt::Action(a)
        | ir::Stmt::Let {
            value: ir::LetValue::Action(a),
            ..
        } => a.kind == ActionKind::Confirm,
        ir::Stmt::If {
            then, otherwise, ..
        } => has_confirm(then) || has_confirm(otherwise),
        ir::Stmt::For { body, .. } => has_confirm(body),
        _ => false,
    })
}

/// Everything a run needs, prepared and checked before any connection.
pub struct Prepared {
    shared: Arc<Shared>,
    /// Hosts per step (`None`: the controller).
    targets: Vec<Option<Vec<String>>>,
}

pub fn prepare(
    flow: ir::Flow,
    param_values: &IndexMap<String, ir::Expr>,
    inventory: Inventory,
    sources: SourceMap,
    opts: Options,
    events: Sender,
    plan_only: bool,
) -> Result<Prepared, Refusal> {
    let needs_answer = flow.steps.iter().any(|s| has_confirm(&s.body));
    if needs_answer && !opts.yes && opts.prompter.is_none() && !plan_only {
        return Err(Refusal {
            code: "confirm-without-tty",
            message: "this flow asks for confirmation, and there is no terminal to ask on".into(),
            help: "run it from a terminal, or pass `--yes` to answer every `confirm` with yes (the answers are recorded)".into(),
        });
    }
    let run_id = opts
        .resume
        .as_ref()
        .map_or_else(run_id, |r| r.run_id.clone());
    let started = run_id.split('-').next().unwrap_or_default().to_string();
    let binding_names: Vec<String> = flow.bindings.iter().map(|b| b.name.clone()).collect();
    let mut params = Vec::new();
    for p in &flow.params {
        let expr = param_values.get(&p.name).or(p.default.as_ref());
        let v = match expr {
            Some(e) => {
                let cx = Ctx::global(&params, &[], &inventory, &binding_names, &run_id, &started);
                eval::param_value(e, &p.ty, &cx).map_err(|m| Refusal {
                    code: "invalid-param-value",
                    message: format!("param `{}`: {m}", p.name),
                    help: "fix the value".into(),
                })?
            }
            None if matches!(p.ty, crate::check::types::Ty::Optional(_)) => Value::None,
            None => {
                return Err(Refusal {
                    code: "missing-param",
                    message: format!("param `{}` has no value", p.name),
                    help: format!("pass it with `-e {}=VALUE`", p.name),
                })
            }
        };
        params.push(v);
    }
    // Outside any host: host sets, step targets and cluster addressing see params only.
    let base = Ctx::global(&params, &[], &inventory, &binding_names, &run_id, &started);
    let mut hosts = Vec::new();
    for h in &flow.hosts {
        let cx = Ctx {
            hosts: &hosts,
            ..base.clone()
        };
        let v = eval::eval(&h.value, &cx).map_err(|m| Refusal {
            code: "unknown-inventory-group",
            message: format!("host set `{}`: {m}", h.name),
            help: "check the inventory given with `-i`".into(),
        })?;
        hosts.push(v);
    }
    let mut targets = Vec::new();
    for s in &flow.steps {
        let t = match &s.targets {
            None => None,
            Some(e) => {
                let cx = Ctx {
                    hosts: &hosts,
                    ..base.clone()
                };
                let hs = match eval::eval(e, &cx).map_err(|m| Refusal {
                    code: "unknown-inventory-group",
                    message: format!("step `{}`: {m}", s.name),
                    help: "check the inventory".into(),
                })? {
                    Value::Hosts(h) => h,
                    Value::Host(h) => vec![h],
                    other => {
                        return Err(Refusal {
                            code: "internal-error",
                            message: format!(
                                "step `{}`: its targets are `{}`, not hosts",
                                s.name,
                                other.to_text()
                            ),
                            help: "this is a bug in etcdflow: the checker let it through".into(),
                        })
                    }
                };
                // A run on zero hosts never reports success: only an optional group
                // (`group("x")?`) may be empty.
                if hs.is_empty() && !may_be_empty(e, &flow) {
                    return Err(Refusal {
                        code: "empty-target",
                        message: format!(
                            "step `{}` targets no host: `{}` is empty in this inventory",
                            s.name,
                            sources.span_text(e.span).trim()
                        ),
                        help: "give the group hosts in the inventory, or write `group(\"NAME\")?` if the step may run on no host".into(),
                    });
                }
                Some(hs)
            }
        };
        targets.push(t);
    }
    // Step options computed from params are known now: an unusable value refuses the
    // run before any host is touched (values from bindings are checked at the step).
    for s in &flow.steps {
        if let Err(e) = options::evaluate(s, &base_with(&base, &hosts)) {
            if !e.unknown {
                return Err(Refusal {
                    code: "invalid-step-option",
                    message: e.describe(&s.name),
                    help: "fix the value given to the option (its param, `-e` value or expression)"
                        .into(),
                });
            }
        }
    }
    let uses_facts_flag = uses_facts(&flow);
    let mut cluster_confs = Vec::new();
    for c in &flow.clusters {
        let cx = Ctx {
            hosts: &hosts,
            ..base.clone()
        };
        let text = |k: &str, default: &str| -> Result<String, Refusal> {
            match c.fields.get(k) {
                Some(e) => eval::eval(e, &cx)
                    .map(|v| v.to_text())
                    .map_err(|m| Refusal {
                        code: "invalid-param-value",
                        message: format!("cluster `{}`: `{k}`: {m}", c.name),
                        help: "fix the cluster declaration".into(),
                    }),
                None => Ok(default.to_string()),
            }
        };
        let members = match c.fields.get("members").map(|e| eval::eval(e, &cx)) {
            Some(Ok(Value::Hosts(h))) => h,
            Some(Ok(Value::Host(h))) => vec![h],
            _ => Vec::new(),
        };
        let scheme_default = if c.fields.contains_key("ca") {
            "https"
        } else {
            "http"
        };
        let refuse = |m: String| Refusal {
            code: "cluster-unreachable",
            message: format!("cluster `{}`: {m}", c.name),
            help: "fix the cluster declaration or the files it names".into(),
        };
        let value = |k: &str| -> Result<Option<Value>, Refusal> {
            c.fields
                .get(k)
                .map(|e| eval::eval(e, &cx))
                .transpose()
                .map_err(|m| refuse(format!("`{k}`: {m}")))
        };
        let scheme = text("scheme", scheme_default)?;
        let client_port = text("client_port", "2379")?;
        let tunnel = value("tunnel")?.is_some_and(|v| v.truthy());
        let endpoints: Vec<String> = match value("endpoints")? {
            Some(Value::List(xs)) => xs.iter().map(Value::to_text).collect(),
            _ => members
                .iter()
                .filter_map(|h| inventory.target(h))
                .map(|t| {
                    let a = if t.address.contains(':') {
                        format!("[{}]", t.address)
                    } else {
                        t.address.clone()
                    };
                    format!("{scheme}://{a}:{client_port}")
                })
                .collect(),
        };
        let read = |k: &str| -> Result<Option<Vec<u8>>, Refusal> {
            match value(k)? {
                None => Ok(None),
                Some(v) if plan_only => Ok(Some(v.to_text().into_bytes())),
                Some(v) => {
                    let p = opts.flow_dir.join(v.to_text());
                    std::fs::read(&p)
                        .map(Some)
                        .map_err(|e| refuse(format!("`{k}`: cannot read {}: {e}", p.display())))
                }
            }
        };
        let identity = match (read("cert")?, read("key")?) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(refuse("`cert` and `key` go together".into())),
        };
        let auth = match (value("user")?, value("password")?) {
            (Some(u), Some(Value::Secret(p))) => Some((u.to_text(), p.expose().to_string())),
            (Some(u), None) => Some((u.to_text(), String::new())),
            (None, None) => None,
            _ => return Err(refuse("`password` needs `user`".into())),
        };
        let timeout = match value("timeout")? {
            Some(Value::Duration(ms)) => Duration::from_millis(ms),
            _ => Duration::from_secs(5),
        };
        let conn = transport::etcd::Conf {
            name: c.name.clone(),
            endpoints,
            timeout,
            ca: read("ca")?,
            identity,
            auth,
            tunnels: Arc::default(),
        };
        cluster_confs.push(eval::ClusterConf {
            name: c.name.clone(),
            scheme,
            client_port,
            peer_port: text("peer_port", "2380")?,
            members,
            name_var: c
                .fields
                .get("name_var")
                .and_then(|e| eval::eval(e, &cx).ok())
                .map(|v| v.to_text()),
            conn: Some(conn),
            tunnel,
        });
    }
    let journal = if plan_only {
        None
    } else if let Some(r) = &opts.resume {
        Some(crate::journal::Journal::open(&r.dir).map_err(|e| Refusal {
            code: "journal-error",
            message: format!("cannot open the journal in {}: {e}", r.dir.display()),
            help: "check the state directory".into(),
        })?)
    } else if let Some(dir) = &opts.state_dir {
        Some(
            crate::journal::Journal::create(dir, &run_id).map_err(|e| Refusal {
                code: "journal-error",
                message: format!("cannot create the run journal under {}: {e}", dir.display()),
                help: "nothing runs without a journal; fix the state directory (`--state-dir`)"
                    .into(),
            })?,
        )
    } else {
        None
    };
    Ok(Prepared {
        shared: Arc::new(Shared {
            flow,
            params,
            hosts,
            inventory,
            sources,
            binding_names,
            run_id,
            started,
            opts,
            events,
            journal,
            interrupted: std::sync::atomic::AtomicBool::new(false),
            facts: std::sync::Mutex::default(),
            etcd: cluster_confs
                .iter()
                .map(|_| etcd::ClusterState::default())
                .collect(),
            cluster_confs,
            verified: std::sync::Mutex::default(),
            probers: std::sync::OnceLock::new(),
            uses_facts: uses_facts_flag,
        }),
        targets,
    })
}

impl Prepared {
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// The hosts every step targets, in order, and whether the controller is used.
    pub fn all_hosts(&self) -> (Vec<String>, bool) {
        let mut all: Vec<String> = Vec::new();
        let mut local = false;
        for t in &self.targets {
            match t {
                None => local = true,
                Some(hs) => {
                    for h in hs {
                        if !all.contains(h) {
                            all.push(h.clone());
                        }
                    }
                }
            }
        }
        // Tunnels to etcd go through the member hosts' connections, and a new member's
        // peer URL is probed from every existing member (inv. 5).
        let adds = |i: usize| {
            flow_any(&self.shared.flow, &|_| false, &|a: &ir::Action| {
                a.kind == ActionKind::Etcd(ir::EtcdOp::MemberAdd) && a.cluster == Some(i)
            })
            .is_some()
        };
        for (_, c) in self
            .shared
            .cluster_confs
            .iter()
            .enumerate()
            .filter(|(i, c)| c.tunnel || adds(*i))
        {
            for h in &c.members {
                if !all.contains(h) {
                    all.push(h.clone());
                }
            }
        }
        (all, local)
    }
}

const LOCAL: &str = "local";

/// Run a prepared flow. Returns the final status (also sent as `RunDone`).
pub async fn run(prep: Prepared) -> RunStatus {
    let sh = Arc::clone(&prep.shared);
    let status = run_inner(prep).await;
    etcd::release_locks(&sh).await;
    status
}

async fn run_inner(prep: Prepared) -> RunStatus {
    use crate::journal::Record;
    let sh = prep.shared;
    let t0 = Instant::now();
    let send = |e: Event| {
        let _ = sh.events.send(e);
    };
    let (all, uses_local) = Prepared {
        shared: Arc::clone(&sh),
        targets: prep.targets.clone(),
    }
    .all_hosts();
    send(Event::RunStarted {
        run_id: sh.run_id.clone(),
        flow: sh.flow.name.clone(),
        steps: sh.flow.steps.len(),
        hosts: all.len(),
    });
    match (&sh.opts.resume, &sh.opts.meta) {
        (Some(r), _) => {
            sh.journal(Record::Resumed {
                at: run_id(),
                operator: crate::journal::operator(),
            })
            .await;
            etcd::reverify(&sh, &r.verified).await;
        }
        (None, Some(m)) => {
            let secret_params: Vec<String> = sh
                .flow
                .params
                .iter()
                .zip(&sh.params)
                .filter(|(_, v)| matches!(v, Value::Secret(_)))
                .map(|(p, _)| p.name.clone())
                .collect();
            sh.journal(Record::Run {
                run_id: sh.run_id.clone(),
                flow: m.flow.clone(),
                flow_sha256: m.flow_sha256.clone(),
                inventory: m.inventory.clone(),
                params: sh
                    .flow
                    .params
                    .iter()
                    .zip(&sh.params)
                    .map(|(p, v)| (p.name.clone(), v.to_arg()))
                    .collect(),
                secret_params,
                operator: crate::journal::operator(),
                started: sh.started.clone(),
                ssh_config: m.ssh_config.clone(),
                known_hosts: m.known_hosts.clone(),
                forks: sh.opts.forks,
            })
            .await;
        }
        (None, None) => {}
    }

    // Ctrl-C and SIGTERM: stop starting work; running commands finish or hit their deadline.
    let watcher = {
        let sh2 = Arc::clone(&sh);
        tokio::spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            let name = tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                () = term => "SIGTERM",
            };
            sh2.interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            sh2.journal(Record::Interrupted {
                signal: name.into(),
            })
            .await;
            let _ = sh2.events.send(Event::Log {
                step: String::new(),
                host: LOCAL.into(),
                message: format!(
                    "{name}: no new work starts; running commands finish or reach their deadline"
                ),
            });
        })
    };

    // Connect everything first: an unreachable host refuses the run before any change.
    let mut states: IndexMap<String, HostState> = IndexMap::new();
    let mut set = JoinSet::new();
    for h in all
        .iter()
        .cloned()
        .chain(uses_local.then(|| LOCAL.to_string()))
    {
        let sh2 = Arc::clone(&sh);
        set.spawn(async move {
            let t = Instant::now();
            let conn = if h == LOCAL {
                Conn::local_tagged(LOCAL, &format!("{}-{LOCAL}", sh2.run_id)).await
            } else {
                match sh2.inventory.target(&h) {
                    Some(t) if t.local => {
                        Conn::local_tagged(&h, &format!("{}-{h}", sh2.run_id)).await
                    }
                    Some(t) => {
                        let ep = Endpoint {
                            name: h.clone(),
                            address: t.address,
                            port: t.port,
                            user: t.user,
                            key_file: t.key_file,
                            local: false,
                            tag: format!("{}-{h}", sh2.run_id),
                            ssh: t.ssh,
                        };
                        Conn::ssh(&ep, &sh2.opts.ssh).await
                    }
                    None => Err(transport::TransportError::Connect(format!(
                        "`{h}` is not in the inventory"
                    ))),
                }
            };
            (h, conn, t.elapsed())
        });
    }
    let mut refused = false;
    while let Some(r) = set.join_next().await {
        let Ok((h, conn, took)) = r else {
            refused = true;
            continue;
        };
        match conn {
            Ok(c) => {
                send(Event::Connected {
                    host: h.clone(),
                    ms: ms(took),
                });
                let mut bindings = vec![None; sh.flow.bindings.len()];
                if let Some(saved) = sh.opts.resume.as_ref().and_then(|r| r.bindings.get(&h)) {
                    for (i, v) in saved {
                        if let Some(slot) = bindings.get_mut(*i) {
                            *slot = Some(eval::json_value(v.clone()));
                        }
                    }
                }
                states.insert(
                    h.clone(),
                    HostState {
                        name: h,
                        conn: c,
                        bindings,
                        step_opts: None,
                        deadline: None,
                    },
                );
            }
            Err(e) => {
                send(Event::ConnectFailed {
                    host: h,
                    error: e.to_string(),
                });
                refused = true;
            }
        }
    }
    let _ = sh.probers.set(
        states
            .iter()
            .map(|(h, s)| (h.clone(), s.conn.prober()))
            .collect(),
    );
    // One operator per cluster (inv. 19): a local lock file for every cluster the flow
    // acts on, and a lease lock in etcd for those it changes through the API.
    let mut _local_locks = Vec::new();
    if !refused {
        // Tunnels first: the locks may be taken through them.
        let setup = match etcd::open_tunnels(&sh, &states).await {
            Ok(()) => etcd::take_locks(&sh).await,
            Err(m) => Err(m),
        };
        match setup {
            Ok(files) => _local_locks = files,
            Err(m) => {
                send(Event::Log {
                    step: String::new(),
                    host: LOCAL.into(),
                    message: m,
                });
                refused = true;
            }
        }
    }
    if refused {
        for (_, s) in states {
            s.conn.close().await;
        }
        watcher.abort();
        sh.journal(Record::RunEnd {
            status: "refused".into(),
            exit_code: RunStatus::Refused.exit_code(),
        })
        .await;
        send(Event::RunDone {
            status: RunStatus::Refused,
            exit_code: RunStatus::Refused.exit_code(),
            ms: ms(t0.elapsed()),
        });
        return RunStatus::Refused;
    }

    // Steps.
    let (first, mut ran) = match &sh.opts.resume {
        Some(r) => (r.start_step, r.ran.clone()),
        None => (0, Vec::new()),
    };
    let mut failed_at: Option<usize> = None;
    let mut interrupted = false;
    for (i, step) in sh.flow.steps.iter().enumerate().skip(first) {
        if etcd::lock_lost(&sh).await {
            sh.interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            send(Event::Log {
                step: step.name.clone(),
                host: LOCAL.into(),
                message: "the cluster lock's lease was lost (inv. 19): no new work starts; `etcdflow resume` once the cluster is yours again".into(),
            });
        }
        if sh.interrupted() {
            interrupted = true;
            break;
        }
        let mut hosts: Vec<String> = match &prep.targets[i] {
            None => vec![LOCAL.to_string()],
            Some(h) => h.clone(),
        };
        // Facts are read fresh before every step that may use them.
        if sh.uses_facts {
            if let Err(e) = sh.refresh_facts().await {
                send(step_failed(
                    step,
                    format!("cannot read the cluster's facts: {e}"),
                ));
                failed_at = Some(i);
                ran.push((i, Vec::new()));
                break;
            }
        }
        let opts = {
            let empty = Vec::new();
            let bindings = states.get(LOCAL).map_or(&empty, |s| &s.bindings);
            options::evaluate(step, &sh.ctx(None, bindings, &[]))
        };
        let opts = match opts {
            Ok(o) => o,
            Err(e) => {
                send(step_failed(step, e.describe(&step.name)));
                failed_at = Some(i);
                ran.push((i, Vec::new()));
                break;
            }
        };
        if let Err(e) = order_step_hosts(&sh, step, &states, &mut hosts) {
            send(step_failed(step, format!("cannot order the hosts: {e}")));
            failed_at = Some(i);
            ran.push((i, Vec::new()));
            break;
        }
        if opts.run_once {
            hosts.truncate(1);
        }
        // Resuming inside a step: hosts that finished it are done; hosts whose outcome
        // is unknown run it again, and its guards (`creates:`, `removes:`, `when:`)
        // re-observe what is already there.
        let mut already = Vec::new();
        if let Some(r) = sh.opts.resume.as_ref().filter(|r| r.start_step == i) {
            already = hosts
                .iter()
                .filter(|h| r.done_hosts.contains(h))
                .cloned()
                .collect();
            hosts.retain(|h| !r.done_hosts.contains(h));
            for h in &r.unknown_hosts {
                send(Event::Log { step: step.name.clone(), host: h.clone(), message: "outcome unknown after the interruption: running the step again; its guards decide what is left to do".into() });
            }
        }
        let (mut started_on, ok) = run_step(&sh, i, &hosts, &mut states, false).await;
        started_on.extend(already);
        ran.push((i, started_on));
        if !ok {
            failed_at = Some(i);
            break;
        }
        if sh.interrupted() {
            interrupted = true;
            break;
        }
    }

    let rollback = |sh: Arc<Shared>,
                    ran: Vec<(usize, Vec<String>)>,
                    mut states: IndexMap<String, HostState>| async move {
        let with_rb: Vec<(usize, Vec<String>)> = ran
            .into_iter()
            .rev()
            .filter(|(s, _)| sh.flow.steps[*s].rollback.is_some())
            .collect();
        let _ = sh.events.send(Event::RollbackStarted {
            steps: with_rb
                .iter()
                .map(|(s, _)| sh.flow.steps[*s].name.clone())
                .collect(),
        });
        let mut all_ok = true;
        for (s, hosts) in &with_rb {
            // The reverse of the order the step ran in, with the step's own width.
            let hosts: Vec<String> = hosts.iter().rev().cloned().collect();
            let (_, ok) = run_step(&sh, *s, &hosts, &mut states, true).await;
            if !ok {
                all_ok = false;
                break;
            }
        }
        (all_ok, states)
    };
    let status = if interrupted && failed_at.is_none() {
        // On a terminal, offer the rollback; otherwise `--rollback-on-interrupt` decides.
        let offered = !sh.opts.rollback_on_interrupt
            && sh
                .opts
                .prompter
                .as_ref()
                .is_some_and(|p| p("interrupted: roll back the steps that ran?"));
        if sh.opts.rollback_on_interrupt || offered {
            let (ok, st) = rollback(Arc::clone(&sh), ran.clone(), states).await;
            states = st;
            if ok {
                RunStatus::FailedRolledBack
            } else {
                RunStatus::FailedRollbackFailed
            }
        } else {
            send(Event::Log {
                step: String::new(),
                host: LOCAL.into(),
                message: format!("interrupted: continue with `etcdflow resume {}`", sh.run_id),
            });
            RunStatus::Interrupted
        }
    } else {
        match failed_at {
            None => RunStatus::Success,
            Some(i) => {
                if let Some(msg) = &sh.flow.steps[i].no_return {
                    let cx = sh.ctx(None, &[], &[]);
                    let text = eval::render(msg, &cx, false).unwrap_or_else(|e| {
                        format!("(recovery message could not be rendered: {e})")
                    });
                    send(Event::NoReturn { message: text });
                    RunStatus::FailedNoRollback
                } else if sh.opts.no_rollback {
                    RunStatus::FailedNoRollback
                } else {
                    let (ok, st) = rollback(Arc::clone(&sh), ran.clone(), states).await;
                    states = st;
                    if ok {
                        RunStatus::FailedRolledBack
                    } else {
                        RunStatus::FailedRollbackFailed
                    }
                }
            }
        }
    };
    for (_, s) in states {
        s.conn.close().await;
    }
    watcher.abort();
    let status_name = serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    sh.journal(Record::RunEnd {
        status: status_name,
        exit_code: status.exit_code(),
    })
    .await;
    send(Event::RunDone {
        status,
        exit_code: status.exit_code(),
        ms: ms(t0.elapsed()),
    });
    status
}

/// A binding restored from the journal: scalars come back typed, records as JSON
/// (field access, comparison and interpolation work on both).
/// A step that fails on the controller before any host starts it.
fn step_failed(step: &ir::Step, error: String) -> Event {
    Event::HostDone {
        step: step.name.clone(),
        host: LOCAL.into(),
        ok: false,
        error: Some(error),
        ms: 0,
        rollback: false,
    }
}

/// Put a step's hosts in the order its `order:` asks for: `by(key)`/`reverse_by(key)`
/// per host, or an ordering value (`leader_last(c)`...) from the facts just read.
fn order_step_hosts(
    sh: &Shared,
    step: &ir::Step,
    states: &IndexMap<String, HostState>,
    hosts: &mut Vec<String>,
) -> Result<(), String> {
    let Some(Arg::Value(e)) = step.options.get("order") else {
        return Ok(());
    };
    if let ExprKind::Call { func, args } = &e.kind {
        if let (true, Some(key)) = (matches!(*func, "by" | "reverse_by"), args.first()) {
            *hosts = order_hosts(sh, states, hosts, key, *func == "reverse_by")?;
            return Ok(());
        }
    }
    let (c, leader_first) = match eval::eval(e, &sh.ctx(None, &[], &[]))? {
        Value::Ordering(value::Order::LeaderLast(c)) => (c, false),
        Value::Ordering(value::Order::LeaderFirst(c)) => (c, true),
        other => return Err(format!("`{}` is not an ordering", other.to_text())),
    };
    // Followers first and the leader last (or the reverse), as etcd facts say.
    let leader_host = match sh.ctx(None, &[], &[]).facts.get(c).cloned().flatten() {
        Some(Value::Record(m)) => match m.get("leader") {
            Some(Value::Record(l)) => match l.get("host") {
                Some(Value::Host(h)) => Some(h.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let Some(lh) = leader_host else {
        return Err("the cluster's leader is not known (no facts, or no leader)".into());
    };
    if let Some(pos) = hosts.iter().position(|h| *h == lh) {
        let l = hosts.remove(pos);
        if leader_first {
            hosts.insert(0, l);
        } else {
            hosts.push(l);
        }
    }
    Ok(())
}

fn base_with<'a>(base: &Ctx<'a>, hosts: &'a [Value]) -> Ctx<'a> {
    Ctx {
        hosts,
        ..base.clone()
    }
}

/// Whether a target expression may be empty: it takes an optional group somewhere.
fn may_be_empty(e: &ir::Expr, flow: &ir::Flow) -> bool {
    match &e.kind {
        ExprKind::Group { optional, .. } => *optional,
        ExprKind::Hosts(i) => flow
            .hosts
            .get(*i)
            .is_some_and(|h| may_be_empty(&h.value, flow)),
        ExprKind::Call { args, .. } => args.iter().any(|a| may_be_empty(a, flow)),
        ExprKind::Binary { lhs, rhs, .. } => may_be_empty(lhs, flow) || may_be_empty(rhs, flow),
        ExprKind::List(xs) => xs.iter().any(|a| may_be_empty(a, flow)),
        _ => false,
    }
}

/// Sort a step's hosts by a per-host key (stable: equal keys keep inventory order).
fn order_hosts(
    sh: &Shared,
    states: &IndexMap<String, HostState>,
    hosts: &[String],
    key: &ir::Expr,
    descending: bool,
) -> Result<Vec<String>, String> {
    let mut keyed = Vec::new();
    for h in hosts {
        let empty = Vec::new();
        let bindings = states.get(h).map_or(&empty, |s| &s.bindings);
        let cx = sh.ctx(Some(h), bindings, &[]);
        keyed.push((eval::eval(key, &cx)?, h.clone()));
    }
    let rank = |v: &Value| -> (u8, i128, String) {
        match v {
            Value::Int(n) => (0, i128::from(*n), String::new()),
            Value::Duration(n) | Value::Size(n) => (0, i128::from(*n), String::new()),
            Value::Bool(b) => (0, i128::from(*b), String::new()),
            Value::Json(j) if j.is_number() => {
                (0, j.as_f64().map_or(0, |f| f as i128), String::new())
            }
            Value::Str(s) => match s.trim().parse::<i128>() {
                Ok(n) => (0, n, String::new()),
                Err(_) => (1, 0, s.clone()),
            },
            other => (1, 0, other.to_text()),
        }
    };
    keyed.sort_by(|a, b| {
        let o = rank(&a.0).cmp(&rank(&b.0));
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    Ok(keyed.into_iter().map(|(_, h)| h).collect())
}

/// Run one step (or its rollback) on `hosts`. Returns the hosts where it started and
/// whether the step succeeded within its failure budget.
async fn run_step(
    sh: &Arc<Shared>,
    index: usize,
    hosts: &[String],
    states: &mut IndexMap<String, HostState>,
    rollback: bool,
) -> (Vec<String>, bool) {
    let step = &sh.flow.steps[index];
    let t0 = Instant::now();
    let name = if rollback {
        format!("{} (rollback)", step.name)
    } else {
        step.name.clone()
    };
    let _ = sh.events.send(Event::StepStarted {
        step: name.clone(),
        index,
        hosts: hosts.to_vec(),
    });
    sh.journal(crate::journal::Record::StepStart {
        step: index,
        name: step.name.clone(),
        hosts: hosts.to_vec(),
        rollback,
    })
    .await;
    let opts = {
        let empty = Vec::new();
        let bindings = states.get(LOCAL).map_or(&empty, |s| &s.bindings);
        options::evaluate(step, &sh.ctx(None, bindings, &[]))
    };
    let opts = match opts {
        Ok(o) => o,
        Err(e) => {
            let _ = sh.events.send(step_failed(step, e.describe(&step.name)));
            return (Vec::new(), false);
        }
    };
    // Fixed batches (`serial` is batches of 1): every host of a batch finishes before
    // the next batch starts; a rollback runs with the same width.
    let (width, batch) = match opts.width {
        options::Width::Parallel => (sh.opts.forks.max(1), None),
        options::Width::Batch(n) => (n.max(1), Some(n.max(1))),
    };
    let max_fail = if rollback { 0 } else { opts.max_fail };
    let (mut ok, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut started = Vec::new();
    let mut queue: std::collections::VecDeque<String> = hosts.iter().cloned().collect();
    let mut set: JoinSet<(HostState, Result<bool, Fail>, Duration)> = JoinSet::new();
    let mut stop = false;
    let mut in_batch = 0usize;
    // Hosts where the body ran (not skipped by `when`): a rollback runs there only.
    let mut ran_on = Vec::new();
    loop {
        // Ctrl-C / SIGTERM: start nothing new (a rollback still runs everywhere).
        if sh.interrupted() && !rollback {
            stop = true;
        }
        if let Some(n) = batch {
            if set.is_empty() && in_batch == n {
                in_batch = 0;
            }
            // Facts are read fresh before each batch of a rolling step.
            if set.is_empty() && in_batch == 0 && sh.uses_facts && !started.is_empty() && !stop {
                if let Err(e) = sh.refresh_facts().await {
                    let _ = sh.events.send(step_failed(
                        step,
                        format!("cannot read the cluster's facts: {e}"),
                    ));
                    failed += 1;
                    stop = true;
                }
            }
        }
        while !stop && set.len() < width && batch.is_none_or(|n| in_batch < n) {
            let Some(h) = queue.pop_front() else { break };
            in_batch += 1;
            let Some(state) = states.shift_remove(&h) else {
                continue;
            };
            started.push(h.clone());
            let sh2 = Arc::clone(sh);
            set.spawn(async move {
                let t = Instant::now();
                let mut state = state;
                let r = run_on_host(&sh2, index, &mut state, rollback).await;
                (state, r, t.elapsed())
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let Ok((state, result, took)) = joined else {
            failed += 1;
            stop = true;
            continue;
        };
        let host = state.name.clone();
        let made: Vec<(usize, serde_json::Value)> = if rollback {
            Vec::new()
        } else {
            sh.flow
                .bindings
                .iter()
                .enumerate()
                .filter(|(_, b)| b.step == index)
                .filter_map(|(i, _)| {
                    state
                        .bindings
                        .get(i)
                        .cloned()
                        .flatten()
                        .map(|v| (i, v.to_json()))
                })
                .collect()
        };
        sh.journal(crate::journal::Record::HostEnd {
            step: index,
            host: host.clone(),
            ok: result.is_ok(),
            skipped: matches!(result, Ok(false)),
            error: match &result {
                Err(Fail(m)) => Some(m.clone()),
                _ => None,
            },
            rollback,
            bindings: made,
        })
        .await;
        if !matches!(result, Ok(false)) {
            ran_on.push(host.clone());
        }
        match result {
            Ok(true) => {
                ok += 1;
                let _ = sh.events.send(Event::HostDone {
                    step: name.clone(),
                    host: host.clone(),
                    ok: true,
                    error: None,
                    ms: ms(took),
                    rollback,
                });
            }
            Ok(false) => skipped += 1,
            Err(Fail(msg)) => {
                failed += 1;
                let _ = sh.events.send(Event::HostDone {
                    step: name.clone(),
                    host: host.clone(),
                    ok: false,
                    error: Some(msg),
                    ms: ms(took),
                    rollback,
                });
                if failed > max_fail {
                    stop = true;
                }
            }
        }
        states.insert(host, state);
    }
    let _ = sh.events.send(Event::StepDone {
        step: name,
        ok,
        failed,
        skipped,
        ms: ms(t0.elapsed()),
    });
    // An interrupted step is not finished: no `step_end`, so `resume` picks it up.
    let finished = !(sh.interrupted() && !rollback && !queue.is_empty());
    if finished {
        sh.journal(crate::journal::Record::StepEnd {
            step: index,
            ok: failed <= max_fail,
            rollback,
        })
        .await;
    }
    started.retain(|h| ran_on.contains(h));
    (started, failed <= max_fail)
}

/// The step body on one host, with `when`, `timeout`, `retries`/`until`. `Ok(false)`
/// means skipped.
async fn run_on_host(
    sh: &Arc<Shared>,
    index: usize,
    hs: &mut HostState,
    rollback: bool,
) -> Result<bool, Fail> {
    let step = &sh.flow.steps[index];
    let host = if hs.name == LOCAL {
        None
    } else {
        Some(hs.name.clone())
    };
    if !rollback {
        if let Some(Arg::Value(cond)) = step.options.get("when") {
            let v = {
                let cx = sh.ctx(host.as_deref(), &hs.bindings, &[]);
                eval::eval(cond, &cx)?
            };
            if !v.truthy() {
                let _ = sh.events.send(Event::HostSkipped {
                    step: step.name.clone(),
                    host: hs.name.clone(),
                    reason: "`when` is false".into(),
                });
                return Ok(false);
            }
        }
    }
    let body: &[ir::Stmt] = if rollback {
        step.rollback.as_deref().unwrap_or(&[])
    } else {
        &step.body
    };
    let opts = options::evaluate(step, &sh.ctx(host.as_deref(), &hs.bindings, &[]))
        .map_err(|e| Fail(e.describe(&step.name)))?;
    let retries = if rollback { 0 } else { opts.retries };
    let delay = opts.delay;
    let deadline = opts.timeout;
    hs.step_opts = Some(opts);
    let mut attempt = 0;
    loop {
        let mut locals = Vec::new();
        hs.deadline = deadline.map(|d| Instant::now() + d);
        let fut = exec_block(sh, step, body, hs, &mut locals, rollback);
        // Every command's own deadline is cut to what is left of the step's, so the
        // remote `timeout` ends it there; this outer bound only catches a connection
        // that stops answering (the agent's kill grace is 5 s).
        let r = match deadline {
            Some(d) => match tokio::time::timeout(d + Duration::from_secs(7), fut).await {
                Ok(r) => r,
                Err(_) => Err(Fail(format!(
                    "step deadline of {} passed",
                    value::fmt_duration(ms(d))
                ))),
            },
            None => fut.await,
        };
        let r = match (r, step.options.get("until").filter(|_| !rollback)) {
            (Ok(()), Some(Arg::Value(cond))) => {
                let cx = sh.ctx(host.as_deref(), &hs.bindings, &[]);
                if eval::eval(cond, &cx)?.truthy() {
                    Ok(())
                } else {
                    Err(Fail("`until` is still false".into()))
                }
            }
            (r, _) => r,
        };
        match r {
            Ok(()) => return Ok(true),
            Err(e) if attempt >= retries => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
        }
    }
}

type BoxFut<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Fail>> + Send + 'a>>;

fn exec_block<'a>(
    sh: &'a Arc<Shared>,
    step: &'a ir::Step,
    stmts: &'a [ir::Stmt],
    hs: &'a mut HostState,
    locals: &'a mut Vec<(String, Value)>,
    rollback: bool,
) -> BoxFut<'a> {
    Box::pin(async move {
        let depth = locals.len();
        for s in stmts {
            let host = if hs.name == LOCAL {
                None
            } else {
                Some(hs.name.clone())
            };
            macro_rules! cx {
                () => {
                    sh.ctx(host.as_deref(), &hs.bindings, locals)
                };
            }
            match s {
                ir::Stmt::Action(a) => {
                    action(sh, step, a, hs, locals, rollback).await?;
                }
                ir::Stmt::Let { binding, value } => {
                    let v = match value {
                        ir::LetValue::Action(a) => {
                            action(sh, step, a, hs, locals, rollback).await?
                        }
                        ir::LetValue::Expr(e) => eval::eval(e, &cx!())?,
                    };
                    match binding {
                        ir::BindingRef::Flow(i) => {
                            if let Some(slot) = hs.bindings.get_mut(*i) {
                                *slot = Some(v);
                            }
                        }
                        ir::BindingRef::Local(n) => locals.push((n.clone(), v)),
                    }
                }
                ir::Stmt::Assert { cond, message, .. } => {
                    let ok = eval::eval(cond, &cx!())?.truthy();
                    if !ok {
                        let msg = match message {
                            Some(m) => eval::render(m, &cx!(), false)?,
                            None => "assertion failed".into(),
                        };
                        return Err(Fail(format!("assert: {msg}")));
                    }
                }
                ir::Stmt::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let c = eval::eval(cond, &cx!())?.truthy();
                    exec_block(
                        sh,
                        step,
                        if c { then } else { otherwise },
                        hs,
                        locals,
                        rollback,
                    )
                    .await?;
                }
                ir::Stmt::For { var, iter, body } => {
                    let items = match eval::eval(iter, &cx!())? {
                        Value::List(xs) => xs,
                        Value::Hosts(hs) => hs.into_iter().map(Value::Host).collect(),
                        Value::Map(m) => m.into_keys().map(Value::Str).collect(),
                        Value::Json(serde_json::Value::Array(a)) => {
                            a.into_iter().map(eval::json_value).collect()
                        }
                        Value::Json(serde_json::Value::Object(m)) => {
                            m.into_iter().map(|(k, _)| Value::Str(k)).collect()
                        }
                        Value::Json(serde_json::Value::Null) | Value::None => Vec::new(),
                        other => {
                            return Err(Fail(format!(
                                "`for {var} in ...`: `{}` is not a list, a map or hosts",
                                other.to_text()
                            )))
                        }
                    };
                    for item in items {
                        locals.push((var.clone(), item));
                        let r = exec_block(sh, step, body, hs, locals, rollback).await;
                        locals.pop();
                        r?;
                    }
                }
            }
        }
        locals.truncate(depth);
        Ok(())
    })
}

/// An action's count argument (`retries:`): an int of at least 0, or an error naming it.
fn arg_count(a: &ir::Action, k: &str, cx: &Ctx<'_>) -> Result<Option<usize>, Fail> {
    match arg(a, k).map(|e| eval::eval(e, cx)).transpose()? {
        None => Ok(None),
        Some(Value::Int(n)) if n >= 0 => Ok(usize::try_from(n).ok()),
        Some(v) => Err(Fail(format!(
            "{}: `{k}` must be 0 or more, the value is `{}`",
            action_label(a),
            v.to_text()
        ))),
    }
}

/// An action's duration argument, or an error naming it.
fn arg_duration(a: &ir::Action, k: &str, cx: &Ctx<'_>) -> Result<Option<Duration>, Fail> {
    match arg(a, k).map(|e| eval::eval(e, cx)).transpose()? {
        None => Ok(None),
        Some(Value::Duration(ms)) => Ok(Some(Duration::from_millis(ms))),
        Some(v) => Err(Fail(format!(
            "{}: `{k}` must be a duration, the value is `{}`",
            action_label(a),
            v.to_text()
        ))),
    }
}

fn arg<'a>(a: &'a ir::Action, k: &str) -> Option<&'a ir::Expr> {
    match a.args.get(k) {
        Some(Arg::Value(e)) => Some(e),
        _ => None,
    }
}

fn action_label(a: &ir::Action) -> &'static str {
    match a.kind {
        ActionKind::Run => "run",
        ActionKind::Copy => "copy",
        ActionKind::Fetch => "fetch",
        ActionKind::Template => "template",
        ActionKind::Wait => "wait",
        ActionKind::Fail => "fail",
        ActionKind::Confirm => "confirm",
        ActionKind::Log => "log",
        ActionKind::Etcd(_) => crate::check::schema::actions()
            .iter()
            .find(|s| s.kind == a.kind)
            .map_or("etcd", |s| s.verb),
    }
}

/// One action, journaled before and after (SAFETY.md inv. 18).
async fn action(
    sh: &Arc<Shared>,
    step: &ir::Step,
    a: &ir::Action,
    hs: &mut HostState,
    locals: &mut [(String, Value)],
    rollback: bool,
) -> Result<Value, Fail> {
    use crate::journal::Record;
    let index = sh
        .flow
        .steps
        .iter()
        .position(|s| std::ptr::eq(s, step))
        .unwrap_or(usize::MAX);
    let label = action_label(a).to_string();
    let journaled = !matches!(
        a.kind,
        ActionKind::Log | ActionKind::Fail | ActionKind::Wait
    );
    if journaled {
        sh.journal(Record::ActionStart {
            step: index,
            host: hs.name.clone(),
            action: label.clone(),
            rollback,
        })
        .await;
    }
    let r = action_inner(sh, step, a, hs, locals, rollback).await;
    if journaled {
        let field = |k: &str| match &r {
            Ok(Value::Record(m)) => m.get(k).cloned(),
            _ => None,
        };
        let rc = match field("rc") {
            Some(Value::Int(n)) => i32::try_from(n).ok(),
            _ => None,
        };
        // The identities an action created go to the journal (inv. 18).
        let detail = match (&r, field("sha256"), field("id")) {
            (Err(Fail(m)), _, _) => Some(m.clone()),
            (Ok(_), Some(sha), _) => Some(match field("revision") {
                Some(rev) => format!(
                    "sha256 {} revision {} keys {}",
                    sha.to_text(),
                    rev.to_text(),
                    field("key_count").map(|k| k.to_text()).unwrap_or_default()
                ),
                None => format!("sha256 {}", sha.to_text()),
            }),
            (Ok(_), None, Some(id)) => Some(format!("member id {}", id.to_text())),
            _ => None,
        };
        sh.journal(Record::ActionEnd {
            step: index,
            host: hs.name.clone(),
            action: label,
            ok: r.is_ok(),
            rc,
            changed: matches!(field("changed"), Some(Value::Bool(true))) || rc.is_some(),
            rollback,
            detail,
        })
        .await;
    }
    r
}

async fn action_inner(
    sh: &Arc<Shared>,
    step: &ir::Step,
    a: &ir::Action,
    hs: &mut HostState,
    locals: &mut [(String, Value)],
    rollback: bool,
) -> Result<Value, Fail> {
    let t0 = Instant::now();
    let host = if hs.name == LOCAL {
        None
    } else {
        Some(hs.name.clone())
    };
    let cx = sh.ctx(host.as_deref(), &hs.bindings, locals);
    let step_opts = hs
        .step_opts
        .clone()
        .unwrap_or_else(|| options::StepOptions {
            width: options::Width::Parallel,
            timeout: None,
            retries: 0,
            delay: Duration::from_secs(1),
            max_fail: 0,
            run_once: false,
            become_: false,
            become_user: None,
        });
    let own_timeout = match arg(a, "timeout").map(|e| eval::eval(e, &cx)).transpose()? {
        Some(Value::Duration(0)) => {
            return Err(Fail(format!(
                "{}: `timeout: 0s` would end the command at once",
                action_label(a)
            )))
        }
        Some(Value::Duration(ms)) => Some(Duration::from_millis(ms)),
        Some(v) => {
            return Err(Fail(format!(
                "{}: `timeout` must be a duration, the value is `{}`",
                action_label(a),
                v.to_text()
            )))
        }
        None => None,
    };
    // A command's deadline: its own `timeout:`, else the step's, else the default; never
    // past what is left of the step's deadline.
    let mut timeout = own_timeout
        .or(step_opts.timeout)
        .unwrap_or(sh.opts.default_timeout);
    if let Some(end) = hs.deadline {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fail("step deadline passed".into()));
        }
        timeout = timeout.min(left);
    }
    let target = host.as_deref().and_then(|h| sh.inventory.target(h));
    let inventory_become = target.as_ref().is_some_and(|t| t.become_);
    let become_user = if a.args.contains_key("become")
        || step_opts.become_
        || arg(a, "become_user").is_some()
        || step_opts.become_user.is_some()
        || inventory_become
    {
        Some(match arg(a, "become_user") {
            Some(e) => eval::eval(e, &cx)?.to_text(),
            None => match &step_opts.become_user {
                Some(u) => u.clone(),
                None => target
                    .as_ref()
                    .and_then(|t| t.vars.get("ansible_become_user").cloned())
                    .unwrap_or_else(|| "root".to_string()),
            },
        })
    } else {
        None
    };
    // Ansible's inventory variables for the sudo password; they never reach argv or logs.
    let become_password = target.as_ref().and_then(|t| {
        t.vars
            .get("ansible_become_password")
            .or_else(|| t.vars.get("ansible_become_pass"))
            .cloned()
    });
    let label = action_label(a);
    let (result, rc, changed) = match a.kind {
        ActionKind::Run => {
            let Some(cmd_expr) = &a.positional else {
                return Err(Fail("`run` without a command".into()));
            };
            let command = match &cmd_expr.kind {
                ExprKind::List(items) => {
                    let mut argv = Vec::new();
                    let mut after_dashdash = false;
                    for it in items {
                        let v = eval::eval(it, &cx)?;
                        if matches!(v, Value::Secret(_)) {
                            return Err(Fail(
                                "this is a bug in etcdflow: a secret reached argv".into(),
                            ));
                        }
                        let text = v.to_text();
                        // The author's own flag: a literal, or a string whose text
                        // begins with the author's characters (`"--name={{ n }}"`).
                        let literal = match &it.kind {
                            ExprKind::Str(_) => true,
                            ExprKind::Interp(parts) => {
                                matches!(parts.first(), Some(ir::InterpPart::Text(t)) if !t.is_empty())
                            }
                            _ => false,
                        };
                        if !literal && !after_dashdash && text.starts_with('-') && !argv.is_empty()
                        {
                            return Err(Fail(format!("argument `{text}` starts with `-` and would be read as an option; put \"--\" before it (SAFETY.md inv. 20)")));
                        }
                        after_dashdash |= text == "--";
                        argv.push(text);
                    }
                    transport::CommandLine::Argv(argv)
                }
                _ => transport::CommandLine::Shell(eval::render(cmd_expr, &cx, true)?),
            };
            let stdin = match arg(a, "stdin").map(|e| eval::eval(e, &cx)).transpose()? {
                Some(Value::Secret(s)) => Some(s.expose().to_string()),
                Some(v) => Some(v.to_text()),
                None => None,
            };
            let cwd = arg(a, "cwd")
                .map(|e| eval::eval(e, &cx))
                .transpose()?
                .map(|v| v.to_text());
            if let Some(d) = &cwd {
                crate::values::remote_path(d).map_err(|m| Fail(format!("run: `cwd`: {m}")))?;
            }
            let env: Vec<(String, String)> =
                match arg(a, "env").map(|e| eval::eval(e, &cx)).transpose()? {
                    Some(Value::Map(m)) => m.into_iter().map(|(k, v)| (k, v.to_text())).collect(),
                    Some(Value::Json(serde_json::Value::Object(m))) => m
                        .into_iter()
                        .map(|(k, v)| (k, eval::json_value(v).to_text()))
                        .collect(),
                    None => Vec::new(),
                    Some(other) => {
                        return Err(Fail(format!(
                            "run: `env` must be a map, the value is `{}`",
                            other.to_text()
                        )))
                    }
                };
            for (k, _) in &env {
                crate::values::env_name(k).map_err(|m| Fail(format!("run: `env`: {m}")))?;
            }
            let ok_codes: Vec<i64> =
                match arg(a, "ok_codes").map(|e| eval::eval(e, &cx)).transpose()? {
                    Some(Value::List(xs)) => xs
                        .iter()
                        .map(|x| match x {
                            Value::Int(n) => Ok(*n),
                            other => Err(Fail(format!(
                                "run: `ok_codes`: `{}` is not an exit code",
                                other.to_text()
                            ))),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(other) => {
                        return Err(Fail(format!(
                            "run: `ok_codes` must be a list of exit codes, the value is `{}`",
                            other.to_text()
                        )))
                    }
                    None => vec![0],
                };
            let creates = arg(a, "creates")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            let removes = arg(a, "removes")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            let retries = arg_count(a, "retries", &cx)?.unwrap_or(0);
            let delay = arg_duration(a, "delay", &cx)?.unwrap_or(Duration::from_secs(1));
            let req = ExecRequest {
                command,
                stdin,
                timeout,
                cwd,
                env,
                become_user,
                become_password,
            };
            let mut skip = false;
            if let Some(p) = &creates {
                skip |= hs
                    .conn
                    .exec(&ExecRequest::argv(["test", "-e", p.as_str()], timeout))
                    .await?
                    .rc
                    == 0;
            }
            if let Some(p) = &removes {
                skip |= hs
                    .conn
                    .exec(&ExecRequest::argv(["test", "-e", p.as_str()], timeout))
                    .await?
                    .rc
                    != 0;
            }
            if skip {
                (
                    command_record(0, true, b"", b"", Duration::ZERO, true),
                    Some(0),
                    false,
                )
            } else {
                let mut attempt = 0;
                let r = loop {
                    let r = hs.conn.exec(&req).await?;
                    if ok_codes.contains(&i64::from(r.rc)) || attempt >= retries {
                        break r;
                    }
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                };
                if sh.opts.verbose {
                    for (stream, bytes) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                        if !bytes.is_empty() {
                            let _ = sh.events.send(Event::Output {
                                step: step.name.clone(),
                                host: hs.name.clone(),
                                stream,
                                text: String::from_utf8_lossy(bytes).into_owned(),
                            });
                        }
                    }
                }
                if let Some(j) = &sh.journal {
                    let shown = match &req.command {
                        transport::CommandLine::Shell(s) => s.clone(),
                        transport::CommandLine::Argv(v) => v
                            .iter()
                            .map(|w| transport::agent::quote(w))
                            .collect::<Vec<_>>()
                            .join(" "),
                    };
                    j.host_log(
                        &hs.name,
                        &format!(
                            "$ {shown}\n{}{}[exit {}{}]\n",
                            String::from_utf8_lossy(&r.stdout),
                            String::from_utf8_lossy(&r.stderr),
                            r.rc,
                            if r.timed_out { ", deadline" } else { "" }
                        ),
                    );
                }
                let ok = ok_codes.contains(&i64::from(r.rc));
                if !ok {
                    let why = if r.timed_out {
                        format!("deadline of {} passed", value::fmt_duration(ms(timeout)))
                    } else {
                        format!("exit code {}", r.rc)
                    };
                    let err = String::from_utf8_lossy(&r.stderr);
                    let tail: String = err
                        .trim()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .chars()
                        .take(300)
                        .collect();
                    let _ = sh.events.send(Event::ActionDone {
                        step: step.name.clone(),
                        host: hs.name.clone(),
                        action: label.into(),
                        rc: Some(r.rc),
                        ms: ms(t0.elapsed()),
                        changed: true,
                        rollback,
                    });
                    return Err(Fail(if tail.is_empty() {
                        format!("command failed: {why}")
                    } else {
                        format!("command failed: {why}: {tail}")
                    }));
                }
                (
                    command_record(r.rc, ok, &r.stdout, &r.stderr, r.duration, false),
                    Some(r.rc),
                    true,
                )
            }
        }
        ActionKind::Copy | ActionKind::Template => {
            let dest = eval::render(arg(a, "to").ok_or(Fail("no `to:`".into()))?, &cx, false)?;
            let data: Vec<u8> = if a.kind == ActionKind::Template {
                let id = a.template.ok_or(Fail(
                    "this is a bug in etcdflow: a template without source".into(),
                ))?;
                let mut ctx = serde_json::Map::new();
                for (p, v) in sh.flow.params.iter().zip(&sh.params) {
                    if !matches!(v, Value::Secret(_)) {
                        ctx.insert(p.name.clone(), v.to_json());
                    }
                }
                if let Some(h) = &host {
                    let mut hm = serde_json::Map::new();
                    for f in ["name", "address", "port", "user"] {
                        if let Ok(v) = eval::eval(
                            &ir::Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(ir::Expr {
                                        kind: ExprKind::CurrentHost,
                                        ty: crate::check::types::Ty::Host,
                                        span: a.span,
                                    }),
                                    field: f.into(),
                                },
                                ty: crate::check::types::Ty::Str,
                                span: a.span,
                            },
                            &cx,
                        ) {
                            hm.insert(f.to_string(), v.to_json());
                        }
                    }
                    hm.insert(
                        "vars".into(),
                        eval::eval(
                            &ir::Expr {
                                kind: ExprKind::Field {
                                    base: Box::new(ir::Expr {
                                        kind: ExprKind::CurrentHost,
                                        ty: crate::check::types::Ty::Host,
                                        span: a.span,
                                    }),
                                    field: "vars".into(),
                                },
                                ty: crate::check::types::Ty::Str,
                                span: a.span,
                            },
                            &cx,
                        )
                        .map(|v| v.to_json())
                        .unwrap_or_default(),
                    );
                    let _ = h;
                    ctx.insert("host".into(), serde_json::Value::Object(hm));
                }
                if let Some(Value::Map(m)) =
                    arg(a, "vars").map(|e| eval::eval(e, &cx)).transpose()?
                {
                    for (k, v) in m {
                        ctx.insert(k, v.to_json());
                    }
                }
                let src = sh.sources.text(id);
                crate::template::render(sh.sources.name(id), src, &serde_json::Value::Object(ctx))
                    .map_err(|e| Fail(format!("template {}: {}", sh.sources.name(id), e.message)))?
                    .into_bytes()
            } else if let Some(e) = arg(a, "content") {
                match eval::eval(e, &cx)? {
                    Value::Secret(s) => s.expose().as_bytes().to_vec(),
                    v => v.to_text().into_bytes(),
                }
            } else {
                let src = eval::render(
                    a.positional
                        .as_ref()
                        .ok_or(Fail("`copy` without a source".into()))?,
                    &cx,
                    false,
                )?;
                let path = sh.opts.flow_dir.join(&src);
                tokio::fs::read(&path)
                    .await
                    .map_err(|e| Fail(format!("cannot read {}: {e}", path.display())))?
            };
            let mode = arg(a, "mode")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            if let Some(m) = &mode {
                crate::values::mode(m)
                    .map_err(|why| Fail(format!("{}: `mode`: {why}", action_label(a))))?;
            }
            let owner = arg(a, "owner")
                .map(|e| eval::render(e, &cx, false))
                .transpose()?;
            if let Some(o) = &owner {
                crate::values::owner(o)
                    .map_err(|why| Fail(format!("{}: `owner`: {why}", action_label(a))))?;
            }
            crate::values::remote_path(&dest)
                .map_err(|why| Fail(format!("{}: `to`: {why}", action_label(a))))?;
            let size = data.len() as u64;
            let (sha, changed) = hs
                .conn
                .put(
                    &data,
                    &dest,
                    mode.as_deref(),
                    owner.as_deref(),
                    timeout,
                    become_user
                        .as_deref()
                        .map(|u| (u, become_password.as_deref())),
                )
                .await?;
            (file_record(&dest, &sha, size, changed), None, changed)
        }
        ActionKind::Fetch => {
            let src = eval::render(
                a.positional
                    .as_ref()
                    .ok_or(Fail("`fetch` without a source".into()))?,
                &cx,
                false,
            )?;
            let dest = eval::render(arg(a, "to").ok_or(Fail("no `to:`".into()))?, &cx, false)?;
            let (sha, size) = hs
                .conn
                .fetch(
                    &src,
                    std::path::Path::new(&dest),
                    timeout,
                    become_user
                        .as_deref()
                        .map(|u| (u, become_password.as_deref())),
                )
                .await?;
            (file_record(&dest, &sha, size, true), None, true)
        }
        ActionKind::Wait => {
            let every = arg_duration(a, "every", &cx)?
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(50));
            // Its own `timeout:` (default 5m), never past what is left of the step's.
            let mut limit = own_timeout.unwrap_or(Duration::from_secs(300));
            if let Some(end) = hs.deadline {
                limit = limit.min(end.saturating_duration_since(Instant::now()));
            }
            let probe = if let Some(p) = arg(a, "port") {
                let port = eval::eval(p, &cx)?.to_text();
                let addr = arg(a, "address")
                    .map(|e| eval::render(e, &cx, false))
                    .transpose()?
                    .unwrap_or_default();
                let want_open = !a.args.contains_key("closed");
                Some((port_probe(&port, &addr), want_open))
            } else if let Some(p) = arg(a, "path") {
                let path = eval::render(p, &cx, false)?;
                Some((
                    format!("test -e {}", transport::agent::quote(&path)),
                    !a.args.contains_key("absent"),
                ))
            } else {
                None
            };
            let start = Instant::now();
            loop {
                let done = match &probe {
                    Some((cmd, want)) => {
                        let r = hs
                            .conn
                            .exec(&ExecRequest::shell(cmd.clone(), Duration::from_secs(10)))
                            .await?;
                        if r.rc == 2 {
                            return Err(Fail("cannot probe ports on this host: it has neither `ss`, `nc` nor `bash`".into()));
                        }
                        (r.rc == 0) == *want
                    }
                    None => {
                        let cond =
                            arg(a, "until").ok_or(Fail("`wait` without a condition".into()))?;
                        if sh.uses_facts {
                            // A fact that is not readable yet (etcd still starting) is "not yet".
                            if sh.refresh_facts().await.is_err() {
                                tokio::time::sleep(every).await;
                                if start.elapsed() >= limit {
                                    return Err(Fail(format!(
                                        "waited {} and the cluster's facts are still unreadable",
                                        value::fmt_duration(ms(limit))
                                    )));
                                }
                                continue;
                            }
                        }
                        let cx = sh.ctx(host.as_deref(), &hs.bindings, locals);
                        eval::eval(cond, &cx)?.truthy()
                    }
                };
                if done {
                    break;
                }
                if start.elapsed() >= limit {
                    return Err(Fail(format!(
                        "waited {} and the condition still does not hold",
                        value::fmt_duration(ms(limit))
                    )));
                }
                tokio::time::sleep(every).await;
            }
            (Value::None, None, false)
        }
        ActionKind::Fail => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => "failed".into(),
            };
            return Err(Fail(msg));
        }
        ActionKind::Log => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => String::new(),
            };
            let _ = sh.events.send(Event::Log {
                step: step.name.clone(),
                host: hs.name.clone(),
                message: msg,
            });
            (Value::None, None, false)
        }
        ActionKind::Confirm => {
            let msg = match &a.positional {
                Some(m) => eval::render(m, &cx, false)?,
                None => "continue?".into(),
            };
            let yes = sh.opts.yes || sh.opts.prompter.as_ref().is_some_and(|p| p(&msg));
            let index = sh
                .flow
                .steps
                .iter()
                .position(|s| std::ptr::eq(s, step))
                .unwrap_or(usize::MAX);
            sh.journal(crate::journal::Record::Confirm {
                step: index,
                host: hs.name.clone(),
                message: msg.clone(),
                answer: yes,
            })
            .await;
            let _ = sh.events.send(Event::Log {
                step: step.name.clone(),
                host: hs.name.clone(),
                message: format!("confirm: {msg} -> {}", if yes { "yes" } else { "no" }),
            });
            if !yes {
                return Err(Fail(format!("not confirmed: {msg}")));
            }
            (Value::None, None, false)
        }
        ActionKind::Etcd(op) => {
            let h = etcd::Host {
                name: &hs.name,
                conn: &mut hs.conn,
            };
            etcd::action(sh, op, a, &cx, h, timeout, become_user.clone()).await?
        }
    };
    let _ = sh.events.send(Event::ActionDone {
        step: step.name.clone(),
        host: hs.name.clone(),
        action: label.into(),
        rc,
        ms: ms(t0.elapsed()),
        changed,
        rollback,
    });
    Ok(result)
}

/// Exit 0 when the port is open (listening, or accepting at `addr`), 1 when not, 2 when
/// the host has no tool to tell.
fn port_probe(port: &str, addr: &str) -> String {
    let p = transport::agent::quote(port);
    let a = transport::agent::quote(addr);
    format!(
        "p={p}; a={a}\nif [ -z \"$a\" ] && command -v ss >/dev/null 2>&1; then ss -Hltn \"sport = :$p\" | grep -q .; exit $?; fi\na=${{a:-127.0.0.1}}\nif command -v nc >/dev/null 2>&1; then nc -z -w 1 \"$a\" \"$p\" >/dev/null 2>&1; exit $?; fi\nif command -v bash >/dev/null 2>&1; then timeout 2 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$a\" \"$p\" 2>/dev/null; exit $?; fi\nexit 2"
    )
}

fn command_record(
    rc: i32,
    ok: bool,
    stdout: &[u8],
    stderr: &[u8],
    took: Duration,
    skipped: bool,
) -> Value {
    let out = String::from_utf8_lossy(stdout).into_owned();
    let mut m: IndexMap<&'static str, Value> = IndexMap::new();
    m.insert("rc", Value::Int(i64::from(rc)));
    m.insert("ok", Value::Bool(ok));
    m.insert(
        "lines",
        Value::List(out.lines().map(|l| Value::Str(l.to_string())).collect()),
    );
    m.insert(
        "json",
        Value::Json(serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)),
    );
    m.insert("stdout", Value::Str(out));
    m.insert(
        "stderr",
        Value::Str(String::from_utf8_lossy(stderr).into_owned()),
    );
    m.insert("duration", Value::Duration(ms(took)));
    m.insert("skipped", Value::Bool(skipped));
    Value::Record(m)
}

fn file_record(path: &str, sha: &str, size: u64, changed: bool) -> Value {
    let mut m: IndexMap<&'static str, Value> = IndexMap::new();
    m.insert("path", Value::Str(path.to_string()));
    m.insert("sha256", Value::Str(sha.to_string()));
    m.insert("size", Value::Size(size));
    m.insert("changed", Value::Bool(changed));
    Value::Record(m)
}

/// Hosts that are used by the flow but absent from the inventory (for `plan`).
pub fn missing_hosts(prep: &Prepared) -> BTreeSet<String> {
    let (all, _) = prep.all_hosts();
    all.into_iter()
        .filter(|h| prep.shared.inventory.target(h).is_none())
        .collect()
}
