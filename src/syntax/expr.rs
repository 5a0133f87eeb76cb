//! Operator precedence for expressions (pest's Pratt parser), lowest first:
//! `or`; `and`; `not`; comparisons and `in`/`not in`; `|` `&` (host sets);
//! `+` `-`; `*` `/`; unary `-`; postfix `.field`, `[index]`, `?`.

use super::Rule;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;

pub(crate) fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left)
                | Op::infix(Rule::op_not_in, Assoc::Left))
            .op(Op::infix(Rule::op_union, Assoc::Left) | Op::infix(Rule::op_inter, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
            .op(Op::postfix(Rule::field_access)
                | Op::postfix(Rule::index)
                | Op::postfix(Rule::optional_mark))
    })
}
