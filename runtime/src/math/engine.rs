//! The instruction set the math functions are written in, and its three interpretations.
//!
//! Each function of [`super::funcs`] is written once against [`Engine`]; running it on
//! - [`Clear`] gives its cleartext fixed-point semantics (values in, values out),
//! - a [`Party`] runs the two-party protocol (shares in, shares out),
//! - [`Counter`] gives its exact cost (nothing computed).
//!
//! So the protocol equals the cleartext semantics as soon as every primitive does, and the
//! cost is the sum of the primitives' costs in the order they run; the tests check both
//! end to end anyway.

use crate::fixed;
use crate::fixed::linear::Format;
use crate::net::Role;
use crate::ot::OtKind;
use crate::proto::digdec::{Digits, digdec, digdec_cost};
use crate::proto::ext::{KnownMsb, ext_known_msb_cost, zext_known_msb};
use crate::proto::lut::{
    Index, Table, lut, lut_cost, lut_many, lut_many_cost, lut_product, lut_product_cost,
};
use crate::proto::mult::{
    MultParams, WrapHint, check_rows, mult_hinted, mult_hinted_cost, mult_rows, mult_rows_cost,
};
use crate::proto::trunc::{trunc_reduce, trunc_reduce_cost};
use crate::proto::{Cost, Flow, Party, ProtoError, bool as pbool, relu};
use crate::ring;

/// The primitives of the math library. Values are ring elements (`u64`, low bits), Boolean
/// values are `u8`; what they hold (values or shares) depends on the engine.
pub trait Engine {
    /// Whether this side adds public constants (the server, or the cleartext evaluator).
    fn adds_constants(&self) -> bool;
    /// F_LUT on an index made of parts (see [`crate::proto::lut`]): one vector per field.
    fn lut(&mut self, idx: &[(&[u64], u32)], table: &Table) -> Result<Vec<Vec<u64>>, ProtoError>;
    /// Independent F_LUTs in the same flights: one [`Engine::lut`] result per call.
    fn lut_many(&mut self, calls: &[LutCall<'_>]) -> Result<Vec<Vec<Vec<u64>>>, ProtoError>;
    /// table[index]·y mod 2^bits.
    fn lut_product(
        &mut self,
        idx: &[(&[u64], u32)],
        table: &Table,
        y: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, ProtoError>;
    /// DigDec into digits of the given widths.
    fn digdec(&mut self, x: &[u64], widths: &[u32]) -> Result<Digits, ProtoError>;
    /// MSB of ℓ-bit values.
    fn msb(&mut self, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError>;
    fn and(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, ProtoError>;
    /// b·x mod 2^bits.
    fn mux(&mut self, b: &[u8], x: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError>;
    /// UMult/SMult with what is known about the operands' wraps.
    fn mult(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
    ) -> Result<Vec<u64>, ProtoError>;
    /// [`Engine::mult`] of rows of `cols` values of x by one y per row
    /// ([`crate::proto::mult::mult_rows`]).
    fn mult_rows(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
        cols: usize,
    ) -> Result<Vec<u64>, ProtoError>;
    /// TR: ⌊x/2^s⌋ in Z_{2^{bits−s}}.
    fn trunc_reduce(&mut self, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError>;
    /// ⋆ZExt from m to n bits of values whose MSB is known to be 0.
    fn zext_msb0(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError>;
    /// SExt from m to n bits (SiRnn Alg. 1).
    fn sext(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError>;
}

/// One F_LUT of [`Engine::lut_many`]: the index's parts and the table.
pub type LutCall<'a> = (&'a [(&'a [u64], u32)], &'a Table);

/// x + c mod 2^bits (the constant enters once: on the side that [`Engine::adds_constants`]).
pub fn add_const<E: Engine + ?Sized>(e: &E, x: &[u64], c: u64, bits: u32) -> Vec<u64> {
    let c = if e.adds_constants() { c } else { 0 };
    x.iter().map(|&v| ring::add(v, c, bits)).collect()
}

/// 1 ⊕ b (on the side that adds constants).
pub fn not<E: Engine + ?Sized>(e: &E, b: &[u8]) -> Vec<u8> {
    let f = e.adds_constants() as u8;
    b.iter().map(|&v| v ^ f).collect()
}

/// The cleartext semantics: every primitive on plain values.
#[derive(Debug, Default)]
pub struct Clear;

impl Engine for Clear {
    fn adds_constants(&self) -> bool {
        true
    }

    fn lut(&mut self, idx: &[(&[u64], u32)], table: &Table) -> Result<Vec<Vec<u64>>, ProtoError> {
        let rows = clear_rows(idx);
        // Plain values are one share and a zero share: no field's shares wrap.
        Ok((0..table.outputs())
            .map(|f| {
                rows.iter()
                    .map(|&r| {
                        if f < table.fields.len() {
                            table.get(r, f)
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect())
    }

    fn lut_many(&mut self, calls: &[LutCall<'_>]) -> Result<Vec<Vec<Vec<u64>>>, ProtoError> {
        calls.iter().map(|&(idx, t)| self.lut(idx, t)).collect()
    }

    fn lut_product(
        &mut self,
        idx: &[(&[u64], u32)],
        table: &Table,
        y: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, ProtoError> {
        Ok(clear_rows(idx)
            .iter()
            .zip(y)
            .map(|(&r, &v)| ring::reduce(table.get(r, 0).wrapping_mul(v), bits))
            .collect())
    }

    fn digdec(&mut self, x: &[u64], widths: &[u32]) -> Result<Digits, ProtoError> {
        crate::proto::digdec::check_widths(widths)?;
        let mut off = 0;
        let digits = widths
            .iter()
            .map(|&w| {
                let d = x.iter().map(|&v| ring::reduce(v >> off, w)).collect();
                off += w;
                d
            })
            .collect();
        Ok(Digits {
            digits,
            carries: vec![vec![0; x.len()]; widths.len() - 1],
        })
    }

    fn msb(&mut self, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
        Ok(x.iter().map(|&v| fixed::msb(v, bits)).collect())
    }

    fn and(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, ProtoError> {
        Ok(a.iter().zip(b).map(|(&x, &y)| x & y & 1).collect())
    }

    fn mux(&mut self, b: &[u8], x: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError> {
        Ok(b.iter()
            .zip(x)
            .map(|(&c, &v)| fixed::mux(c, v, bits))
            .collect())
    }

    fn mult(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
    ) -> Result<Vec<u64>, ProtoError> {
        for (h, v, f) in [(hints[0], x, params.x), (hints[1], y, params.y)] {
            if let WrapHint::Msb(b) = h {
                check_msb(v, f.bits, b)?;
            }
        }
        Ok(x.iter()
            .zip(y)
            .map(|(&a, &b)| fixed::linear::mult(a, params.x, b, params.y, params.out_bits))
            .collect())
    }

    fn mult_rows(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
        cols: usize,
    ) -> Result<Vec<u64>, ProtoError> {
        check_rows(x.len(), y.len(), cols)?;
        self.mult(params, hints, x, &repeat_rows(y, cols))
    }

    fn trunc_reduce(&mut self, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
        Ok(x.iter()
            .map(|&v| fixed::ext::trunc_reduce(v, bits, s))
            .collect())
    }

    fn zext_msb0(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        check_msb(x, m, false)?;
        Ok(x.iter().map(|&v| fixed::ext::zext(v, m, n)).collect())
    }

    fn sext(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        Ok(x.iter().map(|&v| fixed::ext::sext(v, m, n)).collect())
    }
}

/// Each of `y` repeated `cols` times: one value per row spread over its row.
pub(crate) fn repeat_rows(y: &[u64], cols: usize) -> Vec<u64> {
    y.iter()
        .flat_map(|&v| std::iter::repeat_n(v, cols))
        .collect()
}

/// The cleartext engine also checks every MSB a function claims public: the two-party ⋆
/// protocols would silently compute something else if a claim were wrong, so a wrong claim
/// is an error here, where the exhaustive tests see it.
fn check_msb(x: &[u64], bits: u32, msb: bool) -> Result<(), ProtoError> {
    match x.iter().find(|&&v| (ring::msb(v, bits) == 1) != msb) {
        Some(v) => Err(ProtoError::Invariant(format!(
            "MSB of the {bits}-bit value {v:#x} claimed public as {}",
            msb as u8
        ))),
        None => Ok(()),
    }
}

/// The packed table rows of cleartext index parts.
fn clear_rows(idx: &[(&[u64], u32)]) -> Vec<u64> {
    let len = idx.first().map_or(0, |p| p.0.len());
    (0..len)
        .map(|e| {
            let mut r = 0;
            let mut off = 0;
            for &(v, b) in idx {
                r |= ring::reduce(v[e], b) << off;
                off += b;
            }
            r
        })
        .collect()
}

/// Each primitive ends with a flush, so its messages never merge with the next one's and the
/// composition's flights are the sum of the primitives' (what [`Counter`] adds up).
impl Engine for Party {
    fn adds_constants(&self) -> bool {
        self.is_server()
    }

    fn lut(&mut self, idx: &[(&[u64], u32)], table: &Table) -> Result<Vec<Vec<u64>>, ProtoError> {
        let r = lut(self, Index { parts: idx }, table);
        self.io.end_flight()?;
        r
    }

    fn lut_many(&mut self, calls: &[LutCall<'_>]) -> Result<Vec<Vec<Vec<u64>>>, ProtoError> {
        let calls: Vec<_> = calls
            .iter()
            .map(|&(parts, t)| (Index { parts }, t))
            .collect();
        let r = lut_many(self, &calls);
        self.io.end_flight()?;
        r
    }

    fn lut_product(
        &mut self,
        idx: &[(&[u64], u32)],
        table: &Table,
        y: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, ProtoError> {
        let r = lut_product(self, Index { parts: idx }, table, y, bits);
        self.io.end_flight()?;
        r
    }

    fn digdec(&mut self, x: &[u64], widths: &[u32]) -> Result<Digits, ProtoError> {
        let r = digdec(self, x, widths);
        self.io.end_flight()?;
        r
    }

    fn msb(&mut self, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
        let r = relu::msb(self, x, bits);
        self.io.end_flight()?;
        r
    }

    fn and(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, ProtoError> {
        let r = pbool::and(self, a, b);
        self.io.end_flight()?;
        r
    }

    fn mux(&mut self, b: &[u8], x: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError> {
        let r = pbool::mux(self, b, x, bits, Role::Client);
        self.io.end_flight()?;
        r
    }

    fn mult(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
    ) -> Result<Vec<u64>, ProtoError> {
        let r = mult_hinted(self, params, hints, x, y);
        self.io.end_flight()?;
        r
    }

    fn mult_rows(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
        cols: usize,
    ) -> Result<Vec<u64>, ProtoError> {
        let r = mult_rows(self, params, hints, x, y, cols);
        self.io.end_flight()?;
        r
    }

    fn trunc_reduce(&mut self, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
        let r = trunc_reduce(self, x, bits, s);
        self.io.end_flight()?;
        r
    }

    fn zext_msb0(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        let zeros = vec![0u8; x.len()];
        let r = zext_known_msb(self, x, m, n, KnownMsb::Public(&zeros));
        self.io.end_flight()?;
        r
    }

    fn sext(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        let r = crate::proto::ext::sext(self, x, m, n);
        self.io.end_flight()?;
        r
    }
}

/// The cost interpretation: adds each primitive's exact cost; values are zeros of the right
/// length.
#[derive(Debug, Default)]
pub struct Counter {
    pub cost: Cost,
    /// Its latency ([`Flow`]) on each engine ([`OtKind::ALL`]'s order): the primitives in
    /// sequence.
    flows: [Flow; 2],
}

impl Counter {
    fn add(&mut self, c: Cost) {
        self.cost = self.cost.then(c);
        // Every primitive alternates from the client's first flight, and the party engine
        // ends its flights after each one.
        for (f, kind) in self.flows.iter_mut().zip(OtKind::ALL) {
            f.flights
                .extend(Flow::alternating(Role::Client, c.rounds_on(kind)).flights);
        }
    }

    /// The latency of what was counted on `kind`.
    pub fn flow(&self, kind: OtKind) -> &Flow {
        &self.flows[kind as usize]
    }
}

impl Engine for Counter {
    fn adds_constants(&self) -> bool {
        true
    }

    fn lut(&mut self, idx: &[(&[u64], u32)], table: &Table) -> Result<Vec<Vec<u64>>, ProtoError> {
        let len = idx.first().map_or(0, |p| p.0.len());
        self.add(lut_cost(len, table));
        Ok(vec![vec![0; len]; table.outputs()])
    }

    fn lut_many(&mut self, calls: &[LutCall<'_>]) -> Result<Vec<Vec<Vec<u64>>>, ProtoError> {
        let lens: Vec<(usize, &Table)> = calls
            .iter()
            .map(|&(idx, t)| (idx.first().map_or(0, |p| p.0.len()), t))
            .collect();
        self.add(lut_many_cost(&lens));
        Ok(lens
            .iter()
            .map(|&(len, t)| vec![vec![0; len]; t.outputs()])
            .collect())
    }

    fn lut_product(
        &mut self,
        idx: &[(&[u64], u32)],
        table: &Table,
        y: &[u64],
        bits: u32,
    ) -> Result<Vec<u64>, ProtoError> {
        self.add(lut_product_cost(y.len(), table.index_bits, bits));
        let _ = idx;
        Ok(vec![0; y.len()])
    }

    fn digdec(&mut self, x: &[u64], widths: &[u32]) -> Result<Digits, ProtoError> {
        crate::proto::digdec::check_widths(widths)?;
        self.add(digdec_cost(x.len(), widths));
        Ok(Digits {
            digits: vec![vec![0; x.len()]; widths.len()],
            carries: vec![vec![0; x.len()]; widths.len() - 1],
        })
    }

    fn msb(&mut self, x: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
        self.add(relu::msb_cost(x.len(), bits));
        Ok(vec![0; x.len()])
    }

    fn and(&mut self, a: &[u8], _b: &[u8]) -> Result<Vec<u8>, ProtoError> {
        self.add(pbool::and_cost(a.len()));
        Ok(vec![0; a.len()])
    }

    fn mux(&mut self, _b: &[u8], x: &[u64], bits: u32) -> Result<Vec<u64>, ProtoError> {
        self.add(pbool::mux_cost(x.len(), bits));
        Ok(vec![0; x.len()])
    }

    fn mult(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        _y: &[u64],
    ) -> Result<Vec<u64>, ProtoError> {
        self.add(mult_hinted_cost(
            x.len(),
            params,
            hints[0].kind(),
            hints[1].kind(),
        ));
        Ok(vec![0; x.len()])
    }

    fn mult_rows(
        &mut self,
        params: &MultParams,
        hints: [WrapHint<'_>; 2],
        x: &[u64],
        y: &[u64],
        cols: usize,
    ) -> Result<Vec<u64>, ProtoError> {
        check_rows(x.len(), y.len(), cols)?;
        self.add(mult_rows_cost(
            y.len(),
            cols,
            params,
            hints[0].kind(),
            hints[1].kind(),
        ));
        Ok(vec![0; x.len()])
    }

    fn trunc_reduce(&mut self, x: &[u64], bits: u32, s: u32) -> Result<Vec<u64>, ProtoError> {
        self.add(trunc_reduce_cost(x.len(), bits, s));
        Ok(vec![0; x.len()])
    }

    fn zext_msb0(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        self.add(ext_known_msb_cost(x.len(), m, n, false));
        Ok(vec![0; x.len()])
    }

    fn sext(&mut self, x: &[u64], m: u32, n: u32) -> Result<Vec<u64>, ProtoError> {
        self.add(crate::proto::ext::sext_cost(x.len(), m, n));
        Ok(vec![0; x.len()])
    }
}

/// An unsigned format of `bits` bits (shorthand for the functions' products).
pub(crate) fn unsigned(bits: u32) -> Format {
    Format::unsigned(bits)
}
