//! Secrecy is part of the type of every value made from a secret: a secret pushed through
//! every constructor and builtin of the language into every sink that is not a secret
//! sink is a check error (issue: "a secret loses its secrecy inside a map or record").

use crate::check::{check, Options};
use crate::load::{self, MemFs};
use crate::source::SourceMap;
use std::path::PathBuf;

/// Ways to make a value from the secret `pw` (each an expression).
const CONSTRUCTORS: &[&str] = &[
    "pw",
    "[pw]",
    "{ k: pw }",
    "\"x{{ pw }}\"",
    "pw + \"x\"",
    "[x for x in [pw]]",
    "[pw][0]",
    "{ k: pw }.k",
    "trim(pw)",
    "lower(pw)",
    "upper(pw)",
    "replace(pw, \"a\", \"b\")",
    "split(pw, \",\")",
    "lines(pw)",
    "join([pw], \",\")",
    "to_str(pw)",
    "default(pw, \"x\")",
    "json(pw)",
    "first([pw])",
    "r.stdout",
    "r.lines",
    "r.json",
    "r",
    "{ k: r.stdout }",
    "[r.stdout]",
];

/// Places that are not secret sinks, with `{}` for the value (a step on hosts).
const SINKS: &[&str] = &[
    "run \"echo {{ {} }}\"",
    "run [\"echo\", {}]",
    "log \"{{ {} }}\"",
    "log {}",
    "fail \"{{ {} }}\"",
    "confirm \"{{ {} }}\"",
    "assert true, {}",
    "run \"true\" env: { X: {} }",
    "run \"true\" cwd: {}",
    "run \"true\" creates: {}",
    "copy content: \"x\" to: {}",
    "edit \"/etc/x\" format: \"env\" set: { X: {} }",
    "wait path: {} present timeout: 1s",
    "let v = {}\n  log \"{{ v }}\"",
    "template \"t.j2\" to: \"/etc/t\" vars: { v: [{}] }",
];

fn diagnostics(src: &str) -> Vec<String> {
    let mut fs = MemFs::default();
    let path = PathBuf::from("s.flow");
    fs.0.insert(path.clone(), src.to_string());
    fs.0.insert(PathBuf::from("t.j2"), "{{ v }}\n".to_string());
    let mut sources = SourceMap::new();
    let prog = load::load(&fs, &path, &mut sources);
    let mut out: Vec<String> = prog
        .diagnostics
        .iter()
        .map(|d| d.code.to_string())
        .collect();
    let c = check(&prog, &sources, &Options::default());
    out.extend(
        c.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code.to_string()),
    );
    out
}

#[test]
fn a_secret_reaches_no_sink_that_would_show_it() {
    let mut passed = Vec::new();
    let mut cases = 0;
    for c in CONSTRUCTORS {
        for s in SINKS {
            let action = s.replace("{}", c);
            let src = format!(
                "## s\nflow s\nparam pw: secret\nhosts m = group(\"master\")\nstep s on m {{\n  let r = run \"cat\" stdin: pw\n  {action}\n  rollback {{}}\n}}\n"
            );
            cases += 1;
            let d = diagnostics(&src);
            if d.is_empty() {
                passed.push(action);
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
    assert!(
        passed.is_empty(),
        "{} of {cases} sinks accepted a secret:\n{}",
        passed.len(),
        passed.join("\n")
    );
}

#[test]
fn the_secret_sinks_accept_a_secret() {
    for action in [
        "run \"cat\" stdin: pw",
        "run \"cat\" stdin: \"user={{ pw }}\"",
        "copy content: pw to: \"/etc/pw\" mode: \"0600\"",
        "copy content: \"token: {{ pw }}\" to: \"/etc/pw\" mode: \"0600\"",
        "template \"t.j2\" to: \"/etc/t\" mode: \"0600\" vars: { v: pw }",
        "log declassify(r.stdout)",
    ] {
        let src = format!(
            "## s\nflow s\nparam pw: secret\nhosts m = group(\"master\")\nstep s on m {{\n  let r = run \"cat\" stdin: pw\n  {action}\n  rollback {{}}\n}}\n"
        );
        let d = diagnostics(&src);
        assert!(d.is_empty(), "`{action}`: {d:?}");
    }
    // A cluster's `password:` (over TLS, or through SSH tunnels) is the third secret sink.
    let src = "## s\nflow s\nparam pw: secret\nhosts m = group(\"master\")\ncluster main {\n  members: m\n  user: \"root\"\n  password: pw\n  tunnel: true\n}\nstep s on local {\n  etcd.wait_healthy timeout: 10s\n}\n";
    let d = diagnostics(src);
    assert!(d.is_empty(), "cluster password: {d:?}");
}
