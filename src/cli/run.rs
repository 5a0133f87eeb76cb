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

/// What `run` and `plan` both take: the flow, its inventory, its params, the hosts.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// The flow file (or a stdlib flow's name).
    #[arg(value_name = "FLOW")]
    flow: PathBuf,
    /// An Ansible inventory: an INI or YAML file, a directory (every inventory file in
    /// it, with `group_vars/` and `host_vars/`), or `host1,host2,` (repeatable, merged in
    /// order); without it, ansible.cfg's `inventory`.
    #[arg(short, long, value_name = "INVENTORY")]
    inventory: Vec<PathBuf>,
    /// Set params: `-e name=value`, `-e @FILE` (YAML/JSON), `-e '{"name": value}'`
    /// (repeatable; a later value wins).
    #[arg(
        short = 'e',
        long = "extra-var",
        visible_alias = "extra-vars",
        value_name = "NAME=VALUE|@FILE|JSON"
    )]
    extra: Vec<String>,
    /// A YAML or JSON file of param values.
    #[arg(long, value_name = "FILE")]
    vars: Option<PathBuf>,
    /// Run only on these hosts, Ansible's host patterns (`g1:g2`, `g1:&g2`, `g1:!g2`,
    /// names, `web*`); applied after the check, shown in the plan, kept by `resume`.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    limit: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    target: Target,
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
    /// Seconds to wait for an SSH connection (1..3600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
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
    /// Where run journals are kept (`<DIR>/runs/<run-id>/`).
    #[arg(long, default_value = ".etcdflow", value_name = "DIR")]
    state_dir: PathBuf,
    /// On Ctrl-C or SIGTERM, roll back instead of stopping for a later `resume`.
    #[arg(long)]
    rollback_on_interrupt: bool,
}

/// `etcdflow resume RUN_ID`: continue an interrupted run from its journal.
#[derive(Args, Debug)]
pub(crate) struct ResumeArgs {
    /// The run id (`etcdflow runs` lists them).
    run_id: String,
    /// Where the run's journal is (`<DIR>/runs/<run-id>/`), as given to `run`.
    #[arg(long, default_value = ".etcdflow", value_name = "DIR")]
    state_dir: PathBuf,
    /// Secret params again (they are never journaled), or overrides: `-e name=value`,
    /// `-e @FILE` (a file keeps secrets out of `/proc/*/cmdline`).
    #[arg(
        short = 'e',
        long = "extra-var",
        visible_alias = "extra-vars",
        value_name = "NAME=VALUE|@FILE|JSON"
    )]
    extra: Vec<String>,
    /// Resume even though the flow (or a file it includes) changed since the run began.
    #[arg(long)]
    allow_changed_flow: bool,
    /// An ssh config file instead of the one the run used (`ssh -F`).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Check host keys against this known_hosts file instead of the run's.
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Trust unknown host keys on first use (a changed key is still refused).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection (1..3600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    connect_timeout: u64,
    /// Answer every `confirm` with yes (required without a terminal).
    #[arg(long)]
    yes: bool,
    /// Stream every command's output, prefixed with its host.
    #[arg(short, long)]
    verbose: bool,
    /// `human` (terminal view on stderr) or `json` (NDJSON events on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    output: Format,
    /// On Ctrl-C or SIGTERM, roll back instead of stopping for a later `resume`.
    #[arg(long)]
    rollback_on_interrupt: bool,
}

/// `etcdflow plan FLOW`: only what changes the plan (it connects to nothing).
#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    target: Target,
    /// Every host's commands in full (by default hosts whose commands differ only by
    /// their own name and address are shown once, as `{host}` and `{address}`).
    #[arg(long)]
    hosts: bool,
}

impl PlanArgs {
    pub(crate) fn run(self, color: bool) -> ExitCode {
        RunArgs {
            target: self.target,
            // Run-only settings: a plan connects to nothing and changes nothing.
            forks: 10,
            ssh_config: None,
            known_hosts: None,
            accept_new_host_keys: false,
            connect_timeout: 10,
            yes: false,
            no_rollback: false,
            verbose: false,
            output: Format::Human,
            check: true,
            state_dir: PathBuf::from(".etcdflow"),
            rollback_on_interrupt: false,
        }
        .run_or_plan(color, true, self.hosts)
    }
}

impl ResumeArgs {
    pub(crate) fn run(self, color: bool) -> ExitCode {
        use crate::journal::{self, Record};
        let dir = self.state_dir.join("runs").join(&self.run_id);
        let records = match journal::read(&dir) {
            Ok((r, _)) => r,
            Err(e) => {
                super::error(
                    "unknown-run",
                    format!(
                        "no run `{}` in {}: {e}",
                        self.run_id,
                        self.state_dir.display()
                    ),
                    Some("`etcdflow runs` lists the runs".into()),
                );
                return Exit::Usage.into();
            }
        };
        let Some(Record::Run {
            flow,
            flow_sha256,
            inventory,
            params,
            secret_params,
            ssh_config,
            known_hosts,
            forks,
            limit,
            ..
        }) = records.first().cloned()
        else {
            super::error(
                "journal-error",
                format!("the journal of run `{}` has no start record", self.run_id),
                Some("it cannot be resumed; check the hosts by hand".into()),
            );
            return ExitCode::from(RunStatus::Refused.exit_code());
        };
        let from = match crate::runtime::ResumeFrom::from_journal(&self.run_id, &dir, &records) {
            Ok(f) => f,
            Err(why) => {
                super::error(
                    "not-resumable",
                    why,
                    Some(format!(
                        "`etcdflow runs show {}` prints what happened",
                        self.run_id
                    )),
                );
                return ExitCode::from(RunStatus::Refused.exit_code());
            }
        };
        eprintln!(
            "resuming run {} (journal {}): from step {}{}",
            self.run_id,
            dir.display(),
            from.start_step + 1,
            if from.done_hosts.is_empty() && from.unknown_hosts.is_empty() {
                String::new()
            } else {
                format!(
                    ", which {} host(s) had finished and {} had begun",
                    from.done_hosts.len(),
                    from.unknown_hosts.len()
                )
            }
        );
        let given: Vec<String> = self
            .extra
            .iter()
            .filter_map(|e| e.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect();
        let mut extra: Vec<String> = params
            .iter()
            .filter(|(k, _)| !secret_params.contains(k) && !given.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        extra.extend(self.extra.iter().cloned());
        // A stdlib flow was run by name: its journal names `<cwd>/<name>.flow`.
        let stdlib = (!flow.exists())
            .then(|| {
                flow.file_name()
                    .and_then(|n| crate::stdlib::get(&n.to_string_lossy()))
            })
            .flatten();
        let inv = Invocation {
            flow,
            stdlib,
            inventory: *inventory,
            extra,
            vars: None,
            forks: u16::try_from(forks).unwrap_or(10),
            ssh_config: self.ssh_config.or(ssh_config),
            known_hosts: self.known_hosts.or(known_hosts),
            accept_new_host_keys: self.accept_new_host_keys,
            connect_timeout: self.connect_timeout,
            yes: self.yes,
            no_rollback: false,
            verbose: self.verbose,
            output: self.output,
            state_dir: self.state_dir,
            rollback_on_interrupt: self.rollback_on_interrupt,
            expected_sha256: (!self.allow_changed_flow).then_some(flow_sha256),
            resume: Some(from),
            limit,
            plan_hosts: false,
        };
        inv.execute(color, false)
    }
}

/// Everything one run needs, from `run` or from a journal (`resume`).
struct Invocation {
    /// Absolute; for a stdlib flow `<cwd>/<name>.flow` (relative paths of the flow
    /// resolve in that directory, also when the run is resumed elsewhere).
    flow: PathBuf,
    /// The stdlib flow (name, source) run by name when no such local file exists.
    stdlib: Option<(&'static str, &'static str)>,
    inventory: crate::inventory::Sources,
    extra: Vec<String>,
    vars: Option<PathBuf>,
    forks: u16,
    ssh_config: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    accept_new_host_keys: bool,
    connect_timeout: u64,
    yes: bool,
    no_rollback: bool,
    verbose: bool,
    output: Format,
    state_dir: PathBuf,
    rollback_on_interrupt: bool,
    expected_sha256: Option<String>,
    resume: Option<crate::runtime::ResumeFrom>,
    limit: Option<String>,
    /// `plan --hosts`: every host's commands, ungrouped.
    plan_hosts: bool,
}

impl RunArgs {
    pub(crate) fn run(self, color: bool, plan_only: bool) -> ExitCode {
        self.run_or_plan(color, plan_only, false)
    }

    fn run_or_plan(self, color: bool, plan_only: bool, plan_hosts: bool) -> ExitCode {
        let plan_only = plan_only || self.check;
        let Target {
            flow,
            inventory,
            extra,
            vars,
            limit,
        } = self.target;
        let cwd = std::env::current_dir().unwrap_or_default();
        let abs = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or_else(|_| cwd.join(p));
        // A local file wins; a bare name that is no file names a stdlib flow.
        let stdlib = (!flow.exists() && flow.components().count() == 1)
            .then(|| crate::stdlib::get(&flow.display().to_string()))
            .flatten();
        let flow = abs(flow);
        // group_vars/ and host_vars/ beside the flow are the playbook's.
        let playbook_dir = flow.parent().map(PathBuf::from);
        let inventory = match crate::inventory::Sources::resolve(&inventory, playbook_dir, &cwd) {
            Ok(s) => s,
            Err(d) => {
                eprint!("{}", render::human(&[d], &SourceMap::new(), color));
                return Exit::Usage.into();
            }
        };
        Invocation {
            flow,
            stdlib,
            inventory,
            extra,
            vars,
            forks: self.forks,
            ssh_config: self.ssh_config.map(abs),
            known_hosts: self.known_hosts.map(abs),
            accept_new_host_keys: self.accept_new_host_keys,
            connect_timeout: self.connect_timeout,
            yes: self.yes,
            no_rollback: self.no_rollback,
            verbose: self.verbose,
            output: self.output,
            state_dir: self.state_dir,
            rollback_on_interrupt: self.rollback_on_interrupt,
            expected_sha256: None,
            resume: None,
            limit,
            plan_hosts,
        }
        .execute(color, plan_only)
    }
}

impl Invocation {
    fn execute(self, color: bool, plan_only: bool) -> ExitCode {
        let output = self.output;
        let mut sources = SourceMap::new();
        let mut diags: Vec<Diagnostic> = Vec::new();
        let (params, mut pd) = param_args(&self.extra, self.vars.as_deref(), &mut sources);
        diags.append(&mut pd);
        if let Some(cfg) = &self.inventory.defaults.file {
            eprintln!("reading {} (ansible.cfg)", cfg.display());
        }
        let (inventory, mut idiags) = match Inventory::load_sources(&self.inventory, &mut sources) {
            Ok(x) => x,
            Err(d) => return self.refused(&[d], &sources, color, Exit::Usage as u8, None),
        };
        let inv_ok = !idiags.iter().any(Diagnostic::is_error);
        diags.append(&mut idiags);
        // A local file wins; otherwise a stdlib flow of that name.
        let prog = match self.stdlib {
            Some((name, src)) => {
                eprintln!(
                    "using the stdlib flow `{name}` (there is no local file `{}`)",
                    self.flow.file_name().unwrap_or_default().to_string_lossy()
                );
                let mut fs = crate::load::MemFs::default();
                fs.0.insert(self.flow.clone(), src.to_string());
                load::load(&fs, &self.flow, &mut sources)
            }
            None => load::load(&RealFs, &self.flow, &mut sources),
        };
        if prog.root.is_none() {
            return self.refused(&prog.diagnostics, &sources, color, Exit::Usage as u8, None);
        }
        diags.extend(prog.diagnostics.iter().cloned());
        let opts = CheckOptions {
            inventory_groups: inv_ok.then(|| inventory.group_names()),
            inventory_hosts: inv_ok.then(|| inventory.hosts.keys().cloned().collect()),
            inventory_facts: inv_ok.then(|| inventory.facts()),
            params,
            require_params: true,
        };
        let checked = check::check(&prog, &sources, &opts);
        let mut flow_files: Vec<crate::source::FileId> =
            prog.files.iter().map(|f| f.file).collect();
        flow_files.extend(
            prog.templates
                .values()
                .filter_map(|t| t.as_ref().ok().copied()),
        );
        let flow_sha256 = crate::journal::flow_hash(&sources, &flow_files);
        if let Some(want) = &self.expected_sha256 {
            if *want != flow_sha256 {
                let d = Diagnostic::error("flow-changed", format!("`{}` changed since the run began", self.flow.display())).help("resuming a changed flow can skip or repeat work; pass `--allow-changed-flow` if the change is intended");
                return self.refused(&[d], &sources, color, RunStatus::Refused.exit_code(), None);
            }
        }
        diags.extend(checked.diagnostics);
        diagnostics::sort(&mut diags);
        if diags.iter().any(Diagnostic::is_error) {
            return self.refused(
                &diags,
                &sources,
                color,
                RunStatus::Refused.exit_code(),
                Some("refused before starting: the flow has errors; nothing was changed"),
            );
        }
        if !diags.is_empty() {
            eprint!("{}", render::human(&diags, &sources, color));
        }
        let Some(flow) = checked.flow else {
            return ExitCode::from(RunStatus::Refused.exit_code());
        };
        // A gate asks on the controlling terminal, also when stdout and stderr are piped
        // (`| tee log`); with no terminal at all it is refused up front.
        let tty = open_tty().is_ok();
        let prompter: Option<runtime::Prompter> = tty.then(|| {
            Arc::new(|msg: &str| report::suspended(|| ask_on_tty(msg))) as runtime::Prompter
        });
        let ropts = runtime::Options {
            forks: usize::from(self.forks),
            ssh: SshOptions {
                config_file: self.ssh_config.clone(),
                known_hosts: self.known_hosts.clone(),
                accept_new_host_keys: self.accept_new_host_keys,
                connect_timeout: Some(Duration::from_secs(self.connect_timeout)),
                control_dir: None,
            },
            yes: self.yes,
            prompter,
            no_rollback: self.no_rollback,
            flow_dir: self.flow.parent().map(PathBuf::from).unwrap_or_default(),
            verbose: self.verbose,
            default_timeout: Duration::from_secs(600),
            state_dir: Some(self.state_dir.clone()),
            meta: Some(runtime::RunMeta {
                flow: self.flow.clone(),
                flow_sha256,
                inventory: self.inventory.clone(),
                ssh_config: self.ssh_config.clone(),
                known_hosts: self.known_hosts.clone(),
            }),
            resume: self.resume.clone(),
            rollback_on_interrupt: self.rollback_on_interrupt,
            limit: self.limit.clone(),
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
                return self_refused(
                    output,
                    &[d],
                    &SourceMap::new(),
                    color,
                    RunStatus::Refused.exit_code(),
                    Some("refused before starting: nothing was changed"),
                );
            }
        };
        if plan_only {
            if let Some(l) = &self.limit {
                if self.output == Format::Human {
                    crate::out!("limit: {l}");
                }
            }
            print_plan(&prep, self.output, self.plan_hosts);
            return Exit::Ok.into();
        }
        if self.output == Format::Human {
            eprintln!(
                "run {}: journal in {}",
                prep.run_id(),
                self.state_dir.join("runs").join(prep.run_id()).display()
            );
        }
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                super::error(
                    "internal-error",
                    format!("this is a bug in etcdflow: cannot start the async runtime: {e}"),
                    None,
                );
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

impl Invocation {
    /// A run that does not start: the diagnostics on stderr and, with `--output json`, a
    /// `refused` event on stdout; then its exit code.
    fn refused(
        &self,
        diags: &[Diagnostic],
        sources: &SourceMap,
        color: bool,
        code: u8,
        tail: Option<&str>,
    ) -> ExitCode {
        self_refused(self.output, diags, sources, color, code, tail)
    }
}

fn self_refused(
    output: Format,
    diags: &[Diagnostic],
    sources: &SourceMap,
    color: bool,
    code: u8,
    tail: Option<&str>,
) -> ExitCode {
    eprint!("{}", render::human(diags, sources, color));
    if let Some(t) = tail {
        eprintln!("{t}");
    }
    if output == Format::Json {
        report::json_line(serde_json::json!({
            "event": "refused",
            "exit_code": code,
            "diagnostics": render::json_values(diags, sources),
        }));
    }
    ExitCode::from(code)
}

fn open_tty() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
}

/// Ask `msg` on the controlling terminal: only `y`/`yes` is yes.
fn ask_on_tty(msg: &str) -> bool {
    use std::io::{BufRead, Write};
    let Ok(mut tty) = open_tty() else {
        return false;
    };
    if write!(tty, "{msg} [y/N] ")
        .and_then(|()| tty.flush())
        .is_err()
    {
        return false;
    }
    let mut line = String::new();
    std::io::BufReader::new(tty).read_line(&mut line).is_ok()
        && matches!(line.trim(), "y" | "Y" | "yes")
}

/// Each host's commands; unless `expand`, hosts whose commands differ only by their own
/// name and address are printed once, as `{host}` and `{address}`.
fn print_commands(
    per_host: &[(String, Vec<String>)],
    addresses: &std::collections::HashMap<String, String>,
    expand: bool,
    pad: &str,
) {
    let groups: Vec<(Vec<String>, Vec<String>)> = if expand {
        per_host
            .iter()
            .map(|(h, l)| (vec![h.clone()], l.clone()))
            .collect()
    } else {
        runtime::plan::group(per_host, addresses)
    };
    for (hosts, lines) in groups {
        let own = lines
            .iter()
            .any(|l| l.contains("{host}") || l.contains("{address}"));
        let note = if hosts.len() > 1 && own {
            " ({host}, {address}: each host's own)"
        } else {
            ""
        };
        crate::out!("{pad}{}:{note}", runtime::plan::hosts_label(&hosts));
        for l in lines {
            crate::out!("{pad}  {l}");
        }
    }
}

fn print_plan(prep: &runtime::Prepared, format: Format, expand: bool) {
    let steps = runtime::plan::plan(prep);
    if format == Format::Json {
        crate::out!(
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
        let on = if expand {
            s.hosts.join(", ")
        } else {
            runtime::plan::hosts_label(&s.hosts)
        };
        crate::out!("{}. step {} on {on}{opts}", i + 1, s.name);
        print_commands(&s.actions, &s.addresses, expand, "   ");
        if !s.rollback.is_empty() {
            crate::out!("   rollback (if a later step fails):");
            print_commands(&s.rollback, &s.addresses, expand, "     ");
        }
        if let Some(m) = &s.no_return {
            crate::out!("   past the point of no return: a failure here is not rolled back; {m}");
        }
    }
    crate::out!(
        "plan: {} steps; nothing was connected to or changed",
        steps.len()
    );
}
