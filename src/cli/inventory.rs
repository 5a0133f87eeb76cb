//! `etcdflow inventory -i FILE [--graph]`: what etcdflow understood of an inventory.

use super::Exit;
use crate::diagnostics::{render, Diagnostic};
use crate::inventory::Inventory;
use crate::source::SourceMap;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct InventoryArgs {
    /// The Ansible inventory (INI or YAML).
    #[arg(short, long, value_name = "INVENTORY")]
    inventory: PathBuf,
    /// Print the group tree instead of the host table.
    #[arg(long)]
    graph: bool,
}

impl InventoryArgs {
    pub(crate) fn run(self, color: bool) -> Exit {
        let mut sources = SourceMap::new();
        let (inv, diags) = match Inventory::load(&self.inventory, &mut sources) {
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
        if self.graph {
            crate::out!("@all:");
            let tops: Vec<&String> = inv
                .groups
                .keys()
                .filter(|g| {
                    g.as_str() != "all" && !inv.groups.values().any(|p| p.children.contains(g))
                })
                .collect();
            for g in tops {
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
