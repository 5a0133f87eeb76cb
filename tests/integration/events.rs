//! The NDJSON stream of `run --output json` against its schema (`docs/events.schema.json`):
//! every event kind, from runs on the controller here and from every sandbox run that
//! reads events (`rehearse.rs`).

use super::cli::Test;
use std::collections::BTreeSet;

fn validator() -> &'static jsonschema::Validator {
    static V: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(super::root().join("docs/events.schema.json"))
            .unwrap_or_else(|e| panic!("docs/events.schema.json: {e}"));
        let schema: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("the schema: {e}"));
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("the schema: {e}"))
    })
}

/// Every line of `stdout` is an event the schema allows; returns their kinds.
pub(crate) fn validate(stdout: &str) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let errors: Vec<String> = validator().iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{line}\n  does not match the schema: {errors:?}"
        );
        kinds.insert(v["event"].as_str().unwrap_or_default().to_string());
    }
    kinds
}

const FLOW: &str = r#"## events
flow events

step a on local {
  run ["echo", "hi"]
  log "hello"
  rollback {
    run ["true"]
  }
}

step b on local when: false {
  run ["true"]
  rollback {}
}

NO_RETURN

step c on local {
  run ["false"]
  rollback {}
}
"#;

#[test]
fn ndjson_events_match_the_schema() {
    let mut seen = BTreeSet::new();
    for (flow, code) in [
        (FLOW.replace("NO_RETURN", ""), 1),
        (
            FLOW.replace("NO_RETURN", "point_of_no_return \"fix it by hand\""),
            4,
        ),
    ] {
        let out = Test::new()
            .file("e.flow", &flow)
            .args(["run", "e.flow", "-i", "h1,", "--output", "json", "-v"])
            .run();
        assert_eq!(out.code, code, "{}", out.stderr);
        seen.extend(validate(&out.stdout));
    }
    // Refused: a check error, and a host that cannot be reached.
    let out = Test::new()
        .file(
            "r.flow",
            "## r\nflow r\nstep s on local {\n  run [\"echo\", nope]\n}\n",
        )
        .args(["run", "r.flow", "-i", "h1,", "--output", "json"])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    seen.extend(validate(&out.stdout));
    let out = Test::new()
        .file(
            "u.flow",
            "## u\nflow u\nhosts h = group(\"all\")\nstep s on h {\n  run [\"true\"]\n  rollback {}\n}\n",
        )
        .file("inv", "gone ansible_host=127.0.0.1 ansible_port=1\n")
        .args(["run", "u.flow", "-i", "inv", "--output", "json"])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    seen.extend(validate(&out.stdout));
    let want: BTreeSet<String> = [
        "run_started",
        "connected",
        "connect_failed",
        "step_started",
        "host_started",
        "host_skipped",
        "action_done",
        "output",
        "log",
        "host_done",
        "step_done",
        "rollback_started",
        "no_return",
        "run_done",
        "refused",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let missing: Vec<&String> = want.difference(&seen).collect();
    assert!(missing.is_empty(), "event kinds not produced: {missing:?}");
}
