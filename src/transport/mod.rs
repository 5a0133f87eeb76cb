//! Transports: how commands and files reach a host. Only this module spawns processes
//! or opens connections.
//!
//! A [`Conn`] is one host's connection for the whole run: for SSH, one multiplexed master
//! connection (the openssh crate, native mux) and one long-lived [`agent`] channel that
//! runs every command; a file transfer opens one more channel for its bytes. For `local`
//! the same agent runs as a local `sh`. One code path serves both, so the local transport
//! exercises the real protocol in unit tests; the SSH path is tested against real `sshd`s
//! in the sandbox.
#![allow(clippy::disallowed_methods)] // transport starts ssh and the local agent

pub mod agent;
pub mod etcd;
mod files;

pub use agent::{CommandLine, ExecRequest, ExecResult};
pub use files::RemoteFile;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Output kept per stream per command; the rest is counted and dropped.
pub const OUTPUT_CAP: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The connection could not be made (the message says why: refused, host key...).
    Connect(String),
    /// The connection broke while a request was in flight: its outcome is unknown.
    Lost(String),
    /// The host lacks something etcdflow needs (`timeout`, `sha256sum`, a POSIX shell).
    Unsupported(String),
    /// A local file could not be read or written.
    Local(String),
    /// A remote file operation failed (the message has the remote error).
    Remote(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(m) => write!(f, "cannot connect: {m}"),
            TransportError::Lost(m) => write!(f, "connection lost: {m}"),
            TransportError::Unsupported(m) => write!(f, "host not supported: {m}"),
            TransportError::Local(m) => write!(f, "local file: {m}"),
            TransportError::Remote(m) => write!(f, "{m}"),
        }
    }
}

/// How to reach hosts over SSH.
#[derive(Clone, Debug, Default)]
pub struct SshOptions {
    /// `-F FILE`: an ssh config file instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// A known_hosts file to check against (strictly) instead of ssh's default.
    pub known_hosts: Option<PathBuf>,
    /// Trust on first use: add unknown keys (a changed key is still fatal).
    pub accept_new_host_keys: bool,
    pub connect_timeout: Option<Duration>,
    /// Where the control sockets live (kept short: sockets have a ~100-byte path limit).
    pub control_dir: Option<PathBuf>,
}

/// Where a host is, as the inventory says.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: Option<String>,
    pub key_file: Option<String>,
    pub local: bool,
    /// Identifies this run on this host (`<run id>-<host>`).
    pub tag: String,
    /// The inventory's ssh options for this host (`ansible_ssh_common_args`...).
    pub ssh: crate::inventory::SshArgs,
}

/// A tag as a safe file-name word.
fn tag_word(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

type Reader = Box<dyn AsyncRead + Unpin + Send + Sync>;
type Writer = Box<dyn AsyncWrite + Unpin + Send + Sync>;

enum Link {
    Local,
    Ssh(Arc<openssh::Session>),
}

enum ChildHandle {
    Local(tokio::process::Child),
    Ssh(openssh::Child<Arc<openssh::Session>>),
}

/// One host's connection.
pub struct Conn {
    pub host: String,
    link: Link,
    child: Option<ChildHandle>,
    stdin: Writer,
    stdout: Reader,
    stderr: Reader,
    carry_out: Vec<u8>,
    carry_err: Vec<u8>,
    nonce: String,
    next_id: u64,
    /// The agent's private directory on the host (0700: state and staging files).
    private_dir: String,
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // /dev/urandom is always there on Linux; fall back to time and pid otherwise.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&(t ^ u128::from(std::process::id())).to_le_bytes());
    }
    hex::encode(bytes)
}

/// Runs short probes on a host while its connection serves a step elsewhere: another
/// channel of the same SSH master (or a local process for the controller).
#[derive(Clone)]
pub struct Prober {
    pub host: String,
    session: Option<Arc<openssh::Session>>,
}

/// What a TCP connection attempt from a host found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Something listens.
    Open,
    /// The machine answered with a reset: nothing listens yet, but it is there.
    Refused,
    /// No answer, or no route: a wrong address or a firewall.
    Silent(String),
}

const TCP_PROBE: &str = r#"out=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1); rc=$?
if [ "$rc" = 0 ]; then echo open
elif printf '%s' "$out" | grep -qi refused; then echo refused
elif [ "$rc" = 124 ]; then echo "silent: no answer within 3s"
else echo "silent: $out"; fi"#;

impl Prober {
    /// The addresses a name resolves to on this host (its `/etc/hosts`, its DNS), as
    /// `getent ahosts` gives them; empty when it does not resolve.
    pub async fn resolve(&self, name: &str) -> Result<Vec<String>, TransportError> {
        const SCRIPT: &str = "getent ahosts \"$1\" | awk '{print $1}' | sort -u";
        let out = match &self.session {
            Some(s) => s
                .command("sh")
                .arg("-c")
                .arg(SCRIPT)
                .arg("resolve")
                .arg(name)
                .output()
                .await
                .map_err(|e| TransportError::Lost(format!("resolve from {}: {e}", self.host)))?,
            None => tokio::process::Command::new("sh")
                .args(["-c", SCRIPT, "resolve", name])
                .output()
                .await
                .map_err(|e| TransportError::Local(format!("resolve: {e}")))?,
        };
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Try a TCP connection to `addr:port` from this host.
    pub async fn tcp(&self, addr: &str, port: u16) -> Result<Reach, TransportError> {
        let port = port.to_string();
        let out = match &self.session {
            Some(s) => s
                .command("sh")
                .arg("-c")
                .arg(TCP_PROBE)
                .arg("probe")
                .arg(addr)
                .arg(&port)
                .output()
                .await
                .map_err(|e| TransportError::Lost(format!("probe from {}: {e}", self.host)))?,
            None => tokio::process::Command::new("sh")
                .args(["-c", TCP_PROBE, "probe", addr, &port])
                .output()
                .await
                .map_err(|e| TransportError::Local(format!("probe: {e}")))?,
        };
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(match text.as_str() {
            "open" => Reach::Open,
            "refused" => Reach::Refused,
            other => Reach::Silent(other.trim_start_matches("silent: ").to_string()),
        })
    }
}

impl Conn {
    pub fn prober(&self) -> Prober {
        Prober {
            host: self.host.clone(),
            session: match &self.link {
                Link::Ssh(s) => Some(Arc::clone(s)),
                Link::Local => None,
            },
        }
    }

    /// Forward a fresh local TCP port on the controller (127.0.0.1) to `host:port` as
    /// this host reaches it, through the host's SSH master connection. Returns the local
    /// port. (How the controller reaches etcd members it cannot reach directly.)
    pub async fn forward(&self, host: &str, port: u16) -> Result<u16, TransportError> {
        match &self.link {
            Link::Local => Err(TransportError::Unsupported(format!(
                "`{}` is the controller itself: nothing to tunnel",
                self.host
            ))),
            Link::Ssh(s) => {
                let local = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(|e| TransportError::Local(format!("no free local port: {e}")))?
                    .port();
                s.request_port_forward(
                    openssh::ForwardType::Local,
                    openssh::Socket::TcpSocket {
                        host: "127.0.0.1".into(),
                        port: local,
                    },
                    openssh::Socket::TcpSocket {
                        host: host.to_string().into(),
                        port,
                    },
                )
                .await
                .map_err(|e| {
                    TransportError::Connect(format!(
                        "cannot forward a port to {host}:{port} through {}: {e}",
                        self.host
                    ))
                })?;
                Ok(local)
            }
        }
    }

    /// The controller itself.
    pub async fn local(name: &str) -> Result<Conn, TransportError> {
        let tag = format!("local-{}", nonce());
        Conn::local_tagged(name, &tag).await
    }

    /// The controller, as host `name` of run `tag` (commands the run left running
    /// are waited for first: see the agent script).
    pub async fn local_tagged(name: &str, tag: &str) -> Result<Conn, TransportError> {
        let nonce = nonce();
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(agent::AGENT)
            .arg("etcdflow-agent")
            .arg(tag_word(tag))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Connect(format!("cannot start a local shell: {e}")))?;
        let (Some(i), Some(o), Some(e)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(TransportError::Connect(
                "the local shell has no pipes".into(),
            ));
        };
        Conn::start(
            name,
            Link::Local,
            ChildHandle::Local(child),
            (Box::new(i), Box::new(o), Box::new(e)),
            nonce,
        )
        .await
    }

    /// One SSH master connection and the agent channel on it.
    pub async fn ssh(ep: &Endpoint, opts: &SshOptions) -> Result<Conn, TransportError> {
        let mut b = openssh::SessionBuilder::default();
        b.known_hosts_check(if opts.accept_new_host_keys {
            openssh::KnownHosts::Add
        } else {
            openssh::KnownHosts::Strict
        });
        b.port(ep.port);
        if let Some(u) = &ep.user {
            b.user(u.clone());
        }
        if let Some(k) = &ep.key_file {
            b.keyfile(k);
        }
        if let Some(k) = &opts.known_hosts {
            b.user_known_hosts_file(k);
        }
        b.connect_timeout(opts.connect_timeout.unwrap_or(Duration::from_secs(10)));
        b.server_alive_interval(Duration::from_secs(5));
        let dir = opts
            .control_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("etcdflow-{}", current_uid())));
        private_dir(&dir)?;
        b.control_directory(&dir);
        let mut generated: Option<PathBuf> = None;
        // The inventory's ssh options come first (ssh keeps the first value of each
        // setting, as for options on its command line), then the operator's config.
        if ep.ssh == crate::inventory::SshArgs::default() {
            if let Some(f) = &opts.config_file {
                b.config_file(f);
            }
        } else {
            let user_config = opts.config_file.clone().or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".ssh/config"))
                    .filter(|p| p.exists())
            });
            let mut args = ep.ssh.clone();
            let cwd = std::env::current_dir().unwrap_or_default();
            for f in &mut args.config_files {
                *f = cwd.join(&*f).display().to_string();
            }
            let include: Vec<String> = user_config
                .map(|p| cwd.join(p).display().to_string())
                .into_iter()
                .collect();
            let file = dir.join(format!("{}.ssh_config", tag_word(&ep.tag)));
            std::fs::write(&file, args.config_text(&ep.address, &include)).map_err(|e| {
                TransportError::Local(format!("ssh config {}: {e}", file.display()))
            })?;
            b.config_file(&file);
            generated = Some(file);
        }
        // The address was validated by the inventory loader (SAFETY.md inv. 22): no
        // leading `-`, no metacharacters, so it cannot become an ssh option.
        let session = b.connect_mux(&ep.address).await;
        // The master read its settings; the generated config is not needed any more.
        if let Some(f) = generated {
            let _ = std::fs::remove_file(f);
        }
        let session = session.map_err(|e| TransportError::Connect(ssh_error(&e)))?;
        let session = Arc::new(session);
        let nonce = nonce();
        let mut cmd = openssh::Session::to_command(Arc::clone(&session), "sh");
        cmd.arg("-c")
            .arg(agent::AGENT)
            .arg("etcdflow-agent")
            .arg(tag_word(&ep.tag));
        cmd.stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let mut child = cmd
            .spawn()
            .await
            .map_err(|e| TransportError::Connect(ssh_error(&e)))?;
        let (Some(i), Some(o), Some(e)) = (
            child.stdin().take(),
            child.stdout().take(),
            child.stderr().take(),
        ) else {
            return Err(TransportError::Connect(
                "the agent channel has no pipes".into(),
            ));
        };
        Conn::start(
            &ep.name,
            Link::Ssh(session),
            ChildHandle::Ssh(child),
            (Box::new(i), Box::new(o), Box::new(e)),
            nonce,
        )
        .await
    }

    /// A connection around a started agent, after its handshake.
    async fn start(
        name: &str,
        link: Link,
        child: ChildHandle,
        pipes: (Writer, Reader, Reader),
        nonce: String,
    ) -> Result<Conn, TransportError> {
        let (mut stdin, stdout, stderr) = pipes;
        // The nonce travels on the agent's stdin, never in argv (see `agent::AGENT`).
        stdin
            .write_all(format!("{nonce}\n").as_bytes())
            .await
            .map_err(|e| TransportError::Connect(format!("the agent channel: {e}")))?;
        let mut conn = Conn {
            host: name.to_string(),
            link,
            child: Some(child),
            stdin,
            stdout,
            stderr,
            carry_out: Vec::new(),
            carry_err: Vec::new(),
            nonce,
            next_id: 0,
            private_dir: String::new(),
        };
        conn.handshake().await?;
        Ok(conn)
    }

    /// Check once per host that the shell and tools the agent relies on are there
    /// (SAFETY.md inv. 20: the remote shell is POSIX).
    async fn handshake(&mut self) -> Result<(), TransportError> {
        // Run in the agent's own shell (not through `exec`) so it can read the agent's
        // private directory.
        let probe = "for t in timeout sha256sum cat mv chmod mktemp; do command -v \"$t\" >/dev/null 2>&1 || { echo \"missing $t\"; __ef_rc=3; }; done; [ -n \"$__ef_rc\" ] || printf 'ok %s' \"$__ef_dir\"";
        let r = self.exec_raw(probe, Duration::from_secs(1800)).await?;
        let out = String::from_utf8_lossy(&r.stdout).trim().to_string();
        match out.strip_prefix("ok ") {
            Some(dir) if dir.starts_with('/') && !dir.contains('\n') => {
                self.private_dir = dir.to_string();
                Ok(())
            }
            _ => Err(TransportError::Unsupported(out)),
        }
    }

    /// Run one command through the agent.
    pub async fn exec(&mut self, req: &ExecRequest) -> Result<ExecResult, TransportError> {
        self.exec_streaming(req, None).await
    }

    /// Run one command; `sink` gets its output line by line as it arrives ("stdout" or
    /// "stderr", the line without its newline); the result still holds all of it.
    pub async fn exec_streaming(
        &mut self,
        req: &ExecRequest,
        sink: Option<Sink>,
    ) -> Result<ExecResult, TransportError> {
        self.next_id += 1;
        let id = self.next_id;
        let text = agent::snippet(&self.nonce, id, req);
        self.exchange(id, &text, req.timeout, sink).await
    }

    /// Run `script` in the agent's own shell (it sees the agent's variables): only for
    /// etcdflow's own fixed probes, never for a flow's commands.
    async fn exec_raw(
        &mut self,
        script: &str,
        timeout: Duration,
    ) -> Result<ExecResult, TransportError> {
        self.next_id += 1;
        let id = self.next_id;
        let text = agent::raw_snippet(&self.nonce, id, script);
        self.exchange(id, &text, timeout, None).await
    }

    /// Send one snippet and read both streams up to its markers.
    async fn exchange(
        &mut self,
        id: u64,
        text: &str,
        timeout: Duration,
        sink: Option<Sink>,
    ) -> Result<ExecResult, TransportError> {
        let start = Instant::now();
        self.stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| TransportError::Lost(format!("sending a command: {e}")))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| TransportError::Lost(format!("sending a command: {e}")))?;
        // The remote `timeout` ends the command; this outer deadline only catches a
        // connection that stopped answering.
        let grace = timeout + Duration::from_secs(20);
        let nonce = self.nonce.clone();
        let (out, err) = {
            let out_fut = read_until_marker(
                &mut self.stdout,
                std::mem::take(&mut self.carry_out),
                &nonce,
                id,
                sink.clone().map(|s| ("stdout", s)),
            );
            let err_fut = read_until_marker(
                &mut self.stderr,
                std::mem::take(&mut self.carry_err),
                &nonce,
                id,
                sink.map(|s| ("stderr", s)),
            );
            match tokio::time::timeout(grace, async { tokio::join!(out_fut, err_fut) }).await {
                Ok(pair) => pair,
                Err(_) => return Err(TransportError::Lost(format!("no answer within {grace:?}"))),
            }
        };
        let (stdout, rc, rest_out, t1) = out?;
        let (stderr, _, rest_err, t2) = err?;
        self.carry_out = rest_out;
        self.carry_err = rest_err;
        Ok(ExecResult {
            rc,
            stdout,
            stderr,
            truncated: t1 || t2,
            timed_out: rc == 124 || rc == 137,
            duration: start.elapsed(),
        })
    }

    /// A second process for bulk bytes (file transfer), on the same connection.
    async fn spawn_aux(
        &self,
        script: &str,
        args: &[&str],
    ) -> Result<(ChildHandle, Writer, Reader), TransportError> {
        match &self.link {
            Link::Local => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(script).arg("etcdflow");
                c.args(args);
                let mut child = c
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| {
                        TransportError::Local(format!("cannot start a local shell: {e}"))
                    })?;
                let (Some(i), Some(o)) = (child.stdin.take(), child.stdout.take()) else {
                    return Err(TransportError::Local("no pipes".into()));
                };
                Ok((ChildHandle::Local(child), Box::new(i), Box::new(o)))
            }
            Link::Ssh(s) => {
                let mut cmd = openssh::Session::to_command(Arc::clone(s), "sh");
                cmd.arg("-c").arg(script).arg("etcdflow");
                for a in args {
                    cmd.arg(a);
                }
                cmd.stdin(openssh::Stdio::piped())
                    .stdout(openssh::Stdio::piped())
                    .stderr(openssh::Stdio::null());
                let mut child = cmd
                    .spawn()
                    .await
                    .map_err(|e| TransportError::Lost(ssh_error(&e)))?;
                let (Some(i), Some(o)) = (child.stdin().take(), child.stdout().take()) else {
                    return Err(TransportError::Lost("no pipes".into()));
                };
                Ok((ChildHandle::Ssh(child), Box::new(i), Box::new(o)))
            }
        }
    }

    /// End the agent and the master connection.
    pub async fn close(mut self) {
        // Closing stdin (dropping it) is what ends the agent's read loop.
        let mut stdin = std::mem::replace(&mut self.stdin, Box::new(tokio::io::sink()));
        let _ = stdin.shutdown().await;
        drop(stdin);
        if let Some(c) = self.child.take() {
            wait_child(c).await;
        }
        if let Link::Ssh(s) = self.link {
            if let Ok(s) = Arc::try_unwrap(s) {
                let _ = s.close().await;
            }
        }
    }
}

async fn wait_child(c: ChildHandle) {
    match c {
        ChildHandle::Local(mut c) => {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
        ChildHandle::Ssh(c) => {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
    }
}

/// Where streamed output goes: (stream, one line without its newline).
pub type Sink = std::sync::Arc<dyn Fn(&'static str, &[u8]) + Send + Sync>;

async fn read_until_marker(
    r: &mut Reader,
    carry: Vec<u8>,
    nonce: &str,
    id: u64,
    sink: Option<(&'static str, Sink)>,
) -> Result<(Vec<u8>, i32, Vec<u8>, bool), TransportError> {
    let mut scan = agent::MarkerScan::new(nonce, id, OUTPUT_CAP);
    let stream = |scan: &mut agent::MarkerScan| {
        if let Some((name, f)) = &sink {
            if let Some(lines) = scan.ready() {
                for l in lines.split(|b| *b == b'\n') {
                    f(name, l);
                }
            }
        }
    };
    let finish = |scan: &agent::MarkerScan, done: (Vec<u8>, i32, Vec<u8>, bool)| {
        if let Some((name, f)) = &sink {
            let rest = scan.unstreamed(&done.0);
            if !rest.is_empty() {
                for l in rest.split(|b| *b == b'\n') {
                    f(name, l);
                }
            }
        }
        done
    };
    if let Some(done) = scan.feed(&carry) {
        return Ok(finish(&scan, done));
    }
    stream(&mut scan);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r
            .read(&mut buf)
            .await
            .map_err(|e| TransportError::Lost(format!("reading output: {e}")))?;
        if n == 0 {
            return Err(TransportError::Lost("the host's shell exited".into()));
        }
        if let Some(done) = scan.feed(&buf[..n]) {
            return Ok(finish(&scan, done));
        }
        stream(&mut scan);
    }
}

fn ssh_error(e: &openssh::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A directory only this user can use: created 0700 if missing, and refused if it is a
/// symlink, belongs to someone else or is open to others (a local user who pre-creates
/// it could otherwise take over the control sockets).
fn private_dir(dir: &Path) -> Result<(), TransportError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let bad =
        |why: String| TransportError::Local(format!("control directory {}: {why}", dir.display()));
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| bad(e.to_string()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(bad(e.to_string())),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| bad(e.to_string()))?;
    if m.file_type().is_symlink() || !m.is_dir() {
        return Err(bad("is not a directory (a symlink?); remove it".into()));
    }
    if m.uid() != current_uid() {
        return Err(bad(format!(
            "belongs to uid {}, not to this user; remove it",
            m.uid()
        )));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(bad("others can write to it; remove it".into()));
    }
    if m.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

fn current_uid() -> u32 {
    // The crate forbids `unsafe` (libc::getuid would need it): read it from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
