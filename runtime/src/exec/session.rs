//! Opening a session between two hosts: the server listens, the client connects (retrying
//! while the server is not up yet), both run the handshake on every connection (magic,
//! version, roles, plan hash, connection index), then agree on the run on the first one — how
//! many connections and samples — before each connection sets up its own OT engine.
//!
//! Either side may instead use the agreement to give up with a reason (a bad input file, a
//! missing weight): the peer then stops with that reason rather than a bare disconnect.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::net::tls::Tls;
use crate::net::{
    Channel, ChannelOptions, HandshakeError, Hello, MAGIC, NetError, Role, Transport,
};
use crate::proto::{Party, ProtoError};
use std::sync::Arc;

/// The longest reason a peer may send for giving up.
pub const MAX_REASON_BYTES: usize = 1024;

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot reach the server at {addr} (tried for {waited:?}): {last}")]
    Unreachable {
        addr: String,
        waited: Duration,
        last: io::Error,
    },
    #[error("no client connected within {0:?}")]
    NoPeer(Duration),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: io::Error },
    #[error("connection {index}: {source}")]
    Connection { index: usize, source: NetError },
    #[error("the {role} gave up: {reason}")]
    PeerGaveUp { role: Role, reason: String },
    #[error("we use {ours} connection(s) (--threads), the {peer} uses {theirs}; both must agree")]
    Threads { ours: u32, theirs: u32, peer: Role },
    #[error("the client's batch of {batch} samples exceeds what this plan runs at once ({limit})")]
    Batch { batch: u64, limit: u64 },
    #[error("setting up connection {index}: {source}")]
    Setup { index: usize, source: ProtoError },
    #[error("connection {index}: TLS: {why}")]
    Tls { index: usize, why: String },
    #[error("{0}")]
    Transport(String),
}

/// What one side states after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Connections this side will use.
    pub threads: u32,
    /// The client: samples in its input. The server: the most it accepts.
    pub batch: u64,
    /// Set when this side gives up (the reason is shown to the peer).
    pub gave_up: Option<String>,
}

impl Offer {
    /// The wire encoding: status, threads, batch, reason length, reason (≤ 1 KiB).
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = self.gave_up.as_deref().unwrap_or("");
        let mut cut = reason.len().min(MAX_REASON_BYTES);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut b = Vec::with_capacity(15 + cut);
        b.push(self.gave_up.is_some() as u8);
        b.extend_from_slice(&self.threads.to_le_bytes());
        b.extend_from_slice(&self.batch.to_le_bytes());
        b.extend_from_slice(&(cut as u16).to_le_bytes());
        b.extend_from_slice(&reason.as_bytes()[..cut]);
        b
    }

    /// Reads the peer's offer; anything malformed is a handshake failure, not a panic.
    pub fn read(ch: &mut Channel) -> Result<Offer, NetError> {
        let mut head = [0u8; 15];
        ch.recv(&mut head)?;
        let bad = |what: &str| {
            NetError::Io(io::Error::new(
                ErrorKind::InvalidData,
                format!("the peer's session offer is malformed ({what})"),
            ))
        };
        let status = head[0];
        if status > 1 {
            return Err(bad("status byte"));
        }
        let threads = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let mut w = [0u8; 8];
        w.copy_from_slice(&head[5..13]);
        let batch = u64::from_le_bytes(w);
        let len = u16::from_le_bytes([head[13], head[14]]) as usize;
        if len > MAX_REASON_BYTES {
            return Err(bad("reason too long"));
        }
        let mut reason = vec![0u8; len];
        ch.recv(&mut reason)?;
        // The reason is printed on our terminal: no control characters from the peer.
        let reason: String = String::from_utf8_lossy(&reason)
            .chars()
            .map(|c| if is_unsafe(c) { ' ' } else { c })
            .take(MAX_REASON_BYTES)
            .collect();
        let reason = match reason.trim() {
            "" => "no reason given".to_string(),
            r => r.to_string(),
        };
        Ok(Offer {
            threads,
            batch,
            gave_up: (status == 1).then_some(reason),
        })
    }
}

/// Characters a peer's text may not put on our terminal: controls, and the format characters
/// (bidirectional overrides, zero-width joiners) that make text read differently.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF)
}

/// How long the first handshake may take: a connection that says nothing in this time is not
/// a client (a port scan, a health check) and is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the further connections of a session may take to arrive.
const MORE_CONNECTIONS: Duration = Duration::from_secs(10);

/// How long to wait, how the channels behave, and how they are secured.
#[derive(Clone, Debug)]
pub struct Waits {
    /// How long the client retries connecting, and the server waits for a client.
    pub connect: Duration,
    /// Channel options (the per-read timeout during the run).
    pub channel: ChannelOptions,
    /// TLS with pinned certificates on every connection; `None` is plain TCP.
    pub tls: Option<Arc<Tls>>,
}

/// Binds the server's listening socket.
pub fn listen(addr: &str) -> Result<TcpListener, SessionError> {
    TcpListener::bind(addr).map_err(|source| SessionError::Listen {
        addr: addr.into(),
        source,
    })
}

/// Accepts one connection within the deadline.
fn accept_until(
    listener: &TcpListener,
    deadline: Instant,
    wait: Duration,
) -> Result<TcpStream, SessionError> {
    let nb = |on: bool| {
        listener
            .set_nonblocking(on)
            .map_err(|source| SessionError::Listen {
                addr: listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                source,
            })
    };
    nb(true)?;
    let r = loop {
        match listener.accept() {
            Ok((s, _)) => break Ok(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                if Instant::now() >= deadline {
                    break Err(SessionError::NoPeer(wait));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(source) => {
                break Err(SessionError::Listen {
                    addr: listener
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    source,
                });
            }
        }
    };
    nb(false)?;
    let s = r?;
    s.set_nonblocking(false)
        .map_err(|e| SessionError::Connection {
            index: 0,
            source: e.into(),
        })?;
    Ok(s)
}

/// Connects, retrying until the deadline; `waiting` is called once, on the first failure.
fn connect_until(
    addr: &str,
    deadline: Instant,
    wait: Duration,
    waiting: &mut dyn FnMut(&io::Error),
) -> Result<TcpStream, SessionError> {
    let mut told = false;
    loop {
        let attempt = addr.to_socket_addrs().and_then(|addrs| {
            // Every address the name resolves to (`localhost` may give ::1 before 127.0.0.1).
            let addrs: Vec<SocketAddr> = addrs.collect();
            let mut last = io::Error::new(ErrorKind::NotFound, "the address resolves to nothing");
            for a in addrs {
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(100));
                match TcpStream::connect_timeout(&a, left.min(Duration::from_secs(5))) {
                    Ok(s) => return Ok(s),
                    Err(e) => last = e,
                }
            }
            Err(last)
        });
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) => {
                // An address without a port, or malformed, will not get better by waiting.
                if Instant::now() >= deadline || e.kind() == ErrorKind::InvalidInput {
                    return Err(SessionError::Unreachable {
                        addr: addr.into(),
                        waited: wait,
                        last: e,
                    });
                }
                if !told {
                    waiting(&e);
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A TLS failure, named for the user: our own verifier's refusal, or the peer's alert.
fn tls_why(e: &io::Error, role: Role) -> Option<String> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        // Our pinning verifier's refusal (its message names the certificates).
        rustls::Error::General(why) => Some(why.clone()),
        rustls::Error::AlertReceived(alert) => Some(format!(
            "the {} refused the TLS connection (received fatal alert: {alert:?}): its --peer-cert is not our certificate",
            role.peer()
        )),
        // Anything else (garbage, a truncated record) is no sir peer at all.
        _ => None,
    }
}

/// Secures (with TLS when configured) and greets one connection.
fn shake(
    stream: TcpStream,
    waits: &Waits,
    hello: Hello,
    index: usize,
) -> Result<Channel, SessionError> {
    let conn = |source: NetError| SessionError::Connection { index, source };
    let io = |e: io::Error| match tls_why(&e, hello.role) {
        Some(why) => SessionError::Tls { index, why },
        None => conn(NetError::from_io(e)),
    };
    stream.set_nodelay(true).map_err(io)?;
    stream
        .set_read_timeout(Some(HELLO_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(HELLO_TIMEOUT)))
        .map_err(io)?;
    let transport: Box<dyn Transport> = match &waits.tls {
        None => Box::new(stream),
        Some(t) => match hello.role {
            Role::Server => t.accept(stream),
            Role::Client => t.connect(stream),
        }
        .map_err(io)?,
    };
    let opts = ChannelOptions {
        timeout: Some(HELLO_TIMEOUT),
        ..waits.channel
    };
    let mut ch = Channel::new(transport, opts).map_err(conn)?;
    ch.handshake(&hello).map_err(|e| match e {
        NetError::Io(e) => io(e),
        // A server that hangs up on our greeting has refused our transport.
        NetError::Closed { .. } if hello.role == Role::Client => SessionError::Transport(
            "the server closed the connection on our greeting: one side uses TLS and the other \
             --insecure-plaintext, or it refused our certificate"
                .into(),
        ),
        e => conn(e),
    })?;
    ch.set_timeout(waits.channel.timeout).map_err(conn)?;
    Ok(ch)
}

/// What the first bytes of a new connection say about a transport mismatch (a plaintext sir
/// client at a TLS server, a TLS client at a plaintext one), so both can be named.
fn transport_mismatch(stream: &TcpStream, tls: bool) -> Option<String> {
    let mut head = [0u8; 8];
    let _ = stream.set_read_timeout(Some(HELLO_TIMEOUT));
    let n = stream.peek(&mut head).ok()?;
    if tls && n >= 4 && head[..n.min(8)] == MAGIC[..n.min(8)] {
        Some(
            "the client connected without TLS (--insecure-plaintext); this server requires TLS"
                .into(),
        )
    } else if !tls && n >= 1 && head[0] == 0x16 {
        Some("the client speaks TLS; this server runs with --insecure-plaintext".into())
    } else {
        None
    }
}

/// Both offers exchanged on the first connection; who gave up and whether they agree.
fn agree(ch: &mut Channel, ours: &Offer, role: Role) -> Result<Offer, SessionError> {
    let conn = |source: NetError| SessionError::Connection { index: 0, source };
    ch.send(&ours.to_bytes()).map_err(conn)?;
    ch.flush().map_err(conn)?;
    let theirs = Offer::read(ch).map_err(conn)?;
    if let Some(reason) = theirs.gave_up.clone() {
        return Err(SessionError::PeerGaveUp {
            role: role.peer(),
            reason,
        });
    }
    if ours.gave_up.is_some() {
        // The peer has been told; the caller reports our own reason.
        return Ok(theirs);
    }
    if theirs.threads != ours.threads {
        return Err(SessionError::Threads {
            ours: ours.threads,
            theirs: theirs.threads,
            peer: role.peer(),
        });
    }
    let (batch, limit) = match role {
        Role::Server => (theirs.batch, ours.batch),
        Role::Client => (ours.batch, theirs.batch),
    };
    if batch == 0 || batch > limit {
        return Err(SessionError::Batch { batch, limit });
    }
    Ok(theirs)
}

/// Sets up one party per connection, in parallel (each runs its own base OTs).
fn parties(chans: Vec<Channel>, role: Role) -> Result<Vec<Party>, SessionError> {
    std::thread::scope(|s| {
        let hs: Vec<_> = chans
            .into_iter()
            .map(|ch| s.spawn(move || Party::new(ch, role)))
            .collect();
        hs.into_iter()
            .enumerate()
            .map(|(index, h)| {
                h.join()
                    .unwrap_or_else(|_| Err(ProtoError::Invariant("setup thread panicked".into())))
                    .map_err(|source| SessionError::Setup { index, source })
            })
            .collect()
    })
}

/// The server's side: waits for a client, agrees on the run, accepts the further connections
/// and sets each up. Returns the parties and the client's batch size. With `offer.gave_up`
/// set it only tells the first client why and returns `Ok` with no parties.
pub fn serve(
    listener: &TcpListener,
    plan_hash: [u8; 32],
    offer: &Offer,
    waits: &Waits,
) -> Result<(Vec<Party>, usize), SessionError> {
    let deadline = Instant::now() + waits.connect;
    let mut ch0 = loop {
        let first = accept_until(listener, deadline, waits.connect)?;
        if let Some(why) = transport_mismatch(&first, waits.tls.is_some()) {
            return Err(SessionError::Transport(why));
        }
        match shake(first, waits, Hello::new(Role::Server, plan_hash, 0), 0) {
            Ok(ch) => break ch,
            // Something that is not a sir client (a port scan, a health check, a silent
            // connection) is dropped; the server keeps waiting for its client.
            Err(SessionError::Connection {
                source:
                    NetError::Handshake(HandshakeError::BadMagic(_))
                    | NetError::Closed { .. }
                    | NetError::Timeout(_)
                    | NetError::Io(_),
                ..
            }) => continue,
            Err(e) => return Err(e),
        }
    };
    let theirs = agree(&mut ch0, offer, Role::Server)?;
    if offer.gave_up.is_some() {
        return Ok((Vec::new(), 0));
    }
    let mut chans = vec![ch0];
    for index in 1..offer.threads as usize {
        // The client connects its further connections right after agreeing.
        let deadline = Instant::now() + MORE_CONNECTIONS;
        let s = accept_until(listener, deadline, MORE_CONNECTIONS)?;
        chans.push(shake(
            s,
            waits,
            Hello::new(Role::Server, plan_hash, index as u32),
            index,
        )?);
    }
    Ok((parties(chans, Role::Server)?, theirs.batch as usize))
}

/// The client's side: connects (retrying until `waits.connect`), agrees on the run, opens the
/// further connections and sets each up. With `offer.gave_up` set it only tells the server why
/// and returns no parties.
pub fn connect(
    addr: &str,
    plan_hash: [u8; 32],
    offer: &Offer,
    waits: &Waits,
    waiting: &mut dyn FnMut(&io::Error),
) -> Result<Vec<Party>, SessionError> {
    let deadline = Instant::now() + waits.connect;
    let first = connect_until(addr, deadline, waits.connect, waiting)?;
    let mut ch0 = shake(first, waits, Hello::new(Role::Client, plan_hash, 0), 0)?;
    agree(&mut ch0, offer, Role::Client)?;
    if offer.gave_up.is_some() {
        return Ok(Vec::new());
    }
    let mut chans = vec![ch0];
    for index in 1..offer.threads as usize {
        let deadline = Instant::now() + MORE_CONNECTIONS;
        let s = connect_until(addr, deadline, MORE_CONNECTIONS, &mut |_| {})?;
        chans.push(shake(
            s,
            waits,
            Hello::new(Role::Client, plan_hash, index as u32),
            index,
        )?);
    }
    parties(chans, Role::Client)
}
