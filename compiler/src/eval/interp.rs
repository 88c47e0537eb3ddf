//! The float (f64) reference interpreter: walks the typed IR for one sample. Loops run as
//! written; each function instance runs in its own frame. Values are shared (`Arc`) so reading a
//! weight inside a 99-step loop does not copy it.

use super::kernels as k;
use crate::diag::Span;
use crate::types::tir::{self, Expr, ExprKind, IExpr, Stmt, Subscript};
use sir_runtime::Tensor;
use sir_runtime::plan;
use std::sync::Arc;

/// Why an evaluation stopped. The checker rules these out for every program it accepts except
/// where a loop nest was too large to check every iteration.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("index {index} is out of bounds for an axis of extent {extent}")]
    OutOfBounds {
        index: i64,
        extent: usize,
        span: Span,
    },
    #[error("integer overflow in an index or loop bound")]
    Overflow { span: Span },
    #[error("internal: {what}")]
    Internal { what: &'static str, span: Span },
}

impl EvalError {
    pub fn span(&self) -> Span {
        match self {
            EvalError::OutOfBounds { span, .. }
            | EvalError::Overflow { span }
            | EvalError::Internal { span, .. } => *span,
        }
    }
}

#[derive(Clone)]
enum Value {
    Tensor(Arc<Tensor>),
    Tuple(Vec<Arc<Tensor>>),
}

struct Frame {
    locals: Vec<Option<Arc<Tensor>>>,
    loops: Vec<i64>,
}

impl Frame {
    fn new(body: &tir::Body) -> Frame {
        Frame {
            locals: vec![None; body.num_locals as usize],
            loops: vec![0; body.num_loops as usize],
        }
    }
}

/// Evaluates the model on one sample: `inputs` and `params` in declaration order, shapes as
/// declared. Returns the outputs in order.
pub fn run(
    prog: &tir::Program,
    inputs: &[Arc<Tensor>],
    params: &[Arc<Tensor>],
) -> Result<Vec<Tensor>, EvalError> {
    let m = &prog.model;
    let mut f = Frame::new(&m.body);
    for (d, v) in m
        .inputs
        .iter()
        .zip(inputs)
        .chain(m.params.iter().zip(params))
    {
        f.locals[d.local as usize] = Some(v.clone());
    }
    let mut outputs: Vec<Option<Tensor>> = vec![None; m.outputs.len()];
    let it = Interp { prog };
    it.stmts(&mut f, &m.body.stmts, &mut outputs)?;
    outputs
        .into_iter()
        .map(|o| {
            o.ok_or(EvalError::Internal {
                what: "an output was not produced",
                span: m.span,
            })
        })
        .collect()
}

struct Interp<'p> {
    prog: &'p tir::Program,
}

impl Interp<'_> {
    fn stmts(
        &self,
        f: &mut Frame,
        stmts: &[Stmt],
        outputs: &mut [Option<Tensor>],
    ) -> Result<(), EvalError> {
        for s in stmts {
            match s {
                Stmt::Let { locals, value, .. } | Stmt::Assign { locals, value, .. } => {
                    match self.expr(f, value)? {
                        Value::Tensor(t) => {
                            if let Some(&l) = locals.first() {
                                f.locals[l as usize] = Some(t);
                            }
                        }
                        Value::Tuple(ts) => {
                            for (&l, t) in locals.iter().zip(ts) {
                                f.locals[l as usize] = Some(t);
                            }
                        }
                    }
                }
                Stmt::For {
                    var,
                    lo,
                    hi,
                    body,
                    span,
                } => {
                    let lo = lo
                        .eval(&f.loops)
                        .ok_or(EvalError::Overflow { span: *span })?;
                    let hi = hi
                        .eval(&f.loops)
                        .ok_or(EvalError::Overflow { span: *span })?;
                    for i in lo..hi {
                        f.loops[*var as usize] = i;
                        self.stmts(f, body, outputs)?;
                    }
                }
                Stmt::Output { index, value } => {
                    let t = self.tensor(f, value)?;
                    if let Some(slot) = outputs.get_mut(*index) {
                        *slot = Some(Arc::unwrap_or_clone(t));
                    }
                }
            }
        }
        Ok(())
    }

    fn tensor(&self, f: &mut Frame, e: &Expr) -> Result<Arc<Tensor>, EvalError> {
        match self.expr(f, e)? {
            Value::Tensor(t) => Ok(t),
            Value::Tuple(_) => Err(EvalError::Internal {
                what: "a tuple where a tensor was expected",
                span: e.span,
            }),
        }
    }

    fn int(&self, f: &Frame, i: &IExpr, span: Span) -> Result<i64, EvalError> {
        i.eval(&f.loops).ok_or(EvalError::Overflow { span })
    }

    fn expr(&self, f: &mut Frame, e: &Expr) -> Result<Value, EvalError> {
        let t = |x: Tensor| Ok(Value::Tensor(Arc::new(x)));
        match &e.kind {
            ExprKind::Const(v) => t(Tensor::scalar(*v)),
            ExprKind::Int(i) => t(Tensor::scalar(self.int(f, i, e.span)? as f64)),
            ExprKind::Local(l) => {
                f.locals[*l as usize]
                    .clone()
                    .map(Value::Tensor)
                    .ok_or(EvalError::Internal {
                        what: "a local read before it was bound",
                        span: e.span,
                    })
            }
            ExprKind::Neg(a) => {
                let a = self.tensor(f, a)?;
                t(k::neg(&a))
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.tensor(f, a)?;
                let b = self.tensor(f, b)?;
                t(k::binary(*op, &a, &b))
            }
            ExprKind::Call { func, args } => {
                let inst = self
                    .prog
                    .fns
                    .get(*func as usize)
                    .ok_or(EvalError::Internal {
                        what: "a call to a missing function",
                        span: e.span,
                    })?;
                let mut callee = Frame::new(&inst.body);
                for (p, a) in inst.params.iter().zip(args) {
                    callee.locals[*p as usize] = Some(self.tensor(f, a)?);
                }
                let mut no_outputs: [Option<Tensor>; 0] = [];
                self.stmts(&mut callee, &inst.body.stmts, &mut no_outputs)?;
                self.expr(&mut callee, &inst.ret)
            }
            ExprKind::Tuple(items) => Ok(Value::Tuple(
                items
                    .iter()
                    .map(|i| self.tensor(f, i))
                    .collect::<Result<_, _>>()?,
            )),
            ExprKind::Select { base, sels } => {
                let b = self.tensor(f, base)?;
                let ks = resolve_sels(sels, b.shape(), &f.loops).map_err(|err| match err {
                    SelError::OutOfBounds { index, extent } => EvalError::OutOfBounds {
                        index,
                        extent,
                        span: e.span,
                    },
                    SelError::Overflow => EvalError::Overflow { span: e.span },
                    SelError::Axes => EvalError::Internal {
                        what: "a selection on more axes than its operand has",
                        span: e.span,
                    },
                })?;
                t(k::select(&b, &ks))
            }
            ExprKind::Builtin { op, args } => {
                let vals: Vec<Arc<Tensor>> = args
                    .iter()
                    .map(|a| self.tensor(f, a))
                    .collect::<Result<_, _>>()?;
                let refs: Vec<&Tensor> = vals.iter().map(|v| &**v).collect();
                k::builtin(op, &refs)
                    .map(|v| Value::Tensor(Arc::new(v)))
                    .ok_or(EvalError::Internal {
                        what: "a builtin without its operands",
                        span: e.span,
                    })
            }
            ExprKind::Error => Err(EvalError::Internal {
                what: "an expression that did not check",
                span: e.span,
            }),
        }
    }
}

/// Why a selection could not be resolved to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelError {
    OutOfBounds {
        index: i64,
        extent: usize,
    },
    Overflow,
    /// More selections than the operand has axes.
    Axes,
}

/// The positions a selection names, given the loop variables' values, each checked against
/// its axis (the end of a range may be the extent; an empty range stays empty). Shared by the
/// interpreter and the graph builder, so both accept and refuse the same selections.
pub fn resolve_sels(
    sels: &[Subscript],
    shape: &[usize],
    loops: &[i64],
) -> Result<Vec<plan::Sel>, SelError> {
    let mut ks = Vec::with_capacity(sels.len());
    for (axis, s) in sels.iter().enumerate() {
        let extent = *shape.get(axis).ok_or(SelError::Axes)?;
        let at = |i: &IExpr, allow_end: bool| -> Result<usize, SelError> {
            let v = i.eval(loops).ok_or(SelError::Overflow)?;
            let max = extent as i64 - if allow_end { 0 } else { 1 };
            if (0..=max).contains(&v) {
                Ok(v as usize)
            } else {
                Err(SelError::OutOfBounds { index: v, extent })
            }
        };
        ks.push(match s {
            Subscript::Index(i) => plan::Sel::Index(at(i, false)?),
            Subscript::Range(a, bnd) => {
                let a = at(a, false)?;
                let bnd = at(bnd, true)?;
                plan::Sel::Range(a, bnd.max(a))
            }
            Subscript::Full => plan::Sel::Full,
        });
    }
    Ok(ks)
}

/// The largest tensor (in elements) any expression of the program produces, with its span:
/// what one sample's evaluation must hold at once at least.
pub fn largest_tensor(prog: &tir::Program) -> (usize, Option<Span>) {
    fn expr(e: &Expr, best: &mut (usize, Option<Span>)) {
        if let Some(s) = e.ty.shape() {
            let n = tir::numel(s).unwrap_or(usize::MAX);
            if n > best.0 {
                *best = (n, Some(e.span));
            }
        }
        match &e.kind {
            ExprKind::Neg(a) => expr(a, best),
            ExprKind::Binary(_, a, b) => {
                expr(a, best);
                expr(b, best);
            }
            ExprKind::Call { args, .. }
            | ExprKind::Builtin { args, .. }
            | ExprKind::Tuple(args) => args.iter().for_each(|a| expr(a, best)),
            ExprKind::Select { base, .. } => expr(base, best),
            ExprKind::Const(_) | ExprKind::Int(_) | ExprKind::Local(_) | ExprKind::Error => {}
        }
    }
    fn stmts(ss: &[Stmt], best: &mut (usize, Option<Span>)) {
        for s in ss {
            match s {
                Stmt::Let { value, .. }
                | Stmt::Assign { value, .. }
                | Stmt::Output { value, .. } => expr(value, best),
                Stmt::For { body, .. } => stmts(body, best),
            }
        }
    }
    let mut best = (0, None);
    for d in prog.model.inputs.iter().chain(&prog.model.params) {
        let n = tir::numel(&d.shape).unwrap_or(usize::MAX);
        if n > best.0 {
            best = (n, Some(d.span));
        }
    }
    stmts(&prog.model.body.stmts, &mut best);
    for f in &prog.fns {
        stmts(&f.body.stmts, &mut best);
        expr(&f.ret, &mut best);
    }
    best
}
