//! Grammar rules one by one, including inputs that must fail.

use super::*;
use crate::source::FileId;

const F: FileId = FileId(0);

fn ok(src: &str) -> ast::File {
    let p = parse(F, src);
    assert!(p.diagnostics.is_empty(), "{src:?} gave {:?}", p.diagnostics);
    p.file
}

fn err(src: &str) -> String {
    let p = parse(F, src);
    assert!(!p.diagnostics.is_empty(), "{src:?} parsed but must fail");
    p.diagnostics[0].message.clone()
}

fn expr(src: &str) -> ast::Expr {
    match parse_expr(F, src) {
        Ok(e) => e,
        Err(d) => panic!("{src:?}: {}", d.message),
    }
}

/// A compact rendering of an expression tree, for precedence tests.
fn sexp(e: &ast::Expr) -> String {
    use ast::ExprKind::*;
    match &e.kind {
        Str(s) => format!("{:?}", s.as_plain().unwrap_or_else(|| "<interp>".into())),
        Int(n) => n.to_string(),
        Bool(b) => b.to_string(),
        None => "none".into(),
        Duration(ms) => format!("{ms}ms"),
        Size(b) => format!("{b}B"),
        Invalid(_) => "<invalid>".into(),
        Name(n) => n.clone(),
        List(xs) => format!("[{}]", xs.iter().map(sexp).collect::<Vec<_>>().join(" ")),
        Comprehension {
            elem,
            var,
            iter,
            cond,
        } => format!(
            "[{} for {} in {}{}]",
            sexp(elem),
            var.name,
            sexp(iter),
            cond.as_ref()
                .map(|c| format!(" if {}", sexp(c)))
                .unwrap_or_default()
        ),
        Map(xs) => format!(
            "{{{}}}",
            xs.iter()
                .map(|(k, v)| format!("{}:{}", k.name, sexp(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Call { func, args } => format!(
            "({} {})",
            func.name,
            args.iter().map(sexp).collect::<Vec<_>>().join(" ")
        ),
        Field { base, field } => format!("(. {} {})", sexp(base), field.name),
        Index { base, index } => format!("([] {} {})", sexp(base), sexp(index)),
        Optional(e) => format!("(? {})", sexp(e)),
        Unary { op, expr } => format!("({op:?} {})", sexp(expr)),
        Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), sexp(lhs), sexp(rhs)),
    }
}

#[test]
fn flow_header_and_docs() {
    let f = ok("## Restore etcd.\n## Second line.\nflow restore_icp\n");
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].docs, vec!["Restore etcd.", "Second line."]);
    assert!(matches!(&f.items[0].kind, ast::ItemKind::Flow(i) if i.name == "restore_icp"));
}

#[test]
fn param_with_type_default_and_trailing_doc() {
    let f = ok("param wait: duration = 5m ## how long\nparam names: list[str]?\n");
    let ast::ItemKind::Param(p) = &f.items[0].kind else {
        panic!()
    };
    assert_eq!(p.name.name, "wait");
    assert_eq!(p.ty.name.name, "duration");
    assert_eq!(f.items[0].docs, vec!["how long"]);
    assert_eq!(p.default.as_ref().map(sexp).as_deref(), Some("300000ms"));
    let ast::ItemKind::Param(p) = &f.items[1].kind else {
        panic!()
    };
    assert!(p.ty.optional);
    assert_eq!(p.ty.arg.as_ref().map(|a| a.name.name.as_str()), Some("str"));
}

#[test]
fn param_requires_a_type() {
    assert!(err("param x = 5\n").contains("expected"));
}

#[test]
fn keywords_are_not_names() {
    let m = err("param step: int\n");
    assert!(m.contains("keyword") || m.contains("name"), "{m}");
}

#[test]
fn hosts_with_set_operations() {
    let f = ok("hosts a = group(\"master\") | group(\"management\")? - first(group(\"master\"))\n");
    let ast::ItemKind::Hosts(h) = &f.items[0].kind else {
        panic!()
    };
    assert_eq!(
        sexp(&h.value),
        "(| (group \"master\") (- (? (group \"management\")) (first (group \"master\"))))"
    );
}

#[test]
fn cluster_fields_newline_or_comma_separated() {
    let f = ok("cluster main {\n  members: masters\n  client_port: 4001, peer_port: 2380,\n}\n");
    let ast::ItemKind::Cluster(c) = &f.items[0].kind else {
        panic!()
    };
    let keys: Vec<_> = c.fields.iter().map(|f| f.key.name.as_str()).collect();
    assert_eq!(keys, ["members", "client_port", "peer_port"]);
}

#[test]
fn step_with_options_body_and_rollback() {
    let src = "step s on masters serial timeout: 5m when: x == 1 {\n  run \"a\"\n  rollback {\n    run \"b\"\n  }\n}\n";
    let f = ok(src);
    let ast::ItemKind::Step(s) = &f.items[0].kind else {
        panic!()
    };
    let opts: Vec<_> = s
        .options
        .iter()
        .map(|o| (o.key.name.as_str(), o.value.is_some()))
        .collect();
    assert_eq!(opts, [("serial", false), ("timeout", true), ("when", true)]);
    assert_eq!(s.body.stmts.len(), 2);
    assert!(matches!(s.body.stmts[1].kind, ast::StmtKind::Rollback(_)));
}

#[test]
fn step_needs_on() {
    assert!(err("step s masters {\n}\n").contains("`on`"));
}

#[test]
fn actions_positional_clauses_and_flags() {
    let f = ok("step s on h {\n  copy snapshot to: \"/tmp/x\" mode: \"0600\"\n  wait port: 4001 closed timeout: 5m\n  etcd.member_add name: \"b\"\n}\n");
    let ast::ItemKind::Step(s) = &f.items[0].kind else {
        panic!()
    };
    let ast::StmtKind::Action(a) = &s.body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(a.verb.name, "copy");
    assert_eq!(a.positional.as_ref().map(sexp).as_deref(), Some("snapshot"));
    assert_eq!(a.clauses.len(), 2);
    let ast::StmtKind::Action(w) = &s.body.stmts[1].kind else {
        panic!()
    };
    assert!(w.positional.is_none());
    let keys: Vec<_> = w
        .clauses
        .iter()
        .map(|c| (c.key.name.as_str(), c.value.is_some()))
        .collect();
    assert_eq!(keys, [("port", true), ("closed", false), ("timeout", true)]);
    let ast::StmtKind::Action(e) = &s.body.stmts[2].kind else {
        panic!()
    };
    assert_eq!(e.verb.name, "etcd.member_add");
}

#[test]
fn statements_end_at_newlines_and_continue_with_backslash() {
    let f = ok("step s on h {\n  run \"a\" \\\n    timeout: 5s\n  run \"b\"\n}\n");
    let ast::ItemKind::Step(s) = &f.items[0].kind else {
        panic!()
    };
    assert_eq!(s.body.stmts.len(), 2);
    let ast::StmtKind::Action(a) = &s.body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(a.clauses.len(), 1);
}

#[test]
fn let_binds_an_action_or_an_expression() {
    let f = ok("step s on h {\n  let r = run \"x\"\n  let n = r.rc + 1\n}\n");
    let ast::ItemKind::Step(s) = &f.items[0].kind else {
        panic!()
    };
    assert!(matches!(
        &s.body.stmts[0].kind,
        ast::StmtKind::Let {
            value: ast::LetValue::Action(_),
            ..
        }
    ));
    assert!(matches!(
        &s.body.stmts[1].kind,
        ast::StmtKind::Let {
            value: ast::LetValue::Expr(_),
            ..
        }
    ));
}

#[test]
fn if_else_if_and_for() {
    ok("step s on h {\n  if a {\n    fail \"x\"\n  } else if b {\n    log \"y\"\n  } else {\n    log \"z\"\n  }\n  for m in ms {\n    log \"{{ m }}\"\n  }\n}\n");
}

#[test]
fn assert_with_and_without_message() {
    ok("step s on h {\n  assert x == 1, \"x must be 1\"\n  assert y\n}\n");
}

#[test]
fn include_and_point_of_no_return() {
    let f = ok("include \"lib/common.flow\"\npoint_of_no_return \"restore the backup by hand\"\n");
    assert!(matches!(f.items[0].kind, ast::ItemKind::Include(_)));
    assert!(matches!(f.items[1].kind, ast::ItemKind::PointOfNoReturn(_)));
}

#[test]
fn comments_are_skipped() {
    ok("# a comment\nflow x # trailing\n\n# another\n");
}

#[test]
fn precedence() {
    assert_eq!(
        sexp(&expr("a or b and not c == 1")),
        "(or a (and b (Not (== c 1))))"
    );
    assert_eq!(sexp(&expr("1 + 2 * 3 - 4")), "(- (+ 1 (* 2 3)) 4)");
    assert_eq!(sexp(&expr("-x.y[0]")), "(Neg ([] (. x y) 0))");
    assert_eq!(sexp(&expr("a | b & c")), "(& (| a b) c)");
    assert_eq!(sexp(&expr("x not in [1, 2]")), "(not in x [1 2])");
    assert_eq!(sexp(&expr("(a or b) and c")), "(and (or a b) c)");
}

#[test]
fn literals() {
    assert_eq!(sexp(&expr("1h30m")), "5400000ms");
    assert_eq!(sexp(&expr("250ms")), "250ms");
    assert_eq!(sexp(&expr("2MiB")), "2097152B");
    assert_eq!(sexp(&expr("1_000")), "1000");
    assert_eq!(sexp(&expr("true")), "true");
    assert_eq!(sexp(&expr("none")), "none");
    assert_eq!(sexp(&expr("{a: 1, \"b-c\": [x]}")), "{a:1 b-c:[x]}");
    assert_eq!(sexp(&expr("'no {{ interp }}'")), "\"no {{ interp }}\"");
    assert_eq!(sexp(&expr("5x")), "<invalid>");
    assert_eq!(sexp(&expr("10mins")), "<invalid>");
    assert_eq!(sexp(&expr("99999999999999999999")), "<invalid>");
}

#[test]
fn strings_with_interpolation_and_escapes() {
    let e = expr(r#""a {{ host.name }} b \" \{{ c""#);
    let ast::ExprKind::Str(s) = &e.kind else {
        panic!()
    };
    assert_eq!(s.parts.len(), 3);
    assert!(matches!(&s.parts[2], ast::StrPart::Text(t) if t == " b \" {{ c"));
    let e = expr(r#""bad \q""#);
    let ast::ExprKind::Str(s) = &e.kind else {
        panic!()
    };
    assert!(s
        .parts
        .iter()
        .any(|p| matches!(p, ast::StrPart::BadEscape(..))));
}

#[test]
fn unterminated_string_fails() {
    assert!(err("flow x\nparam p: str = \"abc\n").contains("expected"));
}

#[test]
fn error_messages_use_human_names() {
    let m = err("step s on h {\n  run \"x\" timeout:\n}\n");
    assert!(!m.contains("expr_only") && !m.contains("Rule::"), "{m}");
    assert!(m.contains("an expression"), "{m}");
}

#[test]
fn recovery_reports_one_error_per_broken_item_and_keeps_the_rest() {
    let src = "flow x\nparam a: = 1\nparam ok: int\nstep s on h {\n  run \"a\" b: \n}\nparam also_ok: str\n";
    let p = parse(F, src);
    assert_eq!(p.diagnostics.len(), 2, "{:?}", p.diagnostics);
    let names: Vec<String> = p
        .file
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            ast::ItemKind::Param(p) => Some(p.name.name.clone()),
            ast::ItemKind::Flow(f) => Some(f.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["x", "ok", "also_ok"]);
}

#[test]
fn never_panics_on_garbage() {
    for src in [
        "{{",
        "}}}",
        "step",
        "\"",
        "'",
        "param x: list[",
        "\u{0}\u{ffff}",
        "##",
        "step s on h {\n rollback {\n",
        "a.b.c(",
        "1h1h1h",
    ] {
        let _ = parse(F, src);
        let _ = parse_expr(F, src);
    }
}

#[test]
fn comprehension_and_nested_lists() {
    assert_eq!(
        sexp(&expr("[m.name for m in main.members if not m.is_learner]")),
        "[(. m name) for m in (. main members) if (Not (. m is_learner))]"
    );
    assert_eq!(sexp(&expr("[[x, 1] for x in xs]")), "[[x 1] for x in xs]");
    assert_eq!(sexp(&expr("[a in b for a in c]")), "[(in a b) for a in c]");
    assert_eq!(sexp(&expr("[[[1]], [2]]")), "[[[1]] [2]]");
}

#[test]
fn deeply_nested_lists_parse() {
    // One list rule (a comprehension is a tail of it), so nesting does not backtrack:
    // two rules tried in turn would take 2^60 steps here.
    let src = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    let mut e = expr(&src);
    let mut depth = 0;
    while let ast::ExprKind::List(mut xs) = e.kind {
        depth += 1;
        e = xs.remove(0);
    }
    assert_eq!(depth, 60);
}

#[test]
fn a_large_flow_parses_in_parallel_to_the_same_items() {
    let mut text = String::new();
    for (_, src) in crate::stdlib::FLOWS {
        text.push_str(src);
        text.push('\n');
    }
    while text.len() < 3 * super::PARALLEL_FROM {
        let again = text.clone();
        text.push_str(&again);
    }
    let cuts = super::split_points(&text, 4);
    assert_eq!(cuts.len(), 3, "{cuts:?}");
    for c in &cuts {
        assert!(
            super::is_item_start(&text[*c..])
                || text[*c..].starts_with("block ")
                || text[*c..].starts_with("##")
        );
    }
    let parallel =
        super::parse_in_parallel(FileId(0), &text).unwrap_or_else(|| panic!("no parallel parse"));
    let sequential = super::parse_sequential(FileId(0), &text);
    assert!(
        sequential.diagnostics.is_empty(),
        "{:?}",
        sequential.diagnostics
    );
    assert_eq!(parallel.file, sequential.file);
    assert_eq!(parallel.diagnostics, sequential.diagnostics);
}

#[test]
fn deep_nesting_in_a_large_flow_parses_on_the_worker_threads() {
    let mut text = String::new();
    while text.len() < 2 * super::PARALLEL_FROM {
        text.push_str(crate::stdlib::FLOWS[0].1);
        text.push('\n');
    }
    let deep = format!(
        "step deep on m {{\n  log \"{{{{ len({}1{}) }}}}\"\n}}\n",
        "[".repeat(super::limits::MAX_NESTING - 4),
        "]".repeat(super::limits::MAX_NESTING - 4)
    );
    text.push_str(&deep);
    let p = parse(FileId(0), &text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert!(p.file.items.len() > 10);
}
