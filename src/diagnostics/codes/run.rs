//! The diagnostic codes of the run, the CLI, the sandbox and the inventory (those of
//! `check` and `lint` are in `codes.rs`).

use super::{CodeInfo, Severity};

codes! {
RUN_CODES;
"journal-error", Error, "the run journal cannot be written or read",
"Nothing runs without a journal: every action is recorded before and after it runs, so a
crash leaves a record of what happened. Fix the state directory (`--state-dir`), or for
`resume`, the journal of the run.";

"not-resumable", Error, "the run cannot be resumed",
"A run can be resumed when it was interrupted (Ctrl-C, SIGTERM, a crash). A run that ended,
failed, or was rolling back cannot: `etcdflow runs show RUN_ID` prints what happened;
check the hosts and start a new run.";

"unknown-run", Error, "no run with this id",
"`etcdflow resume RUN_ID` and `etcdflow runs show RUN_ID` read `<state-dir>/runs/RUN_ID/`.
`etcdflow runs` lists the runs of a state directory.

    etcdflow runs --state-dir .etcdflow";

"flow-changed", Error, "the flow changed since the run began",
"`resume` continues a run with the flow it started with. If the flow file (or a file it
includes) changed, the steps may not match the journal. Restore the file, or pass
`--allow-changed-flow` after reading the difference.";

"file-exists", Error, "a file would be overwritten",
"`etcdflow stdlib fork` never overwrites a file: choose another directory or remove the
file first.";

"unknown-stdlib-flow", Error, "no stdlib flow has this name",
"`etcdflow stdlib list` lists the embedded procedures.

    etcdflow stdlib show restore-icp";

"unknown-code", Error, "`explain` does not know this code",
"`etcdflow explain --list` lists every code etcdflow can print.

    etcdflow explain empty-target";

"sandbox-error", Error, "the rehearsal sandbox could not be set up",
"`etcdflow sandbox` needs Linux, root, iproute2, openssh-server and (with `--etcd`) etcd.
The message says which step failed; `etcdflow sandbox down` removes what was made.";

"snapshot-invalid", Error, "a snapshot file fails verification",
"A snapshot is used only after it verified: its size, its sha256 trailer and its database
pages. Take a new one with `etcd.snapshot_save`, or check the file with
`etcdflow snapshot verify FILE`.";

"etcd-quorum-gate", Error, "a membership change would risk quorum",
"Before a member is added, promoted or removed, every voter counted for quorum after the
change must be started and healthy, for a health window (SAFETY.md inv. 1). Bring the
members back first, or replace a failed member by removing it before adding its successor.";

"etcd-change-in-flight", Error, "a membership change is still in flight",
"One membership change at a time (SAFETY.md inv. 2): a member added but not started, or a
learner not yet promoted, must finish first.

    etcd.member_add main name: n peer_url: peer_url(main, host)
    etcd.wait_started main name: n timeout: 2m";

"etcd-alarm-active", Error, "the cluster has an active alarm",
"Membership changes and restores need a cluster without alarms (SAFETY.md inv. 13).
NOSPACE: compact, `etcd.defrag` one member at a time, then `etcd.alarm_disarm`.";

"etcd-corrupt-alarm", Error, "a CORRUPT alarm is never disarmed automatically",
"A CORRUPT alarm means a member's data differs from the others'. Find it (compare
`etcd.hash_kv`), replace it, then disarm by hand.";

"etcd-version-skew", Error, "members run different minor versions",
"Membership changes wait until every member runs the same minor version (SAFETY.md
inv. 15): finish the upgrade or downgrade first.";

"etcd-move-leader", Error, "leadership can go only to a started, healthy voter",
"`etcd.move_leader to:` must name a started, healthy voting member (not a learner).";

"etcd-no-verified-snapshot", Error, "a destructive etcd action without a verified snapshot",
"Removing a member or restoring needs a snapshot verified in this run (SAFETY.md inv. 9).

    let snap = etcd.snapshot_save main to: \"/backups/etcd.db\"
    etcd.member_remove main name: \"old\"";

"etcd-peer-url", Error, "a new member's peer URL is wrong or unreachable",
"Before `member add`, the new member's peer URL must be a URL with scheme, host and port,
not already used by a member, and reachable from every existing member's host (SAFETY.md
inv. 5). Build it with `peer_url(cluster, host)`.";

"etcd-restore-args", Error, "restore arguments do not match",
"A restored member must appear in its initial cluster as `name=peer_url` (SAFETY.md inv.
11): build both from the same cluster declaration (`member_name`, `peer_url`,
`initial_cluster`).";

"etcd-restore-data-dir-exists", Error, "a restore would write over a data dir",
"A restore writes into a data dir that does not exist (SAFETY.md inv. 10, 11): move the
old one away first (the rollback moves it back).";

"etcd-member-unnamed", Error, "a member is removed by a name while an unstarted (nameless) member exists",
"etcd learns a member's name when it starts: a member added but never started has none,
so `etcd.member_remove member: NAME` would find nothing and silently leave it. Remove it by
the id the add returned:

    let added = etcd.member_add name: host.name peer_url: peer_url(main, host)
    rollback {
      etcd.member_remove member: added.id
    }";

"etcd-delete-all", Error, "deleting every key is not an etcd action",
"`etcd.delete prefix: \"\"` would delete every key: name a prefix.";

"unsupported-inventory-var", Error, "an inventory variable changes how Ansible connects, and etcdflow cannot honour it",
"etcdflow reads the Ansible inventory you have and never drops a setting that changes how
a host is reached: `ansible_connection` other than ssh/local, passwords (`ansible_password`,
`ansible_ssh_pass`), Vault values, `ansible_become_method` other than sudo, a non-POSIX
`ansible_shell_type`, ssh options it cannot honour (port forwarding, turning host key
checking off) are errors naming the host. Settings etcdflow overrides on purpose
(`ControlPersist`, `host_key_checking=false`) are warnings. `ansible_ssh_common_args` and
`ansible_ssh_extra_args` (`-o ProxyJump=...`, `-F`, `-J`, `-i`...) are honoured.

    [master]
    m1 ansible_host=10.0.0.11 ansible_ssh_common_args='-o ProxyJump=ops@bastion'";

"unsupported-inventory-source", Error, "an inventory source etcdflow does not read",
"An inventory directory is read file by file, as Ansible reads it (hidden files, `group_vars`,
`host_vars` and Ansible's ignored extensions such as `.md`, `.cfg`, `.retry` skipped). A file
Ansible would not read as INI or YAML is refused, never misread: an executable inventory
script (`#!`, executable: Ansible would run it) and a TOML inventory.

    inventory/
      hosts            # INI: read
      ec2.py           # #!/usr/bin/env python3, executable: refused
    # write the script's output to a file:  ./ec2.py --list > inventory/ec2.json";

"inventory-dir-ini", Warning, "an `.ini` file in an inventory directory: Ansible versions read it differently",
"ansible-core 2.18 and earlier skip files ending in `.ini` inside an inventory directory
(their default `inventory_ignore_extensions`); 2.19 and later read them. etcdflow reads them,
as current Ansible does, and says so, because the same directory gives a different inventory
under an older Ansible.

    inventory/hosts.ini   ->  rename to inventory/hosts, or pass it as `-i inventory/hosts.ini`";

"invalid-ansible-cfg", Error, "a setting of ansible.cfg cannot be read",
"etcdflow reads the ansible.cfg Ansible would read (`ANSIBLE_CONFIG`, `./ansible.cfg`,
`~/.ansible.cfg`, `/etc/ansible/ansible.cfg`, the first that exists) for `[defaults]
inventory`, `remote_user`, `private_key_file`, `host_key_checking` and `[ssh_connection]
ssh_args`. A value of the wrong kind is an error naming the file and line.

    [defaults]
    host_key_checking = False     # a boolean: True/False, yes/no, 1/0";

"too-deeply-nested", Error, "brackets, blocks or an operator chain nest deeper than etcdflow reads",
"The parser and the checker walk expressions and blocks recursively; to stay bounded on
any input, at most 64 brackets and blocks may be open at once and one expression (or one
`{{ }}`) may hold at most 128 operators. Real flows stay far below: bind parts with `let`.

Bad:
    param x: int = 1 + 1 + 1 + ... (300 times)
Good:
    let parts = [a, b, c]
    log \"{{ len(parts) }}\"";

"flow-too-large", Error, "a flow file is larger than etcdflow reads",
"Flow files are read whole; above 2 MiB a file is refused before it costs time or memory.
Split a large procedure with `include`.

    include \"lib/common.flow\"";

"inventory-too-large", Error, "an inventory is larger or deeper than etcdflow reads",
"An inventory may have at most 10,000 hosts (a range such as `node[1:20000]` counts what it
expands to), 10,000 groups, 64 levels of `children` and 16 MiB. A larger one is refused
before it costs time or memory: give etcdflow the inventory of the control plane.

    [master]
    m[1:3]";

"unknown-host", Error, "the inventory has no such host",
"`etcdflow inventory -i INV --host NAME` prints one host's variables; the name must be a
host of the inventory (`etcdflow inventory -i INV` lists them).

    etcdflow inventory -i hosts --host m1";

"invalid-limit", Error, "a `--limit` pattern names nothing the run could use",
"`--limit` takes Ansible's host patterns: groups and hosts separated by `:` or `,`,
`&name` to intersect, `!name` to exclude, `*` and `?` wildcards. Every name must be a group
or a host of the inventory, and the limit must leave a host for at least one step.

    etcdflow run migrate.flow -i hosts --limit 'master:!m3'";

"password-over-http", Warning, "a cluster password would be sent in clear text",
"etcd's user and password travel with every request. Without TLS (`ca:` or `scheme:
\"https\"`) or an SSH tunnel (`tunnel: true`), anyone on the path reads them.

Bad:
    cluster main { members: masters, user: \"root\", password: pw }
Good:
    cluster main { members: masters, user: \"root\", password: pw, ca: \"pki/ca.crt\" }";

"invalid-encoding", Error, "a flow file is not UTF-8 text",
"Flows are UTF-8 text (a leading byte-order mark is accepted and dropped). A file saved
in another encoding, or a binary file named by mistake, is refused with the offset of the
first byte that is not UTF-8.

    iconv -f latin1 -t utf-8 old.flow > new.flow";

"lsp-protocol-error", Error, "the editor's connection to `etcdflow lsp` broke",
"`etcdflow lsp` speaks the Language Server Protocol on stdin and stdout; it stops when the
editor sends `exit` or closes the pipe. This error means the messages could not be read or
written (the editor went away without `shutdown`, or sent something that is not LSP).
Restart the language server from the editor; `etcdflow check FILE` shows the same
diagnostics on the command line.

    etcdflow lsp < /dev/null   # exits: no editor";

"invalid-etcdflow-toml", Error, "`etcdflow.toml` cannot be read",
"`etcdflow lsp` checks each flow with the inventory and params of the nearest
`etcdflow.toml` in the flow's directory or above it. The file is TOML with these keys
only (paths relative to the file):

    inventory = [\"inventory/hosts\"]   # as -i
    vars = \"site-vars.yml\"            # as --vars
    [extra_vars]                      # as -e NAME=VALUE
    network_manifest = \"kube-flannel.yml\"";

"internal-error", Error, "a bug in etcdflow",
"This is a bug in etcdflow, not in your flow. Please report it with the input attached.";
}
