//! Boolean-share protocols: AND, Boolean-to-arithmetic conversion (B2A) and the multiplexer.
//!
//! - **AND** follows the bit-triple generation of CrypTFlow2 (Rathee et al., "CrypTFlow2:
//!   Practical 2-Party Secure Inference", CCS 2020, §3, the AND step of the millionaires'
//!   protocol: two triples per (16 choose 1)-OT with 2-bit messages). Because the inputs of a
//!   batch are already known, we run the same OT on the inputs themselves instead of on
//!   random triples: the client chooses with its two pairs of shares (x₁, y₁, x₁', y₁'), the
//!   server offers, for every possible choice v, ((x₀ ⊕ v_x)(y₀ ⊕ v_y) ⊕ r, …) with fresh
//!   random output shares r. Same bytes as a triple pair (2λ + 16·2 bits per two ANDs, 18 B
//!   per AND; SiRnn counts λ + 20 bits), no opening afterwards: 2 messages instead of 4.
//!   On silent OT, where a COT costs a choice bit, each cross term x₀y₁ and x₁y₀ is one
//!   1-bit COT instead (the server's share as correlation, the client's as choice): 4 bits
//!   per gate in the same 2 messages, as few as CrypTFlow2's triples from random OTs, which
//!   take an exchange per level.
//! - **B2A** is F_B2A as SiRnn uses it (§III-E, after CrypTFlow2: one COT): b = b₀ + b₁ −
//!   2·b₀b₁ over Z_{2^ℓ}; the product b₀b₁ is shared by one additive COT with the server as
//!   sender (correlation b₀, client's choice b₁). Since only 2·b₀b₁ matters, the COT works
//!   modulo 2^(ℓ−1): λ + ℓ − 1 bits. For ℓ = 1, B2A is the identity on shares (no
//!   communication).
//! - **MUX** is SiRnn's multiplexer (Rathee et al., "SiRnn: A Math Library for Secure RNN
//!   Inference", S&P 2021, Appendix A): for b = b₀ ⊕ b₁ and x = x₀ + x₁,
//!   b·x = b₀x₀ + b₁·(1 − 2b₀)x₀ + b₁x₁ + b₀·(1 − 2b₁)x₁, two COT_ℓ with reversed roles:
//!   2(λ + ℓ) bits. The two COTs are pipelined in 3 messages (first receiver's extension;
//!   first sender's correction together with the second extension; second correction),
//!   using the split halves of the OT engine; `first` picks who opens, so a preceding
//!   protocol's last message can carry the first extension (see `relu`).
//!
//! Security (semi-honest): every output share the sender keeps is fresh CSPRNG randomness;
//! every correlation is a fresh OT; the control flow depends only on public sizes.

use rand_core::RngCore;

use super::{Cost, Party, ProtoError, pack_bits};
use crate::net::Role;
use crate::ot::OtKind;
use crate::ot::cost as otc;
use crate::ring;

fn check_len(a: usize, b: usize, what: &str) -> Result<(), ProtoError> {
    if a != b {
        return Err(ProtoError::Argument(format!(
            "{what}: lengths differ ({a} vs {b})"
        )));
    }
    Ok(())
}

pub(crate) fn check_bits(bits: u32) -> Result<(), ProtoError> {
    if !(1..=64).contains(&bits) {
        return Err(ProtoError::Argument(format!("ℓ = {bits} is not in 1..=64")));
    }
    Ok(())
}

/// Fills `out` with fresh random bits (one per byte).
pub(crate) fn random_bits(p: &mut Party, out: &mut [u8]) {
    p.rng().fill_bytes(out);
    for b in out.iter_mut() {
        *b &= 1;
    }
}

/// The exact cost of [`and`] on `n` pairs of bits: on IKNP a (16 choose 1)-OT per two gates,
/// on silent OT two 1-bit COTs per gate (the same two flights).
pub fn and_cost(n: usize) -> Cost {
    Cost::per_engine(
        Cost::ot(Role::Server, otc::one_of_n(n.div_ceil(2), 16, 2)),
        Cost::ot(Role::Server, otc::cot(2 * n, 1)),
    )
}

/// Boolean AND of shared bits: this party's shares `x`, `y` (bits, one per byte) → its share
/// of x ∧ y. Two messages (client → server → client).
pub fn and(p: &mut Party, x: &[u8], y: &[u8]) -> Result<Vec<u8>, ProtoError> {
    check_len(x.len(), y.len(), "and")?;
    if p.ot_kind() == OtKind::Silent {
        return and_by_cots(p, x, y);
    }
    let n = x.len();
    let pairs = n.div_ceil(2);
    let bit = |v: &[u8], i: usize| -> u8 { v.get(i).map_or(0, |b| b & 1) };
    let mut z = vec![0u8; n];
    if p.is_server() {
        let mut r = vec![0u8; 2 * pairs];
        random_bits(p, &mut r);
        let mut msg = Vec::new();
        p.ot.one_of_n_send_deferred(
            &mut *p.io,
            16,
            2,
            pairs,
            |j, buf| {
                let (x0, y0, x1, y1) = (
                    bit(x, 2 * j),
                    bit(y, 2 * j),
                    bit(x, 2 * j + 1),
                    bit(y, 2 * j + 1),
                );
                let (r0, r1) = (r[2 * j], r[2 * j + 1]);
                for (v, m) in buf.iter_mut().enumerate() {
                    let v = v as u8;
                    let a = ((x0 ^ v) & (y0 ^ (v >> 1)) & 1) ^ r0;
                    let b = ((x1 ^ (v >> 2)) & (y1 ^ (v >> 3)) & 1) ^ r1;
                    *m = (a | (b << 1)) as u64;
                }
            },
            &mut msg,
        )?;
        p.io.send(&msg)?;
        z.copy_from_slice(&r[..n]);
    } else {
        let choices: Vec<u8> = (0..pairs)
            .map(|j| {
                bit(x, 2 * j) | bit(y, 2 * j) << 1 | bit(x, 2 * j + 1) << 2 | bit(y, 2 * j + 1) << 3
            })
            .collect();
        let mut out = vec![0u64; pairs];
        p.ot.one_of_n_recv_extend(&mut *p.io, 16, 2, &choices, &mut out)?;
        p.ot.one_of_n_recv_finish(&mut *p.io, 16, 2, &choices, &mut out)?;
        for (i, zi) in z.iter_mut().enumerate() {
            *zi = (out[i / 2] >> (i % 2)) as u8 & 1;
        }
    }
    Ok(z)
}

/// AND on silent OT: x ∧ y = x₀y₀ ⊕ x₁y₁ ⊕ x₀y₁ ⊕ x₁y₀, each cross term one 1-bit COT with the
/// server as sender (correlations x₀ and y₀, the client's choices y₁ and x₁): a COT costs a
/// choice bit and a correction bit on silent COTs, so 4 bits per gate against the 1-of-16 OT's
/// 18 (CrypTFlow2's bit triples from random OTs also take 4, in an exchange per level).
fn and_by_cots(p: &mut Party, x: &[u8], y: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let n = x.len();
    let mut t = vec![0u64; 2 * n];
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_server() {
        let corr: Vec<u64> = x.iter().chain(y).map(|&b| (b & 1) as u64).collect();
        let mut msg = Vec::new();
        p.ot.cot_send_deferred(&mut *p.io, 1, &corr, &mut t, &mut msg)?;
        p.io.send(&msg)?;
    } else {
        let mut choices = Vec::new();
        let c: Vec<u8> = y.iter().chain(x).copied().collect();
        pack_bits(&c, &mut choices);
        p.ot.cot_recv_extend(&mut *p.io, 1, &choices, &mut t)?;
        p.ot.cot_recv_finish(&mut *p.io, 1, &choices, &mut t)?;
    }
    Ok((0..n)
        .map(|i| (x[i] & y[i] & 1) ^ ((t[i] ^ t[n + i]) & 1) as u8)
        .collect())
}

/// The exact cost of [`b2a`] on `n` bits into Z_{2^ℓ}.
pub fn b2a_cost(n: usize, bits: u32) -> Cost {
    if bits <= 1 {
        return Cost::ZERO;
    }
    Cost::ot(Role::Server, otc::cot(n, bits - 1))
}

/// B2A: this party's Boolean shares `b` → its arithmetic shares of b in Z_{2^ℓ}. Two messages
/// (client → server → client); none for ℓ = 1.
pub fn b2a(p: &mut Party, b: &[u8], bits: u32) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    let n = b.len();
    if bits == 1 {
        return Ok(b.iter().map(|&v| (v & 1) as u64).collect());
    }
    let k = bits - 1;
    let mut t = vec![0u64; n];
    if p.is_server() {
        // Correlation b₀: the client gets a + b₁·b₀ (mod 2^(ℓ−1)), the server keeps −a.
        let corr: Vec<u64> = b.iter().map(|&v| (v & 1) as u64).collect();
        let mut msg = Vec::new();
        p.ot.cot_send_deferred(&mut *p.io, k, &corr, &mut t, &mut msg)?;
        p.io.send(&msg)?;
        // share = b₀ − 2·(−a) = b₀ + 2a
        Ok(b.iter()
            .zip(&t)
            .map(|(&v, &a)| ring::add((v & 1) as u64, a << 1, bits))
            .collect())
    } else {
        let mut choices = Vec::new();
        pack_bits(b, &mut choices);
        p.ot.cot_recv_extend(&mut *p.io, k, &choices, &mut t)?;
        p.ot.cot_recv_finish(&mut *p.io, k, &choices, &mut t)?;
        // share = b₁ − 2·(a + b₁b₀)
        Ok(b.iter()
            .zip(&t)
            .map(|(&v, &c)| ring::sub((v & 1) as u64, c << 1, bits))
            .collect())
    }
}

/// The exact cost of [`mux`] on `n` elements of Z_{2^ℓ} (either opening party).
pub fn mux_cost(n: usize, bits: u32) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    let c = otc::cot(n, bits);
    let b = Cost::ot(Role::Server, c).alongside(Cost::ot(Role::Client, c));
    b.in_rounds(3)
}

/// The exact cost of [`mux_vec`]: `groups` selections of `n` elements in all.
pub fn mux_vec_cost(groups: usize, n: usize, bits: u32) -> Cost {
    if groups == 0 {
        return Cost::ZERO;
    }
    let c = otc::cot_vec(groups, n, bits);
    let b = Cost::ot(Role::Server, c).alongside(Cost::ot(Role::Client, c));
    b.in_rounds(3)
}

/// Multiplexer of vectors: bit `b[j]` selects all `widths[j]` elements of group j (back to
/// back in `x`) — the product b·x of [`mux`] with one vector COT per group and direction
/// ([`crate::ot::OtEngine::cot_vec_send_deferred`]), so a group of k elements costs each
/// receiver one extension row instead of k (Block-ReLU's one selection per patch).
pub fn mux_vec(
    p: &mut Party,
    b: &[u8],
    widths: &[usize],
    x: &[u64],
    bits: u32,
    first: Role,
) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    check_len(b.len(), widths.len(), "mux_vec")?;
    check_len(widths.iter().sum(), x.len(), "mux_vec")?;
    let n = x.len();
    if widths.is_empty() {
        return Ok(Vec::new());
    }
    let m = ring::mask(bits);
    // Each element's selecting bit, spread over its group.
    let spread: Vec<u64> = b
        .iter()
        .zip(widths)
        .flat_map(|(&bj, &w)| std::iter::repeat_n(0u64.wrapping_sub((bj & 1) as u64), w))
        .collect();
    // As in `mux`: correlation (1 − 2b)·x as sender, b·corr' received.
    let corr: Vec<u64> = spread
        .iter()
        .zip(x)
        .map(|(&s, &xi)| (xi ^ s).wrapping_sub(s) & m)
        .collect();
    let mut choices = Vec::new();
    pack_bits(b, &mut choices);
    let mut sent = vec![0u64; n];
    let mut got = vec![0u64; n];
    let mut msg = Vec::new();
    if p.role == first {
        p.ot.cot_vec_recv_extend(&mut *p.io, bits, &choices, widths, &mut got)?;
        p.ot.cot_vec_recv_finish(&mut *p.io, bits, &choices, widths, &mut got)?;
        p.ot.cot_vec_send_deferred(&mut *p.io, bits, widths, &corr, &mut sent, &mut msg)?;
        p.io.send(&msg)?;
    } else {
        p.ot.cot_vec_send_deferred(&mut *p.io, bits, widths, &corr, &mut sent, &mut msg)?;
        p.io.send(&msg)?;
        p.ot.cot_vec_recv_extend(&mut *p.io, bits, &choices, widths, &mut got)?;
        p.ot.cot_vec_recv_finish(&mut *p.io, bits, &choices, widths, &mut got)?;
    }
    Ok((0..n)
        .map(|i| {
            let own = x[i] & spread[i];
            own.wrapping_sub(sent[i]).wrapping_add(got[i]) & m
        })
        .collect())
}

/// Multiplexer: this party's shares of a bit `b` (one per byte) and of `x` ∈ Z_{2^ℓ} → its
/// share of b·x. `first` sends the first message (its COT extension); three messages.
pub fn mux(
    p: &mut Party,
    b: &[u8],
    x: &[u64],
    bits: u32,
    first: Role,
) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    check_len(b.len(), x.len(), "mux")?;
    let n = x.len();
    let m = ring::mask(bits);
    // As COT sender: correlation (1 − 2b)·x; we keep −a. As receiver (choice = our b): we
    // get a' + b·corr'.
    let corr: Vec<u64> = b
        .iter()
        .zip(x)
        .map(|(&bi, &xi)| {
            // Branch-free conditional negation: s = −b (all ones or zero), (x ⊕ s) − s = ±x.
            let s = 0u64.wrapping_sub((bi & 1) as u64);
            (xi ^ s).wrapping_sub(s) & m
        })
        .collect();
    let mut choices = Vec::new();
    pack_bits(b, &mut choices);
    let mut sent = vec![0u64; n];
    let mut got = vec![0u64; n];
    let mut msg = Vec::new();
    if p.role == first {
        // We receive first: extension now, correction of the peer's COT after.
        p.ot.cot_recv_extend(&mut *p.io, bits, &choices, &mut got)?;
        p.ot.cot_recv_finish(&mut *p.io, bits, &choices, &mut got)?;
        p.ot.cot_send_deferred(&mut *p.io, bits, &corr, &mut sent, &mut msg)?;
        p.io.send(&msg)?;
    } else {
        p.ot.cot_send_deferred(&mut *p.io, bits, &corr, &mut sent, &mut msg)?;
        p.io.send(&msg)?;
        p.ot.cot_recv_extend(&mut *p.io, bits, &choices, &mut got)?;
        p.ot.cot_recv_finish(&mut *p.io, bits, &choices, &mut got)?;
    }
    Ok((0..n)
        .map(|i| {
            let own = x[i] & 0u64.wrapping_sub((b[i] & 1) as u64);
            own.wrapping_sub(sent[i]).wrapping_add(got[i]) & m
        })
        .collect())
}
