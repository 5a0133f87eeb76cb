//! `stdlib/kops-multi-master.flow` on kops-shaped masters (`sandbox --profile kops`): the
//! first host is the existing master, two new masters beside it; each master runs etcd
//! `main` (4001/2380) and `events` (4002/2381) from kops manifests, members named by DNS.
//! A background writer on each cluster runs through every scenario.

use super::cli::Test;
use super::etcd::{keys, member_list, nft, report, Writer};
use super::rehearse::{one_leader_one_id, phase_times, resume_until};
use super::sandbox::{host_cat, host_sh, no_root, run, Guard};
use etcdflow::sandbox::{self, Profile, Sandbox};
use std::time::{Duration, Instant};

/// `sandbox --profile kops` with 3 masters on subnet `net`.
fn kops_sandbox(net: u8) -> (tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up_profile(&dir.path().join("sbx"), 3, 0, net, Profile::Kops)
        .unwrap_or_else(|e| panic!("the kops sandbox must come up (etcd, python3-yaml): {e}"));
    (dir, Guard(sb))
}

/// Client URLs of cluster `port` (4001 main, 4002 events) on the first `n` masters.
fn eps(sb: &Sandbox, port: u16, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("http://{}:{port}", sb.address(i)))
        .collect()
}

/// One writer per cluster, through the existing master (the one member throughout).
fn writers(sb: &Sandbox) -> (Writer, Writer) {
    (
        Writer::start(eps(sb, 4001, 1)),
        Writer::start(eps(sb, 4002, 1)),
    )
}

/// Stop both writers; every acknowledged write must be present in its cluster.
fn no_write_lost(sb: &Sandbox, w: (Writer, Writer), n: usize, what: &str) {
    let (main, events) = w;
    for (name, w, port) in [("main", main, 4001), ("events", events, 4002)] {
        let (acked, failed, lost) = w.finish(&eps(sb, port, n));
        report(&format!(
            "kops {what}: {name}: {acked} acknowledged writes, {failed} failed attempts, {lost} lost"
        ));
        assert!(acked > 20, "{name}: the writer wrote ({acked})");
        assert_eq!(lost, 0, "{name}: acknowledged writes lost");
    }
}

/// The flow, from the stdlib, with the kops gates answered (the masters exist).
fn kops_flow(sb: &Sandbox, extra: &[&str]) -> super::cli::Output {
    let mut args = vec!["-e", "masters_launched=true", "--yes"];
    args.extend_from_slice(extra);
    run(sb, Test::new(), "kops-multi-master.flow", &args)
}

/// (voters, learners) by name, of the cluster on `port`, asked of every master.
fn voters_learners(sb: &Sandbox, port: u16) -> (Vec<String>, Vec<String>) {
    let list = member_list(&eps(sb, port, 3));
    let voters = list.iter().filter(|m| !m.2).map(|m| m.0.clone()).collect();
    let learners = list.iter().filter(|m| m.2).map(|m| m.0.clone()).collect();
    (voters, learners)
}

#[test]
fn kops_grows_one_master_to_three() {
    if no_root("kops_grows_one_master_to_three") {
        return;
    }
    let (_dir, sb) = kops_sandbox(18);
    let sb = &sb.0;
    let w = writers(sb);
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    let out = kops_flow(sb, &[]);
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let phases = phase_times(&out.stderr);
    report(&format!(
        "kops 1 -> 3 masters in {took:.1}s: {}",
        phases.join(", ")
    ));
    for (port, names) in [
        (4001, ["etcd-a", "etcd-b", "etcd-c"]),
        (4002, ["etcd-events-a", "etcd-events-b", "etcd-events-c"]),
    ] {
        let (mut voters, learners) = voters_learners(sb, port);
        voters.sort();
        assert_eq!(voters, names, "{port}: three voters");
        assert!(learners.is_empty(), "{port}: no learner left: {learners:?}");
        one_leader_one_id(&eps(sb, port, 3));
    }
    // kops mixes the names: master b runs etcd-b and etcd-events-c.
    for (i, main, events) in [
        (2, "etcd-b", "etcd-events-c"),
        (3, "etcd-c", "etcd-events-b"),
    ] {
        let m = host_cat(sb, i, "/etc/kubernetes/manifests/etcd.manifest");
        let e = host_cat(sb, i, "/etc/kubernetes/manifests/etcd-events.manifest");
        for (text, me) in [(&m, main), (&e, events)] {
            assert!(!text.contains("value: new"), "n{i}: state switched: {text}");
            assert!(text.contains("value: existing"), "n{i}: {text}");
            assert!(text.contains(&format!("value: {me}\n")), "n{i}: {text}");
        }
        // The initial cluster is the add's member list: the members that existed then.
        let initial = m
            .split("name: ETCD_INITIAL_CLUSTER\n")
            .nth(1)
            .and_then(|t| t.lines().next())
            .and_then(|l| l.trim().strip_prefix("value: "))
            .unwrap_or_else(|| panic!("n{i}: no ETCD_INITIAL_CLUSTER: {m}"));
        let mut got: Vec<&str> = initial.split(',').collect();
        got.sort_unstable();
        let want: Vec<String> = ["a", "b", "c"][..i]
            .iter()
            .map(|z| format!("etcd-{z}=http://etcd-{z}.internal.example.com:2380"))
            .collect();
        assert_eq!(got, want, "n{i}: ETCD_INITIAL_CLUSTER");
    }
    // The document's on-host backups, with their revision.
    let backups = host_sh(sb, 1, "ls -d /mnt/master-vol-*/var/etcd/data*/backup/member; cat /mnt/master-vol-*/var/etcd/data/backup/REVISION");
    assert_eq!(backups.lines().count(), 3, "{backups}");
    no_write_lost(sb, w, 3, "grow");
}

#[test]
fn kops_third_master_silent_peer_port_undoes_only_it() {
    if no_root("kops_third_master_silent_peer_port_undoes_only_it") {
        return;
    }
    let (_dir, sb) = kops_sandbox(19);
    let sb = &sb.0;
    let before3 = host_cat(sb, 3, "/etc/kubernetes/manifests/etcd.manifest");
    // The third master's peer ports are silent from the other masters (a security group
    // that forgot them): its member could never join.
    nft(sb, 3, "iifname \"eth0\" tcp dport { 2380, 2381 } drop");
    let w = writers(sb);
    std::thread::sleep(Duration::from_secs(1));
    let out = kops_flow(sb, &[]);
    assert_eq!(
        out.code, 7,
        "only the third master is undone: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("etcd-peer-url") && out.stderr.contains("cannot be reached"),
        "{}",
        out.stderr
    );
    for (port, names) in [
        (4001, ["etcd-a", "etcd-b"]),
        (4002, ["etcd-events-a", "etcd-events-c"]),
    ] {
        let (mut voters, learners) = voters_learners(sb, port);
        voters.sort();
        assert_eq!(voters, names, "{port}: the two members stand");
        assert!(learners.is_empty(), "{port}: no learner: {learners:?}");
        one_leader_one_id(&eps(sb, port, 2));
    }
    assert_eq!(
        host_cat(sb, 3, "/etc/kubernetes/manifests/etcd.manifest"),
        before3,
        "the third master's manifest is as before"
    );
    no_write_lost(sb, w, 2, "third master silent");
}

#[test]
fn kops_killed_after_each_membership_change_resumes() {
    if no_root("kops_killed_after_each_membership_change_resumes") {
        return;
    }
    let (_dir, sb) = kops_sandbox(20);
    let sb = &sb.0;
    let w = writers(sb);
    // The k-th membership change of a step, counted in the process that runs it (a
    // resumed run repeats the changes of the step it resumes, which find them done).
    let change = |step: &'static str, action: &'static str, k: usize| {
        let seen = std::cell::Cell::new(0);
        move |v: &serde_json::Value| {
            if v["event"] == "action_done" && v["step"] == step && v["action"] == action {
                seen.set(seen.get() + 1);
            }
            seen.get() == k
        }
    };
    let points = [
        ("join_second", "etcd.member_add", 1),
        ("join_second", "etcd.member_add", 2),
        ("promote_second", "etcd.member_promote", 1),
        ("promote_second", "etcd.member_promote", 2),
        ("join_third", "etcd.member_add", 1),
        ("join_third", "etcd.member_add", 2),
        ("promote_third", "etcd.member_promote", 1),
        ("promote_third", "etcd.member_promote", 2),
    ];
    let first = change(points[0].0, points[0].1, points[0].2);
    let (run_id, state, _) = super::rehearse::run_and_kill(
        sb,
        &[],
        &[
            "kops-multi-master.flow",
            "-e",
            "masters_launched=true",
            "--yes",
        ],
        "KILL",
        &first,
    );
    for (step, action, k) in &points[1..] {
        let f = change(step, action, *k);
        resume_until(sb, &run_id, &state, Some(&f));
    }
    let code = resume_until(sb, &run_id, &state, None);
    assert_eq!(code, Some(0), "the last resume converges");
    for port in [4001, 4002] {
        let list = member_list(&eps(sb, port, 3));
        assert_eq!(list.len(), 3, "{port}: no duplicate member: {list:?}");
        assert!(
            list.iter().all(|m| !m.2),
            "{port}: no orphan learner: {list:?}"
        );
        one_leader_one_id(&eps(sb, port, 3));
    }
    report(&format!(
        "kops kill/resume: {} kills after membership changes, converged",
        points.len()
    ));
    no_write_lost(sb, w, 3, "kill/resume");
}

#[test]
fn kops_recover_restores_the_first_master_from_its_backup() {
    if no_root("kops_recover_restores_the_first_master_from_its_backup") {
        return;
    }
    let (_dir, sb) = kops_sandbox(21);
    let sb = &sb.0;
    let out = kops_flow(sb, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let backup: i64 = host_sh(sb, 1, "cat /mnt/master-vol-*/var/etcd/data/backup/REVISION")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    // 50 writes after the backup.
    super::etcd::put_range(&eps(sb, 4001, 3), 1..=50);
    // With quorum, the recovery path refuses: a restore would discard writes for nothing.
    let out = kops_flow(sb, &["-e", "recover=true"]);
    assert_eq!(out.code, 4, "an assertion fails: {}", out.stderr);
    assert!(out.stderr.contains("nothing to restore"), "{}", out.stderr);
    assert_eq!(keys(&eps(sb, 4001, 3), "k/").len(), 50, "nothing changed");
    // Both new masters lost (the document: their instance groups set to 0): the first
    // master's members have no quorum.
    for i in [2, 3] {
        host_sh(sb, i, "systemctl stop kubelet; ids=$(docker ps | grep k8s.gcr.io/etcd | awk '{print $1}'); docker stop $ids >/dev/null");
    }
    let t0 = Instant::now();
    let out = kops_flow(sb, &["-e", "recover=true"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    report(&format!(
        "kops recover: both clusters restored on the first master in {:.1}s",
        t0.elapsed().as_secs_f64()
    ));
    assert!(
        out.stderr
            .contains(&format!("from the backup at revision {backup}?")),
        "it names the backup's revision: {}",
        out.stderr
    );
    // It counts what it discards: the 50 writes (at least) after the backup.
    let discarded: i64 = out
        .stderr
        .lines()
        .find(|l| l.contains("etcd main lost quorum"))
        .and_then(|l| l.split(": ").nth(3))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of discarded revisions: {}", out.stderr));
    assert!(discarded >= 50, "{discarded} revisions discarded");
    for port in [4001, 4002] {
        let list = member_list(&eps(sb, port, 1));
        assert_eq!(list.len(), 1, "{port}: one member: {list:?}");
        one_leader_one_id(&eps(sb, port, 1));
    }
    assert!(
        keys(&eps(sb, 4001, 1), "k/").is_empty(),
        "the writes after the backup are gone"
    );
    let m = host_cat(sb, 1, "/etc/kubernetes/manifests/etcd.manifest");
    assert!(
        !m.contains("ETCD_FORCE_NEW_CLUSTER"),
        "set for one start only: {m}"
    );
}
