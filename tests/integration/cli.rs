//! The real `etcdflow` binary, run in a temporary directory.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

pub struct Test {
    cmd: Command,
    dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Test {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcdflow"));
        cmd.current_dir(dir.path()).env_remove("NO_COLOR");
        Test { cmd, dir }
    }

    pub fn file(self, name: &str, text: &str) -> Test {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        self
    }

    #[allow(dead_code)]
    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Test {
        self.cmd.env(k, v);
        self
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Test {
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, a: I) -> Test {
        self.cmd.args(a);
        self
    }

    pub fn run(mut self) -> Output {
        let out = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("running etcdflow: {e}"));
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[allow(dead_code)]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

const GOOD: &str =
    "## ok\nflow ok\nhosts m = group(\"master\")\nstep s on m {\n  run \"true\"\n}\n";
const BAD: &str = "## bad\nflow bad\nhosts m = group(\"master\")\nstep s on m timeout: \"5m\" {\n  run \"true\"\n}\n";

#[test]
fn check_clean_exits_0() {
    let out = Test::new()
        .file("ok.flow", GOOD)
        .args(["check", "ok.flow"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("checked 1 file: 0 errors, 0 warnings"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_errors_exit_1_with_code_location_and_help() {
    let out = Test::new()
        .file("bad.flow", BAD)
        .args(["check", "bad.flow"])
        .run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("[type-mismatch]"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.flow:4:22"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Help: write a duration without quotes"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\u{1b}'),
        "no colour without a TTY: {}",
        out.stderr
    );
}

#[test]
fn colour_can_be_forced() {
    let out = Test::new()
        .file("bad.flow", BAD)
        .args(["--color", "always", "check", "bad.flow"])
        .run();
    assert!(out.stderr.contains('\u{1b}'), "{}", out.stderr);
}

#[test]
fn check_reports_every_file() {
    let out = Test::new()
        .file("a.flow", BAD)
        .file("b.flow", BAD)
        .args(["check", "a.flow", "b.flow"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("a.flow:4") && out.stderr.contains("b.flow:4"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("checked 2 files: 2 errors"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = Test::new().args(["check", "nope.flow"]).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("[file-not-found]"), "{}", out.stderr);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = Test::new().args(["check", "--frobnicate", "x.flow"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn json_format_is_stable() {
    let out = Test::new()
        .file("bad.flow", BAD)
        .args(["check", "--format", "json", "bad.flow"])
        .run();
    assert_eq!(out.code, 1);
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(v["version"], 1);
    assert_eq!(v["errors"], 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "type-mismatch");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "bad.flow");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(22))
    );
    assert!(d["help"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(d["labels"][0]["primary"], true);
}

#[test]
fn inventory_groups_are_checked() {
    let out = Test::new()
        .file("ok.flow", GOOD)
        .file("hosts", "[masters]\n10.0.0.1\n")
        .args(["check", "ok.flow", "-i", "hosts"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("[unknown-inventory-group]")
            && out.stderr.contains("did you mean `masters`?"),
        "{}",
        out.stderr
    );
}

#[test]
fn params_from_command_line_and_vars_file() {
    let flow = "## p\nflow p\nparam snapshot: path\nparam wait: duration = 5m\nstep s on local timeout: wait {\n  log \"{{ snapshot }}\"\n}\n";
    let t = Test::new().file("p.flow", flow);
    let out = t.args(["check", "p.flow"]).run();
    assert_eq!(
        out.code, 0,
        "without params a flow is checked as a template: {}",
        out.stderr
    );
    let out = Test::new()
        .file("p.flow", flow)
        .args(["check", "p.flow", "-e", "wait=10m"])
        .run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("[missing-param]"), "{}", out.stderr);
    let out = Test::new()
        .file("p.flow", flow)
        .file("vars.yml", "snapshot: /tmp/s.db\nwait: 2m\n")
        .args(["check", "p.flow", "--vars", "vars.yml"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = Test::new()
        .file("p.flow", flow)
        .file("vars.yml", "snapshot: /tmp/s.db\nwait: soon\n")
        .args(["check", "p.flow", "--vars", "vars.yml"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("[invalid-param-value]") && out.stderr.contains("vars.yml"),
        "{}",
        out.stderr
    );
}

#[test]
fn explain_known_unknown_and_list() {
    let out = Test::new().args(["explain", "secret-in-command"]).run();
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("invariant 24"), "{}", out.stdout);
    let out = Test::new().args(["explain", "type-mismach"]).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `type-mismatch`?"),
        "{}",
        out.stderr
    );
    let out = Test::new().args(["explain", "--list"]).run();
    assert_eq!(out.code, 0);
    for c in etcdflow::diagnostics::codes::CODES.iter() {
        assert!(
            out.stdout.contains(c.code),
            "{} missing from --list",
            c.code
        );
    }
}

#[test]
fn inventory_command_shows_hosts_and_graph() {
    let inv = "[primary-master]\nm1 ansible_host=192.0.2.11\n[secondary-masters]\nm[2:3]\n[masters:children]\nprimary-master\nsecondary-masters\n";
    let out = Test::new()
        .file("inv", inv)
        .args(["inventory", "-i", "inv"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("192.0.2.11") && out.stdout.contains("m3"),
        "{}",
        out.stdout
    );
    let out = Test::new()
        .file("inv", inv)
        .args(["inventory", "-i", "inv", "--graph"])
        .run();
    assert!(
        out.stdout.contains("|--@masters:") && out.stdout.contains("|--@primary-master:"),
        "{}",
        out.stdout
    );
    let out = Test::new()
        .file("inv", "[g]\n-oProxyCommand=x\n")
        .args(["inventory", "-i", "inv"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("[invalid-inventory-host]"),
        "{}",
        out.stderr
    );
}

/// Interrupt a local run with SIGTERM inside its second step, then exercise `runs`,
/// `runs show`, `resume` (refused for a changed flow, then allowed) and
/// `--rollback-on-interrupt`. Local hosts (`ansible_connection=local`) keep this fast;
/// the same paths over SSH are in the sandbox tests.
#[test]
fn interrupt_runs_show_and_resume() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let mark = d.join("marks");
    std::fs::create_dir_all(&mark).unwrap_or_else(|e| panic!("{e}"));
    let m = mark.display();
    let flow = format!(
        "## interrupt\nflow intr\nhosts h = group(\"h\")\nstep one on h {{\n  run \"echo 1 >> {m}/log\" creates: \"{m}/one\"\n  run \"touch {m}/one\"\n  rollback {{\n    run \"echo undo1 >> {m}/log\"\n  }}\n}}\nstep two on h {{\n  run \"sleep 2; echo 2 >> {m}/log; touch {m}/two\" creates: \"{m}/two\"\n}}\nstep three on h {{\n  run \"echo 3 >> {m}/log\"\n}}\n"
    );
    std::fs::write(d.join("i.flow"), &flow).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(d.join("inv"), "[h]\nctl ansible_connection=local\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let start = |extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"));
        c.current_dir(d)
            .args(["run", "i.flow", "-i", "inv", "--output", "json"])
            .args(extra);
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let out = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let mut id = String::new();
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["event"] == "run_started" {
                id = v["run_id"].as_str().unwrap_or_default().to_string();
            }
            if v["event"] == "step_started" && v["step"] == "two" {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                break;
            }
        }
        (id, child.wait().ok().and_then(|s| s.code()))
    };
    let (id, code) = start(&[]);
    assert_eq!(code, Some(6), "SIGTERM: interrupted");
    let runs = Test::new()
        .args([
            "runs",
            "--state-dir",
            &d.join(".etcdflow").display().to_string(),
        ])
        .run();
    assert!(
        runs.stdout.contains(&id) && runs.stdout.contains("interrupted"),
        "{}",
        runs.stdout
    );
    let show = Test::new()
        .args([
            "runs",
            "show",
            &id,
            "--state-dir",
            &d.join(".etcdflow").display().to_string(),
        ])
        .run();
    assert!(
        show.stdout.contains("interrupted by SIGTERM") && show.stdout.contains("step two on ctl"),
        "{}",
        show.stdout
    );
    // A changed flow is refused, then allowed explicitly.
    std::fs::write(d.join("i.flow"), flow.replace("echo 3", "echo three"))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = d.join(".etcdflow").display().to_string();
    let r = Test::new()
        .args(["resume", &id, "--state-dir", &state])
        .run();
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("[flow-changed]"), "{}", r.stderr);
    let r = Test::new()
        .args(["resume", &id, "--state-dir", &state, "--allow-changed-flow"])
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = std::fs::read_to_string(mark.join("log")).unwrap_or_default();
    assert_eq!(log, "1\n2\nthree\n", "each step exactly once");
    let r = Test::new()
        .args(["resume", &id, "--state-dir", &state])
        .run();
    assert_eq!(r.code, 5, "a finished run is not resumable: {}", r.stderr);
    // --rollback-on-interrupt rolls back what ran.
    std::fs::write(d.join("i.flow"), &flow).unwrap_or_else(|e| panic!("{e}"));
    for f in ["log", "one", "two"] {
        let _ = std::fs::remove_file(mark.join(f));
    }
    let (_, code) = start(&["--rollback-on-interrupt"]);
    assert_eq!(code, Some(1), "rolled back after the interrupt");
    let log = std::fs::read_to_string(mark.join("log")).unwrap_or_default();
    assert!(log.ends_with("undo1\n"), "{log}");
}

#[test]
fn stdlib_list_show_fork_and_lookup() {
    let out = Test::new().args(["stdlib", "list"]).run();
    assert!(
        out.stdout.contains("restore-icp") && out.stdout.contains("Restore every master"),
        "{}",
        out.stdout
    );
    let out = Test::new().args(["stdlib", "show", "restore-icp"]).run();
    assert!(
        out.stdout.contains("snapshot")
            && out.stdout.contains("(required)")
            && out.stdout.contains("Source: seed 003"),
        "{}",
        out.stdout
    );
    let out = Test::new().args(["stdlib", "show", "restore-icq"]).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `restore-icp`?"),
        "{}",
        out.stderr
    );
    // A fork names its origin and checks clean; a second fork does not overwrite it.
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = keep.path().to_path_buf();
    let out = Test::new()
        .args(["stdlib", "fork", "restore-icp"])
        .arg(dir.join("site"))
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let forked = dir.join("site/restore-icp.flow");
    let text = std::fs::read_to_string(&forked).unwrap_or_default();
    assert!(
        text.starts_with("# Forked from the etcdflow stdlib flow `restore-icp` (etcdflow "),
        "{text}"
    );
    let out = Test::new()
        .args(["check", "--format", "json"])
        .arg(&forked)
        .run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("\"warnings\": 0"), "{}", out.stdout);
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"))
        .current_dir(&dir)
        .args(["stdlib", "fork", "restore-icp", "site"])
        .output()
        .map(|o| o.status.code())
        .unwrap_or(None);
    assert_eq!(again, Some(2), "fork must not overwrite");
    // `plan restore-icp.flow` without a local file uses the stdlib flow, and says so.
    let out = Test::new()
        .file("hosts", "[master]\nm1\nm2\nm3\n")
        .args([
            "plan",
            "restore-icp.flow",
            "-i",
            "hosts",
            "-e",
            "snapshot=/backups/etcd.db",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("using the stdlib flow `restore-icp`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("etcd.snapshot_restore")
            && out.stdout.contains("wait port 4001 closed (timeout 5m)"),
        "{}",
        out.stdout
    );
    // A local file wins.
    let out = Test::new()
        .file("hosts", "[master]\nm1\n")
        .file(
            "restore-icp.flow",
            "## mine\nflow mine\nstep s on local {\n  log \"local\"\n}\n",
        )
        .args(["plan", "restore-icp.flow", "-i", "hosts"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stderr.contains("stdlib") && out.stdout.contains("log local"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_etcdflow"))
        .args(["explain", "--list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn limit_narrows_every_step_and_the_plan_says_so() {
    let flow = "## t\nflow t\nhosts m = group(\"master\")\nstep s on m {\n  run [\"true\"]\n  rollback {}\n}\n";
    let out = Test::new()
        .file("hosts", "[master]\nm1\nm2\nm3\n[etcd]\nm1\nm3\n")
        .file("t.flow", flow)
        .args([
            "plan",
            "t.flow",
            "-i",
            "hosts",
            "--limit",
            "master:&etcd:!m3",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("limit: master:&etcd:!m3"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("step s on m1\n") || out.stdout.contains("step s on m1 "),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("m2") && !out.stdout.contains("m3:"),
        "{}",
        out.stdout
    );
    // A pattern that names nothing of the inventory is refused before anything runs.
    let out = Test::new()
        .file("hosts", "[master]\nm1\n")
        .file("t.flow", flow)
        .args(["plan", "t.flow", "-i", "hosts", "-l", "nosuch"])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("[invalid-limit]"), "{}", out.stderr);
}

#[test]
fn extra_vars_take_files_and_json_like_ansible() {
    let flow = "## t\nflow t\nparam a: str\nparam b: list[str]\nstep s on local {\n  log \"{{ a }}/{{ len(b) }}\"\n}\n";
    let out = Test::new()
        .file("hosts", "[master]\nm1\n")
        .file("t.flow", flow)
        .file("v.yml", "a: from-file\nb: [x, \"y,z\"]\n")
        .args([
            "plan",
            "t.flow",
            "-i",
            "hosts",
            "-e",
            "@v.yml",
            "--extra-vars",
            "{\"a\": \"from-json\"}",
        ])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("from-json/2"), "{}", out.stdout);
}

#[test]
fn a_bom_is_dropped_and_other_encodings_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bom = dir.path().join("bom.flow");
    std::fs::write(
        &bom,
        b"\xEF\xBB\xBF## t\nflow t\nstep s on local {\n  log \"x\"\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let latin = dir.path().join("latin.flow");
    std::fs::write(
        &latin,
        b"## t\nflow t\nstep s on local {\n  log \"caf\xE9\"\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new().arg("check").arg(&bom).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = Test::new().arg("check").arg(&latin).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("[invalid-encoding]"), "{}", out.stderr);
    assert!(!out.stderr.contains("check the path"), "{}", out.stderr);
}

#[test]
fn a_comma_host_list_is_an_inventory() {
    let out = Test::new()
        .args(["inventory", "-i", "n1,n2,", "--list"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(
        v["ungrouped"]["hosts"],
        serde_json::json!(["n1", "n2"]),
        "{}",
        out.stdout
    );
    // A host that is not a host name is refused as in a file.
    let out = Test::new().args(["inventory", "-i", "n1,$(id),"]).run();
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("invalid-inventory-host"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_include_names_the_directory_it_was_looked_for_in() {
    let out = Test::new()
        .file("x.flow", "## t\nflow t\ninclude \"nope.flow\"\n")
        .args(["check", "x.flow"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("[include-not-found]"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("(``)"),
        "an empty directory name: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the current directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_snapshot_is_verified_by_a_flow_without_a_cluster() {
    let snap = std::fs::read(super::root().join("tests/data/etcd-3.4-rev305-299keys.db"))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("snap.db"), snap).unwrap_or_else(|e| panic!("{e}"));
    let flow = format!(
        "## v\nflow v\nstep s on local {{\n  let s = etcd.snapshot_verify file: \"{}\"\n  log \"revision {{{{ s.revision }}}} keys {{{{ s.key_count }}}}\"\n}}\n",
        dir.path().join("snap.db").display()
    );
    let out = Test::new()
        .file("v.flow", &flow)
        .file("inv", "[all]\nc ansible_connection=local\n")
        .args(["run", "v.flow", "-i", "inv", "-v"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("revision 305 keys 299"),
        "{}",
        out.stderr
    );
}

/// Every subcommand, flag and argument has help text (`--help`, the man page and the
/// shell completions show it).
#[test]
fn every_flag_and_argument_has_help() {
    use clap::CommandFactory;
    fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if c.get_about().is_none() && !path.is_empty() {
            missing.push(format!("`etcdflow{path}`: no description"));
        }
        for a in c.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("`etcdflow{path}`: `{id}` has no help"));
            }
        }
        for s in c.get_subcommands() {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&etcdflow::cli::Cli::command(), "", &mut missing);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// `plan` takes only what changes a plan; `--connect-timeout 0` is refused, not rounded.
#[test]
fn plan_has_no_run_only_flags_and_zero_timeouts_are_refused() {
    let out = Test::new().args(["plan", "x.flow", "--yes"]).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = Test::new()
        .args(["run", "x.flow", "-i", "h1,", "--connect-timeout", "0"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("connect-timeout"), "{}", out.stderr);
}

/// `completions` and `man` print what the shells and `man` read.
#[test]
fn completions_and_man_page() {
    let out = Test::new().args(["completions", "bash"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("complete -F") && out.stdout.contains("sandbox"));
    let out = Test::new().args(["man"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH"),
        "{}",
        &out.stdout[..200.min(out.stdout.len())]
    );
}

/// `check DIR` searches it for flows, as `lint DIR` does; `sandbox status` with no
/// sandbox says so.
#[test]
fn check_a_directory_and_status_without_a_sandbox() {
    let t = Test::new().file(
        "flows/a.flow",
        "## a\nflow a\nstep s on local {\n  log \"hi\"\n}\n",
    );
    let out = t.args(["check", "flows"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("checked 1 file"), "{}", out.stderr);
    let out = Test::new()
        .args(["sandbox", "status", "--dir", "nothing-here"])
        .run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no sandbox in nothing-here"),
        "{}",
        out.stderr
    );
}

/// `plan` of 50 hosts x 8 steps stays readable: hosts whose commands differ only by
/// their own name and address are one group; `--hosts` shows every host.
#[test]
fn plan_of_fifty_hosts_groups_them() {
    let inv: String = (1..=50)
        .map(|i| format!("n{i} ansible_host=10.0.0.{i}\n"))
        .collect();
    let mut flow = String::from("## p\nflow p\nhosts every = group(\"all\")\n");
    for k in 1..=8 {
        flow.push_str(&format!(
            "step s{k} on every serial {{\n  run [\"echo\", \"{k}\", host.name, \"--peer=http://{{{{ host.address }}}}:2380\"]\n  rollback {{\n    run [\"echo\", \"undo\", host.name]\n  }}\n}}\n"
        ));
    }
    let t = || Test::new().file("p.flow", &flow).file("inv", &inv);
    let out = t().args(["plan", "p.flow", "-i", "inv"]).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.stdout.lines().count();
    assert!(lines < 120, "{lines} lines:\n{}", out.stdout);
    assert!(
        out.stdout
            .contains("n1, n2, ..., n50 (50 hosts): ({host}, {address}: each host's own)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--peer=http://{address}:2380"),
        "{}",
        out.stdout
    );
    let all = t().args(["plan", "p.flow", "-i", "inv", "--hosts"]).run();
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stdout.lines().count() > 400, "{}", all.stdout);
    assert!(all.stdout.contains("--peer=http://10.0.0.50:2380"));
}
