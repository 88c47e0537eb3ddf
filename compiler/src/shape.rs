//! The shape rules of broadcasting and `@`: one definition, which the checker (`types`) uses
//! to type expressions and the evaluator's kernels (`eval::kernels`) to lay out results. They
//! sit below both so that neither pass reaches into the other.

/// A reason why operand shapes are invalid for an operation, for the checker's diagnostics.
pub type ShapeError = String;

/// The NumPy broadcast of two shapes: align on the right, each pair of dimensions must be equal
/// or one of them 1. `None` when they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let lead = rank - s.len();
        if i < lead { 1 } else { s[i - lead] }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Output shape of `a @ b`: `[M,K]@[K,N] -> [M,N]`, `[K]@[K,N] -> [N]`, `[M,K]@[K] -> [M]`,
/// `[K]@[K] -> []`.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let (k_a, k_b, out) = match (a, b) {
        ([m, k], [k2, n]) => (*k, *k2, vec![*m, *n]),
        ([k], [k2, n]) => (*k, *k2, vec![*n]),
        ([m, k], [k2]) => (*k, *k2, vec![*m]),
        ([k], [k2]) => (*k, *k2, vec![]),
        _ => {
            return Err(format!(
                "`@` needs operands of rank 1 or 2, found {a:?} @ {b:?}"
            ));
        }
    };
    if k_a != k_b {
        return Err(format!(
            "inner dimensions differ in {a:?} @ {b:?} ({k_a} vs {k_b})"
        ));
    }
    Ok(out)
}
