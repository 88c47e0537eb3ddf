//! The precision pass: a fixed-point format per graph node, from the value ranges measured on
//! calibration data (DESIGN.md "Fixed point"; SeeDot/Shiftry's scale rule, sirnn-notes §5.2):
//! fraction bits = width − 1 − ⌈log2 max|x|⌉ − headroom, so the largest calibration value fits
//! with one spare bit. The width comes from the search in `compile` (one width for every
//! stored tensor, the cheapest that meets the accuracy budget); products and accumulators are
//! exact in wider rings inside the lowering.
//!
//! Which values are known non-negative is decided from the operation, never from calibration:
//! the protocols' known-MSB variants would compute something else on an input outside the
//! calibrated range, and the two-party result must equal the cleartext one on every input.

use crate::graph::{Graph, NodeOp, Range};
use crate::types::tir::Builtin;
use sir_runtime::fixed::Fx;

/// Spare bits above the largest calibration magnitude (inputs beyond it still fit up to 2×).
pub const HEADROOM: u32 = 1;

/// The largest fraction the math functions take at their outputs (their internal products
/// must fit 64 bits).
const MATH_FRAC: u32 = 24;

/// The precision group of a node: its binding name (each weight, input and named `let` is its
/// own group), or its operation kind for intermediate values.
pub fn group(graph: &Graph, i: usize) -> String {
    let n = &graph.g[petgraph::graph::NodeIndex::new(i)];
    match &n.name {
        Some(name) => name.clone(),
        None => n.op.kind(),
    }
}

/// Formats for every node: width `width(i)` unless pinned by an attribute, fraction bits from
/// the range unless pinned.
pub fn assign(graph: &Graph, ranges: &[Range], width: &dyn Fn(usize) -> u32) -> Vec<Fx> {
    (0..graph.len())
        .map(|i| {
            let node = &graph.g[petgraph::graph::NodeIndex::new(i)];
            let bits = node.pin.bits.unwrap_or_else(|| width(i)).clamp(2, 64);
            if let NodeOp::Builtin(Builtin::Argmax) = node.op {
                return Fx { bits, frac: 0 };
            }
            let r = ranges.get(i).copied().unwrap_or(Range::EMPTY);
            let mut frac = bits
                .saturating_sub(1 + int_bits(r) + HEADROOM)
                .min(bits - 2);
            if is_math(&node.op) {
                frac = frac.min(MATH_FRAC);
            }
            let frac = node.pin.frac.unwrap_or(frac).min(bits);
            Fx { bits, frac }
        })
        .collect()
}

/// Bits left of the point for values up to the range's magnitude (1 needs 1, 0.3 needs 0).
pub(crate) fn int_bits(r: Range) -> u32 {
    let m = r.max.abs().max(r.min.abs());
    if m.is_finite() && m > 0.0 {
        (m.log2().floor() as i64 + 1).max(0) as u32
    } else {
        0
    }
}

/// The pins that cannot hold the calibration range: (node, its name, pinned format, range).
pub fn pin_warnings(graph: &Graph, ranges: &[Range], fmts: &[Fx]) -> Vec<String> {
    (0..graph.len())
        .filter_map(|i| {
            let node = &graph.g[petgraph::graph::NodeIndex::new(i)];
            let pinned = node.pin.bits.is_some() || node.pin.frac.is_some();
            let f = fmts[i];
            let r = ranges.get(i).copied()?;
            let cap = ((1u128 << (f.bits - 1)) as f64 - 1.0) / (f.frac as f64).exp2();
            let m = r.max.abs().max(r.min.abs());
            (pinned && m.is_finite() && m > cap).then(|| {
                format!(
                    "`{}` is pinned to {} bits with {} fraction bits (largest value {cap:.4}), but calibration values reach [{:.4}, {:.4}]",
                    node.name.as_deref().unwrap_or("a value"),
                    f.bits,
                    f.frac,
                    r.min,
                    r.max
                )
            })
        })
        .collect()
}

fn is_math(op: &NodeOp) -> bool {
    matches!(
        op,
        NodeOp::Builtin(
            Builtin::Sigmoid
                | Builtin::Tanh
                | Builtin::Gelu
                | Builtin::Exp
                | Builtin::Rsqrt
                | Builtin::Sqrt
                | Builtin::Reciprocal
                | Builtin::Softmax
        )
    )
}

/// Nodes whose value is ≥ 0 on every input, by construction (sigmoid and softmax lie in
/// [0, 1], ReLU and argmax are non-negative), so the cheaper known-MSB protocols apply.
pub fn nonneg(graph: &Graph) -> Vec<bool> {
    graph
        .g
        .node_weights()
        .map(|n| {
            matches!(
                n.op,
                NodeOp::Builtin(
                    Builtin::Sigmoid | Builtin::Softmax | Builtin::Relu | Builtin::Argmax
                )
            )
        })
        .collect()
}
