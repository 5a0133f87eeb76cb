//! A cluster declared with TLS (CA, client certificate) and etcd authentication
//! (user + `secret` password), against a real etcd 3.4 on loopback with
//! `--client-cert-auth` and auth enabled. The password never shows in the output or the
//! journal (SAFETY.md inv. 24).

use super::cli::Test;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Etcd(std::process::Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CA, server (127.0.0.1) and client certificates as PEM (cert, key).
fn pki() -> [(String, String); 3] {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| panic!("{e}"));
    let issuer = Issuer::new(ca, &ca_key);
    let leaf = |sans: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut p = CertificateParams::new(sans).unwrap_or_else(|e| panic!("{e}"));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        let c = p.signed_by(&key, &issuer).unwrap_or_else(|e| panic!("{e}"));
        (c.pem(), key.serialize_pem())
    };
    [
        (ca_cert.pem(), ca_key.serialize_pem()),
        leaf(vec!["127.0.0.1".into(), "localhost".into()], "etcd"),
        leaf(vec![], "etcdflow"),
    ]
}

#[test]
fn tls_and_auth() {
    if std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("etcd must be installed (etcd-server; .ci/run installs it)");
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let [(ca, _), (srv, srv_key), (cli, cli_key)] = pki();
    for (n, t) in [
        ("ca.pem", &ca),
        ("server.pem", &srv),
        ("server-key.pem", &srv_key),
    ] {
        std::fs::write(d.join(n), t).unwrap_or_else(|e| panic!("{e}"));
    }
    let (cp, pp) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{cp}");
    let peer = format!("http://127.0.0.1:{pp}");
    let log = std::fs::File::create(d.join("etcd.log")).unwrap_or_else(|e| panic!("{e}"));
    let _etcd = Etcd(
        std::process::Command::new("etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(d.join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("t={peer}")])
            .arg("--cert-file")
            .arg(d.join("server.pem"))
            .arg("--key-file")
            .arg(d.join("server-key.pem"))
            .arg("--trusted-ca-file")
            .arg(d.join("ca.pem"))
            .arg("--client-cert-auth")
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("etcd: {e}")),
    );
    let password = "canary-7f3a9-secret";
    // Enable authentication with a root user.
    let tls = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(&ca))
        .identity(etcd_client::Identity::from_pem(&cli, &cli_key));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let t0 = Instant::now();
        loop {
            let o = etcd_client::ConnectOptions::new()
                .with_tls(tls.clone())
                .with_connect_timeout(Duration::from_secs(1))
                .with_timeout(Duration::from_secs(2));
            if let Ok(mut c) = etcd_client::Client::connect([url.as_str()], Some(o)).await {
                if c.status().await.is_ok() {
                    c.user_add("root", password, None)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    c.user_grant_role("root", "root")
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    c.auth_enable().await.unwrap_or_else(|e| panic!("{e}"));
                    break;
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "etcd did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let flow = format!(
        "## tls\nflow tls\nparam pw: secret\ncluster c {{\n  endpoints: [\"{url}\"]\n  ca: \"ca.pem\"\n  cert: \"client.pem\"\n  key: \"client-key.pem\"\n  user: \"root\"\n  password: pw\n}}\nstep s on local {{\n  etcd.put key: \"tls/x\" value: \"1\"\n  let n = etcd.count prefix: \"tls/\"\n  assert n == 1 and c.healthy and len(c.members) == 1, \"over TLS with a password\"\n}}\n"
    );
    let mk = || {
        Test::new()
            .file("t.flow", &flow)
            .file("ca.pem", &ca)
            .file("client.pem", &cli)
            .file("client-key.pem", &cli_key)
            .file("inv", "[none]\n")
    };
    let keep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let state = keep.path().join("state");
    let out = mk()
        .args(["run", "t.flow", "-i", "inv", "-e"])
        .arg(format!("pw={password}"))
        .arg("--state-dir")
        .arg(&state)
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut seen = out.stdout + &out.stderr;
    for f in walk(&state) {
        seen += &std::fs::read_to_string(f).unwrap_or_default();
    }
    assert!(
        !seen.contains(password),
        "the etcd password leaked into the output or the journal"
    );
    // A wrong password: refused before the first step, with the reason.
    let out = mk()
        .args(["run", "t.flow", "-i", "inv", "-e", "pw=wrong"])
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("authentication failed") || out.stderr.contains("invalid"),
        "{}",
        out.stderr
    );
    // No client certificate: the TLS handshake is refused.
    let out = Test::new()
        .file(
            "t.flow",
            &flow.replace("  cert: \"client.pem\"\n  key: \"client-key.pem\"\n", ""),
        )
        .file("ca.pem", &ca)
        .file("inv", "[none]\n")
        .args(["run", "t.flow", "-i", "inv"])
        .arg("-e")
        .arg(format!("pw={password}"))
        .run();
    assert_eq!(out.code, 5, "{}", out.stderr);
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
