//! Cleartext semantics: what every two-party protocol computes on the reconstructed values.
//! This module is the one definition; each protocol's tests compare the two-party result with
//! these functions bit for bit, and the compiler's precision search evaluates plans with them.
//!
//! Conventions: ℓ-bit ring elements are `u64` in the low ℓ bits (see [`crate::ring`]); Boolean
//! values are `u8` 0 or 1. Signed interpretations are two's complement in ℓ bits.

pub mod ext;
pub mod linear;
use crate::ring;

/// A signed fixed-point format: `bits` wide with `frac` fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fx {
    pub bits: u32,
    pub frac: u32,
}

impl Fx {
    pub const fn new(bits: u32, frac: u32) -> Fx {
        Fx { bits, frac }
    }

    /// The real number an encoding stands for.
    pub fn real(self, x: u64) -> f64 {
        ring::to_signed(ring::reduce(x, self.bits), self.bits) as f64 / (self.frac as f64).exp2()
    }
}

/// Millionaires' comparison: 1{x < y} for unsigned ℓ-bit x (the server's) and y (the client's).
pub fn millionaire(x: u64, y: u64, bits: u32) -> u8 {
    (ring::reduce(x, bits) < ring::reduce(y, bits)) as u8
}

/// The most significant bit of an ℓ-bit element (1 for negative signed values).
pub fn msb(x: u64, bits: u32) -> u8 {
    ring::msb(ring::reduce(x, bits), bits) as u8
}

/// DReLU: 1{x ≥ 0} for signed ℓ-bit x, i.e. 1 − MSB(x).
pub fn drelu(x: u64, bits: u32) -> u8 {
    1 - msb(x, bits)
}

/// ReLU: max(x, 0) for signed ℓ-bit x.
pub fn relu(x: u64, bits: u32) -> u64 {
    if msb(x, bits) == 1 {
        0
    } else {
        ring::reduce(x, bits)
    }
}

/// Wrap: the carry out of adding the two ℓ-bit shares as unsigned integers,
/// 1{a + b ≥ 2^ℓ}.
pub fn wrap(a: u64, b: u64, bits: u32) -> u8 {
    let (a, b) = (ring::reduce(a, bits) as u128, ring::reduce(b, bits) as u128);
    (a + b >= 1u128 << bits) as u8
}

/// Wrap&All1s: (wrap(a, b), 1{a + b = 2^ℓ − 1}) for unsigned ℓ-bit shares a, b, the sum
/// taken over the integers.
pub fn wrap_and_all_ones(a: u64, b: u64, bits: u32) -> (u8, u8) {
    let (a, b) = (ring::reduce(a, bits) as u128, ring::reduce(b, bits) as u128);
    (
        wrap(a as u64, b as u64, bits),
        (a + b == (1u128 << bits) - 1) as u8,
    )
}

/// Boolean AND.
pub fn and(a: u8, b: u8) -> u8 {
    a & b & 1
}

/// B2A: the bit b as an element of Z_{2^ℓ}.
pub fn b2a(b: u8, _bits: u32) -> u64 {
    (b & 1) as u64
}

/// Multiplexer: x if b = 1, else 0 (in Z_{2^ℓ}).
pub fn mux(b: u8, x: u64, bits: u32) -> u64 {
    if b & 1 == 1 { ring::reduce(x, bits) } else { 0 }
}

/// How Block-ReLU treats one channel (Gorski, Jevnisek, Avidan, arXiv 2304.10442, §3): ph×pw
/// patches (tiled from the top-left, border patches smaller; 1×1 is ReLU), the identity (the
/// channel left linear, no comparison) or zero (the channel dropped). Written `2x3`,
/// `identity`, `zero` in plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Patch {
    Block(usize, usize),
    Identity,
    Zero,
}

impl Patch {
    /// Channel `ch`'s choice in a per-layer list: one entry serves every channel, else one per
    /// channel (`None` past the end).
    pub fn of_channel(patches: &[Patch], ch: usize) -> Option<Patch> {
        match patches {
            [one] => Some(*one),
            _ => patches.get(ch).copied(),
        }
    }

    /// The comparisons (DReLUs) this choice costs on one h×w channel.
    pub fn drelus(self, h: usize, w: usize) -> usize {
        match self {
            Patch::Block(ph, pw) => h.div_ceil(ph.max(1)) * w.div_ceil(pw.max(1)),
            Patch::Identity | Patch::Zero => 0,
        }
    }
}

impl std::fmt::Display for Patch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Patch::Block(h, w) => write!(f, "{h}x{w}"),
            Patch::Identity => f.write_str("identity"),
            Patch::Zero => f.write_str("zero"),
        }
    }
}

impl std::str::FromStr for Patch {
    type Err = String;
    fn from_str(s: &str) -> Result<Patch, String> {
        match s {
            "identity" => Ok(Patch::Identity),
            "zero" => Ok(Patch::Zero),
            _ => {
                let dims = s
                    .split_once('x')
                    .and_then(|(h, w)| Some((h.parse::<usize>().ok()?, w.parse::<usize>().ok()?)));
                match dims {
                    Some((h, w)) if h >= 1 && w >= 1 => Ok(Patch::Block(h, w)),
                    _ => Err(format!(
                        "`{s}` is not a patch (`HxW` with H, W ≥ 1, `identity` or `zero`)"
                    )),
                }
            }
        }
    }
}

impl TryFrom<String> for Patch {
    type Error = String;
    fn try_from(s: String) -> Result<Patch, String> {
        s.parse()
    }
}

impl From<Patch> for String {
    fn from(p: Patch) -> String {
        p.to_string()
    }
}

/// Where Block-ReLU sends each element: the patch whose DReLU decides it, or the element's
/// channel is the identity or zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Patch(usize),
    Identity,
    Zero,
}

/// A polynomial in Z_{2^ℓ}: out_i = Σ_k coeffs\[k\]·x_i^k mod 2^ℓ (x^0 = 1), by Horner's rule
/// in wrapping `u64` arithmetic (exact mod 2^ℓ for every ℓ ≤ 64). Coefficients and inputs are
/// ring elements (bits above ℓ are ignored); no coefficients is the zero polynomial. Pure ring
/// arithmetic: the compiler pre-scales the coefficients so the result lands at a fixed-point
/// scale.
pub fn poly(x: &[u64], coeffs: &[u64], bits: u32) -> Vec<u64> {
    x.iter()
        .map(|&v| {
            let acc = coeffs
                .iter()
                .rev()
                .fold(0u64, |acc, &c| acc.wrapping_mul(v).wrapping_add(c));
            ring::reduce(acc, bits)
        })
        .collect()
}

/// The patches of Block-ReLU on `samples` tensors of shape [C, H, W] with `patches` per channel
/// (one entry: every channel alike): each element's [`Slot`], and the number of patches.
/// Samples follow each other, their patches too. `None` when `patches` has neither 1 nor C
/// entries.
pub fn block_slots(
    shape: [usize; 3],
    patches: &[Patch],
    samples: usize,
) -> Option<(Vec<Slot>, usize)> {
    let [c, h, w] = shape;
    if patches.len() != 1 && patches.len() != c {
        return None;
    }
    let mut slots = Vec::with_capacity(samples * c * h * w);
    let mut m = 0;
    for _ in 0..samples {
        for ch in 0..c {
            match Patch::of_channel(patches, ch)? {
                Patch::Block(ph, pw) => {
                    let (ph, pw) = (ph.max(1), pw.max(1));
                    let nw = w.div_ceil(pw);
                    for i in 0..h {
                        for j in 0..w {
                            slots.push(Slot::Patch(m + (i / ph) * nw + j / pw));
                        }
                    }
                    m += h.div_ceil(ph) * nw;
                }
                Patch::Identity => slots.extend(std::iter::repeat_n(Slot::Identity, h * w)),
                Patch::Zero => slots.extend(std::iter::repeat_n(Slot::Zero, h * w)),
            }
        }
    }
    Some((slots, m))
}

/// The sums mod 2^ℓ of the `m` patches `slots` assigns the elements of `x` to.
pub fn patch_sums(x: &[u64], slots: &[Slot], m: usize, bits: u32) -> Vec<u64> {
    let mut sums = vec![0u64; m];
    for (&v, s) in x.iter().zip(slots) {
        if let Slot::Patch(k) = *s {
            sums[k] = ring::add(sums[k], v, bits);
        }
    }
    sums
}

/// Block-ReLU (Gorski, Jevnisek, Avidan, arXiv 2304.10442): each element of a patched channel
/// kept if the sum of its patch is positive — computed as DReLU(sum − 1) — else 0; identity
/// channels kept, zero channels 0. The sums are taken over `s`, the same values as `x` held in
/// a ring of `sum_bits` ≥ ℓ bits (sign-extended: the compiler takes them free from a wider
/// value x was narrowed from, so the sums do not wrap and x keeps its own format); `s` = `x`
/// with `sum_bits` = ℓ sums in x's ring. `x` holds `samples` tensors of `shape` back to back.
/// With 1×1 patches this is ReLU. `None` when `patches` has neither 1 nor C entries or `s`
/// is not as long as `x`.
pub fn block_relu(
    x: &[u64],
    s: &[u64],
    shape: [usize; 3],
    patches: &[Patch],
    bits: u32,
    sum_bits: u32,
) -> Option<Vec<u64>> {
    let per: usize = shape.iter().product();
    let samples = x.len() / per.max(1);
    if s.len() != x.len() {
        return None;
    }
    let (slots, m) = block_slots(shape, patches, samples)?;
    let sums = patch_sums(s, &slots, m, sum_bits);
    Some(
        x.iter()
            .zip(&slots)
            .map(|(&v, slot)| match *slot {
                Slot::Patch(k) => mux(drelu(ring::sub(sums[k], 1, sum_bits), sum_bits), v, bits),
                Slot::Identity => ring::reduce(v, bits),
                Slot::Zero => 0,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_values() {
        for bits in [1u32, 2, 7, 8, 16, 31, 32, 37, 63, 64] {
            let max_signed = ring::mask(bits) >> 1; // 2^(ℓ−1) − 1
            let min_signed = ring::mask(bits) ^ max_signed; // 2^(ℓ−1)
            let minus_one = ring::mask(bits);
            assert_eq!(msb(0, bits), 0);
            assert_eq!(msb(minus_one, bits), 1);
            assert_eq!(msb(min_signed, bits), 1);
            assert_eq!(msb(max_signed, bits), 0);
            assert_eq!(drelu(0, bits), 1);
            assert_eq!(relu(minus_one, bits), 0);
            assert_eq!(relu(max_signed, bits), max_signed);
            assert_eq!(wrap(minus_one, 1, bits), 1);
            assert_eq!(wrap(minus_one, 0, bits), 0);
            assert_eq!(wrap(minus_one, minus_one, bits), 1);
            assert_eq!(millionaire(minus_one, minus_one, bits), 0);
            assert_eq!(wrap_and_all_ones(minus_one, 0, bits), (0, 1));
            assert_eq!(wrap_and_all_ones(minus_one, 1, bits), (1, 0));
            assert_eq!(wrap_and_all_ones(max_signed, min_signed, bits), (0, 1));
            assert_eq!(millionaire(0, minus_one, bits), 1);
            assert_eq!(mux(1, minus_one, bits), minus_one);
            assert_eq!(mux(0, minus_one, bits), 0);
        }
        assert_eq!(and(1, 1), 1);
        assert_eq!(and(1, 0), 0);
        assert_eq!(b2a(1, 64), 1);
    }
}
