//! Silent correlated OT: random COTs with one global Δ from a learning-parity-with-noise
//! expansion of a few base COTs, semi-honest.
//!
//! Reference: K. Yang, C. Weng, X. Lan, J. Zhang, X. Wang, "Ferret: Fast Extension for
//! coRRElated oT with small communication", ACM CCS 2020 (ePrint 2020/924), the semi-honest
//! protocol of Fig. 7 (Π_COT from primal LPN) with the semi-honest GGM-tree SPCOT of §4 and the
//! bootstrapping of §5: every iteration keeps the COTs the next one consumes.
//!
//! A COT here is the correlation of IKNP's rows: the sender holds Δ and K_j, the receiver a
//! choice bit b_j and M_j = K_j ⊕ b_j·Δ. One iteration with parameters (n, k, t, h = log2(n/t))
//! turns k + t·h COTs into n:
//! 1. **SPCOT** per block of m = 2^h positions (t blocks): the sender expands a fresh random
//!    seed into a GGM tree (length-doubling PRG: two fixed-key AES permutations in
//!    Matyas–Meyer–Oseas form); for each level i it sends the XOR of its left and of its right
//!    children under the pads H(K_i), H(K_i ⊕ Δ) of one COT, and last Δ ⊕ the XOR of all
//!    leaves. The receiver's random choice bits b_1..b_h *are* the noise position: α_i = ¬b_i,
//!    so no choice needs correcting; it recovers every leaf off its path level by level and the
//!    leaf at α as v_α ⊕ Δ. So the sender holds s, the receiver e = unit(α) and r = s ⊕ e·Δ,
//!    for h·32 + 16 bytes per block, sender to receiver, in one flight.
//! 2. **LPN** with a local linear code: A is k × n with d = 10 pseudo-random ones per column
//!    (the rows from a public AES-CTR stream); with the first k COTs (v; u, w = v ⊕ u·Δ) the
//!    sender outputs y = v·A ⊕ s, the receiver x = u·A ⊕ e and z = w·A ⊕ r, so z = y ⊕ x·Δ.
//!    Under regular-noise primal LPN x is pseudo-random.
//!
//! Parameters (semi-honest, ≥ 128-bit computational security for regular-noise primal LPN):
//! [`MAIN`] is Ferret's Table 2 set, n = 10,805,248 = 1,319·2^13, k = 589,760, t = 1,319 (by the
//! paper's analysis against the attacks it lists — Pooled Gauss, statistical decoding, ISD,
//! low-weight parity checks; emp-ot, the authors' code, runs the neighbouring 10,608,640 /
//! 589,824 / 1,295). [`SETUP`] is the setup set emp-ot uses today, n = 607,232 = 593·2^10,
//! k = 69,454, t = 593 (noise rate 2^-10), not Table 2's setup set (k = 19,870, t = 2,508:
//! rate 2^-8 on a small secret, the low-k, high-noise shape later attacks on regular noise
//! target, e.g. Briaud–Øygarden, Eurocrypt 2023); its output bootstraps the first [`MAIN`]
//! iteration, and its own k + t·h = 75,384 base COTs come from IKNP. Each [`MAIN`] iteration
//! keeps k + t·h = 606,907 of its n outputs for the next and hands out 10,198,341.
//!
//! Every COT of an iteration's output is handed out once (the pools only move forward); each
//! iteration's base COTs are the previous iteration's reserve, consumed by it alone. The GGM
//! seeds come from the party's ChaCha20 CSPRNG. The code is public and per iteration (the
//! stream and iteration number key the AES-CTR that draws it).

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use super::prim::{CrHash, Prg, as_blocks, as_blocks_mut, as_bytes};
use crate::net::{NetError, Role, Wire};

/// One set of regular-noise primal-LPN parameters: n outputs, k secret coordinates, t noisy
/// blocks of 2^h positions, d ones per column of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpnParams {
    pub n: usize,
    pub k: usize,
    pub t: usize,
    pub h: u32,
    pub d: usize,
}

impl LpnParams {
    /// The base COTs one iteration consumes: k for the LPN secret, h per SPCOT.
    pub const fn base(&self) -> usize {
        self.k + self.t * self.h as usize
    }

    /// Bytes the sender sends in one iteration (the receiver sends none): per block, two
    /// 128-bit level sums per level and the last correction.
    pub const fn sender_bytes(&self) -> u64 {
        (self.t * (self.h as usize * 32 + 16)) as u64
    }
}

/// Ferret's main parameters (Table 2): 10,805,248 COTs per iteration.
pub const MAIN: LpnParams = LpnParams {
    n: 1_319 << 13,
    k: 589_760,
    t: 1_319,
    h: 13,
    d: 10,
};

/// The setup parameters (emp-ot's current setup set, see the module docs): bootstraps
/// [`MAIN`] (606,907 base COTs of its 607,232 outputs) from IKNP's 75,384 COTs.
pub const SETUP: LpnParams = LpnParams {
    n: 593 << 10,
    k: 69_454,
    t: 593,
    h: 10,
    d: 10,
};

// The setup's output must hold a main iteration's base COTs.
const _: () = assert!(SETUP.n >= MAIN.base());

/// The GGM tree's length-doubling PRG: G(x) = (π₀(x) ⊕ x, π₁(x) ⊕ x), π_b fixed-key AES.
struct Ggm {
    left: Aes128,
    right: Aes128,
}

impl Ggm {
    fn new() -> Ggm {
        // Public constants (digits of e and of √2); any fixed distinct keys do.
        Ggm {
            left: Aes128::new(
                &0x2b7e_1516_28ae_d2a6_abf7_1588_09cf_4f3c_u128
                    .to_le_bytes()
                    .into(),
            ),
            right: Aes128::new(
                &0x6a09_e667_f3bc_c908_b2fb_1366_ea95_7d3e_u128
                    .to_le_bytes()
                    .into(),
            ),
        }
    }

    /// Expands `level` (2^i nodes) into `next` (2^{i+1}): children 2j and 2j + 1 of node j.
    fn expand(&self, level: &[u128], next: &mut [u128], scratch: &mut Vec<u128>) {
        let n = level.len();
        scratch.resize(n, 0);
        for (cipher, side) in [(&self.left, 0), (&self.right, 1)] {
            let _ = cipher.encrypt_blocks_b2b(as_blocks(level), as_blocks_mut(scratch));
            for (j, (&x, &p)) in level.iter().zip(scratch.iter()).enumerate() {
                next[2 * j + side] = p ^ x;
            }
        }
    }
}

/// The public code of an iteration: d row indices per column, from AES-CTR keyed by
/// (stream, iteration), reduced to [0, k) by a multiply-shift (bias below k/2^32).
struct Code {
    prg: Prg,
    stream: u64,
    k: u64,
    d: usize,
}

/// Columns whose indices are drawn at once.
const COLS: usize = 2048;

impl Code {
    fn new(stream: u64, iteration: u64, p: &LpnParams) -> Code {
        let key = 0x4c50_4e5f_636f_6465_u128 << 64 | iteration as u128;
        Code {
            prg: Prg::new(key),
            stream,
            k: p.k as u64,
            d: p.d,
        }
    }

    /// The row indices of columns `first..first + count` (count ≤ [`COLS`]), d per column.
    fn rows(&self, first: usize, count: usize, buf: &mut Vec<u128>, out: &mut Vec<u32>) {
        let words = count * self.d;
        buf.resize(words.div_ceil(4), 0);
        self.prg
            .fill(self.stream, (first * self.d / 4) as u64, buf.as_mut_slice());
        out.clear();
        out.extend(as_bytes(buf).chunks_exact(4).take(words).map(|c| {
            let r = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64;
            ((r * self.k) >> 32) as u32
        }));
    }
}

/// The per-party state shared by both roles: which iteration comes next, on which stream,
/// under which hash domain.
struct Counter {
    stream: u64,
    domain: u64,
    iteration: u64,
    hash: CrHash,
    ggm: Ggm,
}

impl Counter {
    /// The SPCOT pads hash under the domain of the silent OTs whose sender is `sender`, apart
    /// from every IKNP/KK13 domain (a half of 2, see `super::domain`).
    fn new(sender: Role, stream: u64) -> Counter {
        Counter {
            stream,
            domain: super::domain(sender, false, 2, stream),
            iteration: 0,
            hash: CrHash::new(),
            ggm: Ggm::new(),
        }
    }

    fn domain(&self) -> u64 {
        self.domain
    }
}

/// The sender of silent COTs: holds Δ.
pub struct SilentSender {
    delta: u128,
    c: Counter,
    rng: ChaCha20Rng,
    scratch: Vec<u128>,
}

/// The receiver of silent COTs: its choice bits come out of the LPN (random).
pub struct SilentReceiver {
    c: Counter,
    scratch: Vec<u128>,
}

impl SilentSender {
    /// The sender `role`, whose base COTs have global `delta` (IKNP's s, for the bootstrap).
    pub fn new(role: Role, delta: u128, stream: u64, rng: ChaCha20Rng) -> SilentSender {
        SilentSender {
            delta,
            c: Counter::new(role, stream),
            rng,
            scratch: Vec::new(),
        }
    }

    pub fn delta(&self) -> u128 {
        self.delta
    }

    /// One iteration: consumes `base` (p.base() sender keys K: the LPN secret's k, then h per
    /// block) and returns n keys y (the receiver's z_j = y_j ⊕ x_j·Δ). Sends one message,
    /// [`LpnParams::sender_bytes`], and flushes it.
    pub fn extend(
        &mut self,
        ch: &mut dyn Wire,
        p: &LpnParams,
        base: &[u128],
    ) -> Result<Vec<u128>, NetError> {
        assert_eq!(base.len(), p.base(), "base COTs of one iteration");
        let (v, spcot) = base.split_at(p.k);
        let m = 1usize << p.h;
        let mut s = vec![0u128; p.n];
        let mut msg = Vec::with_capacity(p.sender_bytes() as usize);
        let dom = self.c.domain();
        let it = self.c.iteration;
        let mut level = Vec::with_capacity(m);
        let mut pads = [0u128; 2];
        for (b, leaves) in s.chunks_exact_mut(m).enumerate() {
            // The tree, level by level; `leaves` holds the current level in its prefix.
            let mut root = [0u8; 16];
            self.rng.fill_bytes(&mut root);
            level.clear();
            level.push(u128::from_le_bytes(root));
            for i in 0..p.h as usize {
                let width = 1 << (i + 1);
                self.c
                    .ggm
                    .expand(&level, &mut leaves[..width], &mut self.scratch);
                let (mut k0, mut k1) = (0u128, 0u128);
                for pair in leaves[..width].chunks_exact(2) {
                    k0 ^= pair[0];
                    k1 ^= pair[1];
                }
                let q = spcot[b * p.h as usize + i];
                let tweak = tweak(it, b, i);
                self.c
                    .hash
                    .hash((dom, tweak), &[q], 1, 0, 0, &mut pads[..1]);
                self.c
                    .hash
                    .hash((dom, tweak), &[q], 1, 0, self.delta, &mut pads[1..]);
                msg.extend_from_slice(&(k0 ^ pads[0]).to_le_bytes());
                msg.extend_from_slice(&(k1 ^ pads[1]).to_le_bytes());
                level.clear();
                level.extend_from_slice(&leaves[..width]);
            }
            let all = leaves.iter().fold(0u128, |a, &x| a ^ x);
            msg.extend_from_slice(&(self.delta ^ all).to_le_bytes());
        }
        ch.send(&msg)?;
        ch.end_flight()?;
        // y = s ⊕ v·A, in place.
        let code = Code::new(self.c.stream, it, p);
        let (mut buf, mut idx) = (Vec::new(), Vec::new());
        for (c, ys) in s.chunks_mut(COLS).enumerate() {
            code.rows(c * COLS, ys.len(), &mut buf, &mut idx);
            for (y, rows) in ys.iter_mut().zip(idx.chunks_exact(p.d)) {
                let mut acc = *y;
                for &r in rows {
                    acc ^= v[r as usize];
                }
                *y = acc;
            }
        }
        self.c.iteration += 1;
        Ok(s)
    }
}

/// The hash tweak of level `i` of block `b` in iteration `it`: distinct per COT consumed.
fn tweak(it: u64, b: usize, i: usize) -> u64 {
    it << 40 | (b as u64) << 8 | i as u64
}

impl SilentReceiver {
    /// The receiver of the silent OTs whose sender is `sender`.
    pub fn new(sender: Role, stream: u64) -> SilentReceiver {
        SilentReceiver {
            c: Counter::new(sender, stream),
            scratch: Vec::new(),
        }
    }

    /// One iteration: consumes `base` (p.base() COTs: choice bits and M = K ⊕ b·Δ, the LPN
    /// secret's k first, then h per block) and returns n COTs (x_j, z_j = y_j ⊕ x_j·Δ).
    pub fn extend(
        &mut self,
        ch: &mut dyn Wire,
        p: &LpnParams,
        bits: &[u8],
        base: &[u128],
    ) -> Result<(Vec<u8>, Vec<u128>), NetError> {
        assert_eq!(base.len(), p.base(), "base COTs of one iteration");
        assert_eq!(bits.len(), p.base(), "base choice bits of one iteration");
        let (h, m) = (p.h as usize, 1usize << p.h);
        let mut msg = vec![0u8; p.sender_bytes() as usize];
        ch.recv(&mut msg)?;
        let word = |at: usize| -> u128 {
            let mut w = [0u8; 16];
            w.copy_from_slice(&msg[at..at + 16]);
            u128::from_le_bytes(w)
        };
        let (w, spcot) = base.split_at(p.k);
        let (u, sbits) = bits.split_at(p.k);
        let dom = self.c.domain();
        let it = self.c.iteration;
        let mut r = vec![0u128; p.n];
        let mut x = vec![0u8; p.n];
        let mut level = Vec::with_capacity(m);
        let mut pad = [0u128; 1];
        let per = h * 32 + 16;
        for (b, leaves) in r.chunks_exact_mut(m).enumerate() {
            let at = b * per;
            // α's bits, top level first: α_i = ¬b_i.
            let mut alpha = 0usize;
            level.clear();
            level.push(0u128);
            for i in 0..h {
                let c = sbits[b * h + i] & 1;
                let width = 1 << (i + 1);
                // Expand every node but the path's (it is unknown: expanded as garbage and
                // overwritten below).
                self.c
                    .ggm
                    .expand(&level, &mut leaves[..width], &mut self.scratch);
                // K_c = XOR of side c's children at this level (c = ¬α_i: the sibling's side).
                let tweak = tweak(it, b, i);
                self.c
                    .hash
                    .hash((dom, tweak), &[spcot[b * h + i]], 1, 0, 0, &mut pad);
                let k_c = word(at + i * 32 + 16 * c as usize) ^ pad[0];
                let a_i = (c ^ 1) as usize;
                let path = 2 * alpha + a_i;
                let sibling = 2 * alpha + (c as usize);
                let mut known = 0u128;
                for j in (c as usize..width).step_by(2) {
                    if j != sibling {
                        known ^= leaves[j];
                    }
                }
                leaves[sibling] = k_c ^ known;
                leaves[path] = 0;
                alpha = path;
                level.clear();
                level.extend_from_slice(&leaves[..width]);
            }
            // The leaf at α: v_α ⊕ Δ = (Δ ⊕ XOR of all leaves) ⊕ XOR of the others.
            let others = leaves.iter().fold(0u128, |a, &v| a ^ v);
            leaves[alpha] = word(at + h * 32) ^ others;
            x[b * m + alpha] = 1;
        }
        // x = e ⊕ u·A and z = r ⊕ w·A, in place.
        let code = Code::new(self.c.stream, it, p);
        let (mut buf, mut idx) = (Vec::new(), Vec::new());
        for (c, (zs, xs)) in r.chunks_mut(COLS).zip(x.chunks_mut(COLS)).enumerate() {
            code.rows(c * COLS, zs.len(), &mut buf, &mut idx);
            for ((z, xb), rows) in zs.iter_mut().zip(xs.iter_mut()).zip(idx.chunks_exact(p.d)) {
                let (mut acc, mut bit) = (*z, *xb);
                for &row in rows {
                    acc ^= w[row as usize];
                    bit ^= u[row as usize];
                }
                *z = acc;
                *xb = bit & 1;
            }
        }
        self.c.iteration += 1;
        Ok((x, r))
    }
}
