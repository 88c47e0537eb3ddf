//! The cleartext fixed-point semantics of a plan: what every instruction computes on the
//! reconstructed values. This is the one definition the two-party execution must equal bit
//! for bit, and what `sir eval --plan` and the compiler's precision search run.
//!
//! The data-movement instructions (broadcast, select, reshape, transpose, concat) are index
//! maps ([`gather`]): the same map moves plain values here and each party's shares in the
//! two-party run, which is why they cost nothing.

use super::MathParams;
use super::{Op, Owner, Plan, PlanError, Sel, Trunc};
use crate::fixed;
use crate::fixed::Fx;
use crate::fixed::linear::Format;
use crate::ring;

/// A real number's encoding in a format: rounded to nearest, saturated to the range.
pub fn quantize(x: f64, bits: u32, frac: u32) -> u64 {
    let (v, max) = scaled(x, bits, frac);
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(-max - 1.0, max)
    };
    ring::reduce(v as i64 as u64, bits)
}

/// x at scale `frac`, rounded, and the largest encoding of `bits` bits.
fn scaled(x: f64, bits: u32, frac: u32) -> (f64, f64) {
    let max = ((1u128 << (bits - 1)) - 1) as f64;
    ((x * (frac as f64).exp2()).round(), max)
}

/// Whether [`quantize`] encodes x without saturating it.
pub fn fits(x: f64, bits: u32, frac: u32) -> bool {
    let (v, max) = scaled(x, bits, frac);
    (-max - 1.0..=max).contains(&v)
}

/// The real number an encoding stands for.
pub fn dequantize(v: u64, bits: u32, frac: u32) -> f64 {
    ring::to_signed(ring::reduce(v, bits), bits) as f64 / (frac as f64).exp2()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The result shape of a data-movement or sum instruction.
pub fn shape_of(op: &Op, args: &[&[usize]], out: &[usize]) -> Result<Vec<usize>, String> {
    let x = args.first().copied().unwrap_or(&[]);
    Ok(match op {
        Op::Broadcast => {
            let ok = x.len() <= out.len()
                && x.iter()
                    .rev()
                    .zip(out.iter().rev())
                    .all(|(&a, &b)| a == b || a == 1);
            if !ok {
                return Err(format!("{x:?} does not broadcast to {out:?}"));
            }
            out.to_vec()
        }
        Op::Select { sels } => {
            if sels.len() > x.len() {
                return Err("more selections than axes".into());
            }
            let mut s = Vec::new();
            for (sel, &d) in sels.iter().zip(x) {
                match *sel {
                    Sel::Index(i) if i < d => {}
                    Sel::Range(a, b) if a <= b && b <= d => s.push(b - a),
                    Sel::Full => s.push(d),
                    _ => return Err("a selection out of bounds".into()),
                }
            }
            s.extend_from_slice(&x[sels.len()..]);
            s
        }
        Op::Reshape => {
            if x.iter().product::<usize>() != out.iter().product::<usize>() {
                return Err("a reshape must keep the element count".into());
            }
            out.to_vec()
        }
        Op::Transpose => x.iter().rev().copied().collect(),
        Op::Patches {
            kh,
            kw,
            stride,
            pad,
            per_channel,
        } => {
            let &[c, h, w] = x else {
                return Err("patches of a tensor that is not [C, H, W]".into());
            };
            let (ph, pw) = (h + 2 * pad, w + 2 * pad);
            if *kh == 0 || *kw == 0 || *stride == 0 || ph < *kh || pw < *kw {
                return Err("a window that does not fit".into());
            }
            let (oh, ow) = ((ph - kh) / stride + 1, (pw - kw) / stride + 1);
            if *per_channel {
                vec![c * oh * ow, kh * kw]
            } else {
                vec![oh * ow, c * kh * kw]
            }
        }
        Op::Concat { axis } => {
            let mut s = x.to_vec();
            if *axis >= s.len() {
                return Err("concat axis out of range".into());
            }
            for p in &args[1..] {
                let agrees = p.len() == x.len()
                    && p.iter()
                        .zip(x)
                        .enumerate()
                        .all(|(i, (a, b))| i == *axis || a == b);
                if !agrees {
                    return Err("concatenated shapes disagree".into());
                }
                s[*axis] += p[*axis];
            }
            s
        }
        Op::Sum { axis } => match axis {
            None => Vec::new(),
            Some(a) if *a < x.len() => {
                let mut s = x.to_vec();
                s.remove(*a);
                s
            }
            Some(_) => return Err("sum axis out of range".into()),
        },
        _ => return Err("not a data-movement instruction".into()),
    })
}

/// For each result element, the (operand, flat index) it is copied from. Shapes must have
/// passed [`shape_of`].
pub fn gather(op: &Op, args: &[&[usize]], out: &[usize]) -> Vec<(usize, usize)> {
    let n: usize = out.iter().product();
    let x = args.first().copied().unwrap_or(&[]);
    match op {
        Op::Reshape => (0..n).map(|j| (0, j)).collect(),
        Op::Broadcast => {
            let xs = strides(x);
            let os = strides(out);
            let off = out.len() - x.len();
            (0..n)
                .map(|j| {
                    let mut src = 0;
                    for (a, (&d, &st)) in x.iter().zip(&xs).enumerate() {
                        let i = (j / os[a + off]) % out[a + off];
                        if d != 1 {
                            src += i * st;
                        }
                    }
                    (0, src)
                })
                .collect()
        }
        Op::Select { sels } => {
            let xs = strides(x);
            let os = strides(out);
            (0..n)
                .map(|j| {
                    let mut src = 0;
                    let mut oa = 0;
                    for (a, &st) in xs.iter().enumerate() {
                        let sel = sels.get(a).copied().unwrap_or(Sel::Full);
                        let i = match sel {
                            Sel::Index(i) => i,
                            Sel::Range(lo, _) => {
                                let i = lo + (j / os[oa]) % out[oa];
                                oa += 1;
                                i
                            }
                            Sel::Full => {
                                let i = (j / os[oa]) % out[oa];
                                oa += 1;
                                i
                            }
                        };
                        src += i * st;
                    }
                    (0, src)
                })
                .collect()
        }
        Op::Transpose => {
            let xs = strides(x);
            let os = strides(out);
            let r = x.len();
            (0..n)
                .map(|j| {
                    let src = (0..r).map(|a| ((j / os[a]) % out[a]) * xs[r - 1 - a]).sum();
                    (0, src)
                })
                .collect()
        }
        Op::Concat { axis } => {
            let inner: usize = out[axis + 1..].iter().product();
            let outer: usize = out[..*axis].iter().product();
            let mut g = Vec::with_capacity(n);
            for o in 0..outer {
                for (p, s) in args.iter().enumerate() {
                    let block = s[*axis] * inner;
                    g.extend((0..block).map(|k| (p, o * block + k)));
                }
            }
            g
        }
        _ => Vec::new(),
    }
}

/// For each result element of a sum, the flat indices of the operand it adds up.
pub fn sum_groups(x: &[usize], axis: Option<usize>) -> Vec<Vec<usize>> {
    let n: usize = x.iter().product();
    match axis {
        None => vec![(0..n).collect()],
        Some(a) => {
            let inner: usize = x[a + 1..].iter().product();
            let outer: usize = x[..a].iter().product();
            let d = x[a];
            (0..outer)
                .flat_map(|o| {
                    (0..inner).map(move |i| (0..d).map(|k| (o * d + k) * inner + i).collect())
                })
                .collect()
        }
    }
}

/// Runs the plan on the client's inputs and the server's weights (encodings in their
/// tensors' formats, declaration order): the outputs' encodings, in order.
pub fn run(
    plan: &Plan,
    inputs: &[Vec<u64>],
    params: &[Vec<u64>],
) -> Result<Vec<Vec<u64>>, PlanError> {
    run_keeping(plan, inputs, params, None).map(|(o, _)| o)
}

/// The outputs' encodings and, when asked for, one more tensor's.
pub type Kept = (Vec<Vec<u64>>, Option<Vec<u64>>);

/// [`run`], and the encodings of tensor `keep` (an intermediate the caller wants too).
pub fn run_keeping(
    plan: &Plan,
    inputs: &[Vec<u64>],
    params: &[Vec<u64>],
    keep: Option<usize>,
) -> Result<Kept, PlanError> {
    let mut vals: Vec<Option<Vec<u64>>> = vec![None; plan.tensors.len()];
    for (i, t) in plan.tensors.iter().enumerate() {
        if t.owner == Owner::Public {
            let v = t.value.as_deref().unwrap_or(&[]);
            vals[i] = Some(v.iter().map(|&x| ring::reduce(x as u64, t.bits)).collect());
        }
    }
    for (ios, given, what) in [
        (&plan.inputs, inputs, "input"),
        (&plan.params, params, "weight"),
    ] {
        if ios.len() != given.len() {
            return Err(PlanError::Plan(format!(
                "{} {what}s given, the plan has {}",
                given.len(),
                ios.len()
            )));
        }
        for (io, v) in ios.iter().zip(given) {
            let t = &plan.tensors[io.tensor];
            if v.len() != t.numel() {
                return Err(PlanError::Plan(format!(
                    "{what} `{}` has {} elements, the plan expects {:?}",
                    io.name,
                    v.len(),
                    t.shape
                )));
            }
            vals[io.tensor] = Some(v.iter().map(|&x| ring::reduce(x, t.bits)).collect());
        }
    }
    for (k, ins) in plan.instrs.iter().enumerate() {
        let args: Vec<&[u64]> = ins
            .args
            .iter()
            .map(|&a| vals[a].as_deref().unwrap_or(&[]))
            .collect();
        let r = step(plan, k, &args)?;
        vals[ins.out] = Some(r);
    }
    let kept = keep.and_then(|t| vals.get(t).cloned().flatten());
    Ok((
        plan.outputs
            .iter()
            .map(|o| vals[o.tensor].clone().unwrap_or_default())
            .collect(),
        kept,
    ))
}

/// One instruction on cleartext values.
pub(crate) fn step(plan: &Plan, k: usize, args: &[&[u64]]) -> Result<Vec<u64>, PlanError> {
    let ins = &plan.instrs[k];
    let t = |i: usize| &plan.tensors[ins.args[i]];
    let out = &plan.tensors[ins.out];
    let bits = out.bits;
    // A scalar second operand (a public constant) applies to every element.
    let zip = |f: &dyn Fn(u64, u64) -> u64| -> Vec<u64> {
        let b = args[1];
        args[0]
            .iter()
            .enumerate()
            .map(|(i, &a)| f(a, if b.len() == 1 { b[0] } else { b[i] }))
            .collect()
    };
    Ok(match &ins.op {
        Op::Share | Op::Reveal | Op::Embed => args[0].to_vec(),
        Op::Narrow => args[0].iter().map(|&a| ring::reduce(a, bits)).collect(),
        Op::Add | Op::AddPublic => zip(&|a, b| ring::add(a, b, bits)),
        Op::Sub => zip(&|a, b| ring::sub(a, b, bits)),
        Op::Neg => args[0].iter().map(|&a| ring::sub(0, a, bits)).collect(),
        Op::MulPublic | Op::Mult => {
            let (xf, yf) = (t(0).format(), t(1).format());
            zip(&|a, b| fixed::linear::mult(a, xf, b, yf, bits))
        }
        // The common moves without building an index map (the same result as `gather`).
        Op::Reshape => args[0].to_vec(),
        Op::Concat { axis } => {
            let inner: usize = out.shape[axis + 1..].iter().product();
            let outer: usize = out.shape[..*axis].iter().product();
            let mut v = Vec::with_capacity(out.numel());
            for o in 0..outer {
                for (p, &a) in ins.args.iter().enumerate() {
                    let block = plan.tensors[a].shape[*axis] * inner;
                    v.extend_from_slice(&args[p][o * block..(o + 1) * block]);
                }
            }
            v
        }
        Op::Select { sels } if sels.len() == 1 => {
            let x = &t(0).shape;
            let stride: usize = x[1..].iter().product();
            let (a, b) = match sels[0] {
                Sel::Index(i) => (i, i + 1),
                Sel::Range(a, b) => (a, b),
                Sel::Full => (0, x[0]),
            };
            args[0][a * stride..b * stride].to_vec()
        }
        Op::Patches {
            kh,
            kw,
            stride,
            pad,
            per_channel,
        } => patches(
            args[0],
            &t(0).shape,
            (*kh, *kw, *stride, *pad),
            *per_channel,
        ),
        Op::Broadcast | Op::Select { .. } | Op::Transpose => {
            let shapes: Vec<&[usize]> = ins
                .args
                .iter()
                .map(|&a| &plan.tensors[a].shape[..])
                .collect();
            gather(&ins.op, &shapes, &out.shape)
                .into_iter()
                .map(|(p, i)| args[p][i])
                .collect()
        }
        Op::Sum { axis } => sum_groups(&t(0).shape, *axis)
            .iter()
            .map(|g| g.iter().fold(0, |acc, &i| ring::add(acc, args[0][i], bits)))
            .collect(),
        Op::Extend => {
            let m = t(0).bits;
            let f = if t(0).nonneg {
                fixed::ext::zext
            } else {
                fixed::ext::sext
            };
            args[0].iter().map(|&a| f(a, m, bits)).collect()
        }
        Op::Truncate { shift, mode } => {
            let m = t(0).bits;
            args[0]
                .iter()
                .map(|&a| match mode {
                    Trunc::Reduce => fixed::ext::trunc_reduce(a, m, *shift),
                    Trunc::Ars => fixed::ext::ars(a, m, *shift),
                    Trunc::ArsRound => fixed::ext::ars_round(a, m, *shift),
                })
                .collect()
        }
        Op::MatMul | Op::MatMulShared => {
            let (dims, _) = plan.matmul_dims(k)?;
            fixed::linear::matmul(
                dims,
                args[0],
                Format::signed(t(0).bits),
                args[1],
                Format::signed(t(1).bits),
                bits,
            )
        }
        Op::Math { func, cols, spline } => func
            .clear(
                args[0],
                &MathParams::new(
                    Fx::new(t(0).bits, t(0).frac),
                    Fx::new(bits, out.frac),
                    *cols,
                )
                .pinned(*spline)
                .on(plan.ot),
            )
            .map_err(|e| plan.err(k, e.to_string()))?,
        Op::Relu => args[0].iter().map(|&a| fixed::relu(a, bits)).collect(),
        Op::Poly { coeffs } => {
            let c: Vec<u64> = coeffs
                .iter()
                .map(|&c| ring::reduce(c as u64, bits))
                .collect();
            fixed::poly(args[0], &c, bits)
        }
        Op::BlockRelu { patches } => {
            let shape = super::chw(&out.shape).ok_or_else(|| plan.err(k, "needs [C, H, W]"))?;
            fixed::block_relu(args[0], args[1], shape, patches, bits, t(1).bits)
                .ok_or_else(|| plan.err(k, "needs one patch choice or one per channel"))?
        }
    })
}

/// The windows of a [C, H, W] tensor as rows (zeros where the window leaves the input):
/// [OH·OW, C·KH·KW], or with `per_channel` [C·OH·OW, KH·KW]. Zero is a valid sharing of
/// zero, so the same map works on shares.
pub fn patches(
    x: &[u64],
    shape: &[usize],
    (kh, kw, stride, pad): (usize, usize, usize, usize),
    per_channel: bool,
) -> Vec<u64> {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let oh = (h + 2 * pad - kh) / stride + 1;
    let ow = (w + 2 * pad - kw) / stride + 1;
    let at = |ch: usize, i: usize, j: usize, p: usize, q: usize| -> u64 {
        let (r, s) = (i * stride + p, j * stride + q);
        if r < pad || s < pad || r - pad >= h || s - pad >= w {
            0
        } else {
            x[(ch * h + r - pad) * w + s - pad]
        }
    };
    // One row per (channel, window) or per window: the same cells, in the layout's order.
    let cells: Vec<(usize, usize, usize)> = if per_channel {
        (0..c)
            .flat_map(|ch| (0..oh).flat_map(move |i| (0..ow).map(move |j| (ch, i, j))))
            .collect()
    } else {
        (0..oh)
            .flat_map(|i| (0..ow).flat_map(move |j| (0..c).map(move |ch| (ch, i, j))))
            .collect()
    };
    let mut out = Vec::with_capacity(c * oh * ow * kh * kw);
    for (ch, i, j) in cells {
        for p in 0..kh {
            for q in 0..kw {
                out.push(at(ch, i, j, p, q));
            }
        }
    }
    out
}
