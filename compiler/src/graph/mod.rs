//! The compiler's dataflow graph: a checked program flattened into one loop-free, call-free DAG
//! of tensor operations (DESIGN.md, "Data flow": typed AST ─inline+unroll─> dataflow graph).
//!
//! Every `for` loop is unrolled and every function call inlined, so each node is one operation
//! executed once per sample; what the later passes (profiling, precision, lowering to a plan)
//! decide per tensor, they decide per node. Public constants are folded and identical operations
//! shared while building (`build`), and only what the outputs need is kept. `eval` runs the
//! graph with the interpreter's float kernels, so it agrees with `eval::interp` bit for bit, and
//! measures every node's value range on calibration samples.

mod build;
mod eval;

pub use build::{BuildError, MAX_NODES, MAX_STEPS, build};
pub use eval::{GraphEvalError, Range, eval, profile, ranges, replay, values};

use crate::diag::Span;
use crate::eval::kernels;
use crate::syntax::ast::BinOp;
use crate::types::tir;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use sir_runtime::Tensor;
use sir_runtime::fixed::Patch;
use sir_runtime::plan::Sel;
use std::sync::Arc;

/// A flattened model. Edges run from an operand to its user; an edge's weight is the operand's
/// position (0, 1, 2…) in the user's operand list, so operands can be listed in order.
///
/// Node indices follow creation order, which is topological: operands are created before their
/// users, so walking `0..node_count()` evaluates the graph.
#[derive(Clone, Debug)]
pub struct Graph {
    pub g: DiGraph<Node, u32>,
    /// One `Input` node per `input`, in declaration order (kept even when unused).
    pub inputs: Vec<NodeIndex>,
    /// One `Param` node per `param`, in declaration order (kept even when unused).
    pub params: Vec<NodeIndex>,
    /// The outputs in order with their names (`output NAME = …`, or `out{i}`).
    pub outputs: Vec<(String, NodeIndex)>,
}

impl Graph {
    /// The operands of `n`, in position order.
    pub fn operands(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut es: Vec<(u32, NodeIndex)> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| (*e.weight(), e.source()))
            .collect();
        es.sort_unstable_by_key(|&(pos, _)| pos);
        es.into_iter().map(|(_, s)| s).collect()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    /// Nodes per operation kind (`"MatMul"`, `"Builtin(Sigmoid)"`, …), for reports.
    pub fn op_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for n in self.g.node_weights() {
            *m.entry(n.op.kind()).or_insert(0) += 1;
        }
        m
    }
}

/// One operation executed once per sample.
#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    /// The shape of the value it produces.
    pub shape: Vec<usize>,
    /// Where in the source the operation comes from (inside an inlined function: the function's
    /// code).
    pub span: Span,
    /// The `let`/`input`/`param` name the value was first bound to, for human-readable reports.
    pub name: Option<String>,
    /// Precision pinned by attributes on the bindings of this value (`#[bits(8)]`), the
    /// first pin of each kind winning.
    pub pin: tir::Pin,
}

/// What a node computes from its operands (in edge-position order).
#[derive(Clone, Debug)]
pub enum Op {
    /// The model's `input` number `i` (client-held): no operands.
    Input(usize),
    /// The model's `param` number `i` (server-held weights): no operands.
    Param(usize),
    /// A public constant tensor: literals, loop variables, `zeros`/`ones`, and every subgraph
    /// whose operands were all constants (folded while building). No operands.
    Const(Arc<Tensor>),
    Neg,
    Add,
    Sub,
    Mul,
    /// Elementwise division; the divisor (operand 1) is public: a `Const` node.
    Div,
    MatMul,
    /// Indexing and slicing on leading axes with the indices already evaluated.
    Select(Vec<Sel>),
    /// A builtin with its static parameters; tensor operands are the node's operands.
    Builtin(tir::Builtin),
    /// Block-ReLU on [C, H, W] with its patch choice per channel (one entry: every channel
    /// alike): `block_relu(x, [ph, pw])`, or `block_relu(x)` once `relu_budget` chose.
    BlockRelu(Arc<[Patch]>),
}

impl Op {
    /// The binary operator this node applies, if it is one.
    pub fn binop(&self) -> Option<BinOp> {
        Some(match self {
            Op::Add => BinOp::Add,
            Op::Sub => BinOp::Sub,
            Op::Mul => BinOp::Mul,
            Op::Div => BinOp::Div,
            Op::MatMul => BinOp::MatMul,
            _ => return None,
        })
    }

    fn from_binop(op: BinOp) -> Op {
        match op {
            BinOp::Add => Op::Add,
            BinOp::Sub => Op::Sub,
            BinOp::Mul => Op::Mul,
            BinOp::Div => Op::Div,
            BinOp::MatMul => Op::MatMul,
        }
    }

    /// A short name of the operation kind, without constant values or indices.
    pub fn kind(&self) -> String {
        match self {
            Op::Input(_) => "Input".into(),
            Op::Param(_) => "Param".into(),
            Op::Const(_) => "Const".into(),
            Op::Neg => "Neg".into(),
            Op::Add => "Add".into(),
            Op::Sub => "Sub".into(),
            Op::Mul => "Mul".into(),
            Op::Div => "Div".into(),
            Op::MatMul => "MatMul".into(),
            Op::Select(_) => "Select".into(),
            Op::BlockRelu(_) => "Builtin(BlockRelu)".into(),
            Op::Builtin(b) => {
                let d = format!("{b:?}");
                let head = d.split(['(', ' ', '{']).next().unwrap_or("");
                format!("Builtin({head})")
            }
        }
    }
}

/// Applies a computing node's operation to its operand values; `None` for `Input`/`Param`/
/// `Const` (they have no kernel) or when operands are missing. One place shared by constant
/// folding and evaluation.
///
/// Precondition: the operand shapes are those the checker established for the node.
fn apply(op: &Op, args: &[&Tensor]) -> Option<Tensor> {
    if let Some(b) = op.binop() {
        return Some(kernels::binary(b, args.first()?, args.get(1)?));
    }
    match op {
        Op::Neg => Some(kernels::neg(args.first()?)),
        Op::Select(sels) => Some(kernels::select(args.first()?, sels)),
        Op::BlockRelu(p) => Some(kernels::block_relu_channels(args.first()?, p)),
        Op::Builtin(b) => kernels::builtin(b, args),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
