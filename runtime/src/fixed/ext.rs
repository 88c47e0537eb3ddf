//! Cleartext semantics of the extension and truncation family (SiRnn, Rathee et al., S&P 2021,
//! §IV-A and §IV-B): zero and sign extension m → n, truncate-and-reduce, logical and
//! arithmetic right shift in the same ring, and rounding to nearest. The protocols of
//! `crate::proto::ext` and `crate::proto::trunc` compute exactly these (no ±1 error).

use crate::ring;

/// The signed value of an ℓ-bit element (two's complement).
fn signed(x: u64, bits: u32) -> i64 {
    ring::to_signed(ring::reduce(x, bits), bits)
}

/// Zero extension: the m-bit x as an unsigned integer, in Z_{2^n} (n ≥ m).
pub fn zext(x: u64, m: u32, n: u32) -> u64 {
    ring::reduce(ring::reduce(x, m), n)
}

/// Sign extension: the m-bit x as a signed integer, in Z_{2^n} (n ≥ m).
pub fn sext(x: u64, m: u32, n: u32) -> u64 {
    ring::reduce(signed(x, m) as u64, n)
}

/// Truncate-and-reduce TR^{ℓ,s}: the top ℓ − s bits of the ℓ-bit x, in Z_{2^{ℓ−s}}.
pub fn trunc_reduce(x: u64, bits: u32, s: u32) -> u64 {
    if s >= 64 {
        return 0;
    }
    ring::reduce(x, bits) >> s
}

/// Logical right shift LRS^{ℓ,s} in the same ring: ⌊x / 2^s⌋ for unsigned ℓ-bit x.
pub fn lrs(x: u64, bits: u32, s: u32) -> u64 {
    trunc_reduce(x, bits, s)
}

/// Arithmetic right shift ARS^{ℓ,s} in the same ring: ⌊x / 2^s⌋ for signed ℓ-bit x (rounds
/// toward −∞), as an element of Z_{2^ℓ}.
pub fn ars(x: u64, bits: u32, s: u32) -> u64 {
    let v = signed(x, bits) >> s.min(63);
    ring::reduce(v as u64, bits)
}

/// Arithmetic right shift rounding to nearest (ties up): ARS(x + 2^{s−1}), the addition taken
/// in Z_{2^ℓ} (so the signed maximum's neighbourhood wraps, as in the ring).
pub fn ars_round(x: u64, bits: u32, s: u32) -> u64 {
    if s == 0 {
        return ring::reduce(x, bits);
    }
    ars(ring::add(x, 1u64 << (s - 1), bits), bits, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_values() {
        assert_eq!(zext(0xff, 8, 16), 0xff);
        assert_eq!(sext(0xff, 8, 16), 0xffff);
        assert_eq!(sext(0x7f, 8, 16), 0x7f);
        assert_eq!(sext(0x80, 8, 64), 0xffff_ffff_ffff_ff80);
        assert_eq!(sext(1, 1, 8), 0xff);
        assert_eq!(zext(u64::MAX, 64, 64), u64::MAX);
        assert_eq!(trunc_reduce(0xffff_ffff, 32, 12), 0xfffff);
        assert_eq!(ars(0xffff_ffff, 32, 12), 0xffff_ffff);
        assert_eq!(ars(0x8000_0000, 32, 31), 0xffff_ffff);
        assert_eq!(ars(u64::MAX, 64, 63), u64::MAX);
        assert_eq!(lrs(u64::MAX, 64, 63), 1);
        assert_eq!(ars(0x7fff_ffff, 32, 12), 0x7ffff);
        assert_eq!(ars_round(0x7ff, 32, 12), 0);
        assert_eq!(ars_round(0x800, 32, 12), 1);
        assert_eq!(ars_round(0xffff_f800, 32, 12), 0);
        assert_eq!(ars_round(0xffff_f7ff, 32, 12), 0xffff_ffff);
    }
}
