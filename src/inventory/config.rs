//! `ansible.cfg`, found the way Ansible finds it (`ANSIBLE_CONFIG`, `./ansible.cfg`,
//! `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`: the first that exists), and the
//! `ANSIBLE_*` environment variables that override it. etcdflow reads what changes which
//! hosts it reaches and how: `[defaults] inventory`, `remote_user`, `private_key_file`,
//! `host_key_checking` and `[ssh_connection] ssh_args`.

use crate::diagnostics::Diagnostic;
use std::path::{Path, PathBuf};

/// What ansible.cfg and the environment say; resolved once per run and journaled.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Defaults {
    /// The ansible.cfg read, if any.
    pub file: Option<PathBuf>,
    /// `[defaults] inventory` / `ANSIBLE_INVENTORY`: used when no `-i` is given.
    pub inventory: Vec<PathBuf>,
    /// `remote_user` / `ANSIBLE_REMOTE_USER`: the user of hosts without `ansible_user`.
    pub remote_user: Option<String>,
    /// `private_key_file` / `ANSIBLE_PRIVATE_KEY_FILE`.
    pub private_key_file: Option<String>,
    /// `[ssh_connection] ssh_args` / `ANSIBLE_SSH_ARGS`: before every host's own args.
    pub ssh_args: Option<String>,
    /// `host_key_checking` / `ANSIBLE_HOST_KEY_CHECKING` (etcdflow checks strictly anyway).
    pub host_key_checking: Option<bool>,
    /// `remote_port` / `ANSIBLE_REMOTE_PORT`: the port of hosts without `ansible_port`.
    #[serde(default)]
    pub remote_port: Option<u16>,
    /// Settings that change how Ansible connects or escalates and that etcdflow does not
    /// honour: (`section.key = value`, line, an error rather than a warning). Said, never
    /// dropped.
    #[serde(default)]
    pub unsupported: Vec<(String, usize, bool)>,
}

/// The ansible.cfg Ansible would read from `cwd`, if any.
fn find(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(c) = env("ANSIBLE_CONFIG").filter(|c| !c.is_empty()) {
        let p = expand(&c, cwd);
        let p = if p.is_dir() { p.join("ansible.cfg") } else { p };
        if p.exists() {
            return Some(p);
        }
    }
    // Ansible skips ./ansible.cfg in a world-writable directory.
    let here = cwd.join("ansible.cfg");
    let world_writable = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(cwd).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
    };
    if here.exists() && !world_writable {
        return Some(here);
    }
    if let Some(home) = env("HOME") {
        let p = Path::new(&home).join(".ansible.cfg");
        if p.exists() {
            return Some(p);
        }
    }
    let etc = PathBuf::from("/etc/ansible/ansible.cfg");
    etc.exists().then_some(etc)
}

/// `~` and relative paths, as Ansible's `path` settings resolve them (relative to `base`).
fn expand(v: &str, base: &Path) -> PathBuf {
    let v = v.trim();
    let p = match v.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(v)),
        None => PathBuf::from(v),
    };
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// `key = value` / `key: value` by `[section]`, as Python's configparser reads it with
/// Ansible's settings: keys lower-cased, `#`/`;` comment lines, ` ;` inline comments,
/// indented continuation lines.
fn parse_ini(text: &str) -> Vec<(String, String, String, usize)> {
    let mut out: Vec<(String, String, String, usize)> = Vec::new();
    let mut section = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.2.push('\n');
                last.2.push_str(t);
            }
            continue;
        }
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        let at = match (t.find('='), t.find(':')) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => continue,
        };
        let key = t[..at].trim().to_ascii_lowercase();
        let mut val = t[at + 1..].trim().to_string();
        if let Some(i) = val.find(" ;").or_else(|| val.find("\t;")) {
            val.truncate(i);
            val = val.trim_end().to_string();
        }
        out.push((section.clone(), key, val, n + 1));
    }
    out
}

/// A setting that changes how Ansible connects or escalates and that etcdflow does not
/// honour: `Some(true)` when it changes which host or user is reached or how privileges
/// are taken (an error), `Some(false)` when etcdflow does the same its own way (a warning).
fn unhonoured(section: &str, key: &str, val: &str) -> Option<bool> {
    match (section, key) {
        ("defaults", "transport") | ("defaults", "connection") => Some(!matches!(
            val.trim(),
            "ssh" | "smart" | "local" | "paramiko"
        )),
        ("defaults", "ask_pass") | ("defaults", "ask_become_pass") => {
            boolean(val).unwrap_or(true).then_some(true)
        }
        ("defaults" | "privilege_escalation", "become") => {
            boolean(val).unwrap_or(true).then_some(true)
        }
        ("defaults" | "privilege_escalation", "become_method") => {
            (val.trim() != "sudo").then_some(true)
        }
        ("defaults" | "privilege_escalation", "become_user" | "become_exe" | "become_flags") => {
            Some(true)
        }
        ("defaults", "timeout" | "remote_tmp")
        | (
            "ssh_connection",
            "pipelining" | "control_path" | "control_path_dir" | "scp_if_ssh" | "transfer_method"
            | "retries" | "sftp_batch_mode" | "usetty",
        ) => Some(false),
        ("ssh_connection", "ssh_executable" | "sftp_extra_args" | "scp_extra_args") => Some(true),
        _ => None,
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "on" | "true" | "t" => Some(true),
        "0" | "no" | "n" | "off" | "false" | "f" | "" => Some(false),
        _ => None,
    }
}

impl Defaults {
    /// Read the ansible.cfg Ansible would read from `cwd`, then the environment.
    pub fn discover(cwd: &Path) -> Result<Defaults, Diagnostic> {
        Self::discover_with(cwd, &|k| std::env::var(k).ok())
    }

    pub fn discover_with(
        cwd: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Defaults, Diagnostic> {
        let mut d = Defaults::default();
        if let Some(f) = find(cwd, env) {
            let text = std::fs::read_to_string(&f).map_err(|e| {
                Diagnostic::error(
                    "file-not-found",
                    format!("cannot read `{}`: {e}", f.display()),
                )
            })?;
            let base = f.parent().map(Path::to_path_buf).unwrap_or_default();
            for (section, key, val, line) in parse_ini(&text) {
                match (section.as_str(), key.as_str()) {
                    ("defaults", "inventory" | "hostfile") => {
                        d.inventory = val
                            .split(',')
                            .filter(|p| !p.trim().is_empty())
                            .map(|p| expand(p, &base))
                            .collect();
                    }
                    ("defaults", "remote_user") => d.remote_user = Some(val),
                    ("defaults", "private_key_file") => {
                        d.private_key_file = Some(expand(&val, &base).display().to_string());
                    }
                    ("defaults", "host_key_checking") => {
                        d.host_key_checking = Some(boolean(&val).ok_or_else(|| {
                            Diagnostic::error(
                                "invalid-ansible-cfg",
                                format!(
                                    "{}:{line}: `host_key_checking = {val}` is not a boolean",
                                    f.display()
                                ),
                            )
                            .help("write `True` or `False`")
                        })?);
                    }
                    ("ssh_connection", "ssh_args") => d.ssh_args = Some(val),
                    // Ansible puts them after `ssh_args` on ssh's command line.
                    ("ssh_connection", "ssh_common_args" | "ssh_extra_args") => {
                        d.ssh_args = Some(match d.ssh_args.take() {
                            Some(a) => format!("{a} {val}"),
                            None => val,
                        });
                    }
                    ("defaults", "remote_port") => {
                        d.remote_port = Some(val.trim().parse().map_err(|_| {
                            Diagnostic::error(
                                "invalid-ansible-cfg",
                                format!(
                                    "{}:{line}: `remote_port = {val}` is not a port",
                                    f.display()
                                ),
                            )
                            .help("a port in 1..65535")
                        })?);
                    }
                    (sec, k) => {
                        if let Some(error) = unhonoured(sec, k, &val) {
                            d.unsupported
                                .push((format!("[{sec}] {k} = {val}"), line, error));
                        }
                    }
                }
            }
            d.file = Some(f);
        }
        // The environment wins over the file, as in Ansible.
        if let Some(v) = env("ANSIBLE_INVENTORY").filter(|v| !v.is_empty()) {
            d.inventory = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| expand(p, cwd))
                .collect();
        }
        if let Some(v) = env("ANSIBLE_REMOTE_USER").filter(|v| !v.is_empty()) {
            d.remote_user = Some(v);
        }
        if let Some(v) = env("ANSIBLE_PRIVATE_KEY_FILE").filter(|v| !v.is_empty()) {
            d.private_key_file = Some(expand(&v, cwd).display().to_string());
        }
        if let Some(v) = env("ANSIBLE_SSH_ARGS") {
            d.ssh_args = Some(v);
        }
        if let Some(v) = env("ANSIBLE_REMOTE_PORT").filter(|v| !v.is_empty()) {
            d.remote_port = v.trim().parse().ok();
        }
        if let Some(v) = env("ANSIBLE_HOST_KEY_CHECKING") {
            d.host_key_checking = boolean(&v);
        }
        Ok(d)
    }

    /// Warnings and errors about these defaults, once per run (not once per host).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let origin = self.file.as_ref().map_or_else(
            || "the environment".to_string(),
            |f| f.display().to_string(),
        );
        if let Some(u) = &self.remote_user {
            if let Err(why) = super::check_user(u) {
                out.push(
                    Diagnostic::error(
                        "invalid-inventory-host",
                        format!("`remote_user = {u}` of {origin} is not allowed: {why}"),
                    )
                    .help("users are plain login names"),
                );
            }
        }
        for (setting, line, error) in &self.unsupported {
            let what = format!(
                "`{setting}` ({origin}:{line}) changes how Ansible connects or escalates, and etcdflow does not honour it"
            );
            out.push(if *error {
                Diagnostic::error("unsupported-inventory-var", what).help(
                    "remove it from the ansible.cfg etcdflow reads (or point ANSIBLE_CONFIG at one without it); per host, set `ansible_become`/`ansible_user` in the inventory",
                )
            } else {
                Diagnostic::warning("unsupported-inventory-var", format!("{what}: etcdflow does the same its own way (one ssh master per host, `--connect-timeout`, its own private directory)"))
                    .help("remove it to silence this")
            });
        }
        if self.host_key_checking == Some(false) {
            out.push(
                Diagnostic::warning(
                    "unsupported-inventory-var",
                    format!("{origin} turns host key checking off: etcdflow always checks host keys strictly"),
                )
                .help("add the keys to known_hosts, or pass `--accept-new-host-keys` to trust new hosts on first use"),
            );
        }
        if let Some(a) = &self.ssh_args {
            match super::ssh_args::parse(a) {
                Ok(p) => {
                    for o in p.overridden {
                        out.push(
                            Diagnostic::warning(
                                "unsupported-inventory-var",
                                format!("`ssh_args` of {origin}: ssh option {o}"),
                            )
                            .help("remove it from `ssh_args` to silence this"),
                        );
                    }
                }
                Err(why) => out.push(
                    Diagnostic::error(
                        "unsupported-inventory-var",
                        format!("`ssh_args` of {origin} cannot be honoured: {why}"),
                    )
                    .help("fix `[ssh_connection] ssh_args`"),
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn reads_what_changes_the_connection() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            d.path().join("ansible.cfg"),
            "[defaults]\ninventory = inv/hosts, other ; a comment\nremote_user=deploy\nprivate_key_file: keys/id\nhost_key_checking = False\n\n[ssh_connection]\nssh_args = -o ProxyJump=bastion\n  -o ServerAliveInterval=5\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got =
            Defaults::discover_with(d.path(), &env_of(&[])).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            got.inventory,
            [d.path().join("inv/hosts"), d.path().join("other")]
        );
        assert_eq!(got.remote_user.as_deref(), Some("deploy"));
        assert_eq!(
            got.private_key_file,
            Some(d.path().join("keys/id").display().to_string())
        );
        assert_eq!(got.host_key_checking, Some(false));
        assert_eq!(
            got.ssh_args.as_deref(),
            Some("-o ProxyJump=bastion\n-o ServerAliveInterval=5")
        );
        assert_eq!(got.diagnostics().len(), 1, "host_key_checking off is said");
    }

    #[test]
    fn ansible_config_and_the_environment_win() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            d.path().join("ansible.cfg"),
            "[defaults]\nremote_user = here\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let other = d.path().join("site.cfg");
        std::fs::write(&other, "[defaults]\nremote_user = site\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let cfg = other.display().to_string();
        let got = Defaults::discover_with(d.path(), &env_of(&[("ANSIBLE_CONFIG", &cfg)]))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got.remote_user.as_deref(), Some("site"));
        let got = Defaults::discover_with(
            d.path(),
            &env_of(&[("ANSIBLE_REMOTE_USER", "env"), ("ANSIBLE_INVENTORY", "a,b")]),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got.remote_user.as_deref(), Some("env"));
        assert_eq!(got.inventory, [d.path().join("a"), d.path().join("b")]);
    }

    #[test]
    fn settings_that_change_the_connection_are_used_or_said() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            d.path().join("ansible.cfg"),
            "[defaults]\nremote_port = 2222\ntimeout = 30\n\n[privilege_escalation]\nbecome = True\nbecome_method = sudo\n\n[ssh_connection]\nssh_args = -C\nssh_common_args = -o ServerAliveInterval=5\npipelining = True\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got =
            Defaults::discover_with(d.path(), &env_of(&[])).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(got.remote_port, Some(2222));
        assert_eq!(got.ssh_args.as_deref(), Some("-C -o ServerAliveInterval=5"));
        let said: Vec<(String, bool)> = got
            .diagnostics()
            .iter()
            .map(|x| {
                (
                    x.message.split('`').nth(1).unwrap_or_default().to_string(),
                    x.is_error(),
                )
            })
            .collect();
        assert_eq!(
            said,
            [
                ("[defaults] timeout = 30".to_string(), false),
                ("[privilege_escalation] become = True".to_string(), true),
                ("[ssh_connection] pipelining = True".to_string(), false),
            ]
        );
    }
}
