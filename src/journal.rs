//! The run journal: `<state-dir>/runs/<run-id>/journal.jsonl`, append-only, one JSON
//! record per line, each `fdatasync`ed before the runtime goes on (SAFETY.md inv. 17,
//! 18). The runtime writes a record before and after every action on every host, so a
//! crash at any instant leaves a journal that says what did happen (an `action_end`),
//! what may have happened (an `action_start` without its end: the outcome is unknown and
//! `resume` re-runs that host's step, whose guards re-observe the host), and what did not.
//! Secrets are never written: secret params are recorded as `<secret>`.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "rec", rename_all = "snake_case")]
pub enum Record {
    Run {
        run_id: String,
        flow: PathBuf,
        flow_sha256: String,
        /// What the inventory was read from (older journals: one path).
        #[serde(deserialize_with = "sources_or_path")]
        inventory: Box<crate::inventory::Sources>,
        /// Param values as given or defaulted, as `-e` text that parses back to the same
        /// value (`Value::to_arg`); secrets as `<secret>`.
        params: Vec<(String, String)>,
        secret_params: Vec<String>,
        operator: String,
        started: String,
        ssh_config: Option<PathBuf>,
        known_hosts: Option<PathBuf>,
        forks: usize,
        /// `--limit PATTERN`, kept by `resume`.
        #[serde(default)]
        limit: Option<String>,
    },
    Resumed {
        at: String,
        operator: String,
    },
    StepStart {
        step: usize,
        name: String,
        hosts: Vec<String>,
        rollback: bool,
    },
    ActionStart {
        step: usize,
        host: String,
        action: String,
        rollback: bool,
    },
    ActionEnd {
        step: usize,
        host: String,
        action: String,
        ok: bool,
        rc: Option<i32>,
        changed: bool,
        rollback: bool,
        detail: Option<String>,
    },
    /// An `edit` is about to change a file: how its rollback puts it back.
    Edit {
        host: String,
        undo: crate::runtime::edits::Undo,
    },
    Confirm {
        step: usize,
        host: String,
        message: String,
        answer: bool,
    },
    HostEnd {
        step: usize,
        host: String,
        ok: bool,
        skipped: bool,
        error: Option<String>,
        rollback: bool,
        bindings: Vec<(usize, serde_json::Value)>,
    },
    StepEnd {
        step: usize,
        ok: bool,
        rollback: bool,
    },
    Interrupted {
        signal: String,
    },
    /// A snapshot file verified on the controller (SAFETY.md inv. 9): a resumed run
    /// verifies it again before a destructive step may rely on it.
    SnapshotVerified {
        path: PathBuf,
        sha256: String,
        revision: i64,
        key_count: i64,
    },
    RunEnd {
        status: String,
        exit_code: u8,
    },
}

/// A queued record and who waits for it to be durable.
type Item = (Vec<u8>, Option<tokio::sync::oneshot::Sender<()>>);

/// Writes records from a dedicated thread with group commit: whatever is queued when the
/// thread wakes up is written and made durable with one `fdatasync`, then every waiter is
/// released. Ten hosts starting an action at once cost one sync, not ten, and no async
/// worker thread ever blocks on the disk.
pub struct Journal {
    pub dir: PathBuf,
    queue: Mutex<Option<std::sync::mpsc::Sender<Item>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

fn spawn_writer(
    mut file: std::fs::File,
) -> (std::sync::mpsc::Sender<Item>, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<Item>();
    let h = std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let mut buf = Vec::new();
            for (line, _) in &batch {
                buf.extend_from_slice(line);
            }
            if file.write_all(&buf).is_ok() {
                let _ = file.sync_data();
            }
            for (_, ack) in batch {
                if let Some(a) = ack {
                    let _ = a.send(());
                }
            }
        }
    });
    (tx, h)
}

impl Journal {
    /// Create `<state>/runs/<id>/` and its journal (fails if it exists).
    pub fn create(state_dir: &Path, run_id: &str) -> std::io::Result<Journal> {
        let dir = state_dir.join("runs").join(run_id);
        std::fs::create_dir_all(dir.join("hosts"))?;
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(dir.join("journal.jsonl"))?;
        sync_dir(&dir);
        let (tx, h) = spawn_writer(file);
        Ok(Journal {
            dir,
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(h)),
        })
    }

    /// Open an existing run's journal to append to it (resume).
    pub fn open(dir: &Path) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("journal.jsonl"))?;
        let (tx, h) = spawn_writer(file);
        Ok(Journal {
            dir: dir.to_path_buf(),
            queue: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(h)),
        })
    }

    /// Append one record; it is durable when the returned future completes.
    pub fn record(&self, r: &Record) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (ack, done) = tokio::sync::oneshot::channel();
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            if let Some(q) = self.queue.lock().ok().and_then(|q| q.clone()) {
                let _ = q.send((line, Some(ack)));
            }
        }
        async move {
            let _ = done.await;
        }
    }

    /// Append command output to a host's log (not fsynced: logs are for people).
    pub fn host_log(&self, host: &str, text: &str) {
        let safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-._".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("hosts").join(format!("{safe}.log")))
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Read a journal. A torn last line (a crash mid-write) is ignored and reported.
pub fn read(dir: &Path) -> std::io::Result<(Vec<Record>, bool)> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl"))?;
    let mut out = Vec::new();
    let mut torn = false;
    for line in text.lines() {
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) => torn = true,
        }
    }
    Ok((out, torn))
}

/// Runs under a state dir, oldest first: (run id, directory).
pub fn list(state_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut runs: Vec<(String, PathBuf)> = std::fs::read_dir(state_dir.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("journal.jsonl").exists())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    runs.sort();
    runs
}

/// SHA-256 of the flow and every file it pulled in (the flow's identity for `resume`).
pub fn flow_hash(sources: &crate::source::SourceMap, files: &[crate::source::FileId]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (id, f) in sources.iter() {
        if !files.contains(&id) {
            continue;
        }
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `user@host` of whoever runs etcdflow.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{host}")
}

/// A journal's inventory: the sources (`-i`, the playbook dir, ansible.cfg's defaults),
/// or, from a journal written before several sources existed, one path.
fn sources_or_path<'de, D>(d: D) -> Result<Box<crate::inventory::Sources>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Either {
        Sources(crate::inventory::Sources),
        Path(PathBuf),
    }
    Ok(Box::new(match Either::deserialize(d)? {
        Either::Sources(s) => s,
        Either::Path(p) => crate::inventory::Sources {
            paths: vec![p],
            ..Default::default()
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::Record;

    /// A journal written before several inventory sources existed still resumes.
    #[test]
    fn an_older_journal_names_one_inventory_path() {
        let old = r#"{"rec":"run","run_id":"r","flow":"/f.flow","flow_sha256":"x","inventory":"/inv/hosts","params":[],"secret_params":[],"operator":"o","started":"s","ssh_config":null,"known_hosts":null,"forks":10}"#;
        let rec: Record = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        let Record::Run { inventory, .. } = rec else {
            panic!("not a run record")
        };
        assert_eq!(inventory.paths, [std::path::PathBuf::from("/inv/hosts")]);
        assert!(inventory.playbook_dir.is_none());
    }
}
