//! Checking statements: `input`/`param` declarations, `let`, assignment, `for`, `output`,
//! misplaced `return`, and precision attributes.

use super::tir::{self, Expr, IExpr, LocalId, Pin, Shape, Stmt, Ty, shape_str};
use super::{Binding, Checker, Frame, LocalKind, LoopCtx, closest, too_large};
use crate::diag::{Diagnostic, Span};
use crate::resolve::BUILTINS;
use crate::syntax::ast::{self, ExprKind as AK};
use std::collections::HashMap;

impl Checker<'_> {
    pub(super) fn no_attrs(&mut self, attrs: &[ast::Attr]) {
        for a in attrs {
            self.err(
                Diagnostic::error(
                    "E0403",
                    format!("attribute `{}` is not allowed here", a.name.name),
                    a.span,
                    "not allowed on this statement",
                )
                .with_help("precision attributes go on `let`, `param` and `input`"),
            );
        }
    }

    fn pin(&mut self, attrs: &[ast::Attr]) -> Pin {
        let mut pin = Pin::default();
        for a in attrs {
            let slot = match a.name.name.as_str() {
                "bits" => &mut pin.bits,
                "frac" => &mut pin.frac,
                other => {
                    let mut d = Diagnostic::error(
                        "E0401",
                        format!("unknown attribute `{other}`"),
                        a.name.span,
                        "unknown attribute",
                    );
                    d = match closest(other, ["bits", "frac"].into_iter()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help("the attributes are `bits(N)` and `frac(N)`"),
                    };
                    self.err(d);
                    continue;
                }
            };
            let value = match a.args.as_slice() {
                [
                    ast::Expr {
                        kind:
                            AK::Number {
                                value,
                                integer: true,
                            },
                        ..
                    },
                ] => Some(*value),
                _ => None,
            };
            let Some(value) = value else {
                self.err(
                    Diagnostic::error(
                        "E0404",
                        format!("`{}` takes one integer", a.name.name),
                        a.span,
                        "expected one integer argument",
                    )
                    .with_help(format!("write `{}(16)`", a.name.name)),
                );
                continue;
            };
            if slot.is_some() {
                self.err(
                    Diagnostic::error(
                        "E0404",
                        format!("`{}` is given twice", a.name.name),
                        a.span,
                        "given again",
                    )
                    .with_help("keep one"),
                );
                continue;
            }
            let ok = match a.name.name.as_str() {
                "bits" => (2.0..=64.0).contains(&value),
                _ => (0.0..=63.0).contains(&value),
            };
            if !ok {
                let (range, what) = if a.name.name == "bits" {
                    ("2..=64", "bit width")
                } else {
                    ("0..=63", "fraction")
                };
                self.err(
                    Diagnostic::error(
                        "E0402",
                        format!("no protocol supports a {what} of {value}"),
                        a.span,
                        format!("must be in {range}"),
                    )
                    .with_help(format!(
                        "fixed-point tensors have {} in {range}",
                        if a.name.name == "bits" {
                            "bits"
                        } else {
                            "frac"
                        }
                    )),
                );
                continue;
            }
            *slot = Some(value as u32);
        }
        if let (Some(b), Some(fr)) = (pin.bits, pin.frac)
            && fr >= b
            && let Some(a) = attrs.iter().find(|a| a.name.name == "frac")
        {
            self.err(
                Diagnostic::error(
                    "E0402",
                    format!("`frac({fr})` leaves no integer bits in a {b}-bit tensor"),
                    a.span,
                    "too many fraction bits",
                )
                .with_help(format!("use at most frac({})", b - 1)),
            );
        }
        pin
    }

    pub(super) fn block_stmts(
        &mut self,
        f: &mut Frame,
        stmts: &[ast::Stmt],
        model_top: bool,
    ) -> Vec<Stmt> {
        let mut out = Vec::new();
        for s in stmts {
            if let Some(t) = self.stmt(f, s, model_top) {
                out.push(t);
            }
        }
        out
    }

    fn stmt(&mut self, f: &mut Frame, s: &ast::Stmt, model_top: bool) -> Option<Stmt> {
        match &s.kind {
            ast::StmtKind::Input { name, shape } | ast::StmtKind::Param { name, shape } => {
                self.decl_stmt(f, s, name, shape, model_top)
            }
            ast::StmtKind::Let { pattern, value } => self.let_stmt(f, s, pattern, value),
            ast::StmtKind::Assign {
                targets,
                tuple,
                value,
            } => self.assign_stmt(f, s, targets, *tuple, value),
            ast::StmtKind::For { var, lo, hi, body } => self.for_stmt(f, s, var, lo, hi, body),
            ast::StmtKind::Output { name, value } => {
                self.output_stmt(f, s, name.as_ref(), value, model_top)
            }
            ast::StmtKind::Return(e) => self.misplaced_return(f, s, e),
        }
    }

    /// An `input` or `param` declaration (only at the top level of the model): binds the name and
    /// records the declaration; no statement in the typed IR.
    fn decl_stmt(
        &mut self,
        f: &mut Frame,
        s: &ast::Stmt,
        name: &ast::Ident,
        shape: &ast::ShapeAnn,
        model_top: bool,
    ) -> Option<Stmt> {
        let is_input = matches!(s.kind, ast::StmtKind::Input { .. });
        let word = if is_input { "input" } else { "param" };
        let pin = self.pin(&s.attrs);
        if !model_top {
            let where_ = if f.in_fn { "a function" } else { "a loop" };
            self.err(
                Diagnostic::error(
                    "E0207",
                    format!("`{word}` declared inside {where_}"),
                    s.span,
                    format!("`{word}` not allowed here"),
                )
                .with_help(if f.in_fn {
                    format!(
                        "declare the {word} in the model and pass it to the function as an argument"
                    )
                } else {
                    format!("declare every {word} at the top level of the model")
                }),
            );
            return None;
        }
        self.check_shape_ann(shape, false);
        let dims: Option<Shape> = shape
            .dims
            .iter()
            .map(|d| {
                if let ast::DimAnn::Lit(v, _) = d {
                    *v
                } else {
                    None
                }
            })
            .collect();
        let dims = match dims {
            Some(d) if tir::numel(&d).is_none() => {
                self.err(too_large(&d, shape.span));
                None
            }
            d => d,
        };
        if let Some(first) = f.decl_names.get(&name.name) {
            self.err(crate::diag::defined_twice(
                &format!("`{}`", name.name),
                "declared",
                name.span,
                *first,
                "inputs and params each need a distinct name",
            ));
            return None;
        }
        f.decl_names.insert(name.name.clone(), name.span);
        if let Some(d) = dims.as_ref().and_then(|d| d.iter().position(|&x| x == 0)) {
            self.err(
                Diagnostic::error(
                    "E0212",
                    "a shape extent of zero",
                    shape.span,
                    format!("axis {d} is empty"),
                )
                .with_help("every extent is at least 1"),
            );
        }
        let ty = dims.clone().map_or(Ty::Unknown, Ty::Tensor);
        let local = f.bind_local(
            name,
            false,
            ty,
            if is_input {
                LocalKind::Input
            } else {
                LocalKind::Param
            },
        );
        let decl = tir::Decl {
            name: name.name.clone(),
            shape: dims.unwrap_or_default(),
            local,
            pin,
            span: s.span,
        };
        if is_input {
            f.inputs.push(decl)
        } else {
            f.params.push(decl)
        }
        None
    }

    /// `let x = …;` or `let (a, b) = …;`: one new local per name, typed by the value.
    fn let_stmt(
        &mut self,
        f: &mut Frame,
        s: &ast::Stmt,
        pattern: &ast::Pattern,
        value: &ast::Expr,
    ) -> Option<Stmt> {
        let pin = self.pin(&s.attrs);
        let v = self.ret_expr_or_expr(f, value, matches!(pattern, ast::Pattern::Tuple(..)));
        let binders = pattern.binders();
        let tys: Vec<Ty> = match (&v.ty, pattern) {
            (Ty::Unknown, _) => vec![Ty::Unknown; binders.len()],
            (Ty::Tensor(sh), ast::Pattern::Single(_)) => vec![Ty::Tensor(sh.clone())],
            (Ty::Tuple(ss), ast::Pattern::Tuple(bs, _)) if ss.len() == bs.len() => {
                ss.iter().cloned().map(Ty::Tensor).collect()
            }
            (Ty::Tuple(ss), ast::Pattern::Single(b)) => {
                self.err(
                    Diagnostic::error(
                        "E0310",
                        format!("a tuple of {} values bound to one name", ss.len()),
                        b.name.span,
                        "one name",
                    )
                    .with_secondary(v.span, format!("this is {}", &v.ty.to_string()))
                    .with_help(format!(
                        "take it apart: `let ({}) = ...;`",
                        (0..ss.len())
                            .map(|i| format!("v{i}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                vec![Ty::Unknown]
            }
            (t, ast::Pattern::Tuple(bs, pspan)) => {
                let n = if let Ty::Tuple(ss) = t { ss.len() } else { 1 };
                self.err(
                    Diagnostic::error(
                        "E0310",
                        format!(
                            "{} names for {} value{}",
                            bs.len(),
                            n,
                            if n == 1 { "" } else { "s" }
                        ),
                        *pspan,
                        format!("{} names", bs.len()),
                    )
                    .with_secondary(v.span, format!("this is {}", t))
                    .with_help("the pattern must have one name per tuple element"),
                );
                vec![Ty::Unknown; bs.len()]
            }
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut locals = Vec::new();
        for (b, ty) in binders.iter().zip(tys) {
            if let Some(first) = seen.insert(&b.name.name, b.name.span) {
                self.err(crate::diag::defined_twice(
                    &format!("`{}`", b.name.name),
                    "bound",
                    b.name.span,
                    first,
                    "a pattern binds each name once; use distinct names",
                ));
            }
            locals.push(f.bind_local(&b.name, b.mutable, ty, LocalKind::Let));
        }
        Some(Stmt::Let {
            locals,
            value: v,
            pin,
            span: s.span,
        })
    }

    /// `x = …;` or `(h, c) = …;`: each target mutable and keeping its shape.
    fn assign_stmt(
        &mut self,
        f: &mut Frame,
        s: &ast::Stmt,
        targets: &[ast::Ident],
        tuple: bool,
        value: &ast::Expr,
    ) -> Option<Stmt> {
        self.no_attrs(&s.attrs);
        let v = self.ret_expr_or_expr(f, value, tuple);
        let mut locals = Vec::new();
        let expected: Vec<Option<Ty>> = match (&v.ty, tuple) {
            (Ty::Unknown, _) => vec![None; targets.len()],
            (Ty::Tuple(ss), true) if ss.len() == targets.len() => {
                ss.iter().cloned().map(|s| Some(Ty::Tensor(s))).collect()
            }
            (t @ Ty::Tensor(_), false) => vec![Some(t.clone())],
            (t, _) => {
                self.err(
                    Diagnostic::error(
                        "E0310",
                        format!(
                            "cannot assign {} to {} name{}",
                            t,
                            targets.len(),
                            if targets.len() == 1 { "" } else { "s" }
                        ),
                        v.span,
                        format!("this is {}", t),
                    )
                    .with_help(
                        "assign a tuple to a parenthesised list of names, `(h, c) = f(...);`",
                    ),
                );
                vec![None; targets.len()]
            }
        };
        for (t, exp) in targets.iter().zip(expected) {
            let Some(id) = self.assign_target(f, t) else {
                continue;
            };
            let info = &f.locals[id as usize];
            if let (Some(exp), Ty::Tensor(have)) = (&exp, &info.ty)
                && exp != &Ty::Tensor(have.clone())
            {
                let d = Diagnostic::error(
                    "E0308",
                    format!(
                        "cannot assign {} to `{}` of shape {}",
                        exp,
                        t.name,
                        shape_str(have)
                    ),
                    v.span,
                    format!("this is {}", exp),
                )
                .with_secondary(
                    info.span,
                    format!("`{}` is {} from here", t.name, shape_str(have)),
                )
                .with_help("an assignment keeps the variable's shape");
                self.err(d);
            }
            locals.push(id);
        }
        Some(Stmt::Assign {
            locals,
            value: v,
            span: s.span,
        })
    }

    /// `for v in lo..hi { … }`: static bounds, the body checked once with `v` bound.
    fn for_stmt(
        &mut self,
        f: &mut Frame,
        s: &ast::Stmt,
        var: &ast::Ident,
        lo: &ast::Expr,
        hi: &ast::Expr,
        body: &ast::Block,
    ) -> Option<Stmt> {
        self.no_attrs(&s.attrs);
        let lo_i = self.static_int(f, lo, "a loop bound");
        let hi_i = self.static_int(f, hi, "a loop bound");
        if let (Some(a), Some(b)) = (
            lo_i.as_ref().and_then(IExpr::constant),
            hi_i.as_ref().and_then(IExpr::constant),
        ) && a >= b
        {
            self.err(
                Diagnostic::warning(
                    "W0002",
                    format!("this loop never runs: {a}..{b} is empty"),
                    lo.span.to(hi.span),
                    "empty range",
                )
                .with_help("ranges are half-open: `0..3` runs 0, 1, 2"),
            );
        }
        let id = f.num_loops;
        f.num_loops += 1;
        f.loop_names.push(var.name.clone());
        f.loops.push(LoopCtx {
            id,
            lo: lo_i.clone(),
            hi: hi_i.clone(),
        });
        f.scopes
            .push(HashMap::from([(var.name.clone(), Binding::Loop(id))]));
        let stmts = self.block_stmts(f, &body.stmts, false);
        f.scopes.pop();
        f.loops.pop();
        Some(Stmt::For {
            var: id,
            lo: lo_i.unwrap_or(IExpr::Lit(0)),
            hi: hi_i.unwrap_or(IExpr::Lit(0)),
            body: stmts,
            span: s.span,
        })
    }

    /// `output [name =] …;` (only at the top level of the model).
    fn output_stmt(
        &mut self,
        f: &mut Frame,
        s: &ast::Stmt,
        name: Option<&ast::Ident>,
        value: &ast::Expr,
        model_top: bool,
    ) -> Option<Stmt> {
        self.no_attrs(&s.attrs);
        if f.in_fn || !model_top {
            let (label, help) = if f.in_fn {
                (
                    "`output` in a function",
                    "return the value and `output` it in the model",
                )
            } else {
                (
                    "`output` inside a loop",
                    "outputs are revealed once each; compute the value in the loop and output it after",
                )
            };
            self.err(
                Diagnostic::error(
                    "E0208",
                    format!("{label} is not allowed"),
                    s.span,
                    "not allowed here",
                )
                .with_help(help),
            );
            self.expr(f, value);
            return None;
        }
        let v = self.tensor_expr(f, value);
        let index = f.outputs.len();
        let oname = match name {
            Some(n) => {
                if let Some(first) = f.output_names.get(&n.name) {
                    self.err(crate::diag::defined_twice(
                        &format!("output `{}`", n.name),
                        "named",
                        n.span,
                        *first,
                        "each named output needs a distinct name",
                    ));
                }
                f.output_names.insert(n.name.clone(), n.span);
                n.name.clone()
            }
            None => format!("out{index}"),
        };
        f.outputs.push(tir::OutputInfo {
            name: oname,
            shape: v.ty.shape().cloned().unwrap_or_default(),
            span: s.span,
        });
        Some(Stmt::Output { index, value: v })
    }

    /// A `return` anywhere but at the end of a function body: reported, its value still checked.
    fn misplaced_return(&mut self, f: &mut Frame, s: &ast::Stmt, e: &ast::Expr) -> Option<Stmt> {
        self.no_attrs(&s.attrs);
        let msg = if f.in_fn {
            "`return` must be the last statement of the function"
        } else {
            "`return` outside a function"
        };
        let help = if f.in_fn {
            "move it to the end of the function body (a `return` inside a loop is not allowed)"
        } else {
            "a model reveals results with `output expr;`"
        };
        self.err(Diagnostic::error("E0209", msg, s.span, "not allowed here").with_help(help));
        self.ret_expr(f, e);
        None
    }

    fn ret_expr_or_expr(&mut self, f: &mut Frame, e: &ast::Expr, tuple_ok: bool) -> Expr {
        if tuple_ok {
            self.ret_expr(f, e)
        } else {
            self.expr(f, e)
        }
    }

    fn assign_target(&mut self, f: &mut Frame, t: &ast::Ident) -> Option<LocalId> {
        match f.lookup(&t.name) {
            None => {
                self.undefined(f, t);
                None
            }
            Some(Binding::Loop(_)) => {
                self.err(
                    Diagnostic::error(
                        "E0205",
                        format!("cannot assign to loop variable `{}`", t.name),
                        t.span,
                        "loop variables are fixed per iteration",
                    )
                    .with_help("bind a new name with `let` instead"),
                );
                None
            }
            Some(Binding::Local(id)) => {
                let info = &mut f.locals[id as usize];
                if !info.mutable {
                    let what = match info.kind {
                        LocalKind::Input => "input",
                        LocalKind::Param => "param",
                        LocalKind::FnParam => "function parameter",
                        LocalKind::Let => "immutable binding",
                    };
                    let d = Diagnostic::error(
                        "E0205",
                        format!("cannot assign twice to {what} `{}`", t.name),
                        t.span,
                        "assigned here",
                    )
                    .with_secondary(info.span, "defined here")
                    .with_help(if info.kind == LocalKind::Let {
                        format!("declare it with `let mut {}` to allow assignment", t.name)
                    } else {
                        format!(
                            "copy it into a mutable binding first: `let mut {0}2 = {0};`",
                            t.name
                        )
                    });
                    self.err(d);
                    return None;
                }
                info.assigned = true;
                Some(id)
            }
        }
    }

    pub(super) fn undefined(&mut self, f: &Frame, name: &ast::Ident) {
        let mut cands: Vec<&str> = f
            .scopes
            .iter()
            .flat_map(|s| s.keys().map(String::as_str))
            .collect();
        cands.extend(f.shape_vars.keys().map(String::as_str));
        let mut d = Diagnostic::error(
            "E0201",
            format!("cannot find `{}` in this scope", name.name),
            name.span,
            "not found",
        );
        if let Some(c) = closest(&name.name, cands.into_iter()) {
            d = d.with_help(format!("did you mean `{c}`?"));
        } else if self.prog.scopes[f.module].contains_key(&name.name)
            || BUILTINS.contains(&name.name.as_str())
        {
            d = d.with_help(format!(
                "`{0}` is a function; call it: `{0}(...)`",
                name.name
            ));
        } else {
            d = d.with_help(
                "names are bound by `let`, `input`, `param`, function parameters and `for`",
            );
        }
        self.err(d);
    }
}
