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
pub mod masked;
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
use crate::ot::cost::{Ext, OtKind};
use crate::ot::pool;
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

/// Where a session's OTs come from: the engine, and for silent OT how many COTs to generate
/// before the first protocol runs (by OT sender: server, client), the sum of
/// [`Cost::silent_cots`] over everything the session will run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtSession {
    pub kind: OtKind,
    pub demand: [u64; 2],
}

impl OtSession {
    pub const IKNP: OtSession = OtSession {
        kind: OtKind::Iknp,
        demand: [0, 0],
    };

    /// A session on `kind` that will run calls costing `work` in all.
    pub fn for_work(kind: OtKind, work: Cost) -> OtSession {
        OtSession {
            kind,
            demand: match kind {
                OtKind::Iknp => [0, 0],
                OtKind::Silent => work.silent_cots(),
            },
        }
    }

    /// The exact cost of generating the silent COTs (zero on IKNP): the input-independent
    /// preprocessing of the session, after the one-time setup.
    pub fn preprocess_cost(&self) -> Cost {
        match self.kind {
            OtKind::Iknp => Cost::ZERO,
            OtKind::Silent => Cost::ot(Role::Server, pool::generate_cost(self.demand[0]))
                .then(Cost::ot(Role::Client, pool::generate_cost(self.demand[1]))),
        }
    }
}

impl Party {
    /// Runs the OT setup with the peer (who calls `new` with the other role): an IKNP session.
    pub fn new(ch: Channel, role: Role) -> Result<Party, ProtoError> {
        Party::with(ch, role, OtSession::IKNP)
    }

    /// Runs the OT setup and then the session's OT preprocessing ([`OtSession`]) with the
    /// peer, who calls it with the other role and the same session.
    pub fn with(mut ch: Channel, role: Role, session: OtSession) -> Result<Party, ProtoError> {
        let mut ot = OtEngine::setup(&mut ch, role)?;
        if session.kind == OtKind::Silent {
            ot.preprocess_silent(&mut ch, session.demand)?;
        }
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
        self.fork_with(io, [0, 0])
    }

    /// [`Party::fork`] on a silent session: the fork takes the next `cots` silent COTs (by OT
    /// sender, as [`Cost::silent_cots`] counts them for the fork's work).
    pub fn fork_with(&mut self, io: Box<dyn Wire>, cots: [u64; 2]) -> Result<Party, ProtoError> {
        let ot = self.ot.fork_with(cots)?;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        Ok(Party {
            role: self.role,
            io,
            ot,
            rng: ChaCha20Rng::from_seed(seed),
        })
    }

    /// The engine this party's OTs run on.
    pub fn ot_kind(&self) -> OtKind {
        self.ot.kind()
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
///
/// Cost functions are engine-neutral: the OT receivers' extension messages are kept apart
/// (`server_ext`, `client_ext`, not serialised) and priced by [`Cost::on`] for the session's
/// [`OtKind`]; a priced cost (what plans record and channels measure) has none left. So are
/// the flights of constructions that take more of them on silent OT (`silent_rounds`: a taller
/// comparison tree where the batch is long enough to pay for it, [`millionaire::Tree::on`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub server_bytes: u64,
    pub client_bytes: u64,
    /// Flights (on IKNP, for a cost not yet priced).
    pub rounds: u64,
    /// Flights on silent OT where they differ from `rounds` (never on a priced cost).
    #[serde(skip)]
    silent_rounds: Option<u64>,
    /// Extension messages the server sends as OT receiver, not yet in `server_bytes`.
    #[serde(skip)]
    pub server_ext: Ext,
    /// Extension messages the client sends as OT receiver, not yet in `client_bytes`.
    #[serde(skip)]
    pub client_ext: Ext,
}

impl Cost {
    pub const ZERO: Cost = Cost {
        server_bytes: 0,
        client_bytes: 0,
        rounds: 0,
        silent_rounds: None,
        server_ext: Ext::ZERO,
        client_ext: Ext::ZERO,
    };

    /// The flights of this call on `kind`.
    pub fn rounds_on(&self, kind: OtKind) -> u64 {
        match kind {
            OtKind::Iknp => self.rounds,
            OtKind::Silent => self.silent_rounds.unwrap_or(self.rounds),
        }
    }

    /// Flights combined per engine by `f` (the other fields as `base`).
    fn zip_rounds(self, other: &Cost, base: Cost, f: impl Fn(u64, u64) -> u64) -> Cost {
        let iknp = f(self.rounds, other.rounds);
        let silent = f(
            self.rounds_on(OtKind::Silent),
            other.rounds_on(OtKind::Silent),
        );
        Cost {
            rounds: iknp,
            silent_rounds: (silent != iknp).then_some(silent),
            ..base
        }
    }

    /// `self` followed by `next`, whose first flight joins `self`'s last when `join` (the
    /// same party sends both; on each engine where both send anything).
    pub fn then_joined(self, next: Cost, join: bool) -> Cost {
        let base = self.alongside(next);
        self.zip_rounds(&next, base, |a, b| a + b - (join && a > 0 && b > 0) as u64)
    }

    /// This cost taking `rounds` flights on both engines (a construction whose flights do not
    /// depend on its parts').
    pub fn in_rounds(self, rounds: u64) -> Cost {
        Cost {
            rounds,
            silent_rounds: None,
            ..self
        }
    }

    /// A priced cost: these bytes, no extension left to price.
    pub fn bytes(server_bytes: u64, client_bytes: u64, rounds: u64) -> Cost {
        Cost {
            server_bytes,
            client_bytes,
            rounds,
            ..Cost::ZERO
        }
    }

    /// What the channels counted: bytes each party sent, and both parties' flushes.
    pub fn measured(server: &Stats, client: &Stats) -> Cost {
        Cost::bytes(
            server.bytes_sent,
            client.bytes_sent,
            server.flushes + client.flushes,
        )
    }

    /// One message of `bytes` from `from`, a flight of its own.
    pub fn message(from: Role, bytes: u64) -> Cost {
        match from {
            Role::Server => Cost::bytes(bytes, 0, 1),
            Role::Client => Cost::bytes(0, bytes, 1),
        }
    }

    /// One message from `from` carrying the receiver's side of this OT call (its extension
    /// and other bytes), a flight of its own: for protocols that send it with other data.
    pub fn ot_request(from: Role, c: crate::ot::cost::OtCost) -> Cost {
        let mut m = Cost::message(from, c.receiver_bytes);
        match from {
            Role::Server => m.server_ext = c.ext,
            Role::Client => m.client_ext = c.ext,
        }
        m
    }

    /// An OT call with `sender` as the OT sender.
    pub fn ot(sender: Role, c: crate::ot::cost::OtCost) -> Cost {
        let (server_bytes, client_bytes) = match sender {
            Role::Server => (c.sender_bytes, c.receiver_bytes),
            Role::Client => (c.receiver_bytes, c.sender_bytes),
        };
        let mut cost = Cost::bytes(server_bytes, client_bytes, c.flights);
        match sender {
            Role::Server => cost.client_ext = c.ext,
            Role::Client => cost.server_ext = c.ext,
        }
        cost
    }

    /// This cost on a session whose OTs come from `kind`: the extensions priced into the
    /// bytes.
    pub fn on(self, kind: OtKind) -> Cost {
        Cost::bytes(
            self.server_bytes + self.server_ext.bytes(kind),
            self.client_bytes + self.client_ext.bytes(kind),
            self.rounds_on(kind),
        )
    }

    /// A call whose construction differs per engine, `iknp` on IKNP and `silent` on silent
    /// OT (each priced for its engine). Each alternates from the client (every flow of this
    /// crate does); they may take different numbers of flights — the latency model and the
    /// executor's turns then follow the session's engine ([`Cost::rounds_on`]).
    pub fn per_engine(iknp: Cost, silent: Cost) -> Cost {
        let (i, s) = (iknp.on(OtKind::Iknp), silent.on(OtKind::Silent));
        let [server_pool, client_pool] = silent.silent_cots();
        let ext = |iknp, silent, cots| Ext {
            iknp,
            silent,
            cots,
            ..Ext::ZERO
        };
        Cost {
            server_bytes: 0,
            client_bytes: 0,
            rounds: i.rounds,
            silent_rounds: (s.rounds != i.rounds).then_some(s.rounds),
            server_ext: ext(i.server_bytes, s.server_bytes, client_pool),
            client_ext: ext(i.client_bytes, s.client_bytes, server_pool),
        }
    }

    /// Silent COTs this call consumes, by OT sender: `[server's pool, client's pool]` (the
    /// server's pool holds the COTs whose Δ the server knows).
    pub fn silent_cots(&self) -> [u64; 2] {
        [self.client_ext.silent_cots(), self.server_ext.silent_cots()]
    }

    /// `self` followed by `next`: bytes and rounds add.
    pub fn then(self, next: Cost) -> Cost {
        self.then_joined(next, false)
    }

    /// `self` and `other` in the same flights (messages sent together): bytes add, rounds are
    /// the larger.
    pub fn alongside(self, other: Cost) -> Cost {
        let base = Cost {
            server_bytes: self.server_bytes + other.server_bytes,
            client_bytes: self.client_bytes + other.client_bytes,
            rounds: 0,
            silent_rounds: None,
            server_ext: self.server_ext.plus(other.server_ext),
            client_ext: self.client_ext.plus(other.client_ext),
        };
        self.zip_rounds(&other, base, u64::max)
    }

    pub fn is_zero(&self) -> bool {
        *self == Cost::ZERO
    }

    /// Bytes of a priced cost (see [`Cost::on`]).
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
