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
            let pid = child.id().to_string();
            let kill = |sig: &str| {
                let ok = std::process::Command::new("kill")
                    .args([sig, &pid])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "kill {sig} {pid}");
            };
            kill("-STOP");
            std::thread::sleep(stopped);
            kill("-CONT");
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
