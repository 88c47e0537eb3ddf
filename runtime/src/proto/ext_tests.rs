//! Property tests of the extension and truncation family through the registry: for every
//! operation, at the widths and shifts of issue 4 and sizes 1, 3 and 1000, the two-party
//! result equals `fixed` bit for bit and the measured bytes per party and messages equal
//! `cost` exactly. All cases of one operation run in one session (so the calls also check
//! that consecutive protocols leave the channel in step).

use super::tests::{Case, check_cases};
use crate::testkit::ext_ops::{ALL_EXT, ExtOp};
use crate::testkit::ops::{Operation, Params};

const WIDTHS: [u32; 10] = [1, 2, 7, 8, 16, 31, 32, 37, 63, 64];
const SHIFTS: [u32; 4] = [1, 7, 12, 16];

fn params(bits: u32, bits_in: Option<u32>, bits_out: Option<u32>, shift: Option<u32>) -> Params {
    Params {
        bits,
        bits_in,
        bits_out,
        shift,
        ..Params::bits(bits)
    }
}

/// (params, size) of every case: size 1000 on a spread of the widths, 1 and 3 on all.
fn cases(op: ExtOp) -> Vec<(Params, usize)> {
    let mut out = Vec::new();
    let is_ext = op.is_ext();
    if is_ext {
        for (i, &m) in WIDTHS.iter().enumerate() {
            for (j, &n) in WIDTHS.iter().enumerate() {
                if n < m {
                    continue;
                }
                let p = params(n, Some(m), Some(n), None);
                out.push((p, 1));
                out.push((p, 3));
                // Size 1000 on a subset: n = m, m + 1 step, and the far end.
                if j == i || j == i + 1 || n == 64 || (m == 16 && n == 32) {
                    out.push((p, 1000));
                }
            }
        }
    } else {
        for &l in &WIDTHS[1..] {
            let mut shifts: Vec<u32> = SHIFTS.iter().copied().filter(|&s| s < l).collect();
            shifts.push(l - 1);
            shifts.push(0);
            shifts.sort_unstable();
            shifts.dedup();
            for s in shifts {
                let p = params(l, None, None, Some(s));
                out.push((p, 1));
                out.push((p, 3));
                out.push((p, 1000));
            }
        }
    }
    out
}

fn check(e: ExtOp) {
    let cases: Vec<Case> = cases(e)
        .into_iter()
        .map(|(p, n)| (Operation::Ext(e), p, n))
        .collect();
    check_cases(&cases);
}

#[test]
fn zext_matches_fixed_and_cost() {
    check(ExtOp::Zext);
}

#[test]
fn sext_matches_fixed_and_cost() {
    check(ExtOp::Sext);
}

#[test]
fn ext_known_msb_variants_match_fixed_and_cost() {
    for e in [
        ExtOp::ZextKnownMsb,
        ExtOp::SextKnownMsb,
        ExtOp::ZextSharedMsb,
        ExtOp::SextSharedMsb,
    ] {
        check(e);
    }
}

#[test]
fn trunc_reduce_matches_fixed_and_cost() {
    check(ExtOp::TruncReduce);
}

#[test]
fn lrs_matches_fixed_and_cost() {
    check(ExtOp::Lrs);
}

#[test]
fn ars_matches_fixed_and_cost() {
    check(ExtOp::Ars);
}

#[test]
fn ars_round_matches_fixed_and_cost() {
    check(ExtOp::ArsRound);
}

#[test]
fn trunc_known_msb_variants_match_fixed_and_cost() {
    for e in [
        ExtOp::LrsKnownMsb,
        ExtOp::ArsKnownMsb,
        ExtOp::LrsSharedMsb,
        ExtOp::ArsSharedMsb,
    ] {
        check(e);
    }
}

/// Every family member is registered under its name, and the ⋆ variants cost less than
/// the plain protocols they replace.
#[test]
fn registered_and_known_msb_saves() {
    for e in ALL_EXT {
        assert_eq!(Operation::from_name(e.name()), Some(Operation::Ext(e)));
    }
    let ext = params(32, Some(16), Some(32), None);
    let tr = params(32, None, None, Some(12));
    let n = 1 << 16;
    let c = |e: ExtOp, p: &Params| {
        Operation::Ext(e)
            .cost(n, p)
            .on(crate::ot::OtKind::Iknp)
            .total_bytes()
    };
    assert!(c(ExtOp::SextKnownMsb, &ext) < c(ExtOp::SextSharedMsb, &ext));
    assert!(c(ExtOp::SextSharedMsb, &ext) < c(ExtOp::Sext, &ext));
    assert!(c(ExtOp::ArsKnownMsb, &tr) < c(ExtOp::ArsSharedMsb, &tr));
    assert!(c(ExtOp::ArsSharedMsb, &tr) < c(ExtOp::Ars, &tr));
    // Figures to beat (SCI IKNP, bytes per element over both parties).
    assert!(c(ExtOp::TruncReduce, &tr) <= 164 * n as u64);
    assert!(c(ExtOp::Sext, &ext) <= 236 * n as u64);
}

/// Batches larger than one OT extension chunk (2^14 OTs), one session, several operations in
/// a row: results and costs exact.
#[test]
fn batches_across_extension_chunks() {
    let n = (1 << 14) + 5;
    let cases: Vec<Case> = [
        (ExtOp::TruncReduce, params(37, None, None, Some(12))),
        (ExtOp::Ars, params(37, None, None, Some(7))),
        (ExtOp::SextSharedMsb, params(37, Some(16), Some(37), None)),
        (ExtOp::ArsKnownMsb, params(37, None, None, Some(16))),
        (ExtOp::Zext, params(37, Some(31), Some(37), None)),
    ]
    .into_iter()
    .map(|(e, p)| (Operation::Ext(e), p, n))
    .collect();
    check_cases(&cases);
}
