//! Checking calls to user functions: arguments against the parameters' shapes (shape variables
//! unified), and one instance per distinct argument shapes.

use super::tir::{self, Expr, ExprKind, Shape, Ty, shape_str};
use super::{Checker, Frame, LocalKind, err_expr};
use crate::diag::{Diagnostic, Span};
use crate::resolve::FnRef;
use crate::syntax::ast;
use std::collections::HashMap;

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
            return err_expr(span);
        }
        if vals.iter().any(|v| v.ty == Ty::Unknown) {
            return err_expr(span);
        }
        // Unify the argument shapes with the parameters' declared shapes.
        let mut bound: HashMap<&str, (usize, Span)> = HashMap::new();
        let mut ok = true;
        for (p, v) in def.params.iter().zip(&vals) {
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
                    v.span,
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
                        && *at != v.span
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
                self.err(d.with_help("a shape variable takes one value per call"));
            }
        }
        if !ok {
            return err_expr(span);
        }
        let key = (
            r,
            vals.iter()
                .filter_map(|v| v.ty.shape().cloned())
                .collect::<Vec<_>>(),
        );
        let id = match self.memo.get(&key) {
            Some(&id) => id,
            None => {
                if self.stack.contains(&r) {
                    self.err(
                        Diagnostic::error("E0214", format!("recursive call to `{}`", callee.name), span, "recursion")
                            .with_secondary(def.name.span, "in this function")
                            .with_help("functions are inlined at compile time, so they cannot call themselves; unroll with a `for` loop"),
                    );
                    return err_expr(span);
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
                id
            }
        };
        // The call has the signature's result type; a body that disagrees was reported there.
        let mut sig = Frame::new(r.module, true);
        for (k, (v, _)) in &bound {
            sig.shape_vars.insert(k.to_string(), Some(*v));
        }
        let ty = match &def.ret {
            ast::RetType::Single(s) => self.resolve_ann(&sig, s).map_or(Ty::Unknown, Ty::Tensor),
            ast::RetType::Tuple(ss, _) => ss
                .iter()
                .map(|s| self.resolve_ann(&sig, s))
                .collect::<Option<Vec<_>>>()
                .map_or(Ty::Unknown, Ty::Tuple),
        };
        Expr {
            kind: ExprKind::Call {
                func: id,
                args: vals,
            },
            ty,
            span,
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
