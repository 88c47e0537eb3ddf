use super::*;
use crate::net::{Channel, ChannelOptions, Stats};
use rand_chacha::ChaCha8Rng;
use std::thread;
use std::time::Duration;

const SIZES: [usize; 5] = [1, 7, 128, 1000, (1 << 16) + 3];

struct Side {
    ch: Channel,
    ot: OtEngine,
}

struct Pair {
    server: Side,
    client: Side,
}

fn opts() -> ChannelOptions {
    ChannelOptions {
        timeout: Some(Duration::from_secs(30)),
        ..ChannelOptions::default()
    }
}

fn setup_over(mut a: Channel, mut b: Channel) -> Pair {
    let t = thread::spawn(move || {
        let ot = OtEngine::setup(&mut b, Role::Client).unwrap();
        Side { ch: b, ot }
    });
    let ot = OtEngine::setup(&mut a, Role::Server).unwrap();
    Pair {
        server: Side { ch: a, ot },
        client: t.join().unwrap(),
    }
}

fn pair() -> Pair {
    let (a, b) = Channel::mem_pair(opts());
    setup_over(a, b)
}

/// COTs each direction of a silent test pair holds: one [`silent::SETUP`] iteration's.
const TEST_POOL: u64 = silent::SETUP.n as u64;

/// A pair on `kind`: for silent OT, with a pool of [`TEST_POOL`] COTs each way, its
/// generation checked against [`pool::generate_cost`].
fn pair_on(kind: OtKind) -> Pair {
    let mut p = pair();
    if kind == OtKind::Silent {
        preprocess(&mut p, [TEST_POOL, TEST_POOL]);
    }
    p
}

fn preprocess(p: &mut Pair, demand: [u64; 2]) {
    let (s0, c0) = (p.server.ch.stats(), p.client.ch.stats());
    thread::scope(|sc| {
        let c = &mut p.client;
        let h = sc.spawn(move || c.ot.preprocess_silent(&mut c.ch, demand).unwrap());
        p.server
            .ot
            .preprocess_silent(&mut p.server.ch, demand)
            .unwrap();
        h.join().unwrap();
    });
    let (s, c) = (p.server.ch.stats() - s0, p.client.ch.stats() - c0);
    let (a, b) = (
        pool::generate_cost(demand[0]),
        pool::generate_cost(demand[1]),
    );
    assert_eq!(s.bytes_sent, a.sender_bytes + b.receiver_bytes);
    assert_eq!(c.bytes_sent, a.receiver_bytes + b.sender_bytes);
    assert_eq!(s.flushes + c.flushes, a.flights + b.flights);
    assert_eq!(p.server.ot.kind(), OtKind::Silent);
}

/// Runs `fs` as the OT sender and `fr` as the receiver, on two threads; the server is the
/// sender when `server_sends`. Returns both results and both sides' traffic of this call.
fn run<A: Send, B: Send>(
    p: &mut Pair,
    server_sends: bool,
    fs: impl FnOnce(&mut Channel, &mut OtEngine) -> A + Send,
    fr: impl FnOnce(&mut Channel, &mut OtEngine) -> B + Send,
) -> (A, B, Stats, Stats) {
    let (s, r) = if server_sends {
        (&mut p.server, &mut p.client)
    } else {
        (&mut p.client, &mut p.server)
    };
    let (s0, r0) = (s.ch.stats(), r.ch.stats());
    let (a, b) = thread::scope(|sc| {
        let h = sc.spawn(|| fs(&mut s.ch, &mut s.ot));
        let b = fr(&mut r.ch, &mut r.ot);
        (h.join().unwrap(), b)
    });
    (a, b, s.ch.stats() - s0, r.ch.stats() - r0)
}

fn check_cost(c: OtCost, kind: OtKind, ss: Stats, rs: Stats) {
    assert_eq!(ss.bytes_sent, c.sender_bytes, "sender bytes");
    assert_eq!(rs.bytes_sent, c.receiver_total(kind), "receiver bytes");
    assert_eq!(ss.bytes_received, rs.bytes_sent);
    assert_eq!(rs.bytes_received, ss.bytes_sent);
    assert_eq!(ss.flushes + rs.flushes, c.flights, "flights");
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn random_words(r: &mut ChaCha8Rng, n: usize) -> Vec<u64> {
    (0..n).map(|_| r.next_u64()).collect()
}

fn random_bits(r: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n.div_ceil(8)];
    r.fill_bytes(&mut v);
    v
}

#[test]
fn setup_costs_what_cost_says() {
    let (a, b) = Channel::mem_pair(opts());
    let p = setup_over(a, b);
    let (s, c) = (p.server.ch.stats(), p.client.ch.stats());
    assert_eq!(s.bytes_sent, cost::SETUP_SERVER_BYTES);
    assert_eq!(c.bytes_sent, cost::SETUP_CLIENT_BYTES);
    assert_eq!(s.bytes_received, c.bytes_sent);
    assert_eq!(c.bytes_received, s.bytes_sent);
    assert_eq!(s.flushes + c.flushes, cost::SETUP_FLIGHTS);
    assert!(s.bytes_sent.max(c.bytes_sent) < 10_000);
}

#[test]
fn random_ot_both_directions() {
    for kind in OtKind::ALL {
        let mut p = pair_on(kind);
        let mut g = rng(1);
        for server_sends in [true, false] {
            for n in SIZES {
                let choices = random_bits(&mut g, n);
                let ch2 = choices.clone();
                let ((m0, m1), got, ss, rs) = run(
                    &mut p,
                    server_sends,
                    |ch, ot| {
                        let (mut a, mut b) = (vec![0u128; n], vec![0u128; n]);
                        ot.rot_send(ch, &mut a, &mut b).unwrap();
                        (a, b)
                    },
                    |ch, ot| {
                        let mut o = vec![0u128; n];
                        ot.rot_recv(ch, &ch2, &mut o).unwrap();
                        o
                    },
                );
                for j in 0..n {
                    let want = if bits::bit(&choices, j) == 1 {
                        m1[j]
                    } else {
                        m0[j]
                    };
                    assert_eq!(got[j], want, "n={n} j={j}");
                    assert_ne!(m0[j], m1[j]);
                }
                if n > 1 {
                    assert_ne!(m0[0], m0[1]);
                }
                check_cost(cost::rot(n), kind, ss, rs);
            }
        }
    }
}

#[test]
fn random_ot_outputs_never_repeat_across_calls() {
    for kind in OtKind::ALL {
        never_repeat_across_calls(kind);
    }
}

fn never_repeat_across_calls(kind: OtKind) {
    let mut p = pair_on(kind);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let ((m0, m1), _, _, _) = run(
            &mut p,
            true,
            |ch, ot| {
                let (mut a, mut b) = (vec![0u128; 300], vec![0u128; 300]);
                ot.rot_send(ch, &mut a, &mut b).unwrap();
                (a, b)
            },
            |ch, ot| {
                let mut o = vec![0u128; 300];
                ot.rot_recv(ch, &[0u8; 38], &mut o).unwrap();
            },
        );
        for v in m0.into_iter().chain(m1) {
            assert!(seen.insert(v), "an OT output repeated");
        }
    }
}

#[test]
fn additive_cot_many_widths() {
    for kind in OtKind::ALL {
        let mut p = pair_on(kind);
        let mut g = rng(2);
        for server_sends in [true, false] {
            for (k, bits) in [1u32, 2, 7, 8, 13, 16, 31, 32, 33, 50, 63, 64]
                .into_iter()
                .enumerate()
            {
                for n in SIZES {
                    // The largest size for a few widths only, to keep debug runs fast.
                    if n > 1000 && k % 4 != 0 {
                        continue;
                    }
                    let corr = random_words(&mut g, n);
                    let choices = random_bits(&mut g, n);
                    let (a, b, ss, rs) = run(
                        &mut p,
                        server_sends,
                        |ch, ot| {
                            let mut out = vec![0u64; n];
                            ot.cot_send(ch, bits, &corr, &mut out).unwrap();
                            out
                        },
                        |ch, ot| {
                            let mut out = vec![0u64; n];
                            ot.cot_recv(ch, bits, &choices, &mut out).unwrap();
                            out
                        },
                    );
                    let m = mask(bits);
                    for j in 0..n {
                        let c = bits::bit(&choices, j);
                        assert_eq!(
                            b[j],
                            a[j].wrapping_add(c * corr[j]) & m,
                            "ℓ={bits} n={n} j={j}"
                        );
                        assert_eq!(a[j] & !m, 0);
                    }
                    check_cost(cost::cot(n, bits), kind, ss, rs);
                }
            }
        }
    }
}

/// Vector COT: one extension row per OT carries all its elements' correlations (widths 0 to
/// 40, so both the pad's own bits and the AES stretch are used), exact in cost.
#[test]
fn vector_cot_many_widths() {
    for kind in OtKind::ALL {
        let mut p = pair_on(kind);
        let mut g = rng(12);
        for server_sends in [true, false] {
            for bits in [1u32, 7, 8, 16, 33, 64] {
                for n in [0usize, 1, 5, 300] {
                    let widths: Vec<usize> = (0..n).map(|j| (j * 7 + bits as usize) % 41).collect();
                    let total: usize = widths.iter().sum();
                    let corr = random_words(&mut g, total);
                    let choices = random_bits(&mut g, n);
                    let (a, b, ss, rs) = run(
                        &mut p,
                        server_sends,
                        |ch, ot| {
                            let mut out = vec![0u64; total];
                            let mut msg = Vec::new();
                            ot.cot_vec_send_deferred(ch, bits, &widths, &corr, &mut out, &mut msg)
                                .unwrap();
                            ch.send(&msg).unwrap();
                            ch.end_flight().unwrap();
                            out
                        },
                        |ch, ot| {
                            let mut out = vec![0u64; total];
                            ot.cot_vec_recv_extend(ch, bits, &choices, &widths, &mut out)
                                .unwrap();
                            ch.end_flight().unwrap();
                            ot.cot_vec_recv_finish(ch, bits, &choices, &widths, &mut out)
                                .unwrap();
                            out
                        },
                    );
                    let m = mask(bits);
                    let mut e = 0;
                    for (j, &w) in widths.iter().enumerate() {
                        let c = bits::bit(&choices, j);
                        for _ in 0..w {
                            assert_eq!(b[e], a[e].wrapping_add(c * corr[e]) & m, "ℓ={bits} j={j}");
                            e += 1;
                        }
                    }
                    // Every element's pad differs from its neighbours' (not one value repeated).
                    if total > 2 {
                        assert!(a.windows(2).any(|w| w[0] != w[1]) || bits == 1);
                    }
                    let want = cost::cot_vec(n, total, bits);
                    assert_eq!(ss.bytes_sent, want.sender_bytes);
                    assert_eq!(rs.bytes_sent, want.receiver_total(kind));
                }
            }
        }
    }
}

#[test]
fn chosen_message_ot_many_widths() {
    for kind in OtKind::ALL {
        let mut p = pair_on(kind);
        let mut g = rng(3);
        for server_sends in [true, false] {
            for (k, bits) in [1u32, 3, 8, 16, 24, 37, 64].into_iter().enumerate() {
                for n in SIZES {
                    if n > 1000 && k % 3 != 0 {
                        continue;
                    }
                    let m0 = random_words(&mut g, n);
                    let m1 = random_words(&mut g, n);
                    let choices = random_bits(&mut g, n);
                    let ((), got, ss, rs) = run(
                        &mut p,
                        server_sends,
                        |ch, ot| ot.chosen_send(ch, bits, &m0, &m1).unwrap(),
                        |ch, ot| {
                            let mut out = vec![0u64; n];
                            ot.chosen_recv(ch, bits, &choices, &mut out).unwrap();
                            out
                        },
                    );
                    let m = mask(bits);
                    for j in 0..n {
                        let want = if bits::bit(&choices, j) == 1 {
                            m1[j]
                        } else {
                            m0[j]
                        };
                        assert_eq!(got[j], want & m, "ℓ={bits} n={n} j={j}");
                    }
                    check_cost(cost::chosen(n, bits), kind, ss, rs);
                }
            }
        }
    }
}

#[test]
fn one_of_n_many_n_and_widths() {
    for kind in OtKind::ALL {
        let mut p = pair_on(kind);
        let mut g = rng(4);
        let cases: &[(usize, u32, &[usize])] = &[
            (2, 1, &SIZES),
            (3, 64, &[1, 7, 128, 1000]),
            (16, 8, &SIZES),
            (100, 13, &[1, 7, 128]),
            (256, 16, &[1, 7, 128, 1000]),
            (256, 1, &[7, 300]),
            (255, 64, &[7]),
        ];
        for server_sends in [true, false] {
            for &(nn, bits, sizes) in cases {
                for &count in sizes {
                    let msgs = random_words(&mut g, count * nn);
                    let choices: Vec<u8> = (0..count)
                        .map(|_| (g.next_u32() as usize % nn) as u8)
                        .collect();
                    let ((), got, ss, rs) = run(
                        &mut p,
                        server_sends,
                        |ch, ot| ot.one_of_n_send(ch, nn, bits, &msgs).unwrap(),
                        |ch, ot| {
                            let mut out = vec![0u64; count];
                            ot.one_of_n_recv(ch, nn, bits, &choices, &mut out).unwrap();
                            out
                        },
                    );
                    for j in 0..count {
                        let want = msgs[j * nn + choices[j] as usize] & mask(bits);
                        assert_eq!(got[j], want, "N={nn} ℓ={bits} count={count} j={j}");
                    }
                    check_cost(cost::one_of_n(count, nn, bits), kind, ss, rs);
                }
            }
        }
    }
}

#[test]
fn one_of_n_of_zero_messages_unmasks_to_zero() {
    // A correctness edge (pads cancel exactly); hiding of the other messages rests on the
    // hash (see `prim::tests::kk13_pad_does_not_split_over_halves`), not on this test.
    let mut p = pair();
    let msgs = vec![0u64; 4 * 16];
    let choices = vec![0u8, 5, 9, 15];
    let ((), got, _, _) = run(
        &mut p,
        true,
        |ch, ot| ot.one_of_n_send(ch, 16, 64, &msgs).unwrap(),
        |ch, ot| {
            let mut out = vec![0u64; 4];
            ot.one_of_n_recv(ch, 16, 64, &choices, &mut out).unwrap();
            out
        },
    );
    assert_eq!(got, vec![0; 4]);
}

#[test]
fn zero_ots_cost_nothing() {
    let mut p = pair();
    let (_, _, ss, rs) = run(
        &mut p,
        true,
        |ch, ot| ot.cot_send(ch, 8, &[], &mut []).unwrap(),
        |ch, ot| ot.cot_recv(ch, 8, &[], &mut []).unwrap(),
    );
    check_cost(cost::cot(0, 8), OtKind::Iknp, ss, rs);
}

#[test]
fn channel_counters_equal_transport_bytes_through_setup_and_flavours() {
    use crate::net::test_support::Counting;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let (a, b) = crate::net::mem_pair();
    let (w, r) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let a = Counting {
        inner: a,
        written: w.clone(),
        read: r.clone(),
    };
    let a = Channel::new(Box::new(a), opts()).unwrap();
    let b = Channel::new(Box::new(b), opts()).unwrap();
    let mut p = setup_over(a, b);
    let msgs = vec![5u64; 10 * 7];
    run(
        &mut p,
        true,
        |ch, ot| ot.one_of_n_send(ch, 7, 3, &msgs).unwrap(),
        |ch, ot| ot.one_of_n_recv(ch, 7, 3, &[1; 10], &mut [0; 10]).unwrap(),
    );
    run(
        &mut p,
        false,
        |ch, ot| ot.cot_send(ch, 5, &[1; 99], &mut [0; 99]).unwrap(),
        |ch, ot| ot.cot_recv(ch, 5, &[0xff; 13], &mut [0; 99]).unwrap(),
    );
    let s = p.server.ch.stats();
    assert_eq!(s.bytes_sent, w.load(Ordering::Relaxed));
    assert_eq!(s.bytes_received, r.load(Ordering::Relaxed));
    let want = cost::SETUP_SERVER_BYTES
        + cost::one_of_n(10, 7, 3).sender_bytes
        + cost::cot(99, 5).receiver_total(OtKind::Iknp);
    assert_eq!(s.bytes_sent, want);
}

#[test]
fn works_over_tcp() {
    let (a, b) = Channel::tcp_pair(opts()).unwrap();
    let mut p = setup_over(a, b);
    let n = 20_000;
    let corr: Vec<u64> = (0..n as u64).collect();
    let choices = vec![0b1010_0110u8; n / 8];
    let (a, b, ss, rs) = run(
        &mut p,
        false,
        |ch, ot| {
            let mut out = vec![0u64; n];
            ot.cot_send(ch, 40, &corr, &mut out).unwrap();
            out
        },
        |ch, ot| {
            let mut out = vec![0u64; n];
            ot.cot_recv(ch, 40, &choices, &mut out).unwrap();
            out
        },
    );
    for j in 0..n {
        assert_eq!(
            b[j],
            a[j].wrapping_add(bits::bit(&choices, j) * corr[j]) & mask(40)
        );
    }
    check_cost(cost::cot(n, 40), OtKind::Iknp, ss, rs);
}

#[test]
fn bad_arguments_are_errors_and_do_not_poison() {
    let mut p = pair();
    let ch = &mut p.server.ch;
    let ot = &mut p.server.ot;
    let e = ot.cot_send(ch, 65, &[1], &mut [0]).unwrap_err();
    assert!(e.to_string().contains("ℓ = 65"), "{e}");
    let e = ot.cot_recv(ch, 8, &[0], &mut [0; 9]).unwrap_err();
    assert!(e.to_string().contains("choice bytes"), "{e}");
    let e = ot.one_of_n_recv(ch, 4, 8, &[4], &mut [0]).unwrap_err();
    assert!(e.to_string().contains("choice 4 is not below N = 4"), "{e}");
    let e = ot.one_of_n_send(ch, 300, 8, &[0; 300]).unwrap_err();
    assert!(e.to_string().contains("N = 300"), "{e}");
    assert_eq!(ch.stats().bytes_sent, cost::SETUP_SERVER_BYTES);
    // Still usable.
    let ((), got, _, _) = run(
        &mut p,
        true,
        |ch, ot| ot.chosen_send(ch, 8, &[1, 2], &[3, 4]).unwrap(),
        |ch, ot| {
            let mut out = [0u64; 2];
            ot.chosen_recv(ch, 8, &[0b10], &mut out).unwrap();
            out
        },
    );
    assert_eq!(got, [1, 4]);
}

#[test]
fn peer_dropping_mid_protocol_is_an_error_and_poisons() {
    let Pair { mut server, client } = pair();
    // The client starts a COT as receiver, sends part of U, then vanishes.
    let t = thread::spawn(move || {
        let Side { mut ch, .. } = client;
        ch.send(&[0u8; 1000]).unwrap();
        ch.flush().unwrap();
    });
    t.join().unwrap();
    let mut out = vec![0u64; 5000];
    let e = server
        .ot
        .cot_send(&mut server.ch, 16, &vec![0; 5000], &mut out)
        .unwrap_err();
    assert!(matches!(e, OtError::Net(NetError::Closed { .. })), "{e}");
    let e = server
        .ot
        .rot_send(&mut server.ch, &mut [0], &mut [0])
        .unwrap_err();
    assert!(matches!(e, OtError::Poisoned), "{e}");
}

#[test]
fn garbage_base_ot_points_are_rejected() {
    let (mut a, mut b) = Channel::mem_pair(opts());
    b.send(&[0xFF; 32]).unwrap(); // not a canonical ristretto encoding
    b.flush().unwrap();
    let e = OtEngine::setup(&mut a, Role::Client).unwrap_err();
    assert!(e.to_string().contains("invalid group element"), "{e}");
    drop(b);
    let (mut a, mut b) = Channel::mem_pair(opts());
    b.send(&[0xFF; 32 * 128]).unwrap();
    b.flush().unwrap();
    let e = OtEngine::setup(&mut a, Role::Server).unwrap_err();
    assert!(
        e.to_string().contains("invalid group element in base OT 0"),
        "{e}"
    );
    drop(b);
    // A peer that disappears during setup.
    let (mut a, b) = Channel::mem_pair(opts());
    drop(b);
    let e = OtEngine::setup(&mut a, Role::Server).unwrap_err();
    assert!(matches!(e, OtError::Net(_)), "{e}");
}

/// The split halves batch several OT calls into the same flights: a KK13 batch of two
/// different N and a COT batch travel in one extension message and one correction message,
/// with the bytes of the three one-shot calls together, and the outputs of the one-shot
/// flavours.
#[test]
fn split_halves_share_flights_and_cost_the_sum() {
    let mut p = pair();
    let mut g = rng(9);
    for server_sends in [true, false] {
        for &count in &[1usize, 7, 1000, (1 << 14) + 5] {
            let m16 = random_words(&mut g, count * 16);
            let m5 = random_words(&mut g, count * 5);
            let corr = random_words(&mut g, count);
            let c16: Vec<u8> = (0..count).map(|_| (g.next_u32() % 16) as u8).collect();
            let c5: Vec<u8> = (0..count).map(|_| (g.next_u32() % 5) as u8).collect();
            let cb = random_bits(&mut g, count);
            let (a, (o16, o5, oc), ss, rs) = run(
                &mut p,
                server_sends,
                |ch, ot| {
                    let mut msg = Vec::new();
                    let fill16 =
                        |j: usize, b: &mut [u64]| b.copy_from_slice(&m16[j * 16..j * 16 + 16]);
                    ot.one_of_n_send_deferred(ch, 16, 3, count, fill16, &mut msg)
                        .unwrap();
                    let fill5 = |j: usize, b: &mut [u64]| b.copy_from_slice(&m5[j * 5..j * 5 + 5]);
                    ot.one_of_n_send_deferred(ch, 5, 64, count, fill5, &mut msg)
                        .unwrap();
                    let mut a = vec![0u64; count];
                    ot.cot_send_deferred(ch, 37, &corr, &mut a, &mut msg)
                        .unwrap();
                    ch.send(&msg).unwrap();
                    ch.flush().unwrap();
                    a
                },
                |ch, ot| {
                    let (mut o16, mut o5, mut oc) =
                        (vec![0u64; count], vec![0u64; count], vec![0u64; count]);
                    ot.one_of_n_recv_extend(ch, 16, 3, &c16, &mut o16).unwrap();
                    ot.one_of_n_recv_extend(ch, 5, 64, &c5, &mut o5).unwrap();
                    ot.cot_recv_extend(ch, 37, &cb, &mut oc).unwrap();
                    ot.one_of_n_recv_finish(ch, 16, 3, &c16, &mut o16).unwrap();
                    ot.one_of_n_recv_finish(ch, 5, 64, &c5, &mut o5).unwrap();
                    ot.cot_recv_finish(ch, 37, &cb, &mut oc).unwrap();
                    (o16, o5, oc)
                },
            );
            for j in 0..count {
                assert_eq!(o16[j], m16[j * 16 + c16[j] as usize] & mask(3));
                assert_eq!(o5[j], m5[j * 5 + c5[j] as usize]);
                let c = bit(&cb, j);
                assert_eq!(oc[j], (a[j] + c * (corr[j] & mask(37))) & mask(37));
            }
            let (x, y, z) = (
                cost::one_of_n(count, 16, 3),
                cost::one_of_n(count, 5, 64),
                cost::cot(count, 37),
            );
            check_cost(
                OtCost {
                    sender_bytes: x.sender_bytes + y.sender_bytes + z.sender_bytes,
                    receiver_bytes: x.receiver_bytes + y.receiver_bytes + z.receiver_bytes,
                    ext: x.ext.plus(y.ext).plus(z.ext),
                    flights: 2,
                },
                OtKind::Iknp,
                ss,
                rs,
            );
        }
    }
}

/// Forks: the n-th fork of each party pair up whatever order they then run in, each on its own
/// stream (no output repeats across forks or the parent), and a fork cannot fork.
#[test]
fn forks_pair_up_in_any_order_and_never_repeat() {
    for kind in OtKind::ALL {
        forks_pair_up(kind);
    }
}

fn forks_pair_up(kind: OtKind) {
    let mut p = pair_on(kind);
    // On silent OT each fork takes the COTs of its 300 OTs (server as sender).
    let cots = match kind {
        OtKind::Iknp => [0, 0],
        OtKind::Silent => [304, 0],
    };
    let mut sf: Vec<OtEngine> = (0..3)
        .map(|_| p.server.ot.fork_with(cots).unwrap())
        .collect();
    let mut cf: Vec<OtEngine> = (0..3)
        .map(|_| p.client.ot.fork_with(cots).unwrap())
        .collect();
    let mut seen = std::collections::HashSet::new();
    let choices = random_bits(&mut rng(9), 300);
    for i in [2, 0, 1] {
        let (s, c) = (&mut sf[i], &mut cf[i]);
        let (ch_s, ch_c) = (&mut p.server.ch, &mut p.client.ch);
        let ((m0, m1), got) = thread::scope(|sc| {
            let h = sc.spawn(|| {
                let (mut a, mut b) = (vec![0u128; 300], vec![0u128; 300]);
                s.rot_send(ch_s, &mut a, &mut b).unwrap();
                (a, b)
            });
            let mut o = vec![0u128; 300];
            c.rot_recv(ch_c, &choices, &mut o).unwrap();
            (h.join().unwrap(), o)
        });
        for j in 0..300 {
            let want = if bits::bit(&choices, j) == 1 {
                m1[j]
            } else {
                m0[j]
            };
            assert_eq!(got[j], want, "fork {i}, OT {j}");
        }
        for v in m0.into_iter().chain(m1) {
            assert!(seen.insert(v), "an OT output repeated across forks");
        }
    }
    // The parent's own OTs stay in step and fresh.
    let ((m0, m1), _, _, _) = run(
        &mut p,
        true,
        |ch, ot| {
            let (mut a, mut b) = (vec![0u128; 300], vec![0u128; 300]);
            ot.rot_send(ch, &mut a, &mut b).unwrap();
            (a, b)
        },
        |ch, ot| {
            let mut o = vec![0u128; 300];
            ot.rot_recv(ch, &choices, &mut o).unwrap();
        },
    );
    for v in m0.into_iter().chain(m1) {
        assert!(seen.insert(v), "a fork repeated its parent's OT outputs");
    }
    assert!(matches!(sf[0].fork(), Err(OtError::Argument(_))));
    if kind == OtKind::Silent {
        // A fork holds exactly its share: one more OT is refused, not served twice.
        let (s, c) = (&mut sf[0], &mut cf[0]);
        let (ch_s, ch_c) = (&mut p.server.ch, &mut p.client.ch);
        let (a, b) = thread::scope(|sc| {
            let h = sc.spawn(|| s.rot_send(ch_s, &mut [0; 1], &mut [0; 1]));
            let b = c.rot_recv(ch_c, &[0], &mut [0; 1]);
            (h.join().unwrap(), b)
        });
        assert!(matches!(a, Err(OtError::Argument(_))), "{a:?}");
        assert!(matches!(b, Err(OtError::Argument(_))), "{b:?}");
        // And the parent cannot hand out more than it holds.
        assert!(p.server.ot.fork_with([u64::MAX / 2, 0]).is_err());
    }
}

/// Two silent sessions share nothing: different Δ, different COTs, different outputs (each
/// generates its pools from its own base OTs and CSPRNG).
#[test]
fn two_silent_sessions_never_share_correlations() {
    let outputs = |p: &mut Pair| {
        let ((m0, m1), _, _, _) = run(
            p,
            true,
            |ch, ot| {
                let (mut a, mut b) = (vec![0u128; 1000], vec![0u128; 1000]);
                ot.rot_send(ch, &mut a, &mut b).unwrap();
                (a, b)
            },
            |ch, ot| {
                let mut o = vec![0u128; 1000];
                ot.rot_recv(ch, &[0u8; 125], &mut o).unwrap();
            },
        );
        let delta = m0[0] ^ m1[0];
        (m0, m1, delta)
    };
    let (mut a, mut b) = (pair_on(OtKind::Silent), pair_on(OtKind::Silent));
    let (a0, a1, _) = outputs(&mut a);
    let (b0, b1, _) = outputs(&mut b);
    let seen: std::collections::HashSet<u128> = a0.iter().chain(&a1).copied().collect();
    assert!(b0.iter().chain(&b1).all(|v| !seen.contains(v)));
    assert_ne!(a.server.ot.silent_delta(), b.server.ot.silent_delta());
    assert_ne!(a.client.ot.silent_delta(), b.client.ot.silent_delta());
}

/// Silent COT (Ferret): bootstrapped from IKNP's rows, a [`silent::SETUP`] iteration and a
/// [`silent::MAIN`] iteration fed by its output give COTs with the sender's Δ on every
/// position (z_j = y_j ⊕ x_j·Δ), random-looking choice bits, and exactly the bytes the
/// parameters say (the receiver sends nothing after the bootstrap).
#[test]
fn silent_cots_are_correlated_and_cost_what_the_parameters_say() {
    use silent::{MAIN, SETUP, SilentReceiver, SilentSender};
    let mut p = pair();
    let n0 = SETUP.base();
    let mut bits = vec![0u8; n0.div_ceil(8)];
    p.client.ot.random_bytes(&mut bits);
    let unpacked: Vec<u8> = (0..n0).map(|j| (bits[j / 8] >> (j % 8)) & 1).collect();
    let ((q, delta), t, _, _) = run(
        &mut p,
        true,
        |ch, ot| ot.raw_cot_send(ch, n0).unwrap(),
        |ch, ot| ot.raw_cot_recv(ch, &bits, n0).unwrap(),
    );
    for j in 0..n0 {
        assert_eq!(t[j], q[j] ^ (unpacked[j] as u128 * delta), "IKNP row {j}");
    }
    let rng = ChaCha20Rng::seed_from_u64(5);
    let mut sender = SilentSender::new(Role::Server, delta, 0, rng);
    let mut receiver = SilentReceiver::new(Role::Server, 0);
    let check = |y: &[u128], x: &[u8], z: &[u128]| {
        let bad = (0..y.len())
            .filter(|&j| z[j] != y[j] ^ (x[j] as u128 * delta))
            .count();
        assert_eq!(bad, 0, "{bad} of {} COTs uncorrelated", y.len());
        let ones = x.iter().filter(|&&b| b == 1).count() as f64 / x.len() as f64;
        assert!((0.49..0.51).contains(&ones), "choice bits: {ones} ones");
    };
    let (y, (x, z), s, r) = run(
        &mut p,
        true,
        |ch, _| sender.extend(ch, &SETUP, &q).unwrap(),
        |ch, _| receiver.extend(ch, &SETUP, &unpacked, &t).unwrap(),
    );
    check(&y, &x, &z);
    assert_eq!((s.bytes_sent, r.bytes_sent), (SETUP.sender_bytes(), 0));
    let b = MAIN.base();
    let (y2, (x2, z2), s, r) = run(
        &mut p,
        true,
        |ch, _| sender.extend(ch, &MAIN, &y[..b]).unwrap(),
        |ch, _| receiver.extend(ch, &MAIN, &x[..b], &z[..b]).unwrap(),
    );
    check(&y2, &x2, &z2);
    assert_eq!((s.bytes_sent, r.bytes_sent), (MAIN.sender_bytes(), 0));
    // Another iteration on the reserve of the last: fresh outputs, unrelated to the first.
    let (y3, (x3, z3), _, _) = run(
        &mut p,
        true,
        |ch, _| sender.extend(ch, &MAIN, &y2[..b]).unwrap(),
        |ch, _| receiver.extend(ch, &MAIN, &x2[..b], &z2[..b]).unwrap(),
    );
    check(&y3, &x3, &z3);
    let same = y2.iter().zip(&y3).filter(|(a, b)| a == b).count();
    assert_eq!(same, 0);
}
