//! Exact communication of every OT flavour, as measured on the [`Channel`](crate::net::Channel):
//! the compiler's cost model uses these, and the tests check them against the counters.

use super::bits::packed_len;

/// Bytes each role sends, and the one-way messages of one call (flights: the flushes of both
/// parties together; what papers count as rounds). Zero OTs cost nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtCost {
    /// Bytes the OT sender sends.
    pub sender_bytes: u64,
    /// Bytes the OT receiver sends.
    pub receiver_bytes: u64,
    /// Sequential one-way messages of the call.
    pub flights: u64,
}

/// The receiver's correction matrix U of an extension of `n` OTs over `w` columns:
/// ⌈n/8⌉ bytes per column (chunks are multiples of 8 OTs).
fn u_bytes(n: usize, w: u64) -> u64 {
    w * n.div_ceil(8) as u64
}

fn cost(n: usize, receiver_bytes: u64, sender_bytes: u64, flights: u64) -> OtCost {
    if n == 0 {
        return OtCost {
            sender_bytes: 0,
            receiver_bytes: 0,
            flights: 0,
        };
    }
    OtCost {
        sender_bytes,
        receiver_bytes,
        flights,
    }
}

/// `n` random OTs (IKNP): 16 bytes per OT from the receiver, one flight.
pub fn rot(n: usize) -> OtCost {
    cost(n, u_bytes(n, 128), 0, 1)
}

/// `n` additive correlated OTs mod 2^ℓ: IKNP plus ℓ bits per OT from the sender.
pub fn cot(n: usize, bits: u32) -> OtCost {
    cost(n, u_bytes(n, 128), packed_len(n, bits) as u64, 2)
}

/// `n` additive correlated OTs of vectors mod 2^ℓ, `elements` values in all: IKNP (one row per
/// OT) plus ℓ bits per element from the sender.
pub fn cot_vec(n: usize, elements: usize, bits: u32) -> OtCost {
    cost(n, u_bytes(n, 128), packed_len(elements, bits) as u64, 2)
}

/// `n` chosen-message 1-of-2 OTs of ℓ-bit messages: IKNP plus 2ℓ bits per OT.
pub fn chosen(n: usize, bits: u32) -> OtCost {
    cost(n, u_bytes(n, 128), packed_len(2 * n, bits) as u64, 2)
}

/// `count` 1-of-N OTs of ℓ-bit messages (KK13): 32 bytes per OT from the receiver plus N·ℓ
/// bits per OT from the sender.
pub fn one_of_n(count: usize, n: usize, bits: u32) -> OtCost {
    cost(
        count,
        u_bytes(count, 256),
        packed_len(count * n, bits) as u64,
        2,
    )
}

/// Bytes the server sends during [`OtEngine::setup`](super::OtEngine::setup): the CO15
/// sender's point, then U for 384 IKNP OTs (the client-side base OTs of IKNP and KK13).
pub const SETUP_SERVER_BYTES: u64 = 32 + 384 * 16;
/// Bytes the client sends during setup: 128 CO15 receiver points, then U for 256 IKNP OTs.
pub const SETUP_CLIENT_BYTES: u64 = 128 * 32 + 256 * 16;
/// Messages of the setup (both parties together).
pub const SETUP_FLIGHTS: u64 = 4;
