//! `ansible_ssh_common_args` / `ansible_ssh_extra_args`: the ssh command-line options an
//! Ansible inventory gives, as ssh_config settings. etcdflow connects through the openssh
//! crate, which has no way to pass arbitrary options, so the options become a small
//! per-host ssh config that comes first (ssh uses the first value it reads for each
//! setting, as it would for options on its command line) and then includes the
//! operator's own config. These come from the operator's own inventory: `-F`,
//! `-o ProxyJump=...`, `-o ProxyCommand=...` are honoured as ssh would honour them.
//! Nothing is dropped: an option etcdflow cannot honour is an error, and one it
//! overrides on purpose (strict host keys, its own control connection) is said.

/// The ssh settings a host's inventory asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshArgs {
    /// `Key value` settings, in the order given.
    pub options: Vec<(String, String)>,
    /// `-F FILE`: config files to include (after the options).
    pub config_files: Vec<String>,
    /// Options accepted but overridden by etcdflow, with the reason (warnings).
    pub overridden: Vec<String>,
}

/// Keys etcdflow owns: host keys are always checked strictly (SAFETY.md inv. 23).
const REFUSED: &[(&str, &str)] = &[
    (
        "stricthostkeychecking",
        "host keys are always checked strictly; use `--accept-new-host-keys` to trust a new host on first use",
    ),
    (
        "userknownhostsfile",
        "give the known_hosts file with `--known-hosts FILE` (it is checked strictly)",
    ),
    (
        "globalknownhostsfile",
        "give the known_hosts file with `--known-hosts FILE` (it is checked strictly)",
    ),
    ("permitlocalcommand", "etcdflow runs no local command from ssh"),
    ("localcommand", "etcdflow runs no local command from ssh"),
];

/// Keys of the connection multiplexing etcdflow manages itself (one master per host).
const OVERRIDDEN: &[&str] = &["controlmaster", "controlpath", "controlpersist"];

fn option(kv: &str, out: &mut SshArgs) -> Result<(), String> {
    let (k, v) = match kv.split_once('=') {
        Some((k, v)) => (k.trim(), v.trim()),
        None => match kv.trim().split_once(char::is_whitespace) {
            Some((k, v)) => (k.trim(), v.trim()),
            None => return Err(format!("`-o {kv}` has no value")),
        },
    };
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("`{k}` is not an ssh option name"));
    }
    if v.contains(['\n', '\r', '\0']) {
        return Err(format!("the value of `{k}` contains a line break"));
    }
    let lower = k.to_ascii_lowercase();
    if let Some((_, why)) = REFUSED.iter().find(|(r, _)| *r == lower) {
        return Err(format!("`{k}` cannot be set from the inventory: {why}"));
    }
    if OVERRIDDEN.contains(&lower.as_str()) {
        out.overridden.push(format!(
            "`{k}={v}` does not apply: etcdflow keeps one master connection per host for the run"
        ));
        return Ok(());
    }
    out.options.push((k.to_string(), v.to_string()));
    Ok(())
}

/// Translate the ssh command-line options of one or more Ansible variables.
pub fn parse(text: &str) -> Result<SshArgs, String> {
    let words = shlex::split(text).ok_or_else(|| "unbalanced quotes".to_string())?;
    let mut out = SshArgs::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let Some(flag) = w.strip_prefix('-') else {
            return Err(format!(
                "`{w}` is not an ssh option (a host or command cannot be given here)"
            ));
        };
        let mut chars = flag.chars();
        let Some(c) = chars.next() else {
            return Err("a lone `-`".into());
        };
        let rest: String = chars.collect();
        // Options with an argument: attached (`-oKey=v`) or the next word.
        let mut arg = || -> Result<String, String> {
            if !rest.is_empty() {
                return Ok(rest.clone());
            }
            let a = words
                .get(i)
                .cloned()
                .ok_or_else(|| format!("`-{c}` needs a value"))?;
            i += 1;
            Ok(a)
        };
        match c {
            'o' => option(&arg()?, &mut out)?,
            'F' => out.config_files.push(arg()?),
            'J' => out.options.push(("ProxyJump".into(), arg()?)),
            'i' => out.options.push(("IdentityFile".into(), arg()?)),
            'p' => out.options.push(("Port".into(), arg()?)),
            'l' => out.options.push(("User".into(), arg()?)),
            'c' => out.options.push(("Ciphers".into(), arg()?)),
            'm' => out.options.push(("MACs".into(), arg()?)),
            'b' => out.options.push(("BindAddress".into(), arg()?)),
            'B' => out.options.push(("BindInterface".into(), arg()?)),
            'E' => out.options.push(("LogFile".into(), arg()?)),
            _ => {
                // Flags without an argument, possibly grouped (`-4C`).
                for f in flag.chars() {
                    let kv = match f {
                        'C' => ("Compression", "yes"),
                        '4' => ("AddressFamily", "inet"),
                        '6' => ("AddressFamily", "inet6"),
                        'A' => ("ForwardAgent", "yes"),
                        'a' => ("ForwardAgent", "no"),
                        'x' => ("ForwardX11", "no"),
                        'q' => ("LogLevel", "QUIET"),
                        'v' => ("LogLevel", "DEBUG"),
                        'K' => ("GSSAPIDelegateCredentials", "yes"),
                        'k' => ("GSSAPIDelegateCredentials", "no"),
                        'T' | 't' => {
                            out.overridden.push(format!("`-{f}` does not apply: etcdflow decides the terminal allocation of its own channel"));
                            continue;
                        }
                        other => {
                            return Err(format!(
                                "`-{other}` is an ssh option etcdflow cannot honour (forwarding, a command, a background master)"
                            ))
                        }
                    };
                    out.options.push((kv.0.to_string(), kv.1.to_string()));
                }
            }
        }
    }
    Ok(out)
}

impl SshArgs {
    /// The settings as ssh_config lines for `host` (the destination ssh is given), then
    /// the included files for every host. Scoped to the host as options on ssh's command
    /// line are: a `ProxyJump` child reads the same file and must not jump again.
    pub fn config_text(&self, host: &str, include: &[String]) -> String {
        let mut s = String::from("# written by etcdflow from the inventory's ssh options\n");
        s.push_str(&format!("Host {host}\n"));
        for (k, v) in &self.options {
            // The rest of the line is the value for commands; quote the others.
            let value =
                if k.eq_ignore_ascii_case("ProxyCommand") || !v.contains(char::is_whitespace) {
                    v.clone()
                } else {
                    format!("\"{}\"", v.replace('"', ""))
                };
            s.push_str(&format!("  {k} {value}\n"));
        }
        s.push_str("Host *\n");
        for f in self.config_files.iter().chain(include) {
            s.push_str(&format!("  Include \"{}\"\n", f.replace('"', "")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_settings() {
        let a = parse("-o ProxyJump=root@10.0.0.1 -oServerAliveInterval=5 -C -F site.cfg -J b2")
            .expect("parses");
        assert_eq!(
            a.options,
            [
                ("ProxyJump".to_string(), "root@10.0.0.1".to_string()),
                ("ServerAliveInterval".to_string(), "5".to_string()),
                ("Compression".to_string(), "yes".to_string()),
                ("ProxyJump".to_string(), "b2".to_string()),
            ]
        );
        assert_eq!(a.config_files, ["site.cfg"]);
    }

    #[test]
    fn proxy_command_keeps_its_words() {
        let a = parse("-o 'ProxyCommand=ssh -W %h:%p bastion'").expect("parses");
        assert_eq!(
            a.config_text("10.0.0.2", &[]).lines().nth(2),
            Some("  ProxyCommand ssh -W %h:%p bastion")
        );
    }

    #[test]
    fn weakening_host_keys_is_refused() {
        for bad in [
            "-o StrictHostKeyChecking=no",
            "-o UserKnownHostsFile=/dev/null",
            "-L 8080:localhost:80",
            "-N",
            "bastion",
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn control_options_are_said_not_dropped() {
        let a = parse("-o ControlMaster=auto -o ControlPersist=60s").expect("parses");
        assert!(a.options.is_empty());
        assert_eq!(a.overridden.len(), 2);
    }
}
