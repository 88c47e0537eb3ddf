//! The registry of benchmarkable and testable operations: for each name, how to draw inputs
//! (with edge values), how to run the protocol, what `fixed` says the result is, and the
//! exact cost. `sir bench op` and the property tests both go through it, so a new family is
//! one more [`Operation`] variant and one more arm per method.

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::ext_ops::ExtOp;
use super::math_ops::{self, MathEntry};
use super::mult_ops;
use crate::fixed;
use crate::plan::MathOp;
use crate::proto::{Cost, Party, ProtoError, bool as pbool, millionaire, mult, relu};
use crate::ring;

/// An operation by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Millionaire,
    Wrap,
    WrapAllOnes,
    Msb,
    Drelu,
    Relu,
    And,
    B2a,
    Mux,
    Mult,
    Matmul,
    /// Shared X × shared Y.
    MatmulShared,
    /// The extension and truncation family ([`super::ext_ops`]).
    Ext(ExtOp),
    /// The math library ([`super::math_ops`]).
    Math(MathOp),
}

/// Every registered operation, in the order `sir bench op all` runs them.
pub const ALL: [Operation; 26] = [
    Operation::Relu,
    Operation::Drelu,
    Operation::Msb,
    Operation::And,
    Operation::B2a,
    Operation::Mux,
    Operation::Wrap,
    Operation::WrapAllOnes,
    Operation::Millionaire,
    Operation::Mult,
    Operation::Matmul,
    Operation::MatmulShared,
    Operation::Ext(ExtOp::Zext),
    Operation::Ext(ExtOp::Sext),
    Operation::Ext(ExtOp::ZextKnownMsb),
    Operation::Ext(ExtOp::SextKnownMsb),
    Operation::Ext(ExtOp::ZextSharedMsb),
    Operation::Ext(ExtOp::SextSharedMsb),
    Operation::Ext(ExtOp::TruncReduce),
    Operation::Ext(ExtOp::Lrs),
    Operation::Ext(ExtOp::Ars),
    Operation::Ext(ExtOp::ArsRound),
    Operation::Ext(ExtOp::LrsKnownMsb),
    Operation::Ext(ExtOp::ArsKnownMsb),
    Operation::Ext(ExtOp::LrsSharedMsb),
    Operation::Ext(ExtOp::ArsSharedMsb),
];

/// Public parameters of one operation call. Families with input/output widths, shifts or
/// matrix dimensions read the fields they need; unused ones are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// Ring width ℓ (1..=64).
    pub bits: u32,
    pub bits_in: Option<u32>,
    pub bits_out: Option<u32>,
    pub shift: Option<u32>,
    pub dims: Option<[usize; 3]>,
    /// Fraction bits of the input and output (math functions).
    pub frac_in: Option<u32>,
    pub frac_out: Option<u32>,
    /// Digit width of DigDec/MSNZB (math functions).
    pub digit: Option<u32>,
    /// The OT engine the math functions' digits are tuned for (the one they run on).
    pub ot: crate::ot::OtKind,
}

impl Params {
    pub fn bits(bits: u32) -> Params {
        Params {
            bits,
            bits_in: None,
            bits_out: None,
            shift: None,
            dims: None,
            frac_in: None,
            frac_out: None,
            digit: None,
            ot: crate::ot::OtKind::Iknp,
        }
    }
}

/// How results are reconstructed from the two parties' outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Boolean shares (0/1), XOR.
    Bool,
    /// Two Boolean shares packed as bit 0 and bit 1, XOR.
    BoolPair,
    /// Arithmetic shares in Z_{2^ℓ}, addition.
    Arith(u32),
    /// Boolean shares of ℓ bits packed in a word, XOR.
    Xor(u32),
    /// The digits of an ℓ-bit value packed (digit i in its own ring: `digit` bits, the top
    /// one shorter), added digit by digit.
    Digits { bits: u32, digit: u32 },
}

impl Output {
    pub fn reconstruct(self, a: u64, b: u64) -> u64 {
        match self {
            Output::Bool => (a ^ b) & 1,
            Output::BoolPair => (a ^ b) & 3,
            Output::Arith(bits) => ring::add(a, b, bits),
            Output::Xor(bits) => ring::reduce(a ^ b, bits),
            Output::Digits { bits, digit } => {
                let mut out = 0;
                let mut off = 0;
                for w in crate::math::funcs::digit_widths(bits, digit) {
                    out |= ring::add(a >> off, b >> off, w) << off;
                    off += w;
                }
                out
            }
        }
    }
}

/// One party's inputs to a call: up to two operand vectors.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

/// Inputs of both parties and the expected (cleartext) results.
#[derive(Clone, Debug)]
pub struct Instance {
    pub server: Inputs,
    pub client: Inputs,
    pub expected: Vec<u64>,
    /// For the math functions: the largest distance, in output ULPs, between the expected
    /// (cleartext fixed-point) results and the exact real function on these inputs.
    pub max_ulp: Option<f64>,
}

impl Instance {
    /// An instance whose expected results are exact (no error bound against a real function):
    /// each party's (first, second) operand vectors.
    pub fn exact(
        server: (Vec<u64>, Vec<u64>),
        client: (Vec<u64>, Vec<u64>),
        expected: Vec<u64>,
    ) -> Instance {
        Instance {
            server: Inputs {
                a: server.0,
                b: server.1,
            },
            client: Inputs {
                a: client.0,
                b: client.1,
            },
            expected,
            max_ulp: None,
        }
    }
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Millionaire => "millionaire",
            Operation::Wrap => "wrap",
            Operation::WrapAllOnes => "wrap_ones",
            Operation::Msb => "msb",
            Operation::Drelu => "drelu",
            Operation::Relu => "relu",
            Operation::And => "and",
            Operation::B2a => "b2a",
            Operation::Mux => "mux",
            Operation::Ext(e) => e.name(),
            Operation::Math(m) => m.name(),
            Operation::Mult => "mult",
            Operation::Matmul => "matmul",
            Operation::MatmulShared => "matmul_shared",
        }
    }

    pub fn from_name(name: &str) -> Option<Operation> {
        ALL.into_iter()
            .chain(math_ops::ALL.map(Operation::Math))
            .find(|o| o.name() == name)
    }

    /// Whether `params` make sense for this operation.
    pub fn check(self, params: &Params) -> Result<(), ProtoError> {
        if let Operation::Ext(e) = self {
            return e.check(params);
        }
        if let Operation::Math(m) = self {
            return m.check_args(params);
        }
        if !(1..=64).contains(&params.bits) {
            return Err(ProtoError::Argument(format!(
                "{}: ℓ = {} is not in 1..=64",
                self.name(),
                params.bits
            )));
        }
        Ok(())
    }

    pub fn output(self, params: &Params) -> Output {
        match self {
            Operation::Ext(e) => e.output(params),
            Operation::Math(m) => m.output(params),
            Operation::Relu | Operation::B2a | Operation::Mux => Output::Arith(params.bits),
            Operation::Mult => Output::Arith(mult_ops::mult_params(params).out_bits),
            Operation::Matmul | Operation::MatmulShared => {
                Output::Arith(mult_ops::matmul_params(params).out_bits)
            }
            Operation::WrapAllOnes => Output::BoolPair,
            _ => Output::Bool,
        }
    }

    /// Whether a call on `n` elements can run (after [`Operation::check`]): refused before
    /// anything is sent, rather than midway.
    pub fn check_size(self, n: usize, params: &Params) -> Result<(), ProtoError> {
        match self {
            Operation::Math(m) => m.check_size(n, params),
            _ => Ok(()),
        }
    }

    /// The exact cost of one call on `n` elements.
    pub fn cost(self, n: usize, params: &Params) -> Cost {
        let bits = params.bits;
        match self {
            Operation::Millionaire => millionaire::cost(n, bits),
            Operation::Wrap => relu::wrap_cost(n, bits),
            Operation::WrapAllOnes => relu::wrap_and_all_ones_cost(n, bits),
            Operation::Msb | Operation::Drelu => relu::msb_cost(n, bits),
            Operation::Relu => relu::relu_cost(n, bits),
            Operation::And => pbool::and_cost(n),
            Operation::B2a => pbool::b2a_cost(n, bits),
            Operation::Mux => pbool::mux_cost(n, bits),
            Operation::Ext(e) => e.cost(n, params),
            Operation::Math(m) => m.cost(n, params),
            Operation::Mult => mult::mult_cost(n, &mult_ops::mult_params(params)),
            Operation::Matmul if n == 0 => Cost::ZERO,
            Operation::Matmul => mult::matmul_full_cost(&mult_ops::matmul_params(params)),
            Operation::MatmulShared if n == 0 => Cost::ZERO,
            Operation::MatmulShared => {
                mult::matmul_shared_full_cost(&mult_ops::matmul_shared_params(params))
            }
        }
    }

    /// Runs this party's side of one call.
    pub fn run(self, p: &mut Party, inp: &Inputs, params: &Params) -> Result<Vec<u64>, ProtoError> {
        let bits = params.bits;
        let to_bits = |v: &[u64]| -> Vec<u8> { v.iter().map(|&b| (b & 1) as u8).collect() };
        let widen = |v: Vec<u8>| -> Vec<u64> { v.into_iter().map(u64::from).collect() };
        Ok(match self {
            Operation::Millionaire => widen(millionaire::millionaire(p, &inp.a, bits)?),
            Operation::Wrap => widen(relu::wrap(p, &inp.a, bits)?),
            Operation::WrapAllOnes => {
                let (w, e) = relu::wrap_and_all_ones(p, &inp.a, bits)?;
                w.iter()
                    .zip(&e)
                    .map(|(&w, &e)| (w | e << 1) as u64)
                    .collect()
            }
            Operation::Msb => widen(relu::msb(p, &inp.a, bits)?),
            Operation::Drelu => widen(relu::drelu(p, &inp.a, bits)?),
            Operation::Relu => relu::relu(p, &inp.a, bits)?,
            Operation::And => widen(pbool::and(p, &to_bits(&inp.a), &to_bits(&inp.b))?),
            Operation::B2a => pbool::b2a(p, &to_bits(&inp.a), bits)?,
            Operation::Mux => {
                pbool::mux(p, &to_bits(&inp.a), &inp.b, bits, crate::net::Role::Client)?
            }
            Operation::Ext(e) => e.run(p, inp, params)?,
            Operation::Math(m) => m.run(p, inp, params)?,
            Operation::Mult => mult::mult(p, &mult_ops::mult_params(params), &inp.a, &inp.b)?,
            Operation::Matmul => {
                mult::matmul_full(p, &mult_ops::matmul_params(params), &inp.a, &inp.b)?
            }
            Operation::MatmulShared => {
                let mp = mult_ops::matmul_shared_params(params);
                mult::matmul_shared_full(p, &mp, (mp.dims.d1, 0), &inp.a, &inp.b)?
            }
        })
    }

    /// Random inputs for `n` elements; the first elements are edge values (0, −1, the
    /// signed minimum and maximum, 1) with shares that do and do not wrap.
    pub fn instance(self, rng: &mut ChaCha20Rng, n: usize, params: &Params) -> Instance {
        let bits = params.bits;
        let m = ring::mask(bits);
        let max = m >> 1;
        let edges = [0, m, max + 1, max, 1 & m];
        // Values: edges first, then uniform.
        let values = |rng: &mut ChaCha20Rng| -> Vec<u64> {
            (0..n)
                .map(|i| {
                    if i < 2 * edges.len() && n >= 2 * edges.len() {
                        edges[i % edges.len()]
                    } else {
                        rng.next_u64() & m
                    }
                })
                .collect()
        };
        // Shares: for the edge block, server share 0 or −1 (no wrap / wrap); else random.
        let share = |rng: &mut ChaCha20Rng, v: &[u64], bits: u32| -> (Vec<u64>, Vec<u64>) {
            let m = ring::mask(bits);
            let s: Vec<u64> = (0..v.len())
                .map(|i| match i {
                    _ if v.len() < 2 * edges.len() => rng.next_u64() & m,
                    i if i < edges.len() => 0,
                    i if i < 2 * edges.len() => m,
                    _ => rng.next_u64() & m,
                })
                .collect();
            let c = v
                .iter()
                .zip(&s)
                .map(|(&x, &a)| ring::sub(x, a, bits))
                .collect();
            (s, c)
        };
        let bool_share = |rng: &mut ChaCha20Rng, v: &[u64]| -> (Vec<u64>, Vec<u64>) {
            let s: Vec<u64> = v.iter().map(|_| rng.next_u64() & 1).collect();
            let c = v.iter().zip(&s).map(|(&x, &a)| (x ^ a) & 1).collect();
            (s, c)
        };
        match self {
            Operation::Ext(e) => e.instance(rng, n, params),
            Operation::Math(m) => m.instance(rng, n, params),
            Operation::Mult => mult_ops::mult_instance(rng, n, params),
            Operation::Matmul => mult_ops::matmul_instance(rng, params),
            Operation::MatmulShared => mult_ops::matmul_shared_instance(rng, params),
            Operation::Millionaire | Operation::Wrap | Operation::WrapAllOnes => {
                let x = values(rng);
                let mut y = values(rng);
                // Equal pairs and neighbours exercise the eq path of the tree; for the wraps,
                // shares summing to 2^ℓ − 1 and its neighbours.
                for i in 0..n.min(16) {
                    let d = (i as u64 % 3).wrapping_sub(1);
                    y[i] = match self {
                        Operation::Millionaire => ring::add(x[i], d, bits),
                        _ => ring::add(ring::mask(bits) ^ x[i], d, bits),
                    };
                }
                let expected = x
                    .iter()
                    .zip(&y)
                    .map(|(&a, &b)| match self {
                        Operation::Millionaire => fixed::millionaire(a, b, bits) as u64,
                        Operation::Wrap => fixed::wrap(a, b, bits) as u64,
                        _ => {
                            let (w, e) = fixed::wrap_and_all_ones(a, b, bits);
                            (w | e << 1) as u64
                        }
                    })
                    .collect();
                Instance::exact((x, vec![]), (y, vec![]), expected)
            }
            Operation::Msb | Operation::Drelu | Operation::Relu => {
                let x = values(rng);
                let (s, c) = share(rng, &x, bits);
                let expected = x
                    .iter()
                    .map(|&v| match self {
                        Operation::Msb => fixed::msb(v, bits) as u64,
                        Operation::Drelu => fixed::drelu(v, bits) as u64,
                        _ => fixed::relu(v, bits),
                    })
                    .collect();
                Instance::exact((s, vec![]), (c, vec![]), expected)
            }
            Operation::And => {
                let x: Vec<u64> = (0..n).map(|_| rng.next_u64() & 1).collect();
                let y: Vec<u64> = (0..n).map(|_| rng.next_u64() & 1).collect();
                let (xs, xc) = bool_share(rng, &x);
                let (ys, yc) = bool_share(rng, &y);
                let expected = x
                    .iter()
                    .zip(&y)
                    .map(|(&a, &b)| fixed::and(a as u8, b as u8) as u64)
                    .collect();
                Instance::exact((xs, ys), (xc, yc), expected)
            }
            Operation::B2a => {
                let x: Vec<u64> = (0..n).map(|_| rng.next_u64() & 1).collect();
                let (s, c) = bool_share(rng, &x);
                let expected = x.iter().map(|&b| fixed::b2a(b as u8, bits)).collect();
                Instance::exact((s, vec![]), (c, vec![]), expected)
            }
            Operation::Mux => {
                let b: Vec<u64> = (0..n)
                    .map(|i| (rng.next_u64() | (i < 10) as u64) & 1)
                    .collect();
                let x = values(rng);
                let (bs, bc) = bool_share(rng, &b);
                let (xs, xc) = share(rng, &x, bits);
                let expected = b
                    .iter()
                    .zip(&x)
                    .map(|(&b, &v)| fixed::mux(b as u8, v, bits))
                    .collect();
                Instance::exact((bs, xs), (bc, xc), expected)
            }
        }
    }
}
