//! Every diagnostic code etcdflow emits, with its default severity, a one-line summary
//! and a longer explanation with an example (`etcdflow explain CODE`). A test checks that
//! every code used in `src/` is listed here and has a case in `tests/cases/`.

use super::Severity;

pub struct CodeInfo {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub explanation: &'static str,
}

macro_rules! codes {
    ($name:ident; $( $code:literal, $sev:ident, $summary:literal, $expl:literal; )*) => {
        pub const $name: &[CodeInfo] = &[ $( CodeInfo {
            code: $code, severity: Severity::$sev, summary: $summary, explanation: $expl,
        }, )* ];
    };
}

// The codes of the run, the CLI and the inventory, in their own file.
mod run;

/// Every code: those of `check` and `lint` (below), then those of the run, the CLI and
/// the inventory (`codes/run.rs`).
pub static CODES: std::sync::LazyLock<Vec<&'static CodeInfo>> =
    std::sync::LazyLock::new(|| CHECK_CODES.iter().chain(run::RUN_CODES).collect());

codes! {
CHECK_CODES;
"syntax-error", Error, "the text is not valid etcdflow",
"The parser could not read the file at this point. The message says what it expected.
Statements end at the end of a line; continue a long one with a trailing `\\`.
Arguments are written `key: value`; flags are bare words.

    step stop on masters {
      run \"systemctl stop kubelet\" timeout: 30s
    }";

"invalid-escape", Error, "a string contains an unknown escape sequence",
"Inside \"...\" strings the escapes are \\n \\t \\r \\\\ \\\" \\' \\{ \\} and \\$.
Use '...' strings for text with many backslashes: they have no escapes and no
interpolation.

    run 'grep -E \"^a\\s+b\" /etc/hosts'";

"invalid-literal", Error, "a number, duration or size literal is malformed",
"Durations are digits with a unit: ms, s, m, h, d (`500ms`, `1h30m`). Sizes use B, KB, MB,
GB, TB, KiB, MiB, GiB, TiB (`512MiB`). Integers fit in 64 bits.

    param wait: duration = 5m     # not 5min";

"invalid-port", Error, "a port is outside 1..65535",
"A value of type `port` must be between 1 and 65535.

    param etcd_port: port = 4001";

"invalid-url", Error, "a URL literal is malformed or has no scheme",
"URLs must have an explicit scheme (`http://` or `https://`) and a host. etcd peer URLs
without a scheme silently become `http://` (SAFETY.md invariant 5).

    etcd.member_add name: \"b\" peer_url: \"https://10.0.0.2:2380\"";

"invalid-path", Error, "a path literal is empty, relative where it must be absolute, or `/`",
"Remote paths must be absolute and normalised, never `/` or empty (SAFETY.md invariant
21). Controller-side paths may be relative to the flow file.

    copy snapshot to: \"/tmp/snapshot.db\"";

"invalid-mode", Error, "a file mode is not an octal string",
"File modes are strings of 3 or 4 octal digits, so `0600` is not read as decimal 600.

    copy \"ca.pem\" to: \"/etc/etcd/ca.pem\" mode: \"0644\"";

"file-not-found", Error, "a file named on the command line cannot be read",
"etcdflow could not read the file. Check the path and permissions.";

"include-not-found", Error, "an included flow file cannot be read",
"`include` paths are relative to the including file.

    include \"lib/common.flow\"";

"include-cycle", Error, "flow files include each other in a loop",
"A file may be included once; a loop of includes is refused. Move the shared items into
a third file that both include.";

"missing-flow-header", Warning, "the file has no `flow NAME` header",
"Every top-level flow starts with a name, used in journals and `stdlib list`:

    ## What this procedure does.
    flow restore_icp";

"duplicate-definition", Error, "a name is defined twice",
"Params, host sets, clusters and steps share one namespace per flow (including included
files). Rename one of them.";

"duplicate-argument", Error, "an argument is given twice",
"Each argument of an action, step or cluster may appear once.

    copy \"a\" to: \"/tmp/a\" mode: \"0600\"     # not mode twice";

"duplicate-binding", Error, "a `let` name is already bound",
"`let` names are visible in later steps, so they must be unique in the flow and must not
hide a param, host set or cluster.";

"unknown-name", Error, "a name is not defined",
"Names are params, host sets (`hosts`), clusters, `let` bindings of earlier statements and
steps, loop variables, and `host` inside a step.";

"use-before-definition", Error, "a binding is used before the statement that makes it",
"A binding exists only after its `let` has run. A `rollback` block sees the bindings made
before it in its step and in earlier steps.

    step s on masters {
      let old = run \"cat /etc/etcd/token\"
      rollback { run \"echo {{ old.stdout }} > /etc/etcd/token\" }
    }";

"unknown-type", Error, "a type name is not known",
"Types: str, int, bool, duration, size, path, url, port, host, hosts, secret, json,
list[T], map[T], and the result records command_result, file_result, etcd_member,
endpoint_status, endpoint_health, snapshot_info, kv, hash_kv. Add `?` for optional.";

"unknown-function", Error, "a function is not a builtin",
"See the language reference for the builtin functions (`group`, `first`, `len`, `join`,
`leader_last`, `initial_cluster`, ...).";

"wrong-arity", Error, "a function gets the wrong number of arguments",
"Check the function's signature in the language reference.";

"unknown-action", Error, "a statement names an action that does not exist",
"Actions: run, copy, fetch, template, wait, fail, confirm, log, and the etcd actions
`etcd.member_add`, `etcd.member_promote`, `etcd.member_remove`, `etcd.move_leader`,
`etcd.snapshot_save`, `etcd.snapshot_verify`, `etcd.snapshot_restore`, `etcd.defrag`,
`etcd.alarm_list`, `etcd.alarm_disarm`, `etcd.put`, `etcd.get`, `etcd.count`,
`etcd.delete`, `etcd.wait_healthy`, `etcd.wait_started`, `etcd.wait_caught_up`,
`etcd.wait_leader`, `etcd.status`, `etcd.members`, `etcd.health`, `etcd.hash_kv`.";

"unknown-argument", Error, "an action, step or cluster has no such argument",
"The message lists the arguments it takes.

    step s on masters serial timeout: 5m { ... }";

"missing-argument", Error, "a required argument is missing",
"Some arguments are required, and some actions need one of a set (`wait` needs `port:`,
`path:` or `until:`).

    wait port: 4001 closed timeout: 5m";

"conflicting-arguments", Error, "two arguments cannot be used together",
"For example a step is `serial` or `parallel`, not both; `copy` takes a source file or
`content:`, not both.";

"flag-needs-no-value", Error, "a flag is given a value, or a value argument is used as a flag",
"Flags are bare words (`serial`, `closed`, `become`); other arguments need `key: value`.";

"unknown-field", Error, "a record has no such field",
"Records have fixed fields; the message lists them.

    let r = run \"hostname\"
    assert r.rc == 0";

"unknown-cluster", Error, "an etcd action names no declared cluster",
"Declare the cluster with `cluster NAME { members: ... }`, and pass `cluster: NAME` when
the flow declares more than one.";

"type-mismatch", Error, "a value has the wrong type",
"The label says which type was expected and which was found.

    param wait: duration = 5m       # not \"5m\"";

"not-interpolable", Error, "a value cannot be put inside `{{ }}`",
"Only scalars (str, int, bool, duration, size, path, url, port, host, json) can be
interpolated. Turn a list into text with `join(list, \" \")`.";

"secret-in-command", Error, "a secret would reach a command line, a log line or a string",
"Values of type `secret` are never interpolated (SAFETY.md invariant 24): they would be
visible in `ps`, in logs and in the journal. Pass them on stdin, in a file written with
`copy content:`, or as the cluster's `password:`.

    run \"etcdctl --user root auth enable\" stdin: etcd_password";

"secret-in-template", Error, "a secret is passed into a template",
"Template contexts can be dumped in debug output, so secrets are never put in them
(SAFETY.md invariant 24). Write the secret with `copy content: SECRET to: PATH mode: \"0600\"`
and have the template reference the file path.";

"missing-param", Error, "a required param has no value",
"When params are given (`-e name=value` or `--vars FILE`) or a flow is run, every param
without a default must have a value.

    etcdflow check restore-icp.flow -e snapshot=/backups/etcd.db";

"unknown-param", Error, "`-e` names a param the flow does not declare",
"Only declared params can be set. The message suggests close names.";

"invalid-param-value", Error, "a `-e` value does not fit the param's type",
"Values are parsed by the param's type: `5m` for a duration, `4001` for a port, `true`
for a bool, a comma-separated list for list[T].";

"unknown-inventory-group", Error, "a host group is not in the inventory",
"With `-i INVENTORY`, every `group(\"NAME\")` must exist in it. Mark a group that may be
absent as optional: `group(\"management\")?` is then empty when missing.";

"inventory-syntax", Error, "the inventory file cannot be read",
"etcdflow reads Ansible INI and YAML inventories. The message points at the line.";

"invalid-inventory-host", Error, "an inventory host, user or port is unsafe or malformed",
"Hosts, users and ports are checked strictly (SAFETY.md invariant 22): no leading `-`, no
whitespace or shell metacharacters, IPv6 only in brackets, ports in 1..65535.";

"template-not-found", Error, "a template file cannot be read",
"Template paths are relative to the flow file.";

"template-path-not-literal", Error, "a template path is not a plain string",
"Templates are checked before anything runs, so their path must be a string literal
without `{{ }}`.";

"template-syntax", Error, "a template file is not valid minijinja",
"The message gives minijinja's error and the line in the template.";

"template-unknown-filter", Error, "a template applies a filter or test that does not exist",
"Templates are rendered by minijinja with its builtin filters and tests plus `toyaml`
(`tojson` is builtin). A filter the environment lacks would fail at run time, so `check`
reports it. Ansible's `to_nice_yaml` is `toyaml`, `to_json` is `tojson`:

    {{ env_list | toyaml | indent(8) }}";

"template-undefined-variable", Error, "a template uses a variable the flow does not provide",
"Templates render in strict mode (SAFETY.md invariant 21). Their variables are the
action's `vars:` map, the flow's non-secret params and `host`.

    template \"etcd.conf.j2\" to: \"/etc/etcd/etcd.conf\" vars: { token: token }";

"misplaced-rollback", Error, "a `rollback` block is nested or repeated",
"A step has at most one `rollback` block, directly in its body.";

"misplaced-optional", Error, "`?` is used on something other than `group(...)`",
"`group(\"NAME\")?` makes an inventory group optional; `?` means nothing elsewhere.";

"unknown-block", Error, "a `use` names no declared block",
"`use NAME(args)` expands `block NAME(params) { ... }`; declare the block (in this file or
an included one) or fix the name.

    block join_master(c: cluster, h: host) {
      log \"joining {{ member_name(c, h) }}\"
    }
    step second on nth(masters, 1) {
      use join_master(main, host)
    }";

"recursive-block", Error, "a block uses itself",
"A block is expanded where it is used, so a block that uses itself (directly or through
other blocks) would never end. Nesting is limited to 16 uses deep.";

"unused-block", Warning, "a block is never used",
"No step uses this block: use it with `use NAME(...)`, or remove it.";

"missing-host-var", Error, "a host variable the flow reads is not set on some target host",
"With `-i`, `check` knows each host's variables: `host.vars.NAME` read in a step must be
set on every host the step targets (host or group vars), or be read through
`default(host.vars.NAME, fallback)`.";

"host-index-out-of-range", Error, "`nth(hosts, N)` is past the end of the host set",
"With `-i`, `check` knows how many hosts a group has: `nth` counts from 0, so
`nth(new_masters, 2)` needs three new masters in the inventory.";

"cluster-file-not-found", Error, "a cluster's `ca`, `cert` or `key` file does not exist",
"A cluster's TLS files are read on the controller before the run (paths relative to the
flow file). A cluster whose certificates a step of the flow makes is declared
`lazy: true`: its files are then read when a step first uses it.";

"copy-source-not-found", Error, "a `copy` source does not exist on the controller",
"A literal `copy` source is looked for next to the flow file before the run. It may be
absent only when an earlier action can make it on the controller: a `run` in a step
`on local`, `fetch`, `tls.ca`/`tls.cert`, `etcd.snapshot_save`.";

"jinja-filter", Error, "a Jinja filter (`x | f`) where etcdflow calls a function",
"Expressions call builtin functions with the value first; `|` is the union of host sets.

    log \"{{ join(names(masters), \\\",\\\") }}\"    # not {{ names(masters) | join(',') }}
    log \"{{ trim(r.stdout) }}\"                # not {{ r.stdout | trim }}

In a template file (minijinja) filters are fine.";

"unbound-on-host", Error, "a value bound per host is read where it may not be bound",
"A step-level `let` in a step on hosts is bound on each of those hosts. A later step sees
it only if it runs on the same hosts or a subset of them (`a & b`, `a - b`, `first(a)` are
in `a`; `a` is in `a | b`). A step `on local` and a step option (evaluated once, on the
controller) see only values bound once: in a step `on local` or with `run_once`. Read
another host's value with `r[h]`, all of them with a comprehension:

    step ids on masters {
      let id = run \"cat /etc/machine-id\"
    }
    step show on local {
      log \"{{ join([id[h].stdout for h in masters], \\\",\\\") }}\"
    }

`r[h]` in the step that binds `r` is refused: the hosts run it concurrently.";

"maybe-unbound", Error, "a value is bound only where a step's `when:` held",
"A step with `when:` does not run on the hosts where the condition is false, so its
`let`s are not bound there. Read such a value with `default(NAME, fallback)`, or bind it
in a step without `when:` (an `if` inside the body decides what to do).";

"misplaced-step-variable", Error, "`host` is used outside a step",
"`host` is the host a step runs on; it does not exist in params, host sets or clusters.";

"unreachable-action", Warning, "a statement can never run",
"Nothing after `fail` in the same block runs. Remove it or move it before `fail`.";

"unused-param", Warning, "a param is never used",
"Remove the param, or use it.";

"unused-binding", Warning, "a `let` binding is never used",
"Remove the `let`, or use the value. To run an action only for its effect, drop `let`.";

"unused-hosts", Warning, "a host set is never used",
"Remove the `hosts` declaration, or run a step on it.";

"destructive-without-snapshot", Warning, "lint: data is destroyed before any snapshot is verified",
"A member removal, a restore, moving or removing an etcd data dir, or `rm -r` of an
interpolated path must come after a verified snapshot on every path through the flow: an
unconditional `etcd.snapshot_save` or `etcd.snapshot_verify` earlier (not inside `if`/`for`,
not in a step with `when:`). The runtime refuses a removal or restore without one anyway
(SAFETY.md inv. 9); lint says so before the run.

Bad:
    step rm on local {
      etcd.member_remove member: \"m3\"
    }
Good:
    step backup on local {
      etcd.snapshot_save to: \"backups/before-remove.db\"
    }
    step rm on local {
      etcd.member_remove member: \"m3\"
    }";

"member-add-without-wait", Warning, "lint: a member is added and the next change does not wait for it",
"After `etcd.member_add`, start the member and wait for it (`etcd.wait_started`, or
`etcd.wait_caught_up`, `etcd.wait_healthy`, `wait until:`) before the next add, promote or
remove (SAFETY.md inv. 2). A serial step that adds a member per host loops: its body needs
the wait too.

Bad:
    step grow on new serial {
      etcd.member_add name: host.name peer_url: peer_url(main, host)
      etcd.member_promote member: host.name
    }
Good:
    step grow on new serial {
      let m = etcd.member_add name: host.name peer_url: peer_url(main, host)
      template \"etcd.conf.j2\" to: \"/etc/etcd/etcd.conf\" vars: { initial_cluster: m.initial_cluster }
      run [\"systemctl\", \"start\", \"etcd\"]
      etcd.wait_started member: host.name timeout: 2m
      etcd.member_promote member: host.name timeout: 5m
      rollback {}
    }";

"membership-change-in-parallel-step", Warning, "lint: a membership change in a step that runs on several hosts at once",
"Membership changes go one at a time (SAFETY.md inv. 2). The runtime serializes them, but a
parallel step hides the order; make the step `serial` (or `run_once`, or `on local`).

Bad:
    step grow on new {
      etcd.member_add name: host.name peer_url: peer_url(main, host)
    }
Good:
    step grow on new serial {
      etcd.member_add name: host.name peer_url: peer_url(main, host)
      etcd.wait_started member: host.name timeout: 2m
    }";

"rolling-without-leader-last", Warning, "lint: a rolling step over etcd members has no order",
"A `serial` or `batch` step over a cluster's member hosts that changes them should restart
the leader last: `order: leader_last(CLUSTER)`. Otherwise leadership may move at every host.

Bad:
    step upgrade on members serial {
      run [\"systemctl\", \"restart\", \"etcd\"]
      rollback {}
    }
Good:
    step upgrade on members serial order: leader_last(main) {
      run [\"systemctl\", \"restart\", \"etcd\"]
      rollback {}
    }";

"missing-rollback", Warning, "lint: a step changes things and has no rollback block",
"A step with a mutating action (`run`, `copy`, `template`, etcd changes) says how to undo it,
or says explicitly that nothing needs undoing with an empty `rollback {}`. Steps after a
`point_of_no_return` are exempt.

Bad:
    step stop on masters {
      run [\"systemctl\", \"stop\", \"kubelet\"]
    }
Good:
    step stop on masters {
      run [\"systemctl\", \"stop\", \"kubelet\"]
      rollback {
        run [\"systemctl\", \"start\", \"kubelet\"]
      }
    }";

"unsafe-interpolation", Error, "a value is interpolated where the shell would read it as code",
"In a shell-string `run`, every `{{ }}` value is rendered for the quote context it sits in
(unquoted, inside \"...\" or inside '...'), so its bytes reach the command as they are
(SAFETY.md inv. 20). In a comment, a here-document, backquotes, `$'...'`, `${...}`,
`$((...))` or after a backslash no quoting can keep a value literal, so the checker refuses
it. Pass the value as an argv word, or through `env:` or `stdin:`.

Bad:
    run \"cat <<EOF > /etc/motd\\n{{ msg }}\\nEOF\"
Good:
    copy msg to: \"/etc/motd\" mode: \"0644\"
    run [\"logger\", \"-t\", \"etcdflow\", \"maintenance: {{ msg }}\"]";

"raw-interpolation", Warning, "lint: a value reaches a command without shell quoting",
"`raw(x)` interpolates `x` into a command string as it is: a value with a space, `;` or
`$(...)` changes the command (SAFETY.md inv. 20). Pass words as an argv list, or let
etcdflow quote the value.

Bad:
    run \"ls {{ raw(dir) }}\"
Good:
    run [\"ls\", \"--\", dir]";

"secret-file-mode", Warning, "lint: a secret is written to a file others may read",
"`copy content: SECRET` needs a `mode:` that gives nothing to group and others (\"0600\",
\"0400\") (SAFETY.md inv. 24).

Bad:
    copy content: password to: \"/etc/etcd/pw\"
Good:
    copy content: password to: \"/etc/etcd/pw\" mode: \"0600\" owner: \"etcd\"";

"wait-without-timeout", Warning, "lint: a wait has no timeout of its own",
"A `wait` or `etcd.wait_*` without `timeout:` (and in a step without one) waits for a
default. Say how long is reasonable, so a stuck procedure fails where it is stuck.

Bad:
    wait port: 2379 open
Good:
    wait port: 2379 open timeout: 2m";

"sleep-as-wait", Warning, "lint: `sleep` used to wait for something",
"A fixed pause is too short on a slow day and wasted on a fast one. Wait for the condition.

Bad:
    run \"systemctl start etcd && sleep 30\"
Good:
    run [\"systemctl\", \"start\", \"etcd\"]
    wait port: 2379 open timeout: 2m";

"curl-pipe-shell", Error, "lint: a download is piped into a shell",
"`curl URL | sh` runs whatever the server (or anyone on the way) sends, as the flow's user.

Bad:
    run \"curl -sL https://example.com/install.sh | sh\"
Good:
    copy \"vetted/install.sh\" to: \"/tmp/install.sh\" mode: \"0755\"
    run [\"/tmp/install.sh\"]";

"hardcoded-address", Warning, "lint: a literal IP address that is an inventory host's",
"With `-i`, an IPv4 address written in a flow that belongs to an inventory host is flagged:
the flow breaks when the inventory changes. Use `host.address`, `peer_url(c, host)`,
`client_url(c, host)`.

Bad:
    etcd.member_add name: \"m2\" peer_url: \"https://10.0.0.2:2380\"
Good:
    etcd.member_add name: host.name peer_url: peer_url(main, host)";

"confirm-in-parallel-step", Warning, "lint: a confirm gate in a step that runs on several hosts at once",
"The operator would be asked once per host, all at the same time. Ask once, on the
controller, before the change.

Bad:
    step restore on masters {
      confirm \"restore?\"
    }
Good:
    step ask on local {
      confirm \"restore {{ len(names(masters)) }} masters?\"
    }";

"voter-add", Warning, "lint: a member is added as a voter directly",
"Add members as learners (the default) and promote them once caught up (SAFETY.md inv. 3):
a voter that cannot start raises the quorum and can stop the cluster.

Bad:
    etcd.member_add name: host.name peer_url: peer_url(main, host) voter
Good:
    etcd.member_add name: host.name peer_url: peer_url(main, host)";

"unused-suppression", Warning, "lint: a suppression covers nothing, or names no rule",
"`# etcdflow: allow(CODE) -- reason` on a line of its own covers the next line of code;
after code it covers its own line. Only lint rules can be allowed.

Bad:
    # etcdflow: allow(missing-rollback) -- nothing here to undo
    param x: int = 1
Good:
    # etcdflow: allow(missing-rollback) -- a read-only probe
    step probe on masters {";

"suppression-without-reason", Warning, "lint: a suppression without a reason",
"Every suppression says why the rule does not apply, after `--`.

Bad:
    # etcdflow: allow(sleep-as-wait)
Good:
    # etcdflow: allow(sleep-as-wait) -- the vendor tool needs 5 s after start, documented";

"empty-target", Error, "a step targets no host",
"A step's host set is empty in this inventory: a run that does nothing must not report
success, so the run is refused before any host is touched. If the group may really be
absent, say so with an optional group.

Bad (the inventory has no host in `master`):
    step stop on group(\"master\") { run \"true\" }
Good:
    step stop on group(\"master\")? { run \"true\" }";

"invalid-step-option", Error, "a step option has a value the run cannot use",
"Step options are evaluated from their expressions (literals, params, bindings): `batch`
must be at least 1, `retries` and `max_fail` at least 0, `timeout` more than 0. A literal
out of range is a check error; a value computed from a param is refused before the run
starts; a value from a binding fails the step before any host runs it. Never a default.

Bad:
    step roll on masters batch: 0 { run \"true\" }
Good:
    step roll on masters batch: 1 { run \"true\" }";

"confirm-without-tty", Error, "a flow asks for confirmation and there is no terminal",
"A `confirm` gate needs an answer: on a terminal etcdflow asks; without one (CI, a pipe)
the run is refused unless `--yes` answers every gate (the answers are journaled).

    etcdflow run restore-icp.flow -i hosts -e snapshot=/backups/etcd.db --yes";

"cluster-unreachable", Error, "a cluster's connection cannot be set up",
"A cluster declaration names files (`ca`, `cert`, `key`) that cannot be read, or fields that
do not go together (`cert` without `key`, `password` without `user`), or etcd does not
answer. The run is refused before any host is touched.

    cluster main { members: masters, ca: \"pki/ca.crt\", cert: \"pki/client.crt\", key: \"pki/client.key\" }";

"cluster-locked", Error, "another etcdflow run holds the cluster",
"One operator per cluster (SAFETY.md inv. 19): each run takes a lease lock in etcd before
its first change. Another run holds it; wait for it to finish, or `etcdflow resume` that
run if it was yours and was interrupted.";

"etcd-tunnel", Error, "an SSH tunnel to an etcd endpoint cannot be opened",
"With `tunnel: true` the controller reaches each endpoint through the SSH connection of the
host that serves it. The endpoint must be a URL with host and port, and the host must be
in the inventory.

    cluster main { members: masters, tunnel: true }";

}

/// Codes raised by the runtime and the CLI, not by `check` or `lint`: no flow file in
/// the corpus can show them; the CLI and sandbox tests do.
pub const RUNTIME: &[&str] = &[
    "lsp-protocol-error",
    "invalid-etcdflow-toml",
    "invalid-encoding",
    "invalid-limit",
    "unknown-host",
    "empty-target",
    "confirm-without-tty",
    "cluster-unreachable",
    "cluster-locked",
    "etcd-tunnel",
    "journal-error",
    "not-resumable",
    "unknown-run",
    "flow-changed",
    "file-exists",
    "unknown-stdlib-flow",
    "unknown-code",
    "sandbox-error",
    "snapshot-invalid",
    "etcd-quorum-gate",
    "etcd-change-in-flight",
    "etcd-alarm-active",
    "etcd-corrupt-alarm",
    "etcd-version-skew",
    "etcd-move-leader",
    "etcd-no-verified-snapshot",
    "etcd-peer-url",
    "etcd-restore-args",
    "etcd-restore-data-dir-exists",
    "etcd-delete-all",
    "etcd-member-unnamed",
    "invalid-ansible-cfg",
];

pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().copied().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for c in super::CODES.iter() {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(
                c.code
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{} is not kebab-case",
                c.code
            );
        }
    }
}
