//! The typed IR: a checked program with every name resolved, every shape known, and every
//! function instantiated once per distinct argument shapes. The float interpreter walks it; the
//! compiler's later passes inline and unroll it.

use crate::diag::Span;
use crate::syntax::ast::BinOp;

/// A `let`, a function parameter, an `input` or a `param`: one slot in its frame.
pub type LocalId = u32;
/// A `for` variable: one slot in its frame's loop environment.
pub type LoopId = u32;
/// An instantiated function.
pub type FnInstId = u32;

/// A shape: the extent of each axis. `[]` is a scalar.
pub type Shape = Vec<usize>;

/// The most elements a tensor may have; every shape the checker accepts is within it, so element
/// counts never overflow.
pub const MAX_ELEMENTS: usize = 1 << 32;

/// A shape as users write it: `[99, 32]`.
pub fn shape_str(s: &[usize]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The number of elements of a shape, or `None` beyond [`MAX_ELEMENTS`].
pub fn numel(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Tensor(Shape),
    Tuple(Vec<Shape>),
    /// Not known: after an error (already reported), or in a function checked without a call.
    Unknown,
}

/// `[4, 3]`, `([4], [4])`, or `?` for an unknown type.
impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Tensor(s) => f.write_str(&shape_str(s)),
            Ty::Tuple(ss) => {
                let parts: Vec<String> = ss.iter().map(|s| shape_str(s)).collect();
                write!(f, "({})", parts.join(", "))
            }
            Ty::Unknown => f.write_str("?"),
        }
    }
}

impl Ty {
    pub fn shape(&self) -> Option<&Shape> {
        match self {
            Ty::Tensor(s) => Some(s),
            _ => None,
        }
    }
}

/// Precision pinned by attributes (`#[bits(8), frac(5)]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pin {
    pub bits: Option<u32>,
    pub frac: Option<u32>,
}

/// A checked program: the model and the function instances it calls.
#[derive(Clone, Debug)]
pub struct Program {
    pub model: Model,
    pub fns: Vec<FnInstance>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub inputs: Vec<Decl>,
    pub params: Vec<Decl>,
    pub outputs: Vec<OutputInfo>,
    pub body: Body,
    pub span: Span,
}

/// An `input` or `param` declaration.
#[derive(Clone, Debug)]
pub struct Decl {
    pub name: String,
    pub shape: Shape,
    pub local: LocalId,
    pub pin: Pin,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct OutputInfo {
    /// `output NAME = …`'s name, or `out{i}`.
    pub name: String,
    pub shape: Shape,
    pub span: Span,
}

/// The statements of a model or function and the sizes of its frame.
#[derive(Clone, Debug, Default)]
pub struct Body {
    pub stmts: Vec<Stmt>,
    pub num_locals: u32,
    pub num_loops: u32,
    /// Name of each local, for rendering and diagnostics.
    pub local_names: Vec<String>,
    /// Name of each loop variable.
    pub loop_names: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct FnInstance {
    pub name: String,
    /// The shape variables and the values this instance binds them to.
    pub shape_vars: Vec<(String, usize)>,
    pub params: Vec<LocalId>,
    pub param_shapes: Vec<Shape>,
    pub body: Body,
    pub ret: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    /// Binds one local, or several from a tuple.
    Let {
        locals: Vec<LocalId>,
        value: Expr,
        pin: Pin,
        span: Span,
    },
    Assign {
        locals: Vec<LocalId>,
        value: Expr,
        span: Span,
    },
    For {
        var: LoopId,
        lo: IExpr,
        hi: IExpr,
        body: Vec<Stmt>,
        span: Span,
    },
    Output {
        index: usize,
        value: Expr,
    },
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A public real constant (scalar).
    Const(f64),
    /// A public integer known before execution (loop variables), used as a scalar.
    Int(IExpr),
    Local(LocalId),
    Neg(Box<Expr>),
    /// Elementwise with broadcasting, or `@`. The divisor of `Div` is public (`Const`/`Int`).
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        func: FnInstId,
        args: Vec<Expr>,
    },
    Builtin {
        op: Builtin,
        args: Vec<Expr>,
    },
    /// Indexing and slicing on leading axes.
    Select {
        base: Box<Expr>,
        sels: Vec<Subscript>,
    },
    Tuple(Vec<Expr>),
    /// Stands for an expression that did not check; never evaluated.
    Error,
}

/// One leading axis of a selection as written: its indices are static integer expressions
/// (evaluated later into a [`sir_runtime::plan::Sel`]).
#[derive(Clone, Debug)]
pub enum Subscript {
    /// Picks one position and drops the axis.
    Index(IExpr),
    /// Keeps `[lo, hi)`; its length is the same in every iteration.
    Range(IExpr, IExpr),
    /// Keeps the whole axis.
    Full,
}

/// A static integer expression over loop variables.
#[derive(Clone, Debug, PartialEq)]
pub enum IExpr {
    Lit(i64),
    Loop(LoopId),
    Neg(Box<IExpr>),
    Add(Box<IExpr>, Box<IExpr>),
    Sub(Box<IExpr>, Box<IExpr>),
    Mul(Box<IExpr>, Box<IExpr>),
}

impl IExpr {
    /// Its value given the loop variables' values; `None` on overflow.
    pub fn eval(&self, loops: &[i64]) -> Option<i64> {
        Some(match self {
            IExpr::Lit(v) => *v,
            IExpr::Loop(l) => *loops.get(*l as usize)?,
            IExpr::Neg(a) => a.eval(loops)?.checked_neg()?,
            IExpr::Add(a, b) => a.eval(loops)?.checked_add(b.eval(loops)?)?,
            IExpr::Sub(a, b) => a.eval(loops)?.checked_sub(b.eval(loops)?)?,
            IExpr::Mul(a, b) => a.eval(loops)?.checked_mul(b.eval(loops)?)?,
        })
    }

    /// The value when it does not depend on any loop variable.
    pub fn constant(&self) -> Option<i64> {
        if self.uses_loops() {
            None
        } else {
            self.eval(&[])
        }
    }

    pub fn uses_loops(&self) -> bool {
        match self {
            IExpr::Lit(_) => false,
            IExpr::Loop(_) => true,
            IExpr::Neg(a) => a.uses_loops(),
            IExpr::Add(a, b) | IExpr::Sub(a, b) | IExpr::Mul(a, b) => {
                a.uses_loops() || b.uses_loops()
            }
        }
    }
}

/// A builtin with its static (public, compile-time) parameters; tensor operands are the `args`.
#[derive(Clone, Debug, PartialEq)]
pub enum Builtin {
    Zeros(Shape),
    Ones(Shape),
    Relu,
    Sigmoid,
    Tanh,
    Gelu,
    Exp,
    Rsqrt,
    Sqrt,
    Reciprocal,
    Poly(Vec<f64>),
    PolyRelu,
    /// Patch `[ph, pw]`, or `None` when the compiler chooses under a ReLU budget.
    BlockRelu(Option<[usize; 2]>),
    Max(Option<usize>),
    Argmax,
    Sum(Option<usize>),
    Mean(Option<usize>),
    Softmax,
    Layernorm,
    Conv2d {
        stride: usize,
        pad: usize,
    },
    Maxpool2d {
        k: usize,
        stride: usize,
    },
    Avgpool2d {
        k: usize,
        stride: usize,
    },
    Reshape(Shape),
    Flatten,
    Transpose,
    Concat(usize),
}
