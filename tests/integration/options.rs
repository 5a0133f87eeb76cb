//! What `check` accepts is what `run` does: step options and targets that come from
//! params, bindings and expressions are honoured on real sshd hosts, and `plan` prints
//! the same evaluated values. Each test has its own sandbox (its own `--net`).

use super::cli::Test;
use super::sandbox::{flow, host_cat, Guard};
use etcdflow::sandbox;
use std::time::Instant;

fn sandbox_on(net: u8) -> (tempfile::TempDir, Guard) {
    super::sandbox::sandbox_of(3, net)
}

fn run_args(sb: &sandbox::Sandbox, cmd: &str, flow: &str) -> Vec<String> {
    let mut v = vec![
        cmd.to_string(),
        flow.to_string(),
        "-i".to_string(),
        sb.inventory().display().to_string(),
    ];
    // `plan` connects to nothing and takes no ssh settings.
    if cmd != "plan" {
        v.extend(["-F".to_string(), sb.ssh_config().display().to_string()]);
    }
    v
}

fn stamp(sb: &sandbox::Sandbox, host: usize, file: &str) -> u128 {
    let text = host_cat(sb, host, file);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("host {host}: {file} holds {text:?}, not a timestamp"))
}

#[test]
fn batch_and_timeout_from_params() {
    if super::sandbox::no_root("batch_and_timeout_from_params") {
        return;
    }
    let (_d, g) = sandbox_on(40);
    let sb = &g.0;
    let body = r#"param n: int = 1
param t: duration = 30s
hosts all_hosts = group("sandbox")
step batched on all_hosts batch: n {
  run "date +%s%N > /etc/b-start; sleep 0.6; date +%s%N > /etc/b-end"
  rollback {}
}
step timed on first(all_hosts) timeout: t {
  run ["sleep", "6.37"]
  rollback {}
}
"#;
    let t = flow(Test::new(), "o.flow", body);
    let mut args = run_args(sb, "plan", "o.flow");
    args.extend(["-e".into(), "n=2".into(), "-e".into(), "t=2s".into()]);
    let plan = flow(Test::new(), "o.flow", body).args(&args).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("batch: 2"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("batches: [n1, n2] then [n3]"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("timeout: 2s"), "{}", plan.stdout);

    let mut args = run_args(sb, "run", "o.flow");
    args.extend(["-e".into(), "n=2".into(), "-e".into(), "t=2s".into()]);
    let t0 = Instant::now();
    let out = t.args(&args).run();
    let took = t0.elapsed();
    // The timed step fails at its 2 s deadline, not after the 6 s command.
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("deadline"), "{}", out.stderr);
    // Batches of 2 then 1: n1 and n2 overlap, n3 starts after both ended.
    let (s1, s2, s3) = (
        stamp(sb, 1, "/etc/b-start"),
        stamp(sb, 2, "/etc/b-start"),
        stamp(sb, 3, "/etc/b-start"),
    );
    let (e1, e2) = (stamp(sb, 1, "/etc/b-end"), stamp(sb, 2, "/etc/b-end"));
    assert!(
        s1.max(s2) < e1.min(e2),
        "the first batch did not run together"
    );
    assert!(s3 >= e1.max(e2), "n3 started before the first batch ended");
    assert!(
        took.as_secs_f64() < 5.5,
        "the deadline was not enforced: the run took {took:?}"
    );
    // The remote command was ended at the deadline.
    let left = std::process::Command::new("ssh")
        .args([
            "-F",
            &sb.ssh_config().display().to_string(),
            &sb.address(1),
            "pgrep -f 'sleep 6[.]37' || true",
        ])
        .output()
        .unwrap_or_else(|e| panic!("ssh: {e}"));
    assert!(left.status.success());
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "the 6 s command still runs after the step's deadline"
    );
}

#[test]
fn host_and_hosts_params_are_targets() {
    if super::sandbox::no_root("host_and_hosts_params_are_targets") {
        return;
    }
    let (_d, g) = sandbox_on(41);
    let sb = &g.0;
    let body = r#"param target: host
param pair: hosts
step one on target {
  run "echo on-target > /etc/one"
  rollback {}
}
step two on pair {
  run "echo in-pair > /etc/two"
  rollback {}
}
"#;
    let mut args = run_args(sb, "run", "h.flow");
    args.extend([
        "-e".into(),
        "target=n2".into(),
        "-e".into(),
        "pair=n1,n3".into(),
    ]);
    let out = flow(Test::new(), "h.flow", body).args(&args).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(host_cat(sb, 2, "/etc/one").trim(), "on-target");
    assert_eq!(host_cat(sb, 1, "/etc/one"), "");
    assert_eq!(host_cat(sb, 3, "/etc/one"), "");
    assert_eq!(host_cat(sb, 1, "/etc/two").trim(), "in-pair");
    assert_eq!(host_cat(sb, 3, "/etc/two").trim(), "in-pair");
    assert_eq!(host_cat(sb, 2, "/etc/two"), "");
    // A host the inventory lacks is a check error with the inventory, before any host.
    let mut args = run_args(sb, "run", "h.flow");
    args.extend([
        "-e".into(),
        "target=n9".into(),
        "-e".into(),
        "pair=n1".into(),
    ]);
    let out = flow(Test::new(), "h.flow", body).args(&args).run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("`n9` is not a host of the inventory"),
        "{}",
        out.stderr
    );
}

#[test]
fn serial_rollback_runs_one_host_at_a_time_in_reverse() {
    if super::sandbox::no_root("serial_rollback_runs_one_host_at_a_time_in_reverse") {
        return;
    }
    let (_d, g) = sandbox_on(42);
    let sb = &g.0;
    let body = r#"hosts all_hosts = group("sandbox")
step change on all_hosts serial {
  run "echo changed > /etc/changed"
  rollback {
    run "date +%s%N > /etc/rb-start; sleep 0.4; date +%s%N > /etc/rb-end; rm -f /etc/changed"
  }
}
step boom on first(all_hosts) {
  run ["false"]
  rollback {}
}
"#;
    let out = flow(Test::new(), "r.flow", body)
        .args(run_args(sb, "run", "r.flow"))
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let start = |i| stamp(sb, i, "/etc/rb-start");
    let end = |i| stamp(sb, i, "/etc/rb-end");
    // Reverse order, never overlapping: n3, then n2, then n1.
    assert!(end(3) <= start(2), "rollback of n2 overlapped n3");
    assert!(end(2) <= start(1), "rollback of n1 overlapped n2");
    for i in 1..=3 {
        assert_eq!(host_cat(sb, i, "/etc/changed"), "", "n{i} not rolled back");
    }
}

#[test]
fn retries_from_an_expression_and_when_skips_rollback() {
    if super::sandbox::no_root("retries_from_an_expression_and_when_skips_rollback") {
        return;
    }
    let (_d, g) = sandbox_on(43);
    let sb = &g.0;
    // Fails twice, then succeeds: `retries: r + 1` (= 2) is enough, and the attempt
    // count on the host shows the retries ran.
    let body = r#"param r: int = 1
param labels: map[str]
hosts all_hosts = group("sandbox")
step flaky on first(all_hosts) retries: r + 1 delay: 100ms {
  run "n=$(cat /etc/attempts 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /etc/attempts; [ $n -ge 3 ]"
  rollback {}
}
step keys on first(all_hosts) {
  for k in labels {
    run ["sh", "-c", "echo \"$1=$2\" >> /etc/labels", "sh", k, labels[k]]
  }
  rollback {}
}
step skipped on all_hosts when: host.name != "n2" {
  run "echo ran > /etc/skipped-step"
  rollback {
    run "echo rolled-back > /etc/skipped-rollback"
  }
}
step boom on first(all_hosts) {
  run ["false"]
  rollback {}
}
"#;
    let mut args = run_args(sb, "run", "f.flow");
    args.extend(["-e".into(), r#"labels={"zone": "b", "tier": "cp"}"#.into()]);
    let out = flow(Test::new(), "f.flow", body).args(&args).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(host_cat(sb, 1, "/etc/attempts").trim(), "3");
    assert_eq!(host_cat(sb, 1, "/etc/labels"), "zone=b\ntier=cp\n");
    // The rollback runs where the step ran, not where `when` skipped it.
    assert_eq!(host_cat(sb, 2, "/etc/skipped-rollback"), "");
    assert_eq!(
        host_cat(sb, 1, "/etc/skipped-rollback").trim(),
        "rolled-back"
    );
    assert_eq!(
        host_cat(sb, 3, "/etc/skipped-rollback").trim(),
        "rolled-back"
    );
}

#[test]
fn a_step_on_no_host_is_refused_before_the_run() {
    if super::sandbox::no_root("a_step_on_no_host_is_refused_before_the_run") {
        return;
    }
    let (_d, g) = sandbox_on(44);
    let sb = &g.0;
    let mut inv = std::fs::read_to_string(sb.inventory()).unwrap_or_default();
    inv.push_str("\n[empty]\n");
    let body = r#"hosts all_hosts = group("sandbox")
step first on all_hosts {
  run "echo touched > /etc/touched"
  rollback {}
}
step nothing on group("empty") {
  run ["true"]
  rollback {}
}
"#;
    let t = flow(Test::new(), "e.flow", body).file("inv", &inv);
    let invp = t.path().join("inv").display().to_string();
    let out = t
        .args([
            "run",
            "e.flow",
            "-i",
            &invp,
            "-F",
            &sb.ssh_config().display().to_string(),
        ])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("[empty-target]"), "{}", out.stderr);
    assert!(out.stderr.contains("`nothing`"), "{}", out.stderr);
    assert_eq!(host_cat(sb, 1, "/etc/touched"), "", "a host was touched");
}

#[test]
fn a_resumed_run_has_every_param_exactly() {
    if super::sandbox::no_root("a_resumed_run_has_every_param_exactly") {
        return;
    }
    let (_d, g) = sandbox_on(46);
    let sb = &g.0;
    let body = r#"## every param type, resumed
flow p
param s: str
param n: int
param b: bool
param d: duration
param z: size
param p: path
param u: url
param port: port
param h: host
param hs: hosts
param names: list[str]
param m: map[str]
param j: json
param o: str?
step hold on first(hs) {
  run ["sleep", "1.5"]
  rollback {}
}
step write on h {
  copy content: "{{ s }}|{{ n }}|{{ b }}|{{ d }}|{{ z }}|{{ p }}|{{ u }}|{{ port }}|{{ h }}|{{ join(names(hs), ",") }}|{{ len(names) }}:{{ names[0] }}|{{ m['k'] }}|{{ j }}|{{ o }}\n" to: "/etc/params"
  rollback {}
}
"#;
    let vars = "s: 'two words, one comma'\nn: -7\nb: true\nd: 90s\nz: 2GiB\np: /var/lib/etcd\nu: https://10.0.0.1:2379\nport: 4001\nh: n2\nhs: [n1, n2]\nnames: ['a,b', c]\nm: {k: v, w: x}\nj: {\"a\": [1, 2]}\n";
    // The reference: the same flow, not interrupted.
    let t = flow(Test::new(), "x.flow", "")
        .file("p.flow", body)
        .file("v.yml", vars);
    let mut args = run_args(sb, "run", "p.flow");
    args.extend(["-e".into(), "@v.yml".into()]);
    let out = t.args(&args).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reference = host_cat(sb, 2, "/etc/params");
    assert!(
        reference.starts_with("two words, one comma|-7|true|90s|2147483648|"),
        "{reference}"
    );
    super::sandbox::host_rm(sb, 2, "/etc/params");
    // Killed inside the first step, resumed from the journal alone.
    let (run_id, state, _) = super::rehearse::run_and_kill(
        sb,
        &[("p.flow", body), ("v.yml", vars)],
        &["p.flow", "-e", "@v.yml"],
        "KILL",
        &|v| v["event"] == "step_started" && v["index"].as_u64() == Some(0),
    );
    let out = super::sandbox::resume(sb, &run_id, &state);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        host_cat(sb, 2, "/etc/params"),
        reference,
        "a param changed through the journal"
    );
}

#[test]
fn max_fail_and_become_user_from_params() {
    if super::sandbox::no_root("max_fail_and_become_user_from_params") {
        return;
    }
    let (_d, g) = sandbox_on(47);
    let sb = &g.0;
    let body = r#"param budget: int = 0
param who: str = "root"
hosts all_hosts = group("sandbox")
step flaky on all_hosts max_fail: budget {
  run "[ \"$(hostname)\" != n2 ]"
  rollback {}
}
step after on first(all_hosts) become_user: who {
  run "id -un > /tmp/who"
  rollback {}
}
"#;
    // A budget of one failed host: the run goes on, and the next step runs as `who`.
    let mut args = run_args(sb, "plan", "m.flow");
    args.extend([
        "-e".into(),
        "budget=1".into(),
        "-e".into(),
        "who=nobody".into(),
    ]);
    let plan = flow(Test::new(), "m.flow", body).args(&args).run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("max_fail: 1"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("become_user: nobody"),
        "{}",
        plan.stdout
    );
    let mut args = run_args(sb, "run", "m.flow");
    args.extend([
        "-e".into(),
        "budget=1".into(),
        "-e".into(),
        "who=nobody".into(),
    ]);
    let out = flow(Test::new(), "m.flow", body).args(&args).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(host_cat(sb, 1, "/tmp/who").trim(), "nobody");
    super::sandbox::host_rm(sb, 1, "/tmp/who");
    // The default budget of 0: the failure stops the run before the next step.
    let out = flow(Test::new(), "m.flow", body)
        .args(run_args(sb, "run", "m.flow"))
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        host_cat(sb, 1, "/tmp/who"),
        "",
        "the step after the failure ran"
    );
}

#[test]
fn until_sees_what_the_body_binds() {
    if super::sandbox::no_root("until_sees_what_the_body_binds") {
        return;
    }
    let (_d, g) = sandbox_on(48);
    let sb = &g.0;
    let body = r#"param tries: int = 4
hosts all_hosts = group("sandbox")
step probe on first(all_hosts) retries: tries delay: 100ms until: c.stdout == "3" {
  let c = run "n=$(cat /etc/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /etc/count; printf %s $n"
  rollback {}
}
"#;
    let out = flow(Test::new(), "u.flow", body)
        .args(run_args(sb, "run", "u.flow"))
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        host_cat(sb, 1, "/etc/count").trim(),
        "3",
        "the step stopped at the third attempt"
    );
}
