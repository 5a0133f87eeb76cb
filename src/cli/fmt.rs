//! `etcdflow fmt [--check] PATH...`: the canonical layout, in place (or only reported).

use super::Exit;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct FmtArgs {
    /// Flow files, or directories searched for `*.flow` and `*.etcdflow`.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Change nothing: list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

impl FmtArgs {
    pub(crate) fn run(self) -> Exit {
        let mut files = Vec::new();
        for p in &self.paths {
            super::lint::flows(p, &mut files);
        }
        if files.is_empty() {
            super::error(
                "file-not-found",
                "no `.flow` or `.etcdflow` file given",
                Some("name flow files or directories that hold them".into()),
            );
            return Exit::Usage;
        }
        let (mut changed, mut failed) = (0usize, false);
        for f in &files {
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    super::error(
                        "file-not-found",
                        format!("cannot read {}: {e}", f.display()),
                        None,
                    );
                    failed = true;
                    continue;
                }
            };
            let out = match crate::fmt::format_checked(&text) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!(
                        "[syntax-error] Error: {}: not formatted: {e}\n    Help: `etcdflow check {}` shows the problem",
                        f.display(),
                        f.display()
                    );
                    failed = true;
                    continue;
                }
            };
            if out == text {
                continue;
            }
            changed += 1;
            if self.check {
                crate::out!("{}", f.display());
                continue;
            }
            // Written beside the file and renamed over it: never half a file.
            let tmp = f.with_extension("etcdflow-fmt.tmp");
            let written = std::fs::write(&tmp, &out).and_then(|()| std::fs::rename(&tmp, f));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                super::error(
                    "file-not-found",
                    format!("cannot write {}: {e}", f.display()),
                    None,
                );
                failed = true;
            }
        }
        let n = files.len();
        if self.check {
            eprintln!(
                "{changed} of {n} file{} would be reformatted",
                if n == 1 { "" } else { "s" }
            );
        } else {
            eprintln!(
                "formatted {changed} of {n} file{}",
                if n == 1 { "" } else { "s" }
            );
        }
        if failed || (self.check && changed > 0) {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }
}
