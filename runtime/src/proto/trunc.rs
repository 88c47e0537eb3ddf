//! Exact truncation of arithmetic shares, following SiRnn (Rathee, Rathee, Goli, Gupta,
//! Sharma, Chandran, Rastogi, "SiRnn: A Math Library for Secure RNN Inference", IEEE S&P
//! 2021, §IV-B). Write each share x_b = 2^s·u_b + v_b (u_b the high ℓ − s bits, v_b the low s).
//!
//! - **TR^{ℓ,s}** (truncate-and-reduce into Z_{2^{ℓ−s}}): ⌊x / 2^s⌋ mod 2^{ℓ−s} =
//!   u₀ + u₁ + c with c = Wrap^s(v₀, v₁): one s-bit comparison and a B2A into ℓ − s bits
//!   (Algorithm 2 without steps 3–7).
//! - **LRS^{ℓ,s}** (Algorithm 2, same ring): ⌊x / 2^s⌋ = u₀ + u₁ + c − 2^{ℓ−s}·w, where w is
//!   the wrap of x₀ + x₁ in ℓ bits. By Lemma 1, w = d ⊕ (c ∧ e) with (d, e) =
//!   Wrap&All1s^{ℓ−s}(u₀, u₁) ([`super::relu::wrap_and_all_ones`]), so no ℓ-bit comparison is
//!   needed. Steps 5–7 (the AND and the two B2As) are one (8 choose 1)-OT_ℓ whose receiver
//!   chooses with its shares of (c, d, e) and whose messages are arithmetic shares of
//!   c − 2^{ℓ−s}·w mod 2^ℓ: 2λ + 8ℓ bits, one flight after the comparisons.
//! - **ARS^{ℓ,s}** (§IV-B): ARS(x) = LRS(x + 2^{ℓ−1}) − 2^{ℓ−s−1} (constants added by the
//!   server).
//! - **⋆LRS, ⋆ARS** (MSB of x known, public or Boolean-shared; Table V ⋆ rows, §IV-E): w comes
//!   from MSB-to-Wrap (one COT_s, or one (4 choose 1)-OT_s when the MSB is shared) instead of
//!   Wrap&All1s and the AND; it runs in the same flights as the B2A of c (COT_ℓ).
//! - **Rounding to nearest**: adding the public 2^{s−1} first (free), then ARS.
//!
//! All results are exact (no probabilistic ±1 error). The conversion OTs are received by the
//! party that sent the preceding comparison's last message, their extension riding in that
//! message (see [`super::ext`]); two comparisons in a row share a flight when the first ends
//! with the client (who opens every comparison).
//!
//! Security (semi-honest): fresh OTs throughout (no correlation reused); masks from
//! [`Party::rng`] or fresh OT pads; control flow depends only on ℓ, s and the length.

use super::bool::check_bits;
use super::ext::{
    KnownMsb, Req, add_public, b2a_by, b2a_by_cost, batch_cost, flip_msb, msb_to_wrap_req,
    msb_to_wrap_shape, run_batch, seq,
};
use super::millionaire::Tree;
use super::relu::{wrap, wrap_and_all_ones, wrap_and_all_ones_cost, wrap_cost};
use super::{Cost, Party, ProtoError};
use crate::net::Role;
use crate::ot::OtKind;
use crate::ring;

fn check_shift(bits: u32, s: u32) -> Result<(), ProtoError> {
    check_bits(bits)?;
    if s >= bits {
        return Err(ProtoError::Argument(format!(
            "shift {s} is not below ℓ = {bits}"
        )));
    }
    Ok(())
}

/// Splits this party's shares into (high ℓ − s bits, low s bits).
fn split(x: &[u64], bits: u32, s: u32) -> (Vec<u64>, Vec<u64>) {
    x.iter()
        .map(|&v| {
            let v = ring::reduce(v, bits);
            (v >> s, v & ring::mask(s))
        })
        .unzip()
}

/// The exact cost of [`trunc_reduce`] on `n` elements.
pub fn trunc_reduce_cost(n: usize, bits: u32, s: u32) -> Cost {
    if n == 0 || s == 0 || s >= bits {
        return Cost::ZERO;
    }
    let last = Tree::new(s).last_sender();
    seq(wrap_cost(n, s), last, b2a_by_cost(n, last, bits - s), last)
}

/// TR^{ℓ,s}: this party's shares of x ∈ Z_{2^ℓ} → its shares of ⌊x / 2^s⌋ in Z_{2^{ℓ−s}}
/// (0 ≤ s < ℓ).
pub fn trunc_reduce(p: &mut Party, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    let (u, v) = split(x, bits, s);
    if s == 0 || x.is_empty() {
        return Ok(u);
    }
    let k = bits - s;
    let last = Tree::new(s).last_sender();
    let c = wrap(p, &v, s)?;
    let ca = b2a_by(p, last, &c, k)?;
    Ok(u.iter()
        .zip(&ca)
        .map(|(&a, &b)| ring::add(a, b, k))
        .collect())
}

/// The exact cost of [`lrs`] (and [`ars`]) on `n` elements.
pub fn lrs_cost(n: usize, bits: u32, s: u32) -> Cost {
    if n == 0 || s == 0 || s >= bits {
        return Cost::ZERO;
    }
    let (p1, p2) = (Tree::new(s), Tree::with_eq(bits - s, true));
    let (l1, l2) = (p1.last_sender(), p2.last_sender());
    let cmp = seq(
        wrap_cost(n, s),
        l1,
        wrap_and_all_ones_cost(n, bits - s),
        Role::Client,
    );
    seq(cmp, l2, batch_cost(n, l2, &[(8, bits)]), l2)
}

/// LRS^{ℓ,s} (SiRnn Algorithm 2): this party's shares of x ∈ Z_{2^ℓ} → its shares of
/// ⌊x / 2^s⌋ (x unsigned) in Z_{2^ℓ} (0 ≤ s < ℓ).
pub fn lrs(p: &mut Party, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    let (u, v) = split(x, bits, s);
    if s == 0 || x.is_empty() {
        return Ok(u);
    }
    let n = x.len();
    let l2 = Tree::with_eq(bits - s, true).last_sender();
    let c = wrap(p, &v, s)?;
    let (d, e) = wrap_and_all_ones(p, &u, bits - s)?;
    let hi = bits - s;
    // g(c, d, e) = c − 2^{ℓ−s}·(d ⊕ (c ∧ e)) mod 2^ℓ.
    let g = |c: u8, d: u8, e: u8| -> u64 {
        let w = (d ^ (c & e)) & 1;
        ring::sub(c as u64, (w as u64) << hi, bits)
    };
    let req = if p.role == l2 {
        Req {
            choices: 8,
            bits,
            index: (0..n).map(|i| c[i] | d[i] << 1 | e[i] << 2).collect(),
            table: Vec::new(),
        }
    } else {
        Req {
            choices: 8,
            bits,
            index: Vec::new(),
            table: (0..n)
                .flat_map(|i| {
                    let (cs, ds, es) = (c[i], d[i], e[i]);
                    (0..8u8).map(move |t| g(cs ^ (t & 1), ds ^ ((t >> 1) & 1), es ^ (t >> 2)))
                })
                .collect(),
        }
    };
    let gs = run_batch(p, l2, n, &[req])?.pop().unwrap_or_default();
    Ok(u.iter()
        .zip(&gs)
        .map(|(&a, &b)| ring::add(a, b, bits))
        .collect())
}

/// The exact cost of [`ars`]: [`lrs`]'s, or on silent OT TR then SExt's where that costs less.
pub fn ars_cost(n: usize, bits: u32, s: u32) -> Cost {
    let lrs = lrs_cost(n, bits, s);
    match ars_by_extension(n, bits, s, lrs) {
        Some(tr_sext) => Cost::per_engine(lrs, tr_sext),
        None => lrs,
    }
}

/// The cost of TR^{ℓ,s} followed by SExt^{ℓ−s,ℓ}: the SExt's first message (the client's)
/// joins TR's last where the client sends it (it knows its share of TR's result then).
fn tr_sext_cost(n: usize, bits: u32, s: u32) -> Cost {
    let last = Tree::new(s).last_sender();
    // TR's B2A is received by `last` (its extension rides the comparison's last message) and
    // ends with the sender's corrections; into one bit it is free.
    let tr_last = if bits - s > 1 { last.peer() } else { last };
    seq(
        trunc_reduce_cost(n, bits, s),
        tr_last,
        super::ext::sext_cost(n, bits - s, bits),
        Role::Client,
    )
}

/// TR then SExt's cost where silent OT runs ARS that way (`lrs`: LRS's cost): where the two
/// comparisons' trees and the two B2As of (ℓ − s) and s bits send less than LRS's (8 choose
/// 1)-OT of ℓ-bit messages and its comparison with equality, by bytes plus
/// [`super::millionaire::FLIGHT_BYTES`] per flight (both parties decide from public sizes).
fn ars_by_extension(n: usize, bits: u32, s: u32, lrs: Cost) -> Option<Cost> {
    if n == 0 || s == 0 || s >= bits {
        return None;
    }
    let price = |c: Cost| {
        let c = c.on(OtKind::Silent);
        c.total_bytes() + super::millionaire::FLIGHT_BYTES * c.rounds
    };
    let tr_sext = tr_sext_cost(n, bits, s);
    (price(tr_sext) < price(lrs)).then_some(tr_sext)
}

/// ARS^{ℓ,s} (SiRnn §IV-B): this party's shares of signed x ∈ Z_{2^ℓ} → its shares of
/// ⌊x / 2^s⌋ (rounding toward −∞) in Z_{2^ℓ}. On silent OT, where it costs less
/// ([`ars_cost`]), as SExt^{ℓ−s,ℓ}(TR^{ℓ,s}(x)) (SiRnn §IV-B's ARS by truncate-and-reduce then
/// extension: ⌊x/2^s⌋ of the signed x fits ℓ − s signed bits and agrees with TR's result
/// mod 2^{ℓ−s}).
pub fn ars(p: &mut Party, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    if p.ot_kind() == OtKind::Silent
        && ars_by_extension(x.len(), bits, s, lrs_cost(x.len(), bits, s)).is_some()
    {
        let t = trunc_reduce(p, x, bits, s)?;
        return super::ext::sext(p, &t, bits - s, bits);
    }
    let mut xs = x.to_vec();
    add_public(p, &mut xs, 1u64 << (bits - 1), bits);
    let mut y = lrs(p, &xs, bits, s)?;
    add_public(
        p,
        &mut y,
        ring::reduce((1u64 << (bits - 1 - s)).wrapping_neg(), bits),
        bits,
    );
    Ok(y)
}

/// ARS rounding to nearest (ties toward +∞): ARS(x + 2^{s−1}); the addition is free.
pub fn ars_round(p: &mut Party, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    let mut xs = x.to_vec();
    if s > 0 {
        add_public(p, &mut xs, 1u64 << (s - 1), bits);
    }
    ars(p, &xs, bits, s)
}

/// The exact cost of [`lrs_known_msb`] / [`ars_known_msb`] on `n` elements.
pub fn lrs_known_msb_cost(n: usize, bits: u32, s: u32, shared: bool) -> Cost {
    if n == 0 || s == 0 || s >= bits {
        return Cost::ZERO;
    }
    let l1 = Tree::new(s).last_sender();
    seq(
        wrap_cost(n, s),
        l1,
        batch_cost(n, l1, &[(2, bits), msb_to_wrap_shape(shared, s)]),
        l1,
    )
}

/// ⋆LRS^{ℓ,s}: LRS when the MSB of x is known (public or Boolean-shared): the full-ring wrap
/// by MSB-to-Wrap (SiRnn §IV-E) in the same flights as the B2A of the low wrap c.
pub fn lrs_known_msb(
    p: &mut Party,
    x: &[u64],
    bits: u32,
    s: u32,
    msb: KnownMsb<'_>,
) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    let n = x.len();
    let mb = match msb {
        KnownMsb::Public(b) | KnownMsb::Shared(b) => b,
    };
    if mb.len() != n {
        return Err(ProtoError::Argument(format!(
            "{} MSB bits for {n} elements",
            mb.len()
        )));
    }
    let (u, v) = split(x, bits, s);
    if s == 0 || n == 0 {
        return Ok(u);
    }
    let l1 = Tree::new(s).last_sender();
    let c = wrap(p, &v, s)?;
    let me_recv = p.role == l1;
    let xr: Vec<u64> = x.iter().map(|&t| ring::reduce(t, bits)).collect();
    let c_req = if me_recv {
        Req {
            choices: 2,
            bits,
            index: c.clone(),
            table: Vec::new(),
        }
    } else {
        Req {
            choices: 2,
            bits,
            index: Vec::new(),
            table: c
                .iter()
                .flat_map(|&b| [(b & 1) as u64, ((b & 1) ^ 1) as u64])
                .collect(),
        }
    };
    let w_req = msb_to_wrap_req(&xr, bits, msb, s, me_recv);
    let mut outs = run_batch(p, l1, n, &[c_req, w_req])?;
    let w = outs.pop().unwrap_or_default();
    let ca = outs.pop().unwrap_or_default();
    let hi = bits - s;
    Ok((0..n)
        .map(|i| ring::sub(ring::add(u[i], ca[i], bits), w[i] << hi, bits))
        .collect())
}

/// ⋆ARS^{ℓ,s}: ARS when the MSB of x is known (public or Boolean-shared).
pub fn ars_known_msb(
    p: &mut Party,
    x: &[u64],
    bits: u32,
    s: u32,
    msb: KnownMsb<'_>,
) -> Result<Vec<u64>, ProtoError> {
    check_shift(bits, s)?;
    let mut xs = x.to_vec();
    add_public(p, &mut xs, 1u64 << (bits - 1), bits);
    let flipped = flip_msb(p, msb);
    let fm = match msb {
        KnownMsb::Public(_) => KnownMsb::Public(&flipped),
        KnownMsb::Shared(_) => KnownMsb::Shared(&flipped),
    };
    let mut y = lrs_known_msb(p, &xs, bits, s, fm)?;
    add_public(
        p,
        &mut y,
        ring::reduce((1u64 << (bits - 1 - s)).wrapping_neg(), bits),
        bits,
    );
    Ok(y)
}
