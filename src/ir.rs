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
    /// Bound once (a step `on local` or `run_once`), visible on every host.
    pub global: bool,
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
    /// A `use` of a block, expanded: its params' `let`s, then its statements (their
    /// `let`s local to it).
    Block(Vec<Stmt>),
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
    /// A structured edit of a remote file (`env`, `yaml`, `json`), written like `copy`.
    Edit,
    /// A remote file read into a value.
    Read,
    /// A CA made on the controller (rcgen), or kept when it exists.
    TlsCa,
    /// A certificate signed by that CA, with SANs.
    TlsCert,
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
    /// `r[h]`: the value host `h` bound for per-host flow binding `binding`.
    BindingOn {
        binding: usize,
        host: Box<Expr>,
    },
    /// The host a step runs on.
    CurrentHost,
    /// The controller (`local`).
    Local,
    Group {
        name: String,
        optional: bool,
    },
    List(Vec<Expr>),
    /// `[elem for var in iter if cond]`: `var` is a local of `elem` and `cond`.
    Comprehension {
        var: String,
        iter: Box<Expr>,
        cond: Option<Box<Expr>>,
        elem: Box<Expr>,
    },
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

/// The one walker over the IR (the runtime's "does the flow use X" questions and the
/// lint rules both use it).
impl Expr {
    /// Every sub-expression, this one first.
    pub fn each<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Value { expr, .. } = p {
                        expr.each(f);
                    }
                }
            }
            ExprKind::List(xs) | ExprKind::Call { args: xs, .. } => {
                for x in xs {
                    x.each(f);
                }
            }
            ExprKind::Map(kv) => {
                for (_, x) in kv {
                    x.each(f);
                }
            }
            ExprKind::Comprehension {
                iter, cond, elem, ..
            } => {
                iter.each(f);
                if let Some(c) = cond {
                    c.each(f);
                }
                elem.each(f);
            }
            ExprKind::BindingOn { host, .. } => host.each(f),
            ExprKind::Field { base, .. } => base.each(f),
            ExprKind::Index { base, index } => {
                base.each(f);
                index.each(f);
            }
            ExprKind::Unary { expr, .. } => expr.each(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.each(f);
                rhs.each(f);
            }
            _ => {}
        }
    }

    /// Whether it has one value for the whole run: it reads params and literals only (no
    /// host, binding, cluster fact or call whose value changes during the run). A step
    /// `when:` of this kind is a mode of the flow (`when: not recover`).
    pub fn run_wide(&self) -> bool {
        use ExprKind as K;
        let mut ok = true;
        self.each(&mut |x| match &x.kind {
            K::Param(_) | K::Str(_) | K::Int(_) | K::Bool(_) | K::None | K::Duration(_) => {}
            K::Size(_) | K::Unary { .. } | K::Binary { .. } | K::List(_) => {}
            K::Call { func, .. }
                if matches!(
                    *func,
                    "len" | "contains" | "starts_with" | "ends_with" | "lower" | "upper" | "trim"
                ) => {}
            _ => ok = false,
        });
        ok
    }

    /// Structural equality (spans aside) of host sets and run-wide conditions; false for
    /// anything else, so a `true` is always a proof.
    pub fn same(&self, other: &Expr) -> bool {
        use ExprKind as K;
        match (&self.kind, &other.kind) {
            (K::Hosts(i), K::Hosts(j)) | (K::Param(i), K::Param(j)) => i == j,
            (K::Group { name: x, .. }, K::Group { name: y, .. }) | (K::Str(x), K::Str(y)) => x == y,
            (K::Int(x), K::Int(y)) => x == y,
            (K::Bool(x), K::Bool(y)) => x == y,
            (K::Unary { op, expr }, K::Unary { op: op2, expr: e2 }) => op == op2 && expr.same(e2),
            (K::Call { func: f, args: xs }, K::Call { func: g, args: ys }) => {
                f == g && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| x.same(y))
            }
            (
                K::Binary { op, lhs, rhs },
                K::Binary {
                    op: op2,
                    lhs: l2,
                    rhs: r2,
                },
            ) => op == op2 && lhs.same(l2) && rhs.same(r2),
            _ => false,
        }
    }

    /// Whether any sub-expression (this one included) satisfies `pred`.
    pub fn any(&self, pred: &dyn Fn(&Expr) -> bool) -> bool {
        let mut found = false;
        self.each(&mut |e| found |= pred(e));
        found
    }
}

/// An action with where it sits.
pub struct ActionSite<'a> {
    pub step: usize,
    pub action: &'a Action,
    /// Inside an `if`/`for`, or in a step with `when:`: may not run.
    pub conditional: bool,
    /// Its step's `when:`, when that is run-wide (a mode), and the action is not also
    /// inside an `if`/`for`: it runs whenever that mode is on.
    pub mode: Option<&'a Expr>,
    pub rollback: bool,
}

fn walk<'a>(stmts: &'a [Stmt], step: usize, cond: bool, rb: bool, out: &mut Vec<ActionSite<'a>>) {
    for s in stmts {
        match s {
            Stmt::Action(a)
            | Stmt::Let {
                value: LetValue::Action(a),
                ..
            } => out.push(ActionSite {
                step,
                action: a,
                conditional: cond,
                mode: None,
                rollback: rb,
            }),
            Stmt::If {
                then, otherwise, ..
            } => {
                walk(then, step, true, rb, out);
                walk(otherwise, step, true, rb, out);
            }
            Stmt::For { body, .. } => walk(body, step, true, rb, out),
            Stmt::Block(body) => walk(body, step, cond, rb, out),
            Stmt::Let { .. } | Stmt::Assert { .. } => {}
        }
    }
}

/// Every expression of a block, statement by statement (actions' arguments included).
fn block_exprs<'a>(stmts: &'a [Stmt], out: &mut Vec<&'a Expr>) {
    for s in stmts {
        match s {
            Stmt::Action(a)
            | Stmt::Let {
                value: LetValue::Action(a),
                ..
            } => {
                out.extend(a.positional.iter());
                out.extend(a.args.values().filter_map(|v| match v {
                    Arg::Value(e) => Some(e),
                    Arg::Flag(_) => None,
                }));
            }
            Stmt::Let {
                value: LetValue::Expr(e),
                ..
            } => out.push(e),
            Stmt::Assert { cond, message, .. } => {
                out.push(cond);
                out.extend(message.iter());
            }
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                out.push(cond);
                block_exprs(then, out);
                block_exprs(otherwise, out);
            }
            Stmt::For { iter, body, .. } => {
                out.push(iter);
                block_exprs(body, out);
            }
            Stmt::Block(body) => block_exprs(body, out),
        }
    }
}

impl Step {
    /// Whether the body edits files (`edit`): its rollback restores them, with or without
    /// a `rollback` block.
    pub fn edits(&self) -> bool {
        let mut out = Vec::new();
        walk(&self.body, 0, false, false, &mut out);
        out.iter().any(|s| s.action.kind == ActionKind::Edit)
    }

    /// Every action of this step (body and rollback); `step` is 0 in the sites.
    pub fn actions(&self) -> Vec<ActionSite<'_>> {
        let mut out = Vec::new();
        walk(&self.body, 0, false, false, &mut out);
        if let Some(rb) = &self.rollback {
            walk(rb, 0, true, true, &mut out);
        }
        out
    }
}

impl Flow {
    /// Every action of every step (body and rollback), with where it sits.
    pub fn actions(&self) -> Vec<ActionSite<'_>> {
        let mut out = Vec::new();
        for (i, st) in self.steps.iter().enumerate() {
            let when = st.options.contains_key("when");
            let from = out.len();
            walk(&st.body, i, false, false, &mut out);
            let mode = match st.options.get("when") {
                Some(Arg::Value(e)) if e.run_wide() => Some(e),
                _ => None,
            };
            for s in &mut out[from..] {
                if !s.conditional {
                    s.mode = mode;
                }
                s.conditional |= when;
            }
            if let Some(rb) = &st.rollback {
                walk(rb, i, true, true, &mut out);
            }
        }
        out
    }

    /// Every top-level expression of a step: targets, options, body and rollback.
    pub fn step_exprs(step: &Step) -> Vec<&Expr> {
        let mut out: Vec<&Expr> = step.targets.iter().collect();
        out.extend(step.options.values().filter_map(|v| match v {
            Arg::Value(e) => Some(e),
            Arg::Flag(_) => None,
        }));
        block_exprs(&step.body, &mut out);
        if let Some(rb) = &step.rollback {
            block_exprs(rb, &mut out);
        }
        out
    }
}
