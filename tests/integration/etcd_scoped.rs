//! Scoped rollback of one member's move on real etcd: a step that grows the cluster one
//! member at a time with `on_failure: "undo_host"`; the third host's etcd cannot start,
//! so only its learner is removed and its manifest taken back, the two-member cluster
//! stands, and a background writer loses nothing.

use super::etcd::{endpoints, etcd_flow, etcd_sandbox, members, Writer};
use super::sandbox::{host_cat, host_sh, no_root, run};

#[test]
fn a_failed_member_is_undone_alone() {
    if no_root("a_failed_member_is_undone_alone") {
        return;
    }
    let (_dir, sb) = etcd_sandbox(1, 16);
    let sb = &sb.0;
    let one = endpoints(sb, 1);
    let two = endpoints(sb, 2);
    // n3's etcd cannot start: its data dir is a file.
    host_sh(sb, 3, "rm -rf /var/lib/etcd && touch /var/lib/etcd");
    let writer = Writer::start(one.clone());
    let grow = r#"step snap on local {
  etcd.snapshot_save to: "before.db"
}
step grow on all - members serial on_failure: "undo_host" {
  let m = etcd.member_add name: host.name peer_url: peer_url(main, host)
  template "pod.j2" to: "/etc/cfc/pods/etcd.json" vars: { initial_cluster: m.initial_cluster }
  etcd.wait_started member: host.name timeout: 20s
  etcd.member_promote member: host.name timeout: 60s
  rollback {
    run "rm -f /etc/cfc/pods/etcd.json"
    etcd.member_remove member: m.id
  }
}
"#;
    let out = run(sb, etcd_flow("grow.flow", grow), "grow.flow", &[]);
    let (acked, _failed, lost) = writer.finish(&two);
    // Exit 7: n3's move failed and was undone; n2's move stands.
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(
        members(&two),
        [("n1".to_string(), false), ("n2".to_string(), false)],
        "{}",
        out.stderr
    );
    assert_eq!(host_cat(sb, 3, "/etc/cfc/pods/etcd.json"), "");
    assert!(!host_cat(sb, 2, "/etc/cfc/pods/etcd.json").is_empty());
    assert!(
        acked > 0,
        "the writer wrote nothing: the check would prove nothing"
    );
    assert_eq!(lost, 0, "{lost} of {acked} acknowledged writes lost");
    super::etcd::report(&format!(
        "scoped rollback: n3 undone alone, 2 voters stand; background writer: {acked} acknowledged writes, {lost} lost"
    ));
}

#[test]
fn removing_an_unstarted_member_by_name_is_refused() {
    if no_root("removing_an_unstarted_member_by_name_is_refused") {
        return;
    }
    let (_dir, sb) = etcd_sandbox(1, 17);
    let sb = &sb.0;
    let one = endpoints(sb, 1);
    // A learner added and never started has no name: a removal "by name" must not pass
    // as done while the learner stays.
    let body = r#"step snap on local {
  etcd.snapshot_save to: "before.db"
  etcd.member_add name: "n2" peer_url: "http://10.213.17.12:2380"
}
step remove on local {
  etcd.member_remove member: "n2"
}
"#;
    let out = run(
        sb,
        etcd_flow("rm.flow", body),
        "rm.flow",
        &["--no-rollback"],
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("etcd-member-unnamed"), "{}", out.stderr);
    assert_eq!(
        members(&one),
        [("".to_string(), true), ("n1".to_string(), false)]
    );
}
