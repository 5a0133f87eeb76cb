//! The operator's terminal, driven for real: the binary runs in a pseudo-terminal made by
//! `script` (util-linux), the test reads what it writes there and answers on it.

use super::cli::Test;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLOW: &str = r#"## c
flow c
step gate on local {
  run ["sleep", "1"]
  confirm "Proceed with the dangerous part?"
  run ["touch", "answered"]
  rollback {}
}
"#;

/// `cmd` (a shell command line) in a pseudo-terminal; what it writes there collects in
/// the returned buffer; its stdin is the terminal's keyboard.
fn in_pty(dir: &std::path::Path, cmd: &str) -> (std::process::Child, Arc<Mutex<Vec<u8>>>) {
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-f", "-c", cmd, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("script (util-linux) must be installed: {e}"));
    let mut out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock()
                .map(|mut v| v.extend_from_slice(&chunk[..n]))
                .unwrap_or(());
        }
    });
    (child, buf)
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().map(|v| v.clone()).unwrap_or_default()).into_owned()
}

/// Wait until the terminal shows `what`; the offset just after it.
fn wait_for(buf: &Arc<Mutex<Vec<u8>>>, what: &str) -> usize {
    let t0 = Instant::now();
    loop {
        let t = text(buf);
        if let Some(i) = t.find(what) {
            return i + what.len();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the terminal never showed {what:?}: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answer(child: &mut std::process::Child, line: &str) -> Option<i32> {
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(line.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = stdin.flush();
    let t0 = Instant::now();
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            drop(stdin);
            return s.code();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With the live view drawing, the confirm question stays on screen while the run waits
/// (nothing is redrawn over it), and the answer typed at the terminal is taken.
#[test]
fn the_confirm_question_stays_on_screen_and_is_answered() {
    let t = Test::new().file("c.flow", FLOW);
    let cmd = format!("{} run c.flow -i h1,", env!("CARGO_BIN_EXE_etcdflow"));
    let (mut child, buf) = in_pty(t.path(), &cmd);
    let at = wait_for(&buf, "Proceed with the dangerous part? [y/N] ");
    // The spinner ticks every 120 ms: in 1.5 s it would have redrawn over the question.
    std::thread::sleep(Duration::from_millis(1500));
    let after = text(&buf)[at..].to_string();
    assert!(
        !after.contains('\r') && !after.contains("\u{1b}["),
        "the view drew over the question while it waited: {after:?}"
    );
    let code = answer(&mut child, "y\n");
    assert_eq!(code, Some(0), "{}", text(&buf));
    assert!(t.path().join("answered").exists(), "the yes was taken");
}

/// Piped (`2>&1 | cat`, as `| tee log` is), the question is asked on the controlling
/// terminal instead of being refused; a no stops the run before the step goes on.
#[test]
fn a_piped_run_asks_on_the_terminal() {
    let t = Test::new().file("c.flow", FLOW);
    let cmd = format!(
        "{} run c.flow -i h1, 2>&1 | cat",
        env!("CARGO_BIN_EXE_etcdflow")
    );
    let (mut child, buf) = in_pty(t.path(), &cmd);
    wait_for(&buf, "Proceed with the dangerous part? [y/N] ");
    // (The exit code is `cat`'s: the pipeline's end.)
    answer(&mut child, "n\n");
    assert!(
        text(&buf).contains("not confirmed: Proceed with the dangerous part?"),
        "a no stops the step: {}",
        text(&buf)
    );
    assert!(!t.path().join("answered").exists(), "the no was taken");
    assert!(
        !text(&buf).contains("confirm-without-tty"),
        "{}",
        text(&buf)
    );
}

/// `-v` streams: the first line of a command is on screen while the command still runs.
#[test]
fn verbose_output_appears_while_the_command_runs() {
    let flow = "## s\nflow s\nstep slow on local {\n  run \"echo first-line; sleep 2; echo second-line\"\n  rollback {}\n}\n";
    let t = Test::new().file("s.flow", flow);
    let cmd = format!("{} run s.flow -i h1, -v", env!("CARGO_BIN_EXE_etcdflow"));
    let (mut child, buf) = in_pty(t.path(), &cmd);
    let t0 = Instant::now();
    wait_for(&buf, "first-line");
    assert!(
        !text(&buf).contains("second-line"),
        "the first line came only with the second: {}",
        text(&buf)
    );
    wait_for(&buf, "second-line");
    assert!(
        t0.elapsed() > Duration::from_millis(1500),
        "the lines came 2 s apart"
    );
    let code = answer(&mut child, "");
    assert_eq!(code, Some(0), "{}", text(&buf));
}

/// A failure shows its step, host and the command's stderr; the summary names the
/// failed host; the resume command it prints, pasted once the cause is fixed, works.
#[test]
fn a_failure_names_its_host_and_the_printed_resume_works() {
    let flow = "## f\nflow f\nstep prepare on local {\n  run [\"true\"]\n  rollback {}\n}\nstep mount on local on_failure: \"undo_host\" {\n  run \"test -e fixed || { echo 'the disk is not ready' >&2; exit 3; }\"\n  rollback {}\n}\n";
    let t = Test::new().file("f.flow", flow);
    let cmd = format!(
        "{} run f.flow -i h1, --state-dir my-state",
        env!("CARGO_BIN_EXE_etcdflow")
    );
    let (mut child, buf) = in_pty(t.path(), &cmd);
    assert_eq!(answer(&mut child, ""), Some(7), "{}", text(&buf));
    let screen = text(&buf);
    assert!(
        screen
            .contains("failed local in mount: command failed: exit code 3: the disk is not ready"),
        "{screen}"
    );
    assert!(screen.contains("[2/2] mount"), "the step counter: {screen}");
    assert!(screen.contains("failed hosts: local (mount)"), "{screen}");
    let hint = screen
        .split('`')
        .find(|p| p.starts_with("etcdflow resume "))
        .unwrap_or_else(|| panic!("no resume command: {screen}"))
        .to_string();
    assert!(hint.contains("--state-dir my-state"), "{hint}");
    std::fs::write(t.path().join("fixed"), "").unwrap_or_else(|e| panic!("{e}"));
    let pasted = hint.replacen("etcdflow", env!("CARGO_BIN_EXE_etcdflow"), 1);
    let (mut child, buf) = in_pty(t.path(), &pasted);
    assert_eq!(answer(&mut child, ""), Some(0), "{}", text(&buf));
    assert!(text(&buf).contains("resuming run"), "{}", text(&buf));
}

/// While a step runs, the spinner names the step's place in the flow and the host it is
/// running on now.
#[test]
fn the_spinner_names_the_step_and_its_running_host() {
    let flow = "## w\nflow w\nstep first on local {\n  run [\"true\"]\n  rollback {}\n}\nstep slow on local {\n  run [\"sleep\", \"2\"]\n  rollback {}\n}\n";
    let t = Test::new().file("w.flow", flow);
    let cmd = format!("{} run w.flow -i h1,", env!("CARGO_BIN_EXE_etcdflow"));
    let (mut child, buf) = in_pty(t.path(), &cmd);
    wait_for(&buf, "[2/2] slow on local [0/1 hosts]");
    assert_eq!(answer(&mut child, ""), Some(0), "{}", text(&buf));
}
