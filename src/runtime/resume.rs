//! Where an interrupted run stands, rebuilt from its journal (`etcdflow resume`).

use super::*;

/// Where an interrupted run stands, reconstructed from its journal.
#[derive(Clone, Debug, Default)]
pub struct ResumeFrom {
    pub run_id: String,
    pub dir: PathBuf,
    /// The first step that did not finish.
    pub start_step: usize,
    /// Hosts on which `start_step` is known to have finished.
    pub done_hosts: Vec<String>,
    /// Hosts on which `start_step` started without a recorded end: outcome unknown.
    pub unknown_hosts: Vec<String>,
    /// Steps that ran, with their hosts (for rollback).
    pub ran: Vec<(usize, Vec<String>)>,
    /// Per host, the flow bindings made by finished steps (binding index, JSON value).
    pub bindings: std::collections::HashMap<String, Vec<(usize, serde_json::Value)>>,
    /// Snapshot files the run verified (path, sha256): verified again before use.
    pub verified: Vec<(PathBuf, String)>,
    /// Per host, the files its steps edited (their rollback puts them back).
    pub edits: std::collections::HashMap<String, Vec<super::edits::Undo>>,
}

impl ResumeFrom {
    /// Rebuild the state of a run from its journal records.
    pub fn from_journal(
        run_id: &str,
        dir: &std::path::Path,
        records: &[crate::journal::Record],
    ) -> Result<ResumeFrom, String> {
        use crate::journal::Record as R;
        let mut r = ResumeFrom {
            run_id: run_id.to_string(),
            dir: dir.to_path_buf(),
            ..ResumeFrom::default()
        };
        let mut step_ok: std::collections::BTreeMap<usize, bool> =
            std::collections::BTreeMap::new();
        let mut started: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut host_ok: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        let mut action_open: std::collections::BTreeMap<(usize, String), bool> =
            std::collections::BTreeMap::new();
        for rec in records {
            match rec {
                R::RunEnd { status, .. } if status != "interrupted" => {
                    return Err(format!("run {run_id} already ended ({status}); start a new run instead"));
                }
                R::StepStart { step, rollback: false, .. } => {
                    started.entry(*step).or_default();
                }
                R::StepStart { rollback: true, .. } => return Err(format!("run {run_id} was rolling back when it stopped; check the hosts and start a new run")),
                R::ActionStart { step, host, rollback: false, .. } => {
                    let hs = started.entry(*step).or_default();
                    if !hs.contains(host) {
                        hs.push(host.clone());
                    }
                    action_open.insert((*step, host.clone()), true);
                }
                R::ActionEnd { step, host, rollback: false, .. } => {
                    action_open.insert((*step, host.clone()), false);
                }
                R::HostEnd { step, host, ok, skipped, rollback: false, bindings, .. } => {
                    let hs = started.entry(*step).or_default();
                    if !hs.contains(host) && !skipped {
                        hs.push(host.clone());
                    }
                    if *ok || *skipped {
                        host_ok.entry(*step).or_default().push(host.clone());
                        r.bindings.entry(host.clone()).or_default().extend(bindings.iter().cloned());
                    }
                }
                R::StepEnd { step, ok, rollback: false } => {
                    step_ok.insert(*step, *ok);
                }
                R::Edit { host, undo } => {
                    r.edits.entry(host.clone()).or_default().push(undo.clone());
                }
                R::SnapshotVerified { path, sha256, .. } => {
                    r.verified.push((path.clone(), sha256.clone()));
                }
                _ => {}
            }
        }
        if step_ok.values().any(|ok| !ok) {
            return Err(format!(
                "a step of run {run_id} failed; it is not resumable"
            ));
        }
        let next = step_ok.keys().next_back().map_or(0, |s| s + 1);
        for (s, hs) in &started {
            if *s < next {
                r.ran.push((*s, hs.clone()));
            }
        }
        r.start_step = next;
        r.done_hosts = host_ok.get(&next).cloned().unwrap_or_default();
        r.unknown_hosts = started
            .get(&next)
            .map(|hs| {
                hs.iter()
                    .filter(|h| !r.done_hosts.contains(h))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let _ = action_open;
        Ok(r)
    }
}
