//! Against real sshd hosts in the sandbox (network namespaces on this machine; needs
//! root, iproute2 and openssh-server, which `.ci/run` installs). One sandbox serves all
//! scenarios in order, and is torn down even when a scenario fails.

use super::cli::Test;
use etcdflow::sandbox::{self, Sandbox};
use std::path::Path;

pub(crate) struct Guard(pub(crate) Sandbox);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = sandbox::down(&self.0.dir);
    }
}

pub(crate) fn flow(t: Test, name: &str, body: &str) -> Test {
    t.file(name, &format!("## test\nflow t\n{body}"))
}

/// Read a file inside sandbox host `i` (its private /etc, /var...); "" when it does not
/// exist. A failing probe (ssh, a read error) fails the test: a "nothing changed" check
/// must not pass because the probe broke.
pub(crate) fn host_cat(sb: &Sandbox, i: usize, path: &str) -> String {
    let script = format!("if [ -e '{path}' ]; then cat '{path}'; fi");
    let out = std::process::Command::new("ssh")
        .args([
            "-F",
            &sb.ssh_config().display().to_string(),
            &sb.address(i),
            &script,
        ])
        .output()
        .unwrap_or_else(|e| panic!("ssh: {e}"));
    assert!(
        out.status.success(),
        "probe of {path} on host {i} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a shell script on sandbox host `i` (as root) and return its stdout; a failing
/// script or ssh fails the test.
pub(crate) fn host_sh(sb: &Sandbox, i: usize, script: &str) -> String {
    let out = std::process::Command::new("ssh")
        .args([
            "-F",
            &sb.ssh_config().display().to_string(),
            &sb.address(i),
            script,
        ])
        .output()
        .unwrap_or_else(|e| panic!("ssh: {e}"));
    assert!(
        out.status.success(),
        "`{script}` on host {i} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `etcdflow resume RUN_ID` of a run whose state is in `state`.
pub(crate) fn resume(sb: &Sandbox, run_id: &str, state: &Path) -> super::cli::Output {
    Test::new()
        .args([
            "resume",
            run_id,
            "--state-dir",
            &state.display().to_string(),
            "-F",
            &sb.ssh_config().display().to_string(),
        ])
        .run()
}

pub(crate) fn run(sb: &Sandbox, t: Test, flow: &str, extra: &[&str]) -> super::cli::Output {
    t.args([
        "run",
        flow,
        "-i",
        &sb.inventory().display().to_string(),
        "-F",
        &sb.ssh_config().display().to_string(),
    ])
    .args(extra)
    .run()
}

/// A sandbox of `hosts` hosts on subnet `net` (each test its own), torn down when the
/// guard drops (also when the test fails), before its directory.
pub(crate) fn sandbox_of(hosts: usize, net: u8) -> (tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up(&dir.path().join("sbx"), hosts, 0, net).unwrap_or_else(|e| {
        panic!("the sandbox must come up (root, iproute2, openssh-server): {e}")
    });
    (dir, Guard(sb))
}

/// Sandbox tests need root (network namespaces, mounts, sshd): without it a test says so
/// and returns; under CI (`CI` set) a missing privilege fails instead, so CI never passes
/// by skipping.
pub(crate) fn no_root(test: &str) -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    if uid == "0" {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root (network namespaces); CI runs as root"
    );
    eprintln!("skipped {test}: needs root (network namespaces, sshd); run the suite as root");
    true
}

/// One sandbox of 3 hosts on subnet `net` for one scenario.
fn with_sandbox(net: u8, scenario: fn(&Sandbox)) {
    if no_root("a sandbox scenario") {
        return;
    }
    let (_dir, guard) = sandbox_of(3, net);
    scenario(&guard.0);
}

/// Each scenario is its own test on its own sandbox (its own `--net`): one failure does
/// not hide the others.
macro_rules! scenarios {
    ($($name:ident = $net:expr),* $(,)?) => {
        mod scenario {
            $(
                #[test]
                fn $name() {
                    super::with_sandbox($net, super::$name);
                }
            )*
        }
    };
}

scenarios! {
    parallel_and_serial = 60,
    ordered_by_a_fact = 61,
    failing_host_stops_the_run_and_rolls_back = 62,
    failing_rollback_and_point_of_no_return = 63,
    deadline_ends_the_remote_process = 64,
    host_keys_are_strict = 65,
    injection_corpus_stays_literal = 66,
    plan_does_not_connect = 67,
    unreachable_host_refuses_before_any_change = 68,
    confirm_gate_without_tty = 69,
    become_through_sudo = 70,
    kill_and_resume_converges = 71,
    failure_at_each_step_rolls_back_in_reverse = 72,
}

#[test]
fn etcd_membership() {
    if no_root("etcd_membership") {
        return;
    }
    super::etcd::membership();
}

#[test]
fn etcd_restore_icp() {
    if no_root("etcd_restore_icp") {
        return;
    }
    super::etcd::restore_icp();
}

fn become_through_sudo(sb: &Sandbox) {
    let body = "hosts a = group(\"sandbox\")\nstep s on first(a) {\n  let me = run [\"id\", \"-un\"] become_user: \"nobody\"\n  let fed = run [\"cat\"] become_user: \"nobody\" stdin: \"only this\"\n  assert me.stdout == \"nobody\\n\", \"ran as {{ me.stdout }}\"\n  assert fed.stdout == \"only this\", \"stdin was {{ fed.stdout }}\"\n  copy content: \"x\\n\" to: \"/etc/bc.txt\" mode: \"0640\" owner: \"nobody\" become\n  let st = run [\"stat\", \"-c\", \"%U %a\", \"/etc/bc.txt\"]\n  assert st.stdout == \"nobody 640\\n\", \"copied as {{ st.stdout }}\"\n  let left = run \"ls -a /tmp /etc | grep -c -e etcdflow-stage -e [.]etcdflow- || true\"\n  assert left.stdout == \"0\\n\", \"staging files left behind\"\n}\n";
    // The password line goes to `sudo -v` only: `cat` sees exactly its own stdin.
    let inv = std::fs::read_to_string(sb.inventory())
        .unwrap_or_default()
        .replacen(
            "n1 ansible_host",
            "n1 ansible_become_password=hunter2 ansible_host",
            1,
        );
    let t = flow(Test::new(), "b.flow", body).file("inv", &inv);
    let invp = t.path().join("inv").display().to_string();
    let out = t
        .args([
            "run",
            "b.flow",
            "-i",
            &invp,
            "-F",
            &sb.ssh_config().display().to_string(),
            "-v",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("hunter2"),
        "the become password leaked into the output"
    );
    // `fetch` through passwordless sudo (n2 has no become password).
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dest = keep.path().join("n2-shadow");
    let body = format!("hosts a = group(\"sandbox\")\nstep f on nth(a, 1) {{\n  fetch \"/etc/shadow\" to: \"{}\" become_user: \"root\"\n}}\n", dest.display());
    let out = run(sb, flow(Test::new(), "f.flow", &body), "f.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        std::fs::read_to_string(&dest)
            .unwrap_or_default()
            .starts_with("root:"),
        "fetched through sudo"
    );
}

fn confirm_gate_without_tty(sb: &Sandbox) {
    let body = "hosts a = group(\"sandbox\")\nstep before on a {\n  run \"echo x > /etc/gate-before\"\n}\nstep gate on first(a) {\n  confirm \"really?\"\n}\n";
    let t = flow(Test::new(), "g.flow", body);
    let out = run(sb, t, "g.flow", &[]);
    assert_eq!(
        out.code, 5,
        "no TTY and no --yes must refuse: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[confirm-without-tty]"),
        "{}",
        out.stderr
    );
    for i in 1..=3 {
        assert_eq!(
            host_cat(sb, i, "/etc/gate-before"),
            "",
            "n{i} was touched before the refusal"
        );
    }
    let t = flow(Test::new(), "g.flow", body);
    let state_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = state_dir.path().to_path_buf();
    let out = run(
        sb,
        t,
        "g.flow",
        &["--yes", "--state-dir", &state.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let runs = etcdflow::journal::list(&state);
    let (records, _) = etcdflow::journal::read(&runs[0].1).unwrap_or_default();
    assert!(
        records
            .iter()
            .any(|r| matches!(r, etcdflow::journal::Record::Confirm { answer: true, .. })),
        "the answer is journaled"
    );
}

/// SIGKILL the controller at every step boundary and inside every step of a 3-host,
/// 4-step flow, then `resume`: every run must converge to the state of an uninterrupted
/// run, with no step applied twice.
fn kill_and_resume_converges(sb: &Sandbox) {
    let mut body = String::from("hosts a = group(\"sandbox\")\n");
    for k in 1..=4 {
        body.push_str(&format!(
            "step s{k} on a {{\n  run \"sleep 0.2; echo s{k} >> /etc/kill-log; touch /etc/kill-m{k}\" creates: \"/etc/kill-m{k}\"\n}}\n"
        ));
    }
    let expected = "s1\ns2\ns3\ns4\n";
    let mut converged = 0;
    let mut total = 0;
    // (event that triggers the kill, step index, signal)
    let mut points = Vec::new();
    for k in 0..4 {
        points.push(("step_started", k, "KILL"));
        points.push(("host_done", k, "KILL"));
    }
    points.push(("host_done", 1, "TERM"));
    for (event, k, signal) in points {
        total += 1;
        for i in 1..=3 {
            let _ = std::process::Command::new("ssh")
                .args([
                    "-F",
                    &sb.ssh_config().display().to_string(),
                    &sb.address(i),
                    "rm -f /etc/kill-*",
                ])
                .status();
        }
        let text = format!("## kill test\nflow kill\n{body}");
        let step = format!("s{}", k + 1);
        let (run_id, state, status) = super::rehearse::run_and_kill(
            sb,
            &[("k.flow", text.as_str())],
            &["k.flow"],
            signal,
            &|v| {
                v["event"] == event
                    && (v["index"].as_u64() == Some(k as u64) || v["step"] == step.as_str())
            },
        );
        if signal == "TERM" {
            assert_eq!(status, Some(6), "SIGTERM ends a run as interrupted");
        }
        let out = resume(sb, &run_id, &state);
        let logs: Vec<String> = (1..=3).map(|i| host_cat(sb, i, "/etc/kill-log")).collect();
        if out.code == 0 && logs.iter().all(|l| l == expected) {
            converged += 1;
        } else {
            eprintln!(
                "kill at {event} of step {k} ({signal}): resume exit {}, logs {logs:?}\n{}",
                out.code, out.stderr
            );
        }
    }
    eprintln!("kill/resume: {converged}/{total} runs converged");
    assert_eq!(
        converged, total,
        "kill/resume: {converged}/{total} runs converged"
    );
}

fn parallel_and_serial(sb: &Sandbox) {
    // Serial: each host appends its name with a timestamp to a shared controller-side
    // log through `fetch`-free means: a local step reads the hosts' clocks afterwards.
    let body = r#"hosts all_hosts = group("sandbox")
step par on all_hosts {
  run "date +%s%N > /etc/par-start; sleep 0.5; date +%s%N > /etc/par-end"
}
step ser on all_hosts serial {
  run "date +%s%N > /etc/ser-start; sleep 0.3; date +%s%N > /etc/ser-end"
}
"#;
    let out = run(sb, flow(Test::new(), "p.flow", body), "p.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = |i, f| host_cat(sb, i, f).trim().parse::<u128>().unwrap_or(0);
    // Parallel: every host started before any finished.
    let latest_start = (1..=3)
        .map(|i| read(i, "/etc/par-start"))
        .max()
        .unwrap_or(0);
    let earliest_end = (1..=3).map(|i| read(i, "/etc/par-end")).min().unwrap_or(0);
    assert!(latest_start < earliest_end, "parallel step ran serially");
    // Serial: in inventory order, never overlapping.
    for i in 1..3 {
        assert!(
            read(i, "/etc/ser-end") <= read(i + 1, "/etc/ser-start"),
            "serial step overlapped on n{i}/n{}",
            i + 1
        );
    }
}

fn ordered_by_a_fact(sb: &Sandbox) {
    // Ranks from the inventory, as a site would mark which master goes last.
    let inv = std::fs::read_to_string(sb.inventory())
        .unwrap_or_default()
        .replacen("n1 ansible_host", "n1 rank=30 ansible_host", 1)
        .replacen("n2 ansible_host", "n2 rank=10 ansible_host", 1)
        .replacen("n3 ansible_host", "n3 rank=20 ansible_host", 1);
    let body = "hosts all_hosts = group(\"sandbox\")\nstep ordered on all_hosts serial order: by(host.vars.rank) {\n  run \"date +%s%N > /etc/ordered\"\n}\nstep reverse on all_hosts serial order: reverse_by(host.vars.rank) {\n  run \"date +%s%N > /etc/reversed\"\n}\n";
    let t = flow(Test::new(), "o.flow", body).file("inv", &inv);
    let invp = t.path().join("inv").display().to_string();
    let out = t
        .args([
            "run",
            "o.flow",
            "-i",
            &invp,
            "-F",
            &sb.ssh_config().display().to_string(),
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let at = |i, f| host_cat(sb, i, f).trim().parse::<u128>().unwrap_or(0);
    assert!(
        at(2, "/etc/ordered") < at(3, "/etc/ordered")
            && at(3, "/etc/ordered") < at(1, "/etc/ordered"),
        "by(rank): n2, n3, n1"
    );
    assert!(
        at(1, "/etc/reversed") < at(3, "/etc/reversed")
            && at(3, "/etc/reversed") < at(2, "/etc/reversed"),
        "reverse_by(rank): n1, n3, n2"
    );
}

fn failing_host_stops_the_run_and_rolls_back(sb: &Sandbox) {
    let body = r#"hosts all_hosts = group("sandbox")
step first on all_hosts {
  run "echo done > /etc/first"
  rollback {
    run "echo undone > /etc/first"
  }
}
step breaks on all_hosts {
  run "echo started > /etc/second; [ $(hostname) != n2 ]"
  rollback {
    run "echo undone > /etc/second"
  }
}
step never on all_hosts {
  run "echo ran > /etc/third"
}
"#;
    let out = run(
        sb,
        flow(Test::new(), "f.flow", body),
        "f.flow",
        &["--output", "json"],
    );
    assert_eq!(
        out.code, 1,
        "failed and rolled back: {}{}",
        out.stdout, out.stderr
    );
    for i in 1..=3 {
        assert_eq!(host_cat(sb, i, "/etc/first").trim(), "undone", "n{i}");
        assert_eq!(
            host_cat(sb, i, "/etc/second").trim(),
            "undone",
            "n{i}: the failed step's rollback runs where it started"
        );
        assert_eq!(
            host_cat(sb, i, "/etc/third"),
            "",
            "n{i}: no step after a failure"
        );
    }
    assert!(
        out.stdout.contains("\"status\":\"failed_rolled_back\""),
        "{}",
        out.stdout
    );
}

/// A failure injected at step k (on n2 only) of a 3-step flow: the rollbacks of steps
/// k..1 run in reverse, each on exactly the hosts where its step ran.
fn failure_at_each_step_rolls_back_in_reverse(sb: &Sandbox) {
    for k in 1..=3 {
        for i in 1..=3 {
            let _ = std::process::Command::new("ssh")
                .args([
                    "-F",
                    &sb.ssh_config().display().to_string(),
                    &sb.address(i),
                    "rm -f /etc/saga-*",
                ])
                .status();
        }
        let mut body = String::from("hosts all_hosts = group(\"sandbox\")\n");
        for s in 1..=3 {
            let fail = if s == k {
                "; [ $(hostname) != n2 ]"
            } else {
                ""
            };
            // Step 2 runs on n1 and n2 only, so its rollback must skip n3.
            let on = if s == 2 {
                "group(\"sandbox\") - nth(all_hosts, 2)"
            } else {
                "all_hosts"
            };
            body.push_str(&format!(
                "step s{s} on {on} serial {{\n  run \"echo do{s} >> /etc/saga-log{fail}\"\n  rollback {{\n    run \"echo undo{s} >> /etc/saga-log\"\n  }}\n}}\n"
            ));
        }
        let out = run(sb, flow(Test::new(), "saga.flow", &body), "saga.flow", &[]);
        assert_eq!(out.code, 1, "k={k}: {}", out.stderr);
        for i in 1..=3usize {
            let log = host_cat(sb, i, "/etc/saga-log");
            // Steps that ran on this host, in order; serial steps stop at n2's failure.
            let mut did: Vec<usize> = Vec::new();
            for s in 1..=k {
                let on_host = !(s == 2 && i == 3);
                let reached = s < k || i <= 2;
                if on_host && reached {
                    did.push(s);
                }
            }
            let mut want = String::new();
            for s in &did {
                want.push_str(&format!("do{s}\n"));
            }
            for s in did.iter().rev() {
                want.push_str(&format!("undo{s}\n"));
            }
            assert_eq!(log, want, "k={k}, n{i}");
        }
    }
}

fn failing_rollback_and_point_of_no_return(sb: &Sandbox) {
    let body = r#"hosts all_hosts = group("sandbox")
step a on all_hosts {
  run "echo a > /etc/rb-a"
  rollback {
    run "rm /etc/rb-a; [ $(hostname) != n3 ]"
  }
}
step b on all_hosts {
  run "false"
}
"#;
    let out = run(sb, flow(Test::new(), "rb.flow", body), "rb.flow", &[]);
    assert_eq!(
        out.code, 3,
        "failed and the rollback failed: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("failed n3") && out.stderr.contains("the rollback failed"),
        "{}",
        out.stderr
    );
    let body = r#"param dir: str = "/etc/nr"
hosts all_hosts = group("sandbox")
step a on all_hosts {
  run "echo a > /etc/nr-a"
  rollback {
    run "rm -f /etc/nr-a"
  }
}
point_of_no_return "restore {{ dir }} by hand from the backup"
step b on all_hosts {
  run "false"
}
"#;
    let out = run(sb, flow(Test::new(), "nr.flow", body), "nr.flow", &[]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("restore /etc/nr by hand from the backup"),
        "{}",
        out.stderr
    );
    assert_eq!(
        host_cat(sb, 1, "/etc/nr-a"),
        "a\n",
        "past the point of no return nothing is rolled back"
    );
}

fn deadline_ends_the_remote_process(sb: &Sandbox) {
    let body = r#"hosts one = group("sandbox")
step hang on first(one) {
  run "sleep 300; echo never" timeout: 1s
}
"#;
    let t0 = std::time::Instant::now();
    let out = run(sb, flow(Test::new(), "d.flow", body), "d.flow", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("deadline of 1s passed"),
        "{}",
        out.stderr
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t0.elapsed()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ns = std::fs::read_to_string(sb.dir.join("n1/netns")).unwrap_or_default();
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", ns.trim()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for pid in pids.split_whitespace() {
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !cmd.starts_with("sleep\u{0}300"),
            "the remote `sleep 300` outlived its deadline (pid {pid})"
        );
    }
}

fn host_keys_are_strict(sb: &Sandbox) {
    let body = "hosts all_hosts = group(\"sandbox\")\nstep s on all_hosts {\n  run \"true\"\n}\n";
    // Unknown key: an empty known_hosts file.
    let t = flow(Test::new(), "k.flow", body).file("empty_known_hosts", "");
    let kh = t.path().join("empty_known_hosts").display().to_string();
    let out = run(sb, t, "k.flow", &["--known-hosts", &kh]);
    assert_eq!(out.code, 5, "unknown host key must refuse: {}", out.stderr);
    assert!(
        out.stderr.contains("unreachable") && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
    // Changed key: the right address with another key.
    let wrong = std::fs::read_to_string(sb.known_hosts())
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut parts: Vec<&str> = l.split(' ').collect();
            parts[2] = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
            parts.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let t = flow(Test::new(), "k.flow", body).file("wrong_known_hosts", &wrong);
    let kh = t.path().join("wrong_known_hosts").display().to_string();
    let out = run(
        sb,
        t,
        "k.flow",
        &["--known-hosts", &kh, "--accept-new-host-keys"],
    );
    assert_eq!(
        out.code, 5,
        "a changed host key is always fatal, even with --accept-new-host-keys: {}",
        out.stderr
    );
}

fn injection_corpus_stays_literal(sb: &Sandbox) {
    let payloads = [
        "; touch /tmp/pwn",
        "$(touch /tmp/pwn)",
        "`touch /tmp/pwn`",
        "' ; touch /tmp/pwn ; '",
        "\" ; touch /tmp/pwn ; \"",
        "a|touch /tmp/pwn",
        "a&&touch /tmp/pwn",
        "${IFS}touch${IFS}/tmp/pwn",
        "%h %u",
        "\\; touch /tmp/pwn",
        "x; touch /tmp/pwn; #",
        "$(id > /tmp/pwn)",
        "\\\"; touch /tmp/pwn; \\\"",
    ];
    let mut inv = std::fs::read_to_string(sb.inventory()).unwrap_or_default();
    // The payload as a host var of n1 (quoted for INI).
    inv = inv.replacen(
        "n1 ansible_host",
        "n1 payload=\"PLACEHOLDER\" ansible_host",
        1,
    );
    let body = r#"param p: str
hosts target = group("sandbox") & group("sandbox")
step argv on first(target) {
  let a = run ["printf", "%s", p]
  let b = run "printf '%s' {{ p }}"
  let c = run ["printf", "%s", host.vars.payload]
  let d = run "printf %s {{ host.vars.payload }}"
  let e = run "printf '%s' \"{{ p }}\""
  let f = run "printf '%s' 'x: {{ p }}'"
  let g = run "printf '%s' \"$(printf '%s' \"{{ p }}\")\""
  assert a.stdout == p and b.stdout == p, "param changed on the way: {{ a.stdout }} / {{ b.stdout }}"
  assert e.stdout == p and f.stdout == "x: {{ p }}" and g.stdout == p, "quoted param changed on the way"
  assert c.stdout == host.vars.payload and d.stdout == host.vars.payload, "host var changed on the way"
}
"#;
    let mut passed = 0;
    for p in payloads {
        let inv_p = inv.replace("PLACEHOLDER", &p.replace('"', "'"));
        let t = flow(Test::new(), "i.flow", body).file("inv", &inv_p);
        let invp = t.path().join("inv").display().to_string();
        let out = t
            .args([
                "run",
                "i.flow",
                "-i",
                &invp,
                "-F",
                &sb.ssh_config().display().to_string(),
                "-e",
                &format!("p={p}"),
            ])
            .run();
        assert_eq!(out.code, 0, "payload {p:?}: {}", out.stderr);
        assert_eq!(
            host_cat(sb, 1, "/tmp/pwn"),
            "",
            "payload {p:?} executed on the host"
        );
        assert!(
            !Path::new("/tmp/pwn").exists(),
            "payload {p:?} executed on the controller"
        );
        passed += 1;
    }
    // A value that starts with `-` never becomes an option.
    let t = flow(
        Test::new(),
        "o.flow",
        "param p: str\nhosts t = group(\"sandbox\")\nstep s on first(t) {\n  run [\"ls\", p]\n}\n",
    );
    let out = t
        .args([
            "run",
            "o.flow",
            "-i",
            &sb.inventory().display().to_string(),
            "-F",
            &sb.ssh_config().display().to_string(),
            "-e",
            "p=-la",
        ])
        .run();
    // Known before the run: refused by the check, nothing touched.
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("would read as an option"),
        "{}",
        out.stderr
    );
    eprintln!("injection corpus: {passed} payloads x 7 sinks passed literally, 0 executed");
}

fn plan_does_not_connect(sb: &Sandbox) {
    let body = "param dir: path = \"/etc/x y\"\nhosts all_hosts = group(\"sandbox\")\nstep s on all_hosts {\n  run \"mkdir -p {{ dir }}\"\n  rollback {\n    run [\"rmdir\", dir]\n  }\n}\n";
    let t = flow(Test::new(), "pl.flow", body);
    let out = t
        .args([
            "run",
            "--check",
            "pl.flow",
            "-i",
            &sb.inventory().display().to_string(),
            "-F",
            "/nonexistent",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("run sh -c 'mkdir -p '\\''/etc/x y'\\'''"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("n3:") && out.stdout.contains("rollback"),
        "{}",
        out.stdout
    );
    let exists = std::process::Command::new("ssh")
        .args([
            "-F",
            &sb.ssh_config().display().to_string(),
            &sb.address(1),
            "test",
            "-e",
            "'/etc/x y'",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(true);
    assert!(!exists, "plan created the directory");
}

fn unreachable_host_refuses_before_any_change(sb: &Sandbox) {
    let inv = format!(
        "{}\n[extra]\nghost ansible_host=10.213.{}.99\n",
        std::fs::read_to_string(sb.inventory()).unwrap_or_default(),
        sb.net
    );
    let body = "hosts a = group(\"sandbox\")\nhosts b = group(\"extra\")\nstep s on a {\n  run \"echo touched > /etc/refused\"\n}\nstep t on b {\n  run \"true\"\n}\n";
    let t = flow(Test::new(), "u.flow", body).file("inv", &inv);
    let invp = t.path().join("inv").display().to_string();
    let out = t
        .args([
            "run",
            "u.flow",
            "-i",
            &invp,
            "-F",
            &sb.ssh_config().display().to_string(),
            "--connect-timeout",
            "2",
        ])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    for i in 1..=3 {
        assert_eq!(
            host_cat(sb, i, "/etc/refused"),
            "",
            "n{i} was changed although the run was refused"
        );
    }
}

/// Cluster facts read from a real etcd 3.4 cluster, and a rolling step ordered
/// followers first, leader last.
#[test]
fn sandbox_etcd_facts_and_leader_last() {
    if no_root("sandbox_etcd_facts_and_leader_last") {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up(&dir.path().join("sbx"), 3, 3, 12)
        .unwrap_or_else(|e| panic!("the etcd sandbox must come up (etcd-server installed): {e}"));
    let sb = Guard(sb);
    let sb = &sb.0;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let leader_file = keep.path().join("leader");
    let body = format!(
        r#"hosts members = group("etcd")
cluster main {{
  members: members
}}
step facts on local {{
  assert len(main.members) == 3 and len(main.voters) == 3 and len(main.learners) == 0, "three voting members"
  assert main.healthy and main.quorum == 2, "a healthy cluster with quorum 2"
  assert len(main.followers) == 2, "two followers"
  for s in main.status {{
    assert s.cluster_id == main.cluster_id, "one cluster id"
  }}
  run "echo {{{{ main.leader.name }}}} > {}"
}}
step addressing on members {{
  assert peer_url(main, host) == "http://{{{{ host.address }}}}:2380" and client_url(main, host) == "http://{{{{ host.address }}}}:2379", "urls"
  assert member_name(main, host) == host.name and member(main, host).name == host.name, "the member on this host"
  assert initial_cluster(main) == "n1=http://10.213.12.11:2380,n2=http://10.213.12.12:2380,n3=http://10.213.12.13:2380", "initial cluster"
}}
step roll on members serial order: leader_last(main) {{
  run "date +%s%N > /etc/rolled"
}}
"#,
        leader_file.display()
    );
    let out = run(sb, flow(Test::new(), "e.flow", &body), "e.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let leader = std::fs::read_to_string(&leader_file)
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        ["n1", "n2", "n3"].contains(&leader.as_str()),
        "leader {leader:?}"
    );
    let at = |i: usize| {
        host_cat(sb, i, "/etc/rolled")
            .trim()
            .parse::<u128>()
            .unwrap_or(0)
    };
    let li: usize = leader[1..].parse().unwrap_or(0);
    for i in (1..=3).filter(|i| *i != li) {
        assert!(
            at(i) < at(li),
            "n{i} (a follower) rolled after the leader n{li}"
        );
    }
}

/// Remove a file on sandbox host `i`; a failing probe fails the test.
pub(crate) fn host_rm(sb: &Sandbox, i: usize, path: &str) {
    let ok = std::process::Command::new("ssh")
        .args([
            "-F",
            &sb.ssh_config().display().to_string(),
            &sb.address(i),
            &format!("rm -f '{path}'"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "rm {path} on host {i} failed");
}
