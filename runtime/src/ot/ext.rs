//! The OT-extension core shared by IKNP and KK13: W = 128·WORDS base-OT seeds stretched by a
//! PRG into a W × m bit matrix per chunk of m OTs, the receiver's correction matrix U, and the
//! transpose into one W-bit row per OT.
//!
//! IKNP (Y. Ishai, J. Kilian, K. Nissim, E. Petrank, "Extending Oblivious Transfers
//! Efficiently", CRYPTO 2003, §3, semi-honest protocol), W = 128:
//! the receiver holds seed pairs (k_i^0, k_i^1) and choice vector r ∈ {0,1}^m; it sends
//! u_i = G(k_i^0) ⊕ G(k_i^1) ⊕ r for every column i. The sender, holding s ∈ {0,1}^W and
//! k_i^{s_i}, computes q_i = G(k_i^{s_i}) ⊕ s_i·u_i = t_i ⊕ s_i·r with t_i = G(k_i^0).
//! Transposed, row j satisfies q_j = t_j ⊕ r_j·s.
//!
//! KK13 (V. Kolesnikov, R. Kumaresan, "Improved OT Extension for Transferring Short
//! Secrets", CRYPTO 2013, §4), W = 256: the same with column i of the receiver's codeword
//! matrix in place of r, so that q_j = t_j ⊕ (C(r_j) ∧ s) for a code C of distance ≥ 128.
//!
//! Every chunk consumes fresh PRG blocks (`offset` only grows) and advances the OT counter
//! used as hash tweak, so no correlation can be produced twice. A fork (`fork(stream)`) keeps
//! the base seeds and s but draws its PRG blocks from its own stream (the high 64 bits of the
//! AES-CTR block) with fresh counters, so the two parties' forks of one task stay in step
//! whatever order other tasks run in, and no block or tweak is shared between streams.

use std::sync::Arc;

use super::prim::{Prg, as_bytes, as_bytes_mut};
use super::transpose::transpose;
use crate::net::NetError;
use crate::net::Wire;

/// OTs per chunk: the matrices of one chunk (W·CHUNK bits each) stay in L2.
pub(crate) const CHUNK: usize = 1 << 14;

fn round128(n: usize) -> usize {
    n.div_ceil(128) * 128
}

/// The receiver's choice columns for one chunk.
pub(crate) enum Choices<'a> {
    /// IKNP: every column is the choice vector r (m/128 words).
    Same(&'a [u128]),
    /// KK13: W columns of m/128 words each (the transposed codewords).
    PerColumn(&'a [u128]),
}

/// The extension receiver: holds both seeds of every base OT.
pub(crate) struct ExtReceiver<const WORDS: usize> {
    prg: Arc<[[Prg; 2]]>,
    stream: u64,
    offset: u64,
    /// OTs produced so far: the tweak of the next OT.
    pub(crate) count: u64,
    t0: Vec<u128>,
    t1: Vec<u128>,
    u: Vec<u8>,
    rows: Vec<u128>,
}

/// The extension sender: holds s and the seed k_i^{s_i} of every base OT.
pub(crate) struct ExtSender<const WORDS: usize> {
    prg: Arc<[Prg]>,
    stream: u64,
    /// The secret column-selection vector s (the IKNP Δ).
    pub(crate) s: [u128; WORDS],
    offset: u64,
    /// OTs produced so far: the tweak of the next OT.
    pub(crate) count: u64,
    q: Vec<u128>,
    u: Vec<u8>,
    rows: Vec<u128>,
}

impl<const WORDS: usize> ExtReceiver<WORDS> {
    const W: usize = 128 * WORDS;

    pub(crate) fn new(seeds: &[[u128; 2]]) -> Self {
        assert_eq!(seeds.len(), Self::W);
        ExtReceiver {
            prg: seeds
                .iter()
                .map(|[a, b]| [Prg::new(*a), Prg::new(*b)])
                .collect(),
            stream: 0,
            offset: 0,
            count: 0,
            t0: Vec::new(),
            t1: Vec::new(),
            u: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Extends `len ≤ CHUNK` OTs: sends U (W·⌈len/8⌉ bytes, not flushed) and returns the rows
    /// t_j, WORDS words each. The caller hashes them under tweaks `count..count + len` and
    /// then calls [`ExtReceiver::advance`].
    pub(crate) fn chunk(
        &mut self,
        ch: &mut dyn Wire,
        len: usize,
        choices: Choices<'_>,
    ) -> Result<&[u128], NetError> {
        debug_assert!(len > 0 && len <= CHUNK);
        let m = round128(len);
        let cw = m / 128;
        let nb = len.div_ceil(8);
        self.t0.resize(Self::W * cw, 0);
        self.t1.resize(Self::W * cw, 0);
        if nb != 16 * cw {
            self.u.resize(Self::W * nb, 0);
        }
        for (i, [g0, g1]) in self.prg.iter().enumerate() {
            let t0 = &mut self.t0[i * cw..(i + 1) * cw];
            let t1 = &mut self.t1[i * cw..(i + 1) * cw];
            g0.fill(self.stream, self.offset, t0);
            g1.fill(self.stream, self.offset, t1);
            let c = match choices {
                Choices::Same(r) => &r[..cw],
                Choices::PerColumn(cols) => &cols[i * cw..(i + 1) * cw],
            };
            for ((a, b), r) in t1.iter_mut().zip(t0.iter()).zip(c) {
                *a ^= b ^ r;
            }
            if nb != 16 * cw {
                self.u[i * nb..(i + 1) * nb].copy_from_slice(&as_bytes(t1)[..nb]);
            }
        }
        self.offset += cw as u64;
        // In a chunk of whole 128-OT blocks, t1 now is U column after column: send it as is.
        ch.send(if nb == 16 * cw {
            as_bytes(&self.t1)
        } else {
            &self.u
        })?;
        self.rows.resize(m * WORDS, 0);
        transpose(&self.t0, Self::W, m, &mut self.rows);
        Ok(&self.rows[..len * WORDS])
    }

    pub(crate) fn advance(&mut self, len: usize) {
        self.count += len as u64;
    }

    /// The same base seeds on stream `stream` (≠ 0, never used before), from its start.
    pub(crate) fn fork(&self, stream: u64) -> Self {
        ExtReceiver {
            prg: self.prg.clone(),
            stream,
            offset: 0,
            count: 0,
            t0: Vec::new(),
            t1: Vec::new(),
            u: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl<const WORDS: usize> ExtSender<WORDS> {
    const W: usize = 128 * WORDS;

    pub(crate) fn new(seeds: &[u128], s: [u128; WORDS]) -> Self {
        assert_eq!(seeds.len(), Self::W);
        ExtSender {
            prg: seeds.iter().map(|k| Prg::new(*k)).collect(),
            stream: 0,
            s,
            offset: 0,
            count: 0,
            q: Vec::new(),
            u: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Extends `len ≤ CHUNK` OTs: receives U and returns the rows q_j, WORDS words each.
    pub(crate) fn chunk(&mut self, ch: &mut dyn Wire, len: usize) -> Result<&[u128], NetError> {
        debug_assert!(len > 0 && len <= CHUNK);
        let m = round128(len);
        let cw = m / 128;
        let nb = len.div_ceil(8);
        self.q.resize(Self::W * cw, 0);
        self.u.resize(Self::W * nb, 0);
        ch.recv(&mut self.u)?;
        for (i, g) in self.prg.iter().enumerate() {
            let q = &mut self.q[i * cw..(i + 1) * cw];
            g.fill(self.stream, self.offset, q);
            // XOR u_i under a mask rather than a branch: s is the sender's secret.
            let mask = 0u8.wrapping_sub(((self.s[i / 128] >> (i % 128)) & 1) as u8);
            let u = &self.u[i * nb..(i + 1) * nb];
            for (a, b) in as_bytes_mut(q)[..nb].iter_mut().zip(u) {
                *a ^= b & mask;
            }
        }
        self.offset += cw as u64;
        self.rows.resize(m * WORDS, 0);
        transpose(&self.q, Self::W, m, &mut self.rows);
        Ok(&self.rows[..len * WORDS])
    }

    pub(crate) fn advance(&mut self, len: usize) {
        self.count += len as u64;
    }

    /// The same base seeds and s on stream `stream` (≠ 0, never used before), from its start.
    pub(crate) fn fork(&self, stream: u64) -> Self {
        ExtSender {
            prg: self.prg.clone(),
            stream,
            s: self.s,
            offset: 0,
            count: 0,
            q: Vec::new(),
            u: Vec::new(),
            rows: Vec::new(),
        }
    }
}
