//! `etcdflow check FILE... [-i INV] [-e k=v]... [--vars FILE] [--format human|json]`

use super::{Exit, Format};
use crate::check::{self, Options, ParamArg};
use crate::diagnostics::{self, render, Diagnostic};
use crate::inventory::Inventory;
use crate::load::{self, RealFs};
use crate::source::{SourceMap, Span};
use clap::Args;
use std::path::PathBuf;

/// What `check` and `lint` read besides the flows.
#[derive(Args, Debug)]
pub(crate) struct Inputs {
    /// An Ansible inventory (a file, a directory, `host1,host2,`; repeatable, merged in
    /// order; without it, ansible.cfg's `inventory` if there is one): also check the
    /// groups and hosts the flows use.
    #[arg(short, long, value_name = "INVENTORY")]
    pub inventory: Vec<PathBuf>,
    /// Set a param: `-e name=value` (repeatable). Giving any param checks that all
    /// required params have values.
    #[arg(
        short = 'e',
        long = "extra-var",
        visible_alias = "extra-vars",
        value_name = "NAME=VALUE|@FILE|JSON"
    )]
    pub extra: Vec<String>,
    /// A YAML or JSON file of param values.
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Flow files (`.flow` or `.etcdflow`), or directories to search for them.
    #[arg(required = true, value_name = "PATH")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    inputs: Inputs,
    /// Output format: `human` (on stderr) or `json` (one document on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Print how long loading (read + parse), checking and rendering took, on stderr.
    #[arg(long)]
    timings: bool,
}

/// What `check` and `lint` found in a set of files.
pub(crate) struct Analysis {
    pub diags: Vec<Diagnostic>,
    pub sources: SourceMap,
    /// A usage problem (unreadable file or inventory named on the command line).
    pub usage: bool,
    pub t_load: std::time::Duration,
    pub t_check: std::time::Duration,
}

/// Load and check `files` (with `lint`: also run the lint rules and apply the
/// suppressions in the files).
pub(crate) fn analyze(files: &[PathBuf], inputs: &Inputs, lint: bool) -> Analysis {
    let (extra, vars) = (&inputs.extra, inputs.vars.as_deref());
    let mut sources = SourceMap::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut usage = false;

    let (params, mut pdiags) = param_args(extra, vars, &mut sources);
    usage |= pdiags.iter().any(|d| d.code == "file-not-found");
    diags.append(&mut pdiags);

    let mut groups = None;
    let mut host_names = None;
    let mut inv = None;
    // As `run` reads it: the `-i` given, else ansible.cfg's; the playbook's vars beside
    // the (first) flow.
    let cwd = std::env::current_dir().unwrap_or_default();
    let playbook_dir = files
        .first()
        .and_then(|f| std::fs::canonicalize(f).ok())
        .and_then(|f| {
            if f.is_dir() {
                Some(f)
            } else {
                f.parent().map(PathBuf::from)
            }
        });
    let inventory = match crate::inventory::Sources::resolve(&inputs.inventory, playbook_dir, &cwd)
    {
        Ok(s) => (!s.paths.is_empty()).then_some(s),
        Err(d) => {
            usage = true;
            diags.push(d);
            None
        }
    };
    if let Some(src) = inventory {
        match Inventory::load_sources(&src, &mut sources) {
            Ok((i, mut d)) => {
                // A broken inventory would make every group look missing: report it alone.
                if !d.iter().any(Diagnostic::is_error) {
                    groups = Some(i.group_names());
                    host_names = Some(i.hosts.keys().cloned().collect());
                    inv = Some(i);
                }
                diags.append(&mut d);
            }
            Err(d) => {
                usage = true;
                diags.push(d);
            }
        }
    }
    let require_params = !params.is_empty() || vars.is_some();
    let opts = Options {
        inventory_groups: groups,
        inventory_hosts: host_names,
        inventory_facts: inv.as_ref().map(Inventory::facts),
        params,
        require_params,
    };
    let (mut t_load, mut t_check) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for f in files {
        let t0 = std::time::Instant::now();
        let prog = load::load(&RealFs, f, &mut sources);
        t_load += t0.elapsed();
        let t1 = std::time::Instant::now();
        if prog.root.is_none() {
            usage = true;
        }
        let mut mine: Vec<Diagnostic> = prog.diagnostics.clone();
        if prog.root.is_some() {
            let checked = check::check(&prog, &sources, &opts);
            mine.extend(checked.diagnostics);
            if lint {
                if let Some(flow) = &checked.flow {
                    mine.extend(crate::lint::lint(flow, &sources, inv.as_ref()));
                }
                let ids: Vec<_> = prog.files.iter().map(|f| f.file).collect();
                mine = crate::lint::suppress::apply(mine, &sources, &ids);
            }
            // The process ends soon: freeing a large AST and IR node by node costs
            // more than the rest of the check (rustc does the same).
            std::mem::forget(checked.flow);
        }
        diags.extend(mine);
        std::mem::forget(prog);
        t_check += t1.elapsed();
    }
    // `-e` names are checked once per file; report each problem once.
    dedup(&mut diags);
    diagnostics::sort(&mut diags);
    Analysis {
        diags,
        sources,
        usage,
        t_load,
        t_check,
    }
}

impl CheckArgs {
    pub(crate) fn run(self, color: bool) -> Exit {
        // Directories are searched for flows, as `lint` searches them.
        let files = match super::lint::flows_of(&self.files) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let Analysis {
            diags,
            sources,
            usage,
            t_load,
            t_check,
        } = analyze(&files, &self.inputs, false);
        let t2 = std::time::Instant::now();
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let warnings = diags.len() - errors;
        match self.format {
            Format::Json => crate::out!("{}", render::json(&diags, &sources)),
            Format::Human => {
                eprint!("{}", render::human(&diags, &sources, color));
                let n = self.files.len();
                eprintln!(
                    "checked {n} file{}: {errors} error{}, {warnings} warning{}",
                    if n == 1 { "" } else { "s" },
                    if errors == 1 { "" } else { "s" },
                    if warnings == 1 { "" } else { "s" }
                );
            }
        }
        if self.timings {
            eprintln!(
                "timings: load {:?}, check {:?}, render {:?}",
                t_load,
                t_check,
                t2.elapsed()
            );
        }
        if usage {
            Exit::Usage
        } else if errors > 0 {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }
}

fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = Vec::new();
    diags.retain(|d| {
        let key = (d.code, d.message.clone(), d.primary_span());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
}

/// Param values from `--vars FILE` and the `-e` arguments, in that order (a later value
/// wins, as in Ansible): `-e name=value`, `-e @FILE` (a YAML or JSON file of values) and
/// `-e '{"name": value}'` (inline JSON or YAML). The command line goes into the source
/// map with every value masked, so a diagnostic never shows one.
pub fn param_args(
    extra: &[String],
    vars: Option<&std::path::Path>,
    sources: &mut SourceMap,
) -> (Vec<ParamArg>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    if let Some(path) = vars {
        vars_file(path, "--vars", sources, &mut out, &mut diags);
    }
    if extra.is_empty() {
        return (out, diags);
    }
    let mut text = String::new();
    let mut offsets = Vec::new();
    for e in extra {
        text.push_str("-e ");
        offsets.push(text.len());
        match e.split_once('=') {
            _ if e.starts_with('@') => text.push_str(e),
            Some((name, value)) if !e.trim_start().starts_with('{') => {
                text.push_str(name);
                text.push('=');
                text.push_str(&"*".repeat(value.len()));
            }
            _ => text.push_str(&"*".repeat(e.len())),
        }
        text.push('\n');
    }
    let id = sources.add(
        "<command line>",
        std::path::Path::new("<command line>"),
        text,
    );
    for (e, off) in extra.iter().zip(offsets) {
        let whole = Span::new(id, off, off + e.len());
        if let Some(file) = e.strip_prefix('@') {
            vars_file(
                std::path::Path::new(file),
                "-e @FILE",
                sources,
                &mut out,
                &mut diags,
            );
            continue;
        }
        if e.trim_start().starts_with('{') {
            match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(e) {
                Ok(serde_yaml_ng::Value::Mapping(m)) => {
                    for (k, v) in m {
                        if let Some(name) = k.as_str() {
                            out.push(ParamArg {
                                name: name.to_string(),
                                value: value_text(v),
                                name_span: whole,
                                value_span: whole,
                                source_shown: true,
                            });
                        }
                    }
                }
                _ => diags.push(
                    Diagnostic::error(
                        "invalid-param-value",
                        "a `-e` value starting with `{` is not a JSON or YAML mapping".to_string(),
                    )
                    .at(whole, "expected `{\"name\": value, ...}`")
                    .help("write `-e '{\"snapshot\": \"/backups/etcd.db\"}'`"),
                ),
            }
            continue;
        }
        match e.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => out.push(ParamArg {
                name: name.trim().to_string(),
                value: value.to_string(),
                name_span: Span::new(id, off, off + name.len()),
                value_span: Span::new(id, off + name.len() + 1, off + e.len()),
                source_shown: true,
            }),
            _ => diags.push(
                Diagnostic::error(
                    "invalid-param-value",
                    "a `-e` value is not `name=value`".to_string(),
                )
                .at(whole, "expected `name=value`, `@FILE` or a JSON object")
                .help("write `-e snapshot=/backups/etcd.db`"),
            ),
        }
    }
    (out, diags)
}

/// A YAML/JSON value as the text a param value is parsed from (lists and maps as JSON).
fn value_text(v: serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s,
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        // A JSON array: items may contain commas.
        other => serde_json::to_string(&other).unwrap_or_default(),
    }
}

/// The values of a YAML or JSON file (`--vars FILE`, `-e @FILE`).
fn vars_file(
    path: &std::path::Path,
    how: &str,
    sources: &mut SourceMap,
    out: &mut Vec<ParamArg>,
    diags: &mut Vec<Diagnostic>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    "file-not-found",
                    format!("cannot read vars file `{}`: {e}", path.display()),
                )
                .help(format!(
                    "pass a YAML or JSON file of param values with `{how}`"
                )),
            );
            return;
        }
    };
    let id = sources.add(path.display().to_string(), path, text.clone());
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
        Ok(serde_yaml_ng::Value::Mapping(m)) => {
            for (k, v) in m {
                let Some(name) = k.as_str().map(str::to_string) else {
                    continue;
                };
                let at = text.find(&format!("{name}:")).unwrap_or(0);
                let span = Span::new(id, at, at + name.len());
                out.push(ParamArg {
                    name,
                    value: value_text(v),
                    name_span: span,
                    value_span: span,
                    source_shown: false,
                });
            }
        }
        Ok(_) | Err(_) => diags.push(
            Diagnostic::error(
                "invalid-param-value",
                format!(
                    "`{}` is not a YAML or JSON mapping of param values",
                    path.display()
                ),
            )
            .at(
                Span::new(id, 0, text.len().min(1)),
                "expected `name: value` lines",
            )
            .help("write one `name: value` per line"),
        ),
    }
}
