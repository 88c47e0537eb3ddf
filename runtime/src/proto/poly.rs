//! Polynomial activations in one online flight: the HoneyBadger variant ("powers of a random
//! mask", HoneyBadgerMPC-style) of the single-round polynomial protocols in A. Diaa, L. Fenaux,
//! T. Humphries, M. Dietz, F. Ebrahimianghazani, B. Kacsmar, X. Li, N. Lukas, R. A. Mahdavi,
//! S. Oya, E. Amjadian, F. Kerschbaum, "Fast and Private Inference of Deep Neural Networks by
//! Co-designing Activation Functions", USENIX Security 2024 (arXiv 2306.08538), which implement
//! it beside their ESPN; see §A.3 of `shared/reference/codesign-blockrelu-notes.md`. Cleartext
//! semantics: [`crate::fixed::poly`], out = Σ_k c_k·x^k mod 2^ℓ.
//!
//! - **Preprocessing** ([`preprocess`], input-independent): each party draws its share of a
//!   fresh uniform mask r ∈ Z_{2^ℓ} per element, and the parties compute shares of r², …, r^d
//!   with [`super::linear::mult_ring_squares`] (OT-based ring multiplication on our own OT
//!   engine; the paper takes the powers from a trusted dealer instead). The powers are built by
//!   doubling — level t makes r^k for 2^(t−1) < k ≤ 2^t as r^(2^(t−1))·r^(k−2^(t−1)) — and each
//!   level is one concatenated call, so the depth is ⌈log2 d⌉ calls of 3 flights (2 for the
//!   first, r² alone). Squares (r², r⁴, …) need one cross term, r_s·r_c, not two: degree 4 costs
//!   4 cross terms instead of 6.
//! - **Online** ([`online`]): the parties open m = x − r in one exchange (both send their share
//!   of x − r in the same flight), then locally x^k = (m + r)^k = Σ_j C(k,j)·m^(k−j)·r^j gives
//!   out = Σ_j β_j(m)·[r^j] with β_j(m) = Σ_{k≥j} c_k·C(k,j)·m^(k−j) mod 2^ℓ, the Taylor
//!   coefficients of the polynomial at m; [r^0] = 1 is the server's (public constants are added
//!   by the server only).
//!
//! Security (semi-honest): r = r_s + r_c is uniform in Z_{2^ℓ} and unknown to both parties,
//! so the opened m = x − r is uniform and independent of x; each mask is opened once ([`online`]
//! consumes the tuples). The powers come from OT-based multiplication (`mult_ring`, whose
//! messages are masked by fresh OTs), and every result of both phases is an additive share.
//!
//! Wire: the exchange is sent in chunks of at most [`EXCHANGE_CHUNK_BYTES`] of packed payload
//! per side (ℓ-bit values packed LSB first, each chunk packed on its own), one flight per chunk:
//! both parties writing a large message before reading could fill the transport's buffers and
//! deadlock (see [`crate::net`]). The server flushes its part with `flush`, the client with
//! [`crate::net::Channel::flush_joint`], so the flushes of both parties count each chunk once.
//! Degree ≤ 1 needs no interaction at all (out = c0 by the server + c1·x).

use rand_core::RngCore;
use rayon::prelude::*;

use super::linear::{mult_ring_squares, mult_ring_squares_cost};
use super::{Cost, Flow, Party, ProtoError};
use crate::net::Role;
use crate::ot::bits::{BitReader, BitWriter, packed_len};
use crate::ring;

/// The most packed payload one side sends in one flight of the online exchange.
pub const EXCHANGE_CHUNK_BYTES: usize = 32 * 1024;

/// The local evaluation runs on rayon in tasks of at least this many elements (on this thread
/// below two tasks' worth).
const PAR_MIN_LEN: usize = 4096;

/// Shares of r, r², …, r^d for n fresh uniformly random masks r (one per element) in Z_{2^ℓ}.
pub struct PowerTuples {
    bits: u32,
    degree: usize,
    /// The number of elements (also kept when `powers` is empty, for degree ≤ 1).
    n: usize,
    /// `powers[k − 1]` holds this party's shares of r^k, k = 1..=degree; empty for degree ≤ 1.
    powers: Vec<Vec<u64>>,
}

impl std::fmt::Debug for PowerTuples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerTuples")
            .field("bits", &self.bits)
            .field("degree", &self.degree)
            .field("len", &self.n)
            .finish_non_exhaustive()
    }
}

impl PowerTuples {
    /// The number of elements (masks).
    pub fn len(&self) -> usize {
        self.n
    }

    /// The highest power d.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// The ring width ℓ.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

fn arg(msg: String) -> ProtoError {
    ProtoError::Argument(msg)
}

fn valid_bits(bits: u32) -> bool {
    (1..=64).contains(&bits)
}

fn check_bits(bits: u32) -> Result<(), ProtoError> {
    if valid_bits(bits) {
        Ok(())
    } else {
        Err(arg(format!("ring width {bits} is not in 1..=64")))
    }
}

/// The products of each preprocessing level, as pairs (a, b) with r^(a+b) = r^a·r^b, in
/// increasing a + b: level t makes every power in (h, min(2h, d)] for h = 2^(t−1), so after
/// ⌈log2 d⌉ levels every power up to d exists. The last pair of a level may be a square
/// (a = b, the power 2h), which costs half a product ([`super::linear::mult_ring_squares`]).
fn levels(degree: usize) -> Vec<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut h = 1;
    while h < degree {
        let top = (2 * h).min(degree);
        out.push((h + 1..=top).map(|k| (h, k - h)).collect());
        h = top;
    }
    out
}

/// The flights of `preprocess`: one ring multiplication per level, each opened by the client.
pub fn preprocess_flow(n: usize, degree: usize, bits: u32) -> Flow {
    if !valid_bits(bits) || degree < 2 || n == 0 {
        return Flow::NONE;
    }
    levels(degree).iter().fold(Flow::NONE, |f, level| {
        f.then(&Flow::alternating(
            Role::Client,
            level_cost(n, level, bits).rounds,
        ))
    })
}

/// Exact cost of `preprocess`.
pub fn preprocess_cost(n: usize, degree: usize, bits: u32) -> Cost {
    if !valid_bits(bits) || degree < 2 || n == 0 {
        return Cost::ZERO;
    }
    levels(degree)
        .iter()
        .fold(Cost::ZERO, |c, level| c.then(level_cost(n, level, bits)))
}

/// How many of a level's products are squares (they come last).
fn squares(level: &[(usize, usize)]) -> usize {
    level.iter().filter(|(a, b)| a == b).count()
}

/// One level's products and squares on `n` masks.
fn level_cost(n: usize, level: &[(usize, usize)], bits: u32) -> Cost {
    mult_ring_squares_cost(n * level.len(), n * squares(level), bits)
}

/// Input-independent phase: each party samples its share of r from p.rng(); the powers come from
/// `super::linear::mult_ring` (shared×shared in one ring via correlated OT), batched so the depth
/// is ⌈log2 d⌉ calls (e.g. d=4: r² = r·r, then r³ = r²·r and r⁴ = r²·r² in ONE concatenated
/// mult_ring call). Degree ≤ 1 needs no mask: the result holds no powers and costs nothing.
pub fn preprocess(
    p: &mut Party,
    n: usize,
    degree: usize,
    bits: u32,
) -> Result<PowerTuples, ProtoError> {
    check_bits(bits)?;
    let mut tuples = PowerTuples {
        bits,
        degree,
        n,
        powers: Vec::new(),
    };
    if degree < 2 {
        return Ok(tuples);
    }
    if n == 0 {
        tuples.powers = vec![Vec::new(); degree];
        return Ok(tuples);
    }
    let m = ring::mask(bits);
    let r: Vec<u64> = (0..n).map(|_| p.rng().next_u64() & m).collect();
    let mut powers = Vec::with_capacity(degree);
    powers.push(r);
    for level in levels(degree) {
        let mut xs = Vec::with_capacity(n * level.len());
        let mut ys = Vec::with_capacity(n * level.len());
        for &(a, b) in &level {
            xs.extend_from_slice(&powers[a - 1]);
            ys.extend_from_slice(&powers[b - 1]);
        }
        let prod = mult_ring_squares(p, bits, &xs, &ys, n * squares(&level))?;
        powers.extend(prod.chunks_exact(n).map(<[u64]>::to_vec));
    }
    debug_assert_eq!(powers.len(), degree);
    tuples.powers = powers;
    Ok(tuples)
}

/// The number of ℓ-bit elements in one chunk of the exchange.
fn chunk_elems(bits: u32) -> usize {
    EXCHANGE_CHUNK_BYTES * 8 / bits as usize
}

/// Exact cost of `online`.
pub fn online_cost(n: usize, degree: usize, bits: u32) -> Cost {
    if !valid_bits(bits) || degree < 2 || n == 0 {
        return Cost::ZERO;
    }
    let per = chunk_elems(bits);
    let (full, rest) = (n / per, n % per);
    let bytes = (full * packed_len(per, bits) + packed_len(rest, bits)) as u64;
    Cost::bytes(bytes, bytes, (full + usize::from(rest > 0)) as u64)
}

/// Opens the shared vector whose shares are `mine` (ℓ-bit values) in chunked exchanges: per
/// chunk both parties send their part in the same flight (the client's flush is joint), then
/// read the peer's. Returns the opened values.
fn exchange(p: &mut Party, mine: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError> {
    let per = chunk_elems(bits);
    let mut opened = Vec::with_capacity(mine.len());
    let mut out = Vec::with_capacity(packed_len(per.min(mine.len()), bits));
    let mut theirs = vec![0u8; packed_len(per.min(mine.len()), bits)];
    for chunk in mine.chunks(per) {
        let mut w = BitWriter::new(&mut out);
        for &v in chunk {
            w.push(v, bits);
        }
        w.finish();
        p.io.send(&out)?;
        if p.is_server() {
            p.io.end_flight()?;
        } else {
            p.io.end_exchange()?;
        }
        let buf = &mut theirs[..packed_len(chunk.len(), bits)];
        p.io.recv(buf)?;
        let mut r = BitReader::new(buf);
        opened.extend(chunk.iter().map(|&a| ring::add(a, r.next(bits), bits)));
    }
    Ok(opened)
}

/// Binomial coefficients C(k, j) mod 2^64 for 0 ≤ j ≤ k ≤ d (Pascal's triangle in wrapping
/// arithmetic, so exact mod 2^ℓ for every ℓ ≤ 64), row-major in a (d+1)×(d+1) table.
fn binomials(d: usize) -> Vec<u64> {
    let w = d + 1;
    let mut c = vec![0u64; w * w];
    for k in 0..=d {
        c[k * w] = 1;
        for j in 1..=k {
            c[k * w + j] = c[(k - 1) * w + j - 1].wrapping_add(c[(k - 1) * w + j]);
        }
    }
    c
}

/// Online phase: opens m = x − r (both parties send their share of x − r in the SAME flight —
/// one exchange), then locally out = Σ_j β_j(m)·[r^j] where β_j(m) = Σ_{k≥j} c_k·C(k,j)·m^{k−j}
/// mod 2^ℓ (the Taylor coefficients of the polynomial at m); [r^0] = 1 is the server's (public
/// constants are added by the server only). Consumes the tuples (never reused).
///
/// `coeffs` (ring elements; bits above ℓ are ignored) must have exactly `tuples.degree() + 1`
/// entries — trailing zeros included: the degree is public and fixes the cost of both phases,
/// and a mismatch is a caller's error rather than something to adapt to. `tuples` must come
/// from [`preprocess`] at the same ℓ with `x.len()` elements. On an argument error nothing is
/// sent (the tuples are dropped).
pub fn online(
    p: &mut Party,
    x: &[u64],
    coeffs: &[u64],
    tuples: PowerTuples,
    bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    check_bits(bits)?;
    if tuples.bits != bits {
        return Err(arg(format!(
            "power tuples of a {}-bit ring for a {bits}-bit polynomial",
            tuples.bits
        )));
    }
    if x.len() != tuples.n {
        return Err(arg(format!(
            "{} inputs for {} power tuples",
            x.len(),
            tuples.n
        )));
    }
    if coeffs.len() != tuples.degree + 1 {
        return Err(arg(format!(
            "{} coefficients for power tuples of degree {} (expected {})",
            coeffs.len(),
            tuples.degree,
            tuples.degree + 1
        )));
    }
    let d = tuples.degree;
    let server = p.is_server();
    if d < 2 {
        let c0 = if server { coeffs[0] } else { 0 };
        let c1 = coeffs.get(1).copied().unwrap_or(0);
        return Ok(x
            .iter()
            .map(|&v| ring::reduce(c1.wrapping_mul(v).wrapping_add(c0), bits))
            .collect());
    }
    let powers = tuples.powers;
    let mine: Vec<u64> = x
        .iter()
        .zip(&powers[0])
        .map(|(&v, &r)| ring::sub(v, r, bits))
        .collect();
    let m = exchange(p, &mine, bits)?;
    drop(mine);
    // a[j][k] = c_k·C(k, j): β_j(m) = Σ_{k ≥ j} a[j][k]·m^(k−j), by Horner from k = d down.
    let w = d + 1;
    let binom = binomials(d);
    let mut a = vec![0u64; w * w];
    for j in 0..=d {
        for k in j..=d {
            a[j * w + k] = coeffs[k].wrapping_mul(binom[k * w + j]);
        }
    }
    let first = usize::from(!server); // the client has no share of r^0 = 1
    let eval = |i: usize| -> u64 {
        let mi = m[i];
        let mut acc = 0u64;
        for j in first..=d {
            let row = &a[j * w..(j + 1) * w];
            let beta = row[j..]
                .iter()
                .rev()
                .fold(0u64, |b, &c| b.wrapping_mul(mi).wrapping_add(c));
            let rj = if j == 0 { 1 } else { powers[j - 1][i] };
            acc = acc.wrapping_add(beta.wrapping_mul(rj));
        }
        ring::reduce(acc, bits)
    };
    Ok(if x.len() < 2 * PAR_MIN_LEN {
        (0..x.len()).map(eval).collect()
    } else {
        (0..x.len())
            .into_par_iter()
            .with_min_len(PAR_MIN_LEN)
            .map(eval)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed;
    use crate::net::Stats;
    use crate::ot::OtKind;
    use crate::testkit::pair::{run_mem, run_tcp};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn measured(s: &Stats, c: &Stats) -> Cost {
        Cost::measured(s, c)
    }

    fn ceil_log2(d: usize) -> u64 {
        u64::from(d.next_power_of_two().trailing_zeros())
    }

    /// Σ_k c_k·x^k mod 2^ℓ with the powers spelled out (independent of `fixed::poly`'s
    /// Horner).
    fn naive_poly(x: u64, coeffs: &[u64], bits: u32) -> u64 {
        let mut acc = 0u64;
        let mut pow = 1u64;
        for &c in coeffs {
            acc = acc.wrapping_add(c.wrapping_mul(pow));
            pow = pow.wrapping_mul(x);
        }
        ring::reduce(acc, bits)
    }

    #[test]
    fn fixed_poly_is_the_power_sum() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for bits in [1u32, 2, 8, 31, 37, 63, 64] {
            let m = ring::mask(bits);
            for d in 0..=6 {
                let coeffs: Vec<u64> = (0..=d).map(|_| rng.next_u64() & m).collect();
                let x: Vec<u64> = [0, 1, m, m >> 1]
                    .into_iter()
                    .chain((0..50).map(|_| rng.next_u64() & m))
                    .collect();
                let got = fixed::poly(&x, &coeffs, bits);
                for (&v, &g) in x.iter().zip(&got) {
                    assert_eq!(g, naive_poly(v, &coeffs, bits), "bits {bits} d {d} x {v}");
                }
            }
        }
        assert_eq!(fixed::poly(&[3, 5], &[], 8), vec![0, 0]);
        // 2 + 3x + x² at x = 10 in Z_2^8: 132; at x = 255 (−1): 0.
        assert_eq!(fixed::poly(&[10, 255], &[2, 3, 1], 8), vec![132, 0]);
    }

    #[test]
    fn binomials_wrap_without_panicking() {
        let c = binomials(70);
        let w = 71;
        assert_eq!(c[4 * w + 2], 6);
        assert_eq!(c[6 * w + 3], 20);
        assert_eq!(c[66 * w + 33], 7_219_428_434_016_265_740); // C(66, 33) < 2^63
        // C(68, 34) = 28453041475240576740 ≥ 2^64: kept mod 2^64.
        assert_eq!(
            c[68 * w + 34],
            (28_453_041_475_240_576_740u128 % (1u128 << 64)) as u64
        );
    }

    /// Preprocessing gives shares of r, r², …, r^d (R_k = R_1^k mod 2^ℓ) and costs what
    /// `preprocess_cost` says: ⌈log2 d⌉ `mult_ring` calls.
    #[test]
    fn preprocess_makes_powers_of_the_mask_at_its_cost() {
        let cases: Vec<(usize, u32, usize)> = [2usize, 3, 4, 5, 6]
            .into_iter()
            .flat_map(|d| {
                [8u32, 17, 40, 64]
                    .into_iter()
                    .flat_map(move |b| [1usize, 3, 300].map(|n| (d, b, n)))
            })
            .collect();
        let run = run_mem(|p| {
            let mut res = Vec::new();
            for &(d, bits, n) in &cases {
                p.io.end_flight()?;
                let before = p.stats();
                let t = preprocess(p, n, d, bits)?;
                p.io.end_flight()?;
                res.push((t, p.stats() - before));
            }
            Ok(res)
        })
        .expect("runs");
        for (((d, bits, n), (ts, ss)), (tc, cs)) in cases.iter().zip(&run.server).zip(&run.client) {
            let (d, bits, n) = (*d, *bits, *n);
            assert_eq!((ts.len(), ts.degree(), ts.bits()), (n, d, bits));
            assert_eq!(ts.powers.len(), d);
            let r: Vec<u64> = (0..n)
                .map(|i| ring::add(ts.powers[0][i], tc.powers[0][i], bits))
                .collect();
            for k in 1..=d {
                let (s, c) = (&ts.powers[k - 1], &tc.powers[k - 1]);
                assert_eq!((s.len(), c.len()), (n, n));
                for (i, &ri) in r.iter().enumerate() {
                    let got = ring::add(s[i], c[i], bits);
                    let want = (0..k).fold(1u64, |a, _| a.wrapping_mul(ri));
                    assert_eq!(
                        got,
                        ring::reduce(want, bits),
                        "d {d} bits {bits} n {n} k {k} i {i}"
                    );
                }
            }
            let cost = preprocess_cost(n, d, bits).on(OtKind::Iknp);
            assert_eq!(measured(ss, cs), cost, "d {d} bits {bits} n {n}");
            // ⌈log2 d⌉ levels of 3 flights, but 2 for a level of squares alone (r² = r·r).
            assert_eq!(
                cost.rounds,
                super::super::linear::mult_ring_cost(1, bits).rounds * ceil_log2(d) - 1,
                "depth ⌈log2 {d}⌉"
            );
        }
        // Squares cost one cross term: degree 4 at 40 bits takes a third fewer bytes than
        // three products of two cross terms each (to the byte the packing rounds up).
        let products = super::super::linear::mult_ring_cost(3, 40);
        let now = preprocess_cost(1, 4, 40);
        assert!(
            now.total_bytes() * 3 <= products.total_bytes() * 2 + 3,
            "{now:?}"
        );
        assert_eq!(preprocess_cost(0, 4, 40), Cost::ZERO);
        assert_eq!(preprocess_cost(10, 1, 40), Cost::ZERO);
    }

    /// One case's inputs, the same on both parties: x with edge values, its random shares and
    /// random coefficients.
    struct Instance {
        x: Vec<u64>,
        xs: Vec<u64>,
        xc: Vec<u64>,
        coeffs: Vec<u64>,
    }

    fn instance(d: usize, bits: u32, n: usize) -> Instance {
        let mut rng =
            ChaCha20Rng::seed_from_u64((d as u64) << 40 | u64::from(bits) << 32 | n as u64);
        let m = ring::mask(bits);
        let edges = [0, 1 & m, m, m >> 1, ((m >> 1) + 1) & m];
        let x: Vec<u64> = (0..n)
            .map(|i| edges.get(i).copied().unwrap_or_else(|| rng.next_u64() & m))
            .collect();
        let xs: Vec<u64> = (0..n).map(|_| rng.next_u64() & m).collect();
        let xc = x
            .iter()
            .zip(&xs)
            .map(|(&v, &s)| ring::sub(v, s, bits))
            .collect();
        let coeffs = (0..=d).map(|_| rng.next_u64() & m).collect();
        Instance { x, xs, xc, coeffs }
    }

    type Measured = (Vec<u64>, Stats, Stats, u64);

    /// Runs preprocessing then the online phase on every case in one session; per case this
    /// party's output, the stats of each phase and its joint flushes in the online phase.
    fn run_cases(
        cases: &[(usize, u32, usize)],
        tcp: bool,
    ) -> Vec<((usize, u32, usize), Measured, Measured)> {
        let body = |p: &mut Party| -> Result<Vec<Measured>, ProtoError> {
            let mut res = Vec::new();
            for &(d, bits, n) in cases {
                let inst = instance(d, bits, n);
                let mine = if p.is_server() { &inst.xs } else { &inst.xc };
                p.io.end_flight()?;
                let b0 = p.stats();
                let t = preprocess(p, n, d, bits)?;
                p.io.end_flight()?;
                let b1 = p.stats();
                let j1 = p.io.exchanges();
                let out = online(p, mine, &inst.coeffs, t, bits)?;
                p.io.end_flight()?;
                let b2 = p.stats();
                res.push((out, b1 - b0, b2 - b1, p.io.exchanges() - j1));
            }
            Ok(res)
        };
        let run = if tcp { run_tcp(body) } else { run_mem(body) }.expect("runs");
        cases
            .iter()
            .copied()
            .zip(run.server.into_iter().zip(run.client))
            .map(|(c, (s, cl))| (c, s, cl))
            .collect()
    }

    fn check(results: Vec<((usize, u32, usize), Measured, Measured)>) {
        for ((d, bits, n), (outs, pre_s, on_s, joint_s), (outc, pre_c, on_c, joint_c)) in results {
            let inst = instance(d, bits, n);
            let want = fixed::poly(&inst.x, &inst.coeffs, bits);
            let got: Vec<u64> = outs
                .iter()
                .zip(&outc)
                .map(|(&a, &b)| ring::add(a, b, bits))
                .collect();
            assert!(
                outs.iter().chain(&outc).all(|&v| v <= ring::mask(bits)),
                "shares reduced"
            );
            assert_eq!(got, want, "d {d} bits {bits} n {n}");
            assert_eq!(
                measured(&pre_s, &pre_c),
                preprocess_cost(n, d, bits).on(OtKind::Iknp)
            );
            let cost = online_cost(n, d, bits);
            assert_eq!(
                measured(&on_s, &on_c),
                cost,
                "online d {d} bits {bits} n {n}"
            );
            // The exchange: the server's flushes and the client's joint flushes pair up, the
            // client flushes nothing on its own.
            assert_eq!((on_s.flushes, joint_s), (cost.rounds, 0));
            assert_eq!((on_c.flushes, joint_c), (0, cost.rounds));
            if d >= 2 && n > 0 && packed_len(n, bits) <= EXCHANGE_CHUNK_BYTES {
                assert_eq!(cost.rounds, 1, "one flight: d {d} bits {bits} n {n}");
            }
            if d <= 1 || n == 0 {
                assert_eq!(cost, Cost::ZERO);
            }
        }
    }

    /// The two-party result equals `fixed::poly` bit for bit and both phases cost exactly what
    /// their cost functions say, at degrees 0..=6 and widths 1 to 64.
    #[test]
    fn online_matches_fixed_poly_and_costs() {
        let cases: Vec<(usize, u32, usize)> = (0..=6usize)
            .flat_map(|d| {
                [1u32, 8, 16, 37, 64]
                    .into_iter()
                    .flat_map(move |b| [0usize, 1, 3, 1000].map(|n| (d, b, n)))
            })
            .collect();
        check(run_cases(&cases, false));
    }

    /// A vector far larger than one chunk, over loopback TCP: several exchanges, no deadlock,
    /// still bit-exact and cost-exact. Also the boundary sizes around one chunk.
    #[test]
    fn online_chunks_large_vectors_over_tcp() {
        let per = chunk_elems(40);
        let cases = [
            (3usize, 40u32, 100_000usize),
            (2, 40, per),
            (2, 40, per + 1),
            (2, 64, 2 * chunk_elems(64)),
        ];
        let c = online_cost(100_000, 3, 40);
        assert_eq!(c.rounds, 100_000u64.div_ceil(per as u64));
        assert!(c.rounds > 1);
        assert_eq!(online_cost(per, 2, 40).rounds, 1);
        assert_eq!(online_cost(per + 1, 2, 40).rounds, 2);
        assert!(packed_len(per, 40) <= EXCHANGE_CHUNK_BYTES);
        assert!(packed_len(per + 1, 40) > EXCHANGE_CHUNK_BYTES);
        check(run_cases(&cases, true));
    }

    /// PILLAR's poly_relu 0.314453125 + 0.5x + 0.15625x² − 0.0029296875x⁴ (coefficients
    /// (322, 512, 160, 0, −3) at 10 fraction bits), x at 8 fraction bits in a 48-bit ring, the
    /// coefficients pre-scaled by 2^((4−k)·8) so every term lands at scale 2^(4·8+10): the
    /// protocol equals `fixed::poly`, which decodes to the float polynomial.
    #[test]
    fn pillar_poly_relu_at_fixed_point() {
        const BITS: u32 = 48;
        const FX: u32 = 8;
        const FC: u32 = 10;
        let c = [322i64, 512, 160, 0, -3];
        let coeffs: Vec<u64> = c
            .iter()
            .enumerate()
            .map(|(k, &ck)| ring::from_signed(ck << ((4 - k as u32) * FX), BITS))
            .collect();
        // Every 8-fraction-bit point of [−5, 5].
        let xs: Vec<f64> = (-5 * 256..=5 * 256).map(|i| i as f64 / 256.0).collect();
        let x: Vec<u64> = xs
            .iter()
            .map(|&v| ring::from_signed((v * f64::from(1 << FX)).round() as i64, BITS))
            .collect();
        let want = fixed::poly(&x, &coeffs, BITS);
        let scale = 2f64.powi((4 * FX + FC) as i32);
        for (&v, &w) in xs.iter().zip(&want) {
            let float = c
                .iter()
                .enumerate()
                .map(|(k, &ck)| ck as f64 / f64::from(1 << FC) * v.powi(k as i32))
                .sum::<f64>();
            let decoded = ring::to_signed(w, BITS) as f64 / scale;
            assert!(
                (decoded - float).abs() < 1e-6,
                "x {v}: {decoded} vs {float}"
            );
        }
        let n = x.len();
        let mut rng = ChaCha20Rng::seed_from_u64(48);
        let xs_share: Vec<u64> = (0..n).map(|_| rng.next_u64() & ring::mask(BITS)).collect();
        let xc_share: Vec<u64> = x
            .iter()
            .zip(&xs_share)
            .map(|(&v, &s)| ring::sub(v, s, BITS))
            .collect();
        let run = run_mem(|p| {
            let t = preprocess(p, n, 4, BITS)?;
            p.io.end_flight()?;
            let before = p.stats();
            let mine = if p.is_server() { &xs_share } else { &xc_share };
            let out = online(p, mine, &coeffs, t, BITS)?;
            p.io.end_flight()?;
            Ok((out, p.stats() - before))
        })
        .expect("runs");
        let got: Vec<u64> = run
            .server
            .0
            .iter()
            .zip(&run.client.0)
            .map(|(&a, &b)| ring::add(a, b, BITS))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            measured(&run.server.1, &run.client.1),
            online_cost(n, 4, BITS)
        );
        assert_eq!(
            run.measured(),
            preprocess_cost(n, 4, BITS)
                .then(online_cost(n, 4, BITS))
                .on(OtKind::Iknp)
        );
    }

    /// Two preprocessing calls draw independent masks.
    #[test]
    fn masks_are_fresh() {
        let n = 64;
        let run = run_mem(|p| {
            let a = preprocess(p, n, 2, 64)?;
            let b = preprocess(p, n, 2, 64)?;
            Ok((a.powers[0].clone(), b.powers[0].clone()))
        })
        .expect("runs");
        let r = |s: &[u64], c: &[u64]| -> Vec<u64> {
            s.iter().zip(c).map(|(&a, &b)| a.wrapping_add(b)).collect()
        };
        let (r1, r2) = (
            r(&run.server.0, &run.client.0),
            r(&run.server.1, &run.client.1),
        );
        // Equal 64-bit masks at some position, or repeated ones within a call, would happen
        // with probability below 2^−50.
        assert!(r1.iter().zip(&r2).all(|(a, b)| a != b), "a mask was reused");
        let mut all: Vec<u64> = r1.iter().chain(&r2).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 2 * n);
    }

    /// Inconsistent arguments are refused on both sides before anything is sent.
    #[test]
    fn argument_mismatches_are_refused_without_sending() {
        let run = run_mem(|p| {
            let x = vec![1u64; 4];
            let c3 = [1u64, 2, 3];
            let mut tuples: Vec<PowerTuples> = (0..4)
                .map(|_| preprocess(p, 4, 2, 16))
                .collect::<Result<_, _>>()?;
            p.io.end_flight()?;
            let before = p.stats();
            let mut refused = Vec::new();
            let mut is_arg = |r: Result<Vec<u64>, ProtoError>| {
                refused.push(matches!(r, Err(ProtoError::Argument(_))));
            };
            is_arg(online(p, &x[..3], &c3, tuples.pop().unwrap(), 16)); // length
            is_arg(online(p, &x, &[1, 2, 3, 4], tuples.pop().unwrap(), 16)); // degree
            is_arg(online(p, &x, &c3[..2], tuples.pop().unwrap(), 16)); // degree
            is_arg(online(p, &x, &c3, tuples.pop().unwrap(), 17)); // width
            let t0 = preprocess(p, 4, 0, 16)?;
            is_arg(online(p, &x, &[], t0, 16)); // no coefficients
            let t1 = preprocess(p, 4, 1, 16)?;
            is_arg(online(p, &x, &c3[..2], t1, 0)); // width 0
            refused.push(matches!(
                preprocess(p, 4, 3, 0),
                Err(ProtoError::Argument(_))
            ));
            refused.push(matches!(
                preprocess(p, 4, 3, 65),
                Err(ProtoError::Argument(_))
            ));
            p.io.end_flight()?;
            Ok((refused, p.stats() - before))
        })
        .expect("runs");
        for (refused, stats) in [&run.server, &run.client] {
            assert!(refused.iter().all(|&r| r), "{refused:?}");
            assert_eq!(refused.len(), 8);
            assert_eq!((stats.bytes_sent, stats.bytes_received), (0, 0));
            assert_eq!(stats.flushes, 0);
        }
        assert_eq!(online_cost(10, 3, 0), Cost::ZERO);
        assert_eq!(preprocess_cost(10, 3, 65), Cost::ZERO);
    }

    /// Degree ≤ 1 is local: c0 + c1·x with no interaction, tuples or not.
    #[test]
    fn affine_polynomials_are_local() {
        let x = [5u64, 250, 0];
        let run = run_mem(|p| {
            let mine: Vec<u64> = if p.is_server() {
                vec![2, 200, 255]
            } else {
                vec![3, 50, 1]
            };
            let t = preprocess(p, 3, 1, 8)?;
            let a = online(p, &mine, &[7, 3], t, 8)?;
            let t = preprocess(p, 3, 0, 8)?;
            let b = online(p, &mine, &[9], t, 8)?;
            Ok((a, b))
        })
        .expect("runs");
        assert_eq!(run.measured(), Cost::ZERO);
        let sum = |a: &[u64], b: &[u64]| -> Vec<u64> {
            a.iter().zip(b).map(|(&u, &v)| ring::add(u, v, 8)).collect()
        };
        assert_eq!(
            sum(&run.server.0, &run.client.0),
            fixed::poly(&x, &[7, 3], 8)
        );
        assert_eq!(sum(&run.server.1, &run.client.1), vec![9; 3]);
        assert_eq!(online_cost(100, 1, 8), Cost::ZERO);
    }
}
