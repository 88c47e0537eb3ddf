//! An instruction resolved to the protocol call it makes: every public parameter read off its
//! tensors once, by [`super::Plan::check`] (which hands the kernels on in [`super::PlanInfo`]),
//! with the exact cost of the call beside it. The executor runs kernels and the cost model
//! prices them, so neither looks at tensors again nor keeps an error arm for a malformed
//! instruction.

use crate::fixed::Patch;
use crate::fixed::linear::MatDims;
use crate::net::Role;
use crate::ot::OtKind;
use crate::proto::linear::MatMulParams;
use crate::proto::mult::MultParams;
use crate::proto::{Cost, Flow, ext, masked, mult, poly, relu, share, trunc};

use super::{MAX_MATH_ELEMENTS, MathOp, MathParams, Trunc};

/// The protocol call of one instruction (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// Each party computes it on its own shares (or the public values): no protocol.
    Local,
    /// The owner's values become shares.
    Share {
        owner: Role,
        bits: u32,
    },
    /// Shares become the client's value.
    Reveal {
        bits: u32,
    },
    /// ZExt (an operand known non-negative: its MSB is public) or SExt, `from` → `to` bits.
    Extend {
        from: u32,
        to: u32,
        nonneg: bool,
    },
    Truncate {
        bits: u32,
        shift: u32,
        mode: Trunc,
    },
    Mult(MultParams),
    /// Shared X × the server's W; `params.dims.d1` is X's rows per sample (a vector X: 1).
    /// `masked`: the OT payloads are paid in the preprocessing ([`crate::proto::masked`]).
    MatMul {
        params: MatMulParams,
        masked: bool,
    },
    /// Shared X × shared Y, a unit per row of X (`params.dims.d1` rows per sample, each
    /// sample with its own Y); `params.w` Y's format in the result's ring.
    MatMulShared {
        params: MatMulParams,
    },
    Math {
        func: MathOp,
        params: MathParams,
    },
    Relu {
        bits: u32,
    },
    BlockRelu {
        shape: [usize; 3],
        patches: Vec<Patch>,
        bits: u32,
        /// The ring of the patch sums (the second operand's).
        sum_bits: u32,
    },
    /// Σ coeffs[k]·x^k in Z_{2^bits}, with its preprocessing.
    Poly {
        coeffs: Vec<i64>,
        bits: u32,
    },
}

impl Kernel {
    /// A matrix product's parameters on `rows` rows of X (a batch's, or one connection's slice).
    pub fn matmul_rows(params: &MatMulParams, rows: usize) -> MatMulParams {
        MatMulParams {
            dims: MatDims::new(rows, params.dims.d2, params.dims.d3),
            ..*params
        }
    }

    /// The exact online cost on `units` units ([`super::Plan::units`]), or why it cannot run
    /// at that size.
    pub fn cost(&self, units: usize) -> Result<Cost, String> {
        let n = units;
        Ok(match self {
            Kernel::Local => Cost::ZERO,
            Kernel::Share { owner, bits } => share::input_cost(n, *bits, *owner),
            Kernel::Reveal { bits } => share::reveal_cost(n, *bits, Role::Client),
            Kernel::Extend { from, to, nonneg } => {
                if *nonneg {
                    ext::ext_known_msb_cost(n, *from, *to, false)
                } else {
                    ext::sext_cost(n, *from, *to)
                }
            }
            Kernel::Truncate { bits, shift, mode } => match mode {
                Trunc::Reduce => trunc::trunc_reduce_cost(n, *bits, *shift),
                Trunc::Ars | Trunc::ArsRound => trunc::ars_cost(n, *bits, *shift),
            },
            Kernel::Mult(p) => mult::mult_cost(n, p),
            Kernel::MatMul { params, masked } => {
                let rows = Self::matmul_rows(params, n);
                match masked {
                    true => mult::matmul_masked_full_cost(&rows),
                    false => mult::matmul_full_cost(&rows),
                }
            }
            Kernel::MatMulShared { params } => {
                mult::matmul_shared_full_cost(&Self::matmul_rows(params, n))
            }
            Kernel::Math { func, params } => {
                let len = units.saturating_mul(params.cols.max(1));
                if len > MAX_MATH_ELEMENTS {
                    return Err("too many elements for one math instruction".into());
                }
                func.exact_cost(len, params).map_err(|e| e.to_string())?
            }
            Kernel::Relu { bits } => relu::relu_cost(n, *bits),
            Kernel::BlockRelu {
                shape,
                patches,
                bits,
                sum_bits,
            } => {
                let per = shape.iter().product::<usize>().max(1);
                relu::block_relu_cost(*shape, patches, units / per, *bits, *sum_bits)
                    .ok_or("needs one patch choice or one per channel")?
            }
            Kernel::Poly { coeffs, bits } => {
                poly::online_cost(n, coeffs.len().saturating_sub(1), *bits)
            }
        })
    }

    /// The latency of the call on `units` units ([`Flow`]): who sends its first and last
    /// flights and the one-way delays on its path.
    pub fn flow(&self, units: usize, kind: OtKind) -> Result<Flow, String> {
        let rounds = || self.cost(units).map(|c| c.rounds_on(kind));
        Ok(match self {
            Kernel::Local => Flow::NONE,
            Kernel::Share { owner, .. } => Flow::alternating(*owner, rounds()?),
            Kernel::Reveal { .. } => Flow::alternating(Role::Server, rounds()?),
            // Opening x − r: every chunk an exchange.
            Kernel::Poly { .. } => Flow::exchanges(rounds()?),
            Kernel::Math { func, params } => func
                .exact_flow(units.saturating_mul(params.cols.max(1)), params, kind)
                .map_err(|e| e.to_string())?,
            Kernel::Extend { .. }
            | Kernel::Truncate { .. }
            | Kernel::Mult(_)
            | Kernel::MatMul { .. }
            | Kernel::MatMulShared { .. }
            | Kernel::Relu { .. }
            | Kernel::BlockRelu { .. } => Flow::alternating(Role::Client, rounds()?),
        })
    }

    /// The flights of the preprocessing on `units` units.
    pub fn pre_flow(&self, units: usize, kind: OtKind) -> Flow {
        match self {
            Kernel::Poly { coeffs, bits } => {
                poly::preprocess_flow(units, coeffs.len().saturating_sub(1), *bits)
            }
            Kernel::MatMul { masked: true, .. } => {
                Flow::alternating(Role::Client, self.pre_cost(units).rounds_on(kind))
            }
            _ => Flow::NONE,
        }
    }

    /// Whether the call needs a preprocessing job before it runs.
    pub fn has_pre(&self) -> bool {
        matches!(
            self,
            Kernel::Poly { .. } | Kernel::MatMul { masked: true, .. }
        )
    }

    /// The exact cost of the input-independent preprocessing on `units` units: the
    /// polynomial's mask powers, a masked product's R·W; zero for the rest.
    pub fn pre_cost(&self, units: usize) -> Cost {
        match self {
            Kernel::Poly { coeffs, bits } => {
                poly::preprocess_cost(units, coeffs.len().saturating_sub(1), *bits)
            }
            Kernel::MatMul {
                params,
                masked: true,
            } => masked::matmul_pre_cost(&Self::matmul_rows(params, units)),
            Kernel::Local
            | Kernel::Share { .. }
            | Kernel::Reveal { .. }
            | Kernel::Extend { .. }
            | Kernel::Truncate { .. }
            | Kernel::Mult(_)
            | Kernel::MatMul { .. }
            | Kernel::MatMulShared { .. }
            | Kernel::Math { .. }
            | Kernel::Relu { .. }
            | Kernel::BlockRelu { .. } => Cost::ZERO,
        }
    }
}

/// A `share`'s owner, from its operand's.
pub(super) fn owner(of: super::Owner) -> Option<Role> {
    match of {
        super::Owner::Client => Some(Role::Client),
        super::Owner::Server => Some(Role::Server),
        _ => None,
    }
}
