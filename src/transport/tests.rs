//! The agent protocol over the local transport (a real `sh`).

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn exec_captures_output_exit_codes_and_stdin() {
    rt().block_on(async {
        let mut c = Conn::local("local").await.unwrap_or_else(|e| panic!("{e}"));
        let r = c
            .exec(&ExecRequest::shell(
                "printf 'a\\nb'; echo err >&2; exit 3",
                Duration::from_secs(5),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.rc, r.stdout.as_slice(), r.stderr.as_slice()),
            (3, &b"a\nb"[..], &b"err\n"[..])
        );
        let mut req = ExecRequest::argv(["cat"], Duration::from_secs(5));
        req.stdin = Some("line1\nit's $(secret)\n".into());
        let r = c.exec(&req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.stdout, b"line1\nit's $(secret)\n");
        for _ in 0..50 {
            let r = c
                .exec(&ExecRequest::argv(["true"], Duration::from_secs(5)))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.rc, 0);
        }
        c.close().await;
    });
}

#[test]
fn injection_payloads_stay_single_arguments() {
    rt().block_on(async {
        let mut c = Conn::local("local").await.unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let canary = dir.path().join("pwn");
        let canary_s = canary.display().to_string();
        let payloads = [
            format!("; touch {canary_s}"),
            format!("$(touch {canary_s})"),
            format!("`touch {canary_s}`"),
            format!("'; touch {canary_s}; '"),
            format!("\"; touch {canary_s}; \""),
            format!("a\ntouch {canary_s}"),
            "-rf".to_string(),
            String::new(),
            "__EF_END_x".to_string(),
        ];
        for p in &payloads {
            let r = c
                .exec(&ExecRequest::argv(
                    ["printf", "%s", p.as_str()],
                    Duration::from_secs(5),
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(String::from_utf8_lossy(&r.stdout), *p);
            let shell = format!("printf '%s' {}", agent::quote(p));
            let r = c
                .exec(&ExecRequest::shell(shell, Duration::from_secs(5)))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(String::from_utf8_lossy(&r.stdout), *p);
        }
        assert!(!canary.exists(), "an injection payload ran");
        c.close().await;
    });
}

#[test]
fn deadline_ends_the_command_and_its_children() {
    rt().block_on(async {
        let mut c = Conn::local("local").await.unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pidfile = dir.path().join("pid");
        let cmd = format!(
            "sleep 30 & echo $! > {}; wait",
            agent::quote(&pidfile.display().to_string())
        );
        let t = Instant::now();
        let r = c
            .exec(&ExecRequest::shell(cmd, Duration::from_millis(500)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.timed_out, "rc {}", r.rc);
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the command wrote no pid: the probe is broken"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Gone, or a zombie waiting for its parent: not running.
        let alive = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => !s.contains(") Z"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => panic!("cannot read /proc/{pid}/stat: {e}"),
        };
        assert!(!alive, "the child `sleep` survived the deadline");
        // The connection is still usable.
        let r = c
            .exec(&ExecRequest::argv(["echo", "ok"], Duration::from_secs(5)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.stdout, b"ok\n");
        c.close().await;
    });
}

#[test]
fn put_and_fetch_verify_and_are_atomic() {
    rt().block_on(async {
        let mut c = Conn::local("local").await.unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dest = dir.path().join("file.txt").display().to_string();
        let data = b"hello\nworld\n".repeat(10_000);
        let (sha, changed) = c
            .put(
                &data,
                &dest,
                Some("0640"),
                None,
                Duration::from_secs(10),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(changed);
        assert_eq!(std::fs::read(&dest).unwrap_or_default(), data);
        let (_, changed) = c
            .put(&data, &dest, None, None, Duration::from_secs(10), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!changed, "identical content must not be rewritten");
        let back = dir.path().join("back/file.txt");
        let (sha2, size) = c
            .fetch(&dest, &back, Duration::from_secs(10), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sha2, size), (sha, data.len() as u64));
        assert_eq!(std::fs::read(&back).unwrap_or_default(), data);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("etcdflow-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        c.close().await;
    });
}
