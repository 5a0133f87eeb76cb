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
        // Hosts whose change of a step was undone (`on_failure: "undo_host"`) and that
        // have not started it again: they run it again from the start.
        let mut undone: std::collections::BTreeMap<usize, Vec<String>> =
            std::collections::BTreeMap::new();
        // The step a run stopped at with its failing hosts undone (exit 7).
        let mut undone_step: Option<usize> = None;
        for rec in records {
            match rec {
                // A run that stopped after undoing its failing host (exit 7) left every
                // other change standing: it goes on from the failed step.
                R::RunEnd { status, .. } if status == "interrupted" => {}
                R::RunEnd { status, .. } if status == "failed_undone" => {
                    undone_step = step_ok.iter().filter(|(_, ok)| !**ok).map(|(s, _)| *s).next_back();
                }
                R::RunEnd { status, .. } => {
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
                    if let Some(u) = undone.get_mut(step) {
                        u.retain(|h| h != host);
                    }
                }
                R::HostEnd { step, host, ok: true, rollback: true, .. } => {
                    let u = undone.entry(*step).or_default();
                    if !u.contains(host) {
                        u.push(host.clone());
                    }
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
        // Only the last step may have failed, and only when the run stopped with that
        // step's failing hosts undone; then it runs again where it did not finish.
        let last = step_ok.iter().next_back().map(|(s, ok)| (*s, *ok));
        let failed_last = matches!(last, Some((_, false)));
        if step_ok.iter().filter(|(_, ok)| !**ok).count() > usize::from(failed_last)
            || (failed_last && last.map(|(s, _)| s) != undone_step)
        {
            return Err(format!(
                "a step of run {run_id} failed and was not undone; it is not resumable"
            ));
        }
        let next = match last {
            Some((s, false)) => s,
            Some((s, true)) => s + 1,
            None => 0,
        };
        for (s, hs) in &started {
            if *s < next {
                r.ran.push((*s, hs.clone()));
            }
        }
        r.start_step = next;
        r.done_hosts = host_ok.get(&next).cloned().unwrap_or_default();
        let undone = undone.remove(&next).unwrap_or_default();
        r.unknown_hosts = started
            .get(&next)
            .map(|hs| {
                hs.iter()
                    .filter(|h| !r.done_hosts.contains(h) && !undone.contains(h))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let _ = action_open;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::ResumeFrom;
    use crate::journal::Record as R;

    fn action(step: usize, host: &str) -> R {
        R::ActionStart {
            step,
            host: host.into(),
            action: "run".into(),
            rollback: false,
        }
    }

    fn host_end(step: usize, host: &str, ok: bool, rollback: bool) -> R {
        R::HostEnd {
            step,
            host: host.into(),
            ok,
            skipped: false,
            error: None,
            rollback,
            bindings: Vec::new(),
        }
    }

    fn step_end(step: usize, ok: bool) -> R {
        R::StepEnd {
            step,
            ok,
            rollback: false,
        }
    }

    fn end(status: &str) -> R {
        R::RunEnd {
            status: status.into(),
            exit_code: 0,
        }
    }

    /// Step 0 done; step 1 serial: a done, b failed and undone, c never started.
    fn stopped_at_b(status: &str) -> Vec<R> {
        vec![
            action(0, "a"),
            host_end(0, "a", true, false),
            step_end(0, true),
            action(1, "a"),
            host_end(1, "a", true, false),
            action(1, "b"),
            host_end(1, "b", false, false),
            host_end(1, "b", true, true),
            step_end(1, false),
            end(status),
        ]
    }

    fn from(records: &[R]) -> Result<ResumeFrom, String> {
        ResumeFrom::from_journal("r", std::path::Path::new("/x"), records)
    }

    #[test]
    fn a_run_stopped_with_its_host_undone_goes_on_from_the_failed_step() {
        let r = from(&stopped_at_b("failed_undone")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.start_step, 1);
        assert_eq!(r.done_hosts, ["a"]);
        assert!(
            r.unknown_hosts.is_empty(),
            "b was undone: {:?}",
            r.unknown_hosts
        );
    }

    #[test]
    fn an_undone_host_started_again_and_killed_is_unknown() {
        let mut recs = stopped_at_b("failed_undone");
        recs.push(action(1, "b"));
        let r = from(&recs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.start_step, 1);
        assert_eq!(r.unknown_hosts, ["b"]);
    }

    #[test]
    fn a_failed_run_that_was_not_undone_is_refused() {
        for status in ["failed", "rolled_back", "success"] {
            assert!(from(&stopped_at_b(status)).is_err(), "{status}");
        }
        // A failed step with no undo, interrupted afterwards.
        let mut recs = stopped_at_b("failed_undone");
        recs.extend([
            action(2, "a"),
            host_end(2, "a", false, false),
            step_end(2, false),
        ]);
        recs.push(end("interrupted"));
        assert!(from(&recs).is_err(), "step 2 failed without an undo");
    }
}
