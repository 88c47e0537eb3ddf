//! Mixed-bitwidth multiplication of two secret-shared operands (UMult/SMult) and the full
//! matrix product with the server's clear weights, composed from the Wrap protocol and the
//! correlated-OT products of [`super::linear`].
//!
//! Reference: D. Rathee, M. Rathee, R. K. K. Goli, D. Gupta, R. Sharma, N. Chandran,
//! A. Rastogi, "SiRnn: A Math Library for Secure RNN Inference", IEEE S&P 2021 (arXiv
//! 2105.04236). Cleartext semantics: [`crate::fixed::linear::mult`] and
//! [`crate::fixed::linear::matmul`].
//!
//! ## UMult^{m,n,ℓ} and SMult (SiRnn Alg. 3, §IV-C)
//! For m-bit shares x = x₀ + x₁ and n-bit shares y = y₀ + y₁ with wrap bits w_x, w_y (the
//! carries of the share additions), and m, n ≤ ℓ ≤ m + n:
//!
//! uint(x)·uint(y) = x₀y₀ + x₁y₁ + x₀y₁ + x₁y₀ − 2^m·w_x·uint(y) − 2^n·w_y·uint(x) (mod 2^ℓ)
//!
//! (the 2^{m+n}·w_x·w_y term vanishes as ℓ ≤ m + n). The two cross terms are SiRnn's
//! CrossTerm (Alg. 4): each party chooses with the bits of its share of the shorter operand,
//! the other sends its share of the longer one, COT widths ℓ − i. The wraps come from one
//! Wrap call (SiRnn §III-E, the millionaire on 2^k − 1 − x₀ vs x₁) for both operands at
//! max(m, n) bits: the shorter operand's shares are shifted up, which keeps their carry. The
//! products w·uint(·) are SiRnn's multiplexer, folded into the same OT batches: with
//! w = w₀ ⊕ w₁, w·y_p = w_p·y_p + w_o·(y_p·(1 − 2w_p)) — one COT of width ℓ − m chosen by the
//! other party's wrap share — and uint(y) mod 2^{ℓ−m} = y₀ + y₁ since ℓ − m ≤ n. So each party
//! is OT receiver once with min(m, n) + 2 choice bits per element and both batches are
//! pipelined as in [`super::linear::mult_ring`]: Wrap, then 3 flights (the paper's
//! log ν + 2 order).
//!
//! SMult: a signed operand is shifted to x' = x + 2^{m−1} (the server adds it to its share
//! before the Wrap, so the wraps are those of x'), int(x) = uint(x') − 2^{m−1}, and
//! int(x)·int(y) = uint(x')uint(y') − 2^{n−1}uint(x') − 2^{m−1}uint(y') + 2^{m+n−2}. The
//! correction 2^{n−1}·uint(x') = 2^{n−1}(x₀' + x₁) − 2^{m+n−1}·w_x, and 2^{m+n−1}·w_x mod
//! 2^{m+n} only needs w_x's parity, so each party subtracts its Boolean share locally
//! ("piggy-backed" wraps: no extra communication). Mixed signedness works the same way.
//!
//! Wraps of k ≤ 8-bit shares, where it is cheaper than the millionaire tree, take one
//! 1-of-2^k OT per element (a single-leaf millionaire, CrypTFlow2 §3): 8×8→16 costs 477 B on IKNP, 100 B on silent OT.
//!
//! ## ⋆UMult/⋆SMult (SiRnn Table V)
//! [`mult_known_msb`]: when the operands' MSBs are public (e.g. after a ReLU), the carry into
//! the top bit is msb(x₀) ⊕ msb(x₁) ⊕ msb(x), so the wrap is msb(x₀) ∧ msb(x₁) (MSB 1) or
//! msb(x₀) ∨ msb(x₁) (MSB 0): one 1-bit COT per wrap instead of a Wrap (16×16→32: 714 B
//! instead of 990 B).
//!
//! An operand at least ℓ bits wide only matters mod 2^ℓ: it is reduced to ℓ bits (unsigned),
//! where its wrap term vanishes. With m, n ≥ ℓ (e.g. 32×32→32) no wrap is needed at all and the
//! product is [`super::linear::mult_ring`], the cheaper path. ℓ > m + n is rejected.
//!
//! ## A factor per row
//! [`mult_rows`]: x in rows times one y per row (layernorm's and softmax's last step). The
//! cross terms choose with y's bits once per row and each OT carries the row's x values (the
//! vector-OT form of SiRnn's matrix cross term, App. D2), so a row of C costs n OTs instead of
//! C·min(m, n); x's wrap term stays per element, y's per row.
//!
//! ## MatMul with the server's W (SiRnn Alg. 5)
//! [`matmul_full`]: the Wrap protocol on X's (offset) shares, then [`super::linear::matmul`]
//! with those wrap bits: shares of X·W in m + n + ⌈log2 d2⌉ bits (see
//! [`super::linear::MatMulParams::sirnn`]).

use super::linear::{
    MatMulParams, correction_bytes, matmul, matmul_cost, mult_ring, mult_ring_cost,
    shrinking_width_sum, vcot_recv_extend, vcot_recv_finish, vcot_recv_finish_each, vcot_send_each,
    vcot_send_with,
};
use super::millionaire::Tree;
use super::relu::{wrap, wrap_cost};
use super::{Cost, Party, ProtoError, share};
use crate::fixed::linear::Format;
use crate::net::Role;
use crate::ot::OtKind;
use crate::ot::cost as otc;
use crate::ring;

fn arg(msg: String) -> ProtoError {
    ProtoError::Argument(msg)
}

/// Public parameters of [`mult`]: the operands' formats (widths m, n and signedness) and the
/// output width ℓ ≤ m + n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultParams {
    pub x: Format,
    pub y: Format,
    pub out_bits: u32,
}

impl MultParams {
    /// SiRnn's default output width ℓ = m + n (capped at 64).
    pub fn sirnn(x: Format, y: Format) -> MultParams {
        MultParams {
            x,
            y,
            out_bits: (x.bits + y.bits).min(64),
        }
    }

    fn check(&self) -> Result<(), ProtoError> {
        for (what, b) in [("m", self.x.bits), ("n", self.y.bits), ("ℓ", self.out_bits)] {
            if !(1..=64).contains(&b) {
                return Err(arg(format!("{what} = {b} is not in 1..=64")));
            }
        }
        if self.out_bits > self.x.bits + self.y.bits {
            return Err(arg(format!(
                "ℓ = {} exceeds m + n = {}",
                self.out_bits,
                self.x.bits + self.y.bits
            )));
        }
        Ok(())
    }

    /// The operand formats after reducing operands of ≥ ℓ bits to unsigned ℓ-bit ones.
    fn normalized(&self) -> (Format, Format) {
        let l = self.out_bits;
        let norm = |f: Format| {
            if f.bits >= l { Format::unsigned(l) } else { f }
        };
        (norm(self.x), norm(self.y))
    }
}

/// The per-element OT layout of one direction of [`mult`] (both directions are alike).
struct Layout {
    m: u32,
    n: u32,
    l: u32,
    /// Choice bits of the shorter operand: min(m, n).
    k: u32,
    wx: bool,
    wy: bool,
}

impl Layout {
    fn new(params: &MultParams) -> Layout {
        let (xf, yf) = params.normalized();
        let l = params.out_bits;
        Layout {
            m: xf.bits,
            n: yf.bits,
            l,
            k: xf.bits.min(yf.bits),
            wx: xf.bits < l,
            wy: yf.bits < l,
        }
    }

    fn per(&self) -> usize {
        self.k as usize + self.wx as usize + self.wy as usize
    }

    fn widths(&self) -> Vec<u32> {
        let mut w: Vec<u32> = (0..self.k).map(|i| self.l - i).collect();
        if self.wx {
            w.push(self.l - self.m);
        }
        if self.wy {
            w.push(self.l - self.n);
        }
        w
    }

    fn width_sum(&self) -> u64 {
        shrinking_width_sum(self.k, self.l)
            + if self.wx { (self.l - self.m) as u64 } else { 0 }
            + if self.wy { (self.l - self.n) as u64 } else { 0 }
    }
}

/// The 3 pipelined flights of two opposite COT batches of `ots` OTs each, widths summing to
/// `width_sum` per batch: client's extension; server's corrections with its extension;
/// client's corrections.
fn two_way_cost(ots: usize, width_sum: u64) -> Cost {
    if ots == 0 {
        return Cost::ZERO;
    }
    let u = otc::rot(ots);
    let corr = correction_bytes(1, width_sum);
    Cost::ot_request(Role::Client, u)
        .then(Cost::ot_request(Role::Server, u).alongside(Cost::message(Role::Server, corr)))
        .then(Cost::message(Role::Client, corr))
}

/// The exact cost of [`mult`] on `len` elements.
pub fn mult_cost(len: usize, params: &MultParams) -> Cost {
    mult_known_msb_cost(len, params, KnownMsb::NONE)
}

/// The exact cost of [`mult_known_msb`] on `len` elements.
pub fn mult_known_msb_cost(len: usize, params: &MultParams, known: KnownMsb) -> Cost {
    let kind = |b: Option<bool>| b.map_or(HintKind::Unknown, |_| HintKind::Msb);
    mult_hinted_cost(len, params, kind(known.x), kind(known.y))
}

/// The exact cost of [`mult_hinted`] on `len` elements with hints of these kinds.
pub fn mult_hinted_cost(len: usize, params: &MultParams, hx: HintKind, hy: HintKind) -> Cost {
    if len == 0 {
        return Cost::ZERO;
    }
    let lay = Layout::new(params);
    if !lay.wx && !lay.wy {
        return mult_ring_cost(len, params.out_bits);
    }
    let next = two_way_cost(len * lay.per(), len as u64 * lay.width_sum());
    wraps_then(&lay, [len, len], [hx, hy], next)
}

/// The operands' wraps ([`operand_wraps`] on `lens` elements of x and y) and then the
/// products' two-way phase `next`.
fn wraps_then(lay: &Layout, lens: [usize; 2], hints: [HintKind; 2], next: Cost) -> Cost {
    let ops = [(lay.wx, lay.m), (lay.wy, lay.n)];
    let (mut n_msb, mut n_unk, mut bits) = (0, 0, None::<u32>);
    for ((&(need, b), len), h) in ops.iter().zip(lens).zip(hints) {
        match (need, h) {
            (true, HintKind::Msb) => n_msb += len,
            (true, HintKind::Unknown) => {
                n_unk += len;
                bits = Some(bits.map_or(b, |w| w.max(b)));
            }
            _ => {}
        }
    }
    let ands = vcot_cost_1(n_msb);
    match bits {
        None => ands.then(next),
        Some(bits) => ands.then(after_wrap(n_unk, bits, next)),
    }
}

/// The cost of a Wrap of `count` elements of `bits` bits followed by a phase `next` that the
/// client opens: if the Wrap's last message is the client's, the phase's first message
/// travels with it (one flight fewer).
fn after_wrap(count: usize, bits: u32, next: Cost) -> Cost {
    let (w, last) = wrap_any_cost(count, bits);
    or_merging_tree(count, bits, next, merge_wrap(w, last, next))
}

/// `plain`, the cost of a Wrap of `count` elements of `bits` bits and then the client-opened
/// phase `next` as IKNP runs them, or on silent OT the [`merging_tree`] with `next`'s first
/// flight joining its last, where there is one ([`wrap_before_client`] runs it).
pub(crate) fn or_merging_tree(count: usize, bits: u32, next: Cost, plain: Cost) -> Cost {
    match merging_tree(count, bits, next.rounds > 0) {
        Some(t) => Cost::per_engine(plain, merge_wrap(t.cost(count), Role::Client, next)),
        None => plain,
    }
}

/// A Wrap's cost `w` whose last message `last` sends, then `next` (opened by the client).
fn merge_wrap(w: Cost, last: Role, next: Cost) -> Cost {
    w.then_joined(next, last == Role::Client)
}

/// The comparison tree silent OT runs for a wrap that IKNP takes from the 1-of-2^k table,
/// when a client-opened phase follows (`then_client`): a tree of height 1 ends with the
/// client's flight, which that phase's first joins, so it takes the table's flights (2 + the
/// phase's) for fewer bytes (8 bits: ≈ 8 B against the table's 33 B). None where it does not
/// pay or does not exist.
fn merging_tree(count: usize, bits: u32, then_client: bool) -> Option<&'static Tree> {
    static TREES: std::sync::OnceLock<Vec<Option<Tree>>> = std::sync::OnceLock::new();
    if count == 0 || !then_client || !use_table(bits) {
        return None;
    }
    let trees = TREES.get_or_init(|| {
        (0..=8u32)
            .map(|b| {
                let t = Tree::silent_of_height(b, 1)?;
                let silent = |c: Cost| c.on(OtKind::Silent).total_bytes();
                (b > 0 && silent(t.cost(64)) < silent(table_wrap_cost(64, b))).then_some(t)
            })
            .collect()
    });
    trees.get(bits as usize)?.as_ref()
}

/// [`wrap_any`] where a client-opened phase follows (`then_client`, as [`or_merging_tree`]
/// prices it): on silent OT the [`merging_tree`] where there is one. Also says whether it ran
/// the tree, whose last flight (the client's, left open) the phase's first must join.
pub(crate) fn wrap_before_client(
    p: &mut Party,
    input: &[u64],
    bits: u32,
    then_client: bool,
) -> Result<(Vec<u8>, bool), ProtoError> {
    match merging_tree(input.len(), bits, then_client) {
        Some(t) if p.ot_kind() == OtKind::Silent => {
            Ok((super::relu::wrap_with(p, t, input, bits)?, true))
        }
        _ => Ok((wrap_any(p, input, bits)?, false)),
    }
}

/// The cost of the direct wrap: one 1-of-2^k OT of 1-bit messages per element (k ≤ 8).
fn table_wrap_cost(count: usize, bits: u32) -> Cost {
    Cost::ot(Role::Server, otc::one_of_n(count, 1 << bits, 1))
}

/// Whether [`wrap_any`] uses the direct table (k ≤ 8 and cheaper than the millionaire).
fn use_table(bits: u32) -> bool {
    // One choice for both engines (cost functions are engine-neutral): by IKNP bytes.
    let bytes = |c: Cost| c.on(OtKind::Iknp).total_bytes();
    bits <= 8 && bytes(table_wrap_cost(1, bits)) < bytes(wrap_cost(1, bits))
}

/// The cost of [`wrap_any`] and the sender of its last message.
pub(crate) fn wrap_any_cost(count: usize, bits: u32) -> (Cost, Role) {
    if use_table(bits) {
        (table_wrap_cost(count, bits), Role::Server)
    } else {
        (wrap_cost(count, bits), Tree::new(bits).last_sender())
    }
}

/// The wrap bits of k-bit shares (SiRnn §III-E, F_Wrap). For k ≤ 8 where it is cheaper, by
/// one 1-of-2^k OT per element (the millionaire with a single leaf, CrypTFlow2 §3 with
/// radix 2^k): the server offers T[v] = r ⊕ 1{x₀ + v ≥ 2^k} for a fresh random r (its
/// share), the client chooses v = x₁. Otherwise the millionaire tree ([`wrap`]).
pub(crate) fn wrap_any(p: &mut Party, input: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    if !use_table(bits) {
        return wrap(p, input, bits);
    }
    let n = 1usize << bits;
    let mask = ring::mask(bits);
    let mut out = vec![0u8; input.len()];
    if input.is_empty() {
        return Ok(out);
    }
    if p.is_server() {
        super::bool::random_bits(p, &mut out);
        // Messages generated per OT while the engine hashes (no len·2^k table in memory).
        let fill = |j: usize, buf: &mut [u64]| {
            let (x, r) = (input[j] & mask, out[j] as u64);
            for (v, slot) in buf.iter_mut().enumerate() {
                *slot = r ^ (x + v as u64 > mask) as u64;
            }
        };
        let mut msg = Vec::new();
        p.ot.one_of_n_send_deferred(&mut *p.io, n, 1, input.len(), fill, &mut msg)?;
        p.io.send(&msg)?;
        p.io.end_flight()?;
    } else {
        let choices: Vec<u8> = input.iter().map(|&x| (x & mask) as u8).collect();
        let mut got = vec![0u64; input.len()];
        p.ot.one_of_n_recv(&mut *p.io, n, 1, &choices, &mut got)?;
        for (o, g) in out.iter_mut().zip(got) {
            *o = g as u8 & 1;
        }
    }
    Ok(out)
}

/// Public knowledge of the operands' most significant bits (SiRnn's ⋆ variants, Table V):
/// `Some(b)` when msb(x) (of the m-bit encoding) is known to be b, e.g. 0 for x ≥ 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownMsb {
    pub x: Option<bool>,
    pub y: Option<bool>,
}

impl KnownMsb {
    pub const NONE: KnownMsb = KnownMsb { x: None, y: None };
}

/// What is known about an operand's wrap bit w (the carry of adding its two m-bit shares; of
/// the offset operand x' = x + 2^{m−1} for a signed one), which saves [`mult`] its Wrap.
#[derive(Clone, Copy, Debug)]
pub enum WrapHint<'a> {
    /// Nothing: the Wrap protocol computes it.
    Unknown,
    /// The operand's MSB is public (SiRnn's ⋆ variants): one AND of the shares' MSBs.
    Msb(bool),
    /// This party's Boolean shares of w, computed earlier (e.g. a DigDec carry).
    Shares(&'a [u8]),
}

/// The kind of a [`WrapHint`], all its cost depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintKind {
    Unknown,
    Msb,
    Shares,
}

impl WrapHint<'_> {
    pub fn kind(&self) -> HintKind {
        match self {
            WrapHint::Unknown => HintKind::Unknown,
            WrapHint::Msb(_) => HintKind::Msb,
            WrapHint::Shares(_) => HintKind::Shares,
        }
    }

    fn from_msb(b: Option<bool>) -> WrapHint<'static> {
        b.map_or(WrapHint::Unknown, WrapHint::Msb)
    }
}

/// This party's Boolean shares of the wraps [`mult`] needs (x's, then y's; zeros where a
/// wrap is not needed): the hinted ones from their hints, MSB-known ones by one batch of
/// ANDs, the rest by one Wrap call at the widest of their widths.
#[allow(clippy::too_many_arguments)]
fn operand_wraps(
    p: &mut Party,
    params: &MultParams,
    lay: &Layout,
    hints: [WrapHint<'_>; 2],
    xs: &[u64],
    ys: &[u64],
) -> Result<[Vec<u8>; 2], ProtoError> {
    let (xf, yf) = params.normalized();
    let ops = [(lay.wx, xs, lay.m, xf), (lay.wy, ys, lay.n, yf)];
    let mut out = [vec![0u8; xs.len()], vec![0u8; ys.len()]];
    let mut msb_in = Vec::new();
    let mut msb_slots = Vec::new();
    let mut unk_slots = Vec::new();
    for (slot, (&(need, sh, bits, f), hint)) in ops.iter().zip(hints).enumerate() {
        if !need {
            continue;
        }
        match hint {
            WrapHint::Shares(w) => {
                if w.len() != sh.len() {
                    return Err(arg(format!(
                        "{} wrap shares for {} elements",
                        w.len(),
                        sh.len()
                    )));
                }
                out[slot].copy_from_slice(w);
            }
            WrapHint::Msb(b) => {
                // Given msb(x') = c, the wrap is a ∧ b (c = 1) or ¬(¬a ∧ ¬b) (c = 0).
                let c = b ^ f.signed;
                msb_slots.push((slot, !c, msb_in.len()));
                msb_in.extend(sh.iter().map(|&v| (ring::msb(v, bits) as u8) ^ (!c as u8)));
            }
            WrapHint::Unknown => unk_slots.push(slot),
        }
    }
    if !msb_in.is_empty() {
        let w = and_of_msbs(p, &msb_in)?;
        let flip_share = p.is_server();
        for &(slot, flip, at) in &msb_slots {
            let o = &mut out[slot];
            let len = o.len();
            for (o, &v) in o.iter_mut().zip(&w[at..at + len]) {
                *o = v ^ (flip && flip_share) as u8;
            }
        }
    }
    if !unk_slots.is_empty() {
        let wb = unk_slots.iter().map(|&s| ops[s].2).max().unwrap_or(1);
        let mut input = Vec::new();
        for &s in &unk_slots {
            input.extend(ops[s].1.iter().map(|&v| v << (wb - ops[s].2)));
        }
        // The products' two-way phase follows, opened by the client (see `after_wrap`).
        let (w, _) = wrap_before_client(p, &input, wb, true)?;
        let mut at = 0;
        for &s in &unk_slots {
            let len = out[s].len();
            out[s].copy_from_slice(&w[at..at + len]);
            at += len;
        }
    }
    Ok(out)
}

/// The cost of [`and_of_msbs`] on `count` bits: `count` random OTs from the client and
/// ⌈count/8⌉ bytes of corrections; 2 flights.
fn vcot_cost_1(count: usize) -> Cost {
    if count == 0 {
        return Cost::ZERO;
    }
    Cost::ot_request(Role::Client, otc::rot(count)).then(Cost::message(
        Role::Server,
        correction_bytes(1, count as u64),
    ))
}

/// Boolean shares of a_s ∧ a_c for bits a_s (server's) and a_c (client's), one COT of width
/// 1 each (mod 2 the correlation a_s·a_c is the AND). Given msb(x) = c public, the wrap of
/// x's shares with MSBs a, b is a ∧ b if c = 1 and a ∨ b = ¬(¬a ∧ ¬b) if c = 0 (the carry
/// into the top bit is a ⊕ b ⊕ c): SiRnn's ⋆ wrap without a millionaire.
fn and_of_msbs(p: &mut Party, a: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let widths = vec![1u32; a.len()];
    if a.is_empty() {
        return Ok(Vec::new());
    }
    if p.is_server() {
        let pads = vcot_send_with(p, 1, &widths, &mut |j, c| c[0] = a[j] as u64, true)?;
        Ok(pads.iter().map(|&v| v as u8 & 1).collect())
    } else {
        let h = vcot_recv_extend(p, 1, a)?;
        let o = vcot_recv_finish(p, 1, &widths, a, &h)?;
        Ok(o.iter().map(|&v| v as u8 & 1).collect())
    }
}

/// ⋆UMult/⋆SMult (SiRnn Table V): [`mult`] where the MSBs of the operands are public
/// (`known`): each wrap is one AND of the shares' MSBs instead of a Wrap. If some needed
/// wrap's MSB is unknown, this is [`mult`].
pub fn mult_known_msb(
    p: &mut Party,
    params: &MultParams,
    known: KnownMsb,
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let h = [WrapHint::from_msb(known.x), WrapHint::from_msb(known.y)];
    mult_impl(p, params, h, x, y)
}

/// [`mult`] with what is known about each operand's wrap ([`WrapHint`]).
pub fn mult_hinted(
    p: &mut Party,
    params: &MultParams,
    hints: [WrapHint<'_>; 2],
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    mult_impl(p, params, hints, x, y)
}

/// UMult/SMult^{m,n,ℓ} (SiRnn Alg. 3): `x` and `y` are this party's m-bit and n-bit shares
/// (formats `params.x`, `params.y`); returns shares of val(x)·val(y) mod 2^ℓ
/// ([`fixed::linear::mult`](crate::fixed::linear::mult)).
pub fn mult(
    p: &mut Party,
    params: &MultParams,
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    mult_impl(p, params, [WrapHint::Unknown; 2], x, y)
}

fn mult_impl(
    p: &mut Party,
    params: &MultParams,
    hints: [WrapHint<'_>; 2],
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    if y.len() != x.len() {
        return Err(arg(format!(
            "y has {} entries, expected {}",
            y.len(),
            x.len()
        )));
    }
    let len = x.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    let l = params.out_bits;
    let (xf, yf) = params.normalized();
    let lay = Layout::new(params);
    let (m, n) = (lay.m, lay.n);
    if !lay.wx && !lay.wy {
        let xr: Vec<u64> = x.iter().map(|&v| ring::reduce(v, l)).collect();
        let yr: Vec<u64> = y.iter().map(|&v| ring::reduce(v, l)).collect();
        return mult_ring(p, l, &xr, &yr);
    }
    let server = p.is_server();
    // This party's shares of the offset operands x' = x + off_x, y' = y + off_y.
    let (offx, offy) = (xf.offset(), yf.offset());
    let xs = share::add_public(p.role, x, offx, m);
    let ys = share::add_public(p.role, y, offy, n);

    let [wxv, wyv] = operand_wraps(p, params, &lay, hints, &xs, &ys)?;
    let (wx, wy): (&[u8], &[u8]) = (&wxv, &wyv);

    // One COT batch per direction: the receiver chooses with the bits of its share of the
    // shorter operand, then its wrap shares of x and y.
    let per = lay.per();
    let k = lay.k as usize;
    let x_short = m <= n;
    let (short, long) = if x_short { (&xs, &ys) } else { (&ys, &xs) };
    let widths: Vec<u32> = {
        let one = lay.widths();
        (0..len).flat_map(|_| one.iter().copied()).collect()
    };
    let choices: Vec<u8> = (0..len)
        .flat_map(|e| {
            let s = short[e];
            let mut c: Vec<u8> = (0..k).map(|i| (s >> i) as u8 & 1).collect();
            if lay.wx {
                c.push(wx[e] & 1);
            }
            if lay.wy {
                c.push(wy[e] & 1);
            }
            c
        })
        .collect();
    let (wx_slot, wy_slot) = (k, k + lay.wx as usize);
    let mut corr = |j: usize, c: &mut [u64]| {
        let (e, q) = (j / per, j % per);
        c[0] = if q < k {
            long[e]
        } else if lay.wx && q == wx_slot {
            if wx[e] & 1 == 1 {
                ys[e].wrapping_neg()
            } else {
                ys[e]
            }
        } else {
            debug_assert!(lay.wy && q == wy_slot);
            if wy[e] & 1 == 1 {
                xs[e].wrapping_neg()
            } else {
                xs[e]
            }
        };
    };
    let (mine, theirs) = if server {
        let a = vcot_send_with(p, 1, &widths, &mut corr, false)?;
        let h = vcot_recv_extend(p, 1, &choices)?;
        let o = vcot_recv_finish(p, 1, &widths, &choices, &h)?;
        (o, a)
    } else {
        let h = vcot_recv_extend(p, 1, &choices)?;
        let o = vcot_recv_finish(p, 1, &widths, &choices, &h)?;
        let a = vcot_send_with(p, 1, &widths, &mut corr, true)?;
        (o, a)
    };
    let scale: Vec<u64> = (0..per)
        .map(|q| {
            if q < k {
                1u64 << q
            } else if lay.wx && q == wx_slot {
                (1u64 << m).wrapping_neg()
            } else {
                (1u64 << n).wrapping_neg()
            }
        })
        .collect();
    let pm = 1u64 << m.min(63);
    let pn = 1u64 << n.min(63);
    Ok((0..len)
        .map(|e| {
            let (xe, ye) = (xs[e], ys[e]);
            let (wxe, wye) = ((wx[e] & 1) as u64, (wy[e] & 1) as u64);
            let mut r = xe.wrapping_mul(ye);
            for q in 0..per {
                let d = mine[e * per + q].wrapping_sub(theirs[e * per + q]);
                r = r.wrapping_add(d.wrapping_mul(scale[q]));
            }
            // Local halves of the wrap products (only where the wrap is used: m, n < ℓ ≤ 64).
            if lay.wx {
                r = r.wrapping_sub(pm.wrapping_mul(wxe).wrapping_mul(ye));
                r = r.wrapping_add(offy.wrapping_mul(pm).wrapping_mul(wxe));
            }
            if lay.wy {
                r = r.wrapping_sub(pn.wrapping_mul(wye).wrapping_mul(xe));
                r = r.wrapping_add(offx.wrapping_mul(pn).wrapping_mul(wye));
            }
            // Signed corrections: −off_y·x' − off_x·y' (+ off_x·off_y on the server).
            r = r
                .wrapping_sub(offy.wrapping_mul(xe))
                .wrapping_sub(offx.wrapping_mul(ye));
            if server {
                r = r.wrapping_add(offx.wrapping_mul(offy));
            }
            ring::reduce(r, l)
        })
        .collect())
}

/// The per-direction OT layout of [`mult_rows`]: per row, one OT per bit of the shorter of
/// y's width and ℓ (widths ℓ − i) and one for y's wrap (width ℓ − n), each carrying the row's
/// `cols` correlations; per element, one for x's wrap (width ℓ − m).
struct RowLayout {
    lay: Layout,
    /// Choice bits of y per row.
    k: u32,
}

impl RowLayout {
    fn new(params: &MultParams) -> RowLayout {
        let lay = Layout::new(params);
        RowLayout {
            k: lay.n.min(lay.l),
            lay,
        }
    }

    fn per_row(&self) -> usize {
        self.k as usize + self.lay.wy as usize
    }

    /// Correlation bits per element: every row OT's width once per column, and x's wrap.
    fn width_sum(&self) -> u64 {
        let l = &self.lay;
        shrinking_width_sum(self.k, l.l)
            + if l.wy { (l.l - l.n) as u64 } else { 0 }
            + if l.wx { (l.l - l.m) as u64 } else { 0 }
    }
}

/// That `len` values of x are `rows` rows of `cols` (one y per row), as [`mult_rows`] takes
/// them.
pub fn check_rows(len: usize, rows: usize, cols: usize) -> Result<(), ProtoError> {
    if cols == 0 || len != rows * cols {
        return Err(arg(format!("{len} values are not {rows} rows of {cols}")));
    }
    Ok(())
}

/// The exact cost of [`mult_rows`] on `rows` rows of `cols` elements.
pub fn mult_rows_cost(
    rows: usize,
    cols: usize,
    params: &MultParams,
    hx: HintKind,
    hy: HintKind,
) -> Cost {
    let len = rows * cols;
    if len == 0 {
        return Cost::ZERO;
    }
    let rl = RowLayout::new(params);
    let ots = rows * rl.per_row() + if rl.lay.wx { len } else { 0 };
    let next = two_way_cost(ots, len as u64 * rl.width_sum());
    wraps_then(&rl.lay, [len, rows], [hx, hy], next)
}

/// UMult/SMult^{m,n,ℓ} of `x` (rows of `cols` elements) by `y` (one value per row): shares of
/// val(x_{r,c})·val(y_r) mod 2^ℓ, the same as [`mult_hinted`] on y repeated over each row.
///
/// SiRnn's CrossTerm (Alg. 4) with the choices on y's side: the OT receiver chooses with the
/// bits of its share of y_r, and the sender's correlation is its whole row of x — one OT
/// carries `cols` values (its pad expanded by AES-CTR, as the matrix cross term of SiRnn App.
/// D2 carries a row of W). So a row costs n OTs of ⌈Σ_{i<n}(ℓ − i)·cols/8⌉ correction bytes
/// per direction instead of min(m, n) OTs per element: for a row of 100 25-bit values by a
/// 27-bit factor into 57 bits, 306 B per element against 1,081 B. The wrap products are
/// [`mult_hinted`]'s, y's once per row (its OT carries the row of x·(1 − 2w)), x's per
/// element; both directions pipeline in the same 3 flights after the wraps.
pub fn mult_rows(
    p: &mut Party,
    params: &MultParams,
    hints: [WrapHint<'_>; 2],
    x: &[u64],
    y: &[u64],
    cols: usize,
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    check_rows(x.len(), y.len(), cols)?;
    let len = x.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    let l = params.out_bits;
    let (xf, yf) = params.normalized();
    let rl = RowLayout::new(params);
    let lay = &rl.lay;
    let (m, n) = (lay.m, lay.n);
    let server = p.is_server();
    let (offx, offy) = (xf.offset(), yf.offset());
    let xs = share::add_public(p.role, x, offx, m);
    let ys = share::add_public(p.role, y, offy, n);
    let [wx, wy] = operand_wraps(p, params, lay, hints, &xs, &ys)?;

    // OTs: per row k bit choices and y's wrap (cols correlations each), then per element x's
    // wrap (one correlation).
    let rows = y.len();
    let (k, pr) = (rl.k as usize, rl.per_row());
    let n_row = rows * pr;
    let n_elem = if lay.wx { len } else { 0 };
    let mut widths = Vec::with_capacity(n_row + n_elem);
    let mut ts = Vec::with_capacity(n_row + n_elem);
    let mut choices = Vec::with_capacity(n_row + n_elem);
    for r in 0..rows {
        for i in 0..k {
            widths.push(l - i as u32);
            choices.push((ys[r] >> i) as u8 & 1);
        }
        if lay.wy {
            widths.push(l - n);
            choices.push(wy[r] & 1);
        }
        ts.extend(std::iter::repeat_n(cols, pr));
    }
    if lay.wx {
        widths.extend(std::iter::repeat_n(l - m, len));
        choices.extend(wx.iter().map(|&w| w & 1));
        ts.extend(std::iter::repeat_n(1, len));
    }
    let mut corr = |j: usize, c: &mut [u64]| {
        if j < n_row {
            let r = j / pr;
            let row = &xs[r * cols..(r + 1) * cols];
            if j % pr < k {
                c.copy_from_slice(row);
            } else {
                let neg = wy[r] & 1 == 1;
                for (o, &v) in c.iter_mut().zip(row) {
                    *o = if neg { v.wrapping_neg() } else { v };
                }
            }
        } else {
            let e = j - n_row;
            let v = ys[e / cols];
            c[0] = if wx[e] & 1 == 1 { v.wrapping_neg() } else { v };
        }
    };
    let (mine, theirs) = if server {
        let a = vcot_send_each(p, &ts, &widths, &mut corr, false)?;
        let h = vcot_recv_extend(p, 1, &choices)?;
        let o = vcot_recv_finish_each(p, &ts, &widths, &choices, &h)?;
        (o, a)
    } else {
        let h = vcot_recv_extend(p, 1, &choices)?;
        let o = vcot_recv_finish_each(p, &ts, &widths, &choices, &h)?;
        let a = vcot_send_each(p, &ts, &widths, &mut corr, true)?;
        (o, a)
    };
    let pm = 1u64 << m.min(63);
    let pn = 1u64 << n.min(63);
    let at_row = |r: usize, q: usize, c: usize| (r * pr + q) * cols + c;
    let elem0 = n_row * cols;
    Ok((0..len)
        .map(|e| {
            let (r, c) = (e / cols, e % cols);
            let (xe, ye) = (xs[e], ys[r]);
            let (wxe, wye) = ((wx[e] & 1) as u64, (wy[r] & 1) as u64);
            let mut v = xe.wrapping_mul(ye);
            for q in 0..k {
                let i = at_row(r, q, c);
                v = v.wrapping_add(mine[i].wrapping_sub(theirs[i]) << q);
            }
            if lay.wy {
                let i = at_row(r, k, c);
                let d = mine[i].wrapping_sub(theirs[i]);
                v = v.wrapping_add(d.wrapping_mul(pn.wrapping_neg()));
                v = v.wrapping_sub(pn.wrapping_mul(wye).wrapping_mul(xe));
                v = v.wrapping_add(offx.wrapping_mul(pn).wrapping_mul(wye));
            }
            if lay.wx {
                let i = elem0 + e;
                let d = mine[i].wrapping_sub(theirs[i]);
                v = v.wrapping_add(d.wrapping_mul(pm.wrapping_neg()));
                v = v.wrapping_sub(pm.wrapping_mul(wxe).wrapping_mul(ye));
                v = v.wrapping_add(offy.wrapping_mul(pm).wrapping_mul(wxe));
            }
            v = v
                .wrapping_sub(offy.wrapping_mul(xe))
                .wrapping_sub(offx.wrapping_mul(ye));
            if server {
                v = v.wrapping_add(offx.wrapping_mul(offy));
            }
            ring::reduce(v, l)
        })
        .collect())
}

/// The exact cost of [`matmul_full`]: the Wrap of X's d1·d2 entries at m bits (if m < ℓ),
/// then [`matmul_cost`].
pub fn matmul_full_cost(params: &MatMulParams) -> Cost {
    with_wraps(params, matmul_cost(params))
}

/// The matrix product X·W with the server's clear W (SiRnn Alg. 5 with a public weight
/// matrix): `x` is this party's m-bit shares of X (d1×d2), the server passes W (d2×d3,
/// format `params.w`; the client `&[]`). The wrap bits of X's (offset) shares come from the
/// Wrap protocol, then [`matmul`]. Returns shares of `Σ_k val(X[i][k])·val(W[k][j]) mod 2^ℓ`.
pub fn matmul_full(
    p: &mut Party,
    params: &MatMulParams,
    x: &[u64],
    w: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let wraps = checked_wraps(p, params, x, matmul_cost(params))?;
    matmul(p, params, x, &wraps, w)
}

/// X's length checked, then the wrap bits of its (offset) shares by the Wrap protocol if the
/// product needs them (m < ℓ).
fn checked_wraps(
    p: &mut Party,
    params: &MatMulParams,
    x: &[u64],
    next: Cost,
) -> Result<Vec<u8>, ProtoError> {
    if x.len() != params.dims.x_len() {
        return Err(arg(format!(
            "X share has {} entries, expected {}",
            x.len(),
            params.dims.x_len()
        )));
    }
    match params.needs_wrap() {
        true => offset_wraps(p, params, x, next),
        false => Ok(Vec::new()),
    }
}

/// The cost of the Wrap of X's entries at m bits (if m < ℓ) followed by `next`.
fn with_wraps(params: &MatMulParams, next: Cost) -> Cost {
    if params.needs_wrap() {
        after_wrap(params.dims.x_len(), params.x.bits, next)
    } else {
        next
    }
}

/// The exact cost of [`matmul_masked_full`] (online; [`super::masked::matmul_pre_cost`] is
/// the preprocessing): the Wrap of X's entries at m bits (if m < ℓ), then
/// [`super::masked::matmul_masked_cost`].
pub fn matmul_masked_full_cost(params: &MatMulParams) -> Cost {
    with_wraps(params, super::masked::matmul_masked_cost(params))
}

/// [`matmul_full`] on preprocessed masks ([`super::masked`]): the Wrap protocol on X's
/// (offset) shares, then [`super::masked::matmul_masked`].
pub fn matmul_masked_full(
    p: &mut Party,
    params: &MatMulParams,
    masks: super::masked::Masks,
    x: &[u64],
    w: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let next = super::masked::matmul_masked_cost(params);
    let wraps = checked_wraps(p, params, x, next)?;
    super::masked::matmul_masked(p, params, masks, x, &wraps, w)
}

/// The exact cost of [`matmul_shared_full`] on `params.dims.d1` rows: the Wrap of X's entries
/// at m bits (if m < ℓ), then [`matmul_shared_cost`].
pub fn matmul_shared_full_cost(params: &MatMulParams) -> Cost {
    with_wraps(params, super::linear::matmul_shared_cost(params))
}

/// The product of two shared matrices on `params.dims.d1` rows of X (products of `rows` rows,
/// the first row being row `row0` of its product): the wrap bits of X's (offset) shares from
/// the Wrap protocol, then [`matmul_shared`](super::linear::matmul_shared) (see there for the
/// operands).
pub fn matmul_shared_full(
    p: &mut Party,
    params: &MatMulParams,
    rows: (usize, usize),
    x: &[u64],
    y: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    let wraps = match params.needs_wrap() {
        true => offset_wraps(p, params, x, super::linear::matmul_shared_cost(params))?,
        false => Vec::new(),
    };
    super::linear::matmul_shared(p, params, rows, x, &wraps, y)
}

/// Boolean shares of the wrap bits of X's shares with the server's offset added, before a
/// phase costing `next` (which [`after_wrap`] merges with).
fn offset_wraps(
    p: &mut Party,
    params: &MatMulParams,
    x: &[u64],
    next: Cost,
) -> Result<Vec<u8>, ProtoError> {
    let m = params.x.bits;
    if !(1..=64).contains(&m) {
        return Err(arg(format!("m = {m} is not in 1..=64")));
    }
    let off = params.x.offset();
    let input: Vec<u64> = if p.is_server() {
        x.iter().map(|&v| ring::add(v, off, m)).collect()
    } else {
        x.iter().map(|&v| ring::reduce(v, m)).collect()
    };
    Ok(wrap_before_client(p, &input, m, next.rounds > 0)?.0)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;
    use crate::fixed::linear as fl;
    use crate::net::Stats;
    use crate::testkit::pair::run_mem;

    /// One case: parameters and the values of x and y.
    type Case = (MultParams, Vec<u64>, Vec<u64>);

    /// Shares each case's values at random, runs all cases in one session and checks every
    /// result against `fixed` and every measured cost against [`mult_cost`].
    fn check_cases(cases: &[Case], seed: u8) {
        check_known(cases, KnownMsb::NONE, seed)
    }

    fn check_known(cases: &[Case], known: KnownMsb, seed: u8) {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let shares: Vec<_> = cases
            .iter()
            .map(|(mp, x, y)| {
                let split = |rng: &mut ChaCha20Rng, v: &[u64], bits: u32| {
                    let s: Vec<u64> = v
                        .iter()
                        .map(|_| rng.next_u64() & ring::mask(bits))
                        .collect();
                    let c: Vec<u64> = v
                        .iter()
                        .zip(&s)
                        .map(|(&v, &s)| ring::sub(v, s, bits))
                        .collect();
                    (s, c)
                };
                (split(&mut rng, x, mp.x.bits), split(&mut rng, y, mp.y.bits))
            })
            .collect();
        let run = run_mem(
            |p: &mut Party| -> Result<Vec<(Vec<u64>, Stats)>, ProtoError> {
                let mut res = Vec::new();
                for ((mp, _, _), ((xs, xc), (ys, yc))) in cases.iter().zip(&shares) {
                    let (x, y) = if p.is_server() { (xs, ys) } else { (xc, yc) };
                    p.io.end_flight()?;
                    let before = p.stats();
                    let out = mult_known_msb(p, mp, known, x, y)?;
                    p.io.end_flight()?;
                    res.push((out, p.stats() - before));
                }
                Ok(res)
            },
        )
        .expect("runs");
        for (k, (mp, x, y)) in cases.iter().enumerate() {
            let ((s, ss), (c, cs)) = (&run.server[k], &run.client[k]);
            for i in 0..x.len() {
                assert_eq!(
                    ring::add(s[i], c[i], mp.out_bits),
                    fl::mult(x[i], mp.x, y[i], mp.y, mp.out_bits),
                    "{mp:?} element {i}: x = {:#x}, y = {:#x}",
                    x[i],
                    y[i]
                );
            }
            let measured = Cost::measured(ss, cs);
            assert_eq!(
                measured,
                mult_known_msb_cost(x.len(), mp, known).on(OtKind::Iknp),
                "{mp:?} {known:?} n={}",
                x.len()
            );
        }
    }

    fn random(rng: &mut ChaCha20Rng, n: usize, bits: u32) -> Vec<u64> {
        (0..n).map(|_| rng.next_u64() & ring::mask(bits)).collect()
    }

    /// Mixed widths m ≠ n, all four signedness combinations, ℓ from max(m, n) to m + n.
    #[test]
    fn mixed_widths_and_signedness() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let mut cases = Vec::new();
        for (m, n) in [
            (1, 2),
            (8, 16),
            (16, 8),
            (2, 31),
            (37, 8),
            (31, 32),
            (63, 1),
            (64, 8),
        ] {
            for (sx, sy) in [(false, false), (true, true), (true, false), (false, true)] {
                let fx = Format {
                    bits: m,
                    signed: sx,
                };
                let fy = Format {
                    bits: n,
                    signed: sy,
                };
                let top = (m + n).min(64);
                for l in [top, (m.max(n) + top) / 2, m.max(n)] {
                    for len in [1, 3, 1000] {
                        let x = random(&mut rng, len, m);
                        let y = random(&mut rng, len, n);
                        cases.push((
                            MultParams {
                                x: fx,
                                y: fy,
                                out_bits: l,
                            },
                            x,
                            y,
                        ));
                    }
                }
            }
        }
        check_cases(&cases, 1);
    }

    /// Every pair of edge values (0, ±1, min, max, and their neighbours), with shares that
    /// wrap and do not, at the widths of issue 4.
    #[test]
    fn edge_values_all_pairs() {
        let mut cases = Vec::new();
        for m in [1u32, 2, 8, 16, 31, 32, 37, 63, 64] {
            let mask = ring::mask(m);
            let half = mask >> 1;
            let edges = [0, 1, mask, half, half + 1, half - (m > 1) as u64, 2 & mask];
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for &a in &edges {
                for &b in &edges {
                    x.push(a);
                    y.push(b);
                }
            }
            for signed in [true, false] {
                let f = Format { bits: m, signed };
                for l in [(2 * m).min(64), m] {
                    cases.push((
                        MultParams {
                            x: f,
                            y: f,
                            out_bits: l,
                        },
                        x.clone(),
                        y.clone(),
                    ));
                }
            }
        }
        check_cases(&cases, 2);
    }

    /// SCI's 64×64→64 product is wrong on ~6% of inputs (sci-baseline.md: WRONG 4099 of
    /// 65,536); ours is exact on large magnitudes: operands near ±2^63 (and 2^31 for the
    /// 32×32→64 product), whose shares wrap.
    #[test]
    fn sixty_four_bit_products_are_exact_on_large_magnitudes() {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let big = |rng: &mut ChaCha20Rng, bits: u32| -> Vec<u64> {
            (0..4000)
                .map(|i| {
                    let top = 1u64 << (bits - 1);
                    let r = rng.next_u64() & (top - 1) >> 4;
                    ring::reduce(if i % 2 == 0 { top - 1 - r } else { top + r }, bits)
                })
                .collect()
        };
        let mut cases = Vec::new();
        for signed in [true, false] {
            let f64_ = Format { bits: 64, signed };
            cases.push((
                MultParams::sirnn(f64_, f64_),
                big(&mut rng, 64),
                big(&mut rng, 64),
            ));
            let f32_ = Format { bits: 32, signed };
            cases.push((
                MultParams::sirnn(f32_, f32_),
                big(&mut rng, 32),
                big(&mut rng, 32),
            ));
            let f63 = Format { bits: 63, signed };
            cases.push((
                MultParams::sirnn(f63, f63),
                big(&mut rng, 63),
                big(&mut rng, 63),
            ));
        }
        check_cases(&cases, 3);
    }

    /// ⋆UMult/⋆SMult: operands with public MSBs (0 and 1, e.g. after a ReLU), exact and
    /// cheaper than the Wrap path.
    #[test]
    fn known_msb_variants() {
        let mut rng = ChaCha20Rng::from_seed([11; 32]);
        for (bx, by) in [(false, false), (true, false), (false, true), (true, true)] {
            let known = KnownMsb {
                x: Some(bx),
                y: Some(by),
            };
            let mut cases = Vec::new();
            for (m, n) in [
                (1, 1),
                (2, 2),
                (8, 8),
                (16, 16),
                (8, 16),
                (31, 31),
                (37, 5),
                (63, 63),
            ] {
                for signed in [true, false] {
                    let fx = Format { bits: m, signed };
                    let fy = Format { bits: n, signed };
                    for len in [1, 3, 1000] {
                        let draw = |rng: &mut ChaCha20Rng, bits: u32, b: bool| -> Vec<u64> {
                            random(rng, len, bits - 1)
                                .into_iter()
                                .map(|v| v | (b as u64) << (bits - 1))
                                .collect()
                        };
                        let (x, y) = (draw(&mut rng, m, bx), draw(&mut rng, n, by));
                        for l in [(m + n).min(64), m.max(n) + 1] {
                            let mp = MultParams {
                                x: fx,
                                y: fy,
                                out_bits: l.min(m + n),
                            };
                            cases.push((mp, x.clone(), y.clone()));
                        }
                    }
                }
            }
            check_known(&cases, known, 4);
        }
        let mp = MultParams::sirnn(Format::signed(16), Format::signed(16));
        let k = KnownMsb {
            x: Some(false),
            y: Some(false),
        };
        for kind in OtKind::ALL {
            assert!(
                mult_known_msb_cost(1, &mp, k).on(kind).total_bytes()
                    < mult_cost(1, &mp).on(kind).total_bytes()
            );
        }
    }

    #[test]
    fn rejects_outputs_wider_than_m_plus_n() {
        let mp = MultParams {
            x: Format::signed(8),
            y: Format::signed(8),
            out_bits: 17,
        };
        let err = run_mem(|p: &mut Party| mult(p, &mp, &[1], &[1])).unwrap_err();
        assert!(err.to_string().contains("exceeds m + n"), "{err}");
    }

    /// The ring product is the cheaper path and `mult` takes it at m = n = ℓ.
    #[test]
    fn same_ring_products_take_mult_ring() {
        let f = Format::signed(32);
        let mp = MultParams {
            x: f,
            y: f,
            out_bits: 32,
        };
        assert_eq!(mult_cost(1000, &mp), mult_ring_cost(1000, 32));
        assert!(
            mult_cost(
                1000,
                &MultParams::sirnn(Format::signed(8), Format::signed(8))
            )
            .rounds
                <= 6
        );
    }
}
