//! Base OTs: the "simplest OT" of Chou and Orlandi (CO15: T. Chou, C. Orlandi, "The Simplest
//! Protocol for Oblivious Transfer", LATINCRYPT 2015, ePrint 2015/267, Fig. 1) on the
//! ristretto255 group via curve25519-dalek, run in both directions at once.
//!
//! For a batch of κ = 128 random OTs, with G the group generator:
//! 1. the sender picks y, sends S = y·G and keeps T = y·S;
//! 2. the receiver, for OT i with choice c_i, picks x_i and sends R_i = c_i·S + x_i·G
//!    (a constant-time select between x_i·G and x_i·G + S);
//! 3. the receiver's key is k_i = H(S, R_i, i, x_i·S); the sender's keys are
//!    k_i^0 = H(S, R_i, i, y·R_i) and k_i^1 = H(S, R_i, i, y·R_i − T).
//!
//! Since y·R_i = c_i·T + x_i·S, the receiver's key equals k_i^{c_i}. H is BLAKE3 in
//! derive-key mode cut to 128 bits. We only need semi-honest security: the known subtleties of
//! CO15 under active attacks (sender-chosen S, the UC proof) do not apply.
//!
//! Both parties act as sender (for their own extension-receiver role) and as receiver (for
//! their extension-sender role) in the same two flights: 32 + 128·32 bytes per direction.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand_core::RngCore;
use subtle::{Choice, ConditionallySelectable};

use super::OtError;
use crate::net::Channel;

/// Base OTs per direction.
pub(crate) const BASE_OTS: usize = 128;

/// What one party holds after the base OTs in both directions.
pub(crate) struct BaseOts {
    /// As base-OT sender: both keys of each OT (seeds of our extension receiver).
    pub pairs: Vec<[u128; 2]>,
    /// As base-OT receiver: the chosen key of each OT (seeds of our extension sender).
    pub chosen: Vec<u128>,
    /// Our choice bits as base-OT receiver (the extension sender's secret Δ).
    pub choices: u128,
}

fn random_scalar(rng: &mut impl RngCore) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

fn kdf(s: &CompressedRistretto, r: &[u8; 32], i: usize, p: &RistrettoPoint) -> u128 {
    let mut h = blake3::Hasher::new_derive_key("sir 2024 CO15 base OT key");
    h.update(s.as_bytes());
    h.update(r);
    h.update(&(i as u64).to_le_bytes());
    h.update(p.compress().as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    u128::from_le_bytes(out)
}

fn decode(bytes: &[u8], index: usize) -> Result<RistrettoPoint, OtError> {
    let mut b = [0u8; 32];
    b.copy_from_slice(bytes);
    CompressedRistretto(b)
        .decompress()
        .ok_or(OtError::InvalidPoint { index })
}

/// Runs `BASE_OTS` CO15 OTs in each direction. Two flights per party; both parties send at
/// the same time, which is safe because each flight is only a few kilobytes.
pub(crate) fn both_ways(ch: &mut Channel, rng: &mut impl RngCore) -> Result<BaseOts, OtError> {
    // Flight 1: our sender message S.
    let y = random_scalar(rng);
    let s_point = RistrettoPoint::mul_base(&y);
    let s_ours = s_point.compress();
    let t_point = y * s_point;
    ch.send(s_ours.as_bytes())?;
    let mut peer_s = [0u8; 32];
    ch.recv(&mut peer_s)?;
    let peer_s_c = CompressedRistretto(peer_s);
    let peer_s_point = decode(&peer_s, usize::MAX)?;

    // Flight 2: our receiver messages R_i against the peer's S.
    let mut choice_bytes = [0u8; 16];
    rng.fill_bytes(&mut choice_bytes);
    let choices = u128::from_le_bytes(choice_bytes);
    let table = RistrettoBasepointTable::create(&peer_s_point);
    let mut sent = vec![0u8; 32 * BASE_OTS];
    let mut chosen = Vec::with_capacity(BASE_OTS);
    for i in 0..BASE_OTS {
        let x = random_scalar(rng);
        let xg = &x * RISTRETTO_BASEPOINT_TABLE;
        let c = Choice::from(((choices >> i) & 1) as u8);
        let r = RistrettoPoint::conditional_select(&xg, &(xg + peer_s_point), c);
        let r_bytes = r.compress().to_bytes();
        sent[32 * i..32 * i + 32].copy_from_slice(&r_bytes);
        chosen.push(kdf(&peer_s_c, &r_bytes, i, &(&x * &table)));
    }
    ch.send(&sent)?;
    let mut received = vec![0u8; 32 * BASE_OTS];
    ch.recv(&mut received)?;

    // Our sender keys for the peer's R_i.
    let mut pairs = Vec::with_capacity(BASE_OTS);
    for i in 0..BASE_OTS {
        let rb = &received[32 * i..32 * i + 32];
        let r = decode(rb, i)?;
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(rb);
        let yr = y * r;
        pairs.push([
            kdf(&s_ours, &r_bytes, i, &yr),
            kdf(&s_ours, &r_bytes, i, &(yr - t_point)),
        ]);
    }
    Ok(BaseOts {
        pairs,
        chosen,
        choices,
    })
}
