//! Ansible inventories, INI and YAML, read as they are: groups, `[g:children]`,
//! `[g:vars]`, inline host vars, ranges (`node[01:10]`), `all`/`ungrouped`, and the
//! connection variables etcdflow uses (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, `ansible_become`, `ansible_connection`).
//!
//! Every host, user and port is validated strictly at load time (SAFETY.md invariant 22):
//! a value that could become an ssh option or a shell word is refused with a diagnostic
//! that points at its line.

mod config;
mod ini;
mod select;
mod sources;
mod ssh_args;
mod yaml;

pub use config::Defaults;
pub use sources::{Sources, VarsDir};
pub use ssh_args::SshArgs;

use crate::diagnostics::Diagnostic;
use crate::source::{FileId, SourceMap, Span};
use indexmap::IndexMap;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
pub struct Host {
    pub name: String,
    pub vars: IndexMap<String, String>,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub vars: IndexMap<String, String>,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub file: Option<FileId>,
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// `group_vars/`/`host_vars/` beside each source, in the order of the sources.
    pub inventory_vars: Vec<VarsDir>,
    /// `group_vars/`/`host_vars/` beside the playbook (the flow's directory).
    pub playbook_vars: Option<VarsDir>,
    /// ansible.cfg's connection defaults.
    pub defaults: Defaults,
    /// Group relations, built on first use (after loading).
    index: std::sync::OnceLock<Index>,
}

/// Limits that keep a hostile or mistaken inventory from hanging or exhausting memory:
/// each is a diagnostic, never a hang.
pub const MAX_HOSTS: usize = 10_000;
pub const MAX_GROUPS: usize = 10_000;
pub const MAX_DEPTH: usize = 64;
pub const MAX_BYTES: usize = 16 << 20;

/// Which groups each host is in and how deep each group sits.
#[derive(Clone, Debug, Default)]
struct Index {
    host_groups: std::collections::HashMap<String, Vec<String>>,
    depth: std::collections::HashMap<String, usize>,
}

impl Index {
    fn build(inv: &Inventory) -> Index {
        use std::collections::HashMap;
        let order: HashMap<&str, usize> = inv
            .groups
            .keys()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (g, gr) in &inv.groups {
            for c in &gr.children {
                parents.entry(c.as_str()).or_default().push(g.as_str());
            }
        }
        // Depth: the longest chain of parents, iteratively with memo; a cycle counts 0.
        let mut depth: HashMap<String, usize> = HashMap::new();
        for g in inv.groups.keys() {
            let mut stack: Vec<(&str, bool)> = vec![(g.as_str(), false)];
            let mut on_path: std::collections::HashSet<&str> = std::collections::HashSet::new();
            while let Some((n, done)) = stack.pop() {
                if depth.contains_key(n) {
                    continue;
                }
                let ps = parents.get(n).map(Vec::as_slice).unwrap_or(&[]);
                if done {
                    on_path.remove(n);
                    let d = ps
                        .iter()
                        .map(|p| depth.get(*p).map_or(0, |d| d + 1))
                        .max()
                        .unwrap_or(0);
                    depth.insert(n.to_string(), d);
                    continue;
                }
                on_path.insert(n);
                stack.push((n, true));
                for p in ps {
                    if !depth.contains_key(*p) && !on_path.contains(p) {
                        stack.push((p, false));
                    }
                }
            }
        }
        // Host -> every ancestor of the groups that list it.
        let mut host_groups: HashMap<String, indexmap::IndexSet<String>> = HashMap::new();
        for (g, gr) in inv.groups.iter().filter(|(_, gr)| !gr.hosts.is_empty()) {
            let mut anc: Vec<&str> = Vec::new();
            let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
            let mut stack = vec![g.as_str()];
            while let Some(n) = stack.pop() {
                if seen.insert(n) {
                    anc.push(n);
                    stack.extend(parents.get(n).map(Vec::as_slice).unwrap_or(&[]));
                }
            }
            for h in &gr.hosts {
                let e = host_groups.entry(h.clone()).or_default();
                for a in &anc {
                    e.insert((*a).to_string());
                }
            }
        }
        // `all` holds every host, as Ansible has it.
        if inv.groups.contains_key("all") {
            for h in inv.hosts.keys() {
                host_groups
                    .entry(h.clone())
                    .or_default()
                    .insert("all".into());
            }
        }
        let host_groups = host_groups
            .into_iter()
            .map(|(h, set)| {
                let mut v: Vec<String> = set.into_iter().collect();
                v.sort_by_key(|g| order.get(g.as_str()).copied().unwrap_or(usize::MAX));
                (h, v)
            })
            .collect();
        Index { host_groups, depth }
    }
}

/// The connection facts of one host, after group and host vars are merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub key_file: Option<String>,
    pub become_: bool,
    pub local: bool,
    /// `ansible_ssh_common_args` and `ansible_ssh_extra_args`, as ssh settings.
    pub ssh: SshArgs,
    pub vars: IndexMap<String, String>,
}

impl Inventory {
    /// Parse by content: YAML when the file looks like a YAML mapping, else INI.
    pub fn parse(file: FileId, sources: &SourceMap) -> (Inventory, Vec<Diagnostic>) {
        let text = sources.text(file);
        let name = sources.name(file);
        let is_yaml = name.ends_with(".yml")
            || name.ends_with(".yaml")
            || text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
                .is_some_and(|l| l == "---" || (l.ends_with(':') && !l.starts_with('[')));
        let (mut inv, mut diags) = if is_yaml {
            yaml::parse(file, text)
        } else {
            ini::parse(file, text)
        };
        inv.file = Some(file);
        inv.finish();
        if let Some(d) = inv.too_large(file, text.len()) {
            diags.push(d);
            return (Inventory::default(), diags);
        }
        diags.extend(inv.validate());
        (inv, diags)
    }

    /// The explicit limits (`MAX_*`): a diagnostic instead of a hang or an abort.
    fn too_large(&self, file: FileId, bytes: usize) -> Option<Diagnostic> {
        let over = |what: String| {
            Some(
                Diagnostic::error("inventory-too-large", what)
                    .at(Span::new(file, 0, 0), "this inventory")
                    .help("split the inventory, or give etcdflow only the groups of the control plane"),
            )
        };
        if bytes > MAX_BYTES {
            return over(format!(
                "the inventory is {bytes} bytes; etcdflow reads at most {MAX_BYTES}"
            ));
        }
        if self.hosts.len() > MAX_HOSTS {
            return over(format!(
                "{} hosts; etcdflow reads at most {MAX_HOSTS}",
                self.hosts.len()
            ));
        }
        if self.groups.len() > MAX_GROUPS {
            return over(format!(
                "{} groups; etcdflow reads at most {MAX_GROUPS}",
                self.groups.len()
            ));
        }
        let deepest = self.groups.keys().map(|g| (self.depth_of(g), g)).max();
        if let Some((d, g)) = deepest.filter(|(d, _)| *d > MAX_DEPTH) {
            return over(format!(
                "group `{g}` is {d} levels of `children` deep; etcdflow reads at most {MAX_DEPTH}"
            ));
        }
        None
    }

    /// Read and parse an inventory file into the source map. `Err` is a usage error (the
    /// file cannot be read); parse problems come back as diagnostics with the inventory.
    pub fn load(
        path: &std::path::Path,
        sources: &mut SourceMap,
    ) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
        // `-i 'h1,h2,'`: Ansible's host list (every host in `ungrouped`), when no file of
        // that name exists.
        let arg = path.to_string_lossy();
        if !path.exists() && arg.contains(',') {
            let text: String = arg
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("{h}\n"))
                .collect();
            let id = sources.add("<host list>", path, text);
            return Ok(Inventory::parse(id, sources));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostic::error(
                "file-not-found",
                format!("cannot read inventory `{}`: {e}", path.display()),
            )
            .help("pass an Ansible inventory file with `-i`")
        })?;
        let id = sources.add(path.display().to_string(), path, text);
        Ok(Inventory::parse(id, sources))
    }

    /// What `check` may know: each group's hosts and each host's variable names.
    pub fn facts(&self) -> crate::check::InventoryFacts {
        let mut f = crate::check::InventoryFacts::default();
        for g in self.group_names() {
            if let Some(hs) = self.group_hosts(&g) {
                f.groups.insert(g, hs);
            }
        }
        for h in self.hosts.keys() {
            if let Some(t) = self.target(h) {
                f.var_names
                    .insert(h.clone(), t.vars.keys().cloned().collect());
            }
        }
        f
    }

    pub fn group_names(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.groups.keys().cloned().collect();
        s.insert("all".into());
        s.insert("ungrouped".into());
        s
    }

    /// Ensure `all` and `ungrouped` exist and every host is reachable from `all`.
    fn finish(&mut self) {
        let grouped: BTreeSet<String> = self
            .groups
            .iter()
            .filter(|(n, _)| n.as_str() != "all" && n.as_str() != "ungrouped")
            .flat_map(|(_, g)| g.hosts.iter().cloned())
            .collect();
        let ungrouped: Vec<String> = self
            .hosts
            .keys()
            .filter(|h| !grouped.contains(*h))
            .cloned()
            .collect();
        let ug = self.groups.entry("ungrouped".into()).or_default();
        for h in ungrouped {
            if !ug.hosts.contains(&h) {
                ug.hosts.push(h);
            }
        }
    }

    /// Hosts of a group, children included, in inventory order, without duplicates.
    /// Every host name, in inventory order.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    pub fn group_hosts(&self, name: &str) -> Option<Vec<String>> {
        if name == "all" {
            return Some(self.hosts.keys().cloned().collect());
        }
        self.groups.get(name)?;
        // Iterative (a deep chain of children cannot overflow the stack); each group once
        // (a children cycle ends), each host once.
        let mut out: indexmap::IndexSet<String> = indexmap::IndexSet::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut stack: Vec<&str> = vec![name];
        while let Some(g) = stack.pop() {
            if !seen.insert(g) {
                continue;
            }
            let Some(gr) = self.groups.get(g) else {
                continue;
            };
            for h in &gr.hosts {
                out.insert(h.clone());
            }
            // Children in order: push reversed so the first child is visited first.
            for c in gr.children.iter().rev() {
                stack.push(c.as_str());
            }
        }
        Some(out.into_iter().collect())
    }

    /// The group relations, computed once (an inventory is not changed after loading).
    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(self))
    }

    /// Groups a host belongs to, directly or through children, in inventory order.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        self.index()
            .host_groups
            .get(host)
            .cloned()
            .unwrap_or_default()
    }

    /// Variables for a host, in Ansible's order (its `VARIABLE_PRECEDENCE` default, then
    /// host vars), a later layer winning: the inventory's `all` vars; the inventory's
    /// group vars (sorted groups); `group_vars/all` beside the sources, then beside the
    /// playbook; `group_vars/<group>` beside the sources, then the playbook; the
    /// inventory's host vars; `host_vars/<host>` beside the sources, then the playbook.
    pub fn host_vars(&self, host: &str) -> IndexMap<String, String> {
        let mut vars = IndexMap::new();
        if let Some(all) = self.groups.get("all") {
            vars.extend(all.vars.clone());
        }
        let groups = self.sorted_groups(host);
        for g in &groups {
            if let Some(gr) = self.groups.get(g) {
                vars.extend(gr.vars.clone());
            }
        }
        let layers: Vec<&VarsDir> = self
            .inventory_vars
            .iter()
            .chain(self.playbook_vars.as_ref())
            .collect();
        for l in &layers {
            vars.extend(l.groups.get("all").cloned().unwrap_or_default());
        }
        for l in &layers {
            for g in &groups {
                vars.extend(l.groups.get(g).cloned().unwrap_or_default());
            }
        }
        if let Some(h) = self.hosts.get(host) {
            vars.extend(h.vars.clone());
        }
        for l in &layers {
            vars.extend(l.hosts.get(host).cloned().unwrap_or_default());
        }
        // A property of groups, not a variable of hosts (Ansible does not show it).
        vars.shift_remove("ansible_group_priority");
        vars
    }

    /// A host's groups but `all`, as Ansible's `sort_groups` orders them: by depth, then
    /// `ansible_group_priority` (default 1), then name.
    fn sorted_groups(&self, host: &str) -> Vec<String> {
        let index = self.index();
        let mut groups = self.groups_of(host);
        // As Ansible orders them: by depth, then `ansible_group_priority` (default 1),
        // then name; a later group's value wins.
        let priority = |g: &str| -> i64 {
            self.groups
                .get(g)
                .and_then(|gr| gr.vars.get("ansible_group_priority"))
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(1)
        };
        groups.retain(|g| g != "all");
        groups.sort_by(|a, b| {
            let key = |g: &String| (index.depth.get(g).copied().unwrap_or(0), priority(g));
            key(a).cmp(&key(b)).then_with(|| a.cmp(b))
        });
        groups
    }

    /// The longest chain of parents above a group.
    pub fn depth_of(&self, group: &str) -> usize {
        self.index().depth.get(group).copied().unwrap_or(0)
    }

    pub fn target(&self, host: &str) -> Option<Target> {
        self.hosts.get(host)?;
        let vars = self.host_vars(host);
        // Ansible's spellings, the current one first.
        let get = |ks: &[&str]| ks.iter().find_map(|k| vars.get(*k).cloned());
        Some(Target {
            name: host.to_string(),
            address: get(&["ansible_host", "ansible_ssh_host"])
                .map(|a| unbracket(&a))
                .unwrap_or_else(|| host.to_string()),
            port: get(&["ansible_port", "ansible_ssh_port"])
                .and_then(|p| p.parse().ok())
                .or(self.defaults.remote_port)
                .unwrap_or(22),
            user: get(&["ansible_user", "ansible_ssh_user"])
                .or_else(|| self.defaults.remote_user.clone()),
            key_file: get(&["ansible_private_key_file", "ansible_ssh_private_key_file"])
                .or_else(|| self.defaults.private_key_file.clone()),
            become_: get(&["ansible_become"]).is_some_and(|b| truthy(&b)),
            local: get(&["ansible_connection"]).as_deref() == Some("local"),
            ssh: ssh_args::parse(&self.ssh_arg_text(&vars)).unwrap_or_default(),
            vars,
        })
    }

    /// Strict checks of every host, user and port (SAFETY.md invariant 22).
    fn validate(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let bad = |what: &str, value: &str, why: String, span: Option<Span>| {
            let mut d = Diagnostic::error(
                "invalid-inventory-host",
                format!("{what} `{}` is not allowed", value.escape_debug()),
            );
            d = match span {
                Some(s) => d.at(s, why),
                None => d.note(why),
            };
            d.help("hosts are DNS names or IP addresses (IPv6 in brackets), users are plain login names, ports 1..65535")
        };
        for (name, h) in &self.hosts {
            if let Err(why) = check_host(name) {
                out.push(bad("inventory host", name, why, h.span));
            }
            let vars = self.host_vars(name);
            if let Some(a) = vars.get("ansible_host").or(vars.get("ansible_ssh_host")) {
                // A bare IPv6 address is as good as a bracketed one (Ansible takes both).
                let bare_v6 = a.parse::<std::net::Ipv6Addr>().is_ok();
                match check_host(a) {
                    Err(_) if bare_v6 => {}
                    Err(why) => out.push(bad("`ansible_host`", a, why, h.span)),
                    Ok(()) => {}
                }
            }
            if let Some(u) = vars.get("ansible_user").or(vars.get("ansible_ssh_user")) {
                if let Err(why) = check_user(u) {
                    out.push(bad("`ansible_user`", u, why, h.span));
                }
            }
            out.extend(self.unsupported(name, &vars, h.span));
            if let Some(p) = vars.get("ansible_port").or(vars.get("ansible_ssh_port")) {
                if !p.parse::<u16>().is_ok_and(|n| n >= 1) {
                    out.push(bad(
                        "`ansible_port`",
                        p,
                        "not a port in 1..65535".into(),
                        h.span,
                    ));
                }
            }
        }
        out
    }
}

pub fn truthy(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
}

/// A strict host name or IP address (SAFETY.md inv. 22).
pub fn check_host(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("empty".into());
    }
    if h.starts_with('-') {
        return Err("starts with `-` and would be read as an ssh option".into());
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv6 address".into());
    }
    if h.contains(':') {
        return Err("IPv6 addresses must be in brackets; `:` is not allowed otherwise".into());
    }
    if h.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if let Some(c) = h
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.' || *c == '_'))
    {
        return Err(format!(
            "contains `{}`, which is not allowed in a host name",
            c.escape_debug()
        ));
    }
    if h.split('.').any(|l| l.is_empty() || l.starts_with('-')) {
        return Err("has an empty label or a label starting with `-`".into());
    }
    Ok(())
}

pub fn check_user(u: &str) -> Result<(), String> {
    if u.is_empty() {
        return Err("empty".into());
    }
    if u.starts_with('-') {
        return Err("starts with `-`".into());
    }
    if u.len() > 32 {
        return Err("longer than 32 characters".into());
    }
    if let Some(c) = u
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
    {
        return Err(format!("contains `{}`", c.escape_debug()));
    }
    Ok(())
}

/// Expand Ansible host ranges: `node[01:03]` → node01, node02, node03; `[a:c]`; strides.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    // `[v6]` as a whole host is not a range.
    if open == 0
        && pattern.ends_with(']')
        && pattern.contains(':')
        && !pattern[1..].contains('[')
        && pattern[1..pattern.len() - 1].matches(':').count() > 2
    {
        return Ok(vec![pattern.to_string()]);
    }
    let close = pattern[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or("unclosed `[` in a host range")?;
    let (prefix, spec, suffix) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let parts: Vec<&str> = spec.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "range `[{spec}]` must be `[start:end]` or `[start:end:step]`"
        ));
    }
    let step: usize = match parts.get(2) {
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("range step must be a positive integer")?,
        None => 1,
    };
    let (a, b) = (parts[0], parts[1]);
    let mut items = Vec::new();
    if let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>()) {
        if x > y {
            return Err(format!("range `[{spec}]` runs backwards"));
        }
        if (y - x) / step as u64 >= MAX_HOSTS as u64 {
            return Err(format!(
                "range `[{spec}]` has more than {MAX_HOSTS} hosts, the most etcdflow reads"
            ));
        }
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        let mut n = x;
        while n <= y {
            items.push(format!("{n:0width$}"));
            n += step as u64;
        }
    } else if a.len() == 1
        && b.len() == 1
        && a.chars().all(|c| c.is_ascii_alphabetic())
        && b.chars().all(|c| c.is_ascii_alphabetic())
    {
        let (x, y) = (a.as_bytes()[0], b.as_bytes()[0]);
        if x > y {
            return Err(format!("range `[{spec}]` runs backwards"));
        }
        let mut c = x;
        while c <= y {
            items.push((c as char).to_string());
            c = c.saturating_add(step as u8);
            if c == u8::MAX {
                break;
            }
        }
    } else {
        return Err(format!(
            "range `[{spec}]` must be numbers or single letters"
        ));
    }
    let rests = expand_range(suffix)?;
    if items.len().saturating_mul(rests.len()) > MAX_HOSTS {
        return Err(format!(
            "the pattern expands to {} hosts; etcdflow reads at most {MAX_HOSTS}",
            items.len().saturating_mul(rests.len())
        ));
    }
    let mut out = Vec::with_capacity(items.len() * rests.len());
    for i in items {
        for rest in &rests {
            out.push(format!("{prefix}{i}{rest}"));
        }
    }
    Ok(out)
}

/// The ssh options of both Ansible variables, common first.
impl Inventory {
    /// A host's ssh options as Ansible puts them on ssh's command line: ansible.cfg's
    /// `ssh_args` first (ssh takes the first value of each option), then
    /// `ansible_ssh_common_args`, then `ansible_ssh_extra_args`.
    fn ssh_arg_text(&self, vars: &IndexMap<String, String>) -> String {
        self.defaults
            .ssh_args
            .iter()
            .chain(
                ["ansible_ssh_common_args", "ansible_ssh_extra_args"]
                    .iter()
                    .filter_map(|k| vars.get(*k)),
            )
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A host's own ssh options (its variables only), checked per host.
fn ssh_arg_text(vars: &IndexMap<String, String>) -> String {
    ["ansible_ssh_common_args", "ansible_ssh_extra_args"]
        .iter()
        .filter_map(|k| vars.get(*k))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `[fd00::21]` and `fd00::21` are the same address.
fn unbracket(a: &str) -> String {
    a.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(a)
        .to_string()
}

impl Inventory {
    /// Variables that change how Ansible connects or escalates and that etcdflow does not
    /// implement: an error each, never ignored; settings etcdflow overrides on purpose: a
    /// warning each.
    fn unsupported(
        &self,
        host: &str,
        vars: &IndexMap<String, String>,
        span: Option<Span>,
    ) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut say = |error: bool, what: String, help: &str| {
            let mut d = if error {
                Diagnostic::error("unsupported-inventory-var", what)
            } else {
                Diagnostic::warning("unsupported-inventory-var", what)
            };
            if let Some(s) = span {
                d = d.at(s, format!("host `{host}`"));
            }
            out.push(d.help(help.to_string()));
        };
        for (k, v) in vars {
            if v.contains("$ANSIBLE_VAULT") {
                say(true, format!("`{k}` of `{host}` is an Ansible Vault value, which etcdflow cannot decrypt"), "give the value with `-e` or an unencrypted vars file, or leave it out of the inventory etcdflow reads");
            }
        }
        let get = |k: &str| vars.get(k).map(String::as_str);
        match get("ansible_connection") {
            None | Some("ssh" | "smart" | "local" | "paramiko") => {}
            Some(other) => say(true, format!("`{host}` has `ansible_connection={other}`: etcdflow connects over ssh or locally only"), "use `ssh` or `local` for the hosts of an etcdflow run"),
        }
        for k in [
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ] {
            if vars.contains_key(k) {
                say(
                    true,
                    format!("`{host}` has `{k}`: etcdflow authenticates with keys only"),
                    "use an ssh key (`ansible_private_key_file`, an agent or the ssh config)",
                );
            }
        }
        match get("ansible_become_method") {
            None | Some("sudo") => {}
            Some(other) => say(true, format!("`{host}` has `ansible_become_method={other}`: etcdflow escalates with sudo only"), "use `sudo` on the hosts of an etcdflow run"),
        }
        for k in [
            "ansible_become_exe",
            "ansible_become_flags",
            "ansible_ssh_executable",
            "ansible_sftp_extra_args",
            "ansible_scp_extra_args",
            "ansible_ssh_pipelining",
        ] {
            if vars.contains_key(k) {
                say(
                    true,
                    format!("`{host}` has `{k}`, which etcdflow does not implement"),
                    "remove it for the etcdflow inventory, or express it in the ssh config (`-F`)",
                );
            }
        }
        match get("ansible_shell_type") {
            None | Some("sh") => {}
            Some(other) => say(true, format!("`{host}` has `ansible_shell_type={other}`: etcdflow's commands run under a POSIX `sh`"), "hosts need a POSIX sh"),
        }
        if let Some(v) = get("ansible_host_key_checking").or(get("ansible_ssh_host_key_checking")) {
            if !truthy(v) {
                say(false, format!("`{host}` turns host key checking off: etcdflow always checks host keys strictly"), "add the keys to known_hosts, or pass `--accept-new-host-keys` to trust new hosts on first use");
            }
        }
        match ssh_args::parse(&ssh_arg_text(vars)) {
            Ok(a) => {
                for o in a.overridden {
                    say(false, format!("`{host}`: ssh option {o}"), "remove it from `ansible_ssh_common_args`/`ansible_ssh_extra_args` to silence this");
                }
            }
            Err(why) => say(
                true,
                format!("`{host}`: its ssh options cannot be honoured: {why}"),
                "fix `ansible_ssh_common_args`/`ansible_ssh_extra_args`",
            ),
        }
        out
    }
}

#[cfg(test)]
mod tests;
