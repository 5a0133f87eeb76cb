//! The language constructs of "the language grows" on real sshd hosts: values across
//! hosts, comprehensions. Each test has its own sandbox (its own `--net`, 80-89).

use super::cli::Test;
use super::sandbox::{flow, host_cat, host_sh, run, sandbox_of};

#[test]
fn values_across_hosts() {
    if super::sandbox::no_root("values_across_hosts") {
        return;
    }
    let (_d, g) = sandbox_of(3, 80);
    let sb = &g.0;
    let body = r#"hosts all_hosts = group("sandbox")
hosts head = first(all_hosts)
step token on local {
  let tok = run "echo local-token"
}
step ids on all_hosts {
  let id = run "v=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'); echo \"$v\" > /etc/id; echo \"$v\""
}
step pick on all_hosts run_once {
  let picked = run "echo {{ host.name }}"
}
step collect on head {
  run "echo {{ join([trim(id[h].stdout) for h in all_hosts], ",") }} > /etc/all"
  run "echo {{ trim(tok.stdout) }} {{ trim(picked.stdout) }} {{ trim(id.stdout) }} > /etc/seen"
}
step everywhere on all_hosts - head {
  run "echo {{ trim(tok.stdout) }} {{ trim(picked.stdout) }} > /etc/seen"
}
"#;
    let t = flow(Test::new(), "x.flow", body);
    let out = run(sb, t, "x.flow", &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let ids: Vec<String> = (1..=3)
        .map(|i| host_cat(sb, i, "/etc/id").trim().to_string())
        .collect();
    assert!(ids.iter().all(|i| i.len() == 12), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    // Host 1 read every host's own value, in the host set's order.
    assert_eq!(host_cat(sb, 1, "/etc/all").trim(), ids.join(","));
    // A value bound on the controller and one bound by `run_once` reach every host.
    assert_eq!(
        host_cat(sb, 1, "/etc/seen").trim(),
        format!("local-token n1 {}", ids[0])
    );
    for i in 2..=3 {
        assert_eq!(host_cat(sb, i, "/etc/seen").trim(), "local-token n1");
    }
}

const ENV: &str = "# etcd\nETCD_NAME=old\nexport ETCD_INITIAL_CLUSTER_STATE=\"new\"\nETCD_DATA_DIR=/var/lib/etcd\n";
const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    env:\n    - name: ETCD_INITIAL_CLUSTER_STATE\n      value: new\n    - name: ETCD_NAME\n      value: etcd-b\n";

const KUBECONFIG: &str = r#"{"clusters": [{"name": "main", "server": "http://10.0.0.30:8080"}]}"#;

/// The files an edit test starts from, on every host (mode 0640).
fn seed_files(sb: &etcdflow::sandbox::Sandbox) {
    for i in 1..=2 {
        host_sh(
            sb,
            i,
            &format!("printf '%s' '{ENV}' > /etc/etcd.env && printf '%s' '{MANIFEST}' > /etc/etcd.manifest && printf '%s' '{KUBECONFIG}' > /etc/kubeconfig.json && chmod 0640 /etc/etcd.env && rm -f /etc/changed /etc/new.conf"),
        );
    }
}

const EDIT_FLOW: &str = r#"hosts all_hosts = group("sandbox")
step edit on all_hosts {
  let e = edit "/etc/etcd.env" format: "env" set: {ETCD_INITIAL_CLUSTER_STATE: "existing", ETCD_NAME: host.name}
  let y = edit "/etc/etcd.manifest" format: "yaml" \
      set: {"spec.containers[name=etcd].env[name=ETCD_INITIAL_CLUSTER_STATE].value": "existing"}
  let j = edit "/etc/kubeconfig.json" format: "json" set: { "clusters[name=main].server": "https://10.0.0.20:6443" }
  let r = read "/etc/etcd.manifest" format: "yaml"
  let gone = read "/etc/absent.conf" missing_ok
  run "echo {{ e.changed }} {{ y.changed }} {{ j.changed }} {{ r.value.kind }} {{ gone.exists }} >> /etc/changed"
}
"#;

#[test]
fn edit_env_and_yaml_in_place_and_idempotent() {
    if super::sandbox::no_root("edit_env_and_yaml_in_place_and_idempotent") {
        return;
    }
    let (_d, g) = sandbox_of(2, 81);
    let sb = &g.0;
    seed_files(sb);
    for _ in 0..2 {
        let out = run(sb, flow(Test::new(), "e.flow", EDIT_FLOW), "e.flow", &[]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    for i in 1..=2 {
        assert_eq!(
            host_cat(sb, i, "/etc/etcd.env"),
            format!("# etcd\nETCD_NAME=n{i}\nexport ETCD_INITIAL_CLUSTER_STATE=\"existing\"\nETCD_DATA_DIR=/var/lib/etcd\n")
        );
        let y: serde_json::Value = serde_yaml_ng::from_str(&host_cat(sb, i, "/etc/etcd.manifest"))
            .unwrap_or_else(|e| panic!("{e}"));
        let env = &y["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], "existing");
        assert_eq!(env[1]["value"], "etcd-b");
        // Changed on the first run, untouched on the second; the mode kept; no backup
        // left behind by a run that ended well.
        assert_eq!(
            host_cat(sb, i, "/etc/changed"),
            "true true true Pod false\nfalse false false Pod false\n"
        );
        let k: serde_json::Value = serde_json::from_str(&host_cat(sb, i, "/etc/kubeconfig.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k["clusters"][0]["server"], "https://10.0.0.20:6443");
        assert_eq!(host_sh(sb, i, "stat -c %a /etc/etcd.env").trim(), "640");
        assert_eq!(
            host_sh(sb, i, "ls -a /etc | grep -c etcdflow || true").trim(),
            "0"
        );
    }
}

#[test]
fn a_failed_step_restores_what_it_edited() {
    if super::sandbox::no_root("a_failed_step_restores_what_it_edited") {
        return;
    }
    let (_d, g) = sandbox_of(2, 82);
    let sb = &g.0;
    seed_files(sb);
    let body = r#"hosts all_hosts = group("sandbox")
step edit on all_hosts {
  edit "/etc/etcd.env" format: "env" set: {ETCD_INITIAL_CLUSTER_STATE: "existing"} delete: ["ETCD_DATA_DIR"]
  edit "/etc/etcd.manifest" format: "yaml" delete: ["spec.containers[0].env[name=ETCD_NAME]"]
  edit "/etc/new.conf" format: "env" set: {A: "1"} create mode: "0600"
  run "test {{ host.name }} != n2"
}
"#;
    let out = run(sb, flow(Test::new(), "r.flow", body), "r.flow", &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    for i in 1..=2 {
        // Both hosts ran the edits; the failure on n2 rolled back the step on both: the
        // previous bytes and mode are back, the created file is gone, no backup is left.
        assert_eq!(host_cat(sb, i, "/etc/etcd.env"), ENV, "host {i}");
        assert_eq!(host_cat(sb, i, "/etc/etcd.manifest"), MANIFEST, "host {i}");
        assert_eq!(host_sh(sb, i, "stat -c %a /etc/etcd.env").trim(), "640");
        assert_eq!(
            host_sh(sb, i, "[ -e /etc/new.conf ] && echo yes || echo no").trim(),
            "no"
        );
        assert_eq!(
            host_sh(sb, i, "ls -a /etc | grep -c etcdflow || true").trim(),
            "0"
        );
    }
}

/// Every file under `dir` (a run's state directory), read as text.
fn all_text(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                out.push((e.path(), text));
            }
        }
    }
    out
}

#[test]
fn secrets_in_files_reach_the_file_and_nothing_else() {
    if super::sandbox::no_root("secrets_in_files_reach_the_file_and_nothing_else") {
        return;
    }
    let (_d, g) = sandbox_of(2, 83);
    let sb = &g.0;
    let secret = "tok-5f1e9a.77c3b0d2e4";
    let body = r#"param token: secret
hosts all_hosts = group("sandbox")
step write on first(all_hosts) {
  copy content: "token: {{ token }}\nuser: admin\n" to: "/etc/token.conf" mode: "0600"
  template "t.j2" to: "/etc/kubeadm.yaml" mode: "0600" \
      vars: { token: token, members: names(all_hosts), hosts: all_hosts, env: [{name: "A", value: "1"}] }
  rollback {}
}
"#;
    let tpl = "token: {{ token }}\nmembers:\n{{ members | toyaml }}first: {{ hosts[1].address }} {{ hosts[1].name }}\nenv: {{ env | tojson }}\n";
    let t = flow(Test::new(), "s.flow", body)
        .file("t.j2", tpl)
        .file("s.yml", &format!("token: {secret}\n"));
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = keep.path().display().to_string();
    let out = run(
        sb,
        t,
        "s.flow",
        &["-e", "@s.yml", "--state-dir", &state, "-v"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        host_cat(sb, 1, "/etc/token.conf"),
        format!("token: {secret}\nuser: admin\n")
    );
    assert_eq!(
        host_cat(sb, 1, "/etc/kubeadm.yaml"),
        format!(
            "token: {secret}\nmembers:\n- n1\n- n2\nfirst: {} n2\nenv: [{{\"name\":\"A\",\"value\":\"1\"}}]\n",
            sb.address(2)
        )
    );
    assert_eq!(
        host_sh(sb, 1, "stat -c %a /etc/token.conf /etc/kubeadm.yaml"),
        "600\n600\n"
    );
    assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
    let files = all_text(keep.path());
    assert!(
        !files.is_empty(),
        "the run wrote no journal: the probe would check nothing"
    );
    for (f, text) in files {
        assert!(!text.contains(secret), "{} holds the secret", f.display());
    }
}

#[test]
fn delegated_actions_run_and_roll_back_on_their_host() {
    if super::sandbox::no_root("delegated_actions_run_and_roll_back_on_their_host") {
        return;
    }
    let (_d, g) = sandbox_of(3, 84);
    let sb = &g.0;
    host_sh(sb, 3, "printf 'STATE=new\\n' > /etc/member.env");
    // n1 and n2 are the "old" hosts; each moves one thing onto n3 (the "new" host) in its
    // own iteration of a serial step; n2's iteration fails after its delegated changes.
    let body = r#"hosts all_hosts = group("sandbox")
hosts old = all_hosts - last(all_hosts)
hosts target = last(all_hosts)
step move on old serial {
  run "echo {{ host.name }} {{ index_of(old, host) }} >> /etc/moved" on: last(all_hosts)
  edit "/etc/member.env" format: "env" set: {STATE: "existing", FROM: host.name} on: last(all_hosts)
  run "echo {{ host.name }} > /etc/retired"
  run "test {{ host.name }} != n2"
  rollback {
    run "sed -i '/^{{ host.name }} /d' /etc/moved" on: last(all_hosts)
    run "rm -f /etc/retired"
  }
}
"#;
    let plan = flow(Test::new(), "d.flow", body)
        .args([
            "plan",
            "d.flow",
            "-i",
            &sb.inventory().display().to_string(),
        ])
        .run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("(on n3)"), "{}", plan.stdout);
    let out = run(sb, flow(Test::new(), "d.flow", body), "d.flow", &["-v"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // n1's iteration ran on n3, then n2's; both were rolled back, on the host where each
    // action ran: n3's file is as before (byte for byte), its log of moves empty, and
    // the old hosts' own changes undone.
    assert_eq!(host_cat(sb, 3, "/etc/member.env"), "STATE=new\n");
    assert_eq!(host_cat(sb, 3, "/etc/moved"), "");
    for i in 1..=2 {
        assert_eq!(host_cat(sb, i, "/etc/retired"), "", "host {i}");
        assert_eq!(host_cat(sb, i, "/etc/moved"), "", "host {i}");
    }
    assert!(
        out.stderr.contains("restored /etc/member.env on n3"),
        "{}",
        out.stderr
    );
}

#[test]
fn undo_host_undoes_only_the_failing_hosts_change() {
    if super::sandbox::no_root("undo_host_undoes_only_the_failing_hosts_change") {
        return;
    }
    let (_d, g) = sandbox_of(3, 85);
    let sb = &g.0;
    for i in 1..=3 {
        host_sh(
            sb,
            i,
            "printf 'STATE=new\\n' > /etc/member.env; rm -f /etc/before /etc/undone",
        );
    }
    let body = r#"hosts all_hosts = group("sandbox")
step before on all_hosts {
  run "touch /etc/before"
  rollback {
    run "rm -f /etc/before"
  }
}
step join on all_hosts serial on_failure: "undo_host" {
  edit "/etc/member.env" format: "env" set: {STATE: "existing"}
  run "test {{ host.name }} != n3"
  rollback {
    run "echo {{ host.name }} > /etc/undone"
  }
}
"#;
    let out = run(sb, flow(Test::new(), "u.flow", body), "u.flow", &[]);
    // Exit 7: the failing host's change of the step was undone; the rest stands.
    assert_eq!(out.code, 7, "{}\n{}", out.stdout, out.stderr);
    for i in 1..=2 {
        assert_eq!(
            host_cat(sb, i, "/etc/member.env"),
            "STATE=existing\n",
            "host {i}"
        );
        assert_eq!(host_cat(sb, i, "/etc/undone"), "", "host {i}");
    }
    assert_eq!(host_cat(sb, 3, "/etc/member.env"), "STATE=new\n");
    assert_eq!(host_cat(sb, 3, "/etc/undone"), "n3\n");
    for i in 1..=3 {
        // The earlier step is not rolled back.
        assert_eq!(
            host_sh(sb, i, "[ -e /etc/before ] && echo yes || echo no").trim(),
            "yes"
        );
    }
}

#[test]
fn past_the_point_of_no_return_the_failing_step_still_rolls_back() {
    if super::sandbox::no_root("past_the_point_of_no_return_the_failing_step_still_rolls_back") {
        return;
    }
    let (_d, g) = sandbox_of(2, 86);
    let sb = &g.0;
    let body = r#"hosts all_hosts = group("sandbox")
step before on all_hosts {
  run "touch /etc/before"
  rollback {
    run "rm -f /etc/before"
  }
}
point_of_no_return "restore /etc/before by hand"
step after on all_hosts {
  run "touch /etc/after"
  run "test {{ host.name }} != n2"
  rollback {
    run "rm -f /etc/after"
  }
}
"#;
    let out = run(sb, flow(Test::new(), "p.flow", body), "p.flow", &[]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("restore /etc/before by hand"),
        "{}",
        out.stderr
    );
    for i in 1..=2 {
        let has = |f: &str| host_sh(sb, i, &format!("[ -e {f} ] && echo yes || echo no"));
        assert_eq!(has("/etc/before").trim(), "yes", "host {i}");
        assert_eq!(has("/etc/after").trim(), "no", "host {i}");
    }
}

#[test]
fn a_block_used_in_two_steps_runs_and_rolls_back_in_each() {
    if super::sandbox::no_root("a_block_used_in_two_steps_runs_and_rolls_back_in_each") {
        return;
    }
    let (_d, g) = sandbox_of(2, 87);
    let sb = &g.0;
    for i in 1..=2 {
        host_sh(
            sb,
            i,
            "printf 'STATE=new\\n' > /etc/member.env; rm -f /etc/joined.undone",
        );
    }
    let body = r#"hosts all_hosts = group("sandbox")
block join(state: str, tag: str) {
  let e = edit "/etc/member.env" format: "env" set: { STATE: state, TAG: tag }
  run "echo {{ tag }} {{ e.changed }} >> /etc/joined"
}
step first_join on first(all_hosts) {
  use join("existing", "one")
  rollback {
    run "mv /etc/joined /etc/joined.undone"
  }
}
step second_join on last(all_hosts) {
  use join("existing", "two")
  run "false"
  rollback {
    run "mv /etc/joined /etc/joined.undone"
  }
}
"#;
    let plan = flow(Test::new(), "b.flow", body)
        .args([
            "plan",
            "b.flow",
            "-i",
            &sb.inventory().display().to_string(),
        ])
        .run();
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("edit /etc/member.env (env) set STATE=existing TAG=two"),
        "{}",
        plan.stdout
    );
    let out = run(sb, flow(Test::new(), "b.flow", body), "b.flow", &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // Each use edited its host; the failure rolled both steps back: each host's file is
    // as before and each step's rollback ran.
    for i in 1..=2 {
        assert_eq!(
            host_cat(sb, i, "/etc/member.env"),
            "STATE=new\n",
            "host {i}"
        );
        assert_eq!(host_cat(sb, i, "/etc/joined"), "", "host {i}");
    }
    // What each use did before the rollback (its own `let e`, its own arguments).
    assert_eq!(host_cat(sb, 1, "/etc/joined.undone"), "one true\n");
    assert_eq!(host_cat(sb, 2, "/etc/joined.undone"), "two true\n");
}

/// The flow of "clusters a flow creates": certificates made on the controller, a 3-member
/// TLS etcd started on empty hosts, then used through its API in the same run.
const BOOTSTRAP: &str = r#"param pki: path
hosts nodes = group("sandbox")
cluster tls {
  members: nodes
  scheme: "https"
  ca: "{{ pki }}/ca.pem"
  cert: "{{ pki }}/client.pem"
  key: "{{ pki }}/client-key.pem"
  lazy: true
  timeout: 10s
}
step certs on local {
  tls.ca "{{ pki }}/ca"
  tls.cert "{{ pki }}/client" ca: "{{ pki }}/ca" sans: ["etcdflow-client"] usage: "client"
  for h in nodes {
    tls.cert "{{ pki }}/{{ h.name }}" ca: "{{ pki }}/ca" sans: [h.address, h.name, "127.0.0.1"] usage: "peer"
  }
}
step bootstrap on nodes {
  run ["mkdir", "-p", "/etc/etcd-pki"]
  copy "{{ pki }}/ca.pem" to: "/etc/etcd-pki/ca.pem" mode: "0644"
  copy "{{ pki }}/{{ host.name }}.pem" to: "/etc/etcd-pki/server.pem" mode: "0644"
  copy "{{ pki }}/{{ host.name }}-key.pem" to: "/etc/etcd-pki/server-key.pem" mode: "0600"
  run "setsid etcd --name {{ member_name(tls, host) }} --data-dir /var/lib/etcd-boot88 --listen-client-urls {{ client_url(tls, host) }} --advertise-client-urls {{ client_url(tls, host) }} --listen-peer-urls {{ peer_url(tls, host) }} --initial-advertise-peer-urls {{ peer_url(tls, host) }} --initial-cluster {{ initial_cluster(tls) }} --initial-cluster-state new --initial-cluster-token boot --client-cert-auth --trusted-ca-file /etc/etcd-pki/ca.pem --cert-file /etc/etcd-pki/server.pem --key-file /etc/etcd-pki/server-key.pem --peer-client-cert-auth --peer-trusted-ca-file /etc/etcd-pki/ca.pem --peer-cert-file /etc/etcd-pki/server.pem --peer-key-file /etc/etcd-pki/server-key.pem > /var/log/etcd-tls.log 2>&1 < /dev/null &"
  wait port: 2379 open timeout: 60s
  rollback {}
}
step use_it on local {
  etcd.wait_healthy timeout: 60s
  etcd.put key: "/bootstrapped" value: "yes"
  let kv = etcd.get key: "/bootstrapped"
  let ms = etcd.members
  assert len(ms) == 3 and kv.value == "yes", "the new cluster has {{ len(ms) }} members"
  log "bootstrapped: {{ len(ms) }} members, /bootstrapped={{ kv.value }}"
}
"#;

#[test]
fn a_flow_bootstraps_a_tls_cluster_and_uses_it() {
    if super::sandbox::no_root("a_flow_bootstraps_a_tls_cluster_and_uses_it") {
        return;
    }
    let (_d, g) = sandbox_of(3, 88);
    let sb = &g.0;
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = keep.path().to_path_buf();
    let pki = format!("pki={}", dir.join("pki").display());
    let out = run(
        sb,
        flow(Test::new(), "boot.flow", BOOTSTRAP),
        "boot.flow",
        &["-v", "-e", &pki],
    );
    for i in 1..=3 {
        let _ = host_sh(sb, i, "pkill -f '[e]tcd-boot88' || true");
    }
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("bootstrapped: 3 members, /bootstrapped=yes"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("cluster `tls` (lazy) is used from this step on"),
        "{}",
        out.stderr
    );
    // Keys owner-only on the controller and on the hosts; no key in the journal.
    use std::os::unix::fs::PermissionsExt;
    for k in ["pki/ca-key.pem", "pki/client-key.pem", "pki/n1-key.pem"] {
        let m = std::fs::metadata(dir.join(k)).unwrap_or_else(|e| panic!("{k}: {e}"));
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{k}");
    }
    assert_eq!(
        host_sh(sb, 2, "stat -c %a /etc/etcd-pki/server-key.pem").trim(),
        "600"
    );
}

#[test]
fn a_resumed_run_restores_what_the_killed_run_edited() {
    if super::sandbox::no_root("a_resumed_run_restores_what_the_killed_run_edited") {
        return;
    }
    let (_d, g) = sandbox_of(1, 89);
    let sb = &g.0;
    host_sh(
        sb,
        1,
        "printf 'STATE=new\\n' > /etc/member.env; rm -f /etc/fail-now",
    );
    let body = "## test\nflow t\nhosts all_hosts = group(\"sandbox\")\nstep join on all_hosts {\n  edit \"/etc/member.env\" format: \"env\" set: { STATE: \"existing\" }\n  run \"if [ -e /etc/fail-now ]; then exit 1; fi; sleep 20\"\n}\n";
    // Killed right after the edit: the file is changed, its backup beside it, the journal
    // records how to put it back.
    let (run_id, state, _) =
        super::rehearse::run_and_kill(sb, &[("k.flow", body)], &["k.flow"], "KILL", &|v| {
            v["event"] == "action_done" && v["action"] == "edit"
        });
    assert_eq!(host_cat(sb, 1, "/etc/member.env"), "STATE=existing\n");
    // The resumed run finds the edit done (unchanged now), then fails: its rollback
    // restores the file from the killed run's backup.
    host_sh(sb, 1, "touch /etc/fail-now");
    let out = super::sandbox::resume(sb, &run_id, &state);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(host_cat(sb, 1, "/etc/member.env"), "STATE=new\n");
    assert_eq!(
        host_sh(sb, 1, "ls -a /etc | grep -c etcdflow || true").trim(),
        "0"
    );
}
