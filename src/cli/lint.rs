//! `etcdflow lint PATH... [-i INV] [--format human|json|sarif] [--deny warnings]`

use super::check::{analyze, Analysis, Inputs};
use super::Exit;
use crate::diagnostics::render;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Default)]
pub(crate) enum LintFormat {
    #[default]
    Human,
    Json,
    Sarif,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum Deny {
    /// Warnings fail the lint (exit 1), as errors do.
    Warnings,
}

#[derive(Args, Debug)]
pub(crate) struct LintArgs {
    /// Flow files, or directories searched for `*.flow` and `*.etcdflow`.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The inventory (also flags its hosts' addresses written as literals) and params.
    #[command(flatten)]
    inputs: Inputs,
    /// `human` (on stderr), `json` (one document on stdout) or `sarif` (SARIF 2.1.0, for
    /// code-scanning upload).
    #[arg(long, value_enum, default_value_t)]
    format: LintFormat,
    /// `--deny warnings`: exit 1 when there are warnings.
    #[arg(long, value_enum)]
    deny: Option<Deny>,
}

/// Flow files under `p` (itself when it is a file), sorted.
pub(crate) fn flows(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            let hidden = e
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if e.is_dir() && !hidden && e.file_name().is_some_and(|n| n != "target") {
                flows(&e, out);
            } else if e
                .extension()
                .is_some_and(|x| x == "flow" || x == "etcdflow")
            {
                out.push(e);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
}

/// The flow files of `paths` (directories searched), or a usage error when there is none.
pub(crate) fn flows_of(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Exit> {
    let mut files = Vec::new();
    for p in paths {
        flows(p, &mut files);
    }
    if files.is_empty() {
        super::error(
            "file-not-found",
            format!(
                "no `.flow` or `.etcdflow` file under {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some("name flow files or directories that hold them".into()),
        );
        return Err(Exit::Usage);
    }
    Ok(files)
}

impl LintArgs {
    pub(crate) fn run(self, color: bool) -> Exit {
        let files = match flows_of(&self.paths) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let Analysis {
            diags,
            sources,
            usage,
            ..
        } = analyze(&files, &self.inputs, true);
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let warnings = diags.len() - errors;
        match self.format {
            LintFormat::Json => crate::out!("{}", render::json(&diags, &sources)),
            LintFormat::Sarif => crate::out!("{}", render::sarif(&diags, &sources)),
            LintFormat::Human => {
                eprint!("{}", render::human(&diags, &sources, color));
                let n = files.len();
                eprintln!(
                    "linted {n} file{}: {errors} error{}, {warnings} warning{}",
                    if n == 1 { "" } else { "s" },
                    if errors == 1 { "" } else { "s" },
                    if warnings == 1 { "" } else { "s" }
                );
            }
        }
        if usage {
            Exit::Usage
        } else if errors > 0 || (warnings > 0 && self.deny == Some(Deny::Warnings)) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }
}
