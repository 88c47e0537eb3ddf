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
pub use eval::{GraphEvalError, Profile, Range, eval, profile, ranges, replay, values};

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
    pub op: NodeOp,
    /// The shape of the value it produces.
    pub shape: Vec<usize>,
    /// Where in the source the operation comes from (inside an inlined function: the function's
    /// code).
    pub span: Span,
    /// The `let`/`input`/`param` name the value was first bound to, for human-readable reports.
    pub name: Option<String>,
    /// The statement of the model's own body the operation was first built for (`sir inspect
    /// --by layer`): its `let`, assigned or output name, with the function it calls, so every
    /// operation of `let z1 = x @ W1 + b1;` or of an inlined `gru_cell(…)` is counted there.
    pub layer: Option<String>,
    /// Precision pinned by attributes on the bindings of this value (`#[bits(8)]`), the
    /// first pin of each kind winning.
    pub pin: tir::Pin,
}

/// What a node computes from its operands (in edge-position order).
#[derive(Clone, Debug)]
pub enum NodeOp {
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

impl NodeOp {
    /// The binary operator this node applies, if it is one.
    pub fn binop(&self) -> Option<BinOp> {
        Some(match self {
            NodeOp::Add => BinOp::Add,
            NodeOp::Sub => BinOp::Sub,
            NodeOp::Mul => BinOp::Mul,
            NodeOp::Div => BinOp::Div,
            NodeOp::MatMul => BinOp::MatMul,
            _ => return None,
        })
    }

    fn from_binop(op: BinOp) -> NodeOp {
        match op {
            BinOp::Add => NodeOp::Add,
            BinOp::Sub => NodeOp::Sub,
            BinOp::Mul => NodeOp::Mul,
            BinOp::Div => NodeOp::Div,
            BinOp::MatMul => NodeOp::MatMul,
        }
    }

    /// A short name of the operation kind, without constant values or indices.
    pub fn kind(&self) -> String {
        match self {
            NodeOp::Input(_) => "Input".into(),
            NodeOp::Param(_) => "Param".into(),
            NodeOp::Const(_) => "Const".into(),
            NodeOp::Neg => "Neg".into(),
            NodeOp::Add => "Add".into(),
            NodeOp::Sub => "Sub".into(),
            NodeOp::Mul => "Mul".into(),
            NodeOp::Div => "Div".into(),
            NodeOp::MatMul => "MatMul".into(),
            NodeOp::Select(_) => "Select".into(),
            NodeOp::BlockRelu(_) => "Builtin(BlockRelu)".into(),
            NodeOp::Builtin(b) => {
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
fn apply(op: &NodeOp, args: &[&Tensor]) -> Option<Tensor> {
    if let Some(b) = op.binop() {
        return Some(kernels::binary(b, args.first()?, args.get(1)?));
    }
    match op {
        NodeOp::Neg => Some(kernels::neg(args.first()?)),
        NodeOp::Select(sels) => Some(kernels::select(args.first()?, sels)),
        NodeOp::BlockRelu(p) => Some(kernels::block_relu_channels(args.first()?, p)),
        NodeOp::Builtin(b) => kernels::builtin(b, args),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
