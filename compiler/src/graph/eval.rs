//! Running a dataflow graph on floats: the outputs of one sample (`eval`), and the range of
//! values every node takes over calibration samples (`ranges`), which the precision pass turns
//! into fixed-point formats.
//!
//! Nodes run in index order (creation order is topological) through the interpreter's kernels
//! (`eval::kernels::{binary, builtin}`), so results equal `eval::interp::run` bit for bit. A
//! value is dropped after its last user has run, so memory follows the live set rather than the
//! whole unrolled program.

use super::{Graph, NodeOp, apply};
use crate::eval::kernels;
use crate::types::tir::shape_str;
use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use sir_runtime::Tensor;
use sir_runtime::fixed::Patch;
use std::sync::Arc;

/// Why a graph could not be evaluated: the values given do not match its inputs or params.
#[derive(Debug, thiserror::Error)]
pub enum GraphEvalError {
    #[error("the graph has {expected} {what}s, {got} were given")]
    Count {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{what} {index} has shape {got}, the graph expects {expected}")]
    Shape {
        what: &'static str,
        index: usize,
        got: String,
        expected: String,
    },
    #[error("internal: node {node} ({what})")]
    Internal { node: usize, what: &'static str },
}

/// The smallest and largest value a node takes (NaN ignored). A node without elements, or whose
/// elements are all NaN, has the empty range `min = +∞, max = −∞`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    pub const EMPTY: Range = Range {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// The smallest range holding both.
    pub fn merge(self, o: Range) -> Range {
        Range {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }

    fn of(t: &Tensor) -> Range {
        t.data().iter().fold(Range::EMPTY, |r, &v| Range {
            min: r.min.min(v),
            max: r.max.max(v),
        })
    }
}

/// What evaluating needs besides the values, computed once per graph: each node's operands in
/// order and the position of its last user.
struct Schedule {
    operands: Vec<Vec<usize>>,
    /// `usize::MAX` for outputs (never dropped).
    last_use: Vec<usize>,
}

impl Schedule {
    fn new(graph: &Graph) -> Schedule {
        let n = graph.g.node_count();
        let operands: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                graph
                    .operands(NodeIndex::new(i))
                    .into_iter()
                    .map(|o| o.index())
                    .collect()
            })
            .collect();
        let mut last_use = vec![0; n];
        for (i, ops) in operands.iter().enumerate() {
            for &o in ops {
                if let Some(l) = last_use.get_mut(o) {
                    *l = (*l).max(i);
                }
            }
        }
        for (_, o) in &graph.outputs {
            if let Some(l) = last_use.get_mut(o.index()) {
                *l = usize::MAX;
            }
        }
        Schedule { operands, last_use }
    }
}

fn check_values(
    what: &'static str,
    graph: &Graph,
    nodes: &[NodeIndex],
    values: &[Arc<Tensor>],
) -> Result<(), GraphEvalError> {
    if nodes.len() != values.len() {
        return Err(GraphEvalError::Count {
            what,
            expected: nodes.len(),
            got: values.len(),
        });
    }
    for (index, (n, v)) in nodes.iter().zip(values).enumerate() {
        let expected = graph.g.node_weight(*n).map(|w| w.shape.as_slice());
        if expected != Some(v.shape()) {
            return Err(GraphEvalError::Shape {
                what,
                index,
                got: shape_str(v.shape()),
                expected: expected.map(shape_str).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// Evaluates every node once, in order, calling `visit` with each node's value; returns the
/// outputs.
fn walk(
    graph: &Graph,
    sched: &Schedule,
    inputs: &[Arc<Tensor>],
    params: &[Arc<Tensor>],
    mut visit: impl FnMut(usize, &Tensor),
) -> Result<Vec<Tensor>, GraphEvalError> {
    check_values("input", graph, &graph.inputs, inputs)?;
    check_values("param", graph, &graph.params, params)?;
    let n = graph.g.node_count();
    let mut vals: Vec<Option<Arc<Tensor>>> = vec![None; n];
    for (i, w) in graph.g.node_weights().enumerate() {
        let missing = |what| GraphEvalError::Internal { node: i, what };
        let v = match &w.op {
            NodeOp::Input(j) => inputs.get(*j).cloned().ok_or(missing("no such input"))?,
            NodeOp::Param(j) => params.get(*j).cloned().ok_or(missing("no such param"))?,
            NodeOp::Const(t) => t.clone(),
            op => {
                let ops = sched.operands.get(i).ok_or(missing("not scheduled"))?;
                let args: Vec<&Tensor> = ops
                    .iter()
                    .map(|&o| vals.get(o).and_then(|v| v.as_deref()))
                    .collect::<Option<_>>()
                    .ok_or(missing("an operand without a value"))?;
                let t = apply(op, &args).ok_or(missing("an operation without its operands"))?;
                for &o in ops {
                    if sched.last_use.get(o) == Some(&i) {
                        vals[o] = None;
                    }
                }
                Arc::new(t)
            }
        };
        visit(i, &v);
        vals[i] = Some(v);
    }
    graph
        .outputs
        .iter()
        .map(|(_, o)| {
            vals.get(o.index())
                .and_then(|v| v.as_deref())
                .cloned()
                .ok_or(GraphEvalError::Internal {
                    node: o.index(),
                    what: "an output without a value",
                })
        })
        .collect()
}

/// Evaluates the graph on one sample: `inputs` and `params` in declaration order with their
/// declared shapes. Returns the outputs in order; equal bit for bit to `eval::interp::run`.
pub fn eval(
    graph: &Graph,
    inputs: &[Arc<Tensor>],
    params: &[Arc<Tensor>],
) -> Result<Vec<Tensor>, GraphEvalError> {
    walk(graph, &Schedule::new(graph), inputs, params, |_, _| {})
}

/// Every node's value on one sample (indexed like the graph's nodes), for passes that replay
/// part of the graph with one value changed ([`replay`]).
pub fn values(
    graph: &Graph,
    inputs: &[Arc<Tensor>],
    params: &[Arc<Tensor>],
) -> Result<Vec<Arc<Tensor>>, GraphEvalError> {
    let mut keep = Schedule::new(graph);
    keep.last_use.fill(usize::MAX);
    let mut all: Vec<Option<Arc<Tensor>>> = vec![None; graph.len()];
    walk(graph, &keep, inputs, params, |i, t| {
        all[i] = Some(Arc::new(t.clone()))
    })?;
    all.into_iter()
        .enumerate()
        .map(|(node, v)| {
            v.ok_or(GraphEvalError::Internal {
                node,
                what: "a node without a value",
            })
        })
        .collect()
}

/// The outputs when node `changed` takes `value` instead of its value in `base` (from
/// [`values`]): only the nodes that depend on it are evaluated again.
pub fn replay(
    graph: &Graph,
    base: &[Arc<Tensor>],
    changed: usize,
    value: Arc<Tensor>,
) -> Result<Vec<Tensor>, GraphEvalError> {
    let n = graph.len();
    let internal = |node, what| GraphEvalError::Internal { node, what };
    let mut new: Vec<Option<Arc<Tensor>>> = vec![None; n];
    new[changed] = Some(value);
    for i in changed + 1..n {
        let ops = graph.operands(NodeIndex::new(i));
        if !ops.iter().any(|o| new[o.index()].is_some()) {
            continue;
        }
        let args: Vec<&Tensor> = ops
            .iter()
            .map(|o| {
                new[o.index()]
                    .as_deref()
                    .or_else(|| base.get(o.index()).map(|t| &**t))
            })
            .collect::<Option<_>>()
            .ok_or(internal(i, "an operand without a value"))?;
        let t = apply(&graph.g[NodeIndex::new(i)].op, &args)
            .ok_or(internal(i, "an operation without its operands"))?;
        new[i] = Some(Arc::new(t));
    }
    graph
        .outputs
        .iter()
        .map(|(_, o)| {
            new[o.index()]
                .as_deref()
                .or_else(|| base.get(o.index()).map(|t| &**t))
                .cloned()
                .ok_or(internal(o.index(), "an output without a value"))
        })
        .collect()
}

/// The range of every node (indexed like the graph's nodes) over all elements of all `samples`
/// (each one sample's inputs), evaluated in parallel.
pub fn ranges(
    graph: &Graph,
    samples: &[Vec<Arc<Tensor>>],
    params: &[Arc<Tensor>],
) -> Result<Vec<Range>, GraphEvalError> {
    Ok(profile(graph, samples, params)?.ranges)
}

/// The sums of a [C, H, W] tensor's patches (per channel, tiled from the top-left; identity
/// and zero channels have none).
fn patch_sums(t: &Tensor, patches: &[Patch]) -> Option<Tensor> {
    let &[c, h, w] = t.shape() else {
        return None;
    };
    let mut sums = Vec::new();
    for ch in 0..c {
        if let Some(Patch::Block(ph, pw)) = Patch::of_channel(patches, ch) {
            let plane = &t.data()[ch * h * w..(ch + 1) * h * w];
            sums.extend(kernels::patch_sums(plane, h, w, ph, pw));
        }
    }
    Tensor::new(vec![sums.len()], sums)
}

/// What one pass over the calibration samples measures.
pub struct Profile {
    /// Every node's range ([`ranges`]).
    pub ranges: Vec<Range>,
    /// For every `block_relu` node (others `Range::EMPTY`), the range of its operand's patch
    /// sums: how wide the ring the two parties sum in must be (lowering takes the sums there,
    /// not in the operand's own format).
    pub patch_sums: Vec<Range>,
    /// Every sample's outputs, in order.
    pub outputs: Vec<Vec<Tensor>>,
    /// When the first output is an `argmax`, every sample's scores it picks from (what the
    /// compiler's confirmation perturbs); else empty.
    pub scores: Vec<Tensor>,
}

/// [`ranges`], the Block-ReLU patch sums' ranges and every sample's outputs, in one pass.
pub fn profile(
    graph: &Graph,
    samples: &[Vec<Arc<Tensor>>],
    params: &[Arc<Tensor>],
) -> Result<Profile, GraphEvalError> {
    let sched = Schedule::new(graph);
    let n = graph.g.node_count();
    // The Block-ReLU nodes reading each node.
    let mut block_relus: Vec<Vec<(usize, Arc<[Patch]>)>> = vec![Vec::new(); n];
    for j in graph.g.node_indices() {
        if let NodeOp::BlockRelu(p) = &graph.g[j].op
            && let Some(x) = graph.operands(j).first()
        {
            block_relus[x.index()].push((j.index(), p.clone()));
        }
    }
    // The node an argmax first output picks from.
    let scored = graph
        .outputs
        .first()
        .and_then(|&(_, o)| match &graph.g[o].op {
            NodeOp::Builtin(crate::types::tir::Builtin::Argmax) => {
                graph.operands(o).first().map(|x| x.index())
            }
            _ => None,
        });
    type PerSample = (Vec<Range>, Vec<Range>, Vec<Tensor>, Option<Tensor>);
    let per: Vec<PerSample> = samples
        .par_iter()
        .map(|inputs| {
            let mut rs = vec![Range::EMPTY; n];
            let mut sums = vec![Range::EMPTY; n];
            let mut score = None;
            let outs = walk(graph, &sched, inputs, params, |i, t| {
                if Some(i) == scored {
                    score = Some(t.clone());
                }
                rs[i] = Range::of(t);
                for (j, p) in &block_relus[i] {
                    if let Some(s) = patch_sums(t, p) {
                        sums[*j] = sums[*j].merge(Range::of(&s));
                    }
                }
            })?;
            Ok((rs, sums, outs, score))
        })
        .collect::<Result<_, GraphEvalError>>()?;
    let mut ranges = vec![Range::EMPTY; n];
    let mut patch_sums = vec![Range::EMPTY; n];
    let mut outputs = Vec::with_capacity(per.len());
    let mut scores = Vec::new();
    for (rs, sums, outs, score) in per {
        scores.extend(score);
        for (r, x) in ranges.iter_mut().zip(rs) {
            *r = r.merge(x);
        }
        for (r, x) in patch_sums.iter_mut().zip(sums) {
            *r = r.merge(x);
        }
        outputs.push(outs);
    }
    Ok(Profile {
        ranges,
        patch_sums,
        outputs,
        scores,
    })
}
