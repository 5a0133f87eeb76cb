//! Inventory settings that change how ssh connects are used, never dropped: a host
//! reachable only through a bastion named in `ansible_ssh_common_args`.

use super::cli::Test;
use super::sandbox::{flow, host_cat, Guard};
use etcdflow::sandbox;

/// Only the bastion (n1) may reach n2's sshd: the controller's direct packets are dropped.
fn firewall_n2(sb: &sandbox::Sandbox) {
    let rules = format!(
        "table inet etcdflow_bastion {{\n  chain in {{\n    type filter hook input priority 0;\n    tcp dport 22 ip saddr != {} drop\n  }}\n}}\n",
        sb.address(1)
    );
    let file = std::env::temp_dir().join(format!("etcdflow-bastion-{}.nft", sb.net));
    std::fs::write(&file, rules).unwrap_or_else(|e| panic!("{e}"));
    let ok = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("ef{}-n2", sb.net), "nft", "-f"])
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    let _ = std::fs::remove_file(&file);
    assert!(ok, "nft (nftables) must be installed");
}

#[test]
fn a_bastion_in_ssh_common_args_is_used() {
    if super::sandbox::no_root("a_bastion_in_ssh_common_args_is_used") {
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sb = sandbox::up(&dir.path().join("sbx"), 3, 0, 45)
        .unwrap_or_else(|e| panic!("the sandbox must come up: {e}"));
    let g = Guard(sb);
    let sb = &g.0;
    firewall_n2(sb);
    let inv = std::fs::read_to_string(sb.inventory()).unwrap_or_default();
    let jump = format!(
        "n2 ansible_ssh_common_args='-o ProxyJump=root@{}' ansible_host",
        sb.address(1)
    );
    let inv = inv.replacen("n2 ansible_host", &jump, 1);
    assert!(inv.contains("ProxyJump"), "{inv}");
    let body = "hosts t = group(\"sandbox\")\nstep mark on t {\n  run \"echo reached > /etc/reached\"\n  rollback {}\n}\n";
    let t = flow(Test::new(), "b.flow", body).file("inv", &inv);
    let invp = t.path().join("inv").display().to_string();
    let ssh_config = sb.ssh_config().display().to_string();
    // Without the bastion the controller cannot reach n2 at all (the probe can fail).
    let direct = std::process::Command::new("ssh")
        .args([
            "-F",
            &ssh_config,
            "-o",
            "ConnectTimeout=2",
            &sb.address(2),
            "true",
        ])
        .status()
        .unwrap_or_else(|e| panic!("ssh: {e}"));
    assert!(
        !direct.success(),
        "n2 is reachable directly: the firewall is not in place"
    );
    let out = t
        .args(["run", "b.flow", "-i", &invp, "-F", &ssh_config])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    for i in 1..=3 {
        let got = if i == 2 {
            // host_cat goes direct; read n2's file through the bastion.
            let o = std::process::Command::new("ssh")
                .args(["-F", &ssh_config, "-J", &format!("root@{}", sb.address(1))])
                .args([&sb.address(2), "cat /etc/reached"])
                .output()
                .unwrap_or_else(|e| panic!("ssh: {e}"));
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        } else {
            host_cat(sb, i, "/etc/reached")
        };
        assert_eq!(got.trim(), "reached", "n{i}");
    }
    let log = std::fs::read_to_string(sb.dir.join("n2/sshd.log")).unwrap_or_default();
    let from_bastion = format!("Accepted publickey for root from {} ", sb.address(1));
    assert!(log.contains(&from_bastion), "n2's sshd log: {log}");
}

/// What ansible.cfg says is used: no `-i` (its `inventory`, a directory whose
/// `group_vars/all.yml` gives a variable the flow prints), its `remote_user`, and its
/// `[ssh_connection] ssh_args` naming the ssh config that sends n2 through a bastion.
#[test]
fn ansible_cfg_inventory_dir_and_ssh_args_are_used() {
    if super::sandbox::no_root("ansible_cfg_inventory_dir_and_ssh_args_are_used") {
        return;
    }
    let (dir, g) = super::sandbox::sandbox_of(3, 26);
    let sb = &g.0;
    firewall_n2(sb);
    let inv = std::fs::read_to_string(sb.inventory())
        .unwrap_or_default()
        .replace(" ansible_user=root", "");
    // As sites do it: ssh_args names a config that sends n2 through the bastion.
    let cfg = "[defaults]\ninventory = inventory\nremote_user = root\n\n[ssh_connection]\nssh_args = -F bastion.conf ; n2 through the bastion\n";
    let bastion = format!(
        "Host {}\n  ProxyJump root@{}\n",
        sb.address(2),
        sb.address(1)
    );
    let body = "hosts t = group(\"sandbox\")\nstep mark on t {\n  run \"echo {{ host.vars.marker }} > /etc/reached\"\n  rollback {}\n}\n";
    let t = flow(Test::new(), "b.flow", body)
        .file("ansible.cfg", cfg)
        .file("bastion.conf", &bastion)
        .file("inventory/hosts", &inv)
        .file("inventory/group_vars/all.yml", "marker: via-group-vars\n")
        .env("HOME", dir.path());
    let ssh_config = sb.ssh_config().display().to_string();
    let out = t.args(["run", "b.flow", "-F", &ssh_config]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("(ansible.cfg)"), "{}", out.stderr);
    let o = std::process::Command::new("ssh")
        .args(["-F", &ssh_config, "-J", &format!("root@{}", sb.address(1))])
        .args([&sb.address(2), "cat /etc/reached"])
        .output()
        .unwrap_or_else(|e| panic!("ssh: {e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "via-group-vars");
    let log = std::fs::read_to_string(sb.dir.join("n2/sshd.log")).unwrap_or_default();
    let from_bastion = format!("Accepted publickey for root from {} ", sb.address(1));
    assert!(log.contains(&from_bastion), "n2's sshd log: {log}");
}
