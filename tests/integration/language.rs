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

/// The files an edit test starts from, on every host (mode 0640).
fn seed_files(sb: &etcdflow::sandbox::Sandbox) {
    for i in 1..=2 {
        host_sh(
            sb,
            i,
            &format!("printf '%s' '{ENV}' > /etc/etcd.env && printf '%s' '{MANIFEST}' > /etc/etcd.manifest && chmod 0640 /etc/etcd.env && rm -f /etc/changed /etc/new.conf"),
        );
    }
}

const EDIT_FLOW: &str = r#"hosts all_hosts = group("sandbox")
step edit on all_hosts {
  let e = edit "/etc/etcd.env" format: "env" set: {ETCD_INITIAL_CLUSTER_STATE: "existing", ETCD_NAME: host.name}
  let y = edit "/etc/etcd.manifest" format: "yaml" \
      set: {"spec.containers[name=etcd].env[name=ETCD_INITIAL_CLUSTER_STATE].value": "existing"}
  run "echo {{ e.changed }} {{ y.changed }} >> /etc/changed"
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
        assert_eq!(host_cat(sb, i, "/etc/changed"), "true true\nfalse false\n");
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
