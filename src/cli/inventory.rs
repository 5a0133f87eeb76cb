//! `etcdflow inventory -i FILE [--graph]`: what etcdflow understood of an inventory.

use super::Exit;
use crate::diagnostics::{render, Diagnostic};
use crate::inventory::Inventory;
use crate::source::SourceMap;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct InventoryArgs {
    /// An Ansible inventory: an INI or YAML file, a directory (every inventory file in
    /// it, with `group_vars/` and `host_vars/`), or `host1,host2,` (repeatable, merged in
    /// order); without it, ansible.cfg's `inventory`.
    #[arg(short, long, value_name = "INVENTORY")]
    inventory: Vec<PathBuf>,
    /// Also read `group_vars/` and `host_vars/` in this directory, as the playbook's
    /// (`run` uses the flow's directory), like `ansible-inventory --playbook-dir`.
    #[arg(long, value_name = "DIR")]
    playbook_dir: Option<PathBuf>,
    /// Print the group tree instead of the host table.
    #[arg(long, conflicts_with_all = ["list", "host"])]
    graph: bool,
    /// Print the inventory as JSON in the shape of `ansible-inventory --list`
    /// (`_meta.hostvars` with each host's merged variables, groups with `hosts` and
    /// `children`).
    #[arg(long, conflicts_with = "host")]
    list: bool,
    /// Print one host's merged variables as JSON, like `ansible-inventory --host`.
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
}

impl InventoryArgs {
    pub(crate) fn run(self, color: bool) -> Exit {
        let mut sources = SourceMap::new();
        let cwd = std::env::current_dir().unwrap_or_default();
        let loaded =
            crate::inventory::Sources::resolve(&self.inventory, self.playbook_dir.clone(), &cwd)
                .and_then(|src| Inventory::load_sources(&src, &mut sources));
        let (inv, diags) = match loaded {
            Ok(x) => x,
            Err(d) => {
                eprint!("{}", render::human(&[d], &sources, color));
                return Exit::Usage;
            }
        };
        if !diags.is_empty() {
            eprint!("{}", render::human(&diags, &sources, color));
            if diags.iter().any(Diagnostic::is_error) {
                return Exit::Failed;
            }
        }
        if let Some(h) = &self.host {
            if !inv.hosts.contains_key(h) {
                let d =
                    Diagnostic::error("unknown-host", format!("the inventory has no host `{h}`"))
                        .help("`etcdflow inventory -i INV` lists the hosts");
                eprint!("{}", render::human(&[d], &sources, color));
                return Exit::Failed;
            }
            crate::out!(
                "{}",
                serde_json::to_string_pretty(&host_json(&inv, h)).unwrap_or_default()
            );
        } else if self.list {
            crate::out!(
                "{}",
                serde_json::to_string_pretty(&list_json(&inv)).unwrap_or_default()
            );
        } else if self.graph {
            crate::out!("@all:");
            for g in top_groups(&inv) {
                graph(&inv, g, 1, &mut Vec::new());
            }
        } else {
            crate::out!(
                "{:<24} {:<20} {:>5}  {:<10} groups",
                "host",
                "address",
                "port",
                "user"
            );
            for name in inv.hosts.keys() {
                if let Some(t) = inv.target(name) {
                    let groups: Vec<String> = inv
                        .groups_of(name)
                        .into_iter()
                        .filter(|g| g != "all")
                        .collect();
                    crate::out!(
                        "{:<24} {:<20} {:>5}  {:<10} {}",
                        t.name,
                        t.address,
                        t.port,
                        t.user.as_deref().unwrap_or("-"),
                        groups.join(",")
                    );
                }
            }
        }
        Exit::Ok
    }
}

fn graph(inv: &Inventory, g: &str, depth: usize, stack: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    crate::out!("{pad}|--@{g}:");
    if stack.iter().any(|s| s == g) {
        return;
    }
    stack.push(g.to_string());
    if let Some(gr) = inv.groups.get(g) {
        for c in &gr.children {
            graph(inv, c, depth + 1, stack);
        }
        for h in &gr.hosts {
            crate::out!("{pad}  |--{h}");
        }
    }
    stack.pop();
}

/// The groups directly under `all`: its children (YAML `all: children:`, INI
/// `[all:children]`) and every group that is no other group's child.
fn top_groups(inv: &Inventory) -> Vec<&str> {
    let mut tops: Vec<&str> = inv
        .groups
        .get("all")
        .map(|a| a.children.iter().map(String::as_str).collect())
        .unwrap_or_default();
    for g in inv.groups.keys() {
        let child = inv.groups.values().any(|p| p.children.contains(g));
        if g != "all" && !child && !tops.contains(&g.as_str()) {
            tops.push(g);
        }
    }
    // `ungrouped` first, as Ansible lists it.
    tops.sort_by_key(|g| *g != "ungrouped");
    tops
}

fn host_json(inv: &Inventory, h: &str) -> serde_json::Value {
    serde_json::Value::Object(
        inv.host_vars(h)
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    )
}

/// `ansible-inventory --list`: empty keys and empty groups left out (an empty group
/// still appears among its parent's children), as Ansible does.
fn list_json(inv: &Inventory) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut out = Map::new();
    // Only hosts that have variables, as Ansible lists them.
    let hostvars: Map<String, Value> = inv
        .hosts
        .keys()
        .map(|h| (h.clone(), host_json(inv, h)))
        .filter(|(_, v)| v.as_object().is_some_and(|m| !m.is_empty()))
        .collect();
    out.insert("_meta".into(), json!({ "hostvars": hostvars }));
    out.insert("all".into(), json!({ "children": top_groups(inv) }));
    for (name, g) in &inv.groups {
        if name == "all" {
            continue;
        }
        let mut entry = Map::new();
        if !g.hosts.is_empty() {
            entry.insert("hosts".into(), json!(g.hosts));
        }
        if !g.children.is_empty() {
            entry.insert("children".into(), json!(g.children));
        }
        if !entry.is_empty() {
            out.insert(name.clone(), Value::Object(entry));
        }
    }
    Value::Object(out)
}
