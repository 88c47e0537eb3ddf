//! AES-based primitives of the OT extension: the AES-128-CTR PRG that stretches base-OT seeds
//! into matrix columns, and the fixed-key correlation-robust hash that turns extension rows
//! into OT outputs. Both run on AES-NI through the `aes` crate (runtime-detected).

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit};

const _: () = assert!(size_of::<aes::Block>() == 16 && align_of::<aes::Block>() == 1);

/// Views 128-bit words as AES blocks (their little-endian bytes on the targets we run on).
pub(crate) fn as_blocks_mut(x: &mut [u128]) -> &mut [aes::Block] {
    // SAFETY: `aes::Block` is `GenericArray<u8, U16>`: 16 bytes, alignment 1, every bit
    // pattern valid; `u128` has no padding. The lifetime and exclusivity carry over.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<aes::Block>(), x.len()) }
}

/// Views 128-bit words as AES blocks, read-only.
pub(crate) fn as_blocks(x: &[u128]) -> &[aes::Block] {
    // SAFETY: as for `as_blocks_mut`.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<aes::Block>(), x.len()) }
}

/// The bytes of 128-bit words, in memory order (little-endian).
pub(crate) fn as_bytes(x: &[u128]) -> &[u8] {
    // SAFETY: u128 has no padding and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u8>(), x.len() * 16) }
}

/// Mutable bytes of 128-bit words, in memory order (little-endian).
pub(crate) fn as_bytes_mut(x: &mut [u128]) -> &mut [u8] {
    // SAFETY: u128 has no padding, u8 has alignment 1 and every byte pattern is a valid u128.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<u8>(), x.len() * 16) }
}

/// AES-128 in counter mode under a base-OT seed: column `i` of the IKNP/KK13 matrices is this
/// stream. A counter block is (stream, counter): an engine's forks ([`super::OtEngine::fork`])
/// share the keys and draw from disjoint streams, and within a stream the caller advances the
/// counter, so no block is ever produced twice.
pub(crate) struct Prg(Aes128);

impl Prg {
    pub(crate) fn new(seed: u128) -> Prg {
        Prg(Aes128::new(&seed.to_le_bytes().into()))
    }

    /// Fills `out` with the blocks `counter..counter + out.len()` of stream `stream`.
    pub(crate) fn fill(&self, stream: u64, counter: u64, out: &mut [u128]) {
        let hi = (stream as u128) << 64;
        for (k, o) in out.iter_mut().enumerate() {
            *o = hi | (counter + k as u64) as u128;
        }
        self.0.encrypt_blocks(as_blocks_mut(out));
    }
}

/// A public, fixed AES key: the permutation π of the hash below. Any constant works; these
/// are the first digits of π.
const FIXED_KEY: u128 = 0x3243_f6a8_885a_308d_3131_98a2_e037_0734;

/// The correlation-robust hash H(τ, x) = π(x ⊕ τ) ⊕ x ⊕ τ with π fixed-key AES-128
/// (Matyas–Meyer–Oseas on a fixed key) and τ a per-OT tweak.
///
/// Why this is enough: in semi-honest IKNP the hashed rows are t_j and t_j ⊕ Δ with t_j
/// uniform and Δ the sender's secret, so the inputs are pairwise distinct except with
/// negligible probability and H only needs correlation robustness (Ishai–Kilian–Nissim–
/// Petrank 2003, §3; Guo–Katz–Wang–Yu, "Efficient and Secure Multiparty Computation from
/// Fixed-Key Block Ciphers", S&P 2020, §7 on what semi-honest OT extension requires). The
/// tweak τ = (domain, OT index) separates OTs, directions and KK13 halves, so no two OTs of a
/// session hash under the same tweak. The tweakable-CR construction of GKWY20 (two AES calls)
/// would be needed against a malicious receiver choosing its rows, which is out of scope.
pub(crate) struct CrHash(Aes128);

impl CrHash {
    pub(crate) fn new() -> CrHash {
        CrHash(Aes128::new(&FIXED_KEY.to_le_bytes().into()))
    }

    /// out[j] = H((domain, first + j), rows[j·stride + word] ⊕ delta), `tweak` = (domain, first).
    pub(crate) fn hash(
        &self,
        (domain, first): (u64, u64),
        rows: &[u128],
        stride: usize,
        word: usize,
        delta: u128,
        out: &mut [u128],
    ) {
        let hi = (domain as u128) << 64;
        // Work in L1-sized groups: the pre-images stay in a stack buffer between the two XORs.
        const G: usize = 64;
        let mut pre = [0u128; G];
        for (g, out) in out.chunks_mut(G).enumerate() {
            let base = g * G;
            let t0 = hi ^ (first + base as u64) as u128;
            let pre = &mut pre[..out.len()];
            if stride == 1 && word == 0 {
                for (k, (p, r)) in pre
                    .iter_mut()
                    .zip(&rows[base..base + out.len()])
                    .enumerate()
                {
                    *p = r ^ delta ^ (t0 + k as u128);
                }
            } else {
                for (k, p) in pre.iter_mut().enumerate() {
                    *p = rows[(base + k) * stride + word] ^ delta ^ (t0 + k as u128);
                }
            }
            // Same lengths by construction, so b2b cannot fail.
            let _ = self
                .0
                .encrypt_blocks_b2b(as_blocks(pre), as_blocks_mut(out));
            for (o, p) in out.iter_mut().zip(pre.iter()) {
                *o ^= p;
            }
        }
    }

    /// The KK13 pad of 256-bit rows, chained over the halves: `lo[k]` becomes
    /// MMO(MMO(lo[k]) ⊕ hi[k]), with MMO(z) = π(z) ⊕ z and the tweaks already XORed into both
    /// halves. Unlike MMO(lo) ⊕ MMO(hi), the result is not a sum of a function of each half, so
    /// unknown bits spread over both halves cannot be attacked half by half.
    pub(crate) fn mmo_chain(&self, lo: &mut [u128], hi: &[u128]) {
        const G: usize = 64;
        let mut mid = [0u128; G];
        for (lo, hi) in lo.chunks_mut(G).zip(hi.chunks(G)) {
            let mid = &mut mid[..lo.len()];
            // mid = MMO(lo) ⊕ hi, then lo = MMO(mid): no copies of the pre-images.
            // Same lengths by construction, so b2b cannot fail.
            let _ = self.0.encrypt_blocks_b2b(as_blocks(lo), as_blocks_mut(mid));
            for ((m, l), h) in mid.iter_mut().zip(lo.iter()).zip(hi) {
                *m ^= l ^ h;
            }
            let _ = self.0.encrypt_blocks_b2b(as_blocks(mid), as_blocks_mut(lo));
            for (l, m) in lo.iter_mut().zip(mid.iter()) {
                *l ^= m;
            }
        }
    }

    /// out[k] = π(pre[k]) ⊕ pre[k]: the hash of inputs whose tweaks are already XORed in.
    pub(crate) fn mmo(&self, pre: &[u128], out: &mut [u128]) {
        // Same lengths by construction, so b2b cannot fail.
        let _ = self
            .0
            .encrypt_blocks_b2b(as_blocks(pre), as_blocks_mut(out));
        for (o, p) in out.iter_mut().zip(pre) {
            *o ^= p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The KK13 pad must not split into f(lo) ⊕ g(hi): for such a hash the XOR of the pads of
    /// (a, b), (a', b), (a, b'), (a', b') is zero, which is what let a receiver attack 64 + 64
    /// unknown bits separately.
    #[test]
    fn kk13_pad_does_not_split_over_halves() {
        let h = CrHash::new();
        let pad = |lo: u128, hi: u128| {
            let mut l = [lo];
            h.mmo_chain(&mut l, &[hi]);
            l[0]
        };
        let (a, a2, b, b2) = (1u128 << 70, 5u128 << 3, 7u128 << 90, 9u128);
        assert_ne!(pad(a, b) ^ pad(a2, b) ^ pad(a, b2) ^ pad(a2, b2), 0);
        // The split construction it replaces fails the same check.
        let mmo = |z: u128| {
            let mut o = [0u128];
            h.mmo(&[z], &mut o);
            o[0]
        };
        let split = |lo: u128, hi: u128| mmo(lo) ^ mmo(hi);
        assert_eq!(split(a, b) ^ split(a2, b) ^ split(a, b2) ^ split(a2, b2), 0);
    }

    #[test]
    fn hash_is_tweaked_and_deterministic() {
        let h = CrHash::new();
        let rows = [1u128, 1, 2];
        let mut a = [0u128; 3];
        h.hash((0, 10), &rows, 1, 0, 0, &mut a);
        assert_ne!(a[0], a[1], "same input, different tweak");
        let mut b = [0u128; 3];
        h.hash((1, 10), &rows, 1, 0, 0, &mut b);
        assert_ne!(a[0], b[0], "different domain");
        let mut c = [0u128; 1];
        h.hash((0, 11), &rows[1..2], 1, 0, 0, &mut c);
        assert_eq!(a[1], c[0]);
    }

    /// AES-NI probe: `cargo test --release -p sir-runtime -- --ignored --nocapture aes_speed`.
    /// Software AES would be an order of magnitude slower than the ~1–2 ns/block of AES-NI.
    #[test]
    #[ignore]
    fn aes_speed() {
        let prg = Prg::new(7);
        let mut buf = vec![0u128; 1 << 16];
        let t = std::time::Instant::now();
        for i in 0..200 {
            prg.fill(0, i << 16, &mut buf);
        }
        let per = t.elapsed().as_secs_f64() / (200.0 * 65536.0);
        println!("AES-128 CTR: {:.2} ns per block", per * 1e9);
    }
}
