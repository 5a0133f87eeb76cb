//! Validators for values that reach a host as command words in a fixed position (a file
//! mode, an owner, an environment name, a remote path). The checker applies them to
//! literals; the runtime applies them to every value before it is used, so a value
//! computed from a param, a host var or a command's output can never become an option
//! (`--reference=/etc/shadow`) or an unexpected path.

/// An octal file mode: 3 or 4 octal digits. setuid, setgid and sticky bits and
/// world-writable files are refused: no procedure of etcdflow needs them, and a value that
/// sets them is far more likely a mistake or an attack.
pub fn mode(s: &str) -> Result<u32, String> {
    if !(3..=4).contains(&s.len()) || !s.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(format!(
            "`{s}` is not an octal file mode (3 or 4 octal digits, like \"0644\")"
        ));
    }
    let m = u32::from_str_radix(s, 8).map_err(|e| e.to_string())?;
    if m & 0o7000 != 0 {
        return Err(format!("mode `{s}` sets the setuid, setgid or sticky bit"));
    }
    if m & 0o002 != 0 {
        return Err(format!("mode `{s}` makes the file writable by every user"));
    }
    Ok(m)
}

fn name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && (s.chars().all(|c| c.is_ascii_digit())
            || (s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')))
}

/// `user`, `user:group` or `:group` (names or numeric ids).
pub fn owner(s: &str) -> Result<(), String> {
    let ok = match s.split_once(':') {
        Some(("", g)) => name(g),
        Some((u, g)) => name(u) && name(g),
        None => name(s),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not `user`, `user:group` or `:group`"))
    }
}

/// An environment variable name.
pub fn env_name(k: &str) -> Result<(), String> {
    let ok = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{k}` is not an environment variable name"))
    }
}

/// A path on a host: absolute, normalised (no `.`/`..` components, no empty ones), never
/// `/`, no control characters.
pub fn remote_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{p}` is not an absolute path"));
    }
    if p.trim_end_matches('/').is_empty() {
        return Err("`/` is never a target".into());
    }
    if p.chars().any(char::is_control) {
        return Err(format!(
            "`{}` contains a control character",
            p.escape_debug()
        ));
    }
    if p.split('/').skip(1).any(|c| c == ".." || c == ".") {
        return Err(format!("`{p}` has a `.` or `..` component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode("0644"), Ok(0o644));
        assert_eq!(mode("600"), Ok(0o600));
        for bad in [
            "--reference=/etc/passwd",
            "4777",
            "6777",
            "7777",
            "1777",
            "0666",
            "644x",
            "99",
        ] {
            assert!(mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners() {
        for ok in ["root", "etcd:etcd", ":wheel", "1000:1000", "kube-apiserver"] {
            assert!(owner(ok).is_ok(), "{ok}");
        }
        for bad in ["--reference=/etc/shadow", "a b", "root;id", "", "Root"] {
            assert!(owner(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names_and_paths() {
        assert!(env_name("ETCDCTL_API").is_ok());
        assert!(env_name("--split-string=x").is_err());
        assert!(env_name("A=B").is_err());
        assert!(remote_path("/var/lib/etcd").is_ok());
        for bad in ["..", "-x", "rel/p", "/", "/a/../b", "/a/./b", "/a\nb"] {
            assert!(remote_path(bad).is_err(), "{bad}");
        }
    }
}
