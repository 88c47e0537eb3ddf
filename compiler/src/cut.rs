//! Products keep only the bits their results keep.
//!
//! A product is lowered into the ring that holds it exactly (m + n + ⌈log2 K⌉ bits), then
//! rounded to its node's format: a constant added, a TR by s, a constant added, and a Narrow to
//! the node's b bits. Every step after the product is arithmetic mod 2^ℓ, and TR(s) of a value
//! mod 2^{b+s} keeps the same b bits as TR(s) of the exact value (⌊(x mod 2^{b+s})/2^s⌋ =
//! ⌊x/2^s⌋ mod 2^b), so the product's bits above b + s never reach the Narrow: the same
//! plan computed in Z_{2^{b+s}} gives the same values bit for bit. (A product by a public
//! constant in the same ring, x·c mod 2^ℓ, likewise keeps low bits from low bits.) A product's
//! bytes grow with its ring (each OT of SiRnn's cross term carries ℓ − i bits, the wrap term
//! ℓ − m), so this pass lowers every product whose result only flows through such steps to the
//! bits they keep.
//!
//! Invariant: the plan's values are unchanged — every tensor a cut does not touch keeps its
//! format, and the touched ones (the product and the steps up to the Narrow) hold the low bits
//! of their old values. Known-non-negative marks are dropped on the touched tensors (their low
//! bits need not be).

use sir_runtime::plan::{Instr, Op, Plan, TensorDecl, Trunc};
use sir_runtime::ring;

/// Whether `ins`'s result's low bits are a function of its first operand's low bits alone
/// (that operand shared, any other public): AddPublic, MulPublic in its operand's ring, TR,
/// Reshape and Transpose.
fn carries_low_bits(plan: &Plan, ins: &Instr) -> bool {
    match ins.op {
        Op::AddPublic | Op::Reshape | Op::Transpose => true,
        Op::MulPublic => plan.tensors[ins.out].bits == plan.tensors[ins.args[0]].bits,
        Op::Truncate { mode, .. } => mode == Trunc::Reduce,
        _ => false,
    }
}

/// How many low bits of each tensor any reader needs (its width where a reader needs it all).
fn demanded(plan: &Plan) -> Vec<u32> {
    let mut d = vec![0u32; plan.tensors.len()];
    for ins in plan.instrs.iter().rev() {
        let out = d[ins.out];
        let bits = |t: usize| plan.tensors[t].bits;
        // (An instruction without operands constrains nothing.)
        let Some(&a) = ins.args.first() else {
            continue;
        };
        match &ins.op {
            // The Narrow's result is a region's exit: its reader sees all of its bits.
            Op::Narrow => d[a] = d[a].max(bits(ins.out)),
            Op::Truncate { shift, .. } if carries_low_bits(plan, ins) => {
                let need = if out == 0 { 0 } else { out + shift };
                d[a] = d[a].max(need.min(bits(a)));
            }
            _ if carries_low_bits(plan, ins) => d[a] = d[a].max(out),
            _ => {
                for &a in &ins.args {
                    d[a] = bits(a);
                }
            }
        }
    }
    // What is revealed or an output is read whole.
    for io in &plan.outputs {
        d[io.tensor] = plan.tensors[io.tensor].bits;
    }
    d
}

/// Lowers each MatMul and Mult whose result only reaches Narrows through AddPublic, MulPublic
/// (in its operand's ring), TR, Reshape and Transpose to the bits those keep.
pub fn cut_products(plan: &mut Plan) {
    let demand = demanded(plan);
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); plan.tensors.len()];
    for (k, ins) in plan.instrs.iter().enumerate() {
        for &a in &ins.args {
            readers[a].push(k);
        }
    }
    let outputs: Vec<usize> = plan.outputs.iter().map(|io| io.tensor).collect();
    for k in 0..plan.instrs.len() {
        if !matches!(plan.instrs[k].op, Op::MatMul | Op::Mult) {
            continue;
        }
        let p = plan.instrs[k].out;
        let want = demand[p];
        if want == 0 || want >= plan.tensors[p].bits {
            continue;
        }
        // The region: the steps from the product to the Narrows, in plan order; any other
        // reader (or an output) inside it leaves the product as it is.
        let mut region = vec![k];
        let mut stack = vec![p];
        let mut closed = true;
        while let Some(t) = stack.pop() {
            if outputs.contains(&t) {
                closed = false;
                break;
            }
            for &r in &readers[t] {
                let ins = &plan.instrs[r];
                if ins.args[0] == t && carries_low_bits(plan, ins) {
                    region.push(r);
                    stack.push(ins.out);
                } else if ins.op != Op::Narrow {
                    closed = false;
                }
            }
        }
        if !closed {
            continue;
        }
        region.sort_unstable();
        region.dedup();
        for &r in &region {
            let ins = plan.instrs[r].clone();
            let bits = match ins.op {
                Op::MatMul | Op::Mult => want,
                Op::Truncate { shift, .. } => plan.tensors[ins.args[0]].bits - shift,
                _ => plan.tensors[ins.args[0]].bits,
            };
            let t = &mut plan.tensors[ins.out];
            t.bits = bits;
            t.nonneg = false;
            if let Op::AddPublic = ins.op {
                // The constant in the narrower ring (a tensor of its own where others read it).
                let c = &plan.tensors[ins.args[1]];
                let value = c
                    .value
                    .as_ref()
                    .map(|v| {
                        v.iter()
                            .map(|&x| ring::reduce(x as u64, bits) as i64)
                            .collect()
                    })
                    .unwrap_or_default();
                let decl = TensorDecl::public(c.shape.clone(), bits, c.frac, value);
                if readers[ins.args[1]].len() == 1 {
                    plan.tensors[ins.args[1]] = decl;
                } else {
                    let id = plan.tensor(decl);
                    plan.instrs[r].args[1] = id;
                }
            }
        }
    }
}
