//! Multiplication by correlated OT, without comparisons: SiRnn's cross term, the matrix cross
//! term with a server-held weight matrix, the bit-matrix product with a public W, and the
//! (mixed-bitwidth) matrix product with server-held weights given the wrap bits of X.
//!
//! Reference: D. Rathee, M. Rathee, R. K. K. Goli, D. Gupta, R. Sharma, N. Chandran,
//! A. Rastogi, "SiRnn: A Math Library for Secure RNN Inference", IEEE S&P 2021 (arXiv
//! 2105.04236). Cleartext semantics: [`crate::fixed::linear`].
//!
//! - **CrossTerm^{m,n,ℓ}** (SiRnn Alg. 4, §IV-C, App. D1): x (m bits) held by one party, y (n
//!   bits) by the other, additive shares of uint(x)·uint(y) mod 2^ℓ. The holder of the shorter
//!   operand (x on a tie) is the OT receiver; for each bit i < min(μ, ℓ) of its operand one
//!   COT_{ℓ−i} with the other's operand as correlation gives shares of x_i·y mod 2^{ℓ−i}, which
//!   times 2^i are shares of 2^i·x_i·y mod 2^ℓ. Message length shrinks with i.
//! - **Matrix cross term** (SiRnn App. D2, "matrix cross terms"): the client holds X_c
//!   (d1×d2, m bits), the server W (d2×d3); shares of X_c·W mod 2^ℓ. One OT per bit of each
//!   `X_c[i][k]`, its pad expanded to d3 values so the same OT carries the whole row `W[k][·]`:
//!   d1·d2·(mλ + d3·Σ_{j<m}(ℓ−j)) bits, the paper's d1d2(mλ + (mn' + m²/2 + m/2)d3) at
//!   ℓ = m + n'.
//! - **BitMatMul with a public W** (the bit-matrix product of SiRnn App. D2 where the ℓ-bit
//!   matrix is the server's in the clear): for a Boolean-shared B = b_s ⊕ b_c,
//!   B·W = b_s·W + b_c·((1 − 2b_s)·W); the second term is one OT per entry of B (client's
//!   choice b_c, server's row (1 − 2b_s)·`W[k][·]`): d1d2(λ + d3ℓ) bits, against
//!   2d1d2(λ + 2ℓd3) when both matrices are shared.
//! - **MatMul with server weights** (SiRnn Alg. 5 with the weight matrix public to the server):
//!   for X shared as m-bit shares x_s + x_c and out width ℓ (SiRnn: m + n + ⌈log2 d2⌉),
//!   uint(X)·W = X_s·W + X_c·W − 2^m·(w_X·W) mod 2^ℓ, where w_X is the wrap bit of the two
//!   shares. The server computes X_s·W alone; X_c·W is the matrix cross term, w_X·W the
//!   BitMatMul (in ℓ − m bits, scaled by 2^m). Signed X uses SiRnn's SMult trick: the server
//!   adds 2^(m−1) to its share, then subtracts 2^(m−1)·Σ_k `W[k][j]`. Signed W is sign-extended
//!   to ℓ bits by the server (free). The wrap bits are an *input*
//!   ([`crate::fixed::linear::matmul_wrap`] says exactly which); the full MatMul that computes
//!   them with the Wrap protocol is [`super::mult::matmul_full`]. In the same ring (m = ℓ)
//!   the wrap term vanishes ([`matmul_ring`]). UMult/SMult of two shared operands (Alg. 3):
//!   [`super::mult::mult`].
//!
//! ## COTs with many widths: built on the engine's random OT
//! The OT engine's `cot` has one width per call, and one call per width would cost an
//! extension pass (and, without phasing, two flights) each. Instead every protocol here draws
//! one batch of random OTs ([`crate::ot::OtEngine::rot_send`]: 16 bytes per OT from the
//! receiver, one flight) and derives additive COTs from them the way the engine's `cot`
//! does: the sender's output is its pad a = H(q) (low w bits), and it sends the correction
//! H(q ⊕ s) − a − corr mod 2^w; all corrections of a call — any mix of widths — are packed
//! bit-tight into one message. With d3 > 1 correlations per OT, each 128-bit pad seeds an
//! AES-128-CTR stream of d3 values (a PRG keyed by a fresh random-OT output). So a call costs
//! exactly: receiver 128·⌈N/8⌉ bytes (N OTs), sender ⌈Σ_j d3·w_j / 8⌉ bytes, 2 flights — the
//! λ + Σ w per OT that SiRnn assumes. Every OT is used once; all randomness comes from the
//! engine's fresh OTs (no share randomness is needed: the sender's pads are its output).

use crate::ot::bits::{BitReader, BitWriter};
use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit};

use super::{Cost, Party, ProtoError};
use crate::fixed::linear::{Format, MatDims};
use crate::net::Role;
use crate::ot::cost as otc;
use crate::ring;

#[cfg(test)]
mod tests;

fn arg(msg: String) -> ProtoError {
    ProtoError::Argument(msg)
}

pub(super) fn check_width(what: &str, bits: u32) -> Result<(), ProtoError> {
    if !(1..=64).contains(&bits) {
        return Err(arg(format!("{what} = {bits} is not in 1..=64")));
    }
    Ok(())
}

pub(super) fn check_len(what: &str, got: usize, want: usize) -> Result<(), ProtoError> {
    if got != want {
        return Err(arg(format!("{what} has {got} entries, expected {want}")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// COTs of varying widths and vector correlations, from random OT.

// Values of varying widths (≤ 64 bits) are packed LSB-first with the OT engine's
// `BitWriter`/`BitReader`: n bits in total take ⌈n/8⌉ bytes.

/// Expands a random-OT pad into t values of w bits: the pad itself for t = 1, else
/// AES-128-CTR keyed with the pad.
#[derive(Default)]
struct Expander {
    blocks: Vec<aes::Block>,
}

impl Expander {
    #[inline]
    fn expand(&mut self, pad: u128, bits: u32, out: &mut [u64]) {
        let m = ring::mask(bits);
        if out.len() == 1 {
            out[0] = pad as u64 & m;
            return;
        }
        let nb = out.len().div_ceil(2);
        self.blocks.clear();
        self.blocks
            .extend((0..nb as u128).map(|c| aes::Block::from(c.to_le_bytes())));
        Aes128::new(&pad.to_le_bytes().into()).encrypt_blocks(&mut self.blocks);
        for (pair, b) in out.chunks_mut(2).zip(&self.blocks) {
            for (h, o) in pair.iter_mut().enumerate() {
                let mut w = [0u8; 8];
                w.copy_from_slice(&b[8 * h..8 * h + 8]);
                *o = u64::from_le_bytes(w) & m;
            }
        }
    }
}

/// Bytes of the correction message for OTs of widths `width_sum` (summed over OTs), each
/// carrying `t` correlations.
pub(super) fn correction_bytes(t: usize, width_sum: u64) -> u64 {
    (t as u64 * width_sum).div_ceil(8)
}

/// The exact cost of one [`vcot_send`]/[`vcot_recv`] pair: `n` OTs with `chooser` as the OT
/// receiver, `t` correlations per OT, widths summing to `width_sum`.
pub(super) fn vcot_cost(chooser: Role, n: usize, t: usize, width_sum: u64) -> Cost {
    if n == 0 || t == 0 {
        return Cost::ZERO;
    }
    Cost::ot(chooser.peer(), otc::rot(n)).then(Cost::message(
        chooser.peer(),
        correction_bytes(t, width_sum),
    ))
}

/// COT sender: OT j has width `widths[j]` and t correlations that `corr(j, buf)` writes into
/// `buf` (any high bits; reduced here). Returns the sender's random pads a[j·t + k]; the
/// receiver gets a[j·t + k] + c_j·corr_{j,k} mod 2^{w_j}.
fn vcot_send(
    p: &mut Party,
    t: usize,
    widths: &[u32],
    mut corr: impl FnMut(usize, &mut [u64]),
) -> Result<Vec<u64>, ProtoError> {
    vcot_send_with(p, t, widths, &mut corr, true)
}

/// [`vcot_send`], flushing the correction message only if `flush` (else it rides with the
/// next message this party sends).
pub(super) fn vcot_send_with(
    p: &mut Party,
    t: usize,
    widths: &[u32],
    corr: &mut dyn FnMut(usize, &mut [u64]),
    flush: bool,
) -> Result<Vec<u64>, ProtoError> {
    vcot_send_core(p, |_| t, widths, corr, flush)
}

/// [`vcot_send_with`] where OT j carries `ts[j]` correlations (`corr(j, buf)` fills
/// `ts[j]` values); the pads are concatenated in OT order.
pub(super) fn vcot_send_each(
    p: &mut Party,
    ts: &[usize],
    widths: &[u32],
    corr: &mut dyn FnMut(usize, &mut [u64]),
    flush: bool,
) -> Result<Vec<u64>, ProtoError> {
    vcot_send_core(p, |j| ts[j], widths, corr, flush)
}

/// The correlations of OTs carrying `t_of(j)` each at `widths[j]` bits: how many, and their
/// bits in all (what the correction message packs).
fn vcot_sizes(t_of: &impl Fn(usize) -> usize, widths: &[u32]) -> (usize, u64) {
    widths.iter().enumerate().fold((0, 0), |(c, b), (j, &w)| {
        (c + t_of(j), b + t_of(j) as u64 * w as u64)
    })
}

fn vcot_send_core(
    p: &mut Party,
    t_of: impl Fn(usize) -> usize,
    widths: &[u32],
    corr: &mut dyn FnMut(usize, &mut [u64]),
    flush: bool,
) -> Result<Vec<u64>, ProtoError> {
    let n = widths.len();
    let (total, bits) = vcot_sizes(&t_of, widths);
    let mut a = vec![0u64; total];
    if total == 0 {
        return Ok(a);
    }
    let (mut h0, mut h1) = (vec![0u128; n], vec![0u128; n]);
    p.ot.rot_send(&mut *p.io, &mut h0, &mut h1)?;
    let mut msg = Vec::with_capacity(correction_bytes(1, bits) as usize + 16);
    let mut pk = BitWriter::new(&mut msg);
    let mut ex = Expander::default();
    let (mut c, mut pad1) = (Vec::new(), Vec::new());
    let mut at = 0;
    for (j, &w) in widths.iter().enumerate() {
        let t = t_of(j);
        let aj = &mut a[at..at + t];
        at += t;
        c.resize(t, 0);
        pad1.resize(t, 0);
        let m = ring::mask(w);
        ex.expand(h0[j], w, aj);
        ex.expand(h1[j], w, &mut pad1);
        corr(j, &mut c);
        for k in 0..t {
            pk.push(pad1[k].wrapping_sub(aj[k]).wrapping_sub(c[k]) & m, w);
        }
    }
    pk.finish();
    p.io.send(&msg)?;
    if flush {
        p.io.end_flight()?;
    }
    Ok(a)
}

/// COT receiver with choice bits `choices` (one per byte): out[j·t + k] = a + c_j·corr.
fn vcot_recv(
    p: &mut Party,
    t: usize,
    widths: &[u32],
    choices: &[u8],
) -> Result<Vec<u64>, ProtoError> {
    let h = vcot_recv_extend(p, t, choices)?;
    vcot_recv_finish(p, t, widths, choices, &h)
}

/// The receiver's first half: the random OTs on `choices` (sends the extension and flushes).
pub(super) fn vcot_recv_extend(
    p: &mut Party,
    t: usize,
    choices: &[u8],
) -> Result<Vec<u128>, ProtoError> {
    let n = choices.len();
    let mut h = vec![0u128; n];
    if n == 0 || t == 0 {
        return Ok(h);
    }
    let mut packed = vec![0u8; n.div_ceil(8)];
    for (j, &c) in choices.iter().enumerate() {
        packed[j / 8] |= (c & 1) << (j % 8);
    }
    p.ot.rot_recv(&mut *p.io, &packed, &mut h)?;
    Ok(h)
}

/// The receiver's second half: reads the corrections and derives the outputs from the pads.
pub(super) fn vcot_recv_finish(
    p: &mut Party,
    t: usize,
    widths: &[u32],
    choices: &[u8],
    h: &[u128],
) -> Result<Vec<u64>, ProtoError> {
    vcot_recv_finish_core(p, |_| t, widths, choices, h)
}

/// [`vcot_recv_finish`] where OT j carries `ts[j]` correlations ([`vcot_send_each`]).
pub(super) fn vcot_recv_finish_each(
    p: &mut Party,
    ts: &[usize],
    widths: &[u32],
    choices: &[u8],
    h: &[u128],
) -> Result<Vec<u64>, ProtoError> {
    vcot_recv_finish_core(p, |j| ts[j], widths, choices, h)
}

fn vcot_recv_finish_core(
    p: &mut Party,
    t_of: impl Fn(usize) -> usize,
    widths: &[u32],
    choices: &[u8],
    h: &[u128],
) -> Result<Vec<u64>, ProtoError> {
    let (total, bits) = vcot_sizes(&t_of, widths);
    let mut out = vec![0u64; total];
    if total == 0 {
        return Ok(out);
    }
    let mut msg = vec![0u8; correction_bytes(1, bits) as usize];
    p.io.recv(&mut msg)?;
    let mut rd = BitReader::new(&msg);
    let mut ex = Expander::default();
    let mut at = 0;
    for (j, &w) in widths.iter().enumerate() {
        let t = t_of(j);
        let oj = &mut out[at..at + t];
        at += t;
        let m = ring::mask(w);
        let sel = 0u64.wrapping_sub((choices[j] & 1) as u64);
        ex.expand(h[j], w, oj);
        for o in oj.iter_mut() {
            *o = o.wrapping_sub(rd.next(w) & sel) & m;
        }
    }
    Ok(out)
}

/// Σ_{i<k} (ℓ − i): the widths of the shrinking COTs for the first k bits of an operand.
pub(super) fn shrinking_width_sum(k: u32, out_bits: u32) -> u64 {
    let (k, l) = (k as u64, out_bits as u64);
    k * l - k * (k.saturating_sub(1)) / 2
}

// ---------------------------------------------------------------------------------------------
// CrossTerm (SiRnn Alg. 4).

/// Public parameters of [`cross_term`]: who holds x, the operand widths m (x) and n (y) and
/// the output width ℓ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossTermParams {
    pub x_owner: Role,
    pub m: u32,
    pub n: u32,
    pub out_bits: u32,
}

impl CrossTermParams {
    /// The OT receiver: the holder of the shorter operand (x on a tie).
    pub fn chooser(&self) -> Role {
        if self.m <= self.n {
            self.x_owner
        } else {
            self.x_owner.peer()
        }
    }

    /// COTs per element: one per bit of the shorter operand below ℓ.
    pub fn ots_per_elem(&self) -> u32 {
        self.m.min(self.n).min(self.out_bits)
    }

    pub(super) fn check(&self) -> Result<(), ProtoError> {
        check_width("m", self.m)?;
        check_width("n", self.n)?;
        check_width("ℓ", self.out_bits)
    }
}

/// The exact cost of [`cross_term`] on `len` elements: μ' = min(m, n, ℓ) random OTs per
/// element from the chooser (16 B each) and ⌈len·Σ_{i<μ'}(ℓ − i)/8⌉ bytes of corrections;
/// 2 flights.
pub fn cross_term_cost(len: usize, params: &CrossTermParams) -> Cost {
    let k = params.ots_per_elem();
    vcot_cost(
        params.chooser(),
        len * k as usize,
        1,
        len as u64 * shrinking_width_sum(k, params.out_bits),
    )
}

/// CrossTerm^{m,n,ℓ}: `mine` is x (m bits) if this party is `params.x_owner`, else y (n
/// bits), one per element (both parties pass the same length); returns this party's
/// additive shares of uint(x)·uint(y) mod 2^ℓ.
pub fn cross_term(
    p: &mut Party,
    params: &CrossTermParams,
    mine: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    let l = params.out_bits;
    let k = params.ots_per_elem() as usize;
    let len = mine.len();
    let my_bits = if p.role == params.x_owner {
        params.m
    } else {
        params.n
    };
    let widths: Vec<u32> = (0..len)
        .flat_map(|_| (0..k as u32).map(move |i| l - i))
        .collect();
    let mut res = vec![0u64; len];
    if p.role == params.chooser() {
        let choices: Vec<u8> = mine
            .iter()
            .flat_map(|&x| (0..k).map(move |i| (x >> i) as u8 & 1))
            .collect();
        let out = vcot_recv(p, 1, &widths, &choices)?;
        for (r, o) in res.iter_mut().zip(out.chunks(k.max(1))) {
            let s = o
                .iter()
                .enumerate()
                .fold(0u64, |acc, (i, &v)| acc.wrapping_add(v << i));
            *r = ring::reduce(s, l);
        }
    } else {
        let a = vcot_send(p, 1, &widths, |j, c| {
            c[0] = ring::reduce(mine[j / k], my_bits);
        })?;
        for (r, o) in res.iter_mut().zip(a.chunks(k.max(1))) {
            let s = o
                .iter()
                .enumerate()
                .fold(0u64, |acc, (i, &v)| acc.wrapping_add(v << i));
            *r = ring::reduce(s.wrapping_neg(), l);
        }
    }
    Ok(res)
}

/// Σ_i 2^i·v_i over the COT outputs of one element.
pub(super) fn weigh(o: &[u64]) -> u64 {
    o.iter()
        .enumerate()
        .fold(0u64, |acc, (i, &v)| acc.wrapping_add(v << i))
}

/// The exact cost of [`mult_ring`] on `len` elements: two CrossTerm^{ℓ,ℓ,ℓ} with reversed
/// roles, pipelined into 3 flights (client's extension; server's corrections with its own
/// extension; client's corrections).
pub fn mult_ring_cost(len: usize, bits: u32) -> Cost {
    mult_ring_squares_cost(len, 0, bits)
}

/// The exact cost of [`mult_ring_squares`]: the first cross term on all `len` elements, the
/// second only on the `len − squares` products (2 flights when all are squares).
pub fn mult_ring_squares_cost(len: usize, squares: usize, bits: u32) -> Cost {
    if len == 0 {
        return Cost::ZERO;
    }
    let term = |n: usize| {
        (
            otc::rot(n * bits as usize),
            correction_bytes(1, n as u64 * shrinking_width_sum(bits, bits)),
        )
    };
    let (u, corr) = term(len);
    let (u2, corr2) = term(len - squares.min(len));
    let c = Cost::ot_request(Role::Client, u)
        .then(Cost::ot_request(Role::Server, u2).alongside(Cost::message(Role::Server, corr)));
    if u2.flights == 0 {
        c
    } else {
        c.then(Cost::message(Role::Client, corr2))
    }
}

/// Elementwise product of two shared vectors in one ring (SiRnn's UMult with m = n = ℓ, where
/// the wrap terms vanish mod 2^ℓ; CrypTFlow2/SCI's ring multiplication): `x`, `y` are this
/// party's shares mod 2^ℓ; returns shares of x·y mod 2^ℓ
/// ([`fixed::linear::mult_ring`](crate::fixed::linear::mult_ring)).
/// x·y = x_s·y_s + x_c·y_c + x_c·y_s + x_s·y_c: the local terms, and two cross terms by
/// shrinking COTs (Alg. 4), the client choosing with x_c's bits, then the server with x_s's.
pub fn mult_ring(p: &mut Party, bits: u32, x: &[u64], y: &[u64]) -> Result<Vec<u64>, ProtoError> {
    mult_ring_squares(p, bits, x, y, 0)
}

/// [`mult_ring`] where the last `squares` elements are squares (their `y` is `x`, ignored):
/// x² = x_s² + x_c² + 2·x_c·x_s needs only the first cross term, so a square costs half a
/// product's OTs, and a call of squares alone takes 2 flights.
pub fn mult_ring_squares(
    p: &mut Party,
    bits: u32,
    x: &[u64],
    y: &[u64],
    squares: usize,
) -> Result<Vec<u64>, ProtoError> {
    check_width("ℓ", bits)?;
    check_len("y", y.len(), x.len())?;
    let (len, l, k) = (x.len(), bits, bits as usize);
    if squares > len {
        return Err(ProtoError::Argument(format!(
            "{squares} squares among {len} products"
        )));
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let prods = len - squares;
    let y_of = |e: usize| if e < prods { y[e] } else { x[e] };
    let widths: Vec<u32> = (0..len)
        .flat_map(|_| (0..bits).map(move |i| l - i))
        .collect();
    let choices: Vec<u8> = x
        .iter()
        .flat_map(|&v| (0..k).map(move |i| (v >> i) as u8 & 1))
        .collect();
    let (wp, cp) = (&widths[..prods * k], &choices[..prods * k]);
    let mut corr_all = |j: usize, c: &mut [u64]| c[0] = y_of(j / k);
    let mut corr_prods = |j: usize, c: &mut [u64]| c[0] = y[j / k];
    // (first cross term: client chooses, server's correlation y_s; second: reversed, products
    // only)
    let (first, second) = if p.is_server() {
        let a = vcot_send_with(p, 1, &widths, &mut corr_all, prods == 0)?;
        let o = if prods > 0 {
            let h = vcot_recv_extend(p, 1, cp)?;
            vcot_recv_finish(p, 1, wp, cp, &h)?
        } else {
            Vec::new()
        };
        (a, o)
    } else {
        let h = vcot_recv_extend(p, 1, &choices)?;
        let o = vcot_recv_finish(p, 1, &widths, &choices, &h)?;
        let a = if prods > 0 {
            vcot_send_with(p, 1, wp, &mut corr_prods, true)?
        } else {
            Vec::new()
        };
        (o, a)
    };
    let server = p.is_server();
    Ok((0..len)
        .map(|e| {
            let local = x[e].wrapping_mul(y_of(e));
            let one = weigh(&first[e * k..(e + 1) * k]);
            let r = if e >= prods {
                // 2·x_c·x_s: the server holds −2a, the client 2(a + x_c·x_s).
                let two = one.wrapping_shl(1);
                if server {
                    local.wrapping_sub(two)
                } else {
                    local.wrapping_add(two)
                }
            } else {
                let other = weigh(&second[e * k..(e + 1) * k]);
                // The server sent the first term and received the second; the client the
                // reverse.
                if server {
                    local.wrapping_add(other).wrapping_sub(one)
                } else {
                    local.wrapping_add(one).wrapping_sub(other)
                }
            };
            ring::reduce(r, l)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Matrix products with the server's clear W.

/// A bit-matrix term ±2^shift·(B·V) with B Boolean-shared.
pub(super) struct BitTerm<'a> {
    pub(super) shares: &'a [u8],
    pub(super) shift: u32,
    pub(super) negate: bool,
}

impl BitTerm<'_> {
    fn coef(&self) -> u64 {
        let c = 1u64 << self.shift;
        if self.negate { c.wrapping_neg() } else { c }
    }
}

/// The OT layout of a matrix cross term X_R·V (+ ±2^s·B·V): per entry of X, one COT per bit
/// of X_R below ℓ (width ℓ − q) and one for the bit term (width ℓ − s), each carrying a row
/// of V. `block_rows` rows of X share one d2×d3 block of V (a batch of independent products
/// stacks its blocks; one product with the server's weights has a single block); X's first row
/// is row `row0` of its block (a slice of a batch may start inside a product).
struct MatLayout {
    dims: MatDims,
    block_rows: usize,
    row0: usize,
    kb: usize,
    per: usize,
    widths: Vec<u32>,
    coef: Vec<u64>,
}

impl MatLayout {
    fn new(
        dims: MatDims,
        (block_rows, row0): (usize, usize),
        xbits: u32,
        out_bits: u32,
        bit: Option<&BitTerm<'_>>,
    ) -> MatLayout {
        let l = out_bits;
        let kb = xbits.min(l) as usize;
        let per = kb + bit.is_some() as usize;
        let bit_width = bit.map_or(l, |b| l - b.shift);
        let widths = (0..dims.x_len())
            .flat_map(|_| (0..per).map(|q| if q < kb { l - q as u32 } else { bit_width }))
            .collect();
        let coef = (0..per)
            .map(|q| match bit {
                Some(b) if q >= kb => b.coef(),
                _ => 1u64 << q,
            })
            .collect();
        MatLayout {
            dims,
            block_rows: block_rows.max(1),
            row0,
            kb,
            per,
            widths,
            coef,
        }
    }

    /// Row k of the V block that entry e of X (row-major) multiplies.
    fn v_row<'v>(&self, v: &'v [u64], e: usize) -> &'v [u64] {
        let MatDims { d2, d3, .. } = self.dims;
        let (i, k) = (e / d2, e % d2);
        let r = ((i + self.row0) / self.block_rows - self.row0 / self.block_rows) * d2 + k;
        &v[r * d3..(r + 1) * d3]
    }

    /// The V holder's half (OT sender): sends the corrections, returns its pads.
    fn send(
        &self,
        p: &mut Party,
        bit: Option<&BitTerm<'_>>,
        v: &[u64],
        flush: bool,
    ) -> Result<Vec<u64>, ProtoError> {
        let (kb, per) = (self.kb, self.per);
        let bit_shares = bit.map(|b| b.shares);
        let mut corr = |j: usize, c: &mut [u64]| {
            let (e, q) = (j / per, j % per);
            let row = self.v_row(v, e);
            if q < kb || bit_shares.is_some_and(|s| s[e] & 1 == 0) {
                c.copy_from_slice(row);
            } else {
                for (c, &w) in c.iter_mut().zip(row) {
                    *c = w.wrapping_neg();
                }
            }
        };
        vcot_send_with(p, self.dims.d3, &self.widths, &mut corr, flush)
    }

    /// The receiver's choice bits: X_R's low bits, then its share of B.
    fn choices(&self, x_r: &[u64], bit: Option<&BitTerm<'_>>) -> Vec<u8> {
        let (kb, per) = (self.kb, self.per);
        let bit_shares = bit.map(|b| b.shares);
        (0..self.dims.x_len())
            .flat_map(|e| {
                let x = if kb > 0 { x_r[e] } else { 0 };
                (0..per).map(move |q| {
                    if q < kb {
                        (x >> q) as u8 & 1
                    } else {
                        bit_shares.map_or(0, |s| s[e] & 1)
                    }
                })
            })
            .collect()
    }

    /// This party's shares of X_R·V (± 2^s·B·V) mod 2^ℓ from its OT outputs: the weighted sum
    /// of the slots; the holder (whose pads are −a) negates it and adds its local b_H·V.
    fn combine(
        &self,
        ots: &[u64],
        holder: bool,
        bit: Option<&BitTerm<'_>>,
        v: &[u64],
        out_bits: u32,
    ) -> Vec<u64> {
        let MatDims { d1, d2, d3 } = self.dims;
        let per = self.per;
        let mut res = vec![0u64; self.dims.out_len()];
        if per > 0 {
            for i in 0..d1 {
                let out = &mut res[i * d3..(i + 1) * d3];
                for (q_all, slot) in ots[i * d2 * per * d3..(i + 1) * d2 * per * d3]
                    .chunks(d3.max(1))
                    .enumerate()
                {
                    let c = self.coef[q_all % per];
                    for (o, &s) in out.iter_mut().zip(slot) {
                        *o = o.wrapping_add(s.wrapping_mul(c));
                    }
                }
            }
        }
        if holder {
            for o in res.iter_mut() {
                *o = o.wrapping_neg();
            }
            if let Some(b) = bit {
                let c = b.coef();
                for e in 0..self.dims.x_len() {
                    if b.shares[e] & 1 == 1 {
                        let row = self.v_row(v, e);
                        let i = e / d2;
                        for (o, &w) in res[i * d3..(i + 1) * d3].iter_mut().zip(row) {
                            *o = o.wrapping_add(w.wrapping_mul(c));
                        }
                    }
                }
            }
        }
        for o in res.iter_mut() {
            *o = ring::reduce(*o, out_bits);
        }
        res
    }
}

/// The OT part shared by the matrix products with the server's V: this party's shares of
/// X_c·V + (±2^s·B·V if `bit`) mod 2^ℓ, where X_c (d1×d2, `xbits` bits, `x_c`) is the
/// client's, V (d2×d3, already in Z_{2^ℓ}, `v`) the server's, and B = b_s ⊕ b_c. One batch of
/// random OTs (client = receiver) and one correction message: 2 flights. The server's output
/// includes its local part ±2^s·b_s·V.
pub(super) fn mat_core(
    p: &mut Party,
    dims: MatDims,
    xbits: u32,
    out_bits: u32,
    x_c: &[u64],
    bit: Option<BitTerm<'_>>,
    v: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let lay = MatLayout::new(dims, (dims.d1, 0), xbits, out_bits, bit.as_ref());
    let ots = if p.is_server() {
        lay.send(p, bit.as_ref(), v, true)?
    } else {
        let choices = lay.choices(x_c, bit.as_ref());
        vcot_recv(p, dims.d3, &lay.widths, &choices)?
    };
    Ok(lay.combine(&ots, p.is_server(), bit.as_ref(), v, out_bits))
}

/// W extended to ℓ bits (val(W) mod 2^ℓ), checked to be d2×d3 on the server.
pub(super) fn server_weights(
    p: &Party,
    dims: MatDims,
    w: &[u64],
    wf: Format,
    out_bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    check_width("weight width", wf.bits)?;
    if !p.is_server() {
        return Ok(Vec::new());
    }
    check_len("W", w.len(), dims.w_len())?;
    Ok(w.iter().map(|&x| wf.extend(x, out_bits)).collect())
}

/// The exact cost of [`matrix_cross_term`]: d1·d2·min(m, ℓ) random OTs from the client and
/// ⌈d1·d2·d3·Σ_{j<min(m,ℓ)}(ℓ − j)/8⌉ correction bytes from the server; 2 flights.
pub fn matrix_cross_term_cost(dims: MatDims, m: u32, out_bits: u32) -> Cost {
    let k = m.min(out_bits);
    let e = dims.x_len();
    vcot_cost(
        Role::Client,
        e * k as usize,
        dims.d3,
        e as u64 * shrinking_width_sum(k, out_bits),
    )
}

/// The matrix cross term: shares of uint(X_c)·val(W) mod 2^ℓ, where the client passes X_c
/// (d1×d2, m bits) as `x_c` and the server passes W (d2×d3, format `wf`) as `w`; the other
/// party's slice is ignored (pass `&[]`).
pub fn matrix_cross_term(
    p: &mut Party,
    dims: MatDims,
    m: u32,
    out_bits: u32,
    x_c: &[u64],
    w: &[u64],
    wf: Format,
) -> Result<Vec<u64>, ProtoError> {
    check_width("m", m)?;
    check_width("ℓ", out_bits)?;
    if !p.is_server() {
        check_len("X_c", x_c.len(), dims.x_len())?;
    }
    let v = server_weights(p, dims, w, wf, out_bits)?;
    let x: Vec<u64> = x_c.iter().map(|&x| ring::reduce(x, m)).collect();
    mat_core(p, dims, m, out_bits, &x, None, &v)
}

/// The exact cost of [`bit_matmul`]: d1·d2 random OTs from the client, ⌈d1·d2·d3·ℓ/8⌉ bytes
/// from the server; 2 flights.
pub fn bit_matmul_cost(dims: MatDims, out_bits: u32) -> Cost {
    let e = dims.x_len();
    vcot_cost(Role::Client, e, dims.d3, e as u64 * out_bits as u64)
}

/// BitMatMul with a public W: `b` is this party's Boolean shares of B (d1×d2, one bit per
/// byte), the server passes W (d2×d3, format `wf`; the client `&[]`). Returns shares of
/// B·val(W) mod 2^ℓ.
pub fn bit_matmul(
    p: &mut Party,
    dims: MatDims,
    out_bits: u32,
    b: &[u8],
    w: &[u64],
    wf: Format,
) -> Result<Vec<u64>, ProtoError> {
    check_width("ℓ", out_bits)?;
    check_len("B", b.len(), dims.x_len())?;
    let v = server_weights(p, dims, w, wf, out_bits)?;
    let bit = BitTerm {
        shares: b,
        shift: 0,
        negate: false,
    };
    mat_core(p, dims, 0, out_bits, &[], Some(bit), &v)
}

/// Public parameters of the matrix product with server-held weights: dimensions, X's and W's
/// formats and the output width ℓ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulParams {
    pub dims: MatDims,
    pub x: Format,
    pub w: Format,
    pub out_bits: u32,
}

impl MatMulParams {
    /// SiRnn's widths: out = m + n + ⌈log2 d2⌉ (capped at 64), so the product is exact.
    pub fn sirnn(dims: MatDims, x: Format, w: Format) -> MatMulParams {
        MatMulParams {
            dims,
            x,
            w,
            out_bits: crate::fixed::linear::matmul_out_bits(x.bits, w.bits, dims.d2),
        }
    }

    /// Whether the wrap bits of X's shares enter the result (m < ℓ).
    pub fn needs_wrap(&self) -> bool {
        self.x.bits < self.out_bits
    }

    pub(super) fn check(&self) -> Result<(), ProtoError> {
        check_width("m", self.x.bits)?;
        check_width("n", self.w.bits)?;
        check_width("ℓ", self.out_bits)
    }
}

/// The exact cost of [`matmul`]: per entry of X, min(m, ℓ) random OTs plus one more for the
/// wrap bit if m < ℓ (16 B each, from the client), and from the server
/// ⌈d1·d2·d3·(Σ_{j<min(m,ℓ)}(ℓ − j) + (ℓ − m if m < ℓ))/8⌉ bytes; 2 flights.
pub fn matmul_cost(params: &MatMulParams) -> Cost {
    let (m, l) = (params.x.bits, params.out_bits);
    let k = m.min(l);
    let e = params.dims.x_len();
    let wrap = params.needs_wrap() as usize;
    let width_sum = shrinking_width_sum(k, l) + if wrap == 1 { (l - m) as u64 } else { 0 };
    vcot_cost(
        Role::Client,
        e * (k as usize + wrap),
        params.dims.d3,
        e as u64 * width_sum,
    )
}

/// The matrix product X·W with the server's clear W (SiRnn Alg. 5 with a public weight
/// matrix), given the wrap bits of X's shares:
/// - `x`: this party's m-bit shares of X (d1×d2);
/// - `wrap`: this party's Boolean shares of the wrap bits
///   [`matmul_wrap`](crate::fixed::linear::matmul_wrap)(x_s, x_c, X's format) (d1×d2); only
///   read if m < ℓ ([`MatMulParams::needs_wrap`]), else may be empty;
/// - `w`: the server's W (d2×d3, format `params.w`); the client passes `&[]`.
///
/// Returns shares of `Σ_k val(X[i][k])·val(W[k][j]) mod 2^ℓ`
/// ([`fixed::linear::matmul`](crate::fixed::linear::matmul)).
pub fn matmul(
    p: &mut Party,
    params: &MatMulParams,
    x: &[u64],
    wrap: &[u8],
    w: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    let MatMulParams {
        dims,
        x: xf,
        w: wf,
        out_bits: l,
    } = *params;
    let m = xf.bits;
    check_len("X share", x.len(), dims.x_len())?;
    if params.needs_wrap() {
        check_len("wrap shares", wrap.len(), dims.x_len())?;
    }
    let v = server_weights(p, dims, w, wf, l)?;
    let bit = params.needs_wrap().then_some(BitTerm {
        shares: wrap,
        shift: m,
        negate: true,
    });
    let x_c: Vec<u64> = if p.is_server() {
        Vec::new()
    } else {
        x.iter().map(|&x| ring::reduce(x, m)).collect()
    };
    let mut res = mat_core(p, dims, m, l, &x_c, bit, &v)?;
    if p.is_server() {
        // X_s'·V − offset·Σ_k V[k][j], with X_s' = X_s + offset mod 2^m.
        let MatDims { d1, d2, d3 } = dims;
        let off = xf.offset();
        for i in 0..d1 {
            let out = &mut res[i * d3..(i + 1) * d3];
            for k in 0..d2 {
                let xs = ring::add(x[i * d2 + k], off, m).wrapping_sub(off);
                let row = &v[k * d3..(k + 1) * d3];
                for (o, &w) in out.iter_mut().zip(row) {
                    *o = o.wrapping_add(xs.wrapping_mul(w));
                }
            }
            for o in out.iter_mut() {
                *o = ring::reduce(*o, l);
            }
        }
    }
    Ok(res)
}

/// The exact cost of [`matmul_ring`]: [`matrix_cross_term_cost`] with m = ℓ.
pub fn matmul_ring_cost(dims: MatDims, bits: u32) -> Cost {
    matrix_cross_term_cost(dims, bits, bits)
}

/// The matrix product in one ring Z_{2^ℓ}: `x` is this party's share of X (d1×d2), the server
/// passes W (d2×d3, ℓ-bit ring elements; the client `&[]`); returns shares of X·W mod 2^ℓ.
/// The server computes X_s·W locally, the matrix cross term gives X_c·W.
pub fn matmul_ring(
    p: &mut Party,
    dims: MatDims,
    bits: u32,
    x: &[u64],
    w: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let f = Format::unsigned(bits);
    matmul(
        p,
        &MatMulParams {
            dims,
            x: f,
            w: f,
            out_bits: bits,
        },
        x,
        &[],
        w,
    )
}

// ---------------------------------------------------------------------------------------------
// Matrix products of two shared matrices.

/// The exact cost of [`matmul_shared`] on `params.dims.d1` rows of X: per direction, per entry
/// of X min(m, ℓ) random OTs plus one for the wrap bit if m < ℓ (16 B each) and
/// ⌈d1·d2·d3·(Σ_{j<min(m,ℓ)}(ℓ − j) + (ℓ − m if m < ℓ))/8⌉ bytes of corrections; the client's
/// extension, the server's corrections with its extension, the client's corrections: 3 flights.
pub fn matmul_shared_cost(params: &MatMulParams) -> Cost {
    let (m, l) = (params.x.bits, params.out_bits);
    let k = m.min(l);
    let wrap = params.needs_wrap();
    let e = params.dims.x_len();
    let n = e * (k as usize + wrap as usize);
    if n == 0 || params.dims.d3 == 0 {
        return Cost::ZERO;
    }
    let width_sum = shrinking_width_sum(k, l) + if wrap { (l - m) as u64 } else { 0 };
    let u = otc::rot(n);
    let corr = correction_bytes(params.dims.d3, e as u64 * width_sum);
    Cost::ot_request(Role::Client, u)
        .then(Cost::ot_request(Role::Server, u).alongside(Cost::message(Role::Server, corr)))
        .then(Cost::message(Role::Client, corr))
}

/// The product of two shared matrices, several independent products at once (SiRnn's MatMul,
/// Alg. 5, with the weight matrix itself shared): val(X)·val(Y) = val(X)·Y_s + val(X)·Y_c
/// mod 2^ℓ once Y's shares live in Z_{2^ℓ}, and each term is the product with a matrix one
/// party knows — the server's Y_s as with server weights (the client chooses with X_c's
/// bits), and the mirror image for the client's Y_c (the server chooses with the bits of its
/// offset share X_s'). Both directions share X's wrap bits and run in 3 flights (the server's
/// corrections travel with its extension). So a product costs two matrix cross terms and
/// two wrap terms, and one Wrap of X (the caller's).
/// - `x`: this party's m-bit shares of d1 rows of X (`params.dims.d1`·d2, row-major): rows of
///   products of `rows` rows each, the first being row `row0` of its product (a slice of a
///   batch, as a connection's piece is);
/// - `wrap`: this party's Boolean shares of the wrap bits of (X_s + offset, X_c)
///   ([`matmul_wrap`](crate::fixed::linear::matmul_wrap)); only read if m < ℓ;
/// - `y`: this party's shares of val(Y) mod 2^ℓ, one d2×d3 block per product the rows touch,
///   `params.w.bits` = ℓ.
///
/// Returns shares of `Σ_k val(X[i][k])·val(Y[k][j]) mod 2^ℓ` per product.
pub fn matmul_shared(
    p: &mut Party,
    params: &MatMulParams,
    (rows, row0): (usize, usize),
    x: &[u64],
    wrap: &[u8],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    let MatMulParams {
        dims,
        x: xf,
        out_bits: l,
        ..
    } = *params;
    if params.w.bits != l {
        return Err(arg(format!(
            "Y's shares must be in the output ring ({} bits, not {})",
            l, params.w.bits
        )));
    }
    let all = dims;
    let MatDims { d1, d2, d3 } = dims;
    let rows = rows.max(1);
    let blocks = if d1 == 0 {
        0
    } else {
        (row0 + d1 - 1) / rows - row0 / rows + 1
    };
    let m = xf.bits;
    check_len("X share", x.len(), all.x_len())?;
    check_len("Y share", y.len(), blocks * dims.w_len())?;
    if params.needs_wrap() {
        check_len("wrap shares", wrap.len(), all.x_len())?;
    }
    let server = p.is_server();
    let off = xf.offset();
    // This party's share of X + offset (the server adds it) in m bits: its choice bits.
    let x_r: Vec<u64> = x
        .iter()
        .map(|&v| ring::add(v, if server { off } else { 0 }, m))
        .collect();
    let v: Vec<u64> = y.iter().map(|&w| ring::reduce(w, l)).collect();
    let bit = params.needs_wrap().then_some(BitTerm {
        shares: wrap,
        shift: m,
        negate: true,
    });
    let lay = MatLayout::new(all, (rows, row0), m, l, bit.as_ref());
    let choices = lay.choices(&x_r, bit.as_ref());
    let (held, chosen) = if server {
        let a = lay.send(p, bit.as_ref(), &v, false)?;
        let h = vcot_recv_extend(p, d3, &choices)?;
        let o = vcot_recv_finish(p, d3, &lay.widths, &choices, &h)?;
        (a, o)
    } else {
        let h = vcot_recv_extend(p, d3, &choices)?;
        let o = vcot_recv_finish(p, d3, &lay.widths, &choices, &h)?;
        let a = lay.send(p, bit.as_ref(), &v, true)?;
        (a, o)
    };
    let mut res = lay.combine(&held, true, bit.as_ref(), &v, l);
    let other = lay.combine(&chosen, false, None, &v, l);
    // The holder's local term (X_own' − offset)·V_own.
    for i in 0..all.d1 {
        let out = &mut res[i * d3..(i + 1) * d3];
        for (o, &t) in out.iter_mut().zip(&other[i * d3..(i + 1) * d3]) {
            *o = o.wrapping_add(t);
        }
        for kk in 0..d2 {
            let e = i * d2 + kk;
            let xo = x_r[e].wrapping_sub(off);
            for (o, &w) in out.iter_mut().zip(lay.v_row(&v, e)) {
                *o = o.wrapping_add(xo.wrapping_mul(w));
            }
        }
        for o in out.iter_mut() {
            *o = ring::reduce(*o, l);
        }
    }
    Ok(res)
}
