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

use crate::graph::{Graph, Op, Range};
use crate::lower::Fmt;
use crate::types::tir::Builtin;

/// Spare bits above the largest calibration magnitude (inputs beyond it still fit up to 2×).
pub const HEADROOM: u32 = 1;

/// The largest fraction the math functions take at their outputs (their internal products
/// must fit 64 bits).
const MATH_FRAC: u32 = 24;

/// Formats for every node at storage width `bits`.
pub fn assign(graph: &Graph, ranges: &[Range], bits: u32) -> Vec<Fmt> {
    (0..graph.len())
        .map(|i| {
            let node = &graph.g[petgraph::graph::NodeIndex::new(i)];
            if let Op::Builtin(Builtin::Argmax) = node.op {
                return Fmt { bits, frac: 0 };
            }
            let r = ranges.get(i).copied().unwrap_or(Range::EMPTY);
            let m = r.max.abs().max(r.min.abs());
            let int_bits = if m.is_finite() && m > 0.0 {
                // Bits left of the point for values up to m (m = 1 needs 1, 0.3 needs 0).
                (m.log2().floor() as i64 + 1).max(0) as u32
            } else {
                0
            };
            let mut frac = bits.saturating_sub(1 + int_bits + HEADROOM).min(bits - 2);
            if is_math(&node.op) {
                frac = frac.min(MATH_FRAC);
            }
            Fmt { bits, frac }
        })
        .collect()
}

fn is_math(op: &Op) -> bool {
    matches!(
        op,
        Op::Builtin(
            Builtin::Sigmoid
                | Builtin::Tanh
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
                Op::Builtin(Builtin::Sigmoid | Builtin::Softmax | Builtin::Relu | Builtin::Argmax)
            )
        })
        .collect()
}
