//! Lowering: the dataflow graph with a fixed-point format per node → a plan of runtime
//! instructions (`sir_runtime::plan`), each with its exact cost.
//!
//! Every value is one of: shared (a plan tensor both parties hold shares of), server-held (a
//! weight, used in the clear by the server's MatMul), or public (a constant of the model). The
//! rules follow SiRnn and DESIGN.md "Fixed point": products are exact in m + n bits (matmul
//! accumulators + ⌈log2 K⌉), then one rescale (truncate with rounding, then narrow) brings the
//! value to the node's format; additions align both operands to the node's format first;
//! constants are folded into the public operand of AddPublic/MulPublic. Operations this runtime
//! has no protocol for yet are refused with the node's span.

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use sir_runtime::Tensor as FTensor;
use sir_runtime::fixed::linear::MatDims;
use sir_runtime::fixed::{Fx, Patch};
use sir_runtime::net::link::Link;
use sir_runtime::ot::OtKind;
use sir_runtime::plan::math::MathParams;
use sir_runtime::plan::{Io, MathOp, Op, Owner, Plan, PlanError, PlanInfo, TensorDecl, Trunc};
use sir_runtime::proto::linear::MatMulParams;

use crate::diag::Span;
use crate::eval::kernels;
use crate::graph::{Graph, NodeOp};
use crate::types::tir::Builtin;

/// Why a graph could not be lowered.
#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error("{what} is not supported by the two-party runtime yet")]
    Unsupported { what: String, span: Span },
    #[error("{0}")]
    Plan(#[from] PlanError),
}

impl LowerError {
    pub fn span(&self) -> Option<Span> {
        match self {
            LowerError::Unsupported { span, .. } => Some(*span),
            LowerError::Plan(_) => None,
        }
    }
}

/// What the lowering needs besides the graph.
pub struct Meta<'a> {
    pub model: &'a str,
    pub source_hash: String,
    pub options: serde_json::Value,
    pub input_names: Vec<String>,
    pub param_names: Vec<String>,
    /// Whether a conversion that drops fraction bits from a value itself rounded from a finer
    /// one rounds that finer one once (fewer rounds and bytes, a slightly different result;
    /// the search tries both).
    pub fuse_rounding: bool,
    /// Products keep only the bits their results keep ([`crate::cut`]).
    pub cut_products: bool,
    /// The link `sir compile --net` optimises for: constructions that trade bytes for
    /// flights are taken where they save time on it (else the fewest bytes).
    pub net: Option<Link>,
    /// The OT engine the plan is priced for.
    pub ot: OtKind,
    /// Products with the server's weights on masks prepared ahead.
    pub masked_products: bool,
    /// Each graph node's range on the calibration set (the inputs' and weights' bound what a
    /// party is warned about).
    pub ranges: &'a [crate::graph::Range],
    /// Each `block_relu` node's patch sums' range on the calibration set (the ring they are
    /// summed in).
    pub patch_sums: &'a [crate::graph::Range],
}

#[derive(Clone, Debug)]
enum Val {
    /// A shared plan tensor.
    Shared(usize),
    /// The server's weight tensor (in the clear on the server).
    Server(usize),
    /// A public constant.
    Public(Arc<FTensor>),
}

struct Lower<'a> {
    graph: &'a Graph,
    fmts: &'a [Fx],
    nonneg: &'a [bool],
    plan: Plan,
    vals: Vec<Option<Val>>,
    /// Server weights already shared.
    shared_params: HashMap<usize, usize>,
    /// Nodes a polynomial reads, with the format (its ring, its input scale) the polynomial
    /// wants them in: a convolution then produces that format directly.
    poly_inputs: HashMap<usize, Fx>,
    /// Each tensor made by `Narrow` → the widest tensor it was narrowed from (same fraction,
    /// same sign knowledge): widening it again narrows that one instead (`Lower::widen`).
    narrowed_from: HashMap<usize, usize>,
    /// Each tensor `convert` made by dropping fraction bits → the tensor it rounded (the first
    /// of a chain): dropping more bits rounds that one once instead of rounding twice.
    rounded_from: HashMap<usize, usize>,
    fuse_rounding: bool,
    net: Option<Link>,
    patch_sums: &'a [crate::graph::Range],
    node: NodeIndex,
}

/// How a polynomial is evaluated (see `Lower::poly`).
struct PolyPlan {
    /// Degree, coefficient scale, and the coefficients as integers at that scale.
    d: usize,
    q: Vec<f64>,
    /// x's scale, the result's scale d·f + fc, and the ring.
    f: u32,
    scale: u32,
    ring: u32,
}

impl PolyPlan {
    /// The plan for `coeffs` on an operand of format `fx`, or why there is none.
    fn new(coeffs: &[f64], fx: Fx) -> Result<PolyPlan, String> {
        if coeffs.iter().any(|c| !c.is_finite()) {
            return Err("a polynomial with an infinite or NaN coefficient".into());
        }
        let d = coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0);
        let coeffs = &coeffs[..=d];
        let fc = (0..=16u32)
            .find(|&f| {
                coeffs.iter().all(|&c| {
                    let v = c * (f as f64).exp2();
                    v.fract() == 0.0 && v.abs() < 2f64.powi(40)
                })
            })
            .unwrap_or(16);
        let q: Vec<f64> = coeffs
            .iter()
            .map(|&c| (c * (fc as f64).exp2()).round())
            .collect();
        let int_bits = fx.bits.saturating_sub(fx.frac); // with the sign bit
        let big = (int_bits as i32 - 1).max(0);
        let bound: f64 = q
            .iter()
            .enumerate()
            .map(|(k, c)| c.abs() / (fc as f64).exp2() * 2f64.powi(big * k as i32))
            .sum();
        let out_int = (bound + 1.0).log2().ceil().max(0.0) as u32;
        let too_wide =
            || format!("a degree-{d} polynomial whose values on x's range need more than 64 bits");
        let room = 63i64 - out_int as i64 - fc as i64;
        let f = if d == 0 {
            fx.frac
        } else {
            let most = room / d as i64;
            if most < 0 {
                return Err(too_wide());
            }
            fx.frac.min(most as u32)
        };
        let scale = d as u32 * f + fc;
        let ring = (out_int + 1 + scale).max(int_bits + f).max(2);
        if ring > 64 {
            return Err(too_wide());
        }
        Ok(PolyPlan {
            d,
            q,
            f,
            scale,
            ring,
        })
    }

    /// The coefficients pre-scaled to the common scale, as signed ring elements.
    fn coeffs(&self) -> Vec<i64> {
        self.q
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                let shift = (self.d - k) as u32 * self.f;
                let v = (c as i64 as u64).wrapping_shl(shift);
                sir_runtime::ring::to_signed(sir_runtime::ring::reduce(v, self.ring), self.ring)
            })
            .collect()
    }
}

/// A polynomial builtin's coefficients.
fn poly_coeffs(op: &NodeOp) -> Option<&[f64]> {
    match op {
        NodeOp::Builtin(Builtin::Poly(c)) => Some(c),
        NodeOp::Builtin(Builtin::PolyRelu) => Some(&kernels::POLY_RELU_COEFFS),
        _ => None,
    }
}

/// Lowers `graph` with format `fmts[i]` (and the known-non-negative fact `nonneg[i]`) for
/// node i.
pub fn lower(
    graph: &Graph,
    fmts: &[Fx],
    nonneg: &[bool],
    meta: Meta<'_>,
) -> Result<(Plan, PlanInfo), LowerError> {
    let mut l = Lower {
        graph,
        fmts,
        nonneg,
        plan: Plan {
            ot: meta.ot,
            masked_products: meta.masked_products,
            ..Plan::new(meta.model, meta.source_hash, meta.options)
        },
        vals: vec![None; graph.len()],
        shared_params: HashMap::new(),
        poly_inputs: HashMap::new(),
        narrowed_from: HashMap::new(),
        rounded_from: HashMap::new(),
        fuse_rounding: meta.fuse_rounding,
        net: meta.net,
        patch_sums: meta.patch_sums,
        node: NodeIndex::new(0),
    };
    for n in graph.g.node_indices() {
        if let (Some(c), Some(x)) = (poly_coeffs(&graph.g[n].op), graph.operands(n).first())
            && let Ok(p) = PolyPlan::new(c, fmts[x.index()])
        {
            l.poly_inputs.entry(x.index()).or_insert(Fx {
                bits: p.ring,
                frac: p.f,
            });
        }
    }
    // Inputs and weights first, in declaration order, so the plan's I/O is stable.
    for (i, &n) in graph.inputs.iter().enumerate() {
        let f = fmts[n.index()];
        let name = meta.input_names.get(i).cloned().unwrap_or_default();
        let t = l.tensor(
            Some(name.clone()),
            &graph.g[n].shape,
            Owner::Client,
            f,
            false,
        );
        let mut io = Io::new(name, t);
        io.calibrated_log2 = calibrated_log2(meta.ranges, n.index());
        l.plan.inputs.push(io);
    }
    for (i, &n) in graph.params.iter().enumerate() {
        let f = fmts[n.index()];
        let name = meta.param_names.get(i).cloned().unwrap_or_default();
        let t = l.tensor(
            Some(name.clone()),
            &graph.g[n].shape,
            Owner::Server,
            f,
            false,
        );
        let mut io = Io::new(name, t);
        io.calibrated_log2 = calibrated_log2(meta.ranges, n.index());
        l.plan.params.push(io);
        l.vals[n.index()] = Some(Val::Server(t));
    }
    for (i, &n) in graph.inputs.iter().enumerate() {
        let client = l.plan.inputs[i].tensor;
        l.node = n;
        let s = l.derived(client, Owner::Shared);
        l.push(Op::Share, vec![client], s)?;
        l.vals[n.index()] = Some(Val::Shared(s));
    }
    for idx in 0..graph.len() {
        let n = NodeIndex::new(idx);
        if l.vals[idx].is_some() {
            continue;
        }
        l.node = n;
        let v = l.node_val(n)?;
        // The tensor holding the node's value records its calibrated magnitude.
        if let Val::Shared(t) = v
            && l.plan.tensors[t].calibrated_log2.is_none()
        {
            l.plan.tensors[t].calibrated_log2 = calibrated_log2(meta.ranges, idx);
        }
        l.vals[idx] = Some(v);
    }
    for (name, n) in &graph.outputs {
        l.node = *n;
        let v = l.shared(*n)?;
        let out = l.derived(v, Owner::Revealed);
        l.plan.tensors[out].name = Some(name.clone());
        l.push(Op::Reveal, vec![v], out)?;
        l.plan.outputs.push(Io::new(name.clone(), out));
    }
    drop_dead(&mut l.plan);
    if meta.cut_products {
        crate::cut::cut_products(&mut l.plan);
    }
    // Lowered in graph order, which is source order; grouping reorders.
    l.plan.record_layer_order();
    // Independent instructions of one kind share their messages.
    let plan = crate::schedule::group_rounds(l.plan)?;
    // The compiler holds its own output to the rules every reader applies, and hands on what
    // the check proved.
    let info = plan.check()?;
    Ok((plan, info))
}

/// The power of two the calibrated values of node `i` stayed below (none without a range).
fn calibrated_log2(ranges: &[crate::graph::Range], i: usize) -> Option<u32> {
    let r = ranges.get(i)?;
    (r.min <= r.max).then(|| crate::precision::int_bits(*r))
}

/// Removes the instructions nothing revealed depends on (a rescaled copy every consumer
/// bypassed: see `Lower::convert`). The inputs' shares stay: the client always sends them.
fn drop_dead(plan: &mut Plan) {
    let mut needed = vec![false; plan.tensors.len()];
    let mut keep = vec![false; plan.instrs.len()];
    for (k, ins) in plan.instrs.iter().enumerate().rev() {
        let root = matches!(ins.op, Op::Reveal)
            || (matches!(ins.op, Op::Share)
                && plan.inputs.iter().any(|i| ins.args.contains(&i.tensor)));
        if root || needed[ins.out] {
            keep[k] = true;
            for &a in &ins.args {
                needed[a] = true;
            }
        }
    }
    let mut k = 0;
    plan.instrs.retain(|_| {
        k += 1;
        keep[k - 1]
    });
}

fn ceil_log2(n: usize) -> u32 {
    sir_runtime::fixed::linear::ceil_log2(n)
}

impl Lower<'_> {
    fn span(&self) -> Span {
        self.graph.g[self.node].span
    }

    fn unsupported<T>(&self, what: impl Into<String>) -> Result<T, LowerError> {
        Err(LowerError::Unsupported {
            what: what.into(),
            span: self.span(),
        })
    }

    fn tensor(
        &mut self,
        name: Option<String>,
        shape: &[usize],
        owner: Owner,
        f: Fx,
        nonneg: bool,
    ) -> usize {
        self.plan.tensor(TensorDecl {
            name,
            shape: shape.to_vec(),
            owner,
            bits: f.bits,
            frac: f.frac,
            nonneg,
            value: None,
            calibrated_log2: None,
        })
    }

    /// A new tensor like `t` with another owner.
    fn derived(&mut self, t: usize, owner: Owner) -> usize {
        let mut x = self.plan.tensors[t].clone();
        x.owner = owner;
        x.value = None;
        self.plan.tensor(x)
    }

    /// A new shared tensor of `shape` and format `f`, named after the current node.
    fn fresh(&mut self, shape: &[usize], f: Fx, nonneg: bool) -> usize {
        let name = self.graph.g[self.node].name.clone();
        self.tensor(name, shape, Owner::Shared, f, nonneg)
    }

    fn push(&mut self, op: Op, args: Vec<usize>, out: usize) -> Result<(), LowerError> {
        let sp = self.span();
        let node = &self.graph.g[self.node];
        let layer = node.layer.clone().or_else(|| node.name.clone());
        self.plan
            .push(op, args, out, Some([sp.start, sp.end]), layer)?;
        Ok(())
    }

    fn fmt_of(&self, t: usize) -> Fx {
        let t = &self.plan.tensors[t];
        Fx {
            bits: t.bits,
            frac: t.frac,
        }
    }

    fn shape_of(&self, t: usize) -> Vec<usize> {
        self.plan.tensors[t].shape.clone()
    }

    /// A public constant tensor (quantized at `f`).
    /// (Rounded, then reduced mod 2^bits rather than saturated: a constant added to a value
    /// only has to be right modulo the ring of the sum.)
    fn public(&mut self, v: &FTensor, f: Fx) -> usize {
        let value = v
            .data()
            .iter()
            .map(|&x| {
                let r = (x * (f.frac as f64).exp2()).round();
                let r = if r.is_finite() {
                    r.clamp(-9.2e18, 9.2e18) as i64
                } else {
                    0
                };
                sir_runtime::ring::to_signed(sir_runtime::ring::reduce(r as u64, f.bits), f.bits)
            })
            .collect();
        self.plan.tensor(TensorDecl::public(
            v.shape().to_vec(),
            f.bits,
            f.frac,
            value,
        ))
    }

    /// Node `n` as a shared tensor (a weight is shared once; a constant cannot be).
    fn shared(&mut self, n: NodeIndex) -> Result<usize, LowerError> {
        match self.vals[n.index()].clone() {
            Some(Val::Shared(t)) => Ok(t),
            Some(Val::Server(t)) => {
                if let Some(&s) = self.shared_params.get(&t) {
                    return Ok(s);
                }
                let s = self.derived(t, Owner::Shared);
                self.push(Op::Share, vec![t], s)?;
                self.shared_params.insert(t, s);
                Ok(s)
            }
            Some(Val::Public(c)) => {
                let f = self.fmts[n.index()];
                let pt = self.public(&c, f);
                let s = self.derived(pt, Owner::Shared);
                self.push(Op::Embed, vec![pt], s)?;
                Ok(s)
            }
            None => Err(LowerError::Plan(PlanError::Plan(
                "a node used before it was lowered".into(),
            ))),
        }
    }

    /// Rescales shared `t` to format `to` (rounding to nearest when dropping fraction bits).
    fn convert(&mut self, t: usize, to: Fx) -> Result<usize, LowerError> {
        let from = self.fmt_of(t);
        let shape = self.shape_of(t);
        let nonneg = self.plan.tensors[t].nonneg;
        if to.frac > 62 || from.frac > 62 || to.bits > 64 || to.frac >= to.bits {
            return Err(LowerError::Plan(PlanError::Plan(format!(
                "format {}.{} cannot be reached from {}.{}",
                to.bits, to.frac, from.bits, from.frac
            ))));
        }
        if self.fuse_rounding
            && to.frac < from.frac
            && let Some(&src) = self.rounded_from.get(&t)
            && (!nonneg || self.plan.tensors[src].nonneg)
        {
            return self.convert(src, to);
        }
        let mut cur = t;
        let mut f = from;
        let rounds = f.frac > to.frac;
        if f.frac > to.frac {
            let s = f.frac - to.frac;
            // TR keeps b − s bits: if that is narrower than the target, widen first when that
            // is free (a re-narrowing) or TR would keep nothing; otherwise truncate first and
            // extend the narrower result (an extension's cost grows with its input's width).
            let free = self
                .narrowed_from
                .get(&cur)
                .is_some_and(|&src| self.fmt_of(src).bits >= to.bits + s);
            if f.bits < to.bits + s && (free || f.bits <= s) {
                let wide = Fx {
                    bits: (to.bits + s).min(64),
                    frac: f.frac,
                };
                cur = self.widen(cur, wide.bits, nonneg)?;
                f = wide;
            }
            // floor((x + 2^{b−1} + 2^{s−1})/2^s) − 2^{b−1−s}: the signed value, rounded.
            let off = if nonneg { 0 } else { 1u64 << (f.bits - 1) };
            let c = off.wrapping_add(1u64 << (s - 1));
            cur = self.add_scalar(cur, c)?;
            let r = Fx {
                bits: f.bits - s,
                frac: to.frac,
            };
            let tr = self.fresh(&shape, r, nonneg);
            self.push(
                Op::Truncate {
                    shift: s,
                    mode: Trunc::Reduce,
                },
                vec![cur],
                tr,
            )?;
            cur = tr;
            if off != 0 {
                cur = self.add_scalar(cur, (off >> s).wrapping_neg())?;
            }
            f = r;
        } else if f.frac < to.frac {
            // x at scale f + s is x·2^s: MulPublic by 1.0 held at scale s (encoding 2^s).
            let s = to.frac - f.frac;
            // Only the target's bits of x·2^s are kept, and MulPublic is exact modulo its width:
            // extend straight to the target (never wider), or multiply at x's width and narrow.
            let wide = Fx {
                bits: f.bits.max(to.bits),
                frac: f.frac,
            };
            if wide.bits > f.bits {
                cur = self.widen(cur, wide.bits, nonneg)?;
            }
            let one = self.plan.tensor(TensorDecl {
                nonneg: true,
                ..TensorDecl::public(Vec::new(), wide.bits, s, vec![1i64 << s])
            });
            f = Fx {
                bits: wide.bits,
                frac: to.frac,
            };
            let m = self.fresh(&shape, f, nonneg);
            self.push(Op::MulPublic, vec![cur, one], m)?;
            cur = m;
        }
        if f.bits > to.bits {
            let n = self.fresh(
                &shape,
                Fx {
                    bits: to.bits,
                    frac: f.frac,
                },
                nonneg,
            );
            self.push(Op::Narrow, vec![cur], n)?;
            let src = self.narrowed_from.get(&cur).copied().unwrap_or(cur);
            self.narrowed_from.insert(n, src);
            cur = n;
        } else if f.bits < to.bits {
            cur = self.widen(cur, to.bits, nonneg)?;
        }
        if rounds {
            self.rounded_from.insert(cur, t);
        }
        Ok(cur)
    }

    /// Shared `t` at `bits` (more than its own), same fraction, as a tensor of sign knowledge
    /// `nonneg`. A tensor narrowed from one at least that wide is narrowed from it again: a
    /// local cut instead of an extension's rounds and bytes. (The plan is the semantics: a
    /// value that overflowed the narrow format keeps its high bits here, and the precision
    /// search measures the plan as lowered.)
    fn widen(&mut self, t: usize, bits: u32, nonneg: bool) -> Result<usize, LowerError> {
        let f = self.fmt_of(t);
        let shape = self.shape_of(t);
        let out_fmt = Fx { bits, frac: f.frac };
        if let Some(&src) = self.narrowed_from.get(&t) {
            let same_sign = self.plan.tensors[src].nonneg == self.plan.tensors[t].nonneg;
            let knows = !nonneg || self.plan.tensors[src].nonneg;
            if same_sign && knows && self.fmt_of(src).bits >= bits {
                if self.fmt_of(src).bits == bits {
                    return Ok(src);
                }
                let n = self.fresh(&shape, out_fmt, nonneg);
                self.push(Op::Narrow, vec![src], n)?;
                self.narrowed_from.insert(n, src);
                return Ok(n);
            }
        }
        let w = self.fresh(&shape, out_fmt, nonneg);
        self.push(Op::Extend, vec![t], w)?;
        Ok(w)
    }

    /// Shared node `n` as the operand of a product with the server's weights: a polynomial's
    /// exact value lives in its ring, far wider than the node's own format (34 bits against
    /// 8 in examples/cnn_cost), and a product's bytes grow with its operand's width (the
    /// masks' bits, the wrap term), so it takes the value rounded to the node's format first
    /// (cnn_cost's poly_relu plan: 31.8 MB online before). Any other value is taken as it is.
    fn product_operand(&mut self, n: NodeIndex) -> Result<usize, LowerError> {
        let x = self.shared(n)?;
        let want = self.fmts[n.index()];
        let from_poly = self
            .producer(x)
            .is_some_and(|i| matches!(i.op, Op::Poly { .. }));
        if from_poly && self.fmt_of(x).bits > want.bits {
            return self.convert(x, want);
        }
        Ok(x)
    }

    /// The instruction that wrote tensor `t`.
    fn producer(&self, t: usize) -> Option<&sir_runtime::plan::Instr> {
        self.plan.instrs.iter().rev().find(|i| i.out == t)
    }

    /// Elements a widening of shared `t` to `bits` through its producers would extend (0:
    /// free), or `None` where no such route exists. The route follows layout moves and sums
    /// back to values narrowed from ones at least that wide (a product's accumulator after
    /// its one truncation), so e.g. a convolution plus its bias is re-taken at the wider
    /// width by extending only the bias.
    fn widen_route(&self, t: usize, bits: u32, depth: u32) -> Option<usize> {
        let nonneg = self.plan.tensors[t].nonneg;
        if let Some(&src) = self.narrowed_from.get(&t)
            && self.fmt_of(src).bits >= bits
            && self.plan.tensors[src].nonneg == nonneg
        {
            return Some(0);
        }
        if depth > 12 {
            return None;
        }
        let ins = self.producer(t)?;
        let arg = |i: usize| ins.args.get(i).copied();
        // An operand widened by its own route or extended, whichever extends fewer.
        let leaf = |a: usize| {
            let n = self.plan.tensors[a].numel();
            self.widen_route(a, bits, depth + 1).map_or(n, |r| r.min(n))
        };
        match ins.op {
            Op::Narrow => {
                let a = arg(0)?;
                (self.fmt_of(a).bits >= bits && self.plan.tensors[a].nonneg == nonneg).then_some(0)
            }
            Op::Reshape | Op::Transpose | Op::Broadcast => Some(leaf(arg(0)?)),
            Op::Add | Op::Sub => Some(leaf(arg(0)?) + leaf(arg(1)?)),
            _ => None,
        }
    }

    /// Shared `t` at `bits` (more than its own, same fraction, signed as `t`): through its
    /// producers where [`Lower::widen_route`] extends fewer elements than `t` has, else
    /// [`Lower::widen`].
    fn widen_through(&mut self, t: usize, bits: u32, depth: u32) -> Result<usize, LowerError> {
        let nonneg = self.plan.tensors[t].nonneg;
        // An extension is taken again from its source, straight to the new width: one
        // extension's rounds, not two in a row.
        if let Some(ins) = self.producer(t)
            && ins.op == Op::Extend
            && !self.narrowed_from.contains_key(&t)
        {
            let a = ins.args[0];
            if !nonneg || self.plan.tensors[a].nonneg {
                return self.widen(a, bits, nonneg);
            }
        }
        // (No dearer than extending t itself: a tie still takes the route, whose extensions
        // start earlier, from the sources.)
        let cheaper = self
            .widen_route(t, bits, depth)
            .is_some_and(|r| r <= self.plan.tensors[t].numel());
        if !cheaper || self.narrowed_from.contains_key(&t) {
            return self.widen(t, bits, nonneg);
        }
        let Some(ins) = self.producer(t).cloned() else {
            return self.widen(t, bits, nonneg);
        };
        let shape = self.shape_of(t);
        let out_fmt = Fx {
            bits,
            frac: self.fmt_of(t).frac,
        };
        let args: Vec<usize> = match ins.op {
            Op::Narrow => {
                let a = ins.args[0];
                if self.fmt_of(a).bits == bits {
                    return Ok(a);
                }
                vec![a]
            }
            _ => ins
                .args
                .iter()
                .map(|&a| self.widen_through(a, bits, depth + 1))
                .collect::<Result<_, _>>()?,
        };
        let w = self.fresh(&shape, out_fmt, nonneg);
        self.push(ins.op.clone(), args, w)?;
        Ok(w)
    }

    /// Shared `t` + a public scalar (an integer in t's encoding).
    fn add_scalar(&mut self, t: usize, c: u64) -> Result<usize, LowerError> {
        let f = self.fmt_of(t);
        let shape = self.shape_of(t);
        let nonneg = self.plan.tensors[t].nonneg;
        let v = sir_runtime::ring::to_signed(sir_runtime::ring::reduce(c, f.bits), f.bits);
        let c = self
            .plan
            .tensor(TensorDecl::public(Vec::new(), f.bits, f.frac, vec![v]));
        let out = self.fresh(&shape, f, nonneg);
        self.push(Op::AddPublic, vec![t, c], out)?;
        Ok(out)
    }

    /// Shared `t` broadcast to `shape` (itself if it has that shape).
    fn broadcast(&mut self, t: usize, shape: &[usize]) -> Result<usize, LowerError> {
        if self.plan.tensors[t].shape == shape {
            return Ok(t);
        }
        let f = self.fmt_of(t);
        let nonneg = self.plan.tensors[t].nonneg;
        let out = self.fresh(shape, f, nonneg);
        self.push(Op::Broadcast, vec![t], out)?;
        Ok(out)
    }

    fn operands(&self, n: NodeIndex) -> Vec<NodeIndex> {
        self.graph.operands(n)
    }

    fn node_val(&mut self, n: NodeIndex) -> Result<Val, LowerError> {
        let node = &self.graph.g[n];
        let to = self.fmts[n.index()];
        let nonneg = self.nonneg[n.index()];
        let shape = node.shape.clone();
        let ops = self.operands(n);
        let val = |l: &Self, i: usize| l.vals[ops[i].index()].clone();
        Ok(Val::Shared(match &node.op {
            NodeOp::Input(_) | NodeOp::Param(_) => unreachable_val(&self.vals, n)?,
            NodeOp::Const(t) => return Ok(Val::Public(t.clone())),
            NodeOp::Neg => {
                let x = self.shared(ops[0])?;
                let f = self.fmt_of(x);
                let out = self.fresh(&self.shape_of(x), f, false);
                self.push(Op::Neg, vec![x], out)?;
                self.convert(out, to)?
            }
            NodeOp::Add | NodeOp::Sub => {
                let sub = matches!(node.op, NodeOp::Sub);
                match (val(self, 0), val(self, 1)) {
                    (Some(Val::Public(c)), _) => {
                        let y = self.shared(ops[1])?;
                        let y = self.convert(y, to)?;
                        let y = self.broadcast(y, &shape)?;
                        let y = if sub { self.neg(y)? } else { y };
                        self.add_public(y, &c, to, &shape)?
                    }
                    (_, Some(Val::Public(c))) => {
                        let x = self.shared(ops[0])?;
                        let x = self.convert(x, to)?;
                        let x = self.broadcast(x, &shape)?;
                        let c = if sub { Arc::new(kernels::neg(&c)) } else { c };
                        self.add_public(x, &c, to, &shape)?
                    }
                    _ => {
                        let x = self.shared(ops[0])?;
                        let y = self.shared(ops[1])?;
                        let x = self.convert(x, to)?;
                        let y = self.convert(y, to)?;
                        let x = self.broadcast(x, &shape)?;
                        let y = self.broadcast(y, &shape)?;
                        let out = self.fresh(&shape, to, false);
                        self.push(if sub { Op::Sub } else { Op::Add }, vec![x, y], out)?;
                        out
                    }
                }
            }
            NodeOp::Mul | NodeOp::Div => {
                let div = matches!(node.op, NodeOp::Div);
                match (val(self, 0), val(self, 1)) {
                    (Some(Val::Public(c)), _) if !div => {
                        let y = self.shared(ops[1])?;
                        self.mul_public(y, &c, to, &shape)?
                    }
                    (_, Some(Val::Public(c))) => {
                        let x = self.shared(ops[0])?;
                        let c = if div {
                            Arc::new(kernels::map(&c, |v| 1.0 / v))
                        } else {
                            c
                        };
                        self.mul_public(x, &c, to, &shape)?
                    }
                    _ if div => return self.unsupported("division by a secret value"),
                    _ => {
                        let x = self.shared(ops[0])?;
                        let y = self.shared(ops[1])?;
                        let x = self.broadcast(x, &shape)?;
                        let y = self.broadcast(y, &shape)?;
                        let (fx, fy) = (self.fmt_of(x), self.fmt_of(y));
                        let pf = Fx {
                            bits: fx.bits + fy.bits,
                            frac: fx.frac + fy.frac,
                        };
                        if pf.bits > 64 {
                            return Err(too_wide("a product", pf.bits));
                        }
                        let out = self.fresh(&shape, pf, false);
                        self.push(Op::Mult, vec![x, y], out)?;
                        self.convert(out, to)?
                    }
                }
            }
            NodeOp::MatMul => self.matmul(ops[0], ops[1], &shape, to)?,
            NodeOp::Select(sels) => {
                let x = self.shared(ops[0])?;
                let f = self.fmt_of(x);
                let nn = self.plan.tensors[x].nonneg;
                let out = self.fresh(&shape, f, nn);
                self.push(Op::Select { sels: sels.clone() }, vec![x], out)?;
                self.convert(out, to)?
            }
            NodeOp::Builtin(b) => self.builtin(b, &ops, &shape, to, nonneg)?,
            NodeOp::BlockRelu(p) => self.block_relu(ops[0], p, &shape, to)?,
        }))
    }

    fn neg(&mut self, t: usize) -> Result<usize, LowerError> {
        let f = self.fmt_of(t);
        let out = self.fresh(&self.shape_of(t), f, false);
        self.push(Op::Neg, vec![t], out)?;
        Ok(out)
    }

    /// Shared `x` (already at `to` and `shape`) + public `c`.
    fn add_public(
        &mut self,
        x: usize,
        c: &FTensor,
        to: Fx,
        shape: &[usize],
    ) -> Result<usize, LowerError> {
        let c = broadcast_const(c, shape);
        let ct = self.public(&c, to);
        let out = self.fresh(shape, to, false);
        self.push(Op::AddPublic, vec![x, ct], out)?;
        Ok(out)
    }

    /// Shared `x` × public `c`, rescaled to `to`.
    fn mul_public(
        &mut self,
        x: usize,
        c: &FTensor,
        to: Fx,
        shape: &[usize],
    ) -> Result<usize, LowerError> {
        let x = self.broadcast(x, shape)?;
        let c = broadcast_const(c, shape);
        if c.data().iter().any(|v| !v.is_finite()) {
            return self.unsupported("a product with an infinite or NaN constant");
        }
        // The constant at 14 significant bits, as an integer times 2^{−fc}.
        let cmax = c.data().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let ib = if cmax > 0.0 {
            cmax.log2().floor() as i32 + 1
        } else {
            0
        };
        let mut fc = (14 - ib).clamp(0, 30) as u32;
        let mut m: Vec<i64> = c
            .data()
            .iter()
            .map(|&v| (v * (fc as f64).exp2()).round() as i64)
            .collect();
        // Common factors of two leave the scale (1/4 is 1·2^-2, not 8192·2^-15), so that the
        // product needs only the extra bits the integers need: none at all for ±1 and powers
        // of two, which then skip the extension.
        while fc > 0 && m.iter().any(|&v| v != 0) && m.iter().all(|&v| v % 2 == 0) {
            m.iter_mut().for_each(|v| *v /= 2);
            fc -= 1;
        }
        let mmax = m.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        // |x·m| ≤ 2^{b−1}·M: b + ⌈log2 M⌉ bits when every m ≥ 0, one more (for −2^{b−1}·−M)
        // otherwise.
        let extra = if m.iter().all(|&v| v >= 0) {
            ceil_log2(mmax as usize)
        } else {
            ceil_log2(mmax as usize + 1)
        };
        let fx = self.fmt_of(x);
        // A format holds at most as many fraction bits as bits.
        let extra = extra.max((fx.frac + fc).saturating_sub(fx.bits));
        let wide = Fx {
            bits: (fx.bits + extra).min(64),
            frac: fx.frac,
        };
        let xw = if wide.bits > fx.bits {
            self.widen(x, wide.bits, false)?
        } else {
            x
        };
        let value = m
            .iter()
            .map(|&v| {
                sir_runtime::ring::to_signed(
                    sir_runtime::ring::reduce(v as u64, wide.bits),
                    wide.bits,
                )
            })
            .collect();
        let ct = self
            .plan
            .tensor(TensorDecl::public(c.shape().to_vec(), wide.bits, fc, value));
        let out = self.fresh(
            shape,
            Fx {
                bits: wide.bits,
                frac: fx.frac + fc,
            },
            false,
        );
        self.push(Op::MulPublic, vec![xw, ct], out)?;
        self.convert(out, to)
    }

    /// `a @ b` whoever holds the operands, as a product of matrices: a vector operand is a
    /// one-row (left) or one-column (right) matrix, reshaped freely, and the result takes the
    /// expression's shape again. With the server's weights on the right SiRnn's MatMul; on the
    /// left the same on the transposes ((Bᵀ·Aᵀ)ᵀ, the server transposing its own matrix);
    /// otherwise the product of two shared matrices, oriented for the fewest bytes.
    fn matmul(
        &mut self,
        a: NodeIndex,
        b: NodeIndex,
        shape: &[usize],
        to: Fx,
    ) -> Result<usize, LowerError> {
        let is_server = |l: &Self, n: NodeIndex| matches!(l.vals[n.index()], Some(Val::Server(_)));
        let (a_server, b_server) = (is_server(self, a), is_server(self, b));
        let prod = if b_server || a_server {
            // X·W with X as it is (a vector X gives a vector), or for A·Y: Y as X (a vector
            // as it is, a matrix transposed) times Aᵀ, the result transposed back.
            let (x, w, back) = if b_server {
                (self.product_operand(a)?, self.server_of(b)?, false)
            } else {
                let y = self.product_operand(b)?;
                let a = self.server_of(a)?;
                match self.shape_of(y).len() {
                    1 => (y, a, false),
                    _ => (self.transposed(y)?, a, true),
                }
            };
            let w = match self.shape_of(w)[..] {
                [k] => self.server_view(w, vec![k, 1], Op::Reshape)?,
                [m, k] if !b_server => self.server_view(w, vec![k, m], Op::Transpose)?,
                _ => w,
            };
            let (fx, fw) = (self.fmt_of(x), self.fmt_of(w));
            let (xs, ws) = (self.shape_of(x), self.shape_of(w));
            let pf = Fx {
                bits: fx.bits + fw.bits + ceil_log2(ws[0]),
                frac: fx.frac + fw.frac,
            };
            if pf.bits > 64 {
                return Err(too_wide("a matrix product", pf.bits));
            }
            let ps: Vec<usize> = match xs[..] {
                [_] => vec![ws[1]],
                _ => vec![xs[0], ws[1]],
            };
            let out = self.fresh(&ps, pf, false);
            self.push(Op::MatMul, vec![x, w], out)?;
            let out = self.convert(out, to)?;
            if back { self.transposed(out)? } else { out }
        } else {
            let x = self.shared(a)?;
            let y = self.shared(b)?;
            let (x, y) = (self.as_matrix(x, true)?, self.as_matrix(y, false)?);
            let (xs, ys) = (self.shape_of(x), self.shape_of(y));
            let (fx, fy) = (self.fmt_of(x), self.fmt_of(y));
            let pf = Fx {
                bits: fx.bits + fy.bits + ceil_log2(xs[1]),
                frac: fx.frac + fy.frac,
            };
            if pf.bits > 64 {
                return Err(too_wide("a matrix product", pf.bits));
            }
            // X·Y directly, or (Yᵀ·Xᵀ)ᵀ: the operand in the role of Y is extended to the
            // product's ring, the other's bits are chosen by.
            let cost = |m: u32, n: u32, d: [usize; 3]| -> u64 {
                use sir_runtime::fixed::linear::{Format, MatDims};
                let params = sir_runtime::proto::linear::MatMulParams {
                    dims: MatDims::new(d[0], d[1], d[2]),
                    x: Format::signed(m),
                    w: Format::signed(pf.bits),
                    out_bits: pf.bits,
                };
                sir_runtime::proto::ext::sext_cost(d[1] * d[2], n, pf.bits)
                    .then(sir_runtime::proto::mult::matmul_shared_full_cost(&params))
                    .on(sir_runtime::ot::OtKind::Iknp)
                    .total_bytes()
            };
            let direct = cost(fx.bits, fy.bits, [xs[0], xs[1], ys[1]]);
            let swapped = cost(fy.bits, fx.bits, [ys[1], xs[1], xs[0]]);
            let flip = swapped < direct;
            let (x, y) = if flip {
                (self.transposed(y)?, self.transposed(x)?)
            } else {
                (x, y)
            };
            let nonneg = self.plan.tensors[y].nonneg;
            let ye = if self.fmt_of(y).bits < pf.bits {
                self.widen(y, pf.bits, nonneg)?
            } else {
                y
            };
            let (xs, ys) = (self.shape_of(x), self.shape_of(ye));
            let out = self.fresh(&[xs[0], ys[1]], pf, false);
            self.push(Op::MatMulShared, vec![x, ye], out)?;
            let out = self.convert(out, to)?;
            if flip { self.transposed(out)? } else { out }
        };
        if self.shape_of(prod) == shape {
            return Ok(prod);
        }
        let f = self.fmt_of(prod);
        let out = self.fresh(shape, f, false);
        self.push(Op::Reshape, vec![prod], out)?;
        Ok(out)
    }

    /// A shared vector as a one-row (`left`) or one-column matrix; a matrix as it is.
    fn as_matrix(&mut self, t: usize, left: bool) -> Result<usize, LowerError> {
        let [k] = self.shape_of(t)[..] else {
            return Ok(t);
        };
        let f = self.fmt_of(t);
        let nn = self.plan.tensors[t].nonneg;
        let s = if left { [1, k] } else { [k, 1] };
        let out = self.fresh(&s, f, nn);
        self.push(Op::Reshape, vec![t], out)?;
        Ok(out)
    }

    /// The transpose of a shared matrix (free).
    fn transposed(&mut self, t: usize) -> Result<usize, LowerError> {
        let s = self.shape_of(t);
        let f = self.fmt_of(t);
        let nn = self.plan.tensors[t].nonneg;
        let out = self.fresh(&[s[1], s[0]], f, nn);
        self.push(Op::Transpose, vec![t], out)?;
        Ok(out)
    }

    /// The server's weight tensor behind node `n`.
    fn server_of(&mut self, n: NodeIndex) -> Result<usize, LowerError> {
        match self.vals[n.index()].clone() {
            Some(Val::Server(w)) => Ok(w),
            _ => Err(LowerError::Plan(PlanError::Plan(
                "a server operand that is not the server's".into(),
            ))),
        }
    }

    /// The server rearranging its own weights (reshape or transpose): a tensor of its own.
    fn server_view(&mut self, w: usize, shape: Vec<usize>, op: Op) -> Result<usize, LowerError> {
        let v = self.derived(w, Owner::Server);
        self.plan.tensors[v].shape = shape;
        self.push(op, vec![w], v)?;
        Ok(v)
    }

    /// conv2d(x, W, b): the input's windows as rows (free), times the server's kernel as a
    /// [C·KH·KW, O] matrix (SiRnn's MatMul), back to [O, OH, OW], plus the bias.
    fn conv2d(
        &mut self,
        ops: &[NodeIndex],
        shape: &[usize],
        to: Fx,
        stride: usize,
        pad: usize,
    ) -> Result<usize, LowerError> {
        let x = self.product_operand(ops[0])?;
        let w = match self.vals[ops[1].index()].clone() {
            Some(Val::Server(w)) => w,
            _ => return self.unsupported("conv2d with kernels other than the server's weights"),
        };
        let (fx, fw) = (self.fmt_of(x), self.fmt_of(w));
        let ws = self.shape_of(w);
        let (o, c, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
        let (oh, ow) = (shape[1], shape[2]);
        let rows = self.fresh(&[oh * ow, c * kh * kw], fx, false);
        let patches = Op::Patches {
            kh,
            kw,
            stride,
            pad,
            per_channel: false,
        };
        self.push(patches, vec![x], rows)?;
        // The server reshapes and transposes its own kernel: [O, C·KH·KW] → [C·KH·KW, O].
        let flat = self.derived(w, Owner::Server);
        self.plan.tensors[flat].shape = vec![o, c * kh * kw];
        self.push(Op::Reshape, vec![w], flat)?;
        let wt = self.derived(flat, Owner::Server);
        self.plan.tensors[wt].shape = vec![c * kh * kw, o];
        self.push(Op::Transpose, vec![flat], wt)?;
        let mut pf = Fx {
            bits: fx.bits + fw.bits + ceil_log2(c * kh * kw),
            frac: fx.frac + fw.frac,
        };
        if pf.bits > 64 {
            return Err(too_wide("a convolution", pf.bits));
        }
        // Feeding a polynomial: the product in a ring wide enough that one truncation lands
        // in the polynomial's ring and scale (no extension there), if 64 bits allow and that
        // costs less than the exact product truncated and then extended into the ring.
        let to = match self.poly_inputs.get(&self.node.index()) {
            Some(&p) if p.frac <= pf.frac && p.bits + (pf.frac - p.frac) <= 64 => {
                let wide = p.bits + (pf.frac - p.frac);
                let dims = MatDims::new(oh * ow, c * kh * kw, o);
                if wide > pf.bits && self.ring_product_pays(dims, fx.bits, fw.bits, pf, p) {
                    pf.bits = wide;
                }
                p
            }
            _ => to,
        };
        let prod = self.fresh(&[oh * ow, o], pf, false);
        self.push(Op::MatMul, vec![rows, wt], prod)?;
        let prod = self.convert(prod, to)?;
        let tr = self.fresh(&[o, oh * ow], to, false);
        self.push(Op::Transpose, vec![prod], tr)?;
        let y = self.fresh(shape, to, false);
        self.push(Op::Reshape, vec![tr], y)?;
        let b = self.shared(ops[2])?;
        let b = self.convert(b, to)?;
        let b3 = self.fresh(&[o, 1, 1], to, false);
        self.push(Op::Reshape, vec![b], b3)?;
        let b = self.broadcast(b3, shape)?;
        let out = self.fresh(shape, to, false);
        self.push(Op::Add, vec![y, b], out)?;
        Ok(out)
    }

    /// Whether X·W (X of m bits, W of n) producing `pf` should be computed in the ring that one
    /// TR takes to the polynomial's `ring` (its ring and scale) rather than exactly in pf,
    /// TR'd and then sign-extended into the ring. The exact product is taken only where it
    /// costs no more online and no more in all (preprocessing included) on the plan's engine
    /// — or with `--net`, no more estimated time on that link either way (flights at RTT/2):
    /// the wide product's OT payloads are mostly preprocessing, the extension's bytes and
    /// flights all online, and online is what the client waits for.
    fn ring_product_pays(&self, dims: MatDims, m: u32, n: u32, pf: Fx, ring: Fx) -> bool {
        use sir_runtime::fixed::linear::Format;
        use sir_runtime::plan::Kernel;
        use sir_runtime::proto::Cost;
        let s = pf.frac - ring.frac;
        let len = dims.d1 * dims.d3;
        // (preprocessing, online) of the product in `bits` and the conversions after it.
        let path = |bits: u32, extend: bool| -> Result<(Cost, Cost), String> {
            let k = Kernel::MatMul {
                params: MatMulParams {
                    dims,
                    x: Format::signed(m),
                    w: Format::signed(n),
                    out_bits: bits,
                },
                masked: self.plan.masked_products,
            };
            let tr = Kernel::Truncate {
                bits,
                shift: s,
                mode: Trunc::Reduce,
            };
            let mut online = k.cost(dims.d1)?.then(tr.cost(len)?);
            if extend {
                let ext = Kernel::Extend {
                    from: bits - s,
                    to: ring.bits,
                    nonneg: false,
                };
                online = online.then(ext.cost(len)?);
            }
            Ok((k.pre_cost(dims.d1), online))
        };
        let priced = |c: &Cost| -> f64 {
            let c = c.on(self.plan.ot);
            let bytes = c.total_bytes();
            match self.net {
                Some(link) => link.estimate(bytes, c.rounds),
                None => bytes as f64,
            }
        };
        let (Ok((ring_pre, ring_on)), Ok((exact_pre, exact_on))) =
            (path(ring.bits + s, false), path(pf.bits, true))
        else {
            return true;
        };
        let (ro, eo) = (priced(&ring_on), priced(&exact_on));
        eo > ro || priced(&exact_pre) + eo > priced(&ring_pre) + ro
    }

    /// ReLU of node `x`: in x's own format (the output's may not hold x's negative values),
    /// then rescaled.
    fn relu(&mut self, x: NodeIndex, shape: &[usize], to: Fx) -> Result<usize, LowerError> {
        let x = self.shared(x)?;
        let f = self.fmt_of(x);
        let out = self.fresh(shape, f, true);
        self.push(Op::Relu, vec![x], out)?;
        self.convert(out, to)
    }

    /// The polynomial Σ c_k x^k of node `x`, evaluated exactly: x at f fraction bits, the
    /// coefficients at fc (the fewest ≤ 16 that hold them exactly, else 16), every term
    /// brought to the common scale S = d·f + fc by pre-scaling its coefficient with
    /// 2^((d−k)·f), all in one ring of L bits. L holds the polynomial's largest magnitude
    /// anywhere in x's format range (Σ|c_k|·X^k), so the exact value cannot overflow, and
    /// since ring arithmetic is exact mod 2^L the powers may wrap on the way. f is x's own
    /// fraction, lowered only as far as L ≤ 64 requires (instead of PILLAR's per-power
    /// truncation of shares, which loses low bits of every power). The exact result is the
    /// node's value: its users rescale it as they rescale any operand (a convolution's or
    /// pooling's own truncation), and a convolution feeding the polynomial produces x in
    /// the polynomial's ring and scale directly, so the layer is the polynomial's one round.
    fn poly(&mut self, x: NodeIndex, coeffs: &[f64], shape: &[usize]) -> Result<usize, LowerError> {
        let xs = self.shared(x)?;
        // Planned on x's node format (its calibrated range), as when `poly_inputs` was made.
        let plan = match PolyPlan::new(coeffs, self.fmts[x.index()]) {
            Ok(p) => p,
            Err(e) => return self.unsupported(e),
        };
        let xf = self.convert(
            xs,
            Fx {
                bits: plan.ring,
                frac: plan.f,
            },
        )?;
        let out = self.fresh(
            shape,
            Fx {
                bits: plan.ring,
                frac: plan.scale,
            },
            false,
        );
        self.push(
            Op::Poly {
                coeffs: plan.coeffs(),
            },
            vec![xf],
            out,
        )?;
        Ok(out)
    }

    /// Block-ReLU of node `x` with its patch choices (all 1×1: plain ReLU), in x's own format.
    /// The patch sums are taken over x at ⌈log2 k⌉ more bits (k the largest patch's elements),
    /// where they cannot wrap: narrowed free from the wider value x was itself narrowed from
    /// (a convolution's or product's accumulator, truncated once), else extended. Kept
    /// elements may be negative.
    fn block_relu(
        &mut self,
        x: NodeIndex,
        patches: &[Patch],
        shape: &[usize],
        to: Fx,
    ) -> Result<usize, LowerError> {
        if patches.iter().all(|p| *p == Patch::Block(1, 1)) {
            return self.relu(x, shape, to);
        }
        let node = self.node;
        let x = self.shared(x)?;
        let f = self.fmt_of(x);
        let (h, w) = match shape {
            [_, h, w] => (*h, *w),
            _ => (1, 1),
        };
        let k = patches
            .iter()
            .map(|p| match *p {
                Patch::Block(ph, pw) => ph.min(h) * pw.min(w),
                _ => 1,
            })
            .max()
            .unwrap_or(1)
            .max(1);
        // As wide as the calibrated sums need (no headroom: the search measures the plan as
        // lowered), at most what k elements of x's format can sum to.
        let worst = (f.bits + k.next_power_of_two().trailing_zeros()).min(64);
        let sum_bits = match self.patch_sums.get(node.index()) {
            Some(r) if r.min <= r.max => {
                (1 + crate::precision::int_bits(*r) + f.frac).clamp(f.bits, worst)
            }
            _ => worst,
        };
        let s = match sum_bits > f.bits {
            true => self.widen_through(x, sum_bits, 0)?,
            false => x,
        };
        let out = self.fresh(shape, f, false);
        self.push(
            Op::BlockRelu {
                patches: patches.to_vec(),
            },
            vec![x, s],
            out,
        )?;
        self.convert(out, to)
    }

    fn builtin(
        &mut self,
        b: &Builtin,
        ops: &[NodeIndex],
        shape: &[usize],
        to: Fx,
        nonneg: bool,
    ) -> Result<usize, LowerError> {
        let math = |b: &Builtin| -> Option<MathOp> {
            Some(match b {
                Builtin::Sigmoid => MathOp::Sigmoid,
                Builtin::Tanh => MathOp::Tanh,
                Builtin::Gelu => MathOp::Gelu,
                Builtin::Exp => MathOp::Exp,
                Builtin::Rsqrt => MathOp::Rsqrt,
                Builtin::Sqrt => MathOp::Sqrt,
                Builtin::Reciprocal => MathOp::Reciprocal,
                Builtin::Softmax => MathOp::Softmax,
                Builtin::Argmax => MathOp::Argmax,
                _ => return None,
            })
        };
        if let Some(func) = math(b) {
            let x = self.shared(ops[0])?;
            let xs = self.shape_of(x);
            let cols = match func {
                MathOp::Softmax | MathOp::Argmax => xs.last().copied().unwrap_or(1).max(1),
                _ => 1,
            };
            let out = self.fresh(shape, to, nonneg);
            // sigmoid and tanh: the construction the cost model takes for these formats and
            // this link (it checks every input, so the plan records it and loaders need not).
            let spline = if matches!(func, MathOp::Sigmoid | MathOp::Tanh | MathOp::Gelu) {
                let params = MathParams::new(self.fmt_of(x), to, cols);
                func.spline_for(&params, xs.iter().product(), self.net)
            } else {
                None
            };
            self.push(Op::Math { func, cols, spline }, vec![x], out)?;
            return Ok(out);
        }
        match b {
            Builtin::Relu => self.relu(ops[0], shape, to),
            Builtin::Poly(c) => self.poly(ops[0], c, shape),
            Builtin::PolyRelu => self.poly(ops[0], &kernels::POLY_RELU_COEFFS, shape),
            // Without patch sizes (no ReLU budget given) every patch is 1×1: plain ReLU.
            Builtin::BlockRelu(None) => self.relu(ops[0], shape, to),
            Builtin::Reshape(_) | Builtin::Flatten | Builtin::Transpose => {
                let x = self.shared(ops[0])?;
                let f = self.fmt_of(x);
                let nn = self.plan.tensors[x].nonneg;
                let out = self.fresh(shape, f, nn);
                let op = if matches!(b, Builtin::Transpose) {
                    Op::Transpose
                } else {
                    Op::Reshape
                };
                self.push(op, vec![x], out)?;
                self.convert(out, to)
            }
            Builtin::Concat(axis) => {
                let mut parts = Vec::new();
                for &o in ops {
                    let x = self.shared(o)?;
                    parts.push(self.convert(x, to)?);
                }
                let out = self.fresh(shape, to, false);
                self.push(Op::Concat { axis: *axis }, parts, out)?;
                Ok(out)
            }
            Builtin::Sum(axis) | Builtin::Mean(axis) => {
                let x = self.shared(ops[0])?;
                let xs = self.shape_of(x);
                let count = match axis {
                    Some(a) => xs[*a],
                    None => xs.iter().product(),
                };
                let f = self.fmt_of(x);
                let wide = Fx {
                    bits: (f.bits + ceil_log2(count.max(1))).min(64),
                    frac: f.frac,
                };
                let xw = if wide.bits > f.bits {
                    self.widen(x, wide.bits, false)?
                } else {
                    x
                };
                let out = self.fresh(shape, wide, false);
                self.push(Op::Sum { axis: *axis }, vec![xw], out)?;
                if matches!(b, Builtin::Mean(_)) {
                    let inv = FTensor::scalar(1.0 / count.max(1) as f64);
                    self.mul_public(out, &inv, to, shape)
                } else {
                    self.convert(out, to)
                }
            }
            Builtin::Conv2d { stride, pad } => self.conv2d(ops, shape, to, *stride, *pad),
            Builtin::Maxpool2d { k, stride } | Builtin::Avgpool2d { k, stride } => {
                let x = self.shared(ops[0])?;
                let f = self.fmt_of(x);
                let xs = self.shape_of(x);
                let (c, oh, ow) = (shape[0], shape[1], shape[2]);
                let rows = self.fresh(&[c * oh * ow, k * k], f, false);
                let patches = Op::Patches {
                    kh: *k,
                    kw: *k,
                    stride: *stride,
                    pad: 0,
                    per_channel: true,
                };
                let _ = xs;
                self.push(patches, vec![x], rows)?;
                let pooled = if matches!(b, Builtin::Maxpool2d { .. }) {
                    let m = self.fresh(&[c * oh * ow], f, false);
                    let op = Op::Math {
                        func: MathOp::Max,
                        cols: k * k,
                        spline: None,
                    };
                    self.push(op, vec![rows], m)?;
                    m
                } else {
                    // The window's sum needs ⌈log2 k²⌉ bits more, unless the operand's
                    // calibrated magnitude leaves them unused in its own ring (with the one
                    // bit of headroom every format keeps): a polynomial's output lives in its
                    // ring, far wider than its values (digits_cnn's poly_relu: 29 of 32 bits),
                    // and extending it cost more than the activation.
                    let grow = ceil_log2(k * k);
                    let spare = self.plan.tensors[x]
                        .calibrated_log2
                        .is_some_and(|cl| cl + f.frac + grow + 2 <= f.bits);
                    let (w, wide) = if spare {
                        (rows, f)
                    } else {
                        let wide = Fx {
                            bits: (f.bits + grow).min(64),
                            frac: f.frac,
                        };
                        let w = self.fresh(&[c * oh * ow, k * k], wide, false);
                        self.push(Op::Extend, vec![rows], w)?;
                        (w, wide)
                    };
                    let sum = self.fresh(&[c * oh * ow], wide, false);
                    self.push(Op::Sum { axis: Some(1) }, vec![w], sum)?;
                    let inv = FTensor::scalar(1.0 / (k * k) as f64);
                    // The mean fits the ring the division by k² leaves where the sum took
                    // the spare bits (no extension back to the operand's width).
                    let bits = if spare { f.bits - grow } else { f.bits };
                    // Straight to the pooled format where it drops bits (one rounding, as a
                    // polynomial's exact value is pooled into storage), else at the sum's.
                    let mean = if to.bits <= bits && to.frac <= f.frac {
                        to
                    } else {
                        Fx { bits, frac: f.frac }
                    };
                    self.mul_public(sum, &inv, mean, &[c * oh * ow])?
                };
                let pf = self.fmt_of(pooled);
                let nn = self.plan.tensors[pooled].nonneg;
                let out = self.fresh(shape, pf, nn);
                self.push(Op::Reshape, vec![pooled], out)?;
                self.convert(out, to)
            }
            Builtin::Max(axis) => {
                let x = self.shared(ops[0])?;
                let f = self.fmt_of(x);
                let xs = self.shape_of(x);
                // Rows over the reduced axis: the last axis directly, all elements as one
                // row, or (a 2-D tensor's axis 0) its transpose.
                let (rows_in, cols) = match axis {
                    None => {
                        let n: usize = xs.iter().product();
                        let r = self.fresh(&[1, n], f, false);
                        self.push(Op::Reshape, vec![x], r)?;
                        (r, n)
                    }
                    Some(a) if *a + 1 == xs.len() => (x, xs[*a]),
                    Some(0) => {
                        // [d0, rest…] as [d0, R], transposed to R rows of d0.
                        let rest: usize = xs[1..].iter().product();
                        let m2 = if xs.len() == 2 {
                            x
                        } else {
                            let m2 = self.fresh(&[xs[0], rest], f, false);
                            self.push(Op::Reshape, vec![x], m2)?;
                            m2
                        };
                        let r = self.fresh(&[rest, xs[0]], f, false);
                        self.push(Op::Transpose, vec![m2], r)?;
                        (r, xs[0])
                    }
                    Some(_) => {
                        return self
                            .unsupported("`max` over an inner axis of a tensor of rank > 2");
                    }
                };
                let rs = self.shape_of(rows_in);
                let want: Vec<usize> = rs[..rs.len() - 1].to_vec();
                let m = self.fresh(&want, f, false);
                self.push(
                    Op::Math {
                        func: MathOp::Max,
                        cols,
                        spline: None,
                    },
                    vec![rows_in],
                    m,
                )?;
                let m = if self.shape_of(m) == shape {
                    m
                } else {
                    let r = self.fresh(shape, f, false);
                    self.push(Op::Reshape, vec![m], r)?;
                    r
                };
                self.convert(m, to)
            }
            Builtin::Layernorm => {
                // The normalisation, then γ·(·) + β with the server's γ and β shared.
                let x = self.shared(ops[0])?;
                let xs = self.shape_of(x);
                let cols = xs.last().copied().unwrap_or(1).max(1);
                // The normalised values have their own range, unrelated to the output's
                // (which γ and β set): |x_i − μ|/σ ≤ √(C − 1) on any row of C, so they get
                // the integer bits of that bound, not calibration's.
                let nf = Fx {
                    bits: to.bits,
                    frac: to.bits.saturating_sub(1 + layernorm_int_bits(cols)),
                };
                let norm = self.fresh(shape, nf, false);
                self.push(
                    Op::Math {
                        func: MathOp::Layernorm,
                        cols,
                        spline: None,
                    },
                    vec![x],
                    norm,
                )?;
                // γ in its own format (from its range), the product exact in the sum of both.
                let g = self.shared(ops[1])?;
                let g = self.broadcast(g, shape)?;
                let gf = self.fmt_of(g);
                let pf = Fx {
                    bits: nf.bits + gf.bits,
                    frac: nf.frac + gf.frac,
                };
                if pf.bits > 64 {
                    return Err(too_wide("layernorm's γ product", pf.bits));
                }
                let prod = self.fresh(shape, pf, false);
                self.push(Op::Mult, vec![norm, g], prod)?;
                let scaled = self.convert(prod, to)?;
                let b = self.shared(ops[2])?;
                let b = self.convert(b, to)?;
                let b = self.broadcast(b, shape)?;
                let out = self.fresh(shape, to, false);
                self.push(Op::Add, vec![scaled, b], out)?;
                Ok(out)
            }
            other => self.unsupported(format!("`{}`", builtin_name(other))),
        }
    }
}

/// A constant as a scalar or at `shape` (NumPy broadcasting): the public operand's forms.
fn broadcast_const(c: &FTensor, shape: &[usize]) -> FTensor {
    if c.shape().is_empty() || c.shape() == shape {
        c.clone()
    } else {
        kernels::binary(crate::syntax::ast::BinOp::Add, &kernels::zeros(shape), c)
    }
}

/// Integer bits k (at least 1) with 2^k > √(C − 1), the largest |normalised value| a row of
/// C can produce, with a margin of 1/32 of it for the function's rounding (a few ulps from
/// 8 bits on): without it, a row with one outlier could round up to 2^k and wrap.
pub(crate) fn layernorm_int_bits(cols: usize) -> u32 {
    let bound = (cols.saturating_sub(1) as f64).sqrt() * (1.0 + 1.0 / 32.0);
    let mut k = 1;
    while k < 32 && bound >= (k as f64).exp2() {
        k += 1;
    }
    k
}

fn too_wide(what: &str, bits: u32) -> LowerError {
    LowerError::Plan(PlanError::Plan(format!(
        "{what} would need {bits} bits (more than 64): narrower formats are needed"
    )))
}

fn builtin_name(b: &Builtin) -> String {
    let d = format!("{b:?}").to_lowercase();
    d.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}

fn unreachable_val(vals: &[Option<Val>], n: NodeIndex) -> Result<usize, LowerError> {
    match vals[n.index()] {
        Some(Val::Shared(t)) | Some(Val::Server(t)) => Ok(t),
        _ => Err(LowerError::Plan(PlanError::Plan(
            "an input node without a tensor".into(),
        ))),
    }
}
