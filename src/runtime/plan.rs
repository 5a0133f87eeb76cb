//! `etcdflow plan` / `run --check`: what a run would do, without connecting.

use super::eval::{self, Ctx};
use super::value::Value;
use super::{options, Prepared, LOCAL};
use crate::ir::{self, ActionKind, Arg, ExprKind};
use serde::Serialize;

#[derive(Serialize, Debug)]
pub struct PlanStep {
    pub name: String,
    pub hosts: Vec<String>,
    pub options: Vec<String>,
    /// Per host, the actions with their rendered commands.
    pub actions: Vec<(String, Vec<String>)>,
    pub rollback: Vec<(String, Vec<String>)>,
    pub no_return: Option<String>,
    /// Each host's address (for grouping hosts whose commands differ only by it).
    #[serde(skip)]
    pub addresses: std::collections::HashMap<String, String>,
}

/// Hosts whose rendered lines are the same once each host's own name and address are
/// written `{host}` and `{address}`: (the hosts, the lines — a lone host's as they are).
pub fn group(
    per_host: &[(String, Vec<String>)],
    addresses: &std::collections::HashMap<String, String>,
) -> Vec<(Vec<String>, Vec<String>)> {
    let general = |host: &str, lines: &[String]| -> Vec<String> {
        let addr = addresses.get(host).filter(|a| a.len() >= 4 && *a != host);
        lines
            .iter()
            .map(|l| {
                let l = match addr {
                    Some(a) => replace_word(l, a, "{address}"),
                    None => l.clone(),
                };
                replace_word(&l, host, "{host}")
            })
            .collect()
    };
    let mut groups: indexmap::IndexMap<Vec<String>, (Vec<String>, Vec<String>)> =
        indexmap::IndexMap::new();
    for (h, lines) in per_host {
        let key = general(h, lines);
        let e = groups
            .entry(key)
            .or_insert_with(|| (Vec::new(), lines.clone()));
        e.0.push(h.clone());
    }
    groups
        .into_iter()
        .map(|(general, (hosts, own))| {
            if hosts.len() == 1 {
                (hosts, own)
            } else {
                (hosts, general)
            }
        })
        .collect()
}

/// `text` with every whole-word occurrence of `word` (not inside a longer name or
/// address: `n1` is not in `n10`, `10.0.0.1` not in `10.0.0.11`) replaced.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    if word.is_empty() {
        return text.to_string();
    }
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        // A trailing `.` ends a sentence, not a name.
        let after_ok = match after {
            None => true,
            Some('.') => rest[i + word.len() + 1..]
                .chars()
                .next()
                .is_none_or(|c| !part(c)),
            Some(c) => !part(c),
        };
        if before.is_none_or(|c| !part(c)) && after_ok {
            out.push_str(&rest[..i]);
            out.push_str(with);
        } else {
            out.push_str(&rest[..i + word.len()]);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// A list of hosts, short: all of them up to 4, else the first two, the last and the count.
pub fn hosts_label(hosts: &[String]) -> String {
    if hosts.len() <= 4 {
        hosts.join(", ")
    } else {
        format!(
            "{}, {}, ..., {} ({} hosts)",
            hosts[0],
            hosts[1],
            hosts[hosts.len() - 1],
            hosts.len()
        )
    }
}

pub fn plan(prep: &Prepared) -> Vec<PlanStep> {
    let sh = &prep.shared;
    let mut out = Vec::new();
    for (i, step) in sh.flow.steps.iter().enumerate() {
        let mut hosts: Vec<String> = match &prep.targets[i] {
            None => vec![LOCAL.to_string()],
            Some(h) => h.clone(),
        };
        // The same evaluation the run uses (`options::evaluate`).
        let bindings = vec![None; sh.flow.bindings.len()];
        let options = match options::evaluate(step, &sh.ctx(None, &bindings, &[])) {
            Ok(o) => {
                if o.run_once {
                    hosts.truncate(1);
                }
                let mut v = o.describe(step);
                if let options::Width::Batch(n) = o.width {
                    let batches: Vec<String> = hosts
                        .chunks(n.max(1))
                        .map(|c| format!("[{}]", c.join(", ")))
                        .collect();
                    v.push(format!("batches: {}", batches.join(" then ")));
                }
                v
            }
            Err(e) => step
                .options
                .keys()
                .map(|k| {
                    if *k == e.option && e.unknown {
                        format!("{k}: <known at run time>")
                    } else if *k == e.option {
                        format!("{k}: invalid: {}", e.message)
                    } else {
                        (*k).to_string()
                    }
                })
                .collect(),
        };
        let render_for = |stmts: &[ir::Stmt]| -> Vec<(String, Vec<String>)> {
            hosts
                .iter()
                .map(|h| {
                    let host = if h == LOCAL { None } else { Some(h.as_str()) };
                    let bindings = vec![None; sh.flow.bindings.len()];
                    let cx = sh.ctx(host, &bindings, &[]);
                    let mut lines = Vec::new();
                    describe(stmts, &cx, 0, &mut lines);
                    (h.clone(), lines)
                })
                .collect()
        };
        let no_return = step.no_return.as_ref().map(|m| {
            let bindings = vec![None; sh.flow.bindings.len()];
            let cx = sh.ctx(None, &bindings, &[]);
            eval::render(m, &cx, false).unwrap_or_else(|e| format!("<{e}>"))
        });
        out.push(PlanStep {
            name: step.name.clone(),
            actions: render_for(&step.body),
            // A rollback runs in the reverse of the step's host order.
            rollback: step
                .rollback
                .as_deref()
                .map(|r| render_for(r).into_iter().rev().collect())
                .unwrap_or_default(),
            addresses: hosts
                .iter()
                .filter_map(|h| sh.inventory.target(h).map(|t| (h.clone(), t.address)))
                .collect(),
            hosts,
            options,
            no_return,
        });
    }
    out
}

fn describe(stmts: &[ir::Stmt], outer: &Ctx<'_>, depth: usize, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    // Local `let`s of plain expressions (a used block's params) are known in a plan.
    let mut locals: Vec<(String, Value)> = outer.locals.to_vec();
    for s in stmts {
        if let ir::Stmt::Let {
            binding: ir::BindingRef::Local(n),
            value: ir::LetValue::Expr(e),
        } = s
        {
            let cx = Ctx {
                locals: &locals,
                ..outer.clone()
            };
            let v = eval::eval(e, &cx).ok();
            let shown = v
                .as_ref()
                .map_or_else(|| "<known at run time>".to_string(), plan_value);
            out.push(format!("{pad}let {n} = {shown}"));
            if let Some(v) = v {
                locals.push((n.clone(), v));
            }
            continue;
        }
        let cx = &Ctx {
            locals: &locals,
            ..outer.clone()
        };
        match s {
            ir::Stmt::Action(a) => out.push(format!("{pad}{}", action(a, cx))),
            ir::Stmt::Let { binding, value } => {
                let name = match binding {
                    ir::BindingRef::Flow(i) => {
                        cx.binding_names.get(*i).cloned().unwrap_or_default()
                    }
                    ir::BindingRef::Local(n) => n.clone(),
                };
                match value {
                    ir::LetValue::Action(a) => {
                        out.push(format!("{pad}let {name} = {}", action(a, cx)))
                    }
                    ir::LetValue::Expr(_) => out.push(format!("{pad}let {name} = <expression>")),
                }
            }
            ir::Stmt::Assert { message, .. } => {
                let m = message
                    .as_ref()
                    .map(|m| eval::render(m, cx, false).unwrap_or_else(|_| "<message>".into()))
                    .unwrap_or_default();
                out.push(format!("{pad}assert ({m})"));
            }
            ir::Stmt::If {
                then, otherwise, ..
            } => {
                out.push(format!("{pad}if <condition>:"));
                describe(then, cx, depth + 1, out);
                if !otherwise.is_empty() {
                    out.push(format!("{pad}else:"));
                    describe(otherwise, cx, depth + 1, out);
                }
            }
            ir::Stmt::For { var, body, .. } => {
                out.push(format!("{pad}for {var} in <list>:"));
                describe(body, cx, depth + 1, out);
            }
            ir::Stmt::Block(body) => describe(body, cx, depth, out),
        }
    }
}

fn action(a: &ir::Action, cx: &Ctx<'_>) -> String {
    let what = action_text(a, cx);
    match a.args.get("on") {
        Some(Arg::Value(e)) => match eval::eval(e, cx) {
            Ok(v) => format!("{what}  (on {})", v.to_text()),
            Err(_) => format!("{what}  (on a host known at run time)"),
        },
        _ => what,
    }
}

fn action_text(a: &ir::Action, cx: &Ctx<'_>) -> String {
    let later = "<known at run time>".to_string();
    let arg = |k: &str| match a.args.get(k) {
        Some(Arg::Value(e)) => eval::render(e, cx, false).unwrap_or_else(|_| later.clone()),
        _ => String::new(),
    };
    // The positional argument rendered (`missing` when there is none).
    let positional = |missing: &str| {
        a.positional.as_ref().map_or_else(
            || missing.to_string(),
            |e| eval::render(e, cx, false).unwrap_or_else(|_| later.clone()),
        )
    };
    match a.kind {
        ActionKind::Run => match &a.positional {
            Some(ir::Expr {
                kind: ExprKind::List(items),
                ..
            }) => {
                let words: Vec<String> = items
                    .iter()
                    .map(|i| match eval::eval(i, cx) {
                        Ok(Value::Secret(_)) => "<secret>".into(),
                        Ok(v) => crate::transport::agent::quote(&v.to_text()),
                        Err(_) => later.clone(),
                    })
                    .collect();
                format!("run {}", words.join(" "))
            }
            Some(e) => format!(
                "run sh -c {}",
                eval::render(e, cx, true)
                    .map(|s| crate::transport::agent::quote(&s))
                    .unwrap_or(later)
            ),
            None => "run".into(),
        },
        ActionKind::Copy => {
            format!("copy {} -> {}", positional("<content>"), arg("to"))
        }
        ActionKind::Template => {
            let src = a
                .positional
                .as_ref()
                .map(|e| eval::render(e, cx, false).unwrap_or_default())
                .unwrap_or_default();
            format!("template {src} -> {}", arg("to"))
        }
        ActionKind::Fetch => {
            format!("fetch {} -> {}", positional(""), arg("to"))
        }
        ActionKind::Edit => {
            let keys = |k: &str| match a.args.get(k) {
                Some(Arg::Value(e)) => match eval::eval(e, cx) {
                    Ok(Value::Map(m)) => m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.to_text()))
                        .collect::<Vec<_>>()
                        .join(" "),
                    Ok(v) => v.to_text(),
                    Err(_) => later.clone(),
                },
                _ => String::new(),
            };
            let mut out = format!("edit {} ({})", positional(""), arg("format"));
            for (k, what) in [("set", "set"), ("delete", "delete")] {
                let v = keys(k);
                if !v.is_empty() {
                    out.push_str(&format!(" {what} {v}"));
                }
            }
            out
        }
        ActionKind::Read => format!("read {}", positional("")),
        ActionKind::TlsCa => format!("tls.ca {} (on the controller)", positional("")),
        ActionKind::TlsCert => format!(
            "tls.cert {} signed by {} for [{}] ({})",
            positional(""),
            arg("ca"),
            match a.args.get("sans") {
                Some(Arg::Value(e)) => match eval::eval(e, cx) {
                    Ok(Value::List(xs)) =>
                        xs.iter().map(Value::to_text).collect::<Vec<_>>().join(", "),
                    _ => later.clone(),
                },
                _ => String::new(),
            },
            arg("usage")
        ),
        ActionKind::Wait => {
            let what = if a.args.contains_key("port") {
                format!(
                    "port {} {}",
                    arg("port"),
                    if a.args.contains_key("closed") {
                        "closed"
                    } else {
                        "open"
                    }
                )
            } else if a.args.contains_key("path") {
                format!(
                    "path {} {}",
                    arg("path"),
                    if a.args.contains_key("absent") {
                        "absent"
                    } else {
                        "present"
                    }
                )
            } else {
                "until <condition>".into()
            };
            let t = arg("timeout");
            format!(
                "wait {what}{}",
                if t.is_empty() {
                    String::new()
                } else {
                    format!(" (timeout {t})")
                }
            )
        }
        ActionKind::Fail | ActionKind::Confirm | ActionKind::Log => {
            format!("{} {}", super::action_label(a), positional(""))
        }
        ActionKind::Etcd(op) => {
            let verb = crate::check::schema::verb_of(a.kind);
            let mut words = vec![verb.to_string()];
            for (k, v) in &a.args {
                if *k == "cluster" {
                    continue;
                }
                words.push(match v {
                    Arg::Flag(_) => (*k).to_string(),
                    Arg::Value(e) => {
                        let shown = match eval::eval(e, cx) {
                            Ok(Value::Secret(_)) => "<secret>".to_string(),
                            Ok(_) => eval::render(e, cx, false).unwrap_or_else(|_| later.clone()),
                            Err(_) => later.clone(),
                        };
                        format!("{k}: {}", crate::transport::agent::quote(&shown))
                    }
                });
            }
            let guards = match op {
                ir::EtcdOp::MemberAdd => " [guards: one change in flight, quorum, peer URL probed from every member]",
                ir::EtcdOp::MemberPromote => " [guards: started and caught up, quorum; then post-conditions]",
                ir::EtcdOp::MemberRemove => " [guards: verified snapshot, quorum, leadership moved first; then post-conditions]",
                ir::EtcdOp::SnapshotRestore => " [guards: the file matches a snapshot verified in this run, data dir absent]",
                ir::EtcdOp::SnapshotSave | ir::EtcdOp::SnapshotVerify => " [verified: trailer, pages, revision, key count]",
                ir::EtcdOp::Defrag => " [one member at a time; post-conditions after each]",
                _ => "",
            };
            format!("{}{guards}", words.join(" "))
        }
    }
}

/// A value as `plan` shows it (secrets never).
fn plan_value(v: &Value) -> String {
    match v {
        Value::Secret(_) => "<secret>".into(),
        Value::Str(s) => format!("{s:?}"),
        other => other.to_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::{group, hosts_label, replace_word};

    #[test]
    fn whole_words_only() {
        assert_eq!(
            replace_word("ssh n1 n10 n1.", "n1", "{host}"),
            "ssh {host} n10 {host}."
        );
        assert_eq!(
            replace_word(
                "http://10.0.0.1:2380,http://10.0.0.11:2380",
                "10.0.0.1",
                "{address}"
            ),
            "http://{address}:2380,http://10.0.0.11:2380"
        );
    }

    #[test]
    fn hosts_that_differ_only_by_themselves_are_one_group() {
        let per_host: Vec<(String, Vec<String>)> = (1..=50)
            .map(|i| {
                (
                    format!("n{i}"),
                    vec![format!("run [\"etcd\", \"--name\", \"n{i}\", \"--listen\", \"http://10.0.0.{i}:2379\"]")],
                )
            })
            .collect();
        let addresses = (1..=50)
            .map(|i| (format!("n{i}"), format!("10.0.0.{i}")))
            .collect();
        let mut odd = per_host.clone();
        odd[49].1 = vec!["run [\"true\"]".into()];
        let g = group(&odd, &addresses);
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].0.len(), 49);
        assert_eq!(
            g[0].1,
            ["run [\"etcd\", \"--name\", \"{host}\", \"--listen\", \"http://{address}:2379\"]"]
        );
        assert_eq!(
            g[1],
            (vec!["n50".to_string()], vec!["run [\"true\"]".to_string()])
        );
        assert_eq!(hosts_label(&g[0].0), "n1, n2, ..., n49 (49 hosts)");
    }
}
