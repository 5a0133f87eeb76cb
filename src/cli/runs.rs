//! `etcdflow runs` (list) and `etcdflow runs show RUN_ID` (a timeline).

use super::Exit;
use crate::journal::{self, Record};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct RunsArgs {
    /// Where run journals are kept (`<DIR>/runs/<run-id>/`), as given to `run`.
    #[arg(long, default_value = ".etcdflow", value_name = "DIR", global = true)]
    state_dir: PathBuf,
    #[command(subcommand)]
    cmd: Option<RunsCmd>,
}

#[derive(Subcommand, Debug)]
enum RunsCmd {
    /// Print one run as a timeline.
    Show {
        /// The run id (`etcdflow runs` lists them).
        run_id: String,
    },
}

fn status(records: &[Record]) -> String {
    records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::RunEnd { status, .. } => Some(status.clone()),
            _ => None,
        })
        .unwrap_or_else(|| {
            "incomplete (interrupted or crashed: `etcdflow resume` continues it)".into()
        })
}

impl RunsArgs {
    pub(crate) fn run(self) -> Exit {
        match self.cmd {
            None => {
                let runs = journal::list(&self.state_dir);
                if runs.is_empty() {
                    crate::out!("no runs in {}", self.state_dir.display());
                }
                for (id, dir) in runs {
                    let (records, _) = journal::read(&dir).unwrap_or_default();
                    let (flow, op) = match records.first() {
                        Some(Record::Run { flow, operator, .. }) => {
                            (flow.display().to_string(), operator.clone())
                        }
                        _ => ("?".into(), "?".into()),
                    };
                    crate::out!("{id}  {:<10}  {op}  {flow}", status(&records));
                }
                Exit::Ok
            }
            Some(RunsCmd::Show { run_id }) => {
                let dir = self.state_dir.join("runs").join(&run_id);
                let Ok((records, torn)) = journal::read(&dir) else {
                    super::error(
                        "unknown-run",
                        format!("no run `{run_id}` in {}", self.state_dir.display()),
                        Some("`etcdflow runs` lists the runs".into()),
                    );
                    return Exit::Usage;
                };
                for r in &records {
                    let line = match r {
                        Record::Run {
                            flow,
                            operator,
                            started,
                            params,
                            ..
                        } => {
                            let ps: Vec<String> =
                                params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            format!(
                                "run started {started} by {operator}: {} ({})",
                                flow.display(),
                                ps.join(" ")
                            )
                        }
                        Record::Resumed { at, operator } => format!("resumed {at} by {operator}"),
                        Record::Edit { host, undo } => format!(
                            "  {host}: {} kept as {} for a rollback",
                            undo.path,
                            undo.backup.as_deref().or(undo.marker.as_deref()).unwrap_or("-")
                        ),
                        Record::StepStart {
                            name,
                            hosts,
                            rollback,
                            ..
                        } => format!(
                            "{}step {name} on {}",
                            if *rollback { "rollback " } else { "" },
                            hosts.join(", ")
                        ),
                        Record::ActionStart { host, action, .. } => {
                            format!("  {host}: {action} ...")
                        }
                        Record::ActionEnd {
                            host,
                            action,
                            ok,
                            rc,
                            detail,
                            ..
                        } => format!(
                            "  {host}: {action} {}{}{}",
                            if *ok { "ok" } else { "FAILED" },
                            rc.map(|c| format!(" (exit {c})")).unwrap_or_default(),
                            detail
                                .as_ref()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        ),
                        Record::Confirm {
                            host,
                            message,
                            answer,
                            ..
                        } => format!(
                            "  {host}: confirm {message:?} -> {}",
                            if *answer { "yes" } else { "no" }
                        ),
                        Record::HostEnd {
                            host,
                            ok,
                            skipped,
                            error,
                            ..
                        } => format!(
                            "  {host}: {}{}",
                            if *skipped {
                                "skipped"
                            } else if *ok {
                                "done"
                            } else {
                                "failed"
                            },
                            error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                        ),
                        Record::StepEnd { ok, .. } => {
                            format!("  step {}", if *ok { "finished" } else { "failed" })
                        }
                        Record::Interrupted { signal } => format!("interrupted by {signal}"),
                        Record::SnapshotVerified {
                            path,
                            sha256,
                            revision,
                            key_count,
                        } => format!(
                            "  snapshot {} verified: revision {revision}, {key_count} keys, sha256 {sha256}",
                            path.display()
                        ),
                        Record::RunEnd { status, exit_code } => {
                            format!("run ended: {status} (exit {exit_code})")
                        }
                    };
                    crate::out!("{line}");
                }
                if torn {
                    crate::out!("(the last record was cut short by a crash)");
                }
                crate::out!("status: {}", status(&records));
                Exit::Ok
            }
        }
    }
}
