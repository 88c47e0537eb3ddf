use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use test_support::Counting;

fn small_opts() -> ChannelOptions {
    ChannelOptions {
        timeout: Some(Duration::from_secs(10)),
        buffer_size: 100,
    }
}

#[test]
fn counters_equal_bytes_on_the_transport() {
    let (a, b) = mem_pair();
    let (wa, ra) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let ca = Counting {
        inner: a,
        written: wa.clone(),
        read: ra.clone(),
    };
    let mut x = Channel::new(Box::new(ca), small_opts()).unwrap();
    let mut y = Channel::new(Box::new(b), small_opts()).unwrap();
    let peer = thread::spawn(move || {
        let mut buf = vec![0u8; 5000];
        y.recv(&mut buf[..3]).unwrap();
        y.recv(&mut buf[3..5000]).unwrap();
        assert!(buf.iter().enumerate().all(|(i, &v)| v == (i % 251) as u8));
        y.send(&[7u8; 333]).unwrap();
        y.flush().unwrap();
        y.stats()
    });
    let data: Vec<u8> = (0..5000).map(|i| (i % 251) as u8).collect();
    x.send(&data[..10]).unwrap();
    x.send(&data[10..4000]).unwrap(); // larger than the buffer: written directly
    x.send(&data[4000..]).unwrap();
    x.flush().unwrap();
    let mut back = [0u8; 333];
    x.recv(&mut back).unwrap();
    let ys = peer.join().unwrap();
    let s = x.stats();
    assert_eq!(s.bytes_sent, 5000);
    assert_eq!(s.bytes_sent, wa.load(Ordering::Relaxed));
    assert_eq!(s.bytes_received, 333);
    assert_eq!(s.bytes_received, ra.load(Ordering::Relaxed));
    assert_eq!((s.messages_sent, s.messages_received), (3, 1));
    assert_eq!((s.flushes, s.rounds), (1, 1));
    assert_eq!(
        (ys.bytes_received, ys.bytes_sent, ys.messages_received),
        (5000, 333, 2)
    );
    assert_eq!((ys.flushes, ys.rounds), (1, 0));
}

#[test]
fn rounds_are_counted_per_wait() {
    let (mut a, mut b) = Channel::mem_pair(small_opts());
    let t = thread::spawn(move || {
        let mut v = [0u8; 1];
        for i in 0..5u8 {
            b.recv(&mut v).unwrap();
            assert_eq!(v[0], i);
            b.send(&[i]).unwrap();
            b.send(&[i]).unwrap();
            b.flush().unwrap();
            b.flush().unwrap(); // an empty flush does not count
        }
        b.stats()
    });
    let mut v = [0u8; 2];
    for i in 0..5u8 {
        a.send(&[i]).unwrap();
        a.flush().unwrap();
        a.recv(&mut v).unwrap(); // round: we flushed, now wait
        assert_eq!(v, [i, i]);
    }
    let bs = t.join().unwrap();
    let s = a.stats();
    assert_eq!((s.rounds, s.flushes), (5, 5));
    assert_eq!((bs.rounds, bs.flushes), (4, 5));
}

#[test]
fn tcp_pair_round_trip() {
    let (mut a, mut b) = Channel::tcp_pair(ChannelOptions::default()).unwrap();
    let t = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        b.recv(&mut buf).unwrap();
        b.send(&buf[..17]).unwrap();
        b.flush().unwrap();
        buf.iter().map(|&x| x as u64).sum::<u64>()
    });
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7) as u8).collect();
    a.send(&data).unwrap();
    let mut back = [0u8; 17];
    a.recv(&mut back).unwrap();
    assert_eq!(back[..], data[..17]);
    assert_eq!(
        t.join().unwrap(),
        data.iter().map(|&x| x as u64).sum::<u64>()
    );
    assert_eq!(a.stats().bytes_sent, 1 << 20);
}

#[test]
fn peer_dropping_mid_transfer_is_an_error() {
    for tcp in [false, true] {
        let (mut a, mut b) = if tcp {
            Channel::tcp_pair(small_opts()).unwrap()
        } else {
            Channel::mem_pair(small_opts())
        };
        let t = thread::spawn(move || {
            b.send(&[1u8; 10]).unwrap();
            b.flush().unwrap();
            drop(b);
        });
        let mut buf = [0u8; 20];
        let e = a.recv(&mut buf).unwrap_err();
        t.join().unwrap();
        assert!(matches!(e, NetError::Closed { .. }), "{e}");
        assert!(e.to_string().contains("closed the connection"), "{e}");
    }
}

#[test]
fn silent_peer_times_out() {
    for tcp in [false, true] {
        let opts = ChannelOptions {
            timeout: Some(Duration::from_millis(50)),
            buffer_size: 64,
        };
        let (mut a, b) = if tcp {
            Channel::tcp_pair(opts).unwrap()
        } else {
            Channel::mem_pair(opts)
        };
        let mut buf = [0u8; 4];
        let e = a.recv(&mut buf).unwrap_err();
        assert!(matches!(e, NetError::Timeout(_)), "{e}");
        assert!(e.to_string().contains("timed out"));
        drop(b);
    }
}

fn run_handshake(ours: Hello, theirs: Hello) -> (Result<Hello, NetError>, Result<Hello, NetError>) {
    let (mut a, mut b) = Channel::mem_pair(small_opts());
    let t = thread::spawn(move || b.handshake(&theirs));
    let ra = a.handshake(&ours);
    (ra, t.join().unwrap())
}

#[test]
fn handshake_accepts_matching_parties() {
    let h = [9u8; 32];
    let (a, b) = run_handshake(
        Hello::new(Role::Server, h, 3),
        Hello::new(Role::Client, h, 3),
    );
    assert_eq!(a.unwrap().role, Role::Client);
    assert_eq!(b.unwrap().role, Role::Server);
}

#[test]
fn handshake_names_each_mismatch() {
    let h = [1u8; 32];
    let base = Hello::new(Role::Server, h, 0);
    let peer = Hello::new(Role::Client, h, 0);
    let version = format!(
        "protocol version mismatch: we speak version {}, the peer speaks version 99",
        super::PROTOCOL_VERSION
    );
    let cases: Vec<(Hello, &str)> = vec![
        (
            Hello {
                version: 99,
                ..peer
            },
            &version,
        ),
        (
            Hello {
                role: Role::Server,
                ..peer
            },
            "both parties claim to be the server",
        ),
        (
            Hello {
                plan_hash: [2u8; 32],
                ..peer
            },
            "plan hash mismatch: ours is 0101",
        ),
        (
            Hello {
                connection: 5,
                ..peer
            },
            "connection index mismatch: this is our connection 0, the peer's 5",
        ),
    ];
    for (bad, needle) in cases {
        let (a, b) = run_handshake(base, bad);
        let msg = a.unwrap_err().to_string();
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        assert!(b.is_err(), "the other side must refuse too");
    }
}

#[test]
fn handshake_rejects_garbage() {
    let (mut a, mut b) = Channel::mem_pair(small_opts());
    b.send(&[0xAB; HANDSHAKE_BYTES]).unwrap();
    b.flush().unwrap();
    let e = a
        .handshake(&Hello::new(Role::Server, [0; 32], 0))
        .unwrap_err();
    assert!(
        e.to_string().contains("does not speak the sir protocol"),
        "{e}"
    );
    let mut bad = Hello::new(Role::Client, [0; 32], 0).to_bytes();
    bad[12] = 7;
    let (mut a, mut b) = Channel::mem_pair(small_opts());
    b.send(&bad).unwrap();
    b.flush().unwrap();
    let e = a
        .handshake(&Hello::new(Role::Server, [0; 32], 0))
        .unwrap_err();
    assert!(e.to_string().contains("invalid role byte 7"), "{e}");
    // A peer that hangs up during the handshake.
    let (mut a, mut b) = Channel::mem_pair(small_opts());
    b.send(&MAGIC).unwrap();
    b.flush().unwrap();
    drop(b);
    let e = a
        .handshake(&Hello::new(Role::Server, [0; 32], 0))
        .unwrap_err();
    assert!(matches!(e, NetError::Closed { .. }), "{e}");
}

#[test]
fn flush_joint_counts_the_exchange_once() {
    // Both sides write their part of an exchange, then both read: the client's flush is
    // joint, so the exchange is one flush over both parties; bytes and rounds count as usual.
    let (mut server, mut client) = Channel::mem_pair(small_opts());
    let t = thread::spawn(move || {
        client.send(&[2u8; 700]).unwrap(); // larger than the buffer: written directly
        client.send(&[3u8; 5]).unwrap();
        client.flush_joint().unwrap();
        client.flush_joint().unwrap(); // an empty joint flush does not count
        let mut v = [0u8; 40];
        client.recv(&mut v).unwrap();
        assert_eq!(v, [1u8; 40]);
        (client.stats(), client.joint_flushes())
    });
    server.send(&[1u8; 40]).unwrap();
    server.flush().unwrap();
    let mut v = [0u8; 705];
    server.recv(&mut v).unwrap();
    assert!(v[..700].iter().all(|&b| b == 2) && v[700..] == [3u8; 5]);
    let (cs, joint) = t.join().unwrap();
    let ss = server.stats();
    assert_eq!(joint, 1, "two joint flushes, one with bytes");
    assert_eq!(
        (cs.flushes, cs.rounds),
        (0, 1),
        "a joint flush is a round, not a flush"
    );
    assert_eq!((cs.bytes_sent, cs.messages_sent), (705, 2));
    assert_eq!((cs.bytes_received, cs.messages_received), (40, 1));
    assert_eq!((ss.flushes, ss.rounds), (1, 1));
    assert_eq!(server.joint_flushes(), 0);
    assert_eq!((ss.bytes_sent, ss.bytes_received), (40, 705));
    assert_eq!(ss.flushes + cs.flushes, 1, "one flight for the exchange");
}
