//! Property tests of every registered operation: over random inputs with edge values, at the
//! widths of issue 4 and sizes 1, 3 and 1000, the two-party result equals `fixed` bit for bit
//! and the measured bytes per party and messages equal `cost` exactly.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{Cost, OtSession, Party, ProtoError};
use crate::net::Stats;
use crate::ot::OtKind;
use crate::testkit::ops::{ALL, Operation, Params};
use crate::testkit::pair::{run_mem, run_mem_session};

const WIDTHS: [u32; 10] = [1, 2, 7, 8, 16, 31, 32, 37, 63, 64];
const SIZES: [usize; 3] = [1, 3, 1000];
const MULT_WIDTHS: [u32; 9] = [1, 2, 8, 16, 31, 32, 37, 63, 64];
const MATMUL_SHAPES: [[usize; 3]; 3] = [[1, 1, 1], [3, 5, 7], [1, 100, 35]];

fn cases(op: Operation) -> Vec<(Params, usize)> {
    match op {
        // m×m→ℓ at ℓ = 2m (capped at 64), ℓ = m (the ring product) and m < ℓ < 2m.
        Operation::Mult => {
            return MULT_WIDTHS
                .iter()
                .flat_map(|&m| {
                    let outs = [(2 * m).min(64), m, (m + m.div_ceil(2)).min(64)];
                    outs.into_iter().flat_map(move |l| {
                        SIZES.iter().map(move |&n| {
                            let p = Params {
                                bits_in: Some(m),
                                bits_out: Some(l),
                                ..Params::bits(m)
                            };
                            (p, n)
                        })
                    })
                })
                .collect();
        }
        Operation::Matmul | Operation::MatmulShared => {
            return MATMUL_SHAPES
                .iter()
                .flat_map(|&d| {
                    [1u32, 8, 16, 31, 37, 64].into_iter().map(move |m| {
                        let p = Params {
                            bits_in: Some(m),
                            dims: Some(d),
                            ..Params::bits(m)
                        };
                        (p, 1)
                    })
                })
                .collect();
        }
        _ => {}
    }
    let widths: &[u32] = match op {
        // The width only matters for the packing of ℓ-bit values.
        Operation::And => &[1],
        _ => &WIDTHS,
    };
    widths
        .iter()
        .flat_map(|&b| SIZES.iter().map(move |&n| (Params::bits(b), n)))
        .collect()
}

/// The seed of one case's inputs: every parameter and the operation's name take part, so no
/// two cases share inputs.
pub(crate) fn seed(op: Operation, params: &Params, n: usize) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    s[8] = params.bits as u8;
    s[9] = params.bits_in.unwrap_or(0) as u8;
    s[10] = params.bits_out.unwrap_or(0) as u8;
    s[11] = params.shift.unwrap_or(0) as u8;
    s[12] = params.dims.map_or(0, |d| d[2]) as u8;
    s[5] = params.frac_in.map_or(0xff, |f| f as u8);
    s[6] = params.frac_out.map_or(0xff, |f| f as u8);
    s[7] = params.digit.map_or(0xff, |f| f as u8);
    let name = op.name().as_bytes();
    let k = name.len().min(19);
    s[13..13 + k].copy_from_slice(&name[..k]);
    s
}

/// One case: an operation, its parameters and a size.
pub(crate) type Case = (Operation, Params, usize);

/// Runs every case in one session on `kind` (so consecutive protocols must also leave the
/// channel in step; a silent session holds exactly the COTs the cases' costs count) and
/// returns, per case, both parties' outputs and the measured cost.
pub(crate) fn run_cases(cases: &[Case], kind: OtKind) -> Vec<(Vec<u64>, Vec<u64>, Cost)> {
    let work = cases
        .iter()
        .fold(Cost::ZERO, |a, (op, params, n)| a.then(op.cost(*n, params)));
    let session = OtSession::for_work(kind, work);
    let run = run_mem_session(
        session,
        |p: &mut Party| -> Result<Vec<(Vec<u64>, Stats)>, ProtoError> {
            let mut res = Vec::new();
            for (op, params, n) in cases {
                let mut rng = ChaCha20Rng::from_seed(seed(*op, params, *n));
                let inst = op.instance(&mut rng, *n, params);
                let inp = if p.is_server() {
                    &inst.server
                } else {
                    &inst.client
                };
                p.io.end_flight()?;
                let before = p.stats();
                let out = op.run(p, inp, params)?;
                p.io.end_flight()?;
                res.push((out, p.stats() - before));
            }
            // The calls used exactly the silent COTs their costs count.
            let d = session.demand.map(|d| d as usize);
            let want = match (kind, p.role) {
                (OtKind::Iknp, _) => [0, 0],
                (OtKind::Silent, crate::net::Role::Server) => d,
                (OtKind::Silent, crate::net::Role::Client) => [d[1], d[0]],
            };
            assert_eq!(p.ot.silent_used(), want, "silent COTs used");
            Ok(res)
        },
    )
    .expect("runs");
    run.server
        .into_iter()
        .zip(run.client)
        .map(|((s, ss), (c, cs))| {
            let measured = Cost::measured(&ss, &cs);
            (s, c, measured)
        })
        .collect()
}

/// Runs the cases on both OT engines and asserts, for each, that the two-party result equals
/// `fixed` bit for bit and that the measured bytes per party and messages equal `cost`.
pub(crate) fn check_cases(cases: &[Case]) {
    for kind in OtKind::ALL {
        check_cases_on(cases, kind);
    }
}

/// [`check_cases`] on one engine.
pub(crate) fn check_cases_on(cases: &[Case], kind: OtKind) {
    // The math functions' digits tuned for the engine they run on, as a plan's are.
    let cases: Vec<Case> = cases
        .iter()
        .map(|&(op, p, n)| (op, Params { ot: kind, ..p }, n))
        .collect();
    let cases = &cases[..];
    for ((op, params, n), (s, c, measured)) in cases.iter().zip(run_cases(cases, kind)) {
        let n = *n;
        op.check(params).expect("valid params");
        let mut rng = ChaCha20Rng::from_seed(seed(*op, params, n));
        let inst = op.instance(&mut rng, n, params);
        let out = op.output(params);
        let len = inst.expected.len();
        if params.dims.is_none() {
            assert_eq!(len, n, "{} {params:?}: one result per element", op.name());
        }
        assert_eq!((s.len(), c.len()), (len, len));
        for i in 0..len {
            assert_eq!(
                out.reconstruct(s[i], c[i]),
                inst.expected[i],
                "{} {params:?} n={n} element {i}: server in {:?} client in {:?}",
                op.name(),
                inst.server.a.get(i),
                inst.client.a.get(i),
            );
        }
        assert_eq!(
            measured,
            op.cost(n, params).on(kind),
            "{} {params:?} n={n} on {kind}: measured vs cost",
            op.name(),
        );
    }
}

fn check(op: Operation) {
    let cases: Vec<Case> = cases(op).into_iter().map(|(p, n)| (op, p, n)).collect();
    check_cases(&cases);
}

#[test]
fn millionaire_matches_fixed_and_cost() {
    check(Operation::Millionaire);
}

#[test]
fn wrap_matches_fixed_and_cost() {
    check(Operation::Wrap);
}

#[test]
fn wrap_and_all_ones_matches_fixed_and_cost() {
    check(Operation::WrapAllOnes);
}

#[test]
fn msb_matches_fixed_and_cost() {
    check(Operation::Msb);
}

#[test]
fn drelu_matches_fixed_and_cost() {
    check(Operation::Drelu);
}

#[test]
fn relu_matches_fixed_and_cost() {
    check(Operation::Relu);
}

#[test]
fn and_matches_fixed_and_cost() {
    check(Operation::And);
}

#[test]
fn b2a_matches_fixed_and_cost() {
    check(Operation::B2a);
}

#[test]
fn mux_matches_fixed_and_cost() {
    check(Operation::Mux);
}

#[test]
fn mult_matches_fixed_and_cost() {
    check(Operation::Mult);
}

#[test]
fn matmul_matches_fixed_and_cost() {
    check(Operation::Matmul);
}

#[test]
fn matmul_shared_matches_fixed_and_cost() {
    check(Operation::MatmulShared);
}

#[test]
fn every_op_has_a_name_and_nonzero_cost() {
    for op in ALL {
        assert_eq!(Operation::from_name(op.name()), Some(op));
        assert!(
            op.cost(1000, &Params::bits(32))
                .on(OtKind::Iknp)
                .total_bytes()
                > 0,
            "{}",
            op.name()
        );
        assert_eq!(op.cost(0, &Params::bits(32)), Cost::ZERO, "{}", op.name());
    }
}

/// Outputs are shares, not the value: the client's output alone does not equal the result
/// on every element (it would if a protocol leaked the value into one share).
#[test]
fn outputs_are_masked() {
    let cases: Vec<Case> = cases(Operation::Relu)
        .into_iter()
        .map(|(p, n)| (Operation::Relu, p, n))
        .collect();
    for ((_, params, n), (_s, c, _)) in cases.iter().zip(run_cases(&cases, OtKind::Iknp)) {
        let (params, n) = (*params, *n);
        if n == 1000 && params.bits >= 16 {
            let mut rng = ChaCha20Rng::from_seed(seed(Operation::Relu, &params, n));
            let inst = Operation::Relu.instance(&mut rng, n, &params);
            let same = c.iter().zip(&inst.expected).filter(|(a, b)| a == b).count();
            assert!(
                same < 10,
                "ℓ={}: {same} client shares equal the result",
                params.bits
            );
        }
    }
}

/// Batches larger than one OT extension chunk (2^14 OTs): every comparison-family operation
/// at ℓ = 37 on 2^14 + 5 elements, results and costs exact.
#[test]
fn batches_across_extension_chunks() {
    let n = (1 << 14) + 5;
    let params = Params::bits(37);
    let ops = [
        Operation::Relu,
        Operation::WrapAllOnes,
        Operation::And,
        Operation::B2a,
        Operation::Mux,
    ];
    let cases: Vec<Case> = ops.into_iter().map(|op| (op, params, n)).collect();
    check_cases(&cases);
}

/// Long batches on silent OT take comparison trees two levels taller where those save more
/// than the two flights are worth ([`super::millionaire::Tree::on`]): the comparison, extension,
/// truncation and product families at the widths of `sir bench op`'s rows, on batches long
/// enough to take them, exact in values, bytes and flights on both engines — and silent OT
/// takes more flights than IKNP for them (so the tall trees did run).
#[test]
fn long_batches_take_silent_ots_tall_trees() {
    use crate::testkit::ext_ops::ExtOp;
    let n = 1 << 13;
    let with = |bits, bits_in, shift| Params {
        bits_in,
        shift,
        ..Params::bits(bits)
    };
    let cases: Vec<Case> = [
        (Operation::Relu, with(32, None, None)),
        (Operation::Msb, with(32, None, None)),
        (Operation::Wrap, with(16, None, None)),
        (Operation::WrapAllOnes, with(20, None, None)),
        (Operation::Ext(ExtOp::TruncReduce), with(16, None, Some(7))),
        (Operation::Ext(ExtOp::Ars), with(32, None, Some(12))),
        (Operation::Ext(ExtOp::Sext), with(32, Some(16), None)),
        (Operation::Ext(ExtOp::Zext), with(64, Some(32), None)),
        (
            Operation::Mult,
            Params {
                bits_out: Some(32),
                ..with(16, Some(16), None)
            },
        ),
    ]
    .into_iter()
    .map(|(op, p)| (op, p, n))
    .collect();
    check_cases(&cases);
    for (op, p, n) in &cases {
        let c = op.cost(*n, p);
        assert!(
            c.rounds_on(OtKind::Silent) > c.rounds_on(OtKind::Iknp),
            "{} {p:?}: silent takes the tall trees",
            op.name()
        );
    }
}

/// Block-ReLU: two-party equals `fixed::block_relu` bit for bit and the measured bytes and
/// messages equal its cost, over patch shapes with border patches, zero-sum patches (which
/// must be zeroed), 1×1 (= ReLU), a choice per channel with identity and zero channels, a
/// layer without any comparison, and several samples.
#[test]
fn block_relu_matches_fixed_and_cost() {
    use crate::fixed::Patch::{self, Block, Identity, Zero};
    use crate::ring;
    use rand_core::RngCore;
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let cases: Vec<([usize; 3], Vec<Patch>, usize, u32)> = vec![
        ([2, 5, 7], vec![Block(2, 3)], 1, 16),
        ([3, 4, 4], vec![Block(1, 1)], 2, 32),
        ([1, 6, 6], vec![Block(6, 6)], 3, 20),
        ([4, 3, 5], vec![Block(4, 4)], 1, 64),
        ([2, 8, 8], vec![Block(2, 2)], 2, 12),
        (
            [5, 6, 5],
            vec![Block(2, 3), Identity, Block(1, 1), Zero, Block(6, 5)],
            3,
            18,
        ),
        ([3, 4, 4], vec![Identity, Zero, Identity], 2, 16),
    ];
    for (shape, patches, samples, bits) in cases {
        let n = shape.iter().product::<usize>() * samples;
        // Small values so patch sums stay in range; some zeros.
        let mut x: Vec<u64> = (0..n)
            .map(|i| {
                let v = (rng.next_u64() % 64) as i64 - 32;
                let v = if i % 7 == 0 { 0 } else { v };
                ring::reduce(v as u64, bits)
            })
            .collect();
        // A patch whose sum is exactly zero: [v, −v] in channel 0's first patch when it is wide.
        let first = patches[0];
        if let Block(ph, pw) = first
            && pw >= 2
        {
            x[0] = ring::reduce(5, bits);
            x[1] = ring::reduce(-5i64 as u64, bits);
            for v in x.iter_mut().take(pw.min(shape[2])).skip(2) {
                *v = 0;
            }
            for i in 1..ph.min(shape[1]) {
                for j in 0..pw.min(shape[2]) {
                    x[i * shape[2] + j] = 0;
                }
            }
        }
        // The sums' operand: x sign-extended 4 bits (as the compiler takes it from a wider
        // value), shared independently of x.
        let sum_bits = (bits + 4).min(64);
        let sx: Vec<u64> = x
            .iter()
            .map(|&v| ring::reduce(ring::to_signed(v, bits) as u64, sum_bits))
            .collect();
        let want =
            crate::fixed::block_relu(&x, &sx, shape, &patches, bits, sum_bits).expect("valid");
        if matches!(first, Block(_, pw) if pw >= 2) {
            assert_eq!(want[0], 0, "a zero-sum patch is zeroed");
        }
        let share = |v: &[u64], bits: u32, rng: &mut ChaCha20Rng| -> (Vec<u64>, Vec<u64>) {
            let a: Vec<u64> = v
                .iter()
                .map(|_| rng.next_u64() & ring::mask(bits))
                .collect();
            let b = v
                .iter()
                .zip(&a)
                .map(|(&v, &a)| ring::sub(v, a, bits))
                .collect();
            (a, b)
        };
        let (xs, xc) = share(&x, bits, &mut rng);
        let (ss, sc) = share(&sx, sum_bits, &mut rng);
        let run = run_mem(|p: &mut Party| -> Result<Vec<u64>, ProtoError> {
            let (mine, sums) = if p.is_server() {
                (&xs, &ss)
            } else {
                (&xc, &sc)
            };
            super::relu::block_relu(p, mine, sums, shape, &patches, bits, sum_bits)
        })
        .expect("runs");
        let got: Vec<u64> = run
            .server
            .iter()
            .zip(&run.client)
            .map(|(&a, &b)| ring::add(a, b, bits))
            .collect();
        assert_eq!(got, want, "{shape:?} {patches:?} ×{samples} at {bits} bits");
        let cost =
            super::relu::block_relu_cost(shape, &patches, samples, bits, sum_bits).expect("valid");
        assert_eq!(
            run.measured(),
            cost.on(OtKind::Iknp),
            "{shape:?} {patches:?}"
        );
        if patches == [Block(1, 1)] {
            let relu: Vec<u64> = x.iter().map(|&v| crate::fixed::relu(v, bits)).collect();
            assert_eq!(want, relu, "1×1 Block-ReLU is ReLU");
        }
        // Identity channels pass through, zero channels vanish.
        let per = shape[1] * shape[2];
        for (i, (&w, &v)) in want.iter().zip(&x).enumerate() {
            match patches.get((i / per) % shape[0]).copied().unwrap_or(first) {
                Identity if patches.len() > 1 => assert_eq!(w, v),
                Zero if patches.len() > 1 => assert_eq!(w, 0),
                _ => {}
            }
        }
    }
    // The comparison and the selection's OT rows are per patch: 2×2 patches (sums 2 bits
    // wider) cost under half of ReLU's bytes at 8 bits, in the rounds of a ReLU at the sums'
    // width.
    let full = super::relu::relu_cost(512, 8);
    let quarter = super::relu::block_relu_cost([8, 8, 8], &[Block(2, 2)], 1, 8, 10).expect("valid");
    assert_eq!(super::relu::relu_cost(512, 10).rounds, quarter.rounds);
    assert!(
        quarter.total_bytes() * 2 <= full.total_bytes(),
        "{} vs {}",
        quarter.total_bytes(),
        full.total_bytes()
    );
    // A choice list that fits neither one nor every channel is refused, nothing sent.
    assert!(super::relu::block_relu_cost([3, 4, 4], &[Identity, Zero], 1, 16, 16).is_none());
    let run = run_mem(|p: &mut Party| {
        super::relu::block_relu(p, &[0; 48], &[0; 48], [3, 4, 4], &[Identity, Zero], 16, 16)
    });
    assert!(matches!(run, Err(ProtoError::Argument(_))));
}

/// [`super::mult::mult_rows`]: rows of x times one y per row, on both engines, equal to the
/// cleartext product of each element by its row's y bit for bit and exact in cost, for
/// signed and unsigned operands, every kind of wrap (unknown, public MSB), outputs narrower
/// and wider than the operands, and rows of 1, 3 and 100.
#[test]
fn mult_rows_matches_fixed_and_cost() {
    use super::mult::{MultParams, WrapHint, mult_rows, mult_rows_cost};
    use crate::fixed::linear::{Format, mult};
    use crate::ring;
    use rand_core::RngCore;
    let f = |signed: bool, bits: u32| {
        if signed {
            Format::signed(bits)
        } else {
            Format::unsigned(bits)
        }
    };
    let mut cases = Vec::new();
    for (m, n, l) in [
        (25, 32, 57),
        (16, 16, 32),
        (8, 12, 16),
        (20, 8, 24),
        (64, 16, 64),
        (5, 40, 40),
    ] {
        for (sx, sy) in [(false, false), (true, false), (true, true)] {
            for msb in [false, true] {
                for (rows, cols) in [(7, 1), (5, 3), (3, 100)] {
                    cases.push((
                        MultParams {
                            x: f(sx, m),
                            y: f(sy, n),
                            out_bits: l,
                        },
                        msb,
                        rows,
                        cols,
                    ));
                }
            }
        }
    }
    for kind in OtKind::ALL {
        for (i, &(mp, msb, rows, cols)) in cases.iter().enumerate() {
            let mut rng = ChaCha20Rng::seed_from_u64(i as u64);
            // With a public MSB the values keep it 0 (unsigned) or the sign bit clear.
            let mut draw = |bits: u32| {
                let v = ring::reduce(rng.next_u64(), bits);
                if msb { v & ring::mask(bits - 1) } else { v }
            };
            let x: Vec<u64> = (0..rows * cols).map(|_| draw(mp.x.bits)).collect();
            let y: Vec<u64> = (0..rows).map(|_| draw(mp.y.bits)).collect();
            let split = |v: &[u64], bits: u32, rng: &mut ChaCha20Rng| -> (Vec<u64>, Vec<u64>) {
                let s: Vec<u64> = v
                    .iter()
                    .map(|_| ring::reduce(rng.next_u64(), bits))
                    .collect();
                let c = v
                    .iter()
                    .zip(&s)
                    .map(|(&a, &b)| ring::sub(a, b, bits))
                    .collect();
                (s, c)
            };
            let (xs, xc) = split(&x, mp.x.bits, &mut rng);
            let (ys, yc) = split(&y, mp.y.bits, &mut rng);
            let hint = if msb {
                WrapHint::Msb(false)
            } else {
                WrapHint::Unknown
            };
            let cost = mult_rows_cost(rows, cols, &mp, hint.kind(), hint.kind());
            let run = run_mem_session(OtSession::for_work(kind, cost), |p: &mut Party| {
                let (a, b) = if p.is_server() {
                    (&xs, &ys)
                } else {
                    (&xc, &yc)
                };
                let before = p.stats();
                let out = mult_rows(p, &mp, [hint; 2], a, b, cols)?;
                p.io.end_flight()?;
                Ok((out, p.stats() - before))
            })
            .expect("runs");
            let ((s, ss), (c, cs)) = (run.server, run.client);
            for e in 0..rows * cols {
                let want = mult(x[e], mp.x, y[e / cols], mp.y, mp.out_bits);
                assert_eq!(
                    ring::add(s[e], c[e], mp.out_bits),
                    want,
                    "{mp:?} msb {msb} {rows}×{cols} on {kind}: element {e}"
                );
            }
            assert_eq!(
                Cost::measured(&ss, &cs),
                cost.on(kind),
                "{mp:?} msb {msb} {rows}×{cols} on {kind}: cost"
            );
        }
    }
}
