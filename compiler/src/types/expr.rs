//! Checking expressions: names, negation, binary operators (broadcasting and `@`), calls
//! dispatched to functions or builtins, misplaced lists and tuples.

use super::tir::{self, Expr, ExprKind, IExpr, Ty, shape_str};
use super::{Binding, Checker, Frame, closest, err_expr, synonym, too_large};
use crate::diag::{Diagnostic, Span};
use crate::resolve::BUILTINS;
use crate::syntax::ast::{self, BinOp, ExprKind as AK};

impl Checker<'_> {
    /// An expression that must be a tensor (not a tuple).
    pub(super) fn tensor_expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
        let x = self.expr(f, e);
        if let Ty::Tuple(ss) = &x.ty {
            self.err(
                Diagnostic::error(
                    "E0310",
                    format!("a tuple of {} values used as a tensor", ss.len()),
                    e.span,
                    format!("this is {}", &x.ty.to_string()),
                )
                .with_help("take it apart first: `let (a, b) = ...;`"),
            );
            return err_expr(e.span);
        }
        x
    }

    pub(super) fn expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
        let x = self.expr_unchecked_size(f, e);
        if let Ty::Tensor(s) = &x.ty
            && tir::numel(s).is_none()
        {
            self.err(too_large(s, e.span));
            return err_expr(e.span);
        }
        x
    }

    fn expr_unchecked_size(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
        let span = e.span;
        match &e.kind {
            AK::Number { value, .. } => Expr {
                kind: ExprKind::Const(*value),
                ty: Ty::Tensor(vec![]),
                span,
            },
            AK::Name(n) => self.name_expr(f, n, span),
            AK::Neg(a) => {
                let a = self.tensor_expr(f, a);
                match a.kind {
                    ExprKind::Const(v) => Expr {
                        kind: ExprKind::Const(-v),
                        ty: a.ty,
                        span,
                    },
                    _ => Expr {
                        ty: a.ty.clone(),
                        kind: ExprKind::Neg(Box::new(a)),
                        span,
                    },
                }
            }
            AK::Binary(op, a, b) => self.binary(f, *op, a, b, span),
            AK::Call { callee, args } => {
                if let Some(&r) = self.prog.scopes[f.module].get(&callee.name) {
                    self.call_fn(f, r, callee, args, span)
                } else if BUILTINS.contains(&callee.name.as_str()) {
                    self.builtin(f, callee, args, span)
                } else {
                    self.unknown_fn(f, callee, args, span)
                }
            }
            AK::Index { base, items } => self.select(f, base, items, span),
            AK::List(items) => {
                for i in items {
                    self.expr(f, i);
                }
                self.err(
                    Diagnostic::error("E0314", "a list is only allowed as a builtin's argument", span, "list here")
                        .with_help("lists give shapes (`zeros([4])`), coefficients (`poly(x, [1, 2])`), patches and `concat([a, b])`"),
                );
                err_expr(span)
            }
            AK::Tuple(items) => {
                for i in items {
                    self.expr(f, i);
                }
                self.err(
                    Diagnostic::error(
                        "E0310",
                        "a tuple is only allowed as a function's result",
                        span,
                        "tuple here",
                    )
                    .with_help("build tuples with `return (a, b);` in a function"),
                );
                err_expr(span)
            }
        }
    }

    fn binary(
        &mut self,
        f: &mut Frame,
        op: BinOp,
        a: &ast::Expr,
        b: &ast::Expr,
        span: Span,
    ) -> Expr {
        let x = self.tensor_expr(f, a);
        let y = self.tensor_expr(f, b);
        let public = |e: &Expr| matches!(e.kind, ExprKind::Const(_) | ExprKind::Int(_));
        if op == BinOp::Div {
            if !public(&y) && y.ty != Ty::Unknown {
                self.err(
                    Diagnostic::error(
                        "E0307",
                        "division by a secret value",
                        b.span,
                        "the divisor must be a public constant",
                    )
                    .with_help("for a secret divisor write `x * reciprocal(y)`"),
                );
                return err_expr(span);
            }
            if let ExprKind::Const(c) = y.kind
                && c == 0.0
            {
                self.err(
                    Diagnostic::error("E0307", "division by zero", b.span, "this is zero")
                        .with_help("divide by a non-zero constant"),
                );
                return err_expr(span);
            }
        }
        if let (ExprKind::Const(p), ExprKind::Const(q)) = (&x.kind, &y.kind) {
            let v = match op {
                BinOp::Add => p + q,
                BinOp::Sub => p - q,
                BinOp::Mul | BinOp::MatMul => p * q,
                BinOp::Div => p / q,
            };
            if op != BinOp::MatMul {
                return Expr {
                    kind: ExprKind::Const(v),
                    ty: Ty::Tensor(vec![]),
                    span,
                };
            }
        }
        let ty = match (&x.ty, &y.ty) {
            (Ty::Tensor(s), Ty::Tensor(t)) => {
                let r = if op == BinOp::MatMul {
                    crate::shape::matmul_shape(s, t)
                } else {
                    crate::shape::broadcast_shapes(s, t)
                        .ok_or_else(|| "cannot broadcast".to_string())
                };
                match r {
                    Ok(r) => Ty::Tensor(r),
                    Err(why) => {
                        let msg = if op == BinOp::MatMul {
                            format!("cannot multiply: {why}")
                        } else {
                            format!(
                                "shapes {} and {} cannot be broadcast together in `{}`",
                                shape_str(s),
                                shape_str(t),
                                op.symbol()
                            )
                        };
                        let help = if op == BinOp::MatMul {
                            "`@` takes [M,K] @ [K,N], [K] @ [K,N], [M,K] @ [K] or [K] @ [K]; the inner extents must agree"
                        } else {
                            "elementwise operators follow NumPy broadcasting: trailing extents must be equal or 1"
                        };
                        self.err(
                            Diagnostic::error(
                                if op == BinOp::MatMul {
                                    "E0302"
                                } else {
                                    "E0301"
                                },
                                msg,
                                a.span,
                                format!("this is {}", shape_str(s)),
                            )
                            .with_secondary(b.span, format!("this is {}", shape_str(t)))
                            .with_help(help),
                        );
                        Ty::Unknown
                    }
                }
            }
            _ => Ty::Unknown,
        };
        if ty == Ty::Unknown {
            return err_expr(span);
        }
        Expr {
            kind: ExprKind::Binary(op, Box::new(x), Box::new(y)),
            ty,
            span,
        }
    }

    /// A name used as a value: a local, a loop variable or a bound shape variable.
    fn name_expr(&mut self, f: &mut Frame, n: &ast::Ident, span: Span) -> Expr {
        match f.lookup(&n.name) {
            Some(Binding::Local(id)) => {
                let info = &mut f.locals[id as usize];
                info.used = true;
                Expr {
                    kind: ExprKind::Local(id),
                    ty: info.ty.clone(),
                    span,
                }
            }
            Some(Binding::Loop(id)) => Expr {
                kind: ExprKind::Int(IExpr::Loop(id)),
                ty: Ty::Tensor(vec![]),
                span,
            },
            None => match f.shape_vars.get(&n.name) {
                Some(Some(v)) => Expr {
                    kind: ExprKind::Int(IExpr::Lit(*v as i64)),
                    ty: Ty::Tensor(vec![]),
                    span,
                },
                Some(None) => err_expr(span),
                None => {
                    self.undefined(f, n);
                    err_expr(span)
                }
            },
        }
    }

    /// A call to a name that is neither a function in scope nor a builtin: reported (unless the
    /// function exists but failed to parse), its arguments still checked.
    fn unknown_fn(
        &mut self,
        f: &mut Frame,
        callee: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Expr {
        let mut cands: Vec<&str> = self.prog.scopes[f.module]
            .keys()
            .map(String::as_str)
            .collect();
        cands.extend(BUILTINS.iter().copied());
        let mut d = Diagnostic::error(
            "E0204",
            format!("cannot find function `{}`", callee.name),
            callee.span,
            "not a builtin or a function in scope",
        );
        d = match synonym(&callee.name).or_else(|| closest(&callee.name, cands.into_iter())) {
            Some(c) => d.with_help(format!("did you mean `{c}`?")),
            None => d.with_help(
                "functions come from this file, `use std::MODULE;` or `use \"file.sir\";`",
            ),
        };
        if !self.prog.is_broken_fn(&callee.name) {
            self.err(d);
        }
        for a in args {
            let (ast::Arg::Positional(x) | ast::Arg::Keyword(_, x)) = a;
            if !matches!(x.kind, AK::List(_)) {
                self.expr(f, x);
            }
        }
        err_expr(span)
    }
}
