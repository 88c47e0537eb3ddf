//! An emulated network link, so that what a plan costs on a slow network is measured, not only
//! estimated: a relay on loopback between the two parties that holds every byte for one half
//! round trip and serialises each direction at the link's bandwidth.
//!
//! The relay sits below every transport (TLS records and plaintext alike are opaque bytes to
//! it) and needs no knowledge of flights: a flight is a burst of bytes, and a real link delays
//! each byte by its propagation delay after the bytes before it in the same direction have
//! been sent at the bandwidth. So a chunk of `b` bytes read from one side at time `t` leaves for
//! the other side at `max(t, busy) + 8b/bandwidth + rtt/2`, `busy` being when the direction's
//! previous byte finished. One pacing clock per direction is shared by all the connections of
//! a session: they share the link, as separate TCP connections between two hosts do.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A link: bandwidth and round-trip time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    pub bits_per_s: f64,
    pub rtt: Duration,
}

impl Link {
    /// A 1 Gbit/s link with 0.5 ms round trips.
    pub const LAN: Link = Link {
        bits_per_s: 1e9,
        rtt: Duration::from_micros(500),
    };

    /// A 100 Mbit/s link with 40 ms round trips.
    pub const WAN: Link = Link {
        bits_per_s: 100e6,
        rtt: Duration::from_millis(40),
    };

    /// `lan`, `wan`, or `MBIT_PER_S,RTT_MS` (e.g. `100,40`).
    pub fn parse(s: &str) -> Result<Link, String> {
        match s {
            "lan" => Ok(Link::LAN),
            "wan" => Ok(Link::WAN),
            _ => {
                let bad = || format!("{s}: expected lan, wan or MBIT_PER_S,RTT_MS (e.g. 100,40)");
                let (b, r) = s.split_once(',').ok_or_else(bad)?;
                let b: f64 = b.trim().parse().map_err(|_| bad())?;
                let r: f64 = r.trim().parse().map_err(|_| bad())?;
                if !(b > 0.0 && b.is_finite() && (0.0..=60_000.0).contains(&r)) {
                    return Err(bad());
                }
                Ok(Link {
                    bits_per_s: b * 1e6,
                    rtt: Duration::from_secs_f64(r * 1e-3),
                })
            }
        }
    }

    /// The estimated seconds of a run on this link: both directions' bytes at the bandwidth,
    /// and half a round trip per latency unit (one-way delay on the critical path).
    pub fn estimate(&self, bytes: u64, units: u64) -> f64 {
        bytes as f64 * 8.0 / self.bits_per_s + units as f64 * self.rtt.as_secs_f64() / 2.0
    }

    /// How long `bytes` take to leave at the bandwidth.
    fn serialise(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.bits_per_s)
    }
}

/// One direction of the link: when its last byte has left.
#[derive(Debug)]
struct Pacer {
    link: Link,
    busy: Mutex<Instant>,
}

impl Pacer {
    /// When a chunk of `bytes` read now reaches the other side.
    fn arrival(&self, bytes: usize) -> Instant {
        let now = Instant::now();
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        *busy = (*busy).max(now) + self.link.serialise(bytes);
        *busy + self.link.rtt / 2
    }
}

/// A relay that carries every connection made to [`Relay::addr`] to the target address over
/// the emulated link. It runs until the process ends; each connection's threads end when
/// either side closes.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
}

impl Relay {
    /// Starts a relay on a fresh loopback port in front of `target`.
    pub fn start(target: SocketAddr, link: Link) -> io::Result<Relay> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let pacer = |link| {
            Arc::new(Pacer {
                link,
                busy: Mutex::new(Instant::now()),
            })
        };
        let (up, down) = (pacer(link), pacer(link));
        thread::Builder::new()
            .name("sir-link".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(near) = conn else { continue };
                    let Ok(far) = TcpStream::connect(target) else {
                        let _ = near.shutdown(Shutdown::Both);
                        continue;
                    };
                    // A failed pipe closes its connection; the parties name the failure.
                    let _ =
                        pipe(&near, &far, up.clone()).and_then(|_| pipe(&far, &near, down.clone()));
                }
            })?;
        Ok(Relay { addr })
    }

    /// Where the party that would connect to the target connects instead.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Carries `from`'s bytes to `to` over one direction of the link: a reader thread stamps each
/// chunk with its arrival time, a writer thread delivers it then; end of stream is passed on.
fn pipe(from: &TcpStream, to: &TcpStream, pacer: Arc<Pacer>) -> io::Result<()> {
    let (mut src, mut dst) = (from.try_clone()?, to.try_clone()?);
    src.set_nodelay(true)?;
    dst.set_nodelay(true)?;
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::Builder::new()
        .name("sir-link-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match src.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send((pacer.arrival(n), buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
            // (Dropping `tx` tells the writer the stream ended.)
        })?;
    thread::Builder::new()
        .name("sir-link-write".into())
        .spawn(move || {
            while let Ok((at, chunk)) = rx.recv() {
                let wait = at.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    thread::sleep(wait);
                }
                if dst.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = dst.shutdown(Shutdown::Write);
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_and_refuse() {
        assert_eq!(Link::parse("wan"), Ok(Link::WAN));
        assert_eq!(Link::parse("lan"), Ok(Link::LAN));
        let l = Link::parse("100, 40").expect("parses");
        assert_eq!(l, Link::WAN);
        for bad in ["", "100", "0,40", "x,1", "100,-1", "inf,1", "100,1e9"] {
            assert!(Link::parse(bad).is_err(), "{bad}");
        }
        // 1 MB at 100 Mbit/s is 80 ms, plus 10 one-way messages of 20 ms.
        let t = Link::WAN.estimate(1_000_000, 10);
        assert!((t - 0.28).abs() < 1e-9, "{t}");
    }

    #[test]
    fn the_relay_carries_both_directions_in_order_and_passes_on_the_end() {
        let server = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let relay = Relay::start(
            server.local_addr().expect("addr"),
            Link::parse("1000,1").expect("link"),
        )
        .expect("relay");
        let echo = thread::spawn(move || {
            let (mut s, _) = server.accept().expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read to the end");
            s.write_all(&got).expect("echo");
            got.len()
        });
        let mut c = TcpStream::connect(relay.addr()).expect("connect");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for part in data.chunks(70_001) {
            c.write_all(part).expect("write");
        }
        c.shutdown(Shutdown::Write).expect("half close");
        let mut back = Vec::new();
        c.read_to_end(&mut back).expect("read back");
        assert_eq!(echo.join().expect("joins"), data.len());
        assert!(back == data, "the bytes came back altered or reordered");
    }
}
