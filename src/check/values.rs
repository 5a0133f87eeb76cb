//! Literal values checked by their type: URLs and paths, and `-e`/`--vars` param values
//! parsed into typed IR constants.

use super::types::Ty;
use crate::ir::{self, ExprKind as K};
use crate::source::Span;
use crate::syntax::ast;

pub(crate) fn validate_url(s: &str) -> Result<(), String> {
    let u = crate::values::parse_url(s)?;
    if !matches!(u.scheme.as_str(), "http" | "https" | "unix" | "unixs") {
        return Err(format!(
            "scheme `{}` is not http, https, unix or unixs",
            u.scheme
        ));
    }
    Ok(())
}

pub(crate) fn validate_path(s: &str, absolute: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty path".into());
    }
    if s.contains('\0') || s.contains('\n') {
        return Err("control characters in a path".into());
    }
    if s.trim_end_matches('/').is_empty() {
        return Err("`/` is never a target".into());
    }
    if absolute && !s.starts_with('/') {
        return Err("paths on hosts must be absolute".into());
    }
    if absolute && s.split('/').any(|c| c == "..") {
        return Err("`..` in a host path".into());
    }
    Ok(())
}

/// Parse a `-e` value by the param's type.
pub(crate) fn param_value(raw: &str, ty: &Ty, span: Span) -> Result<ir::Expr, String> {
    let mk = |kind, ty: Ty| ir::Expr { kind, ty, span };
    let inner = ty.strip_optional();
    Ok(match inner {
        Ty::Str | Ty::Secret | Ty::Host => mk(K::Str(raw.to_string()), inner.clone()),
        Ty::Path => {
            validate_path(raw, false)?;
            mk(K::Str(raw.to_string()), Ty::Path)
        }
        Ty::Url => {
            validate_url(raw)?;
            mk(K::Str(raw.to_string()), Ty::Url)
        }
        Ty::Int => mk(
            K::Int(
                raw.trim()
                    .parse::<i64>()
                    .map_err(|_| "not an integer".to_string())?,
            ),
            Ty::Int,
        ),
        Ty::Port => {
            let n = raw
                .trim()
                .parse::<i64>()
                .map_err(|_| "not a port number".to_string())?;
            if !(1..=65535).contains(&n) {
                return Err("ports are 1..65535".into());
            }
            mk(K::Int(n), Ty::Port)
        }
        Ty::Bool => mk(
            K::Bool(match raw.trim() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err("not `true` or `false`".into()),
            }),
            Ty::Bool,
        ),
        Ty::Duration => match crate::syntax::parse_expr(span.file, raw.trim()).map(|e| e.kind) {
            Ok(ast::ExprKind::Duration(ms)) => mk(K::Duration(ms), Ty::Duration),
            _ => return Err("not a duration like `30s` or `5m`".into()),
        },
        Ty::Size => match crate::syntax::parse_expr(span.file, raw.trim()).map(|e| e.kind) {
            Ok(ast::ExprKind::Size(b)) => mk(K::Size(b), Ty::Size),
            // A bare number of bytes (what `resume` writes back).
            Ok(ast::ExprKind::Int(b)) if b >= 0 => mk(K::Size(b.unsigned_abs()), Ty::Size),
            _ => return Err("not a size like `512MiB`".into()),
        },
        Ty::List(_) | Ty::Hosts if raw.trim_start().starts_with('[') => {
            // A JSON array (what `resume` writes back): items may contain commas.
            let items: Vec<serde_json::Value> =
                serde_json::from_str(raw).map_err(|e| format!("not a JSON array: {e}"))?;
            let elem = match inner {
                Ty::List(e) => (**e).clone(),
                _ => Ty::Host,
            };
            let items = items
                .iter()
                .map(|j| match j {
                    serde_json::Value::String(s) => param_value(s, &elem, span),
                    other => param_value(&other.to_string(), &elem, span),
                })
                .collect::<Result<Vec<_>, _>>()?;
            mk(K::List(items), inner.clone())
        }
        Ty::Hosts => {
            let items = raw
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| mk(K::Str(h.to_string()), Ty::Host))
                .collect();
            mk(K::List(items), Ty::Hosts)
        }
        Ty::List(elem) => {
            let items = if raw.trim().is_empty() {
                Vec::new()
            } else {
                raw.split(',')
                    .map(|p| param_value(p.trim(), elem, span))
                    .collect::<Result<Vec<_>, _>>()?
            };
            mk(K::List(items), ty.clone())
        }
        Ty::Json | Ty::Map(_) => {
            serde_json::from_str::<serde_json::Value>(raw).map_err(|e| format!("not JSON: {e}"))?;
            mk(K::Str(raw.to_string()), ty.clone())
        }
        other => return Err(format!("a `{other}` cannot be given on the command line")),
    })
}

/// The host names a `host`/`hosts` param value names.
pub(crate) fn param_host_names(raw: &str, ty: &Ty) -> Vec<String> {
    match param_value(raw, ty, Span::new(crate::source::FileId(0), 0, 0)).map(|e| e.kind) {
        Ok(K::Str(h)) => vec![h],
        Ok(K::List(xs)) => xs
            .into_iter()
            .filter_map(|x| match x.kind {
                K::Str(h) => Some(h),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn param_value_help(ty: &Ty) -> String {
    match ty.strip_optional() {
        Ty::Duration => "write a duration: `-e wait=5m`".into(),
        Ty::Size => "write a size: `-e quota=2GiB`".into(),
        Ty::Bool => "write `true` or `false`".into(),
        Ty::Port => "write a port number in 1..65535".into(),
        Ty::Int => "write an integer".into(),
        Ty::Url => "write a URL with its scheme: `https://10.0.0.1:2379`".into(),
        Ty::List(_) => {
            "write the items separated by commas (`-e names=a,b,c`) or as a JSON array".into()
        }
        Ty::Hosts => "write inventory host names separated by commas: `-e targets=m1,m2`".into(),
        Ty::Json | Ty::Map(_) => "write JSON: `-e labels='{\"a\": \"b\"}'`".into(),
        t => format!("give a `{t}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(validate_url("https://10.0.0.1:2380").is_ok());
        assert!(validate_url("http://[::1]:2379").is_ok());
        assert!(validate_url("10.0.0.1:2380").is_err());
        assert!(validate_url("https://:2380").is_err());
        assert!(validate_url("https://a:99999").is_err());
        assert!(validate_url("ftp://a").is_err());
        assert!(validate_url("https://a;b").is_err());
    }

    #[test]
    fn paths() {
        assert!(validate_path("/var/lib/etcd", true).is_ok());
        assert!(validate_path("/", true).is_err());
        assert!(validate_path("", false).is_err());
        assert!(validate_path("rel/x", true).is_err());
        assert!(validate_path("rel/x", false).is_ok());
        assert!(validate_path("/a/../b", true).is_err());
    }
}
