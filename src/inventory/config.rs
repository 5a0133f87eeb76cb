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
                    _ => {}
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
}
