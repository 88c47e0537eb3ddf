//! Oblivious transfer: our own engine (see shared/reference/ot-engine-notes.md for why).
//!
//! Layers, bottom up (private modules):
//! - `base`: 128 base OTs, Chou–Orlandi "simplest OT" (CO15) on ristretto255;
//! - `ext`: semi-honest IKNP extension (128 columns) and KK13 extension (256 columns, the
//!   Walsh–Hadamard code), AES-128-CTR as PRG, our SSE2/AVX2 bit-matrix `transpose`;
//! - `prim`: the fixed-key AES correlation-robust hash with per-OT tweaks;
//! - [`silent`]: Ferret's silent COT (LPN expansion of IKNP's rows: ≈ 0.06 B per COT in steady
//!   state), a generator of COT pools with one global Δ; not yet a source of the flavours below;
//! - the flavours on [`OtEngine`], each one extension pass plus (except random OT) one
//!   bit-packed correction message from the sender:
//!
//! | flavour | receiver → sender | sender → receiver | flights |
//! |---|---|---|---|
//! | random OT ([`OtEngine::rot_send`]) | 16 B | 0 | 1 |
//! | additive COT mod 2^ℓ ([`OtEngine::cot_send`]) | 16 B | ℓ bits | 2 |
//! | additive COT of k values ([`OtEngine::cot_vec_send_deferred`]) | 16 B | k·ℓ bits | 2 |
//! | chosen-message 1-of-2, ℓ-bit ([`OtEngine::chosen_send`]) | 16 B | 2ℓ bits | 2 |
//! | 1-of-N, ℓ-bit, N ≤ 256 ([`OtEngine::one_of_n_send`]) | 32 B | N·ℓ bits | 2 |
//!
//! (per OT; [`cost`] gives the exact figures for a batch.) These meet the costs SiRnn assumes
//! (λ + ℓ, λ + 2ℓ and 2λ + Nℓ bits). 1-of-N uses KK13 rather than log N random OTs because
//! the latter cost 8·16 + Nℓ/8 bytes for N = 256, above KK13's 32 + Nℓ/8.
//!
//! Split halves, for protocols that run several OT calls in the same flights: the receiver's
//! `*_recv_extend` queues its extension matrix without flushing and `*_recv_finish` reads the
//! correction; the sender's `*_send_deferred` reads the matrix and appends its correction to a
//! caller's buffer instead of sending it (1-of-N takes a generator of each OT's N messages, so
//! no n × N table is materialised). Costs add exactly; flights are whatever the protocol
//! makes of them (e.g. the multiplexer's two reversed COTs in 3 messages).
//!
//! Setup ([`OtEngine::setup`]) runs CO15 once (128 OTs, server as sender) and derives every
//! other base OT from the IKNP extensions it enables: 6176 bytes from the server and 8192
//! from the client, four messages.
//!
//! KK13 needs a correlation-robust hash of 256-bit rows; we chain the fixed-key MMO hash over
//! the two halves (two AES calls, see [`OtEngine::one_of_n_send_deferred`]). Hashing the halves
//! separately and XORing the results, as an earlier version did, gave only about 64-bit
//! security: the pad split into a function of 64 unknown bits of s per half (a review found a
//! meet-in-the-middle on the honest transcript); a test pins that the pad no longer splits.
//!
//! Freshness: every call extends new OTs. The PRG counters and the tweak counters of the four
//! extension instances only move forward, outputs go to the caller's buffers, and after any
//! error the engine refuses further use (its state may no longer match the peer's). There is
//! no API to obtain a correlation twice.
//!
//! Randomness: OS entropy seeds one ChaCha20 CSPRNG per engine. Each engine belongs to one
//! connection; run one engine per connection to use several threads.

mod base;
pub(crate) mod bits;
pub mod cost;
mod ext;
pub mod pool;
mod prim;
pub mod silent;
mod transpose;

#[cfg(test)]
mod tests;

use std::mem::take;
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::net::{NetError, Role, Wire};
use bits::{BitReader, BitWriter, bit, mask, packed_len};
use ext::{CHUNK, Choices, ExtReceiver, ExtSender};
use prim::{CrHash, as_bytes_mut};

pub use cost::{OtCost, OtKind};

#[cfg(target_endian = "big")]
compile_error!("the OT engine assumes a little-endian target (bit order of u128 words)");

/// Why an OT call failed.
#[derive(Debug, thiserror::Error)]
pub enum OtError {
    /// The channel failed (peer gone, timeout, I/O).
    #[error(transparent)]
    Net(#[from] NetError),
    /// The peer sent bytes that are not a valid ristretto255 point during the base OTs.
    #[error("the peer sent an invalid group element in base OT {index}")]
    InvalidPoint { index: usize },
    /// The caller's arguments are inconsistent; nothing was sent.
    #[error("invalid OT arguments: {0}")]
    Argument(String),
    /// An earlier call on this engine failed midway; its state may differ from the peer's.
    #[error("this OT engine failed earlier and can no longer be used; set up a new one")]
    Poisoned,
    /// The operating system's randomness source failed.
    #[error("no OS randomness: {0}")]
    Entropy(String),
}

impl OtError {
    /// Whether the peer (or the link to it) failed, rather than this party.
    pub fn is_peer(&self) -> bool {
        match self {
            OtError::Net(_) | OtError::InvalidPoint { .. } => true,
            OtError::Argument(_) | OtError::Poisoned | OtError::Entropy(_) => false,
        }
    }
}

fn arg(msg: String) -> OtError {
    OtError::Argument(msg)
}

fn check_bits(bits: u32) -> Result<(), OtError> {
    if (1..=64).contains(&bits) {
        Ok(())
    } else {
        Err(arg(format!("ℓ = {bits} is not in 1..=64")))
    }
}

fn check_choices(choices: &[u8], n: usize) -> Result<(), OtError> {
    if choices.len() < n.div_ceil(8) {
        return Err(arg(format!(
            "{} choice bytes for {n} OTs (need {})",
            choices.len(),
            n.div_ceil(8)
        )));
    }
    Ok(())
}

/// Tweak domain of an extension instance: which party is the sender, IKNP or KK13, which half.
/// The element offsets of OTs of these widths (n + 1 of them), checked against the lengths
/// of the correlation and output buffers.
fn check_widths(widths: &[usize], corr: usize, out: usize) -> Result<Vec<usize>, OtError> {
    let mut offsets = Vec::with_capacity(widths.len() + 1);
    let mut total = 0usize;
    offsets.push(0);
    for &w in widths {
        total = total
            .checked_add(w)
            .ok_or_else(|| arg("vector widths overflow".into()))?;
        offsets.push(total);
    }
    if corr != total || out != total {
        return Err(arg(format!(
            "{corr} correlations and {out} outputs for vectors of {total} elements"
        )));
    }
    Ok(offsets)
}

/// One OT's 128-bit pad as `width` values of ℓ bits: its own bits while they last (two values
/// per 64 bits at most: ℓ ≤ 64), beyond that AES-128-CTR keyed by the pad (a PRG: the pad of
/// the message not chosen is pseudo-random to the receiver, so the whole stretch is).
fn stretch(pad: u128, width: usize, bits: u32, out: &mut Vec<u64>) {
    out.clear();
    let m = mask(bits);
    let per = (128 / bits.max(1)) as usize;
    if width <= per {
        out.extend((0..width).map(|e| (pad >> (e as u32 * bits)) as u64 & m));
        return;
    }
    let mut blocks = vec![0u128; width.div_ceil(2)];
    prim::Prg::new(pad).fill(0, 0, &mut blocks);
    out.extend(
        blocks
            .iter()
            .flat_map(|&b| [b as u64 & m, (b >> 64) as u64 & m])
            .take(width),
    );
}

fn domain(sender: Role, kk: bool, half: u64, stream: u64) -> u64 {
    (sender == Role::Client) as u64 | (kk as u64) << 1 | half << 2 | stream << 8
}

/// OTs per parallel block of a 1-of-N sender's hashing (a multiple of 8: blocks' packed
/// messages end on a byte).
const PAR_OTS: usize = 512;

/// The most forks one engine hands out: stream numbers fit the tweak's domain above bit 8.
const MAX_STREAMS: u64 = 1 << 55;

/// The Walsh–Hadamard code of length 256: bit i of C(v) is the parity of v ∧ i. Distinct
/// codewords differ in exactly 128 positions, the distance KK13 needs for κ = 128.
fn hadamard() -> Box<[[u128; 2]; 256]> {
    let mut code = Box::new([[0u128; 2]; 256]);
    for (v, c) in code.iter_mut().enumerate() {
        for i in 0..256 {
            let b = ((v & i).count_ones() & 1) as u128;
            c[i / 128] |= b << (i % 128);
        }
    }
    code
}

/// One party's OT state for one connection: an extension sender and receiver for IKNP and
/// for KK13, so either party can be the OT sender of any flavour. Calls must be matched by
/// the peer (`*_send` on one side, the same flavour's `*_recv` on the other, same sizes).
pub struct OtEngine {
    role: Role,
    hash: CrHash,
    iknp_s: ExtSender<1>,
    iknp_r: ExtReceiver<1>,
    kk_s: ExtSender<2>,
    kk_r: ExtReceiver<2>,
    code: Arc<[[u128; 2]; 256]>,
    rng: ChaCha20Rng,
    poisoned: bool,
    /// This engine's stream: 0 for the engine of a connection, the fork's number for a fork.
    stream: u64,
    /// The next fork's stream number (both parties fork in the same order).
    next_stream: u64,
    // Scratch reused across calls, so batches allocate nothing per element.
    h0: Vec<u128>,
    h1: Vec<u128>,
    packed: Vec<u8>,
    cols: Vec<u128>,
    codebuf: Vec<u128>,
    msg: Vec<u8>,
    /// Silent COTs (after [`OtEngine::preprocess_silent`]): every flavour then draws its
    /// 1-of-2 correlations from them instead of extending IKNP/KK13.
    silent: Option<pool::Pools>,
}

impl std::fmt::Debug for OtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtEngine")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl OtEngine {
    /// Runs the one-time setup with the peer (which calls `setup` with the other role).
    ///
    /// 1. CO15: 128 base OTs, server as sender. This sets up IKNP with the client as
    ///    extension sender ("IKNP A").
    /// 2. IKNP A, server as receiver with random choices s_B ‖ s_X: 384 random OTs, seeding
    ///    IKNP with the server as sender (128) and KK13 with the server as sender (256).
    /// 3. IKNP B, client as receiver with random choices s_Y: 256 random OTs, seeding KK13
    ///    with the client as sender.
    ///
    /// Four messages; the bytes are [`cost::SETUP_SERVER_BYTES`] and
    /// [`cost::SETUP_CLIENT_BYTES`].
    pub fn setup(ch: &mut dyn Wire, role: Role) -> Result<OtEngine, OtError> {
        let rng = ChaCha20Rng::try_from_os_rng().map_err(|e| OtError::Entropy(e.to_string()))?;
        // Placeholder instances (all-zero seeds) are replaced below before any use: each step
        // only touches instances that are already seeded.
        let mut e = OtEngine {
            role,
            hash: CrHash::new(),
            iknp_s: ExtSender::new(&[0; 128], [0]),
            iknp_r: ExtReceiver::new(&[[0; 2]; 128]),
            kk_s: ExtSender::new(&[0; 256], [0; 2]),
            kk_r: ExtReceiver::new(&[[0; 2]; 256]),
            code: hadamard().into(),
            rng,
            poisoned: false,
            stream: 0,
            next_stream: 1,
            h0: Vec::new(),
            h1: Vec::new(),
            packed: Vec::new(),
            cols: Vec::new(),
            codebuf: Vec::new(),
            msg: Vec::new(),
            silent: None,
        };
        let words = |b: &[u8]| -> Vec<u128> {
            b.chunks(16)
                .map(|c| {
                    let mut w = [0u8; 16];
                    w.copy_from_slice(c);
                    u128::from_le_bytes(w)
                })
                .collect()
        };
        let pairs = |p0: &[u128], p1: &[u128]| -> Vec<[u128; 2]> {
            p0.iter().zip(p1).map(|(a, b)| [*a, *b]).collect()
        };
        match role {
            Role::Server => {
                e.iknp_r = ExtReceiver::new(&base::sender(ch, &mut e.rng)?);
                let mut s = [0u8; 48];
                e.rng.fill_bytes(&mut s);
                let mut keys = vec![0u128; 384];
                e.rot_recv(ch, &s, &mut keys)?;
                let s = words(&s);
                e.iknp_s = ExtSender::new(&keys[..128], [s[0]]);
                e.kk_s = ExtSender::new(&keys[128..], [s[1], s[2]]);
                let (mut p0, mut p1) = (vec![0u128; 256], vec![0u128; 256]);
                e.rot_send(ch, &mut p0, &mut p1)?;
                e.kk_r = ExtReceiver::new(&pairs(&p0, &p1));
            }
            Role::Client => {
                let (keys, choices) = base::receiver(ch, &mut e.rng)?;
                e.iknp_s = ExtSender::new(&keys, [choices]);
                let (mut p0, mut p1) = (vec![0u128; 384], vec![0u128; 384]);
                e.rot_send(ch, &mut p0, &mut p1)?;
                e.iknp_r = ExtReceiver::new(&pairs(&p0[..128], &p1[..128]));
                e.kk_r = ExtReceiver::new(&pairs(&p0[128..], &p1[128..]));
                let mut s = [0u8; 32];
                e.rng.fill_bytes(&mut s);
                let mut keys = vec![0u128; 256];
                e.rot_recv(ch, &s, &mut keys)?;
                let s = words(&s);
                e.kk_s = ExtSender::new(&keys, [s[0], s[1]]);
            }
        }
        Ok(e)
    }

    /// An engine for one task of a run in which several protocols progress at once: the same
    /// base OTs, its own PRG stream and tweak domain (the next unused stream number, so both
    /// parties' n-th forks match whatever order their tasks then run in), fresh counters, and
    /// its own CSPRNG seeded from this one's. Forks of forks are not supported (a fork cannot
    /// fork: its streams would collide with its parent's).
    pub fn fork(&mut self) -> Result<OtEngine, OtError> {
        self.fork_with([0, 0])
    }

    /// [`OtEngine::fork`] on a session with silent COTs: the fork takes the next
    /// `cots[0]` COTs whose sender is the server and `cots[1]` whose sender is the client
    /// (both parties' n-th forks take the same ranges, so they match); without silent COTs
    /// `cots` must be zero.
    pub fn fork_with(&mut self, cots: [u64; 2]) -> Result<OtEngine, OtError> {
        self.ready()?;
        let (send, recv) = match self.role {
            Role::Server => (cots[0], cots[1]),
            Role::Client => (cots[1], cots[0]),
        };
        // Every check before the pools move, so a refused fork costs no COTs.
        if self.stream != 0 || self.next_stream >= MAX_STREAMS {
            return Err(OtError::Argument(
                "a fork cannot fork, and an engine forks fewer than 2^55 times".into(),
            ));
        }
        let silent = match &mut self.silent {
            Some(p) => Some(p.split(send as usize, recv as usize)?),
            None if send == 0 && recv == 0 => None,
            None => {
                return Err(arg(
                    "a fork asked for silent COTs on a session without them".into(),
                ));
            }
        };
        let stream = self.next_stream;
        self.next_stream += 1;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Ok(OtEngine {
            role: self.role,
            hash: CrHash::new(),
            iknp_s: self.iknp_s.fork(stream),
            iknp_r: self.iknp_r.fork(stream),
            kk_s: self.kk_s.fork(stream),
            kk_r: self.kk_r.fork(stream),
            code: self.code.clone(),
            rng: ChaCha20Rng::from_seed(seed),
            poisoned: false,
            stream,
            next_stream: MAX_STREAMS,
            h0: Vec::new(),
            h1: Vec::new(),
            packed: Vec::new(),
            cols: Vec::new(),
            codebuf: Vec::new(),
            msg: Vec::new(),
            silent,
        })
    }

    /// Generates silent COTs for the rest of the session (the peer calls it with the same
    /// `demand`): `demand[0]` with the server as OT sender, `demand[1]` with the client; the
    /// exact cost is [`pool::generate_cost`] of each, in that order. From then on every
    /// flavour draws on them ([`OtKind::Silent`]'s costs) and fails once they run out.
    pub fn preprocess_silent(
        &mut self,
        ch: &mut dyn Wire,
        demand: [u64; 2],
    ) -> Result<(), OtError> {
        self.ready()?;
        if self.silent.is_some() {
            return Err(arg("this engine already has silent COTs".into()));
        }
        match pool::generate(self, ch, demand) {
            Ok(p) => {
                self.silent = Some(p);
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    /// Which engine the flavours run on now.
    pub fn kind(&self) -> OtKind {
        if self.silent.is_some() {
            OtKind::Silent
        } else {
            OtKind::Iknp
        }
    }

    /// Silent COTs left: [as OT sender, as OT receiver] (zero without).
    pub fn silent_left(&self) -> [usize; 2] {
        self.silent.as_ref().map_or([0, 0], |p| p.left())
    }

    /// This party's Δ as silent-OT sender (tests only: it is the sender's secret).
    #[cfg(test)]
    pub(crate) fn silent_delta(&self) -> Option<u128> {
        self.silent.as_ref().map(|p| p.delta())
    }

    /// Silent COTs used so far: [as OT sender, as OT receiver] (zero without).
    pub fn silent_used(&self) -> [usize; 2] {
        self.silent.as_ref().map_or([0, 0], |p| p.used())
    }

    pub(crate) fn stream_id(&self) -> u64 {
        self.stream
    }

    /// This party's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Fills `out` with uniformly random bytes from this engine's CSPRNG (e.g. random choice
    /// bits for [`OtEngine::rot_recv`]).
    pub fn random_bytes(&mut self, out: &mut [u8]) {
        self.rng.fill_bytes(out);
    }

    fn ready(&self) -> Result<(), OtError> {
        if self.poisoned {
            Err(OtError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn poison_on<T, E: Into<OtError>>(&mut self, r: Result<T, E>) -> Result<T, OtError> {
        r.map_err(|e| {
            self.poisoned = true;
            e.into()
        })
    }

    /// Runs the IKNP sender over `n` OTs chunk by chunk; `f(start, tweak, rows, s, hash,
    /// domain)` consumes the rows q_j of OTs `start..start + rows.len()`.
    fn iknp_send<F>(&mut self, ch: &mut dyn Wire, n: usize, mut f: F) -> Result<(), OtError>
    where
        F: FnMut(usize, u64, &[u128], u128, &CrHash, u64),
    {
        if let Some(pool) = &mut self.silent {
            // Silent COTs: the same rows relation, from the pool (see `pool`), hashed under
            // their own domain.
            let dom = domain(self.role, false, 3, self.stream);
            let mut start = 0;
            while start < n {
                let len = (n - start).min(CHUNK);
                let idx = self.iknp_s.count;
                let delta = pool.delta();
                let rows = pool.send_rows(ch, len)?;
                f(start, idx, rows, delta, &self.hash, dom);
                self.iknp_s.advance(len);
                start += len;
            }
            return Ok(());
        }
        let dom = domain(self.role, false, 0, self.stream);
        let mut start = 0;
        while start < n {
            let len = (n - start).min(CHUNK);
            let (idx, s) = (self.iknp_s.count, self.iknp_s.s[0]);
            let rows = self.iknp_s.chunk(ch, len)?;
            f(start, idx, rows, s, &self.hash, dom);
            self.iknp_s.advance(len);
            start += len;
        }
        Ok(())
    }

    /// Runs the IKNP receiver with packed choice bits; `f(start, tweak, rows, hash, domain)`
    /// consumes the rows t_j. Sends U but does not flush.
    fn iknp_recv<F>(
        &mut self,
        ch: &mut dyn Wire,
        choices: &[u8],
        n: usize,
        mut f: F,
    ) -> Result<(), OtError>
    where
        F: FnMut(usize, u64, &[u128], &CrHash, u64),
    {
        if let Some(pool) = &mut self.silent {
            let dom = domain(self.role.peer(), false, 3, self.stream);
            let mut start = 0;
            while start < n {
                let len = (n - start).min(CHUNK);
                let idx = self.iknp_r.count;
                let rows = pool.recv_rows(ch, |j| bit(choices, start + j) as u8, len)?;
                f(start, idx, rows, &self.hash, dom);
                self.iknp_r.advance(len);
                start += len;
            }
            return Ok(());
        }
        let dom = domain(self.role.peer(), false, 0, self.stream);
        self.cols.resize(CHUNK / 128, 0);
        let mut start = 0;
        while start < n {
            let len = (n - start).min(CHUNK);
            let r = as_bytes_mut(&mut self.cols);
            r.fill(0);
            let nb = len.div_ceil(8);
            r[..nb].copy_from_slice(&choices[start / 8..start / 8 + nb]);
            if !len.is_multiple_of(8) {
                r[nb - 1] &= (1u8 << (len % 8)) - 1;
            }
            let idx = self.iknp_r.count;
            let rows = self.iknp_r.chunk(ch, len, Choices::Same(&self.cols))?;
            f(start, idx, rows, &self.hash, dom);
            self.iknp_r.advance(len);
            start += len;
        }
        Ok(())
    }

    /// IKNP sender over `n` OTs: hands `f(start, p0, p1)` each chunk's two pads (the hashes of
    /// q_j and q_j ⊕ s) so a flavour only derives its correction from them.
    fn iknp_send_pads<F>(&mut self, ch: &mut dyn Wire, n: usize, mut f: F) -> Result<(), OtError>
    where
        F: FnMut(usize, &[u128], &[u128]),
    {
        let (mut h0, mut h1) = (take(&mut self.h0), take(&mut self.h1));
        let r = self.iknp_send(ch, n, |start, idx, rows, s, hash, dom| {
            let len = rows.len();
            h0.resize(len, 0);
            h1.resize(len, 0);
            hash.hash((dom, idx), rows, 1, 0, 0, &mut h0);
            hash.hash((dom, idx), rows, 1, 0, s, &mut h1);
            f(start, &h0, &h1);
        });
        (self.h0, self.h1) = (h0, h1);
        r
    }

    /// IKNP receiver for these choices: leaves in `out` the low ℓ bits of the pad of each
    /// chosen message (the hash of t_j).
    fn iknp_recv_pads(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        let m = mask(bits);
        let mut h0 = take(&mut self.h0);
        let r = self.iknp_recv(ch, choices, out.len(), |start, idx, rows, hash, dom| {
            h0.resize(rows.len(), 0);
            hash.hash((dom, idx), rows, 1, 0, 0, &mut h0);
            for (o, h) in out[start..start + rows.len()].iter_mut().zip(&h0) {
                *o = *h as u64 & m;
            }
        });
        self.h0 = h0;
        r
    }

    /// IKNP's correlation itself, sender side: the rows q_j of `n` OTs and the global Δ = s
    /// (the receiver holds t_j = q_j ⊕ c_j·Δ): the base COTs of [`silent`]'s bootstrap. One
    /// message from the receiver, 16 bytes per OT.
    pub fn raw_cot_send(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
    ) -> Result<(Vec<u128>, u128), OtError> {
        self.ready()?;
        let mut q = vec![0u128; n];
        let mut delta = 0;
        // IKNP's own extension even on an engine with silent COTs (a bootstrap is never drawn
        // from a pool).
        let pools = self.silent.take();
        let r = self.iknp_send(ch, n, |start, _, rows, s, _, _| {
            q[start..start + rows.len()].copy_from_slice(rows);
            delta = s;
        });
        self.silent = pools;
        self.poison_on(r)?;
        Ok((q, delta))
    }

    /// IKNP's correlation itself, receiver side, on these packed choice bits: t_j (flushed).
    pub fn raw_cot_recv(
        &mut self,
        ch: &mut dyn Wire,
        choices: &[u8],
        n: usize,
    ) -> Result<Vec<u128>, OtError> {
        self.ready()?;
        check_choices(choices, n)?;
        let mut t = vec![0u128; n];
        let pools = self.silent.take();
        let r = self
            .iknp_recv(ch, choices, n, |start, _, rows, _, _| {
                t[start..start + rows.len()].copy_from_slice(rows);
            })
            .and_then(|_| Ok(ch.end_flight()?));
        self.silent = pools;
        self.poison_on(r)?;
        Ok(t)
    }

    /// Random OT, sender side: `out0[j]`, `out1[j]` are the two random 128-bit messages of OT j.
    pub fn rot_send(
        &mut self,
        ch: &mut dyn Wire,
        out0: &mut [u128],
        out1: &mut [u128],
    ) -> Result<(), OtError> {
        self.ready()?;
        if out0.len() != out1.len() {
            return Err(arg(format!(
                "output lengths differ ({} vs {})",
                out0.len(),
                out1.len()
            )));
        }
        let r = self.iknp_send(ch, out0.len(), |start, idx, rows, s, hash, dom| {
            let end = start + rows.len();
            hash.hash((dom, idx), rows, 1, 0, 0, &mut out0[start..end]);
            hash.hash((dom, idx), rows, 1, 0, s, &mut out1[start..end]);
        });
        self.poison_on(r)
    }

    /// Random OT, receiver side: for OT j with choice bit c_j (bit j of the LSB-first packed
    /// `choices`), `out[j]` is the sender's message c_j. Use random choices for a pure random
    /// OT, or chosen ones: the cost is the same.
    pub fn rot_recv(
        &mut self,
        ch: &mut dyn Wire,
        choices: &[u8],
        out: &mut [u128],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_choices(choices, out.len())?;
        let r = self
            .iknp_recv(ch, choices, out.len(), |start, idx, rows, hash, dom| {
                hash.hash(
                    (dom, idx),
                    rows,
                    1,
                    0,
                    0,
                    &mut out[start..start + rows.len()],
                );
            })
            .and_then(|_| Ok(ch.end_flight()?));
        self.poison_on(r)
    }

    /// Additive correlated OT mod 2^ℓ, sender side: with correlations `corr` (low ℓ bits used),
    /// returns random `out[j]` = a_j; the receiver gets a_j + c_j·corr_j mod 2^ℓ, so −a_j and
    /// the receiver's value are additive shares of c_j·corr_j.
    pub fn cot_send(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        corr: &[u64],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        let mut msg = take(&mut self.msg);
        msg.clear();
        let r = self.cot_send_deferred(ch, bits, corr, out, &mut msg);
        let r = r.and_then(|_| {
            let r = ch.send(&msg).and_then(|_| ch.end_flight());
            self.poison_on(r)
        });
        self.msg = msg;
        r
    }

    /// The first half of [`OtEngine::cot_send`] for protocols that batch several OT calls
    /// into the same flights: receives the receiver's extension matrix and appends the
    /// correction message (exactly `cost::cot(n, ℓ).sender_bytes` bytes) to `msg` instead of
    /// sending it. The caller must send `msg` to the peer (e.g. together with other messages)
    /// before the peer's [`OtEngine::cot_recv_finish`].
    pub fn cot_send_deferred(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        corr: &[u64],
        out: &mut [u64],
        msg: &mut Vec<u8>,
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        if corr.len() != out.len() {
            return Err(arg(format!(
                "{} correlations for {} outputs",
                corr.len(),
                out.len()
            )));
        }
        let m = mask(bits);
        let mut packed = take(&mut self.packed);
        let mut w = BitWriter::new(&mut packed);
        let r = self.iknp_send_pads(ch, out.len(), |start, h0, h1| {
            let len = h0.len();
            let (out, corr) = (&mut out[start..start + len], &corr[start..start + len]);
            for j in 0..len {
                let a = h0[j] as u64 & m;
                out[j] = a;
                w.push(
                    (h1[j] as u64).wrapping_sub(a).wrapping_sub(corr[j]) & m,
                    bits,
                );
            }
        });
        w.finish();
        if r.is_ok() {
            msg.extend_from_slice(&packed);
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// Additive correlated OT mod 2^ℓ, receiver side: `out[j]` = a_j + c_j·corr_j mod 2^ℓ.
    pub fn cot_recv(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.cot_recv_extend(ch, bits, choices, out)?;
        let r = ch.end_flight();
        self.poison_on(r)?;
        self.cot_recv_finish(ch, bits, choices, out)
    }

    /// The first half of [`OtEngine::cot_recv`]: sends the extension matrix U for these
    /// choices (queued, not flushed) and leaves the pads in `out`. Complete it with
    /// [`OtEngine::cot_recv_finish`] on the same `bits`, `choices` and `out`.
    pub fn cot_recv_extend(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        check_choices(choices, out.len())?;
        let r = self.iknp_recv_pads(ch, bits, choices, out);
        self.poison_on(r)
    }

    /// The second half of [`OtEngine::cot_recv`]: receives the sender's correction message
    /// and turns the pads in `out` into the outputs.
    pub fn cot_recv_finish(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        check_choices(choices, out.len())?;
        let m = mask(bits);
        let n = out.len();
        if n == 0 {
            return Ok(());
        }
        let mut packed = take(&mut self.packed);
        packed.resize(packed_len(n, bits), 0);
        let r = ch.recv(&mut packed);
        if r.is_ok() {
            let mut rd = BitReader::new(&packed);
            for (j, o) in out.iter_mut().enumerate() {
                let d = rd.next(bits);
                let c = bit(choices, j);
                *o = o.wrapping_sub(d & 0u64.wrapping_sub(c)) & m;
            }
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// Additive correlated OT of vectors mod 2^ℓ, sender side: OT j carries `widths[j]`
    /// correlations (`corr` and `out` hold them back to back, Σ widths in all); the receiver,
    /// with one choice c_j per OT, gets a + c_j·corr for every element of OT j. One extension
    /// row per OT, whatever its width: each pad is stretched to the OT's elements
    /// ([`stretch`]), so a vector of k values costs the receiver 16 bytes and the sender k·ℓ
    /// bits ([`cost::cot_vec`]) instead of 16·k and k·ℓ. Appends the correction to `msg` as
    /// [`OtEngine::cot_send_deferred`] does.
    pub fn cot_vec_send_deferred(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        widths: &[usize],
        corr: &[u64],
        out: &mut [u64],
        msg: &mut Vec<u8>,
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        let offsets = check_widths(widths, corr.len(), out.len())?;
        let m = mask(bits);
        let mut packed = take(&mut self.packed);
        let mut w = BitWriter::new(&mut packed);
        let (mut p0, mut p1) = (Vec::new(), Vec::new());
        let r = self.iknp_send_pads(ch, widths.len(), |start, h0, h1| {
            for j in 0..h0.len() {
                let (lo, hi) = (offsets[start + j], offsets[start + j + 1]);
                stretch(h0[j], hi - lo, bits, &mut p0);
                stretch(h1[j], hi - lo, bits, &mut p1);
                for (e, (&a, &b)) in (lo..hi).zip(p0.iter().zip(&p1)) {
                    out[e] = a;
                    w.push(b.wrapping_sub(a).wrapping_sub(corr[e]) & m, bits);
                }
            }
        });
        w.finish();
        if r.is_ok() {
            msg.extend_from_slice(&packed);
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// The receiver's first half of [`OtEngine::cot_vec_send_deferred`]: sends the extension
    /// matrix for these choices (one per OT; queued, not flushed) and leaves each OT's stretched
    /// pad in its elements of `out`.
    pub fn cot_vec_recv_extend(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        widths: &[usize],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        check_choices(choices, widths.len())?;
        let offsets = check_widths(widths, out.len(), out.len())?;
        let mut h0 = take(&mut self.h0);
        let mut pad = Vec::new();
        let r = self.iknp_recv(ch, choices, widths.len(), |start, idx, rows, hash, dom| {
            h0.resize(rows.len(), 0);
            hash.hash((dom, idx), rows, 1, 0, 0, &mut h0);
            for (j, &h) in h0.iter().enumerate() {
                let (lo, hi) = (offsets[start + j], offsets[start + j + 1]);
                stretch(h, hi - lo, bits, &mut pad);
                out[lo..hi].copy_from_slice(&pad);
            }
        });
        self.h0 = h0;
        self.poison_on(r)
    }

    /// The receiver's second half: reads the sender's correction (Σ widths values of ℓ bits)
    /// and turns the pads in `out` into the outputs.
    pub fn cot_vec_recv_finish(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        widths: &[usize],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        check_choices(choices, widths.len())?;
        let offsets = check_widths(widths, out.len(), out.len())?;
        let m = mask(bits);
        if out.is_empty() {
            return Ok(());
        }
        let mut packed = take(&mut self.packed);
        packed.resize(packed_len(out.len(), bits), 0);
        let r = ch.recv(&mut packed);
        if r.is_ok() {
            let mut rd = BitReader::new(&packed);
            for j in 0..widths.len() {
                let c = 0u64.wrapping_sub(bit(choices, j));
                for o in &mut out[offsets[j]..offsets[j + 1]] {
                    *o = o.wrapping_sub(rd.next(bits) & c) & m;
                }
            }
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// Chosen-message 1-of-2 OT of ℓ-bit messages, sender side (low ℓ bits of `m0`, `m1`).
    pub fn chosen_send(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        m0: &[u64],
        m1: &[u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        if m0.len() != m1.len() {
            return Err(arg(format!(
                "message lengths differ ({} vs {})",
                m0.len(),
                m1.len()
            )));
        }
        let m = mask(bits);
        let mut packed = take(&mut self.packed);
        let mut w = BitWriter::new(&mut packed);
        let r = self.iknp_send_pads(ch, m0.len(), |start, h0, h1| {
            for j in 0..h0.len() {
                w.push((m0[start + j] ^ h0[j] as u64) & m, bits);
                w.push((m1[start + j] ^ h1[j] as u64) & m, bits);
            }
        });
        w.finish();
        let r = r.and_then(|_| {
            ch.send(&packed)?;
            Ok(ch.end_flight()?)
        });
        self.packed = packed;
        self.poison_on(r)
    }

    /// Chosen-message 1-of-2 OT, receiver side: `out[j]` is message c_j of OT j.
    pub fn chosen_recv(
        &mut self,
        ch: &mut dyn Wire,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        check_choices(choices, out.len())?;
        let n = out.len();
        let mut packed = take(&mut self.packed);
        let r = self.iknp_recv_pads(ch, bits, choices, out).and_then(|_| {
            packed.resize(packed_len(2 * n, bits), 0);
            Ok(ch.recv(&mut packed)?)
        });
        if r.is_ok() {
            let mut rd = BitReader::new(&packed);
            for (j, o) in out.iter_mut().enumerate() {
                let (e0, e1) = (rd.next(bits), rd.next(bits));
                let c = bit(choices, j);
                *o ^= e0 ^ ((e0 ^ e1) & 0u64.wrapping_sub(c));
            }
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// 1-out-of-N OT of ℓ-bit messages (KK13), sender side: `msgs[j·N + v]` is message v of
    /// OT j (low ℓ bits used); 2 ≤ N ≤ 256.
    pub fn one_of_n_send(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        msgs: &[u64],
    ) -> Result<(), OtError> {
        if !(2..=256).contains(&n) || !msgs.len().is_multiple_of(n) {
            return Err(arg(format!(
                "{} messages do not form OTs of N = {n} (2 ≤ N ≤ 256)",
                msgs.len()
            )));
        }
        let mut msg = take(&mut self.msg);
        msg.clear();
        let r = self.one_of_n_send_deferred(
            ch,
            n,
            bits,
            msgs.len() / n,
            |j, buf| buf.copy_from_slice(&msgs[j * n..(j + 1) * n]),
            &mut msg,
        );
        let r = r.and_then(|_| {
            let r = ch.send(&msg).and_then(|_| ch.end_flight());
            self.poison_on(r)
        });
        self.msg = msg;
        r
    }

    /// The first half of [`OtEngine::one_of_n_send`] for protocols that batch several OT
    /// calls into the same flights: receives the receiver's extension matrix for `count` OTs,
    /// asks `fill(j, buf)` for the N messages of OT j (low ℓ bits used; no message table is
    /// materialised; called from several threads in any order, so `fill` must be a pure
    /// function of j — no randomness drawn, no state kept), and appends the masked messages
    /// (exactly `cost::one_of_n(count, N, ℓ).sender_bytes` bytes) to `msg` without sending
    /// them. The caller sends `msg` before the peer's [`OtEngine::one_of_n_recv_finish`].
    ///
    /// The pad of message v is H(j, q_j ⊕ (C(v) ∧ s)) for the 256-bit row x, chained over its
    /// halves: H(j, x) = MMO(τ_hi ⊕ x_hi ⊕ MMO(τ_lo ⊕ x_lo)), MMO(z) = π(z) ⊕ z with π
    /// fixed-key AES. For v ≠ r_j the offset C(r_j ⊕ v) ∧ s hides 128 bits of s, which can sit
    /// 64 + 64 over the halves (always, for N ≤ 128: both halves of a Walsh–Hadamard codeword
    /// of a 7-bit index are equal). An earlier XOR of the two halves' hashes let a receiver
    /// meet in the middle on 2 × 64 bits; chaining makes the pad a function of both halves
    /// together, so recovering s from pads means inverting MMO on 128 unknown bits.
    pub fn one_of_n_send_deferred<F>(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        count: usize,
        fill: F,
        msg: &mut Vec<u8>,
    ) -> Result<(), OtError>
    where
        F: Fn(usize, &mut [u64]) + Sync,
    {
        self.ready()?;
        check_bits(bits)?;
        if !(2..=256).contains(&n) {
            return Err(arg(format!("N = {n} is not in 2..=256")));
        }
        if self.silent.is_some() {
            return self.one_of_n_send_silent(ch, n, bits, count, fill, msg);
        }
        let m = mask(bits);
        let s = self.kk_s.s;
        let mask_lo: Vec<u128> = self.code[..n].iter().map(|c| c[0] & s[0]).collect();
        let mask_hi: Vec<u128> = self.code[..n].iter().map(|c| c[1] & s[1]).collect();
        let (dlo, dhi) = (
            (domain(self.role, true, 0, self.stream) as u128) << 64,
            (domain(self.role, true, 1, self.stream) as u128) << 64,
        );
        let hash = &self.hash;
        let mut r = Ok(());
        let mut start = 0;
        let (mut blocks, mut packed) = (Vec::new(), Vec::new());
        while start < count {
            let len = (count - start).min(CHUNK);
            let idx = self.kk_s.count;
            let rows = match self.kk_s.chunk(ch, len) {
                Ok(rows) => rows,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            pack_parallel(len, &mut blocks, &mut packed, |ots, w| {
                let mut buf = [0u64; 256];
                let mut pre = [0u128; 32];
                let mut enc = [0u128; 32];
                for j in ots {
                    let t = (idx + j as u64) as u128;
                    let (q0, q1) = (rows[2 * j] ^ dlo ^ t, rows[2 * j + 1] ^ dhi ^ t);
                    fill(start + j, &mut buf[..n]);
                    let msgs = &buf[..n];
                    // Groups of 32 values: both halves' pre-images and hashes stay in L1.
                    for ((lo, hi), mg) in mask_lo
                        .chunks(32)
                        .zip(mask_hi.chunks(32))
                        .zip(msgs.chunks(32))
                    {
                        let g = lo.len();
                        // Chained over the two halves (see above): the low half's hash enters
                        // the high half's pre-image, so the pad cannot be split into a function
                        // of each half's unknown bits.
                        for k in 0..g {
                            enc[k] = q0 ^ lo[k];
                            pre[k] = q1 ^ hi[k];
                        }
                        hash.mmo_chain(&mut enc[..g], &pre[..g]);
                        push_masked(w, mg, &enc[..g], bits, m);
                    }
                }
            });
            self.kk_s.advance(len);
            start += len;
        }
        if r.is_ok() {
            msg.extend_from_slice(&packed);
        }
        self.poison_on(r)
    }

    /// 1-out-of-N OT (KK13), receiver side: `out[j]` = message `choices[j]` of OT j.
    pub fn one_of_n_recv(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.one_of_n_recv_extend(ch, n, bits, choices, out)?;
        let r = ch.end_flight();
        self.poison_on(r)?;
        self.one_of_n_recv_finish(ch, n, bits, choices, out)
    }

    fn check_one_of_n(n: usize, choices: &[u8], out: &[u64]) -> Result<(), OtError> {
        if !(2..=256).contains(&n) {
            return Err(arg(format!("N = {n} is not in 2..=256")));
        }
        if choices.len() != out.len() {
            return Err(arg(format!(
                "{} choices for {} outputs",
                choices.len(),
                out.len()
            )));
        }
        if let Some(c) = choices.iter().find(|&&c| c as usize >= n) {
            return Err(arg(format!("choice {c} is not below N = {n}")));
        }
        Ok(())
    }

    /// The first half of [`OtEngine::one_of_n_recv`]: sends the KK13 extension matrix for
    /// these choices (queued, not flushed) and leaves the pads in `out`. Complete it with
    /// [`OtEngine::one_of_n_recv_finish`] on the same arguments.
    pub fn one_of_n_recv_extend(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        Self::check_one_of_n(n, choices, out)?;
        if self.silent.is_some() {
            return self.one_of_n_recv_silent(ch, n, bits, choices, out);
        }
        let count = out.len();
        let m = mask(bits);
        let dom_lo = domain(self.role.peer(), true, 0, self.stream);
        let dom_hi = domain(self.role.peer(), true, 1, self.stream);
        let (mut h0, mut h1) = (take(&mut self.h0), take(&mut self.h1));
        let mut r = Ok(());
        let mut start = 0;
        while start < count {
            let len = (count - start).min(CHUNK);
            let mrows = len.div_ceil(128) * 128;
            // Codeword rows C(r_j), then transposed into the 256 choice columns.
            self.codebuf.clear();
            for &c in &choices[start..start + len] {
                self.codebuf.extend_from_slice(&self.code[c as usize]);
            }
            self.codebuf.resize(2 * mrows, 0);
            self.cols.resize(2 * mrows, 0);
            transpose::transpose(&self.codebuf, mrows, 256, &mut self.cols);
            let idx = self.kk_r.count;
            let rows = match self.kk_r.chunk(ch, len, Choices::PerColumn(&self.cols)) {
                Ok(rows) => rows,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            h0.resize(len, 0);
            h1.resize(len, 0);
            // The chained KK13 hash of the chosen row (see `one_of_n_send_deferred`).
            let (t_lo, t_hi) = ((dom_lo as u128) << 64, (dom_hi as u128) << 64);
            for (j, (l, h)) in h0.iter_mut().zip(h1.iter_mut()).enumerate() {
                let t = (idx + j as u64) as u128;
                *l = rows[2 * j] ^ t_lo ^ t;
                *h = rows[2 * j + 1] ^ t_hi ^ t;
            }
            self.hash.mmo_chain(&mut h0, &h1);
            for (o, h) in out[start..start + len].iter_mut().zip(&h0) {
                *o = *h as u64 & m;
            }
            self.kk_r.advance(len);
            start += len;
        }
        (self.h0, self.h1) = (h0, h1);
        self.poison_on(r)
    }

    /// The second half of [`OtEngine::one_of_n_recv`]: receives the masked messages and
    /// unmasks the chosen one of each OT into `out`.
    pub fn one_of_n_recv_finish(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        self.ready()?;
        check_bits(bits)?;
        Self::check_one_of_n(n, choices, out)?;
        let count = out.len();
        if count == 0 {
            return Ok(());
        }
        let mut packed = take(&mut self.packed);
        packed.resize(packed_len(count * n, bits), 0);
        let r = ch.recv(&mut packed);
        if r.is_ok() {
            for (j, (o, &c)) in out.iter_mut().zip(choices).enumerate() {
                *o ^= bits::get(&packed, (j * n + c as usize) * bits as usize, bits);
            }
        }
        self.packed = packed;
        self.poison_on(r)
    }

    /// 1-of-N from ⌈log2 N⌉ random OTs on silent COTs, sender side (Naor–Pinkas, "Efficient
    /// Oblivious Transfer Protocols", SODA 2001, the 1-of-N from 1-of-2 construction; with
    /// random OTs as CrypTFlow2 runs it on Ferret). OT j's bit i is a 1-of-2 random OT with
    /// keys K⁰_{j,i}, K¹_{j,i} (the hashes of q and q ⊕ Δ); message v is masked by
    /// H(τ_{j,v}, ⊕_i K^{v_i}_{j,i}). The receiver knows the keys of its choice r's bits only,
    /// so every other v's hash input contains a key it lacks. The XOR must be hashed: the
    /// sums alone satisfy linear relations (S(r) ⊕ S(r⊕a) ⊕ S(r⊕b) ⊕ S(r⊕a⊕b) = 0) that would
    /// leak messages' XORs. Costs the receiver ⌈log2 N⌉ correction bits per OT
    /// ([`cost::one_of_n`]); the sender hashes 2⌈log2 N⌉ + N blocks per OT (KK13: 2N).
    fn one_of_n_send_silent<F>(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        count: usize,
        fill: F,
        msg: &mut Vec<u8>,
    ) -> Result<(), OtError>
    where
        F: Fn(usize, &mut [u64]) + Sync,
    {
        tweak_room(self.kk_s.count, count)?;
        let m = mask(bits);
        let w_bits = cost::log_n(n) as usize;
        let dom_key = domain(self.role, true, 4, self.stream);
        let dom_pad = (domain(self.role, true, 5, self.stream) as u128) << 64;
        let (mut k0, mut k1) = (take(&mut self.h0), take(&mut self.h1));
        let (mut blocks, mut packed) = (Vec::new(), Vec::new());
        let mut start = 0;
        let mut r = Ok(());
        while start < count {
            let len = (count - start).min(CHUNK);
            let idx = self.kk_s.count;
            k0.resize(w_bits * len, 0);
            k1.resize(w_bits * len, 0);
            for i in 0..w_bits {
                let Some(pool) = self.silent.as_mut() else {
                    return Err(OtError::Poisoned);
                };
                let delta = pool.delta();
                let rows = match pool.send_rows(ch, len) {
                    Ok(rows) => rows,
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                };
                let tw = (dom_key, (i as u64) << 56 | idx);
                self.hash
                    .hash(tw, rows, 1, 0, 0, &mut k0[i * len..(i + 1) * len]);
                self.hash
                    .hash(tw, rows, 1, 0, delta, &mut k1[i * len..(i + 1) * len]);
            }
            if r.is_err() {
                break;
            }
            let (k0, k1, hash) = (&k0, &k1, &self.hash);
            pack_parallel(len, &mut blocks, &mut packed, |ots, w| {
                let mut buf = [0u64; 256];
                let mut sums = [0u128; 256];
                let mut pads = [0u128; 256];
                for j in ots {
                    fill(start + j, &mut buf[..n]);
                    let mut s0 = 0u128;
                    for i in 0..w_bits {
                        s0 ^= k0[i * len + j];
                    }
                    sums[0] = s0;
                    for v in 1..n {
                        let i = v.trailing_zeros() as usize;
                        sums[v] = sums[v & (v - 1)] ^ k0[i * len + j] ^ k1[i * len + j];
                    }
                    let tj = dom_pad ^ (((idx + j as u64) as u128) << 8);
                    for (v, s) in sums[..n].iter_mut().enumerate() {
                        *s ^= tj ^ v as u128;
                    }
                    hash.mmo(&sums[..n], &mut pads[..n]);
                    push_masked(w, &buf[..n], &pads[..n], bits, m);
                }
            });
            self.kk_s.advance(len);
            start += len;
        }
        if r.is_ok() {
            msg.extend_from_slice(&packed);
        }
        (self.h0, self.h1) = (k0, k1);
        self.poison_on(r)
    }

    /// The receiver's side of [`OtEngine::one_of_n_send_silent`]: sends the corrections of
    /// every bit of every choice (queued, not flushed) and leaves the chosen pads in `out`.
    fn one_of_n_recv_silent(
        &mut self,
        ch: &mut dyn Wire,
        n: usize,
        bits: u32,
        choices: &[u8],
        out: &mut [u64],
    ) -> Result<(), OtError> {
        tweak_room(self.kk_r.count, out.len())?;
        let m = mask(bits);
        let w = cost::log_n(n) as usize;
        let dom_key = domain(self.role.peer(), true, 4, self.stream);
        let dom_pad = (domain(self.role.peer(), true, 5, self.stream) as u128) << 64;
        let count = out.len();
        let (mut keys, mut sums) = (take(&mut self.h0), take(&mut self.h1));
        let mut start = 0;
        let mut r = Ok(());
        while start < count {
            let len = (count - start).min(CHUNK);
            let idx = self.kk_r.count;
            keys.resize(len, 0);
            sums.clear();
            sums.resize(len, 0);
            for i in 0..w {
                let Some(pool) = self.silent.as_mut() else {
                    return Err(OtError::Poisoned);
                };
                let c = &choices[start..start + len];
                let rows = match pool.recv_rows(ch, |j| (c[j] >> i) & 1, len) {
                    Ok(rows) => rows,
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                };
                self.hash
                    .hash((dom_key, (i as u64) << 56 | idx), rows, 1, 0, 0, &mut keys);
                for (s, k) in sums.iter_mut().zip(&keys) {
                    *s ^= k;
                }
            }
            if r.is_err() {
                break;
            }
            for (j, s) in sums.iter_mut().enumerate() {
                let v = choices[start + j] as u128;
                *s ^= dom_pad ^ (((idx + j as u64) as u128) << 8) ^ v;
            }
            self.hash.mmo(&sums, &mut keys);
            for (o, h) in out[start..start + len].iter_mut().zip(&keys) {
                *o = *h as u64 & m;
            }
            self.kk_r.advance(len);
            start += len;
        }
        (self.h0, self.h1) = (keys, sums);
        self.poison_on(r)
    }
}

/// The masked messages of OTs `0..len` (one chunk), packed onto `out`: `encode(ots, w)` writes
/// those of a block of OTs; blocks of [`PAR_OTS`] run in parallel (into `blocks`, reused across
/// chunks) and, PAR_OTS being a multiple of 8, every block but the last ends on a byte, so their
/// bytes concatenate to the sequential packing.
fn pack_parallel<E>(len: usize, blocks: &mut Vec<Vec<u8>>, out: &mut Vec<u8>, encode: E)
where
    E: Fn(std::ops::Range<usize>, &mut BitWriter<'_>) + Sync,
{
    (0..len.div_ceil(PAR_OTS))
        .into_par_iter()
        .map(|b| {
            let mut bytes = Vec::new();
            let mut w = BitWriter::new(&mut bytes);
            encode(b * PAR_OTS..((b + 1) * PAR_OTS).min(len), &mut w);
            w.finish();
            bytes
        })
        .collect_into_vec(blocks);
    for b in blocks.iter() {
        out.extend_from_slice(b);
    }
}

/// Silent 1-of-N tweaks put the bit index above bit 56 of the OT index and shift the OT
/// index left by 8 below the domain word: refused (before anything is sent) once an engine's
/// 1-of-N OTs would reach 2^56.
fn tweak_room(done: u64, more: usize) -> Result<(), OtError> {
    if done.saturating_add(more as u64) >= 1 << 56 {
        return Err(arg("an engine runs fewer than 2^56 1-of-N OTs".into()));
    }
    Ok(())
}

/// Appends m_v ⊕ pad_v (low ℓ bits) for every message of one OT; short messages (the
/// comparisons' 1- and 2-bit ones) packed a word at a time.
fn push_masked(w: &mut BitWriter<'_>, msgs: &[u64], pads: &[u128], bits: u32, m: u64) {
    const G: usize = 32;
    for (mg, pg) in msgs.chunks(G).zip(pads.chunks(G)) {
        if bits as usize * mg.len() <= 64 {
            let mut word = 0u64;
            for (k, (&x, &h)) in mg.iter().zip(pg).enumerate() {
                word |= ((x ^ h as u64) & m) << (k as u32 * bits);
            }
            w.push(word, bits * mg.len() as u32);
        } else {
            for (&x, &h) in mg.iter().zip(pg) {
                w.push((x ^ h as u64) & m, bits);
            }
        }
    }
}
