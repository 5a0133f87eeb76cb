//! The per-host agent: one long-lived POSIX `sh` per host, fed shell snippets over its
//! stdin, answering with framed results on stdout and stderr. One process per host for
//! the whole run is what makes 50 steps on 10 hosts take a second instead of a minute
//! (no new SSH channel, no new login shell per command).
//!
//! Protocol. The agent is `sh -c AGENT etcdflow-agent TAG`; the first line it reads is
//! the session's random nonce, which therefore never appears in `/proc/*/cmdline` or
//! `environ` on the host. A request is a snippet of
//! shell text followed by a line `__EF_END_<NONCE>`; the agent `eval`s the snippet. Every
//! snippet ends by printing `\n@@EF <NONCE> <ID> <RC>\n` on stdout and on stderr; the
//! controller reads each stream up to that marker and drops the `\n` the snippet added
//! before it, so output without a trailing newline comes back exactly. The nonce is
//! random per session and known only to the controller and the agent's own shell, so no
//! command output can fake a marker.
//!
//! Every command runs under coreutils `timeout -k 5s`: a deadline sends TERM to the
//! command's whole process group, KILL 5 s later, and holds even if the connection to the
//! controller is lost (SAFETY.md fault matrix T3, T17). Values are never interpolated
//! into the snippet unquoted: every word is shell-quoted here (SAFETY.md inv. 20), and
//! `stdin` (the way secrets travel, inv. 24) is a quoted shell variable, never argv.

use std::time::Duration;

/// The agent loop. The nonce is the first line of its stdin (never in any process's
/// argv or environment on the host); `$1` is the run's tag for this host. Its state file
/// and staging files live in a private directory: `~/.cache/etcdflow` when it is this
/// user's own (so a later connection of the same run finds the state file), else a fresh
/// `mktemp -d`; a planted file or symlink in a shared directory cannot reach them.
pub const AGENT: &str = r#"IFS= read -r N || exit 0
__ef_umask=$(umask)
umask 077
__ef_dir="${HOME:-/nonexistent}/.cache/etcdflow"
if ! { mkdir -p "$__ef_dir" 2>/dev/null && [ -d "$__ef_dir" ] && [ ! -h "$__ef_dir" ] && [ -O "$__ef_dir" ]; }; then
  __ef_dir=$(mktemp -d "${TMPDIR:-/tmp}/etcdflow.XXXXXXXXXX") || { echo "etcdflow: no private directory" >&2; exit 3; }
fi
chmod 700 "$__ef_dir"
umask "$__ef_umask"
__ef_state="$__ef_dir/$1.pid"
[ -h "$__ef_state" ] && rm -f "$__ef_state"
# A command of this run that a dead controller left running on this host ends by its own
# deadline: wait for it before serving anything (SAFETY.md inv. 17).
if [ -f "$__ef_state" ] && [ -s "$__ef_state" ]; then
  __ef_p=$(cat "$__ef_state")
  while [ -n "$__ef_p" ] && kill -0 "$__ef_p" 2>/dev/null && grep -q timeout "/proc/$__ef_p/cmdline" 2>/dev/null; do sleep 0.1; done
fi
while :; do
  __ef_buf=''
  __ef_got=''
  while IFS= read -r __ef_l; do
    if [ "$__ef_l" = "__EF_END_$N" ]; then __ef_got=1; break; fi
    __ef_buf="$__ef_buf$__ef_l
"
  done
  [ -n "$__ef_got" ] || { rm -f "$__ef_state"; exit 0; }
  eval "$__ef_buf"
done"#;

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandLine {
    /// Run by `sh -c`; the text is already built with every value quoted.
    Shell(String),
    /// Run directly as argv.
    Argv(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct ExecRequest {
    pub command: CommandLine,
    /// Fed to the command's stdin (text; the channel for secrets).
    pub stdin: Option<String>,
    pub timeout: Duration,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    /// `sudo -n -u USER --` (passwordless sudo; "root" when `become` has no user).
    pub become_user: Option<String>,
    /// The sudo password, fed to `sudo -S` as the first line of stdin (never in argv).
    pub become_password: Option<String>,
}

impl ExecRequest {
    pub fn shell(cmd: impl Into<String>, timeout: Duration) -> ExecRequest {
        ExecRequest {
            command: CommandLine::Shell(cmd.into()),
            stdin: None,
            timeout,
            cwd: None,
            env: Vec::new(),
            become_user: None,
            become_password: None,
        }
    }

    pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(
        argv: I,
        timeout: Duration,
    ) -> ExecRequest {
        ExecRequest {
            command: CommandLine::Argv(argv.into_iter().map(Into::into).collect()),
            ..ExecRequest::shell("", timeout)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output beyond the capture limit was dropped (the command still ran to the end).
    pub truncated: bool,
    /// The deadline ended the command (`timeout` exit codes 124 and 137).
    pub timed_out: bool,
    pub duration: Duration,
}

/// Quote one word for a POSIX shell (`'...'` when needed).
pub fn quote(word: &str) -> String {
    if word.is_empty() {
        return "''".to_string();
    }
    if word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r#"'\''"#))
}

/// Seconds for `timeout`, rounded up to milliseconds.
fn secs(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

/// The snippet for one request.
pub fn snippet(nonce: &str, id: u64, req: &ExecRequest) -> String {
    let mut cmd = String::new();
    // With a password, `sudo -S -v` validates it first (password on stdin, its own pipe),
    // and the command then runs with `sudo -n`: the password can never reach the
    // command's stdin, even when sudo does not ask for it.
    let sudo_login = match (&req.become_user, &req.become_password) {
        (Some(_), Some(pw)) => format!("__ef_pw={}\nprintf '%s\\n' \"$__ef_pw\" | sudo -S -v -p '' 2>/dev/null\nunset __ef_pw\n", quote(pw)),
        _ => String::new(),
    };
    if let Some(u) = &req.become_user {
        cmd.push_str(&format!("sudo -n -u {} -- ", quote(u)));
    }
    if !req.env.is_empty() {
        cmd.push_str("env ");
        for (k, v) in &req.env {
            cmd.push_str(&quote(&format!("{k}={v}")));
            cmd.push(' ');
        }
    }
    cmd.push_str(&format!("timeout -k 5s {} ", secs(req.timeout)));
    match &req.command {
        CommandLine::Shell(s) => {
            cmd.push_str("sh -c ");
            cmd.push_str(&quote(s));
        }
        CommandLine::Argv(argv) => {
            let words: Vec<String> = argv.iter().map(|a| quote(a)).collect();
            cmd.push_str(&words.join(" "));
        }
    }
    let cd = match &req.cwd {
        Some(d) => format!("cd {} && ", quote(d)),
        None => String::new(),
    };
    // Without `cwd` the command runs straight from the agent (one fork less per command);
    // with it, in a subshell so that the agent's own directory never changes.
    let run = if cd.is_empty() {
        cmd
    } else {
        format!("({cd}exec {cmd})")
    };
    let body = match &req.stdin {
        Some(input) => format!(
            "{sudo_login}__ef_in={}\nprintf '%s' \"$__ef_in\" | {run} &\n",
            quote(input)
        ),
        None => format!("{sudo_login}{run} </dev/null &\n"),
    };
    // The command's pid goes to a state file while it runs: if the controller dies, the
    // command carries on (under its deadline), and the next connection of the same run
    // to this host waits for it before re-observing anything (SAFETY.md inv. 17).
    let body = format!("{body}__ef_p=$!\necho \"$__ef_p\" > \"$__ef_state\"\nwait \"$__ef_p\"\n__ef_rc=$?\n: > \"$__ef_state\"\nunset __ef_in\n");
    format!(
        "{body}printf '\\n@@EF %s %s %s\\n' \"$N\" {id} \"$__ef_rc\"\nprintf '\\n@@EF %s %s %s\\n' \"$N\" {id} \"$__ef_rc\" >&2\n__EF_END_{nonce}\n"
    )
}

/// A snippet evaluated in the agent's own shell, with its markers (`__ef_rc` is the
/// status it reports, 0 unless the script sets it).
pub fn raw_snippet(nonce: &str, id: u64, script: &str) -> String {
    format!(
        "__ef_rc=''\n{script}\n__ef_rc=${{__ef_rc:-0}}\nprintf '\\n@@EF %s %s %s\\n' \"$N\" {id} \"$__ef_rc\"\nprintf '\\n@@EF %s %s %s\\n' \"$N\" {id} \"$__ef_rc\" >&2\n__EF_END_{nonce}\n"
    )
}

/// Reads one stream up to the marker of request `id`, keeping at most `cap` bytes.
pub struct MarkerScan {
    marker: Vec<u8>,
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
    /// How much of `buf` [`MarkerScan::ready`] has handed out already.
    streamed: usize,
}

impl MarkerScan {
    pub fn new(nonce: &str, id: u64, cap: usize) -> MarkerScan {
        MarkerScan {
            marker: format!("\n@@EF {nonce} {id} ").into_bytes(),
            buf: Vec::new(),
            cap,
            truncated: false,
            streamed: 0,
        }
    }

    /// Complete output lines not handed out yet (without their last newline), for
    /// streaming while the command runs. The text before a newline is output even when
    /// that newline is the marker's own first byte (output that did not end in one);
    /// what follows the last newline may be the marker, and waits.
    pub fn ready(&mut self) -> Option<Vec<u8>> {
        let tail = &self.buf[self.streamed..];
        let end = tail.iter().rposition(|b| *b == b'\n')?;
        let out = tail[..end].to_vec();
        self.streamed += end + 1;
        Some(out)
    }

    /// What [`MarkerScan::ready`] has not handed out of a finished command's output.
    pub fn unstreamed<'a>(&self, output: &'a [u8]) -> &'a [u8] {
        output.get(self.streamed..).unwrap_or_default()
    }

    /// Feed bytes; returns `Some((output, rc, rest))` once the marker line is complete,
    /// where `rest` is what followed the marker line (it belongs to the next request).
    pub fn feed(&mut self, data: &[u8]) -> Option<(Vec<u8>, i32, Vec<u8>, bool)> {
        self.buf.extend_from_slice(data);
        if let Some(pos) = find(&self.buf, &self.marker) {
            let after = pos + self.marker.len();
            if let Some(nl) = self.buf[after..].iter().position(|b| *b == b'\n') {
                let rc = std::str::from_utf8(&self.buf[after..after + nl])
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(-1);
                let rest = self.buf[after + nl + 1..].to_vec();
                let mut out = std::mem::take(&mut self.buf);
                out.truncate(pos);
                return Some((out, rc, rest, self.truncated));
            }
            return None;
        }
        // No marker yet: keep the output under the cap, but keep a tail long enough to
        // find a marker that straddles two reads.
        if self.buf.len() > self.cap + self.marker.len() + 64 {
            let keep_tail = self.marker.len() + 64;
            let cut_from = self.cap.min(self.buf.len() - keep_tail);
            let tail_start = self.buf.len() - keep_tail;
            if tail_start > cut_from {
                self.buf.drain(cut_from..tail_start);
                self.truncated = true;
                // What was streamed of the dropped middle is gone from `buf` too.
                if self.streamed > tail_start {
                    self.streamed -= tail_start - cut_from;
                } else if self.streamed > cut_from {
                    self.streamed = cut_from;
                }
            }
        }
        None
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r#"'it'\''s'"#);
        assert_eq!(quote("-rf"), "-rf");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(touch /tmp/pwn)"), "'$(touch /tmp/pwn)'");
    }

    #[test]
    fn marker_scan_streams_whole_lines_never_the_marker() {
        let mut m = MarkerScan::new("n0", 7, 1 << 20);
        assert!(m.feed(b"one\ntw").is_none());
        assert_eq!(m.ready().as_deref(), Some(&b"one"[..]));
        assert!(m.feed(b"o\n").is_none());
        assert_eq!(m.ready().as_deref(), Some(&b"two"[..]));
        assert!(m.feed(b"three").is_none());
        assert_eq!(m.ready(), None, "`three` may go on");
        // Output without a final newline: the marker's newline ends it; the marker
        // itself is never streamed.
        assert!(m.feed(b"\n@@E").is_none());
        assert_eq!(m.ready().as_deref(), Some(&b"three"[..]));
        let (out, rc, _, _) = m.feed(b"F n0 7 0\n").unwrap_or_else(|| panic!("marker"));
        assert_eq!(rc, 0);
        assert_eq!(out, b"one\ntwo\nthree");
        assert!(m.unstreamed(&out).is_empty());
        // A last line that the marker ends is handed out at the end.
        let mut m = MarkerScan::new("n0", 8, 1 << 20);
        let (out, _, _, _) = m
            .feed(b"a\nb\n@@EF n0 8 3\n")
            .unwrap_or_else(|| panic!("marker"));
        assert_eq!(out, b"a\nb");
        assert_eq!(m.unstreamed(&out), b"a\nb");
    }

    #[test]
    fn marker_scan_across_chunks_and_truncation() {
        let mut m = MarkerScan::new("n0", 7, 4);
        assert!(m.feed(b"hello wor").is_none());
        assert!(m.feed(b"ld\n\n@@EF n0 ").is_none());
        let (out, rc, rest, trunc) = m.feed(b"7 3\nnext").unwrap_or_default();
        assert_eq!((rc, rest.as_slice()), (3, &b"next"[..]));
        assert_eq!((out.as_slice(), trunc), (&b"hello world\n"[..], false));
        // Beyond the cap: truncated, the head kept, the marker still found.
        let mut m = MarkerScan::new("n0", 2, 100);
        let big = vec![b'x'; 10_000];
        assert!(m.feed(&big).is_none());
        let (out, rc, _, trunc) = m.feed(b"\n@@EF n0 2 0\n").unwrap_or_default();
        assert!(
            trunc,
            "10,000 bytes under a 100-byte cap were not truncated"
        );
        assert!(
            out.len() < 1_000 && out.starts_with(b"xxxx"),
            "{} bytes kept",
            out.len()
        );
        assert_eq!(rc, 0);
        let mut m = MarkerScan::new("n0", 1, 1 << 20);
        let (out, rc, _, trunc) = m.feed(b"no newline\n@@EF n0 1 0\n").unwrap_or_default();
        assert_eq!((out.as_slice(), rc, trunc), (&b"no newline"[..], 0, false));
    }
}
