use super::*;
use crate::source::SourceMap;

fn load(name: &str, text: &str) -> (Inventory, Vec<Diagnostic>) {
    let mut sm = SourceMap::new();
    let id = sm.add(name, std::path::Path::new(name), text.to_string());
    Inventory::parse(id, &sm)
}

const ICP: &str =
    "[master]\n10.0.0.1\n10.0.0.2\n10.0.0.3\n\n[management]\n10.0.0.4\n\n[worker]\n10.0.0.[5:6]\n";

#[test]
fn icp_hosts_file() {
    let (inv, d) = load("hosts", ICP);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        inv.group_hosts("master").unwrap_or_default(),
        ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    );
    assert_eq!(
        inv.group_hosts("worker").unwrap_or_default(),
        ["10.0.0.5", "10.0.0.6"]
    );
    assert_eq!(inv.group_hosts("all").map(|h| h.len()), Some(6));
}

const KUBEADM2HA: &str = "[primary-master]\nm1 ansible_host=192.0.2.11\n[secondary-masters]\nm[2:3] ansible_user=admin\n[masters:children]\nprimary-master\nsecondary-masters\n[minions]\nw[01:03].example.com\n[nodes:children]\nmasters\nminions\n[etcd:children]\nmasters\n[masters:vars]\nansible_become=yes\n";

#[test]
fn kubeadm2ha_children_vars_and_ranges() {
    let (inv, d) = load("inventory", KUBEADM2HA);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        inv.group_hosts("etcd").unwrap_or_default(),
        ["m1", "m2", "m3"]
    );
    assert_eq!(inv.group_hosts("nodes").map(|h| h.len()), Some(6));
    assert_eq!(
        inv.group_hosts("minions").unwrap_or_default(),
        ["w01.example.com", "w02.example.com", "w03.example.com"]
    );
    let t = inv.target("m2").unwrap_or_else(|| panic!("m2"));
    assert_eq!(t.user.as_deref(), Some("admin"));
    assert!(t.become_);
    assert_eq!(
        inv.target("m1").map(|t| t.address),
        Some("192.0.2.11".to_string())
    );
}

#[test]
fn yaml_inventory() {
    let y = "all:\n  vars:\n    ansible_user: root\n  children:\n    master:\n      hosts:\n        n1:\n          ansible_host: 10.1.0.1\n        n2:\n    management:\n      hosts:\n        n3:\n          ansible_port: 2222\n";
    let (inv, d) = load("hosts.yml", y);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(inv.group_hosts("master").unwrap_or_default(), ["n1", "n2"]);
    let t = inv.target("n3").unwrap_or_else(|| panic!("n3"));
    assert_eq!((t.port, t.user.as_deref()), (2222, Some("root")));
}

#[test]
fn unsafe_hosts_users_and_ports_are_refused() {
    for line in [
        "-oProxyCommand=x",
        "a;touch",
        "h ansible_user=-x",
        "h ansible_user=\"a b\"",
        "h ansible_port=70000",
        "h ansible_host=$(id)",
        "fe80::1",
    ] {
        let (_, d) = load("hosts", &format!("[g]\n{line}\n"));
        assert!(
            d.iter().any(|d| d.code == "invalid-inventory-host"),
            "{line}: {d:?}"
        );
    }
    let (_, d) = load("hosts", "[g]\nh ansible_host=[fe80::1]\n");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn syntax_errors_point_at_lines() {
    let (_, d) = load("hosts", "[g\nh1\n");
    assert_eq!(d[0].code, "inventory-syntax");
    let (_, d) = load("hosts", "[g]\nnode[1:\n");
    assert_eq!(d[0].code, "inventory-syntax");
    let (_, d) = load("hosts.yml", "all:\n  hosts: [1, 2\n");
    assert_eq!(d[0].code, "inventory-syntax");
}

#[test]
fn ranges() {
    assert_eq!(
        expand_range("n[01:03]").unwrap_or_default(),
        ["n01", "n02", "n03"]
    );
    assert_eq!(
        expand_range("db-[a:c]").unwrap_or_default(),
        ["db-a", "db-b", "db-c"]
    );
    assert_eq!(
        expand_range("n[0:10:5]").unwrap_or_default(),
        ["n0", "n5", "n10"]
    );
    assert!(expand_range("n[3:1]").is_err());
}

#[test]
fn children_lines_take_a_trailing_comment() {
    let (inv, d) = load(
        "hosts",
        "[m]\nn1\n[master:children]\nm   # the masters\n[x:children]\nm #spaced\n",
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(inv.group_hosts("master").unwrap_or_default(), ["n1"]);
    assert_eq!(inv.group_hosts("x").unwrap_or_default(), ["n1"]);
    let (_, d) = load("hosts", "[m]\nn1\n[master:children]\nm other\n");
    assert!(d.iter().any(|d| d.code == "inventory-syntax"), "{d:?}");
}

#[test]
fn ini_host_port_and_bare_ipv6() {
    let (inv, d) = load(
        "hosts",
        "[g]\nh1:2222\nh[2:3]:2200\nh4 ansible_host=fd00::21\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let t = inv.target("h1").unwrap_or_else(|| panic!("h1"));
    assert_eq!(t.port, 2222);
    assert_eq!(inv.target("h3").map(|t| t.port), Some(2200));
    assert_eq!(
        inv.target("h4").map(|t| t.address),
        Some("fd00::21".to_string())
    );
}

#[test]
fn connection_settings_are_never_dropped() {
    for (line, what) in [
        ("h ansible_connection=winrm", "ansible_connection=winrm"),
        ("h ansible_password=x", "ansible_password"),
        ("h ansible_become_method=su", "ansible_become_method=su"),
        ("h ansible_shell_type=powershell", "ansible_shell_type"),
        (
            "h ansible_ssh_common_args='-o StrictHostKeyChecking=no'",
            "StrictHostKeyChecking",
        ),
        ("h ansible_ssh_extra_args='-L 1:a:2'", "-L"),
    ] {
        let (_, d) = load("hosts", &format!("[g]\n{line}\n"));
        assert!(
            d.iter().any(|d| d.code == "unsupported-inventory-var"
                && d.is_error()
                && d.message.contains(what)),
            "{line}: {d:?}"
        );
    }
    let (inv, d) = load(
        "hosts",
        "[g]\nh ansible_ssh_host=10.0.0.9 ansible_ssh_user=admin ansible_ssh_port=2022 ansible_private_key_file=/k\n[g:vars]\nansible_ssh_common_args='-o ProxyJump=root@10.0.0.1'\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let t = inv.target("h").unwrap_or_else(|| panic!("h"));
    assert_eq!(
        (
            t.address.as_str(),
            t.user.as_deref(),
            t.port,
            t.key_file.as_deref()
        ),
        ("10.0.0.9", Some("admin"), 2022, Some("/k"))
    );
    assert_eq!(
        t.ssh.options,
        [("ProxyJump".to_string(), "root@10.0.0.1".to_string())]
    );
}

#[test]
fn host_patterns_as_ansible() {
    let (inv, d) = load(
        "hosts",
        "[master]\nm1\nm2\nm3\n[etcd]\nm1\ne1\n[web]\nweb-a\nweb-b\n",
    );
    assert!(d.is_empty(), "{d:?}");
    let sel = |p: &str| -> Vec<String> {
        inv.select(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .into_iter()
            .collect()
    };
    assert_eq!(sel("master:etcd"), ["e1", "m1", "m2", "m3"]);
    assert_eq!(sel("master:&etcd"), ["m1"]);
    assert_eq!(sel("master:!m2"), ["m1", "m3"]);
    assert_eq!(sel("master,!etcd"), ["m2", "m3"]);
    assert_eq!(sel("web*"), ["web-a", "web-b"]);
    assert_eq!(sel("m?"), ["m1", "m2", "m3"]);
    assert_eq!(sel("e1"), ["e1"]);
    assert_eq!(sel("!master").len(), 3);
    assert!(inv.select("nosuch").is_err());
    assert!(inv.select("").is_err());
}
