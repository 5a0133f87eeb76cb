//! etcdflow: checked, resumable, etcd-aware procedures for Kubernetes control planes.
//!
//! Data flows one way: `load` (files) → `syntax` (AST) → `check` (IR) → runtime; every
//! phase reports [`diagnostics::Diagnostic`]s, rendered by `diagnostics::render` only.

pub mod check;
pub mod cli;
pub mod diagnostics;
pub mod edit;
pub mod fmt;
pub mod inventory;
pub mod ir;
pub mod load;
pub mod shell;
pub mod source;
pub mod syntax;
pub mod template;
pub mod values;

pub use cli::run;
pub mod journal;
pub mod lint;
pub mod lsp;
pub mod report;
pub mod runtime;
pub mod sandbox;
pub mod snapshot;
pub mod stdlib;
pub mod transport;
