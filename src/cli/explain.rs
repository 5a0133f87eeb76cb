//! `etcdflow explain CODE` / `etcdflow explain --list`

use super::Exit;
use crate::diagnostics::{codes, did_you_mean, Severity};
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct ExplainArgs {
    /// A diagnostic code, e.g. `type-mismatch`.
    #[arg(required_unless_present = "list")]
    code: Option<String>,
    /// List every code with its one-line summary.
    #[arg(long)]
    list: bool,
}

impl ExplainArgs {
    pub(crate) fn run(self) -> Exit {
        if self.list {
            for c in codes::CODES.iter() {
                crate::out!("{:<28} {:<8} {}", c.code, sev(c.severity), c.summary);
            }
            return Exit::Ok;
        }
        let code = self.code.unwrap_or_default();
        match codes::lookup(&code) {
            Some(c) => {
                crate::out!(
                    "{} ({}): {}\n\n{}",
                    c.code,
                    sev(c.severity),
                    c.summary,
                    c.explanation
                );
                Exit::Ok
            }
            None => {
                eprintln!(
                    "[unknown-code] Error: no diagnostic is called `{code}`\n    Help: {}; `etcdflow explain --list` shows them all",
                    did_you_mean(&code, codes::CODES.iter().map(|c| c.code), "codes")
                );
                Exit::Usage
            }
        }
    }
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
