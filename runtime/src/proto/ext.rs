//! Zero and sign extension of arithmetic shares from Z_{2^m} to Z_{2^n}, exact, following
//! SiRnn (Rathee, Rathee, Goli, Gupta, Sharma, Chandran, Rastogi, "SiRnn: A Math Library for
//! Secure RNN Inference", IEEE S&P 2021).
//!
//! - **ZExt^{m,n}** (§IV-A, Algorithm 1): with x₀ + x₁ = x + 2^m·w over the integers,
//!   w = Wrap^m(x₀, x₁) (one m-bit millionaires' comparison, [`super::relu::wrap`]), the
//!   zero-extended value is x₀ + x₁ − 2^m·w in Z_{2^n}; only w mod 2^{n−m} matters, so the
//!   wrap bit is converted to arithmetic shares of n − m bits (B2A; free for n − m = 1).
//! - **SExt^{m,n}** (§IV-A): SExt(x) = ZExt(x + 2^{m−1}) − 2^{m−1}; both constants are added
//!   by the server alone.
//! - **⋆ZExt, ⋆SExt** (Table V's ⋆ rows, §IV-E "MSB-to-Wrap"): when the MSB m_x of x is known,
//!   w = ((1 ⊕ m_x) ∧ (m₀ ⊕ m₁)) ⊕ (m₀ ∧ m₁) with m_b the MSB of share b, so no comparison
//!   is needed. With m_x public this is a function of one bit of each party: one additive
//!   correlated OT (COT_{n−m}, λ + (n − m) bits, the (2 choose 1)-OT of §IV-E with the B2A
//!   folded in). With m_x in Boolean shares, one (4 choose 1)-OT_{n−m} (KK13) whose messages
//!   are already arithmetic shares of w (2λ + 4(n − m) bits): no separate B2A.
//!
//! Flights: the conversion OT's receiver is the party that sent the comparison's last
//! message (it keeps random output shares, so it knows its wrap share at once); its OT
//! extension travels in that message, so the conversion adds one flight (the sender's
//! corrections). Costs, exact per party: [`zext_cost`], [`sext_cost`], [`ext_known_msb_cost`].
//!
//! Security (semi-honest): every OT is fresh (no correlation is reused); every output share
//! the OT sender keeps is either fresh CSPRNG randomness or a fresh OT pad; the control flow
//! depends only on the public sizes.

use rand_core::RngCore;

use super::bool::check_bits;
use super::millionaire::Tree;
use super::relu::{wrap, wrap_cost};
use super::{Cost, Party, ProtoError, pack_bits};
use crate::net::Role;
use crate::ot::cost as otc;
use crate::ring;

/// What is known about the MSB of the input, for the ⋆ variants.
#[derive(Clone, Copy, Debug)]
pub enum KnownMsb<'a> {
    /// Public bits (both parties pass the same vector).
    Public(&'a [u8]),
    /// This party's Boolean shares of the MSB.
    Shared(&'a [u8]),
}

impl KnownMsb<'_> {
    fn bits(&self) -> &[u8] {
        match self {
            KnownMsb::Public(b) | KnownMsb::Shared(b) => b,
        }
    }
}

/// One OT of a batch whose messages are arithmetic shares of f(sender's index, receiver's
/// index) mod 2^bits. `choices` = N (2 runs as an additive COT, otherwise a KK13 1-of-N OT).
pub(crate) struct Req {
    pub choices: usize,
    pub bits: u32,
    /// The receiver's index per element (< `choices`); empty on the sender's side.
    pub index: Vec<u8>,
    /// The sender's table, `choices` values per element (f(own, v) for v = 0..N); empty on
    /// the receiver's side.
    pub table: Vec<u64>,
}

/// The exact cost of a [`run_batch`] of OTs of shapes (N, bits) on `n` elements, received by
/// `recv`, run on their own (two flights).
pub(crate) fn batch_cost(n: usize, recv: Role, shapes: &[(usize, u32)]) -> Cost {
    let sender = recv.peer();
    shapes.iter().fold(Cost::ZERO, |c, &(k, bits)| {
        let o = if k == 2 {
            otc::cot(n, bits)
        } else {
            otc::one_of_n(n, k, bits)
        };
        c.alongside(Cost::ot(sender, o))
    })
}

/// `a` followed by `b`, where `a`'s last message is sent by `a_last` and `b`'s first by
/// `b_first`: when they are the same party both travel in one flight.
pub(crate) fn seq(a: Cost, a_last: Role, b: Cost, b_first: Role) -> Cost {
    a.then_joined(b, a_last == b_first)
}

/// Runs the OTs of `reqs` on `n` elements in the same two flights, `recv` receiving (its
/// extensions are queued behind whatever it has queued, e.g. a comparison's last message).
/// Returns this party's arithmetic shares (mod 2^bits) of each OT's function. The sender's
/// corrections are left queued.
pub(crate) fn run_batch(
    p: &mut Party,
    recv: Role,
    n: usize,
    reqs: &[Req],
) -> Result<Vec<Vec<u64>>, ProtoError> {
    let mut outs: Vec<Vec<u64>> = reqs.iter().map(|_| vec![0u64; n]).collect();
    if n == 0 {
        return Ok(outs);
    }
    if p.role == recv {
        let mut packed: Vec<Vec<u8>> = Vec::with_capacity(reqs.len());
        for (r, out) in reqs.iter().zip(outs.iter_mut()) {
            if r.choices == 2 {
                let mut c = Vec::new();
                pack_bits(&r.index, &mut c);
                p.ot.cot_recv_extend(&mut *p.io, r.bits, &c, out)?;
                packed.push(c);
            } else {
                p.ot.one_of_n_recv_extend(&mut *p.io, r.choices, r.bits, &r.index, out)?;
                packed.push(Vec::new());
            }
        }
        for ((r, out), c) in reqs.iter().zip(outs.iter_mut()).zip(&packed) {
            if r.choices == 2 {
                // a + v·(f(s,1) − f(s,0))
                p.ot.cot_recv_finish(&mut *p.io, r.bits, c, out)?;
            } else {
                // f(s, v) − r
                p.ot.one_of_n_recv_finish(&mut *p.io, r.choices, r.bits, &r.index, out)?;
            }
        }
    } else {
        let mut msg = Vec::new();
        for (r, out) in reqs.iter().zip(outs.iter_mut()) {
            let m = ring::mask(r.bits);
            if r.choices == 2 {
                let corr: Vec<u64> = (0..n)
                    .map(|j| r.table[2 * j + 1].wrapping_sub(r.table[2 * j]) & m)
                    .collect();
                p.ot.cot_send_deferred(&mut *p.io, r.bits, &corr, out, &mut msg)?;
                // Our share: f(s, 0) − a.
                for (j, o) in out.iter_mut().enumerate() {
                    *o = r.table[2 * j].wrapping_sub(*o) & m;
                }
            } else {
                let k = r.choices;
                for o in out.iter_mut() {
                    *o = p.rng().next_u64() & m;
                }
                let mask_of = &*out;
                p.ot.one_of_n_send_deferred(
                    &mut *p.io,
                    k,
                    r.bits,
                    n,
                    |j, buf| {
                        for (v, b) in buf.iter_mut().enumerate() {
                            *b = r.table[k * j + v].wrapping_sub(mask_of[j]) & m;
                        }
                    },
                    &mut msg,
                )?;
            }
        }
        p.io.send(&msg)?;
    }
    Ok(outs)
}

/// B2A of Boolean shares `b` into Z_{2^k} as one COT request (`me_recv`: whether this party
/// receives).
fn b2a_req(b: &[u8], k: u32, me_recv: bool) -> Req {
    if me_recv {
        Req {
            choices: 2,
            bits: k,
            index: b.iter().map(|&v| v & 1).collect(),
            table: Vec::new(),
        }
    } else {
        Req {
            choices: 2,
            bits: k,
            index: Vec::new(),
            table: b
                .iter()
                .flat_map(|&v| [(v & 1) as u64, ((v & 1) ^ 1) as u64])
                .collect(),
        }
    }
}

/// B2A with `recv` as the COT receiver (so it can follow a comparison whose last message
/// `recv` sent); identity for k = 1.
pub(crate) fn b2a_by(p: &mut Party, recv: Role, b: &[u8], k: u32) -> Result<Vec<u64>, ProtoError> {
    if k == 1 {
        return Ok(b.iter().map(|&v| (v & 1) as u64).collect());
    }
    let req = b2a_req(b, k, p.role == recv);
    Ok(run_batch(p, recv, b.len(), &[req])?
        .pop()
        .unwrap_or_default())
}

/// The cost of [`b2a_by`] on its own.
pub(crate) fn b2a_by_cost(n: usize, recv: Role, k: u32) -> Cost {
    if k <= 1 {
        return Cost::ZERO;
    }
    batch_cost(n, recv, &[(2, k)])
}

/// MSB-to-Wrap (SiRnn §IV-E): the wrap of the two `bits`-bit shares from their MSBs and the
/// known MSB of x, as one OT request yielding shares mod 2^k.
pub(crate) fn msb_to_wrap_req(
    x: &[u64],
    bits: u32,
    msb: KnownMsb<'_>,
    k: u32,
    me_recv: bool,
) -> Req {
    let own = |i: usize| ring::msb(x[i], bits) as u8;
    let wrap_of = |mx: u8, s: u8, v: u8| -> u64 { ((s & v) ^ ((1 ^ mx) & (s ^ v))) as u64 & 1 };
    let n = x.len();
    match msb {
        KnownMsb::Public(mb) => {
            if me_recv {
                Req {
                    choices: 2,
                    bits: k,
                    index: (0..n).map(own).collect(),
                    table: Vec::new(),
                }
            } else {
                Req {
                    choices: 2,
                    bits: k,
                    index: Vec::new(),
                    table: (0..n)
                        .flat_map(|i| {
                            let (mx, s) = (mb[i] & 1, own(i));
                            [wrap_of(mx, s, 0), wrap_of(mx, s, 1)]
                        })
                        .collect(),
                }
            }
        }
        KnownMsb::Shared(mb) => {
            if me_recv {
                Req {
                    choices: 4,
                    bits: k,
                    index: (0..n).map(|i| own(i) | (mb[i] & 1) << 1).collect(),
                    table: Vec::new(),
                }
            } else {
                Req {
                    choices: 4,
                    bits: k,
                    index: Vec::new(),
                    table: (0..n)
                        .flat_map(|i| {
                            let (mx0, s) = (mb[i] & 1, own(i));
                            (0..4u8).map(move |v| wrap_of(mx0 ^ (v >> 1), s, v & 1))
                        })
                        .collect(),
                }
            }
        }
    }
}

/// The (N, bits) shape of an MSB-to-Wrap request.
pub(crate) fn msb_to_wrap_shape(shared: bool, k: u32) -> (usize, u32) {
    (if shared { 4 } else { 2 }, k)
}

fn check_ext(m: u32, n: u32) -> Result<(), ProtoError> {
    check_bits(m)?;
    check_bits(n)?;
    if n < m {
        return Err(ProtoError::Argument(format!(
            "extension from {m} to {n} bits narrows"
        )));
    }
    Ok(())
}

/// The exact cost of [`zext`] on `len` elements, m → n bits.
pub fn zext_cost(len: usize, m: u32, n: u32) -> Cost {
    if len == 0 || n <= m || m == 0 {
        return Cost::ZERO;
    }
    let tree = Tree::new(m);
    let w = wrap_cost(len, m);
    let last = tree.last_sender();
    seq(w, last, b2a_by_cost(len, last, n - m), last)
}

/// The exact cost of [`sext`] (same as [`zext`]).
pub fn sext_cost(len: usize, m: u32, n: u32) -> Cost {
    zext_cost(len, m, n)
}

/// ZExt^{m,n} (SiRnn Algorithm 1): this party's shares of the m-bit x → its shares of x as
/// an unsigned integer in Z_{2^n}.
pub fn zext(p: &mut Party, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
    check_ext(m, n)?;
    let xm: Vec<u64> = x.iter().map(|&v| ring::reduce(v, m)).collect();
    if x.is_empty() || n == m {
        return Ok(xm);
    }
    let last = Tree::new(m).last_sender();
    let w = wrap(p, &xm, m)?;
    let wa = b2a_by(p, last, &w, n - m)?;
    Ok(xm
        .iter()
        .zip(&wa)
        .map(|(&v, &wb)| ring::sub(v, wb << m, n))
        .collect())
}

/// Adds a public constant to the shared value (the server adds it to its share).
pub(crate) fn add_public(p: &Party, x: &mut [u64], c: u64, bits: u32) {
    if p.is_server() {
        for v in x.iter_mut() {
            *v = ring::add(*v, c, bits);
        }
    } else {
        for v in x.iter_mut() {
            *v = ring::reduce(*v, bits);
        }
    }
}

/// SExt^{m,n} (SiRnn §IV-A): this party's shares of the m-bit x → its shares of x as a
/// signed integer in Z_{2^n}.
pub fn sext(p: &mut Party, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
    check_ext(m, n)?;
    let half = 1u64 << (m - 1);
    let mut xs = x.to_vec();
    add_public(p, &mut xs, half, m);
    let mut y = zext(p, &xs, m, n)?;
    add_public(p, &mut y, ring::reduce(half.wrapping_neg(), n), n);
    Ok(y)
}

/// Who receives the ⋆ variants' OT (no preceding comparison: the client opens).
const STAR_RECV: Role = Role::Client;

/// The exact cost of [`zext_known_msb`] / [`sext_known_msb`] on `len` elements.
pub fn ext_known_msb_cost(len: usize, m: u32, n: u32, shared: bool) -> Cost {
    if len == 0 || n <= m {
        return Cost::ZERO;
    }
    batch_cost(len, STAR_RECV, &[msb_to_wrap_shape(shared, n - m)])
}

fn check_msb(msb: &KnownMsb<'_>, len: usize) -> Result<(), ProtoError> {
    if msb.bits().len() != len {
        return Err(ProtoError::Argument(format!(
            "{} MSB bits for {len} elements",
            msb.bits().len()
        )));
    }
    Ok(())
}

/// ⋆ZExt^{m,n}: ZExt when the MSB of x is known (public or Boolean-shared), by MSB-to-Wrap
/// (SiRnn §IV-E) instead of a comparison. One OT, two flights.
pub fn zext_known_msb(
    p: &mut Party,
    x: &[u64],
    m: u32,
    n: u32,
    msb: KnownMsb<'_>,
) -> Result<Vec<u64>, ProtoError> {
    check_ext(m, n)?;
    check_msb(&msb, x.len())?;
    let xm: Vec<u64> = x.iter().map(|&v| ring::reduce(v, m)).collect();
    if x.is_empty() || n == m {
        return Ok(xm);
    }
    let req = msb_to_wrap_req(&xm, m, msb, n - m, p.role == STAR_RECV);
    let w = run_batch(p, STAR_RECV, xm.len(), &[req])?
        .pop()
        .unwrap_or_default();
    Ok(xm
        .iter()
        .zip(&w)
        .map(|(&v, &wb)| ring::sub(v, wb << m, n))
        .collect())
}

/// The known MSB of x + 2^{ℓ−1}, given that of x: public bits flip; of Boolean shares the
/// server flips its share.
pub(crate) fn flip_msb(p: &Party, msb: KnownMsb<'_>) -> Vec<u8> {
    match msb {
        KnownMsb::Public(b) => b.iter().map(|&v| (v & 1) ^ 1).collect(),
        KnownMsb::Shared(b) => b.iter().map(|&v| (v & 1) ^ p.is_server() as u8).collect(),
    }
}

/// ⋆SExt^{m,n}: SExt when the MSB of x is known (public or Boolean-shared).
pub fn sext_known_msb(
    p: &mut Party,
    x: &[u64],
    m: u32,
    n: u32,
    msb: KnownMsb<'_>,
) -> Result<Vec<u64>, ProtoError> {
    check_ext(m, n)?;
    check_msb(&msb, x.len())?;
    let half = 1u64 << (m - 1);
    let mut xs = x.to_vec();
    add_public(p, &mut xs, half, m);
    let flipped = flip_msb(p, msb);
    let fm = match msb {
        KnownMsb::Public(_) => KnownMsb::Public(&flipped),
        KnownMsb::Shared(_) => KnownMsb::Shared(&flipped),
    };
    let mut y = zext_known_msb(p, &xs, m, n, fm)?;
    add_public(p, &mut y, ring::reduce(half.wrapping_neg(), n), n);
    Ok(y)
}
