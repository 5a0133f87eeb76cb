//! Evaluating checked expressions. Types were checked before the run, so a mismatch
//! here is a bug; what can still fail is data: a missing inventory group, a binding a
//! host never made, JSON that does not parse, an index out of range.

use super::value::{Secret, Value};
use crate::inventory::Inventory;
use crate::ir::{self, ExprKind as K, InterpPart};
use crate::syntax::ast::{BinOp, UnaryOp};

/// What an expression can see.
#[derive(Clone)]
pub struct Ctx<'a> {
    pub params: &'a [Value],
    pub hosts: &'a [Value],
    pub inventory: &'a Inventory,
    /// The host a step runs on (`None` for `local` and outside steps).
    pub host: Option<&'a str>,
    /// This host's flow bindings (by binding index; `None` = not bound on this host).
    pub bindings: &'a [Option<Value>],
    pub binding_names: &'a [String],
    pub locals: &'a [(String, Value)],
    pub run_id: &'a str,
    pub started: &'a str,
    /// The clusters' facts as last gathered (by cluster index).
    pub facts: std::sync::Arc<Vec<Option<Value>>>,
    /// Flow bindings every host has published (at the end of each step it ran).
    pub published: std::sync::Arc<Published>,
    /// By binding index: bound once (`on local`, `run_once`), so every host reads it.
    pub globals: &'a [bool],
    /// How each cluster's members are addressed (by cluster index).
    pub clusters: &'a [ClusterConf],
}

/// A cluster's addressing, from its declaration: what `peer_url(c, host)` and friends need.
#[derive(Clone, Debug, Default)]
pub struct ClusterConf {
    pub name: String,
    pub scheme: String,
    pub client_port: String,
    pub peer_port: String,
    pub members: Vec<String>,
    pub name_var: Option<String>,
    /// How the controller reaches it (`None` in a plan: nothing is read from disk).
    pub conn: Option<crate::transport::etcd::Conf>,
    /// Reach the members through SSH tunnels over the hosts' connections.
    pub tunnel: bool,
    /// The flow creates it: its TLS files, tunnels and lock are resolved at the first step
    /// that uses it, not before the run.
    pub lazy: bool,
}

impl<'a> Ctx<'a> {
    /// Outside any host: param defaults, host sets, step targets.
    pub fn global(
        params: &'a [Value],
        hosts: &'a [Value],
        inventory: &'a Inventory,
        binding_names: &'a [String],
        run_id: &'a str,
        started: &'a str,
    ) -> Ctx<'a> {
        Ctx {
            params,
            hosts,
            inventory,
            host: None,
            bindings: &[],
            binding_names,
            locals: &[],
            run_id,
            started,
            facts: std::sync::Arc::default(),
            published: std::sync::Arc::default(),
            globals: &[],
            clusters: &[],
        }
    }
}

/// Host name → that host's flow bindings (by binding index).
pub type Published = std::collections::HashMap<String, Vec<Option<Value>>>;

pub type EvalResult = Result<Value, String>;

/// A binding made once (`on local`, `run_once`): whichever host made it.
pub(super) fn published_any(cx: &Ctx<'_>, i: usize) -> EvalResult {
    let mut hosts: Vec<&String> = cx.published.keys().collect();
    hosts.sort();
    hosts
        .into_iter()
        .find_map(|h| {
            cx.published
                .get(h)
                .and_then(|b| b.get(i).cloned().flatten())
        })
        .ok_or_else(|| {
            let name = cx.binding_names.get(i).map_or("?", String::as_str);
            format!("`{name}` was never bound")
        })
}

/// The items a `for` or a comprehension loops over: a list's items, a host set's hosts,
/// a map's keys (JSON arrays and objects alike; `none` is empty).
pub fn items(v: Value) -> Result<Vec<Value>, String> {
    Ok(match v {
        Value::List(xs) => xs,
        Value::Hosts(hs) => hs.into_iter().map(Value::Host).collect(),
        Value::Map(m) => m.into_keys().map(Value::Str).collect(),
        Value::Json(serde_json::Value::Array(a)) => a.into_iter().map(json_value).collect(),
        Value::Json(serde_json::Value::Object(m)) => {
            m.into_iter().map(|(k, _)| Value::Str(k)).collect()
        }
        Value::Json(serde_json::Value::Null) | Value::None => Vec::new(),
        other => {
            return Err(format!(
                "`{}` is not a list, a map or hosts",
                other.to_text()
            ))
        }
    })
}

pub fn eval(e: &ir::Expr, cx: &Ctx<'_>) -> EvalResult {
    Ok(match &e.kind {
        K::Str(s) => Value::Str(s.clone()),
        K::Int(n) => Value::Int(*n),
        K::Bool(b) => Value::Bool(*b),
        K::None => Value::None,
        K::Duration(ms) => Value::Duration(*ms),
        K::Size(b) => Value::Size(*b),
        K::Interp(parts) if e.ty == crate::check::types::Ty::Secret => {
            // A text the checker typed secret (`content: "token: {{ tok }}"`): the only
            // place a secret's bytes join other text, and the result stays a secret.
            let mut out = String::new();
            for p in parts {
                match p {
                    InterpPart::Text(t) => out.push_str(t),
                    InterpPart::Value { expr, .. } => match eval(expr, cx)? {
                        Value::Secret(s) => out.push_str(s.expose()),
                        v => out.push_str(&v.to_text()),
                    },
                }
            }
            Value::Secret(Secret::new(out))
        }
        K::Interp(_) => Value::Str(render(e, cx, false)?),
        K::Param(i) => cx.params.get(*i).cloned().ok_or("a param has no value")?,
        K::Hosts(i) => cx
            .hosts
            .get(*i)
            .cloned()
            .ok_or("a host set was not resolved")?,
        K::Cluster(i) => Value::Cluster(*i),
        K::Binding(ir::BindingRef::Flow(i)) => match cx.bindings.get(*i).cloned().flatten() {
            Some(v) => v,
            None if cx.globals.get(*i) == Some(&true) => published_any(cx, *i)?,
            None => {
                let name = cx.binding_names.get(*i).map_or("?", String::as_str);
                return Err(format!(
                    "`{name}` was never bound on {}",
                    cx.host.unwrap_or("the controller")
                ));
            }
        },
        K::BindingOn { binding, host } => {
            let Value::Host(h) = eval(host, cx)? else {
                return Err("not a host".into());
            };
            let name = cx.binding_names.get(*binding).map_or("?", String::as_str);
            cx.published
                .get(&h)
                .and_then(|b| b.get(*binding).cloned().flatten())
                .ok_or_else(|| format!("`{name}` was never bound on {h}"))?
        }
        K::Binding(ir::BindingRef::Local(n)) => cx
            .locals
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("`{n}` is not bound"))?,
        K::CurrentHost => Value::Host(cx.host.ok_or("`host` used outside a host")?.to_string()),
        K::Local => Value::Hosts(Vec::new()),
        K::Group { name, optional } => match cx.inventory.group_hosts(name) {
            Some(h) => Value::Hosts(h),
            None if *optional => Value::Hosts(Vec::new()),
            None => return Err(format!("the inventory has no group `{name}`")),
        },
        K::List(xs) => Value::List(xs.iter().map(|x| eval(x, cx)).collect::<Result<_, _>>()?),
        K::Comprehension {
            var,
            iter,
            cond,
            elem,
        } => {
            let mut locals = cx.locals.to_vec();
            let mut out = Vec::new();
            for item in items(eval(iter, cx)?)? {
                locals.push((var.clone(), item));
                let inner = Ctx {
                    locals: &locals,
                    ..cx.clone()
                };
                let keep = match cond {
                    Some(c) => eval(c, &inner)?.truthy(),
                    None => true,
                };
                if keep {
                    out.push(eval(elem, &inner)?);
                }
                locals.pop();
            }
            Value::List(out)
        }
        K::Map(xs) => Value::Map(
            xs.iter()
                .map(|(k, x)| Ok((k.clone(), eval(x, cx)?)))
                .collect::<Result<_, String>>()?,
        ),
        K::Call { func, args } => super::calls::call(func, args, cx)?,
        K::Field { base, field } => {
            let b = eval(base, cx)?;
            field_of(&b, field, cx)?
        }
        K::Index { base, index } => {
            let b = eval(base, cx)?;
            let i = eval(index, cx)?;
            index_of(&b, &i)?
        }
        K::Unary { op, expr } => {
            let v = eval(expr, cx)?;
            match (op, v) {
                (UnaryOp::Not, v) => Value::Bool(!v.truthy()),
                (UnaryOp::Neg, Value::Int(n)) => Value::Int(-n),
                (_, v) => return Err(format!("cannot negate {}", v.to_text())),
            }
        }
        K::Binary { op, lhs, rhs } => {
            if *op == BinOp::And {
                return Ok(Value::Bool(
                    eval(lhs, cx)?.truthy() && eval(rhs, cx)?.truthy(),
                ));
            }
            if *op == BinOp::Or {
                return Ok(Value::Bool(
                    eval(lhs, cx)?.truthy() || eval(rhs, cx)?.truthy(),
                ));
            }
            binary(*op, eval(lhs, cx)?, eval(rhs, cx)?)?
        }
        K::Error => {
            return Err(
                "this is a bug in etcdflow: an expression with a check error reached the runtime"
                    .into(),
            )
        }
    })
}

/// Render a string expression. With `shell`, every interpolated value is rendered for
/// the quote context it sits in, so its bytes reach the command as they are (SAFETY.md
/// inv. 20, `crate::shell`), unless marked `raw`; a value that begins a word and
/// starts with `-` is refused unless a ` -- ` precedes it in the same simple command.
pub fn render(e: &ir::Expr, cx: &Ctx<'_>, shell: bool) -> Result<String, String> {
    match &e.kind {
        K::Interp(parts) if shell => {
            // The author's text (with `raw` values, which are code) between the holes.
            let mut texts = vec![String::new()];
            fn push(texts: &mut [String], t: &str) {
                if let Some(s) = texts.last_mut() {
                    s.push_str(t);
                }
            }
            let mut values = Vec::new();
            for p in parts {
                match p {
                    InterpPart::Text(t) => push(&mut texts, t),
                    InterpPart::Value { expr, raw } => {
                        let text = interp_text(expr, cx)?;
                        if *raw {
                            push(&mut texts, &text);
                        } else {
                            values.push(text);
                            texts.push(String::new());
                        }
                    }
                }
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let holes = crate::shell::holes(&refs).map_err(|u| {
                format!(
                    "a value is interpolated into {} of the command, where the shell would read it as code; use the argv form `run [\"cmd\", value]`",
                    u.context
                )
            })?;
            let mut out = String::new();
            for (i, t) in texts.iter().enumerate() {
                out.push_str(t);
                if let (Some(v), Some(h)) = (values.get(i), holes.get(i)) {
                    if let Some(why) = crate::shell::refuse(v, *h) {
                        return Err(why);
                    }
                    out.push_str(&crate::shell::render(v, *h));
                }
            }
            Ok(out)
        }
        K::Interp(parts) => {
            let mut out = String::new();
            for p in parts {
                match p {
                    InterpPart::Text(t) => out.push_str(t),
                    InterpPart::Value { expr, .. } => out.push_str(&interp_text(expr, cx)?),
                }
            }
            Ok(out)
        }
        _ => Ok(eval(e, cx)?.to_text()),
    }
}

fn interp_text(expr: &ir::Expr, cx: &Ctx<'_>) -> Result<String, String> {
    match eval(expr, cx)? {
        Value::Secret(_) => Err("this is a bug in etcdflow: a secret reached a string".into()),
        v => Ok(v.to_text()),
    }
}

pub(super) fn host_field(host: &str, field: &str, inv: &Inventory) -> EvalResult {
    let t = inv
        .target(host)
        .ok_or_else(|| format!("`{host}` is not in the inventory"))?;
    Ok(match field {
        "name" => Value::Str(t.name),
        "address" => Value::Str(t.address),
        "port" => Value::Int(i64::from(t.port)),
        "user" => Value::Str(t.user.unwrap_or_default()),
        "groups" => Value::List(
            inv.groups_of(host)
                .into_iter()
                .filter(|g| g != "all")
                .map(Value::Str)
                .collect(),
        ),
        "vars" => Value::Map(
            t.vars
                .into_iter()
                .filter(|(k, _)| !k.contains("pass"))
                .map(|(k, v)| (k, Value::Str(v)))
                .collect(),
        ),
        other => return Err(format!("a host has no field `{other}`")),
    })
}

fn field_of(b: &Value, field: &str, cx: &Ctx<'_>) -> EvalResult {
    Ok(match b {
        Value::Host(h) => host_field(h, field, cx.inventory)?,
        Value::Record(m) => m.get(field).cloned().unwrap_or(Value::None),
        Value::Map(m) => m
            .get(field)
            .cloned()
            .ok_or_else(|| format!("no key `{field}`"))?,
        Value::Json(j) => Value::Json(j.get(field).cloned().unwrap_or(serde_json::Value::Null)),
        Value::Cluster(i) => match cx.facts.get(*i).cloned().flatten() {
            Some(Value::Record(m)) => m.get(field).cloned().unwrap_or(Value::None),
            _ => {
                return Err(format!(
                    "the facts of this cluster are not known here (`.{field}`)"
                ))
            }
        },
        Value::None => return Err(format!("`.{field}` of none")),
        other => return Err(format!("`{}` has no field `{field}`", other.to_text())),
    })
}

fn index_of(b: &Value, i: &Value) -> EvalResult {
    let idx = |n: i64, len: usize| -> Result<usize, String> {
        let u = if n < 0 { len as i64 + n } else { n };
        usize::try_from(u)
            .ok()
            .filter(|u| *u < len)
            .ok_or_else(|| format!("index {n} is out of range (length {len})"))
    };
    Ok(match (b, i) {
        (Value::List(xs), Value::Int(n)) => xs[idx(*n, xs.len())?].clone(),
        (Value::Hosts(hs), Value::Int(n)) => Value::Host(hs[idx(*n, hs.len())?].clone()),
        (Value::Map(m), k) => m
            .get(&k.to_text())
            .cloned()
            .ok_or_else(|| format!("no key `{}`", k.to_text()))?,
        (Value::Json(j), Value::Int(n)) => Value::Json(
            j.get(usize::try_from(*n).unwrap_or(usize::MAX))
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        ),
        (Value::Json(j), k) => Value::Json(
            j.get(k.to_text())
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        ),
        (b, _) => return Err(format!("cannot index `{}`", b.to_text())),
    })
}

pub(super) fn as_hosts(v: Value) -> Vec<String> {
    match v {
        Value::Hosts(h) => h,
        Value::Host(h) => vec![h],
        _ => Vec::new(),
    }
}

pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Json(x), y) | (y, Value::Json(x)) => {
            *x == y.to_json() || (x.is_string() && x.as_str() == Some(&y.to_text()))
        }
        (Value::Str(x) | Value::Host(x), Value::Str(y) | Value::Host(y)) => x == y,
        _ => a == b,
    }
}

fn binary(op: BinOp, l: Value, r: Value) -> EvalResult {
    use Value::*;
    let cmp = |l: &Value, r: &Value| -> Result<std::cmp::Ordering, String> {
        Ok(match (l, r) {
            (Int(a), Int(b)) => a.cmp(b),
            (Duration(a), Duration(b)) | (Size(a), Size(b)) => a.cmp(b),
            (Str(a), Str(b)) => a.cmp(b),
            (Json(a), b) | (b, Json(a)) => match (a.as_f64(), b.to_json().as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => return Err("cannot compare these values".into()),
            },
            _ => return Err("cannot compare these values".into()),
        })
    };
    Ok(match op {
        BinOp::Eq => Bool(equal(&l, &r)),
        BinOp::Ne => Bool(!equal(&l, &r)),
        BinOp::Lt => Bool(cmp(&l, &r)?.is_lt()),
        BinOp::Le => Bool(cmp(&l, &r)?.is_le()),
        BinOp::Gt => Bool(cmp(&l, &r)?.is_gt()),
        BinOp::Ge => Bool(cmp(&l, &r)?.is_ge()),
        BinOp::In | BinOp::NotIn => {
            let found = match &r {
                List(xs) => xs.iter().any(|x| equal(x, &l)),
                Hosts(hs) => hs.iter().any(|h| {
                    Some(h.as_str())
                        == match &l {
                            Host(x) | Str(x) => Some(x.as_str()),
                            _ => Option::None,
                        }
                }),
                Str(s) => s.contains(&l.to_text()),
                Map(m) => m.contains_key(&l.to_text()),
                Json(j) => {
                    j.as_array().is_some_and(|a| a.contains(&l.to_json()))
                        || j.get(l.to_text()).is_some()
                }
                _ => false,
            };
            Bool(found == (op == BinOp::In))
        }
        BinOp::Union => {
            let mut a = as_hosts(l);
            for h in as_hosts(r) {
                if !a.contains(&h) {
                    a.push(h);
                }
            }
            Hosts(a)
        }
        BinOp::Intersect => {
            let b = as_hosts(r);
            Hosts(as_hosts(l).into_iter().filter(|h| b.contains(h)).collect())
        }
        BinOp::Sub => match (l, r) {
            (Int(a), Int(b)) => Int(a.checked_sub(b).ok_or("integer overflow")?),
            (Duration(a), Duration(b)) => Duration(a.saturating_sub(b)),
            (Size(a), Size(b)) => Size(a.saturating_sub(b)),
            (l, r) => {
                let b = as_hosts(r);
                Hosts(as_hosts(l).into_iter().filter(|h| !b.contains(h)).collect())
            }
        },
        BinOp::Add => match (l, r) {
            (Int(a), Int(b)) => Int(a.checked_add(b).ok_or("integer overflow")?),
            (Duration(a), Duration(b)) => Duration(a.saturating_add(b)),
            (Size(a), Size(b)) => Size(a.saturating_add(b)),
            (List(mut a), List(b)) => {
                a.extend(b);
                List(a)
            }
            (a, b) => Str(a.to_text() + &b.to_text()),
        },
        BinOp::Mul => match (l, r) {
            (Int(a), Int(b)) => Int(a.checked_mul(b).ok_or("integer overflow")?),
            (Duration(a), Int(b)) | (Int(b), Duration(a)) => {
                Duration(a.saturating_mul(u64::try_from(b).unwrap_or(0)))
            }
            (Size(a), Int(b)) | (Int(b), Size(a)) => {
                Size(a.saturating_mul(u64::try_from(b).unwrap_or(0)))
            }
            _ => return Err("cannot multiply these values".into()),
        },
        BinOp::Div => match (l, r) {
            (_, Int(0)) => return Err("division by zero".into()),
            (Duration(_) | Size(_), Int(b)) if b < 0 => {
                return Err(format!("a duration or size divided by {b}"))
            }
            (Int(a), Int(b)) => Int(a / b),
            (Duration(a), Int(b)) => Duration(a / u64::try_from(b).unwrap_or(1).max(1)),
            (Size(a), Int(b)) => Size(a / u64::try_from(b).unwrap_or(1).max(1)),
            _ => return Err("cannot divide these values".into()),
        },
        BinOp::And | BinOp::Or => Bool(l.truthy() && r.truthy()),
    })
}

/// A param value from its checked expression (defaults and `-e` values), as a value of
/// the param's type: a `host` is an inventory host, `hosts` a host list, `map`/`json`
/// parsed JSON. Secret params become [`Secret`]s here, the only place they are created.
pub fn param_value(e: &ir::Expr, ty: &crate::check::types::Ty, cx: &Ctx<'_>) -> EvalResult {
    coerce(eval(e, cx)?, ty, cx.inventory)
}

fn coerce(v: Value, ty: &crate::check::types::Ty, inv: &Inventory) -> EvalResult {
    use crate::check::types::Ty;
    let host = |name: &str| -> EvalResult {
        if inv.hosts.contains_key(name) {
            Ok(Value::Host(name.to_string()))
        } else {
            Err(
                match crate::diagnostics::suggest(name, inv.hosts.keys().map(String::as_str)) {
                    Some(s) => {
                        format!("`{name}` is not a host of the inventory (did you mean `{s}`?)")
                    }
                    None => format!("`{name}` is not a host of the inventory"),
                },
            )
        }
    };
    let json = |v: Value| -> Result<serde_json::Value, String> {
        match v {
            Value::Str(s) => serde_json::from_str(&s).map_err(|e| format!("not JSON: {e}")),
            Value::Json(j) => Ok(j),
            other => Ok(other.to_json()),
        }
    };
    Ok(match (ty, v) {
        (Ty::Optional(_), Value::None) => Value::None,
        (Ty::Optional(t), v) => coerce(v, t, inv)?,
        (Ty::Secret, Value::Secret(s)) => Value::Secret(s),
        (Ty::Secret, v) => Value::Secret(Secret::new(v.to_text())),
        (Ty::Host, Value::Host(h) | Value::Str(h)) => host(&h)?,
        (Ty::Hosts, Value::Hosts(hs)) => Value::Hosts(hs),
        (Ty::Hosts, Value::List(xs)) => {
            let mut out: Vec<String> = Vec::new();
            for x in xs {
                if let Value::Host(h) = host(&x.to_text())? {
                    if !out.contains(&h) {
                        out.push(h);
                    }
                }
            }
            Value::Hosts(out)
        }
        (Ty::Json, v) => Value::Json(json(v)?),
        (Ty::Map(elem), Value::Map(m)) => Value::Map(
            m.into_iter()
                .map(|(k, v)| Ok((k, coerce(v, elem, inv)?)))
                .collect::<Result<_, String>>()?,
        ),
        (Ty::Map(elem), v) => match json(v)? {
            serde_json::Value::Object(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| {
                        Ok((
                            k.clone(),
                            coerce(json_value(v), elem, inv)
                                .map_err(|e| format!("key `{k}`: {e}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => return Err(format!("a map must be a JSON object, not `{other}`")),
        },
        (Ty::List(elem), Value::List(xs)) => Value::List(
            xs.into_iter()
                .map(|x| coerce(x, elem, inv))
                .collect::<Result<_, _>>()?,
        ),
        (_, v) => v,
    })
}

/// A JSON value as the scalar it is, or as JSON.
pub fn json_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) if n.is_i64() => Value::Int(n.as_i64().unwrap_or(0)),
        serde_json::Value::Null => Value::None,
        other => Value::Json(other),
    }
}

#[cfg(test)]
mod param_tests {
    use super::*;
    use crate::check::types::Ty;

    fn inventory() -> Inventory {
        let mut inv = Inventory::default();
        for h in ["n1", "n2", "n3"] {
            inv.hosts.insert(
                h.to_string(),
                crate::inventory::Host {
                    name: h.to_string(),
                    ..Default::default()
                },
            );
        }
        inv
    }

    fn value(raw: &str, ty: &Ty, inv: &Inventory) -> Value {
        let span = crate::source::Span::new(crate::source::FileId(0), 0, 0);
        let e = crate::check::values::param_value(raw, ty, span)
            .unwrap_or_else(|m| panic!("{raw} as {ty}: {m}"));
        let cx = Ctx::global(&[], &[], inv, &[], "r", "t");
        param_value(&e, ty, &cx).unwrap_or_else(|m| panic!("{raw} as {ty}: {m}"))
    }

    #[test]
    fn params_are_values_of_their_type() {
        let inv = inventory();
        assert_eq!(value("n2", &Ty::Host, &inv), Value::Host("n2".into()));
        assert_eq!(
            value("n1,n3", &Ty::Hosts, &inv),
            Value::Hosts(vec!["n1".into(), "n3".into()])
        );
        let m = value(r#"{"a": "x", "b": "y"}"#, &Ty::Map(Box::new(Ty::Str)), &inv);
        assert!(matches!(&m, Value::Map(m) if m.len() == 2 && m["b"] == Value::Str("y".into())));
        assert!(
            matches!(value("[1, 2]", &Ty::Json, &inv), Value::Json(serde_json::Value::Array(a)) if a.len() == 2)
        );
    }

    #[test]
    fn an_unknown_host_is_refused() {
        let inv = inventory();
        let span = crate::source::Span::new(crate::source::FileId(0), 0, 0);
        let e = crate::check::values::param_value("n9", &Ty::Host, span).expect("parses");
        let cx = Ctx::global(&[], &[], &inv, &[], "r", "t");
        let err = param_value(&e, &Ty::Host, &cx).expect_err("refused");
        assert!(err.contains("not a host"), "{err}");
    }

    /// What the journal keeps (`to_arg`) parses back to the same value, for every type.
    #[test]
    fn journaled_params_round_trip() {
        let inv = inventory();
        let cases: Vec<(&str, Ty)> = vec![
            ("plain text, with commas", Ty::Str),
            ("42", Ty::Int),
            ("true", Ty::Bool),
            ("90s", Ty::Duration),
            ("1500ms", Ty::Duration),
            ("512MiB", Ty::Size),
            ("/var/lib/etcd", Ty::Path),
            ("https://10.0.0.1:2379", Ty::Url),
            ("4001", Ty::Port),
            ("n2", Ty::Host),
            ("n1,n3", Ty::Hosts),
            ("a,b", Ty::List(Box::new(Ty::Str))),
            (r#"["a,b", "c"]"#, Ty::List(Box::new(Ty::Str))),
            ("1,2,3", Ty::List(Box::new(Ty::Int))),
            ("5m,10s", Ty::List(Box::new(Ty::Duration))),
            (r#"{"a": "x"}"#, Ty::Map(Box::new(Ty::Str))),
            (r#"{"k": [1, {"z": null}]}"#, Ty::Json),
            (r#""just a string""#, Ty::Json),
            ("x", Ty::Optional(Box::new(Ty::Str))),
        ];
        for (raw, ty) in cases {
            let v = value(raw, &ty, &inv);
            let again = value(&v.to_arg(), &ty, &inv);
            assert_eq!(v, again, "{raw} as {ty} came back as {}", v.to_arg());
        }
    }
}
