//! The one integration test binary: the case corpus, the CLI, the shipped flows.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)] // tests run and print

mod ansible;
mod cases;
mod cli;
mod domeos;
mod editors;
mod etcd;
mod etcd_scoped;
mod etcd_tls;
mod events;
mod examples;
mod faults;
mod fmt;
mod inventory;
mod kops;
mod kubeadm;
mod language;
mod lint;
mod lsp;
mod meta;
mod options;
mod rehearse;
mod sandbox;
mod security;
mod terminal;

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Show paths relative to the repository, so snapshots do not depend on the checkout.
pub fn relative(p: &str) -> String {
    let root = root();
    Path::new(p)
        .strip_prefix(&root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.to_string())
}
