//! Tests about the tests: every diagnostic code is documented, used and covered.

use etcdflow::diagnostics::codes::CODES;
use std::collections::BTreeSet;

fn read_dir_rec(dir: &std::path::Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            read_dir_rec(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Codes written in the source: `Diagnostic::error("code"`, `warning("code"`, a
/// refusal's `code: "code"`, an etcd guard's `refuse(\n "code"`, and the bracketed
/// `[code] Error` / `refused [code]` of messages.
fn codes_in_source() -> BTreeSet<String> {
    let mut files = Vec::new();
    read_dir_rec(&super::root().join("src"), "rs", &mut files);
    let mut out = BTreeSet::new();
    let kebab = |c: &str| {
        c.contains('-')
            && c.starts_with(|ch: char| ch.is_ascii_lowercase())
            && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')
    };
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for pat in [
            "Diagnostic::error(",
            "Diagnostic::warning(",
            "code: ",
            "refuse(",
            "super::error(",
        ] {
            for (i, _) in text.match_indices(pat) {
                let rest = text[i + pat.len()..].trim_start();
                if let Some(r) = rest.strip_prefix('"') {
                    if let Some(end) = r.find('"') {
                        if kebab(&r[..end]) {
                            out.insert(r[..end].to_string());
                        }
                    }
                }
            }
        }
        for (i, _) in text.match_indices('[') {
            let rest = &text[i + 1..];
            if let Some(end) = rest.find(']') {
                let code = &rest[..end];
                let after = &rest[end + 1..];
                if kebab(code) && (after.starts_with(" Error") || text[..i].ends_with("refused ")) {
                    out.insert(code.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn explain_knows_every_code_the_binary_can_print() {
    let used = codes_in_source();
    assert!(
        used.len() > 60,
        "the source scan found too few codes: {used:?}"
    );
    for code in &used {
        let out = super::cli::Test::new().args(["explain", code]).run();
        assert_eq!(
            out.code, 0,
            "`etcdflow explain {code}` failed: {}",
            out.stderr
        );
        assert!(
            !out.stdout.trim().is_empty(),
            "`etcdflow explain {code}` printed nothing"
        );
    }
}

#[test]
fn every_code_used_in_source_is_documented() {
    let documented: BTreeSet<String> = CODES.iter().map(|c| c.code.to_string()).collect();
    let used = codes_in_source();
    let missing: Vec<_> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "codes without an `explain` entry: {missing:?}"
    );
    assert!(
        used.len() > 30,
        "the source scan found too few codes: {used:?}"
    );
}

#[test]
fn every_documented_code_has_a_bad_program_in_the_corpus() {
    let mut files = Vec::new();
    read_dir_rec(&super::root().join("tests/cases"), "flow", &mut files);
    let mut expected = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines().filter_map(|l| l.strip_prefix("# expect:")) {
            expected.extend(line.split(',').map(|c| c.trim().to_string()));
        }
    }
    // Not reachable from a flow file: a bug, and a file named on the command line (both
    // are covered by the CLI tests instead).
    // `flow-too-large` needs a 2 MiB file: `syntax/limits.rs` tests it.
    let exempt = ["internal-error", "file-not-found", "flow-too-large"];
    let runtime = etcdflow::diagnostics::codes::RUNTIME;
    let uncovered: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !exempt.contains(c) && !runtime.contains(c) && !expected.contains(*c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "codes with no case in tests/cases: {uncovered:?}"
    );
    assert!(
        files.len() >= 60,
        "the corpus has {} cases; at least 60 are required",
        files.len()
    );
}

#[test]
fn syntax_and_check_do_no_io_and_know_no_runtime() {
    let mut files = Vec::new();
    for dir in ["src/syntax", "src/check"] {
        let d = super::root().join(dir);
        assert!(
            d.is_dir(),
            "{} is missing: the test would check nothing",
            d.display()
        );
        read_dir_rec(&d, "rs", &mut files);
    }
    assert!(files.len() >= 8, "only {} files found", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for banned in [
            "tokio::",
            "ariadne::",
            "minijinja::",
            "std::fs",
            "std::process",
            "std::net::TcpStream",
            "println!",
            "eprintln!",
        ] {
            assert!(!text.contains(banned), "{} uses `{banned}`", f.display());
        }
    }
}

#[test]
fn readme_documents_every_action_option_field_and_function() {
    let readme = std::fs::read_to_string(super::root().join("README.md")).unwrap_or_default();
    let mut missing = Vec::new();
    for spec in etcdflow::check::schema::actions() {
        if !readme.contains(&format!("`{}", spec.verb))
            && !readme.contains(&format!("{}`", spec.verb))
        {
            missing.push(spec.verb.to_string());
        }
    }
    for spec in [
        etcdflow::check::schema::step_options(),
        etcdflow::check::schema::cluster_fields(),
    ] {
        for a in &spec.args {
            if !readme.contains(a.name) {
                missing.push(format!("{} {}", spec.verb, a.name));
            }
        }
    }
    for (name, ..) in etcdflow::check::BUILTINS {
        if !readme.contains(&format!("`{name}(")) {
            missing.push(format!("{name}()"));
        }
    }
    assert!(
        missing.is_empty(),
        "the README's language reference lacks: {missing:?}"
    );
}
