//! Helpers shared by the stdlib rehearsals on sandbox hosts: kill a run at an event and
//! resume it, check that a cluster agrees on one leader, read a run's phase times.

use etcdflow::sandbox::Sandbox;
use std::path::Path;
use std::time::Duration;

/// `etcdflow run ARGS --output json` in a fresh directory holding `files`, sent `signal`
/// (`KILL`, `TERM`) at the first event for which `when` holds. Returns the run id, the
/// state dir to resume from, and the exit code.
pub(crate) fn run_and_kill(
    sb: &Sandbox,
    files: &[(&str, &str)],
    args: &[&str],
    signal: &str,
    when: &dyn Fn(&serde_json::Value) -> bool,
) -> (String, std::path::PathBuf, Option<i32>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")).keep();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"));
    cmd.current_dir(&dir)
        .arg("run")
        .args(args)
        .arg("-i")
        .arg(sb.inventory())
        .arg("-F")
        .arg(sb.ssh_config())
        .args(["--output", "json"]);
    let (run_id, sent, status, tail) = signal_at(cmd, signal, Some(when));
    assert!(
        sent,
        "the run ended before the kill point ({status:?}): {tail}"
    );
    (run_id, dir.join(".etcdflow"), status)
}

/// `etcdflow resume` of `run_id`, SIGKILLed at the first event `when` holds for (or run
/// to its end when `when` is `None`); returns its exit code.
pub(crate) fn resume_until(
    sb: &Sandbox,
    run_id: &str,
    state: &Path,
    when: Option<&dyn Fn(&serde_json::Value) -> bool>,
) -> Option<i32> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"));
    cmd.args(["resume", run_id, "--yes", "--output", "json", "--state-dir"])
        .arg(state)
        .arg("-F")
        .arg(sb.ssh_config());
    let (_, killed, code, tail) = signal_at(cmd, "KILL", when);
    assert!(
        when.is_none() || killed,
        "the resumed run ended before the kill point ({code:?}): {tail}"
    );
    code
}

/// Spawn `cmd` (an `--output json` run), read its events and send it `signal` at the
/// first one `when` holds for. Returns (the run id, whether the signal was sent, the
/// exit code, its last events).
fn signal_at(
    mut cmd: std::process::Command,
    signal: &str,
    when: Option<&dyn Fn(&serde_json::Value) -> bool>,
) -> (String, bool, Option<i32>, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut run_id = String::new();
    let mut sent = false;
    let mut tail = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        // Every event a rehearsal reads is one the schema allows.
        super::events::validate(&line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if std::env::var_os("ETCDFLOW_TEST_EVENTS").is_some() && !line.contains("action_done") {
            eprintln!("{line}");
        }
        if tail.len() == 12 {
            tail.pop_front();
        }
        tail.push_back(line);
        if v["event"] == "run_started" {
            run_id = v["run_id"].as_str().unwrap_or_default().to_string();
        }
        if when.is_some_and(|f| f(&v)) {
            let _ = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
            sent = true;
            break;
        }
    }
    let status = child.wait().map(|s| s.code()).unwrap_or(None);
    let tail: Vec<String> = tail.into();
    (run_id, sent, status, tail.join("\n"))
}

/// Every endpoint of `eps` answers a quorum read, and all agree on one leader and one
/// cluster id: (leader id, cluster id).
pub(crate) fn one_leader_one_id(eps: &[String]) -> (u64, u64) {
    super::etcd::rt().block_on(async {
        let mut leaders = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        for ep in eps {
            let o = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(3))
                .with_timeout(Duration::from_secs(3));
            let mut c = etcd_client::Client::connect([ep.as_str()], Some(o))
                .await
                .unwrap_or_else(|e| panic!("{ep}: {e}"));
            let s = c.status().await.unwrap_or_else(|e| panic!("{ep}: {e}"));
            c.get("health", None)
                .await
                .unwrap_or_else(|e| panic!("{ep} answers no quorum read: {e}"));
            leaders.insert(s.leader());
            ids.insert(s.header().map_or(0, |h| h.cluster_id()));
        }
        assert_eq!(leaders.len(), 1, "{eps:?}: one leader: {leaders:?}");
        assert_eq!(ids.len(), 1, "{eps:?}: one cluster id: {ids:?}");
        (
            leaders.into_iter().next().unwrap_or(0),
            ids.into_iter().next().unwrap_or(0),
        )
    })
}

/// The steps that ran, with their times, from a run's summary table
/// (`step ok failed skipped time`), as `"step 1.2s"`.
pub(crate) fn phase_times(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut table = false;
    for l in stderr.lines() {
        if l.starts_with("step ") && l.contains("time") && l.contains("skipped") {
            table = true;
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        if table && w.len() == 5 && w[4].ends_with('s') {
            if w[1] != "0" || w[2] != "0" {
                out.push(format!("{} {}", w[0], w[4]));
            }
        } else if table && !l.trim().is_empty() {
            table = false;
        }
    }
    out
}

/// The same from an `--output json` run's `step_done` events.
pub(crate) fn step_times(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "step_done")
        .filter(|e| e["ok"].as_u64() != Some(0) || e["failed"].as_u64() != Some(0))
        .map(|e| {
            let ms = e["ms"].as_u64().unwrap_or(0);
            format!(
                "{} {:.2}s",
                e["step"].as_str().unwrap_or("?"),
                ms as f64 / 1000.0
            )
        })
        .collect()
}
