//! The command line: one clap struct per subcommand, each with a short `run` that
//! delegates to the library. Exit codes are documented in the README and in [`Exit`].
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // the CLI prints

mod check;

pub use check::param_args;
mod explain;
mod fmt;
mod inventory;
mod lint;
mod run;
mod runs;
mod sandbox;
mod snapshot;
mod stdlib;

use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Process exit codes (stable; documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success (warnings allowed).
    Ok = 0,
    /// The input has errors (check), or the run failed and was rolled back.
    Failed = 1,
    /// Usage error: bad flags, unreadable files given on the command line.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "etcdflow",
    version,
    about = "Checked, resumable, etcd-aware procedures for Kubernetes control planes"
)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check flows for every mistake that can be found before a host is touched.
    Check(check::CheckArgs),
    /// Check flows and run the lint rules (for CI: JSON, SARIF, `--deny warnings`).
    Lint(lint::LintArgs),
    /// Format flows in the one canonical layout (`--check`: only list what would change).
    Fmt(fmt::FmtArgs),
    /// Explain a diagnostic code, with an example (`etcdflow explain --list` lists them).
    Explain(explain::ExplainArgs),
    /// Show how an Ansible inventory was understood.
    Inventory(inventory::InventoryArgs),
    /// Run a flow on the hosts of an inventory.
    Run(run::RunArgs),
    /// Print what `run` would do, without connecting (same as `run --check`).
    Plan(run::RunArgs),
    /// Continue an interrupted run from its journal.
    Resume(run::ResumeArgs),
    /// List runs, or show one as a timeline (`runs show RUN_ID`).
    Runs(runs::RunsArgs),
    /// The embedded procedures: `list`, `show NAME`, `fork NAME [DIR]`.
    Stdlib(stdlib::StdlibArgs),
    /// A local rehearsal cluster: hosts as network namespaces with sshd and etcd.
    Sandbox(sandbox::SandboxArgs),
    /// Verify etcd snapshot files (`snapshot verify FILE...`).
    Snapshot(snapshot::SnapshotArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Default)]
pub(crate) enum Format {
    #[default]
    Human,
    Json,
}

impl Color {
    fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Run the CLI with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok.into()
                }
                _ => Exit::Usage.into(),
            };
        }
    };
    let color = cli.color.enabled();
    let _ = COLOR.set(color);
    match cli.command {
        Command::Check(a) => a.run(color).into(),
        Command::Lint(a) => a.run(color).into(),
        Command::Fmt(a) => a.run().into(),
        Command::Explain(a) => a.run().into(),
        Command::Inventory(a) => a.run(color).into(),
        Command::Run(a) => a.run(color, false),
        Command::Plan(a) => a.run(color, true),
        Command::Sandbox(a) => a.run().into(),
        Command::Resume(a) => a.run(color),
        Command::Runs(a) => a.run().into(),
        Command::Stdlib(a) => a.run().into(),
        Command::Snapshot(a) => a.run().into(),
    }
}

/// Whether diagnostics are coloured (`--color`), for messages of commands that are not
/// given it.
static COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// An error of the CLI itself (no source location), through the one renderer.
pub(crate) fn error(code: &'static str, message: impl Into<String>, help: Option<String>) {
    let mut d = crate::diagnostics::Diagnostic::error(code, message.into());
    if let Some(h) = help {
        d = d.help(h);
    }
    eprint!(
        "{}",
        crate::diagnostics::render::human(
            &[d],
            &crate::source::SourceMap::new(),
            COLOR.get().copied().unwrap_or(false)
        )
    );
}

/// `println!` that ignores a closed stdout (`etcdflow ... | head` must not panic).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
