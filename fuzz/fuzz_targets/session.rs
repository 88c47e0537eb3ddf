//! libFuzzer target: what the peer sends when a session opens. The first 49 bytes are its
//! handshake (`Hello::check_peer`, checked here field by field against an independent
//! decoding); the rest is the stream its session offer is read from (`Offer::read` on an
//! in-memory channel whose writer is dropped, so a short stream ends in `Closed`). Neither may
//! panic, and an accepted offer carries a reason of at most 1 KiB with no control or
//! bidirectional-format characters.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sir_runtime::exec::session::{MAX_REASON_BYTES, Offer};
use sir_runtime::net::{
    Channel, ChannelOptions, HANDSHAKE_BYTES, HandshakeError, Hello, MAGIC, PROTOCOL_VERSION, Role,
};

const HASH: [u8; 32] = [7; 32];

fn check_hello(b: &[u8; HANDSHAKE_BYTES]) {
    for (role, connection) in [(Role::Server, 0u32), (Role::Client, 3)] {
        let ours = Hello::new(role, HASH, connection);
        let got = ours.check_peer(b);
        let version = u32::from_le_bytes(b[8..12].try_into().unwrap());
        let connection_theirs = u32::from_le_bytes(b[45..49].try_into().unwrap());
        let want = if b[..8] != MAGIC {
            Err(HandshakeError::BadMagic(b[..8].try_into().unwrap()))
        } else if version != PROTOCOL_VERSION {
            Err(HandshakeError::Version {
                ours: PROTOCOL_VERSION,
                theirs: version,
            })
        } else if b[12] > 1 {
            Err(HandshakeError::BadRole(b[12]))
        } else if (b[12] == 0) == (role == Role::Server) {
            Err(HandshakeError::SameRole(role))
        } else if b[13..45] != HASH {
            // The message carries both hashes in hex; compare the variant only.
            assert!(
                matches!(got, Err(HandshakeError::PlanHash { .. })),
                "{got:?}"
            );
            continue;
        } else if connection_theirs != connection {
            Err(HandshakeError::Connection {
                ours: connection,
                theirs: connection_theirs,
            })
        } else {
            Ok(Hello::new(role.peer(), HASH, connection))
        };
        assert_eq!(got, want);
        if let Ok(h) = got {
            assert_eq!(
                &h.to_bytes(),
                b,
                "an accepted hello re-encodes to its bytes"
            );
        }
    }
}

fn check_offer(stream: &[u8], buffer_size: usize) {
    let opts = ChannelOptions {
        timeout: Some(Duration::from_millis(50)),
        buffer_size,
    };
    let (mut peer, mut ours) = Channel::mem_pair(opts);
    peer.send(stream).expect("in-memory send");
    peer.flush().expect("in-memory flush");
    drop(peer);
    let Ok(offer) = Offer::read(&mut ours) else {
        return;
    };
    // An offer needs its 15-byte head and status 0 or 1.
    assert!(stream.len() >= 15 && stream[0] <= 1);
    assert_eq!(
        offer.threads,
        u32::from_le_bytes(stream[1..5].try_into().unwrap())
    );
    assert_eq!(
        offer.batch,
        u64::from_le_bytes(stream[5..13].try_into().unwrap())
    );
    let len = u16::from_le_bytes([stream[13], stream[14]]) as usize;
    assert!(len <= MAX_REASON_BYTES && stream.len() >= 15 + len);
    assert_eq!(offer.gave_up.is_some(), stream[0] == 1);
    if let Some(reason) = &offer.gave_up {
        assert!(!reason.is_empty());
        // At most one character per byte on the wire; invalid UTF-8 becomes U+FFFD (3 bytes),
        // so the text may take up to three times the wire limit in bytes.
        assert!(
            reason.chars().count() <= MAX_REASON_BYTES,
            "{}",
            reason.len()
        );
        assert!(reason.len() <= 3 * MAX_REASON_BYTES, "{}", reason.len());
        for c in reason.chars() {
            assert!(
                !c.is_control()
                    && !matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF),
                "unsafe character {c:?} in the peer's reason"
            );
        }
    }
    // What we send, the peer reads back unchanged (up to the reason's sanitising).
    if offer
        .gave_up
        .as_deref()
        .is_none_or(|r| r.len() <= MAX_REASON_BYTES)
    {
        let (mut a, mut b) = Channel::mem_pair(opts);
        a.send(&offer.to_bytes()).expect("in-memory send");
        a.flush().expect("in-memory flush");
        drop(a);
        let back = Offer::read(&mut b).expect("our own offer reads back");
        assert_eq!(back, offer);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut hello = [0u8; HANDSHAKE_BYTES];
    let n = data.len().min(HANDSHAKE_BYTES);
    hello[..n].copy_from_slice(&data[..n]);
    check_hello(&hello);
    let rest = &data[n..];
    // Both the buffered and the direct read paths of the channel (direct from buffer/4 bytes).
    check_offer(rest, ChannelOptions::default().buffer_size);
    check_offer(rest, 64);
});
