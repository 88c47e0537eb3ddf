//! Static integers: loop bounds, indices, slice bounds, shapes and axes known before
//! execution.

use super::tir::IExpr;
use super::{Binding, Checker, Frame};
use crate::diag::Diagnostic;
use crate::syntax::ast::{self, BinOp, ExprKind as AK};

impl Checker<'_> {
    /// An integer known before execution: literals, loop variables, shape variables, `+ - *`.
    /// `None` after an error (reported) or when a shape variable is not known (generic frames).
    pub(super) fn static_int(&mut self, f: &mut Frame, e: &ast::Expr, what: &str) -> Option<IExpr> {
        match &e.kind {
            AK::Number {
                value,
                integer: true,
            } if *value <= i64::MAX as f64 => Some(IExpr::Lit(*value as i64)),
            AK::Number { .. } => {
                self.err(
                    Diagnostic::error(
                        "E0306",
                        format!("{what} must be an integer"),
                        e.span,
                        "not an integer",
                    )
                    .with_help("write an integer literal such as `3`"),
                );
                None
            }
            AK::Name(n) => match f.lookup(&n.name) {
                Some(Binding::Loop(id)) => Some(IExpr::Loop(id)),
                Some(Binding::Local(id)) => {
                    f.locals[id as usize].used = true;
                    self.err(
                        Diagnostic::error("E0306", format!("{what} must be known before execution"), e.span, format!("`{}` is a secret tensor", n.name))
                            .with_help("use integer literals, loop variables and shape variables with `+`, `-`, `*`"),
                    );
                    None
                }
                None => match f.shape_vars.get(&n.name) {
                    Some(v) => v.map(|v| IExpr::Lit(v as i64)),
                    None => {
                        self.undefined(f, n);
                        None
                    }
                },
            },
            AK::Neg(a) => Some(IExpr::Neg(Box::new(self.static_int(f, a, what)?))),
            AK::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) => {
                let a = self.static_int(f, a, what);
                let b = self.static_int(f, b, what);
                let (a, b) = (Box::new(a?), Box::new(b?));
                let r = match op {
                    BinOp::Add => IExpr::Add(a, b),
                    BinOp::Sub => IExpr::Sub(a, b),
                    _ => IExpr::Mul(a, b),
                };
                Some(match r.constant() {
                    Some(v) => IExpr::Lit(v),
                    None => r,
                })
            }
            _ => {
                self.err(
                    Diagnostic::error("E0306", format!("{what} must be a static integer expression"), e.span, "not a static integer")
                        .with_help("use integer literals, loop variables and shape variables with `+`, `-`, `*`"),
                );
                None
            }
        }
    }

    /// A static integer that must not depend on loop variables (shapes, axes, window sizes).
    pub(super) fn const_int(&mut self, f: &mut Frame, e: &ast::Expr, what: &str) -> Option<i64> {
        let i = self.static_int(f, e, what)?;
        if i.uses_loops() {
            self.err(
                Diagnostic::error(
                    "E0312",
                    format!("{what} cannot depend on a loop variable"),
                    e.span,
                    "changes from one iteration to the next",
                )
                .with_help("shapes are fixed; use literals or shape variables here"),
            );
            return None;
        }
        match i.constant() {
            Some(v) => Some(v),
            None => {
                self.err(Diagnostic::error(
                    "E0306",
                    format!("{what} overflows"),
                    e.span,
                    "too large",
                ));
                None
            }
        }
    }
}
