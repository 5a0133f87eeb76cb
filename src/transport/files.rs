//! Verified file transfer: uploads staged in the agent's private directory and renamed
//! into place after a sha256 check on the renamed file; downloads to `.part`, checked,
//! fsynced and renamed.

use super::*;

/// The `mktemp` template of a file written next to `dest`: a dot file, so a directory
/// that loads every file (a kubelet's static pod manifests) does not load it.
fn hidden_temp(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/.{base}.etcdflow-XXXXXXXXXX"),
        None => format!(".{dest}.etcdflow-XXXXXXXXXX"),
    }
}

/// A remote file as [`Conn::read_file`] found it.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    pub bytes: Vec<u8>,
    /// Octal, as `stat -c %a` prints it.
    pub mode: String,
    /// `uid:gid`.
    pub owner: String,
    /// The user that read it owns it (writing it back needs no `chown`).
    pub reader_is_owner: bool,
}

impl Conn {
    /// Upload bytes to `dest` atomically: staged as the login user in the agent's private
    /// directory, copied (as the target user, through sudo with `become`) into a fresh
    /// `mktemp` file next to `dest`, mode and owner set, its sha256 checked, renamed into
    /// place with `mv -T`. A destination that is a directory or a symlink is refused.
    /// Returns the sha256 and whether the destination changed.
    pub async fn put(
        &mut self,
        data: &[u8],
        dest: &str,
        mode: Option<&str>,
        owner: Option<&str>,
        timeout: Duration,
        become_: Option<(&str, Option<&str>)>,
    ) -> Result<(String, bool), TransportError> {
        let want = hex::encode(Sha256::digest(data));
        let as_target = |mut r: ExecRequest| {
            if let Some((u, pw)) = become_ {
                r.become_user = Some(u.to_string());
                r.become_password = pw.map(str::to_string);
            }
            r
        };
        // Unchanged already? Then nothing is written (idempotent re-runs).
        let probe = self
            .exec(&as_target(ExecRequest::argv(
                ["sha256sum", "--", dest],
                timeout,
            )))
            .await?;
        let current = String::from_utf8_lossy(&probe.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        let q = agent::quote;
        // A destination that is a symlink or a directory is refused, never followed.
        let kind = self
            .exec(&as_target(ExecRequest::shell(
                format!(
                    "if [ -h {d} ]; then echo symlink; elif [ -d {d} ]; then echo directory; fi",
                    d = q(dest)
                ),
                timeout,
            )))
            .await?;
        let kind = String::from_utf8_lossy(&kind.stdout).trim().to_string();
        if !kind.is_empty() {
            return Err(TransportError::Remote(format!(
                "{dest} is a {kind}; etcdflow writes regular files only and follows no link"
            )));
        }
        if current == want && mode.is_none() && owner.is_none() {
            return Ok((want, false));
        }
        let mut script = String::new();
        if current != want {
            // Upload into the agent's private directory (0700, made by `mktemp -d` or
            // owned by this user): nobody else can read it or swap it.
            let staged = format!("{}/stage-{}-{}", self.private_dir, self.next_id, nonce());
            let (child, mut stdin, mut stdout) = self
                .spawn_aux("umask 077 && set -C && cat > \"$1\"", &[&staged])
                .await?;
            let write = async {
                stdin.write_all(data).await?;
                stdin.shutdown().await?;
                drop(stdin);
                let mut sink = Vec::new();
                stdout.read_to_end(&mut sink).await?;
                Ok::<(), std::io::Error>(())
            };
            let sent = tokio::time::timeout(timeout, write).await;
            wait_child(child).await;
            let failed = match sent {
                Err(_) => Some(format!("uploading {dest} took longer than {timeout:?}")),
                Ok(Err(e)) => Some(format!("uploading {dest}: {e}")),
                Ok(Ok(())) => None,
            };
            if let Some(why) = failed {
                // Nothing is left behind: the partial staged file goes (best effort: the
                // connection may be gone), and a full disk is said as one.
                let _ = self
                    .exec(&ExecRequest::argv(["rm", "-f", "--", &staged], timeout))
                    .await;
                if let Some(full) = self
                    .disk_full(&self.private_dir.clone(), data.len(), timeout)
                    .await
                {
                    return Err(TransportError::Remote(full));
                }
                return Err(TransportError::Lost(why));
            }
            // As the target user: a fresh temp file next to the destination (mktemp:
            // O_EXCL, random name), the bytes copied in, mode and owner set, and the sha256
            // checked on that file right before it is renamed into place (`mv -T`: never
            // into a directory).
            // The expected sha256 comes on stdin, never in an argv a local user could read
            // (for a secret's bytes it would be a hash to crack offline).
            script.push_str("IFS= read -r __ef_want || exit 1\n");
            script.push_str(&format!(
                "__ef_t=$(mktemp -- {tmpl}) || exit 1\ntrap 'rm -f -- \"$__ef_t\"' EXIT\ncat -- {st} > \"$__ef_t\" || exit 1\n",
                tmpl = q(&hidden_temp(dest)),
                st = q(&staged),
            ));
            if let Some(m) = mode {
                script.push_str(&format!("chmod {} -- \"$__ef_t\" || exit 1\n", q(m)));
            }
            if let Some(o) = owner {
                script.push_str(&format!("chown {} -- \"$__ef_t\" || exit 1\n", q(o)));
            }
            script.push_str(&format!(
                "__ef_s=$(sha256sum < \"$__ef_t\") || exit 1\n[ \"${{__ef_s%% *}}\" = \"$__ef_want\" ] || {{ echo \"sha256 of the staged file differs from what was sent; nothing was replaced\" >&2; exit 1; }}\nmv -fT -- \"$__ef_t\" {d} || exit 1\ntrap - EXIT\n",
                d = q(dest),
            ));
            let mut req = as_target(ExecRequest::shell(script, timeout));
            req.stdin = Some(format!("{want}\n"));
            let r = self.exec(&req).await;
            let _ = self
                .exec(&ExecRequest::argv(["rm", "-f", "--", &staged], timeout))
                .await;
            let r = r?;
            if r.rc != 0 {
                let err = String::from_utf8_lossy(&r.stderr).trim().to_string();
                let dir = dest
                    .rsplit_once('/')
                    .map_or(".", |(d, _)| if d.is_empty() { "/" } else { d });
                if err.contains("No space left on device") || err.contains("Disk quota exceeded") {
                    if let Some(full) = self.disk_full(dir, data.len(), timeout).await {
                        return Err(TransportError::Remote(format!(
                            "{full} (nothing was replaced)"
                        )));
                    }
                }
                return Err(TransportError::Remote(format!("{dest}: {err}")));
            }
        } else {
            // Same bytes: only mode and owner, on the file itself (it is not a symlink).
            if let Some(m) = mode {
                script.push_str(&format!("chmod {} -- {} && ", q(m), q(dest)));
            }
            if let Some(o) = owner {
                script.push_str(&format!("chown -h {} -- {} && ", q(o), q(dest)));
            }
            script.push_str("true");
            let r = self
                .exec(&as_target(ExecRequest::shell(script, timeout)))
                .await?;
            if r.rc != 0 {
                return Err(TransportError::Remote(format!(
                    "{dest}: {}",
                    String::from_utf8_lossy(&r.stderr).trim()
                )));
            }
        }
        let changed = current != want;
        Ok((want, changed))
    }

    /// `Some("disk full on HOST: DIR ...")` when the filesystem of `dir` has no room for
    /// `size` bytes (or no free inode).
    async fn disk_full(&mut self, dir: &str, size: usize, timeout: Duration) -> Option<String> {
        let r = self
            .exec(&ExecRequest::argv(
                ["df", "-Pk", "--", dir],
                timeout.min(Duration::from_secs(30)),
            ))
            .await
            .ok()?;
        let out = String::from_utf8_lossy(&r.stdout);
        let line = out.lines().nth(1)?;
        let avail_kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
        let need_kib = (size as u64).div_ceil(1024) + 4;
        (avail_kib < need_kib).then(|| {
            format!(
                "disk full on {}: {dir} has {avail_kib} KiB free, the file is {} KiB",
                self.host,
                (size as u64).div_ceil(1024)
            )
        })
    }

    /// Read a remote file (as the target user with `become`): `None` when it does not
    /// exist; a symlink or a directory is refused, like [`Conn::put`]. Up to
    /// [`OUTPUT_CAP`] bytes.
    pub async fn read_file(
        &mut self,
        path: &str,
        timeout: Duration,
        become_: Option<(&str, Option<&str>)>,
    ) -> Result<Option<RemoteFile>, TransportError> {
        let q = agent::quote;
        let script = format!(
            "if [ -h {p} ]; then echo symlink; exit 0; elif [ -d {p} ]; then echo directory; exit 0; elif [ ! -e {p} ]; then echo absent; exit 0; fi\nstat -c 'file %a %u:%g' -- {p} || exit 1\necho \"$(id -u):$(id -g)\"\nexec cat -- {p}",
            p = q(path)
        );
        let mut req = ExecRequest::shell(script, timeout);
        if let Some((u, pw)) = become_ {
            req.become_user = Some(u.to_string());
            req.become_password = pw.map(str::to_string);
        }
        let r = self.exec(&req).await?;
        if r.rc != 0 {
            return Err(TransportError::Remote(format!(
                "{path}: {}",
                String::from_utf8_lossy(&r.stderr).trim()
            )));
        }
        if r.truncated {
            return Err(TransportError::Remote(format!(
                "{path} is larger than {} MiB",
                OUTPUT_CAP >> 20
            )));
        }
        let mut parts = r.stdout.splitn(3, |b| *b == b'\n');
        let head = String::from_utf8_lossy(parts.next().unwrap_or_default()).to_string();
        let mut words = head.split_whitespace();
        match words.next() {
            Some("absent") => return Ok(None),
            Some(kind @ ("symlink" | "directory")) => {
                return Err(TransportError::Remote(format!(
                    "{path} is a {kind}; etcdflow edits regular files only and follows no link"
                )))
            }
            _ => {}
        }
        let mode = words.next().unwrap_or("600").to_string();
        let owner = words.next().unwrap_or_default().to_string();
        let me = String::from_utf8_lossy(parts.next().unwrap_or_default())
            .trim()
            .to_string();
        let bytes = parts.next().unwrap_or_default().to_vec();
        Ok(Some(RemoteFile {
            bytes,
            mode,
            reader_is_owner: me == owner,
            owner,
        }))
    }

    /// Download `src` to `dest` on the controller: streamed to `dest.part`, hashed on the
    /// way, compared with the host's sha256, fsynced, renamed.
    /// With `become`, the host reads the file through `sudo -n` (passwordless sudo: a
    /// sudo password cannot reach the transfer channel without entering its argv).
    pub async fn fetch(
        &mut self,
        src: &str,
        dest: &Path,
        timeout: Duration,
        become_: Option<(&str, Option<&str>)>,
    ) -> Result<(String, u64), TransportError> {
        if let Some((_, Some(_))) = become_ {
            return Err(TransportError::Unsupported(
                "`fetch` with `become` needs passwordless sudo on the host".into(),
            ));
        }
        let mut probe = ExecRequest::argv(["sha256sum", "--", src], timeout);
        probe.become_user = become_.map(|(u, _)| u.to_string());
        let remote = self.exec(&probe).await?;
        if remote.rc != 0 {
            return Err(TransportError::Remote(format!(
                "{src}: {}",
                String::from_utf8_lossy(&remote.stderr).trim()
            )));
        }
        let want = String::from_utf8_lossy(&remote.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| TransportError::Local(format!("{}: {e}", parent.display())))?;
        }
        let part = PathBuf::from(format!("{}.part", dest.display()));
        let (child, stdin, mut stdout) = match become_ {
            Some((u, _)) => {
                self.spawn_aux("exec sudo -n -u \"$2\" -- cat -- \"$1\"", &[src, u])
                    .await?
            }
            None => self.spawn_aux("exec cat -- \"$1\"", &[src]).await?,
        };
        drop(stdin);
        let copy = async {
            // Owner-only: a fetched file may be a key (kubeadm's pki/ca.key); the operator
            // widens it on purpose. An old `.part` is replaced, never reused.
            let _ = tokio::fs::remove_file(&part).await;
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&part)
                .await?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).await?;
                total += n as u64;
            }
            file.sync_all().await?;
            Ok::<(String, u64), std::io::Error>((hex::encode(hasher.finalize()), total))
        };
        let (got, size) = tokio::time::timeout(timeout, copy)
            .await
            .map_err(|_| {
                TransportError::Lost(format!("fetching {src} took longer than {timeout:?}"))
            })?
            .map_err(|e| TransportError::Local(format!("{}: {e}", part.display())))?;
        wait_child(child).await;
        if got != want {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(TransportError::Remote(format!(
                "{src}: sha256 of the copy is `{got}`, the host has `{want}`"
            )));
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(|e| TransportError::Local(format!("{}: {e}", dest.display())))?;
        Ok((got, size))
    }
}
