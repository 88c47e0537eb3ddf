//! Checking items: the model body, a function's signature and body (generically and per
//! instance), its `return`, and the warnings for unused bindings.

use super::tir::{self, Expr, ExprKind, Shape, Stmt, Ty};
use super::{Checker, Frame, LocalKind, err_expr, is_shape_var_name};
use crate::diag::{Diagnostic, Span};
use crate::resolve::FnRef;
use crate::syntax::ast::{self, ExprKind as AK};
use std::collections::HashMap;

impl Checker<'_> {
    pub(super) fn check_model(&mut self, md: &ast::ModelDef) -> tir::Model {
        let mut f = Frame::new(self.prog.main, false);
        let stmts = self.block_stmts(&mut f, &md.body.stmts, true);
        self.warn_unused(&f);
        tir::Model {
            name: md.name.name.clone(),
            body: f.body(stmts),
            inputs: std::mem::take(&mut f.inputs),
            params: std::mem::take(&mut f.params),
            outputs: std::mem::take(&mut f.outputs),
            span: md.span,
        }
    }

    fn warn_unused(&mut self, f: &Frame) {
        if self.prog.is_std.get(f.module).copied().unwrap_or(false) {
            return;
        }
        for l in &f.locals {
            if l.name.starts_with('_') {
                continue;
            }
            if !l.used {
                let what = match l.kind {
                    LocalKind::Let => "variable",
                    LocalKind::FnParam => "parameter",
                    LocalKind::Input => "input",
                    LocalKind::Param => "param",
                };
                self.err(
                    Diagnostic::warning(
                        "W0001",
                        format!("{what} `{}` is never used", l.name),
                        l.span,
                        "never used",
                    )
                    .with_help(format!(
                        "remove it, or name it `_{}` to silence this warning",
                        l.name
                    )),
                );
            } else if l.mutable && !l.assigned {
                self.err(
                    Diagnostic::warning(
                        "W0003",
                        format!("`{}` is declared `mut` but never assigned", l.name),
                        l.span,
                        "never reassigned",
                    )
                    .with_help("remove `mut`"),
                );
            }
        }
    }

    /// Checks a function's signature and body without knowing its argument shapes.
    pub(super) fn check_fn_generic(&mut self, r: FnRef) -> tir::FnInstance {
        let def = self.prog.fn_def(r);
        let mut f = Frame::new(r.module, true);
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut param_vars: HashMap<&str, Span> = HashMap::new();
        let mut params = Vec::new();
        for p in &def.params {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                self.err(crate::diag::defined_twice(
                    &format!("parameter `{}`", p.name.name),
                    "declared",
                    p.name.span,
                    *first,
                    "give each parameter its own name",
                ));
            }
            seen.insert(&p.name.name, p.name.span);
            self.check_shape_ann(&p.shape, true);
            for d in &p.shape.dims {
                if let ast::DimAnn::Var(v) = d {
                    param_vars.entry(&v.name).or_insert(v.span);
                    f.shape_vars.insert(v.name.clone(), None);
                }
            }
            params.push(f.bind_local(&p.name, false, Ty::Unknown, LocalKind::FnParam));
        }
        let ret_shapes: Vec<&ast::ShapeAnn> = match &def.ret {
            ast::RetType::Single(s) => vec![s],
            ast::RetType::Tuple(ss, _) => ss.iter().collect(),
        };
        for s in ret_shapes {
            self.check_shape_ann(s, true);
            for d in &s.dims {
                if let ast::DimAnn::Var(v) = d
                    && is_shape_var_name(&v.name)
                    && !param_vars.contains_key(v.name.as_str())
                {
                    self.err(
                        Diagnostic::error("E0213", format!("shape variable `{}` of the return type is not bound by any parameter", v.name), v.span, "unbound shape variable")
                            .with_secondary(def.name.span, "in this function")
                            .with_help("every shape variable of the result must appear in a parameter's shape"),
                    );
                }
            }
        }
        let (stmts, ret) = self.fn_body(&mut f, def);
        self.warn_unused(&f);
        tir::FnInstance {
            name: def.name.name.clone(),
            shape_vars: Vec::new(),
            params,
            param_shapes: Vec::new(),
            body: f.body(stmts),
            ret,
            span: def.span,
        }
    }

    /// Reports dimensions that are neither integers nor upper-case shape variables (or any
    /// variable where `vars_allowed` is false).
    pub(super) fn check_shape_ann(&mut self, s: &ast::ShapeAnn, vars_allowed: bool) {
        for d in &s.dims {
            let ast::DimAnn::Var(v) = d else { continue };
            if !vars_allowed {
                self.err(
                    Diagnostic::error("E0212", format!("shape variable `{}` outside a function signature", v.name), v.span, "must be an integer here")
                        .with_help("inputs and params have fixed shapes such as `[99, 32]`; shape variables belong in `fn` signatures"),
                );
            } else if !is_shape_var_name(&v.name) {
                self.err(
                    Diagnostic::error(
                        "E0212",
                        format!("`{}` is not a shape variable", v.name),
                        v.span,
                        "expected an integer or an upper-case name",
                    )
                    .with_help(format!(
                        "shape variables are upper-case, e.g. `{}`",
                        v.name.to_ascii_uppercase()
                    )),
                );
            }
        }
    }

    /// The statements before the final `return`, and the returned expression.
    pub(super) fn fn_body(&mut self, f: &mut Frame, def: &ast::FnDef) -> (Vec<Stmt>, Expr) {
        let stmts = &def.body.stmts;
        let (init, last) = match stmts.split_last() {
            Some((last, init)) if matches!(last.kind, ast::StmtKind::Return(_)) => {
                (init, Some(last))
            }
            _ => (&stmts[..], None),
        };
        let out = self.block_stmts(f, init, false);
        let ret = match last {
            Some(ast::Stmt {
                kind: ast::StmtKind::Return(e),
                attrs,
                ..
            }) => {
                self.no_attrs(attrs);
                let value = self.ret_expr(f, e);
                self.check_return(f, def, &value);
                value
            }
            _ => {
                let end = Span::new(
                    def.body.span.file,
                    def.body.span.end as usize - 1,
                    def.body.span.end as usize,
                );
                self.err(
                    Diagnostic::error(
                        "E0209",
                        format!("function `{}` does not end with `return`", def.name.name),
                        end,
                        "expected `return EXPR;` before this `}`",
                    )
                    .with_secondary(def.ret.span(), "the function returns this")
                    .with_help("the last statement of a function is `return expr;`"),
                );
                err_expr(def.body.span)
            }
        };
        (out, ret)
    }

    pub(super) fn ret_expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
        if let AK::Tuple(items) = &e.kind {
            let items: Vec<Expr> = items.iter().map(|i| self.tensor_expr(f, i)).collect();
            let ty = if items.iter().all(|i| i.ty.shape().is_some()) {
                Ty::Tuple(items.iter().filter_map(|i| i.ty.shape().cloned()).collect())
            } else {
                Ty::Unknown
            };
            return Expr {
                kind: ExprKind::Tuple(items),
                ty,
                span: e.span,
            };
        }
        self.expr(f, e)
    }

    fn check_return(&mut self, f: &Frame, def: &ast::FnDef, value: &Expr) {
        let declared: Vec<&ast::ShapeAnn> = match &def.ret {
            ast::RetType::Single(s) => vec![s],
            ast::RetType::Tuple(ss, _) => ss.iter().collect(),
        };
        let Some(expected): Option<Vec<Shape>> =
            declared.iter().map(|s| self.resolve_ann(f, s)).collect()
        else {
            return;
        };
        let expected_ty = match &def.ret {
            ast::RetType::Single(_) => Ty::Tensor(expected[0].clone()),
            ast::RetType::Tuple(..) => Ty::Tuple(expected),
        };
        if value.ty != Ty::Unknown && value.ty != expected_ty {
            self.err(
                Diagnostic::error(
                    "E0309",
                    "returned value does not match the declared result",
                    value.span,
                    format!("this is {}", &value.ty.to_string()),
                )
                .with_secondary(
                    def.ret.span(),
                    format!("declared as {}", &expected_ty.to_string()),
                )
                .with_help("return a value of the declared shape, or change the signature"),
            );
        }
    }

    /// A written shape with this frame's shape variables substituted; `None` if any is unknown.
    pub(super) fn resolve_ann(&self, f: &Frame, s: &ast::ShapeAnn) -> Option<Shape> {
        s.dims
            .iter()
            .map(|d| match d {
                ast::DimAnn::Lit(v, _) => *v,
                ast::DimAnn::Var(v) => f.shape_vars.get(&v.name).copied().flatten(),
            })
            .collect()
    }
}
