//! `etcdflow fmt`: idempotent, meaning-preserving over the whole corpus and the shipped
//! flows, which are all formatted; `--check` lists what would change; broken files are
//! left alone.

use super::cli::Test;

fn all_flows() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in ["tests/cases", "stdlib", "playbooks"] {
        walk(&super::root().join(dir), &mut out);
    }
    out
}

fn walk(d: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "flow" || x == "etcdflow")
        {
            out.push(p);
        }
    }
}

#[test]
fn idempotent_and_meaning_preserving_over_the_corpus() {
    let (mut formatted, mut skipped) = (0, 0);
    for f in all_flows() {
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        let Ok(before) = etcdflow::fmt::shape(&src) else {
            skipped += 1; // a syntax-error case: fmt refuses it (tested below)
            continue;
        };
        let once = etcdflow::fmt::format(&src).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let twice = etcdflow::fmt::format(&once).unwrap_or_default();
        assert_eq!(twice, once, "{}: fmt(fmt(x)) != fmt(x)", f.display());
        let after = etcdflow::fmt::shape(&once).unwrap_or_else(|e| {
            panic!(
                "{}: the formatted text does not parse: {e}\n{once}",
                f.display()
            )
        });
        if after != before {
            let at = after
                .bytes()
                .zip(before.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let window = |s: &str| {
                s.get(at.saturating_sub(80)..(at + 80).min(s.len()))
                    .unwrap_or("")
                    .to_string()
            };
            panic!(
                "{}: parse(fmt(x)) != parse(x)\n  before: ...{}...\n  after:  ...{}...",
                f.display(),
                window(&before),
                window(&after)
            );
        }
        formatted += 1;
    }
    assert!(
        formatted > 100,
        "{formatted} files formatted, {skipped} skipped"
    );
}

#[test]
fn shipped_flows_are_formatted() {
    let root = super::root();
    let out = Test::new()
        .args(["fmt", "--check"])
        .arg(root.join("stdlib"))
        .arg(root.join("playbooks"))
        .run();
    assert_eq!(out.code, 0, "not formatted:\n{}{}", out.stdout, out.stderr);
}

#[test]
fn check_lists_and_fmt_rewrites() {
    let messy = "## m\nflow   m\nhosts a=group(\"master\")\nstep s on a {\n      run [ \"true\" ]\n\n\n  rollback{}\n}\n";
    let out = Test::new()
        .file("m.flow", messy)
        .args(["fmt", "--check", "m.flow"])
        .run();
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout.trim(), "m.flow");
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = keep.path().join("m.flow");
    std::fs::write(&f, messy).unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new().arg("fmt").arg(&f).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap_or_default(),
        "## m\nflow m\nhosts a = group(\"master\")\nstep s on a {\n  run [\"true\"]\n\n  rollback {}\n}\n"
    );
    let out = Test::new().args(["fmt", "--check"]).arg(&f).run();
    assert_eq!(out.code, 0, "formatted once, clean after");
}

#[test]
fn broken_files_are_left_alone() {
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = keep.path().join("b.flow");
    let broken = "## b\nflow b\nstep s on {\n   run \"x\n}\n";
    std::fs::write(&f, broken).unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new().arg("fmt").arg(&f).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("not formatted"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&f).unwrap_or_default(), broken);
}
