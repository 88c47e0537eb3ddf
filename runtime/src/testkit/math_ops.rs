//! The math library as named operations of the registry ([`super::ops`]): the command line's
//! widths as a plan's [`MathParams`], the building blocks (LUT, DigDec, MSNZB) on a benchmark
//! table, how to draw inputs in each function's domain, the expected (cleartext) results, the
//! exact cost, and the largest error against the real function in output ULPs.

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::ops::{Inputs, Instance, Output, Params};
use crate::fixed::Fx;
use crate::math::engine::{Clear, Counter, Engine};
use crate::math::funcs::{self, digit_widths};
use crate::plan::{MathOp, MathParams};
use crate::proto::lut::Table;
use crate::proto::{Cost, Party, ProtoError};
use crate::ring;

/// Every math operation, in the order `sir bench op all` runs them.
pub const ALL: [MathOp; 15] = [
    MathOp::Lut,
    MathOp::Digdec,
    MathOp::Msnzb,
    MathOp::Rexp,
    MathOp::Exp,
    MathOp::Sigmoid,
    MathOp::Tanh,
    MathOp::Gelu,
    MathOp::Reciprocal,
    MathOp::Rsqrt,
    MathOp::Sqrt,
    MathOp::Softmax,
    MathOp::Layernorm,
    MathOp::Argmax,
    MathOp::Max,
];

/// The public table `lut` benchmarks: a fixed pseudo-random function of the index.
fn bench_table(m: u32, n: u32) -> Table {
    Table::build(m, &[n], |j| {
        vec![(j.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11]
    })
}

/// Input and output formats: `--bits-in/--frac-in/--bits-out/--frac-out`, defaulting to
/// `--bits` and 12 fraction bits (SiRnn's microbenchmark setting).
pub fn formats(params: &Params) -> (Fx, Fx) {
    let bi = params.bits_in.unwrap_or(params.bits);
    let bo = params.bits_out.unwrap_or(bi);
    let fi = params.frac_in.unwrap_or(12.min(bi.saturating_sub(4)));
    let fo = params.frac_out.unwrap_or(fi.min(bo.saturating_sub(4)));
    (Fx::new(bi, fi), Fx::new(bo, fo))
}

/// `lut`'s index and entry widths: `--bits-in` (default 8) and `--bits-out` (default
/// `--bits`).
fn lut_widths(params: &Params) -> (u32, u32) {
    (
        params.bits_in.unwrap_or(8),
        params.bits_out.unwrap_or(params.bits),
    )
}

fn digit(params: &Params) -> u32 {
    params.digit.unwrap_or(8)
}

/// Row length of `softmax` and `layernorm`: the middle of `--dims`, else the largest
/// divisor of the element count up to 16.
pub fn cols(params: &Params, len: usize) -> usize {
    match params.dims {
        Some(d) => d[1].max(1),
        None => (1..=16.min(len.max(1)))
            .rev()
            .find(|c| len.is_multiple_of(*c))
            .unwrap_or(1),
    }
}

/// The plan's parameters of a function called on `len` elements with the command line's
/// widths.
pub fn math_params(params: &Params, len: usize) -> MathParams {
    let (input, output) = formats(params);
    MathParams {
        input,
        output,
        cols: cols(params, len),
        digit: params.digit,
        spline: crate::plan::math::SplineChoice::Auto,
        ot: params.ot,
    }
}

/// A math operation as a registry entry: the building blocks on the benchmark table, the
/// functions as the plan evaluates them.
pub trait MathEntry: Copy {
    /// Whether `params` make sense (messages name the command line's flags).
    fn check_args(self, params: &Params) -> Result<(), ProtoError>;
    fn output(self, params: &Params) -> Output;
    /// The operation on any engine: inputs (values or shares) → outputs, digits packed.
    fn eval_any<E: Engine>(
        self,
        e: &mut E,
        x: &[u64],
        params: &Params,
    ) -> Result<Vec<u64>, ProtoError>;
    /// The exact cost, zero for parameters that cannot run (the registry checks them first).
    fn cost(self, n: usize, params: &Params) -> Cost;
    /// Whether a call on `n` elements can run: what only the construction finds out (e.g. a
    /// row's squares too wide for 64 bits) before anything is sent.
    fn check_size(self, n: usize, params: &Params) -> Result<(), ProtoError>;
    fn run(self, p: &mut Party, inp: &Inputs, params: &Params) -> Result<Vec<u64>, ProtoError>;
    fn real(self, x: f64) -> f64;
    fn domain(self, params: &Params) -> (i64, i64);
    fn max_ulp(self, params: &Params, xs: &[u64], ys: &[u64]) -> f64;
    fn instance(self, rng: &mut ChaCha20Rng, n: usize, params: &Params) -> Instance;
}

fn is_function(op: MathOp) -> bool {
    !op.is_building_block() && !op.reduces_row()
}

impl MathEntry for MathOp {
    fn check_args(self, params: &Params) -> Result<(), ProtoError> {
        let bad = |m: &str| Err(ProtoError::Argument(format!("{}: {m}", self.name())));
        match self {
            MathOp::Lut => {
                let (m, n) = lut_widths(params);
                if !(1..=8).contains(&m) || !(1..=64).contains(&n) {
                    return bad("--bits-in must be 1..=8, --bits-out 1..=64");
                }
            }
            MathOp::Digdec | MathOp::Msnzb => {
                let d = digit(params);
                if !(2..=64).contains(&params.bits) || !(1..=8).contains(&d) {
                    return bad("--bits must be 2..=64 and --digit 1..=8");
                }
            }
            _ if params.digit.is_some_and(|d| !(1..=8).contains(&d)) => {
                return bad("--digit must be 1..=8");
            }
            // The formats are checked by the function itself, and what only its construction
            // finds out (e.g. squares too wide for 64 bits) by costing it.
            _ => self.check(&math_params(params, 0))?,
        }
        Ok(())
    }

    fn output(self, params: &Params) -> Output {
        let (_, o) = formats(params);
        match self {
            MathOp::Lut => Output::Arith(lut_widths(params).1),
            MathOp::Digdec => Output::Digits {
                bits: params.bits,
                digit: digit(params),
            },
            MathOp::Msnzb => Output::Xor(params.bits),
            _ => Output::Arith(o.bits),
        }
    }

    fn eval_any<E: Engine>(
        self,
        e: &mut E,
        x: &[u64],
        params: &Params,
    ) -> Result<Vec<u64>, ProtoError> {
        match self {
            MathOp::Lut => {
                // Checked here too: a table of 2^m entries must never be built for m > 8.
                let (m, n) = lut_widths(params);
                if !(1..=8).contains(&m) || !(1..=64).contains(&n) {
                    return Err(ProtoError::Argument(
                        "lut: --bits-in must be 1..=8, --bits-out 1..=64".into(),
                    ));
                }
                Ok(e.lut(&[(x, m)], &bench_table(m, n))?.remove(0))
            }
            MathOp::Digdec => {
                let widths = digit_widths(params.bits, digit(params));
                let d = e.digdec(x, &widths)?;
                Ok((0..x.len())
                    .map(|j| {
                        let mut off = 0;
                        let mut w = 0;
                        for (dig, &wd) in d.digits.iter().zip(&widths) {
                            w |= dig[j] << off;
                            off += wd;
                        }
                        w
                    })
                    .collect())
            }
            MathOp::Msnzb => funcs::msnzb_one_hot(e, x, params.bits, digit(params)),
            f => f.eval(e, x, &math_params(params, x.len())),
        }
    }

    fn cost(self, n: usize, params: &Params) -> Cost {
        if self.is_building_block() {
            let mut c = Counter::default();
            return match self.eval_any(&mut c, &vec![0; n], params) {
                Ok(_) => c.cost,
                Err(_) => Cost::ZERO,
            };
        }
        self.exact_cost(n, &math_params(params, n))
            .unwrap_or(Cost::ZERO)
    }

    fn check_size(self, n: usize, params: &Params) -> Result<(), ProtoError> {
        if self.is_building_block() {
            return Ok(());
        }
        self.exact_cost(n, &math_params(params, n)).map(|_| ())
    }

    fn run(self, p: &mut Party, inp: &Inputs, params: &Params) -> Result<Vec<u64>, ProtoError> {
        self.eval_any(p, &inp.a, params)
    }

    /// The exact real function.
    fn real(self, x: f64) -> f64 {
        match self {
            MathOp::Exp | MathOp::Rexp => x.exp(),
            MathOp::Reciprocal => 1.0 / x,
            MathOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            MathOp::Tanh => x.tanh(),
            MathOp::Gelu => crate::math::table::gelu(x),
            MathOp::Rsqrt => 1.0 / x.sqrt(),
            MathOp::Sqrt => x.sqrt(),
            MathOp::Softmax | MathOp::Layernorm | MathOp::Argmax | MathOp::Max => x,
            MathOp::Lut | MathOp::Digdec | MathOp::Msnzb => x,
        }
    }

    /// The input range (as integers at the input scale) of the function's domain: where the
    /// real result is defined and representable in the output format.
    fn domain(self, params: &Params) -> (i64, i64) {
        let (i, o) = formats(params);
        let lo = ring::to_signed(1 << (i.bits - 1), i.bits);
        let hi = ring::to_signed(ring::mask(i.bits - 1), i.bits);
        let si = (i.frac as f64).exp2();
        // Largest representable output.
        let omax = ((1u64 << (o.bits - 1)) - 1) as f64 / (o.frac as f64).exp2();
        let clamp = |v: f64| v.clamp(lo as f64, hi as f64) as i64;
        match self {
            MathOp::Rexp => (lo, 0),
            MathOp::Exp => (lo, funcs::exp_bias(i, o) as i64),
            MathOp::Reciprocal => (clamp((si / omax).ceil()).max(1), hi),
            MathOp::Rsqrt => (clamp((si / (omax * omax)).ceil()).max(1), hi),
            MathOp::Sqrt => (1, clamp((omax * omax * si).floor())),
            _ => (lo, hi),
        }
    }

    /// Largest |result − f(x)| in output ULPs over the inputs `xs` (input encodings) with
    /// results `ys` (output encodings).
    fn max_ulp(self, params: &Params, xs: &[u64], ys: &[u64]) -> f64 {
        let (i, o) = formats(params);
        let scale = (o.frac as f64).exp2();
        if matches!(self, MathOp::Softmax | MathOp::Layernorm) {
            let cols = cols(params, xs.len());
            let mut worst: f64 = 0.0;
            for (xr, yr) in xs.chunks(cols).zip(ys.chunks(cols)) {
                let reals: Vec<f64> = xr.iter().map(|&v| i.real(v)).collect();
                let want: Vec<f64> = if self == MathOp::Softmax {
                    let mx = reals.iter().copied().fold(f64::MIN, f64::max);
                    let sum: f64 = reals.iter().map(|v| (v - mx).exp()).sum();
                    reals.iter().map(|v| (v - mx).exp() / sum).collect()
                } else {
                    let n = reals.len() as f64;
                    let mean = reals.iter().sum::<f64>() / n;
                    let var = reals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                    let r = 1.0 / (var + 1e-5).sqrt();
                    reals.iter().map(|v| (v - mean) * r).collect()
                };
                for (w, &y) in want.iter().zip(yr) {
                    worst = worst.max((o.real(y) - w).abs() * scale);
                }
            }
            return worst;
        }
        xs.iter()
            .zip(ys)
            .map(|(&x, &y)| (o.real(y) - self.real(i.real(x))).abs() * scale)
            .fold(0.0, f64::max)
    }

    /// Random inputs: for the functions uniform over the domain with its ends and 0 (where
    /// inside) first; for the others uniform. Shares are uniform.
    fn instance(self, rng: &mut ChaCha20Rng, n: usize, params: &Params) -> Instance {
        let (i, _) = formats(params);
        let in_bits = match self {
            MathOp::Lut => lut_widths(params).0,
            MathOp::Digdec | MathOp::Msnzb => params.bits,
            _ => i.bits,
        };
        let (lo, hi) = self.domain(params);
        let span = (hi.wrapping_sub(lo) as u64).wrapping_add(1);
        let edges: Vec<i64> = [lo, hi, 0, lo + 1, hi - 1]
            .into_iter()
            .filter(|&v| (lo..=hi).contains(&v))
            .collect();
        let xs: Vec<u64> = (0..n)
            .map(|j| {
                let v = if j < edges.len() {
                    edges[j]
                } else if span == 0 {
                    (rng.next_u64() as i64).wrapping_add(lo)
                } else {
                    lo + (rng.next_u64() % span) as i64
                };
                ring::reduce(v as u64, in_bits)
            })
            .collect();
        let server: Vec<u64> = (0..n)
            .map(|_| ring::reduce(rng.next_u64(), in_bits))
            .collect();
        let client = xs
            .iter()
            .zip(&server)
            .map(|(&x, &s)| ring::sub(x, s, in_bits))
            .collect();
        let expected = self.eval_any(&mut Clear, &xs, params).unwrap_or_default();
        let max_ulp = is_function(self).then(|| self.max_ulp(params, &xs, &expected));
        Instance {
            max_ulp,
            ..Instance::exact((server, Vec::new()), (client, Vec::new()), expected)
        }
    }
}
