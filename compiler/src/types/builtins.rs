//! Checking calls to builtins: argument binding (positional and keyword), static arguments
//! (shapes, axes, window sizes, coefficient lists), and each builtin's shape rule.

use super::tir::{Builtin, Expr, ExprKind, Shape, Ty};
use super::{Checker, Frame, closest, err_expr, shape_str};
use crate::diag::{Diagnostic, Span};
use crate::syntax::ast::{self, ExprKind as AK};

/// What a builtin parameter accepts.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tensor,
    /// `[d0, d1, ...]` of static integers.
    ShapeList,
    /// `[c0, c1, ...]` of public real constants.
    NumList,
    /// `[a, b, ...]` of tensors.
    TensorList,
    /// A static integer.
    Int,
}

#[derive(Clone, Copy)]
enum Req {
    Required,
    Optional,
}

struct Param {
    name: &'static str,
    kind: Kind,
    req: Req,
}

const fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        req: Req::Required,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        req: Req::Optional,
    }
}

fn signature(name: &str) -> &'static [Param] {
    use Kind::*;
    match name {
        "zeros" | "ones" => const { &[p("shape", ShapeList)] },
        "relu" | "sigmoid" | "tanh" | "exp" | "rsqrt" | "sqrt" | "reciprocal" | "poly_relu"
        | "argmax" | "softmax" | "flatten" | "transpose" => const { &[p("x", Tensor)] },
        "poly" => const { &[p("x", Tensor), p("coeffs", NumList)] },
        "block_relu" => const { &[p("x", Tensor), opt("patch", ShapeList)] },
        "max" | "sum" | "mean" => const { &[p("x", Tensor), opt("axis", Int)] },
        "layernorm" => const { &[p("x", Tensor), p("gamma", Tensor), p("beta", Tensor)] },
        "conv2d" => {
            const {
                &[
                    p("x", Tensor),
                    p("w", Tensor),
                    p("b", Tensor),
                    opt("stride", Int),
                    opt("pad", Int),
                ]
            }
        }
        "maxpool2d" | "avgpool2d" => const { &[p("x", Tensor), p("k", Int), opt("stride", Int)] },
        "reshape" => const { &[p("x", Tensor), p("shape", ShapeList)] },
        "concat" => const { &[p("xs", TensorList), opt("axis", Int)] },
        _ => &[],
    }
}

/// A checked argument.
enum Val {
    Tensor(Expr),
    Ints(Vec<i64>, Span),
    Nums(Vec<f64>),
    Tensors(Vec<Expr>),
    Int(i64, Span),
    Missing,
}

impl Checker<'_> {
    pub(super) fn builtin(
        &mut self,
        f: &mut Frame,
        callee: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Expr {
        let name = callee.name.as_str();
        let sig = signature(name);
        let usage = format!(
            "{name}({})",
            sig.iter()
                .map(|p| if matches!(p.req, Req::Optional) {
                    format!("{} = …", p.name)
                } else {
                    p.name.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Bind arguments to parameters.
        let mut slots: Vec<Option<&ast::Expr>> = vec![None; sig.len()];
        let mut ok = true;
        let mut positional = 0;
        let mut seen_kw = false;
        for a in args {
            match a {
                ast::Arg::Positional(e) => {
                    if seen_kw {
                        self.err(
                            Diagnostic::error(
                                "E0210",
                                "positional argument after a keyword argument",
                                e.span,
                                "positional",
                            )
                            .with_help(format!("usage: {usage}")),
                        );
                        ok = false;
                    } else if positional >= sig.len() {
                        self.err(
                            Diagnostic::error(
                                "E0211",
                                format!(
                                    "`{name}` takes at most {} argument{}",
                                    sig.len(),
                                    if sig.len() == 1 { "" } else { "s" }
                                ),
                                e.span,
                                "unexpected argument",
                            )
                            .with_help(format!("usage: {usage}")),
                        );
                        ok = false;
                    } else {
                        slots[positional] = Some(e);
                    }
                    positional += 1;
                }
                ast::Arg::Keyword(k, e) => {
                    seen_kw = true;
                    match sig.iter().position(|p| p.name == k.name) {
                        None => {
                            let mut d = Diagnostic::error(
                                "E0210",
                                format!("`{name}` has no parameter `{}`", k.name),
                                k.span,
                                "unknown keyword",
                            );
                            d = match closest(&k.name, sig.iter().map(|p| p.name)) {
                                Some(c) => {
                                    d.with_help(format!("did you mean `{c}`? usage: {usage}"))
                                }
                                None => d.with_help(format!("usage: {usage}")),
                            };
                            self.err(d);
                            ok = false;
                        }
                        Some(i) if slots[i].is_some() => {
                            self.err(
                                Diagnostic::error(
                                    "E0210",
                                    format!("argument `{}` given twice", k.name),
                                    k.span,
                                    "given again",
                                )
                                .with_help(format!("usage: {usage}")),
                            );
                            ok = false;
                        }
                        Some(i) => slots[i] = Some(e),
                    }
                }
            }
        }
        for (p, s) in sig.iter().zip(&slots) {
            if s.is_none() && matches!(p.req, Req::Required) && ok {
                self.err(
                    Diagnostic::error(
                        "E0211",
                        format!("`{name}` is missing its argument `{}`", p.name),
                        span,
                        format!("`{}` not given", p.name),
                    )
                    .with_help(format!("usage: {usage}")),
                );
                ok = false;
            }
        }
        let mut vals = Vec::new();
        for (p, s) in sig.iter().zip(&slots) {
            let v = match s {
                None => Val::Missing,
                Some(e) => self.arg_value(f, p, e, name),
            };
            vals.push(v);
        }
        if !ok {
            return err_expr(span);
        }
        self.builtin_rule(name, vals, span, args)
    }

    fn arg_value(&mut self, f: &mut Frame, p: &Param, e: &ast::Expr, builtin: &str) -> Val {
        match p.kind {
            Kind::Tensor => Val::Tensor(self.tensor_expr(f, e)),
            Kind::Int => match self.const_int(f, e, &format!("the `{}` of `{builtin}`", p.name)) {
                Some(v) => Val::Int(v, e.span),
                None => Val::Missing,
            },
            Kind::ShapeList | Kind::NumList | Kind::TensorList => {
                let AK::List(items) = &e.kind else {
                    let what = match p.kind {
                        Kind::ShapeList => "a list of integers such as `[4, 8]`",
                        Kind::NumList => "a list of constants such as `[0.5, 1, -2]`",
                        _ => "a list of tensors such as `[a, b]`",
                    };
                    if !matches!(e.kind, AK::Tuple(_)) {
                        self.expr(f, e);
                    }
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!("`{}` of `{builtin}` must be a list", p.name),
                            e.span,
                            format!("expected {what}"),
                        )
                        .with_help(format!("write `{builtin}(…, [..])` with the list inline")),
                    );
                    return Val::Missing;
                };
                match p.kind {
                    Kind::ShapeList => {
                        let mut out = Vec::new();
                        for i in items {
                            out.push(self.const_int(f, i, &format!("a `{}` entry", p.name)));
                        }
                        out.into_iter()
                            .collect::<Option<Vec<_>>>()
                            .map_or(Val::Missing, |v| Val::Ints(v, e.span))
                    }
                    Kind::NumList => {
                        let mut out = Vec::new();
                        for i in items {
                            let x = self.tensor_expr(f, i);
                            match x.kind {
                                ExprKind::Const(v) => out.push(Some(v)),
                                ExprKind::Int(ref ie) if ie.constant().is_some() => {
                                    out.push(ie.constant().map(|v| v as f64))
                                }
                                ExprKind::Error => out.push(None),
                                _ => {
                                    self.err(
                                        Diagnostic::error("E0311", format!("coefficients of `{builtin}` must be public constants"), i.span, "not a constant")
                                            .with_help("write numbers, e.g. `poly(x, [0.5, 0.25, 0.125])`"),
                                    );
                                    out.push(None)
                                }
                            }
                        }
                        out.into_iter()
                            .collect::<Option<Vec<_>>>()
                            .map_or(Val::Missing, Val::Nums)
                    }
                    _ => {
                        let xs: Vec<Expr> = items.iter().map(|i| self.tensor_expr(f, i)).collect();
                        Val::Tensors(xs)
                    }
                }
            }
        }
    }

    fn builtin_rule(&mut self, name: &str, vals: Vec<Val>, span: Span, args: &[ast::Arg]) -> Expr {
        let arg_span = |i: usize| args.get(i).map_or(span, ast::Arg::span);
        let mut it = vals.into_iter();
        let mut next = || it.next().unwrap_or(Val::Missing);
        // Any unknown operand (an error already reported, or a generic function body): stop here.
        macro_rules! tensor {
            () => {
                match next() {
                    Val::Tensor(e) if e.ty != Ty::Unknown => e,
                    _ => return err_expr(span),
                }
            };
        }
        let shape_of = |e: &Expr| e.ty.shape().cloned().unwrap_or_default();
        let build = |op: Builtin, args: Vec<Expr>, shape: Shape| Expr {
            kind: ExprKind::Builtin { op, args },
            ty: Ty::Tensor(shape),
            span,
        };
        match name {
            "zeros" | "ones" => {
                let Val::Ints(dims, dspan) = next() else {
                    return err_expr(span);
                };
                let Some(shape) = self.extents(&dims, dspan) else {
                    return err_expr(span);
                };
                let op = if name == "zeros" {
                    Builtin::Zeros(shape.clone())
                } else {
                    Builtin::Ones(shape.clone())
                };
                build(op, vec![], shape)
            }
            "relu" | "sigmoid" | "tanh" | "exp" | "rsqrt" | "sqrt" | "reciprocal" | "poly_relu" => {
                let x = tensor!();
                let op = match name {
                    "relu" => Builtin::Relu,
                    "sigmoid" => Builtin::Sigmoid,
                    "tanh" => Builtin::Tanh,
                    "exp" => Builtin::Exp,
                    "rsqrt" => Builtin::Rsqrt,
                    "sqrt" => Builtin::Sqrt,
                    "reciprocal" => Builtin::Reciprocal,
                    _ => Builtin::PolyRelu,
                };
                let s = shape_of(&x);
                build(op, vec![x], s)
            }
            "poly" => {
                let x = tensor!();
                let Val::Nums(c) = next() else {
                    return err_expr(span);
                };
                if c.is_empty() {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            "`poly` needs at least one coefficient",
                            arg_span(1),
                            "empty list",
                        )
                        .with_help("`poly(x, [c0, c1, ..., cd])`"),
                    );
                    return err_expr(span);
                }
                let s = shape_of(&x);
                build(Builtin::Poly(c), vec![x], s)
            }
            "block_relu" => {
                let x = tensor!();
                let s = shape_of(&x);
                if s.len() != 3 {
                    self.err(self.rank_error("block_relu", "[C, H, W]", &s, arg_span(0)));
                    return err_expr(span);
                }
                let patch = match next() {
                    Val::Ints(p, pspan) => {
                        if p.len() != 2 || p.iter().any(|&v| v < 1) {
                            self.err(
                                Diagnostic::error(
                                    "E0311",
                                    "a patch is `[ph, pw]` with both at least 1",
                                    pspan,
                                    "invalid patch",
                                )
                                .with_help("e.g. `block_relu(x, [2, 2])`; `[1, 1]` is plain ReLU"),
                            );
                            return err_expr(span);
                        }
                        if p[0] as usize > s[1] || p[1] as usize > s[2] {
                            self.err(
                                Diagnostic::error(
                                    "E0311",
                                    format!(
                                        "patch [{}, {}] is larger than the {}×{} feature map",
                                        p[0], p[1], s[1], s[2]
                                    ),
                                    pspan,
                                    "patch too large",
                                )
                                .with_help(format!("the whole map is `[{}, {}]`", s[1], s[2])),
                            );
                            return err_expr(span);
                        }
                        Some([p[0] as usize, p[1] as usize])
                    }
                    Val::Missing if args.len() < 2 => None,
                    _ => return err_expr(span),
                };
                build(Builtin::BlockRelu(patch), vec![x], s)
            }
            "max" | "sum" | "mean" => {
                let x = tensor!();
                let s = shape_of(&x);
                let axis = match next() {
                    Val::Int(a, aspan) => match self.axis(a, s.len(), aspan, name) {
                        Some(a) => Some(a),
                        None => return err_expr(span),
                    },
                    Val::Missing
                        if !args
                            .iter()
                            .any(|a| matches!(a, ast::Arg::Keyword(k, _) if k.name == "axis"))
                            && args.len() < 2 =>
                    {
                        None
                    }
                    _ => return err_expr(span),
                };
                let out = match axis {
                    Some(a) => [&s[..a], &s[a + 1..]].concat(),
                    None => vec![],
                };
                let op = match name {
                    "max" => Builtin::Max(axis),
                    "sum" => Builtin::Sum(axis),
                    _ => Builtin::Mean(axis),
                };
                build(op, vec![x], out)
            }
            "argmax" => {
                let x = tensor!();
                let s = shape_of(&x);
                if s.len() != 1 {
                    self.err(self.rank_error("argmax", "a vector [N]", &s, arg_span(0)));
                    return err_expr(span);
                }
                build(Builtin::Argmax, vec![x], vec![])
            }
            "softmax" | "flatten" | "transpose" => {
                let x = tensor!();
                let s = shape_of(&x);
                match name {
                    "softmax" => {
                        if s.is_empty() {
                            self.err(self.rank_error(
                                "softmax",
                                "at least one axis",
                                &s,
                                arg_span(0),
                            ));
                            return err_expr(span);
                        }
                        build(Builtin::Softmax, vec![x], s)
                    }
                    "flatten" => {
                        let n = s.iter().product();
                        build(Builtin::Flatten, vec![x], vec![n])
                    }
                    _ => {
                        let r: Shape = s.iter().rev().copied().collect();
                        build(Builtin::Transpose, vec![x], r)
                    }
                }
            }
            "layernorm" => {
                let x = tensor!();
                let g = tensor!();
                let b = tensor!();
                let s = shape_of(&x);
                let Some(&d) = s.last() else {
                    self.err(self.rank_error("layernorm", "at least one axis", &s, arg_span(0)));
                    return err_expr(span);
                };
                for (i, t) in [(1, &g), (2, &b)] {
                    if shape_of(t) != [d] {
                        let which = if i == 1 { "gamma" } else { "beta" };
                        self.err(
                            Diagnostic::error("E0311", format!("`{which}` of `layernorm` must be [{d}], the last axis of x"), arg_span(i), format!("this is {}", shape_str(&shape_of(t))))
                                .with_secondary(arg_span(0), format!("x is {}", shape_str(&s)))
                                .with_help("layernorm normalises over the last axis; gamma and beta have one entry per position of it"),
                        );
                        return err_expr(span);
                    }
                }
                build(Builtin::Layernorm, vec![x, g, b], s)
            }
            "conv2d" => {
                let x = tensor!();
                let w = tensor!();
                let b = tensor!();
                let stride = match next() {
                    Val::Int(v, _) => v,
                    Val::Missing => 1,
                    _ => return err_expr(span),
                };
                let pad = match next() {
                    Val::Int(v, _) => v,
                    Val::Missing => 0,
                    _ => return err_expr(span),
                };
                let (xs, ws, bs) = (shape_of(&x), shape_of(&w), shape_of(&b));
                if xs.len() != 3 {
                    self.err(self.rank_error("conv2d", "x: [C, H, W]", &xs, arg_span(0)));
                    return err_expr(span);
                }
                if ws.len() != 4 {
                    self.err(self.rank_error("conv2d", "w: [O, C, KH, KW]", &ws, arg_span(1)));
                    return err_expr(span);
                }
                if ws[1] != xs[0] {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!(
                                "conv2d: the filter expects {} input channels but x has {}",
                                ws[1], xs[0]
                            ),
                            arg_span(1),
                            format!("this is {}", shape_str(&ws)),
                        )
                        .with_secondary(arg_span(0), format!("x is {}", shape_str(&xs)))
                        .with_help("w is [O, C, KH, KW] with C the channels of x"),
                    );
                    return err_expr(span);
                }
                if bs != [ws[0]] {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!(
                                "conv2d: the bias must be [{}], one per output channel",
                                ws[0]
                            ),
                            arg_span(2),
                            format!("this is {}", shape_str(&bs)),
                        )
                        .with_secondary(arg_span(1), format!("w is {}", shape_str(&ws)))
                        .with_help("b has one entry per output channel O of w: [O, C, KH, KW]"),
                    );
                    return err_expr(span);
                }
                if stride < 1 || pad < 0 {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            "conv2d needs stride ≥ 1 and pad ≥ 0",
                            span,
                            format!("stride = {stride}, pad = {pad}"),
                        )
                        .with_help("the defaults are stride = 1, pad = 0"),
                    );
                    return err_expr(span);
                }
                let (stride, pad) = (stride as usize, pad as usize);
                let padded = |d: usize| {
                    pad.checked_mul(2)
                        .and_then(|p| p.checked_add(d))
                        .filter(|&n| n <= super::tir::MAX_ELEMENTS)
                };
                let (Some(h), Some(wd)) = (padded(xs[1]), padded(xs[2])) else {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!("conv2d: padding {pad} is too large"),
                            span,
                            "padding too large",
                        )
                        .with_help(
                            "padding adds `pad` zeros on each side; keep it below the kernel size",
                        ),
                    );
                    return err_expr(span);
                };
                if ws[2] > h || ws[3] > wd {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!(
                                "conv2d: a {}×{} kernel does not fit a padded {h}×{wd} input",
                                ws[2], ws[3]
                            ),
                            arg_span(1),
                            "kernel too large",
                        )
                        .with_secondary(arg_span(0), format!("x is {}", shape_str(&xs)))
                        .with_help("increase `pad` or use a smaller kernel"),
                    );
                    return err_expr(span);
                }
                let out = vec![ws[0], (h - ws[2]) / stride + 1, (wd - ws[3]) / stride + 1];
                build(Builtin::Conv2d { stride, pad }, vec![x, w, b], out)
            }
            "maxpool2d" | "avgpool2d" => {
                let x = tensor!();
                let Val::Int(k, kspan) = next() else {
                    return err_expr(span);
                };
                let stride = match next() {
                    Val::Int(v, _) => v,
                    Val::Missing => k,
                    _ => return err_expr(span),
                };
                let s = shape_of(&x);
                if s.len() != 3 {
                    self.err(self.rank_error(name, "x: [C, H, W]", &s, arg_span(0)));
                    return err_expr(span);
                }
                if k < 1 || stride < 1 {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!("{name} needs k ≥ 1 and stride ≥ 1"),
                            kspan,
                            "invalid window",
                        )
                        .with_help("e.g. `maxpool2d(x, 2)`"),
                    );
                    return err_expr(span);
                }
                let (k, stride) = (k as usize, stride as usize);
                if k > s[1] || k > s[2] {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!(
                                "{name}: a {k}×{k} window does not fit a {}×{} map",
                                s[1], s[2]
                            ),
                            kspan,
                            "window too large",
                        )
                        .with_secondary(arg_span(0), format!("x is {}", shape_str(&s)))
                        .with_help("pooling has no padding; use a smaller window"),
                    );
                    return err_expr(span);
                }
                let out = vec![s[0], (s[1] - k) / stride + 1, (s[2] - k) / stride + 1];
                let op = if name == "maxpool2d" {
                    Builtin::Maxpool2d { k, stride }
                } else {
                    Builtin::Avgpool2d { k, stride }
                };
                build(op, vec![x], out)
            }
            "reshape" => {
                let x = tensor!();
                let Val::Ints(dims, dspan) = next() else {
                    return err_expr(span);
                };
                let Some(shape) = self.extents(&dims, dspan) else {
                    return err_expr(span);
                };
                let s = shape_of(&x);
                let (n, m): (usize, usize) = (s.iter().product(), shape.iter().product());
                if n != m {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            format!(
                                "cannot reshape {} ({n} elements) to {} ({m} elements)",
                                shape_str(&s),
                                shape_str(&shape)
                            ),
                            dspan,
                            format!("{m} elements"),
                        )
                        .with_secondary(arg_span(0), format!("{n} elements"))
                        .with_help("a reshape keeps the number of elements"),
                    );
                    return err_expr(span);
                }
                build(Builtin::Reshape(shape.clone()), vec![x], shape)
            }
            "concat" => {
                let Val::Tensors(xs) = next() else {
                    return err_expr(span);
                };
                if xs.iter().any(|x| x.ty == Ty::Unknown) {
                    return err_expr(span);
                }
                let axis_val = next();
                if xs.is_empty() {
                    self.err(
                        Diagnostic::error(
                            "E0311",
                            "`concat` of an empty list",
                            arg_span(0),
                            "no tensors",
                        )
                        .with_help("`concat([a, b], axis = 0)`"),
                    );
                    return err_expr(span);
                }
                let s0 = shape_of(&xs[0]);
                let axis = match axis_val {
                    Val::Int(a, aspan) => match self.axis(a, s0.len(), aspan, "concat") {
                        Some(a) => a,
                        None => return err_expr(span),
                    },
                    Val::Missing if s0.is_empty() => {
                        self.err(self.rank_error(
                            "concat",
                            "tensors with at least one axis",
                            &s0,
                            xs[0].span,
                        ));
                        return err_expr(span);
                    }
                    _ => 0,
                };
                let mut out = s0.clone();
                for x in &xs[1..] {
                    let s = shape_of(x);
                    let fits = s.len() == s0.len()
                        && s.iter()
                            .zip(&s0)
                            .enumerate()
                            .all(|(i, (a, b))| i == axis || a == b);
                    if !fits {
                        self.err(
                            Diagnostic::error(
                                "E0311",
                                format!(
                                    "cannot concatenate {} with {} along axis {axis}",
                                    shape_str(&s0),
                                    shape_str(&s)
                                ),
                                x.span,
                                format!("this is {}", shape_str(&s)),
                            )
                            .with_secondary(xs[0].span, format!("this is {}", shape_str(&s0)))
                            .with_help("all extents but the one along `axis` must agree"),
                        );
                        return err_expr(span);
                    }
                    out[axis] += s[axis];
                }
                build(Builtin::Concat(axis), xs, out)
            }
            _ => err_expr(span),
        }
    }

    fn extents(&mut self, dims: &[i64], span: Span) -> Option<Shape> {
        if let Some(bad) = dims.iter().find(|&&d| d < 1) {
            self.err(
                Diagnostic::error(
                    "E0311",
                    format!("a shape extent of {bad}"),
                    span,
                    "extents must be at least 1",
                )
                .with_help("write a shape such as `[4, 8]`"),
            );
            return None;
        }
        let shape: Shape = dims.iter().map(|&d| d as usize).collect();
        if super::tir::numel(&shape).is_none() {
            self.err(super::too_large(&shape, span));
            return None;
        }
        Some(shape)
    }

    fn axis(&mut self, a: i64, rank: usize, span: Span, name: &str) -> Option<usize> {
        let r = rank as i64;
        if rank > 0 && (-r..r).contains(&a) {
            return Some(if a < 0 { (a + r) as usize } else { a as usize });
        }
        self.err(
            Diagnostic::error(
                "E0311",
                format!("axis {a} is out of range for a tensor of rank {rank}"),
                span,
                "invalid axis",
            )
            .with_help(if rank == 0 {
                format!("a scalar has no axes; call `{name}` without `axis`")
            } else {
                format!("axes go from {} to {}", -r, r - 1)
            }),
        );
        None
    }

    fn rank_error(&self, name: &str, expected: &str, got: &[usize], span: Span) -> Diagnostic {
        Diagnostic::error(
            "E0311",
            format!("`{name}` expects {expected}, got {}", shape_str(got)),
            span,
            format!("this is {}", shape_str(got)),
        )
        .with_help(format!("reshape the argument to {expected}"))
    }
}
