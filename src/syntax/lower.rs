//! One `lower_*` function per grammar rule: pest pairs to AST. Pairs are trusted to have
//! the shape the grammar gives them; a shape this code does not expect is a bug in
//! etcdflow and becomes an `internal-error` diagnostic, never a panic.

use super::ast::*;
use super::{expr::pratt, span, FlowParser, Rule};
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};
use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

pub(crate) struct Lowerer {
    file: FileId,
    offset: usize,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

type P<'a> = Pair<'a, Rule>;

impl Lowerer {
    pub(crate) fn new(file: FileId, offset: usize) -> Lowerer {
        Lowerer {
            file,
            offset,
            diagnostics: Vec::new(),
        }
    }

    fn span(&self, p: &P<'_>) -> Span {
        span(self.file, self.offset, p.as_span())
    }

    fn bug(&mut self, p: &P<'_>, what: &str) {
        let s = self.span(p);
        self.diagnostics.push(
            Diagnostic::error(
                "internal-error",
                format!(
                    "this is a bug in etcdflow: unexpected syntax shape ({what}: {:?})",
                    p.as_rule()
                ),
            )
            .at(s, "while reading this")
            .help("please report it with this file attached"),
        );
    }

    pub(crate) fn items(&mut self, top: P<'_>, out: &mut Vec<Item>) {
        for p in top.into_inner() {
            if p.as_rule() == Rule::item {
                if let Some(i) = self.item(p) {
                    out.push(i);
                }
            }
        }
    }

    fn item(&mut self, p: P<'_>) -> Option<Item> {
        let mut docs = Vec::new();
        let mut kind = None;
        let mut item_span = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::doc_block => {
                    for d in c.into_inner() {
                        docs.push(doc_text(d.as_str()));
                    }
                }
                Rule::doc => docs.push(doc_text(c.as_str())),
                _ => {
                    item_span = Some(self.span(&c));
                    kind = self.item_kind(c);
                }
            }
        }
        Some(Item {
            docs,
            kind: kind?,
            span: item_span?,
        })
    }

    fn item_kind(&mut self, p: P<'_>) -> Option<ItemKind> {
        let rule = p.as_rule();
        let mut inner = p.clone().into_inner();
        let kind = match rule {
            Rule::flow_decl => {
                inner.next();
                ItemKind::Flow(self.ident(inner.next()?))
            }
            Rule::include_decl => {
                inner.next();
                ItemKind::Include(self.string(inner.next()?))
            }
            Rule::param_decl => {
                inner.next();
                let name = self.ident(inner.next()?);
                let ty = self.type_expr(inner.next()?)?;
                let default = inner.next().and_then(|e| self.expr(e));
                ItemKind::Param(Param { name, ty, default })
            }
            Rule::hosts_decl => {
                inner.next();
                let name = self.ident(inner.next()?);
                let value = self.expr(inner.next()?)?;
                ItemKind::Hosts(HostsDecl { name, value })
            }
            Rule::cluster_decl => {
                inner.next();
                let name = self.ident(inner.next()?);
                let mut fields = Vec::new();
                for f in inner {
                    if f.as_rule() == Rule::field {
                        let s = self.span(&f);
                        let mut fi = f.into_inner();
                        let key = self.ident(fi.next()?);
                        let value = fi.next().and_then(|e| self.expr(e));
                        fields.push(Clause {
                            key,
                            value,
                            span: s,
                        });
                    }
                }
                ItemKind::Cluster(Cluster { name, fields })
            }
            Rule::no_return_decl => {
                inner.next();
                ItemKind::PointOfNoReturn(self.string(inner.next()?))
            }
            Rule::block_decl => {
                inner.next();
                let name = self.ident(inner.next()?);
                let mut params = Vec::new();
                let mut body = None;
                for c in inner {
                    match c.as_rule() {
                        Rule::block_param => {
                            let mut pi = c.into_inner();
                            let n = self.ident(pi.next()?);
                            let t = self.type_expr(pi.next()?)?;
                            params.push((n, t));
                        }
                        Rule::block => body = Some(self.block(c)),
                        _ => self.bug(&c, "block"),
                    }
                }
                ItemKind::Block(BlockDef {
                    name,
                    params,
                    body: body?,
                })
            }
            Rule::step_decl => {
                inner.next();
                let name = self.ident(inner.next()?);
                inner.next(); // `on`
                let targets = self.expr(inner.next()?)?;
                let mut options = Vec::new();
                let mut body = None;
                for c in inner {
                    match c.as_rule() {
                        Rule::clause => options.push(self.clause(c)?),
                        Rule::block => body = Some(self.block(c)),
                        _ => self.bug(&c, "step"),
                    }
                }
                ItemKind::Step(Step {
                    name,
                    targets,
                    options,
                    body: body?,
                })
            }
            _ => {
                self.bug(&p, "item");
                return None;
            }
        };
        Some(kind)
    }

    fn ident(&mut self, p: P<'_>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn type_expr(&mut self, p: P<'_>) -> Option<TypeExpr> {
        let s = self.span(&p);
        let mut name = None;
        let mut arg = None;
        let mut optional = false;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::raw_ident => name = Some(self.ident(c)),
                Rule::type_expr => arg = self.type_expr(c).map(Box::new),
                Rule::optional_mark => optional = true,
                _ => self.bug(&c, "type"),
            }
        }
        Some(TypeExpr {
            name: name?,
            arg,
            optional,
            span: s,
        })
    }

    fn block(&mut self, p: P<'_>) -> Block {
        let s = self.span(&p);
        let stmts = p
            .into_inner()
            .filter(|c| c.as_rule() != Rule::doc)
            .filter_map(|c| self.stmt(c))
            .collect();
        Block { stmts, span: s }
    }

    fn stmt(&mut self, p: P<'_>) -> Option<Stmt> {
        let s = self.span(&p);
        let rule = p.as_rule();
        let mut inner = p.clone().into_inner();
        let kind = match rule {
            Rule::action => StmtKind::Action(self.action(p)?),
            Rule::rollback_block => {
                inner.next();
                StmtKind::Rollback(self.block(inner.next()?))
            }
            Rule::if_stmt => {
                inner.next();
                let cond = self.expr(inner.next()?)?;
                let then = self.block(inner.next()?);
                let mut otherwise = None;
                if inner.next().is_some() {
                    let e = inner.next()?;
                    otherwise = Some(if e.as_rule() == Rule::if_stmt {
                        let es = self.span(&e);
                        let st = self.stmt(e)?;
                        Block {
                            stmts: vec![st],
                            span: es,
                        }
                    } else {
                        self.block(e)
                    });
                }
                StmtKind::If {
                    cond,
                    then,
                    otherwise,
                }
            }
            Rule::use_stmt => {
                inner.next();
                let name = self.ident(inner.next()?);
                let args = inner.filter_map(|e| self.expr(e)).collect();
                StmtKind::Use { name, args }
            }
            Rule::for_stmt => {
                inner.next();
                let var = self.ident(inner.next()?);
                inner.next();
                let iter = self.expr(inner.next()?)?;
                let body = self.block(inner.next()?);
                StmtKind::For { var, iter, body }
            }
            Rule::let_stmt => {
                inner.next();
                let name = self.ident(inner.next()?);
                let v = inner.next()?;
                let value = match v.as_rule() {
                    Rule::action => LetValue::Action(self.action(v)?),
                    _ => LetValue::Expr(self.expr(v)?),
                };
                StmtKind::Let { name, value }
            }
            Rule::assert_stmt => {
                inner.next();
                let cond = self.expr(inner.next()?)?;
                let message = inner.next().and_then(|m| self.expr(m));
                StmtKind::Assert { cond, message }
            }
            _ => {
                self.bug(&p, "statement");
                return None;
            }
        };
        Some(Stmt { kind, span: s })
    }

    fn action(&mut self, p: P<'_>) -> Option<Action> {
        let s = self.span(&p);
        let mut verb = None;
        let mut positional = None;
        let mut clauses = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::verb => verb = Some(self.ident(c)),
                Rule::positional => positional = c.into_inner().next().and_then(|e| self.expr(e)),
                Rule::clause => clauses.push(self.clause(c)?),
                _ => self.bug(&c, "action"),
            }
        }
        Some(Action {
            verb: verb?,
            positional,
            clauses,
            span: s,
        })
    }

    fn clause(&mut self, p: P<'_>) -> Option<Clause> {
        let s = self.span(&p);
        let mut inner = p.into_inner();
        let key = self.ident(inner.next()?);
        let value = inner.next().and_then(|e| self.expr(e));
        Some(Clause {
            key,
            value,
            span: s,
        })
    }

    pub(crate) fn expr(&mut self, p: P<'_>) -> Option<Expr> {
        let s = self.span(&p);
        let pairs = p.into_inner();
        let result = self.pratt(pairs);
        result.map(|mut e| {
            if matches!(e.kind, ExprKind::Binary { .. } | ExprKind::Unary { .. }) {
                e.span = s;
            }
            e
        })
    }

    fn pratt(&mut self, pairs: Pairs<'_, Rule>) -> Option<Expr> {
        // The closures need `&mut self`; collect bug reports through a RefCell-free path.
        let file = self.file;
        let offset = self.offset;
        let cell = std::cell::RefCell::new(&mut *self);
        let result = pratt()
            .map_primary(|p| cell.borrow_mut().primary(p))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let sp = span(file, offset, op.as_span()).to(rhs.span);
                let op = if op.as_rule() == Rule::op_not {
                    UnaryOp::Not
                } else {
                    UnaryOp::Neg
                };
                Some(Expr {
                    kind: ExprKind::Unary {
                        op,
                        expr: Box::new(rhs),
                    },
                    span: sp,
                })
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                let sp = lhs.span.to(span(file, offset, op.as_span()));
                let kind = match op.as_rule() {
                    Rule::field_access => {
                        let f = op.into_inner().next()?;
                        ExprKind::Field {
                            base: Box::new(lhs),
                            field: Ident {
                                name: f.as_str().to_string(),
                                span: span(file, offset, f.as_span()),
                            },
                        }
                    }
                    Rule::index => {
                        let e = op.into_inner().next()?;
                        let idx = cell.borrow_mut().expr(e)?;
                        ExprKind::Index {
                            base: Box::new(lhs),
                            index: Box::new(idx),
                        }
                    }
                    _ => ExprKind::Optional(Box::new(lhs)),
                };
                Some(Expr { kind, span: sp })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_in => BinOp::In,
                    Rule::op_not_in => BinOp::NotIn,
                    Rule::op_union => BinOp::Union,
                    Rule::op_inter => BinOp::Intersect,
                    Rule::op_add => BinOp::Add,
                    Rule::op_sub => BinOp::Sub,
                    Rule::op_mul => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let sp = lhs.span.to(rhs.span);
                Some(Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span: sp,
                })
            })
            .parse(pairs);
        result
    }

    fn primary(&mut self, p: P<'_>) -> Option<Expr> {
        let s = self.span(&p);
        let kind = match p.as_rule() {
            Rule::string => ExprKind::Str(self.string(p)),
            Rule::raw_string => ExprKind::Str(self.string(p)),
            Rule::int => {
                let digits: String = p.as_str().chars().filter(|c| *c != '_').collect();
                match digits.parse::<i64>() {
                    Ok(n) => ExprKind::Int(n),
                    Err(_) => ExprKind::Invalid(format!(
                        "integer `{}` does not fit in 64 bits",
                        p.as_str()
                    )),
                }
            }
            Rule::duration => match parse_duration_ms(p.as_str()) {
                Some(ms) => ExprKind::Duration(ms),
                None => ExprKind::Invalid(format!("duration `{}` is too large", p.as_str())),
            },
            Rule::size => match parse_size(p.as_str()) {
                Some(b) => ExprKind::Size(b),
                None => ExprKind::Invalid(format!("size `{}` is too large", p.as_str())),
            },
            Rule::bad_number => ExprKind::Invalid(bad_number_reason(p.as_str())),
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::none => ExprKind::None,
            Rule::ident | Rule::raw_ident | Rule::name => ExprKind::Name(p.as_str().to_string()),
            Rule::paren => {
                let e = p.into_inner().next()?;
                let mut inner = self.expr(e)?;
                inner.span = s;
                return Some(inner);
            }
            Rule::list => {
                let inner: Vec<P<'_>> = p.into_inner().collect();
                match inner.iter().position(|x| x.as_rule() == Rule::comp_tail) {
                    Some(t) => {
                        let elem = self.expr(inner.first()?.clone())?;
                        let mut tail = inner.get(t)?.clone().into_inner().filter(|x| {
                            !matches!(x.as_rule(), Rule::kw_for | Rule::kw_in | Rule::kw_if)
                        });
                        let var = self.ident(tail.next()?);
                        let iter = self.expr(tail.next()?)?;
                        let cond = match tail.next() {
                            Some(c) => Some(Box::new(self.expr(c)?)),
                            None => None,
                        };
                        ExprKind::Comprehension {
                            elem: Box::new(elem),
                            var,
                            iter: Box::new(iter),
                            cond,
                        }
                    }
                    None => {
                        ExprKind::List(inner.into_iter().filter_map(|e| self.expr(e)).collect())
                    }
                }
            }
            Rule::map => {
                let mut entries = Vec::new();
                for e in p.into_inner() {
                    let mut ei = e.into_inner();
                    let k = ei.next()?;
                    let ks = self.span(&k);
                    let name = if k.as_rule() == Rule::string {
                        self.string(k).as_plain().unwrap_or_default()
                    } else {
                        k.as_str().to_string()
                    };
                    let v = self.expr(ei.next()?)?;
                    entries.push((MapKey { name, span: ks }, v));
                }
                ExprKind::Map(entries)
            }
            Rule::call => {
                let mut inner = p.into_inner();
                let func = self.ident(inner.next()?);
                let args = inner.filter_map(|e| self.expr(e)).collect();
                ExprKind::Call { func, args }
            }
            _ => {
                self.bug(&p, "expression");
                return None;
            }
        };
        Some(Expr { kind, span: s })
    }

    fn string(&mut self, p: P<'_>) -> StrLit {
        let s = self.span(&p);
        let raw = p.as_rule() == Rule::raw_string;
        let mut parts: Vec<StrPart> = Vec::new();
        let push_text = |parts: &mut Vec<StrPart>, t: &str| {
            if let Some(StrPart::Text(prev)) = parts.last_mut() {
                prev.push_str(t);
            } else {
                parts.push(StrPart::Text(t.to_string()));
            }
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::str_text | Rule::raw_text => push_text(&mut parts, c.as_str()),
                Rule::escape => match unescape(c.as_str()) {
                    Some(ch) => push_text(&mut parts, ch),
                    None => {
                        let es = self.span(&c);
                        parts.push(StrPart::BadEscape(c.as_str().to_string(), es));
                    }
                },
                Rule::interp => {
                    if let Some(e) = c.into_inner().next().and_then(|e| self.expr(e)) {
                        parts.push(StrPart::Interp(e));
                    }
                }
                _ => self.bug(&c, "string"),
            }
        }
        StrLit {
            parts,
            raw,
            span: s,
        }
    }
}

fn doc_text(s: &str) -> String {
    let t = s.trim_start_matches('#');
    t.strip_prefix(' ').unwrap_or(t).trim_end().to_string()
}

fn unescape(s: &str) -> Option<&'static str> {
    Some(match s {
        "\\n" => "\n",
        "\\t" => "\t",
        "\\r" => "\r",
        "\\\\" => "\\",
        "\\\"" => "\"",
        "\\'" => "'",
        "\\{" => "{",
        "\\}" => "}",
        "\\$" => "$",
        _ => return None,
    })
}

/// `1h30m` → milliseconds.
pub(crate) fn parse_duration_ms(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1
        } else {
            match c {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return None,
            }
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        num.clear();
    }
    Some(total)
}

pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit {
        "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn bad_number_reason(s: &str) -> String {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let unit = &s[split..];
    format!(
        "`{s}` is not a valid literal: `{unit}` is not a duration unit (ms, s, m, h, d) or a size unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
    )
}

/// Parse a standalone expression (used for `-e name=value` and by tests).
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Diagnostic> {
    match FlowParser::parse(Rule::expr_only, text) {
        Ok(mut pairs) => {
            let mut lw = Lowerer::new(file, 0);
            let e = pairs
                .next()
                .and_then(|p| p.into_inner().next())
                .and_then(|p| lw.expr(p));
            match (e, lw.diagnostics.pop()) {
                (Some(e), None) => Ok(e),
                (_, Some(d)) => Err(d),
                (None, None) => Err(Diagnostic::error(
                    "internal-error",
                    "this is a bug in etcdflow: an expression parsed to nothing",
                )),
            }
        }
        Err(e) => Err(super::names::syntax_error(file, 0, text, &e).0),
    }
}

/// Parse a standalone type (used by tests and `-e` validation).
pub fn parse_type(file: FileId, text: &str) -> Result<TypeExpr, Diagnostic> {
    match FlowParser::parse(Rule::type_only, text) {
        Ok(mut pairs) => {
            let mut lw = Lowerer::new(file, 0);
            pairs
                .next()
                .and_then(|p| p.into_inner().next())
                .and_then(|p| lw.type_expr(p))
                .ok_or_else(|| {
                    Diagnostic::error(
                        "internal-error",
                        "this is a bug in etcdflow: a type parsed to nothing",
                    )
                })
        }
        Err(e) => Err(super::names::syntax_error(file, 0, text, &e).0),
    }
}
