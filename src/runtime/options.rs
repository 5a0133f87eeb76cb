//! Step options, evaluated. `plan` and `run` both read a step's options through
//! [`evaluate`], so what the plan prints is what the run does: any expression of the
//! option's type (a literal, a param, a binding, arithmetic) is evaluated, and a value the
//! runtime cannot use is an error naming the step and the option, never a default.

use super::eval::{self, Ctx};
use super::value::{fmt_duration, Value};
use crate::ir::{self, Arg, ExprKind};
use std::time::Duration;

/// How many of a step's hosts run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// All at once, up to `--forks`.
    Parallel,
    /// Fixed batches of this size, like Ansible's `serial:`: every host of a batch
    /// finishes before the next batch starts (`serial` is batches of 1).
    Batch(usize),
}

/// A step's options as the run uses them. `when`, `until` and `order` stay expressions:
/// they are evaluated per host, or from facts read just before the step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOptions {
    pub width: Width,
    pub timeout: Option<Duration>,
    pub retries: usize,
    pub delay: Duration,
    pub max_fail: usize,
    pub run_once: bool,
    pub become_: bool,
    pub become_user: Option<String>,
    /// `on_failure: "undo_host"`: a host that fails this step has its own change of the
    /// step undone at once; other hosts and earlier steps keep theirs.
    pub undo_host: bool,
}

/// Why an option has no usable value.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionError {
    pub option: &'static str,
    pub message: String,
    /// The value depends on what the run has not made yet (a binding, a fact): not an
    /// error before the run, only a value unknown to `plan`.
    pub unknown: bool,
}

impl OptionError {
    pub fn describe(&self, step: &str) -> String {
        format!("step `{step}`: option `{}`: {}", self.option, self.message)
    }
}

fn value(step: &ir::Step, name: &'static str, cx: &Ctx<'_>) -> Result<Option<Value>, OptionError> {
    match step.options.get(name) {
        Some(Arg::Value(e)) => eval::eval(e, cx).map(Some).map_err(|m| OptionError {
            option: name,
            message: m,
            unknown: true,
        }),
        Some(Arg::Flag(_)) => Ok(Some(Value::Bool(true))),
        None => Ok(None),
    }
}

fn invalid(option: &'static str, message: String) -> OptionError {
    OptionError {
        option,
        message,
        unknown: false,
    }
}

fn count(
    step: &ir::Step,
    name: &'static str,
    min: i64,
    cx: &Ctx<'_>,
) -> Result<Option<usize>, OptionError> {
    match value(step, name, cx)? {
        None => Ok(None),
        Some(Value::Int(n)) if n >= min => usize::try_from(n)
            .map(Some)
            .map_err(|_| invalid(name, format!("{n} is out of range"))),
        Some(Value::Int(n)) => Err(invalid(
            name,
            format!("must be at least {min}, the value is {n}"),
        )),
        Some(v) => Err(invalid(
            name,
            format!("must be an integer, the value is `{}`", v.to_text()),
        )),
    }
}

fn duration(
    step: &ir::Step,
    name: &'static str,
    cx: &Ctx<'_>,
) -> Result<Option<Duration>, OptionError> {
    match value(step, name, cx)? {
        None => Ok(None),
        Some(Value::Duration(0)) if name == "timeout" => Err(invalid(
            name,
            "a deadline of 0 would end every command at once".into(),
        )),
        Some(Value::Duration(ms)) => Ok(Some(Duration::from_millis(ms))),
        Some(v) => Err(invalid(
            name,
            format!("must be a duration, the value is `{}`", v.to_text()),
        )),
    }
}

/// Evaluate every option of `step` that does not vary per host run (`when`, `until` and
/// `order` are not here).
pub fn evaluate(step: &ir::Step, cx: &Ctx<'_>) -> Result<StepOptions, OptionError> {
    let serial = value(step, "serial", cx)?.is_some();
    let batch = count(step, "batch", 1, cx)?;
    let width = match (serial, batch) {
        (true, _) => Width::Batch(1),
        (false, Some(n)) => Width::Batch(n),
        (false, None) => Width::Parallel,
    };
    let become_user = match value(step, "become_user", cx)? {
        Some(Value::Str(u))
            if u.is_empty() || u.starts_with('-') || u.contains(char::is_whitespace) =>
        {
            return Err(invalid("become_user", format!("`{u}` is not a user name")))
        }
        Some(v) => Some(v.to_text()),
        None => None,
    };
    Ok(StepOptions {
        width,
        timeout: duration(step, "timeout", cx)?,
        retries: count(step, "retries", 0, cx)?.unwrap_or(0),
        delay: duration(step, "delay", cx)?.unwrap_or(Duration::from_secs(1)),
        max_fail: count(step, "max_fail", 0, cx)?.unwrap_or(0),
        run_once: value(step, "run_once", cx)?.is_some(),
        become_: value(step, "become", cx)?.is_some(),
        become_user,
        undo_host: match value(step, "on_failure", cx)? {
            None => false,
            Some(v) => match v.to_text().as_str() {
                "undo_host" => true,
                "rollback" => false,
                other => {
                    return Err(invalid(
                        "on_failure",
                        format!("`{other}` is neither `rollback` nor `undo_host`"),
                    ))
                }
            },
        },
    })
}

impl StepOptions {
    /// The options as `plan` prints them: only those the step sets.
    pub fn describe(&self, step: &ir::Step) -> Vec<String> {
        let mut out = Vec::new();
        for k in step.options.keys() {
            match *k {
                "serial" => out.push("serial".to_string()),
                "batch" => {
                    if let Width::Batch(n) = self.width {
                        out.push(format!("batch: {n}"));
                    }
                }
                "parallel" => out.push("parallel".to_string()),
                "timeout" => {
                    if let Some(d) = self.timeout {
                        out.push(format!("timeout: {}", fmt_ms(d)));
                    }
                }
                "retries" => out.push(format!("retries: {}", self.retries)),
                "delay" => out.push(format!("delay: {}", fmt_ms(self.delay))),
                "max_fail" => out.push(format!("max_fail: {}", self.max_fail)),
                "on_failure" => out.push(format!(
                    "on_failure: {}",
                    if self.undo_host {
                        "undo_host"
                    } else {
                        "rollback"
                    }
                )),
                "run_once" => out.push("run_once".to_string()),
                "become" => out.push("become".to_string()),
                "become_user" => {
                    if let Some(u) = &self.become_user {
                        out.push(format!("become_user: {u}"));
                    }
                }
                "when" => out.push("when: <per host>".to_string()),
                "until" => out.push("until: <per attempt>".to_string()),
                "order" => out.push(format!("order: {}", describe_order(step))),
                other => out.push(other.to_string()),
            }
        }
        out
    }
}

fn fmt_ms(d: Duration) -> String {
    fmt_duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `leader_last(main)`, `by(<key>)`.
pub fn describe_order(step: &ir::Step) -> String {
    match step.options.get("order") {
        Some(Arg::Value(ir::Expr {
            kind: ExprKind::Call { func, args },
            ..
        })) => {
            let arg = match args.first().map(|a| &a.kind) {
                Some(ExprKind::Cluster(_)) => "<cluster>".to_string(),
                Some(_) => "<key per host>".to_string(),
                None => String::new(),
            };
            format!("{func}({arg})")
        }
        _ => "<ordering>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn sp() -> crate::source::Span {
        crate::source::Span::new(crate::source::FileId(0), 0, 0)
    }

    fn step(opts: &[(&'static str, ir::Expr)]) -> ir::Step {
        ir::Step {
            name: "s".into(),
            docs: Vec::new(),
            targets: None,
            options: opts
                .iter()
                .map(|(k, e)| (*k, Arg::Value(e.clone())))
                .collect(),
            body: Vec::new(),
            rollback: None,
            no_return: None,
            span: sp(),
        }
    }

    fn int(n: i64) -> ir::Expr {
        ir::Expr {
            kind: ExprKind::Int(n),
            ty: crate::check::types::Ty::Int,
            span: sp(),
        }
    }

    fn param(i: usize) -> ir::Expr {
        ir::Expr {
            kind: ExprKind::Param(i),
            ty: crate::check::types::Ty::Int,
            span: sp(),
        }
    }

    #[test]
    fn options_from_params_are_evaluated() {
        let inv = Inventory::default();
        let params = [Value::Int(2), Value::Duration(1500)];
        let cx = Ctx::global(&params, &[], &inv, &[], "r", "t");
        let mut t = param(1);
        t.ty = crate::check::types::Ty::Duration;
        let o = evaluate(&step(&[("batch", param(0)), ("timeout", t)]), &cx).expect("options");
        assert_eq!(o.width, Width::Batch(2));
        assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn out_of_range_values_are_errors_not_defaults() {
        let inv = Inventory::default();
        let cx = Ctx::global(&[], &[], &inv, &[], "r", "t");
        for (k, n) in [("batch", 0), ("retries", -1), ("max_fail", -2)] {
            let e = evaluate(&step(&[(k, int(n))]), &cx).expect_err("refused");
            assert_eq!(e.option, k);
            assert!(!e.unknown);
        }
    }

    #[test]
    fn an_unbound_value_is_unknown_not_invalid() {
        let inv = Inventory::default();
        let cx = Ctx::global(&[], &[], &inv, &[], "r", "t");
        let e = evaluate(&step(&[("batch", param(3))]), &cx).expect_err("unknown");
        assert!(e.unknown);
    }
}
