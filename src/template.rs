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
    env
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
