//! `tls.ca` and `tls.cert`: a CA and the certificates a TLS etcd cluster needs, made on
//! the controller with rcgen (no shell, no openssl). `BASE.pem` and `BASE-key.pem`
//! beside the flow; keys are written owner-only (0600) through a temp file and a rename,
//! never journaled or logged. Idempotent: files that exist are kept (a CA is loaded, a
//! certificate's SANs are compared with the ones asked for, and a difference is an error:
//! a running member's certificate is never replaced behind its back).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub(super) struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub changed: bool,
}

fn paths(base: &Path) -> (PathBuf, PathBuf) {
    let b = base.display().to_string();
    (
        PathBuf::from(format!("{b}.pem")),
        PathBuf::from(format!("{b}-key.pem")),
    )
}

fn read(p: &Path) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// Write `data` to `path` with `mode`, atomically (temp file beside it, fsync, rename).
fn write(path: &Path, data: &str, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let tmp = PathBuf::from(format!("{}.part", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    f.write_all(data.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
}

/// Write a new certificate and its key (the key first, owner-only).
fn save(cert: PathBuf, key: PathBuf, c: &rcgen::Certificate, k: &KeyPair) -> Result<Files, String> {
    write(&key, &k.serialize_pem(), 0o600)?;
    write(&cert, &c.pem(), 0o644)?;
    Ok(Files {
        cert,
        key,
        changed: true,
    })
}

/// Both files there (`Some(true)`), neither (`Some(false)`), or one without the other.
fn present(cert: &Path, key: &Path) -> Result<bool, String> {
    match (cert.exists(), key.exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        _ => Err(format!(
            "{} and {} go together, and only one exists: remove it or restore the other",
            cert.display(),
            key.display()
        )),
    }
}

pub(super) fn ca(base: &Path, cn: &str) -> Result<Files, String> {
    let (cert, key) = paths(base);
    if present(&cert, &key)? {
        // Kept as it is, once it parses as a CA with its key.
        let k = KeyPair::from_pem(&read(&key)?).map_err(|e| format!("{}: {e}", key.display()))?;
        Issuer::from_ca_cert_pem(&read(&cert)?, k)
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        return Ok(Files {
            cert,
            key,
            changed: false,
        });
    }
    let k = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.distinguished_name
        .push(DnType::CommonName, cn.to_string());
    let c = p.self_signed(&k).map_err(|e| e.to_string())?;
    save(cert, key, &c, &k)
}

/// The SANs of an existing certificate, as text (`10.0.0.1`, `etcd-a`).
fn sans_of(pem: &str) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let x = p.parse_x509().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => out.push((*d).to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => out.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        out.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(super) fn cert(
    base: &Path,
    ca_base: &Path,
    sans: &[String],
    cn: &str,
    usage: &str,
) -> Result<Files, String> {
    let (cert, key) = paths(base);
    let mut want: Vec<String> = sans
        .iter()
        .map(|s| {
            s.parse::<std::net::IpAddr>()
                .map_or_else(|_| s.clone(), |ip| ip.to_string())
        })
        .collect();
    want.sort();
    want.dedup();
    if present(&cert, &key)? {
        let have = sans_of(&read(&cert)?).map_err(|e| format!("{}: {e}", cert.display()))?;
        if have != want {
            return Err(format!(
                "{} exists for {} but {} is asked for: remove it (and restart what uses it) to issue a new one",
                cert.display(),
                have.join(", "),
                want.join(", ")
            ));
        }
        return Ok(Files {
            cert,
            key,
            changed: false,
        });
    }
    let (ca_cert, ca_key) = paths(ca_base);
    let ck =
        KeyPair::from_pem(&read(&ca_key)?).map_err(|e| format!("{}: {e}", ca_key.display()))?;
    let issuer = Issuer::from_ca_cert_pem(&read(&ca_cert)?, ck)
        .map_err(|e| format!("{}: {e}", ca_cert.display()))?;
    let k = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut p = CertificateParams::new(want.clone()).map_err(|e| format!("`sans`: {e}"))?;
    p.distinguished_name
        .push(DnType::CommonName, cn.to_string());
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = match usage {
        "client" => vec![ExtendedKeyUsagePurpose::ClientAuth],
        "server" => vec![ExtendedKeyUsagePurpose::ServerAuth],
        // etcd's peer certificates serve and dial: both.
        _ => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    let c = p.signed_by(&k, &issuer).map_err(|e| e.to_string())?;
    save(cert, key, &c, &k)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is the test failing
    use super::*;

    #[test]
    fn ca_and_certs_are_made_once_and_sans_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let ca_base = d.path().join("pki/ca");
        let a = ca(&ca_base, "test CA").unwrap();
        assert!(a.changed);
        assert!(!ca(&ca_base, "test CA").unwrap().changed);
        let base = d.path().join("pki/peer-n1");
        let sans = vec!["10.0.0.1".to_string(), "n1".to_string()];
        let c = cert(&base, &ca_base, &sans, "n1", "peer").unwrap();
        assert!(c.changed);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&c.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            sans_of(&std::fs::read_to_string(&c.cert).unwrap()).unwrap(),
            ["10.0.0.1", "n1"]
        );
        assert!(!cert(&base, &ca_base, &sans, "n1", "peer").unwrap().changed);
        let e = cert(&base, &ca_base, &["10.0.0.2".to_string()], "n1", "peer")
            .err()
            .unwrap();
        assert!(e.contains("exists for 10.0.0.1, n1"), "{e}");
        std::fs::remove_file(&c.key).unwrap();
        assert!(cert(&base, &ca_base, &sans, "n1", "peer")
            .err()
            .unwrap()
            .contains("go together"));
    }
}
