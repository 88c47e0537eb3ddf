//! From the typed IR to the dataflow graph: walks the program like the interpreter
//! (`eval::interp`) but emits a node where the interpreter would compute a tensor. Loop
//! variables are known integers, so loops unroll; each call gets a fresh frame, so functions
//! inline; `Assign` rebinds a local to another node (SSA).
//!
//! While building, a node whose operands are all constants is evaluated at once with the float
//! kernels and becomes a constant (folding), and an operation already built on the same operands
//! returns the existing node (hash-consing, i.e. common-subexpression elimination). Both keep the
//! float semantics bit for bit: kernels are pure functions of their operands' values. At the end
//! only the nodes the outputs need are kept (plus every input and param, so their positions stay
//! meaningful), in creation order.

use super::{Graph, Node, NodeOp, apply};
use crate::diag::Span;
use crate::eval::interp::{SelError, resolve_sels};
use crate::eval::kernels as k;
use crate::types::tir::Pin;
use crate::types::tir::{self, Expr, ExprKind, IExpr, Stmt};
use petgraph::graph::{DiGraph, NodeIndex};
use sir_runtime::Tensor;
use sir_runtime::fixed::Patch;
use sir_runtime::plan::Sel;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The most nodes a graph may have while it is built (before dead nodes are removed): beyond
/// this the unrolled program is refused rather than exhausting memory.
pub const MAX_NODES: usize = 5_000_000;

/// The most expressions the builder visits: loops whose bodies add no node (everything shared or
/// folded) still cost time per iteration, and the checker does not bound iteration counts.
pub const MAX_STEPS: u64 = 200_000_000;

/// The most elements all constant nodes may hold together while building (2 GiB of `f64`):
/// folding a large constant in a long loop keeps every iteration's value until dead nodes go.
pub const MAX_CONST_ELEMENTS: usize = 1 << 28;

/// Why a program could not be turned into a graph. Mirrors `eval::interp::EvalError`: the
/// checker rules the first three out except where a loop nest was too large to check every
/// iteration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
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
    #[error("the unrolled program is too large: {what}")]
    TooLarge { what: String, span: Span },
}

impl BuildError {
    pub fn span(&self) -> Span {
        match self {
            BuildError::OutOfBounds { span, .. }
            | BuildError::Overflow { span }
            | BuildError::Internal { span, .. }
            | BuildError::TooLarge { span, .. } => *span,
        }
    }
}

/// Turns a checked program into its dataflow graph.
///
/// The walk recurses once per nesting level of expressions, statements and calls, like the
/// checker, so it runs on a thread with the frontend's large stack.
///
/// `source`, the model file's text, numbers the lines in layer labels (`h = gru_cell@14`);
/// without it calls are labelled `gru_cell(…)`.
pub fn build(prog: &tir::Program, source: Option<&str>) -> Result<Graph, BuildError> {
    const STACK: usize = 256 << 20;
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("sir-graph".into())
            .stack_size(STACK)
            .spawn_scoped(s, || build_here(prog, source));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: build on this one.
            Err(_) => build_here(prog, source),
        }
    })
}

fn build_here(prog: &tir::Program, source: Option<&str>) -> Result<Graph, BuildError> {
    let m = &prog.model;
    let mut b = Builder {
        prog,
        source,
        stmt: None,
        nodes: Vec::new(),
        memo: HashMap::new(),
        steps: 0,
        const_elements: 0,
        depth: 0,
        label: None,
        base: None,
    };
    let mut f = Frame::new(&m.body);
    let mut inputs = Vec::with_capacity(m.inputs.len());
    for (i, d) in m.inputs.iter().enumerate() {
        let n = b.leaf(NodeOp::Input(i), d.shape.clone(), d.span)?;
        b.name(n, &d.name);
        b.pin(n, d.pin);
        bind(&mut f, d.local, n, d.span)?;
        inputs.push(n);
    }
    let mut params = Vec::with_capacity(m.params.len());
    for (i, d) in m.params.iter().enumerate() {
        let n = b.leaf(NodeOp::Param(i), d.shape.clone(), d.span)?;
        b.name(n, &d.name);
        b.pin(n, d.pin);
        bind(&mut f, d.local, n, d.span)?;
        params.push(n);
    }
    let mut outs: Vec<Option<u32>> = vec![None; m.outputs.len()];
    b.stmts(&mut f, &m.body, &m.body.stmts, &mut outs)?;
    let outputs = m
        .outputs
        .iter()
        .zip(outs)
        .map(|(o, n)| {
            n.map(|n| (o.name.clone(), n)).ok_or(BuildError::Internal {
                what: "an output was not produced",
                span: o.span,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(b.finish(inputs, params, outputs))
}

fn bind(f: &mut Frame, l: tir::LocalId, n: u32, span: Span) -> Result<(), BuildError> {
    let slot = f.locals.get_mut(l as usize).ok_or(BuildError::Internal {
        what: "a local outside its frame",
        span,
    })?;
    *slot = Some(n);
    Ok(())
}

/// What an expression stands for: one node, or a tuple of nodes.
enum Value {
    Node(u32),
    Tuple(Vec<u32>),
}

/// One function activation (or the model's body): the node each local names, and the loop
/// variables' current values.
struct Frame {
    locals: Vec<Option<u32>>,
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

/// A node under construction: the graph's node and its operands in position order.
struct Proto {
    node: Node,
    operands: Vec<u32>,
}

/// What makes two nodes the same computation: the operation with its static parameters and the
/// operand nodes. Constants compare by shape and the bits of their values (so `0.0` and `-0.0`
/// stay apart).
#[derive(PartialEq, Eq, Hash)]
struct Key {
    op: OpKey,
    operands: Vec<u32>,
}

#[derive(PartialEq, Eq, Hash)]
enum OpKey {
    Input(usize),
    Param(usize),
    Const(ConstKey),
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    /// (kind, a, b) per selected axis.
    Select(Vec<(u8, usize, usize)>),
    /// The builtin's `Debug` form: its variant and static parameters (`f64`s print exactly).
    Builtin(String),
}

struct ConstKey(Arc<Tensor>);

impl PartialEq for ConstKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.shape() == other.0.shape()
            && self
                .0
                .data()
                .iter()
                .zip(other.0.data())
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for ConstKey {}

impl Hash for ConstKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.shape().hash(state);
        for v in self.0.data() {
            v.to_bits().hash(state);
        }
    }
}

impl OpKey {
    fn of(op: &NodeOp) -> OpKey {
        match op {
            NodeOp::Input(i) => OpKey::Input(*i),
            NodeOp::Param(i) => OpKey::Param(*i),
            NodeOp::Const(t) => OpKey::Const(ConstKey(t.clone())),
            NodeOp::Neg => OpKey::Neg,
            NodeOp::Add => OpKey::Add,
            NodeOp::Sub => OpKey::Sub,
            NodeOp::Mul => OpKey::Mul,
            NodeOp::Div => OpKey::Div,
            NodeOp::MatMul => OpKey::MatMul,
            NodeOp::Select(sels) => OpKey::Select(
                sels.iter()
                    .map(|s| match *s {
                        Sel::Index(i) => (0, i, 0),
                        Sel::Range(a, b) => (1, a, b),
                        Sel::Full => (2, 0, 0),
                    })
                    .collect(),
            ),
            NodeOp::Builtin(b) => OpKey::Builtin(format!("{b:?}")),
            NodeOp::BlockRelu(p) => OpKey::Builtin(format!("BlockRelu{p:?}")),
        }
    }
}

struct Builder<'p> {
    prog: &'p tir::Program,
    /// The model file's text (for line numbers in labels).
    source: Option<&'p str>,
    /// The model-level statement being built: its bound names and its value's span.
    stmt: Option<(String, Span)>,
    /// Every node built so far, in creation order (indices are `u32` node ids).
    nodes: Vec<Proto>,
    memo: HashMap<Key, u32>,
    steps: u64,
    const_elements: usize,
    /// Calls being inlined (0: the model's own body).
    depth: u32,
    /// The label new nodes get ([`Node::layer`]): the model-level statement being built, and
    /// inside a call it makes, the callee's statement.
    label: Option<String>,
    /// The model-level statement's own label.
    base: Option<String>,
}

impl Builder<'_> {
    /// The layer label of a model-level statement binding `name` to `value` (a call in it
    /// labels its own nodes: [`Builder::call_label`]).
    fn label_of(&mut self, name: &str, value: &Expr) -> String {
        self.stmt = Some((name.to_string(), value.span));
        name.to_string()
    }

    /// `function@line` of a call in the model's file, `function(…)` without its text.
    fn call_name(&self, func: u32, span: Span) -> String {
        let name = self
            .prog
            .fns
            .get(func as usize)
            .map_or("?", |inst| inst.name.as_str());
        match self.source.and_then(|s| s.get(..span.start as usize)) {
            Some(before) if span.file == self.prog.model.span.file => {
                format!("{name}@{}", before.matches('\n').count() + 1)
            }
            _ => format!("{name}(…)"),
        }
    }

    /// The label of the nodes a call at the model's level builds: the statement's label when
    /// the call is its value, else the statement's name with the call's (`y › dense@5`).
    fn call_label(&self, func: u32, span: Span) -> String {
        let call = self.call_name(func, span);
        match &self.stmt {
            Some((name, value)) if *value == span => format!("{name} = {call}"),
            Some((name, _)) => format!("{name} › {call}"),
            None => call,
        }
    }

    /// Gives `n` the name `name` unless it already has one (first binding wins).
    fn name(&mut self, n: u32, name: &str) {
        if let Some(p) = self.nodes.get_mut(n as usize)
            && p.node.name.is_none()
        {
            p.node.name = Some(name.to_string());
        }
    }

    /// Adds `pin`'s choices to node `n` where it has none yet.
    fn pin(&mut self, n: u32, pin: Pin) {
        if let Some(p) = self.nodes.get_mut(n as usize) {
            let q = &mut p.node.pin;
            q.bits = q.bits.or(pin.bits);
            q.frac = q.frac.or(pin.frac);
        }
    }

    fn leaf(&mut self, op: NodeOp, shape: Vec<usize>, span: Span) -> Result<u32, BuildError> {
        self.intern(op, shape, Vec::new(), span)
    }

    /// A constant node holding `t`.
    fn constant(&mut self, t: Tensor, span: Span) -> Result<u32, BuildError> {
        let shape = t.shape().to_vec();
        self.intern(NodeOp::Const(Arc::new(t)), shape, Vec::new(), span)
    }

    /// The node computing `op` on `operands`: folded to a constant when every operand is one,
    /// an existing node when the same operation on the same operands was built before.
    fn node(
        &mut self,
        op: NodeOp,
        shape: Vec<usize>,
        operands: Vec<u32>,
        span: Span,
    ) -> Result<u32, BuildError> {
        let consts: Option<Vec<&Tensor>> = operands
            .iter()
            .map(|&o| match self.nodes.get(o as usize).map(|p| &p.node.op) {
                Some(NodeOp::Const(t)) => Some(&**t),
                _ => None,
            })
            .collect();
        if let Some(args) = consts {
            let t = apply(&op, &args).ok_or(BuildError::Internal {
                what: "an operation without its operands",
                span,
            })?;
            return self.constant(t, span);
        }
        self.intern(op, shape, operands, span)
    }

    /// Returns the existing node for (op, operands) or adds one.
    fn intern(
        &mut self,
        op: NodeOp,
        shape: Vec<usize>,
        operands: Vec<u32>,
        span: Span,
    ) -> Result<u32, BuildError> {
        let key = Key {
            op: OpKey::of(&op),
            operands,
        };
        if let Some(&n) = self.memo.get(&key) {
            return Ok(n);
        }
        if self.nodes.len() >= MAX_NODES {
            return Err(BuildError::TooLarge {
                what: format!(
                    "more than {MAX_NODES} operations after unrolling loops and inlining calls"
                ),
                span,
            });
        }
        if let NodeOp::Const(t) = &op {
            self.const_elements = self.const_elements.saturating_add(t.len());
            if self.const_elements > MAX_CONST_ELEMENTS {
                return Err(BuildError::TooLarge {
                    what: format!(
                        "constants of more than {MAX_CONST_ELEMENTS} elements after folding"
                    ),
                    span,
                });
            }
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(Proto {
            node: Node {
                op,
                shape,
                span,
                name: None,
                layer: self.label.clone(),
                pin: Pin::default(),
            },
            operands: key.operands.clone(),
        });
        self.memo.insert(key, n);
        Ok(n)
    }

    fn stmts(
        &mut self,
        f: &mut Frame,
        body: &tir::Body,
        stmts: &[Stmt],
        outputs: &mut [Option<u32>],
    ) -> Result<(), BuildError> {
        for s in stmts {
            match s {
                Stmt::Let {
                    locals,
                    value,
                    span,
                    ..
                }
                | Stmt::Assign {
                    locals,
                    value,
                    span,
                } => {
                    let pin = match s {
                        Stmt::Let { pin, .. } => *pin,
                        _ => Pin::default(),
                    };
                    let names: Vec<&str> = locals
                        .iter()
                        .filter_map(|&l| body.local_names.get(l as usize))
                        .map(String::as_str)
                        .collect();
                    match self.depth {
                        0 => {
                            let l = self.label_of(&names.join(", "), value);
                            self.base = Some(l.clone());
                            self.label = Some(l);
                        }
                        // Inside a call of the model's body: the innermost statement too.
                        _ => {
                            self.label = self
                                .base
                                .as_ref()
                                .map(|b| format!("{b} › {}", names.join(", ")));
                        }
                    }
                    let bound: Vec<(tir::LocalId, u32)> = match self.expr(f, value)? {
                        Value::Node(n) => locals.first().map(|&l| (l, n)).into_iter().collect(),
                        Value::Tuple(ns) => locals.iter().copied().zip(ns).collect(),
                    };
                    for (l, n) in bound {
                        bind(f, l, n, *span)?;
                        if let Some(name) = body.local_names.get(l as usize) {
                            self.name(n, name);
                        }
                        self.pin(n, pin);
                    }
                }
                Stmt::For {
                    var,
                    lo,
                    hi,
                    body: inner,
                    span,
                } => {
                    let lo = lo
                        .eval(&f.loops)
                        .ok_or(BuildError::Overflow { span: *span })?;
                    let hi = hi
                        .eval(&f.loops)
                        .ok_or(BuildError::Overflow { span: *span })?;
                    for i in lo..hi {
                        let slot = f.loops.get_mut(*var as usize).ok_or(BuildError::Internal {
                            what: "a loop variable outside its frame",
                            span: *span,
                        })?;
                        *slot = i;
                        self.stmts(f, body, inner, outputs)?;
                    }
                }
                Stmt::Output { index, value } => {
                    if self.depth == 0 {
                        let name = self
                            .prog
                            .model
                            .outputs
                            .get(*index)
                            .map_or_else(|| format!("out{index}"), |o| o.name.clone());
                        let l = self.label_of(&format!("output {name}"), value);
                        self.base = Some(l.clone());
                        self.label = Some(l);
                    }
                    let n = self.tensor(f, value)?;
                    if let Some(slot) = outputs.get_mut(*index) {
                        *slot = Some(n);
                    }
                }
            }
        }
        Ok(())
    }

    fn tensor(&mut self, f: &mut Frame, e: &Expr) -> Result<u32, BuildError> {
        match self.expr(f, e)? {
            Value::Node(n) => Ok(n),
            Value::Tuple(_) => Err(BuildError::Internal {
                what: "a tuple where a tensor was expected",
                span: e.span,
            }),
        }
    }

    fn int(&self, f: &Frame, i: &IExpr, span: Span) -> Result<i64, BuildError> {
        i.eval(&f.loops).ok_or(BuildError::Overflow { span })
    }

    /// The expression's shape as the checker established it.
    fn shape(e: &Expr) -> Result<Vec<usize>, BuildError> {
        e.ty.shape().cloned().ok_or(BuildError::Internal {
            what: "an expression without a tensor type",
            span: e.span,
        })
    }

    fn expr(&mut self, f: &mut Frame, e: &Expr) -> Result<Value, BuildError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(BuildError::TooLarge {
                what: format!("more than {MAX_STEPS} expressions to unroll"),
                span: e.span,
            });
        }
        let node = |n: Result<u32, BuildError>| n.map(Value::Node);
        match &e.kind {
            ExprKind::Const(v) => node(self.constant(Tensor::scalar(*v), e.span)),
            ExprKind::Int(i) => {
                let v = self.int(f, i, e.span)?;
                node(self.constant(Tensor::scalar(v as f64), e.span))
            }
            ExprKind::Local(l) => f
                .locals
                .get(*l as usize)
                .copied()
                .flatten()
                .map(Value::Node)
                .ok_or(BuildError::Internal {
                    what: "a local read before it was bound",
                    span: e.span,
                }),
            ExprKind::Neg(a) => {
                let a = self.tensor(f, a)?;
                node(self.node(NodeOp::Neg, Self::shape(e)?, vec![a], e.span))
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.tensor(f, a)?;
                let b = self.tensor(f, b)?;
                node(self.node(NodeOp::from_binop(*op), Self::shape(e)?, vec![a, b], e.span))
            }
            ExprKind::Call { func, args } => {
                let inst = self
                    .prog
                    .fns
                    .get(*func as usize)
                    .ok_or(BuildError::Internal {
                        what: "a call to a missing function",
                        span: e.span,
                    })?;
                let mut callee = Frame::new(&inst.body);
                for (p, a) in inst.params.iter().zip(args) {
                    let n = self.tensor(f, a)?;
                    bind(&mut callee, *p, n, a.span)?;
                }
                let mut no_outputs: [Option<u32>; 0] = [];
                let (outer, outer_base) = (self.label.clone(), self.base.clone());
                // A call from the model's body names its nodes after itself; the returned
                // expression belongs to the call (a nested call's) or its statement.
                let own = match self.depth {
                    0 => Some(self.call_label(*func, e.span)),
                    _ => outer.clone(),
                };
                if self.depth == 0 {
                    self.base = own.clone();
                    self.label = own.clone();
                }
                self.depth += 1;
                let r = self
                    .stmts(&mut callee, &inst.body, &inst.body.stmts, &mut no_outputs)
                    .and_then(|()| {
                        self.label = own.clone();
                        self.expr(&mut callee, &inst.ret)
                    });
                self.label = outer;
                self.base = outer_base;
                self.depth -= 1;
                r
            }
            ExprKind::Tuple(items) => Ok(Value::Tuple(
                items
                    .iter()
                    .map(|i| self.tensor(f, i))
                    .collect::<Result<_, _>>()?,
            )),
            ExprKind::Select { base, sels } => {
                let b = self.tensor(f, base)?;
                let base_shape = self
                    .nodes
                    .get(b as usize)
                    .map(|p| p.node.shape.clone())
                    .unwrap_or_default();
                let ks = resolve_sels(sels, &base_shape, &f.loops).map_err(|err| match err {
                    SelError::OutOfBounds { index, extent } => BuildError::OutOfBounds {
                        index,
                        extent,
                        span: e.span,
                    },
                    SelError::Overflow => BuildError::Overflow { span: e.span },
                    SelError::Axes => BuildError::Internal {
                        what: "a selection on more axes than its operand has",
                        span: e.span,
                    },
                })?;
                let shape =
                    k::select_shape(&base_shape, &ks).map_err(|_| BuildError::Internal {
                        what: "a selection its operand's shape does not admit",
                        span: e.span,
                    })?;
                node(self.node(NodeOp::Select(ks), shape, vec![b], e.span))
            }
            ExprKind::Builtin { op, args } => {
                let ns: Vec<u32> = args
                    .iter()
                    .map(|a| self.tensor(f, a))
                    .collect::<Result<_, _>>()?;
                // An explicit patch is a choice made: the same node as a chosen one.
                let op = match op {
                    tir::Builtin::BlockRelu(Some([ph, pw])) => {
                        NodeOp::BlockRelu(Arc::from([Patch::Block(*ph, *pw)]))
                    }
                    _ => NodeOp::Builtin(op.clone()),
                };
                node(self.node(op, Self::shape(e)?, ns, e.span))
            }
            ExprKind::Error => Err(BuildError::Internal {
                what: "an expression that did not check",
                span: e.span,
            }),
        }
    }

    /// Keeps the nodes the outputs need and every input and param, in creation order, and
    /// builds the petgraph graph over them.
    fn finish(self, inputs: Vec<u32>, params: Vec<u32>, outputs: Vec<(String, u32)>) -> Graph {
        let n = self.nodes.len();
        let mut live = vec![false; n];
        for &i in inputs.iter().chain(&params) {
            live[i as usize] = true;
        }
        let mut stack: Vec<u32> = outputs.iter().map(|(_, o)| *o).collect();
        while let Some(x) = stack.pop() {
            let Some(l) = live.get_mut(x as usize) else {
                continue;
            };
            if *l {
                continue;
            }
            *l = true;
            if let Some(p) = self.nodes.get(x as usize) {
                stack.extend(&p.operands);
            }
        }
        let mut g = DiGraph::with_capacity(live.iter().filter(|&&l| l).count(), 0);
        let mut map: Vec<Option<NodeIndex>> = vec![None; n];
        for (i, p) in self.nodes.into_iter().enumerate() {
            if !live[i] {
                continue;
            }
            let ni = g.add_node(p.node);
            for (pos, o) in p.operands.iter().enumerate() {
                // Operands precede their users and a live node's operands are live.
                if let Some(Some(src)) = map.get(*o as usize) {
                    g.add_edge(*src, ni, pos as u32);
                }
            }
            map[i] = Some(ni);
        }
        let at = |i: u32| map[i as usize].unwrap_or_default();
        Graph {
            inputs: inputs.into_iter().map(at).collect(),
            params: params.into_iter().map(at).collect(),
            outputs: outputs.into_iter().map(|(s, o)| (s, at(o))).collect(),
            g,
        }
    }
}
