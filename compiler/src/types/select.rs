//! Checking indexing and slicing `x[i, a..b, :]`: every index and slice bound in range in every
//! iteration of the enclosing loops, slice lengths fixed.

use super::tir::{Expr, ExprKind, IExpr, Shape, Subscript, Ty, shape_str};
use super::{Checker, Frame, err_expr};
use crate::diag::{Diagnostic, Span};
use crate::syntax::ast;

/// The axis an index or slice applies to, for bounds checks and their diagnostics.
#[derive(Clone, Copy)]
struct Axis {
    index: usize,
    extent: usize,
    /// The indexed expression.
    base: Span,
}

impl Checker<'_> {
    pub(super) fn select(
        &mut self,
        f: &mut Frame,
        base: &ast::Expr,
        items: &[ast::IndexItem],
        span: Span,
    ) -> Expr {
        let b = self.tensor_expr(f, base);
        let shape = b.ty.shape().cloned();
        if let Some(sh) = &shape
            && items.len() > sh.len()
        {
            let extra = items[sh.len()].span().to(items[items.len() - 1].span());
            self.err(
                Diagnostic::error(
                    "E0305",
                    format!("{} indices into a tensor of rank {}", items.len(), sh.len()),
                    extra,
                    "too many indices",
                )
                .with_secondary(base.span, format!("this is {}", shape_str(sh)))
                .with_help("index at most one position per axis"),
            );
            for it in items {
                self.index_item_exprs(f, it);
            }
            return err_expr(span);
        }
        let mut sels = Vec::new();
        let mut out_shape: Shape = Vec::new();
        let mut ok = true;
        for (axis, it) in items.iter().enumerate() {
            let dim = shape.as_ref().map(|s| s[axis]);
            let at = |extent| Axis {
                index: axis,
                extent,
                base: base.span,
            };
            match it {
                ast::IndexItem::Full(_) => {
                    sels.push(Subscript::Full);
                    if let Some(d) = dim {
                        out_shape.push(d);
                    }
                }
                ast::IndexItem::Index(e) => {
                    let Some(i) = self.static_int(f, e, "an index") else {
                        ok = false;
                        continue;
                    };
                    if let Some(d) = dim {
                        ok &= self.bounds(f, &i, e.span, at(d));
                    }
                    sels.push(Subscript::Index(i));
                }
                ast::IndexItem::Range {
                    lo,
                    hi,
                    span: rspan,
                } => {
                    let lo_i = match lo {
                        Some(e) => self.static_int(f, e, "a slice bound"),
                        None => Some(IExpr::Lit(0)),
                    };
                    let hi_i = match (hi, dim) {
                        (Some(e), _) => self.static_int(f, e, "a slice bound"),
                        (None, Some(d)) => Some(IExpr::Lit(d as i64)),
                        (None, None) => None,
                    };
                    let (Some(lo_i), Some(hi_i), Some(d)) = (lo_i, hi_i, dim) else {
                        ok = false;
                        continue;
                    };
                    match self.slice_len(f, &lo_i, &hi_i, *rspan, at(d)) {
                        Some(len) => out_shape.push(len),
                        None => ok = false,
                    }
                    sels.push(Subscript::Range(lo_i, hi_i));
                }
            }
        }
        let (true, Some(sh)) = (ok, shape) else {
            return err_expr(span);
        };
        out_shape.extend_from_slice(&sh[items.len()..]);
        Expr {
            kind: ExprKind::Select {
                base: Box::new(b),
                sels,
            },
            ty: Ty::Tensor(out_shape),
            span,
        }
    }

    fn index_item_exprs(&mut self, f: &mut Frame, it: &ast::IndexItem) {
        match it {
            ast::IndexItem::Index(e) => {
                self.static_int(f, e, "an index");
            }
            ast::IndexItem::Range { lo, hi, .. } => {
                for e in lo.iter().chain(hi.iter()) {
                    self.static_int(f, e, "a slice bound");
                }
            }
            ast::IndexItem::Full(_) => {}
        }
    }

    /// Checks that index `i` (written at `span`) is within the axis in every iteration of the
    /// enclosing loops.
    fn bounds(&mut self, f: &Frame, i: &IExpr, span: Span, axis: Axis) -> bool {
        let Axis {
            index: axis,
            extent: dim,
            base,
        } = axis;
        let (min, max) = (0, dim as i64 - 1);
        let mut bad: Option<(i64, Vec<i64>)> = None;
        f.for_each_iteration(|env| {
            if bad.is_none() {
                match i.eval(env) {
                    Some(v) if (min..=max).contains(&v) => {}
                    Some(v) => bad = Some((v, env.to_vec())),
                    None => bad = Some((i64::MAX, env.to_vec())),
                }
            }
        });
        let Some((v, env)) = bad else { return true };
        let when = self.iteration_note(f, i, &env);
        self.err(
            Diagnostic::error(
                "E0304",
                format!("index {v} is out of bounds for axis {axis} of extent {dim}{when}"),
                span,
                format!("must be in 0..{dim}"),
            )
            .with_secondary(base, format!("axis {axis} has extent {dim}"))
            .with_help(if v < 0 {
                "negative indices are not supported; count from 0".to_string()
            } else {
                format!("valid positions are 0 to {}", dim - 1)
            }),
        );
        false
    }

    /// ", when t = 98" for the loop variables an index depends on.
    fn iteration_note(&self, f: &Frame, i: &IExpr, env: &[i64]) -> String {
        fn loops_of(i: &IExpr, out: &mut Vec<u32>) {
            match i {
                IExpr::Lit(_) => {}
                IExpr::Loop(l) => out.push(*l),
                IExpr::Neg(a) => loops_of(a, out),
                IExpr::Add(a, b) | IExpr::Sub(a, b) | IExpr::Mul(a, b) => {
                    loops_of(a, out);
                    loops_of(b, out);
                }
            }
        }
        let mut ls = Vec::new();
        loops_of(i, &mut ls);
        ls.sort_unstable();
        ls.dedup();
        if ls.is_empty() {
            return String::new();
        }
        let names: Vec<String> = ls
            .iter()
            .map(|l| {
                let name = f.loop_names.get(*l as usize).map_or("?", String::as_str);
                format!("{name} = {}", env.get(*l as usize).copied().unwrap_or(0))
            })
            .collect();
        format!(" when {}", names.join(", "))
    }

    /// The length of `lo..hi` (written at `span`) on the axis, the same in every iteration.
    fn slice_len(
        &mut self,
        f: &Frame,
        lo: &IExpr,
        hi: &IExpr,
        span: Span,
        axis: Axis,
    ) -> Option<usize> {
        let Axis {
            index: axis,
            extent: dim,
            base,
        } = axis;
        let mut lens: Option<(i64, i64, i64)> = None; // (len, lo, hi) of the first iteration
        let mut varying = false;
        let mut bad: Option<(i64, i64, Vec<i64>)> = None;
        let visited = f.for_each_iteration(|env| {
            let (Some(a), Some(b)) = (lo.eval(env), hi.eval(env)) else {
                return;
            };
            if a < 0 || b > dim as i64 || a >= b {
                if bad.is_none() {
                    bad = Some((a, b, env.to_vec()));
                }
                return;
            }
            match lens {
                None => lens = Some((b - a, a, b)),
                Some((l, _, _)) if l != b - a => varying = true,
                _ => {}
            }
        });
        if let Some((a, b, env)) = bad {
            let when = self.iteration_note(
                f,
                &IExpr::Add(Box::new(lo.clone()), Box::new(hi.clone())),
                &env,
            );
            let (msg, help) = if a >= b {
                (
                    format!("empty slice {a}..{b}{when}"),
                    "a slice `a..b` needs a < b".to_string(),
                )
            } else {
                (
                    format!(
                        "slice {a}..{b} is out of bounds for axis {axis} of extent {dim}{when}"
                    ),
                    format!("slices must lie within 0..{dim}"),
                )
            };
            self.err(
                Diagnostic::error("E0304", msg, span, "out of bounds")
                    .with_secondary(base, format!("axis {axis} has extent {dim}"))
                    .with_help(help),
            );
            return None;
        }
        if varying {
            self.err(
                Diagnostic::error(
                    "E0313",
                    "the length of this slice changes between iterations",
                    span,
                    "length depends on a loop variable",
                )
                .with_help("shapes are fixed: write slices as `t..t + K` with a constant K"),
            );
            return None;
        }
        match (lens, visited) {
            (Some((l, _, _)), _) => Some(l as usize),
            // The slice sits in a loop that never runs: its length is still well defined when
            // both bounds are constants.
            (None, _) => match (lo.constant(), hi.constant()) {
                (Some(a), Some(b)) if 0 <= a && a < b && b <= dim as i64 => Some((b - a) as usize),
                _ => None,
            },
        }
    }
}
