//! The abstract syntax tree of one `.sir` file. Every node carries the byte span it came from so
//! later passes can point at it.

use crate::diag::{FileId, Span};

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Clone, Debug)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
    /// Items that failed to parse (their syntax errors are already reported).
    pub broken: Vec<BrokenItem>,
}

/// What a top-level item that did not parse appears to define.
#[derive(Clone, Debug, PartialEq)]
pub enum BrokenItem {
    Fn(String),
    Model,
    Other,
}

#[derive(Clone, Debug)]
pub enum Item {
    Use(Use),
    Fn(FnDef),
    Model(ModelDef),
}

#[derive(Clone, Debug)]
pub struct Use {
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum UseTarget {
    /// `use std::rnn;` — `root` is what precedes `::` (must be `std`).
    Std { root: Ident, module: Ident },
    /// `use "layers.sir";` — the path without quotes, and the span of the string literal.
    File { path: String, span: Span },
}

#[derive(Clone, Debug)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<FnParam>,
    pub ret: RetType,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct FnParam {
    pub name: Ident,
    pub shape: ShapeAnn,
}

#[derive(Clone, Debug)]
pub enum RetType {
    Single(ShapeAnn),
    Tuple(Vec<ShapeAnn>, Span),
}

impl RetType {
    pub fn span(&self) -> Span {
        match self {
            RetType::Single(s) => s.span,
            RetType::Tuple(_, span) => *span,
        }
    }
}

/// A written shape such as `[N, 4]`.
#[derive(Clone, Debug)]
pub struct ShapeAnn {
    pub dims: Vec<DimAnn>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum DimAnn {
    /// A literal extent; `None` when the literal is not a valid extent (reported by the parser).
    Lit(Option<usize>, Span),
    /// A shape variable (or, in error, any other name).
    Var(Ident),
}

#[derive(Clone, Debug)]
pub struct ModelDef {
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub attrs: Vec<Attr>,
    pub kind: StmtKind,
    pub span: Span,
}

/// One `name(args)` inside `#[...]`.
#[derive(Clone, Debug)]
pub struct Attr {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Input {
        name: Ident,
        shape: ShapeAnn,
    },
    Param {
        name: Ident,
        shape: ShapeAnn,
    },
    Let {
        pattern: Pattern,
        value: Expr,
    },
    Assign {
        targets: Vec<Ident>,
        tuple: bool,
        value: Expr,
    },
    For {
        var: Ident,
        lo: Expr,
        hi: Expr,
        body: Block,
    },
    Output {
        name: Option<Ident>,
        value: Expr,
    },
    Return(Expr),
}

#[derive(Clone, Debug)]
pub enum Pattern {
    Single(Binder),
    Tuple(Vec<Binder>, Span),
}

impl Pattern {
    pub fn binders(&self) -> &[Binder] {
        match self {
            Pattern::Single(b) => std::slice::from_ref(b),
            Pattern::Tuple(bs, _) => bs,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Binder {
    pub mutable: bool,
    pub name: Ident,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
        }
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A numeric literal: its value, and whether it was written as an integer (no `.`/exponent).
    Number {
        value: f64,
        integer: bool,
    },
    Name(Ident),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    Index {
        base: Box<Expr>,
        items: Vec<IndexItem>,
    },
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
}

#[derive(Clone, Debug)]
pub enum Arg {
    Positional(Expr),
    Keyword(Ident, Expr),
}

impl Arg {
    pub fn span(&self) -> Span {
        match self {
            Arg::Positional(e) => e.span,
            Arg::Keyword(k, e) => k.span.to(e.span),
        }
    }
}

#[derive(Clone, Debug)]
pub enum IndexItem {
    Index(Expr),
    Range {
        lo: Option<Expr>,
        hi: Option<Expr>,
        span: Span,
    },
    Full(Span),
}

impl IndexItem {
    pub fn span(&self) -> Span {
        match self {
            IndexItem::Index(e) => e.span,
            IndexItem::Range { span, .. } | IndexItem::Full(span) => *span,
        }
    }
}
