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

/// A URL split the one way etcdflow reads URLs (check literals, guard comparisons,
/// endpoints): scheme, host (brackets dropped, lowercased, IP addresses canonical), port,
/// and whatever follows the authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    /// User info (`u@`) was present.
    pub userinfo: bool,
    /// Path, query or fragment after the authority ("" or "/" when none).
    pub rest: String,
}

pub fn parse_url(s: &str) -> Result<Url, String> {
    let (scheme, after) = s
        .split_once("://")
        .ok_or_else(|| "no scheme: etcd would silently assume `http://`".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    let cut = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(cut);
    if authority.is_empty() {
        return Err("no host after the scheme".into());
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`$;&|<>\\".contains(c))
    {
        return Err("the host part has spaces or shell metacharacters".into());
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((_, hp)) => (true, hp),
        None => (false, authority),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| "an unclosed `[` in the host".to_string())?;
            let h = h
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{h}` is not an IPv6 address"))?;
            (format!("[{h}]"), p.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("an IPv6 address goes in brackets".into())
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host_port.to_string(), None),
        },
    };
    if host.is_empty() {
        return Err("no host before the port".into());
    }
    let host = match host.parse::<std::net::Ipv4Addr>() {
        Ok(v4) => v4.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    };
    let port = match port.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("port `{p}` is not in 1..65535"))?,
        ),
    };
    Ok(Url {
        scheme,
        host,
        port,
        userinfo,
        rest: rest.to_string(),
    })
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn one_url_reading() {
        let u = parse_url("HTTPS://Etcd-B.Internal:02380/").expect("parses");
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.rest.as_str()),
            ("https", "etcd-b.internal", Some(2380), "/")
        );
        let u = parse_url("http://[FD00:0::1]:2379").expect("parses");
        assert_eq!(u.host, "[fd00::1]");
        assert!(parse_url("10.0.0.1:2380").is_err());
        assert!(parse_url("https://:2380").is_err());
        assert!(parse_url("https://a:99999").is_err());
        assert!(parse_url("https://a;b").is_err());
        assert!(parse_url("http://fd00::1:2380").is_err());
    }
}
