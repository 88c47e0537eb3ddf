//! Cleartext semantics of the math library (SiRnn §V): each function of
//! [`crate::math::funcs`] evaluated on plain fixed-point values with the same tables and the
//! same digit widths (chosen by the cost model) as the two-party protocol, which equals it bit
//! for bit. This is what `sir eval --plan` and the compiler's precision search run.

pub use crate::fixed::Fx;
use crate::math::Clear;
use crate::math::ops::MathOp;
use crate::proto::ProtoError;
use crate::proto::ops::Params;

/// `op` on the values `x` (encodings in `inp`), results in `out`; `cols` is the row length of
/// `softmax` and `layernorm` (ignored by the elementwise functions).
pub fn apply(op: MathOp, x: &[u64], inp: Fx, out: Fx, cols: usize) -> Result<Vec<u64>, ProtoError> {
    let params = Params {
        bits_in: Some(inp.bits),
        frac_in: Some(inp.frac),
        bits_out: Some(out.bits),
        frac_out: Some(out.frac),
        dims: Some([1, cols.max(1), 1]),
        ..Params::bits(inp.bits)
    };
    op.eval(&mut Clear, x, &params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_of_zero_is_one_half_and_softmax_rows_sum_to_one() {
        let f = Fx::new(16, 12);
        let y = apply(MathOp::Sigmoid, &[0], f, f, 1).unwrap();
        assert_eq!(y, vec![2048]);
        let x: Vec<u64> = [0i64, 4096, -4096, 8192]
            .iter()
            .map(|&v| v as u64 & 0xffff)
            .collect();
        let y = apply(MathOp::Softmax, &x, f, f, 4).unwrap();
        let sum: u64 = y.iter().sum();
        assert!((4094..=4098).contains(&sum), "{y:?}");
    }
}
