//! The spanned abstract syntax tree. Plain data: no pest types, no resolution. The
//! checker turns it into `ir`.

use crate::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub file: FileId,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// `##` lines before the item and a trailing `##` on its line, without the `##`.
    pub docs: Vec<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    Flow(Ident),
    Include(StrLit),
    Param(Param),
    Hosts(HostsDecl),
    Cluster(Cluster),
    Step(Step),
    Block(BlockDef),
    PointOfNoReturn(StrLit),
}

/// `block NAME(p: T, ...) { ... }`: statements reused by `use NAME(args)`.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDef {
    pub name: Ident,
    pub params: Vec<(Ident, TypeExpr)>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub arg: Option<Box<TypeExpr>>,
    pub optional: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostsDecl {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    pub name: Ident,
    pub fields: Vec<Clause>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: Ident,
    pub targets: Expr,
    pub options: Vec<Clause>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// `key: value`, or a bare `flag` (then `value` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub key: Ident,
    pub value: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Action(Action),
    Let {
        name: Ident,
        value: LetValue,
    },
    Assert {
        cond: Expr,
        message: Option<Expr>,
    },
    If {
        cond: Expr,
        then: Block,
        otherwise: Option<Block>,
    },
    For {
        var: Ident,
        iter: Expr,
        body: Block,
    },
    Rollback(Block),
    /// `use NAME(args)`: a block's statements, its params bound to the args.
    Use {
        name: Ident,
        args: Vec<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LetValue {
    Action(Action),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// The verb, possibly dotted (`etcd.member_add`).
    pub verb: Ident,
    pub positional: Option<Expr>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Str(StrLit),
    Int(i64),
    Bool(bool),
    None,
    Duration(u64),
    Size(u64),
    /// A literal the parser recognised as malformed, with the reason (`invalid-literal`).
    Invalid(String),
    Name(String),
    List(Vec<Expr>),
    /// `[elem for var in iter if cond]`.
    Comprehension {
        elem: Box<Expr>,
        var: Ident,
        iter: Box<Expr>,
        cond: Option<Box<Expr>>,
    },
    Map(Vec<(MapKey, Expr)>),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `expr?`: an optional inventory group.
    Optional(Box<Expr>),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct MapKey {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Union,
    Intersect,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Union => "|",
            BinOp::Intersect => "&",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// A string literal: text pieces and `{{ expr }}` interpolations. `'...'` strings have
/// no interpolation (`raw` is true).
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub raw: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
    /// An escape sequence that means nothing (`\q`): kept so the checker can point at it.
    BadEscape(String, Span),
}

impl StrLit {
    /// The literal's value if it has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text(t) => s.push_str(t),
                _ => return None,
            }
        }
        Some(s)
    }
}

impl Expr {
    pub fn as_plain_str(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Str(s) => s.as_plain(),
            _ => None,
        }
    }
}

impl File {
    pub fn file_id(&self) -> FileId {
        self.file
    }
}
