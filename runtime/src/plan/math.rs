//! The math instruction of a plan: which function of SiRnn's math library ([`crate::math::funcs`])
//! it applies, with what formats, and how it is evaluated on any engine — the cleartext one for
//! [`super::clear`], a [`crate::proto::Party`] for the two-party run, the cost counter for
//! [`super::Plan::instr_cost`]. Written once here so that the three cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::fixed::Fx;
use crate::math::funcs::{self, CostFn, Quad, Spline, Tuning};
use crate::math::table::Smooth;
use crate::math::{Clear, Counter, Engine};
use crate::net::link::Link;
use crate::ot::OtKind;
use crate::proto::{Cost, Flow, ProtoError};

/// A function of the math library by name. The building blocks (`lut`, `digdec`, `msnzb`)
/// are named too, for the benchmarks, but a plan refuses them as instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MathOp {
    Lut,
    Digdec,
    Msnzb,
    Exp,
    Rexp,
    Reciprocal,
    Sigmoid,
    Tanh,
    Gelu,
    Rsqrt,
    Sqrt,
    Softmax,
    Layernorm,
    Argmax,
    Max,
}

/// The public parameters of one math call: formats, row length, and the digit width when the
/// caller pins it (else the cost model picks it: [`Tuning::best`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MathParams {
    pub input: Fx,
    pub output: Fx,
    /// Row length of the row functions (softmax, layernorm, argmax, max); 1 otherwise.
    pub cols: usize,
    /// DigDec's digit width for both rExp and MSNZB; `None`: the cheapest by the cost model.
    pub digit: Option<u32>,
    /// sigmoid/tanh's construction: as a plan records it, or chosen by [`Tuning::best`].
    pub spline: SplineChoice,
    /// The OT engine the digits are tuned for (a plan's own: its semantics are its engine's).
    pub ot: OtKind,
}

/// Who chooses sigmoid and tanh's construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SplineChoice {
    /// [`Tuning::best`] (benchmarks, the compiler).
    Auto,
    /// As recorded in a plan (None: rExp and the reciprocal).
    Pinned(Option<Spline>),
}

impl MathParams {
    /// The formats of an instruction, the digits left to the cost model.
    pub fn new(input: Fx, output: Fx, cols: usize) -> MathParams {
        MathParams {
            input,
            output,
            cols: cols.max(1),
            digit: None,
            spline: SplineChoice::Auto,
            ot: OtKind::Iknp,
        }
    }

    /// Tuned for engine `ot`.
    pub fn on(self, ot: OtKind) -> MathParams {
        MathParams { ot, ..self }
    }

    /// With the construction a plan records.
    pub fn pinned(self, spline: Option<Spline>) -> MathParams {
        MathParams {
            spline: SplineChoice::Pinned(spline),
            ..self
        }
    }
}

/// The row length the tuning of the row functions assumes (whatever the instruction's rows).
const TUNING_COLS: usize = 16;

/// A row function on rows of [`TUNING_COLS`], as the cost engine runs it for tuning:
/// `LAYERNORM` picks layernorm, else softmax.
fn tuning_row<const LAYERNORM: bool>(
    e: &mut Counter,
    x: &[u64],
    i: Fx,
    o: Fx,
    t: Tuning,
) -> Result<Vec<u64>, ProtoError> {
    if LAYERNORM {
        funcs::layernorm(e, x, TUNING_COLS, i, o, t)
    } else {
        funcs::softmax(e, x, TUNING_COLS, i, o, t)
    }
}

impl MathOp {
    pub fn name(self) -> &'static str {
        match self {
            MathOp::Lut => "lut",
            MathOp::Digdec => "digdec",
            MathOp::Msnzb => "msnzb",
            MathOp::Exp => "exp",
            MathOp::Rexp => "rexp",
            MathOp::Reciprocal => "reciprocal",
            MathOp::Sigmoid => "sigmoid",
            MathOp::Tanh => "tanh",
            MathOp::Gelu => "gelu",
            MathOp::Rsqrt => "rsqrt",
            MathOp::Sqrt => "sqrt",
            MathOp::Softmax => "softmax",
            MathOp::Layernorm => "layernorm",
            MathOp::Argmax => "argmax",
            MathOp::Max => "max",
        }
    }

    /// A building block of the functions rather than a function (not a plan instruction).
    pub fn is_building_block(self) -> bool {
        matches!(self, MathOp::Lut | MathOp::Digdec | MathOp::Msnzb)
    }

    /// Whether it works on rows of `cols` elements (the others are elementwise).
    pub fn is_row(self) -> bool {
        matches!(
            self,
            MathOp::Softmax | MathOp::Layernorm | MathOp::Argmax | MathOp::Max
        )
    }

    /// Whether a row gives one result (the last axis is dropped).
    pub fn reduces_row(self) -> bool {
        matches!(self, MathOp::Argmax | MathOp::Max)
    }

    /// The function over the cost engine, for tuning its digit widths.
    fn tuned_function(self) -> Option<CostFn> {
        Some(match self {
            MathOp::Exp => funcs::exp,
            MathOp::Rexp => funcs::rexp,
            MathOp::Reciprocal => funcs::reciprocal,
            MathOp::Sigmoid => funcs::sigmoid,
            MathOp::Tanh => funcs::tanh,
            MathOp::Gelu => funcs::gelu,
            MathOp::Rsqrt => funcs::rsqrt,
            MathOp::Sqrt => funcs::sqrt,
            MathOp::Softmax => tuning_row::<false>,
            MathOp::Layernorm => tuning_row::<true>,
            _ => return None,
        })
    }

    /// The digit widths: pinned by `params.digit`, else the cheapest by the cost model.
    pub fn tuning(self, params: &MathParams) -> Tuning {
        let t = match (params.digit, params.spline) {
            (Some(d), _) => Tuning {
                exp_digit: d,
                msnzb_digit: d,
                ..Tuning::default()
            },
            (None, SplineChoice::Auto) => match self.tuned_function() {
                Some(f) => Tuning::best(self.name(), f, params.input, params.output, params.ot),
                None => Tuning::default(),
            },
            (None, SplineChoice::Pinned(_)) => match self.tuned_function() {
                Some(f) => {
                    Tuning::best_digits(self.name(), f, params.input, params.output, params.ot)
                }
                None => Tuning::default(),
            },
        };
        match params.spline {
            SplineChoice::Pinned(spline) => Tuning { spline, ..t },
            SplineChoice::Auto => t,
        }
    }

    /// sigmoid, tanh and gelu's construction for a call on `len` elements: [`MathOp::tuning`]'s
    /// (the fewest bytes) or, given a link, whichever of it and its variants that trade bytes
    /// for flights (the wide quadratic, the signed window) takes the least estimated time
    /// alone on that link (transfer + latency units × RTT/2). None for the other functions.
    pub fn spline_for(self, params: &MathParams, len: usize, link: Option<Link>) -> Option<Spline> {
        let smooth = match self {
            MathOp::Sigmoid => Smooth::Sigmoid,
            MathOp::Tanh => Smooth::Tanh,
            MathOp::Gelu => Smooth::GeluBump,
            _ => return None,
        };
        let t = self.tuning(params);
        let (Some(link), Some(Spline::Quadratic(q)), Some(f)) =
            (link, t.spline, self.tuned_function())
        else {
            return t.spline;
        };
        let zeros = vec![0u64; len.max(1)];
        let seconds = |q: Quad| -> Option<f64> {
            let mut c = Counter::default();
            let tune = Tuning {
                spline: Some(Spline::Quadratic(q)),
                ..t
            };
            f(&mut c, &zeros, params.input, params.output, tune).ok()?;
            Some(link.estimate(
                c.cost.on(OtKind::Iknp).total_bytes(),
                c.flow(OtKind::Iknp).units(),
            ))
        };
        // The variants with fewer flights: the signed window with the same intervals (one
        // index bit more) where the tuning folded, and the wide running sum of either.
        let signed = Quad {
            g: q.g + 1,
            fold: false,
            ..q
        };
        let mut cands = vec![q, Quad { wide: true, ..q }];
        if q.fold && signed.g <= 8 {
            cands.extend([
                signed,
                Quad {
                    wide: true,
                    ..signed
                },
            ]);
        }
        let mut best = (seconds(q).unwrap_or(f64::INFINITY), q);
        for c in cands.into_iter().skip(1) {
            if let Some(s) = seconds(c)
                && s < best.0
                && funcs::spline_quad_ok(smooth, params.input, params.output, c)
            {
                best = (s, c);
            }
        }
        Some(Spline::Quadratic(best.1))
    }

    /// The function on any engine: inputs (values or shares) → outputs. The building blocks
    /// have no formats of their own and are refused.
    pub fn eval<E: Engine>(
        self,
        e: &mut E,
        x: &[u64],
        params: &MathParams,
    ) -> Result<Vec<u64>, ProtoError> {
        let (i, o, cols) = (params.input, params.output, params.cols.max(1));
        let t = self.tuning(params);
        match self {
            MathOp::Lut | MathOp::Digdec | MathOp::Msnzb => Err(ProtoError::Argument(format!(
                "{} is a building block, not a function",
                self.name()
            ))),
            MathOp::Exp => funcs::exp(e, x, i, o, t),
            MathOp::Rexp => funcs::rexp(e, x, i, o, t),
            MathOp::Reciprocal => funcs::reciprocal(e, x, i, o, t),
            MathOp::Sigmoid => funcs::sigmoid(e, x, i, o, t),
            MathOp::Tanh => funcs::tanh(e, x, i, o, t),
            MathOp::Gelu => funcs::gelu(e, x, i, o, t),
            MathOp::Rsqrt => funcs::rsqrt(e, x, i, o, t),
            MathOp::Sqrt => funcs::sqrt(e, x, i, o, t),
            MathOp::Softmax => funcs::softmax(e, x, cols, i, o, t),
            MathOp::Layernorm => funcs::layernorm(e, x, cols, i, o, t),
            MathOp::Argmax => funcs::argmax(e, x, cols, i.bits, o.bits),
            MathOp::Max => {
                if o != i {
                    return Err(ProtoError::Argument(
                        "max: the output format is the input's".into(),
                    ));
                }
                funcs::row_maximum(e, x, cols, i.bits)
            }
        }
    }

    /// The cleartext fixed-point semantics (what `sir eval --plan` and the precision search run).
    pub fn clear(self, x: &[u64], params: &MathParams) -> Result<Vec<u64>, ProtoError> {
        self.eval(&mut Clear, x, params)
    }

    /// Whether the function runs with these parameters: the digit width in range, and the
    /// formats the function's own checks accept (run on no elements).
    pub fn check(self, params: &MathParams) -> Result<(), ProtoError> {
        if params.digit.is_some_and(|d| !(1..=8).contains(&d)) {
            return Err(ProtoError::Argument(format!(
                "{}: the digit width must be 1..=8",
                self.name()
            )));
        }
        self.eval(&mut Counter::default(), &[], params).map(|_| ())
    }

    /// The exact cost on `n` elements, or why these parameters cannot run. Cached: a plan
    /// asks for the same few (function, formats, size) many times while it is built and
    /// checked.
    pub fn exact_cost(self, n: usize, params: &MathParams) -> Result<Cost, ProtoError> {
        self.counted(n, params).map(|(c, _)| c)
    }

    /// The latency of the call on `n` elements on `kind` ([`Flow`]).
    pub fn exact_flow(
        self,
        n: usize,
        params: &MathParams,
        kind: OtKind,
    ) -> Result<Flow, ProtoError> {
        self.counted(n, params)
            .map(|(_, f)| f[kind as usize].clone())
    }

    /// Cost and latency (per engine, [`OtKind::ALL`]'s order) on the cost engine, cached.
    fn counted(self, n: usize, params: &MathParams) -> Result<(Cost, [Flow; 2]), ProtoError> {
        type Key = (MathOp, usize, MathParams);
        type Cache = std::collections::HashMap<Key, (Cost, [Flow; 2])>;
        static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let key = (self, n, *params);
        if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let mut c = Counter::default();
        self.eval(&mut c, &vec![0; n], params)?;
        let r = (c.cost, OtKind::ALL.map(|k| c.flow(k).clone()));
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, r.clone());
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_of_zero_is_one_half_and_softmax_rows_sum_to_one() {
        let f = Fx::new(16, 12);
        let y = MathOp::Sigmoid
            .clear(&[0], &MathParams::new(f, f, 1))
            .unwrap();
        assert_eq!(y, vec![2048]);
        let x: Vec<u64> = [0i64, 4096, -4096, 8192]
            .iter()
            .map(|&v| v as u64 & 0xffff)
            .collect();
        let y = MathOp::Softmax
            .clear(&x, &MathParams::new(f, f, 4))
            .unwrap();
        let sum: u64 = y.iter().sum();
        assert!((4094..=4098).contains(&sum), "{y:?}");
    }
}
