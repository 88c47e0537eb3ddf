//! Cleartext semantics of the multiplication family without comparisons: SiRnn's cross term
//! (Alg. 4), mixed-bitwidth products (UMult/SMult semantics, §IV-C), the matrix product with a
//! server-held weight matrix (Alg. 5, App. D2) and the bit-matrix product (BitMatMul).
//! The two-party protocols in [`crate::proto::linear`] are tested against these functions bit
//! for bit.
//!
//! Reference: D. Rathee, M. Rathee, R. K. K. Goli, D. Gupta, R. Sharma, N. Chandran,
//! A. Rastogi, "SiRnn: A Math Library for Secure RNN Inference", IEEE S&P 2021.
//!
//! ## Signed and unsigned operands
//! An operand is an m-bit encoding (the low m bits of a `u64`) with a [`Format`]: unsigned
//! reads it as uint(x) ∈ [0, 2^m), signed as the two's-complement int(x) ∈ [−2^(m−1), 2^(m−1)).
//! A product is the exact integer val(x)·val(y) reduced mod 2^ℓ, for any output width ℓ.
//! With ℓ ≥ m + n (and ℓ ≥ m + n + ⌈log2 d2⌉ for a matrix product, see [`matmul_out_bits`])
//! nothing is lost: the ℓ-bit result read with the signedness of the exact result (signed if
//! either operand is signed) is the exact integer. This is SMult when both are signed, UMult
//! when both are unsigned, and the mixed cases follow the same rule.

use crate::ring;

/// How an m-bit encoding is read as an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// Width m of the encoding, 1..=64.
    pub bits: u32,
    /// Two's complement if true, unsigned otherwise.
    pub signed: bool,
}

impl Format {
    pub const fn unsigned(bits: u32) -> Format {
        Format {
            bits,
            signed: false,
        }
    }

    pub const fn signed(bits: u32) -> Format {
        Format { bits, signed: true }
    }

    /// The integer the low `bits` bits of `x` encode (higher bits of `x` are ignored).
    pub fn value(self, x: u64) -> i128 {
        let x = ring::reduce(x, self.bits);
        if self.signed {
            ring::to_signed(x, self.bits) as i128
        } else {
            x as i128
        }
    }

    /// val(x) mod 2^ℓ: the encoding zero- or sign-extended (or reduced) to ℓ bits.
    pub fn extend(self, x: u64, out_bits: u32) -> u64 {
        ring::reduce(self.value(x) as u64, out_bits)
    }

    /// The public offset the two-party protocols add to a signed operand to make it unsigned
    /// (SiRnn §IV-C: x' = x + 2^(m−1), uint(x') = int(x) + 2^(m−1)); 0 for unsigned operands.
    pub fn offset(self) -> u64 {
        if self.signed {
            1u64 << (self.bits - 1)
        } else {
            0
        }
    }
}

/// CrossTerm^{m,n,ℓ} (SiRnn Alg. 4): uint(x)·uint(y) mod 2^ℓ for an m-bit x and an n-bit y.
pub fn cross_term(x: u64, y: u64, m: u32, n: u32, out_bits: u32) -> u64 {
    mult(x, Format::unsigned(m), y, Format::unsigned(n), out_bits)
}

/// The product val(x)·val(y) mod 2^ℓ (UMult/SMult semantics; mixed signedness allowed).
pub fn mult(x: u64, xf: Format, y: u64, yf: Format, out_bits: u32) -> u64 {
    ring::reduce(xf.value(x).wrapping_mul(yf.value(y)) as u64, out_bits)
}

/// The product in one ring: x·y mod 2^ℓ (what SCI calls the ℓ×ℓ→ℓ multiplication).
pub fn mult_ring(x: u64, y: u64, bits: u32) -> u64 {
    ring::mul(x, y, bits)
}

/// ⌈log2 d⌉ (0 for d ≤ 1): the accumulator growth of a sum of d products.
pub fn ceil_log2(d: usize) -> u32 {
    if d <= 1 {
        0
    } else {
        usize::BITS - (d - 1).leading_zeros()
    }
}

/// The output width SiRnn gives a matrix product of m-bit by n-bit entries over an inner
/// dimension d2: m + n + ⌈log2 d2⌉ (Alg. 5), capped at 64.
pub fn matmul_out_bits(m: u32, n: u32, d2: usize) -> u32 {
    (m + n + ceil_log2(d2)).min(64)
}

/// Matrix dimensions of X (d1×d2) · W (d2×d3); matrices are row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatDims {
    pub d1: usize,
    pub d2: usize,
    pub d3: usize,
}

impl MatDims {
    pub const fn new(d1: usize, d2: usize, d3: usize) -> MatDims {
        MatDims { d1, d2, d3 }
    }

    pub fn x_len(&self) -> usize {
        self.d1 * self.d2
    }

    pub fn w_len(&self) -> usize {
        self.d2 * self.d3
    }

    pub fn out_len(&self) -> usize {
        self.d1 * self.d3
    }
}

/// The matrix product: out[i][j] = Σ_k val(X[i][k])·val(W[k][j]) mod 2^ℓ, exact in integers
/// before the reduction (so the summation order does not matter).
pub fn matmul(
    dims: MatDims,
    x: &[u64],
    xf: Format,
    w: &[u64],
    wf: Format,
    out_bits: u32,
) -> Vec<u64> {
    assert_eq!(x.len(), dims.x_len(), "X has the wrong size");
    assert_eq!(w.len(), dims.w_len(), "W has the wrong size");
    // Arithmetic mod 2^64 is exact mod 2^ℓ for ℓ ≤ 64, so the sum of products wraps freely.
    let xv: Vec<u64> = x.iter().map(|&v| xf.value(v) as u64).collect();
    let wv: Vec<u64> = w.iter().map(|&v| wf.value(v) as u64).collect();
    let mut out = vec![0u64; dims.out_len()];
    for i in 0..dims.d1 {
        let row = &xv[i * dims.d2..(i + 1) * dims.d2];
        let acc = &mut out[i * dims.d3..(i + 1) * dims.d3];
        for (k, &a) in row.iter().enumerate() {
            let wrow = &wv[k * dims.d3..(k + 1) * dims.d3];
            for (o, &b) in acc.iter_mut().zip(wrow) {
                *o = o.wrapping_add(a.wrapping_mul(b));
            }
        }
        for o in acc.iter_mut() {
            *o = ring::reduce(*o, out_bits);
        }
    }
    out
}

/// The bit-matrix product (BitMatMul with a public W): out[i][j] = Σ_k B[i][k]·val(W[k][j])
/// mod 2^ℓ for a bit matrix B (one bit per byte).
pub fn bit_matmul(dims: MatDims, b: &[u8], w: &[u64], wf: Format, out_bits: u32) -> Vec<u64> {
    let x: Vec<u64> = b.iter().map(|&v| (v & 1) as u64).collect();
    matmul(dims, &x, Format::unsigned(1), w, wf, out_bits)
}

/// The wrap bit the mixed-bitwidth matrix product needs for one entry of X, from the two
/// m-bit shares: the carry of (x_s + offset) mod 2^m plus x_c, where the offset is
/// [`Format::offset`] (2^(m−1) for signed X, 0 for unsigned). The server adds the offset to its
/// share before the product, so this is exactly what a Wrap protocol on the parties' (offset)
/// shares computes.
pub fn matmul_wrap(x_server: u64, x_client: u64, xf: Format) -> u8 {
    let m = xf.bits;
    let xs = ring::add(x_server, xf.offset(), m) as u128;
    let xc = ring::reduce(x_client, m) as u128;
    (xs + xc >= 1u128 << m) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_edge_values() {
        assert_eq!(Format::signed(8).value(0x80), -128);
        assert_eq!(Format::signed(8).value(0x7f), 127);
        assert_eq!(Format::signed(8).value(0xff), -1);
        assert_eq!(Format::unsigned(8).value(0xff), 255);
        assert_eq!(Format::signed(1).value(1), -1);
        assert_eq!(Format::signed(64).value(1 << 63), i64::MIN as i128);
        assert_eq!(Format::unsigned(64).value(u64::MAX), u64::MAX as i128);
        // High garbage bits are ignored.
        assert_eq!(Format::signed(4).value(0xf7), 7);
        assert_eq!(Format::signed(8).extend(0x80, 16), 0xff80);
        assert_eq!(Format::unsigned(8).extend(0x80, 16), 0x80);
        assert_eq!(Format::signed(16).extend(0x8001, 8), 0x01);
    }

    #[test]
    fn products_are_exact_at_full_width() {
        // SMult 8×8→16 at the extremes: (−128)·(−128) = 16384, (−128)·127 = −16256.
        let s8 = Format::signed(8);
        assert_eq!(mult(0x80, s8, 0x80, s8, 16), 16384);
        assert_eq!(mult(0x80, s8, 0x7f, s8, 16), ring::from_signed(-16256, 16));
        assert_eq!(mult(0xff, s8, 0xff, s8, 16), 1);
        // UMult 8×8→16: 255·255 = 65025.
        assert_eq!(cross_term(0xff, 0xff, 8, 8, 16), 65025);
        // Reduced output width keeps the low bits.
        assert_eq!(cross_term(0xff, 0xff, 8, 8, 8), 65025 & 0xff);
        // 64×64→64: wrapping product.
        assert_eq!(
            cross_term(u64::MAX, u64::MAX, 64, 64, 64),
            u64::MAX.wrapping_mul(u64::MAX)
        );
        // Mixed: unsigned 255 × signed −1 = −255.
        assert_eq!(
            mult(0xff, Format::unsigned(8), 0xff, s8, 17),
            ring::from_signed(-255, 17)
        );
    }

    #[test]
    fn matmul_extremes_fit_the_sirnn_width() {
        // d2 = 100 signed 16-bit products of (−2^15)·(−2^15) = 2^30 each: 100·2^30 < 2^(39−1).
        let d = MatDims::new(1, 100, 1);
        let bits = matmul_out_bits(16, 16, 100);
        assert_eq!(bits, 39);
        let x = vec![0x8000u64; 100];
        let out = matmul(d, &x, Format::signed(16), &x, Format::signed(16), bits);
        assert_eq!(Format::signed(bits).value(out[0]), 100i128 << 30);
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(2), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(32), 5);
        assert_eq!(ceil_log2(33), 6);
        assert_eq!(matmul_out_bits(32, 32, 2), 64);
    }

    #[test]
    fn matmul_wrap_matches_the_offset_shares() {
        let u = Format::unsigned(8);
        let s = Format::signed(8);
        assert_eq!(matmul_wrap(0xff, 1, u), 1);
        assert_eq!(matmul_wrap(0xff, 0, u), 0);
        // Signed: the server's share is shifted by 128 first.
        assert_eq!(matmul_wrap(0x7f, 0x80, s), 1); // 0xff + 0x80
        assert_eq!(matmul_wrap(0x80, 0xff, s), 0); // 0x00 + 0xff
        for (xs, xc) in [(0u64, 0u64), (3, 250), (200, 100), (0x80, 0x80)] {
            let x = ring::add(xs, xc, 8);
            let x_off = ring::add(x, s.offset(), 8);
            let w = matmul_wrap(xs, xc, s) as u64;
            // uint(x + 2^(m−1)) = (x_s + 2^(m−1) mod 2^m) + x_c − 2^m·w
            assert_eq!(
                x_off,
                ring::add(xs, s.offset(), 8) + xc - (w << 8),
                "{xs} {xc}"
            );
        }
    }

    #[test]
    fn bit_matmul_sums_selected_rows() {
        let d = MatDims::new(2, 3, 2);
        let b = [1u8, 0, 1, 0, 1, 1];
        let w = [1u64, 2, 3, 4, 0xff, 0x80]; // signed 8: −1, −128
        let out = bit_matmul(d, &b, &w, Format::signed(8), 16);
        assert_eq!(
            out,
            vec![
                ring::from_signed(1 - 1, 16),
                ring::from_signed(2 - 128, 16),
                ring::from_signed(3 - 1, 16),
                ring::from_signed(4 - 128, 16)
            ]
        );
    }
}
