//! `etcdflow stdlib list | show NAME | fork NAME [DIR]`

use super::Exit;
use crate::check::{self, Options};
use crate::load::{self, MemFs};
use crate::source::SourceMap;
use crate::stdlib;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct StdlibArgs {
    #[command(subcommand)]
    cmd: StdlibCmd,
}

#[derive(Subcommand, Debug)]
enum StdlibCmd {
    /// The embedded procedures.
    List,
    /// A procedure's documentation and params.
    Show {
        /// The procedure (`etcdflow stdlib list` names them), with or without `.flow`.
        name: String,
    },
    /// Write an editable copy into DIR (default: the current directory).
    Fork {
        /// The procedure (`etcdflow stdlib list` names them), with or without `.flow`.
        name: String,
        /// Where the copy is written (an existing file is never overwritten).
        dir: Option<PathBuf>,
    },
}

fn unknown(name: &str) -> Exit {
    let names: Vec<&str> = stdlib::FLOWS.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "[unknown-stdlib-flow] Error: the stdlib has no flow `{name}`\n    Help: {}",
        crate::diagnostics::did_you_mean(name, names.iter().copied(), "flows")
    );
    Exit::Usage
}

impl StdlibArgs {
    pub(crate) fn run(self) -> Exit {
        match self.cmd {
            StdlibCmd::List => {
                for (name, src) in stdlib::FLOWS {
                    let first = stdlib::docs(src).into_iter().next().unwrap_or_default();
                    crate::out!("{name:<20} {first}");
                }
                Exit::Ok
            }
            StdlibCmd::Show { name } => {
                let Some((name, src)) = stdlib::get(&name) else {
                    return unknown(&name);
                };
                for d in stdlib::docs(src) {
                    crate::out!("{d}");
                }
                let mut fs = MemFs::default();
                let path = PathBuf::from(format!("{name}.flow"));
                fs.0.insert(path.clone(), src.to_string());
                let mut sources = SourceMap::new();
                let prog = load::load(&fs, &path, &mut sources);
                if let Some(flow) = check::check(&prog, &sources, &Options::default()).flow {
                    crate::out!("\nparams:");
                    for p in &flow.params {
                        let default = match &p.default {
                            Some(_) => {
                                let text = sources.text(p.span.file);
                                // The default as written, from the source line.
                                let line =
                                    text[p.span.start as usize..].lines().next().unwrap_or("");
                                line.split_once('=')
                                    .map(|(_, d)| {
                                        d.split("##").next().unwrap_or("").trim().to_string()
                                    })
                                    .unwrap_or_default()
                            }
                            None => "(required)".into(),
                        };
                        crate::out!(
                            "  {:<16} {:<10} {:<28} {}",
                            p.name,
                            p.ty.to_string(),
                            default,
                            p.docs.join(" ")
                        );
                    }
                    crate::out!("\nrun it: etcdflow run {name}.flow -i INVENTORY -e snapshot=...; fork it: etcdflow stdlib fork {name}");
                }
                Exit::Ok
            }
            StdlibCmd::Fork { name, dir } => {
                let Some((name, src)) = stdlib::get(&name) else {
                    return unknown(&name);
                };
                let dir = dir.unwrap_or_else(|| PathBuf::from("."));
                let dest = dir.join(format!("{name}.flow"));
                if dest.exists() {
                    super::error(
                        "file-exists",
                        format!("`{}` already exists", dest.display()),
                        Some(format!(
                            "fork into another directory: `etcdflow stdlib fork {name} DIR`"
                        )),
                    );
                    return Exit::Usage;
                }
                let header = format!("# Forked from the etcdflow stdlib flow `{name}` (etcdflow {}).\n# Edit it for your site; `etcdflow check {name}.flow` after every change.\n", env!("CARGO_PKG_VERSION"));
                let r = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(&dest, format!("{header}{src}")));
                match r {
                    Ok(()) => {
                        crate::out!("wrote {}", dest.display());
                        Exit::Ok
                    }
                    Err(e) => {
                        eprintln!(
                            "[file-not-found] Error: cannot write `{}`: {e}",
                            Path::new(&dest).display()
                        );
                        Exit::Usage
                    }
                }
            }
        }
    }
}
