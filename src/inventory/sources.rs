//! Where an inventory comes from, as Ansible finds it: several `-i` sources merged in
//! order (files, directories read file by file, `h1,h2,` host lists), `group_vars/` and
//! `host_vars/` beside each source and beside the playbook (the flow's directory), and the
//! defaults of `ansible.cfg` (`config.rs`).

use super::config::Defaults;
use super::{yaml, Inventory};
use crate::diagnostics::Diagnostic;
use crate::source::{SourceMap, Span};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// Everything an inventory is read from. Journaled, so `resume` reads the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sources {
    /// `-i` sources in order (from `ansible.cfg` when none was given).
    pub paths: Vec<PathBuf>,
    /// `group_vars/` and `host_vars/` here are the playbook's (the flow's directory).
    #[serde(default)]
    pub playbook_dir: Option<PathBuf>,
    /// What `ansible.cfg` and `ANSIBLE_*` say about connecting.
    #[serde(default)]
    pub defaults: Defaults,
}

impl Sources {
    /// The sources of a run started in `cwd`: the `-i` given (in order), else
    /// ansible.cfg's `inventory`; paths made absolute (a `h1,h2,` host list stays as it
    /// is), so a resumed run reads the same files wherever it is started.
    pub fn resolve(
        given: &[PathBuf],
        playbook_dir: Option<PathBuf>,
        cwd: &Path,
    ) -> Result<Sources, Diagnostic> {
        let defaults = Defaults::discover(cwd)?;
        let paths: Vec<PathBuf> = if given.is_empty() {
            defaults.inventory.clone()
        } else {
            given.to_vec()
        };
        let abs = |p: &PathBuf| {
            let host_list = !p.exists() && p.to_string_lossy().contains(',');
            if host_list {
                p.clone()
            } else {
                std::fs::canonicalize(p).unwrap_or_else(|_| cwd.join(p))
            }
        };
        Ok(Sources {
            paths: paths.iter().map(abs).collect(),
            playbook_dir: playbook_dir.map(|d| std::fs::canonicalize(&d).unwrap_or(d)),
            defaults,
        })
    }

    /// The sources as the operator would name them (for messages and `plan`).
    pub fn describe(&self) -> String {
        self.paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Variables from the `group_vars/` and `host_vars/` files of one directory.
#[derive(Clone, Debug, Default)]
pub struct VarsDir {
    pub dir: PathBuf,
    pub groups: IndexMap<String, IndexMap<String, String>>,
    pub hosts: IndexMap<String, IndexMap<String, String>>,
}

/// Names in an inventory directory Ansible never reads as inventory: hidden files, the
/// vars directories, and `INVENTORY_IGNORE_EXTS` (its default list).
fn ignored(name: &str) -> bool {
    const EXTS: &[&str] = &[
        "~", ".orig", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt",
        ".rst",
    ];
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || EXTS.iter().any(|e| name.ends_with(e))
}

/// How many inventory files one directory source may hold (a mistaken `-i /`), and how
/// deep it is walked (a symlink loop ends).
const MAX_FILES: usize = 1_000;
const MAX_WALK_DEPTH: usize = 16;

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The files under `dir` that `keep` accepts (directories too: a kept one is entered), in
/// name order, a directory's files where the directory sorts — as Ansible walks it.
fn walk(
    dir: &Path,
    depth: usize,
    keep: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| keep(p))
        .collect();
    entries.sort();
    for e in entries {
        if out.len() > MAX_FILES {
            break;
        }
        if e.is_dir() {
            if depth < MAX_WALK_DEPTH {
                walk(&e, depth + 1, keep, out)?;
            }
        } else {
            out.push(e);
        }
    }
    Ok(())
}

impl Inventory {
    /// Read every source of `src` and merge them in order, then the vars directories.
    /// `Err` is a usage error (nothing could be read); the rest are diagnostics.
    pub fn load_sources(
        src: &Sources,
        sources: &mut SourceMap,
    ) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
        if src.paths.is_empty() {
            return Err(Diagnostic::error(
                "file-not-found",
                "no inventory: none given with `-i`, and no `inventory` in ansible.cfg",
            )
            .help("pass an Ansible inventory with `-i` (a file, a directory or `host1,host2,`)"));
        }
        let mut inv = Inventory::default();
        let mut diags = Vec::new();
        for p in &src.paths {
            let (one, mut d) = read_source(p, sources)?;
            diags.append(&mut d);
            if inv.file.is_none() {
                inv.file = one.file;
            }
            inv.merge(one);
        }
        inv.regroup();
        // group_vars/host_vars beside each source (a directory: inside it), in the order
        // of the sources; then beside the playbook.
        for p in &src.paths {
            if !p.exists() {
                continue; // a host list
            }
            let dir = if p.is_dir() {
                p.clone()
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            let (v, mut d) = vars_dir(&dir, &inv, sources);
            diags.append(&mut d);
            inv.inventory_vars.push(v);
        }
        if let Some(dir) = &src.playbook_dir {
            let (v, mut d) = vars_dir(dir, &inv, sources);
            diags.append(&mut d);
            inv.playbook_vars = Some(v);
        }
        inv.defaults = src.defaults.clone();
        diags.extend(src.defaults.diagnostics());
        let bytes: usize = src
            .paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .filter(|m| m.is_file())
            .map(|m| m.len() as usize)
            .sum();
        if let Some(d) = inv.file.and_then(|f| inv.too_large(f, bytes)) {
            diags.push(d);
            return Ok((Inventory::default(), diags));
        }
        diags.extend(inv.validate());
        Ok((inv, diags))
    }

    /// Merge another source into this one, as Ansible adds to one inventory: hosts and
    /// groups are unions in first-seen order, a later source's variables win.
    fn merge(&mut self, other: Inventory) {
        for (name, h) in other.hosts {
            let e = self.hosts.entry(name).or_insert_with(|| super::Host {
                span: h.span,
                name: h.name.clone(),
                ..super::Host::default()
            });
            e.vars.extend(h.vars);
        }
        for (name, g) in other.groups {
            let e = self.groups.entry(name).or_insert_with(|| super::Group {
                span: g.span,
                ..super::Group::default()
            });
            for h in g.hosts {
                if !e.hosts.contains(&h) {
                    e.hosts.push(h);
                }
            }
            for c in g.children {
                if !e.children.contains(&c) {
                    e.children.push(c);
                }
            }
            e.vars.extend(g.vars);
        }
    }

    /// After a merge: a host that another source put in a group is not `ungrouped`
    /// (Ansible's `reconcile_inventory`).
    fn regroup(&mut self) {
        let grouped: std::collections::BTreeSet<String> = self
            .groups
            .iter()
            .filter(|(n, _)| n.as_str() != "all" && n.as_str() != "ungrouped")
            .flat_map(|(_, g)| g.hosts.iter().cloned())
            .collect();
        if let Some(u) = self.groups.get_mut("ungrouped") {
            u.hosts.retain(|h| !grouped.contains(h));
        }
        self.finish();
    }
}

/// One `-i` source: a host list, a file, or a directory read file by file.
fn read_source(
    path: &Path,
    sources: &mut SourceMap,
) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
    if !path.is_dir() {
        return Inventory::load(path, sources);
    }
    let mut files = Vec::new();
    walk(path, 0, &|p| !ignored(&name_of(p)), &mut files).map_err(|e| {
        Diagnostic::error(
            "file-not-found",
            format!("cannot read inventory directory `{}`: {e}", path.display()),
        )
    })?;
    if files.len() > MAX_FILES {
        return Err(Diagnostic::error(
            "inventory-too-large",
            format!(
                "inventory directory `{}` holds more than {MAX_FILES} files",
                path.display()
            ),
        )
        .help("give the directory of the inventory itself"));
    }
    let mut inv = Inventory::default();
    let mut diags = Vec::new();
    for f in files {
        if let Some(d) = unsupported_source(&f) {
            diags.push(d);
            continue;
        }
        if f.extension().is_some_and(|e| e == "ini") {
            diags.push(
                Diagnostic::warning(
                    "inventory-dir-ini",
                    format!(
                        "`{}` is read as part of the inventory directory, as ansible-core 2.19 and later read it; 2.18 and earlier skip `.ini` files there",
                        f.display()
                    ),
                )
                .help("rename it without `.ini`, or give it with its own `-i`, so every Ansible version reads the same inventory"),
            );
        }
        let (one, mut d) = Inventory::load(&f, sources)?;
        diags.append(&mut d);
        if inv.file.is_none() {
            inv.file = one.file;
        }
        inv.merge(one);
    }
    inv.regroup();
    Ok((inv, diags))
}

/// A file in an inventory directory that Ansible would not read as INI or YAML: a dynamic
/// inventory script (executable, `#!`), a TOML inventory. Refused, never misread.
fn unsupported_source(f: &Path) -> Option<Diagnostic> {
    use std::os::unix::fs::PermissionsExt;
    let exec = std::fs::metadata(f).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    let shebang = std::fs::read(f).is_ok_and(|b| b.starts_with(b"#!"));
    let why = if exec && shebang {
        "is an executable inventory script, which Ansible would run; etcdflow runs no inventory script"
    } else if f.extension().is_some_and(|e| e == "toml") {
        "is a TOML inventory; etcdflow reads INI and YAML inventories"
    } else {
        return None;
    };
    Some(
        Diagnostic::error(
            "unsupported-inventory-source",
            format!("`{}` {why}", f.display()),
        )
        .help("write its output to an INI or YAML file and give that with `-i`, or move it out of the inventory directory"),
    )
}

/// The `group_vars/` and `host_vars/` of `dir` for every group and host of `inv`.
fn vars_dir(dir: &Path, inv: &Inventory, sources: &mut SourceMap) -> (VarsDir, Vec<Diagnostic>) {
    let mut out = VarsDir {
        dir: dir.to_path_buf(),
        ..VarsDir::default()
    };
    let mut diags = Vec::new();
    let mut groups: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
    if !groups.contains(&"all") {
        groups.push("all");
    }
    for (sub, names, into) in [
        ("group_vars", groups, &mut out.groups),
        (
            "host_vars",
            inv.hosts.keys().map(String::as_str).collect(),
            &mut out.hosts,
        ),
    ] {
        let base = dir.join(sub);
        if !base.is_dir() {
            continue;
        }
        for name in names {
            let mut vars = IndexMap::new();
            for f in find_vars_files(&base, name) {
                match read_vars_file(&f, sources) {
                    Ok(v) => vars.extend(v),
                    Err(d) => diags.push(d),
                }
            }
            if !vars.is_empty() {
                into.insert(name.to_string(), vars);
            }
        }
    }
    (out, diags)
}

/// Ansible's `find_vars_files`: `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` — the first
/// that exists; a directory means every file in it (recursively, in name order, hidden
/// and `~` files skipped, no extension or one of those).
fn find_vars_files(base: &Path, name: &str) -> Vec<PathBuf> {
    const EXTS: [&str; 3] = [".yml", ".yaml", ".json"];
    for ext in std::iter::once("").chain(EXTS) {
        let p = base.join(format!("{name}{ext}"));
        if !p.exists() {
            continue;
        }
        if !p.is_dir() {
            return vec![p];
        }
        let mut found = Vec::new();
        let keep = |e: &Path| {
            let n = name_of(e);
            let ext = e.extension().map(|x| format!(".{}", x.to_string_lossy()));
            !n.starts_with('.')
                && !n.ends_with('~')
                && if e.is_dir() {
                    ext.is_none()
                } else {
                    ext.as_deref().is_none_or(|x| EXTS.contains(&x))
                }
        };
        let _ = walk(&p, 0, &keep, &mut found);
        found.truncate(MAX_FILES);
        return found;
    }
    Vec::new()
}

/// One vars file: a YAML (or JSON) mapping; empty is nothing.
fn read_vars_file(
    f: &Path,
    sources: &mut SourceMap,
) -> Result<IndexMap<String, String>, Diagnostic> {
    let text = std::fs::read_to_string(f).map_err(|e| {
        Diagnostic::error(
            "file-not-found",
            format!("cannot read vars file `{}`: {e}", f.display()),
        )
    })?;
    if text.len() > super::MAX_BYTES {
        return Err(Diagnostic::error(
            "inventory-too-large",
            format!("vars file `{}` is {} bytes", f.display(), text.len()),
        ));
    }
    let id = sources.add(f.display().to_string(), f, text.clone());
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(|e| {
        let at = e.location().map_or(0, |l| l.index());
        Diagnostic::error(
            "inventory-syntax",
            format!("the vars file cannot be read: {e}"),
        )
        .at(Span::new(id, at, (at + 1).min(text.len())), "here")
        .help("a vars file is a YAML mapping of names to values")
    })?;
    match doc {
        serde_yaml_ng::Value::Null => Ok(IndexMap::new()),
        v @ serde_yaml_ng::Value::Mapping(_) => Ok(yaml::scalar_map(&v).into_iter().collect()),
        _ => Err(Diagnostic::error(
            "inventory-syntax",
            format!(
                "vars file `{}` is not a mapping of names to values",
                f.display()
            ),
        )
        .at(Span::new(id, 0, text.len().min(1)), "here")
        .help("write `name: value` lines")),
    }
}
