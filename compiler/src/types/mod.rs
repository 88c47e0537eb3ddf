//! Name resolution inside bodies and shape checking, producing the typed IR ([`tir`]).
//!
//! Functions are checked once generically (names, mutability, statement placement — shapes
//! unknown) and then once per distinct argument shapes at their calls, with every shape variable
//! bound to a number: shape errors inside a function body are reported for the call that causes
//! them. Loop bodies are checked once, not per iteration; indices that depend on loop variables are
//! bounds-checked over every iteration of the enclosing loops. After an error the offending
//! expression gets the type [`Ty::Unknown`], which silences follow-on errors, so independent
//! mistakes are all reported.

mod builtins;
pub mod render;
pub mod tir;

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::resolve::{self, BUILTINS, FnRef};
use crate::syntax::ast::{self, BinOp, ExprKind as AK};
use std::collections::HashMap;
use tir::{Expr, ExprKind, IExpr, LocalId, Pin, Sel, Shape, Stmt, Ty, shape_str};

/// Checks the program's model and everything it calls. Returns the typed program when there were
/// no errors (warnings may have been pushed).
pub fn check(prog: &resolve::Program, diags: &mut Diagnostics) -> Option<tir::Program> {
    let mut c = Checker {
        prog,
        diags,
        instances: Vec::new(),
        memo: HashMap::new(),
        stack: Vec::new(),
    };
    for (m, module) in prog.modules.iter().enumerate() {
        for (i, item) in module.items.iter().enumerate() {
            if let ast::Item::Fn(_) = item {
                c.check_fn_generic(FnRef { module: m, item: i });
            }
        }
    }
    let model = prog.model().map(|md| c.check_model(md));
    if c.diags.has_errors() {
        return None;
    }
    let fns = c.instances;
    model.map(|model| tir::Program { model, fns })
}

/// Checks every function of every module without a model (for `sir check` of a library file
/// and for rendering the standard library): each function is instantiated with its shape
/// variables bound to distinct small extents (2, 3, 4, … in order of appearance). Returns each
/// function's instance and the table of all instances (callees included).
pub fn check_library(
    prog: &resolve::Program,
    diags: &mut Diagnostics,
) -> (Vec<(FnRef, tir::FnInstance)>, Vec<tir::FnInstance>) {
    let mut c = Checker {
        prog,
        diags,
        instances: Vec::new(),
        memo: HashMap::new(),
        stack: Vec::new(),
    };
    let mut out = Vec::new();
    for (m, module) in prog.modules.iter().enumerate() {
        for (i, item) in module.items.iter().enumerate() {
            let ast::Item::Fn(def) = item else { continue };
            let r = FnRef { module: m, item: i };
            c.check_fn_generic(r);
            let mut vars: Vec<(String, usize)> = Vec::new();
            let mut shapes = Vec::new();
            for p in &def.params {
                let mut shape = Vec::new();
                for d in &p.shape.dims {
                    shape.push(match d {
                        ast::DimAnn::Lit(v, _) => v.unwrap_or(1),
                        ast::DimAnn::Var(v) => match vars.iter().find(|(n, _)| *n == v.name) {
                            Some((_, x)) => *x,
                            None => {
                                let x = vars.len() + 2;
                                vars.push((v.name.clone(), x));
                                x
                            }
                        },
                    });
                }
                shapes.push(shape);
            }
            vars.sort();
            c.stack.push(r);
            let inst = c.instantiate(r, vars, shapes);
            c.stack.pop();
            out.push((r, inst));
        }
    }
    (out, c.instances)
}

struct Checker<'p> {
    prog: &'p resolve::Program,
    diags: &'p mut Diagnostics,
    instances: Vec<tir::FnInstance>,
    memo: HashMap<(FnRef, Vec<Shape>), tir::FnInstId>,
    stack: Vec<FnRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocalKind {
    Let,
    FnParam,
    Input,
    Param,
}

struct LocalInfo {
    name: String,
    span: Span,
    mutable: bool,
    ty: Ty,
    used: bool,
    assigned: bool,
    kind: LocalKind,
}

#[derive(Clone, Copy)]
enum Binding {
    Local(LocalId),
    Loop(tir::LoopId),
}

struct LoopCtx {
    id: tir::LoopId,
    lo: Option<IExpr>,
    hi: Option<IExpr>,
}

/// The state of one body being checked: a model, a function instance, or a generic function.
struct Frame {
    module: usize,
    in_fn: bool,
    /// Name of each loop variable, by `LoopId`.
    loop_names: Vec<String>,
    scopes: Vec<HashMap<String, Binding>>,
    locals: Vec<LocalInfo>,
    loops: Vec<LoopCtx>,
    num_loops: u32,
    /// Shape variable → (value, where it was bound); value `None` in generic frames.
    shape_vars: HashMap<String, Option<usize>>,
    outputs: Vec<tir::OutputInfo>,
    output_names: HashMap<String, Span>,
    decl_names: HashMap<String, Span>,
    inputs: Vec<tir::Decl>,
    params: Vec<tir::Decl>,
}

impl Frame {
    fn new(module: usize, in_fn: bool) -> Frame {
        Frame {
            module,
            in_fn,
            loop_names: Vec::new(),
            scopes: vec![HashMap::new()],
            locals: Vec::new(),
            loops: Vec::new(),
            num_loops: 0,
            shape_vars: HashMap::new(),
            outputs: Vec::new(),
            output_names: HashMap::new(),
            decl_names: HashMap::new(),
            inputs: Vec::new(),
            params: Vec::new(),
        }
    }

    fn bind_local(&mut self, name: &ast::Ident, mutable: bool, ty: Ty, kind: LocalKind) -> LocalId {
        let id = self.locals.len() as LocalId;
        self.locals.push(LocalInfo {
            name: name.name.clone(),
            span: name.span,
            mutable,
            ty,
            used: false,
            assigned: false,
            kind,
        });
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.name.clone(), Binding::Local(id));
        }
        id
    }

    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn body(&self, stmts: Vec<Stmt>) -> tir::Body {
        tir::Body {
            stmts,
            num_locals: self.locals.len() as u32,
            num_loops: self.num_loops,
            local_names: self.locals.iter().map(|l| l.name.clone()).collect(),
            loop_names: self.loop_names.clone(),
        }
    }

    /// Every assignment of the enclosing loops' variables, or `None` when a bound is unknown or
    /// there are too many to visit.
    fn for_each_iteration(&self, mut visit: impl FnMut(&[i64])) -> Option<()> {
        const BUDGET: u64 = 4_000_000;
        let mut env = vec![0i64; self.num_loops as usize];
        let mut budget = BUDGET;
        fn rec(
            loops: &[LoopCtx],
            env: &mut Vec<i64>,
            budget: &mut u64,
            visit: &mut dyn FnMut(&[i64]),
        ) -> Option<()> {
            let Some((first, rest)) = loops.split_first() else {
                *budget = budget.checked_sub(1)?;
                visit(env);
                return Some(());
            };
            let lo = first.lo.as_ref()?.eval(env)?;
            let hi = first.hi.as_ref()?.eval(env)?;
            for v in lo..hi {
                env[first.id as usize] = v;
                rec(rest, env, budget, visit)?;
            }
            Some(())
        }
        rec(&self.loops, &mut env, &mut budget, &mut visit)
    }
}

/// Edit distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != name)
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

fn is_shape_var_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn too_large(s: &[usize], span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0315",
        format!(
            "a tensor of shape {} has more than 2^32 elements",
            shape_str(s)
        ),
        span,
        "too large",
    )
    .with_help("sir handles tensors of up to 2^32 elements")
}

fn err_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Error,
        ty: Ty::Unknown,
        span,
    }
}

impl<'p> Checker<'p> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // ---------------------------------------------------------------- items

    fn check_model(&mut self, md: &ast::ModelDef) -> tir::Model {
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
    fn check_fn_generic(&mut self, r: FnRef) -> tir::FnInstance {
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
    fn check_shape_ann(&mut self, s: &ast::ShapeAnn, vars_allowed: bool) {
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
    fn fn_body(&mut self, f: &mut Frame, def: &ast::FnDef) -> (Vec<Stmt>, Expr) {
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

    fn ret_expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
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
    fn resolve_ann(&self, f: &Frame, s: &ast::ShapeAnn) -> Option<Shape> {
        s.dims
            .iter()
            .map(|d| match d {
                ast::DimAnn::Lit(v, _) => *v,
                ast::DimAnn::Var(v) => f.shape_vars.get(&v.name).copied().flatten(),
            })
            .collect()
    }

    // ---------------------------------------------------------------- statements

    fn no_attrs(&mut self, attrs: &[ast::Attr]) {
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

    fn block_stmts(&mut self, f: &mut Frame, stmts: &[ast::Stmt], model_top: bool) -> Vec<Stmt> {
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
                let is_input = matches!(s.kind, ast::StmtKind::Input { .. });
                let word = if is_input { "input" } else { "param" };
                let pin = self.pin(&s.attrs);
                if !model_top {
                    let where_ = if f.in_fn { "a function" } else { "a loop" };
                    self.err(
                        Diagnostic::error("E0207", format!("`{word}` declared inside {where_}"), s.span, format!("`{word}` not allowed here"))
                            .with_help(if f.in_fn {
                                format!("declare the {word} in the model and pass it to the function as an argument")
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
            ast::StmtKind::Let { pattern, value } => {
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
            ast::StmtKind::Assign {
                targets,
                tuple,
                value,
            } => {
                self.no_attrs(&s.attrs);
                let v = self.ret_expr_or_expr(f, value, *tuple);
                let mut locals = Vec::new();
                let expected: Vec<Option<Ty>> = match (&v.ty, *tuple) {
                    (Ty::Unknown, _) => vec![None; targets.len()],
                    (Ty::Tuple(ss), true) if ss.len() == targets.len() => {
                        ss.iter().cloned().map(|s| Some(Ty::Tensor(s))).collect()
                    }
                    (t @ Ty::Tensor(_), false) => vec![Some(t.clone())],
                    (t, _) => {
                        self.err(
                            Diagnostic::error("E0310", format!("cannot assign {} to {} name{}", t, targets.len(), if targets.len() == 1 { "" } else { "s" }), v.span, format!("this is {}", t))
                                .with_help("assign a tuple to a parenthesised list of names, `(h, c) = f(...);`"),
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
            ast::StmtKind::For { var, lo, hi, body } => {
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
            ast::StmtKind::Output { name, value } => {
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
            ast::StmtKind::Return(e) => {
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
                self.err(
                    Diagnostic::error("E0209", msg, s.span, "not allowed here").with_help(help),
                );
                self.ret_expr(f, e);
                None
            }
        }
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

    fn undefined(&mut self, f: &Frame, name: &ast::Ident) {
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

    // ---------------------------------------------------------------- static integers

    /// An integer known before execution: literals, loop variables, shape variables, `+ - *`.
    /// `None` after an error (reported) or when a shape variable is not known (generic frames).
    fn static_int(&mut self, f: &mut Frame, e: &ast::Expr, what: &str) -> Option<IExpr> {
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
    fn const_int(&mut self, f: &mut Frame, e: &ast::Expr, what: &str) -> Option<i64> {
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

    // ---------------------------------------------------------------- expressions

    /// An expression that must be a tensor (not a tuple).
    fn tensor_expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
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

    fn expr(&mut self, f: &mut Frame, e: &ast::Expr) -> Expr {
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
            AK::Name(n) => match f.lookup(&n.name) {
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
            },
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
                    d = match closest(&callee.name, cands.into_iter()) {
                        Some(c) => d.with_help(format!("did you mean `{c}`?")),
                        None => d.with_help("functions come from this file, `use std::MODULE;` or `use \"file.sir\";`"),
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
                    crate::eval::kernels::matmul_shape(s, t)
                } else {
                    crate::eval::kernels::broadcast_shapes(s, t)
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

    fn select(
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
            match it {
                ast::IndexItem::Full(_) => {
                    sels.push(Sel::Full);
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
                        ok &= self.bounds(f, &i, 0, d as i64 - 1, e.span, axis, d, base.span);
                    }
                    sels.push(Sel::Index(i));
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
                    match self.slice_len(f, &lo_i, &hi_i, d, *rspan, axis, base.span) {
                        Some(len) => out_shape.push(len),
                        None => ok = false,
                    }
                    sels.push(Sel::Range(lo_i, hi_i));
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

    /// Checks `min ≤ i ≤ max` in every iteration of the enclosing loops.
    #[allow(clippy::too_many_arguments)]
    fn bounds(
        &mut self,
        f: &Frame,
        i: &IExpr,
        min: i64,
        max: i64,
        span: Span,
        axis: usize,
        dim: usize,
        base: Span,
    ) -> bool {
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

    /// The length of `lo..hi` on an axis of extent `dim`, the same in every iteration.
    #[allow(clippy::too_many_arguments)]
    fn slice_len(
        &mut self,
        f: &Frame,
        lo: &IExpr,
        hi: &IExpr,
        dim: usize,
        span: Span,
        axis: usize,
        base: Span,
    ) -> Option<usize> {
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

    // ---------------------------------------------------------------- calls

    fn call_fn(
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

    fn instantiate(
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
