//! etcd as a first-class citizen, against real etcd 3.4 members in the sandbox (ICP
//! style: each member is the static pod /etc/cfc/pods/etcd.json that the sandbox's
//! kubelet stand-in runs). Called in order from `sandbox::sandbox_scenarios`: two
//! sandboxes must not be built at once.

use super::cli::Test;
use super::rehearse::run_and_kill;
use super::sandbox::{flow, host_cat, run, Guard};
use etcdflow::sandbox::{self, Sandbox};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A figure for the test output even when the test passes (the test harness captures
/// `eprintln!`, not direct writes to stderr).
pub(crate) fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "etcdflow test report: {line}");
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn endpoints(sb: &Sandbox, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("http://{}:2379", sb.address(i)))
        .collect()
}

/// A client on the first endpoint that answers as a voting member (a client balanced
/// over every endpoint may send a request to a member that is down or removed).
pub(crate) async fn client(eps: &[String]) -> etcd_client::Client {
    try_client(eps)
        .await
        .unwrap_or_else(|| panic!("no etcd endpoint of {eps:?} answers"))
}

/// A client of the first endpoint of `eps` that answers as a voter, if any.
async fn try_client(eps: &[String]) -> Option<etcd_client::Client> {
    let o = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(3));
    for ep in eps {
        if let Ok(mut c) = etcd_client::Client::connect([ep.as_str()], Some(o.clone())).await {
            if c.status().await.is_ok_and(|s| !s.is_learner()) {
                return Some(c);
            }
        }
    }
    None
}

/// (name, id, is_learner) of every member, sorted by name.
pub(crate) fn member_list(eps: &[String]) -> Vec<(String, u64, bool)> {
    rt().block_on(async {
        let mut c = client(eps).await;
        let l = c
            .member_list()
            .await
            .unwrap_or_else(|e| panic!("member list: {e}"));
        let mut v: Vec<(String, u64, bool)> = l
            .members()
            .iter()
            .map(|m| (m.name().to_string(), m.id(), m.is_learner()))
            .collect();
        v.sort();
        v
    })
}

/// (name, is_learner) of every member.
pub(crate) fn members(eps: &[String]) -> Vec<(String, bool)> {
    member_list(eps)
        .into_iter()
        .map(|(n, _, l)| (n, l))
        .collect()
}

fn members_ids(eps: &[String]) -> std::collections::HashMap<String, u64> {
    member_list(eps)
        .into_iter()
        .map(|(n, id, _)| (n, id))
        .collect()
}

pub(crate) fn keys(eps: &[String], prefix: &str) -> Vec<String> {
    rt().block_on(async {
        let mut c = client(eps).await;
        let r = c
            .get(
                prefix,
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_keys_only(),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("get: {e}"));
        r.kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .collect()
    })
}

pub(crate) fn put_range(eps: &[String], range: std::ops::RangeInclusive<u32>) {
    rt().block_on(async {
        let mut c = client(eps).await;
        for i in range {
            c.put(format!("k/{i:05}"), format!("v{i}"), None)
                .await
                .unwrap_or_else(|e| panic!("put: {e}"));
        }
    });
}

fn delete_range(eps: &[String], range: std::ops::RangeInclusive<u32>) {
    rt().block_on(async {
        let mut c = client(eps).await;
        for i in range {
            c.delete(format!("k/{i:05}"), None)
                .await
                .unwrap_or_else(|e| panic!("delete: {e}"));
        }
    });
}

/// SAFETY.md §5 background writer: writes `seq/<n>` with increasing n through the
/// membership changes and records every acknowledged write; after a failed write it
/// reconnects to the first endpoint of its list that answers as a voter.
pub(crate) struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<u64>>>,
    failed: Arc<Mutex<u64>>,
    handle: std::thread::JoinHandle<()>,
}

impl Writer {
    pub(crate) fn start(eps: Vec<String>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(Mutex::new(0));
        let (s, a, f) = (Arc::clone(&stop), Arc::clone(&acked), Arc::clone(&failed));
        let handle = std::thread::spawn(move || {
            rt().block_on(async move {
                let mut c = client(&eps).await;
                let mut n = 0u64;
                while !s.load(Ordering::SeqCst) {
                    n += 1;
                    let put = c.put(format!("seq/{n:08}"), n.to_string(), None);
                    match tokio::time::timeout(Duration::from_secs(3), put).await {
                        Ok(Ok(_)) => a.lock().map(|mut v| v.push(n)).unwrap_or(()),
                        _ => {
                            *f.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            // Its member may be gone (removed, stopped): follow the
                            // cluster to another endpoint that answers as a voter.
                            if let Some(other) = try_client(&eps).await {
                                c = other;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        });
        Writer {
            stop,
            acked,
            failed,
            handle,
        }
    }

    /// Stop, then check that every acknowledged write is present: (acked, failed, lost).
    pub(crate) fn finish(self, eps: &[String]) -> (usize, u64, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.handle.join();
        let acked = self.acked.lock().map(|v| v.clone()).unwrap_or_default();
        let present: std::collections::HashSet<String> = keys(eps, "seq/").into_iter().collect();
        let lost = acked
            .iter()
            .filter(|n| !present.contains(&format!("seq/{n:08}")))
            .count();
        let failed = *self.failed.lock().unwrap_or_else(|e| e.into_inner());
        (acked.len(), failed, lost)
    }
}

/// A static pod manifest for a member joining an existing cluster (the kubelet
/// stand-in runs its "command").
const JOIN_POD: &str = r#"{"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "etcd", "command": ["etcd", "--name", "{{ host.name }}", "--data-dir", "/var/lib/etcd", "--listen-client-urls", "http://{{ host.address }}:2379,http://127.0.0.1:2379", "--advertise-client-urls", "http://{{ host.address }}:2379", "--listen-peer-urls", "http://{{ host.address }}:2380", "--initial-advertise-peer-urls", "http://{{ host.address }}:2380", "--initial-cluster", "{{ initial_cluster }}", "--initial-cluster-token", "etcdflow-sandbox", "--initial-cluster-state", "existing"]}]}}
"#;

const HEAD: &str = r#"hosts members = group("etcd")
hosts all = group("sandbox")
cluster main {
  members: all
}
"#;

pub(crate) fn etcd_flow(name: &str, body: &str) -> Test {
    flow(Test::new(), name, &format!("{HEAD}{body}")).file("pod.j2", JOIN_POD)
}

/// Add a drop rule in sandbox host `i`'s firewall (nftables, input hook).
pub(crate) fn nft(sb: &Sandbox, i: usize, rule: &str) {
    let rules = format!(
        "table inet etcdflow_test {{\n  chain in {{\n    type filter hook input priority 0;\n    {rule}\n  }}\n}}\n"
    );
    let file = std::env::temp_dir().join(format!("etcdflow-test-{}-{i}.nft", sb.net));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    let ok = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("ef{}-n{i}", sb.net), "nft", "-f"])
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&file);
    assert!(ok, "nft (nftables) must be installed");
}

pub(crate) fn nft_clear(sb: &Sandbox, i: usize) {
    let _ = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("ef{}-n{i}", sb.net)])
        .args(["nft", "delete", "table", "inet", "etcdflow_test"])
        .status();
}

/// Three sandbox hosts on subnet `net`, the first `members` running etcd (torn down when
/// the guard drops, before its directory).
pub(crate) fn etcd_sandbox(members: usize, net: u8) -> (tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up(&dir.path().join("sbx"), 3, members, net)
        .unwrap_or_else(|e| panic!("the etcd sandbox must come up (etcd-server installed): {e}"));
    (dir, Guard(sb))
}

/// Grow 1 -> 3 through learners, refusals before any RPC, a second operator refused,
/// replace a member, remove the leader; a background writer loses nothing.
pub fn membership() {
    let (_dir, sb) = etcd_sandbox(1, 14);
    let sb = &sb.0;
    let one = endpoints(sb, 1);
    let all = endpoints(sb, 3);
    assert_eq!(members(&one), [("n1".to_string(), false)]);

    // Refused before the RPC: a peer URL on no inventory host, a missing scheme, a voter
    // added straight to a 1-member cluster (SAFETY.md §1.8 lost the cluster that way).
    // (The missing scheme is caught by the checker already: exit 5, nothing started.)
    // n1 resolves `etcd-x` to an address outside the inventory (kops names its members'
    // peers by DNS names that each master's /etc/hosts resolves).
    super::sandbox::host_sh(
        sb,
        1,
        "echo '10.213.14.99 etcd-x.internal.example' >> /etc/hosts",
    );
    for (url, voter, code, exit) in [
        ("http://10.213.14.99:2380", "", "etcd-peer-url", 1),
        // A DNS name must resolve, on the member's host, to an inventory host.
        (
            "http://etcd-b.internal.example:2380",
            "",
            "does not resolve on member host n1",
            1,
        ),
        (
            "http://etcd-x.internal.example:2380",
            "",
            "which is no inventory host",
            1,
        ),
        ("10.213.14.12:2380", "", "invalid-url", 5),
        ("http://10.213.14.12:2380", " voter", "etcd-quorum-gate", 1),
    ] {
        let body = format!(
            "step add on local {{\n  etcd.member_add name: \"n2\" peer_url: \"{url}\"{voter}\n}}\n"
        );
        let out = run(sb, etcd_flow("bad.flow", &body), "bad.flow", &[]);
        assert_eq!(out.code, exit, "{url}: {}", out.stderr);
        assert!(out.stderr.contains(code), "{url}: {}", out.stderr);
        assert_eq!(members(&one), [("n1".to_string(), false)], "{url}");
    }

    // A firewall on n2 drops n1's packets to the peer port: the path from the existing
    // member is silent, so the add is refused (a refused connection would be accepted:
    // the new member's etcd does not run yet).
    nft(
        sb,
        2,
        &format!("ip saddr {} tcp dport 2380 drop", sb.address(1)),
    );
    let body = "step add on local {\n  etcd.member_add name: \"n2\" peer_url: \"http://10.213.14.12:2380\"\n}\n";
    let out = run(sb, etcd_flow("fw.flow", body), "fw.flow", &[]);
    nft_clear(sb, 2);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("etcd-peer-url") && out.stderr.contains("from member host n1"),
        "{}",
        out.stderr
    );
    assert_eq!(members(&one), [("n1".to_string(), false)]);

    let writer = Writer::start(one.clone());
    let t0 = Instant::now();
    let grow = r#"step grow on all - members serial {
  let m = etcd.member_add name: host.name peer_url: peer_url(main, host)
  assert m.learner, "added as a learner"
  template "pod.j2" to: "/etc/cfc/pods/etcd.json" vars: { initial_cluster: m.initial_cluster }
  etcd.wait_started member: host.name timeout: 60s
  etcd.member_promote member: host.name timeout: 60s
}
step check on local {
  assert len(main.voters) == 3 and len(main.learners) == 0 and main.healthy, "three healthy voters"
}
"#;
    let out = run(sb, etcd_flow("grow.flow", grow), "grow.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let grow_s = t0.elapsed().as_secs_f64();
    assert_eq!(
        members(&all),
        [
            ("n1".to_string(), false),
            ("n2".to_string(), false),
            ("n3".to_string(), false)
        ]
    );

    // Maintenance: defragment every member, one at a time (each healthy again before
    // the next), then every member hashes the same key space.
    let maint = r#"step defrag on all {
  etcd.defrag
}
step check on local {
  let alarms = etcd.alarm_list
  assert len(alarms) == 0, "no alarms"
  let hashes = etcd.hash_kv
  assert len(hashes) == 3, "three hashes"
  for h in hashes {
    assert h.hash == hashes[0].hash, "members disagree: {{ h.endpoint }}"
  }
}
"#;
    let out = run(sb, etcd_flow("maint.flow", maint), "maint.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // One operator at a time: a run holding the lock makes a second one refuse.
    let hold = "step hold on local {\n  etcd.put key: \"etcdflow-test/held\" value: \"1\"\n  run [\"sleep\", \"6\"]\n}\n";
    let holder = {
        let t = etcd_flow("hold.flow", hold);
        let inv = sb.inventory().display().to_string();
        let cfg = sb.ssh_config().display().to_string();
        std::thread::spawn(move || t.args(["run", "hold.flow", "-i", &inv, "-F", &cfg]).run())
    };
    std::thread::sleep(Duration::from_secs(3));
    let second = run(sb, etcd_flow("hold.flow", hold), "hold.flow", &[]);
    let first = holder.join().unwrap_or_else(|_| panic!("holder thread"));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(second.code, 5, "{}", second.stderr);
    assert!(
        second.stderr.contains("cluster-locked") && second.stderr.contains("\"run_id\""),
        "the refusal names the holder: {}",
        second.stderr
    );

    // Replace n3: remove it (a verified snapshot first), wipe it, add it back.
    let leave = |k: usize| {
        format!(
            r#"step backup on local {{
  let s = etcd.snapshot_save to: "backup.db"
  assert s.verified and s.key_count > 0, "verified"
}}
step remove on local {{
  etcd.member_remove member: "n3"
}}
step wipe on nth(all, 2) {{
  run ["rm", "-f", "/etc/cfc/pods/etcd.json"]
  wait port: 2379 closed timeout: 30s
  run "p=$(cat {pid}); while kill -0 \"$p\" 2>/dev/null; do sleep 0.1; done" timeout: 30s
  run ["mv", "/var/lib/etcd", "/var/lib/etcd.removed-{k}"]
}}
"#,
            // The port closes before etcd has exited; the data dir (an overlay, so `mv`
            // copies) is moved once the process is gone.
            pid = sb.dir.join("n3/etcd.pid").display()
        )
    };
    let rejoin = r#"step rejoin on nth(all, 2) {
  let m = etcd.member_add name: host.name peer_url: peer_url(main, host)
  template "pod.j2" to: "/etc/cfc/pods/etcd.json" vars: { initial_cluster: m.initial_cluster }
  etcd.wait_started member: host.name timeout: 60s
  etcd.member_promote member: host.name timeout: 60s
}
"#;
    let before = members_ids(&all);
    let replace = format!("{}{rejoin}", leave(1));
    let out = run(sb, etcd_flow("replace.flow", &replace), "replace.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = members_ids(&all);
    assert_eq!(after.len(), 3);
    assert_ne!(
        before.get("n3"),
        after.get("n3"),
        "n3 came back as a new member"
    );

    // The controller is killed right after the add landed (the step's outcome is
    // unknown): `resume` re-runs the step, finds the member by its peer URL instead of
    // adding it twice (inv. 17), takes over its own lock, and finishes.
    let out = run(sb, etcd_flow("leave.flow", &leave(2)), "leave.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (run_id, state) = run_and_kill_after(sb, &format!("{HEAD}{rejoin}"), "etcd.member_add");
    let out = Test::new()
        .args(["resume", &run_id, "--state-dir"])
        .arg(&state)
        .args(["-F", &sb.ssh_config().display().to_string()])
        .run();
    assert_eq!(out.code, 0, "resume: {}", out.stderr);
    let ids = members_ids(&all);
    assert_eq!(ids.len(), 3, "one n3, not two: {ids:?}");
    assert_eq!(
        members(&all),
        [
            ("n1".to_string(), false),
            ("n2".to_string(), false),
            ("n3".to_string(), false)
        ]
    );

    // Remove without a verified snapshot: refused.
    let out = run(
        sb,
        etcd_flow(
            "rm.flow",
            "step rm on local {\n  etcd.member_remove member: \"n2\"\n}\n",
        ),
        "rm.flow",
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("etcd-no-verified-snapshot"),
        "{}",
        out.stderr
    );

    // Remove the leader: leadership moves first.
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let was = keep.path().join("leader");
    let body = format!(
        "step backup on local {{\n  etcd.snapshot_save to: \"b.db\"\n}}\nstep rm on local {{\n  let l = main.leader\n  run \"echo {{{{ l.name }}}} > {}\"\n  etcd.member_remove member: l.name\n}}\n",
        was.display()
    );
    let out = run(sb, etcd_flow("rml.flow", &body), "rml.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let leader = std::fs::read_to_string(&was)
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        out.stderr
            .contains(&format!("moving leadership from {leader} to")),
        "{}",
        out.stderr
    );
    // Ask the members that stay (a balanced client may pick the removed one).
    let live: Vec<String> = (1..=3)
        .filter(|i| format!("n{i}") != leader)
        .map(|i| format!("http://{}:2379", sb.address(i)))
        .collect();
    let left = members(&live);
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|(n, _)| *n != leader), "{leader} removed");
    let (acked, failed, lost) = writer.finish(&live);
    report(&format!(
        "membership: grow 1->3 in {grow_s:.1}s; background writer: {acked} acknowledged writes, {failed} failed attempts, {lost} lost"
    ));
    assert!(acked > 100, "the writer wrote ({acked})");
    assert_eq!(lost, 0, "acknowledged writes lost");
    let _ = host_cat(sb, 1, "/etc/hostname");
}

/// Run `flow` (with the join pod template) and SIGKILL the controller as soon as an
/// `action` is done; returns the run id and the state dir to resume from.
fn run_and_kill_after(sb: &Sandbox, flow: &str, action: &str) -> (String, std::path::PathBuf) {
    let text = format!("## kill\nflow kill\n{flow}");
    let (run_id, state, _) = run_and_kill(
        sb,
        &[("k.flow", text.as_str()), ("pod.j2", JOIN_POD)],
        &["k.flow"],
        "KILL",
        &|v| v["event"] == "action_done" && v["action"] == action,
    );
    (run_id, state)
}

fn stdlib_restore(sb: &Sandbox, t: Test, snapshot: &str, extra: &[&str]) -> super::cli::Output {
    let mut args = vec!["-e", snapshot, "--yes"];
    args.extend_from_slice(extra);
    run(sb, t, "restore-icp.flow", &args)
}

/// `restore-icp.flow` from the stdlib, unmodified, on 3 ICP-style masters.
pub fn restore_icp() {
    let (_dir, sb) = etcd_sandbox(3, 13);
    let sb = &sb.0;
    let eps = endpoints(sb, 3);
    put_range(&eps, 1..=1000);
    // The snapshot, taken by etcdflow itself.
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let snap = keep.path().join("snap.db");
    let body = format!(
        "hosts m = group(\"master\")\ncluster c {{\n  members: m\n}}\nstep save on local {{\n  let s = etcd.snapshot_save to: \"{}\"\n  assert s.key_count == 1000, \"{{{{ s.key_count }}}} keys\"\n}}\n",
        snap.display()
    );
    let out = run(sb, flow(Test::new(), "save.flow", &body), "save.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    put_range(&eps, 1001..=1500);
    delete_range(&eps, 1..=100);
    let after_snapshot = keys(&eps, "k/");
    assert_eq!(after_snapshot.len(), 1400);

    // A flipped byte, a truncated tail: refused before any manifest or data dir moves.
    let bytes = std::fs::read(&snap).unwrap_or_default();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    let truncated = &bytes[..bytes.len() - 100];
    for (name, b) in [("flipped.db", &flipped[..]), ("truncated.db", truncated)] {
        let p = keep.path().join(name);
        std::fs::write(&p, b).unwrap_or_else(|e| panic!("{e}"));
        let arg = format!("snapshot={}", p.display());
        let out = stdlib_restore(sb, Test::new(), &arg, &[]);
        assert_eq!(out.code, 1, "{name}: {}", out.stderr);
        assert!(out.stderr.contains("snapshot-invalid"), "{}", out.stderr);
        for i in 1..=3 {
            assert!(
                host_cat(sb, i, "/etc/cfc/pods/etcd.json").contains("etcd"),
                "{name}: the manifest on n{i} was moved"
            );
        }
        assert_eq!(keys(&eps, "k/"), after_snapshot, "{name}: data changed");
    }

    // Without a TTY and without --yes, the flow's confirm gate refuses up front.
    let arg = format!("snapshot={}", snap.display());
    let out = run(sb, Test::new(), "restore-icp.flow", &["-e", &arg]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(keys(&eps, "k/"), after_snapshot, "data changed");

    // `stop_pods` has `timeout: stop_timeout`: a wait that cannot end (the "API server"
    // port given is sshd's, which stays open) ends at the step's deadline, and the
    // rollback puts the manifests back.
    let t0 = std::time::Instant::now();
    let out = stdlib_restore(
        sb,
        Test::new(),
        &arg,
        &["-e", "apiserver_port=22", "-e", "stop_timeout=3s"],
    );
    let took = t0.elapsed();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("stop_pods"), "{}", out.stderr);
    assert!(
        took.as_secs() < 30,
        "a 3 s stop_timeout took {took:?} to end the step"
    );
    report(&format!(
        "restore-icp: stop_timeout=3s with a port that never closes ended the run in {:.1}s",
        took.as_secs_f64()
    ));
    for i in 1..=3 {
        assert!(
            host_cat(sb, i, "/etc/cfc/pods/etcd.json").contains("etcd"),
            "the manifest on n{i} was not put back"
        );
    }
    wait_healthy(&eps, 3);
    assert_eq!(keys(&eps, "k/"), after_snapshot, "data changed");

    // A restore that fails on one host rolls back: the old cluster is back with all
    // its post-snapshot keys.
    let fake = "#!/bin/sh\ncase \"$*\" in *'snapshot restore'*) echo 'injected failure' >&2; exit 1;; esac\nexec /usr/bin/etcdctl \"$@\"\n";
    let inject = format!(
        "hosts m = group(\"master\")\nstep inject on nth(m, 1) {{\n  copy content: {fake:?} to: \"/usr/local/bin/etcdctl\" mode: \"0755\"\n}}\n"
    );
    let out = run(
        sb,
        flow(Test::new(), "inject.flow", &inject),
        "inject.flow",
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = stdlib_restore(sb, Test::new(), &arg, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("injected failure"), "{}", out.stderr);
    wait_healthy(&eps, 3);
    assert_eq!(
        keys(&eps, "k/"),
        after_snapshot,
        "the old cluster is back with every post-snapshot key"
    );
    let clean = "hosts m = group(\"master\")\nstep clean on nth(m, 1) {\n  run [\"rm\", \"-f\", \"/usr/local/bin/etcdctl\"]\n}\n";
    let out = run(
        sb,
        flow(Test::new(), "clean.flow", clean),
        "clean.flow",
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The restore guards on a real host: a data dir that exists, a file that is not the
    // verified snapshot (one byte differs: the host-side sha256 does not match).
    let guard = |data_dir: &str, tamper: bool| {
        format!(
            r#"hosts m = group("master")
cluster c {{
  members: m
}}
step verify on local {{
  etcd.snapshot_verify file: "{snap}"
}}
step restore on nth(m, 1) {{
  copy "{snap}" to: "/tmp/guard.db" mode: "0600"
  run "{tamper}"
  run ["mkdir", "-p", "/var/lib/etcd-existing"]
  etcd.snapshot_restore file: "/tmp/guard.db" data_dir: "{data_dir}" name: "n1" \
    peer_url: "http://10.213.13.11:2380" initial_cluster: "n1=http://10.213.13.11:2380" token: "t"
  rollback {{}}
}}
"#,
            snap = snap.display(),
            tamper = if tamper {
                "printf x | dd of=/tmp/guard.db bs=1 seek=100 conv=notrunc 2>/dev/null"
            } else {
                "true"
            },
        )
    };
    for (data_dir, tamper, code) in [
        (
            "/var/lib/etcd-existing",
            false,
            "etcd-restore-data-dir-exists",
        ),
        ("/var/lib/etcd-new", true, "etcd-no-verified-snapshot"),
    ] {
        let out = run(
            sb,
            flow(Test::new(), "g.flow", &guard(data_dir, tamper)),
            "g.flow",
            &[],
        );
        assert_eq!(out.code, 1, "{code}: {}", out.stderr);
        assert!(out.stderr.contains(code), "{code}: {}", out.stderr);
        assert_eq!(
            host_cat(sb, 1, "/var/lib/etcd-new/member/snap/db"),
            "",
            "nothing restored"
        );
    }

    // The real thing.
    let t0 = Instant::now();
    let out = stdlib_restore(sb, Test::new(), &arg, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("using the stdlib flow") || out.stdout.contains("stdlib"),
        "the run says it used the stdlib flow: {}",
        out.stderr
    );
    let took = t0.elapsed().as_secs_f64();
    let expected: Vec<String> = (1..=1000).map(|i| format!("k/{i:05}")).collect();
    assert_eq!(keys(&eps, "k/"), expected, "exactly the snapshot's keys");
    let (healthy, leaders, ids) = health(&eps);
    assert_eq!(
        (healthy, leaders, ids),
        (3, 1, 1),
        "3 healthy, one leader, one cluster id"
    );

    // The controller is SIGKILLed inside the restore, inside the data-dir move, and after
    // the point of no return; `resume` finishes the restore every time (an extra key
    // written before each attempt is gone afterwards: the restore really happened).
    let points: [(&str, &str, &str); 3] = [
        ("action_done", "action", "etcd.snapshot_restore"),
        ("host_done", "step", "move_data_aside"),
        ("step_started", "step", "start_etcd"),
    ];
    let mut converged = 0;
    for (event, field, value) in points {
        put_range(&eps, 99_999..=99_999);
        let (run_id, state, _) = run_and_kill(
            sb,
            &[],
            &["restore-icp.flow", "-e", &arg, "--yes"],
            "KILL",
            &|v| v["event"] == event && v[field] == value,
        );
        let out = Test::new()
            .args(["resume", &run_id, "--yes", "--state-dir"])
            .arg(&state)
            .args(["-F", &sb.ssh_config().display().to_string()])
            .run();
        assert_eq!(
            out.code, 0,
            "resume after a kill at {event} {value}: {}",
            out.stderr
        );
        wait_healthy(&eps, 3);
        assert_eq!(
            keys(&eps, "k/"),
            expected,
            "kill at {event} {value}: the snapshot's keys"
        );
        converged += 1;
    }
    report(&format!(
        "restore-icp: killed at {converged}/3 points (inside the restore, inside the data-dir move, past the point of no return), all converged after resume"
    ));
    report(&format!(
        "restore-icp: 3 masters restored from a 1,000-key snapshot in {took:.1}s"
    ));

    // The controller cannot reach the client ports any more (nft drops it in every
    // host): `tunnel: true` reaches etcd through the hosts' SSH connections.
    for i in 1..=3 {
        nft(
            sb,
            i,
            &format!(
                "ip saddr 10.213.{}.1 tcp dport {{ 2379, 4001 }} drop",
                sb.net
            ),
        );
    }
    let body = |tunnel: bool| {
        format!("hosts m = group(\"master\")\ncluster c {{\n  members: m\n  tunnel: {tunnel}\n  timeout: 2s\n}}\nstep s on local {{\n  etcd.put key: \"tunnel/x\" value: \"1\"\n  let n = etcd.count prefix: \"tunnel/\"\n  assert n == 1 and c.healthy and len(c.voters) == 3, \"through the tunnel\"\n}}\n")
    };
    let out = run(
        sb,
        flow(Test::new(), "tun.flow", &body(false)),
        "tun.flow",
        &[],
    );
    assert_eq!(
        out.code, 5,
        "etcd is out of the controller's reach: {}",
        out.stderr
    );
    assert!(out.stderr.contains("cluster-unreachable"), "{}", out.stderr);
    let out = run(
        sb,
        flow(Test::new(), "tun.flow", &body(true)),
        "tun.flow",
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// (healthy members, distinct leaders, distinct cluster ids), each member asked alone.
fn health(eps: &[String]) -> (usize, usize, usize) {
    rt().block_on(async {
        let mut leaders = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        let mut ok = 0;
        for e in eps {
            let o = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(2));
            let Ok(mut c) = etcd_client::Client::connect([e.as_str()], Some(o)).await else {
                continue;
            };
            if let Ok(s) = c.status().await {
                ok += 1;
                leaders.insert(s.leader());
                ids.insert(s.header().map_or(0, |h| h.cluster_id()));
            }
        }
        (ok, leaders.len(), ids.len())
    })
}

fn wait_healthy(eps: &[String], n: usize) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if health(eps) == (n, 1, 1) {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the cluster did not become healthy: {:?}", health(eps));
}
