//! `etcdflow run FLOW -i INVENTORY` and `etcdflow plan` (= `run --check`).

use super::check::param_args;
use super::{Exit, Format};
use crate::check::{self, Options as CheckOptions};
use crate::diagnostics::{self, render, Diagnostic};
use crate::inventory::Inventory;
use crate::load::{self, RealFs};
use crate::report::{self, Reporter};
use crate::runtime::{self, events::RunStatus};
use crate::source::SourceMap;
use crate::transport::SshOptions;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The flow file.
    #[arg(value_name = "FLOW")]
    flow: PathBuf,
    /// The Ansible inventory (INI or YAML).
    #[arg(short, long, value_name = "INVENTORY")]
    inventory: PathBuf,
    /// Set a param: `-e name=value` (repeatable).
    #[arg(short = 'e', long = "extra-var", value_name = "NAME=VALUE")]
    extra: Vec<String>,
    /// A YAML or JSON file of param values.
    #[arg(long, value_name = "FILE")]
    vars: Option<PathBuf>,
    /// Hosts that run a step at the same time.
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    forks: u16,
    /// An ssh config file instead of `~/.ssh/config` (`ssh -F`).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Check host keys against this known_hosts file.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Trust unknown host keys on first use (a changed key is still refused).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
    /// Answer every `confirm` with yes (required without a terminal).
    #[arg(long)]
    yes: bool,
    /// Do not run rollback blocks when a step fails.
    #[arg(long)]
    no_rollback: bool,
    /// Stream every command's output, prefixed with its host.
    #[arg(short, long)]
    verbose: bool,
    /// `human` (terminal view on stderr) or `json` (NDJSON events on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    output: Format,
    /// Print the plan without connecting to anything (same as `etcdflow plan`).
    #[arg(long)]
    check: bool,
}

impl RunArgs {
    pub(crate) fn run(self, color: bool, plan_only: bool) -> ExitCode {
        let plan_only = plan_only || self.check;
        let mut sources = SourceMap::new();
        let mut diags: Vec<Diagnostic> = Vec::new();
        let (params, mut pd) = param_args(&self.extra, self.vars.as_deref(), &mut sources);
        diags.append(&mut pd);
        let inv_text = match std::fs::read_to_string(&self.inventory) {
            Ok(t) => t,
            Err(e) => {
                let d = Diagnostic::error(
                    "file-not-found",
                    format!("cannot read inventory `{}`: {e}", self.inventory.display()),
                )
                .help("pass an Ansible inventory file with `-i`");
                eprint!("{}", render::human(&[d], &sources, color));
                return Exit::Usage.into();
            }
        };
        let inv_id = sources.add(
            self.inventory.display().to_string(),
            &self.inventory,
            inv_text,
        );
        let (inventory, mut idiags) = Inventory::parse(inv_id, &sources);
        let inv_ok = !idiags.iter().any(Diagnostic::is_error);
        diags.append(&mut idiags);
        let prog = load::load(&RealFs, &self.flow, &mut sources);
        if prog.root.is_none() {
            eprint!("{}", render::human(&prog.diagnostics, &sources, color));
            return Exit::Usage.into();
        }
        diags.extend(prog.diagnostics.iter().cloned());
        let opts = CheckOptions {
            inventory_groups: inv_ok.then(|| inventory.group_names()),
            params,
            require_params: true,
        };
        let checked = check::check(&prog, &sources, &opts);
        diags.extend(checked.diagnostics);
        diagnostics::sort(&mut diags);
        if diags.iter().any(Diagnostic::is_error) {
            eprint!("{}", render::human(&diags, &sources, color));
            eprintln!("refused before starting: the flow has errors; nothing was changed");
            return ExitCode::from(RunStatus::Refused.exit_code());
        }
        if !diags.is_empty() {
            eprint!("{}", render::human(&diags, &sources, color));
        }
        let Some(flow) = checked.flow else {
            return ExitCode::from(RunStatus::Refused.exit_code());
        };
        let tty = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let prompter: Option<runtime::Prompter> = tty.then(|| {
            Arc::new(|msg: &str| {
                eprint!("{msg} [y/N] ");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).is_ok()
                    && matches!(line.trim(), "y" | "Y" | "yes")
            }) as runtime::Prompter
        });
        let ropts = runtime::Options {
            forks: usize::from(self.forks),
            ssh: SshOptions {
                config_file: self.ssh_config.clone(),
                known_hosts: self.known_hosts.clone(),
                accept_new_host_keys: self.accept_new_host_keys,
                connect_timeout: Some(Duration::from_secs(self.connect_timeout.max(1))),
                control_dir: None,
            },
            yes: self.yes,
            prompter,
            no_rollback: self.no_rollback,
            flow_dir: self.flow.parent().map(PathBuf::from).unwrap_or_default(),
            verbose: self.verbose,
            default_timeout: Duration::from_secs(600),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let prep = match runtime::prepare(
            flow,
            &checked.param_values,
            inventory,
            sources,
            ropts,
            tx,
            plan_only,
        ) {
            Ok(p) => p,
            Err(r) => {
                let d = Diagnostic::error(r.code, r.message).help(r.help);
                eprint!("{}", render::human(&[d], &SourceMap::new(), color));
                eprintln!("refused before starting: nothing was changed");
                return ExitCode::from(RunStatus::Refused.exit_code());
            }
        };
        if plan_only {
            print_plan(&prep, self.output);
            return Exit::Ok.into();
        }
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("[internal-error] Error: this is a bug in etcdflow: cannot start the async runtime: {e}");
                return Exit::Usage.into();
            }
        };
        let mut reporter: Box<dyn Reporter> = match self.output {
            Format::Json => Box::new(report::Json),
            Format::Human => Box::new(report::Human::new(
                color,
                std::io::stderr().is_terminal(),
                self.verbose,
            )),
        };
        let status = rt.block_on(async move {
            let consumer = tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    reporter.event(&e);
                }
                reporter.finish();
            });
            let status = runtime::run(prep).await;
            let _ = consumer.await;
            status
        });
        ExitCode::from(status.exit_code())
    }
}

fn print_plan(prep: &runtime::Prepared, format: Format) {
    let steps = runtime::plan::plan(prep);
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&steps).unwrap_or_default()
        );
        return;
    }
    for (i, s) in steps.iter().enumerate() {
        let opts = if s.options.is_empty() {
            String::new()
        } else {
            format!(" [{}]", s.options.join(", "))
        };
        println!("{}. step {} on {}{opts}", i + 1, s.name, s.hosts.join(", "));
        for (host, lines) in &s.actions {
            println!("   {host}:");
            for l in lines {
                println!("     {l}");
            }
        }
        if !s.rollback.is_empty() {
            println!("   rollback (if a later step fails):");
            for (host, lines) in &s.rollback {
                println!("     {host}:");
                for l in lines {
                    println!("       {l}");
                }
            }
        }
        if let Some(m) = &s.no_return {
            println!("   past the point of no return: a failure here is not rolled back; {m}");
        }
    }
    println!(
        "plan: {} steps; nothing was connected to or changed",
        steps.len()
    );
}
