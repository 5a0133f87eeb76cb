//! The command line: one clap struct per subcommand, each with a short `run` that
//! delegates to the library. Exit codes are documented in the README and in [`Exit`].
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // the CLI prints

pub(crate) mod check;

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
    #[command(after_long_help = RUN_EXIT_CODES)]
    Run(run::RunArgs),
    /// Print what `run` would do, without connecting (same as `run --check`).
    Plan(run::PlanArgs),
    /// Continue an interrupted run from its journal (or one stopped with exit 7).
    #[command(after_long_help = RUN_EXIT_CODES)]
    Resume(run::ResumeArgs),
    /// List runs, or show one as a timeline (`runs show RUN_ID`).
    Runs(runs::RunsArgs),
    /// The embedded procedures: `list`, `show NAME`, `fork NAME [DIR]`.
    Stdlib(stdlib::StdlibArgs),
    /// A local rehearsal cluster: hosts as network namespaces with sshd and etcd.
    Sandbox(sandbox::SandboxArgs),
    /// Verify etcd snapshot files (`snapshot verify FILE...`).
    Snapshot(snapshot::SnapshotArgs),
    /// Print a shell completion script: `etcdflow completions bash > /etc/bash_completion.d/etcdflow`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `etcdflow man | man -l -`.
    Man,
    /// Serve the Language Server Protocol on stdin/stdout, for editors (`editors/vscode`,
    /// Neovim's lspconfig): diagnostics, completion, hover, definitions, rename, format.
    Lsp,
}

/// The exit codes of `run` and `resume` (the README's table).
const RUN_EXIT_CODES: &str = "Exit codes:
  0  success
  1  a step failed; the rollback blocks ran and succeeded
  2  usage error
  3  a step failed and a rollback block failed too: the summary says where
  4  a step failed and was not rolled back (--no-rollback, or past a point_of_no_return)
  5  refused before starting: nothing was changed
  6  interrupted: `etcdflow resume RUN_ID` continues
  7  a step with on_failure: \"undo_host\" failed: that host's change was undone, the rest
     stands; `etcdflow resume RUN_ID` goes on once the cause is fixed";

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
        Command::Plan(a) => a.run(color),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "etcdflow",
                &mut buf,
            );
            crate::out!("{}", String::from_utf8_lossy(&buf).trim_end());
            Exit::Ok.into()
        }
        Command::Man => {
            let mut buf = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut buf) {
                Ok(()) => {
                    crate::out!("{}", String::from_utf8_lossy(&buf).trim_end());
                    Exit::Ok.into()
                }
                Err(e) => {
                    error("internal-error", format!("the manual page: {e}"), None);
                    Exit::Failed.into()
                }
            }
        }
        Command::Lsp => match crate::lsp::serve() {
            Ok(()) => Exit::Ok.into(),
            Err(e) => {
                error("lsp-protocol-error", e.to_string(), None);
                Exit::Failed.into()
            }
        },
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
