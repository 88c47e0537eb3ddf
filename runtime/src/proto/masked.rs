//! Matrix products with the server's weights whose OT payloads are paid before the input:
//! Delphi's preprocessing for linear layers (Mishra, Lehmkuhl, Srinivasan, Zheng, Popa,
//! "Delphi: A Cryptographic Inference Service for Neural Networks", USENIX Security 2020, §4.1:
//! offline the client draws a random mask r and the parties get shares of W·r; online the
//! client sends x − r and the server multiplies in the clear). Delphi computes W·r with
//! additively homomorphic encryption; here it is SiRnn's matrix cross term on OTs
//! ([`super::linear`]), so offline costs what the product used to cost online, and online
//! keeps only what depends on the input.
//!
//! For X' = X + offset (the SMult offset of [`super::linear::matmul`]) shared as m-bit
//! x_s' + x_c, output width ℓ and k = min(m, ℓ):
//! - **Offline** ([`matmul_pre`]): the client draws R ∈ Z_{2^k}^{d1×d2} from its CSPRNG; the
//!   matrix cross term gives shares of uint(R)·V mod 2^ℓ (V = W extended to ℓ bits). Every
//!   run draws its own R and uses it once.
//! - **Online** ([`matmul_masked`]): the client sends U = x_c − R mod 2^k (uniform, whatever
//!   x_c is: R is fresh and uniform), k bits per entry. The server forms Y = x_s' + U mod 2^k,
//!   so X' ≡ Y + R − 2^m·w' with w' = w_X ⊕ a ⊕ b: w_X the wrap of the shares (the caller's
//!   Boolean shares, as [`super::linear::matmul`] takes them), a = 1{x_s' + U ≥ 2^m} (the
//!   server's alone), b = 1{x_c < R} (the client's alone) — Y + R = x_s' + x_c + 2^m(b − a)
//!   and both sides are X' plus a multiple of 2^m in [0, 2^(m+1)), so w_X + b − a is a bit.
//!   Then val(X)·V = (Y − offset)·V (the server's, in the clear) + uint(R)·V (the
//!   preprocessing) − 2^m·w'·V (one BitMatMul: an OT per entry carrying d3 values of ℓ − m
//!   bits; none when m ≥ ℓ). U travels with the client's OT extension: 2 flights, 1 when
//!   m ≥ ℓ.
//!
//! Online bytes per entry of X: k bits, plus one OT and d3·(ℓ − m) bits when m < ℓ, against
//! m OTs and d3·(Σ_{j<m}(ℓ − j) + ℓ − m) bits for [`super::linear::matmul`]; offline m OTs
//! and d3·Σ_{j<m}(ℓ − j) bits. In all the masked product sends k bits per entry more.
//!
//! Security (semi-honest): U is uniform given x_c; the server's Y is X' − R for the
//! client's secret uniform R; the BitMatMul is a fresh COT per entry (its sender's messages
//! masked by its pads); R and the shares of R·V are consumed by one call ([`Masks`] is moved
//! in) and never reused.

use super::linear::{
    BitTerm, MatMulParams, check_len, mat_core, matrix_cross_term_cost, server_weights, vcot_cost,
};
use super::{Cost, Party, ProtoError};
use crate::net::Role;
use crate::ot::bits::{BitReader, BitWriter, packed_len};
use crate::ring;
use rand_core::RngCore;

/// One party's preprocessing of a masked product: the client's mask R (d1×d2, k bits) and
/// this party's shares of uint(R)·V mod 2^ℓ (d1×d3). The server holds no R.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Masks {
    pub r: Vec<u64>,
    pub rv: Vec<u64>,
}

impl Masks {
    /// The masks of rows `rows` of X (a slice of the run's rows, as a connection takes), for
    /// products of d2 columns into d3.
    pub fn rows(&self, rows: std::ops::Range<usize>, d2: usize, d3: usize) -> Masks {
        let pick = |v: &[u64], w: usize| {
            v.get(rows.start * w..rows.end * w)
                .map(<[u64]>::to_vec)
                .unwrap_or_default()
        };
        Masks {
            r: pick(&self.r, d2),
            rv: pick(&self.rv, d3),
        }
    }
}

/// The mask width: X' only matters mod 2^ℓ.
fn mask_bits(params: &MatMulParams) -> u32 {
    params.x.bits.min(params.out_bits)
}

fn is_empty(params: &MatMulParams) -> bool {
    params.dims.x_len() == 0 || params.dims.d3 == 0
}

/// The exact cost of [`matmul_pre`]: the matrix cross term on R (d1·d2·k OTs from the client,
/// ⌈d1·d2·d3·Σ_{j<k}(ℓ − j)/8⌉ bytes from the server); 2 flights.
pub fn matmul_pre_cost(params: &MatMulParams) -> Cost {
    if is_empty(params) {
        return Cost::ZERO;
    }
    matrix_cross_term_cost(params.dims, mask_bits(params), params.out_bits)
}

/// The input-independent half: the client draws R, both get shares of uint(R)·V mod 2^ℓ. The
/// server passes W (d2×d3, format `params.w`), the client `&[]`.
pub fn matmul_pre(p: &mut Party, params: &MatMulParams, w: &[u64]) -> Result<Masks, ProtoError> {
    params.check()?;
    if is_empty(params) {
        return Ok(Masks {
            r: vec![
                0;
                if p.is_server() {
                    0
                } else {
                    params.dims.x_len()
                }
            ],
            rv: vec![0; params.dims.out_len()],
        });
    }
    let (k, l) = (mask_bits(params), params.out_bits);
    let v = server_weights(p, params.dims, w, params.w, l)?;
    let r: Vec<u64> = if p.is_server() {
        Vec::new()
    } else {
        let m = ring::mask(k);
        (0..params.dims.x_len())
            .map(|_| p.rng().next_u64() & m)
            .collect()
    };
    let rv = mat_core(p, params.dims, k, l, &r, None, &v)?;
    Ok(Masks { r, rv })
}

/// The exact cost of [`matmul_masked`]: U (⌈d1·d2·k/8⌉ bytes from the client) in the flight
/// of the wrap term's OT extension; the wrap term (m < ℓ) a BitMatMul in ℓ − m bits.
pub fn matmul_masked_cost(params: &MatMulParams) -> Cost {
    if is_empty(params) {
        return Cost::ZERO;
    }
    let e = params.dims.x_len();
    let u = Cost::message(Role::Client, packed_len(e, mask_bits(params)) as u64);
    if !params.needs_wrap() {
        return u;
    }
    let width = (params.out_bits - params.x.bits) as u64;
    u.alongside(vcot_cost(Role::Client, e, params.dims.d3, e as u64 * width))
}

/// The online half: `x` this party's m-bit shares of X (d1×d2), `wrap` its Boolean shares of
/// the wrap bits of (x_s + offset, x_c) ([`crate::fixed::linear::matmul_wrap`]; read only if
/// m < ℓ), `masks` this party's [`matmul_pre`] of the same product, `w` the server's W (the
/// client passes `&[]`). Returns shares of `Σ_k val(X[i][k])·val(W[k][j]) mod 2^ℓ`, as
/// [`super::linear::matmul`] does.
pub fn matmul_masked(
    p: &mut Party,
    params: &MatMulParams,
    masks: Masks,
    x: &[u64],
    wrap: &[u8],
    w: &[u64],
) -> Result<Vec<u64>, ProtoError> {
    params.check()?;
    let dims = params.dims;
    let (m, k, l) = (params.x.bits, mask_bits(params), params.out_bits);
    let e = dims.x_len();
    check_len("X share", x.len(), e)?;
    check_len("masks R·V", masks.rv.len(), dims.out_len())?;
    if !p.is_server() {
        check_len("mask R", masks.r.len(), e)?;
    }
    let wraps = params.needs_wrap();
    if wraps {
        check_len("wrap shares", wrap.len(), e)?;
    }
    if is_empty(params) {
        return Ok(vec![0; dims.out_len()]);
    }
    let v = server_weights(p, dims, w, params.w, l)?;
    let mk = ring::mask(k);
    let off = params.x.offset();
    let mut msg = vec![0u8; packed_len(e, k)];
    // This party's share of w' (only used if m < ℓ), and the server's Y.
    let mut bits = vec![0u8; if wraps { e } else { 0 }];
    let mut y = Vec::new();
    if p.is_server() {
        p.io.recv(&mut msg)?;
        let mut rd = BitReader::new(&msg);
        y.reserve(e);
        for (i, &xs) in x.iter().enumerate() {
            let xs = ring::add(xs, off, m) & mk;
            let sum = xs.wrapping_add(rd.next(k));
            y.push(sum & mk);
            if wraps {
                // k = m < ℓ ≤ 64: the sum of two k-bit values has its carry at bit k.
                bits[i] = (wrap[i] & 1) ^ (sum >> k) as u8;
            }
        }
    } else {
        let mut pk = BitWriter::new(&mut msg);
        for (i, (&xc, &r)) in x.iter().zip(&masks.r).enumerate() {
            let xc = xc & mk;
            pk.push(xc.wrapping_sub(r) & mk, k);
            if wraps {
                bits[i] = (wrap[i] & 1) ^ (xc < r) as u8;
            }
        }
        pk.finish();
        p.io.send(&msg)?;
        if !wraps {
            p.io.end_flight()?;
        }
    }
    let mut res = if wraps {
        let bit = BitTerm {
            shares: &bits,
            shift: m,
            negate: true,
        };
        mat_core(p, dims, 0, l, &[], Some(bit), &v)?
    } else {
        vec![0u64; dims.out_len()]
    };
    for (o, &rv) in res.iter_mut().zip(&masks.rv) {
        *o = o.wrapping_add(rv);
    }
    if p.is_server() {
        // (Y − offset)·V, in the clear.
        let (d2, d3) = (dims.d2, dims.d3);
        for (i, out) in res.chunks_mut(d3).enumerate() {
            for kk in 0..d2 {
                let yo = y[i * d2 + kk].wrapping_sub(off);
                for (o, &wv) in out.iter_mut().zip(&v[kk * d3..(kk + 1) * d3]) {
                    *o = o.wrapping_add(yo.wrapping_mul(wv));
                }
            }
        }
    }
    for o in res.iter_mut() {
        *o = ring::reduce(*o, l);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;
    use crate::fixed::linear::{self as fl, Format, MatDims};
    use crate::net::Stats;
    use crate::ot::OtKind;
    use crate::proto::OtSession;
    use crate::testkit::pair::run_mem_session;

    /// One party's inputs: X share, wrap shares, W (the client's empty).
    type Side = (Vec<u64>, Vec<u8>, Vec<u64>);

    /// X and W with edge values, X's shares (some wrapping) and dealer shares of the wrap bits.
    fn case(params: &MatMulParams, seed: u64) -> (Vec<u64>, Vec<u64>, Side, Side) {
        let mut r = ChaCha20Rng::seed_from_u64(seed);
        let d = params.dims;
        let (m, n) = (params.x.bits, params.w.bits);
        let mut vals = |len: usize, bits: u32| -> Vec<u64> {
            let mk = ring::mask(bits);
            let edges = [0, 1 & mk, mk, mk ^ (mk >> 1), mk >> 1];
            (0..len)
                .map(|i| match i % 3 {
                    0 => edges[(i / 3) % edges.len()],
                    _ => r.next_u64() & mk,
                })
                .collect()
        };
        let (x, w) = (vals(d.x_len(), m), vals(d.w_len(), n));
        let xs: Vec<u64> = (0..x.len())
            .map(|i| match i % 4 {
                1 => ring::mask(m),
                _ => r.next_u64() & ring::mask(m),
            })
            .collect();
        let xc: Vec<u64> = x
            .iter()
            .zip(&xs)
            .map(|(&v, &s)| ring::sub(v, s, m))
            .collect();
        let wrap: Vec<u8> = xs
            .iter()
            .zip(&xc)
            .map(|(&s, &c)| fl::matmul_wrap(s, c, params.x))
            .collect();
        let ws: Vec<u8> = wrap.iter().map(|_| (r.next_u32() & 1) as u8).collect();
        let wc: Vec<u8> = wrap.iter().zip(&ws).map(|(a, b)| a ^ b).collect();
        (x, w.clone(), (xs, ws, w), (xc, wc, Vec::new()))
    }

    /// Runs the preprocessing and the online product on `kind`: the result equals
    /// `fixed::linear::matmul`, and each phase's measured bytes and flights equal its cost.
    fn check(params: MatMulParams, seed: u64, kind: OtKind) {
        let (x, w, server, client) = case(&params, seed);
        let (pre, online) = (matmul_pre_cost(&params), matmul_masked_cost(&params));
        let session = OtSession::for_work(kind, pre.then(online));
        let run = run_mem_session(session, |p| {
            let (xm, wrap, wm) = if p.is_server() { &server } else { &client };
            let start = p.stats();
            let masks = matmul_pre(p, &params, wm)?;
            p.io.end_flight()?;
            let mid = p.stats();
            let out = matmul_masked(p, &params, masks, xm, wrap, wm)?;
            Ok((out, mid - start))
        })
        .expect("masked matmul runs");
        let l = params.out_bits;
        let got: Vec<u64> = run
            .server
            .0
            .iter()
            .zip(&run.client.0)
            .map(|(&a, &b)| ring::add(a, b, l))
            .collect();
        let want = fl::matmul(params.dims, &x, params.x, &w, params.w, l);
        assert_eq!(got, want, "{params:?} on {kind}");
        let measured_pre = Cost::measured(&run.server.1, &run.client.1);
        assert_eq!(
            measured_pre,
            pre.on(kind),
            "preprocessing {params:?} on {kind}"
        );
        let rest = |all: Stats, pre: Stats| all - pre;
        let measured_online = Cost::measured(
            &rest(run.server_stats, run.server.1),
            &rest(run.client_stats, run.client.1),
        );
        assert_eq!(
            measured_online,
            online.on(kind),
            "online {params:?} on {kind}"
        );
    }

    fn fmt(bits: u32, signed: bool) -> Format {
        if signed {
            Format::signed(bits)
        } else {
            Format::unsigned(bits)
        }
    }

    #[test]
    fn masked_matmul_matches_fixed_and_costs_on_both_engines() {
        let shapes = [(1, 1, 1), (3, 5, 7), (1, 32, 16), (2, 9, 0), (0, 4, 3)];
        let widths = [
            (1u32, 1u32),
            (8, 8),
            (16, 16),
            (20, 20),
            (8, 16),
            (32, 32),
            (1, 12),
        ];
        let mut seed = 0;
        for (d1, d2, d3) in shapes {
            for (m, n) in widths {
                for kind in OtKind::ALL {
                    seed += 1;
                    let (sx, sw) = [(true, true), (false, true), (true, false)][seed as usize % 3];
                    let dims = MatDims::new(d1, d2, d3);
                    check(
                        MatMulParams::sirnn(dims, fmt(m, sx), fmt(n, sw)),
                        seed,
                        kind,
                    );
                }
            }
        }
    }

    #[test]
    fn masked_matmul_with_operands_as_wide_as_the_output() {
        // m ≥ ℓ: no wrap term, U in ℓ bits, one flight online.
        for (k, (m, l)) in [(16u32, 16u32), (24, 16), (64, 64), (40, 33)]
            .into_iter()
            .enumerate()
        {
            let params = MatMulParams {
                dims: MatDims::new(2, 6, 5),
                x: fmt(m, k % 2 == 0),
                w: fmt(8, true),
                out_bits: l,
            };
            assert_eq!(matmul_masked_cost(&params).rounds, 1);
            for kind in OtKind::ALL {
                check(params, 900 + k as u64, kind);
            }
        }
    }

    #[test]
    fn masked_matmul_moves_the_payloads_offline() {
        // fastgrnn_g30's U2 product at 20 bits: online a small fraction of the plain product.
        let params = MatMulParams::sirnn(MatDims::new(1, 35, 100), fmt(20, true), fmt(20, true));
        let plain = crate::proto::linear::matmul_cost(&params).on(OtKind::Silent);
        let online = matmul_masked_cost(&params).on(OtKind::Silent);
        let pre = matmul_pre_cost(&params).on(OtKind::Silent);
        assert!(
            online.total_bytes() * 20 < plain.total_bytes(),
            "{online:?} vs {plain:?}"
        );
        // In all: k bits per entry of X more than the plain product.
        assert_eq!(
            online.total_bytes() + pre.total_bytes(),
            plain.total_bytes() + packed_len(35, 20) as u64 + 1
        );
    }

    #[test]
    fn wrong_masks_give_wrong_products() {
        let params = MatMulParams::sirnn(MatDims::new(1, 8, 4), fmt(12, true), fmt(8, true));
        let (x, w, server, client) = case(&params, 77);
        let run = crate::testkit::pair::run_mem(|p| {
            let (xm, wrap, wm) = if p.is_server() { &server } else { &client };
            let mut masks = matmul_pre(p, &params, wm)?;
            if !p.is_server() {
                masks.r[3] ^= 1;
            }
            matmul_masked(p, &params, masks, xm, wrap, wm)
        })
        .expect("runs");
        let got: Vec<u64> = run
            .server
            .iter()
            .zip(&run.client)
            .map(|(&a, &b)| ring::add(a, b, params.out_bits))
            .collect();
        assert_ne!(
            got,
            fl::matmul(params.dims, &x, params.x, &w, params.w, params.out_bits)
        );
    }
}
