//! The checked intermediate representation: what the runtime executes and `plan` prints.
//! Every name is resolved (params, host sets, clusters and bindings by index), every
//! expression carries its type, every action is a known [`ActionKind`] with validated
//! arguments. Nothing downstream re-checks names.

use crate::check::types::Ty;
use crate::source::Span;
use indexmap::IndexMap;

#[derive(Clone, Debug)]
pub struct Flow {
    pub name: String,
    pub docs: Vec<String>,
    pub params: Vec<Param>,
    pub hosts: Vec<HostsDef>,
    pub clusters: Vec<Cluster>,
    pub bindings: Vec<Binding>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub ty: Ty,
    pub default: Option<Expr>,
    pub docs: Vec<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct HostsDef {
    pub name: String,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub fields: IndexMap<&'static str, Expr>,
    pub span: Span,
}

/// A `let` result; steps refer to it by index.
#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    pub ty: Ty,
    /// Index of the step that makes it.
    pub step: usize,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub docs: Vec<String>,
    /// `None` means `local`: the controller.
    pub targets: Option<Expr>,
    pub options: IndexMap<&'static str, Arg>,
    pub body: Vec<Stmt>,
    pub rollback: Option<Vec<Stmt>>,
    /// After a `point_of_no_return`: a failure prints this instead of rolling back.
    pub no_return: Option<Expr>,
    pub span: Span,
}

/// A validated argument: a value, or a flag that is present.
#[derive(Clone, Debug)]
pub enum Arg {
    Value(Expr),
    Flag(Span),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Action(Action),
    Let {
        binding: BindingRef,
        value: LetValue,
    },
    Assert {
        cond: Expr,
        message: Option<Expr>,
        span: Span,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    For {
        var: String,
        iter: Expr,
        body: Vec<Stmt>,
    },
}

#[derive(Clone, Debug)]
pub enum LetValue {
    Action(Action),
    Expr(Expr),
}

/// A step-level binding (flow-wide index) or a block-local one (by name).
#[derive(Clone, Debug)]
pub enum BindingRef {
    Flow(usize),
    Local(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Run,
    Copy,
    Fetch,
    Template,
    Wait,
    Fail,
    Confirm,
    Log,
    Etcd(EtcdOp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtcdOp {
    MemberAdd,
    MemberPromote,
    MemberRemove,
    MoveLeader,
    SnapshotSave,
    SnapshotVerify,
    SnapshotRestore,
    Defrag,
    AlarmList,
    AlarmDisarm,
    Put,
    Get,
    Count,
    Delete,
    WaitHealthy,
    WaitStarted,
    WaitCaughtUp,
    WaitLeader,
    Status,
    Members,
    Health,
    HashKv,
}

#[derive(Clone, Debug)]
pub struct Action {
    pub kind: ActionKind,
    pub positional: Option<Expr>,
    pub args: IndexMap<&'static str, Arg>,
    /// For etcd actions: the cluster's index.
    pub cluster: Option<usize>,
    /// For `template`: the compiled template's file id in the source map.
    pub template: Option<crate::source::FileId>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Duration(u64),
    Size(u64),
    /// A string with `{{ }}` parts.
    Interp(Vec<InterpPart>),
    Param(usize),
    Hosts(usize),
    Cluster(usize),
    Binding(BindingRef),
    /// The host a step runs on.
    CurrentHost,
    /// The controller (`local`).
    Local,
    Group {
        name: String,
        optional: bool,
    },
    List(Vec<Expr>),
    Map(Vec<(String, Expr)>),
    Call {
        func: &'static str,
        args: Vec<Expr>,
    },
    Field {
        base: Box<Expr>,
        field: String,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: crate::syntax::ast::UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: crate::syntax::ast::BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Stands in for an expression that had an error.
    Error,
}

#[derive(Clone, Debug)]
pub enum InterpPart {
    Text(String),
    /// Shell-quoted when the string is a command (SAFETY.md inv. 20), unless `raw`.
    Value {
        expr: Expr,
        raw: bool,
    },
}
