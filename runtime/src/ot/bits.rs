//! Bit packing of ℓ-bit values on the wire: values are concatenated LSB first, so n values of
//! ℓ bits take exactly ⌈n·ℓ/8⌉ bytes.

/// Mask of the low `bits` bits (1 ≤ bits ≤ 64).
#[inline]
pub(crate) fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Bytes taken by `count` values of `bits` bits.
pub(crate) fn packed_len(count: usize, bits: u32) -> usize {
    (count as u128 * bits as u128).div_ceil(8) as usize
}

/// Appends ℓ-bit values to a byte vector.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u128,
    nacc: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        out.clear();
        BitWriter {
            out,
            acc: 0,
            nacc: 0,
        }
    }

    /// Appends the low `bits` bits of `v`; `v` must not have higher bits set.
    #[inline]
    pub(crate) fn push(&mut self, v: u64, bits: u32) {
        self.acc |= (v as u128) << self.nacc;
        self.nacc += bits;
        if self.nacc >= 64 {
            self.out.extend_from_slice(&(self.acc as u64).to_le_bytes());
            self.acc >>= 64;
            self.nacc -= 64;
        }
    }

    /// Writes the last partial word.
    pub(crate) fn finish(self) {
        let bytes = self.nacc.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// Reads ℓ-bit values back in order.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u128,
    nacc: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            nacc: 0,
        }
    }

    /// The next `bits`-bit value (zeros past the end of the data).
    #[inline]
    pub(crate) fn next(&mut self, bits: u32) -> u64 {
        if self.nacc < bits {
            let mut w = [0u8; 8];
            if self.pos + 8 <= self.data.len() {
                w.copy_from_slice(&self.data[self.pos..self.pos + 8]);
            } else if self.pos < self.data.len() {
                w[..self.data.len() - self.pos].copy_from_slice(&self.data[self.pos..]);
            }
            self.pos += 8;
            self.acc |= (u64::from_le_bytes(w) as u128) << self.nacc;
            self.nacc += 64;
        }
        let v = self.acc as u64 & mask(bits);
        self.acc >>= bits;
        self.nacc -= bits;
        v
    }
}

/// The `bits`-bit value starting at bit `at` (random access; zeros past the end).
#[inline]
pub(crate) fn get(data: &[u8], at: usize, bits: u32) -> u64 {
    let start = at / 8;
    let mut w = [0u8; 16];
    let end = (start + 16).min(data.len());
    if start < end {
        w[..end - start].copy_from_slice(&data[start..end]);
    }
    (u128::from_le_bytes(w) >> (at % 8)) as u64 & mask(bits)
}

/// Bit `j` of an LSB-first packed bit vector, as 0 or 1.
#[inline]
pub(crate) fn bit(packed: &[u8], j: usize) -> u64 {
    ((packed[j / 8] >> (j % 8)) & 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_width() {
        for bits in 1..=64u32 {
            for n in [0usize, 1, 7, 8, 65, 1000] {
                let vals: Vec<u64> = (0..n as u64)
                    .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(bits) & mask(bits))
                    .collect();
                let mut buf = Vec::new();
                let mut w = BitWriter::new(&mut buf);
                for &v in &vals {
                    w.push(v, bits);
                }
                w.finish();
                assert_eq!(buf.len(), packed_len(n, bits));
                let mut r = BitReader::new(&buf);
                for (i, &v) in vals.iter().enumerate() {
                    assert_eq!(r.next(bits), v);
                    assert_eq!(get(&buf, i * bits as usize, bits), v);
                }
            }
        }
    }
}
