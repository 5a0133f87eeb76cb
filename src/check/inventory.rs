//! What an inventory given to `check -i` lets the checker know before the run: which hosts
//! a host-set expression names (groups, `|`, `&`, `-`, `first`/`last`/`nth`), so that an
//! `nth(...)` past the end and a `host.vars.NAME` that a target host lacks are errors now.

use super::*;
use crate::ir::ExprKind as K;
use crate::syntax::ast::BinOp;

/// Definitions only name earlier host sets; this bounds the recursion regardless.
const MAX_DEPTH: usize = 64;

impl Checker<'_> {
    /// The hosts a host-set expression names, when the inventory tells.
    pub(super) fn static_hosts(&self, e: &ir::Expr, depth: usize) -> Option<Vec<String>> {
        let facts = self.opts.inventory_facts.as_ref()?;
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth + 1;
        Some(match &e.kind {
            K::Group { name, optional } => match facts.groups.get(name) {
                Some(hs) => hs.clone(),
                None if *optional => Vec::new(),
                None => return None,
            },
            K::Hosts(i) => self.static_hosts(self.host_defs.get(*i)?, d)?,
            K::Binary { op, lhs, rhs } => {
                let (l, r) = (self.static_hosts(lhs, d)?, self.static_hosts(rhs, d)?);
                match op {
                    BinOp::Union => dedup(l.into_iter().chain(r).collect()),
                    BinOp::Intersect => l.into_iter().filter(|h| r.contains(h)).collect(),
                    BinOp::Sub => l.into_iter().filter(|h| !r.contains(h)).collect(),
                    _ => return None,
                }
            }
            K::Call { func, args } => {
                let hs = self.static_hosts(args.first()?, d)?;
                let pick = match *func {
                    "first" => hs.first(),
                    "last" => hs.last(),
                    "nth" => match args.get(1).map(|a| &a.kind) {
                        Some(K::Int(n)) => usize::try_from(*n).ok().and_then(|n| hs.get(n)),
                        _ => return None,
                    },
                    _ => return None,
                };
                pick.cloned().into_iter().collect()
            }
            _ => return None,
        })
    }

    /// `nth(hosts, N)` with a literal `N` past the end of a host set the inventory knows.
    pub(super) fn nth_in_range(&mut self, args: &[ir::Expr], span: Span) {
        let (Some(set), Some(K::Int(n))) = (args.first(), args.get(1).map(|a| &a.kind)) else {
            return;
        };
        let Some(hs) = self.static_hosts(set, 0) else {
            return;
        };
        if usize::try_from(*n).map_or(true, |n| n >= hs.len()) {
            self.emit(
                Diagnostic::error(
                    "host-index-out-of-range",
                    format!(
                        "`nth(..., {n})` of a host set of {} host{} in this inventory",
                        hs.len(),
                        if hs.len() == 1 { "" } else { "s" }
                    ),
                )
                .at(span, "no such host")
                .note(format!(
                    "the host set is: {}",
                    if hs.is_empty() {
                        "empty".to_string()
                    } else {
                        hs.join(", ")
                    }
                ))
                .help(format!(
                    "nth counts from 0: use an index below {}, or add the hosts to the inventory",
                    hs.len()
                )),
            );
        }
    }

    /// After a step: each `host.vars.NAME` it reads must be set on every host it targets
    /// (unless read through `default(...)`).
    pub(super) fn host_vars_present(&mut self) {
        let uses = std::mem::take(&mut self.host_var_uses);
        let Some(targets) = self.site.targets.clone() else {
            return;
        };
        let Some(hosts) = self.static_hosts(&targets, 0) else {
            return;
        };
        let Some(facts) = self.opts.inventory_facts.clone() else {
            return;
        };
        let mut reported: Vec<String> = Vec::new();
        for (name, span) in uses {
            if reported.contains(&name) {
                continue;
            }
            let lacking: Vec<&String> = hosts
                .iter()
                .filter(|h| !facts.var_names.get(*h).is_some_and(|v| v.contains(&name)))
                .collect();
            if lacking.is_empty() {
                continue;
            }
            reported.push(name.clone());
            let list: Vec<&str> = lacking.iter().map(|h| h.as_str()).collect();
            self.emit(
                Diagnostic::error("missing-host-var", format!("`host.vars.{name}` is not set on {}", list.join(", ")))
                    .at(span, "read on every host of the step")
                    .help(format!("set `{name}` for those hosts in the inventory (host or group vars), or read it as `default(host.vars.{name}, ...)`")),
            );
        }
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in v {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

impl Checker<'_> {
    /// A literal `copy` source missing on the controller, with nothing earlier in the flow
    /// that could make it (a `run` on `local`, `fetch`, `tls.*`, `etcd.snapshot_save`).
    pub(super) fn copy_source_exists(&mut self, src: Option<&ir::Expr>) {
        let Some(ir::Expr {
            kind: K::Str(rel),
            span,
            ..
        }) = src
        else {
            return;
        };
        let missing = self.prog.local_files.get(&(self.file, rel.clone())) == Some(&false);
        if missing && !self.controller_writes {
            self.emit(
                Diagnostic::error("copy-source-not-found", format!("`{rel}` does not exist on the controller"))
                    .at(*span, "no such file")
                    .help("copy sources are relative to the flow file; create it, fix the path, or make it in an earlier step (a `run` on `local`, `fetch`, `tls.cert`)"),
            );
        }
    }
}

impl Checker<'_> {
    /// A cluster's literal `ca`/`cert`/`key` file missing on the controller: read before
    /// the run unless the cluster is `lazy` (a step of the flow makes it).
    pub(super) fn cluster_files_exist(&mut self, fields: &IndexMap<&'static str, ir::Expr>) {
        let lazy = matches!(fields.get("lazy").map(|e| &e.kind), Some(K::Bool(true)));
        if lazy {
            return;
        }
        for k in ["ca", "cert", "key"] {
            let Some(ir::Expr {
                kind: K::Str(rel),
                span,
                ..
            }) = fields.get(k)
            else {
                continue;
            };
            if self.prog.local_files.get(&(self.file, rel.clone())) == Some(&false) {
                self.emit(
                    Diagnostic::error("cluster-file-not-found", format!("the cluster's `{k}` file `{rel}` does not exist on the controller"))
                        .at(*span, "no such file")
                        .help("paths are relative to the flow file; if a step of the flow makes it (`tls.ca`, `tls.cert`), declare the cluster `lazy: true`"),
                );
            }
        }
    }
}
