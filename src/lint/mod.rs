//! `etcdflow lint`: rules that know the domain, run on the checked IR (never on text),
//! after every type-check diagnostic. Each rule has a stable code, a default severity and
//! an `explain` entry with a bad and a good example (`diagnostics::codes`). Suppressions
//! are comments (`# etcdflow: allow(code) -- reason`, see [`suppress`]).
//!
//! The rules read the flow in order — steps, then their bodies top to bottom — which is
//! the order the runtime runs them on every host. "On every path" means: not inside an
//! `if` or a `for`, and not in a step with `when:` (those may not run).

pub mod suppress;

use crate::check::schema;
use crate::diagnostics::Diagnostic;
use crate::inventory::Inventory;
use crate::ir::{self, ActionKind, Arg, EtcdOp, Expr, ExprKind, InterpPart};
use crate::source::{SourceMap, Span};
use std::collections::BTreeMap;

/// Every rule's code (the `explain` entries live in `diagnostics::codes`).
pub const RULES: &[&str] = &[
    "destructive-without-snapshot",
    "member-add-without-wait",
    "membership-change-in-parallel-step",
    "rolling-without-leader-last",
    "missing-rollback",
    "raw-interpolation",
    "secret-file-mode",
    "wait-without-timeout",
    "sleep-as-wait",
    "curl-pipe-shell",
    "hardcoded-address",
    "confirm-in-parallel-step",
    "voter-add",
];

type Site<'a> = ir::ActionSite<'a>;

fn sites(flow: &ir::Flow) -> Vec<Site<'_>> {
    flow.actions()
}

fn spec(a: &ir::Action) -> Option<&'static schema::ActionSpec> {
    schema::spec_of(a.kind)
}

fn verb(a: &ir::Action) -> &'static str {
    schema::verb_of(a.kind)
}

fn value<'a>(a: &'a ir::Action, k: &str) -> Option<&'a Expr> {
    match a.args.get(k) {
        Some(Arg::Value(e)) => Some(e),
        _ => None,
    }
}

fn each_expr<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    e.each(f);
}

/// The literal text of an expression, `{}` where a value is interpolated.
fn text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => s.clone(),
        ExprKind::Interp(parts) => parts
            .iter()
            .map(|p| match p {
                InterpPart::Text(t) => t.clone(),
                InterpPart::Value { .. } => "{}".into(),
            })
            .collect(),
        _ => "{}".into(),
    }
}

/// A `run` command: `(argv words, shell text)`; one of them is empty.
fn command(a: &ir::Action) -> (Vec<&Expr>, String) {
    match a.positional.as_ref().map(|e| &e.kind) {
        Some(ExprKind::List(xs)) => (xs.iter().collect(), String::new()),
        Some(_) => (
            Vec::new(),
            a.positional.as_ref().map(text).unwrap_or_default(),
        ),
        None => (Vec::new(), String::new()),
    }
}

fn interpolates(e: &Expr) -> bool {
    !matches!(e.kind, ExprKind::Str(_))
}

fn mentions_data_dir(flow: &ir::Flow, e: &Expr) -> bool {
    let dirs: Vec<&Expr> = flow
        .clusters
        .iter()
        .filter_map(|c| c.fields.get("data_dir"))
        .collect();
    let mut hit = text(e).contains("/var/lib/etcd");
    each_expr(e, &mut |x| {
        if let ExprKind::Param(p) = x.kind {
            hit |= dirs
                .iter()
                .any(|d| matches!(d.kind, ExprKind::Param(q) if q == p));
        }
    });
    hit
}

/// Why an action destroys data, if it does (a data dir moved or removed, a member
/// removed, a restore, `rm -r` on an interpolated path).
fn destructive(flow: &ir::Flow, a: &ir::Action) -> Option<String> {
    match a.kind {
        ActionKind::Etcd(EtcdOp::MemberRemove) => Some("removes a member".into()),
        ActionKind::Etcd(EtcdOp::SnapshotRestore) => Some("restores a snapshot".into()),
        ActionKind::Run => {
            let (argv, shell) = command(a);
            if let Some(first) = argv.first() {
                let prog = text(first);
                let recursive = argv.iter().any(|w| {
                    let t = text(w);
                    t.starts_with('-')
                        && !t.starts_with("--")
                        && (t.contains('r') || t.contains('R'))
                });
                let data = argv.iter().skip(1).any(|w| mentions_data_dir(flow, w));
                if (prog == "rm" || prog == "mv") && data {
                    return Some(format!(
                        "{}s an etcd data dir",
                        if prog == "rm" { "remove" } else { "move" }
                    ));
                }
                if prog == "rm" && recursive && argv.iter().skip(1).any(|w| interpolates(w)) {
                    return Some("removes an interpolated path recursively".into());
                }
                None
            } else {
                let p = a.positional.as_ref()?;
                let rm_r = shell.contains("rm -r")
                    || shell.contains("rm -f -r")
                    || shell.contains("rm -fr")
                    || shell.contains("rm -R");
                if rm_r && interpolates(p) {
                    return Some("removes an interpolated path recursively".into());
                }
                if (shell.contains("rm ") || shell.contains("mv ")) && mentions_data_dir(flow, p) {
                    return Some("moves or removes an etcd data dir".into());
                }
                None
            }
        }
        _ => None,
    }
}

fn is_snapshot(a: &ir::Action) -> bool {
    matches!(
        a.kind,
        ActionKind::Etcd(EtcdOp::SnapshotSave | EtcdOp::SnapshotVerify)
    )
}

fn is_membership(a: &ir::Action) -> bool {
    matches!(
        a.kind,
        ActionKind::Etcd(EtcdOp::MemberAdd | EtcdOp::MemberPromote | EtcdOp::MemberRemove)
    )
}

fn is_start_wait(a: &ir::Action) -> bool {
    matches!(
        a.kind,
        ActionKind::Etcd(EtcdOp::WaitStarted | EtcdOp::WaitHealthy | EtcdOp::WaitCaughtUp)
    ) || (a.kind == ActionKind::Wait && a.args.contains_key("until"))
}

/// A step's targets are one host at most (`first(a)`, `last(a)`, `nth(a, i)`, or a host
/// set defined as one of them).
fn single_host(flow: &ir::Flow, step: &ir::Step) -> bool {
    fn one(flow: &ir::Flow, e: &Expr, depth: usize) -> bool {
        match &e.kind {
            ExprKind::Call {
                func: "first" | "last" | "nth",
                ..
            } => true,
            ExprKind::Hosts(i) if depth < 64 => flow
                .hosts
                .get(*i)
                .is_some_and(|h| one(flow, &h.value, depth + 1)),
            _ => false,
        }
    }
    step.targets.as_ref().is_some_and(|t| one(flow, t, 0))
}

/// A step runs its body on several hosts at once.
fn parallel(flow: &ir::Flow, step: &ir::Step) -> bool {
    step.targets.is_some()
        && !single_host(flow, step)
        && !step.options.contains_key("serial")
        && !step.options.contains_key("run_once")
        && !matches!(
            step.options.get("batch"),
            Some(Arg::Value(Expr {
                kind: ExprKind::Int(1),
                ..
            }))
        )
}

fn hosts_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Hosts(i) => Some(format!("hosts#{i}")),
        ExprKind::Group { name, .. } => Some(format!("group:{name}")),
        _ => None,
    }
}

/// Run every rule on a checked flow. `inventory` enables `hardcoded-address`.
pub fn lint(
    flow: &ir::Flow,
    sources: &SourceMap,
    inventory: Option<&Inventory>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // A step's header line (`step NAME on ... {`), where step-level problems point.
    let head = |span: Span| -> Span {
        let text = sources.text(span.file);
        let start = span.start as usize;
        let end = text
            .get(start..)
            .and_then(|t| t.find('{').map(|i| start + i + 1))
            .unwrap_or(span.end as usize)
            .min(span.end as usize);
        Span::new(span.file, start, end)
    };
    let all = sites(flow);

    // destructive-without-snapshot (SAFETY.md inv. 9, 10)
    // A snapshot taken unconditionally covers everything after it; one taken in a mode of
    // the flow (a step `when: not recover`) covers what runs in that same mode.
    let mut verified = false;
    let mut verified_in: Vec<&Expr> = Vec::new();
    for s in all.iter().filter(|s| !s.rollback) {
        if is_snapshot(s.action) {
            match (s.conditional, s.mode) {
                (false, _) => verified = true,
                (true, Some(m)) => verified_in.push(m),
                (true, None) => {}
            }
        }
        if let Some(why) = destructive(flow, s.action) {
            let in_mode = s
                .mode
                .is_some_and(|m| verified_in.iter().any(|v| v.same(m)));
            if !verified && !in_mode {
                out.push(
                    Diagnostic::warning(
                        "destructive-without-snapshot",
                        format!("this `{}` {why}, and no snapshot is verified before it on every path", verb(s.action)),
                    )
                    .at(s.action.span, "destructive")
                    .help("take one first (`etcd.snapshot_save to: ...`) or verify the one you restore from (`etcd.snapshot_verify file: ...`), unconditionally, in an earlier step (SAFETY.md inv. 9)"),
                );
            }
        }
    }

    // member-add-without-wait, membership-change-in-parallel-step, voter-add
    // Per cluster: adds to `main` and to `events` are separate changes.
    let mut pending: BTreeMap<Option<usize>, &ir::Action> = BTreeMap::new();
    let check_pending = |pending: &mut BTreeMap<Option<usize>, &ir::Action>,
                         next: &ir::Action,
                         out: &mut Vec<Diagnostic>| {
        if let Some(add) = pending.remove(&next.cluster) {
            let d = if std::ptr::eq(add, next) {
                Diagnostic::warning(
                    "member-add-without-wait",
                    "this step adds a member on each of its hosts in turn, and never waits for one to start before the next add",
                )
                .at(add.span, "added here, then again for the next host")
            } else {
                Diagnostic::warning(
                    "member-add-without-wait",
                    "a member is added and the next membership change follows without waiting for it to start",
                )
                .at(add.span, "added here")
                .also(next.span, "next membership change")
            };
            out.push(
                d.help("wait in between: `etcd.wait_started member: NAME` (SAFETY.md inv. 2)"),
            );
        }
    };
    for s in all.iter().filter(|s| !s.rollback) {
        let step = &flow.steps[s.step];
        if is_start_wait(s.action) {
            if s.action.kind == ActionKind::Wait {
                pending.clear();
            } else {
                pending.remove(&s.action.cluster);
            }
        }
        if is_membership(s.action) {
            check_pending(&mut pending, s.action, &mut out);
            if s.action.kind == ActionKind::Etcd(EtcdOp::MemberAdd) {
                pending.insert(s.action.cluster, s.action);
                if s.action.args.contains_key("voter") {
                    out.push(
                        Diagnostic::warning("voter-add", "a member is added as a voter directly")
                            .at(s.action.span, "`voter`")
                            .help("add it as a learner (drop `voter`) and `etcd.member_promote` it once it caught up (SAFETY.md inv. 3)"),
                    );
                }
            }
            if parallel(flow, step) {
                out.push(
                    Diagnostic::warning(
                        "membership-change-in-parallel-step",
                        format!("`{}` runs in a step that runs on several hosts at once", verb(s.action)),
                    )
                    .at(s.action.span, "membership change")
                    .also(head(step.span), "this step is parallel")
                    .help("make the step `serial` (or `run_once`): membership changes go one at a time (SAFETY.md inv. 2)"),
                );
            }
        }
        // The last statement of a multi-host step with an unanswered add loops back to it.
        let last_of_step = all
            .iter()
            .rfind(|x| x.step == s.step && !x.rollback)
            .is_some_and(|x| std::ptr::eq(x.action, s.action));
        if last_of_step
            && step.targets.is_some()
            && !single_host(flow, step)
            && !step.options.contains_key("run_once")
        {
            let adds: Vec<&ir::Action> = pending.values().copied().collect();
            for add in adds {
                if all
                    .iter()
                    .filter(|x| x.step == s.step && !x.rollback)
                    .any(|x| std::ptr::eq(x.action, add))
                {
                    check_pending(&mut pending, add, &mut out);
                }
            }
        }
    }

    // rolling-without-leader-last
    for (i, step) in flow.steps.iter().enumerate() {
        let rolling = step.options.contains_key("serial") || step.options.contains_key("batch");
        let Some(t) = step.targets.as_ref().and_then(hosts_key) else {
            continue;
        };
        let on_members = flow.clusters.iter().any(|c| {
            c.fields
                .get("members")
                .and_then(hosts_key)
                .is_some_and(|k| k == t)
        });
        let mutates = all.iter().any(|s| {
            s.step == i
                && !s.rollback
                && spec(s.action).is_some_and(|x| x.mutating)
                && !matches!(s.action.kind, ActionKind::Etcd(_))
        });
        if rolling && on_members && mutates && !step.options.contains_key("order") {
            out.push(
                Diagnostic::warning(
                    "rolling-without-leader-last",
                    format!("step `{}` rolls over the etcd members without an order", step.name),
                )
                .at(head(step.span), "rolling step")
                .help("add `order: leader_last(CLUSTER)`: the leader goes last, so leadership changes once"),
            );
        }
    }

    // missing-rollback
    for (i, step) in flow.steps.iter().enumerate() {
        if step.rollback.is_some() || step.no_return.is_some() {
            continue;
        }
        // An `edit` undoes itself; another mutating action in the step still needs a block.
        let mutating = all.iter().find(|s| {
            s.step == i
                && !s.rollback
                // An `edit` restores itself; certificates made on the controller are
                // kept for the next run (idempotent), nothing on a host to undo.
                && !matches!(s.action.kind, ActionKind::Edit | ActionKind::TlsCa | ActionKind::TlsCert)
                && spec(s.action).is_some_and(|x| x.mutating)
        });
        if let Some(m) = mutating {
            out.push(
                Diagnostic::warning(
                    "missing-rollback",
                    format!("step `{}` changes things and has no `rollback` block", step.name),
                )
                .at(head(step.span), "no rollback")
                .also(m.action.span, "changes something")
                .help("add `rollback { ... }` that undoes it, or `rollback {}` to say nothing needs undoing"),
            );
        }
    }

    for s in &all {
        let a = s.action;
        let step = &flow.steps[s.step];
        match a.kind {
            ActionKind::Run => {
                if let Some(p) = &a.positional {
                    each_expr(p, &mut |e| {
                        if let ExprKind::Interp(parts) = &e.kind {
                            for part in parts {
                                if let InterpPart::Value { expr, raw: true } = part {
                                    out.push(
                                        Diagnostic::warning(
                                            "raw-interpolation",
                                            "a value is interpolated into a command without shell quoting",
                                        )
                                        .at(expr.span, "raw")
                                        .help("drop `raw(...)`: every interpolated value is quoted as one shell word (SAFETY.md inv. 20); pass words as an argv list instead of building shell text"),
                                    );
                                }
                            }
                        }
                        if let ExprKind::Call { func: "raw", args } = &e.kind {
                            if let Some(x) = args.first() {
                                out.push(
                                    Diagnostic::warning(
                                        "raw-interpolation",
                                        "a value is interpolated into a command without shell quoting",
                                    )
                                    .at(x.span, "raw")
                                    .help("drop `raw(...)`: every interpolated value is quoted as one shell word (SAFETY.md inv. 20)"),
                                );
                            }
                        }
                    });
                }
                let (argv, shell) = command(a);
                let sleeps = argv.first().is_some_and(|w| text(w) == "sleep")
                    || shell.trim_start().starts_with("sleep ")
                    || shell.contains("; sleep ")
                    || shell.contains("&& sleep ");
                if sleeps {
                    out.push(
                        Diagnostic::warning("sleep-as-wait", "`sleep` is used to wait for something")
                            .at(a.span, "a fixed pause")
                            .help("wait for the condition itself: `wait port: ... open`, `wait path: ...`, `wait until: ...`, `etcd.wait_healthy`"),
                    );
                }
                let l = shell.to_ascii_lowercase();
                let fetch = l.find("curl ").or_else(|| l.find("wget "));
                if let Some(at) = fetch {
                    let rest = &l[at..];
                    let piped = rest.split('|').skip(1).any(|seg| {
                        let w: Vec<&str> = seg.split_whitespace().collect();
                        let w = if w.first() == Some(&"sudo") {
                            &w[1..]
                        } else {
                            &w[..]
                        };
                        matches!(w.first(), Some(&("sh" | "bash" | "dash" | "zsh" | "ksh")))
                    });
                    if piped {
                        out.push(
                            Diagnostic::error("curl-pipe-shell", "a download is piped into a shell")
                                .at(a.span, "runs whatever the server sends")
                                .help("download to a file, verify its checksum, then run it (`copy` a vetted script instead)"),
                        );
                    }
                }
            }
            ActionKind::Copy | ActionKind::Template => {
                let is_secret = |e: &Expr| e.ty == crate::check::types::Ty::Secret;
                let secret = value(a, "content").is_some_and(is_secret)
                    || value(a, "vars").is_some_and(|v| {
                        matches!(&v.kind, ExprKind::Map(kv) if kv.iter().any(|(_, x)| is_secret(x)))
                    });
                let mode = value(a, "mode").map(text);
                let loose = match mode.as_deref() {
                    None => true,
                    Some(m) => {
                        let digits: Vec<u32> = m.chars().filter_map(|c| c.to_digit(8)).collect();
                        digits.len() >= 3 && digits[digits.len() - 2..].iter().any(|d| *d != 0)
                    }
                };
                if secret && loose {
                    out.push(
                        Diagnostic::warning("secret-file-mode", "a secret is written to a file that others may read")
                            .at(a.span, mode.map_or_else(|| "no `mode:`".to_string(), |m| format!("mode {m}")))
                            .help("write secrets with `mode: \"0600\"` (or \"0400\") and an `owner:` (SAFETY.md inv. 24)"),
                    );
                }
            }
            ActionKind::Wait
            | ActionKind::Etcd(
                EtcdOp::WaitHealthy
                | EtcdOp::WaitStarted
                | EtcdOp::WaitCaughtUp
                | EtcdOp::WaitLeader,
            ) if !a.args.contains_key("timeout") && !step.options.contains_key("timeout") => {
                out.push(
                    Diagnostic::warning("wait-without-timeout", format!("`{}` has no timeout of its own", verb(a)))
                        .at(a.span, "waits up to the default (5m for `wait`, the run's default for etcd waits)")
                        .help("say how long is reasonable: `timeout: 2m`; a wait that never ends hides a failure"),
                );
            }
            ActionKind::Confirm if parallel(flow, step) => {
                out.push(
                    Diagnostic::warning("confirm-in-parallel-step", "a `confirm` gate inside a step that runs on several hosts at once")
                        .at(a.span, "asks once per host, all at the same time")
                        .also(head(step.span), "parallel step")
                        .help("put the gate in a step `on local` before the change, or make the step `serial`"),
                );
            }
            _ => {}
        }
        if let Some(inv) = inventory {
            hardcoded(a, inv, &mut out);
        }
    }
    out
}

/// IPv4 addresses in literal text that are inventory hosts' addresses.
fn hardcoded(a: &ir::Action, inv: &Inventory, out: &mut Vec<Diagnostic>) {
    let mut check = |t: &str, span: Span| {
        for word in t.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
            if word.parse::<std::net::Ipv4Addr>().is_err() {
                continue;
            }
            if let Some(h) = inv
                .hosts()
                .find(|h| inv.target(h).is_some_and(|t| t.address == word))
            {
                out.push(
                    Diagnostic::warning("hardcoded-address", format!("`{word}` is the address of inventory host `{h}`"))
                        .at(span, "hard-coded")
                        .help("use the host's fields (`host.address`) or the cluster's addressing (`peer_url(c, host)`, `client_url(c, host)`), so the flow follows the inventory"),
                );
            }
        }
    };
    let mut exprs: Vec<&Expr> = a.positional.iter().collect();
    exprs.extend(a.args.values().filter_map(|v| match v {
        Arg::Value(e) => Some(e),
        Arg::Flag(_) => None,
    }));
    for e in exprs {
        each_expr(e, &mut |x| match &x.kind {
            ExprKind::Str(s) => check(s, x.span),
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Text(t) = p {
                        check(t, x.span);
                    }
                }
            }
            _ => {}
        });
    }
}
