//! One document's analysis: the same loader, checker and lint rules as `etcdflow lint`,
//! reading open documents from the editor's buffers (everything else from disk), with
//! the inventory and params of the nearest `etcdflow.toml`.

use crate::check::{self, InventoryFacts, Options};
use crate::diagnostics::{self, Diagnostic};
use crate::inventory::Inventory;
use crate::ir;
use crate::load::{self, Fs, Program, RealFs};
use crate::source::SourceMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Open documents over the disk: what the editor shows is what is checked.
pub struct Overlay<'a> {
    pub docs: &'a HashMap<PathBuf, String>,
}

impl Fs for Overlay<'_> {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        match self.docs.get(path) {
            Some(t) => Ok(t.clone()),
            None => RealFs.read(path),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        self.docs.contains_key(path) || RealFs.exists(path)
    }
}

/// `etcdflow.toml`, next to the flows or in a directory above them (the nearest wins):
///
/// ```toml
/// inventory = ["inventory/hosts"]     # as `-i`, relative to this file
/// vars = "site-vars.yml"              # as `--vars`
/// [extra_vars]                        # as `-e NAME=VALUE`
/// network_manifest = "kube-flannel.yml"
/// ```
///
/// The editor's `initializationOptions` (`{"inventory": [...], "extraVars": {...}}`) are
/// used where no file is found.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub inventory: Vec<PathBuf>,
    #[serde(default)]
    pub vars: Option<PathBuf>,
    #[serde(default)]
    pub extra_vars: indexmap::IndexMap<String, String>,
    /// Where the config came from (for messages), not in the file.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// How far up `etcdflow.toml` is looked for.
const CONFIG_DEPTH: usize = 24;

impl Config {
    /// The nearest `etcdflow.toml` above `flow` (paths in it made absolute), or `fallback`.
    pub fn for_flow(flow: &Path, fallback: &Config) -> Result<Config, String> {
        let mut dir = flow.parent();
        for _ in 0..CONFIG_DEPTH {
            let Some(d) = dir else { break };
            let p = d.join("etcdflow.toml");
            if p.is_file() {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                let mut c: Config = toml::from_str(&text)
                    .map_err(|e| format!("{}: {}", p.display(), e.message()))?;
                c.inventory = c.inventory.iter().map(|i| d.join(i)).collect();
                c.vars = c.vars.map(|v| d.join(v));
                c.origin = Some(p);
                return Ok(c);
            }
            dir = d.parent();
        }
        Ok(fallback.clone())
    }
}

/// What one check of a document found.
pub struct Analysis {
    pub sources: SourceMap,
    pub prog: Program,
    pub flow: Option<ir::Flow>,
    pub diagnostics: Vec<Diagnostic>,
    pub facts: Option<InventoryFacts>,
    /// Every path the analysis read (the document and its includes).
    pub files: Vec<PathBuf>,
}

pub fn analyze(path: &Path, overlay: &Overlay, config: &Config) -> Analysis {
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let extra: Vec<String> = config
        .extra_vars
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let (params, mut pdiags) =
        crate::cli::check::param_args(&extra, config.vars.as_deref(), &mut sources);
    diags.append(&mut pdiags);
    let mut inv = None;
    if !config.inventory.is_empty() {
        let cwd = config
            .origin
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let playbook = path.parent().map(Path::to_path_buf);
        match crate::inventory::Sources::resolve(&config.inventory, playbook, &cwd) {
            Ok(src) => match Inventory::load_sources(&src, &mut sources) {
                Ok((i, mut d)) => {
                    if !d.iter().any(Diagnostic::is_error) {
                        inv = Some(i);
                    }
                    diags.append(&mut d);
                }
                Err(d) => diags.push(d),
            },
            Err(d) => diags.push(d),
        }
    }
    let opts = Options {
        inventory_groups: inv.as_ref().map(Inventory::group_names),
        inventory_hosts: inv.as_ref().map(|i| i.hosts.keys().cloned().collect()),
        inventory_facts: inv.as_ref().map(Inventory::facts),
        params,
        require_params: false,
    };
    let prog = load::load(overlay, path, &mut sources);
    diags.extend(prog.diagnostics.iter().cloned());
    let mut flow = None;
    if prog.root.is_some() {
        let checked = check::check(&prog, &sources, &opts);
        let mut mine = checked.diagnostics;
        if let Some(f) = &checked.flow {
            mine.extend(crate::lint::lint(f, &sources, inv.as_ref()));
        }
        let ids: Vec<_> = prog.files.iter().map(|f| f.file).collect();
        diags.extend(crate::lint::suppress::apply(mine, &sources, &ids));
        flow = checked.flow;
    }
    diagnostics::sort(&mut diags);
    diags.dedup();
    let files = prog
        .files
        .iter()
        .filter_map(|f| sources.get(f.file).map(|s| s.path.clone()))
        .collect();
    Analysis {
        facts: opts.inventory_facts,
        sources,
        prog,
        flow,
        diagnostics: diags,
        files,
    }
}
