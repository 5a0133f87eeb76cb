//! The kubeadm2ha flows (`stdlib/kubeadm-ha-{setup,upgrade,uninstall}.flow`) on empty
//! hosts shaped like the seed's (`sandbox --profile kubeadm`, 5 hosts): n1 the primary
//! master, n2-n3 the secondary masters, n4-n5 minions, etcd on the masters, the VIP
//! 10.213.NET.100. Each test has its own subnet.

use super::cli::{Output, Test};
use super::etcd::report;
use super::sandbox::{host_cat, host_sh, no_root, run, Guard};
use etcdflow::sandbox::{self, Profile, Sandbox};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The pod network's manifest the setup applies (flannel's DaemonSet, as the document's).
const NET: &str = "apiVersion: extensions/v1beta1\nkind: DaemonSet\nmetadata:\n  name: kube-flannel-ds\n  namespace: kube-system\nspec:\n  template:\n    spec:\n      containers:\n      - name: kube-flannel\n        image: quay.io/coreos/flannel:v0.9.1-amd64\n";

/// A kubeadm-shaped sandbox of 5 hosts on subnet `net`, and a controller directory that
/// outlives each run (the PKI setup makes and upgrade and uninstall use).
struct Site {
    // Fields drop in this order: the sandbox goes down before its directory goes.
    guard: Guard,
    _dir: tempfile::TempDir,
    pki: PathBuf,
}

impl Site {
    fn up(net: u8) -> Site {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sb = sandbox::up_profile(&dir.path().join("sbx"), 5, 0, net, Profile::Kubeadm)
            .unwrap_or_else(|e| {
                panic!("the kubeadm sandbox must come up (python3-yaml, openssl, curl): {e}")
            });
        let pki = dir.path().join("pki");
        Site {
            guard: Guard(sb),
            _dir: dir,
            pki,
        }
    }

    fn sb(&self) -> &Sandbox {
        &self.guard.0
    }

    fn pki_arg(&self) -> String {
        format!("pki={}", self.pki.display())
    }

    /// `kubeadm-ha-setup` (the stdlib flow, by name).
    fn setup(&self) -> Output {
        let t = Instant::now();
        let out = run(
            self.sb(),
            Test::new().file("net.yaml", NET),
            "kubeadm-ha-setup.flow",
            &[
                "-e",
                "network_manifest=net.yaml",
                "-e",
                "vrrp_password=k8s-vrrp",
                "-e",
                &self.pki_arg(),
            ],
        );
        report(&format!(
            "kubeadm-ha-setup: exit {} in {:.1}s",
            out.code,
            t.elapsed().as_secs_f64()
        ));
        out
    }

    fn setup_ok(&self) {
        let out = self.setup();
        assert_eq!(out.code, 0, "{}", out.stderr);
    }

    fn flow(&self, flow: &str, extra: &[&str]) -> Output {
        let t = Instant::now();
        let mut args = vec!["-e".to_string(), self.pki_arg()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(self.sb(), Test::new(), flow, &args);
        report(&format!(
            "{flow}: exit {} in {:.1}s",
            out.code,
            t.elapsed().as_secs_f64()
        ));
        out
    }

    fn vip(&self) -> String {
        format!("10.213.{}.100", self.sb().net)
    }

    /// The masters (1-based) that hold the VIP now.
    fn vip_holders(&self) -> Vec<usize> {
        (1..=3)
            .filter(|i| {
                !host_sh(
                    self.sb(),
                    *i,
                    &format!("ip -o -4 addr show to {}/32", self.vip()),
                )
                .trim()
                .is_empty()
            })
            .collect()
    }

    /// Wait up to `secs` for the VIP to be held by exactly `want`.
    fn vip_settles(&self, want: &[usize], secs: u64) -> Vec<usize> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let now = self.vip_holders();
            if now == want || Instant::now() > end {
                return now;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// (name, status, version) of every node, asked through the VIP on host `i`.
    fn nodes(&self, i: usize) -> Vec<(String, String, String)> {
        let out = host_sh(
            self.sb(),
            i,
            &format!(
                "KUBECONFIG=/etc/kubernetes/admin.conf kubectl --server https://{}:6443 get nodes",
                self.vip()
            ),
        );
        out.lines()
            .skip(1)
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                Some((
                    w.first()?.to_string(),
                    w.get(1)?.to_string(),
                    w.last()?.to_string(),
                ))
            })
            .collect()
    }

    /// etcdctl on the controller with setup's client certificate (`cert`: false without).
    fn etcdctl(&self, cert: bool, args: &str) -> std::process::Output {
        let sb = self.sb();
        let eps: Vec<String> = (1..=3)
            .map(|i| format!("https://{}:2379", sb.address(i)))
            .collect();
        let p = |f: &str| self.pki.join(f).display().to_string();
        let mut c = std::process::Command::new("etcdctl");
        c.env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(eps.join(","))
            .arg("--cacert")
            .arg(p("etcd-ca.pem"))
            .args(["--dial-timeout", "2s", "--command-timeout", "3s"]);
        if cert {
            c.arg("--cert")
                .arg(p("etcd-client.pem"))
                .arg("--key")
                .arg(p("etcd-client-key.pem"));
        }
        c.args(args.split_whitespace())
            .output()
            .unwrap_or_else(|e| panic!("etcdctl: {e}"))
    }
}

fn all_ready(nodes: &[(String, String, String)], version: &str) -> bool {
    nodes.len() == 5
        && nodes
            .iter()
            .all(|(_, s, v)| s.starts_with("Ready") && v == version)
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn kubeadm_ha_setup_builds_a_tls_etcd_a_vip_and_five_ready_nodes() {
    if no_root("kubeadm_ha_setup_builds_a_tls_etcd_a_vip_and_five_ready_nodes") {
        return;
    }
    let site = Site::up(90);
    let sb = site.sb();
    site.setup_ok();
    // A 3-member etcd that wants client certificates: with setup's it answers, without
    // it refuses.
    let members = site.etcdctl(true, "member list");
    assert!(members.status.success(), "{members:?}");
    let list = String::from_utf8_lossy(&members.stdout).to_string();
    assert_eq!(
        list.lines().filter(|l| l.contains(", started, ")).count(),
        3,
        "{list}"
    );
    assert!(!site.etcdctl(false, "get /x").status.success());
    // Keys owner-only, on the controller and on the hosts.
    for k in [
        "etcd-ca-key.pem",
        "etcd-client-key.pem",
        "n1-server-key.pem",
        "kubernetes/pki/ca.key",
    ] {
        assert_eq!(mode(&site.pki.join(k)), 0o600, "{k}");
    }
    assert_eq!(
        host_sh(sb, 2, "stat -c %a /etc/etcd/pki/peer-key.pem").trim(),
        "600"
    );
    // Every node Ready through the VIP, which the primary holds.
    assert!(all_ready(&site.nodes(1), "v1.9.2"), "{:?}", site.nodes(1));
    assert_eq!(site.vip_holders(), vec![1]);
    // The secondaries name themselves; the minions joined through the VIP.
    for i in 2..=3 {
        let me = sb.address(i);
        assert!(host_cat(sb, i, "/etc/kubernetes/admin.conf")
            .contains(&format!("server: https://{me}:6443")));
        let api = host_cat(sb, i, "/etc/kubernetes/manifests/kube-apiserver.yaml");
        assert!(api.contains(&format!("--advertise-address={me}")), "{api}");
        assert!(!api.contains("NodeRestriction"), "{api}");
    }
    let eps = host_sh(
        sb,
        1,
        "KUBECONFIG=/etc/kubernetes/admin.conf kubectl get endpoints kubernetes -o json",
    );
    for i in 1..=3 {
        assert!(eps.contains(&format!("\"{}\"", sb.address(i))), "{eps}");
    }
    for i in 4..=5 {
        assert!(host_cat(sb, i, "/etc/kubernetes/kubelet.conf")
            .contains(&format!("server: https://{}:6443", site.vip())));
    }
    // kube-proxy through the VIP, DNS per master.
    let kc = "KUBECONFIG=/etc/kubernetes/admin.conf";
    assert!(host_sh(
        sb,
        1,
        &format!("{kc} kubectl get pods -n kube-system -l k8s-app=kube-proxy")
    )
    .contains(&site.vip()));
    assert!(host_sh(
        sb,
        1,
        &format!("{kc} kubectl get deployment -n kube-system kube-dns")
    )
    .contains("\"replicas\": 3"));
    // The VIP moves when the primary's keepalived stops, and comes back with it.
    host_sh(sb, 1, "systemctl stop keepalived");
    let moved = site.vip_settles(&[3], 10);
    assert_eq!(
        moved,
        vec![3],
        "the VIP goes to one backup (the higher address of two equal priorities)"
    );
    assert!(
        all_ready(&site.nodes(3), "v1.9.2"),
        "the cluster answers on the VIP at n3"
    );
    host_sh(sb, 1, "systemctl start keepalived");
    assert_eq!(
        site.vip_settles(&[1], 10),
        vec![1],
        "the primary (priority 101) takes it back"
    );
}

#[test]
fn kubeadm_ha_uninstall_leaves_hosts_that_setup_takes_again() {
    if no_root("kubeadm_ha_uninstall_leaves_hosts_that_setup_takes_again") {
        return;
    }
    let site = Site::up(91);
    let sb = site.sb();
    site.setup_ok();
    let out = site.flow("kubeadm-ha-uninstall.flow", &["--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("point of no return") || out.stderr.contains("snapshot"),
        "{}",
        out.stderr
    );
    for i in 1..=5 {
        assert_eq!(
            host_sh(sb, i, "systemctl is-active kubelet || true").trim(),
            "inactive"
        );
        assert_eq!(host_cat(sb, i, "/etc/kubernetes/admin.conf"), "");
    }
    for i in 1..=3 {
        assert_eq!(
            host_sh(sb, i, "systemctl is-active etcd || true").trim(),
            "inactive"
        );
        assert_eq!(
            host_sh(
                sb,
                i,
                "ls -d /var/lib/etcd/default.etcd /etc/etcd/pki 2>/dev/null || true"
            )
            .trim(),
            ""
        );
    }
    assert!(site.vip_holders().is_empty(), "no keepalived holds the VIP");
    site.setup_ok();
    assert!(all_ready(&site.nodes(1), "v1.9.2"), "{:?}", site.nodes(1));
}

/// Seconds since the epoch at which host `i` first installed `pkg` (its yum log).
fn installed_at(sb: &Sandbox, i: usize, pkg: &str) -> f64 {
    let log = host_cat(sb, i, "/var/log/yum.log");
    log.lines()
        .filter(|l| l.ends_with(pkg))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .next()
        .unwrap_or_else(|| panic!("n{i} never installed {pkg}:\n{log}"))
}

#[test]
fn kubeadm_ha_upgrade_goes_primary_secondaries_then_each_node() {
    if no_root("kubeadm_ha_upgrade_goes_primary_secondaries_then_each_node") {
        return;
    }
    let site = Site::up(92);
    let sb = site.sb();
    site.setup_ok();
    let out = site.flow(
        "kubeadm-ha-upgrade.flow",
        &["-e", "kubernetes_version=1.9.3"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(all_ready(&site.nodes(1), "v1.9.3"), "{:?}", site.nodes(1));
    // The control plane: the primary's kubeadm first, every master's apiserver at v1.9.3.
    let kubeadm = installed_at(sb, 1, "kubeadm-1.9.3");
    for i in 1..=3 {
        assert!(
            host_cat(sb, i, "/etc/kubernetes/manifests/kube-apiserver.yaml").contains(":v1.9.3")
        );
        assert!(
            !host_cat(sb, i, "/etc/kubernetes/manifests/kube-apiserver.yaml")
                .contains("NodeRestriction")
        );
        assert!(
            host_sh(sb, i, "ls -d /etc/kubernetes.before-*").contains("/etc/kubernetes.before-")
        );
    }
    // Then the packages, one node at a time: the masters in order, then the minions.
    let times: Vec<f64> = (1..=5)
        .map(|i| installed_at(sb, i, "kubelet-1.9.3"))
        .collect();
    assert!(
        kubeadm < times[0],
        "kubeadm upgrade apply before the packages"
    );
    for w in times.windows(2) {
        assert!(
            w[0] < w[1],
            "one node after the other, masters first: {times:?}"
        );
    }
    // kubeadm's upgrade re-applied kube-proxy with the primary's address: the flow put the
    // VIP back.
    assert!(host_sh(sb, 1, "KUBECONFIG=/etc/kubernetes/admin.conf kubectl get configmap -n kube-system kube-proxy -o yaml").contains(&format!("server: https://{}:6443", site.vip())));
}

#[test]
fn a_secondary_master_whose_patch_misses_a_field_is_undone_alone() {
    if no_root("a_secondary_master_whose_patch_misses_a_field_is_undone_alone") {
        return;
    }
    let site = Site::up(93);
    let sb = site.sb();
    // kubeadm on the primary writes a field the patch does not change.
    host_sh(sb, 1, "touch /etc/etcdflow-sandbox/apiserver-bind-address");
    let out = site.setup();
    assert_eq!(out.code, 7, "{}", out.stderr);
    let primary = sb.address(1);
    assert!(
        out.stderr.contains(&format!("n2: these files still name the primary's apiserver {primary}: /etc/kubernetes/manifests/kube-apiserver.yaml")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("etcdflow resume"), "{}", out.stderr);
    // n2 is as before the step: no configuration, no kubelet; n3 was not touched.
    for i in 2..=3 {
        assert_eq!(host_cat(sb, i, "/etc/kubernetes/admin.conf"), "", "n{i}");
        assert_eq!(
            host_sh(sb, i, "systemctl is-active kubelet || true").trim(),
            "inactive"
        );
    }
    // The primary, its VIP and etcd stand.
    assert_eq!(site.vip_holders(), vec![1]);
    let nodes = host_sh(
        sb,
        1,
        "KUBECONFIG=/etc/kubernetes/admin.conf kubectl get nodes",
    );
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with("n1 ") && l.contains(" Ready ")),
        "{nodes}"
    );
    assert!(site.etcdctl(true, "endpoint health").status.success());
}

#[test]
fn an_etcd_member_that_will_not_start_rolls_the_setup_back() {
    if no_root("an_etcd_member_that_will_not_start_rolls_the_setup_back") {
        return;
    }
    let site = Site::up(94);
    let sb = site.sb();
    // Something else holds n2's etcd peer port.
    let hold = format!(
        "setsid /usr/bin/python3 -c 'import socket, time; s = socket.socket(); s.bind((\"{}\", 2380)); s.listen(); time.sleep(900)' </dev/null >/dev/null 2>&1 & echo $! > /run/squatter.pid",
        sb.address(2)
    );
    host_sh(sb, 2, &hold);
    let out = site.setup();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("failed n2 in install_etcd"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("/var/log/etcd.log"), "{}", out.stderr);
    // etcd is stopped again on every member, no data dir is left, keepalived never ran.
    for i in 1..=3 {
        assert_eq!(
            host_sh(sb, i, "systemctl is-active etcd || true").trim(),
            "inactive",
            "n{i}"
        );
        assert_eq!(
            host_sh(
                sb,
                i,
                "ls -d /var/lib/etcd/default.etcd 2>/dev/null || true"
            )
            .trim(),
            "",
            "n{i}"
        );
        assert_eq!(
            host_cat(sb, i, "/etc/keepalived/keepalived.conf"),
            "",
            "n{i}"
        );
    }
    // Once the port is free, setup takes the same hosts.
    host_sh(sb, 2, "kill $(cat /run/squatter.pid)");
    site.setup_ok();
}

#[test]
fn a_failed_primary_upgrade_brings_the_secondaries_back() {
    if no_root("a_failed_primary_upgrade_brings_the_secondaries_back") {
        return;
    }
    let site = Site::up(95);
    let sb = site.sb();
    site.setup_ok();
    host_sh(sb, 1, "touch /etc/etcdflow-sandbox/fail-upgrade");
    let out = site.flow(
        "kubeadm-ha-upgrade.flow",
        &["-e", "kubernetes_version=1.9.3"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("failed n1 in upgrade_primary"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("kubeadm has tried to recover everything into the earlier state"),
        "{}",
        out.stderr
    );
    // The document's advice, done: the secondaries run again and are uncordoned; the
    // cluster is where it started.
    for i in 2..=3 {
        for u in ["docker", "kubelet", "keepalived"] {
            assert_eq!(
                host_sh(sb, i, &format!("systemctl is-active {u} || true")).trim(),
                "active",
                "{u} on n{i}"
            );
        }
    }
    let nodes = site.nodes(1);
    assert!(all_ready(&nodes, "v1.9.2"), "{nodes:?}");
    assert!(
        nodes.iter().all(|(_, s, _)| s == "Ready"),
        "nobody cordoned: {nodes:?}"
    );
    assert!(host_cat(sb, 1, "/etc/kubernetes/manifests/kube-apiserver.yaml").contains(":v1.9.2"));
}

#[test]
fn kubeadm_ha_uninstall_without_an_etcd_quorum_removes_nothing() {
    if no_root("kubeadm_ha_uninstall_without_an_etcd_quorum_removes_nothing") {
        return;
    }
    let site = Site::up(96);
    let sb = site.sb();
    site.setup_ok();
    host_sh(sb, 2, "systemctl stop etcd");
    host_sh(sb, 3, "systemctl stop etcd");
    let out = site.flow("kubeadm-ha-uninstall.flow", &["--yes"]);
    assert_ne!(out.code, 0, "{}", out.stderr);
    // No snapshot, so nothing is removed or stopped.
    for i in 1..=5 {
        assert_eq!(
            host_sh(sb, i, "systemctl is-active kubelet || true").trim(),
            "active",
            "n{i}"
        );
        assert!(
            !host_cat(sb, i, "/etc/kubernetes/kubelet.conf").is_empty(),
            "n{i}"
        );
    }
    assert_eq!(
        host_sh(sb, 1, "systemctl is-active etcd || true").trim(),
        "active"
    );
    assert!(!host_sh(sb, 1, "ls -d /var/lib/etcd/default.etcd")
        .trim()
        .is_empty());
    assert_eq!(site.vip_holders(), vec![1]);
}

#[test]
fn a_node_with_swap_on_is_refused_before_anything_is_installed() {
    if no_root("a_node_with_swap_on_is_refused_before_anything_is_installed") {
        return;
    }
    let site = Site::up(97);
    let sb = site.sb();
    // The kernel settings are the host's, not the flow's: swap on n4.
    host_sh(
        sb,
        4,
        "sed -i 's|\"swaps\": \\[\\]|\"swaps\": [\"/dev/sda2\"]|' /etc/etcdflow-sandbox/kernel.json",
    );
    let out = site.setup();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("n4: swap is on (/dev/sda2"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("swapoff -a"), "{}", out.stderr);
    // Refused in the first step: no package, no certificate, no service anywhere.
    for i in 1..=5 {
        assert_eq!(host_cat(sb, i, "/var/log/yum.log"), "", "n{i}");
        assert_eq!(host_cat(sb, i, "/etc/etcd/etcd.conf"), "", "n{i}");
    }
    assert!(!site.pki.exists(), "no certificate was made");
}
