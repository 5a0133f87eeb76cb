//! `etcdflow snapshot verify FILE...`: the check every destructive step relies on
//! (SAFETY.md inv. 9), usable on its own before a restore.

use super::{Exit, Format};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct SnapshotArgs {
    #[command(subcommand)]
    command: SnapshotCommand,
}

#[derive(Subcommand, Debug)]
enum SnapshotCommand {
    /// Verify snapshot files: size, sha256 trailer, database structure; print the
    /// revision and the number of live keys.
    Verify {
        /// Snapshot files (`etcdctl snapshot save` or `etcd.snapshot_save` output).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

impl SnapshotArgs {
    pub(crate) fn run(self) -> Exit {
        let SnapshotCommand::Verify { files, format } = self.command;
        let mut exit = Exit::Ok;
        for f in files {
            let r = std::fs::read(&f)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|b| crate::snapshot::verify(&b));
            match (r, format) {
                (Ok(i), Format::Human) => crate::out!(
                    "{}: ok, revision {}, {} keys, {} bytes, sha256 {}",
                    f.display(),
                    i.revision,
                    i.key_count,
                    i.size,
                    i.sha256
                ),
                (Ok(i), Format::Json) => crate::out!(
                    "{}",
                    serde_json::json!({"file": f, "verified": true, "revision": i.revision,
                        "key_count": i.key_count, "size": i.size, "sha256": i.sha256})
                ),
                (Err(e), fmt) => {
                    exit = Exit::Failed;
                    if fmt == Format::Json {
                        crate::out!(
                            "{}",
                            serde_json::json!({"file": f, "verified": false, "error": e})
                        );
                    } else {
                        eprintln!(
                            "[snapshot-invalid] Error: {}: {e}\n    Help: take a new snapshot (`etcd.snapshot_save`, or `etcdctl snapshot save`) from a healthy member",
                            f.display()
                        );
                    }
                }
            }
        }
        exit
    }
}
