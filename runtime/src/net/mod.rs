//! The party channel: a blocking, buffered, byte-exact connection between the two parties.
//!
//! A [`Channel`] wraps any [`Transport`] (a TCP stream, an in-process pipe from [`mem_pair`],
//! and later a TLS stream) and counts, per direction, the bytes and messages that cross it and
//! the rounds this side spends waiting on its peer. Nothing is framed: `send` writes exactly the
//! bytes given and `recv` reads exactly the bytes asked for, so the counters equal the bytes on
//! the transport and the compiler's cost model can predict them exactly.
//!
//! Ordering discipline (the protocols in this crate follow it): within one flight, only one
//! party writes bulk data. Both sides writing megabytes at the same time without reading
//! would fill both kernel buffers and block forever, as on any blocking socket. An *exchange*
//! (both parties send in the same flight, then both read; the client side flushes with
//! [`Channel::flush_joint`]) therefore sends small parts, a few tens of KiB per side per flight,
//! which any transport buffers.

mod handshake;
pub mod link;
mod mem;
pub mod tls;
mod wire;

pub use handshake::{HANDSHAKE_BYTES, HandshakeError, Hello, MAGIC, PROTOCOL_VERSION, Role};
pub use mem::{MemStream, mem_pair};
pub use wire::Wire;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a channel operation failed. Every peer misbehaviour (disconnect, silence, garbage in the
/// handshake) ends up here rather than in a panic or a hang.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The peer closed the connection while we still expected `expected` more bytes.
    #[error("the peer closed the connection ({expected} more bytes were expected)")]
    Closed { expected: usize },
    /// The peer stopped reading or writing for longer than the configured timeout.
    #[error("timed out after {0:?} waiting for the peer")]
    Timeout(Duration),
    /// The two parties disagree about who they are or what they run.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// Any other I/O failure of the transport.
    #[error("I/O error on the party channel: {0}")]
    Io(#[from] io::Error),
}

/// A byte stream the channel can run over. Implemented for [`TcpStream`] and [`MemStream`];
/// a TLS stream (e.g. rustls' `StreamOwned`) implements it by delegating the timeout to its
/// socket.
pub trait Transport: Read + Write + Send {
    /// Sets how long a blocking read (and write) may wait; `None` waits forever.
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(timeout)?;
        self.set_write_timeout(timeout)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_timeout(timeout)
    }
}

/// Counters of one channel, from this side's point of view.
///
/// A *round* is a flush after which this side waits on its peer: it is counted when `recv`
/// needs data and this side has flushed bytes since its previous `recv`. The protocols of
/// this crate flush exactly once per protocol message, so `flushes` summed over both parties
/// is a protocol's number of sequential messages (what papers call its rounds); in an exchange
/// one side flushes with [`Channel::flush_joint`], which is not counted here, so the exchange
/// counts as one flight. Both counts are deterministic: they depend neither on timing nor on
/// how the kernel splits the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Payload bytes handed to `send`.
    pub bytes_sent: u64,
    /// Payload bytes returned by `recv`.
    pub bytes_received: u64,
    /// Calls to `send` with a non-empty buffer.
    pub messages_sent: u64,
    /// Calls to `recv` with a non-empty buffer.
    pub messages_received: u64,
    /// Flushes that pushed at least one byte (explicit, or implied by `recv`).
    pub flushes: u64,
    /// Flushes after which this side waited on the peer.
    pub rounds: u64,
}

impl std::ops::Sub for Stats {
    type Output = Stats;
    fn sub(self, o: Stats) -> Stats {
        Stats {
            bytes_sent: self.bytes_sent.saturating_sub(o.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(o.bytes_received),
            messages_sent: self.messages_sent.saturating_sub(o.messages_sent),
            messages_received: self.messages_received.saturating_sub(o.messages_received),
            flushes: self.flushes.saturating_sub(o.flushes),
            rounds: self.rounds.saturating_sub(o.rounds),
        }
    }
}

/// How a channel is set up.
#[derive(Clone, Copy, Debug)]
pub struct ChannelOptions {
    /// How long one blocking read or write may wait on the peer; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Size of the write and read buffers in bytes.
    pub buffer_size: usize,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions {
            timeout: Some(Duration::from_secs(60)),
            buffer_size: 1 << 18,
        }
    }
}

/// A blocking, buffered connection to the other party with exact byte, message and round
/// accounting. Not thread-safe by design: one channel per thread; use one connection per
/// worker thread for parallelism.
pub struct Channel {
    stream: Box<dyn Transport>,
    timeout: Option<Duration>,
    wbuf: Vec<u8>,
    rbuf: Box<[u8]>,
    rpos: usize,
    rend: usize,
    stats: Stats,
    /// Bytes were flushed since the last `recv`; the next `recv` that waits is a round.
    flushed_since_recv: bool,
    /// Bytes were handed to `send` since the last flush.
    unflushed: bool,
    /// Messages of at least this many bytes bypass the buffers.
    direct: usize,
    /// Flushes by [`Channel::flush_joint`] (kept out of `stats.flushes`).
    joint: u64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// A channel over any transport.
    pub fn new(stream: Box<dyn Transport>, opts: ChannelOptions) -> Result<Channel, NetError> {
        let mut stream = stream;
        stream.set_timeout(opts.timeout)?;
        let size = opts.buffer_size.max(64);
        Ok(Channel {
            stream,
            timeout: opts.timeout,
            wbuf: Vec::with_capacity(size),
            rbuf: vec![0u8; size].into_boxed_slice(),
            rpos: 0,
            rend: 0,
            stats: Stats::default(),
            flushed_since_recv: false,
            unflushed: false,
            direct: size / 4,
            joint: 0,
        })
    }

    /// A channel over a connected TCP stream; sets `TCP_NODELAY` since we buffer ourselves.
    pub fn from_tcp(stream: TcpStream, opts: ChannelOptions) -> Result<Channel, NetError> {
        stream.set_nodelay(true)?;
        Channel::new(Box::new(stream), opts)
    }

    /// Connects to a listening peer.
    pub fn connect(addr: impl ToSocketAddrs, opts: ChannelOptions) -> Result<Channel, NetError> {
        Channel::from_tcp(TcpStream::connect(addr)?, opts)
    }

    /// Accepts one connection on a listener.
    pub fn accept(listener: &TcpListener, opts: ChannelOptions) -> Result<Channel, NetError> {
        let (stream, _) = listener.accept()?;
        Channel::from_tcp(stream, opts)
    }

    /// Two channels connected through a real TCP socket pair on 127.0.0.1: (listening side,
    /// connecting side). For tests and benchmarks that want the kernel's loopback path.
    pub fn tcp_pair(opts: ChannelOptions) -> Result<(Channel, Channel), NetError> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr)?;
        let (server, _) = listener.accept()?;
        Ok((
            Channel::from_tcp(server, opts)?,
            Channel::from_tcp(client, opts)?,
        ))
    }

    /// Two channels connected in memory; for tests.
    pub fn mem_pair(opts: ChannelOptions) -> (Channel, Channel) {
        let (a, b) = mem_pair();
        let mk = |s: MemStream| {
            Channel::new(Box::new(s), opts)
                .unwrap_or_else(|_| unreachable!("MemStream timeouts cannot fail"))
        };
        (mk(a), mk(b))
    }

    /// Changes how long one blocking read or write may wait on the peer.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), NetError> {
        self.stream.set_timeout(timeout)?;
        self.timeout = timeout;
        Ok(())
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Queues bytes for the peer. They leave when the buffer fills or on [`Channel::flush`].
    pub fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        if data.is_empty() {
            return Ok(());
        }
        self.stats.bytes_sent += data.len() as u64;
        self.stats.messages_sent += 1;
        self.unflushed = true;
        // Large messages go straight to the transport: one copy less.
        if self.wbuf.len() + data.len() > self.wbuf.capacity() || data.len() >= self.direct {
            self.write_buffered()?;
            if data.len() >= self.direct {
                return self.write_all(data);
            }
        }
        self.wbuf.extend_from_slice(data);
        Ok(())
    }

    /// Pushes every queued byte to the transport.
    pub fn flush(&mut self) -> Result<(), NetError> {
        if self.push()? {
            self.stats.flushes += 1;
        }
        Ok(())
    }

    /// Pushes every queued byte like [`Channel::flush`], for one side of an *exchange*: a
    /// message sent in the same flight as the peer's (both write, then both read). The flush
    /// is counted in [`Channel::joint_flushes`], not in [`Stats::flushes`], so that the
    /// flushes of both parties still sum to the number of flights: by convention the server
    /// calls `flush` and the client `flush_joint`. Bytes and messages count as usual, and the
    /// next `recv` is a round as after `flush`. Each side's part must be small enough for the
    /// transport to buffer it while the peer is writing too (see the module doc).
    pub fn flush_joint(&mut self) -> Result<(), NetError> {
        if self.push()? {
            self.joint += 1;
        }
        Ok(())
    }

    /// Flushes sent in the same flight as the peer's message (one side of an exchange, see
    /// [`Channel::flush_joint`]); not counted in [`Stats::flushes`].
    pub fn joint_flushes(&self) -> u64 {
        self.joint
    }

    /// Writes the queued bytes and flushes the transport; whether anything was pushed.
    fn push(&mut self) -> Result<bool, NetError> {
        if !self.unflushed {
            return Ok(false);
        }
        self.write_buffered()?;
        self.stream.flush().map_err(|e| self.map_io(e, 0))?;
        self.unflushed = false;
        self.flushed_since_recv = true;
        Ok(true)
    }

    /// Reads exactly `buf.len()` bytes from the peer, flushing our queued bytes first (so a
    /// forgotten flush can never deadlock both parties).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<(), NetError> {
        if buf.is_empty() {
            return Ok(());
        }
        self.flush()?;
        if self.flushed_since_recv {
            self.stats.rounds += 1;
            self.flushed_since_recv = false;
        }
        self.stats.messages_received += 1;
        let mut filled = 0;
        while filled < buf.len() {
            if self.rpos == self.rend {
                let want = buf.len() - filled;
                if want >= self.direct {
                    // Large reads bypass the buffer to save a copy.
                    let n = self.read_some_direct(&mut buf[filled..], want)?;
                    filled += n;
                    continue;
                }
                let n = Self::read_into(&mut self.stream, &mut self.rbuf, self.timeout, want)?;
                self.rpos = 0;
                self.rend = n;
            }
            let n = (self.rend - self.rpos).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
            self.rpos += n;
            filled += n;
        }
        self.stats.bytes_received += buf.len() as u64;
        Ok(())
    }

    /// Runs the handshake: sends our [`Hello`], reads the peer's and checks that magic,
    /// version and plan hash agree, the roles are complementary and the connection index
    /// matches. Returns the peer's hello. Its bytes are counted like any other.
    pub fn handshake(&mut self, ours: &Hello) -> Result<Hello, NetError> {
        self.send(&ours.to_bytes())?;
        let mut theirs = [0u8; HANDSHAKE_BYTES];
        self.recv(&mut theirs)?;
        Ok(ours.check_peer(&theirs)?)
    }

    /// The server's handshake: reads the client's hello first and, if it begins with our
    /// magic, answers with the connection index and session token it claims (the server
    /// learns which session a connection belongs to from it), then checks the rest. A
    /// stranger's bytes get no answer.
    pub fn handshake_server(&mut self, plan_hash: [u8; 32]) -> Result<Hello, NetError> {
        let mut theirs = [0u8; HANDSHAKE_BYTES];
        self.recv(&mut theirs)?;
        let (connection, session) = Hello::claimed_ids(&theirs);
        let ours = Hello::new(Role::Server, plan_hash, connection).in_session(session);
        if theirs[..8] == handshake::MAGIC {
            self.send(&ours.to_bytes())?;
            self.flush()?;
        }
        Ok(ours.check_peer(&theirs)?)
    }

    fn read_some_direct(&mut self, buf: &mut [u8], want: usize) -> Result<usize, NetError> {
        Self::read_into(&mut self.stream, buf, self.timeout, want)
    }

    fn read_into(
        stream: &mut Box<dyn Transport>,
        buf: &mut [u8],
        timeout: Option<Duration>,
        want: usize,
    ) -> Result<usize, NetError> {
        loop {
            match stream.read(buf) {
                Ok(0) => return Err(NetError::Closed { expected: want }),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(map_io(e, timeout, want)),
            }
        }
    }

    fn write_buffered(&mut self) -> Result<(), NetError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.wbuf);
        let r = self.write_all(&buf);
        self.wbuf = buf;
        self.wbuf.clear();
        r
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), NetError> {
        self.stream.write_all(data).map_err(|e| self.map_io(e, 0))
    }

    fn map_io(&self, e: io::Error, want: usize) -> NetError {
        map_io(e, self.timeout, want)
    }
}

impl NetError {
    /// An I/O error of a transport, classified (disconnects and timeouts by kind).
    pub fn from_io(e: io::Error) -> NetError {
        map_io(e, None, 0)
    }
}

fn map_io(e: io::Error, timeout: Option<Duration>, want: usize) -> NetError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            NetError::Timeout(timeout.unwrap_or_default())
        }
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => NetError::Closed { expected: want },
        _ => NetError::Io(e),
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
