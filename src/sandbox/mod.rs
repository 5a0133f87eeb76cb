//! The rehearsal sandbox: hosts as Linux network namespaces on this machine, each with a
//! private mount namespace, a real sshd and optionally a real etcd member
//! (`sandbox.sh`, embedded). `up` prints the directory that holds the inventory, the ssh
//! config and the known_hosts file; `down` kills every process in the hosts' namespaces
//! and removes the namespaces, the bridge and the directory.
#![allow(clippy::disallowed_methods)] // the sandbox runs its script

use std::path::{Path, PathBuf};
use std::process::Command;

/// The profiles' functions first (`kops.sh`), then the commands (`sandbox.sh`).
const SCRIPT: &str = concat!(
    include_str!("kops.sh"),
    include_str!("domeos.sh"),
    include_str!("kubeadm.sh"),
    include_str!("sandbox.sh")
);

/// The DomeOS profile's stand-ins (apiserver, kubelet, flanneld, kubectl), one program.
const DOMEOS_STANDIN: &str = include_str!("domeos-standin.py");

/// The kubeadm profile's stand-ins (yum, rpm, kernel settings, kubeadm, kubectl, kubelet,
/// keepalived, the apiserver), one program.
const KUBEADM_STANDIN: &str = include_str!("kubeadm-standin.py");

/// What the hosts are shaped like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// IBM Cloud Private masters (seed 003): etcd as the static pod
    /// `/etc/cfc/pods/etcd.json`, clients on 2379 and 4001.
    #[default]
    Icp,
    /// A single kops master and new masters beside it (seed 000): etcd `main` (4001/2380)
    /// and `events` (4002/2381) from `/etc/kubernetes/manifests/*.manifest`, members named
    /// by DNS, the first new master booted as kops boots it (state `new`).
    Kops,
    /// A DomeOS cluster whose etcd and master move to new machines (seed 002): 3 old and 3
    /// new etcd hosts (clients 4012, peers 4010, etcd a systemctl service configured by
    /// `/etc/sysconfig/etcd`), an old and a new master, nodes (`--hosts 10`: two).
    Domeos,
    /// Empty hosts for kubeadm2ha (seed 001): `primary-master` n1, `secondary-masters`
    /// n2-n3, `minions` n4.. (`--hosts 5`), `etcd` = the masters; packages from a local
    /// repo, read-only kernel settings, kubeadm/kubectl/kubelet/keepalived stand-ins, a
    /// TLS apiserver on 6443 and the virtual IP 10.213.NET.100.
    Kubeadm,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Icp => "icp",
            Profile::Kops => "kops",
            Profile::Domeos => "domeos",
            Profile::Kubeadm => "kubeadm",
        }
    }
}

/// A running sandbox's files.
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub hosts: usize,
    pub net: u8,
}

impl Sandbox {
    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    /// The address of host `i` (1-based).
    pub fn address(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.net, 10 + i)
    }
}

fn script(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT)
        .arg("sandbox.sh")
        .args(args)
        .env("ETCDFLOW_DOMEOS_STANDIN", DOMEOS_STANDIN)
        .env("ETCDFLOW_KUBEADM_STANDIN", KUBEADM_STANDIN)
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Bring up `hosts` hosts in `dir` on subnet `10.213.<net>.0/24`.
/// Start `hosts` hosts; the first `etcd` of them run an etcd member (one cluster).
pub fn up(dir: &Path, hosts: usize, etcd: usize, net: u8) -> Result<Sandbox, String> {
    up_profile(dir, hosts, etcd, net, Profile::Icp)
}

/// [`up`] with hosts shaped like `profile` (`Kops`: every host a master, `etcd` unused).
pub fn up_profile(
    dir: &Path,
    hosts: usize,
    etcd: usize,
    net: u8,
    profile: Profile,
) -> Result<Sandbox, String> {
    if !(1..=50).contains(&hosts) {
        return Err("a sandbox has 1 to 50 hosts".into());
    }
    let d = dir.display().to_string();
    let out = script(&[
        "up",
        &d,
        &hosts.to_string(),
        &etcd.min(hosts).to_string(),
        &net.to_string(),
        profile.name(),
    ])
    .inspect_err(|_| {
        // Leave nothing half-built behind.
        let _ = down(dir);
    })?;
    let dir = PathBuf::from(out.trim());
    Ok(Sandbox { dir, hosts, net })
}

pub fn down(dir: &Path) -> Result<(), String> {
    script(&["down", &dir.display().to_string()]).map(|_| ())
}

pub fn status(dir: &Path) -> Result<String, String> {
    script(&["status", &dir.display().to_string()])
}
