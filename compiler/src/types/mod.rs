//! Name resolution inside bodies and shape checking, producing the typed IR ([`tir`]).
//!
//! Functions are checked once generically (names, mutability, statement placement — shapes
//! unknown) and then once per distinct argument shapes at their calls, with every shape variable
//! bound to a number: shape errors inside a function body are reported for the call that causes
//! them. Loop bodies are checked once, not per iteration; indices that depend on loop variables are
//! bounds-checked over every iteration of the enclosing loops. After an error the offending
//! expression gets the type [`Ty::Unknown`], which silences follow-on errors, so independent
//! mistakes are all reported.
//!
//! The checker is one `Checker` whose methods are spread over submodules by category: `items`
//! (the model, function signatures and bodies), `stmt`, `expr`, `static_int` (integers known
//! before execution), `select` (indexing and slicing), `call` (calls to user functions) and
//! `builtins`.

mod builtins;
mod call;
mod expr;
mod items;
pub mod render;
mod select;
mod static_int;
mod stmt;
pub mod tir;

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::resolve::{self, FnRef};
use crate::syntax::ast;
use std::collections::HashMap;
use tir::{Expr, ExprKind, IExpr, LocalId, Shape, Stmt, Ty, shape_str};

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

/// The builtin other frameworks call by another name (no edit distance finds these).
fn synonym(name: &str) -> Option<&'static str> {
    Some(match name {
        "logistic" | "expit" | "Sigmoid" => "sigmoid",
        "Tanh" => "tanh",
        "GELU" | "Gelu" => "gelu",
        "ReLU" | "Relu" => "relu",
        "matmul" | "dot" | "mm" => "@",
        "Softmax" => "softmax",
        "inv" | "recip" => "reciprocal",
        "LayerNorm" | "layer_norm" => "layernorm",
        _ => return None,
    })
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
}
