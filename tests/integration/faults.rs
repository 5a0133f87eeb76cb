//! Faults of SAFETY.md's matrix on sandbox hosts (each its own subnet): what a run does
//! when the host misbehaves under it.

use super::cli::Test;
use super::sandbox::{flow, host_sh, no_root, run, sandbox_of};

/// T20: a copy onto a filesystem with no room fails as "disk full" with the sizes, the
/// destination is untouched, and no partial temp file is left (next to it or staged).
#[test]
fn a_full_disk_fails_the_copy_cleanly() {
    if no_root("a_full_disk_fails_the_copy_cleanly") {
        return;
    }
    let (_dir, sb) = sandbox_of(1, 27);
    let sb = &sb.0;
    host_sh(
        sb,
        1,
        "mkdir -p /mnt/tiny && mount -t tmpfs -o size=64k tmpfs /mnt/tiny && echo old > /mnt/tiny/f.bin",
    );
    let big = "x".repeat(200 * 1024);
    let body = format!(
        "hosts h = group(\"sandbox\")\nstep put on h {{\n  copy content: \"{big}\" to: \"/mnt/tiny/f.bin\" mode: \"0644\"\n  rollback {{}}\n}}\n"
    );
    let out = run(sb, flow(Test::new(), "d.flow", &body), "d.flow", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("disk full on n1: /mnt/tiny has")
            && out.stderr.contains("the file is 200 KiB"),
        "{}",
        out.stderr
    );
    assert_eq!(
        host_sh(sb, 1, "cat /mnt/tiny/f.bin"),
        "old\n",
        "the destination is untouched"
    );
    let left = host_sh(
        sb,
        1,
        "ls -A /mnt/tiny; find /tmp /root/.cache -name 'stage-*' 2>/dev/null || true",
    );
    assert_eq!(
        left.trim(),
        "f.bin",
        "no temp or staged file is left: {left}"
    );
}
