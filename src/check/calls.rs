//! Calls of the builtin functions: arity, argument types, result types.

use super::builtins::BUILTINS;
use super::*;
use crate::diagnostics::did_you_mean;
use crate::ir::ExprKind as K;

impl Checker<'_> {
    pub(super) fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        optional: bool,
    ) -> ir::Expr {
        let Some(&(name, min, max, sig)) = BUILTINS.iter().find(|b| b.0 == func.name) else {
            let help = did_you_mean(&func.name, BUILTINS.iter().map(|b| b.0), "functions");
            self.emit(
                Diagnostic::error(
                    "unknown-function",
                    format!("unknown function `{}`", func.name),
                )
                .at(func.span, "not a builtin function")
                .help(help),
            );
            for a in args {
                self.expr(a);
            }
            return Self::err_expr(span);
        };
        if args.len() < min || args.len() > max {
            self.emit(
                Diagnostic::error(
                    "wrong-arity",
                    format!(
                        "`{name}` takes {} argument{}, found {}",
                        if min == max {
                            min.to_string()
                        } else {
                            format!("{min} to {max}")
                        },
                        if max == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .at(span, "wrong number of arguments")
                .help(format!("signature: {sig}")),
            );
            for a in args {
                self.expr(a);
            }
            return Self::err_expr(span);
        }
        let mk = |kind, ty| ir::Expr { kind, ty, span };
        if name == "group" {
            let Some(g) = args[0].as_plain_str() else {
                self.emit(
                    Diagnostic::error(
                        "type-mismatch",
                        "`group` needs the group's name as a plain string",
                    )
                    .at(args[0].span, "not a string literal")
                    .help("write `group(\"master\")`; groups are resolved before the run starts"),
                );
                return Self::err_expr(span);
            };
            self.groups_used.push((g.clone(), args[0].span, optional));
            return mk(K::Group { name: g, optional }, Ty::Hosts);
        }
        // `default(x, fallback)` may read a binding that its step's `when:` left unbound.
        let saved = self.allow_unbound;
        let xs: Vec<ir::Expr> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                self.allow_unbound = name == "default" && i == 0;
                let x = self.expr(a);
                self.allow_unbound = saved;
                x
            })
            .collect();
        let ty = self.call_type(name, &xs, sig);
        if name == "nth" {
            self.nth_in_range(&xs, span);
        }
        mk(
            K::Call {
                func: name,
                args: xs,
            },
            ty,
        )
    }

    pub(super) fn arg_is(&mut self, x: &ir::Expr, want: &Ty, func: &str, sig: &str) -> bool {
        self.validate_literal(x, want);
        if x.ty.fits(want) {
            return true;
        }
        if x.ty.contains_secret() {
            self.secret_leak(x.span, &format!("an argument of `{func}`"));
        } else {
            self.emit(
                Diagnostic::error(
                    "type-mismatch",
                    format!("`{func}` expects `{want}` here, found `{}`", x.ty),
                )
                .at(x.span, format!("this is `{}`", x.ty))
                .help(format!("signature: {sig}")),
            );
        }
        false
    }

    pub(super) fn call_type(&mut self, name: &str, xs: &[ir::Expr], sig: &str) -> Ty {
        use Ty::*;
        let mut ok = true;
        let mut want = |c: &mut Self, i: usize, t: Ty| {
            ok &= c.arg_is(&xs[i], &t, name, sig);
        };
        let ret = match name {
            "first" | "last" => match xs[0].ty.clone() {
                List(t) => *t,
                _ => {
                    want(self, 0, Hosts);
                    Host
                }
            },
            "any" | "all" => {
                want(self, 0, Ty::list(Bool));
                Bool
            }
            "addresses" => {
                want(self, 0, Hosts);
                Ty::list(Str)
            }
            "nth" => {
                want(self, 0, Hosts);
                want(self, 1, Int);
                Host
            }
            "index_of" => {
                want(self, 0, Hosts);
                want(self, 1, Host);
                Int
            }
            "names" => {
                want(self, 0, Hosts);
                Ty::list(Str)
            }
            "len" => {
                let t = xs[0].ty.strip_optional();
                if !matches!(t, List(_) | Map(_) | Str | Hosts | Json | Error) {
                    let t = t.clone();
                    self.emit(
                        Diagnostic::error("type-mismatch", format!("`len` of a `{t}`"))
                            .at(xs[0].span, format!("this is `{t}`"))
                            .help(format!("signature: {sig}")),
                    );
                }
                Int
            }
            "contains" => {
                match xs[0].ty.clone() {
                    List(t) => want(self, 1, *t),
                    Str | Path => want(self, 1, Str),
                    Json | Error => {}
                    t => {
                        self.emit(
                            Diagnostic::error("type-mismatch", format!("`contains` of a `{t}`"))
                                .at(xs[0].span, format!("this is `{t}`"))
                                .help(format!("signature: {sig}")),
                        );
                    }
                }
                Bool
            }
            "starts_with" | "ends_with" => {
                want(self, 0, Str);
                want(self, 1, Str);
                Bool
            }
            "lower" | "upper" | "trim" | "raw" => {
                want(self, 0, Str);
                Str
            }
            "join" => {
                want(self, 0, Ty::list(Str));
                want(self, 1, Str);
                Str
            }
            "split" => {
                want(self, 0, Str);
                want(self, 1, Str);
                Ty::list(Str)
            }
            "lines" => {
                want(self, 0, Str);
                Ty::list(Str)
            }
            "replace" => {
                for i in 0..3 {
                    want(self, i, Str);
                }
                Str
            }
            "json" => {
                want(self, 0, Str);
                Json
            }
            "to_str" => {
                if !xs[0].ty.interpolable() {
                    want(self, 0, Str);
                } else if xs[0].ty.contains_secret() {
                    self.secret_leak(xs[0].span, "an argument of `to_str`");
                }
                Str
            }
            "to_int" => {
                want(self, 0, Str);
                Int
            }
            "declassify" => {
                if !xs[0].ty.contains_secret() && xs[0].ty != Ty::Error {
                    self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`declassify` takes a secret, found `{}`", xs[0].ty),
                        )
                        .at(xs[0].span, "not a secret")
                        .help("use the value as it is"),
                    );
                }
                Str
            }
            "basename" => {
                want(self, 0, Path);
                Str
            }
            "dirname" => {
                want(self, 0, Path);
                Path
            }
            "path_join" => {
                want(self, 0, Path);
                want(self, 1, Str);
                Path
            }
            "default" => {
                let inner = xs[0].ty.strip_optional().clone();
                want(self, 1, inner.clone());
                inner
            }
            "timestamp" | "run_id" => Str,
            "leader_last" | "followers_first" | "leader_first" => {
                want(self, 0, Cluster);
                Ordering
            }
            "by" | "reverse_by" => {
                let t = xs[0].ty.strip_optional().clone();
                if !matches!(t, Int | Port | Str | Duration | Size | Bool | Json | Error) {
                    self.emit(
                        Diagnostic::error(
                            "type-mismatch",
                            format!("`{name}` needs a key that can be sorted, found `{t}`"),
                        )
                        .at(xs[0].span, format!("this is `{t}`"))
                        .help(format!("signature: {sig}")),
                    );
                }
                Ordering
            }
            "member" | "peer_url" | "client_url" | "member_name" | "is_member" => {
                want(self, 0, Cluster);
                want(self, 1, Host);
                match name {
                    "member" => Record(super::types::Record::EtcdMember),
                    "is_member" => Bool,
                    "member_name" => Str,
                    _ => Url,
                }
            }
            "initial_cluster" => {
                want(self, 0, Cluster);
                Str
            }
            _ => Error,
        };
        if ok {
            ret
        } else {
            Error
        }
    }
}
