//! Opening a session between two hosts: the server listens, the client connects (retrying
//! while the server is not up yet), both run the handshake on every connection (magic,
//! version, roles, plan hash, connection index), then agree on the run on the first one — how
//! many connections and samples — before each connection sets up its own OT engine.
//!
//! Either side may instead use the agreement to give up with a reason (a bad input file, a
//! missing weight): the peer then stops with that reason rather than a bare disconnect.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::net::tls::Tls;
use crate::net::{Channel, ChannelOptions, Hello, MAGIC, NetError, Role, Transport};
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
    #[error("client {client} opened {got} of its {want} connections within the deadline")]
    MoreConnections {
        got: usize,
        want: usize,
        client: String,
    },
}

/// Bytes of an [`Offer`] before its reason.
const OFFER_HEAD: usize = 1 + 4 + 8 + 16 + 2;

/// What one side states after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Connections this side will use.
    pub threads: u32,
    /// The client: samples in its input. The server: the most it accepts.
    pub batch: u64,
    /// Set when this side gives up (the reason is shown to the peer).
    pub gave_up: Option<String>,
    /// The server: the token of this session, which the client's further connections present
    /// in their hello (fresh randomness per session). The client: zeros.
    pub session: [u8; 16],
}

impl Offer {
    /// This side's statement; the server's session token is set when the session opens.
    pub fn new(threads: u32, batch: u64, gave_up: Option<String>) -> Offer {
        Offer {
            threads,
            batch,
            gave_up,
            session: [0; 16],
        }
    }

    /// The wire encoding: status, threads, batch, session token, reason length, reason
    /// (≤ 1 KiB).
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = self.gave_up.as_deref().unwrap_or("");
        let mut cut = reason.len().min(MAX_REASON_BYTES);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut b = Vec::with_capacity(OFFER_HEAD + cut);
        b.push(self.gave_up.is_some() as u8);
        b.extend_from_slice(&self.threads.to_le_bytes());
        b.extend_from_slice(&self.batch.to_le_bytes());
        b.extend_from_slice(&self.session);
        b.extend_from_slice(&(cut as u16).to_le_bytes());
        b.extend_from_slice(&reason.as_bytes()[..cut]);
        b
    }

    /// Reads the peer's offer; anything malformed is a handshake failure, not a panic.
    pub fn read(ch: &mut Channel) -> Result<Offer, NetError> {
        let mut head = [0u8; OFFER_HEAD];
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
        let mut session = [0u8; 16];
        session.copy_from_slice(&head[13..29]);
        let len = u16::from_le_bytes([head[29], head[30]]) as usize;
        if len > MAX_REASON_BYTES {
            return Err(bad("reason too long"));
        }
        let mut reason = vec![0u8; len];
        ch.recv(&mut reason)?;
        // The reason is printed on our terminal: no control characters from the peer.
        let reason: String = String::from_utf8_lossy(&reason)
            .chars()
            .map(|c| if crate::plan::unsafe_char(c) { ' ' } else { c })
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
            session,
        })
    }
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

/// Secures (with TLS when configured) and greets one connection: the client's side with
/// `hello`, the server's by answering the client's hello. Returns the channel, the peer's
/// hello and (server, TLS) the client's certificate fingerprint.
fn shake(
    stream: TcpStream,
    waits: &Waits,
    hello: Hello,
    index: usize,
) -> Result<(Channel, Hello, Option<String>), SessionError> {
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
    let (transport, client): (Box<dyn Transport>, Option<String>) = match &waits.tls {
        None => (Box::new(stream), None),
        Some(t) => match hello.role {
            Role::Server => t.accept(stream).map(|(s, fp)| (s, Some(fp))),
            Role::Client => t.connect(stream).map(|s| (s, None)),
        }
        .map_err(io)?,
    };
    let opts = ChannelOptions {
        timeout: Some(HELLO_TIMEOUT),
        ..waits.channel
    };
    let mut ch = Channel::new(transport, opts).map_err(conn)?;
    let greeted = match hello.role {
        Role::Server => ch.handshake_server(hello.plan_hash),
        Role::Client => ch.handshake(&hello),
    };
    let theirs = greeted.map_err(|e| match e {
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
    Ok((ch, theirs, client))
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

/// A connection the server's door dropped before it became part of a session (for the
/// log): where it came from and why.
#[derive(Clone, Debug)]
pub struct Dropped {
    pub addr: String,
    pub why: String,
}

/// Where the door reports what it dropped.
pub type DropLog = Arc<dyn Fn(Dropped) + Send + Sync>;

/// A connection that completed the handshake: its channel, the client's hello, where it came
/// from and, with TLS, the fingerprint of the client's certificate.
pub struct Greeted {
    pub ch: Channel,
    pub hello: Hello,
    pub client: Option<String>,
    pub addr: String,
}

/// Handshakes in progress at once; a connection beyond them is dropped at once (a flood of
/// silent connections costs threads up to this bound, and each at most [`HELLO_TIMEOUT`]).
const MAX_HANDSHAKES: usize = 64;

/// What the door's threads share.
struct Hall {
    /// Sessions waiting for their further connections, by token.
    routes: Mutex<HashMap<[u8; 16], mpsc::Sender<Greeted>>>,
    first: mpsc::Sender<Greeted>,
    stop: AtomicBool,
    handshakes: AtomicUsize,
    log: DropLog,
}

/// The server's door: accepts connections on its own thread and greets each on another, the
/// whole TLS and sir handshake within [`HELLO_TIMEOUT`] (a watchdog shuts the socket at the
/// deadline, so a peer trickling bytes cannot hold it). Whatever fails before the handshake
/// completes — a scan, garbage, a TLS client with another certificate or none, a plaintext
/// client at a TLS server, a version or plan mismatch, silence — is logged and dropped: it
/// never costs a session. A greeted first connection waits in [`Door::next_client`]; a
/// further one is handed to the session whose token its hello carries, or dropped.
pub struct Door {
    hall: Arc<Hall>,
    first: Mutex<mpsc::Receiver<Greeted>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Door {
    /// Starts accepting on `listener`.
    pub fn open(
        listener: TcpListener,
        plan_hash: [u8; 32],
        waits: Waits,
        log: DropLog,
    ) -> Result<Door, SessionError> {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        listener
            .set_nonblocking(true)
            .map_err(|source| SessionError::Listen {
                addr: addr.clone(),
                source,
            })?;
        let (tx, rx) = mpsc::channel();
        let hall = Arc::new(Hall {
            routes: Mutex::new(HashMap::new()),
            first: tx,
            stop: AtomicBool::new(false),
            handshakes: AtomicUsize::new(0),
            log,
        });
        let h = hall.clone();
        let acceptor = std::thread::Builder::new()
            .name("sir-door".into())
            .spawn(move || accept_loop(&listener, &h, plan_hash, &waits))
            .map_err(|source| SessionError::Listen { addr, source })?;
        Ok(Door {
            hall,
            first: Mutex::new(rx),
            acceptor: Some(acceptor),
        })
    }

    /// The next client's first connection, greeted; `None` if none arrives within `wait`.
    pub fn next_client(&self, wait: Duration) -> Option<Greeted> {
        lock(&self.first).recv_timeout(wait).ok()
    }

    fn log(&self, d: Dropped) {
        (self.hall.log)(d)
    }

    fn expect(&self, token: [u8; 16]) -> mpsc::Receiver<Greeted> {
        let (tx, rx) = mpsc::channel();
        lock(&self.hall.routes).insert(token, tx);
        rx
    }

    fn forget(&self, token: &[u8; 16]) {
        lock(&self.hall.routes).remove(token);
    }

    /// Stops accepting (handshakes in progress finish on their own and are dropped).
    pub fn close(&mut self) {
        self.hall.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Door {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: &TcpListener, hall: &Arc<Hall>, plan_hash: [u8; 32], waits: &Waits) {
    while !hall.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, addr)) => {
                let addr = addr.to_string();
                if hall.handshakes.load(Ordering::SeqCst) >= MAX_HANDSHAKES {
                    (hall.log)(Dropped {
                        addr,
                        why: format!("{MAX_HANDSHAKES} handshakes in progress already"),
                    });
                    continue;
                }
                hall.handshakes.fetch_add(1, Ordering::SeqCst);
                let (h, w) = (hall.clone(), waits.clone());
                let spawned =
                    std::thread::Builder::new()
                        .name("sir-greet".into())
                        .spawn(move || {
                            greet(stream, addr, &h, plan_hash, &w);
                            h.handshakes.fetch_sub(1, Ordering::SeqCst);
                        });
                if spawned.is_err() {
                    hall.handshakes.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // (Out of file descriptors, a connection reset before accept: keep serving.)
            Err(e) => {
                (hall.log)(Dropped {
                    addr: "?".into(),
                    why: format!("accept failed: {e}"),
                });
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One connection's handshake within the deadline; routed on success, logged and dropped
/// otherwise.
fn greet(stream: TcpStream, addr: String, hall: &Hall, plan_hash: [u8; 32], waits: &Waits) {
    let dropped = |why: String| {
        (hall.log)(Dropped {
            addr: addr.clone(),
            why,
        })
    };
    let Ok(sock) = stream.try_clone() else {
        return dropped("cannot watch its handshake (no file descriptor left)".into());
    };
    let _ = stream.set_nonblocking(false);
    let (done, watch) = mpsc::channel::<()>();
    let expired = Arc::new(AtomicBool::new(false));
    let fired = expired.clone();
    let watchdog = std::thread::Builder::new()
        .name("sir-greet-deadline".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(HELLO_TIMEOUT) {
                fired.store(true, Ordering::SeqCst);
                let _ = sock.shutdown(std::net::Shutdown::Both);
            }
        });
    if watchdog.is_err() {
        return dropped("cannot watch its handshake (no thread left)".into());
    }
    let r = match transport_mismatch(&stream, waits.tls.is_some()) {
        Some(why) => Err(SessionError::Transport(why)),
        None => shake(stream, waits, Hello::new(Role::Server, plan_hash, 0), 0),
    };
    let _ = done.send(());
    let (ch, hello, client) = match r {
        Ok(g) => g,
        Err(_) if expired.load(Ordering::SeqCst) => {
            return dropped(format!(
                "no complete handshake within {} s",
                HELLO_TIMEOUT.as_secs()
            ));
        }
        Err(e) => return dropped(e.to_string()),
    };
    let g = Greeted {
        ch,
        hello,
        client,
        addr: addr.clone(),
    };
    if hello.connection == 0 {
        if hall.first.send(g).is_err() {
            dropped("the server is closing".into());
        }
        return;
    }
    let route = lock(&hall.routes).get(&hello.session).cloned();
    let delivered = match route {
        Some(r) => r.send(g).is_ok(),
        None => false,
    };
    if !delivered {
        dropped(format!(
            "connection {} presents no session this server is opening",
            hello.connection
        ));
    }
}

/// A session opened on the server: one party per connection, the client's batch, and who
/// the client is.
pub struct Opened {
    pub parties: Vec<Party>,
    pub batch: usize,
    /// The client's certificate fingerprint (TLS), else its address.
    pub client: String,
}

/// Opens a client's session from its greeted first connection: a fresh session token in the
/// server's offer, the agreement, then the client's further connections (those presenting
/// the token from the same client certificate; others are dropped) within
/// [`MORE_CONNECTIONS`], and each connection's OT setup. With `offer.gave_up` set it only
/// tells the client why and returns no parties.
pub fn open(door: &Door, first: Greeted, offer: &Offer) -> Result<Opened, SessionError> {
    let Greeted {
        mut ch,
        client,
        addr,
        ..
    } = first;
    let mut token = [0u8; 16];
    ChaCha20Rng::try_from_os_rng()
        .map_err(|e| SessionError::Setup {
            index: 0,
            source: ProtoError::Entropy(e.to_string()),
        })?
        .fill_bytes(&mut token);
    let offer = Offer {
        session: token,
        ..offer.clone()
    };
    let rx = door.expect(token);
    let chans = agree(&mut ch, &offer, Role::Server).and_then(|theirs| {
        if offer.gave_up.is_some() {
            return Ok(None);
        }
        let more = Expected {
            rx: &rx,
            threads: offer.threads as usize,
            client: &client,
            addr: &addr,
        };
        collect(door, more, &theirs, ch)
    });
    door.forget(&token);
    let who = client.clone().unwrap_or(addr);
    let (chans, batch) = match chans? {
        Some(c) => c,
        None => {
            return Ok(Opened {
                parties: Vec::new(),
                batch: 0,
                client: who,
            });
        }
    };
    Ok(Opened {
        parties: parties(chans, Role::Server)?,
        batch,
        client: who,
    })
}

/// The further connections a session waits for.
struct Expected<'a> {
    rx: &'a mpsc::Receiver<Greeted>,
    threads: usize,
    client: &'a Option<String>,
    addr: &'a str,
}

/// The session's connections in index order once all have arrived (None: we gave up).
fn collect(
    door: &Door,
    more: Expected<'_>,
    theirs: &Offer,
    ch0: Channel,
) -> Result<Option<(Vec<Channel>, usize)>, SessionError> {
    let Expected {
        rx,
        threads: t,
        client,
        addr,
    } = more;
    let mut chans: Vec<Option<Channel>> = (0..t).map(|_| None).collect();
    chans[0] = Some(ch0);
    let deadline = Instant::now() + MORE_CONNECTIONS;
    let mut got = 1;
    while got < t {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(g) = rx.recv_timeout(left) else {
            return Err(SessionError::MoreConnections {
                got,
                want: t,
                client: client.clone().unwrap_or_else(|| addr.to_string()),
            });
        };
        let i = g.hello.connection as usize;
        if i >= t || chans[i].is_some() || g.client != *client {
            door.log(Dropped {
                addr: g.addr,
                why: format!(
                    "connection {i} presents the token of a session of another client or a \
                     connection it has already"
                ),
            });
            continue;
        }
        chans[i] = Some(g.ch);
        got += 1;
    }
    Ok(Some((
        chans.into_iter().flatten().collect(),
        theirs.batch as usize,
    )))
}

/// One session on `listener` (both parties in one process: `sir simulate`, `sir bench`;
/// and a server that only tells its first client why it gives up): a door for one client.
pub fn serve(
    listener: &TcpListener,
    plan_hash: [u8; 32],
    offer: &Offer,
    waits: &Waits,
) -> Result<(Vec<Party>, usize), SessionError> {
    let l = listener
        .try_clone()
        .map_err(|source| SessionError::Listen {
            addr: String::new(),
            source,
        })?;
    let door = Door::open(l, plan_hash, waits.clone(), Arc::new(|_| {}))?;
    let first = door
        .next_client(waits.connect)
        .ok_or(SessionError::NoPeer(waits.connect))?;
    let o = open(&door, first, offer)?;
    Ok((o.parties, o.batch))
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
    let (mut ch0, _, _) = shake(first, waits, Hello::new(Role::Client, plan_hash, 0), 0)?;
    let theirs = agree(&mut ch0, offer, Role::Client)?;
    if offer.gave_up.is_some() {
        return Ok(Vec::new());
    }
    let mut chans = vec![ch0];
    for index in 1..offer.threads as usize {
        let deadline = Instant::now() + MORE_CONNECTIONS;
        let s = connect_until(addr, deadline, MORE_CONNECTIONS, &mut |_| {})?;
        let hello = Hello::new(Role::Client, plan_hash, index as u32).in_session(theirs.session);
        chans.push(shake(s, waits, hello, index)?.0);
    }
    parties(chans, Role::Client)
}

#[cfg(test)]
mod door_tests {
    use super::*;
    use crate::net::ChannelOptions;

    fn waits() -> Waits {
        Waits {
            connect: Duration::from_secs(10),
            channel: ChannelOptions::default(),
            tls: None,
        }
    }

    /// A plaintext door on a free loopback port, its address, and what it dropped.
    fn logged_door(hash: [u8; 32]) -> (Door, String, Arc<Mutex<Vec<Dropped>>>) {
        let listener = listen("127.0.0.1:0").expect("listen");
        let addr = listener.local_addr().expect("addr").to_string();
        let log: Arc<Mutex<Vec<Dropped>>> = Arc::default();
        let sink = log.clone();
        let door = Door::open(
            listener,
            hash,
            waits(),
            Arc::new(move |d| lock(&sink).push(d)),
        )
        .expect("door");
        (door, addr, log)
    }

    /// Issue 19: in the window where a session waits for its further connections, a stray
    /// one presenting another session's token and one claiming an index the session does not
    /// have are dropped (named in the log), and the session opens with the real one. (Before,
    /// the server took whatever connected next and failed the session.)
    #[test]
    fn stray_further_connections_are_dropped_and_the_session_opens() {
        let hash = [7u8; 32];
        let (door, addr, log) = logged_door(hash);
        let w = waits();
        let dial = |index: u32, token: [u8; 16]| {
            let s = TcpStream::connect(&addr).expect("connects");
            let hello = Hello::new(Role::Client, hash, index).in_session(token);
            shake(s, &w, hello, index as usize).map(|g| g.0)
        };
        std::thread::scope(|sc| {
            let server = sc.spawn(|| {
                let first = door.next_client(Duration::from_secs(10)).expect("a client");
                let offer = Offer::new(2, 4, None);
                open(&door, first, &offer).map(|o| (o.parties.len(), o.batch))
            });
            let mut ch0 = dial(0, [0; 16]).expect("connection 0");
            let offer = Offer::new(2, 3, None);
            let theirs = agree(&mut ch0, &offer, Role::Client).expect("agreed");
            assert_ne!(theirs.session, [0; 16], "the server hands out a token");
            // Another session's token: the handshake completes, the door finds no session.
            let _stray = dial(1, [9; 16]);
            // The right token for an index the session does not have.
            let _beyond = dial(5, theirs.session);
            let deadline = Instant::now() + Duration::from_secs(5);
            while lock(&log).len() < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let ch1 = dial(1, theirs.session).expect("connection 1");
            let client = parties(vec![ch0, ch1], Role::Client).expect("client set up");
            assert_eq!(client.len(), 2);
            let (n, batch) = server.join().expect("joins").expect("the session opens");
            assert_eq!((n, batch), (2, 3));
        });
        let log = lock(&log);
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log[0].why.contains("no session"), "{log:?}");
        assert!(log[1].why.contains("connection 5"), "{log:?}");
    }

    /// Issue 19: a connection that trickles bytes is cut at the whole-handshake deadline,
    /// and a client that comes meanwhile is greeted at once. (Before, the per-read timeout
    /// never fired and the single-threaded server held the trickler indefinitely.)
    #[test]
    fn a_trickling_connection_is_cut_at_the_deadline_and_others_pass() {
        use std::io::Write;
        let hash = [3u8; 32];
        let (door, addr, log) = logged_door(hash);
        let t0 = Instant::now();
        let a = addr.clone();
        let trickler = std::thread::spawn(move || {
            let mut t = TcpStream::connect(&a).expect("connects");
            while t.write_all(b"S").is_ok() && t0.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(200));
            }
            t0.elapsed()
        });
        std::thread::sleep(Duration::from_millis(300));
        let s = TcpStream::connect(&addr).expect("connects");
        let (_ch, _, _) =
            shake(s, &waits(), Hello::new(Role::Client, hash, 0), 0).expect("greeted");
        let g = door
            .next_client(Duration::from_secs(2))
            .expect("greeted at once");
        assert!(t0.elapsed() < Duration::from_secs(3));
        drop(g);
        let held = trickler.join().expect("trickler");
        assert!(
            held >= HELLO_TIMEOUT && held < HELLO_TIMEOUT + Duration::from_secs(3),
            "held {held:?}"
        );
        let log = lock(&log);
        assert!(
            log.iter().any(|d| d.why.contains("no complete handshake")),
            "{log:?}"
        );
    }
}
