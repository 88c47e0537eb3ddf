//! Two-party protocols over secret shares: one module per family, each beside its cleartext
//! semantics (`crate::fixed`) and its exact `cost`. Every protocol is batched — one call handles
//! a whole vector — and runs in as few rounds as its paper, independent of the batch size.
//!
//! Conventions shared by all families:
//! - An arithmetic share of x ∈ Z_{2^ℓ} is a `u64` in the low ℓ bits; the server's and the
//!   client's shares add up to x mod 2^ℓ. A Boolean share is a bit (stored one per `u8`, 0 or
//!   1, packed on the wire); the two shares XOR to the value.
//! - Both parties call the same function with the same public parameters; the [`Role`] in the
//!   [`Party`] tells them apart. Sizes and parameters are public, values never are.
//! - Randomness comes from [`Party::rng`], a ChaCha20 CSPRNG seeded from the OS.

pub mod bool;
pub mod digdec;
pub mod ext;
pub mod linear;
pub mod lut;
pub mod millionaire;
pub mod mult;
pub mod poly;
pub mod relu;
pub mod share;
pub mod trunc;

#[cfg(test)]
mod ext_tests;
#[cfg(test)]
pub(crate) mod tests;

use crate::net::{Channel, NetError, Role, Stats, Wire};
use crate::ot::{OtEngine, OtError};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// Why a protocol stopped. [`ProtoError::is_peer`] tells a failure of the peer or the link
/// (retry with another peer, tell the user) from one of ours (a bug to report).
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The peer failed: it left, fell silent, or the link broke (what the [`Wire`] reported).
    #[error(transparent)]
    Peer(#[from] NetError),
    #[error(transparent)]
    Ot(#[from] OtError),
    /// The caller's public parameters are outside the protocol's domain; nothing was sent.
    #[error("invalid protocol arguments: {0}")]
    Argument(String),
    /// One of our own invariants broke — never the peer's doing: a value the validated plan
    /// promised is missing, a worker thread panicked, a cleartext check of a claimed-public
    /// MSB failed.
    #[error("internal error: {0}")]
    Invariant(String),
    #[error("no OS randomness: {0}")]
    Entropy(String),
}

impl ProtoError {
    /// Whether the peer (or the link to it) failed, rather than this party.
    pub fn is_peer(&self) -> bool {
        match self {
            ProtoError::Peer(_) => true,
            ProtoError::Ot(e) => e.is_peer(),
            ProtoError::Argument(_) | ProtoError::Invariant(_) | ProtoError::Entropy(_) => false,
        }
    }
}

/// One party's end of a two-party session on one connection: its [`Wire`] to the peer (the
/// only way protocols talk), the OT engine (set up once, used by every protocol) and a CSPRNG.
pub struct Party {
    pub role: Role,
    pub io: Box<dyn Wire>,
    pub ot: OtEngine,
    rng: ChaCha20Rng,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Party {
    /// Runs the OT setup with the peer (who calls `new` with the other role).
    pub fn new(mut ch: Channel, role: Role) -> Result<Party, ProtoError> {
        let ot = OtEngine::setup(&mut ch, role)?;
        let rng = ChaCha20Rng::try_from_os_rng().map_err(|e| ProtoError::Entropy(e.to_string()))?;
        Ok(Party {
            role,
            io: Box::new(ch),
            ot,
            rng,
        })
    }

    /// A party for one task of a run in which several protocols share flights: `io` is the
    /// task's own wire, the OT engine a fork of this one ([`OtEngine::fork`]: both parties'
    /// n-th forks match), the CSPRNG seeded from this one's.
    pub fn fork(&mut self, io: Box<dyn Wire>) -> Result<Party, ProtoError> {
        let ot = self.ot.fork()?;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Ok(Party {
            role: self.role,
            io,
            ot,
            rng: ChaCha20Rng::from_seed(seed),
        })
    }

    pub fn is_server(&self) -> bool {
        self.role == Role::Server
    }

    /// The party's CSPRNG (for masks and share randomness).
    pub fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.rng
    }

    /// The channel's counters so far.
    pub fn stats(&self) -> Stats {
        self.io.stats()
    }
}

/// The exact communication of one protocol call: bytes each party sends and the sequential
/// one-way messages (flights, what the papers count as rounds). `cost(params)` functions next
/// to each protocol return it; tests compare it with the channel counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub server_bytes: u64,
    pub client_bytes: u64,
    pub rounds: u64,
}

impl Cost {
    pub const ZERO: Cost = Cost {
        server_bytes: 0,
        client_bytes: 0,
        rounds: 0,
    };

    /// One message of `bytes` from `from`, a flight of its own.
    pub fn message(from: Role, bytes: u64) -> Cost {
        match from {
            Role::Server => Cost {
                server_bytes: bytes,
                client_bytes: 0,
                rounds: 1,
            },
            Role::Client => Cost {
                server_bytes: 0,
                client_bytes: bytes,
                rounds: 1,
            },
        }
    }

    /// An OT call with `sender` as the OT sender.
    pub fn ot(sender: Role, c: crate::ot::cost::OtCost) -> Cost {
        let (server_bytes, client_bytes) = match sender {
            Role::Server => (c.sender_bytes, c.receiver_bytes),
            Role::Client => (c.receiver_bytes, c.sender_bytes),
        };
        Cost {
            server_bytes,
            client_bytes,
            rounds: c.flights,
        }
    }

    /// `self` followed by `next`: bytes and rounds add.
    pub fn then(self, next: Cost) -> Cost {
        Cost {
            server_bytes: self.server_bytes + next.server_bytes,
            client_bytes: self.client_bytes + next.client_bytes,
            rounds: self.rounds + next.rounds,
        }
    }

    /// `self` and `other` in the same flights (messages sent together): bytes add, rounds are
    /// the larger.
    pub fn alongside(self, other: Cost) -> Cost {
        Cost {
            server_bytes: self.server_bytes + other.server_bytes,
            client_bytes: self.client_bytes + other.client_bytes,
            rounds: self.rounds.max(other.rounds),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Cost::ZERO
    }

    pub fn total_bytes(&self) -> u64 {
        self.server_bytes + self.client_bytes
    }
}

/// Who sends a flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sender {
    #[default]
    Nobody,
    Server,
    Client,
    /// Both parties at once (an exchange): each reads the other's part before going on.
    Both,
}

impl From<Role> for Sender {
    fn from(r: Role) -> Sender {
        match r {
            Role::Server => Sender::Server,
            Role::Client => Sender::Client,
        }
    }
}

/// A call's flights in order, by sender: what its latency on a run's critical path depends on
/// (`exec::latency` steps a run's flows). Calls in sequence concatenate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub flights: Vec<Sender>,
}

impl Flow {
    pub const NONE: Flow = Flow {
        flights: Vec::new(),
    };

    /// `flights` flights, each answering the previous, the first sent by `first`. Every
    /// two-party protocol of this crate has this shape, opened by the client (the receiver of
    /// its first OT extension); the executor's tests hold it to the measured turns.
    pub fn alternating(first: Role, flights: u64) -> Flow {
        let mut who = first;
        Flow {
            flights: (0..flights)
                .map(|_| {
                    let s = who.into();
                    who = who.peer();
                    s
                })
                .collect(),
        }
    }

    /// `flights` exchanges (both parties send, then both read).
    pub fn exchanges(flights: u64) -> Flow {
        Flow {
            flights: vec![Sender::Both; flights as usize],
        }
    }

    /// `self` followed by `next`.
    pub fn then(mut self, next: &Flow) -> Flow {
        self.flights.extend_from_slice(&next.flights);
        self
    }

    /// Its latency units alone: one per flight, except a flight that follows the same
    /// party's (it leaves without waiting); an exchange always waits.
    pub fn units(&self) -> u64 {
        let mut prev = Sender::Nobody;
        let mut n = 0;
        for &s in &self.flights {
            if s == Sender::Nobody {
                continue;
            }
            if s != prev || s == Sender::Both {
                n += 1;
            }
            prev = s;
        }
        n
    }
}

/// Packs bits (one per byte, LSB used) LSB-first into `out` (⌈n/8⌉ bytes), the layout of OT
/// choice vectors.
pub fn pack_bits(bits: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(bits.chunks(8).map(|c| {
        c.iter()
            .enumerate()
            .fold(0u8, |acc, (i, &b)| acc | (b & 1) << i)
    }));
}
