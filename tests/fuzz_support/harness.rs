//! The frontend fuzzing oracle, shared by `tests/fuzz_frontend.rs` (proptest) and
//! `fuzz/fuzz_targets/frontend.rs` (libFuzzer, included with `#[path]`).
//!
//! `run(src)` checks `src` as the main file with an in-memory file system holding `x.sir` and
//! `y.sir` (which use each other), renders every diagnostic, and — when the program checked —
//! runs the float interpreter on inputs and params filled with 0.5, unless its estimated work is
//! too large. Any panic inside is a bug; so is an interpreter `Internal` or `OutOfBounds` error
//! (the checker promised shapes and bounds).

#![allow(dead_code)]

use sir_compiler::eval::interp::{self, EvalError};
use sir_compiler::types::tir::{self, Builtin, ExprKind, Stmt, Ty};
use sir_runtime::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Directory the main file is in (it does not exist on disk, so nothing is read from disk).
pub const DIR: &str = "/sir-fuzz-virtual";

pub const X_SIR: &str = include_str!("x.sir");
pub const Y_SIR: &str = include_str!("y.sir");

/// The valid seed programs: this directory's seeds, the examples and the standard library.
pub const SEEDS: &[(&str, &str)] = &[
    ("builtins", include_str!("seeds/builtins.sir")),
    ("control", include_str!("seeds/control.sir")),
    ("rnn", include_str!("seeds/rnn.sir")),
    ("cnn", include_str!("seeds/cnn.sir")),
    (
        "fastgrnn_g30",
        include_str!("../../examples/fastgrnn_g30/model.sir"),
    ),
    ("std_cnn", include_str!("../../stdlib/cnn.sir")),
    ("std_nn", include_str!("../../stdlib/nn.sir")),
    ("std_rnn", include_str!("../../stdlib/rnn.sir")),
];

/// Seeds that must check without errors (the stdlib files have no `model`).
pub const VALID_SEEDS: &[&str] = &["builtins", "control", "rnn", "cnn", "fastgrnn_g30"];

pub fn vfs() -> HashMap<PathBuf, String> {
    let mut fs = HashMap::new();
    fs.insert(Path::new(DIR).join("x.sir"), X_SIR.to_string());
    fs.insert(Path::new(DIR).join("y.sir"), Y_SIR.to_string());
    fs
}

/// What happened to one input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub errors: usize,
    pub checked: bool,
    pub evaluated: bool,
}

/// Limits for the interpreter run: elements per input/param, and estimated element operations.
const MAX_ELEMS: u64 = 1_000_000;
const MAX_WORK: u64 = 4_000_000;

pub fn run(src: &str) -> Outcome {
    run_with(src, &vfs())
}

pub fn run_with(src: &str, fs: &HashMap<PathBuf, String>) -> Outcome {
    let checked = sir_compiler::check_source("main.sir", src.to_string(), Path::new(DIR), fs);
    let mut out = Outcome::default();
    for d in &checked.diagnostics {
        let _ = d.render(&checked.sources);
        out.errors += usize::from(d.is_error());
    }
    let Some(prog) = &checked.program else {
        return out;
    };
    out.checked = true;
    let Some(inputs) = tensors(&prog.model.inputs) else {
        return out;
    };
    let Some(params) = tensors(&prog.model.params) else {
        return out;
    };
    if estimate(prog).is_none() {
        return out;
    }
    out.evaluated = true;
    match interp::run(prog, &inputs, &params) {
        Ok(outs) => {
            assert_eq!(
                outs.len(),
                prog.model.outputs.len(),
                "interpreter produced a different number of outputs"
            );
            for (t, o) in outs.iter().zip(&prog.model.outputs) {
                assert_eq!(
                    t.shape(),
                    &o.shape[..],
                    "output `{}` has a shape other than the checked one",
                    o.name
                );
            }
        }
        Err(e @ (EvalError::Internal { .. } | EvalError::OutOfBounds { .. })) => {
            panic!(
                "checked program failed in the interpreter: {e} at {:?}",
                e.span()
            )
        }
        Err(EvalError::Overflow { .. }) => {}
    }
    out
}

fn tensors(decls: &[tir::Decl]) -> Option<Vec<Arc<Tensor>>> {
    decls
        .iter()
        .map(|d| {
            (numel(&d.shape)? <= MAX_ELEMS).then(|| Arc::new(Tensor::full(d.shape.clone(), 0.5)))
        })
        .collect()
}

fn numel(s: &[usize]) -> Option<u64> {
    s.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64))
}

fn ty_numel(t: &Ty) -> Option<u64> {
    match t {
        Ty::Tensor(s) => numel(s),
        Ty::Tuple(ss) => ss.iter().try_fold(0u64, |a, s| a.checked_add(numel(s)?)),
        Ty::Unknown => Some(0),
    }
}

/// Walks the program as the interpreter would (loops included) and adds up a rough count of
/// element operations; `None` when it exceeds `MAX_WORK` or cannot be estimated.
fn estimate(prog: &tir::Program) -> Option<u64> {
    let mut c = Cost {
        prog,
        work: 0,
        depth: 0,
    };
    let mut loops = vec![0i64; prog.model.body.num_loops as usize];
    c.stmts(&prog.model.body.stmts, &mut loops)?;
    Some(c.work)
}

struct Cost<'p> {
    prog: &'p tir::Program,
    work: u64,
    depth: u32,
}

impl Cost<'_> {
    fn charge(&mut self, n: u64) -> Option<()> {
        self.work = self.work.checked_add(n.max(1))?;
        (self.work <= MAX_WORK).then_some(())
    }

    fn stmts(&mut self, stmts: &[Stmt], loops: &mut Vec<i64>) -> Option<()> {
        for s in stmts {
            match s {
                Stmt::Let { value, .. } | Stmt::Assign { value, .. } => self.expr(value, loops)?,
                Stmt::Output { value, .. } => self.expr(value, loops)?,
                Stmt::For {
                    var, lo, hi, body, ..
                } => {
                    let (lo, hi) = (lo.eval(loops)?, hi.eval(loops)?);
                    let mut i = lo;
                    while i < hi {
                        *loops.get_mut(*var as usize)? = i;
                        self.charge(1)?;
                        self.stmts(body, loops)?;
                        i += 1;
                    }
                }
            }
        }
        Some(())
    }

    // Loop values do not change an expression's cost; they are threaded through for calls.
    #[allow(clippy::only_used_in_recursion)]
    fn expr(&mut self, e: &tir::Expr, loops: &mut Vec<i64>) -> Option<()> {
        self.charge(ty_numel(&e.ty)?)?;
        match &e.kind {
            ExprKind::Const(_) | ExprKind::Int(_) | ExprKind::Local(_) | ExprKind::Error => {}
            ExprKind::Neg(a) => self.expr(a, loops)?,
            ExprKind::Binary(op, a, b) => {
                self.expr(a, loops)?;
                self.expr(b, loops)?;
                if *op == sir_compiler::syntax::ast::BinOp::MatMul {
                    let k = a.ty.shape().and_then(|s| s.last().copied()).unwrap_or(1) as u64;
                    self.charge(ty_numel(&e.ty)?.checked_mul(k)?)?;
                }
            }
            ExprKind::Call { func, args } => {
                for a in args {
                    self.expr(a, loops)?;
                }
                self.depth += 1;
                if self.depth > 64 {
                    return None;
                }
                let f = self.prog.fns.get(*func as usize)?;
                let mut inner = vec![0i64; f.body.num_loops as usize];
                self.stmts(&f.body.stmts, &mut inner)?;
                self.expr(&f.ret, &mut inner)?;
                self.depth -= 1;
            }
            ExprKind::Builtin { op, args } => {
                let mut arg_work = 0u64;
                for a in args {
                    self.expr(a, loops)?;
                    arg_work = arg_work.checked_add(ty_numel(&a.ty)?)?;
                }
                let out = ty_numel(&e.ty)?;
                let extra = match op {
                    Builtin::Conv2d { .. } => {
                        let w = args.get(1)?.ty.shape()?;
                        out.checked_mul(numel(w)? / (*w.first()? as u64).max(1))?
                    }
                    Builtin::Maxpool2d { k, .. } | Builtin::Avgpool2d { k, .. } => {
                        out.checked_mul((*k as u64).checked_mul(*k as u64)?)?
                    }
                    Builtin::Poly(cs) => arg_work.checked_mul(cs.len() as u64 + 1)?,
                    _ => arg_work,
                };
                self.charge(extra)?;
            }
            ExprKind::Select { base, .. } => self.expr(base, loops)?,
            ExprKind::Tuple(xs) => {
                for x in xs {
                    self.expr(x, loops)?;
                }
            }
        }
        Some(())
    }
}
