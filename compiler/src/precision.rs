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

use std::collections::HashMap;

use crate::diag::{FileId, Span, line_col};
use crate::graph::{Graph, Node, NodeOp, Range};
use crate::types::tir::Builtin;
use sir_runtime::fixed::Fx;

/// Spare bits above the largest calibration magnitude (inputs beyond it still fit up to 2×).
pub const HEADROOM: u32 = 1;

/// The largest fraction the math functions take at their outputs (their internal products
/// must fit 64 bits).
const MATH_FRAC: u32 = 24;

/// The precision unit of every node, the tensors stage 2 of the width search narrows one by one:
/// a named value (each weight, input and `let`) is one unit, over every step of an unrolled
/// loop; an unnamed intermediate is one per source expression and calling statement. Labels
/// are for a reader of `sir inspect`: `@ at 12:9` in the model's own file (`source`, file
/// `file`), `sigmoid in h` inside a library function (whose text every call shares), with
/// `#k` where one statement holds several.
pub fn units(graph: &Graph, source: &str, file: FileId) -> Vec<String> {
    let nodes: Vec<&Node> = (0..graph.len())
        .map(|i| &graph.g[petgraph::graph::NodeIndex::new(i)])
        .collect();
    // How many distinct (span, statement) pairs share a base label: they get ordinals.
    let mut seen: HashMap<(Span, Option<&str>), String> = HashMap::new();
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut layers_of_span: HashMap<Span, Vec<Option<&str>>> = HashMap::new();
    for n in &nodes {
        let l = layers_of_span.entry(n.span).or_default();
        if !l.contains(&n.layer.as_deref()) {
            l.push(n.layer.as_deref());
        }
    }
    nodes
        .iter()
        .map(|n| {
            if let Some(name) = &n.name {
                return name.clone();
            }
            let key = (n.span, n.layer.as_deref());
            if let Some(label) = seen.get(&key) {
                return label.clone();
            }
            let kind = kind_label(&n.op);
            let in_layer = n.layer.as_deref().map(|l| format!(" in {l}"));
            let base = if n.span.file == file {
                let (line, col) = line_col(source, n.span.start as usize);
                let several = layers_of_span.get(&n.span).is_some_and(|l| l.len() > 1);
                format!(
                    "{kind} at {line}:{col}{}",
                    if several {
                        in_layer.unwrap_or_default()
                    } else {
                        String::new()
                    }
                )
            } else {
                format!("{kind}{}", in_layer.unwrap_or_default())
            };
            let k = count.entry(base.clone()).or_insert(0);
            *k += 1;
            let label = if *k == 1 {
                base
            } else {
                format!("{base} #{k}")
            };
            seen.insert(key, label.clone());
            label
        })
        .collect()
}

/// An operation as the source writes it: `@`, `+`, `sigmoid`, `block_relu`.
fn kind_label(op: &NodeOp) -> String {
    let symbol = match op {
        NodeOp::Add => "+",
        NodeOp::Sub => "-",
        NodeOp::Mul => "*",
        NodeOp::Div => "/",
        NodeOp::MatMul => "@",
        NodeOp::Neg => "neg",
        _ => "",
    };
    if !symbol.is_empty() {
        return symbol.into();
    }
    let kind = op.kind();
    let name = kind
        .strip_prefix("Builtin(")
        .and_then(|k| k.strip_suffix(')'))
        .unwrap_or(&kind);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
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
