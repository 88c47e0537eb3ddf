//! The connection handshake: both parties state who they are and what they run, and refuse
//! to continue on any disagreement (DESIGN.md, invariant 3).

use std::fmt;

/// First bytes on every connection.
pub const MAGIC: [u8; 8] = *b"SIR-2PC\0";
/// Version of the wire protocol; bumped on any incompatible change (3: runs travel in framed
/// flights shared by all running protocols, the closing exchange carries flights per task and
/// turns per job; 4: sigmoid and tanh may run as a spline, LUTs share flights; 5: a LUT may
/// give a field's wrap, which the splines' UMults take; 6: hellos carry a session token, the
/// server answers the client's hello, offers carry the token).
pub const PROTOCOL_VERSION: u32 = 6;
/// Size of an encoded [`Hello`]: magic, version, role, plan hash, connection index, session
/// token.
pub const HANDSHAKE_BYTES: usize = 8 + 4 + 1 + 32 + 4 + 16;

/// Which party a process plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns the weights.
    Server,
    /// Owns the input and learns the output.
    Client,
}

impl Role {
    /// The other party's role.
    pub fn peer(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }

    fn code(self) -> u8 {
        match self {
            Role::Server => 0,
            Role::Client => 1,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// What each party announces on connecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Wire protocol version ([`PROTOCOL_VERSION`] for this build).
    pub version: u32,
    /// The sender's role.
    pub role: Role,
    /// BLAKE3 hash of the plan's canonical bytes.
    pub plan_hash: [u8; 32],
    /// Which of the parallel connections of one session this is (0 for the first).
    pub connection: u32,
    /// The session a further connection belongs to: the token the server gave in its offer
    /// on connection 0 (zeros on connection 0). The server echoes the client's.
    pub session: [u8; 16],
}

/// What the two parties disagreed on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("the peer does not speak the sir protocol (magic bytes {0:02x?})")]
    BadMagic([u8; 8]),
    #[error("protocol version mismatch: we speak version {ours}, the peer speaks version {theirs}")]
    Version { ours: u32, theirs: u32 },
    #[error("role mismatch: both parties claim to be the {0}")]
    SameRole(Role),
    #[error("the peer sent an invalid role byte {0}")]
    BadRole(u8),
    #[error(
        "plan hash mismatch: ours is {ours}, the peer's is {theirs}; both must load the same plan"
    )]
    PlanHash { ours: String, theirs: String },
    #[error("connection index mismatch: this is our connection {ours}, the peer's {theirs}")]
    Connection { ours: u32, theirs: u32 },
    #[error("session token mismatch: the peer answered for another session")]
    Session,
}

impl Hello {
    /// A hello for this build's protocol version.
    pub fn new(role: Role, plan_hash: [u8; 32], connection: u32) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            role,
            plan_hash,
            connection,
            session: [0; 16],
        }
    }

    /// With the session token of a further connection.
    pub fn in_session(self, session: [u8; 16]) -> Hello {
        Hello { session, ..self }
    }

    /// The connection index and session token a hello claims, read without checking anything
    /// else (the server answers with them; `check_peer` then checks the whole hello).
    pub fn claimed_ids(b: &[u8; HANDSHAKE_BYTES]) -> (u32, [u8; 16]) {
        let mut word = [0u8; 4];
        word.copy_from_slice(&b[45..49]);
        let mut session = [0u8; 16];
        session.copy_from_slice(&b[49..65]);
        (u32::from_le_bytes(word), session)
    }

    /// The wire encoding (little-endian integers).
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_BYTES] {
        let mut b = [0u8; HANDSHAKE_BYTES];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12] = self.role.code();
        b[13..45].copy_from_slice(&self.plan_hash);
        b[45..49].copy_from_slice(&self.connection.to_le_bytes());
        b[49..65].copy_from_slice(&self.session);
        b
    }

    /// Decodes the peer's hello and checks it against ours, field by field in wire order.
    pub fn check_peer(&self, b: &[u8; HANDSHAKE_BYTES]) -> Result<Hello, HandshakeError> {
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[..8]);
        if magic != MAGIC {
            return Err(HandshakeError::BadMagic(magic));
        }
        let mut word = [0u8; 4];
        word.copy_from_slice(&b[8..12]);
        let version = u32::from_le_bytes(word);
        if version != self.version {
            return Err(HandshakeError::Version {
                ours: self.version,
                theirs: version,
            });
        }
        let role = match b[12] {
            0 => Role::Server,
            1 => Role::Client,
            r => return Err(HandshakeError::BadRole(r)),
        };
        if role == self.role {
            return Err(HandshakeError::SameRole(role));
        }
        let mut plan_hash = [0u8; 32];
        plan_hash.copy_from_slice(&b[13..45]);
        if plan_hash != self.plan_hash {
            return Err(HandshakeError::PlanHash {
                ours: hex(&self.plan_hash),
                theirs: hex(&plan_hash),
            });
        }
        word.copy_from_slice(&b[45..49]);
        let connection = u32::from_le_bytes(word);
        if connection != self.connection {
            return Err(HandshakeError::Connection {
                ours: self.connection,
                theirs: connection,
            });
        }
        let (_, session) = Hello::claimed_ids(b);
        if session != self.session {
            return Err(HandshakeError::Session);
        }
        Ok(Hello {
            version,
            role,
            plan_hash,
            connection,
            session,
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
