//! Differential test against the real thing: for every inventory in
//! `tests/data/ansible/` (a file, or a directory holding a case: inventory directories
//! with `group_vars/`/`host_vars/`, several `-i`, a playbook dir, an `ansible.cfg`),
//! `etcdflow inventory --list` must say what `ansible-inventory --list` says — the same hosts, each with the same merged variables,
//! the same groups with the same hosts and children. ansible-core comes from PyPI into a
//! venv the test makes itself (under `target/`, reused by later runs).
//!
//! Normalisations (documented in the README): the order of hosts and children within a
//! group and of keys is not compared; Ansible's typed values are compared with
//! etcdflow's text as Ansible would print them (`2222` = "2222", `true`/`True` = "true",
//! YAML 1.1's plain `yes`/`on` = true and `no`/`off` = false), lists and dicts by their
//! JSON.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn ansible_inventory() -> PathBuf {
    let venv = super::root().join("target/ansible-venv");
    let bin = venv.join("bin/ansible-inventory");
    if !bin.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv failed (python3-venv installed?)");
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "ansible-core>=2.16,<2.19"])
            .output()
            .unwrap_or_else(|e| panic!("pip: {e}"));
        assert!(
            out.status.success(),
            "pip install ansible-core failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(bin.exists(), "no ansible-inventory in {}", venv.display());
    bin
}

fn json_of(mut cmd: Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A value as text, the way it compares with etcdflow's.
fn norm(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn same_value(ansible: &Value, ours: &Value) -> bool {
    let ours_text = norm(ours);
    match ansible {
        Value::Array(_) | Value::Object(_) => {
            serde_json::from_str::<Value>(&ours_text).is_ok_and(|o| &o == ansible)
        }
        // YAML 1.1 (Ansible's PyYAML) reads a plain `yes`/`on` as true, `no`/`off` as
        // false; etcdflow keeps the text, which its truthiness reads the same way.
        Value::Bool(b) => {
            let t = ours_text.to_ascii_lowercase();
            let yes = ["true", "yes", "on"].contains(&t.as_str());
            let no = ["false", "no", "off"].contains(&t.as_str());
            if *b {
                yes
            } else {
                no
            }
        }
        other => norm(other) == ours_text,
    }
}

type Groups = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn groups(list: &Value) -> Groups {
    let mut out = Groups::new();
    for (name, g) in list.as_object().into_iter().flatten() {
        if name == "_meta" {
            continue;
        }
        let set = |k: &str| -> BTreeSet<String> {
            g.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(norm)
                .collect()
        };
        out.insert(name.clone(), (set("hosts"), set("children")));
    }
    out
}

fn differences(file: &Path, ansible: &Value, ours: &Value) -> (Vec<String>, usize) {
    let mut diffs = Vec::new();
    let empty = serde_json::Map::new();
    let hv = |v: &Value| {
        v["_meta"]["hostvars"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let (a_hosts, o_hosts) = (hv(ansible), hv(ours));
    // Every host: those in a group, and those with variables (`_meta.hostvars` lists
    // only hosts that have some).
    let names = |v: &Value, vars: &serde_json::Map<String, Value>| -> BTreeSet<String> {
        let mut s: BTreeSet<String> = vars.keys().cloned().collect();
        for (_, (hosts, _)) in groups(v) {
            s.extend(hosts);
        }
        s
    };
    let (a_names, o_names) = (names(ansible, &a_hosts), names(ours, &o_hosts));
    if a_names != o_names {
        diffs.push(format!("hosts: ansible {a_names:?}, etcdflow {o_names:?}"));
    }
    let mut compared = 0;
    for h in &a_names {
        let a_vars = a_hosts.get(h).and_then(Value::as_object).unwrap_or(&empty);
        let o_vars = o_hosts.get(h).and_then(Value::as_object).unwrap_or(&empty);
        for (k, av) in a_vars {
            compared += 1;
            match o_vars.get(k) {
                Some(ov) if same_value(av, ov) => {}
                Some(ov) => diffs.push(format!("{h}.{k}: ansible {av}, etcdflow {ov}")),
                None => diffs.push(format!("{h}.{k}: ansible {av}, etcdflow has none")),
            }
        }
        for k in o_vars.keys().filter(|k| !a_vars.contains_key(*k)) {
            diffs.push(format!("{h}.{k}: etcdflow has {}, ansible none", o_vars[k]));
        }
    }
    let (ag, og) = (groups(ansible), groups(ours));
    if ag != og {
        diffs.push(format!("groups: ansible {ag:?}\n  etcdflow {og:?}"));
    }
    (
        diffs
            .into_iter()
            .map(|d| format!("{}: {d}", file.display()))
            .collect(),
        compared,
    )
}

#[test]
fn inventories_read_as_ansible_reads_them() {
    let ansible = ansible_inventory();
    let dir = super::root().join("tests/data/ansible");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} inventories", files.len());
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let nowhere = home.path().join("no-playbook");
    std::fs::create_dir_all(&nowhere).unwrap_or_else(|e| panic!("{e}"));
    let (mut all, mut vars) = (Vec::new(), 0);
    for f in &files {
        // A file is `-i FILE`, run elsewhere; a directory is a case: its `args` (e.g.
        // `-i inv -i more.yml --playbook-dir play`, or nothing for its ansible.cfg) run
        // inside it.
        let (args, cwd): (Vec<String>, &Path) = if f.is_dir() {
            let a = std::fs::read_to_string(f.join("args")).unwrap_or_default();
            (a.split_whitespace().map(String::from).collect(), f)
        } else {
            (vec!["-i".into(), f.display().to_string()], home.path())
        };
        let mut a = Command::new(&ansible);
        a.args(&args)
            .arg("--list")
            .current_dir(cwd)
            .env("HOME", home.path())
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_INVENTORY")
            .env("ANSIBLE_HOME", home.path())
            .env("ANSIBLE_LOCAL_TEMP", home.path())
            .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true");
        // Without `--playbook-dir` Ansible takes the current directory as the playbook's;
        // etcdflow's `inventory` has none.
        if !args.iter().any(|a| a == "--playbook-dir") {
            a.arg("--playbook-dir").arg(&nowhere);
        }
        let mut o = Command::new(env!("CARGO_BIN_EXE_etcdflow"));
        o.args(["inventory", "--list"])
            .args(&args)
            .current_dir(cwd)
            .env("HOME", home.path())
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_INVENTORY");
        let (av, ov) = (
            json_of(a, "ansible-inventory"),
            json_of(o, "etcdflow inventory"),
        );
        let (d, n) = differences(f, &av, &ov);
        vars += n;
        all.extend(d);
    }
    eprintln!(
        "etcdflow test report: ansible differential: {} inventories, {vars} host variables compared, {} differences",
        files.len(),
        all.len()
    );
    assert!(all.is_empty(), "{}", all.join("\n"));
}
