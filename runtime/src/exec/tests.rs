//! The executor against the plan's cleartext semantics and its own estimates: every kind of
//! instruction, batches (with weights shared once for the batch), split connections.

use super::session::{self, Offer, Waits};
use super::*;
use crate::fixed::Patch;
use crate::net::{Channel, ChannelOptions};
use crate::plan::MathOp;
use crate::plan::{Io, Sel, TensorDecl as T};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

struct B {
    p: Plan,
}

impl B {
    fn new() -> B {
        B {
            p: Plan::new("mixed", "00".into(), serde_json::Value::Null),
        }
    }

    fn t(&mut self, shape: &[usize], owner: Owner, bits: u32, frac: u32) -> usize {
        self.p.tensor(T::new(shape.to_vec(), owner, bits, frac))
    }

    /// The client's input (owner `Client`) or the server's weight (`Server`) named `name`.
    fn io(&mut self, name: &str, shape: &[usize], owner: Owner, bits: u32, frac: u32) -> usize {
        let t = self.t(shape, owner, bits, frac);
        let io = Io::new(name, t);
        match owner {
            Owner::Client => self.p.inputs.push(io),
            _ => self.p.params.push(io),
        }
        t
    }

    fn constant(&mut self, shape: &[usize], bits: u32, frac: u32, v: Vec<i64>) -> usize {
        let id = self.t(shape, Owner::Public, bits, frac);
        self.p.tensors[id].value = Some(v);
        id
    }

    /// `op(args)` into a new shared tensor of this shape and format.
    fn op(&mut self, op: Op, args: &[usize], shape: &[usize], bits: u32, frac: u32) -> usize {
        let out = self.t(shape, Owner::Shared, bits, frac);
        if let Err(e) = self.p.push(op.clone(), args.to_vec(), out, None, None) {
            panic!("{}: {e}", op.name());
        }
        out
    }

    fn output(&mut self, name: &str, x: usize) {
        let s = &self.p.tensors[x];
        let (shape, bits, frac) = (s.shape.clone(), s.bits, s.frac);
        let out = self.t(&shape, Owner::Revealed, bits, frac);
        self.p
            .push(Op::Reveal, vec![x], out, None, None)
            .expect("reveal");
        self.p.outputs.push(Io::new(name, out));
    }
}

/// A plan touching every instruction: x [n] from the client, v [n] and W [10, 4] from the
/// server (v enters an elementwise product, so a batch repeats its shares).
fn mixed(n: usize) -> Plan {
    let mut b = B::new();
    let x = b.io("x", &[n], Owner::Client, 16, 10);
    let v = b.io("v", &[n], Owner::Server, 16, 10);
    let w = b.io("W", &[10, 4], Owner::Server, 8, 6);
    let xs = b.op(Op::Share, &[x], &[n], 16, 10);
    let vs = b.op(Op::Share, &[v], &[n], 16, 10);
    let prod = b.op(Op::Mult, &[xs, vs], &[n], 32, 20);
    let tr = b.op(
        Op::Truncate {
            shift: 10,
            mode: Trunc::Reduce,
        },
        &[prod],
        &[n],
        22,
        10,
    );
    let nar = b.op(Op::Narrow, &[tr], &[n], 16, 10);
    let sum = b.op(Op::Add, &[nar, xs], &[n], 16, 10);
    let r = b.op(Op::Relu, &[sum], &[n], 16, 10);
    b.p.tensors[r].nonneg = true;
    let ext = b.op(Op::Extend, &[r], &[n], 20, 10);
    let sx = b.op(Op::Extend, &[xs], &[n], 20, 10);
    let a1 = b.op(
        Op::Truncate {
            shift: 2,
            mode: Trunc::Ars,
        },
        &[sx],
        &[n],
        20,
        8,
    );
    let a2 = b.op(
        Op::Truncate {
            shift: 2,
            mode: Trunc::ArsRound,
        },
        &[ext],
        &[n],
        20,
        8,
    );
    let c = b.constant(&[], 20, 8, vec![-300]);
    let ap = b.op(Op::AddPublic, &[a1, c], &[n], 20, 8);
    let k = b.constant(&[], 20, 3, vec![5]);
    let mp = b.op(Op::MulPublic, &[a2, k], &[n], 20, 11);
    let e = b.constant(&[n], 20, 8, (0..n as i64).map(|i| i - 7).collect());
    let es = b.op(Op::Embed, &[e], &[n], 20, 8);
    let sub = b.op(Op::Sub, &[ap, es], &[n], 20, 8);
    let neg = b.op(Op::Neg, &[sub], &[n], 20, 8);
    let rows = n / 10;
    let m = b.op(Op::Reshape, &[neg], &[rows, 10], 20, 8);
    let mm = b.op(Op::MatMul, &[m, w], &[rows, 4], 32, 14);
    let sig_in = b.op(
        Op::Truncate {
            shift: 4,
            mode: Trunc::Reduce,
        },
        &[mm],
        &[rows, 4],
        28,
        10,
    );
    let sig_in = b.op(Op::Narrow, &[sig_in], &[rows, 4], 16, 10);
    let sg = b.op(
        Op::Math {
            func: MathOp::Sigmoid,
            cols: 1,
            // The quadratic spline, as a compiled plan records it.
            spline: Some(crate::math::funcs::Spline::Quadratic(
                crate::math::funcs::Quad::narrow(8),
            )),
        },
        &[sig_in],
        &[rows, 4],
        16,
        14,
    );
    let th = b.op(
        Op::Math {
            func: MathOp::Tanh,
            cols: 1,
            // The wide variant (--net's choice on slow links).
            spline: Some(crate::math::funcs::Spline::Quadratic(
                crate::math::funcs::Quad {
                    wide: true,
                    ..crate::math::funcs::Quad::narrow(8)
                },
            )),
        },
        &[sig_in],
        &[rows, 4],
        16,
        13,
    );
    let mx = b.op(
        Op::Math {
            func: MathOp::Max,
            cols: 10,
            spline: None,
        },
        &[m],
        &[rows],
        20,
        8,
    );
    let tp = b.op(Op::Transpose, &[sg], &[4, rows], 16, 14);
    let sel = b.op(
        Op::Select {
            sels: vec![Sel::Range(1, 3)],
        },
        &[tp],
        &[2, rows],
        16,
        14,
    );
    let tot = b.op(Op::Sum { axis: Some(0) }, &[sel], &[rows], 16, 14);
    let bc = b.op(Op::Broadcast, &[tot], &[2, rows], 16, 14);
    let cat = b.op(Op::Concat { axis: 0 }, &[bc, sel], &[4, rows], 16, 14);
    // Shared × shared: m·mᵀ (Y per sample), and m × the shared weights (Y the same for
    // every sample of a batch), Y extended to the product's ring first.
    let mt = b.op(Op::Transpose, &[m], &[10, rows], 20, 8);
    let l = 40 + (rows as u32).next_power_of_two().trailing_zeros().max(1);
    let mte = b.op(Op::Extend, &[mt], &[10, rows], l, 8);
    let mm2 = b.op(Op::MatMulShared, &[m, mte], &[rows, rows], l, 16);
    let ws = b.op(Op::Share, &[w], &[10, 4], 8, 6);
    let wse = b.op(Op::Extend, &[ws], &[10, 4], 32, 6);
    let mm3 = b.op(Op::MatMulShared, &[m, wse], &[rows, 4], 32, 14);
    let v10 = b.op(
        Op::Select {
            sels: vec![Sel::Index(0)],
        },
        &[m],
        &[10],
        20,
        8,
    );
    let mm4 = b.op(Op::MatMulShared, &[v10, wse], &[4], 32, 14);
    // A value of the weights alone: computed once for the whole batch.
    let vv = b.op(Op::Mult, &[vs, vs], &[n], 32, 20);
    b.output("cat", cat);
    b.output("max", mx);
    b.output("th", th);
    b.output("vv", vv);
    b.output("mp", mp);
    b.output("mm2", mm2);
    b.output("mm3", mm3);
    b.output("mm4", mm4);
    b.p.check().expect("the test plan is valid");
    b.p
}

fn encodings(rng: &mut ChaCha20Rng, n: usize, bits: u32, spread: u32) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let v = (rng.next_u64() % (1 << spread)) as i64 - (1 << (spread - 1));
            ring::reduce(v as u64, bits)
        })
        .collect()
}

/// Runs both parties in one process over in-memory connections.
fn run_pair(plan: &Plan, shape: Shape, x: &[Vec<u64>], w: &[Vec<u64>]) -> (Execution, Execution) {
    let chans: Vec<(Channel, Channel)> = (0..shape.threads)
        .map(|_| Channel::mem_pair(ChannelOptions::default()))
        .collect();
    let (sc, cc): (Vec<Channel>, Vec<Channel>) = chans.into_iter().unzip();
    std::thread::scope(|s| {
        let client = s.spawn(move || {
            let mut ps: Vec<Party> = cc
                .into_iter()
                .map(|c| Party::new(c, Role::Client).expect("setup"))
                .collect();
            execute(
                &mut ps,
                plan,
                &plan.check().expect("a valid plan"),
                shape.batch,
                Own::Client(x),
                &mut |_, _, _| {},
            )
        });
        let mut ps: Vec<Party> = sc
            .into_iter()
            .map(|c| Party::new(c, Role::Server).expect("setup"))
            .collect();
        let server = execute(
            &mut ps,
            plan,
            &plan.check().expect("a valid plan"),
            shape.batch,
            Own::Server(w),
            &mut |_, _, _| {},
        )
        .expect("server runs");
        (server, client.join().expect("joins").expect("client runs"))
    })
}

/// The client's outputs equal the cleartext run of each sample, and every instruction's
/// bytes (each direction, both parties) and rounds equal the estimate for the shape.
fn check(plan: &Plan, shape: Shape, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let xt = &plan.tensors[plan.inputs[0].tensor];
    let per = xt.numel();
    let x = encodings(&mut rng, per * shape.batch, 16, 14);
    let w: Vec<Vec<u64>> = plan
        .params
        .iter()
        .map(|io| {
            let t = &plan.tensors[io.tensor];
            encodings(&mut rng, t.numel(), t.bits, t.bits - 2)
        })
        .collect();
    let (server, client) = run_pair(plan, shape, std::slice::from_ref(&x), &w);
    assert!(server.outputs.is_none(), "the server learns no output");
    let outs = client.outputs.clone().expect("the client's outputs");
    for s in 0..shape.batch {
        let want = clear::run(plan, &[x[s * per..(s + 1) * per].to_vec()], &w).expect("clear");
        for (j, o) in want.iter().enumerate() {
            let n = o.len();
            assert_eq!(
                &outs[j][s * n..(s + 1) * n],
                &o[..],
                "output {j}, sample {s}, shape {shape:?}"
            );
        }
    }
    // Both parties measure the same latency; shared flights make the run no longer than its
    // instructions' flights one after the other.
    let (ls, lc) = (server.latency.as_ref(), client.latency.as_ref());
    assert!(
        ls.is_some() && ls == lc,
        "latency: server {ls:?}, client {lc:?}"
    );
    let flights: u64 = server
        .instrs
        .iter()
        .chain(&server.pre)
        .map(|m| m.rounds)
        .sum();
    assert!(
        ls.unwrap().total() <= flights + 1,
        "{ls:?} against {flights} flights"
    );
    // ... and the latency the plan's kernels price, instruction by instruction.
    let want = estimate_latency(plan, &plan.check().expect("a valid plan"), shape).expect("est");
    for (k, (e, m)) in want.instrs.iter().zip(&ls.unwrap().instrs).enumerate() {
        assert_eq!(
            e,
            m,
            "instr {k} {}: latency units",
            plan.instrs[k].op.name()
        );
    }
    assert_eq!(want.pre, ls.unwrap().pre, "preprocessing latency units");
    // The flights' framing: as many flights and header bytes as the schedule predicts.
    let sched = estimate_schedule(plan, &plan.check().expect("a valid plan"), shape).expect("est");
    for (m, i) in [(&server, 0), (&client, 1)] {
        assert_eq!(m.framing.flushes, sched.flights[i], "flights of party {i}");
        assert_eq!(
            m.framing.bytes_sent, sched.framing[i],
            "framing of party {i}"
        );
        assert_eq!(
            m.framing.bytes_received,
            sched.framing[1 - i],
            "framing to {i}"
        );
    }
    let est = estimate(plan, &plan.check().expect("a valid plan"), shape).expect("estimate");
    for (k, e) in est.iter().enumerate() {
        let (sm, cm) = (server.instrs[k], client.instrs[k]);
        let op = plan.instrs[k].op.name();
        assert_eq!(sm.bytes_sent, e.server_bytes, "instr {k} {op} server sent");
        assert_eq!(cm.bytes_sent, e.client_bytes, "instr {k} {op} client sent");
        assert_eq!(
            sm.bytes_received, e.client_bytes,
            "instr {k} {op} server received"
        );
        assert_eq!(
            cm.bytes_received, e.server_bytes,
            "instr {k} {op} client received"
        );
        assert_eq!(sm.rounds, e.rounds, "instr {k} {op} rounds (server's view)");
        assert_eq!(cm.rounds, e.rounds, "instr {k} {op} rounds (client's view)");
    }
    let pre = estimate_pre(plan, &plan.check().expect("a valid plan"), shape).expect("estimate");
    for (k, e) in pre.iter().enumerate() {
        let (sm, cm) = (server.pre[k], client.pre[k]);
        let op = plan.instrs[k].op.name();
        assert_eq!(sm.bytes_sent, e.server_bytes, "pre {k} {op} server sent");
        assert_eq!(cm.bytes_sent, e.client_bytes, "pre {k} {op} client sent");
        assert_eq!(sm.bytes_received, e.client_bytes, "pre {k} {op} server got");
        assert_eq!((sm.rounds, cm.rounds), (e.rounds, e.rounds), "pre {k} {op}");
    }
    if shape == Shape::ONE {
        for (k, e) in est.iter().enumerate() {
            assert_eq!(*e, plan.instrs[k].cost);
            assert_eq!(pre[k], plan.instrs[k].pre);
        }
    }
    // The OT preprocessing: on silent OT exactly the COTs the tasks use, generated first.
    let session = ot_session(plan, &plan.check().expect("valid"), shape).expect("session");
    let want = session.preprocess_cost();
    assert_eq!(session.kind, plan.ot);
    assert_eq!(
        (
            server.ot_pre.bytes_sent,
            client.ot_pre.bytes_sent,
            server.ot_pre.flushes + client.ot_pre.flushes
        ),
        (want.server_bytes, want.client_bytes, want.rounds),
        "OT preprocessing"
    );
    assert_eq!(want.is_zero(), plan.ot == OtKind::Iknp);
}

/// The plan with its costs priced for `ot`.
fn on(mut plan: Plan, ot: OtKind) -> Plan {
    plan.reprice(ot).expect("reprices");
    plan.check().expect("still valid");
    plan
}

/// A plan on silent OT: every task draws its COTs from the pool generated before the input,
/// results equal the cleartext, every instruction costs its (silent) estimate, and the
/// generation costs what the session's cost says; batched and split over connections too.
#[test]
fn silent_ot_plans_equal_the_cleartext_and_their_estimates() {
    let iknp = mixed(40);
    let plan = on(iknp.clone(), OtKind::Silent);
    assert!(plan.total().total_bytes() * 2 < iknp.total().total_bytes());
    check(&plan, Shape::ONE, 21);
    check(
        &plan,
        Shape {
            batch: 3,
            threads: 2,
        },
        22,
    );
}

/// Products with the server's weights on masks prepared ahead ([`crate::proto::masked`]): R·W
/// before the first instruction, as estimated and recorded apart; the online product sends
/// less; results equal the cleartext on both engines, batched and split over connections.
#[test]
fn masked_products_prepare_offline_and_equal_the_cleartext() {
    for ot in OtKind::ALL {
        let plain = on(mixed(40), ot);
        let mut plan = mixed(40);
        plan.masked_products = true;
        let plan = on(plan, ot);
        assert!(plain.pre_total().is_zero() && !plan.pre_total().is_zero());
        assert!(plan.total().total_bytes() < plain.total().total_bytes());
        check(&plan, Shape::ONE, 31);
        check(
            &plan,
            Shape {
                batch: 3,
                threads: 2,
            },
            32,
        );
    }
}

/// Polynomials in a plan: the mask powers are prepared before the first instruction (their
/// bytes and rounds as estimated, recorded apart), the online phase is one exchange, batches
/// and several connections (the polynomial stays on the first) equal the cleartext.
#[test]
fn poly_prepares_its_masks_first_and_opens_once() {
    let mut b = B::new();
    let x = b.io("x", &[7, 5], Owner::Client, 16, 8);
    let xs = b.op(Op::Share, &[x], &[7, 5], 16, 8);
    let wide = b.op(Op::Extend, &[xs], &[7, 5], 48, 8);
    // PILLAR's poly_relu at scale 4·8 + 10, pre-scaled: (322·2^32, 512·2^24, 160·2^16, 0, −3).
    let coeffs = vec![322i64 << 32, 512 << 24, 160 << 16, 0, -3];
    let y = b.op(Op::Poly { coeffs }, &[wide], &[7, 5], 48, 42);
    let y2 = b.op(
        Op::Poly {
            coeffs: vec![3, -1, 2],
        },
        &[y],
        &[7, 5],
        48,
        42,
    );
    b.output("y", y);
    b.output("y2", y2);
    b.p.check().expect("valid");
    for ins in
        b.p.instrs
            .iter()
            .filter(|i| matches!(i.op, Op::Poly { .. }))
    {
        assert!(!ins.pre.is_zero(), "a polynomial records its preprocessing");
        assert_eq!(ins.cost.rounds, 1, "online: one exchange");
    }
    check(&b.p, Shape::ONE, 9);
    check(
        &b.p,
        Shape {
            batch: 9,
            threads: 2,
        },
        10,
    );
    // The mask powers' products draw on silent COTs too.
    check(
        &on(b.p.clone(), OtKind::Silent),
        Shape {
            batch: 4,
            threads: 2,
        },
        11,
    );
}

#[test]
fn one_sample_equals_the_cleartext_and_the_recorded_costs() {
    check(&mixed(40), Shape::ONE, 1);
}

#[test]
fn a_batch_shares_rounds_and_equals_each_sample() {
    let plan = mixed(40);
    check(
        &plan,
        Shape {
            batch: 5,
            threads: 1,
        },
        2,
    );
    let one = estimate(&plan, &plan.check().expect("a valid plan"), Shape::ONE).expect("one");
    let five = estimate(
        &plan,
        &plan.check().expect("a valid plan"),
        Shape {
            batch: 5,
            threads: 1,
        },
    )
    .expect("five");
    let rounds = |v: &[Cost]| v.iter().map(|c| c.rounds).sum::<u64>();
    assert_eq!(rounds(&one), rounds(&five));
}

#[test]
fn split_connections_equal_one() {
    // 600 elements per sample and 60 matrix rows over batch 10: every splittable kind splits.
    let plan = mixed(600);
    let shape = Shape {
        batch: 10,
        threads: 3,
    };
    let est = estimate(&plan, &plan.check().expect("a valid plan"), shape).expect("estimate");
    assert!(
        plan.instrs
            .iter()
            .enumerate()
            .any(|(k, i)| matches!(i.op, Op::MatMul) && est[k].rounds > 0)
    );
    check(&plan, shape, 3);
}

/// A product of two shared matrices split across connections inside a sample: 90 rows × a
/// batch of 7 over 2 connections, the second piece starting at row 45 of the fourth sample
/// (its Y blocks are those of samples 3..6).
#[test]
fn shared_products_split_inside_a_sample() {
    let plan = mixed(900);
    let shape = Shape {
        batch: 7,
        threads: 2,
    };
    let k = plan
        .instrs
        .iter()
        .position(|i| matches!(i.op, Op::MatMulShared))
        .expect("a shared product");
    let units = plan.units(k) * shape.batch;
    let split = pieces(&plan.instrs[k].op.info(), units, shape.threads);
    assert_eq!(split, vec![0..315, 315..630]);
    check(&plan, shape, 4);
}

/// Plaintext session waits of `secs` seconds to connect.
fn plain_waits(secs: u64) -> Waits {
    Waits {
        connect: Duration::from_secs(secs),
        channel: ChannelOptions::default(),
        tls: None,
    }
}

/// A listener on a free loopback port, and its address.
fn loopback() -> (std::net::TcpListener, String) {
    let listener = session::listen("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("addr").to_string();
    (listener, addr)
}

#[test]
fn a_session_over_loopback_agrees_and_runs() {
    loopback_session(40, 2);
}

/// Larger pieces over the 2 connections of a loopback session (tests/run.rs runs
/// fastgrnn_g30's flights of megabytes over two connections, which deadlocked while a flight's
/// connections were flushed in another order than the peer reads them).
#[test]
fn split_pieces_cross_two_loopback_connections() {
    loopback_session(3000, 8);
}

/// A run of `mixed(n)` on a batch of `batch` over a 2-connection plaintext loopback session.
fn loopback_session(n: usize, batch: usize) {
    let plan = mixed(n);
    let (listener, addr) = loopback();
    let waits = plain_waits(10);
    let hash = plan.hash();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let x = encodings(&mut rng, n * batch, 16, 14);
    let w: Vec<Vec<u64>> = plan
        .params
        .iter()
        .map(|io| encodings(&mut rng, plan.tensors[io.tensor].numel(), 8, 6))
        .collect();
    let (plan_ref, x_ref, w_ref) = (&plan, &x, &w);
    std::thread::scope(|s| {
        let waits = &waits;
        let server = s.spawn(move || {
            let offer = Offer::new(2, max_batch(plan_ref) as u64, None);
            let (mut ps, got) = session::serve(&listener, hash, &offer, waits).expect("serve");
            assert_eq!(got, batch);
            execute(
                &mut ps,
                plan_ref,
                &plan_ref.check().expect("a valid plan"),
                got,
                Own::Server(w_ref),
                &mut |_, _, _| {},
            )
        });
        let offer = Offer::new(2, batch as u64, None);
        let mut ps = session::connect(&addr, hash, &offer, waits, &mut |_| {}).expect("connect");
        let c = execute(
            &mut ps,
            plan_ref,
            &plan_ref.check().expect("a valid plan"),
            batch,
            Own::Client(std::slice::from_ref(x_ref)),
            &mut |_, _, _| {},
        )
        .expect("client");
        let s = server.join().expect("joins").expect("server");
        assert_eq!(c.total.bytes_sent, s.total.bytes_received);
        assert!(c.outputs.is_some());
    });
}

#[test]
fn a_session_refuses_disagreements_on_both_sides() {
    let plan = mixed(40);
    let waits = plain_waits(2);
    // (server hash, server threads, client hash, client threads, client gives up, message)
    // Another plan fails the handshake: the server drops that connection as a stranger's
    // (logged) and waits on; the client names the mismatch.
    type Case = ([u8; 32], u32, [u8; 32], u32, bool, &'static str);
    let cases: [Case; 3] = [
        ([1; 32], 1, [2; 32], 1, false, "no client connected"),
        ([1; 32], 1, [1; 32], 2, false, "connection(s)"),
        ([1; 32], 1, [1; 32], 1, true, "gave up: bad input"),
    ];
    for (sh, st, ch, ct, gave_up, want) in cases {
        let (listener, addr) = loopback();
        let limit = max_batch(&plan) as u64;
        std::thread::scope(|s| {
            let waits = &waits;
            let server = s.spawn(move || {
                let offer = Offer::new(st, limit, None);
                session::serve(&listener, sh, &offer, waits).map(|_| ())
            });
            let offer = Offer::new(ct, 1, gave_up.then(|| "bad input".to_string()));
            let c = session::connect(&addr, ch, &offer, waits, &mut |_| {});
            let s = server.join().expect("joins");
            let se = s.expect_err("the server refuses").to_string();
            assert!(se.contains(want), "server: {se}");
            if !gave_up {
                let ce = c.expect_err("the client refuses").to_string();
                assert!(
                    ce.contains(want)
                        || ce.contains("connection(s)")
                        || ce.contains("plan hash mismatch"),
                    "client: {ce}"
                );
            }
        });
    }
}

#[test]
fn shapes_out_of_bounds_are_refused() {
    let plan = mixed(40);
    assert!(
        check_shape(
            &plan,
            Shape {
                batch: 0,
                threads: 1
            }
        )
        .is_err()
    );
    assert!(
        check_shape(
            &plan,
            Shape {
                batch: 1,
                threads: 0
            }
        )
        .is_err()
    );
    let limit = max_batch(&plan);
    assert!(
        check_shape(
            &plan,
            Shape {
                batch: limit + 1,
                threads: 1
            }
        )
        .is_err()
    );
    assert!(
        check_shape(
            &plan,
            Shape {
                batch: limit,
                threads: 1
            }
        )
        .is_ok()
    );
}

#[test]
fn a_stray_connection_does_not_stop_the_server() {
    let plan = mixed(40);
    let (listener, addr) = loopback();
    let waits = plain_waits(20);
    let hash = plan.hash();
    let limit = max_batch(&plan) as u64;
    std::thread::scope(|s| {
        let waits = &waits;
        let server = s.spawn(move || {
            let offer = Offer::new(1, limit, None);
            session::serve(&listener, hash, &offer, waits).map(|(_, b)| b)
        });
        // A port scan: connects, sends garbage, leaves.
        {
            use std::io::Write;
            let mut junk = std::net::TcpStream::connect(&addr).expect("connects");
            let _ =
                junk.write_all(b"GET / HTTP/1.1\r\n\r\n0123456789012345678901234567890123456789");
        }
        let offer = Offer::new(1, 3, None);
        let c = session::connect(&addr, hash, &offer, waits, &mut |_| {});
        assert!(c.is_ok(), "{:?}", c.err());
        assert_eq!(server.join().expect("joins").expect("serves"), 3);
    });
}

/// Block-ReLU in a plan (a patch choice per channel): batches of whole tensors, never split
/// across connections.
#[test]
fn block_relu_runs_batched_and_equals_the_cleartext() {
    let mut b = B::new();
    let x = b.io("x", &[3, 9, 10], Owner::Client, 16, 10);
    let xs = b.op(Op::Share, &[x], &[3, 9, 10], 16, 10);
    // The sums over x sign-extended to 20 bits.
    let wide = b.op(Op::Extend, &[xs], &[3, 9, 10], 20, 10);
    let y = b.op(
        Op::BlockRelu {
            patches: vec![Patch::Block(2, 4), Patch::Identity, Patch::Block(3, 3)],
        },
        &[xs, wide],
        &[3, 9, 10],
        16,
        10,
    );
    b.output("y", y);
    b.p.check().expect("valid");
    check(&b.p, Shape::ONE, 7);
    check(
        &b.p,
        Shape {
            batch: 12,
            threads: 2,
        },
        8,
    );
}

/// Latency units are turns: independent instructions share them, and an instruction is charged
/// the turns from its latest operand's end to its own.
#[test]
fn latency_units_count_changes_of_sender() {
    // The client shares x in turn 0, the server shares v in turn 1 (independent: they overlap);
    // the add is local and the server's reveal rides in the same turn as its share.
    let mut b = B::new();
    let x = b.io("x", &[3], Owner::Client, 16, 8);
    let v = b.io("v", &[3], Owner::Server, 16, 8);
    let xs = b.op(Op::Share, &[x], &[3], 16, 8);
    let vs = b.op(Op::Share, &[v], &[3], 16, 8);
    let sum = b.op(Op::Add, &[xs, vs], &[3], 16, 8);
    b.output("y", sum);
    let w = vec![vec![1, 2, 3]];
    let (server, client) = run_pair(&b.p, Shape::ONE, &[vec![4, 5, 6]], &w);
    assert_eq!(client.outputs, Some(vec![vec![5, 7, 9]]));
    let l = server.latency.expect("measured");
    assert_eq!(
        l.instrs,
        vec![0, 2, 0, 0],
        "share (client), share (server), add, reveal"
    );
    assert_eq!(l.total(), 2);
    assert_eq!(client.latency, Some(l));
}
