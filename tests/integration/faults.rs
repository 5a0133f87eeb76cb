//! Faults of SAFETY.md's matrix on sandbox hosts (each its own subnet): what a run does
//! when the host misbehaves under it.

use super::cli::Test;
use super::etcd::{endpoints, etcd_flow, etcd_sandbox, report, rt, Writer};
use super::sandbox::{flow, host_cat, host_sh, no_root, run, sandbox_of};
use std::time::Duration;

/// `etcdflow run FLOW --output json` in `dir` (with the sandbox's inventory), sent
/// SIGSTOP at the first event `when` holds for, continued after `stopped`; read to its
/// end. Returns the exit code and every event.
fn stop_and_continue(
    sb: &etcdflow::sandbox::Sandbox,
    dir: &std::path::Path,
    flow: &str,
    when: &dyn Fn(&serde_json::Value) -> bool,
    stopped: Duration,
) -> (Option<i32>, Vec<serde_json::Value>) {
    stop_and_continue_inner(sb, dir, flow, when, move |me: &str| {
        signal(me, "-STOP");
        std::thread::sleep(stopped);
        signal(me, "-CONT");
    })
}

/// `kill SIG PID`; a failure fails the test.
fn signal(pid: &str, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// As [`stop_and_continue`], running `fault` on a thread of its own at the event (the
/// run goes on meanwhile); waits for it before returning.
fn stop_and_continue_with(
    sb: &etcdflow::sandbox::Sandbox,
    dir: &std::path::Path,
    flow: &str,
    when: &dyn Fn(&serde_json::Value) -> bool,
    fault: impl FnOnce() + Send + 'static,
) -> (Option<i32>, Vec<serde_json::Value>) {
    let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s2 = std::sync::Arc::clone(&slot);
    let mut fault = Some(fault);
    let r = stop_and_continue_inner(sb, dir, flow, when, move |_: &str| {
        if let Some(f) = fault.take() {
            *s2.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::spawn(f));
        }
    });
    if let Some(h) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
        h.join()
            .unwrap_or_else(|_| panic!("the fault thread panicked"));
    }
    r
}

fn stop_and_continue_inner(
    sb: &etcdflow::sandbox::Sandbox,
    dir: &std::path::Path,
    flow: &str,
    when: &dyn Fn(&serde_json::Value) -> bool,
    mut at: impl FnMut(&str),
) -> (Option<i32>, Vec<serde_json::Value>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"))
        .current_dir(dir)
        .args(["run", flow, "--output", "json", "-i"])
        .arg(sb.inventory())
        .arg("-F")
        .arg(sb.ssh_config())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut events = Vec::new();
    let mut sent = false;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        super::events::validate(&line);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if !sent && when(&v) {
            sent = true;
            at(&child.id().to_string());
        }
        events.push(v);
    }
    assert!(sent, "the run ended before the stop point: {events:?}");
    (child.wait().ok().and_then(|s| s.code()), events)
}

/// The value of `key` in the cluster, if any.
fn etcd_value(eps: &[String], key: &str) -> Option<String> {
    rt().block_on(async {
        let mut c = super::etcd::client(eps).await;
        let r = c
            .get(key, None)
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        r.kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
    })
}

/// T18 (defect 1): a controller stopped past its lock's lease and continued changes
/// nothing more: not the next etcd request, not the next step, not an earlier step's
/// rollback. The run stops as interrupted and `resume` finishes it once the lock is
/// free again. A background writer loses nothing.
#[test]
fn a_controller_stopped_past_its_lease_changes_nothing() {
    if no_root("a_controller_stopped_past_its_lease_changes_nothing") {
        return;
    }
    let (_dir, guard) = etcd_sandbox(1, 98);
    let sb = &guard.0;
    let eps = endpoints(sb, 1);
    let writer = Writer::start(eps.clone());
    let body = r#"step first on members {
  run ["touch", "/tmp/first"]
  rollback {
    run ["touch", "/tmp/rolled-back"]
  }
}
step work on local {
  etcd.put key: "etcdflow-test/t18" value: "1"
  log "pause here"
  run ["sleep", "1"]
  etcd.put key: "etcdflow-test/t18" value: "2"
}
step next on members {
  run ["touch", "/tmp/after"]
}
"#;
    let t = etcd_flow("t18.flow", body);
    let (code, events) = stop_and_continue(
        sb,
        t.path(),
        "t18.flow",
        &|e| e["event"] == "log" && e["message"] == "pause here",
        // Past the 10 s TTL of the lock's lease.
        Duration::from_secs(13),
    );
    let text: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    assert_eq!(code, Some(6), "interrupted: {text:#?}");
    assert!(
        text.iter().any(|e| e.contains("lease may have expired")),
        "{text:#?}"
    );
    assert_eq!(
        etcd_value(&eps, "etcdflow-test/t18").as_deref(),
        Some("1"),
        "no etcd request after the lease may have expired"
    );
    assert_eq!(host_cat(sb, 1, "/tmp/after"), "", "no later step ran");
    assert!(
        host_sh(sb, 1, "test -e /tmp/rolled-back && echo yes || echo no").trim() == "no",
        "no rollback ran without the lock"
    );
    // `resume` takes the (now free) lock and finishes where the run stood.
    let run_id = events
        .iter()
        .find(|e| e["event"] == "run_started")
        .and_then(|e| e["run_id"].as_str())
        .unwrap_or_default()
        .to_string();
    let out = super::sandbox::resume(sb, &run_id, &t.path().join(".etcdflow"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(etcd_value(&eps, "etcdflow-test/t18").as_deref(), Some("2"));
    assert!(host_sh(sb, 1, "test -e /tmp/after && echo yes").contains("yes"));
    let (acked, failed, lost) = writer.finish(&eps);
    report(&format!(
        "T18 stop past the lease: 0 mutations after the loss, writer acked {acked} failed {failed} lost {lost}"
    ));
    assert_eq!(lost, 0, "acknowledged writes lost");
}

/// T20: a copy onto a filesystem with no room fails as "disk full" with the sizes, the
/// destination is untouched, and no partial temp file is left (next to it or staged).
#[test]
fn a_full_disk_fails_the_copy_cleanly() {
    if no_root("a_full_disk_fails_the_copy_cleanly") {
        return;
    }
    let (_dir, sb) = sandbox_of(1, 27);
    let sb = &sb.0;
    host_sh(
        sb,
        1,
        "mkdir -p /mnt/tiny && mount -t tmpfs -o size=64k tmpfs /mnt/tiny && echo old > /mnt/tiny/f.bin",
    );
    let big = "x".repeat(200 * 1024);
    let body = format!(
        "hosts h = group(\"sandbox\")\nstep put on h {{\n  copy content: \"{big}\" to: \"/mnt/tiny/f.bin\" mode: \"0644\"\n  rollback {{}}\n}}\n"
    );
    let out = run(sb, flow(Test::new(), "d.flow", &body), "d.flow", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("disk full on n1: /mnt/tiny has")
            && out.stderr.contains("the file is 200 KiB"),
        "{}",
        out.stderr
    );
    assert_eq!(
        host_sh(sb, 1, "cat /mnt/tiny/f.bin"),
        "old\n",
        "the destination is untouched"
    );
    let left = host_sh(
        sb,
        1,
        "ls -A /mnt/tiny; find /tmp /root/.cache -name 'stage-*' 2>/dev/null || true",
    );
    assert_eq!(
        left.trim(),
        "f.bin",
        "no temp or staged file is left: {left}"
    );
}

/// T4 (defect 2): a voter that stopped answering for 3 s between two of the run's own
/// observations is not "healthy for 5 s": the membership change waits until 5 s after
/// it came back (the background observer saw the miss). Before, the add was issued
/// ~3 s after the member came back.
#[test]
fn a_voter_that_paused_resets_the_health_window() {
    if no_root("a_voter_that_paused_resets_the_health_window") {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = etcdflow::sandbox::up(&dir.path().join("sbx"), 4, 3, 99)
        .unwrap_or_else(|e| panic!("the etcd sandbox must come up: {e}"));
    let guard = super::sandbox::Guard(sb);
    let sb = &guard.0;
    let eps = endpoints(sb, 3);
    let body = format!(
        r#"step settle on local {{
  etcd.wait_healthy
  log "settled"
  run ["sleep", "7"]
  etcd.member_add name: "n4" peer_url: "http://{}:2380"
}}
"#,
        sb.address(4)
    );
    let t = etcd_flow("t4.flow", &body);
    // The pid is one of n3's own pid namespace: signalled from inside n3.
    let pid_file = sb.dir.join("n3/etcd.pid").display().to_string();
    let sb2 = sb.clone();
    let back = std::sync::Arc::new(std::sync::Mutex::new(None));
    let (b2, eps2) = (std::sync::Arc::clone(&back), eps.clone());
    let (code, events) = stop_and_continue_with(
        sb,
        t.path(),
        "t4.flow",
        &|e| e["event"] == "log" && e["message"] == "settled",
        move || {
            // n3 stops answering 1 s after the run's observation, for 3 s.
            std::thread::sleep(Duration::from_secs(1));
            host_sh(&sb2, 3, &format!("kill -STOP $(cat {pid_file})"));
            std::thread::sleep(Duration::from_secs(3));
            host_sh(&sb2, 3, &format!("kill -CONT $(cat {pid_file})"));
            let t0 = std::time::Instant::now();
            // When the add lands, seen from outside.
            let added = loop {
                if super::etcd::member_list(&eps2).len() == 4
                    || t0.elapsed() > Duration::from_secs(30)
                {
                    break t0.elapsed();
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            *b2.lock().unwrap_or_else(|e| e.into_inner()) = Some(added);
        },
    );
    let text: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    assert_eq!(code, Some(0), "{text:#?}");
    let added = back
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(|| panic!("the add was not seen"));
    report(&format!(
        "T4 paused voter: the add landed {:.1}s after it answered again (window 5 s)",
        added.as_secs_f64()
    ));
    assert!(
        added >= Duration::from_millis(4800),
        "the add went out {added:?} after the voter came back: {text:#?}"
    );
    assert_eq!(super::etcd::member_list(&eps).len(), 4);
}
