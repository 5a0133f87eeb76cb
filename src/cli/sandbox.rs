//! `etcdflow sandbox up|down|status`: a local rehearsal cluster (Linux, root).

use super::Exit;
use crate::sandbox;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    cmd: SandboxCmd,
}

#[derive(Subcommand, Debug)]
enum SandboxCmd {
    /// Start N hosts (network namespaces with sshd, optionally etcd).
    Up {
        /// Number of hosts.
        #[arg(long, default_value_t = 3)]
        hosts: usize,
        /// Run an etcd 3.x member on every host (one cluster), as an ICP static pod.
        #[arg(long)]
        etcd: bool,
        /// Run etcd on the first K hosts only (the others are ready to join).
        #[arg(long, value_name = "K", conflicts_with = "etcd")]
        etcd_members: Option<usize>,
        /// What the hosts are shaped like: `icp` (etcd as ICP's static pod), `kops` (a
        /// kops master with etcd `main` and `events`, and new masters beside it),
        /// `domeos` (old and new etcd hosts, an old and a new master, nodes) or `kubeadm`
        /// (empty hosts for kubeadm2ha); the kops and domeos profiles start their own etcd
        /// (--etcd not needed), the kubeadm profile none.
        #[arg(long, value_enum, default_value_t = sandbox::Profile::Icp)]
        profile: sandbox::Profile,
        /// Where the sandbox keeps its files.
        #[arg(long, default_value = ".etcdflow/sandbox")]
        dir: PathBuf,
        /// Subnet: hosts get 10.213.NET.11, .12, ...
        #[arg(long, default_value_t = 7)]
        net: u8,
    },
    /// Stop every process of the sandbox and remove it.
    Down {
        /// Where the sandbox keeps its files.
        #[arg(long, default_value = ".etcdflow/sandbox")]
        dir: PathBuf,
    },
    /// Show the hosts and whether sshd and etcd run.
    Status {
        /// Where the sandbox keeps its files.
        #[arg(long, default_value = ".etcdflow/sandbox")]
        dir: PathBuf,
    },
}

impl SandboxArgs {
    pub(crate) fn run(self) -> Exit {
        let r = match self.cmd {
            SandboxCmd::Up {
                hosts,
                etcd,
                etcd_members,
                profile,
                dir,
                net,
            } => sandbox::up_profile(
                &dir,
                hosts,
                etcd_members.unwrap_or(if etcd { hosts } else { 0 }),
                net,
                profile,
            )
            .map(|s| {
                crate::out!("sandbox up: {} hosts in {}", s.hosts, s.dir.display());
                crate::out!("  inventory:   {}", s.inventory().display());
                crate::out!("  ssh config:  {}", s.ssh_config().display());
                crate::out!("  known hosts: {}", s.known_hosts().display());
                crate::out!(
                    "try: etcdflow run FLOW -i {} -F {}",
                    s.inventory().display(),
                    s.ssh_config().display()
                );
            }),
            SandboxCmd::Down { dir } => sandbox::down(&dir).map(|()| crate::out!("sandbox down")),
            SandboxCmd::Status { dir } if !dir.join("state").exists() => {
                super::error(
                    "sandbox-error",
                    format!("no sandbox in {}", dir.display()),
                    Some(format!(
                        "`etcdflow sandbox up --dir {}` starts one",
                        dir.display()
                    )),
                );
                return Exit::Failed;
            }
            SandboxCmd::Status { dir } => sandbox::status(&dir).map(|s| print!("{s}")),
        };
        match r {
            Ok(()) => Exit::Ok,
            Err(e) => {
                super::error("sandbox-error", e.to_string(), Some("the sandbox needs Linux, root, iproute2, openssh-server (and etcd-server for --etcd)".into()));
                Exit::Failed
            }
        }
    }
}
