//! etcdflow: checked, resumable, etcd-aware procedures for Kubernetes control planes.
//!
//! Data flows one way: `load` (files) → `syntax` (AST) → `check` (IR) → runtime; every
//! phase reports [`diagnostics::Diagnostic`]s, rendered by `diagnostics::render` only.

pub mod check;
pub mod diagnostics;
pub mod ir;
pub mod load;
pub mod source;
pub mod syntax;
pub mod template;
pub mod inventory;
pub mod cli;

pub use cli::run;
