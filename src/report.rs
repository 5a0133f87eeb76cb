//! Reporters: readers of runtime events. The terminal view (progress while it runs, a
//! summary table at the end) and the NDJSON stream for CI.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // the terminal view prints

use crate::runtime::events::{Event, RunStatus};
use indexmap::IndexMap;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::Duration;

pub trait Reporter: Send {
    fn event(&mut self, e: &Event);
    fn finish(&mut self) {}
}

/// `--output json`: one JSON object per line on stdout.
pub struct Json;

impl Reporter for Json {
    fn event(&mut self, e: &Event) {
        if let Ok(v) = serde_json::to_value(e) {
            json_line(v);
        }
    }
}

/// One NDJSON line: the event with `ts`, the RFC 3339 UTC time it was written.
pub fn json_line(mut v: serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        o.insert("ts".into(), serde_json::Value::String(ts));
    }
    if let Ok(line) = serde_json::to_string(&v) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The live progress bar while one is drawn: a question asked of the operator suspends
/// it, or its redraw would erase the question.
static LIVE: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

/// Run `f` (a prompt) with the live view suspended, and redraw it afterwards.
pub fn suspended<R>(f: impl FnOnce() -> R) -> R {
    let bar = LIVE.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(b) => b.suspend(f),
        None => f(),
    }
}

/// How the terminal names a step's rollback.
fn label(step: &str, rollback: bool) -> String {
    if rollback {
        format!("{step} (rollback)")
    } else {
        step.to_string()
    }
}

#[derive(Default, Clone)]
struct StepRow {
    ok: usize,
    failed: usize,
    skipped: usize,
    ms: u64,
}

/// The terminal view, on stderr.
pub struct Human {
    color: bool,
    tty: bool,
    verbose: bool,
    bar: Option<ProgressBar>,
    rows: IndexMap<String, StepRow>,
    errors: Vec<String>,
    /// The flow's step count, for `[k/N]`.
    steps: usize,
    /// The step being shown: `[k/N] name` (or `[rollback] name`).
    current: String,
    in_rollback: bool,
    /// Hosts of the current step that started and have not finished.
    running: Vec<String>,
    started: std::time::Instant,
    /// (step, host) of every failure, and the hosts that could not be reached.
    failed_hosts: Vec<(String, String)>,
    unreachable: Vec<String>,
}

impl Human {
    pub fn new(color: bool, tty: bool, verbose: bool) -> Human {
        Human {
            color,
            tty,
            verbose,
            bar: None,
            rows: IndexMap::new(),
            errors: Vec::new(),
            steps: 0,
            current: String::new(),
            in_rollback: false,
            running: Vec::new(),
            started: std::time::Instant::now(),
            failed_hosts: Vec::new(),
            unreachable: Vec::new(),
        }
    }

    /// The spinner names the hosts the step is running on now (a serial step: one).
    fn show_running(&self) {
        if let Some(b) = &self.bar {
            let on = match self.running.len() {
                0 => String::new(),
                1..=3 => format!(" on {}", self.running.join(", ")),
                n => format!(
                    " on {}, {} and {} more",
                    self.running[0],
                    self.running[1],
                    n - 2
                ),
            };
            b.set_message(format!("{}{on}", self.current));
        }
    }

    fn set_bar(&mut self, b: ProgressBar) {
        if let Ok(mut live) = LIVE.lock() {
            *live = Some(b.clone());
        }
        self.bar = Some(b);
    }

    fn take_bar(&mut self) -> Option<ProgressBar> {
        if let Ok(mut live) = LIVE.lock() {
            *live = None;
        }
        self.bar.take()
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn line(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }
}

impl Reporter for Human {
    fn event(&mut self, e: &Event) {
        match e {
            Event::RunStarted {
                run_id,
                flow,
                steps,
                hosts,
            } => {
                self.steps = *steps;
                self.started = std::time::Instant::now();
                let on = if *hosts == 0 {
                    "on the controller only".to_string()
                } else {
                    format!("{hosts} hosts")
                };
                self.line(&format!("run {run_id}: flow `{flow}`, {steps} steps, {on}"));
            }
            Event::ConnectFailed { host, error } => {
                self.unreachable.push(host.clone());
                self.line(&format!(
                    "{} {host}: {error}",
                    self.paint("31", "unreachable")
                ));
            }
            Event::StepStarted {
                step,
                index,
                hosts,
                rollback,
            } => {
                if let Some(b) = self.take_bar() {
                    b.finish_and_clear();
                }
                self.in_rollback = *rollback;
                self.running.clear();
                self.current = if *rollback {
                    format!("{} {step}", self.paint("33", "[rollback]"))
                } else {
                    format!("[{}/{}] {step}", index + 1, self.steps.max(index + 1))
                };
                let shown = self.current.clone();
                let step = &label(step, *rollback);
                self.rows.insert(step.clone(), StepRow::default());
                if self.tty {
                    let b = ProgressBar::with_draw_target(
                        Some(hosts.len() as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    if let Ok(style) = ProgressStyle::with_template(
                        "{spinner} {msg} [{pos}/{len} hosts] {elapsed}",
                    ) {
                        b.set_style(style);
                    }
                    b.set_message(shown);
                    b.enable_steady_tick(Duration::from_millis(120));
                    self.set_bar(b);
                } else {
                    self.line(&format!(
                        "{shown} on {}",
                        if hosts.len() <= 6 {
                            hosts.join(", ")
                        } else {
                            format!("{} hosts", hosts.len())
                        }
                    ));
                }
            }
            Event::HostDone {
                step,
                host,
                ok,
                error,
                rollback,
                ..
            } => {
                let step = &label(step, *rollback);
                if *rollback == self.in_rollback {
                    self.running.retain(|h| h != host);
                    self.show_running();
                }
                // A host's undo inside the forward step is not one more host done.
                if let Some(b) = self.bar.as_ref().filter(|_| *rollback == self.in_rollback) {
                    b.inc(1);
                }
                if !ok {
                    let msg = format!(
                        "  {} {host} in {step}: {}",
                        self.paint("31", "failed"),
                        error.clone().unwrap_or_default()
                    );
                    self.line(&msg);
                    self.failed_hosts.push((step.clone(), host.clone()));
                    self.errors.push(format!(
                        "{step} on {host}: {}",
                        error.clone().unwrap_or_default()
                    ));
                }
            }
            Event::HostStarted { host, rollback, .. } if *rollback == self.in_rollback => {
                self.running.push(host.clone());
                self.show_running();
            }
            Event::HostStarted { .. } => {}
            Event::HostSkipped { host, reason, .. } => {
                self.running.retain(|h| h != host);
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                if self.verbose {
                    self.line(&format!("  skipped {host}: {reason}"));
                }
            }
            Event::Output {
                host, stream, text, ..
            } => {
                for l in text.lines() {
                    self.line(&format!("  {host} {stream}| {l}"));
                }
            }
            Event::Log { host, message, .. } => self.line(&format!("  {host}: {message}")),
            Event::StepDone {
                step,
                ok,
                failed,
                skipped,
                ms,
                rollback,
            } => {
                let step = &label(step, *rollback);
                if let Some(b) = self.take_bar() {
                    b.finish_and_clear();
                }
                self.rows.insert(
                    step.clone(),
                    StepRow {
                        ok: *ok,
                        failed: *failed,
                        skipped: *skipped,
                        ms: *ms,
                    },
                );
                let mark = if *failed > 0 {
                    self.paint("31", "failed")
                } else {
                    self.paint("32", "ok")
                };
                let total = self.started.elapsed().as_secs_f64();
                // A finished step stays on screen as one line (a log keeps the same).
                if self.tty {
                    self.line(&format!(
                        "{mark} {}: {ok} ok, {failed} failed, {skipped} skipped ({:.2}s; {total:.1}s in all)",
                        self.current,
                        *ms as f64 / 1000.0
                    ));
                } else {
                    self.line(&format!(
                        "  {mark}: {ok} ok, {failed} failed, {skipped} skipped ({:.2}s; {total:.1}s in all)",
                        *ms as f64 / 1000.0
                    ));
                }
            }
            Event::RollbackStarted { steps } => self.line(&format!(
                "{}: {}",
                self.paint("33", "rolling back"),
                if steps.is_empty() {
                    "no step has a rollback block".to_string()
                } else {
                    steps.join(", ")
                }
            )),
            Event::NoReturn { message } => self.line(&format!(
                "{}: {message}",
                self.paint("33", "past the point of no return, no rollback")
            )),
            Event::RunDone {
                status,
                exit_code,
                ms,
            } => {
                if let Some(b) = self.take_bar() {
                    b.finish_and_clear();
                }
                let mut s = String::from(
                    "\nstep                                  ok  failed  skipped    time\n",
                );
                for (name, r) in &self.rows {
                    s.push_str(&format!(
                        "{:<36} {:>4} {:>7} {:>8} {:>6.2}s\n",
                        name.chars().take(36).collect::<String>(),
                        r.ok,
                        r.failed,
                        r.skipped,
                        r.ms as f64 / 1000.0
                    ));
                }
                let verdict = match status {
                    RunStatus::Success => self.paint("32", "success"),
                    RunStatus::FailedRolledBack => self.paint("33", "failed, rolled back"),
                    RunStatus::FailedRollbackFailed => self.paint(
                        "31",
                        "failed, and the rollback failed: the hosts above need attention",
                    ),
                    RunStatus::FailedNoRollback => self.paint("31", "failed, not rolled back"),
                    RunStatus::FailedUndone => self.paint(
                        "33",
                        "failed; the failing host's change of that step was undone, everything before it stands",
                    ),
                    RunStatus::Interrupted => self.paint("33", "interrupted"),
                    RunStatus::Refused => {
                        self.paint("31", "refused before starting: nothing was changed")
                    }
                };
                if !self.failed_hosts.is_empty() {
                    let list: Vec<String> = self
                        .failed_hosts
                        .iter()
                        .map(|(step, host)| format!("{host} ({step})"))
                        .collect();
                    s.push_str(&format!("\nfailed hosts: {}", list.join(", ")));
                }
                if !self.unreachable.is_empty() {
                    s.push_str(&format!("\nunreachable: {}", self.unreachable.join(", ")));
                }
                s.push_str(&format!(
                    "\n{verdict}\nexit code {exit_code} after {:.2}s",
                    *ms as f64 / 1000.0
                ));
                self.line(&s);
            }
            Event::Connected { .. } | Event::ActionDone { .. } => {}
        }
    }
}
