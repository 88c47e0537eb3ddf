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
        "relu" | "sigmoid" | "tanh" | "gelu" | "exp" | "rsqrt" | "sqrt" | "reciprocal"
        | "poly_relu" | "argmax" | "softmax" | "flatten" | "transpose" => {
            const { &[p("x", Tensor)] }
        }
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

/// A builtin call's checked arguments as its shape rule consumes them, in parameter order.
struct RuleArgs<'a> {
    vals: std::vec::IntoIter<Val>,
    /// The whole call.
    span: Span,
    args: &'a [ast::Arg],
}

impl RuleArgs<'_> {
    fn next(&mut self) -> Val {
        self.vals.next().unwrap_or(Val::Missing)
    }

    /// The next argument as a tensor; `None` for an unknown operand (an error already
    /// reported, or a generic function body): the rule stops there.
    fn tensor(&mut self) -> Option<Expr> {
        match self.next() {
            Val::Tensor(e) if e.ty != Ty::Unknown => Some(e),
            _ => None,
        }
    }

    /// Where argument `i` was written (the whole call when it was not).
    fn arg_span(&self, i: usize) -> Span {
        self.args.get(i).map_or(self.span, ast::Arg::span)
    }

    fn build(&self, op: Builtin, args: Vec<Expr>, shape: Shape) -> Expr {
        Expr {
            kind: ExprKind::Builtin { op, args },
            ty: Ty::Tensor(shape),
            span: self.span,
        }
    }
}

fn shape_of(e: &Expr) -> Shape {
    e.ty.shape().cloned().unwrap_or_default()
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
        let (slots, ok) = self.bind_args(name, sig, &usage, args, span);
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

    /// Each parameter's argument (positional, then by keyword), and whether the arguments were
    /// well formed (each problem reported).
    fn bind_args<'e>(
        &mut self,
        name: &str,
        sig: &[Param],
        usage: &str,
        args: &'e [ast::Arg],
        span: Span,
    ) -> (Vec<Option<&'e ast::Expr>>, bool) {
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
        (slots, ok)
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

    /// The builtin's shape rule on its checked arguments: the typed call, or an error
    /// expression (reported, or after an unknown operand).
    fn builtin_rule(&mut self, name: &str, vals: Vec<Val>, span: Span, args: &[ast::Arg]) -> Expr {
        let mut call = RuleArgs {
            vals: vals.into_iter(),
            span,
            args,
        };
        let e = match name {
            "zeros" | "ones" => self.rule_fill(name, &mut call),
            "relu" | "sigmoid" | "tanh" | "gelu" | "exp" | "rsqrt" | "sqrt" | "reciprocal"
            | "poly_relu" => self.rule_elementwise(name, &mut call),
            "poly" => self.rule_poly(&mut call),
            "block_relu" => self.rule_block_relu(&mut call),
            "max" | "sum" | "mean" => self.rule_reduce(name, &mut call),
            "argmax" => self.rule_argmax(&mut call),
            "softmax" | "flatten" | "transpose" => self.rule_whole(name, &mut call),
            "layernorm" => self.rule_layernorm(&mut call),
            "conv2d" => self.rule_conv2d(&mut call),
            "maxpool2d" | "avgpool2d" => self.rule_pool(name, &mut call),
            "reshape" => self.rule_reshape(&mut call),
            "concat" => self.rule_concat(&mut call),
            _ => None,
        };
        e.unwrap_or_else(|| err_expr(span))
    }

    /// `zeros(shape)` and `ones(shape)`.
    fn rule_fill(&mut self, name: &str, call: &mut RuleArgs) -> Option<Expr> {
        let Val::Ints(dims, dspan) = call.next() else {
            return None;
        };
        let shape = self.extents(&dims, dspan)?;
        let op = if name == "zeros" {
            Builtin::Zeros(shape.clone())
        } else {
            Builtin::Ones(shape.clone())
        };
        Some(call.build(op, vec![], shape))
    }

    /// The elementwise functions of one tensor: the shape is kept.
    fn rule_elementwise(&mut self, name: &str, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let op = match name {
            "relu" => Builtin::Relu,
            "sigmoid" => Builtin::Sigmoid,
            "tanh" => Builtin::Tanh,
            "gelu" => Builtin::Gelu,
            "exp" => Builtin::Exp,
            "rsqrt" => Builtin::Rsqrt,
            "sqrt" => Builtin::Sqrt,
            "reciprocal" => Builtin::Reciprocal,
            _ => Builtin::PolyRelu,
        };
        let s = shape_of(&x);
        Some(call.build(op, vec![x], s))
    }

    /// `poly(x, coeffs)`: at least one coefficient.
    fn rule_poly(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let Val::Nums(c) = call.next() else {
            return None;
        };
        if c.is_empty() {
            self.err(
                Diagnostic::error(
                    "E0311",
                    "`poly` needs at least one coefficient",
                    call.arg_span(1),
                    "empty list",
                )
                .with_help("`poly(x, [c0, c1, ..., cd])`"),
            );
            return None;
        }
        let s = shape_of(&x);
        Some(call.build(Builtin::Poly(c), vec![x], s))
    }

    /// `block_relu(x[, patch])` on [C, H, W]: the patch within the map.
    fn rule_block_relu(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let s = shape_of(&x);
        if s.len() != 3 {
            self.err(self.rank_error("block_relu", "[C, H, W]", &s, call.arg_span(0)));
            return None;
        }
        let patch = match call.next() {
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
                    return None;
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
                    return None;
                }
                Some([p[0] as usize, p[1] as usize])
            }
            Val::Missing if call.args.len() < 2 => None,
            _ => return None,
        };
        Some(call.build(Builtin::BlockRelu(patch), vec![x], s))
    }

    /// `max`/`sum`/`mean(x[, axis])`: over one axis, or over all to a scalar.
    fn rule_reduce(&mut self, name: &str, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let s = shape_of(&x);
        let axis = match call.next() {
            Val::Int(a, aspan) => Some(self.axis(a, s.len(), aspan, name)?),
            Val::Missing
                if !call
                    .args
                    .iter()
                    .any(|a| matches!(a, ast::Arg::Keyword(k, _) if k.name == "axis"))
                    && call.args.len() < 2 =>
            {
                None
            }
            _ => return None,
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
        Some(call.build(op, vec![x], out))
    }

    /// `argmax(x)` of a vector.
    fn rule_argmax(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let s = shape_of(&x);
        if s.len() != 1 {
            self.err(self.rank_error("argmax", "a vector [N]", &s, call.arg_span(0)));
            return None;
        }
        Some(call.build(Builtin::Argmax, vec![x], vec![]))
    }

    /// `softmax`, `flatten` and `transpose` of the whole tensor.
    fn rule_whole(&mut self, name: &str, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let s = shape_of(&x);
        match name {
            "softmax" => {
                if s.is_empty() {
                    self.err(self.rank_error("softmax", "at least one axis", &s, call.arg_span(0)));
                    return None;
                }
                Some(call.build(Builtin::Softmax, vec![x], s))
            }
            "flatten" => {
                let n = s.iter().product();
                Some(call.build(Builtin::Flatten, vec![x], vec![n]))
            }
            _ => {
                let r: Shape = s.iter().rev().copied().collect();
                Some(call.build(Builtin::Transpose, vec![x], r))
            }
        }
    }

    /// `layernorm(x, gamma, beta)` over the last axis.
    fn rule_layernorm(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let g = call.tensor()?;
        let b = call.tensor()?;
        let s = shape_of(&x);
        let Some(&d) = s.last() else {
            self.err(self.rank_error("layernorm", "at least one axis", &s, call.arg_span(0)));
            return None;
        };
        for (i, t) in [(1, &g), (2, &b)] {
            if shape_of(t) != [d] {
                let which = if i == 1 { "gamma" } else { "beta" };
                self.err(
                    Diagnostic::error("E0311", format!("`{which}` of `layernorm` must be [{d}], the last axis of x"), call.arg_span(i), format!("this is {}", shape_str(&shape_of(t))))
                        .with_secondary(call.arg_span(0), format!("x is {}", shape_str(&s)))
                        .with_help("layernorm normalises over the last axis; gamma and beta have one entry per position of it"),
                );
                return None;
            }
        }
        Some(call.build(Builtin::Layernorm, vec![x, g, b], s))
    }

    /// `conv2d(x, w, b[, stride, pad])`: channels, bias, padding and kernel fit.
    fn rule_conv2d(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let w = call.tensor()?;
        let b = call.tensor()?;
        let stride = match call.next() {
            Val::Int(v, _) => v,
            Val::Missing => 1,
            _ => return None,
        };
        let pad = match call.next() {
            Val::Int(v, _) => v,
            Val::Missing => 0,
            _ => return None,
        };
        let (xs, ws, bs) = (shape_of(&x), shape_of(&w), shape_of(&b));
        if xs.len() != 3 {
            self.err(self.rank_error("conv2d", "x: [C, H, W]", &xs, call.arg_span(0)));
            return None;
        }
        if ws.len() != 4 {
            self.err(self.rank_error("conv2d", "w: [O, C, KH, KW]", &ws, call.arg_span(1)));
            return None;
        }
        if ws[1] != xs[0] {
            self.err(
                Diagnostic::error(
                    "E0311",
                    format!(
                        "conv2d: the filter expects {} input channels but x has {}",
                        ws[1], xs[0]
                    ),
                    call.arg_span(1),
                    format!("this is {}", shape_str(&ws)),
                )
                .with_secondary(call.arg_span(0), format!("x is {}", shape_str(&xs)))
                .with_help("w is [O, C, KH, KW] with C the channels of x"),
            );
            return None;
        }
        if bs != [ws[0]] {
            self.err(
                Diagnostic::error(
                    "E0311",
                    format!(
                        "conv2d: the bias must be [{}], one per output channel",
                        ws[0]
                    ),
                    call.arg_span(2),
                    format!("this is {}", shape_str(&bs)),
                )
                .with_secondary(call.arg_span(1), format!("w is {}", shape_str(&ws)))
                .with_help("b has one entry per output channel O of w: [O, C, KH, KW]"),
            );
            return None;
        }
        if stride < 1 || pad < 0 {
            self.err(
                Diagnostic::error(
                    "E0311",
                    "conv2d needs stride ≥ 1 and pad ≥ 0",
                    call.span,
                    format!("stride = {stride}, pad = {pad}"),
                )
                .with_help("the defaults are stride = 1, pad = 0"),
            );
            return None;
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
                    call.span,
                    "padding too large",
                )
                .with_help("padding adds `pad` zeros on each side; keep it below the kernel size"),
            );
            return None;
        };
        if ws[2] > h || ws[3] > wd {
            self.err(
                Diagnostic::error(
                    "E0311",
                    format!(
                        "conv2d: a {}×{} kernel does not fit a padded {h}×{wd} input",
                        ws[2], ws[3]
                    ),
                    call.arg_span(1),
                    "kernel too large",
                )
                .with_secondary(call.arg_span(0), format!("x is {}", shape_str(&xs)))
                .with_help("increase `pad` or use a smaller kernel"),
            );
            return None;
        }
        let out = vec![ws[0], (h - ws[2]) / stride + 1, (wd - ws[3]) / stride + 1];
        Some(call.build(Builtin::Conv2d { stride, pad }, vec![x, w, b], out))
    }

    /// `maxpool2d`/`avgpool2d(x, k[, stride])`: the window fits the map.
    fn rule_pool(&mut self, name: &str, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let Val::Int(k, kspan) = call.next() else {
            return None;
        };
        let stride = match call.next() {
            Val::Int(v, _) => v,
            Val::Missing => k,
            _ => return None,
        };
        let s = shape_of(&x);
        if s.len() != 3 {
            self.err(self.rank_error(name, "x: [C, H, W]", &s, call.arg_span(0)));
            return None;
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
            return None;
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
                .with_secondary(call.arg_span(0), format!("x is {}", shape_str(&s)))
                .with_help("pooling has no padding; use a smaller window"),
            );
            return None;
        }
        let out = vec![s[0], (s[1] - k) / stride + 1, (s[2] - k) / stride + 1];
        let op = if name == "maxpool2d" {
            Builtin::Maxpool2d { k, stride }
        } else {
            Builtin::Avgpool2d { k, stride }
        };
        Some(call.build(op, vec![x], out))
    }

    /// `reshape(x, shape)` keeps the number of elements.
    fn rule_reshape(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let x = call.tensor()?;
        let Val::Ints(dims, dspan) = call.next() else {
            return None;
        };
        let shape = self.extents(&dims, dspan)?;
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
                .with_secondary(call.arg_span(0), format!("{n} elements"))
                .with_help("a reshape keeps the number of elements"),
            );
            return None;
        }
        Some(call.build(Builtin::Reshape(shape.clone()), vec![x], shape))
    }

    /// `concat([a, b, ...][, axis])`: all extents but the axis agree.
    fn rule_concat(&mut self, call: &mut RuleArgs) -> Option<Expr> {
        let Val::Tensors(xs) = call.next() else {
            return None;
        };
        if xs.iter().any(|x| x.ty == Ty::Unknown) {
            return None;
        }
        let axis_val = call.next();
        if xs.is_empty() {
            self.err(
                Diagnostic::error(
                    "E0311",
                    "`concat` of an empty list",
                    call.arg_span(0),
                    "no tensors",
                )
                .with_help("`concat([a, b], axis = 0)`"),
            );
            return None;
        }
        let s0 = shape_of(&xs[0]);
        let axis = match axis_val {
            Val::Int(a, aspan) => self.axis(a, s0.len(), aspan, "concat")?,
            Val::Missing if s0.is_empty() => {
                self.err(self.rank_error(
                    "concat",
                    "tensors with at least one axis",
                    &s0,
                    xs[0].span,
                ));
                return None;
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
                return None;
            }
            out[axis] += s[axis];
        }
        Some(call.build(Builtin::Concat(axis), xs, out))
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
