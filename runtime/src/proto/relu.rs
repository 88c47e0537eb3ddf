//! Comparison-derived protocols on arithmetic shares: wrap, MSB, DReLU and ReLU.
//!
//! - **Wrap** (SiRnn, Rathee et al., S&P 2021, §III-E: F_Wrap^ℓ(x, y) = F_Mill^ℓ(2^ℓ − 1 − x,
//!   y)): the carry of adding the two shares as unsigned ℓ-bit integers is
//!   1{2^ℓ − 1 − x₀ < x₁}, one millionaires' comparison of ℓ bits.
//! - **Wrap&All1s** (SiRnn App. B): the same comparison with the equality bit carried to the
//!   root, giving also 1{x₀ + x₁ = 2^ℓ − 1}; used by the exact logical shift (LRS, Lemma 1).
//! - **MSB** (CrypTFlow2, Rathee et al., CCS 2020, §3, DReLU over Z_{2^ℓ}; SiRnn App. C-2):
//!   MSB(x) = msb(x₀) ⊕ msb(x₁) ⊕ carry, where carry is the wrap of the low ℓ − 1 bits: one
//!   comparison of ℓ − 1 bits. DReLU = 1 ⊕ MSB (the server flips its share).
//! - **ReLU** (SiRnn's ReLU: MSB, then the multiplexer of [`super::bool::mux`] on DReLU and x):
//!   the multiplexer opens with the party that sent the comparison's last message, so its
//!   first OT extension travels in that message: rounds = comparison + 3 − 1.
//!
//! The comparison itself is [`super::millionaire`].

use super::bool::{check_bits, mux, mux_cost, mux_vec, mux_vec_cost};
use super::millionaire::{Tree, millionaire_eq_with, millionaire_with};
use super::{Cost, Party, ProtoError};
use crate::fixed::{Patch, Slot};
use crate::net::Role;
use crate::ring;

/// The exact cost of [`wrap`] on `n` elements of Z_{2^ℓ}.
pub fn wrap_cost(n: usize, bits: u32) -> Cost {
    Tree::new(bits).cost(n)
}

/// The millionaires' inputs of the wrap: x₀ + x₁ ≥ 2^ℓ exactly when 2^ℓ − 1 − x₀ < x₁, so the
/// server compares its complement with the client's share.
fn wrap_input(p: &Party, x: &[u64], bits: u32) -> Vec<u64> {
    let m = ring::mask(bits);
    if p.is_server() {
        x.iter().map(|&v| m ^ (v & m)).collect()
    } else {
        x.iter().map(|&v| v & m).collect()
    }
}

/// Wrap: this party's shares `x` → its Boolean share of 1{x₀ + x₁ ≥ 2^ℓ}.
pub fn wrap(p: &mut Party, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    wrap_with(p, &Tree::new(bits), x, bits)
}

/// [`wrap`] on a given comparison tree of `bits` bits.
pub fn wrap_with(p: &mut Party, tree: &Tree, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    check_bits(bits)?;
    let input = wrap_input(p, x, bits);
    millionaire_with(p, tree, &input)
}

/// The exact cost of [`wrap_and_all_ones`] on `n` elements of Z_{2^ℓ}.
pub fn wrap_and_all_ones_cost(n: usize, bits: u32) -> Cost {
    Tree::with_eq(bits, true).cost(n)
}

/// Wrap&All1s (SiRnn, S&P 2021, App. B: the millionaires' tree that also carries equality to
/// the root): this party's shares `x` → its Boolean shares of the wrap
/// w = 1{x₀ + x₁ ≥ 2^ℓ} and of e = 1{x₀ + x₁ = 2^ℓ − 1} (as integers), since
/// x₀ + x₁ = 2^ℓ − 1 exactly when 2^ℓ − 1 − x₀ = x₁.
pub fn wrap_and_all_ones(
    p: &mut Party,
    x: &[u64],
    bits: u32,
) -> Result<(Vec<u8>, Vec<u8>), ProtoError> {
    check_bits(bits)?;
    let input = wrap_input(p, x, bits);
    millionaire_eq_with(p, &Tree::with_eq(bits, true), &input)
}

/// The exact cost of [`msb`] (and [`drelu`]) on `n` elements of Z_{2^ℓ}.
pub fn msb_cost(n: usize, bits: u32) -> Cost {
    // Like every cost function, total for any `bits` (the protocols reject ℓ ∉ 1..=64).
    Tree::new(bits.saturating_sub(1)).cost(n)
}

/// MSB: this party's shares `x` ∈ Z_{2^ℓ} → its Boolean share of the most significant bit.
pub fn msb(p: &mut Party, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    check_bits(bits)?;
    msb_with(p, &Tree::new(bits - 1), x, bits)
}

fn msb_with(p: &mut Party, tree: &Tree, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    let low = ring::mask(bits - 1);
    let input: Vec<u64> = if p.is_server() {
        x.iter().map(|&v| low ^ (v & low)).collect()
    } else {
        x.iter().map(|&v| v & low).collect()
    };
    let mut carry = millionaire_with(p, tree, &input)?;
    for (c, &v) in carry.iter_mut().zip(x) {
        *c ^= ring::msb(v, bits) as u8;
    }
    Ok(carry)
}

/// DReLU: this party's shares `x` → its Boolean share of 1{x ≥ 0} (signed ℓ-bit x).
pub fn drelu(p: &mut Party, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    check_bits(bits)?;
    drelu_with(p, &Tree::new(bits - 1), x, bits)
}

/// DReLU on a prepared comparison tree: 1 − MSB, the server flipping its share.
fn drelu_with(p: &mut Party, tree: &Tree, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    let mut d = msb_with(p, tree, x, bits)?;
    if p.is_server() {
        for b in d.iter_mut() {
            *b ^= 1;
        }
    }
    Ok(d)
}

/// Who opens the multiplexer of ReLU: the party that sent the comparison's last message.
fn mux_opener(tree: &Tree) -> Role {
    if tree.nodes.is_empty() {
        Role::Client
    } else {
        tree.last_sender()
    }
}

/// The cost of DReLU alone on `n` signed ℓ-bit elements (the comparison on ℓ − 1 bits): what
/// Block-ReLU's patch choice changes.
pub fn drelu_cost(n: usize, bits: u32) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    Tree::new(bits.saturating_sub(1)).cost(n)
}

/// The cost of DReLU on `compared` elements followed by a multiplexer on `n`, the
/// multiplexer's first message sent with the comparison's last (ReLU, Block-ReLU).
fn drelu_then_mux_cost(compared: usize, n: usize, bits: u32) -> Cost {
    let tree = Tree::new(bits.saturating_sub(1));
    then_mux(tree.cost(compared), mux_cost(n, bits))
}

/// A comparison's cost `a` then a multiplexer's `b`, whose first message rides with the
/// comparison's last.
fn then_mux(a: Cost, b: Cost) -> Cost {
    a.then_joined(b, true)
}

/// The exact cost of [`relu`] on `n` elements of Z_{2^ℓ}.
pub fn relu_cost(n: usize, bits: u32) -> Cost {
    drelu_then_mux_cost(n, n, bits)
}

/// ReLU: this party's shares `x` → its shares of max(x, 0) (signed ℓ-bit x).
pub fn relu(p: &mut Party, x: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    let tree = Tree::new(bits - 1);
    let d = drelu_with(p, &tree, x, bits)?;
    mux(p, &d, x, bits, mux_opener(&tree))
}

/// The comparison tree of Block-ReLU's DReLUs on sums of `sum_bits`: the fewest bytes, since
/// there is one per patch rather than per element (hashing matters little).
fn sums_tree(sum_bits: u32) -> Tree {
    Tree::fewest_bytes(sum_bits.saturating_sub(1))
}

/// The cost of Block-ReLU's DReLUs alone on `n` patch sums of `sum_bits` bits.
pub fn patch_drelu_cost(n: usize, sum_bits: u32) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    sums_tree(sum_bits).cost(n)
}

/// The exact cost of [`block_relu`]: DReLU on the patch sums (in the sums' ring of
/// `sum_bits`), then one vector multiplexer per patch over its elements (its first message
/// merged with the comparison's last, as in ReLU); identity and zero channels are free.
/// `None` when `patches` has neither 1 nor C entries.
pub fn block_relu_cost(
    shape: [usize; 3],
    patches: &[Patch],
    samples: usize,
    bits: u32,
    sum_bits: u32,
) -> Option<Cost> {
    let (slots, m) = crate::fixed::block_slots(shape, patches, samples)?;
    let n = slots.iter().filter(|s| matches!(s, Slot::Patch(_))).count();
    if n == 0 {
        return Some(Cost::ZERO);
    }
    Some(then_mux(
        sums_tree(sum_bits).cost(m),
        mux_vec_cost(m, n, bits),
    ))
}

/// Block-ReLU (Gorski, Jevnisek, Avidan, "Securing neural networks with knapsack
/// optimization", arXiv 2304.10442, ported to two parties as their notes' §B.8 suggests): the
/// patch sums are local sums of shares of `s` (x held in a ring of `sum_bits`, wide enough
/// that the sums do not wrap), one DReLU (CrypTFlow2's comparison) per patch on sum − 1 (so a
/// zero sum zeroes the patch), and one selection per patch: a vector multiplexer
/// ([`mux_vec`]) whose one OT per direction carries all the patch's elements. Each channel
/// has its own patch shape, or is left linear (identity: shares copied) or dropped (zero):
/// all patches of all channels share one comparison batch, so the rounds are one ReLU's and
/// both the comparison and the selection's OT rows are per patch instead of per element.
/// `x` holds `samples` tensors of `shape` back to back; the result is
/// [`crate::fixed::block_relu`].
pub fn block_relu(
    p: &mut Party,
    x: &[u64],
    s: &[u64],
    shape: [usize; 3],
    patches: &[Patch],
    bits: u32,
    sum_bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    check_bits(sum_bits)?;
    let per: usize = shape.iter().product();
    if per == 0 || !x.len().is_multiple_of(per) || s.len() != x.len() {
        return Err(ProtoError::Argument(format!(
            "block_relu: {} elements (sums over {}) are not whole {shape:?} tensors",
            x.len(),
            s.len()
        )));
    }
    let Some((slots, m)) = crate::fixed::block_slots(shape, patches, x.len() / per) else {
        return Err(ProtoError::Argument(format!(
            "block_relu: {} patch choices for {} channels",
            patches.len(),
            shape[0]
        )));
    };
    let mut out: Vec<u64> = x
        .iter()
        .zip(&slots)
        .map(|(&v, s)| match s {
            Slot::Identity => ring::reduce(v, bits),
            _ => 0,
        })
        .collect();
    // The patched elements grouped by patch (a counting sort on the patch index).
    let mut widths = vec![0usize; m];
    for slot in &slots {
        if let Slot::Patch(k) = *slot {
            widths[k] += 1;
        }
    }
    if m == 0 {
        return Ok(out);
    }
    let mut next: Vec<usize> = widths
        .iter()
        .scan(0, |acc, &w| {
            let at = *acc;
            *acc += w;
            Some(at)
        })
        .collect();
    let n: usize = widths.iter().sum();
    let mut order = vec![0usize; n];
    for (i, slot) in slots.iter().enumerate() {
        if let Slot::Patch(k) = *slot {
            order[next[k]] = i;
            next[k] += 1;
        }
    }
    // Sums of shares are shares of the sums; sum − 1: the server subtracts the public 1.
    let mut sums = crate::fixed::patch_sums(s, &slots, m, sum_bits);
    if p.is_server() {
        for v in sums.iter_mut() {
            *v = ring::sub(*v, 1, sum_bits);
        }
    }
    let tree = sums_tree(sum_bits);
    let d = drelu_with(p, &tree, &sums, sum_bits)?;
    let xs: Vec<u64> = order.iter().map(|&i| x[i]).collect();
    let kept = mux_vec(p, &d, &widths, &xs, bits, mux_opener(&tree))?;
    for (&i, v) in order.iter().zip(kept) {
        out[i] = v;
    }
    Ok(out)
}
