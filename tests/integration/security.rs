//! The safety claims under attack, on real sshd hosts: a local user on the controller
//! who pre-creates the control directory, values that try to become options of `chmod`,
//! `chown` or `env`, destinations that are directories or symlinks, and a nonce that must
//! never be visible in any process's argv. Each test has its own sandbox.

use super::cli::Test;
use super::sandbox::{flow, host_cat, Guard};
use etcdflow::sandbox;

fn sandbox_on(net: u8) -> (tempfile::TempDir, Guard) {
    super::sandbox::sandbox_of(2, net)
}

/// `etcdflow run` on the sandbox's inventory and ssh config (the shared helper).
use super::sandbox::run as run_on;

fn ssh(sb: &sandbox::Sandbox, i: usize, script: &str) -> String {
    super::sandbox::host_sh(sb, i, script)
}

#[test]
fn a_control_directory_owned_by_another_user_is_refused() {
    if super::sandbox::no_root("a_control_directory_owned_by_another_user_is_refused") {
        return;
    }
    let (_d, g) = sandbox_on(50);
    let sb = &g.0;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The attacker (uid 65534) pre-creates the directory etcdflow would use.
    let planted = tmp.path().join("etcdflow-0");
    std::fs::create_dir(&planted).unwrap_or_else(|e| panic!("{e}"));
    let chown = std::process::Command::new("chown")
        .args(["65534", &planted.display().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(chown, "chown to nobody failed");
    let body = "hosts t = group(\"sandbox\")\nstep s on t {\n  run [\"true\"]\n  rollback {}\n}\n";
    // With the usual TMPDIR the run works.
    let out = run_on(sb, flow(Test::new(), "c.flow", body), "c.flow", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = flow(Test::new(), "c.flow", body)
        .args(["run", "c.flow", "-i"])
        .arg(sb.inventory())
        .arg("-F")
        .arg(sb.ssh_config())
        .env("TMPDIR", tmp.path())
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("belongs to uid 65534"),
        "{}",
        out.stderr
    );
    let entries: Vec<_> = std::fs::read_dir(&planted)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(
        entries.is_empty(),
        "etcdflow put a socket into the planted directory"
    );
}

#[test]
fn values_never_become_options_of_chmod_chown_or_env() {
    if super::sandbox::no_root("values_never_become_options_of_chmod_chown_or_env") {
        return;
    }
    let (_d, g) = sandbox_on(51);
    let sb = &g.0;
    let body = r#"param m: str = "0644"
param o: str = "root"
param vars: map[str] = {}
hosts t = group("sandbox")
step put on first(t) {
  copy content: "x\n" to: "/etc/victim" mode: m owner: o
  run ["true"] env: vars
  rollback {}
}
"#;
    for (arg, what) in [
        ("m=--reference=/etc/passwd", "`mode`"),
        ("m=4755", "`mode`"),
        ("o=--reference=/etc/shadow", "`owner`"),
        (r#"vars={"--split-string=touch /tmp/pwn": "x"}"#, "`env`"),
    ] {
        let out = run_on(
            sb,
            flow(Test::new(), "v.flow", body),
            "v.flow",
            &["-e", arg],
        );
        assert_eq!(out.code, 1, "{arg}: {}", out.stderr);
        assert!(out.stderr.contains(what), "{arg}: {}", out.stderr);
        assert_eq!(
            host_cat(sb, 1, "/tmp/pwn"),
            "",
            "{arg}: code ran on the host"
        );
        if what != "`env`" {
            assert_eq!(
                host_cat(sb, 1, "/etc/victim"),
                "",
                "{arg}: the file was written"
            );
        }
    }
    // The per-command `--` rule: an earlier `--` in another command does not count.
    let body = "param o: str\nhosts t = group(\"sandbox\")\nstep s on first(t) {\n  run \"mkdir -p -- /etc/d && chown {{ o }} /etc/d\"\n  rollback {}\n}\n";
    let out = run_on(
        sb,
        flow(Test::new(), "d.flow", body),
        "d.flow",
        &["-e", "o=--reference=/etc/shadow"],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("would be read as an option"),
        "{}",
        out.stderr
    );
}

#[test]
fn copies_refuse_directories_and_symlinks_and_stage_privately() {
    if super::sandbox::no_root("copies_refuse_directories_and_symlinks_and_stage_privately") {
        return;
    }
    let (_d, g) = sandbox_on(52);
    let sb = &g.0;
    ssh(
        sb,
        1,
        "mkdir -p /etc/adir && ln -sf /etc/hostname /etc/alink",
    );
    let body = r#"param dest: path
hosts t = group("sandbox")
step put on first(t) {
  copy content: "x\n" to: dest mode: "0600" become
  rollback {}
}
"#;
    for (dest, what) in [("/etc/adir", "directory"), ("/etc/alink", "symlink")] {
        let arg = format!("dest={dest}");
        let out = run_on(
            sb,
            flow(Test::new(), "p.flow", body),
            "p.flow",
            &["-e", &arg],
        );
        assert_eq!(out.code, 1, "{dest}: {}", out.stderr);
        assert!(out.stderr.contains(what), "{dest}: {}", out.stderr);
    }
    assert_eq!(
        ssh(sb, 1, "ls -A /etc/adir"),
        "",
        "a temp file was left in the directory"
    );
    let before = ssh(sb, 1, "sha256sum /etc/hostname");
    let out = run_on(
        sb,
        flow(Test::new(), "p.flow", body),
        "p.flow",
        &["-e", "dest=/etc/newfile"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(host_cat(sb, 1, "/etc/newfile"), "x\n");
    assert_eq!(ssh(sb, 1, "stat -c %a /etc/newfile").trim(), "600");
    assert_eq!(
        ssh(sb, 1, "sha256sum /etc/hostname"),
        before,
        "the symlink's target changed"
    );
    // Staging happened in the agent's private directory, nothing under /tmp.
    assert_eq!(ssh(sb, 1, "stat -c %a /root/.cache/etcdflow").trim(), "700");
    assert_eq!(
        ssh(sb, 1, "find /tmp -maxdepth 1 -name '*etcdflow*'"),
        "",
        "a staging file was left in the host's /tmp"
    );
}

#[test]
fn the_agent_nonce_is_in_no_process_argv() {
    if super::sandbox::no_root("the_agent_nonce_is_in_no_process_argv") {
        return;
    }
    let (_d, g) = sandbox_on(53);
    let sb = &g.0;
    let body = "hosts t = group(\"sandbox\")\nstep s on first(t) {\n  run [\"sleep\", \"2.5\"]\n  rollback {}\n}\n";
    let t = flow(Test::new(), "n.flow", body)
        .args(["run", "n.flow", "-i"])
        .arg(sb.inventory())
        .arg("-F")
        .arg(sb.ssh_config());
    let child = std::thread::spawn(move || t.run());
    std::thread::sleep(std::time::Duration::from_millis(1200));
    // Every process on this machine (the hosts share its pid namespace): no argument of
    // an agent or of the ssh carrying it is a 32-hex-digit nonce.
    let mut agents = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let words: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        if !words.iter().any(|w| w.contains("etcdflow-agent")) {
            continue;
        }
        agents += 1;
        for w in words
            .iter()
            .flat_map(|w| w.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        {
            let hex = w.len() == 32 && w.chars().all(|c| c.is_ascii_hexdigit());
            assert!(
                !hex,
                "a nonce-like word `{w}` in the argv of {:?}",
                words.first()
            );
        }
    }
    let out = child
        .join()
        .unwrap_or_else(|_| panic!("the run thread panicked"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(agents > 0, "no agent process was found while the step ran");
}

#[test]
fn a_secret_written_to_a_file_leaves_no_digest_behind() {
    if super::sandbox::no_root("a_secret_written_to_a_file_leaves_no_digest_behind") {
        return;
    }
    let (_d, g) = sandbox_on(54);
    let sb = &g.0;
    let secret = "correct horse battery staple";
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    };
    let body = "param pw: secret\nhosts t = group(\"sandbox\")\nstep put on first(t) {\n  copy content: pw to: \"/etc/pw\" mode: \"0600\"\n  let r = run [\"cat\"] stdin: pw\n  log \"{{ len(r.lines) }} line(s)\"\n  rollback {}\n}\n";
    let t = flow(Test::new(), "s.flow", body).file("s.yml", &format!("pw: {secret}\n"));
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = keep.path().to_path_buf();
    let state_arg = state.display().to_string();
    let out = run_on(
        sb,
        t,
        "s.flow",
        &["-e", "@s.yml", "--state-dir", &state_arg],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains(secret),
        "`-v` showed what `cat` printed of the secret"
    );
    assert_eq!(host_cat(sb, 1, "/etc/pw"), secret);
    let mut files = Vec::new();
    let mut stack = vec![state];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert!(
        !files.is_empty(),
        "the run wrote no journal: the probe would check nothing"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!text.contains(secret), "{} holds the secret", f.display());
        assert!(
            !text.contains(&digest),
            "{} holds the secret's sha256",
            f.display()
        );
    }
}
