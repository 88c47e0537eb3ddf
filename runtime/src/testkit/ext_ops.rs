//! Registry glue of the extension and truncation family ([`super::ext`], [`super::trunc`]):
//! names, parameters, inputs with edge values, the protocol call, the `fixed` result and the
//! exact cost, for [`super::ops::Op::Ext`].
//!
//! Parameters: extensions read m = `bits_in` (default ℓ/2) and n = `bits_out` (default ℓ);
//! truncations read ℓ = `bits` and s = `shift` (default ℓ/2). The `*_known_msb` variants get
//! the MSB of x as public bits, the `*_shared_msb` variants as Boolean shares.

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::ops::{Inputs, Instance, Output, Params};
use crate::fixed::ext as fx;
use crate::proto::ext::{self, KnownMsb};
use crate::proto::trunc;
use crate::proto::{Cost, Party, ProtoError};
use crate::ring;

/// One operation of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtOp {
    Zext,
    Sext,
    ZextKnownMsb,
    SextKnownMsb,
    ZextSharedMsb,
    SextSharedMsb,
    TruncReduce,
    Lrs,
    Ars,
    ArsRound,
    LrsKnownMsb,
    ArsKnownMsb,
    LrsSharedMsb,
    ArsSharedMsb,
}

/// How the MSB is given to a variant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Msb {
    Unknown,
    Public,
    Shared,
}

impl ExtOp {
    pub fn name(self) -> &'static str {
        match self {
            ExtOp::Zext => "zext",
            ExtOp::Sext => "sext",
            ExtOp::ZextKnownMsb => "zext_known_msb",
            ExtOp::SextKnownMsb => "sext_known_msb",
            ExtOp::ZextSharedMsb => "zext_shared_msb",
            ExtOp::SextSharedMsb => "sext_shared_msb",
            ExtOp::TruncReduce => "trunc_reduce",
            ExtOp::Lrs => "lrs",
            ExtOp::Ars => "ars",
            ExtOp::ArsRound => "ars_round",
            ExtOp::LrsKnownMsb => "lrs_known_msb",
            ExtOp::ArsKnownMsb => "ars_known_msb",
            ExtOp::LrsSharedMsb => "lrs_shared_msb",
            ExtOp::ArsSharedMsb => "ars_shared_msb",
        }
    }

    /// Whether this is an extension (m → n) rather than a truncation (ℓ, s).
    pub fn is_ext(self) -> bool {
        matches!(
            self,
            ExtOp::Zext
                | ExtOp::Sext
                | ExtOp::ZextKnownMsb
                | ExtOp::SextKnownMsb
                | ExtOp::ZextSharedMsb
                | ExtOp::SextSharedMsb
        )
    }

    fn msb(self) -> Msb {
        match self {
            ExtOp::ZextKnownMsb | ExtOp::SextKnownMsb | ExtOp::LrsKnownMsb | ExtOp::ArsKnownMsb => {
                Msb::Public
            }
            ExtOp::ZextSharedMsb
            | ExtOp::SextSharedMsb
            | ExtOp::LrsSharedMsb
            | ExtOp::ArsSharedMsb => Msb::Shared,
            _ => Msb::Unknown,
        }
    }

    fn signed(self) -> bool {
        matches!(
            self,
            ExtOp::Sext
                | ExtOp::SextKnownMsb
                | ExtOp::SextSharedMsb
                | ExtOp::Ars
                | ExtOp::ArsRound
                | ExtOp::ArsKnownMsb
                | ExtOp::ArsSharedMsb
        )
    }

    /// (m, n) of an extension.
    pub fn widths(params: &Params) -> (u32, u32) {
        (
            params.bits_in.unwrap_or((params.bits / 2).max(1)),
            params.bits_out.unwrap_or(params.bits),
        )
    }

    /// s of a truncation.
    pub fn shift(params: &Params) -> u32 {
        params.shift.unwrap_or(params.bits / 2)
    }

    /// The input width (of x).
    fn in_bits(self, params: &Params) -> u32 {
        if self.is_ext() {
            Self::widths(params).0
        } else {
            params.bits
        }
    }

    pub fn check(self, params: &Params) -> Result<(), ProtoError> {
        let bad = |m: String| Err(ProtoError::Argument(format!("{}: {m}", self.name())));
        if self.is_ext() {
            let (m, n) = Self::widths(params);
            if !(1..=64).contains(&m) || !(m..=64).contains(&n) {
                return bad(format!("need 1 ≤ m ≤ n ≤ 64, got m = {m}, n = {n}"));
            }
        } else {
            let (l, s) = (params.bits, Self::shift(params));
            if !(1..=64).contains(&l) || s >= l {
                return bad(format!("need 0 ≤ s < ℓ ≤ 64, got ℓ = {l}, s = {s}"));
            }
        }
        Ok(())
    }

    pub fn output(self, params: &Params) -> Output {
        match self {
            _ if self.is_ext() => Output::Arith(Self::widths(params).1),
            ExtOp::TruncReduce => {
                Output::Arith(params.bits - Self::shift(params).min(params.bits - 1))
            }
            _ => Output::Arith(params.bits),
        }
    }

    pub fn cost(self, n: usize, params: &Params) -> Cost {
        let (m, nb) = Self::widths(params);
        let (l, s) = (params.bits, Self::shift(params));
        let shared = self.msb() == Msb::Shared;
        match self {
            ExtOp::Zext => ext::zext_cost(n, m, nb),
            ExtOp::Sext => ext::sext_cost(n, m, nb),
            ExtOp::ZextKnownMsb
            | ExtOp::SextKnownMsb
            | ExtOp::ZextSharedMsb
            | ExtOp::SextSharedMsb => ext::ext_known_msb_cost(n, m, nb, shared),
            ExtOp::TruncReduce => trunc::trunc_reduce_cost(n, l, s),
            ExtOp::Lrs => trunc::lrs_cost(n, l, s),
            ExtOp::Ars | ExtOp::ArsRound => trunc::ars_cost(n, l, s),
            ExtOp::LrsKnownMsb | ExtOp::ArsKnownMsb | ExtOp::LrsSharedMsb | ExtOp::ArsSharedMsb => {
                trunc::lrs_known_msb_cost(n, l, s, shared)
            }
        }
    }

    pub fn run(self, p: &mut Party, inp: &Inputs, params: &Params) -> Result<Vec<u64>, ProtoError> {
        let (m, nb) = Self::widths(params);
        let (l, s) = (params.bits, Self::shift(params));
        let mb: Vec<u8> = inp.b.iter().map(|&v| (v & 1) as u8).collect();
        let known = match self.msb() {
            Msb::Public => Some(KnownMsb::Public(&mb)),
            Msb::Shared => Some(KnownMsb::Shared(&mb)),
            Msb::Unknown => None,
        };
        let x = &inp.a;
        match (self, known) {
            (ExtOp::Zext, _) => ext::zext(p, x, m, nb),
            (ExtOp::Sext, _) => ext::sext(p, x, m, nb),
            (ExtOp::ZextKnownMsb | ExtOp::ZextSharedMsb, Some(k)) => {
                ext::zext_known_msb(p, x, m, nb, k)
            }
            (ExtOp::SextKnownMsb | ExtOp::SextSharedMsb, Some(k)) => {
                ext::sext_known_msb(p, x, m, nb, k)
            }
            (ExtOp::TruncReduce, _) => trunc::trunc_reduce(p, x, l, s),
            (ExtOp::Lrs, _) => trunc::lrs(p, x, l, s),
            (ExtOp::Ars, _) => trunc::ars(p, x, l, s),
            (ExtOp::ArsRound, _) => trunc::ars_round(p, x, l, s),
            (ExtOp::LrsKnownMsb | ExtOp::LrsSharedMsb, Some(k)) => {
                trunc::lrs_known_msb(p, x, l, s, k)
            }
            (ExtOp::ArsKnownMsb | ExtOp::ArsSharedMsb, Some(k)) => {
                trunc::ars_known_msb(p, x, l, s, k)
            }
            _ => Err(ProtoError::Argument(format!(
                "{}: no MSB given",
                self.name()
            ))),
        }
    }

    /// The cleartext result for the value x.
    fn expected(self, x: u64, params: &Params) -> u64 {
        let (m, nb) = Self::widths(params);
        let (l, s) = (params.bits, Self::shift(params));
        match self {
            _ if self.is_ext() && self.signed() => fx::sext(x, m, nb),
            _ if self.is_ext() => fx::zext(x, m, nb),
            ExtOp::TruncReduce => fx::trunc_reduce(x, l, s),
            ExtOp::Lrs | ExtOp::LrsKnownMsb | ExtOp::LrsSharedMsb => fx::lrs(x, l, s),
            ExtOp::ArsRound => fx::ars_round(x, l, s),
            _ => fx::ars(x, l, s),
        }
    }

    /// Random inputs for `n` elements: edge values (0, −1, min, max, 1) with shares that do
    /// and do not wrap, then (for the truncations) shares whose low s bits sum to 2^s − 1,
    /// 2^s or 2^s + 1 and whose high parts sum to all ones or not (Lemma 1's cases), then
    /// uniform values.
    pub fn instance(self, rng: &mut ChaCha20Rng, n: usize, params: &Params) -> Instance {
        let w = self.in_bits(params);
        let mask = ring::mask(w);
        let max = mask >> 1;
        let edges = [0, mask, max + 1, max, 1 & mask];
        let ne = edges.len();
        let s = if self.is_ext() {
            0
        } else {
            Self::shift(params)
        };
        let mut xs = Vec::with_capacity(n);
        let mut server = Vec::with_capacity(n);
        for i in 0..n {
            let big = n >= 2 * ne + 20;
            let (x, s0) = if big && i < 2 * ne {
                (edges[i % ne], if i < ne { 0 } else { mask })
            } else if big && i < 2 * ne + 20 && s > 0 {
                let s0 = rng.next_u64() & mask;
                let d = (i % 3) as u64; // low sums 2^s − 1, 2^s, 2^s + 1
                let lo_mask = ring::mask(s);
                let lo1 = ((lo_mask + d).wrapping_sub(s0 & lo_mask)) & lo_mask;
                let hi_mask = mask >> s;
                let hi1 = if i % 2 == 0 {
                    hi_mask.wrapping_sub(s0 >> s) & hi_mask
                } else {
                    rng.next_u64() & hi_mask
                };
                let c1 = (hi1 << s | lo1) & mask;
                (ring::add(s0, c1, w), s0)
            } else {
                (rng.next_u64() & mask, rng.next_u64() & mask)
            };
            xs.push(x);
            server.push(s0);
        }
        let client: Vec<u64> = xs
            .iter()
            .zip(&server)
            .map(|(&x, &a)| ring::sub(x, a, w))
            .collect();
        let msb: Vec<u64> = xs.iter().map(|&x| ring::msb(x, w)).collect();
        let (mb_s, mb_c) = match self.msb() {
            Msb::Unknown => (Vec::new(), Vec::new()),
            Msb::Public => (msb.clone(), msb.clone()),
            Msb::Shared => {
                let r: Vec<u64> = msb.iter().map(|_| rng.next_u64() & 1).collect();
                let c = msb.iter().zip(&r).map(|(&m, &r)| m ^ r).collect();
                (r, c)
            }
        };
        let expected = xs.iter().map(|&x| self.expected(x, params)).collect();
        Instance::exact((server, mb_s), (client, mb_c), expected)
    }
}

/// Every operation of the family, in registry order.
pub const ALL_EXT: [ExtOp; 14] = [
    ExtOp::Zext,
    ExtOp::Sext,
    ExtOp::ZextKnownMsb,
    ExtOp::SextKnownMsb,
    ExtOp::ZextSharedMsb,
    ExtOp::SextSharedMsb,
    ExtOp::TruncReduce,
    ExtOp::Lrs,
    ExtOp::Ars,
    ExtOp::ArsRound,
    ExtOp::LrsKnownMsb,
    ExtOp::ArsKnownMsb,
    ExtOp::LrsSharedMsb,
    ExtOp::ArsSharedMsb,
];
