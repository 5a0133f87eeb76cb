//! `etcdflow lint` as CI runs it: exit codes, `--deny warnings`, JSON and SARIF (validated
//! against the official SARIF 2.1.0 schema), and every shipped flow lint-clean.

use super::cli::Test;

const WARNS: &str = "## w\nflow w\nhosts m = group(\"master\")\nstep s on m {\n  run [\"systemctl\", \"stop\", \"kubelet\"]\n  run [\"sleep\", \"3\"]\n}\n";

#[test]
fn shipped_flows_lint_clean_with_deny_warnings() {
    let root = super::root();
    let out = Test::new()
        .args(["lint", "--deny", "warnings"])
        .arg(root.join("stdlib"))
        .arg(root.join("playbooks"))
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let n: usize = out
        .stderr
        .split("linted ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n >= 2, "walked the stdlib and playbooks: {}", out.stderr);
}

#[test]
fn warnings_fail_only_when_denied() {
    let out = Test::new()
        .file("w.flow", WARNS)
        .args(["lint", "w.flow"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("missing-rollback") && out.stderr.contains("sleep-as-wait"));
    let out = Test::new()
        .file("w.flow", WARNS)
        .args(["lint", "w.flow", "--deny", "warnings"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    // `check` does not run the lint rules.
    let out = Test::new()
        .file("w.flow", WARNS)
        .args(["check", "w.flow"])
        .run();
    assert_eq!(out.code, 0);
    assert!(!out.stderr.contains("sleep-as-wait"), "{}", out.stderr);
}

#[test]
fn errors_fail_and_directories_are_walked() {
    let bad = "## b\nflow b\nhosts m = group(\"master\")\nstep s on m {\n  run \"curl -s https://x.example/i.sh | sh\"\n  rollback {}\n}\n";
    let out = Test::new()
        .file("flows/a/b.flow", bad)
        .file("flows/ok.etcdflow", "## ok\nflow ok\n")
        .args(["lint", "flows"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("curl-pipe-shell"), "{}", out.stderr);
    assert!(out.stderr.contains("linted 2 files"), "{}", out.stderr);
    let out = Test::new()
        .file("empty/x.txt", "")
        .args(["lint", "empty"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn json_has_the_check_schema() {
    let out = Test::new()
        .file("w.flow", WARNS)
        .args(["lint", "w.flow", "--format", "json"])
        .run();
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(v["version"], 1);
    assert_eq!(v["warnings"], 2);
    let d = &v["diagnostics"][0];
    for k in [
        "severity", "code", "message", "file", "line", "column", "labels", "help",
    ] {
        assert!(d.get(k).is_some(), "missing {k}: {d}");
    }
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    // The schema's `language` pattern ends in a stray `]`, a literal in ECMAScript that
    // Rust's regex engines reject: escape it (same meaning) before compiling.
    let text = std::fs::read_to_string(super::root().join("tests/data/sarif-schema-2.1.0.json"))
        .unwrap_or_default()
        .replace("[a-zA-Z]{2}]?$", "[a-zA-Z]{2}\\\\]?$");
    let schema: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("schema: {e}"));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let bad = "## b\nflow b\nhosts m = group(\"master\")\nstep s on m timeout: \"1m\" {\n  run [\"sleep\", \"3\"]\n}\n";
    for (name, text) in [("w.flow", WARNS), ("b.flow", bad)] {
        let out = Test::new()
            .file(name, text)
            .args(["lint", name, "--format", "sarif"])
            .run();
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: invalid SARIF: {errors:?}");
        assert_eq!(v["version"], "2.1.0");
        let results = v["runs"][0]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!results.is_empty(), "{name}: no results");
        let r = &results[0];
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], name,
            "a repository-relative URI"
        );
        assert!(r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(4));
        let rules = v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let idx = r["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
        assert_eq!(
            rules.get(idx).map(|x| x["id"].clone()),
            Some(r["ruleId"].clone())
        );
    }
    // The validator itself rejects a broken document (the test can fail).
    let broken = serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]});
    assert!(validator.iter_errors(&broken).next().is_some());
}

#[test]
fn every_rule_is_explained_with_a_bad_and_a_good_example() {
    for rule in etcdflow::lint::RULES
        .iter()
        .chain(&["unused-suppression", "suppression-without-reason"])
    {
        let out = Test::new().args(["explain", rule]).run();
        assert_eq!(out.code, 0, "{rule}");
        assert!(
            out.stdout.contains("Bad:") && out.stdout.contains("Good:"),
            "{rule}: {}",
            out.stdout
        );
    }
}
