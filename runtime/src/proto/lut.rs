//! Lookup tables on secret-shared indices: F_LUT and the LUT-product.
//!
//! - **F_LUT** (SiRnn, Rathee et al., S&P 2021, §III-E: one (2^m choose 1)-OT_n per element):
//!   for an index x = a + b (mod 2^m, a the server's share, b the client's) and a public table
//!   T, the server draws a fresh mask r and offers, for every v < 2^m, the message
//!   T[(a + v) mod 2^m] − r; the client chooses v = b and gets T[x] − r; the server's share is
//!   r. A table entry may hold several fields (e.g. SiRnn's reciprocal table c₀‖c₁, or
//!   MSNZB's index‖is-zero), each masked with its own r in its own ring. An index may also be
//!   made of several parts, each shared in its own ring Z_{2^{m_i}} (e.g. a digit and an
//!   exponent); the server rotates each part separately, the client chooses with the
//!   concatenation of its parts. Cost: 2λ + 2^m·Σwᵢ bits (λ = 128: KK13's 256-bit code).
//! - **Wrap outputs** (ours): a field may also give Boolean shares of the wrap of its own
//!   arithmetic shares (the carry of r + (T[x] − r mod 2^w), which is 1{T[x] < r}): the server
//!   knows r, so every message carries one more bit, 1{T[row] < r} ⊕ ρ for a fresh bit ρ (the
//!   server's share). A UMult by that field then needs no Wrap and no AND of MSBs (SiRnn's
//!   ⋆ variants): the wrap costs 2^m bits per element instead of a protocol and its flights.
//! - **LUT-product** (ours, from the same OT): shares of T[x]·y mod 2^R for a secret index x
//!   and a secret y ∈ Z_{2^R}. Since T[x]·y = T[x]·y₀ + T[x]·y₁ (mod 2^R), each party acts as
//!   LUT sender for its own summand with a per-element table v ↦ T[(own + v)]·y_own − r, and
//!   as receiver of the other's. Two opposite 1-of-2^m OTs, 3 flights. For a small index
//!   (m ≤ 5, e.g. the exponent k of an MSNZB) this is several times cheaper than
//!   multiplying a looked-up value by y with UMult: 2·(2λ + 2^m·R) bits instead of ≈ 2mλ.
//!
//! Tables are built once from public parameters and cached (`crate::math::table`); a
//! per-element table only rotates and masks the cached one while the OT engine hashes it.
//!
//! Security (semi-honest): every mask is fresh CSPRNG output; every OT is fresh; the messages
//! the receiver does not choose are hidden by the KK13 pads; control flow depends only on
//! public sizes.

use rand_core::RngCore;

use super::{Cost, Party, ProtoError};
use crate::net::Role;
use crate::ot::cost as otc;
use crate::ring;

/// A public lookup table with 2^m entries of one or more fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Index width m (1..=8).
    pub index_bits: u32,
    /// Width of each field; their sum is at most 64.
    pub fields: Vec<u32>,
    /// `entries[j * fields.len() + f]` = field f of entry j (low `fields[f]` bits used).
    pub entries: Vec<u64>,
    /// The fields whose wrap the lookup also gives (Boolean shares, one output each after the
    /// fields', in this order).
    pub wraps: Vec<usize>,
}

impl Table {
    /// A table of `fields` from `f(j)` for every j < 2^m.
    /// Panics if `index_bits` > 8 (no table of the OT engine is larger): callers check.
    pub fn build(index_bits: u32, fields: &[u32], f: impl Fn(u64) -> Vec<u64>) -> Table {
        assert!(index_bits <= 8, "a lookup table has at most 2^8 entries");
        let n = 1usize << index_bits;
        let mut entries = Vec::with_capacity(n * fields.len());
        for j in 0..n as u64 {
            let row = f(j);
            debug_assert_eq!(row.len(), fields.len());
            entries.extend(row.iter().zip(fields).map(|(&v, &w)| ring::reduce(v, w)));
        }
        Table {
            index_bits,
            fields: fields.to_vec(),
            entries,
            wraps: Vec::new(),
        }
    }

    /// With the wrap of field `f`'s shares as an extra output (see the module docs).
    pub fn with_wrap(mut self, f: usize) -> Table {
        debug_assert!(f < self.fields.len() && !self.wraps.contains(&f));
        self.wraps.push(f);
        self
    }

    /// The number of outputs of a lookup: the fields, then the wraps.
    pub fn outputs(&self) -> usize {
        self.fields.len() + self.wraps.len()
    }

    /// Each output's ring width: the fields', then 1 per wrap.
    pub fn output_widths(&self) -> Vec<u32> {
        let mut w = self.fields.clone();
        w.resize(self.outputs(), 1);
        w
    }

    pub fn len(&self) -> usize {
        1 << self.index_bits
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Field `f` of entry `j`.
    pub fn get(&self, j: u64, f: usize) -> u64 {
        self.entries[j as usize * self.fields.len() + f]
    }

    /// The width of one OT message: all fields packed, then one bit per wrap.
    pub fn msg_bits(&self) -> u32 {
        self.fields.iter().sum::<u32>() + self.wraps.len() as u32
    }

    fn check(&self) -> Result<(), ProtoError> {
        let wraps_ok = self.wraps.iter().all(|&f| f < self.fields.len());
        if !(1..=8).contains(&self.index_bits)
            || self.msg_bits() > 64
            || self.fields.is_empty()
            || !wraps_ok
        {
            return Err(ProtoError::Argument(format!(
                "a table needs 1..=8 index bits and 1..=64 entry bits (got {} and {})",
                self.index_bits,
                self.msg_bits()
            )));
        }
        Ok(())
    }
}

/// A secret index made of parts; part i is shared in Z_{2^{bits_i}} and occupies the next
/// `bits_i` bits of the table index (part 0 lowest).
#[derive(Clone, Copy, Debug)]
pub struct Index<'a> {
    pub parts: &'a [(&'a [u64], u32)],
}

impl Index<'_> {
    fn len(&self) -> usize {
        self.parts.first().map_or(0, |p| p.0.len())
    }

    fn bits(&self) -> u32 {
        self.parts.iter().map(|p| p.1).sum()
    }

    fn check(&self, table: &Table) -> Result<(), ProtoError> {
        let n = self.len();
        if self.parts.is_empty() || self.parts.iter().any(|p| p.0.len() != n) {
            return Err(ProtoError::Argument(
                "a LUT index needs parts of equal length".into(),
            ));
        }
        if self.bits() != table.index_bits {
            return Err(ProtoError::Argument(format!(
                "a {}-bit index for a table of 2^{} entries",
                self.bits(),
                table.index_bits
            )));
        }
        Ok(())
    }

    /// This party's own share of element `e`, packed.
    fn own(&self, e: usize) -> u64 {
        let mut v = 0;
        let mut off = 0;
        for &(s, b) in self.parts {
            v |= ring::reduce(s[e], b) << off;
            off += b;
        }
        v
    }

    /// The table row for choice `v` when this party's packed share is `own`: each part added
    /// in its own ring.
    fn rotate(&self, own: u64, v: u64) -> u64 {
        let mut r = 0;
        let mut off = 0;
        for &(_, b) in self.parts {
            let m = ring::mask(b);
            r |= (((own >> off) + (v >> off)) & m) << off;
            off += b;
        }
        r
    }
}

/// The exact cost of [`lut`] on `len` elements.
pub fn lut_cost(len: usize, table: &Table) -> Cost {
    Cost::ot(
        Role::Server,
        otc::one_of_n(len, table.len(), table.msg_bits()),
    )
}

/// The exact cost of [`lut_many`] on calls of these lengths and tables: one call's flights,
/// every call's bytes.
pub fn lut_many_cost(calls: &[(usize, &Table)]) -> Cost {
    calls
        .iter()
        .fold(Cost::ZERO, |c, &(len, t)| c.alongside(lut_cost(len, t)))
}

/// F_LUT: this party's shares of the index → its shares of each field of `table[index]`
/// (`out[f][e]` in Z_{2^{fields[f]}}), then of each wrap (`out[fields.len() + i][e]`, a bit:
/// the wrap of field `wraps[i]`'s shares). Two messages (client, server).
pub fn lut(p: &mut Party, idx: Index<'_>, table: &Table) -> Result<Vec<Vec<u64>>, ProtoError> {
    let mut out = lut_many(p, &[(idx, table)])?;
    Ok(out.pop().unwrap_or_default())
}

/// Independent F_LUTs (e.g. one per digit of a DigDec) in the same two messages: the client
/// sends every call's KK13 extension matrix in one flight, the server every call's masked
/// tables in the next. Each call's OTs are its own (the engine's counters advance call by
/// call in the same order on both sides); only the flights are shared.
pub fn lut_many(
    p: &mut Party,
    calls: &[(Index<'_>, &Table)],
) -> Result<Vec<Vec<Vec<u64>>>, ProtoError> {
    for (idx, table) in calls {
        table.check()?;
        idx.check(table)?;
    }
    let mut outs: Vec<Vec<Vec<u64>>> = calls
        .iter()
        .map(|(idx, t)| vec![vec![0u64; idx.len()]; t.outputs()])
        .collect();
    let live = || calls.iter().zip(0..).filter(|((idx, _), _)| idx.len() > 0);
    if live().next().is_none() {
        return Ok(outs);
    }
    if p.is_server() {
        let mut msg = Vec::new();
        for ((idx, table), c) in live() {
            let masks = send_masked(p, idx, table, &mut msg)?;
            let nf = table.outputs();
            for (k, &m) in masks.iter().enumerate() {
                outs[c][k % nf][k / nf] = m;
            }
        }
        p.io.send(&msg)?;
        p.io.end_flight()?;
    } else {
        let mut choices: Vec<Vec<u8>> = Vec::with_capacity(calls.len());
        let mut got: Vec<Vec<u64>> = Vec::with_capacity(calls.len());
        for ((idx, table), _) in live() {
            let ch: Vec<u8> = (0..idx.len()).map(|e| idx.own(e) as u8).collect();
            let mut g = vec![0u64; idx.len()];
            p.ot.one_of_n_recv_extend(&mut *p.io, table.len(), table.msg_bits(), &ch, &mut g)?;
            choices.push(ch);
            got.push(g);
        }
        p.io.end_flight()?;
        for ((((_, table), c), ch), mut g) in live().zip(&choices).zip(got) {
            p.ot.one_of_n_recv_finish(&mut *p.io, table.len(), table.msg_bits(), ch, &mut g)?;
            let widths = table.output_widths();
            for (e, v) in g.into_iter().enumerate() {
                unpack(v, &widths, |f, x| outs[c][f][e] = x);
            }
        }
    }
    Ok(outs)
}

/// The server's half of one F_LUT: fresh masks r and wrap shares ρ (returned, element-major,
/// [`Table::outputs`] per element), and for every element the 2^m messages T[rotated row] − r
/// (and 1{T[row] < r} ⊕ ρ per wrap) appended to `msg` under the OT pads.
fn send_masked(
    p: &mut Party,
    idx: &Index<'_>,
    table: &Table,
    msg: &mut Vec<u8>,
) -> Result<Vec<u64>, ProtoError> {
    let len = idx.len();
    let nf = table.fields.len();
    let no = table.outputs();
    let widths = table.output_widths();
    let n = table.len();
    let bits = table.msg_bits();
    let mut masks = vec![0u64; len * no];
    for (k, m) in masks.iter_mut().enumerate() {
        *m = ring::reduce(p.rng().next_u64(), widths[k % no]);
    }
    let single = idx.parts.len() == 1;
    let nmask = n - 1;
    let fill = |e: usize, buf: &mut [u64]| {
        let own = idx.own(e);
        let r = &masks[e * no..(e + 1) * no];
        match (single && table.wraps.is_empty(), nf) {
            // The common shapes without the general loops (the sender fills 2^m messages
            // per element; this is most of its local work).
            (true, 1) => {
                let (w, r) = (table.fields[0], r[0]);
                let own = own as usize;
                for (v, slot) in buf.iter_mut().enumerate() {
                    *slot = ring::sub(table.entries[(own + v) & nmask], r, w);
                }
            }
            (true, 2) => {
                let (w0, w1) = (table.fields[0], table.fields[1]);
                let own = own as usize;
                for (v, slot) in buf.iter_mut().enumerate() {
                    let row = (own + v) & nmask;
                    *slot = ring::sub(table.entries[2 * row], r[0], w0)
                        | ring::sub(table.entries[2 * row + 1], r[1], w1) << w0;
                }
            }
            _ => {
                for (v, slot) in buf.iter_mut().enumerate() {
                    let row = idx.rotate(own, v as u64) as usize;
                    let entry = &table.entries[row * nf..(row + 1) * nf];
                    let mut m = pack(entry, r, &table.fields);
                    let base = bits - table.wraps.len() as u32;
                    for (i, &f) in table.wraps.iter().enumerate() {
                        m |= (((entry[f] < r[f]) as u64) ^ r[nf + i]) << (base + i as u32);
                    }
                    *slot = m;
                }
            }
        }
    };
    p.ot.one_of_n_send_deferred(&mut *p.io, n, bits, len, fill, msg)?;
    Ok(masks)
}

/// Packs (entry_f − r_f) mod 2^{w_f} for every field.
fn pack(entry: &[u64], r: &[u64], fields: &[u32]) -> u64 {
    let mut m = 0;
    let mut off = 0;
    for ((&v, &r), &w) in entry.iter().zip(r).zip(fields) {
        m |= ring::sub(v, r, w) << off;
        off += w;
    }
    m
}

fn unpack(word: u64, fields: &[u32], mut put: impl FnMut(usize, u64)) {
    let mut off = 0;
    for (f, &w) in fields.iter().enumerate() {
        put(f, ring::reduce(word >> off, w));
        off += w;
    }
}

/// The exact cost of [`lut_product`] on `len` elements into Z_{2^R}.
pub fn lut_product_cost(len: usize, index_bits: u32, out_bits: u32) -> Cost {
    if len == 0 {
        return Cost::ZERO;
    }
    let c = otc::one_of_n(len, 1 << index_bits, out_bits);
    // Client's extension; server's messages with its extension; client's messages.
    Cost::ot_request(Role::Client, c)
        .then(
            Cost::ot_request(Role::Server, c)
                .alongside(Cost::message(Role::Server, c.sender_bytes)),
        )
        .then(Cost::message(Role::Client, c.sender_bytes))
}

/// LUT-product: this party's shares of the index and of y ∈ Z_{2^R} → its shares of
/// `table[index]·y mod 2^R` (`table` has one field; its entries are read mod 2^R).
pub fn lut_product(
    p: &mut Party,
    idx: Index<'_>,
    table: &Table,
    y: &[u64],
    out_bits: u32,
) -> Result<Vec<u64>, ProtoError> {
    idx.check(table)?;
    super::bool::check_bits(out_bits)?;
    if table.fields.len() != 1 || !table.wraps.is_empty() || !(1..=8).contains(&table.index_bits) {
        return Err(ProtoError::Argument(
            "a LUT-product needs a one-field table (no wrap) with 1..=8 index bits".into(),
        ));
    }
    let len = idx.len();
    if y.len() != len {
        return Err(ProtoError::Argument(format!(
            "LUT-product: {} values for {len} indices",
            y.len()
        )));
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let n = table.len();
    let r_bits = out_bits;
    let masks: Vec<u64> = (0..len)
        .map(|_| ring::reduce(p.rng().next_u64(), r_bits))
        .collect();
    let single = idx.parts.len() == 1;
    let nmask = n - 1;
    let fill = |e: usize, buf: &mut [u64]| {
        let own = idx.own(e);
        let (ye, r) = (y[e], masks[e]);
        if single {
            let own = own as usize;
            for (v, slot) in buf.iter_mut().enumerate() {
                let t = table.entries[(own + v) & nmask];
                *slot = ring::sub(t.wrapping_mul(ye), r, r_bits);
            }
        } else {
            for (v, slot) in buf.iter_mut().enumerate() {
                let row = idx.rotate(own, v as u64);
                *slot = ring::sub(table.get(row, 0).wrapping_mul(ye), r, r_bits);
            }
        }
    };
    let choices: Vec<u8> = (0..len).map(|e| idx.own(e) as u8).collect();
    let mut got = vec![0u64; len];
    let mut msg = Vec::new();
    if p.is_server() {
        // Receiver of the client's OT after sending our own messages.
        p.ot.one_of_n_send_deferred(&mut *p.io, n, r_bits, len, fill, &mut msg)?;
        p.io.send(&msg)?;
        p.ot.one_of_n_recv_extend(&mut *p.io, n, r_bits, &choices, &mut got)?;
        p.io.end_flight()?;
        p.ot.one_of_n_recv_finish(&mut *p.io, n, r_bits, &choices, &mut got)?;
    } else {
        p.ot.one_of_n_recv_extend(&mut *p.io, n, r_bits, &choices, &mut got)?;
        p.io.end_flight()?;
        p.ot.one_of_n_recv_finish(&mut *p.io, n, r_bits, &choices, &mut got)?;
        p.ot.one_of_n_send_deferred(&mut *p.io, n, r_bits, len, fill, &mut msg)?;
        p.io.send(&msg)?;
        p.io.end_flight()?;
    }
    Ok(got
        .iter()
        .zip(&masks)
        .map(|(&g, &r)| ring::add(g, r, r_bits))
        .collect())
}
