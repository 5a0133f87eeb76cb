//! `stdlib/domeos-migrate.flow` on DomeOS-shaped hosts (`sandbox --profile domeos`, 10
//! hosts): n1-n3 the old etcd members (domeosEtcd0-2, clients 4012, peers 4010), n4-n6 the
//! new etcd hosts, n7 the old master, n8 the new one, n9-n10 nodes. A background writer
//! follows the cluster through every scenario.

use super::cli::Test;
use super::etcd::{member_list, nft, nft_clear, report, Writer};
use super::rehearse::{one_leader_one_id, resume_until, run_and_kill, step_times};
use super::sandbox::{host_cat, host_sh, no_root, run, Guard};
use etcdflow::sandbox::{self, Profile, Sandbox};
use std::time::Instant;

/// `sandbox --profile domeos` with 10 hosts on subnet `net`.
fn domeos_sandbox(net: u8) -> (tempfile::TempDir, Guard) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up_profile(&dir.path().join("sbx"), 10, 0, net, Profile::Domeos)
        .unwrap_or_else(|e| panic!("the domeos sandbox must come up (etcd, python3): {e}"));
    (dir, Guard(sb))
}

/// Client URLs of etcd on hosts `hosts`.
fn eps(sb: &Sandbox, hosts: std::ops::RangeInclusive<usize>) -> Vec<String> {
    hosts
        .map(|i| format!("http://{}:4012", sb.address(i)))
        .collect()
}

/// A writer through whichever old or new member answers.
fn writer(sb: &Sandbox) -> Writer {
    Writer::start(eps(sb, 1..=6))
}

/// Stop the writer; every acknowledged write must be in the cluster on `hosts`.
fn no_write_lost(sb: &Sandbox, w: Writer, hosts: std::ops::RangeInclusive<usize>, what: &str) {
    let (acked, failed, lost) = w.finish(&eps(sb, hosts));
    report(&format!(
        "domeos {what}: {acked} acknowledged writes, {failed} failed attempts, {lost} lost"
    ));
    assert!(acked > 20, "the writer wrote ({acked})");
    assert_eq!(lost, 0, "acknowledged writes lost");
}

/// The stdlib flow with its gates answered.
fn migrate(sb: &Sandbox, extra: &[&str]) -> super::cli::Output {
    let mut args = vec!["--yes"];
    args.extend_from_slice(extra);
    run(sb, Test::new(), "domeos-migrate.flow", &args)
}

/// (voters, learners) by name, asked of every old and new etcd host that answers.
fn voters_learners(sb: &Sandbox) -> (Vec<String>, Vec<String>) {
    let list = member_list(&eps(sb, 1..=6));
    let mut voters: Vec<String> = list.iter().filter(|m| !m.2).map(|m| m.0.clone()).collect();
    let learners = list.iter().filter(|m| m.2).map(|m| m.0.clone()).collect();
    voters.sort();
    (voters, learners)
}

/// The NDJSON events of a run's stdout.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    super::events::validate(stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `kubectl get nodes` at apiserver host `i`: (name, status) of every node.
fn nodes_at(sb: &Sandbox, i: usize) -> Vec<(String, String)> {
    let out = host_sh(
        sb,
        i,
        &format!("kubectl --server http://{}:8080 get nodes", sb.address(i)),
    );
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.first()?.to_string(), w.get(1)?.to_string()))
        })
        .collect()
}

/// `systemctl is-active UNIT` on host `i` (the word, whatever its exit status).
fn unit_state(sb: &Sandbox, i: usize, unit: &str) -> String {
    host_sh(sb, i, &format!("systemctl is-active {unit} || true"))
        .trim()
        .to_string()
}

/// The name of the current etcd leader.
fn leader_name(sb: &Sandbox) -> String {
    let (leader, _) = one_leader_one_id(&eps(sb, 1..=3));
    member_list(&eps(sb, 1..=3))
        .into_iter()
        .find(|m| m.1 == leader)
        .map(|m| m.0)
        .unwrap_or_else(|| panic!("no leader among the members"))
}

const NODE_FILES: [&str; 3] = [
    "/etc/sysconfig/kubelet",
    "/etc/sysconfig/kube-proxy",
    "/etc/sysconfig/flanneld",
];

#[test]
fn domeos_moves_etcd_and_master_to_new_machines() {
    if no_root("domeos_moves_etcd_and_master_to_new_machines") {
        return;
    }
    let (_dir, sb) = domeos_sandbox(22);
    let sb = &sb.0;
    let leader = leader_name(sb);
    let w = writer(sb);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let t0 = Instant::now();
    let out = migrate(sb, &["--output", "json"]);
    let took = t0.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}", out.stderr);
    report(&format!(
        "domeos 3 old -> 3 new etcd members and the master in {took:.1}s: {}",
        step_times(&out.stdout).join(", ")
    ));
    let (voters, learners) = voters_learners(sb);
    assert_eq!(voters, ["domeosEtcd3", "domeosEtcd4", "domeosEtcd5"]);
    assert!(learners.is_empty(), "no learner left: {learners:?}");
    one_leader_one_id(&eps(sb, 4..=6));
    // The old leader was removed last (the document: the leader last).
    let removed: Vec<(String, String)> = events(&out.stdout)
        .iter()
        .filter(|e| e["event"] == "action_done" && e["action"] == "etcd.member_remove")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("step"), s("host"))
        })
        .collect();
    let steps: Vec<&str> = removed.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        steps,
        ["migrate_followers", "migrate_followers", "migrate_rest"],
        "two followers, then the leader"
    );
    // domeosEtcdK runs on host n(K+1).
    let leader_host = leader
        .strip_prefix("domeosEtcd")
        .and_then(|k| k.parse::<usize>().ok())
        .map(|k| format!("n{}", k + 1));
    assert_eq!(
        removed.last().map(|r| r.1.clone()),
        leader_host,
        "the old leader {leader} was the last old member removed"
    );
    assert!(
        out.stdout
            .contains(&format!("moving leadership from {leader} ")),
        "the leader {leader} handed over before its removal: {}",
        out.stdout
    );
    // Only the new master's apiserver runs; the nodes point at it and the new etcd.
    assert_eq!(unit_state(sb, 7, "kube-apiserver"), "inactive");
    assert_eq!(unit_state(sb, 8, "kube-apiserver"), "active");
    assert_eq!(unit_state(sb, 8, "kube-scheduler"), "active");
    let master = format!("http://{}:8080", sb.address(8));
    let new_etcd = eps(sb, 4..=6).join(",");
    for i in [9, 10] {
        let kubelet = host_cat(sb, i, NODE_FILES[0]);
        assert!(
            kubelet.contains(&format!("--api-servers={master}")),
            "{kubelet}"
        );
        let proxy = host_cat(sb, i, NODE_FILES[1]);
        assert!(proxy.contains(&format!("--master={master}")), "{proxy}");
        let flannel = host_cat(sb, i, NODE_FILES[2]);
        assert!(flannel.contains(&new_etcd), "{flannel}");
    }
    let nodes = nodes_at(sb, 8);
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.1 == "Ready"), "{nodes:?}");
    let rcs = host_sh(sb, 8, &format!("kubectl --server {master} get rc"));
    assert!(
        rcs.contains("kube2sky-v10") && rcs.contains("skydns-v10") && !rcs.contains("-v9"),
        "{rcs}"
    );
    no_write_lost(sb, w, 4..=6, "migrate");
}

#[test]
fn domeos_new_hosts_silent_peer_port_refuses_the_first_move() {
    if no_root("domeos_new_hosts_silent_peer_port_refuses_the_first_move") {
        return;
    }
    let (_dir, sb) = domeos_sandbox(23);
    let sb = &sb.0;
    let env_before = host_cat(sb, 4, "/etc/sysconfig/etcd");
    // The new hosts' peer port is silent (a firewall that forgot 4010): no new member
    // could ever join.
    for i in 4..=6 {
        nft(sb, i, "iifname \"eth0\" tcp dport 4010 drop");
    }
    let w = writer(sb);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let out = migrate(sb, &[]);
    assert_eq!(out.code, 7, "the first move is undone: {}", out.stderr);
    assert!(
        out.stderr.contains("etcd-peer-url") && out.stderr.contains("cannot be reached"),
        "{}",
        out.stderr
    );
    let (voters, learners) = voters_learners(sb);
    assert_eq!(voters, ["domeosEtcd0", "domeosEtcd1", "domeosEtcd2"]);
    assert!(learners.is_empty(), "no learner: {learners:?}");
    one_leader_one_id(&eps(sb, 1..=3));
    assert_eq!(host_cat(sb, 4, "/etc/sysconfig/etcd"), env_before);
    assert_eq!(
        unit_state(sb, 7, "kube-apiserver"),
        "active",
        "the old master runs"
    );
    assert!(
        nodes_at(sb, 7).iter().all(|n| n.1 == "Ready"),
        "the nodes stay Ready"
    );
    no_write_lost(sb, w, 1..=3, "silent peer port");
}

#[test]
fn domeos_node_that_cannot_reach_new_etcd_is_restored() {
    if no_root("domeos_node_that_cannot_reach_new_etcd_is_restored") {
        return;
    }
    let (_dir, sb) = domeos_sandbox(24);
    let sb = &sb.0;
    let before: Vec<Vec<String>> = [9, 10]
        .iter()
        .map(|&i| NODE_FILES.iter().map(|f| host_cat(sb, i, f)).collect())
        .collect();
    // The first node's flanneld cannot reach the new etcd hosts (their firewall drops it).
    let node = sb.address(9);
    for i in 4..=6 {
        nft(sb, i, &format!("ip saddr {node} tcp dport 4012 drop"));
    }
    // The journal and the snapshot outlive the run's directory: resume reads both.
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state_dir = state.path().display().to_string();
    let backup = format!("backup_dir={state_dir}/backup");
    let out = migrate(
        sb,
        &[
            "-e",
            "ready_polls=12",
            "-e",
            &backup,
            "--state-dir",
            &state_dir,
            "--output",
            "json",
        ],
    );
    assert_eq!(out.code, 7, "only the node is undone: {}", out.stdout);
    assert!(out.stdout.contains("Rollback finished"), "{}", out.stdout);
    for (k, i) in [9, 10].into_iter().enumerate() {
        let now: Vec<String> = NODE_FILES.iter().map(|f| host_cat(sb, i, f)).collect();
        assert_eq!(now, before[k], "n{i}: its configs are as before");
    }
    for unit in ["kubelet", "kube-proxy", "flanneld"] {
        assert_eq!(unit_state(sb, 9, unit), "active", "n9: {unit} restarted");
    }
    // The run stopped there: the scheduler not started, the last old member not moved.
    assert_eq!(unit_state(sb, 8, "kube-scheduler"), "inactive");
    assert_eq!(member_list(&eps(sb, 1..=6)).len(), 3);
    // The firewall fixed, resume moves both nodes and finishes.
    for i in 4..=6 {
        nft_clear(sb, i);
    }
    let out = resume_last(sb, &out.stdout, state.path());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let nodes = nodes_at(sb, 8);
    assert!(
        nodes.len() == 2 && nodes.iter().all(|n| n.1 == "Ready"),
        "{nodes:?}"
    );
    let (voters, _) = voters_learners(sb);
    assert_eq!(voters, ["domeosEtcd3", "domeosEtcd4", "domeosEtcd5"]);
}

/// `etcdflow resume` of the run whose events are `stdout`, its state in `state`.
fn resume_last(sb: &Sandbox, stdout: &str, state: &std::path::Path) -> super::cli::Output {
    let evs = events(stdout);
    let id = evs
        .iter()
        .find(|e| e["event"] == "run_started")
        .and_then(|e| e["run_id"].as_str())
        .unwrap_or_else(|| panic!("no run_started event: {stdout}"));
    Test::new()
        .args(["resume", id, "--yes", "--state-dir"])
        .arg(state)
        .arg("-F")
        .arg(sb.ssh_config())
        .run()
}

#[test]
fn domeos_killed_between_members_resumes() {
    if no_root("domeos_killed_between_members_resumes") {
        return;
    }
    let (_dir, sb) = domeos_sandbox(25);
    let sb = &sb.0;
    let w = writer(sb);
    // The k-th `action` of a step that changed something, counted in the process that
    // runs it (a resumed run repeats the actions of the iteration it resumes, which find
    // them done and change nothing).
    let change = |step: &'static str, action: &'static str, k: usize| {
        let seen = std::cell::Cell::new(0);
        move |v: &serde_json::Value| {
            if v["event"] == "action_done"
                && v["step"] == step
                && v["action"] == action
                && v["rollback"] == false
                && v["changed"] == true
            {
                seen.set(seen.get() + 1);
            }
            seen.get() == k
        }
    };
    let points = [
        ("migrate_followers", "etcd.member_add", 1),
        ("migrate_followers", "etcd.member_promote", 1),
        ("migrate_followers", "etcd.member_remove", 1),
        ("migrate_followers", "etcd.member_add", 1),
        ("migrate_followers", "etcd.member_remove", 1),
        ("rewrite_nodes", "edit", 2),
        ("migrate_rest", "etcd.member_promote", 1),
        ("migrate_rest", "etcd.member_remove", 1),
    ];
    let first = change(points[0].0, points[0].1, points[0].2);
    let (run_id, state, _) =
        run_and_kill(sb, &[], &["domeos-migrate.flow", "--yes"], "KILL", &first);
    for (step, action, k) in &points[1..] {
        let f = change(step, action, *k);
        resume_until(sb, &run_id, &state, Some(&f));
    }
    let code = resume_until(sb, &run_id, &state, None);
    assert_eq!(code, Some(0), "the last resume converges");
    let list = member_list(&eps(sb, 4..=6));
    assert_eq!(list.len(), 3, "no duplicate member: {list:?}");
    assert!(list.iter().all(|m| !m.2), "no orphan learner: {list:?}");
    let (voters, _) = voters_learners(sb);
    assert_eq!(voters, ["domeosEtcd3", "domeosEtcd4", "domeosEtcd5"]);
    one_leader_one_id(&eps(sb, 4..=6));
    assert!(nodes_at(sb, 8).iter().all(|n| n.1 == "Ready"));
    report(&format!(
        "domeos kill/resume: {} kills between and inside member moves, converged",
        points.len()
    ));
    no_write_lost(sb, w, 4..=6, "kill/resume");
}
