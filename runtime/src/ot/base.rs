//! Base OTs: the "simplest OT" of Chou and Orlandi (CO15: T. Chou, C. Orlandi, "The Simplest
//! Protocol for Oblivious Transfer", LATINCRYPT 2015, ePrint 2015/267, Fig. 1) on the
//! ristretto255 group via curve25519-dalek, run in both directions at once.
//!
//! For a batch of κ = 128 random OTs, with G the group generator:
//! 1. the sender picks y, sends S = y·G and keeps T = y·S;
//! 2. the receiver, for OT i with choice c_i, picks x_i and computes R_i = c_i·S + x_i·G
//!    (a constant-time select between x_i·G and x_i·G + S);
//! 3. the receiver's key is k_i = H(S, R_i, i, x_i·S); the sender's keys are
//!    k_i^0 = H(S, R_i, i, y·R_i) and k_i^1 = H(S, R_i, i, y·R_i − T).
//!
//! Since y·R_i = c_i·T + x_i·S, the receiver's key equals k_i^{c_i}. As an optimisation we
//! send and hash doubled points (2·R_i, and 2·P for every point P hashed): ristretto255 can
//! encode a batch of doubles with one field inversion, where encoding each point alone costs
//! an inverse square root; doubling is a bijection of the prime-order group, so the protocol
//! is unchanged up to this relabelling. H is BLAKE3 in
//! derive-key mode cut to 128 bits. We only need semi-honest security: the known subtleties of
//! CO15 under active attacks (sender-chosen S, the UC proof) do not apply.
//!
//! Only one direction runs CO15 (the server is the base-OT sender): 32 bytes from the sender,
//! 128·32 from the receiver. The other direction's base OTs come from the resulting IKNP
//! extension (see `OtEngine::setup`), which is much cheaper than a second CO15 run.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rand_core::RngCore;
use subtle::{Choice, ConditionallySelectable};

use super::OtError;
use crate::net::Wire;

/// Base OTs of the one CO15 run.
pub(crate) const BASE_OTS: usize = 128;

fn random_scalar(rng: &mut impl RngCore) -> Scalar {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// The key of OT `i` from the shared point P, given as the encoding of 2·P (see above).
fn kdf(s: &CompressedRistretto, r: &[u8], i: usize, p2: &CompressedRistretto) -> u128 {
    let mut h = blake3::Hasher::new_derive_key("sir 2024 CO15 base OT key");
    h.update(s.as_bytes());
    h.update(r);
    h.update(&(i as u64).to_le_bytes());
    h.update(p2.as_bytes());
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

/// The CO15 sender: returns both keys of every OT.
pub(crate) fn sender(ch: &mut dyn Wire, rng: &mut impl RngCore) -> Result<Vec<[u128; 2]>, OtError> {
    let y = random_scalar(rng);
    let s_point = RistrettoPoint::mul_base(&y);
    let s_enc = s_point.compress();
    ch.send(s_enc.as_bytes())?;
    let mut received = vec![0u8; 32 * BASE_OTS];
    ch.recv(&mut received)?;
    // The receiver sent 2·R_i; our keys come from y·2R_i and y·2R_i − 2T.
    let t2 = y * (s_point + s_point);
    let mut points = Vec::with_capacity(2 * BASE_OTS);
    for i in 0..BASE_OTS {
        let yr = y * decode(&received[32 * i..32 * i + 32], i)?;
        points.push(yr);
        points.push(yr - t2);
    }
    let enc = RistrettoPoint::double_and_compress_batch(&points);
    Ok((0..BASE_OTS)
        .map(|i| {
            let r = &received[32 * i..32 * i + 32];
            [
                kdf(&s_enc, r, i, &enc[2 * i]),
                kdf(&s_enc, r, i, &enc[2 * i + 1]),
            ]
        })
        .collect())
}

/// The CO15 receiver with random choices: returns the chosen key of every OT and the choice
/// bits (bit i for OT i).
pub(crate) fn receiver(
    ch: &mut dyn Wire,
    rng: &mut impl RngCore,
) -> Result<(Vec<u128>, u128), OtError> {
    let mut s_bytes = [0u8; 32];
    ch.recv(&mut s_bytes)?;
    let s_enc = CompressedRistretto(s_bytes);
    let s_point = decode(&s_bytes, usize::MAX)?;
    let mut choice_bytes = [0u8; 16];
    rng.fill_bytes(&mut choice_bytes);
    let choices = u128::from_le_bytes(choice_bytes);
    let table = RistrettoBasepointTable::create(&s_point);
    let mut rs = Vec::with_capacity(BASE_OTS);
    let mut shared = Vec::with_capacity(BASE_OTS);
    for i in 0..BASE_OTS {
        let x = random_scalar(rng);
        let xg = &x * RISTRETTO_BASEPOINT_TABLE;
        let c = Choice::from(((choices >> i) & 1) as u8);
        rs.push(RistrettoPoint::conditional_select(&xg, &(xg + s_point), c));
        let xs = &x * &table;
        shared.push(xs + xs);
    }
    // We send 2·R_i (encodable in one batch); the sender works with 2·R_i throughout.
    let mut sent = Vec::with_capacity(32 * BASE_OTS);
    for r in RistrettoPoint::double_and_compress_batch(&rs) {
        sent.extend_from_slice(r.as_bytes());
    }
    ch.send(&sent)?;
    ch.end_flight()?;
    let shared = RistrettoPoint::double_and_compress_batch(&shared);
    let keys = (0..BASE_OTS)
        .map(|i| kdf(&s_enc, &sent[32 * i..32 * i + 32], i, &shared[i]))
        .collect();
    Ok((keys, choices))
}
