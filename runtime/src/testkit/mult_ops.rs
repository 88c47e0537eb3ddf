//! The registry entries `mult`, `matmul` and `matmul_shared` ([`super::ops`]): parameters from the command line's
//! widths, and inputs with their expected products.
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::ops::{Instance, Params};
use crate::fixed::linear::{self as fl, Format, MatDims};
use crate::proto::linear::MatMulParams;
use crate::proto::mult::MultParams;
use crate::ring;

/// `mult`: SMult m×m→ℓ with m = `bits_in` (else `bits`) and ℓ = `bits_out` (else m + m
/// capped at 64 when `bits_in` is given, else `bits`).
pub fn mult_params(p: &Params) -> MultParams {
    let m = p.bits_in.unwrap_or(p.bits);
    let l = p.bits_out.unwrap_or(if p.bits_in.is_some() {
        (2 * m).min(64)
    } else {
        p.bits
    });
    MultParams {
        x: Format::signed(m),
        y: Format::signed(m),
        out_bits: l,
    }
}

/// `matmul`: dims M,K,N (default 1,100,35), signed X and W of m = `bits_in` (else `bits`)
/// bits, ℓ = `bits_out` or SiRnn's m + m + ⌈log2 K⌉.
pub fn matmul_params(p: &Params) -> MatMulParams {
    let [d1, d2, d3] = p.dims.unwrap_or([1, 100, 35]);
    let m = p.bits_in.unwrap_or(p.bits);
    let f = Format::signed(m);
    let mut mp = MatMulParams::sirnn(MatDims::new(d1, d2, d3), f, f);
    if let Some(l) = p.bits_out {
        mp.out_bits = l;
    }
    mp
}

/// `len` values of `bits` bits, edge values (0, −1, min, max, 1) twice first when
/// `len` ≥ 10; and their shares, the edge block's server share 0 then −1 (shares that do
/// not and do wrap).
fn shared(rng: &mut ChaCha20Rng, len: usize, bits: u32) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let m = ring::mask(bits);
    let edges = [0, m, (m >> 1) + 1, m >> 1, 1 & m];
    let e = edges.len();
    let edge = len >= 2 * e;
    let v: Vec<u64> = (0..len)
        .map(|i| {
            if edge && i < 2 * e {
                edges[i % e]
            } else {
                rng.next_u64() & m
            }
        })
        .collect();
    let s: Vec<u64> = (0..len)
        .map(|i| match i {
            i if edge && i < e => 0,
            i if edge && i < 2 * e => m,
            _ => rng.next_u64() & m,
        })
        .collect();
    let c = v
        .iter()
        .zip(&s)
        .map(|(&x, &a)| ring::sub(x, a, bits))
        .collect();
    (v, s, c)
}

pub fn mult_instance(rng: &mut ChaCha20Rng, n: usize, p: &Params) -> Instance {
    let mp = mult_params(p);
    let (x, xs, xc) = shared(rng, n, mp.x.bits);
    let (mut y, mut ys, mut yc) = shared(rng, n, mp.y.bits);
    // Pair the edge values crosswise too (min·min, min·max, −1·min, ...).
    if n >= 10 {
        y[..10].rotate_left(2);
        ys[..10].rotate_left(2);
        yc[..10].rotate_left(2);
    }
    let expected = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| fl::mult(a, mp.x, b, mp.y, mp.out_bits))
        .collect();
    Instance::exact((xs, ys), (xc, yc), expected)
}

/// The matrix sizes come from `dims` alone (`n` is ignored; the result has M·N entries).
pub fn matmul_instance(rng: &mut ChaCha20Rng, p: &Params) -> Instance {
    let mp = matmul_params(p);
    let (x, xs, xc) = shared(rng, mp.dims.x_len(), mp.x.bits);
    let (w, _, _) = shared(rng, mp.dims.w_len(), mp.w.bits);
    let expected = fl::matmul(mp.dims, &x, mp.x, &w, mp.w, mp.out_bits);
    Instance::exact((xs, w), (xc, vec![]), expected)
}

/// `matmul_shared`: [`matmul_params`]' X and output width, Y shared like X (m bits, signed)
/// and handed to the protocol as shares in the output ring (what the plan's extension of Y
/// gives).
pub fn matmul_shared_params(p: &Params) -> MatMulParams {
    let mp = matmul_params(p);
    MatMulParams {
        w: Format::signed(mp.out_bits),
        ..mp
    }
}

pub fn matmul_shared_instance(rng: &mut ChaCha20Rng, p: &Params) -> Instance {
    let mp = matmul_params(p);
    let (x, xs, xc) = shared(rng, mp.dims.x_len(), mp.x.bits);
    let (y, _, _) = shared(rng, mp.dims.w_len(), mp.w.bits);
    let l = mp.out_bits;
    let wide: Vec<u64> = y.iter().map(|&v| mp.w.extend(v, l)).collect();
    let ys: Vec<u64> = (0..wide.len())
        .map(|_| rng.next_u64() & ring::mask(l))
        .collect();
    let yc = wide
        .iter()
        .zip(&ys)
        .map(|(&v, &a)| ring::sub(v, a, l))
        .collect();
    let expected = fl::matmul(mp.dims, &x, mp.x, &y, mp.w, l);
    Instance::exact((xs, ys), (xc, yc), expected)
}
