//! Patch sizes for `block_relu(x)` under a ReLU budget (Gorski, Jevnisek, Avidan, "Securing
//! neural networks with knapsack optimization", arXiv 2304.10442, §3–4).
//!
//! Per layer (a `block_relu(x)` node on [C, H, W]) the budget is a fraction of the DReLUs plain
//! ReLU would spend there, ⌊F·C·H·W⌋. Every channel picks one option — a patch shape from
//! [`SHAPES`] (clipped to the map, duplicates dropped), the whole map, the identity or zero —
//! weighing the DReLUs it needs ([`Patch::drelus`]). Its value is minus the distortion the paper
//! uses: the mean squared difference of the model's outputs on calibration samples between the
//! float model with every budgeted layer as ReLU and the same model where only this channel of
//! this layer uses the option (the rest of the graph replayed from there). Distortions are
//! taken as additive across channels, as in the paper, and the multiple-choice knapsack
//! ([`crate::knapsack::solve`]) picks the best total within the budget, exactly.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use rayon::prelude::*;
use sir_runtime::Tensor;
use sir_runtime::fixed::Patch;

use crate::eval::kernels;
use crate::graph::{self, Graph, GraphEvalError, NodeOp};
use crate::knapsack::{self, Item};
use crate::types::tir::Builtin;

/// Patch shapes tried on every channel (clipped to the map), besides the whole map, the
/// identity and zero: the small shapes the paper's lists start with.
pub const SHAPES: [(usize, usize); 16] = [
    (1, 1),
    (1, 2),
    (2, 1),
    (2, 2),
    (1, 3),
    (3, 1),
    (2, 3),
    (3, 2),
    (3, 3),
    (2, 4),
    (4, 2),
    (4, 4),
    (4, 8),
    (8, 4),
    (8, 8),
    (16, 16),
];

/// Calibration samples the distortions are measured on (the first ones).
pub const MAX_SAMPLES: usize = 256;

/// What was chosen for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerChoice {
    /// The layer's name (its `let` binding), else empty (its `span` locates it).
    pub layer: String,
    /// Where the `block_relu(x)` is in the source.
    pub span: crate::diag::Span,
    pub shape: [usize; 3],
    /// One per channel.
    pub patches: Vec<Patch>,
    /// DReLUs the choice needs, the budget, and plain ReLU's count (C·H·W).
    pub drelus: usize,
    pub budget: usize,
    pub relus: usize,
    /// The summed distortion of the choice (mean squared output error, taken as additive).
    pub distortion: f64,
}

/// How `block_relu(x)` gets its patches.
#[derive(Clone, Debug, PartialEq)]
pub enum ReluChoice {
    /// Chosen within this fraction of plain ReLU's DReLUs over the whole model ([`choose`]).
    Budget(f64),
    /// Chosen within this fraction of each layer's DReLUs.
    BudgetPerLayer(f64),
    /// Given: one list per `block_relu(x)` layer in model order, one patch per channel (e.g.
    /// the choice a budgeted compilation recorded, kept while the weights are fine-tuned).
    Pinned(Vec<Vec<Patch>>),
}

impl ReluChoice {
    /// The choice a plan's options record (`relu_budget`, else `relu_choices`), if any.
    pub fn recorded(options: &serde_json::Value) -> Result<Option<ReluChoice>, String> {
        if let Some(f) = options["relu_budget"].as_f64() {
            return Ok(Some(ReluChoice::Budget(f)));
        }
        if let Some(f) = options["relu_budget_per_layer"].as_f64() {
            return Ok(Some(ReluChoice::BudgetPerLayer(f)));
        }
        Ok(recorded_patches(options)?.map(ReluChoice::Pinned))
    }
}

/// The patches a plan's options record (`relu_choices`: what a budget chose, or what was
/// pinned), if any.
pub fn recorded_patches(options: &serde_json::Value) -> Result<Option<Vec<Vec<Patch>>>, String> {
    options
        .get("relu_choices")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| format!("its recorded `relu_choices` do not parse: {e}"))
}

/// A layer's DReLU budget under fraction `f`: ⌊f·relus⌋, plain ReLU's count at most.
pub fn layer_budget(f: f64, relus: usize) -> usize {
    ((f * relus as f64).floor() as usize).min(relus)
}

/// Checks a budget fraction: in (0, 1].
pub fn check_fraction(f: f64) -> Result<(), BudgetError> {
    if f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(BudgetError::Fraction(f))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("{given} patch lists given for {layers} `block_relu(x)` layers")]
    Layers { given: usize, layers: usize },
    #[error("layer {layer}: {given} patches given for {channels} channels")]
    Channels {
        layer: usize,
        given: usize,
        channels: usize,
    },
    #[error(
        "the ReLU budget takes a fraction in (0, 1] of plain ReLU's comparisons, e.g. 0.1; found {0}"
    )]
    Fraction(f64),
    #[error(transparent)]
    Eval(#[from] GraphEvalError),
    #[error("block_relu(x) at node {0} is not on a [C, H, W] tensor")]
    Shape(usize),
}

/// The options of one h×w channel: distinct clipped shapes, the whole map, identity, zero.
pub fn options(h: usize, w: usize) -> Vec<Patch> {
    let mut out: Vec<Patch> = Vec::new();
    for (ph, pw) in SHAPES.iter().copied().chain([(h, w)]) {
        let p = Patch::Block(ph.min(h).max(1), pw.min(w).max(1));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.push(Patch::Identity);
    out.push(Patch::Zero);
    out
}

/// The `block_relu(x)` nodes of `graph`, in order.
fn auto_layers(graph: &Graph) -> Vec<usize> {
    (0..graph.len())
        .filter(|&i| {
            matches!(
                graph.g[NodeIndex::new(i)].op,
                NodeOp::Builtin(Builtin::BlockRelu(None))
            )
        })
        .collect()
}

/// Gives every `block_relu(x)` in `graph` its `choices` (one list per layer in order, one patch
/// per channel) and rewrites those nodes; the returned budgets are the choices' own counts.
pub fn pin(graph: &mut Graph, choices: &[Vec<Patch>]) -> Result<Vec<LayerChoice>, BudgetError> {
    let layers = auto_layers(graph);
    if layers.len() != choices.len() {
        return Err(BudgetError::Layers {
            given: choices.len(),
            layers: layers.len(),
        });
    }
    let mut out = Vec::new();
    for (i, (&j, patches)) in layers.iter().zip(choices).enumerate() {
        let node = NodeIndex::new(j);
        let &[c, _, _] = graph.g[node].shape.as_slice() else {
            return Err(BudgetError::Shape(j));
        };
        if patches.len() != c {
            return Err(BudgetError::Channels {
                layer: i + 1,
                given: patches.len(),
                channels: c,
            });
        }
        out.push(settle(graph, j, patches.clone(), None, f64::NAN));
    }
    Ok(out)
}

/// Rewrites `block_relu(x)` node `j` with `patches` and describes the choice (`budget`:
/// `None` when pinned, then the choice's own count).
fn settle(
    graph: &mut Graph,
    j: usize,
    patches: Vec<Patch>,
    budget: Option<usize>,
    distortion: f64,
) -> LayerChoice {
    let node = NodeIndex::new(j);
    let shape = match graph.g[node].shape[..] {
        [c, h, w] => [c, h, w],
        _ => [patches.len(), 0, 0],
    };
    let [c, h, w] = shape;
    let drelus = patches.iter().map(|p| p.drelus(h, w)).sum();
    graph.g[node].op = NodeOp::BlockRelu(Arc::from(patches.as_slice()));
    LayerChoice {
        layer: graph.g[node].name.clone().unwrap_or_default(),
        span: graph.g[node].span,
        shape,
        patches,
        drelus,
        budget: budget.unwrap_or(drelus),
        relus: c * h * w,
        distortion,
    }
}

/// One `block_relu(x)` layer's knapsack groups: per channel, each option's DReLUs and minus
/// its distortion.
struct Measured {
    node: usize,
    opts: Vec<Patch>,
    groups: Vec<Vec<Item>>,
    relus: usize,
}

/// Chooses the patches of every `block_relu(x)` in `graph` within `fraction` of plain ReLU's
/// DReLUs — over the whole model (`per_layer` false: one knapsack over every layer's channels,
/// as the paper's, so the DReLUs go where they distort least) or per layer — measuring
/// distortions on `samples` (at most [`MAX_SAMPLES`] of them), and rewrites those nodes with
/// their choices. Returns the choices, in graph order.
pub fn choose(
    graph: &mut Graph,
    samples: &[Vec<Arc<Tensor>>],
    params: &[Arc<Tensor>],
    fraction: f64,
    per_layer: bool,
) -> Result<Vec<LayerChoice>, BudgetError> {
    check_fraction(fraction)?;
    let layers = auto_layers(graph);
    if layers.is_empty() {
        return Ok(Vec::new());
    }
    let samples = &samples[..samples.len().min(MAX_SAMPLES)];
    // Every node's value with every budgeted layer as plain ReLU (the float reference).
    let base: Vec<Vec<Arc<Tensor>>> = samples
        .par_iter()
        .map(|s| graph::values(graph, s, params))
        .collect::<Result<_, _>>()?;
    // Per layer: its options and, per channel, each option's DReLUs and distortion.
    let mut measured: Vec<Measured> = Vec::new();
    for &j in &layers {
        let node = NodeIndex::new(j);
        let x = graph
            .operands(node)
            .first()
            .map(|o| o.index())
            .ok_or(BudgetError::Shape(j))?;
        let &[c, h, w] = graph.g[node].shape.as_slice() else {
            return Err(BudgetError::Shape(j));
        };
        let opts = options(h, w);
        // distortion[ch][o]: only channel ch uses option o.
        let pairs: Vec<(usize, usize)> = (0..c)
            .flat_map(|ch| (0..opts.len()).map(move |o| (ch, o)))
            .collect();
        let dist: Vec<f64> = pairs
            .par_iter()
            .map(|&(ch, o)| {
                if opts[o] == Patch::Block(1, 1) {
                    return Ok(0.0);
                }
                let mut total = 0.0;
                for b in &base {
                    let value = with_channel(&b[j], &b[x], ch, opts[o]);
                    let outs = graph::replay(graph, b, j, Arc::new(value))?;
                    total += mse(&outs, b, graph);
                }
                Ok(total / base.len().max(1) as f64)
            })
            .collect::<Result<_, GraphEvalError>>()?;
        let groups: Vec<Vec<Item>> = (0..c)
            .map(|ch| {
                opts.iter()
                    .enumerate()
                    .map(|(o, p)| Item {
                        weight: p.drelus(h, w),
                        value: -dist[ch * opts.len() + o],
                    })
                    .collect()
            })
            .collect();
        measured.push(Measured {
            node: j,
            opts,
            groups,
            relus: c * h * w,
        });
    }
    let mut chosen = Vec::new();
    if per_layer {
        for Measured {
            node: j,
            opts,
            groups,
            relus,
        } in measured
        {
            let budget = layer_budget(fraction, relus);
            // Identity and zero weigh nothing, so a choice always exists.
            let (picks, value) = knapsack::solve(&groups, budget).ok_or(BudgetError::Shape(j))?;
            let patches: Vec<Patch> = picks.iter().map(|&o| opts[o]).collect();
            chosen.push(settle(graph, j, patches, Some(budget), -value));
        }
        return Ok(chosen);
    }
    // One knapsack over every channel of every layer, under the model's budget.
    let relus: usize = measured.iter().map(|m| m.relus).sum();
    let budget = layer_budget(fraction, relus);
    let all: Vec<Vec<Item>> = measured
        .iter()
        .flat_map(|m| m.groups.iter().cloned())
        .collect();
    let (picks, _) = knapsack::solve(&all, budget).ok_or(BudgetError::Shape(layers[0]))?;
    let mut at = 0;
    for Measured {
        node: j,
        opts,
        groups,
        ..
    } in measured
    {
        let mine = &picks[at..at + groups.len()];
        at += groups.len();
        let patches: Vec<Patch> = mine.iter().map(|&o| opts[o]).collect();
        let distortion: f64 = mine.iter().zip(&groups).map(|(&o, g)| -g[o].value).sum();
        chosen.push(settle(graph, j, patches, None, distortion));
    }
    Ok(chosen)
}

/// `relu_out` with channel `ch` recomputed from the layer's input `x` under `patch`.
fn with_channel(relu_out: &Tensor, x: &Tensor, ch: usize, patch: Patch) -> Tensor {
    let (h, w) = (x.shape()[1], x.shape()[2]);
    let plane = Tensor::new(
        vec![1, h, w],
        x.data()[ch * h * w..(ch + 1) * h * w].to_vec(),
    )
    .unwrap_or_else(|| Tensor::scalar(0.0));
    let changed = kernels::block_relu_channels(&plane, &[patch]);
    let mut data = relu_out.data().to_vec();
    data[ch * h * w..(ch + 1) * h * w].copy_from_slice(changed.data());
    Tensor::new(relu_out.shape().to_vec(), data).unwrap_or_else(|| relu_out.clone())
}

/// The mean squared difference between `outs` and the graph's outputs in `base`.
fn mse(outs: &[Tensor], base: &[Arc<Tensor>], graph: &Graph) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (t, (_, o)) in outs.iter().zip(&graph.outputs) {
        for (a, b) in t.data().iter().zip(base[o.index()].data()) {
            let d = a - b;
            if d.is_finite() {
                sum += d * d;
            }
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_distinct_and_fit_the_map() {
        let o = options(4, 4);
        assert!(o.contains(&Patch::Block(4, 4)));
        assert!(o.contains(&Patch::Identity) && o.contains(&Patch::Zero));
        for (i, a) in o.iter().enumerate() {
            assert!(!o[i + 1..].contains(a), "{a} twice");
            if let Patch::Block(ph, pw) = a {
                assert!(*ph <= 4 && *pw <= 4);
            }
        }
        assert!(options(8, 8).contains(&Patch::Block(8, 8)));
    }
}
