//! Silent COTs generated ahead of the input, and how the flavours of [`super::OtEngine`] draw
//! on them.
//!
//! **Generation** ([`generate`]): per direction (OT sender server, then client) with a
//! non-zero demand, the IKNP bootstrap of [`SETUP`]'s base COTs (the receiver's U, one
//! flight), a [`SETUP`] iteration, then as many [`MAIN`] iterations as the demand needs
//! (each iteration keeps the next one's base COTs back, the last keeps none). Its exact cost
//! is [`generate_cost`]: what the cost model reports as the session's OT preprocessing.
//!
//! **Use**: a pool hands out each COT once, in order. A 1-of-2 OT with choice c_j takes a
//! COT (b_j, M_j = K_j ⊕ b_j·Δ): the receiver sends d_j = c_j ⊕ b_j (one bit, packed, per
//! chunk ⌈len/8⌉ bytes) and the sender shifts its key to K_j ⊕ d_j·Δ, so that
//! M_j = (K_j ⊕ d_j·Δ) ⊕ c_j·Δ — IKNP's row relation q_j = t_j ⊕ c_j·s with s = Δ, on which
//! every flavour is already written (the random-choice-to-chosen-choice step of Beaver's
//! precomputed OT, as Ferret's applications use it). Chunks take whole multiples of 8 COTs
//! (the unused tail of the last byte is skipped), so a call of n OTs consumes 8·⌈n/8⌉.

use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::bits::bit;
use super::cost::OtCost;
use super::silent::{LpnParams, MAIN, SETUP, SilentReceiver, SilentSender};
use super::{OtEngine, OtError};
use crate::net::{Role, Wire};

/// The iterations one direction runs for `demand` COTs: `None` for no demand, else the
/// number of [`MAIN`] iterations after the [`SETUP`] one.
fn mains(demand: u64) -> Option<u64> {
    if demand == 0 {
        return None;
    }
    let (setup, main, base) = (SETUP.n as u64, MAIN.n as u64, MAIN.base() as u64);
    if demand <= setup {
        return Some(0);
    }
    // k mains hand out (setup − base) + k·main − (k − 1)·base = setup + k·(main − base).
    Some((demand - setup).div_ceil(main - base))
}

/// The exact cost of generating a pool of `demand` COTs for one direction, as an OT call
/// whose sender is the pool's sender: the bootstrap's IKNP extension from the receiver, then
/// one message per iteration from the sender.
pub fn generate_cost(demand: u64) -> OtCost {
    let Some(k) = mains(demand) else {
        return OtCost::ZERO;
    };
    OtCost {
        sender_bytes: SETUP.sender_bytes() + k * MAIN.sender_bytes(),
        // The bootstrap always runs on IKNP.
        receiver_bytes: 128 * SETUP.base().div_ceil(8) as u64,
        flights: 2 + k,
        ..OtCost::ZERO
    }
}

/// What a COT costs to generate in steady state: one [`MAIN`] iteration's message over the
/// COTs it hands out (≈ 0.056 B). A call's correlations, amortised, cost its COTs times this.
pub fn steady_bytes_per_cot() -> f64 {
    MAIN.sender_bytes() as f64 / (MAIN.n - MAIN.base()) as f64
}

/// One party's silent COTs in both directions: as OT sender, Δ and keys K_j; as OT
/// receiver, random choice bits b_j and M_j. Shared by an engine and its forks, each of which
/// owns a disjoint range of each. Not `Clone`: a copy would hand out the same COTs again; only
/// [`Pools::split`] makes a second holder, of the next range.
pub(crate) struct Pools {
    delta: u128,
    keys: Arc<Vec<u128>>,
    macs: Arc<Vec<u128>>,
    bits: Arc<Vec<u8>>,
    /// Where this holder's ranges start (for [`Pools::used`]).
    send_start: usize,
    recv_start: usize,
    /// The next unused key and the end of this holder's range.
    send_at: usize,
    send_end: usize,
    recv_at: usize,
    recv_end: usize,
    rows: Vec<u128>,
    packed: Vec<u8>,
}

impl Pools {
    /// COTs left: as sender, as receiver.
    pub(crate) fn left(&self) -> [usize; 2] {
        [self.send_end - self.send_at, self.recv_end - self.recv_at]
    }

    /// COTs used so far: as sender, as receiver.
    pub(crate) fn used(&self) -> [usize; 2] {
        [
            self.send_at - self.send_start,
            self.recv_at - self.recv_start,
        ]
    }

    pub(crate) fn delta(&self) -> u128 {
        self.delta
    }

    /// The next `send`/`recv` COTs, for a fork; this holder moves past them.
    pub(crate) fn split(&mut self, send: usize, recv: usize) -> Result<Pools, OtError> {
        let [s, r] = self.left();
        if send > s || recv > r {
            return Err(exhausted(send.max(recv), s.min(r)));
        }
        let fork = Pools {
            delta: self.delta,
            keys: self.keys.clone(),
            macs: self.macs.clone(),
            bits: self.bits.clone(),
            send_start: self.send_at,
            recv_start: self.recv_at,
            send_at: self.send_at,
            send_end: self.send_at + send,
            recv_at: self.recv_at,
            recv_end: self.recv_at + recv,
            rows: Vec::new(),
            packed: Vec::new(),
        };
        self.send_at += send;
        self.recv_at += recv;
        Ok(fork)
    }

    /// Sender side of `len` OTs: reads the receiver's ⌈len/8⌉ bytes of choice corrections
    /// and returns the rows q_j = K_j ⊕ d_j·Δ (the receiver holds q_j ⊕ c_j·Δ).
    pub(crate) fn send_rows(&mut self, ch: &mut dyn Wire, len: usize) -> Result<&[u128], OtError> {
        let take = 8 * len.div_ceil(8);
        if take > self.send_end - self.send_at {
            return Err(exhausted(take, self.send_end - self.send_at));
        }
        self.packed.resize(len.div_ceil(8), 0);
        ch.recv(&mut self.packed)?;
        let keys = &self.keys[self.send_at..self.send_at + len];
        self.rows.clear();
        let delta = self.delta;
        self.rows.extend(
            keys.iter()
                .enumerate()
                .map(|(j, &k)| k ^ (delta & 0u128.wrapping_sub(bit(&self.packed, j) as u128))),
        );
        self.send_at += take;
        Ok(&self.rows)
    }

    /// Receiver side of `len` OTs on these packed choice bits (bit j of `choices` from bit
    /// `from`): sends the corrections (queued, not flushed) and returns the rows M_j.
    pub(crate) fn recv_rows(
        &mut self,
        ch: &mut dyn Wire,
        choice: impl Fn(usize) -> u8,
        len: usize,
    ) -> Result<&[u128], OtError> {
        let take = 8 * len.div_ceil(8);
        if take > self.recv_end - self.recv_at {
            return Err(exhausted(take, self.recv_end - self.recv_at));
        }
        let at = self.recv_at;
        self.packed.clear();
        self.packed.resize(len.div_ceil(8), 0);
        for j in 0..len {
            self.packed[j / 8] |= ((choice(j) ^ self.bits[at + j]) & 1) << (j % 8);
        }
        ch.send(&self.packed)?;
        self.rows.clear();
        self.rows.extend_from_slice(&self.macs[at..at + len]);
        self.recv_at += take;
        Ok(&self.rows)
    }
}

fn exhausted(need: usize, left: usize) -> OtError {
    OtError::Argument(format!(
        "the silent COT pool is exhausted ({need} needed, {left} left): the preprocessing was sized for less"
    ))
}

/// Runs one direction's generation on this party: `sender` is the pool's OT sender. Returns
/// (Δ and keys) for the sender, (bits and M) for the receiver.
fn direction(
    e: &mut OtEngine,
    ch: &mut dyn Wire,
    sender: Role,
    demand: u64,
) -> Result<(u128, Vec<u128>, Vec<u8>), OtError> {
    let Some(k) = mains(demand) else {
        return Ok((0, Vec::new(), Vec::new()));
    };
    let base = MAIN.base();
    // Each iteration's output: the next one's base first (when there is a next), then what
    // is handed out.
    let keep = |out: &mut Vec<u128>, from: &[u128], last: bool| {
        out.extend_from_slice(if last { from } else { &from[base..] })
    };
    let steps: Vec<&LpnParams> = std::iter::once(&SETUP)
        .chain((0..k).map(|_| &MAIN))
        .collect();
    let b0 = SETUP.base();
    if e.role() == sender {
        let (q, delta) = e.raw_cot_send(ch, b0)?;
        let mut seed = [0u8; 32];
        e.random_bytes(&mut seed);
        let mut s = SilentSender::new(sender, delta, e.stream_id(), ChaCha20Rng::from_seed(seed));
        let mut keys = Vec::with_capacity(demand as usize + base);
        let mut input = q;
        for (i, p) in steps.iter().enumerate() {
            let y = s.extend(ch, p, &input)?;
            let last = i + 1 == steps.len();
            keep(&mut keys, &y, last);
            if !last {
                input = y[..base].to_vec();
            }
        }
        Ok((delta, keys, Vec::new()))
    } else {
        let mut packed = vec![0u8; b0.div_ceil(8)];
        e.random_bytes(&mut packed);
        let mut bits: Vec<u8> = (0..b0).map(|j| bit(&packed, j) as u8).collect();
        let mut input = e.raw_cot_recv(ch, &packed, b0)?;
        let mut r = SilentReceiver::new(sender, e.stream_id());
        let (mut macs, mut out_bits) = (
            Vec::with_capacity(demand as usize + base),
            Vec::with_capacity(demand as usize + base),
        );
        for (i, p) in steps.iter().enumerate() {
            let (x, z) = r.extend(ch, p, &bits, &input)?;
            let last = i + 1 == steps.len();
            keep(&mut macs, &z, last);
            out_bits.extend_from_slice(if last { &x } else { &x[base..] });
            if !last {
                bits = x[..base].to_vec();
                input = z[..base].to_vec();
            }
        }
        Ok((0, macs, out_bits))
    }
}

/// Generates this party's pools for `demand` = [COTs with the server as OT sender, with the
/// client as OT sender] (the peer calls it with the same demand); costs [`generate_cost`] of
/// each, server's direction first.
pub(crate) fn generate(
    e: &mut OtEngine,
    ch: &mut dyn Wire,
    demand: [u64; 2],
) -> Result<Pools, OtError> {
    let mut mine = (0, Vec::new());
    let mut theirs = (Vec::new(), Vec::new());
    for (sender, d) in [(Role::Server, demand[0]), (Role::Client, demand[1])] {
        let (delta, words, bits) = direction(e, ch, sender, d)?;
        if sender == e.role() {
            mine = (delta, words);
        } else {
            theirs = (words, bits);
        }
    }
    let (send_end, recv_end) = (mine.1.len(), theirs.0.len());
    Ok(Pools {
        delta: mine.0,
        keys: Arc::new(mine.1),
        macs: Arc::new(theirs.0),
        bits: Arc::new(theirs.1),
        send_start: 0,
        recv_start: 0,
        send_at: 0,
        send_end,
        recv_at: 0,
        recv_end,
        rows: Vec::new(),
        packed: Vec::new(),
    })
}
