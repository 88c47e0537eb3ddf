//! The math functions, each written once over [`Engine`] (cleartext semantics, two-party
//! protocol and exact cost are its three interpretations).
//!
//! Reference: SiRnn (Rathee et al., S&P 2021), §V: rExp by digit decomposition and lookup
//! tables multiplied in a tree (Fig. 3); sigmoid and tanh from rExp and a bounded reciprocal
//! (Fig. 4); the reciprocal's table-driven linear approximation after Ito, Takagi and Yajima
//! (Fig. 5, t = 0 Goldschmidt iterations); rsqrt by MSNZB normalisation (Fig. 6). Where we
//! depart from the paper it is to spend fewer bytes, with the error bound tested
//! exhaustively:
//! - sigmoid(x) for x < 0 is 1 − h(|x|) with h(z) = 1/(1 + e^{−z}) (a multiplexer), not
//!   e^{−|x|}·h(|x|) (a multiplication);
//! - the rExp tables are clamped to 2^t − 1 so every product's operands have a public MSB
//!   (⋆UMult, SiRnn Table V) and 1 + rExp stays below 2;
//! - the normalisation by 2^{ℓ−2−k} and the final scaling by 2^{α(k−s)} (k = MSNZB(x)) are
//!   LUT-products on the ι-bit k ([`crate::proto::lut`]) instead of UMults with a one-hot
//!   dot product; the interpolation table absorbs SiRnn's Goldschmidt iterations (a finer
//!   table, g ≤ 8 index bits) for outputs of up to 20 bits; wider outputs of the reciprocal
//!   and rsqrt (32 bits: the table alone lost up to 2048 and 12 ULP) take one Newton step from
//!   the table (Fig. 5 and 6 with t = 1, [`newton_step`]), its products in rings only as wide
//!   as their small results, every operand with a public MSB;
//! - the interpolation's low digit reuses the DigDec carry as its wrap in the product;
//! - general exp (e^{B}·e^{−(B − x)}, B the largest input with a representable result) folds
//!   e^{B} into the top digit's table; where that tree's table scale is capped below the
//!   output's precision (outputs wider than 20 bits; at 32.16 it lost up to 1024 ULP near
//!   2^15) it keeps Fig. 3's digit tables but not its tree ([`exp_wide`]): the top digit's table
//!   carries e^{B − a} at the output's magnitude, each lower digit's the small g = 1 − e^{−a}
//!   with its bits below g's leading zeros, and W ← W − W·g from the top keeps every product
//!   within 64 bits with public MSBs (32.16: within 0.87 ULP, proved 1.05, 25 % fewer bytes).
//! - layernorm normalises the row's spread before squaring where d's squares and 1/(C·σ)
//!   would not fit 64-bit rings with the precision the result needs (coarse squares of
//!   ⌊d/2^k⌋, their MSNZB j, d·c_j by a LUT-product, [`layernorm_wide`]).
//!
//! All values are two's-complement fixed point: a format [`Fx`] is a width and a number of
//! fraction bits. Inputs outside a function's domain (stated on each) give unspecified
//! results; they never fail or leak.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::engine::{Clear, Counter, Engine, LutCall, add_const, not, repeat_rows, unsigned};
use super::table::{self, Curve, Smooth, Spec};
use crate::fixed::Fx;
use crate::fixed::linear::{Format, ceil_log2};
use crate::ot::OtKind;
use crate::proto::ProtoError;
use crate::proto::lut::Table;
use crate::proto::mult::{MultParams, WrapHint, mult_hinted_cost, mult_rows_cost};
use crate::ring;

/// Tuning knobs of the constructions: public, chosen per call by [`Tuning::best`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuning {
    /// Digit width of rExp's DigDec (SiRnn: 8). Wider digits mean larger tables and fewer
    /// multiplications. (The wide exp raises it to its top factor's width.)
    pub exp_digit: u32,
    /// Digit width of MSNZB's DigDec (SiRnn: 8).
    pub msnzb_digit: u32,
    /// Extra fraction bits carried inside rExp's product tree.
    pub guard: u32,
    /// Interpolation table index bits (None: from the output scale).
    pub g: Option<u32>,
    /// sigmoid and tanh by a spline instead of from rExp and the reciprocal (None). Chosen
    /// only where exhaustively within [`SPLINE_MAX_ULP`].
    pub spline: Option<Spline>,
}

/// The spline constructions of sigmoid and tanh, with their table index bits. A plan records
/// the compiler's choice on each instruction (the choice checks every input, which is a
/// compiler's work, not a loader's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spline {
    /// [`spline`]: a line per interval of the whole input.
    Linear { g: u32 },
    /// [`spline_quad`]: a quadratic per interval of a window, saturating outside it.
    Quadratic(Quad),
}

/// [`spline_quad`]'s variants: 2^g intervals; `wide` takes the running sum in the product's
/// ring (more table bits, two flights fewer); `fold` evaluates f on |x| and reflects (half
/// the table for the same intervals, for an MSB and two multiplexers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Quad {
    pub g: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wide: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fold: bool,
}

impl Quad {
    /// 2^g intervals on the signed window, the running sum in its own ring.
    pub fn narrow(g: u32) -> Quad {
        Quad {
            g,
            wide: false,
            fold: false,
        }
    }
}

/// The largest error (output ULPs, every input) at which [`Tuning::best`] takes the spline:
/// below the exp construction's proved bounds (sigmoid 3, tanh 4 ULP).
pub const SPLINE_MAX_ULP: f64 = 2.0;

/// The widest input whose every value [`Tuning::best`] checks before taking the spline.
const SPLINE_CHECK_BITS: u32 = 20;

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            exp_digit: 8,
            msnzb_digit: 8,
            guard: 1,
            g: None,
            spline: None,
        }
    }
}

/// A math function over the cost engine, as [`Tuning::best`] evaluates it.
pub type CostFn = fn(&mut Counter, &[u64], Fx, Fx, Tuning) -> Result<Vec<u64>, ProtoError>;

impl Tuning {
    /// The digit widths (4..=8 each) that minimise the exact bytes of `f` at these formats on
    /// engine `ot` (its COTs counted at their amortised generation cost), on a batch large
    /// enough that per-call rounding does not matter; sigmoid and tanh's spline where it is
    /// accurate and no dearer on IKNP. Cached per (function, formats, engine). The measured
    /// winners on IKNP: 8-bit rExp digits at 16 bits, 7-bit at 32; 6-bit MSNZB digits at
    /// both. On silent OT a table of 2^d entries costs its 2^d·ℓ payload bits and no 32-byte
    /// extension, so narrower digits win (rExp 16-bit: 4-bit digits, 460 B against 1,020).
    /// The digits change the result's last bits: a plan's semantics are those of its engine.
    pub fn best(name: &'static str, f: CostFn, inp: Fx, out: Fx, ot: OtKind) -> Tuning {
        Self::search(name, f, inp, out, true, ot)
    }

    /// [`Tuning::best`]'s digit widths alone (no spline: a plan records that choice).
    pub fn best_digits(name: &'static str, f: CostFn, inp: Fx, out: Fx, ot: OtKind) -> Tuning {
        Self::search(name, f, inp, out, false, ot)
    }

    fn search(
        name: &'static str,
        f: CostFn,
        inp: Fx,
        out: Fx,
        splines: bool,
        ot: OtKind,
    ) -> Tuning {
        type Key = (&'static str, Fx, Fx, bool, OtKind);
        static CACHE: OnceLock<Mutex<HashMap<Key, Tuning>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let key = (name, inp, out, splines, ot);
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return *t;
        }
        let zeros = vec![0u64; 4096];
        let bytes_on = |t: Tuning, kind: OtKind| -> f64 {
            let mut c = Counter::default();
            match f(&mut c, &zeros, inp, out, t) {
                Ok(_) => {
                    let cots: u64 = match kind {
                        OtKind::Iknp => 0,
                        OtKind::Silent => c.cost.silent_cots().iter().sum(),
                    };
                    c.cost.on(kind).total_bytes() as f64
                        + cots as f64 * crate::ot::pool::steady_bytes_per_cot()
                }
                Err(_) => f64::INFINITY,
            }
        };
        let digits = |kind: OtKind, guard: &dyn Fn(u32) -> u32| -> Tuning {
            let mut best = Tuning::default();
            let pick = |best: &mut Tuning, set: &dyn Fn(&mut Tuning, u32)| {
                let mut top = (bytes_on(*best, kind), *best);
                for d in 4..=8 {
                    let mut t = *best;
                    set(&mut t, d);
                    let b = bytes_on(t, kind);
                    if b < top.0 {
                        top = (b, t);
                    }
                }
                *best = top.1;
            };
            pick(&mut best, &|t, d| {
                t.exp_digit = d;
                t.guard = guard(d);
            });
            pick(&mut best, &|t, d| t.msnzb_digit = d);
            best
        };
        // The spline is chosen on IKNP's bytes whatever the engine: it is also the choice
        // with fewer flights, which silent OT's smaller tables must not undo.
        let bytes = |t: Tuning| bytes_on(t, OtKind::Iknp);
        let iknp = digits(OtKind::Iknp, &|_| Tuning::default().guard);
        let mut best = iknp;
        // sigmoid and tanh: the spline where it is accurate on every input and no dearer.
        let smooth = match name {
            "sigmoid" => Some(Smooth::Sigmoid),
            "tanh" => Some(Smooth::Tanh),
            // gelu's spline is of its bump (within 2 ULP, + ReLU's rounding: within 3).
            "gelu" => Some(Smooth::GeluBump),
            _ => None,
        };
        if let Some(func) = smooth
            && splines
            && inp.bits <= SPLINE_CHECK_BITS
        {
            // The line per interval of the top min(m, 8) bits (one lookup for inputs of up to
            // 8 bits, the fewest flights), else the quadratic with the smallest table (of x
            // or, half the entries for the same intervals, of |x|), each
            // where it is within SPLINE_MAX_ULP on every input and no dearer than the exp
            // construction. (Fewer intervals need not be less accurate where the function is
            // flat at the formats: 20.17 → 20.18 sigmoid by 2^6 quadratics is within 1.30 ULP
            // for 2,532 B against 2^8's 4,190; every quadratic takes the same flights.)
            let base = bytes(best);
            let priced = |spline: Spline| {
                let b = bytes(Tuning {
                    spline: Some(spline),
                    ..best
                });
                (b <= base).then_some((b, spline))
            };
            let mut quads: Vec<(f64, Spline)> = (4..=8)
                .map(Quad::narrow)
                .chain((3..=8).map(|g| Quad {
                    fold: true,
                    ..Quad::narrow(g)
                }))
                .filter_map(|q| priced(Spline::Quadratic(q)))
                .collect();
            quads.sort_by(|a, b| a.0.total_cmp(&b.0));
            let cands: Vec<(f64, Spline)> = priced(Spline::Linear { g: inp.bits.min(8) })
                .into_iter()
                .chain(quads)
                .collect();
            let accurate = |spline: Spline| {
                match spline {
                    Spline::Linear { g } => spline_max_ulp(func, inp, out, g),
                    Spline::Quadratic(q) => spline_quad_max_ulp(func, inp, out, q),
                }
                .is_some_and(|u| u <= SPLINE_MAX_ULP)
            };
            if let Some(&(_, spline)) = cands.iter().find(|c| accurate(c.1)) {
                best = Tuning {
                    spline: Some(spline),
                    ..best
                };
            }
        }
        if best.spline.is_none() && ot != OtKind::Iknp {
            // Narrower digits multiply more table entries, each product rounded: the tree
            // carries enough more guard bits that its rounding errors add up to no more than
            // with IKNP's digits (rExp 32.16 by 5-bit digits and 2 guard bits: 2.00 ULP for
            // 1,685 B, against 2.25 ULP and 2,024 B by IKNP's 7-bit digits on silent OT).
            let products = |d: u32| inp.bits.div_ceil(d).saturating_sub(1).max(1);
            let base = products(iknp.exp_digit);
            let guard = |d: u32| {
                let mut g = iknp.guard;
                while base << (g - iknp.guard) < products(d) {
                    g += 1;
                }
                g
            };
            best = digits(ot, &guard);
        }
        // reciprocal, rsqrt and sqrt: the interpolation table with the fewest bytes on the
        // engine among 2^4..2^8 lines where it is within SPLINE_MAX_ULP of the real result on
        // every input with a representable one (16.12 reciprocal by 2^6 lines: 1.49 ULP for
        // 674 B on silent OT, against 2^8's 0.68 ULP for 1,397 B; the table's payload, 2^g
        // entries, is what silent OT sends). Outputs wider than 20 bits narrow the Newton
        // step's start table instead (checked on a spread of inputs: [`curve_max_ulp`]).
        if let Some(curve) = curve_of(name) {
            let base = bytes_on(best, ot);
            let mut cands: Vec<(f64, u32)> = (4..=8)
                .map(|g| (bytes_on(Tuning { g: Some(g), ..best }, ot), g))
                .filter(|c| c.0 < base)
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0));
            let accurate = |g: u32| {
                curve_max_ulp(curve, inp, out, Tuning { g: Some(g), ..best })
                    .is_some_and(|u| u <= SPLINE_MAX_ULP)
            };
            if let Some(&(_, g)) = cands.iter().find(|c| accurate(c.1)) {
                best.g = Some(g);
            }
        }
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, best);
        best
    }
}

/// The curve of a function [`Tuning::best`] may give a narrower interpolation table.
fn curve_of(name: &str) -> Option<Curve> {
    match name {
        "reciprocal" => Some(Curve::Recip),
        "rsqrt" => Some(Curve::Rsqrt),
        "sqrt" => Some(Curve::Sqrt),
        _ => None,
    }
}

/// The largest error in output ULPs of `curve`'s function with `tune` over every positive
/// input whose real result the output can hold — every input up to [`SPLINE_CHECK_BITS`]
/// bits, else 256 spread over each octave and the largest (None if it does not run).
fn curve_max_ulp(curve: Curve, inp: Fx, out: Fx, tune: Tuning) -> Option<f64> {
    let top_in = 1u64 << (inp.bits - 1);
    let xs: Vec<u64> = if inp.bits <= SPLINE_CHECK_BITS {
        (1..top_in).collect()
    } else {
        (0..inp.bits - 1)
            .flat_map(|k| {
                let step = ((1u64 << k) / 256).max(1);
                (0..256u64)
                    .map(move |j| (1u64 << k) + j * step)
                    .filter(move |&x| x < 2u64 << k)
            })
            .chain([top_in - 1])
            .collect()
    };
    // (Results that round to the largest output count: a wrap there is the worst error.)
    let top = (1u64 << (out.bits - 1)) as f64 - 0.5;
    let so = (out.frac as f64).exp2();
    worst_ulp(
        &xs,
        inp,
        out,
        |v| Some(curve.f(v)).filter(|r| r * so < top),
        |xs| normalised(&mut Clear, xs, inp, out, curve, (0, 1), tune),
    )
}

fn arg(msg: String) -> ProtoError {
    ProtoError::Argument(msg)
}

fn neg(x: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .map(|&v| ring::reduce(v.wrapping_neg(), bits))
        .collect()
}

fn sub(x: &[u64], y: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| ring::sub(a, b, bits))
        .collect()
}

fn add(x: &[u64], y: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| ring::add(a, b, bits))
        .collect()
}

/// A one-bit LUT output (a flag, a wrap) as Boolean shares.
fn bits_of(x: &[u64]) -> Vec<u8> {
    x.iter().map(|&b| b as u8 & 1).collect()
}

fn reduce(x: &[u64], bits: u32) -> Vec<u64> {
    x.iter().map(|&v| ring::reduce(v, bits)).collect()
}

/// Bits of the largest value `max` plus a zero MSB.
fn width_of(max: u128) -> u32 {
    (128 - max.leading_zeros()) + 1
}

/// A DigDec digit indexes a table: 1..=8 bits.
fn check_digit(d: u32) -> Result<(), ProtoError> {
    if !(1..=8).contains(&d) {
        return Err(arg(format!("a digit width of {d} is not in 1..=8")));
    }
    Ok(())
}

/// Digit widths for `bits` bits: equal `d`-bit digits, the top one shorter (`d` ≥ 1).
pub fn digit_widths(bits: u32, d: u32) -> Vec<u32> {
    let d = d.max(1);
    let c = bits.div_ceil(d).max(1);
    let mut w = vec![d; c as usize - 1];
    w.push(bits - d * (c - 1));
    w
}

/// Values whose MSB (of `from` bits) is 0, moved to `to` bits: reduced, or ⋆ZExt.
fn fit<E: Engine>(e: &mut E, x: Vec<u64>, from: u32, to: u32) -> Result<Vec<u64>, ProtoError> {
    if to > from {
        e.zext_msb0(&x, from, to)
    } else {
        Ok(reduce(&x, to))
    }
}

/// x (rows of `cols`) times one y per row: by [`Engine::mult_rows`] (OTs per row, chosen by
/// y's bits) or by [`Engine::mult`] on y repeated (OTs per element, chosen by the shorter
/// operand's bits), whichever costs fewer bytes here (IKNP prices; short rows of a wide y
/// favour the second). Both take the same flights.
fn mult_by_row<E: Engine>(
    e: &mut E,
    mp: &MultParams,
    hints: [WrapHint<'_>; 2],
    x: &[u64],
    y: &[u64],
    cols: usize,
) -> Result<Vec<u64>, ProtoError> {
    let (hx, hy) = (hints[0].kind(), hints[1].kind());
    let bytes = |c: crate::proto::Cost| c.on(crate::ot::OtKind::Iknp).total_bytes();
    let by_row = bytes(mult_rows_cost(y.len(), cols, mp, hx, hy));
    let by_elem = bytes(mult_hinted_cost(x.len(), mp, hx, hy));
    if by_row <= by_elem {
        return e.mult_rows(mp, hints, x, y, cols);
    }
    e.mult(mp, hints, x, &repeat_rows(y, cols))
}

/// ⌊(x + 2^{s−1})/2^s⌋ in Z_{2^{bits−s}} (TR with rounding to nearest); x itself if s = 0.
fn round_shift<E: Engine>(e: &mut E, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
    if s == 0 {
        return Ok(x.to_vec());
    }
    let h = add_const(e, x, 1 << (s - 1), bits);
    e.trunc_reduce(&h, bits, s)
}

/// The rExp product tree (SiRnn Fig. 3).
#[derive(Clone, Copy, Debug)]
struct ExpPlan {
    /// Width of the unsigned input z.
    zbits: u32,
    /// z stands for z·2^{zshift}/2^{scale}.
    scale: u32,
    zshift: u32,
    /// The result is e^{(bias − z·2^{zshift})/2^scale}.
    bias: u64,
    /// Scale of the table entries.
    t: u32,
    /// Clamp of the top digit's entries at scale t (the others: 2^t − 1).
    top_max: u64,
    /// Scale of the result.
    out: u32,
    /// Round the final shift to nearest (else floor).
    round: bool,
    digit: u32,
}

/// ⌊v/2^s⌋ (rounded to nearest if `round`) of a `bits`-bit v with MSB 0 and largest value
/// `max`: the result, its width (with MSB 0) and its largest value. If the shifted ring
/// would be too narrow to keep the MSB 0, v is first extended (⋆ZExt), so the MSB claimed
/// public later is always right.
fn shift_down<E: Engine>(
    e: &mut E,
    v: Vec<u64>,
    bits: u32,
    max: u128,
    s: u32,
    round: bool,
) -> Result<(Vec<u64>, u32, u128), ProtoError> {
    let half = if round && s > 0 { 1u128 << (s - 1) } else { 0 };
    let max = (max + half) >> s;
    let w = width_of(max);
    let (v, bits) = if w + s > bits {
        (e.zext_msb0(&v, bits, w + s)?, w + s)
    } else {
        (v, bits)
    };
    let r = if half > 0 {
        round_shift(e, &v, bits, s)?
    } else {
        e.trunc_reduce(&v, bits, s)?
    };
    Ok((reduce(&r, w), w, max))
}

/// Runs an [`ExpPlan`]: returns the result (MSB 0), its width, and its largest value.
fn exp_core<E: Engine>(
    e: &mut E,
    z: &[u64],
    p: &ExpPlan,
) -> Result<(Vec<u64>, u32, u128), ProtoError> {
    check_digit(p.digit)?;
    let widths = digit_widths(p.zbits, p.digit);
    let digits = e.digdec(z, &widths)?.digits;
    let c = widths.len();
    let low_max = (1u64 << p.t) - 1;
    // One table per digit, all looked up in the same flights.
    let mut tabs = Vec::with_capacity(c);
    let mut off = 0;
    for (i, &w) in widths.iter().enumerate() {
        let top = i == c - 1;
        let max = if top { p.top_max } else { low_max };
        let field = width_of(max as u128);
        let tab = table::get(Spec::ExpDigit {
            width: w,
            shift: off + p.zshift,
            scale: p.scale,
            bias: if top { p.bias } else { 0 },
            t: p.t,
            max,
            field,
        });
        tabs.push((tab, field, max as u128));
        off += w;
    }
    let parts: Vec<[(&[u64], u32); 1]> = digits
        .iter()
        .zip(&widths)
        .map(|(d, &w)| [(d.as_slice(), w)])
        .collect();
    let calls: Vec<LutCall<'_>> = parts
        .iter()
        .zip(&tabs)
        .map(|(p, (t, _, _))| (p.as_slice(), &**t))
        .collect();
    let looked = e.lut_many(&calls)?;
    let mut items: Vec<(Vec<u64>, u32, u128)> = looked
        .into_iter()
        .zip(&tabs)
        .map(|(mut v, &(_, field, max))| (v.swap_remove(0), field, max))
        .collect();
    // Multiply in a balanced tree, truncating back to scale t (the last product: to `out`).
    while items.len() > 1 {
        let last_level = items.len() == 2;
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some(a) = it.next() {
            let Some(b) = it.next() else {
                next.push(a);
                break;
            };
            let shift = if last_level { 2 * p.t - p.out } else { p.t };
            let bits = a.1 + b.1;
            let mp = MultParams {
                x: unsigned(a.1),
                y: unsigned(b.1),
                out_bits: bits,
            };
            let prod = e.mult(&mp, [WrapHint::Msb(false); 2], &a.0, &b.0)?;
            next.push(shift_down(e, prod, bits, a.2 * b.2, shift, p.round)?);
        }
        items = next;
    }
    let (mut v, mut w, mut max) = items.pop().unwrap_or_default();
    if c == 1 && p.t > p.out {
        (v, w, max) = shift_down(e, v, w, max, p.t - p.out, p.round)?;
    }
    Ok((v, w, max))
}

fn check_out(out: Fx, what: &str) -> Result<(), ProtoError> {
    if out.bits > 64 || out.frac + 2 > out.bits {
        return Err(arg(format!(
            "{what}: output format ({} bits, {} fraction) needs bits ≥ frac + 2 and ≤ 64",
            out.bits, out.frac
        )));
    }
    Ok(())
}

/// Rows of 1..=2^16 columns that `len` elements fill exactly (softmax, layernorm).
fn check_rows(len: usize, cols: usize, what: &str) -> Result<(), ProtoError> {
    if cols == 0 || cols > 1 << 16 {
        return Err(arg(format!(
            "{what}: rows of {cols} elements (1..=2^16 supported)"
        )));
    }
    if !len.is_multiple_of(cols) {
        return Err(arg(format!(
            "{what}: {len} elements do not form rows of {cols}"
        )));
    }
    Ok(())
}

fn check_in(inp: Fx, what: &str) -> Result<(), ProtoError> {
    if !(2..=62).contains(&inp.bits) || inp.frac > inp.bits {
        return Err(arg(format!(
            "{what}: input format ({} bits, {} fraction) needs 2..=62 bits and frac ≤ bits",
            inp.bits, inp.frac
        )));
    }
    Ok(())
}

/// rExp: e^{x} for x ≤ 0 (SiRnn Fig. 3; SCI's `lookup_table_exp`). Domain: x ≤ 0.
pub fn rexp<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "rexp")?;
    check_out(out, "rexp")?;
    let t = out.frac + tune.guard;
    if t > 30 {
        return Err(arg(format!(
            "rexp: {} output fraction bits need products wider than 64 bits",
            out.frac
        )));
    }
    let plan = ExpPlan {
        zbits: inp.bits,
        scale: inp.frac,
        zshift: 0,
        bias: 0,
        t,
        top_max: (1u64 << t) - 1,
        out: out.frac,
        round: true,
        digit: tune.exp_digit,
    };
    let (v, w, _) = exp_core(e, &neg(x, inp.bits), &plan)?;
    fit(e, v, w, out.bits)
}

/// exp of any input: e^{B}·e^{−(B − x)} with B the largest input whose result is
/// representable. Domain: x ≤ B, i.e. results that fit the output format.
///
/// Two constructions, chosen from the formats: SiRnn's digit tables multiplied in a tree with
/// e^{B} folded into the top digit's table ([`exp_tree`]), and, where that tree's table scale is
/// capped below the output's precision (only outputs wider than 20 bits: at 32.16 it lost up
/// to 1024 ULP), [`exp_wide`]. Where both are within their bounds at a wide output, the cheaper
/// by the cost model.
pub fn exp<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "exp")?;
    check_out(out, "exp")?;
    match exp_wide_choice(inp, out, tune) {
        Some(w) => exp_wide(e, x, inp, out, &w),
        None => exp_tree(e, x, inp, out, tune),
    }
}

/// The table scale of [`exp_tree`] and the scale it would need (the output's fraction bits,
/// the guard and the result's integer bits).
fn exp_tree_scale(out: Fx, tune: Tuning) -> (u32, u32) {
    // Results up to 2^{n−1−s'}: the entries carry that many more fraction bits so the error
    // relative to the result stays within the output ULPs.
    // (Capped so a product of two entries fits 64 bits.)
    let hr = out.bits - 1 - out.frac;
    let full = out.frac + tune.guard + hr;
    let t = full
        .min(30)
        .min((63 + out.frac).saturating_sub(out.bits) / 2);
    (t, full)
}

/// [`exp`] by SiRnn's tree (Fig. 3), e^{B} folded into the top digit's table (every factor is
/// then at most 1 and the product at most the largest output).
fn exp_tree<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let (t, _) = exp_tree_scale(out, tune);
    if t < out.frac + tune.guard {
        return Err(arg(format!(
            "exp: output {} bits with {} fraction bits needs tables wider than 62 bits",
            out.bits, out.frac
        )));
    }
    let b = exp_bias(inp, out);
    let plan = ExpPlan {
        zbits: inp.bits,
        scale: inp.frac,
        zshift: 0,
        bias: b,
        t,
        top_max: ((1u64 << (out.bits - 1)) - 1) << (t - out.frac),
        out: out.frac,
        round: true,
        digit: tune.exp_digit,
    };
    let z = add_const(e, &neg(x, inp.bits), b, inp.bits);
    let (v, w, _) = exp_core(e, &z, &plan)?;
    fit(e, v, w, out.bits)
}

/// The plan of [`exp_wide`]: public, from the formats and the digit width.
#[derive(Clone, Debug, PartialEq)]
struct WidePlan {
    /// z = B − x is taken as z·2^p (scale s + p), so that a digit boundary of equal-width
    /// digits falls where the top factor's digit starts.
    p: u32,
    /// DigDec widths of z·2^p (m + p bits).
    widths: Vec<u32>,
    /// The top factor's digit: the digits below it are (1 − g) factors, the ones above flags.
    top: usize,
    /// Fraction bits of W beyond the output's: after the top factor, then after each low
    /// factor (highest digit first).
    x: Vec<u32>,
    /// Scale of each low factor's g table (highest digit first).
    gs: Vec<u32>,
    /// The proved error bound, output ULPs.
    bound: f64,
}

/// Per bit of W's ring, the error (ULPs) the scale search trades for it: rings are kept no
/// wider than what their last 2^{−12} ULP of precision needs.
const WIDE_BIT_PRICE: f64 = 1.0 / 4096.0;

/// [`exp_wide`]'s plan for these formats and digit width `d` (raised to the top factor's),
/// or None where its rings do not fit 64 bits.
///
/// With z = B − x at scale s: results of z ≥ 2^R are below half an output ULP (0 is within
/// it), so the flags zero them. The top factor's digit ends at bit R and is d ≥ R − s + 2 bits
/// wide where 8-bit digits allow (always at outputs of up to 46 bits), so the low digits
/// together have a = z·2^{−s} < 2^{−L} with L ≥ 2 (the factor below the top one is above
/// e^{−1/4}; L ≥ 1 is required). The scales: the top table's x₀, and for each low digit the widest g table
/// whose product with W fits 64 bits (g < 2^{−L+1} leaves L − 1 more fraction bits), and W's
/// next x, by a search over the chain minimising the bound (plus [`WIDE_BIT_PRICE`] per bit).
fn exp_wide_plan(inp: Fx, out: Fx, d: u32) -> Option<WidePlan> {
    let (m, s, n, f) = (inp.bits, inp.frac, out.bits, out.frac);
    if n + 2 > 64 {
        return None;
    }
    let b = exp_bias(inp, out);
    // e^{(B − z)/2^s}·2^f < 1/2 for every z ≥ 2^R.
    let need = b as f64 + f64::from(f + 1) * std::f64::consts::LN_2 * f64::from(s).exp2();
    let mut r = 0;
    while r < m && f64::from(r).exp2() <= need {
        r += 1;
    }
    let d = d.max(r.saturating_sub(s) + 2).clamp(1, 8);
    let lowb = r.saturating_sub(d);
    if lowb >= s.max(1) {
        return None;
    }
    let k = lowb.div_ceil(d);
    let p = k * d - lowb;
    if m + p > 64 {
        return None;
    }
    let widths = digit_widths(m + p, d);
    let sp = s + p;
    let top_j = (1u64 << d) - 1;
    // Each low digit's largest g at scale t (highest digit first).
    let gmax = |i: u32, t: u32| table::one_minus_exp(top_j, i * d, sp, t);
    let lows: Vec<u32> = (0..k).rev().collect();
    // W's largest x with a g table of ≥ 2 bits after it; the last W's: up to 64 bits.
    let xmax = 64 - n;
    let ulp = |e: i64| (e as f64).exp2();
    // best[x] = (price, bound) of W at x; back[step][x] = the previous x.
    let mut best: Vec<Option<(f64, f64)>> = vec![None; xmax as usize + 1];
    if k == 0 {
        best[0] = Some((0.5, 0.5));
    } else {
        for x0 in 0..=xmax - 2 {
            let e0 = ulp(-i64::from(x0) - 1);
            best[x0 as usize] = Some((e0 + WIDE_BIT_PRICE * f64::from(x0), e0));
        }
    }
    let mut back: Vec<Vec<(usize, u32)>> = Vec::new();
    for (step, &i) in lows.iter().enumerate() {
        let last = step + 1 == lows.len();
        let lim = if last { xmax } else { xmax - 2 };
        let mut next: Vec<Option<(f64, f64)>> = vec![None; xmax as usize + 1];
        let mut from = vec![(0usize, 0u32); xmax as usize + 1];
        for (xp, cur) in best.iter().enumerate() {
            let Some((price, bound)) = *cur else { continue };
            let xp = xp as u32;
            // The widest g table whose product with W (n + xp bits) fits 64 bits.
            let room = 64 - n - xp;
            let Some(t) = (1..=62)
                .rev()
                .find(|&t| width_of(u128::from(gmax(i, t))) <= room)
            else {
                continue;
            };
            let eg = ulp(i64::from(n) - 2 - i64::from(t));
            // W's next x: at least xp (W is shifted up, never down), the product rounded by
            // at least one bit.
            for xn in xp..=lim.min(xp + t - 1) {
                let er = ulp(-i64::from(xn) - 1);
                let cand = (
                    price + eg + er + WIDE_BIT_PRICE * f64::from(xn),
                    bound + eg + er,
                );
                if next[xn as usize].is_none_or(|(q, _)| cand.0 < q) {
                    next[xn as usize] = Some(cand);
                    from[xn as usize] = (xp as usize, t);
                }
            }
        }
        best = next;
        back.push(from);
    }
    // The final rounding to the output scale.
    let (xl, (_, bound)) = best
        .iter()
        .enumerate()
        .filter_map(|(x, v)| {
            let (price, bound) = (*v)?;
            let fin = if x > 0 { 0.5 } else { 0.0 };
            Some((x, (price + fin, bound + fin)))
        })
        .min_by(|a, b| a.1.0.total_cmp(&b.1.0))?;
    let mut xs = vec![xl as u32];
    let mut gs = Vec::new();
    let mut cur = xl;
    for from in back.iter().rev() {
        let (xp, t) = from[cur];
        xs.push(xp as u32);
        gs.push(t);
        cur = xp;
    }
    xs.reverse();
    gs.reverse();
    Some(WidePlan {
        p,
        widths,
        top: k as usize,
        x: xs,
        gs,
        bound,
    })
}

/// [`exp_wide`]'s plan where it replaces [`exp_tree`]: outputs wider than 20 bits where the
/// tree's table scale is capped and the wide bound is the smaller (the tree's: about 2^{n−2−t}
/// ULPs per rounding of its 2c − 1), or where the tree is not capped and the wide plan is
/// cheaper by the cost model (IKNP bytes; cached per formats and tuning).
fn exp_wide_choice(inp: Fx, out: Fx, tune: Tuning) -> Option<WidePlan> {
    if out.bits <= 20 {
        return None;
    }
    let w = exp_wide_plan(inp, out, tune.exp_digit)?;
    let (t, full) = exp_tree_scale(out, tune);
    if t < full {
        let c = digit_widths(inp.bits, tune.exp_digit.max(1)).len() as i32;
        let tree = f64::from(2 * c - 1) * f64::from(out.bits as i32 - 2 - t as i32).exp2() + 0.5;
        return (w.bound < tree).then_some(w);
    }
    type Key = (Fx, Fx, Tuning);
    static CACHE: OnceLock<Mutex<HashMap<Key, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (inp, out, tune);
    let cached = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied();
    let wide = match cached {
        Some(v) => v,
        None => {
            let zeros = vec![0u64; 4096];
            let bytes = |r: Result<Vec<u64>, ProtoError>, c: &Counter| match r {
                Ok(_) => c.cost.on(OtKind::Iknp).total_bytes(),
                Err(_) => u64::MAX,
            };
            let mut cw = Counter::default();
            let bw = bytes(exp_wide(&mut cw, &zeros, inp, out, &w), &cw);
            let mut ct = Counter::default();
            let bt = bytes(exp_tree(&mut ct, &zeros, inp, out, tune), &ct);
            let v = bw < bt;
            cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, v);
            v
        }
    };
    wide.then_some(w)
}

/// [`exp`] at wide outputs (issue 20; ours, after SiRnn Fig. 3's digit tables):
/// e^{x} = e^{B − a_top}·Π(1 − gᵢ) over z = B − x's digits, gᵢ = 1 − e^{−aᵢ}. The top digit's
/// table T = e^{B − a_top} carries the output's magnitude in n + x₀ bits (its relative
/// precision is what the result's needs); each lower digit has a < 2^{−L}, so its g is small and
/// its table carries its bits below g's leading zeros. W ← W − round(W·g) from the top: every
/// product has W (n + x bits) by g in at most 64 bits, both with MSB 0 (W ≤ the largest output
/// at its scale: T is clamped there and each step only subtracts, round(W·g) ≤ W as g < 1), so
/// ⋆UMult applies. The error is T's rounding, W_max·2^{−t−1} per g table, one rounding per
/// product and the final one: at 32.16 a proved 1.05 ULP (0.87 measured over every input),
/// where the tree's entries, 2^{−23} apart under a factor up to 2^{15}, lost 1024. Digits above
/// the top factor's only say whether z ≥ 2^R, where the result is below half an ULP: one-bit
/// LUTs (in the same flights as the tables), ANDed, and a multiplexer zeroes the result there:
/// cheaper than carrying them as factors of the product.
fn exp_wide<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    w: &WidePlan,
) -> Result<Vec<u64>, ProtoError> {
    let (m, n, f) = (inp.bits, out.bits, out.frac);
    let b = exp_bias(inp, out);
    let zb = m + w.p;
    let z = add_const(e, &neg(x, inp.bits), b, m);
    // (Shares of z times 2^p are shares of z·2^p in the p bits wider ring: exact.)
    let z: Vec<u64> = z.iter().map(|&v| ring::reduce(v << w.p, zb)).collect();
    let digits = e.digdec(&z, &w.widths)?.digits;
    let (d, k, sp) = (w.widths[0], w.top, inp.frac + w.p);
    let x0 = w.x[0];
    let tmax = ((1u64 << (n - 1)) - 1) << x0;
    let mut tabs = vec![(
        table::get(Spec::ExpDigit {
            width: w.widths[k],
            shift: k as u32 * d,
            scale: sp,
            bias: b << w.p,
            t: f + x0,
            max: tmax,
            field: n + x0,
        }),
        k,
    )];
    let mut gmax = Vec::with_capacity(k);
    for (i, &t) in (0..k).rev().zip(&w.gs) {
        let g = table::one_minus_exp((1u64 << d) - 1, i as u32 * d, sp, t);
        gmax.push(g);
        let spec = Spec::ExpOneMinus {
            width: d,
            shift: i as u32 * d,
            scale: sp,
            t,
            field: width_of(u128::from(g)),
        };
        tabs.push((table::get(spec), i));
    }
    for (i, &wd) in w.widths.iter().enumerate().skip(k + 1) {
        tabs.push((table::get(Spec::IsZero { width: wd }), i));
    }
    let parts: Vec<[(&[u64], u32); 1]> = tabs
        .iter()
        .map(|&(_, i)| [(digits[i].as_slice(), w.widths[i])])
        .collect();
    let calls: Vec<LutCall<'_>> = parts
        .iter()
        .zip(&tabs)
        .map(|(p, (t, _))| (p.as_slice(), &**t))
        .collect();
    let mut looked = e
        .lut_many(&calls)?
        .into_iter()
        .map(|mut v| v.swap_remove(0));
    let mut wv = looked.next().unwrap_or_default();
    let (mut xc, mut wmax) = (x0, u128::from(tmax));
    let msb0 = WrapHint::Msb(false);
    for (j, gv) in looked.by_ref().take(k).enumerate() {
        let (t, xn) = (w.gs[j], w.x[j + 1]);
        let (ww, gw) = (n + xc, width_of(u128::from(gmax[j])));
        let mp = MultParams {
            x: unsigned(ww),
            y: unsigned(gw),
            out_bits: ww + gw,
        };
        let prod = e.mult(&mp, [msb0, msb0], &wv, &gv)?;
        let pmax = wmax * u128::from(gmax[j]);
        let (pv, pw, _) = shift_down(e, prod, ww + gw, pmax, t + xc - xn, true)?;
        let nb = n + xn;
        let pv = fit(e, pv, pw, nb)?;
        let up: Vec<u64> = wv
            .iter()
            .map(|&v| ring::reduce(v << (xn - xc), nb))
            .collect();
        wv = sub(&up, &pv, nb);
        wmax <<= xn - xc;
        xc = xn;
    }
    let r = round_shift(e, &wv, n + xc, xc)?;
    let mut flags: Vec<Vec<u8>> = looked.map(|v| bits_of(&v)).collect();
    // The flags' AND by a balanced tree, each level one call.
    while flags.len() > 1 {
        let half = flags.len() / 2;
        let rest = flags.split_off(2 * half);
        let (a, c): (Vec<u8>, Vec<u8>) = (flags[..half].concat(), flags[half..].concat());
        let both = e.and(&a, &c)?;
        flags = both.chunks(x.len().max(1)).map(<[u8]>::to_vec).collect();
        flags.extend(rest);
    }
    match flags.pop() {
        Some(ok) => e.mux(&ok, &r, n),
        None => Ok(r),
    }
}

/// The largest input (an integer at the input scale, at least 0) whose exp fits the output.
pub fn exp_bias(inp: Fx, out: Fx) -> u64 {
    let omax = ((1u64 << (out.bits - 1)) - 1) as f64 / (out.frac as f64).exp2();
    let b = (omax.ln() * (inp.frac as f64).exp2()).floor();
    b.clamp(0.0, ((1u64 << (inp.bits - 1)) - 1) as f64) as u64
}

/// Linear interpolation of `curve` at v ∈ [1, 2) (scale `vs`, at least vs + 1 bits given)
/// → f(v) at scale `f` in `nbits` bits (SiRnn Fig. 5 with t = 0).
#[allow(clippy::too_many_arguments)]
fn interp<E: Engine>(
    e: &mut E,
    v: &[u64],
    vs: u32,
    curve: Curve,
    f: u32,
    nbits: u32,
    g: Option<u32>,
) -> Result<Vec<u64>, ProtoError> {
    let g = g
        .unwrap_or_else(|| default_g(curve, f))
        .clamp(1, 8)
        .min(vs.max(1));
    let k = vs.saturating_sub(g);
    let s0 = (f + 1).saturating_sub(g).max(1);
    let c1_bits = if nbits <= f + 8 { nbits } else { f + 2 };
    if s0 + 1 + c1_bits > 64 {
        return Err(arg(format!(
            "{curve:?}: {f} fraction bits need interpolation entries wider than 64 bits"
        )));
    }
    let tab = table::get(Spec::Interp {
        curve,
        g,
        s0,
        f,
        c1_bits,
    });
    let vf = reduce(v, vs);
    if k == 0 {
        let c1 = e.lut(&[(&vf, g)], &tab)?.remove(1);
        return fit(e, c1, c1_bits, nbits);
    }
    // c₀·δ at scale f, rounded: s0 + vs − f = k + 1 bits dropped, s0 bits left (MSB 0).
    let (c1, d) = line_parts(e, &vf, k, g, &tab, s0, s0 + vs - f, c1_bits)?;
    let y = if curve.increasing() {
        add(&c1, &d, c1_bits)
    } else {
        sub(&c1, &d, c1_bits)
    };
    fit(e, y, c1_bits, nbits)
}

/// The line of [`interp`] and [`spline`] on the k + g low bits of v: DigDec into δ (the low
/// k bits) and the interval j (the next g), one LUT of `tab`'s (c₀, c₁) at j, and c₀·δ by a
/// UMult (c₀ has s0 + 1 bits, MSB 0; δ's wrap is the DigDec carry), rounded down by `sh` bits
/// and widened to `c1_bits` (its MSB is 0). Returns (c₁, c₀·δ / 2^sh).
#[allow(clippy::too_many_arguments)]
fn line_parts<E: Engine>(
    e: &mut E,
    v: &[u64],
    k: u32,
    g: u32,
    tab: &Table,
    s0: u32,
    sh: u32,
    c1_bits: u32,
) -> Result<(Vec<u64>, Vec<u64>), ProtoError> {
    let dig = e.digdec(v, &[k, g])?;
    // (c₀, c₁, c₀'s wrap)
    let mut c = e.lut(&[(&dig.digits[1], g)], tab)?.into_iter();
    let (c0, c1) = (c.next().unwrap_or_default(), c.next().unwrap_or_default());
    let w0 = bits_of(&c.next().unwrap_or_default());
    let pbits = s0 + 1 + k;
    let mp = MultParams {
        x: unsigned(s0 + 1),
        y: unsigned(k),
        out_bits: pbits,
    };
    let hints = [WrapHint::Shares(&w0), WrapHint::Shares(&dig.carries[0])];
    let prod = e.mult(&mp, hints, &c0, &dig.digits[0])?;
    let d = round_shift(e, &prod, pbits, sh)?;
    Ok((c1, fit(e, d, pbits - sh, c1_bits)?))
}

/// Interpolation index bits for an error of about 2^{−f−2}: the minimax error of a line on
/// an interval of 2^{−g} is 2^{−2g}·max|f''|/16.
fn default_g(curve: Curve, f: u32) -> u32 {
    let extra = match curve {
        Curve::Recip => 1,
        Curve::Rsqrt => 2,
        Curve::Sqrt => 3,
    };
    (f + 1).saturating_sub(extra).div_ceil(2)
}

#[allow(clippy::too_many_arguments)]
/// h(z) = 1/(1 + e^{−z·2^{zshift}}) for unsigned z at scale `s`, at scale `f` in `nbits` bits.
fn logistic<E: Engine>(
    e: &mut E,
    z: &[u64],
    zbits: u32,
    s: u32,
    zshift: u32,
    f: u32,
    nbits: u32,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let t = f + tune.guard;
    if t > 30 {
        return Err(arg(format!(
            "{f} output fraction bits need products wider than 64 bits (at most {})",
            30 - tune.guard
        )));
    }
    let plan = ExpPlan {
        zbits,
        scale: s,
        zshift,
        bias: 0,
        t,
        top_max: (1u64 << t) - 1,
        out: t,
        round: false,
        digit: tune.exp_digit,
    };
    // e^{−z} < 1 at scale t (floored), so 1 + e^{−z} ∈ [1, 2).
    let (ev, w, _) = exp_core(e, z, &plan)?;
    // (Below 2^t, MSB 0: widen to t + 1 bits if the tree's tracked width is narrower.)
    let ev = if w < t + 1 {
        e.zext_msb0(&ev, w, t + 1)?
    } else {
        reduce(&ev, t + 1)
    };
    let v = add_const(e, &ev, 1 << t, t + 1);
    interp(e, &v, t, Curve::Recip, f, nbits, tune.g)
}

/// |x| as an unsigned m-bit value, and the sign bit.
fn abs<E: Engine>(e: &mut E, x: &[u64], m: u32) -> Result<(Vec<u64>, Vec<u8>), ProtoError> {
    let b = e.msb(x, m)?;
    let bx = e.mux(&b, x, m)?;
    let twice: Vec<u64> = bx.iter().map(|&v| v << 1).collect();
    Ok((sub(x, &twice, m), b))
}

/// sigmoid(x) = 1/(1 + e^{−x}) (SiRnn Fig. 4). Domain: all inputs.
pub fn sigmoid<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "sigmoid")?;
    check_out(out, "sigmoid")?;
    match tune.spline {
        Some(Spline::Linear { g }) => return spline(e, x, inp, out, Smooth::Sigmoid, g),
        Some(Spline::Quadratic(q)) => return spline_quad(e, x, inp, out, Smooth::Sigmoid, q),
        None => {}
    }
    let n = out.bits;
    let (ax, b) = abs(e, x, inp.bits)?;
    let r = logistic(e, &ax, inp.bits, inp.frac, 0, out.frac, n, tune)?;
    // x < 0: 1 − r.
    reflect(e, &r, &b, 1 << out.frac, n)
}

/// y where the sign bit is 0, c − y where it is 1: y + sign·(c − 2y), one multiplexer (f(−v) =
/// c − f(v) for an odd-symmetric f evaluated on |x|).
fn reflect<E: Engine>(
    e: &mut E,
    y: &[u64],
    sign: &[u8],
    c: u64,
    n: u32,
) -> Result<Vec<u64>, ProtoError> {
    let twice: Vec<u64> = y.iter().map(|&v| v << 1).collect();
    let flip = add_const(e, &neg(&twice, n), c, n);
    let t = e.mux(sign, &flip, n)?;
    Ok(add(y, &t, n))
}

/// f(x) for sigmoid or tanh by one interpolation on the signed input, without |x|, rExp or
/// a reciprocal (ours; the table is SiRnn Fig. 5's linear interpolation moved from 1/v on
/// [1, 2) to f on the input's whole range): DigDec into the low k = m − g bits δ and the top
/// g bits j, one LUT for (c₀, c₁) of interval j, f ≈ c₁ + c₀·δ by a UMult whose wrap is the
/// DigDec carry, rounded to the output scale. An m ≤ 8-bit input is one LUT of f itself.
/// Flights: DigDec, LUT, UMult, TR, ⋆ZExt (17 at 16 bits, against 41 through rExp). Its
/// error depends on the formats; [`Tuning::best`] takes it only where every input is within
/// [`SPLINE_MAX_ULP`]. Domain: all inputs.
pub fn spline<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    func: Smooth,
    g: u32,
) -> Result<Vec<u64>, ProtoError> {
    let (m, s, f, n) = (inp.bits, inp.frac, out.frac, out.bits);
    let g = g.clamp(1, 8).min(m);
    let k = m - g;
    // c₁ + lift ∈ [0, 2] at scale f, MSB 0.
    let c1_bits = f + 2 + func.lift() as u32;
    // c₀ at scale s0 errs by at most 2^{−s0−1}·h = 2^{−f−2} over an interval.
    let s0 = (f + 1 + k).saturating_sub(s).max(1);
    if c1_bits > 64 || s0 + 1 + k > 64 || (k > 0 && k + f < s) {
        return Err(arg(format!(
            "spline: no interpolation from {m} bits at scale {s} to scale {f}"
        )));
    }
    let tab = table::get(Spec::Spline {
        func,
        m,
        s,
        g,
        s0,
        f,
        c1_bits,
    });
    let lift = (func.lift() << f).wrapping_neg();
    let xr = reduce(x, m);
    if k == 0 {
        let y = e.lut(&[(&xr, g)], &tab)?.remove(0);
        let y = fit(e, y, c1_bits, n)?;
        return Ok(add_const(e, &y, lift, n));
    }
    // c₀·δ at scale s0 + s → scale f: 1 + k + f − s bits left, MSB 0.
    let (c1, d) = line_parts(e, &xr, k, g, &tab, s0, s0 + s - f, c1_bits)?;
    let y = fit(e, add(&c1, &d, c1_bits), c1_bits, n)?;
    Ok(add_const(e, &y, lift, n))
}

/// f(x) for sigmoid or tanh by a quadratic per interval on a window of the signed input
/// (ours, extending [`spline`] to wide formats): the window is the b low bits of x with
/// |f(±2^W) − f(±∞)| < 2^{−f−2}; DigDec into δ (low k bits) and the interval j (the next g
/// bits; when bits lie above the window, a second DigDec parts j's low bits from its top bit
/// and the bits above, all that saturation depends on); in one pair of
/// flights the LUTs of (c₂, a), c₁ and — above the window — whether x saturates and to what;
/// f ≈ a + δ·(c₁ + c₂·δ) by two UMults without a truncation between them (c₂ and the running
/// sum are signed: each is offset by a power of two that makes its MSB 0, and the offset's
/// product with δ is taken off locally, the DigDec carry's parity being all its wrap needs);
/// one TR to the output scale, ⋆ZExt, and a MUX for the saturated inputs. The LUT gives c₂'s
/// wrap with it, so the first UMult needs no Wrap; the second needs the running sum's (an AND
/// of MSBs, 2 flights), unless `wide`: then c₂ (offset by half its ring), c₁ and the sum
/// live in the product's ring Z_{2^{L2}}, where the sum's wrap does not matter (ring
/// arithmetic), for 2^g·(2k − 3) more table bits per element. Flights at 20 bits: 20, 18
/// wide (53 through rExp). `fold` uses the symmetry f(−v) = c − f(v) (sigmoid c = 1, tanh 0;
/// the bump is even): the spline runs on |x| (MSB and a multiplexer, as SiRnn's sigmoid does
/// before rExp), whose window is one bit narrower, so the same intervals take half the table
/// (the tables are most of the bytes: 20.15 → 20.18 sigmoid by 2^7 intervals of |x|, 1,651 B
/// on silent OT against 2,856 by 2^8 of x, 1.16 ULP), and a last multiplexer reflects
/// negative inputs; 10 flights more. Every |x| of the blocks above the window saturates but
/// one, |x| = 2^{m−1} (x the most negative input, where the window reaches the sign bit),
/// which the saturation table gives exactly. [`Tuning::best`] takes a variant only where
/// every input is within [`SPLINE_MAX_ULP`].
pub fn spline_quad<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    func: Smooth,
    q: Quad,
) -> Result<Vec<u64>, ProtoError> {
    let (m, s, f, n) = (inp.bits, inp.frac, out.frac, out.bits);
    let Quad { g, wide, fold } = q;
    let na = || {
        arg(format!(
            "spline: no quadratic from {m} bits at scale {s} to scale {f}"
        ))
    };
    let g = g.clamp(2, 8);
    let w = window(func, f);
    // Folded, the window is |x| < 2^{w+s} (one bit fewer) and the sign is always above it.
    let b = if fold {
        (w + s).min(m.saturating_sub(1))
    } else {
        (w + 1 + s).min(m)
    };
    let hb = m - b;
    if b <= g + 1 || hb > 7 + u32::from(fold) {
        return Err(na());
    }
    let k = b - g;
    let s2 = f + 2 + 2 * k;
    let lift = func.lift() as u32;
    let a_bits = f + 2 + lift;
    let sh = s2 - f;
    // Magnitudes: |c₂| ≤ max|f''|/2, c₁ + c₂δ ≤ max f' (with a margin), per unit δ at s2.
    let (cmax, bmax) = match func {
        Smooth::Sigmoid => (0.05, 0.25),
        Smooth::Tanh => (0.4, 1.0),
        // The bump: |β''| ≤ 2φ(0) ≈ 0.80 (halved: 0.40), |β'| ≤ 1/2.
        Smooth::GeluBump => (0.4, 0.6),
    };
    let need = |v: f64| (v + 1.0).log2().ceil() as u32;
    let e2 = |d: i64| (d as f64).exp2();
    let c2_need = need(cmax * e2(s2 as i64 - 2 * s as i64)) + 2;
    let v_need = need(1.1 * bmax * e2(s2 as i64 - s as i64)) + 2;
    // L1 = c2_bits + k − 1 holds c₁ + c₂δ; L2 = L1 + k − 1 holds the product and, after the
    // TR by sh, the result's a_bits.
    let c2_bits = c2_need
        .max((v_need + 1).saturating_sub(k))
        .max((sh + a_bits + 2).saturating_sub(2 * k))
        .max(3);
    let l1 = c2_bits + k - 1;
    let l2 = l1 + k - 1;
    // The operand widths of c₂ and of the running sum, and c₂'s offset bit o (o + k = its
    // product's width − 1, what `unoffset` needs).
    let (ca_bits, sum_bits, off) = if wide {
        (l2 - k, l2, l2 - k - 1)
    } else {
        (c2_bits, l1, c2_bits - 2)
    };
    if l2 > 64 || ca_bits + a_bits + 1 > 64 || l2 < sh + a_bits {
        return Err(na());
    }
    let ta = table::get(Spec::QuadA {
        func,
        b,
        s,
        g,
        f,
        s2,
        c2_bits: ca_bits,
        off,
        a_bits,
        fold,
    });
    let tb = table::get(Spec::QuadB {
        func,
        b,
        s,
        g,
        s2,
        l1_bits: sum_bits,
        fold,
    });
    let ts = (hb > 0).then(|| {
        table::get(if fold {
            Spec::SaturateAbs {
                func,
                hb,
                b,
                s,
                f,
                n,
            }
        } else {
            Spec::Saturate { func, hb, f, n }
        })
    });
    // Folded: |x| (an MSB and a multiplexer) and the sign, which reflects the result last.
    let (xs, sign) = if fold {
        let (ax, sg) = abs(e, x, m)?;
        (ax, Some(sg))
    } else {
        (reduce(x, m), None)
    };
    // δ and the rest; above the window the rest splits again: signed, into j's low g − 1
    // bits and the hb + 1 bits from j's top (the window's sign) up, whose lowest bit is j's
    // top bit (shares mod 2 of it: the shares of that digit reduced); folded, into j and the
    // hb bits above the window (any of them set: saturated).
    let dig = e.digdec(&xs, &[k, g + hb])?;
    let (delta, carry) = (&dig.digits[0], &dig.carries[0]);
    let top = if hb > 0 {
        let split = if fold { [g, hb] } else { [g - 1, hb + 1] };
        let d = e.digdec(&dig.digits[1], &split)?;
        let mut dd = d.digits;
        let hi = dd.pop().unwrap_or_default();
        let lo = dd.pop().unwrap_or_default();
        Some((lo, hi))
    } else {
        None
    };
    let jtop = match &top {
        Some((_, hi)) if !fold => reduce(hi, 1),
        _ => Vec::new(),
    };
    let idx_j: Vec<(&[u64], u32)> = match &top {
        Some((lo, _)) if fold => vec![(lo, g)],
        Some((lo, _)) => vec![(lo, g - 1), (&jtop, 1)],
        None => vec![(&dig.digits[1], g)],
    };
    let idx_s: Vec<(&[u64], u32)> = match &top {
        Some((_, hi)) => vec![(hi, if fold { hb } else { hb + 1 })],
        None => Vec::new(),
    };
    let mut calls: Vec<LutCall<'_>> = vec![(&idx_j, &*ta), (&idx_j, &*tb)];
    if let Some(t) = &ts {
        calls.push((&idx_s, &**t));
    }
    let mut got = e.lut_many(&calls)?;
    let sat = if hb > 0 { got.pop() } else { None };
    let c1 = got.pop().and_then(|mut v| v.pop()).unwrap_or_default();
    // (c₂ offset, a, c₂'s wrap)
    let mut qa = got.pop().unwrap_or_default().into_iter();
    let (c2u, a) = (qa.next().unwrap_or_default(), qa.next().unwrap_or_default());
    let w2 = bits_of(&qa.next().unwrap_or_default());
    // u = c₂·δ in the running sum's ring.
    let mp = MultParams {
        x: unsigned(ca_bits),
        y: unsigned(k),
        out_bits: sum_bits,
    };
    let u = e.mult(
        &mp,
        [WrapHint::Shares(&w2), WrapHint::Shares(carry)],
        &c2u,
        delta,
    )?;
    let u = unoffset(&u, delta, carry, off, sum_bits);
    let v = add(&c1, &u, sum_bits);
    let mp = MultParams {
        x: unsigned(sum_bits),
        y: unsigned(k),
        out_bits: l2,
    };
    // δ·v in Z_{2^{L2}}: v as a ring element when wide (no wrap needed), else offset to MSB 0.
    let wv = if wide {
        e.mult(&mp, [WrapHint::Unknown, WrapHint::Shares(carry)], &v, delta)?
    } else {
        let v = add_const(e, &v, 1 << (l1 - 2), l1);
        let hints = [WrapHint::Msb(false), WrapHint::Shares(carry)];
        let wv = e.mult(&mp, hints, &v, delta)?;
        unoffset(&wv, delta, carry, l1 - 2, l2)
    };
    let d = round_shift(e, &wv, l2, sh)?;
    let y = add(&a, &reduce(&d, a_bits), a_bits);
    let y = fit(e, y, a_bits, n)?;
    let y = add_const(e, &y, ((func.lift()) << f).wrapping_neg(), n);
    let y = match sat {
        Some(mut st) => {
            let satv = st.pop().unwrap_or_default();
            let flag = bits_of(&st.pop().unwrap_or_default());
            let m = e.mux(&flag, &sub(&satv, &y, n), n)?;
            add(&y, &m, n)
        }
        None => y,
    };
    // f(−v) = c − f(v): sigmoid 1 − f, tanh −f; the bump is even.
    let c = match func {
        Smooth::Sigmoid => 1u64 << f,
        Smooth::Tanh => 0,
        Smooth::GeluBump => return Ok(y),
    };
    match sign {
        Some(sg) => reflect(e, &y, &sg, c, n),
        None => Ok(y),
    }
}

/// Shares of p − 2^o·δ mod 2^L from shares of p, of the k-bit δ and of its wrap w (Boolean),
/// where o + k = L − 1: 2^o·δ = 2^o·(δ₀ + δ₁) − 2^{L−1}·w, and 2^{L−1}·w mod 2^L needs only
/// w's parity, so each party corrects its own shares.
fn unoffset(p: &[u64], delta: &[u64], w: &[u8], o: u32, l: u32) -> Vec<u64> {
    p.iter()
        .zip(delta)
        .zip(w)
        .map(|((&p, &d), &w)| {
            let v = p
                .wrapping_sub(d << o)
                .wrapping_add(((w & 1) as u64) << (l - 1));
            ring::reduce(v, l)
        })
        .collect()
}

/// The largest error of [`spline_quad`] over every input, in output ULPs (None: not
/// applicable, or over [`SPLINE_MAX_ULP`] already on a sample of the inputs).
pub fn spline_quad_max_ulp(func: Smooth, inp: Fx, out: Fx, q: Quad) -> Option<f64> {
    max_ulp_all(func, inp, out, |xs| {
        spline_quad(&mut Clear, xs, inp, out, func, q)
    })
}

/// Whether [`spline_quad`]'s variant `q` is within [`SPLINE_MAX_ULP`] on every input of
/// these formats (cached: the compiler asks once per instruction and variant).
pub fn spline_quad_ok(func: Smooth, inp: Fx, out: Fx, q: Quad) -> bool {
    type Key = (Smooth, Fx, Fx, Quad);
    static CACHE: OnceLock<Mutex<HashMap<Key, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (func, inp, out, q);
    if let Some(&ok) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return ok;
    }
    let ok = inp.bits <= SPLINE_CHECK_BITS
        && spline_quad_max_ulp(func, inp, out, q).is_some_and(|u| u <= SPLINE_MAX_ULP);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, ok);
    ok
}

/// The largest error of [`spline`] over every input, in output ULPs (None as for
/// [`spline_quad_max_ulp`]).
pub fn spline_max_ulp(func: Smooth, inp: Fx, out: Fx, g: u32) -> Option<f64> {
    max_ulp_all(func, inp, out, |xs| {
        spline(&mut Clear, xs, inp, out, func, g)
    })
}

/// f's largest error in output ULPs over every input of `inp`, evaluated by `eval` (values in,
/// values out); one input in 64 first, so that a hopeless construction costs little.
fn max_ulp_all(
    func: Smooth,
    inp: Fx,
    out: Fx,
    eval: impl Fn(&[u64]) -> Result<Vec<u64>, ProtoError>,
) -> Option<f64> {
    let worst = |xs: &[u64]| worst_ulp(xs, inp, out, |v| Some(func.f(v)), &eval);
    let sample: Vec<u64> = (0..1u64 << inp.bits).step_by(64).collect();
    if worst(&sample)? > SPLINE_MAX_ULP {
        return None;
    }
    let xs: Vec<u64> = (0..1u64 << inp.bits).collect();
    worst(&xs)
}

/// The largest error in output ULPs of `eval`'s results on `xs` against the real `f`, over
/// the inputs where `f` gives a value (None if `eval` fails).
fn worst_ulp(
    xs: &[u64],
    inp: Fx,
    out: Fx,
    f: impl Fn(f64) -> Option<f64>,
    eval: impl Fn(&[u64]) -> Result<Vec<u64>, ProtoError>,
) -> Option<f64> {
    let ulp = (out.frac as f64).exp2();
    let ys = eval(xs).ok()?;
    Some(
        xs.iter()
            .zip(&ys)
            .fold(0.0f64, |w, (&x, &y)| match f(inp.real(x)) {
                Some(r) => w.max((out.real(y) - r).abs() * ulp),
                None => w,
            }),
    )
}

/// The window of [`spline_quad`]: |x| < 2^w holds every input where f is not yet within
/// 2^{−f−2} of its limits (output scale `f`).
fn window(func: Smooth, f: u32) -> u32 {
    let zsat = match func {
        Smooth::Sigmoid => (f + 2) as f64 * std::f64::consts::LN_2,
        Smooth::Tanh => (f + 3) as f64 * std::f64::consts::LN_2 / 2.0,
        // z·Φ(−z) < 2^{−f−2}: the first such z on a grid of 1/64.
        Smooth::GeluBump => {
            let eps = (-(f as f64) - 2.0).exp2();
            (1..2048)
                .map(|i| i as f64 / 64.0)
                .find(|&z| z * table::phi(-z) < eps)
                .unwrap_or(32.0)
        }
    };
    zsat.log2().ceil().max(0.0) as u32
}

/// The largest error of [`gelu`] that its construction is tested to (output ULPs, every
/// input of the 8–16-bit formats the tests sweep).
pub const GELU_MAX_ULP: f64 = 3.0;

/// gelu(x) = max(x, 0) + β(x) with β(x) = −|x|·Φ(−|x|), Φ the standard normal CDF (ours, from
/// SiRnn's pieces): ReLU by MSB and multiplexer, rescaled to the output format (exact, or one
/// rounding TR), plus β — even, within [−0.17, 0], 0 at both ends — by the signed-input spline
/// of sigmoid and tanh ([`spline_quad`]; a table for inputs of ≤ 8 bits; for inputs with more
/// than 7 bits above β's window, [`smooth_wide`]; a line per interval where [`Tuning::best`]
/// finds it within [`SPLINE_MAX_ULP`] on every input) directly at the output format. Interval
/// boundaries fall on 0, so β's kink there costs no accuracy. Error ≤ [`GELU_MAX_ULP`] (tested
/// exhaustively at 8–16 bits, densely at 24–32). Why not x·Φ(x) with one product: Φ must
/// then carry the input's integer bits beyond the output scale (a dearer table) and the
/// product is 2.7 × the bytes; why not a spline of gelu itself: it is unbounded. Domain: all
/// inputs.
pub fn gelu<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "gelu")?;
    check_out(out, "gelu")?;
    let (m, n) = (inp.bits, out.bits);
    let xr = reduce(x, m);
    let func = Smooth::GeluBump;
    let bump = match tune.spline {
        _ if m <= 8 => spline(e, &xr, inp, out, func, m)?,
        // The line per interval where the cost model found it exhaustively accurate.
        Some(Spline::Linear { g }) => spline(e, &xr, inp, out, func, g)?,
        _ if m > window(func, out.frac) + 1 + inp.frac + 7 => smooth_wide(e, &xr, inp, out, func)?,
        Some(Spline::Quadratic(q)) => spline_quad(e, &xr, inp, out, func, q)?,
        None => match spline_quad(e, &xr, inp, out, func, Quad::narrow(8)) {
            Err(ProtoError::Argument(_)) => spline(e, &xr, inp, out, func, 8)?,
            r => r?,
        },
    };
    let r = relu_to(e, &xr, inp, out)?;
    Ok(add(&r, &bump, n))
}

/// max(x, 0) of an m-bit input at the output format: MSB and multiplexer, then a left shift
/// (a finer output scale) or one TR rounding to nearest (a coarser one, in a ring one bit
/// wider so that rounding the largest value up cannot wrap), and a ⋆ZExt to the output width
/// (the value is non-negative).
fn relu_to<E: Engine>(e: &mut E, x: &[u64], inp: Fx, out: Fx) -> Result<Vec<u64>, ProtoError> {
    let (m, s, f, n) = (inp.bits, inp.frac, out.frac, out.bits);
    let neg = e.msb(x, m)?;
    let r = e.mux(&not(e, &neg), x, m)?;
    let (r, bits) = if f >= s {
        (r, m)
    } else {
        let sh = s - f;
        let w = e.zext_msb0(&r, m, m + 1)?;
        let h = add_const(e, &w, 1 << (sh - 1), m + 1);
        (e.trunc_reduce(&h, m + 1, sh)?, m + 1 - sh)
    };
    let up = f.saturating_sub(s);
    let r = if n > bits {
        e.zext_msb0(&r, bits, n)?
    } else {
        reduce(&r, n)
    };
    Ok(r.iter()
        .map(|&v| ring::reduce(v << up.min(63), n))
        .collect())
}

/// f(x) at format `out` for an m-bit input with more bits above f's window than a saturation
/// table can index: the quadratic spline of the window's b = w + 1 + s low bits (x itself
/// inside the window), T = ⌊x/2^{b−1}⌋ by TR (x is inside iff T ∈ {−1, 0}), SExt by one bit,
/// the MSBs of T + 1 (x below the window) and T − 1 (not above) in one call, and f's limits
/// put in place outside by one multiplexer call.
fn smooth_wide<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    func: Smooth,
) -> Result<Vec<u64>, ProtoError> {
    let (m, s) = (inp.bits, inp.frac);
    let b = window(func, out.frac) + 1 + s;
    let len = x.len();
    let inside = spline_quad(e, &reduce(x, b), Fx::new(b, s), out, func, Quad::narrow(8))?;
    let tb = m - b + 1;
    let t = e.trunc_reduce(x, m, b - 1)?;
    let t = e.sext(&t, tb, tb + 1)?;
    let mut both = add_const(e, &t, 1, tb + 1);
    both.extend(add_const(e, &t, ring::reduce(u64::MAX, tb + 1), tb + 1));
    let msbs = e.msb(&both, tb + 1)?;
    let (below, not_above) = msbs.split_at(len);
    let mut flags = not(e, not_above);
    flags.extend_from_slice(below);
    let n = out.bits;
    let limit = |v: f64| ring::reduce((v * (out.frac as f64).exp2()).round() as i64 as u64, n);
    let (hi, lo) = (limit(func.f(1e9)), limit(func.f(-1e9)));
    let mut vals = add_const(e, &neg(&inside, n), hi, n);
    vals.extend(add_const(e, &neg(&inside, n), lo, n));
    let sel = e.mux(&flags, &vals, n)?;
    let (up, down) = sel.split_at(len);
    Ok(add(&add(&inside, up, n), down, n))
}

/// tanh(x) = 2h(2x) − 1 with h the logistic function (SiRnn §V-C). Domain: all inputs.
pub fn tanh<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "tanh")?;
    check_out(out, "tanh")?;
    match tune.spline {
        Some(Spline::Linear { g }) => return spline(e, x, inp, out, Smooth::Tanh, g),
        Some(Spline::Quadratic(q)) => return spline_quad(e, x, inp, out, Smooth::Tanh, q),
        None => {}
    }
    let n = out.bits;
    let (ax, b) = abs(e, x, inp.bits)?;
    // h(2|x|) at scale frac + 1 is 2h(2|x|) at scale frac.
    let r = logistic(e, &ax, inp.bits, inp.frac, 1, out.frac + 1, n, tune)?;
    let t = add_const(e, &r, (1u64 << out.frac).wrapping_neg(), n);
    let m = e.mux(&b, &t, n)?;
    let twice: Vec<u64> = m.iter().map(|&v| v << 1).collect();
    Ok(sub(&t, &twice, n))
}

/// Bounded reciprocal Rec (SiRnn Fig. 5): 1/x for x ∈ [1, 2). Domain: 1 ≤ x < 2.
pub fn reciprocal_bounded<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "reciprocal")?;
    check_out(out, "reciprocal")?;
    if inp.frac + 1 > inp.bits {
        return Err(arg("reciprocal: the input format cannot hold 1".into()));
    }
    interp(e, x, inp.frac, Curve::Recip, out.frac, out.bits, tune.g)
}

/// MSNZB (SiRnn Alg. 7) as an index: shares of k = ⌊log2 x⌋ of an unsigned ℓ-bit x in
/// Z_{2^ι}, ι = ⌈log2 ℓ⌉ (k = 0 for x = 0). Digit i's table gives its own leading-one index
/// (plus its offset) and whether it is zero; with H_i = "a digit ≥ i is nonzero" (a suffix
/// AND chain of the zero flags), k = idx₀ + Σ_{i≥1} H_i·(idx_i − idx_{i−1}), one batched
/// multiplexer.
pub fn msnzb_index<E: Engine>(
    e: &mut E,
    x: &[u64],
    bits: u32,
    digit: u32,
) -> Result<Vec<u64>, ProtoError> {
    msnzb_index_and_zero(e, x, bits, digit, false).map(|(k, _)| k)
}

/// [`msnzb_index`] and, with `want_zero`, Boolean shares of 1{x = 0} (the AND of the digits'
/// zero flags the index already computes, one AND more), which the index alone cannot tell
/// from x = 1.
fn msnzb_index_and_zero<E: Engine>(
    e: &mut E,
    x: &[u64],
    bits: u32,
    digit: u32,
    want_zero: bool,
) -> Result<(Vec<u64>, Vec<u8>), ProtoError> {
    check_digit(digit)?;
    let iota = ceil_log2(bits as usize).max(1);
    let widths = digit_widths(bits, digit);
    let c = widths.len();
    let digits = e.digdec(x, &widths)?.digits;
    let mut idx = Vec::with_capacity(c);
    let mut zero = Vec::with_capacity(c);
    let mut off = 0;
    let mut tabs = Vec::with_capacity(c);
    for &w in &widths {
        tabs.push(table::get(Spec::MsnzbDigit {
            width: w,
            base: off,
            iota,
        }));
        off += w;
    }
    let parts: Vec<[(&[u64], u32); 1]> = digits
        .iter()
        .zip(&widths)
        .map(|(d, &w)| [(d.as_slice(), w)])
        .collect();
    let calls: Vec<LutCall<'_>> = parts
        .iter()
        .zip(&tabs)
        .map(|(p, t)| (p.as_slice(), &**t))
        .collect();
    for mut f in e.lut_many(&calls)? {
        zero.push(bits_of(&f.pop().unwrap_or_default()));
        idx.push(f.pop().unwrap_or_default());
    }
    if c == 1 {
        let z = if want_zero {
            zero.pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        return Ok((idx.pop().unwrap_or_default(), z));
    }
    // all_zero[i] = digits i.. are all zero, for i ≥ 1.
    let mut all_zero = vec![Vec::new(); c];
    all_zero[c - 1] = zero[c - 1].clone();
    for i in (1..c - 1).rev() {
        all_zero[i] = e.and(&all_zero[i + 1], &zero[i])?;
    }
    let is_zero = if want_zero {
        e.and(&all_zero[1], &zero[0])?
    } else {
        Vec::new()
    };
    let h: Vec<u8> = (1..c).flat_map(|i| not(e, &all_zero[i])).collect();
    let diffs: Vec<u64> = (1..c)
        .flat_map(|i| sub(&idx[i], &idx[i - 1], iota))
        .collect();
    let m = e.mux(&h, &diffs, iota)?;
    let len = x.len();
    let mut k = idx[0].clone();
    for i in 0..c - 1 {
        k = add(&k, &m[i * len..(i + 1) * len], iota);
    }
    Ok((k, is_zero))
}

/// MSNZB with SiRnn's one-hot output: Boolean shares of bit i = 1{i = ⌊log2 x⌋}, packed
/// into one word per element (bit i).
pub fn msnzb_one_hot<E: Engine>(
    e: &mut E,
    x: &[u64],
    bits: u32,
    digit: u32,
) -> Result<Vec<u64>, ProtoError> {
    let iota = ceil_log2(bits as usize).max(1);
    let k = msnzb_index(e, x, bits, digit)?;
    let tab = table::get(Spec::OneHot { iota, ell: bits });
    let f = e.lut(&[(&k, iota)], &tab)?;
    Ok((0..x.len())
        .map(|j| {
            f.iter()
                .enumerate()
                .fold(0u64, |w, (i, v)| w | (v[j] & 1) << i)
        })
        .collect())
}

/// f(x) for a positive x by normalisation (SiRnn Fig. 6): k = MSNZB(x), v = x·2^{ℓ−2−k} ∈
/// [1, 2) (LUT-product), f(v) by interpolation, times 2^{α(k−s)} (LUT-product), rounded to
/// the output scale. Domain: x > 0 with a representable result.
#[allow(clippy::too_many_arguments)]
fn normalised<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    curve: Curve,
    (min_k, div): (u32, u32),
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let what = format!("{curve:?}").to_lowercase();
    check_in(inp, &what)?;
    check_out(out, &what)?;
    let ell = inp.bits;
    let iota = ceil_log2(ell as usize).max(1);
    let xr = reduce(x, ell);
    // √0 = 0: the only curve defined at 0; its zero flag selects the result at the end.
    let at_zero = curve == Curve::Sqrt;
    let (k, is_zero) = msnzb_index_and_zero(e, &xr, ell, tune.msnzb_digit, at_zero)?;
    let norm = table::get(Spec::Normalise { iota, ell });
    let v = e.lut_product(&[(&k, iota)], &norm, &xr, ell)?;
    // f(v)'s error is scaled by the exponent factor, up to the largest output 2^{n−1−s'}:
    // carry that many more fraction bits (within a 64-bit product); the table's index bits
    // are set by the output scale alone (its error is 2^{−2g−3}).
    // The factor's scale: 3 bits below the output's, fewer if the largest factor would not
    // leave room for f(v) in a 64-bit product (large factors keep their relative precision).
    let table_for = |sc: u32| {
        table::get(Spec::Exponent {
            curve,
            iota,
            ell,
            s: inp.frac,
            sc,
            min_k,
            div,
        })
    };
    let width = |t: &crate::proto::lut::Table| {
        width_of(t.entries.iter().copied().max().unwrap_or(0) as u128)
    };
    // The Newton step's start table: 2^8 lines, or as the tuning narrowed it.
    let start_g = tune.g.map_or(NEWTON_G, |g| g.clamp(1, NEWTON_G));
    if let Some(it) = newton_plan(curve, ell, out, start_g, &table_for, &width) {
        return newton_normalised(e, &k, iota, v, ell, out, curve, it, &table_for);
    }
    let v = reduce(&v, ell - 1);
    let mut sc = out.frac + 3;
    let mut scale = table_for(sc);
    while sc > 0 && out.frac + 3 + width(&scale) > 64 {
        sc -= 1;
        scale = table_for(sc);
    }
    let cw = width(&scale);
    let headroom = out.bits - 1 - out.frac;
    let g = tune
        .g
        .unwrap_or_else(|| default_g(curve, out.frac + 3))
        .clamp(1, 8);
    // (The interpolation table's two fields, f + 2 − g and f + 2 bits, share a 64-bit entry.)
    let f = (out.frac + 2 + headroom)
        .min(62u32.saturating_sub(cw))
        .min((60 + g) / 2)
        .max(out.frac + 1);
    let g = Some(g);
    // v's bits below 2^{−f−4} cannot matter: drop them (keeps the interpolation's product
    // within 64 bits for wide inputs).
    let keep = f + 4;
    let (v, vs) = if ell - 2 > keep {
        (e.trunc_reduce(&v, ell - 1, ell - 2 - keep)?, keep)
    } else {
        (v, ell - 2)
    };
    let y0 = interp(e, &v, vs, curve, f, f + 2, g)?;
    let r = (f + 2) + cw;
    if r > 64 {
        return Err(arg(format!(
            "{curve:?}: input scale {} too large for a 64-bit product",
            inp.frac
        )));
    }
    let y0 = e.zext_msb0(&y0, f + 2, r)?;
    let p = e.lut_product(&[(&k, iota)], &scale, &y0, r)?;
    let sh = f + sc - out.frac;
    let y = round_shift(e, &p, r, sh)?;
    let y = fit(e, y, r - sh, out.bits)?;
    if at_zero {
        return e.mux(&not(e, &is_zero), &y, out.bits);
    }
    Ok(y)
}

/// Scale of the iteration's start ŷ ≈ f(v) (its table error is 2^{−19} at most, g = 8).
const NEWTON_START: u32 = 22;

/// Index bits of the iteration's start table (at most; [`Tuning::best`] may narrow it).
const NEWTON_G: u32 = 8;

/// The iterated construction's parameters (see [`newton_plan`]).
#[derive(Clone, Copy, Debug)]
struct NewtonPlan {
    /// Scale of the iterated f(v) (f + 2 bits).
    f: u32,
    /// Scale of the exponent factors.
    sc: u32,
    /// Ring of the factor's product: only the output's bits above the rounding are kept.
    r: u32,
    /// Index bits of the start table.
    g: u32,
}

/// Where the interpolation table alone cannot reach the output's precision (its relative
/// error is about 2^{−2g−3}, the output needs n + 1 bits of it), 1/v and 1/√v take one
/// Newton step from the table ([`newton_step`]). Only for outputs wider than 2g + 4 = 20 bits
/// (g = [`NEWTON_G`]: every 16-bit setting keeps the table alone, its bytes and flights), for
/// inputs of more than g + 2 bits (narrower ones index the table with every bit of v, whose
/// entries are its lines' intercepts: too far from f(v) for the step's narrow rings), and only
/// where every ring fits 64 bits.
fn newton_plan(
    curve: Curve,
    ell: u32,
    out: Fx,
    g: u32,
    table_for: &dyn Fn(u32) -> std::sync::Arc<Table>,
    width: &dyn Fn(&Table) -> u32,
) -> Option<NewtonPlan> {
    if !matches!(curve, Curve::Recip | Curve::Rsqrt)
        || out.bits <= 2 * NEWTON_G + 4
        || ell < NEWTON_G + 3
    {
        return None;
    }
    // f(v) at n + 1 fraction bits, or one or two fewer where the factor's product would not
    // fit 64 bits (the factor's scale at least the output's, so its rounding stays below half
    // an output ULP).
    for f in (out.bits - 1..=out.bits + 1).rev() {
        let r_ = newton_margin(curve, g);
        let h = NEWTON_START;
        let vs = (ell - 2).min(f + 4);
        let zs = if curve == Curve::Rsqrt {
            (f + 2).min(2 * h)
        } else {
            h
        };
        let fe = (f + 2).min(vs + zs);
        if h + f + 3 - r_ > 64 || vs + zs > 64 + r_ || h + fe < f + 1 || fe < r_ + 2 {
            continue;
        }
        for sc in (out.frac..=out.frac + 3).rev() {
            let cw = width(&table_for(sc));
            let sh = f + sc - out.frac;
            let r = (f + 2 + cw).min(sh + out.bits);
            if r <= 64 && r > sh {
                return Some(NewtonPlan { f, sc, r, g });
            }
        }
    }
    None
}

/// |1 − v·ŷ| (reciprocal) or |1 − v·ŷ²| (rsqrt) stays below 2^{−R−2}: the start's error
/// (a table of 2^g lines is within 2^{−2g−3} of f(v); R leaves a factor 4 of margin, twice
/// that for rsqrt's square). R = 15 and 14 at g = 8.
fn newton_margin(curve: Curve, g: u32) -> u32 {
    let r = (2 * g).saturating_sub(1);
    if curve == Curve::Rsqrt {
        r.saturating_sub(1)
    } else {
        r
    }
}

/// [`normalised`] with one Newton step: v (ℓ bits, MSB 0) to f(v) at scale `it.f` by
/// [`newton_step`], then the exponent factor's LUT-product in a ring of the output's bits
/// above the rounding (the product's higher bits are the output's overflow).
#[allow(clippy::too_many_arguments)]
fn newton_normalised<E: Engine>(
    e: &mut E,
    k: &[u64],
    iota: u32,
    v: Vec<u64>,
    ell: u32,
    out: Fx,
    curve: Curve,
    it: NewtonPlan,
    table_for: &dyn Fn(u32) -> std::sync::Arc<Table>,
) -> Result<Vec<u64>, ProtoError> {
    let f = it.f;
    // v's bits below 2^{−f−4} cannot matter.
    let keep = f + 4;
    let (v, vs) = if ell - 2 > keep {
        (e.trunc_reduce(&v, ell, ell - 2 - keep)?, keep)
    } else {
        (v, ell - 2)
    };
    let h = NEWTON_START;
    // (ŷ in h + 3 bits: its shares times 2^j are shares in the ring of ŷ·u, j + h + 3 bits.)
    let y0 = interp(e, &v, vs, curve, h, h + 3, Some(it.g))?;
    let y1 = newton_step(e, &v, vs, &y0, h, curve, it)?;
    let scale = table_for(it.sc);
    let y1 = e.zext_msb0(&y1, f + 2, it.r)?;
    let p = e.lut_product(&[(k, iota)], &scale, &y1, it.r)?;
    let sh = f + it.sc - out.frac;
    let y = round_shift(e, &p, it.r, sh)?;
    fit(e, y, it.r - sh, out.bits)
}

/// One Newton step (SiRnn Fig. 5's Goldschmidt iteration for 1/v, Fig. 6's for 1/√v, t = 1)
/// from ŷ ≈ f(v) at scale h (h + 3 bits, below 2) with v ∈ [1, 2) at scale vs (vs + 2 bits,
/// MSB 0): with ε = 1 − v·ŷ (reciprocal) or 1 − v·ŷ² (rsqrt), y = ŷ + ŷ·ε (resp. ŷ·ε/2), at
/// scale f in f + 2 bits (MSB 0). ε is small (|ε| < 2^{−R−2}), so each product is taken in a
/// ring only as wide as its small result (v·ŷ modulo 2^{−R}), with a public offset making
/// every operand non-negative with a public MSB 0 (⋆UMult, no Wrap). The error after the
/// step is about ε² + 2^{−f}.
fn newton_step<E: Engine>(
    e: &mut E,
    v: &[u64],
    vs: u32,
    y: &[u64],
    h: u32,
    curve: Curve,
    it: NewtonPlan,
) -> Result<Vec<u64>, ProtoError> {
    let (f, g) = (it.f, it.g);
    let rsqrt = curve == Curve::Rsqrt;
    let r_ = newton_margin(curve, g);
    let msb0 = WrapHint::Msb(false);
    let yf = unsigned(h + 3);
    // The factor z multiplying v: ŷ, or ŷ² (exact, then rounded to scale f + 2).
    let (z, zs, zw) = if rsqrt {
        let mp = MultParams {
            x: yf,
            y: yf,
            out_bits: 2 * h + 3,
        };
        let sq = e.mult(&mp, [msb0, msb0], y, y)?;
        let t = (f + 2).min(2 * h);
        let (sq, w, _) = shift_down(
            e,
            sq,
            2 * h + 3,
            (1u128 << (2 * h + 2)) - 1,
            2 * h - t,
            false,
        )?;
        (sq, t, w)
    } else {
        (y.to_vec(), h, h + 2)
    };
    // v·z modulo 2^{−R} (scale ps, l1 bits); u = ε + 2^{−R−2} ∈ (0, 2^{−R−1}): MSB 0.
    let ps = vs + zs;
    let l1 = ps - r_;
    let mp = MultParams {
        x: unsigned(vs + 2),
        y: unsigned(zw),
        out_bits: l1,
    };
    let p = e.mult(&mp, [msb0, msb0], v, &z)?;
    let u = add_const(e, &neg(&p, l1), 1 << (l1 - 2), l1);
    let fe = (f + 2).min(ps);
    let (u, uw, _) = shift_down(e, u, l1, (1u128 << (l1 - 1)) - 1, ps - fe, false)?;
    // ŷ·u at scale qs, below 2^{−R}; d = ŷ·ε + 2^{−R−1} = ŷ·u − ŷ·2^{−R−2} + 2^{−R−1}, in
    // (0, 2^{−R}): MSB 0 in l2 bits.
    let qs = h + fe;
    let l2 = qs + 1 - r_;
    let mp = MultParams {
        x: yf,
        y: unsigned(uw),
        out_bits: l2,
    };
    let q = e.mult(&mp, [msb0, msb0], y, &u)?;
    let yc: Vec<u64> = y.iter().map(|&a| a << (fe - r_ - 2)).collect();
    let d = add_const(e, &sub(&q, &yc, l2), 1 << (l2 - 2), l2);
    // (ŷ·ε/2 for rsqrt: one more bit dropped, and half the offset.)
    let half = rsqrt as u32;
    let (d, dw, _) = shift_down(e, d, l2, (1u128 << (l2 - 1)) - 1, qs + half - f, false)?;
    let d = fit(e, d, dw, f + 2)?;
    let y0: Vec<u64> = y.iter().map(|&a| a << (f - h)).collect();
    let y1 = add(&y0, &d, f + 2);
    Ok(add_const(
        e,
        &y1,
        (1u64 << (f - r_ - 1 - half)).wrapping_neg(),
        f + 2,
    ))
}

/// 1/x for x > 0 (SiRnn's `div` with MSNZB normalisation). Domain: x > 0, 1/x representable.
pub fn reciprocal<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    normalised(e, x, inp, out, Curve::Recip, (0, 1), tune)
}

/// 1/√x (SiRnn Fig. 6). Domain: x > 0 with 1/√x representable (the paper states x ≥ 0.1).
pub fn rsqrt<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    normalised(e, x, inp, out, Curve::Rsqrt, (0, 1), tune)
}

/// √x. Domain: x ≥ 0: the normalisation cannot tell 0 from the smallest positive input, so
/// MSNZB's digit zero flags give 1{x = 0} (one AND more) and a multiplexer zeroes the result
/// there.
pub fn sqrt<E: Engine>(
    e: &mut E,
    x: &[u64],
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    normalised(e, x, inp, out, Curve::Sqrt, (0, 1), tune)
}

/// softmax over rows of `cols` elements (row-major): e^{x_j − max}/Σ_k e^{x_k − max}, the
/// composition SiRnn's RNNs use: the row maximum by a tournament of comparisons (MSB and
/// multiplexer in one more bit, so differences cannot overflow), rExp of the non-negative
/// gaps, the sum, the reciprocal by normalisation, one product per element. Domain: all
/// inputs.
pub fn softmax<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "softmax")?;
    check_out(out, "softmax")?;
    check_rows(x.len(), cols, "softmax")?;
    let m = inp.bits;
    let m1 = m + 1;
    let xs = e.sext(x, m, m1)?;
    let (cand, _) = row_max(e, &xs, m1, cols, false)?;
    let z: Vec<u64> = (0..x.len())
        .map(|j| ring::reduce(ring::sub(cand[j / cols], xs[j], m1), m))
        .collect();
    let t = out.frac + tune.guard + 2;
    if t > 30 {
        return Err(arg(format!(
            "softmax: {} output fraction bits need products wider than 64 bits",
            out.frac
        )));
    }
    let plan = ExpPlan {
        zbits: m,
        scale: inp.frac,
        zshift: 0,
        bias: 0,
        t,
        top_max: (1u64 << t) - 1,
        out: t,
        round: false,
        digit: tune.exp_digit,
    };
    let (ev, we, _) = exp_core(e, &z, &plan)?;
    // Each row's maximum has z = 0: its value e₀ (public: the plan at 0) bounds the sum
    // from below, so 1/sum < 2^{2t}/e₀ and the sum's leading one is at least ⌊log2 e₀⌋.
    let e0 = exp_core(&mut Clear, &[0], &plan)?
        .0
        .first()
        .copied()
        .unwrap_or(1)
        .max(1);
    let wide = we + ceil_log2(cols) + 1;
    let ex = e.zext_msb0(&ev, we, wide)?;
    let sums: Vec<u64> = ex
        .chunks(cols)
        .map(|row| row.iter().fold(0, |acc, &v| ring::add(acc, v, wide)))
        .collect();
    let inv_bits = width_of((1u128 << (2 * t)) / e0 as u128 + 1).max(t + 2);
    let inv = normalised(
        e,
        &sums,
        Fx::new(wide, t),
        Fx::new(inv_bits, t),
        Curve::Recip,
        (63 - e0.leading_zeros(), 1),
        tune,
    )?;
    let pbits = we + inv_bits;
    let mp = MultParams {
        x: unsigned(we),
        y: unsigned(inv_bits),
        out_bits: pbits,
    };
    let p = mult_by_row(e, &mp, [WrapHint::Msb(false); 2], &ev, &inv, cols)?;
    let y = round_shift(e, &p, pbits, 2 * t - out.frac)?;
    fit(e, y, pbits + out.frac - 2 * t, out.bits)
}

/// The rows' layer normalisation without the affine part: (x − μ)/√(σ² + ε) over rows of
/// `cols`, σ² the population variance, ε = 1e-5 (LANGUAGE.md; γ and β are an elementwise
/// product and sum the compiler adds). With d = C·x − Σx (exact, C = cols), Σd² = C³σ², so
/// the result is d·rsqrt((Σd² + C³ε)/C): one SExt, one product per element for the squares,
/// rsqrt by normalisation (the 1/C folded into its exponent table), one product per element
/// ([`layernorm_direct`]). Where that would drop bits of d or of r (32-bit inputs, long rows:
/// at 32.16 it lost up to 10^4 ULP on rows with a small spread), the row's spread is
/// normalised first ([`layernorm_wide`], issue 20): within 1.4 ULP of f64 at 32.16 on rows of
/// 2..=2^14 (uniform over the whole range, small spread, nearly constant, one outlier;
/// bound 3.25 ULP from the roundings, given rsqrt within 1.5 of its ULPs); rows of 2^15 and
/// 2^16 at 32.16 take a second coarse level ([`LnPre`]; 0.52 ULP). Domain: all inputs (a
/// constant row gives 0).
pub fn layernorm<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    check_in(inp, "layernorm")?;
    check_out(out, "layernorm")?;
    check_rows(x.len(), cols, "layernorm")?;
    let (m, s) = (inp.bits, inp.frac);
    if !layernorm_exact(m, s, cols, out)
        && let Some(plan) = ln_plan(m, s, cols, out, tune)
    {
        return layernorm_wide(e, x, cols, inp, out, &plan, tune);
    }
    layernorm_direct(e, x, cols, inp, out, tune)
}

/// [`layernorm`]'s direct construction (the only one before issue 20; still every setting
/// where it is exact, [`layernorm_exact`]): d exact, its squares in one 64-bit ring (low
/// bits of d dropped where they would not fit), r = 1/(C·√(σ² + ε)) at a fixed scale.
pub(crate) fn layernorm_direct<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    inp: Fx,
    out: Fx,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let (m, s) = (inp.bits, inp.frac);
    let lg = ceil_log2(cols);
    let wd = m + lg + 1;
    let xs = e.sext(x, m, wd)?;
    let c = cols as u64;
    let mut d: Vec<u64> = Vec::with_capacity(x.len());
    for row in xs.chunks(cols) {
        let sum = row.iter().fold(0, |a, &v| ring::add(a, v, wd));
        d.extend(row.iter().map(|&v| ring::sub(ring::mul(v, c, wd), sum, wd)));
    }
    // Keep the squares within 62 bits: drop k low bits of d (floor, via the offset).
    let k = (2 * wd + lg).saturating_sub(61).div_ceil(2);
    if k > s {
        return Err(arg(format!(
            "layernorm: a {m}-bit input with {s} fraction bits is too wide for 64-bit squares"
        )));
    }
    let (d, wd, ds) = if k > 0 {
        let off = add_const(e, &d, 1 << (wd - 1), wd);
        let t = e.trunc_reduce(&off, wd, k)?;
        let back = add_const(e, &t, (1u64 << (wd - 1 - k)).wrapping_neg(), wd - k);
        (back, wd - k, s - k)
    } else {
        (d, wd, s)
    };
    let sq_bits = 2 * wd;
    let mp = MultParams {
        x: Format::signed(wd),
        y: Format::signed(wd),
        out_bits: sq_bits,
    };
    let sq = e.mult(&mp, [WrapHint::Unknown; 2], &d, &d)?;
    let wv = sq_bits + lg + 1;
    let sq = e.zext_msb0(&sq, sq_bits, wv)?;
    let eps = ((c * c * c) as f64 * 1e-5 * ((2 * ds) as f64).exp2())
        .round()
        .max(1.0) as u64;
    let v: Vec<u64> = sq
        .chunks(cols)
        .map(|row| row.iter().fold(0, |a, &v| ring::add(a, v, wv)))
        .collect();
    let v = add_const(e, &v, eps, wv);
    // r = 1/(C·√(σ² + ε)) ≤ 1/(C·√ε) < 2^{9}: 10 integer bits.
    // r ≥ 1/(C·2^{m−1−s}) for the largest spread: enough fraction bits for its relative
    // precision, within a 64-bit product with d.
    let rf = out.frac + 3 + lg + (m - 1).saturating_sub(s);
    // r ≤ 1/(C·√ε): its integer bits (at least one: r reaches 1 from rows of 317 on, where
    // the bound drops below 1), and a sign bit for the output format.
    let int_bits = ((1.0 / (cols as f64 * 1e-5f64.sqrt()))
        .log2()
        .ceil()
        .max(1.0) as u32)
        + 1;
    let rb = (rf + int_bits).min(63u32.saturating_sub(wd));
    let rf = match rb.checked_sub(int_bits) {
        Some(rf) if ds + rf >= out.frac => rf,
        _ => {
            return Err(arg(format!(
                "layernorm: {} output fraction bits from a {m}-bit input need more than a \
                 64-bit product",
                out.frac
            )));
        }
    };
    let min_k = 63 - eps.leading_zeros();
    let r = normalised(
        e,
        &v,
        Fx::new(wv, 2 * ds),
        Fx::new(rb, rf),
        Curve::Rsqrt,
        (min_k, cols as u32),
        tune,
    )?;
    let pb = wd + rb;
    let mp = MultParams {
        x: Format::signed(wd),
        y: unsigned(rb),
        out_bits: pb,
    };
    let y = mult_by_row(
        e,
        &mp,
        [WrapHint::Unknown, WrapHint::Msb(false)],
        &d,
        &r,
        cols,
    )?;
    let sh = ds + rf - out.frac;
    let y = round_shift(e, &y, pb, sh)?;
    Ok(reduce(&y, out.bits))
}

/// Whether [`layernorm`]'s direct construction is exact up to its final rounding: no low bit
/// of d dropped for the squares, and 1/(C·√(σ² + ε)) carried with all its fraction bits.
fn layernorm_exact(m: u32, s: u32, cols: usize, out: Fx) -> bool {
    let lg = ceil_log2(cols);
    let wd = m + lg + 1;
    let k = (2 * wd + lg).saturating_sub(61).div_ceil(2);
    let rf = out.frac + 3 + lg + (m - 1).saturating_sub(s);
    let int_bits = ((1.0 / (cols as f64 * 1e-5f64.sqrt()))
        .log2()
        .ceil()
        .max(1.0) as u32)
        + 1;
    k == 0 && rf + int_bits <= 63u32.saturating_sub(wd)
}

/// The public parameters of [`layernorm_wide`] (all chosen by [`ln_plan`]).
#[derive(Clone, Debug)]
struct LnPlan {
    /// Ring of the sign-extended input and of d = C·x − Σx (|d| < 2^{wd−1}).
    l: u32,
    wd: u32,
    /// Coarse pass: d₁ = ⌊d/2^{k1}⌋ + 2^{wd−1−k1} in w1 bits (MSB 0), its squares' sum plus
    /// the ε term in ws bits, j = MSNZB of that in ι bits.
    k1: u32,
    w1: u32,
    ws: u32,
    eps1: u64,
    /// The sum's low bits dropped before its MSNZB (ts), and V'''s before the rsqrt (tv).
    ts: u32,
    tv: u32,
    /// The fine pass's index J = ⌊j/2^q⌋ (ι bits): 2^q of j's intervals share a factor.
    q: u32,
    iota: u32,
    /// Fine pass: d'' = round(d·c_j/2^E) (+ 2^{b−1}, in b + 1 bits, MSB 0) from the
    /// LUT-product in the ring of `ld` bits; c_j and ε''_j per j.
    big_e: u32,
    ld: u32,
    b: u32,
    c: Vec<u64>,
    eps2: Vec<u64>,
    /// V'' = Σd''² + ε''_j in wv bits, read at scale 2a by the rsqrt.
    wv: u32,
    a: u32,
    min_k: u32,
    /// r = 2^a·√(C/V'') at scale rf in rb bits; the product y·2^{a+rf} in ly bits.
    rb: u32,
    rf: u32,
    ly: u32,
    /// Rows too long for one coarse sum in 64 bits: a second, coarser one first
    /// ([`ln_two`]).
    pre: Option<LnPre>,
}

/// [`layernorm_wide`]'s first coarse level where one does not fit 64 bits (rows of 2^15 and
/// 2^16 at 32.16): j₀ = MSNZB of Σ⌊d/2^{k0}⌋² + ε₀ (ws0 bits, no wrap) says whether the
/// finer sum at k1 (computed modulo 2^{ws}) wrapped; the index is J = j₁ where j₀ ≤ T (no
/// wrap), else one of j₀'s own intervals (a LUT on (j₀, j₁) per row, `jmap`).
#[derive(Clone, Debug)]
struct LnPre {
    k0: u32,
    w0: u32,
    ws0: u32,
    eps0: u64,
    i0: u32,
    i1: u32,
    t: u32,
    n1: u32,
}

/// ε of layernorm (LANGUAGE.md).
const LN_EPS: f64 = 1e-5;

/// [`layernorm_wide`]'s parameters for these formats, or None where they do not fit 64-bit
/// rings. In units of d (an integer: C·(x − μ) at the input scale), D² = Σd²/C + C²ε·2^{2s}
/// and the result is d/D. The fine pass needs D'' = ρ_j·D (ρ_j = c_j/2^E) in a window
/// [lo, lo·2^W]: from below so that rounding d'' costs at most one output ULP through the
/// variance (the rounding errors δ_i ≤ 1/2 move Σd''² by at most Σ|d''_i| + C/4 and
/// |d''_j|·Σ|d''_i| ≤ (1 + √C)/2·Σd''², so y_j moves by at most (1 + √C)/(4·D'')) and half
/// an ULP directly; from above so that Σd''² fits 62 bits. The coarse pass must place D
/// in an interval at most that wide (its ⌊d/2^{k1}⌋ moves √Σd² by less than √C·2^{k1}): the
/// largest k1 (the narrowest coarse squares) that does, for the window that costs the
/// fewest bytes.
fn ln_plan(m: u32, s: u32, cols: usize, out: Fx, tune: Tuning) -> Option<LnPlan> {
    type Key = (u32, u32, usize, Fx, Tuning);
    static CACHE: OnceLock<Mutex<HashMap<Key, Option<LnPlan>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (m, s, cols, out, tune);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return p.clone();
    }
    let p = ln_search(m, s, cols, out, tune);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, p.clone());
    p
}

/// [`ln_plan`]'s search: every window W and coarse shift k1 that fit, each costed exactly
/// on the cost engine (per element and per row at this row length).
fn ln_search(m: u32, s: u32, cols: usize, out: Fx, tune: Tuning) -> Option<LnPlan> {
    let c = cols as f64;
    let lg = ceil_log2(cols);
    let wd = m + lg + 1;
    let f = out.frac;
    let eps_d2 = c * c * LN_EPS * ((2 * s) as f64).exp2();
    // Rounding d'' moves y by at most ((1 + √C)/4 + 1/2)/D'' (variance, directly): 2.5
    // output ULPs at D'' = lo; with r's 1/4 and the final rounding's 1/2, 3.25 in all.
    let lo = (f as f64).exp2() * ((1.0 + c.sqrt()) / 4.0 + 0.5) / 2.5;
    let mut best: Option<(u64, LnPlan)> = None;
    for two in [false, true] {
        if two && best.is_some() {
            break;
        }
        for w in 1..=24u32 {
            let hi = lo * (w as f64).exp2();
            // |d''| ≤ √(C−1)·D'' + 1/2 < 2^{b−1}.
            let dmax = (c - 1.0).sqrt() * hi + 0.5;
            let b = (dmax + 1.0).log2().ceil() as u32 + 1;
            // V''/C ≤ D''² + D'' + 1.
            let vmax = c * (hi * hi + hi + 1.0);
            let wv = vmax.log2().floor() as u32 + 2;
            if wv > 62 || b + 1 > 40 {
                break;
            }
            let vmin = c * (lo * lo - lo - 1.0);
            let a = (lo * lo - lo - 1.0).sqrt().log2().floor() as u32;
            // r's error (≤ 1.5 of its ULPs) moves y by at most 2^{−2} output ULPs.
            let rf = (f as f64 + 2.0 + dmax.log2() - a as f64).ceil().max(1.0) as u32;
            // V'' ≥ vmin, r ≤ 1: dropping V'''s bits below 2^{tv} moves r by at most 2^{−rf−3}.
            let tv = (vmin.log2().floor() as u32)
                .saturating_sub(rf + 3)
                .min(2 * a);
            let min_k = ((vmin - (tv as f64).exp2()) / (tv as f64).exp2())
                .log2()
                .floor() as u32;
            let rb = rf + 2;
            let ysh = a + rf;
            let ymax = (c - 1.0).sqrt() * 1.01 + 1.0;
            let ly = (ysh + ymax.log2().ceil() as u32 + 1).max(out.bits + ysh - f);
            if ly > 64 || 2 * a > wv || ysh < f {
                continue;
            }
            let kq = (1..wd.saturating_sub(1)).flat_map(|k1| (0..3).map(move |q| (k1, q)));
            let cands: Vec<_> = if two {
                ln_two(cols, wd, lo, hi, eps_d2, b)
            } else {
                kq.filter_map(|(k1, q)| {
                    ln_coarse(m, s, cols, k1, lo, hi, eps_d2, q).map(
                        |(w1, ws, eps1, ts, iota, big_e, cs, e2)| {
                            (k1, q, w1, ws, eps1, ts, iota, big_e, cs, e2, None)
                        },
                    )
                })
                .collect()
            };
            for plan in
                cands
                    .into_iter()
                    .map(
                        |(k1, q, w1, ws, eps1, ts, iota, big_e, cs, e2, pre)| LnPlan {
                            l: (wd + 1).max(big_e + b + 1),
                            wd,
                            k1,
                            w1,
                            ws,
                            eps1,
                            ts,
                            tv,
                            q,
                            iota,
                            big_e,
                            ld: big_e + b + 1,
                            b,
                            c: cs,
                            eps2: e2,
                            wv,
                            a,
                            min_k,
                            rb,
                            rf,
                            ly,
                            pre,
                        },
                    )
            {
                if plan.ld > 64 || plan.l > 64 {
                    continue;
                }
                let n = cols * 256usize.div_ceil(cols);
                let mut ctr = Counter::default();
                let Ok(_) =
                    layernorm_wide(&mut ctr, &vec![0; n], cols, Fx::new(m, s), out, &plan, tune)
                else {
                    continue;
                };
                let cost = ctr.cost.on(crate::ot::OtKind::Iknp).total_bytes();
                if best.as_ref().is_none_or(|(c0, _)| cost < *c0) {
                    best = Some((cost, plan));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

/// The coarse pass at shift k1 and the fine pass's tables, if every MSNZB j of the coarse
/// sum places D in an interval that c_j maps into [lo, hi]: (w1, ws, ε₁, ι, E, c_j, ε''_j).
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn ln_coarse(
    m: u32,
    s: u32,
    cols: usize,
    k1: u32,
    lo: f64,
    hi: f64,
    eps_d2: f64,
    q: u32,
) -> Option<(u32, u32, u64, u32, u32, u32, Vec<u64>, Vec<u64>)> {
    let _ = s;
    let c = cols as f64;
    let lg = ceil_log2(cols);
    let wd = m + lg + 1;
    let w1 = wd - k1 + 1;
    let sc = ((2 * k1) as f64).exp2();
    // E_r = C·ε_d²/2^{2k1}: the ε term in units of the coarse squares.
    let er = c * eps_d2 / sc;
    if er >= 2f64.powi(61) {
        return None;
    }
    let eps1 = er.floor() as u64;
    let amax = c * ((2 * (wd - 1 - k1)) as f64).exp2();
    let ws = (amax + eps1 as f64 + 1.0).log2().floor() as u32 + 2;
    if ws > 62 || 2 * w1 > 64 + 8 {
        return None;
    }
    (0..ws - 1).rev().find_map(|ts| {
        ln_tables(cols, k1, ws, ts, er, lo, hi, eps_d2, q)
            .map(|(iota, big_e, cs, e2)| (w1, ws, eps1, ts, iota, big_e, cs, e2))
    })
}

/// [`LnPre`]'s candidates: the narrowest coarse sum at k0 that fits 62 bits (no wrap), and
/// for the finer shifts k1 < k0 (the sum modulo 2^{62}) whose intervals fit the window, the
/// largest T such that j₀ ≤ T proves that sum below 2^{62}.
#[allow(clippy::type_complexity)]
fn ln_two(
    cols: usize,
    wd: u32,
    lo: f64,
    hi: f64,
    eps_d2: f64,
    b: u32,
) -> Vec<(
    u32,
    u32,
    u32,
    u32,
    u64,
    u32,
    u32,
    u32,
    Vec<u64>,
    Vec<u64>,
    Option<LnPre>,
)> {
    let c = cols as f64;
    let er_at = |k: u32| c * eps_d2 / ((2 * k) as f64).exp2();
    let ws_at = |k: u32| {
        let amax = c * ((2 * (wd - 1 - k)) as f64).exp2();
        (amax + er_at(k).floor() + 1.0).log2().floor() as u32 + 2
    };
    let Some(k0) = (1..wd.saturating_sub(1)).find(|&k| ws_at(k) <= 62 && er_at(k) < 2f64.powi(61))
    else {
        return Vec::new();
    };
    let (ws0, er0) = (ws_at(k0), er_at(k0));
    let iv0 = ln_intervals(cols, k0, ws0, 0, er0);
    let i0 = ceil_log2(iv0.len()).max(1);
    let ws = 62u32;
    let mut out = Vec::new();
    for k1 in (1..k0).rev() {
        let w1 = wd - k1 + 1;
        let er1 = er_at(k1);
        if 2 * w1 > 64 + 8 || er1 >= 2f64.powi(60) {
            break;
        }
        // j₀ ≤ T: D ≤ dmax, Σd² ≤ C·D², Σ⌊d/2^{k1}⌋² < (√C·D/2^{k1} + √C)².
        let bound = |t: usize| {
            let dmax = iv0[..=t].iter().flatten().map(|v| v.1).fold(0.0, f64::max);
            let a = (c.sqrt() * dmax / (k1 as f64).exp2() + c.sqrt()).powi(2);
            (dmax, a + er1.floor() + 2.0)
        };
        let Some(t) = (0..iv0.len())
            .rev()
            .find(|&t| bound(t).1 < (ws as f64).exp2() - 2.0)
        else {
            continue;
        };
        let dmax = bound(t).0;
        let found = (0..ws - 1).rev().find_map(|ts| {
            let iv1: Vec<Option<(f64, f64)>> = ln_intervals(cols, k1, ws, ts, er1)
                .into_iter()
                .map(|v| v.and_then(|(a, b)| (a <= dmax).then_some((a, b.min(dmax)))))
                .collect();
            let i1 = ceil_log2(iv1.len()).max(1);
            let n1 = iv1.len();
            let mut iv = iv1;
            iv.extend_from_slice(&iv0[t + 1..]);
            let (iota, big_e, cs, e2) = (1..=6)
                .rev()
                .find_map(|g| ln_fit(cols, &iv, lo, hi, eps_d2, 0, g).filter(|f| f.1 + b < 64))?;
            let pre = LnPre {
                k0,
                w0: wd - k0 + 1,
                ws0,
                eps0: er0.floor() as u64,
                i0,
                i1,
                t: t as u32,
                n1: n1 as u32,
            };
            Some((
                k1,
                0,
                w1,
                ws,
                er1.floor() as u64,
                ts,
                iota,
                big_e,
                cs,
                e2,
                Some(pre),
            ))
        });
        if let Some(f) = found {
            out.push(f);
            if out.len() >= 2 {
                break;
            }
        }
    }
    out
}

/// [`ln_coarse`]'s tables where the sum's ts low bits are dropped before its MSNZB.
#[allow(clippy::too_many_arguments)]
fn ln_tables(
    cols: usize,
    k1: u32,
    ws: u32,
    ts: u32,
    er: f64,
    lo: f64,
    hi: f64,
    eps_d2: f64,
    q: u32,
) -> Option<(u32, u32, Vec<u64>, Vec<u64>)> {
    let iv = ln_intervals(cols, k1, ws, ts, er);
    ln_fit(cols, &iv, lo, hi, eps_d2, q, 6)
}

/// The interval of D per MSNZB j of a coarse sum at shift k1 in ws bits, ts low bits dropped
/// (None where no D gives that j).
fn ln_intervals(cols: usize, k1: u32, ws: u32, ts: u32, er: f64) -> Vec<Option<(f64, f64)>> {
    let c = cols as f64;
    let sc = ((2 * k1) as f64).exp2();
    let bits = ws - ts;
    let mut iv = Vec::with_capacity(bits as usize);
    for j in 0..bits {
        // S = A + ⌊E_r⌋ with ⌊S/2^{ts}⌋ ∈ [2^j, 2^{j+1}) (j = 0: [0, 2)), so A + E_r ∈
        // [S, S + 1).
        let s_lo = if j == 0 {
            0.0
        } else {
            ((j + ts) as f64).exp2()
        };
        let s_hi = ((j + 1 + ts) as f64).exp2() + 1.0;
        let a_hi = s_hi - er;
        if a_hi < 0.0 {
            iv.push(None);
            continue;
        }
        let a_lo = (s_lo - er).max(0.0);
        // ‖d/2^{k1}‖ differs from ‖⌊d/2^{k1}⌋‖ by less than √C.
        let t_lo = (a_lo.sqrt() - c.sqrt()).max(0.0).powi(2);
        let t_hi = (a_hi.sqrt() + c.sqrt()).powi(2);
        let d_lo = (sc * (t_lo + er) / c).sqrt() * (1.0 - 1e-9);
        let d_hi = (sc * (t_hi + er) / c).sqrt() * (1.0 + 1e-9);
        iv.push(Some((d_lo, d_hi)));
    }
    iv
}

/// The fine pass's tables for D's intervals per index (ι, E, c_j, ε''_j), if each c_j maps
/// its interval into [lo, hi]; 2^q consecutive indices share a factor.
fn ln_fit(
    cols: usize,
    iv: &[Option<(f64, f64)>],
    lo: f64,
    hi: f64,
    eps_d2: f64,
    q: u32,
    guard: u32,
) -> Option<(u32, u32, Vec<u64>, Vec<u64>)> {
    let c = cols as f64;
    let iota = ceil_log2(iv.len()).max(1);
    if q >= iota {
        return None;
    }
    // The index J = ⌊j/2^q⌋: the union of its 2^q intervals.
    let iota = iota - q;
    let iv: Vec<Option<(f64, f64)>> = iv
        .chunks(1 << q)
        .map(|g| {
            g.iter()
                .flatten()
                .fold(None, |acc: Option<(f64, f64)>, &(a, b)| {
                    Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
                })
        })
        .collect();
    let top = iv.iter().flatten().map(|v| v.1).fold(0.0, f64::max);
    // c_j ≥ 2^{guard} at the largest D: its rounding moves D'' by at most 2^{−guard} (6;
    // fewer where the fine ring would pass 64 bits, [`ln_two`]; the check below holds).
    let big_e = ((top / hi).log2().ceil() + guard as f64).max(0.0) as u32;
    let unit = (big_e as f64).exp2();
    let mut cs = vec![0u64; 1 << iota];
    let mut e2 = vec![0u64; 1 << iota];
    for (j, v) in iv.iter().enumerate() {
        let Some((d_lo, d_hi)) = *v else { continue };
        let cj = (hi * unit / d_hi).floor();
        if !(1.0..2f64.powi(62)).contains(&cj) {
            return None;
        }
        let rho = cj / unit;
        if rho * d_lo < lo {
            return None;
        }
        cs[j] = cj as u64;
        e2[j] = (rho * rho * c * eps_d2).round() as u64;
    }
    Some((iota, big_e, cs, e2))
}

/// [`layernorm`] where its direct construction would drop bits (32-bit inputs, long rows;
/// issue 20): the variance's dynamic range (D from C·2^s·√ε up to C·2^{m−1}) is too wide for
/// one pass of 64-bit squares with the precision the result needs, so the row's spread is
/// normalised first (as MSNZB normalises rsqrt's input, SiRnn Fig. 6):
/// 1. coarse: d₁ = ⌊d/2^{k1}⌋ (one TR), the sum of its squares plus the ε term, and its
///    MSNZB j (per row): D lies in an interval known for each j;
/// 2. fine: d'' = round(d·c_j/2^E) by a LUT-product on j and a TR, so that D'' = D·c_j/2^E
///    lies in a window [lo, lo·2^W]; V'' = Σd''² + ε''_j (ε''_j = (c_j/2^E)²·C³ε·2^{2s},
///    a LUT on j per row);
/// 3. r = 2^a·√(C/V'') by rsqrt (narrow: V'' lies in the window), and y = d''·r/2^a.
///
/// Every square and product is a ⋆UMult of operands offset by a power of two (public MSB
/// 0); the offsets' terms are removed locally (Σd'' is a local sum). The common scale c_j
/// cancels in d''/D'', so only the roundings err: within 1 ULP through the variance, 1/4
/// directly, 1/4 from r and 1/2 from the final rounding ([`ln_plan`]).
#[allow(clippy::too_many_arguments)]
fn layernorm_wide<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    inp: Fx,
    out: Fx,
    p: &LnPlan,
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let m = inp.bits;
    let l = p.l;
    let xs = e.sext(x, m, l)?;
    let cn = cols as u64;
    let mut d: Vec<u64> = Vec::with_capacity(x.len());
    for row in xs.chunks(cols) {
        let sum = row.iter().fold(0, |a, &v| ring::add(a, v, l));
        d.extend(row.iter().map(|&v| ring::sub(ring::mul(v, cn, l), sum, l)));
    }
    let j = match &p.pre {
        None => {
            let j = ln_coarse_j(e, &d, cols, p, (p.k1, p.w1, p.ws, p.eps1, p.ts), tune)?;
            e.trunc_reduce(&j, p.iota + p.q, p.q)?
        }
        Some(pre) => {
            let j0 = ln_coarse_j(e, &d, cols, p, (pre.k0, pre.w0, pre.ws0, pre.eps0, 0), tune)?;
            let j1 = ln_coarse_j(e, &d, cols, p, (p.k1, p.w1, p.ws, p.eps1, p.ts), tune)?;
            // f = 1{j₀ ≤ T} and g = j₀'s own index above T (0 at or below): J = f·j₁ + g.
            let (t, n1) = (pre.t as u64, pre.n1 as u64);
            let tab0 = Table::build(pre.i0, &[1, p.iota], |j0| {
                if j0 <= t {
                    vec![1, 0]
                } else {
                    vec![0, n1 + j0 - t - 1]
                }
            });
            let mut fg = e.lut(&[(&j0, pre.i0)], &tab0)?.into_iter();
            let (f, g) = (fg.next().unwrap_or_default(), fg.next().unwrap_or_default());
            let tab1 = Table::build(1 + pre.i1, &[p.iota], |k| vec![(k & 1) * (k >> 1)]);
            let h = e.lut(&[(&f, 1), (&j1, pre.i1)], &tab1)?.remove(0);
            add(&h, &g, p.iota)
        }
    };
    // Fine: d'' + K₂ = ⌊(d·c_j + 2^{E−1} + K₂·2^E)/2^E⌋ ∈ [0, 2^b).
    let iota = p.iota;
    let ctab = Table::build(iota, &[p.ld], |k| vec![p.c[k as usize]]);
    let etab = Table::build(iota, &[p.wv], |k| vec![p.eps2[k as usize]]);
    let jj: Vec<u64> = (0..x.len()).map(|i| j[i / cols]).collect();
    let dc = e.lut_product(&[(&jj, iota)], &ctab, &reduce(&d, p.ld), p.ld)?;
    let k2 = 1u64 << (p.b - 1);
    let half = if p.big_e > 0 {
        1u64 << (p.big_e - 1)
    } else {
        0
    };
    let dc = add_const(e, &dc, half.wrapping_add(k2 << p.big_e), p.ld);
    let wu = p.b + 1;
    let u2 = reduce(&e.trunc_reduce(&dc, p.ld, p.big_e)?, wu);
    let eps2 = e.lut(&[(&j, iota)], &etab)?.remove(0);
    let wv = p.wv;
    let sq = umult_to(e, &u2, wu, &u2, wu, wv)?;
    let u2w = if wv > 2 * wu - 1 {
        e.zext_msb0(&u2, wu, wv)?
    } else {
        u2.clone()
    };
    let ck2 = ring::reduce(cn.wrapping_mul(k2).wrapping_mul(k2), wv);
    let v: Vec<u64> = sq
        .chunks(cols)
        .zip(u2w.chunks(cols))
        .zip(&eps2)
        .map(|((q, u), &ep)| {
            let qs = q.iter().fold(0, |a, &v| ring::add(a, v, wv));
            let us = u.iter().fold(0, |a, &v| ring::add(a, v, wv));
            ring::add(ring::sub(qs, ring::mul(us, 2 * k2, wv), wv), ep, wv)
        })
        .collect();
    let v = add_const(e, &v, ck2, wv);
    let v = e.trunc_reduce(&v, wv, p.tv)?;
    let r = normalised(
        e,
        &v,
        Fx::new(wv - p.tv, 2 * p.a - p.tv),
        Fx::new(p.rb, p.rf),
        Curve::Rsqrt,
        (p.min_k, cols as u32),
        tune,
    )?;
    // y·2^{a+rf} = u₂·r − K₂·r (K₂ times shares of r modulo 2^{rb} is exact modulo
    // 2^{b−1+rb} only: wider, r is extended first).
    let ly = p.ly;
    let rw = if ly > p.b - 1 + p.rb {
        e.zext_msb0(&r, p.rb, ly)?
    } else {
        r.clone()
    };
    // r is one value per row: the product takes its OTs per row ([`Engine::mult_rows`]), r
    // first extended (per row) so that the product's ring fits its operands.
    let yb = ly.saturating_sub(wu).max(p.rb);
    let re = if yb > p.rb {
        e.zext_msb0(&r, p.rb, yb)?
    } else {
        r
    };
    let mp = MultParams {
        x: unsigned(wu),
        y: unsigned(yb),
        out_bits: ly.min(wu + yb),
    };
    let pr = mult_by_row(e, &mp, [WrapHint::Msb(false); 2], &u2, &re, cols)?;
    let pr = fit(e, pr, mp.out_bits, ly)?;
    let kr: Vec<u64> = (0..x.len())
        .map(|i| rw[i / cols].wrapping_mul(k2))
        .collect();
    let y = sub(&pr, &kr, ly);
    let sh = p.a + p.rf - out.frac;
    let y = round_shift(e, &y, ly, sh)?;
    let yb = ly - sh;
    if yb < out.bits {
        return e.sext(&y, yb, out.bits);
    }
    Ok(reduce(&y, out.bits))
}

/// [`layernorm_wide`]'s coarse pass at shift k1 (w1-bit offset quotients, their squares'
/// sum plus the ε term in ws bits, ts low bits dropped): the MSNZB per row.
fn ln_coarse_j<E: Engine>(
    e: &mut E,
    d: &[u64],
    cols: usize,
    p: &LnPlan,
    (k1, w1, ws, eps1, ts): (u32, u32, u32, u64, u32),
    tune: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    let l = p.l;
    let cn = cols as u64;
    // Coarse: u₁ = ⌊(d + 2^{wd−1})/2^{k1}⌋ = ⌊d/2^{k1}⌋ + K₁ ∈ [0, 2^{w1−1}).
    let k1c = 1u64 << (p.wd - 1 - k1);
    let off = add_const(e, d, 1 << (p.wd - 1), l);
    let u1 = reduce(&e.trunc_reduce(&off, l, k1)?, w1);
    let sq = umult_to(e, &u1, w1, &u1, w1, ws)?;
    // (2K₁ times shares of u₁ modulo 2^{w1} is exact modulo 2^{2w1−1} only: wider, u₁ is
    // extended first.)
    let u1 = if ws > 2 * w1 - 1 {
        e.zext_msb0(&u1, w1, ws)?
    } else {
        u1
    };
    // Σ(u₁ − K₁)² = Σu₁² − 2K₁Σu₁ + C·K₁², and the ε term.
    let corr = ring::reduce(
        (cn.wrapping_mul(k1c).wrapping_mul(k1c)).wrapping_add(eps1),
        ws,
    );
    let s1: Vec<u64> = sq
        .chunks(cols)
        .zip(u1.chunks(cols))
        .map(|(q, u)| {
            let qs = q.iter().fold(0, |a, &v| ring::add(a, v, ws));
            let us = u.iter().fold(0, |a, &v| ring::add(a, v, ws));
            ring::sub(qs, ring::mul(us, 2 * k1c, ws), ws)
        })
        .collect();
    let s1 = add_const(e, &s1, corr, ws);
    let s1 = e.trunc_reduce(&s1, ws, ts)?;
    let bits = ws - ts;
    msnzb_index(e, &s1, bits, tune.msnzb_digit)
}

/// x·y mod 2^out of unsigned operands with public MSB 0 (⋆UMult); a ring wider than the
/// operands' together gets the exact product extended (its MSB is 0 too).
fn umult_to<E: Engine>(
    e: &mut E,
    x: &[u64],
    xb: u32,
    y: &[u64],
    yb: u32,
    out: u32,
) -> Result<Vec<u64>, ProtoError> {
    let o = out.min(xb + yb);
    let mp = MultParams {
        x: unsigned(xb),
        y: unsigned(yb),
        out_bits: o,
    };
    let p = e.mult(&mp, [WrapHint::Msb(false); 2], x, y)?;
    fit(e, p, o, out)
}

/// The maximum of each row of `cols` signed `bits`-bit values by a tournament of comparisons
/// (MSB of the difference, then a multiplexer; each level is one batch over all rows), and
/// with `with_index` its position (the first one among equal maxima, as NumPy's argmax), kept
/// in the same ring and selected by the same multiplexer call. The values must leave one
/// spare bit (sign-extend first) so differences cannot overflow.
fn row_max<E: Engine>(
    e: &mut E,
    xs: &[u64],
    bits: u32,
    cols: usize,
    with_index: bool,
) -> Result<(Vec<u64>, Vec<u64>), ProtoError> {
    let rows = xs.len() / cols.max(1);
    let mut cand = xs.to_vec();
    // Positions are public: the side that adds constants holds them, the other zeros.
    let own = e.adds_constants();
    let mut idx: Vec<u64> = if with_index {
        (0..xs.len())
            .map(|j| if own { (j % cols) as u64 } else { 0 })
            .collect()
    } else {
        Vec::new()
    };
    let mut w = cols;
    while w > 1 {
        let half = w / 2;
        let pick = |v: &[u64], off: usize| -> Vec<u64> {
            (0..rows)
                .flat_map(|r| (0..half).map(move |i| (r, i)))
                .map(|(r, i)| v[r * w + 2 * i + off])
                .collect()
        };
        let (a, b) = (pick(&cand, 0), pick(&cand, 1));
        // s = 1 when a < b: then take b (ties keep a, the earlier position).
        let s = e.msb(&sub(&a, &b, bits), bits)?;
        let mut d = sub(&b, &a, bits);
        if with_index {
            let (ia, ib) = (pick(&idx, 0), pick(&idx, 1));
            d.extend(sub(&ib, &ia, bits));
            let ss: Vec<u8> = s.iter().chain(&s).copied().collect();
            let m = e.mux(&ss, &d, bits)?;
            let n = a.len();
            let mx = add(&a, &m[..n], bits);
            let mi = add(&ia, &m[n..], bits);
            cand = regroup(&mx, &cand, rows, w, half);
            idx = regroup(&mi, &idx, rows, w, half);
        } else {
            let m = e.mux(&s, &d, bits)?;
            let mx = add(&a, &m, bits);
            cand = regroup(&mx, &cand, rows, w, half);
        }
        w = half + w % 2;
    }
    Ok((cand, idx))
}

/// The next tournament level: each row's winners, then its odd one out.
fn regroup(win: &[u64], prev: &[u64], rows: usize, w: usize, half: usize) -> Vec<u64> {
    let mut next = Vec::with_capacity(rows * (half + w % 2));
    for r in 0..rows {
        next.extend_from_slice(&win[r * half..(r + 1) * half]);
        if w % 2 == 1 {
            next.push(prev[r * w + w - 1]);
        }
    }
    next
}

/// argmax over rows of `cols` signed values: the position of each row's (first) maximum, as
/// an integer in `out_bits` bits. Domain: all inputs.
pub fn argmax<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    bits: u32,
    out_bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    if cols == 0 || cols > 1 << 32 || !x.len().is_multiple_of(cols) || !(1..=63).contains(&bits) {
        return Err(arg(format!(
            "argmax: {} elements of {bits} bits in rows of {cols}",
            x.len()
        )));
    }
    let wide = (bits + 1).max(ceil_log2(cols) + 1);
    let xs = e.sext(x, bits, wide)?;
    let (_, idx) = row_max(e, &xs, wide, cols, true)?;
    // Positions < cols ≤ 2^{wide−1}: MSB 0.
    fit(e, idx, wide, out_bits)
}

/// The maximum of each row of `cols` signed `bits`-bit values (max pooling, `max` over an
/// axis), in the same format. Domain: all inputs.
pub fn row_maximum<E: Engine>(
    e: &mut E,
    x: &[u64],
    cols: usize,
    bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    if cols == 0 || cols > 1 << 32 || !x.len().is_multiple_of(cols) || !(1..=63).contains(&bits) {
        return Err(arg(format!(
            "max: {} elements of {bits} bits in rows of {cols}",
            x.len()
        )));
    }
    let xs = e.sext(x, bits, bits + 1)?;
    let (m, _) = row_max(e, &xs, bits + 1, cols, false)?;
    Ok(reduce(&m, bits))
}
