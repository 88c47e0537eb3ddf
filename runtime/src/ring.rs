//! Z_{2^ℓ} for 1 ≤ ℓ ≤ 64: elements live in the low ℓ bits of a `u64`; the high bits are zero.
//! Signed values use two's complement in ℓ bits.

/// The all-ones mask of the low `bits` bits (`bits` in 1..=64).
#[inline]
pub fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// `x` reduced into Z_{2^bits}.
#[inline]
pub fn reduce(x: u64, bits: u32) -> u64 {
    x & mask(bits)
}

/// The most significant bit of an ℓ-bit element (1 for negative signed values).
#[inline]
pub fn msb(x: u64, bits: u32) -> u64 {
    (x >> (bits - 1)) & 1
}

/// The signed value an ℓ-bit element encodes.
#[inline]
pub fn to_signed(x: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((x << shift) as i64) >> shift
}

/// The ℓ-bit encoding of a signed value (reduced mod 2^ℓ).
#[inline]
pub fn from_signed(v: i64, bits: u32) -> u64 {
    reduce(v as u64, bits)
}

/// a + b in Z_{2^bits}.
#[inline]
pub fn add(a: u64, b: u64, bits: u32) -> u64 {
    reduce(a.wrapping_add(b), bits)
}

/// a − b in Z_{2^bits}.
#[inline]
pub fn sub(a: u64, b: u64, bits: u32) -> u64 {
    reduce(a.wrapping_sub(b), bits)
}

/// a · b in Z_{2^bits}.
#[inline]
pub fn mul(a: u64, b: u64, bits: u32) -> u64 {
    reduce(a.wrapping_mul(b), bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_round_trip_at_every_width() {
        for bits in 1..=64u32 {
            let lo = if bits == 64 {
                i64::MIN
            } else {
                -(1i64 << (bits - 1))
            };
            let hi = if bits == 64 {
                i64::MAX
            } else {
                (1i64 << (bits - 1)) - 1
            };
            for v in [lo, hi, 0, -1i64.max(lo), 1i64.min(hi)] {
                assert_eq!(
                    to_signed(from_signed(v, bits), bits),
                    v,
                    "bits {bits} v {v}"
                );
            }
            assert_eq!(msb(from_signed(lo, bits), bits), 1);
            assert_eq!(msb(from_signed(hi, bits), bits), 0);
        }
    }
}
