//! What each action, step option and cluster field accepts. One table drives the
//! checker, `explain`, the README's reference and (later) the runtime's argument
//! decoding, so they cannot drift apart.

use super::types::{Record, Ty};
use crate::ir::{ActionKind, EtcdOp};
use std::sync::OnceLock;

#[derive(Clone, Debug)]
pub enum ArgTy {
    T(Ty),
    /// A shell string or an argv list.
    Command,
    /// Text that may also be a `secret` (stdin, file content): the only secret sinks.
    Text,
    /// A string literal among these.
    Choice(&'static [&'static str]),
    /// An octal file mode in a string (`"0644"`).
    Mode,
    /// A path on the controller (may be relative to the flow file).
    LocalPath,
    /// A path on a target host: absolute.
    RemotePath,
    /// A map of values for a template: never secrets.
    Vars,
    /// The name of a declared cluster.
    ClusterName,
    Flag,
}

#[derive(Clone, Debug)]
pub struct ArgSpec {
    pub name: &'static str,
    pub ty: ArgTy,
    pub required: bool,
    pub doc: &'static str,
}

#[derive(Clone, Debug)]
pub struct ActionSpec {
    pub verb: &'static str,
    pub kind: ActionKind,
    pub doc: &'static str,
    /// The positional argument's name (for messages), type and whether it is required.
    pub positional: Option<(&'static str, ArgTy, bool)>,
    pub args: Vec<ArgSpec>,
    /// Groups of which exactly one must be given (`"_"` is the positional argument).
    pub one_of: Vec<&'static [&'static str]>,
    /// Groups of which at least one must be given.
    pub any_of: Vec<&'static [&'static str]>,
    /// Pairs that cannot be used together.
    pub conflicts: Vec<(&'static str, &'static str)>,
    pub result: Ty,
    /// Changes something on a host or in etcd (the journal and `lint` care).
    pub mutating: bool,
}

impl ActionSpec {
    pub fn arg(&self, name: &str) -> Option<&ArgSpec> {
        self.args.iter().find(|a| a.name == name)
    }
}

fn a(name: &'static str, ty: ArgTy, doc: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: false,
        doc,
    }
}

fn req(name: &'static str, ty: ArgTy, doc: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        required: true,
        doc,
    }
}

fn t(ty: Ty) -> ArgTy {
    ArgTy::T(ty)
}

fn common_remote() -> Vec<ArgSpec> {
    vec![
        a(
            "on",
            t(Ty::Host),
            "run this one action on another host (delegation; `host` stays the step's host)",
        ),
        a(
            "timeout",
            t(Ty::Duration),
            "deadline for this action; the remote process is ended when it passes",
        ),
        a("become", ArgTy::Flag, "run through sudo"),
        a(
            "become_user",
            t(Ty::Str),
            "sudo to this user (implies `become`)",
        ),
    ]
}

fn with_cluster(mut args: Vec<ArgSpec>) -> Vec<ArgSpec> {
    args.push(a(
        "cluster",
        ArgTy::ClusterName,
        "the cluster (required when the flow declares several)",
    ));
    args.push(a(
        "timeout",
        t(Ty::Duration),
        "deadline for the etcd request(s)",
    ));
    args
}

#[allow(clippy::too_many_arguments)]
fn spec(
    verb: &'static str,
    kind: ActionKind,
    doc: &'static str,
    positional: Option<(&'static str, ArgTy, bool)>,
    args: Vec<ArgSpec>,
    result: Ty,
    mutating: bool,
) -> ActionSpec {
    ActionSpec {
        verb,
        kind,
        doc,
        positional,
        args,
        one_of: Vec::new(),
        any_of: Vec::new(),
        conflicts: Vec::new(),
        result,
        mutating,
    }
}

fn etcd(
    verb: &'static str,
    op: EtcdOp,
    doc: &'static str,
    args: Vec<ArgSpec>,
    result: Ty,
    mutating: bool,
) -> ActionSpec {
    spec(
        verb,
        ActionKind::Etcd(op),
        doc,
        None,
        with_cluster(args),
        result,
        mutating,
    )
}

pub fn actions() -> &'static [ActionSpec] {
    static SPECS: OnceLock<Vec<ActionSpec>> = OnceLock::new();
    SPECS.get_or_init(build_actions)
}

pub fn action(verb: &str) -> Option<&'static ActionSpec> {
    actions().iter().find(|s| s.verb == verb)
}

/// The spec of an action kind (the one lookup the runtime, `plan` and `lint` use).
pub fn spec_of(kind: ActionKind) -> Option<&'static ActionSpec> {
    actions().iter().find(|s| s.kind == kind)
}

/// The verb an action kind is written with (`run`, `etcd.member_add`...).
pub fn verb_of(kind: ActionKind) -> &'static str {
    spec_of(kind).map_or("action", |s| s.verb)
}

fn build_actions() -> Vec<ActionSpec> {
    use ActionKind as K;
    use EtcdOp as E;
    let rec = Ty::Record;
    let mut v = Vec::new();

    let mut run_args = common_remote();
    run_args.extend([
        a(
            "stdin",
            ArgTy::Text,
            "text fed to the command's standard input (the place for secrets)",
        ),
        a("cwd", ArgTy::RemotePath, "working directory"),
        a(
            "env",
            t(Ty::Map(Box::new(Ty::Str))),
            "environment variables",
        ),
        a(
            "creates",
            ArgTy::RemotePath,
            "skip the command when this path exists (idempotency)",
        ),
        a(
            "removes",
            ArgTy::RemotePath,
            "skip the command when this path does not exist",
        ),
        a(
            "ok_codes",
            t(Ty::list(Ty::Int)),
            "exit codes that count as success (default [0])",
        ),
        a(
            "retries",
            t(Ty::Int),
            "retry a failing command this many times",
        ),
        a("delay", t(Ty::Duration), "pause between retries"),
    ]);
    v.push(spec("run", K::Run, "run a command on each target host; a string runs under `sh -c` with every interpolated value shell-quoted, a list runs as argv", Some(("command", ArgTy::Command, true)), run_args, rec(Record::CommandResult), true));

    let mut copy_args = common_remote();
    copy_args.extend([
        req("to", ArgTy::RemotePath, "destination on the host; written to a temporary file, verified by sha256, renamed into place"),
        a("content", ArgTy::Text, "write this text instead of a file (may be a secret)"),
        a("mode", ArgTy::Mode, "file mode, e.g. \"0644\""),
        a("owner", t(Ty::Str), "owner as `user` or `user:group`"),
    ]);
    let mut copy = spec(
        "copy",
        K::Copy,
        "copy a controller file (or `content:`) to each target host",
        Some(("source", ArgTy::LocalPath, false)),
        copy_args,
        rec(Record::FileResult),
        true,
    );
    copy.one_of.push(&["_", "content"]);
    v.push(copy);

    let mut fetch_args = common_remote();
    fetch_args.push(req(
        "to",
        ArgTy::LocalPath,
        "destination on the controller (interpolate `host.name` to keep hosts apart)",
    ));
    v.push(spec(
        "fetch",
        K::Fetch,
        "copy a file from each target host to the controller, verified by sha256",
        Some(("source", ArgTy::RemotePath, true)),
        fetch_args,
        rec(Record::FileResult),
        false,
    ));

    let mut tpl_args = common_remote();
    tpl_args.extend([
        req("to", ArgTy::RemotePath, "destination on the host"),
        a(
            "vars",
            ArgTy::Vars,
            "values the template may use, besides the flow's params and `host`",
        ),
        a("mode", ArgTy::Mode, "file mode, e.g. \"0644\""),
        a("owner", t(Ty::Str), "owner as `user` or `user:group`"),
    ]);
    v.push(spec("template", K::Template, "render a minijinja template (strict: undefined variables are errors) and upload it like `copy`", Some(("template", ArgTy::LocalPath, true)), tpl_args, rec(Record::FileResult), true));

    let mut edit_args = common_remote();
    edit_args.extend([
        req(
            "format",
            ArgTy::Choice(crate::edit::Format::NAMES),
            "`env` (KEY=VALUE lines), `yaml` or `json` (edited by path)",
        ),
        a(
            "set",
            t(Ty::Map(Box::new(Ty::Json))),
            "keys (env) or paths (yaml/json, `a.b[0].env[name=X].value`) to their values",
        ),
        a(
            "delete",
            t(Ty::list(Ty::Str)),
            "keys or paths to remove (absent ones are fine)",
        ),
        a(
            "create",
            ArgTy::Flag,
            "create the file when it is absent (else an error)",
        ),
        a(
            "mode",
            ArgTy::Mode,
            "mode of a created file (an existing file keeps its own)",
        ),
        a(
            "owner",
            t(Ty::Str),
            "owner of a created file as `user` or `user:group`",
        ),
    ]);
    let mut edit = spec(
        "edit",
        K::Edit,
        "edit a remote file's keys or paths in place; written like `copy` only when it changes, restored on rollback",
        Some(("file", ArgTy::RemotePath, true)),
        edit_args,
        rec(Record::FileResult),
        true,
    );
    edit.any_of.push(&["set", "delete"]);
    v.push(edit);

    let mut read_args = common_remote();
    read_args.extend([
        a(
            "format",
            ArgTy::Choice(&["text", "yaml", "json"]),
            "how `value` is parsed (default `text`: `value` is none)",
        ),
        a(
            "missing_ok",
            ArgTy::Flag,
            "an absent file gives `exists: false` instead of an error",
        ),
    ]);
    v.push(spec(
        "read",
        K::Read,
        "read a remote file into a value (`text`, and `value` parsed as yaml or json)",
        Some(("file", ArgTy::RemotePath, true)),
        read_args,
        rec(Record::FileRead),
        false,
    ));

    v.push(spec(
        "tls.ca",
        K::TlsCa,
        "make a CA on the controller (`BASE.pem`, `BASE-key.pem` 0600), or keep the one there",
        Some(("base", ArgTy::LocalPath, true)),
        vec![a(
            "cn",
            t(Ty::Str),
            "the CA's common name (default `etcdflow CA`)",
        )],
        rec(Record::TlsFiles),
        true,
    ));
    v.push(spec(
        "tls.cert",
        K::TlsCert,
        "make a certificate signed by a `tls.ca` on the controller, or keep one with the same SANs",
        Some(("base", ArgTy::LocalPath, true)),
        vec![
            req(
                "ca",
                ArgTy::LocalPath,
                "the CA's base path (as given to `tls.ca`)",
            ),
            req(
                "sans",
                t(Ty::list(Ty::Str)),
                "addresses and names it is valid for (every member's address and name)",
            ),
            req(
                "usage",
                ArgTy::Choice(&["server", "client", "peer"]),
                "`peer` (serves and dials), `server` or `client`",
            ),
            a("cn", t(Ty::Str), "its common name (default: the first SAN)"),
        ],
        rec(Record::TlsFiles),
        true,
    ));

    let mut wait = spec(
        "wait",
        K::Wait,
        "wait until a port is open or closed, a path exists or not, or a condition holds",
        None,
        vec![
            a(
                "port",
                t(Ty::Port),
                "a TCP port on the target host (or on `address:`)",
            ),
            a(
                "address",
                t(Ty::Str),
                "the address to probe (default: the target host, probed from the host itself)",
            ),
            a(
                "open",
                ArgTy::Flag,
                "wait for the port to accept connections (the default)",
            ),
            a(
                "closed",
                ArgTy::Flag,
                "wait for the port to refuse connections",
            ),
            a("path", ArgTy::RemotePath, "a path on the target host"),
            a(
                "present",
                ArgTy::Flag,
                "wait for the path to exist (the default)",
            ),
            a("absent", ArgTy::Flag, "wait for the path to disappear"),
            a(
                "until",
                t(Ty::Bool),
                "a condition, re-evaluated (with fresh facts) until true",
            ),
            a(
                "timeout",
                t(Ty::Duration),
                "give up after this long (default 5m)",
            ),
            a("every", t(Ty::Duration), "time between checks (default 1s)"),
        ],
        Ty::NoneTy,
        false,
    );
    wait.one_of.push(&["port", "path", "until"]);
    wait.conflicts.extend([
        ("open", "closed"),
        ("present", "absent"),
        ("port", "present"),
        ("port", "absent"),
        ("path", "open"),
        ("path", "closed"),
    ]);
    v.push(wait);

    v.push(spec(
        "fail",
        K::Fail,
        "stop the run with this message (rollback follows)",
        Some(("message", t(Ty::Str), true)),
        vec![],
        Ty::NoneTy,
        false,
    ));
    v.push(spec("confirm", K::Confirm, "ask the operator to confirm on a TTY; the answer is journaled; without a TTY the run needs `--yes`", Some(("message", t(Ty::Str), true)), vec![], Ty::NoneTy, false));
    v.push(spec(
        "log",
        K::Log,
        "print a message in the run output and the journal",
        Some(("message", t(Ty::Str), true)),
        vec![],
        Ty::NoneTy,
        false,
    ));

    let member = rec(Record::EtcdMember);
    v.push(etcd("etcd.member_add", E::MemberAdd, "add a member, as a learner unless `voter` (guards: quorum, one change in flight, peer URL checked)", vec![
        req("name", t(Ty::Str), "the new member's name"),
        req("peer_url", t(Ty::Url), "its peer URL, with an explicit scheme"),
        a("voter", ArgTy::Flag, "add as a voting member directly (refused on 1- and 2-member clusters)"),
    ], rec(Record::MemberAdded), true));
    v.push(etcd(
        "etcd.member_promote",
        E::MemberPromote,
        "promote a learner once it is started and caught up",
        vec![req("member", t(Ty::Str), "member name or hex id")],
        member.clone(),
        true,
    ));
    v.push(etcd(
        "etcd.member_remove",
        E::MemberRemove,
        "remove a member (leadership is moved away first; needs a verified snapshot)",
        vec![req("member", t(Ty::Str), "member name or hex id")],
        Ty::NoneTy,
        true,
    ));
    v.push(etcd(
        "etcd.move_leader",
        E::MoveLeader,
        "transfer leadership to another voting member",
        vec![req("to", t(Ty::Str), "member name or hex id")],
        Ty::NoneTy,
        true,
    ));
    v.push(etcd(
        "etcd.snapshot_save",
        E::SnapshotSave,
        "stream a snapshot from one member (the leader by default) to the controller and verify it",
        vec![
            req("to", ArgTy::LocalPath, "file on the controller"),
            a(
                "endpoint",
                t(Ty::Url),
                "the member to read from (default: the leader)",
            ),
        ],
        rec(Record::SnapshotInfo),
        false,
    ));
    v.push(etcd(
        "etcd.snapshot_verify",
        E::SnapshotVerify,
        "verify a snapshot file on the controller (size, sha256 trailer, revision, key count)",
        vec![req("file", ArgTy::LocalPath, "the snapshot file")],
        rec(Record::SnapshotInfo),
        false,
    ));
    v.push(etcd("etcd.snapshot_restore", E::SnapshotRestore, "restore a snapshot into a new data dir on each target host, with one initial cluster and a fresh token", vec![
        req("file", ArgTy::RemotePath, "the snapshot on the host"),
        req("data_dir", ArgTy::RemotePath, "the new data dir (must not exist)"),
        req("name", t(Ty::Str), "this member's name"),
        req("peer_url", t(Ty::Url), "this member's peer URL"),
        req("initial_cluster", t(Ty::Str), "name=peer_url,... for every member"),
        req("token", t(Ty::Str), "a fresh initial-cluster token"),
        a("become", ArgTy::Flag, "run the restore through sudo"),
    ], rec(Record::Restored), true));
    v.push(etcd(
        "etcd.defrag",
        E::Defrag,
        "defragment the target hosts' members one at a time",
        vec![],
        Ty::NoneTy,
        true,
    ));
    v.push(etcd(
        "etcd.alarm_list",
        E::AlarmList,
        "list active alarms",
        vec![],
        Ty::list(Ty::Str),
        false,
    ));
    v.push(etcd(
        "etcd.alarm_disarm",
        E::AlarmDisarm,
        "disarm NOSPACE alarms (CORRUPT is never auto-disarmed)",
        vec![],
        Ty::NoneTy,
        true,
    ));
    v.push(etcd(
        "etcd.put",
        E::Put,
        "write a key",
        vec![
            req("key", t(Ty::Str), "the key"),
            req("value", ArgTy::Text, "the value"),
        ],
        Ty::NoneTy,
        true,
    ));
    v.push(etcd(
        "etcd.get",
        E::Get,
        "read a key",
        vec![req("key", t(Ty::Str), "the key")],
        rec(Record::Kv),
        false,
    ));
    v.push(etcd(
        "etcd.count",
        E::Count,
        "count keys under a prefix",
        vec![req("prefix", t(Ty::Str), "the prefix (\"\" for all keys)")],
        Ty::Int,
        false,
    ));
    v.push(etcd(
        "etcd.delete",
        E::Delete,
        "delete a key or a prefix",
        vec![
            a("key", t(Ty::Str), "one key"),
            a("prefix", t(Ty::Str), "every key under a prefix"),
        ],
        Ty::Int,
        true,
    ));
    v.push(etcd(
        "etcd.wait_healthy",
        E::WaitHealthy,
        "wait until every member answers and one leader is elected",
        vec![a("every", t(Ty::Duration), "time between checks")],
        Ty::NoneTy,
        false,
    ));
    v.push(etcd(
        "etcd.wait_started",
        E::WaitStarted,
        "wait until a member has started (has a name and answers status)",
        vec![req("member", t(Ty::Str), "member name or hex id")],
        member.clone(),
        false,
    ));
    v.push(etcd(
        "etcd.wait_caught_up",
        E::WaitCaughtUp,
        "wait until a member's applied index is within `max_gap` of the leader's",
        vec![
            req("member", t(Ty::Str), "member name or hex id"),
            a(
                "max_gap",
                t(Ty::Int),
                "allowed raft index gap (default 100)",
            ),
        ],
        Ty::NoneTy,
        false,
    ));
    v.push(etcd(
        "etcd.wait_leader",
        E::WaitLeader,
        "wait until exactly one leader is elected",
        vec![],
        member.clone(),
        false,
    ));
    v.push(etcd(
        "etcd.status",
        E::Status,
        "status of every member, each through its own endpoint",
        vec![],
        Ty::list(rec(Record::EndpointStatus)),
        false,
    ));
    v.push(etcd(
        "etcd.members",
        E::Members,
        "the member list, after a linearizable read",
        vec![],
        Ty::list(member),
        false,
    ));
    v.push(etcd(
        "etcd.health",
        E::Health,
        "health of every endpoint",
        vec![],
        Ty::list(rec(Record::EndpointHealth)),
        false,
    ));
    v.push(etcd(
        "etcd.hash_kv",
        E::HashKv,
        "hash of the key space of every member at a revision",
        vec![a("revision", t(Ty::Int), "revision (default: current)")],
        Ty::list(rec(Record::HashKv)),
        false,
    ));

    if let Some(d) = v.iter_mut().find(|s| s.verb == "etcd.delete") {
        d.one_of.push(&["key", "prefix"]);
    }
    v
}

pub fn step_options() -> &'static ActionSpec {
    static SPEC: OnceLock<ActionSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut s = spec(
            "step",
            ActionKind::Log,
            "step options",
            None,
            vec![
                a(
                    "parallel",
                    ArgTy::Flag,
                    "all target hosts at once, up to `--forks` (the default)",
                ),
                a("serial", ArgTy::Flag, "one host at a time"),
                a("batch", t(Ty::Int), "this many hosts at a time"),
                a(
                    "order",
                    t(Ty::Ordering),
                    "host order, e.g. `leader_last(main)`",
                ),
                a(
                    "timeout",
                    t(Ty::Duration),
                    "deadline for the step on each host",
                ),
                a(
                    "retries",
                    t(Ty::Int),
                    "retry the step on a host this many times",
                ),
                a("delay", t(Ty::Duration), "pause between retries"),
                a(
                    "until",
                    t(Ty::Bool),
                    "retry until this holds (with `retries`)",
                ),
                a("when", t(Ty::Bool), "run on a host only when this holds"),
                a("become", ArgTy::Flag, "run every action through sudo"),
                a("become_user", t(Ty::Str), "sudo to this user"),
                a(
                    "max_fail",
                    t(Ty::Int),
                    "hosts allowed to fail before the run stops (default 0)",
                ),
                a("run_once", ArgTy::Flag, "run on the first target host only"),
                a(
                    "connect_late",
                    ArgTy::Flag,
                    "connect to the hosts no earlier step targets when this step starts, not before the run: for machines a gate before it asks the operator to create (an unreachable one fails the step before any change)",
                ),
                a(
                    "on_failure",
                    ArgTy::Choice(&["rollback", "undo_host"]),
                    "`rollback` (default): a failure rolls the run back; `undo_host`: only the failing host's change of this step is undone, the rest stands",
                ),
            ],
            Ty::NoneTy,
            false,
        );
        s.conflicts.extend([
            ("parallel", "serial"),
            ("parallel", "batch"),
            ("serial", "batch"),
            ("run_once", "batch"),
        ]);
        s
    })
}

pub fn cluster_fields() -> &'static ActionSpec {
    static SPEC: OnceLock<ActionSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut s = spec(
            "cluster",
            ActionKind::Log,
            "cluster fields",
            None,
            vec![
                a("members", t(Ty::Hosts), "the hosts that run its members"),
                a(
                    "endpoints",
                    t(Ty::list(Ty::Url)),
                    "client URLs, when not derived from `members`",
                ),
                a("client_port", t(Ty::Port), "client port (default 2379)"),
                a("peer_port", t(Ty::Port), "peer port (default 2380)"),
                a(
                    "scheme",
                    ArgTy::Choice(&["http", "https"]),
                    "\"http\" or \"https\" (default \"https\" when `ca` is set)",
                ),
                a("ca", ArgTy::LocalPath, "CA certificate on the controller"),
                a(
                    "cert",
                    ArgTy::LocalPath,
                    "client certificate on the controller",
                ),
                a("key", ArgTy::LocalPath, "client key on the controller"),
                a("user", t(Ty::Str), "etcd user"),
                a(
                    "password",
                    t(Ty::Secret),
                    "etcd password (a `secret` param)",
                ),
                a("timeout", t(Ty::Duration), "request timeout (default 5s)"),
                a("data_dir", ArgTy::RemotePath, "the members' data dir"),
                a(
                    "name_var",
                    t(Ty::Str),
                    "inventory variable holding each member's name (default: the host name)",
                ),
                a(
                    "tunnel",
                    t(Ty::Bool),
                    "reach the endpoints through the hosts' SSH connections",
                ),
                a(
                    "lazy",
                    t(Ty::Bool),
                    "the flow creates this cluster: TLS files, tunnels and lock are resolved at the first step that uses it",
                ),
            ],
            Ty::NoneTy,
            false,
        );
        s.one_of.push(&["members", "endpoints"]);
        s
    })
}
