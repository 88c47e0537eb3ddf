//! Checking calls to user functions: arguments against the parameters' shapes (shape variables
//! unified), and one instance per distinct argument shapes.

use super::tir::{self, Expr, ExprKind, Shape, Ty, shape_str};
use super::{Checker, Frame, LocalKind, err_expr};
use crate::diag::{Diagnostic, Span};
use crate::resolve::FnRef;
use crate::syntax::ast;
use std::collections::HashMap;

/// The shape variables a call binds: each one's value and the argument that bound it.
type Bound<'d> = HashMap<&'d str, (usize, Span)>;

impl Checker<'_> {
    pub(super) fn call_fn(
        &mut self,
        f: &mut Frame,
        r: FnRef,
        callee: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Expr {
        let def = self.prog.fn_def(r);
        let Some(vals) = self.call_args(f, def, callee, args, span) else {
            return err_expr(span);
        };
        if vals.iter().any(|v| v.ty == Ty::Unknown) {
            return err_expr(span);
        }
        let Some(bound) = self.unify_params(def, callee, &vals) else {
            return err_expr(span);
        };
        let Some(id) = self.instance(r, callee, &bound, &vals, span) else {
            return err_expr(span);
        };
        let ty = self.call_result(r, &bound);
        Expr {
            kind: ExprKind::Call {
                func: id,
                args: vals,
            },
            ty,
            span,
        }
    }

    /// The positional arguments, checked; `None` after a keyword argument or a wrong count.
    fn call_args(
        &mut self,
        f: &mut Frame,
        def: &ast::FnDef,
        callee: &ast::Ident,
        args: &[ast::Arg],
        span: Span,
    ) -> Option<Vec<Expr>> {
        let mut vals = Vec::new();
        for a in args {
            match a {
                ast::Arg::Keyword(k, e) => {
                    self.err(
                        Diagnostic::error("E0210", format!("keyword argument `{}` in a call to function `{}`", k.name, callee.name), k.span, "keyword argument")
                            .with_secondary(def.name.span, "defined here")
                            .with_help("keyword arguments are for builtins; pass function arguments by position"),
                    );
                    self.expr(f, e);
                }
                ast::Arg::Positional(e) => vals.push(self.tensor_expr(f, e)),
            }
        }
        if vals.len() != def.params.len() || args.len() != vals.len() {
            if args.len() == vals.len() {
                self.err(
                    Diagnostic::error(
                        "E0211",
                        format!(
                            "`{}` takes {} argument{} but {} were given",
                            callee.name,
                            def.params.len(),
                            if def.params.len() == 1 { "" } else { "s" },
                            vals.len()
                        ),
                        span,
                        format!("{} arguments", vals.len()),
                    )
                    .with_secondary(def.name.span, format!("`{}` defined here", callee.name))
                    .with_help(format!(
                        "the parameters are ({})",
                        def.params
                            .iter()
                            .map(|p| p.name.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            return None;
        }
        Some(vals)
    }

    /// Unifies the argument shapes with the parameters' declared shapes: each shape variable's
    /// value and the argument that bound it, or `None` after a mismatch (each reported).
    fn unify_params<'d>(
        &mut self,
        def: &'d ast::FnDef,
        callee: &ast::Ident,
        vals: &[Expr],
    ) -> Option<Bound<'d>> {
        let mut bound = Bound::new();
        let mut ok = true;
        for (p, v) in def.params.iter().zip(vals) {
            let Some(have) = v.ty.shape() else { continue };
            let mut fail = have.len() != p.shape.dims.len();
            if !fail {
                for (d, &h) in p.shape.dims.iter().zip(have) {
                    match d {
                        ast::DimAnn::Lit(Some(n), _) if *n != h => fail = true,
                        ast::DimAnn::Var(var) => match bound.get(var.name.as_str()) {
                            Some((n, _)) if *n != h => fail = true,
                            Some(_) => {}
                            None => {
                                bound.insert(&var.name, (h, v.span));
                            }
                        },
                        _ => {}
                    }
                }
            }
            if fail {
                ok = false;
                let d = self.param_mismatch(p, callee, have, v.span, &bound);
                self.err(d);
            }
        }
        ok.then_some(bound)
    }

    /// E0303: the argument at `arg` (of shape `have`) does not fit parameter `p` with the shape
    /// variables bound so far.
    fn param_mismatch(
        &self,
        p: &ast::FnParam,
        callee: &ast::Ident,
        have: &[usize],
        arg: Span,
        bound: &Bound,
    ) -> Diagnostic {
        let expected: Vec<String> = p
            .shape
            .dims
            .iter()
            .map(|d| match d {
                ast::DimAnn::Lit(n, _) => n.map_or("?".into(), |n| n.to_string()),
                ast::DimAnn::Var(var) => bound
                    .get(var.name.as_str())
                    .map_or(var.name.clone(), |(n, _)| n.to_string()),
            })
            .collect();
        let written = self.prog.sources.snippet(p.shape.span).to_string();
        let mut d = Diagnostic::error(
            "E0303",
            format!(
                "argument `{}` of `{}` has shape {}, expected {}",
                p.name.name,
                callee.name,
                shape_str(have),
                written
            ),
            arg,
            format!("this is {}", shape_str(have)),
        );
        let expected = format!("[{}]", expected.join(", "));
        if expected != written {
            d = d.with_note(format!(
                "with the shape variables bound so far, {written} is {expected}"
            ));
        }
        let mut vars_seen = Vec::new();
        for dim in &p.shape.dims {
            if let ast::DimAnn::Var(var) = dim
                && let Some((n, at)) = bound.get(var.name.as_str())
                && *at != arg
                && !vars_seen.contains(&var.name)
            {
                vars_seen.push(var.name.clone());
                d = d.with_secondary(*at, format!("{} = {n} bound here", var.name));
            }
        }
        d = d.with_secondary(
            p.shape.span,
            format!("parameter `{}` declared here", p.name.name),
        );
        d.with_help("a shape variable takes one value per call")
    }

    /// The instance of `r` for these argument shapes, checked on first use; `None` for a
    /// recursive call (reported).
    fn instance(
        &mut self,
        r: FnRef,
        callee: &ast::Ident,
        bound: &Bound,
        vals: &[Expr],
        span: Span,
    ) -> Option<tir::FnInstId> {
        let def = self.prog.fn_def(r);
        let key = (
            r,
            vals.iter()
                .filter_map(|v| v.ty.shape().cloned())
                .collect::<Vec<_>>(),
        );
        if let Some(&id) = self.memo.get(&key) {
            return Some(id);
        }
        if self.stack.contains(&r) {
            self.err(
                        Diagnostic::error("E0214", format!("recursive call to `{}`", callee.name), span, "recursion")
                            .with_secondary(def.name.span, "in this function")
                            .with_help("functions are inlined at compile time, so they cannot call themselves; unroll with a `for` loop"),
                    );
            return None;
        }
        let mut vars: Vec<(String, usize)> = bound
            .iter()
            .map(|(k, (v, _))| (k.to_string(), *v))
            .collect();
        vars.sort();
        self.stack.push(r);
        let inst = self.instantiate(r, vars, key.1.clone());
        self.stack.pop();
        let id = self.instances.len() as tir::FnInstId;
        self.instances.push(inst);
        self.memo.insert(key, id);
        Some(id)
    }

    /// The call's type: the signature's result type with the bound shape variables (a body that
    /// disagrees was reported there).
    fn call_result(&self, r: FnRef, bound: &Bound) -> Ty {
        let def = self.prog.fn_def(r);
        let mut sig = Frame::new(r.module, true);
        for (k, (v, _)) in bound {
            sig.shape_vars.insert(k.to_string(), Some(*v));
        }
        match &def.ret {
            ast::RetType::Single(s) => self.resolve_ann(&sig, s).map_or(Ty::Unknown, Ty::Tensor),
            ast::RetType::Tuple(ss, _) => ss
                .iter()
                .map(|s| self.resolve_ann(&sig, s))
                .collect::<Option<Vec<_>>>()
                .map_or(Ty::Unknown, Ty::Tuple),
        }
    }

    pub(super) fn instantiate(
        &mut self,
        r: FnRef,
        vars: Vec<(String, usize)>,
        shapes: Vec<Shape>,
    ) -> tir::FnInstance {
        let def = self.prog.fn_def(r);
        let mut f = Frame::new(r.module, true);
        for (k, v) in &vars {
            f.shape_vars.insert(k.clone(), Some(*v));
        }
        let params = def
            .params
            .iter()
            .zip(&shapes)
            .map(|(p, s)| f.bind_local(&p.name, false, Ty::Tensor(s.clone()), LocalKind::FnParam))
            .collect();
        let (stmts, ret) = self.fn_body(&mut f, def);
        tir::FnInstance {
            name: def.name.name.clone(),
            shape_vars: vars,
            params,
            param_shapes: shapes,
            body: f.body(stmts),
            ret,
            span: def.span,
        }
    }
}
