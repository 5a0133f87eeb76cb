//! etcdflow: checked, resumable, etcd-aware procedures for Kubernetes control planes.

pub mod diagnostics;
pub mod source;
pub mod syntax;
