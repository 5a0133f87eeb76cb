//! Every flow we ship (stdlib/, playbooks/) checks clean (no errors, no warnings), lints
//! clean with `--deny warnings` and is formatted.

use super::cli::Test;

fn flows(dir: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(super::root().join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "flow" || x == "etcdflow")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn stdlib_and_playbooks_check_clean() {
    let all: Vec<_> = flows("stdlib")
        .into_iter()
        .chain(flows("playbooks"))
        .collect();
    assert!(
        all.iter().any(|p| p.ends_with("stdlib/restore-icp.flow")),
        "{all:?}"
    );
    for f in all {
        let out = Test::new()
            .args(["check", "--format", "json"])
            .arg(&f)
            .run();
        assert_eq!(out.code, 0, "{}: {}", f.display(), out.stdout);
        assert!(
            out.stdout.contains("\"errors\": 0") && out.stdout.contains("\"warnings\": 0"),
            "{}: {}",
            f.display(),
            out.stdout
        );
        let lint = Test::new()
            .args(["lint", "--deny", "warnings"])
            .arg(&f)
            .run();
        assert_eq!(
            lint.code,
            0,
            "{}: {}{}",
            f.display(),
            lint.stdout,
            lint.stderr
        );
        let fmt = Test::new().args(["fmt", "--check"]).arg(&f).run();
        assert_eq!(
            fmt.code,
            0,
            "{} is not formatted: {}",
            f.display(),
            fmt.stdout
        );
    }
}
