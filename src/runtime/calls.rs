//! The builtin functions at run time (the checker types them: `check/calls.rs`).

use super::eval::{as_hosts, equal, eval, published_any, Ctx, EvalResult};
use super::value::{Order, Value};
use crate::ir::{self, ExprKind as K};

pub(super) fn call(func: &str, args: &[ir::Expr], cx: &Ctx<'_>) -> EvalResult {
    // `default(x, fallback)`: the fallback also where `x` reads a binding this host did
    // not make (its step's `when:` was false here).
    if func == "default" {
        let unbound = args[0].any(&|e| match e.kind {
            K::Binding(ir::BindingRef::Flow(i)) => {
                cx.bindings.get(i).is_none_or(Option::is_none)
                    && (cx.globals.get(i) != Some(&true) || published_any(cx, i).is_err())
            }
            _ => false,
        });
        if unbound {
            return eval(&args[1], cx);
        }
        // A map key that is absent (`default(host.vars.rank, "0")`) is the fallback too.
        if let K::Field { base, field } = &args[0].kind {
            if let Ok(Value::Map(m)) = eval(base, cx) {
                if !m.contains_key(field) {
                    return eval(&args[1], cx);
                }
            }
        }
    }
    let vals: Vec<Value> = args.iter().map(|a| eval(a, cx)).collect::<Result<_, _>>()?;
    let s = |i: usize| vals.get(i).map(Value::to_text).unwrap_or_default();
    Ok(match func {
        "first" | "last" if matches!(vals[0], Value::List(_)) => {
            let Value::List(xs) = &vals[0] else {
                return Err("not a list".into());
            };
            let x = if func == "first" {
                xs.first()
            } else {
                xs.last()
            };
            x.cloned()
                .ok_or_else(|| format!("`{func}` of an empty list"))?
        }
        "any" | "all" => {
            let Value::List(xs) = &vals[0] else {
                return Err(format!("`{func}` of something that is not a list"));
            };
            Value::Bool(if func == "any" {
                xs.iter().any(Value::truthy)
            } else {
                xs.iter().all(Value::truthy)
            })
        }
        "index_of" => {
            let Value::Host(h) = &vals[1] else {
                return Err("`index_of` needs a host".into());
            };
            let hs = as_hosts(vals[0].clone());
            let i = hs
                .iter()
                .position(|x| x == h)
                .ok_or_else(|| format!("`{h}` is not in the host set ({})", hs.join(", ")))?;
            Value::Int(i64::try_from(i).unwrap_or(i64::MAX))
        }
        "addresses" => Value::List(
            as_hosts(vals[0].clone())
                .iter()
                .map(|h| {
                    cx.inventory
                        .target(h)
                        .map(|t| Value::Str(t.address))
                        .ok_or_else(|| format!("`{h}` is not in the inventory"))
                })
                .collect::<Result<_, String>>()?,
        ),
        "first" => Value::Host(
            as_hosts(vals[0].clone())
                .first()
                .cloned()
                .ok_or("`first` of an empty host set")?,
        ),
        "last" => Value::Host(
            as_hosts(vals[0].clone())
                .last()
                .cloned()
                .ok_or("`last` of an empty host set")?,
        ),
        "nth" => {
            let hs = as_hosts(vals[0].clone());
            let n = match vals[1] {
                Value::Int(n) => n,
                _ => 0,
            };
            Value::Host(
                usize::try_from(n)
                    .ok()
                    .and_then(|i| hs.get(i).cloned())
                    .ok_or_else(|| format!("`nth`: no host {n} in a set of {}", hs.len()))?,
            )
        }
        "names" => Value::List(
            as_hosts(vals[0].clone())
                .into_iter()
                .map(Value::Str)
                .collect(),
        ),
        "len" => Value::Int(match &vals[0] {
            Value::List(x) => x.len(),
            Value::Map(m) => m.len(),
            Value::Str(x) => x.chars().count(),
            Value::Hosts(h) => h.len(),
            Value::Json(j) => j
                .as_array()
                .map_or_else(|| j.as_object().map_or(0, serde_json::Map::len), Vec::len),
            _ => 0,
        } as i64),
        "contains" => Value::Bool(match &vals[0] {
            Value::List(xs) => xs.iter().any(|x| equal(x, &vals[1])),
            Value::Json(j) => j.as_array().is_some_and(|a| a.contains(&vals[1].to_json())),
            v => v.to_text().contains(&s(1)),
        }),
        "starts_with" => Value::Bool(s(0).starts_with(&s(1))),
        "ends_with" => Value::Bool(s(0).ends_with(&s(1))),
        "lower" => Value::Str(s(0).to_lowercase()),
        "upper" => Value::Str(s(0).to_uppercase()),
        "trim" => Value::Str(s(0).trim().to_string()),
        "join" => Value::Str(match &vals[0] {
            Value::List(xs) => xs
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join(&s(1)),
            v => v.to_text(),
        }),
        "split" => Value::List(
            s(0).split(&s(1))
                .map(|p| Value::Str(p.to_string()))
                .collect(),
        ),
        "lines" => Value::List(s(0).lines().map(|p| Value::Str(p.to_string())).collect()),
        "replace" => Value::Str(s(0).replace(&s(1), &s(2))),
        "json" => {
            Value::Json(serde_json::from_str(&s(0)).map_err(|e| format!("`json`: not JSON: {e}"))?)
        }
        "to_str" => Value::Str(s(0)),
        "declassify" => match &vals[0] {
            Value::Secret(x) => Value::Str(x.expose().to_string()),
            other => Value::Str(other.to_text()),
        },
        "to_int" => Value::Int(
            s(0).trim()
                .parse()
                .map_err(|_| format!("`to_int`: `{}` is not an integer", s(0)))?,
        ),
        "basename" => Value::Str(
            std::path::Path::new(&s(0))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        "dirname" => Value::Str(
            std::path::Path::new(&s(0))
                .parent()
                .map(|n| n.display().to_string())
                .unwrap_or_default(),
        ),
        "path_join" => Value::Str(std::path::Path::new(&s(0)).join(s(1)).display().to_string()),
        "default" => match &vals[0] {
            Value::None => vals[1].clone(),
            v => v.clone(),
        },
        "raw" => vals[0].clone(),
        "timestamp" => Value::Str(cx.started.to_string()),
        "run_id" => Value::Str(cx.run_id.to_string()),
        "leader_last" | "followers_first" => match vals[0] {
            Value::Cluster(c) => Value::Ordering(Order::LeaderLast(c)),
            _ => return Err("not a cluster".into()),
        },
        "by" | "reverse_by" => {
            return Err(format!("`{func}` orders a step's hosts; it has no value"))
        }
        "leader_first" => match vals[0] {
            Value::Cluster(c) => Value::Ordering(Order::LeaderFirst(c)),
            _ => return Err("not a cluster".into()),
        },
        "member" | "peer_url" | "client_url" | "member_name" | "initial_cluster" | "is_member" => {
            let Value::Cluster(c) = vals[0] else {
                return Err("not a cluster".into());
            };
            let conf = cx
                .clusters
                .get(c)
                .ok_or("the cluster's addressing is not known here")?;
            let name_of = |h: &str| -> String {
                conf.name_var
                    .as_ref()
                    .and_then(|v| cx.inventory.target(h).and_then(|t| t.vars.get(v).cloned()))
                    .unwrap_or_else(|| h.to_string())
            };
            let url = |h: &str, port: &str| -> Result<String, String> {
                let t = cx
                    .inventory
                    .target(h)
                    .ok_or_else(|| format!("`{h}` is not in the inventory"))?;
                let addr = if t.address.contains(':') && !t.address.starts_with('[') {
                    format!("[{}]", t.address)
                } else {
                    t.address
                };
                Ok(format!("{}://{addr}:{port}", conf.scheme))
            };
            let host = match vals.get(1) {
                Some(Value::Host(h)) => h.clone(),
                _ => String::new(),
            };
            match func {
                "member_name" => Value::Str(name_of(&host)),
                "peer_url" => Value::Str(url(&host, &conf.peer_port)?),
                "client_url" => Value::Str(url(&host, &conf.client_port)?),
                "initial_cluster" => Value::Str(
                    conf.members
                        .iter()
                        .map(|h| Ok(format!("{}={}", name_of(h), url(h, &conf.peer_port)?)))
                        .collect::<Result<Vec<String>, String>>()?
                        .join(","),
                ),
                _ => match cx.facts.get(c).cloned().flatten() {
                    Some(Value::Record(m)) => match m.get("members") {
                        Some(Value::List(ms)) => {
                            let found = ms
                                .iter()
                                .find(|m| matches!(m, Value::Record(r) if r.get("host") == Some(&Value::Host(host.clone()))))
                                .cloned();
                            match (func, found) {
                                ("is_member", f) => Value::Bool(f.is_some()),
                                (_, Some(m)) => m,
                                (_, None) => {
                                    return Err(format!("no etcd member runs on `{host}`"))
                                }
                            }
                        }
                        _ => return Err("the cluster's members are not known".into()),
                    },
                    _ => return Err("the facts of this cluster are not known here".into()),
                },
            }
        }
        other => {
            return Err(format!(
                "this is a bug in etcdflow: unknown function `{other}`"
            ))
        }
    })
}
