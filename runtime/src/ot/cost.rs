//! Exact communication of every OT flavour, as measured on the [`Channel`](crate::net::Channel):
//! the compiler's cost model uses these, and the tests check them against the counters.

use super::bits::packed_len;

/// Where the 1-of-2 correlations under every flavour come from, chosen per session (both
/// parties must agree). Costs below are per engine: only the receiver's extension message
/// differs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OtKind {
    /// IKNP for 1-of-2, KK13 for 1-of-N: the receiver sends 16 B (32 B) per OT. The engine
    /// of plans that record none (compiled before there was a choice).
    #[default]
    Iknp,
    /// Ferret's silent COTs ([`super::silent`]), generated ahead: the receiver sends one bit
    /// per 1-of-2 OT (its choice against the pool's random one) and ⌈log2 N⌉ bits per 1-of-N
    /// OT (built from ⌈log2 N⌉ random OTs).
    Silent,
}

impl OtKind {
    pub const ALL: [OtKind; 2] = [OtKind::Iknp, OtKind::Silent];

    /// Plans compiled before the engine was a choice ran on IKNP.
    pub fn is_iknp(&self) -> bool {
        *self == OtKind::Iknp
    }

    pub fn iknp() -> OtKind {
        OtKind::Iknp
    }

    pub fn name(self) -> &'static str {
        match self {
            OtKind::Iknp => "iknp",
            OtKind::Silent => "silent",
        }
    }
}

impl std::fmt::Display for OtKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OtKind {
    type Err = String;
    fn from_str(s: &str) -> Result<OtKind, String> {
        match s {
            "iknp" => Ok(OtKind::Iknp),
            "silent" => Ok(OtKind::Silent),
            _ => Err(format!("unknown OT engine `{s}` (iknp or silent)")),
        }
    }
}

/// What one party sends that the engines price differently: its extension work as OT
/// receiver, in units of 8 OTs (every extension call covers ⌈n/8⌉ such units), and the
/// messages of constructions chosen per engine ([`crate::proto::Cost::per_engine`]: the bytes
/// under each engine outright).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext {
    /// 1-of-2 OTs: IKNP's U (128 B per unit) or silent choice bits (1 B per unit).
    pub rot8: u64,
    /// 1-of-N OTs: KK13's U (256 B per unit).
    pub kk8: u64,
    /// 1-of-N OTs weighted by ⌈log2 N⌉: silent choice bits (1 B per unit).
    pub kk_bits8: u64,
    /// Bytes of a per-engine construction under IKNP.
    pub iknp: u64,
    /// Bytes of a per-engine construction under silent OT.
    pub silent: u64,
    /// Silent COTs a per-engine construction takes from the peer's pool (this party receiving).
    pub cots: u64,
}

impl Ext {
    pub const ZERO: Ext = Ext {
        rot8: 0,
        kk8: 0,
        kk_bits8: 0,
        iknp: 0,
        silent: 0,
        cots: 0,
    };

    pub fn plus(self, o: Ext) -> Ext {
        Ext {
            rot8: self.rot8 + o.rot8,
            kk8: self.kk8 + o.kk8,
            kk_bits8: self.kk_bits8 + o.kk_bits8,
            iknp: self.iknp + o.iknp,
            silent: self.silent + o.silent,
            cots: self.cots + o.cots,
        }
    }

    /// Bytes these extensions send under `kind`.
    pub fn bytes(self, kind: OtKind) -> u64 {
        match kind {
            OtKind::Iknp => 128 * self.rot8 + 256 * self.kk8 + self.iknp,
            OtKind::Silent => self.rot8 + self.kk_bits8 + self.silent,
        }
    }

    /// Silent COTs they consume from the peer's pool (whole units of 8).
    pub fn silent_cots(self) -> u64 {
        8 * (self.rot8 + self.kk_bits8) + self.cots
    }
}

/// Bytes each role sends, and the one-way messages of one call (flights: the flushes of both
/// parties together; what papers count as rounds). Zero OTs cost nothing. `receiver_bytes`
/// counts the receiver's messages beside its extension; [`OtCost::receiver_total`] adds
/// the extension under an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtCost {
    /// Bytes the OT sender sends.
    pub sender_bytes: u64,
    /// Bytes the OT receiver sends besides its extension messages (none, today).
    pub receiver_bytes: u64,
    /// The receiver's extension messages.
    pub ext: Ext,
    /// Sequential one-way messages of the call.
    pub flights: u64,
}

impl OtCost {
    /// No OTs.
    pub const ZERO: OtCost = OtCost {
        sender_bytes: 0,
        receiver_bytes: 0,
        ext: Ext::ZERO,
        flights: 0,
    };

    /// Everything the receiver sends under `kind`.
    pub fn receiver_total(&self, kind: OtKind) -> u64 {
        self.receiver_bytes + self.ext.bytes(kind)
    }
}

/// The extension of `n` 1-of-2 OTs: ⌈n/8⌉ units (chunks are multiples of 8 OTs).
fn rot_ext(n: usize) -> Ext {
    Ext {
        rot8: n.div_ceil(8) as u64,
        ..Ext::ZERO
    }
}

/// ⌈log2 N⌉: the random OTs one silent 1-of-N OT is built from.
pub fn log_n(n: usize) -> u32 {
    n.next_power_of_two().trailing_zeros().max(1)
}

fn cost(n: usize, ext: Ext, sender_bytes: u64, flights: u64) -> OtCost {
    if n == 0 {
        return OtCost::ZERO;
    }
    OtCost {
        sender_bytes,
        receiver_bytes: 0,
        ext,
        flights,
    }
}

/// `n` random OTs: the receiver's extension (16 B per OT under IKNP, a bit under silent OT),
/// one flight.
pub fn rot(n: usize) -> OtCost {
    cost(n, rot_ext(n), 0, 1)
}

/// `n` additive correlated OTs mod 2^ℓ: IKNP plus ℓ bits per OT from the sender.
pub fn cot(n: usize, bits: u32) -> OtCost {
    cost(n, rot_ext(n), packed_len(n, bits) as u64, 2)
}

/// `n` additive correlated OTs of vectors mod 2^ℓ, `elements` values in all: IKNP (one row per
/// OT) plus ℓ bits per element from the sender.
pub fn cot_vec(n: usize, elements: usize, bits: u32) -> OtCost {
    cost(n, rot_ext(n), packed_len(elements, bits) as u64, 2)
}

/// `n` chosen-message 1-of-2 OTs of ℓ-bit messages: IKNP plus 2ℓ bits per OT.
pub fn chosen(n: usize, bits: u32) -> OtCost {
    cost(n, rot_ext(n), packed_len(2 * n, bits) as u64, 2)
}

/// `count` 1-of-N OTs of ℓ-bit messages: the receiver's extension (32 B per OT under KK13,
/// ⌈log2 N⌉ bits under silent OT) plus N·ℓ bits per OT from the sender.
pub fn one_of_n(count: usize, n: usize, bits: u32) -> OtCost {
    let units = count.div_ceil(8) as u64;
    let ext = Ext {
        kk8: units,
        kk_bits8: units * log_n(n) as u64,
        ..Ext::ZERO
    };
    cost(count, ext, packed_len(count * n, bits) as u64, 2)
}

/// Bytes the server sends during [`OtEngine::setup`](super::OtEngine::setup): the CO15
/// sender's point, then U for 384 IKNP OTs (the client-side base OTs of IKNP and KK13).
pub const SETUP_SERVER_BYTES: u64 = 32 + 384 * 16;
/// Bytes the client sends during setup: 128 CO15 receiver points, then U for 256 IKNP OTs.
pub const SETUP_CLIENT_BYTES: u64 = 128 * 32 + 256 * 16;
/// Messages of the setup (both parties together).
pub const SETUP_FLIGHTS: u64 = 4;
