//! Digit decomposition, DigDec^{ℓ,d} (SiRnn, Rathee et al., S&P 2021, §V-A, Alg. 6): shares of
//! an ℓ-bit x → shares of its digits, digit i in its own ring Z_{2^{dᵢ}}.
//!
//! Each party splits its share into digits locally; digit i of x is the sum of the two
//! parties' digits plus the carry out of the lower digits. For the lower digits, Wrap&All1s
//! gives wᵢ (the digit shares overflow) and eᵢ (they sum to all ones); the carry into digit
//! i + 1 is cᵢ₊₁ = wᵢ ⊕ (cᵢ ∧ eᵢ) (c₁ = w₀: a chain of ANDs, the ℓ/d term of the rounds).
//! The carries are converted to arithmetic shares (B2A) and added. With two digits only w₀
//! is needed, a plain Wrap (a single 1-of-2^d OT for d ≤ 8, see `mult::wrap_any`).
//!
//! The carries are returned too: the carry into digit i + 1 is the wrap of the shares of
//! x mod 2^{d₀+…+dᵢ}, which later multiplications of a low digit reuse instead of running
//! another Wrap.

use super::bool::{and, and_cost, b2a, b2a_cost};
use super::mult::{or_merging_tree, wrap_any_cost, wrap_before_client};
use super::relu::{wrap_and_all_ones, wrap_and_all_ones_cost};
use super::{Cost, Party, ProtoError};
use crate::ring;

/// The digits of x and the carries between them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digits {
    /// `digits[i][e]`: this party's share of digit i of element e, in Z_{2^{widths[i]}}.
    pub digits: Vec<Vec<u64>>,
    /// `carries[i][e]`: this party's Boolean share of the carry into digit i + 1.
    pub carries: Vec<Vec<u8>>,
}

/// Checks a digit layout: widths ≥ 1 summing to at most 64; with three or more digits, all
/// but the last are equal (their Wrap&All1s run as one batch).
pub fn check_widths(widths: &[u32]) -> Result<(), ProtoError> {
    let total: u32 = widths.iter().sum();
    let uniform = widths.len() < 3 || widths[..widths.len() - 1].iter().all(|&w| w == widths[0]);
    if widths.is_empty() || widths.contains(&0) || total > 64 || !uniform {
        return Err(ProtoError::Argument(format!(
            "digit widths {widths:?}: need 1..=64 bits in total, the lower digits equal"
        )));
    }
    Ok(())
}

/// The exact cost of [`digdec`] on `len` elements.
pub fn digdec_cost(len: usize, widths: &[u32]) -> Cost {
    let c = widths.len();
    if c < 2 || len == 0 {
        return Cost::ZERO;
    }
    let d = widths[0];
    let b2a = b2a_cost(len * (c - 1), carry_ring(widths));
    if c == 2 {
        // On silent OT the wrap may be a tree whose last flight B2A's first joins.
        return or_merging_tree(len, d, b2a, wrap_any_cost(len, d).0.then(b2a));
    }
    let mut k = wrap_and_all_ones_cost(len * (c - 1), d);
    for _ in 0..c - 2 {
        k = k.then(and_cost(len));
    }
    k.then(b2a)
}

/// The ring the carries are converted into: the widest upper digit.
fn carry_ring(widths: &[u32]) -> u32 {
    widths[1..].iter().copied().max().unwrap_or(1)
}

/// DigDec: this party's shares of x (the low Σdᵢ bits are used) → its shares of the digits.
pub fn digdec(p: &mut Party, x: &[u64], widths: &[u32]) -> Result<Digits, ProtoError> {
    check_widths(widths)?;
    let c = widths.len();
    let len = x.len();
    let mut off = 0;
    let mut digits: Vec<Vec<u64>> = widths
        .iter()
        .map(|&w| {
            let d = x.iter().map(|&v| ring::reduce(v >> off, w)).collect();
            off += w;
            d
        })
        .collect();
    if c == 1 || len == 0 {
        return Ok(Digits {
            digits,
            carries: vec![Vec::new(); c.saturating_sub(1)],
        });
    }
    let d = widths[0];
    let then_client = b2a_cost(len, carry_ring(widths)).rounds > 0;
    let carries: Vec<Vec<u8>> = if c == 2 {
        let (w, merged) = wrap_before_client(p, &digits[0], d, then_client)?;
        // Each step is flushed on its own so the flights are the sum of the steps', except a
        // merging tree's last flight, which B2A's first joins.
        if !merged {
            p.io.end_flight()?;
        }
        vec![w]
    } else {
        let low: Vec<u64> = digits[..c - 1].concat();
        let (w, e) = wrap_and_all_ones(p, &low, d)?;
        p.io.end_flight()?;
        let mut carries = vec![w[..len].to_vec()];
        for i in 1..c - 1 {
            let t = and(p, &carries[i - 1], &e[i * len..(i + 1) * len])?;
            p.io.end_flight()?;
            let next = t
                .iter()
                .zip(&w[i * len..(i + 1) * len])
                .map(|(a, b)| a ^ b)
                .collect();
            carries.push(next);
        }
        p.io.end_flight()?;
        carries
    };
    let arith = b2a(p, &carries.concat(), carry_ring(widths))?;
    for (i, digit) in digits.iter_mut().enumerate().skip(1) {
        let a = &arith[(i - 1) * len..i * len];
        for (v, &ca) in digit.iter_mut().zip(a) {
            *v = ring::add(*v, ca, widths[i]);
        }
    }
    Ok(Digits { digits, carries })
}
