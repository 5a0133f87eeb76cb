//! minijinja, and only here: template analysis at check time (syntax, undeclared
//! variables) and, at run time, rendering in strict mode with fuel (SAFETY.md inv. 21).

use minijinja::{Environment, UndefinedBehavior};
use std::collections::BTreeSet;

/// A template problem, with the 1-based line minijinja reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub line: Option<usize>,
}

/// Names minijinja itself provides to every template.
const BUILTIN_GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "loop",
    "self",
    "super",
    "varargs",
    "kwargs",
    "caller",
];

fn env<'a>() -> Environment<'a> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(100_000));
    env.set_recursion_limit(64);
    // A config file keeps its last newline (as Ansible's `template` writes it).
    env.set_keep_trailing_newline(true);
    // `tojson` is minijinja's (feature `json`); `toyaml` renders a value as YAML (a kops
    // manifest's `env` list, a kubeadm config section), to be indented with `indent`.
    env.add_filter("toyaml", |v: minijinja::Value| {
        serde_yaml_ng::to_string(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    });
    env
}

/// Filters and tests a template applies that etcdflow's environment does not have (a
/// name and the 1-based line), so `check` reports them instead of the run.
pub fn unknown_filters(
    name: &str,
    source: &str,
) -> Result<Vec<(String, Option<usize>)>, TemplateError> {
    use minijinja::machinery::{get_compiled_template, Instruction, Instructions};
    let env = env();
    let tpl = env
        .template_from_named_str(name, source)
        .map_err(|e| error(&e))?;
    let compiled = get_compiled_template(&tpl);
    let mut used: Vec<(String, bool, Option<usize>)> = Vec::new();
    let mut scan = |ins: &Instructions<'_>| {
        for i in 0..ins.len() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            match ins.get(idx) {
                Some(Instruction::ApplyFilter(n, ..)) => {
                    used.push(((*n).to_string(), true, ins.get_line(idx)));
                }
                Some(Instruction::PerformTest(n, ..)) => {
                    used.push(((*n).to_string(), false, ins.get_line(idx)));
                }
                _ => {}
            }
        }
    };
    scan(&compiled.instructions);
    for b in compiled.blocks.values() {
        scan(b);
    }
    let mut out: Vec<(String, Option<usize>)> = Vec::new();
    for (n, filter, line) in used {
        // Ask the environment itself: a one-line template with just this filter/test.
        let probe = if filter {
            format!("{{{{ x | {n} }}}}")
        } else {
            format!("{{{{ x is {n} }}}}")
        };
        let known = match env.render_str(&probe, minijinja::context! { x => "" }) {
            Err(e) => !matches!(
                e.kind(),
                minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest
            ),
            Ok(_) => true,
        };
        if !known && !out.iter().any(|(m, _)| *m == n) {
            out.push((n, line));
        }
    }
    Ok(out)
}

fn error(e: &minijinja::Error) -> TemplateError {
    TemplateError {
        message: e.detail().map_or_else(|| e.to_string(), str::to_string),
        line: e.line(),
    }
}

/// The variables a template reads that it does not define itself.
pub fn undeclared_variables(name: &str, source: &str) -> Result<BTreeSet<String>, TemplateError> {
    let env = env();
    let tpl = env
        .template_from_named_str(name, source)
        .map_err(|e| error(&e))?;
    Ok(tpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !BUILTIN_GLOBALS.contains(&v.as_str()))
        .collect())
}

/// Render with strict undefined behaviour and fuel. `ctx` never holds secrets (inv. 24).
pub fn render(name: &str, source: &str, ctx: &serde_json::Value) -> Result<String, TemplateError> {
    let env = env();
    let tpl = env
        .template_from_named_str(name, source)
        .map_err(|e| error(&e))?;
    tpl.render(ctx).map_err(|e| error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_undeclared_variables_but_not_loop_locals() {
        let vars = undeclared_variables(
            "t",
            "{% for m in members %}{{ m }}{{ loop.index }}{% endfor %}{{ token }}",
        )
        .unwrap_or_default();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["members", "token"]);
    }

    #[test]
    fn reports_syntax_errors_with_a_line() {
        let e = undeclared_variables("t", "a\n{% if %}").err();
        assert_eq!(e.and_then(|e| e.line), Some(2));
    }

    #[test]
    fn tojson_toyaml_and_unknown_filters() {
        let ctx = serde_json::json!({"env": [{"name": "A", "value": "1"}]});
        assert_eq!(
            render("t", "{{ env | tojson }}", &ctx).ok().as_deref(),
            Some(r#"[{"name":"A","value":"1"}]"#)
        );
        assert_eq!(
            render("t", "{{ env | toyaml }}", &ctx).ok().as_deref(),
            Some("- name: A\n  value: '1'\n")
        );
        let bad = unknown_filters(
            "t",
            "{{ a | tojson }}\n{{ a | to_nice_yaml }}{% if a is bogus %}{% endif %}",
        )
        .unwrap_or_default();
        assert_eq!(
            bad,
            vec![
                ("to_nice_yaml".to_string(), Some(2)),
                ("bogus".to_string(), Some(2))
            ]
        );
    }

    #[test]
    fn render_is_strict() {
        assert!(render("t", "{{ missing }}", &serde_json::json!({})).is_err());
        assert_eq!(
            render("t", "{{ a }}", &serde_json::json!({"a": 1}))
                .ok()
                .as_deref(),
            Some("1")
        );
    }
}
