//! Bit-matrix transpose, the one non-AES hot loop of OT extension: IKNP/KK13 build the
//! matrix column by column (one PRG stream per base OT) and consume it row by row (one row
//! per OT).
//!
//! Layout: a `rows × cols` bit matrix is stored row after row, `cols / 8` bytes per row,
//! bit `c` of a row in byte `c / 8` at bit position `c % 8` (LSB first) — i.e. bit `c % 128`
//! of the little-endian `u128` word `c / 128`.
//!
//! The x86_64 kernel is the movemask transpose: load a 16 × 16 byte tile, transpose it as
//! bytes with four rounds of unpack instructions, after which each register holds one byte
//! column of 16 rows; `pmovmskb` then gathers bit 7 of those 16 bytes — 16 bits of one output
//! row — and a 1-bit left shift brings bit 6 up for the next output row. SSE2 is part of the
//! x86_64 baseline; when the CPU has AVX2 (detected at run time) the same network runs on
//! 256-bit registers holding two 16-row tiles, so one `vpmovmskb` yields 32 bits of an output
//! row. Other targets use a portable loop.

/// Transposes the `rows × cols` bit matrix `src` into the `cols × rows` matrix `dst`.
/// Both dimensions must be multiples of 128.
pub(crate) fn transpose(src: &[u128], rows: usize, cols: usize, dst: &mut [u128]) {
    assert!(
        rows.is_multiple_of(128) && cols.is_multiple_of(128),
        "transpose of a {rows} x {cols} matrix"
    );
    assert!(src.len() >= rows * cols / 128 && dst.len() >= rows * cols / 128);
    let src = &super::prim::as_bytes(src)[..rows * cols / 8];
    let dst = &mut super::prim::as_bytes_mut(dst)[..rows * cols / 8];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the sizes were checked above.
        unsafe { avx2::transpose(src, rows, cols, dst) };
    } else {
        // SAFETY: SSE2 is part of the x86_64 baseline; the sizes were checked above.
        unsafe { sse2::transpose(src, rows, cols, dst) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    portable(src, rows, cols, dst);
}

/// Bit-by-bit reference transpose on the same layout (also the fallback off x86_64).
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
pub(crate) fn portable(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
    let (sb, db) = (cols / 8, rows / 8);
    dst[..cols * db].fill(0);
    for r in 0..rows {
        for c in 0..cols {
            let bit = (src[r * sb + c / 8] >> (c % 8)) & 1;
            dst[c * db + r / 8] |= bit << (r % 8);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// `src` and `dst` must hold `rows * cols / 8` bytes, with `rows` and `cols` multiples of
    /// 128 (checked by the caller), and the CPU must support SSE2.
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn transpose(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
        let (sb, db) = (cols / 8, rows / 8);
        let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
        for rb in 0..rows / 16 {
            for cb in 0..sb / 16 {
                let mut v = [_mm_setzero_si128(); 16];
                for (k, vk) in v.iter_mut().enumerate() {
                    // SAFETY: row rb·16 + k < rows and byte cb·16 + 15 < sb, so the 16 bytes
                    // lie inside `src`; loadu has no alignment requirement.
                    *vk = unsafe { _mm_loadu_si128(sp.add((rb * 16 + k) * sb + cb * 16).cast()) };
                }
                let w = bytes16x16(&v);
                for (c, &wc) in w.iter().enumerate() {
                    let mut x = wc;
                    let out_row = 8 * (cb * 16 + c);
                    for b in (0..8).rev() {
                        let bits = _mm_movemask_epi8(x) as u16;
                        // SAFETY: output row out_row + b < cols and bytes rb·2, rb·2 + 1 < db,
                        // so both bytes lie inside `dst`.
                        unsafe {
                            dp.add((out_row + b) * db + rb * 2)
                                .cast::<u16>()
                                .write_unaligned(bits.to_le())
                        };
                        x = _mm_slli_epi64::<1>(x);
                    }
                }
            }
        }
    }

    /// Transposes a 16 × 16 byte tile: out[c] byte k = v[k] byte c.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn bytes16x16(v: &[__m128i; 16]) -> [__m128i; 16] {
        // Round 1: pairs of rows, byte-interleaved; t[k] = cols 0..8, t[k+8] = cols 8..16.
        let mut t = [_mm_setzero_si128(); 16];
        for k in 0..8 {
            t[k] = _mm_unpacklo_epi8(v[2 * k], v[2 * k + 1]);
            t[k + 8] = _mm_unpackhi_epi8(v[2 * k], v[2 * k + 1]);
        }
        // Round 2: groups of four rows; s[4g + k] = column group g (4 columns), rows 4k..4k+4.
        let mut s = [_mm_setzero_si128(); 16];
        for k in 0..4 {
            s[k] = _mm_unpacklo_epi16(t[2 * k], t[2 * k + 1]);
            s[k + 4] = _mm_unpackhi_epi16(t[2 * k], t[2 * k + 1]);
            s[k + 8] = _mm_unpacklo_epi16(t[8 + 2 * k], t[8 + 2 * k + 1]);
            s[k + 12] = _mm_unpackhi_epi16(t[8 + 2 * k], t[8 + 2 * k + 1]);
        }
        // Rounds 3 and 4: eight rows, then all sixteen, per column.
        let mut w = [_mm_setzero_si128(); 16];
        for g in 0..4 {
            let p = _mm_unpacklo_epi32(s[4 * g], s[4 * g + 1]);
            let q = _mm_unpackhi_epi32(s[4 * g], s[4 * g + 1]);
            let p2 = _mm_unpacklo_epi32(s[4 * g + 2], s[4 * g + 3]);
            let q2 = _mm_unpackhi_epi32(s[4 * g + 2], s[4 * g + 3]);
            w[4 * g] = _mm_unpacklo_epi64(p, p2);
            w[4 * g + 1] = _mm_unpackhi_epi64(p, p2);
            w[4 * g + 2] = _mm_unpacklo_epi64(q, q2);
            w[4 * g + 3] = _mm_unpackhi_epi64(q, q2);
        }
        w
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// As `sse2::transpose`, and the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose(src: &[u8], rows: usize, cols: usize, dst: &mut [u8]) {
        let (sb, db) = (cols / 8, rows / 8);
        let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
        for rb in 0..rows / 32 {
            for cb in 0..sb / 16 {
                let mut v = [_mm256_setzero_si256(); 16];
                for (k, vk) in v.iter_mut().enumerate() {
                    // SAFETY: rows rb·32 + k and rb·32 + 16 + k are < rows and byte
                    // cb·16 + 15 < sb: both 16-byte loads lie inside `src`.
                    let (lo, hi) = unsafe {
                        (
                            _mm_loadu_si128(sp.add((rb * 32 + k) * sb + cb * 16).cast()),
                            _mm_loadu_si128(sp.add((rb * 32 + 16 + k) * sb + cb * 16).cast()),
                        )
                    };
                    *vk = _mm256_set_m128i(hi, lo);
                }
                let w = bytes16x16x2(&v);
                for (c, &wc) in w.iter().enumerate() {
                    let mut x = wc;
                    let out_row = 8 * (cb * 16 + c);
                    for b in (0..8).rev() {
                        let bits = _mm256_movemask_epi8(x) as u32;
                        // SAFETY: output row out_row + b < cols and bytes rb·4 .. rb·4 + 3 < db.
                        unsafe {
                            dp.add((out_row + b) * db + rb * 4)
                                .cast::<u32>()
                                .write_unaligned(bits.to_le())
                        };
                        x = _mm256_slli_epi64::<1>(x);
                    }
                }
            }
        }
    }

    /// The 16 × 16 byte transpose of `sse2::bytes16x16`, on both 128-bit lanes at once.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn bytes16x16x2(v: &[__m256i; 16]) -> [__m256i; 16] {
        let mut t = [_mm256_setzero_si256(); 16];
        for k in 0..8 {
            t[k] = _mm256_unpacklo_epi8(v[2 * k], v[2 * k + 1]);
            t[k + 8] = _mm256_unpackhi_epi8(v[2 * k], v[2 * k + 1]);
        }
        let mut s = [_mm256_setzero_si256(); 16];
        for k in 0..4 {
            s[k] = _mm256_unpacklo_epi16(t[2 * k], t[2 * k + 1]);
            s[k + 4] = _mm256_unpackhi_epi16(t[2 * k], t[2 * k + 1]);
            s[k + 8] = _mm256_unpacklo_epi16(t[8 + 2 * k], t[8 + 2 * k + 1]);
            s[k + 12] = _mm256_unpackhi_epi16(t[8 + 2 * k], t[8 + 2 * k + 1]);
        }
        let mut w = [_mm256_setzero_si256(); 16];
        for g in 0..4 {
            let p = _mm256_unpacklo_epi32(s[4 * g], s[4 * g + 1]);
            let q = _mm256_unpackhi_epi32(s[4 * g], s[4 * g + 1]);
            let p2 = _mm256_unpacklo_epi32(s[4 * g + 2], s[4 * g + 3]);
            let q2 = _mm256_unpackhi_epi32(s[4 * g + 2], s[4 * g + 3]);
            w[4 * g] = _mm256_unpacklo_epi64(p, p2);
            w[4 * g + 1] = _mm256_unpackhi_epi64(p, p2);
            w[4 * g + 2] = _mm256_unpacklo_epi64(q, q2);
            w[4 * g + 3] = _mm256_unpackhi_epi64(q, q2);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn matches_the_bitwise_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (rows, cols) in [(128, 128), (128, 1024), (256, 384), (640, 256)] {
            let mut src = vec![0u128; rows * cols / 128];
            for w in src.iter_mut() {
                *w = (rng.next_u64() as u128) << 64 | rng.next_u64() as u128;
            }
            let mut fast = vec![0u128; rows * cols / 128];
            transpose(&src, rows, cols, &mut fast);
            let mut slow = vec![0u8; rows * cols / 8];
            portable(super::super::prim::as_bytes(&src), rows, cols, &mut slow);
            assert_eq!(
                super::super::prim::as_bytes(&fast),
                &slow[..],
                "{rows}x{cols}"
            );
            // Transposing twice is the identity.
            let mut back = vec![0u128; rows * cols / 128];
            transpose(&fast, cols, rows, &mut back);
            assert_eq!(back, src);
        }
    }

    /// Throughput probe: `cargo test --release -- --ignored --nocapture transpose_speed`.
    #[test]
    #[ignore]
    fn transpose_speed() {
        let (rows, cols) = (128, 1 << 13);
        let src = vec![0x1234_5678_9abc_def0_0fed_cba9_8765_4321u128; rows * cols / 128];
        let mut dst = vec![0u128; rows * cols / 128];
        let t = std::time::Instant::now();
        let reps = 2000;
        for _ in 0..reps {
            transpose(std::hint::black_box(&src), rows, cols, &mut dst);
        }
        let per = t.elapsed().as_secs_f64() / (reps * cols) as f64;
        println!(
            "transpose 128 x {cols}: {:.2} ns per 128-bit row",
            per * 1e9
        );
    }
}
