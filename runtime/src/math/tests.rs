use super::funcs::*;
use super::ops::{self, MathOp};
use super::*;
use crate::proto::ops::{Op, Params};
use crate::proto::tests::{Case, check_cases};

#[test]
fn print_costs() {
    let f = Fx::new(16, 12);
    let g: u32 = std::env::var("GUARD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let t = Tuning {
        guard: g,
        ..Tuning::default()
    };
    let x = vec![0u64; 1 << 16];
    for (name, c) in [
        ("rexp", {
            let mut c = Counter::default();
            rexp(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("exp", {
            let mut c = Counter::default();
            exp(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("sigmoid", {
            let mut c = Counter::default();
            sigmoid(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("tanh", {
            let mut c = Counter::default();
            tanh(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("recip", {
            let mut c = Counter::default();
            reciprocal(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("rsqrt", {
            let mut c = Counter::default();
            rsqrt(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
        ("sqrt", {
            let mut c = Counter::default();
            sqrt(&mut c, &x, f, f, t).unwrap();
            c.cost
        }),
    ] {
        println!(
            "{name}: {:.1} B, {} rounds",
            c.total_bytes() as f64 / 65536.0,
            c.rounds
        );
    }
}

type F = fn(&mut Clear, &[u64], Fx, Fx, Tuning) -> Result<Vec<u64>, crate::proto::ProtoError>;

/// Largest |result − exact| in output ULPs over the 16-bit inputs where `domain` holds and the
/// exact result is representable.
fn max_ulp(
    f: F,
    real: fn(f64) -> f64,
    domain: fn(f64) -> bool,
    inp: Fx,
    out: Fx,
    t: Tuning,
) -> (f64, u64) {
    let xs: Vec<u64> = (0..1u64 << inp.bits).collect();
    let ys = f(&mut Clear, &xs, inp, out, t).unwrap();
    let lim = ((out.bits - 1 - out.frac) as f64).exp2();
    let mut worst = (0.0, 0);
    for (&x, &y) in xs.iter().zip(&ys) {
        let xr = inp.real(x);
        if !domain(xr) {
            continue;
        }
        let want = real(xr);
        if want >= lim || want < -lim {
            continue;
        }
        let err = (out.real(y) - want).abs() * (out.frac as f64).exp2();
        if err > worst.0 {
            worst = (err, x);
        }
    }
    worst
}

#[test]
fn print_ulps() {
    let g: u32 = std::env::var("GUARD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let t = Tuning {
        guard: g,
        ..Tuning::default()
    };
    for (si, so) in [(12, 12), (8, 14), (14, 8), (10, 13)] {
        let (i, o) = (Fx::new(16, si), Fx::new(16, so));
        println!("{si}->{so}");
        println!(" rexp {:?}", max_ulp(rexp, f64::exp, |x| x <= 0.0, i, o, t));
        println!(" exp {:?}", max_ulp(exp, f64::exp, |_| true, i, o, t));
        println!(
            " sigmoid {:?}",
            max_ulp(sigmoid, |x| 1.0 / (1.0 + (-x).exp()), |_| true, i, o, t)
        );
        println!(" tanh {:?}", max_ulp(tanh, f64::tanh, |_| true, i, o, t));
        println!(
            " recip {:?}",
            max_ulp(reciprocal, |x| 1.0 / x, |x| x > 0.0, i, o, t)
        );
        println!(
            " rsqrt {:?}",
            max_ulp(rsqrt, |x| 1.0 / x.sqrt(), |x| x >= 0.1, i, o, t)
        );
        println!(" sqrt {:?}", max_ulp(sqrt, f64::sqrt, |x| x > 0.0, i, o, t));
    }
}

fn fmt(bi: u32, fi: u32, bo: u32, fo: u32) -> Params {
    Params {
        bits_in: Some(bi),
        frac_in: Some(fi),
        bits_out: Some(bo),
        frac_out: Some(fo),
        ..Params::bits(bi)
    }
}

/// Two-party == cleartext bit for bit and measured == cost, for every math operation at the
/// 16-bit settings of the paper, a 32-bit one and odd widths, on 1, 3 and 1000 elements.
#[test]
fn two_party_equals_cleartext_and_cost() {
    let mut cases: Vec<Case> = Vec::new();
    for op in ops::ALL {
        let ps: Vec<Params> = match op {
            MathOp::Lut => vec![fmt(8, 0, 16, 0), fmt(3, 0, 64, 0), fmt(1, 0, 1, 0)],
            MathOp::Digdec | MathOp::Msnzb => [16u32, 32, 13, 64, 2]
                .iter()
                .flat_map(|&b| {
                    [8u32, 5, 1].map(|d| Params {
                        digit: Some(d),
                        ..Params::bits(b)
                    })
                })
                .collect(),
            _ => vec![
                fmt(16, 12, 16, 12),
                fmt(16, 8, 16, 14),
                fmt(16, 14, 16, 8),
                fmt(32, 16, 32, 16),
                fmt(13, 9, 20, 11),
            ],
        };
        for p in ps {
            if op == MathOp::Digdec || op == MathOp::Msnzb {
                let d = p.digit.unwrap_or(8);
                if p.bits / d > 8 && d == 1 {
                    continue;
                }
            }
            for n in [1usize, 3, 1000] {
                cases.push((Op::Math(op), p, n));
            }
        }
    }
    if std::env::var("ONE_BY_ONE").is_ok() {
        for c in &cases {
            eprintln!("{:?}", c);
            check_cases(std::slice::from_ref(c));
        }
    }
    check_cases(&cases);
}
