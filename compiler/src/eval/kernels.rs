//! The `f64` semantics of every builtin of the language, on dense row-major [`Tensor`]s,
//! following NumPy (and PyTorch for `conv2d`).
//!
//! Kernels assume their operands passed the shape checker: each states its precondition, and
//! the `*_shape` functions next to the kernels are the checks themselves, so the checker and
//! the interpreter share one definition of every output shape. Preconditions are verified with
//! `debug_assert!`; a kernel given operands that its shape function accepts never panics.
//!
//! Reductions that NumPy refuses on empty input (`max`, `argmax`, pooling) are refused by their
//! shape functions; `mean` of nothing is NaN, `sum` of nothing 0, as in NumPy.

use crate::syntax::ast::BinOp;
use crate::types::tir::Builtin;
use sir_runtime::Tensor;
use sir_runtime::fixed::Patch;
use sir_runtime::plan::Sel;

pub use crate::shape::{ShapeError, broadcast_shapes, matmul_shape};

fn tensor(shape: Vec<usize>, data: Vec<f64>) -> Tensor {
    Tensor::new(shape, data).expect("kernel produced data matching its output shape")
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

/// Strides (in elements) for reading `shape`, right-aligned within `rank` axes, with stride 0
/// on broadcast axes.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let lead = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut stride = 1;
    for i in (0..shape.len()).rev() {
        if shape[i] != 1 || out[lead + i] == 1 {
            strides[lead + i] = stride;
        }
        stride *= shape[i];
    }
    strides
}

/// Applies `f` elementwise under NumPy broadcasting.
///
/// Precondition: `broadcast_shapes(a.shape(), b.shape())` is `Some`.
pub fn zip_with(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let (ad, bd) = (a.data(), b.data());
    if a.shape() == b.shape() {
        let data = ad.iter().zip(bd).map(|(&x, &y)| f(x, y)).collect();
        return tensor(a.shape().to_vec(), data);
    }
    let out = broadcast_shapes(a.shape(), b.shape()).expect("operands were broadcast-checked");
    let n = numel(&out);
    if b.len() == 1 && n == a.len() {
        let y = bd[0];
        return tensor(out, ad.iter().map(|&x| f(x, y)).collect());
    }
    if a.len() == 1 && n == b.len() {
        let x = ad[0];
        return tensor(out, bd.iter().map(|&y| f(x, y)).collect());
    }
    let mut data = Vec::with_capacity(n);
    if n > 0 {
        let sa = broadcast_strides(a.shape(), &out);
        let sb = broadcast_strides(b.shape(), &out);
        let rank = out.len();
        // The last axis is the inner loop; an odometer walks the others.
        let (inner, ia, ib) = (out[rank - 1], sa[rank - 1], sb[rank - 1]);
        let mut index = vec![0usize; rank - 1];
        let (mut oa, mut ob) = (0usize, 0usize);
        loop {
            for j in 0..inner {
                data.push(f(ad[oa + j * ia], bd[ob + j * ib]));
            }
            let mut axis = rank - 1;
            loop {
                if axis == 0 {
                    return tensor(out, data);
                }
                axis -= 1;
                index[axis] += 1;
                oa += sa[axis];
                ob += sb[axis];
                if index[axis] < out[axis] {
                    break;
                }
                oa -= sa[axis] * out[axis];
                ob -= sb[axis] * out[axis];
                index[axis] = 0;
            }
        }
    }
    tensor(out, data)
}

/// `a + b` with broadcasting. Precondition: the shapes broadcast.
pub fn add(a: &Tensor, b: &Tensor) -> Tensor {
    zip_with(a, b, |x, y| x + y)
}

/// `a - b` with broadcasting. Precondition: the shapes broadcast.
pub fn sub(a: &Tensor, b: &Tensor) -> Tensor {
    zip_with(a, b, |x, y| x - y)
}

/// `a * b` (elementwise) with broadcasting. Precondition: the shapes broadcast.
pub fn mul(a: &Tensor, b: &Tensor) -> Tensor {
    zip_with(a, b, |x, y| x * y)
}

/// `a / b` (elementwise, IEEE division) with broadcasting. Precondition: the shapes broadcast.
pub fn div(a: &Tensor, b: &Tensor) -> Tensor {
    zip_with(a, b, |x, y| x / y)
}

/// Applies `f` to every element.
pub fn map(x: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    tensor(x.shape().to_vec(), x.data().iter().map(|&v| f(v)).collect())
}

/// `-x`.
pub fn neg(x: &Tensor) -> Tensor {
    map(x, |v| -v)
}

/// `max(x, 0)`; NaN stays NaN as in `np.maximum(x, 0)`.
pub fn relu(x: &Tensor) -> Tensor {
    map(x, |v| if v < 0.0 { 0.0 } else { v })
}

/// The logistic function 1 / (1 + e^−x), evaluated without overflow for large |x|.
pub fn sigmoid(x: &Tensor) -> Tensor {
    map(x, sigmoid1)
}

fn sigmoid1(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// Hyperbolic tangent.
pub fn tanh(x: &Tensor) -> Tensor {
    map(x, f64::tanh)
}

/// GELU: x·Φ(x), Φ the standard normal CDF (erf-based, as PyTorch's default).
pub fn gelu(x: &Tensor) -> Tensor {
    map(x, sir_runtime::math::table::gelu)
}

/// e^x.
pub fn exp(x: &Tensor) -> Tensor {
    map(x, f64::exp)
}

/// 1 / √x (inputs assumed > 0).
pub fn rsqrt(x: &Tensor) -> Tensor {
    map(x, |v| 1.0 / v.sqrt())
}

/// √x (inputs assumed ≥ 0).
pub fn sqrt(x: &Tensor) -> Tensor {
    map(x, f64::sqrt)
}

/// 1 / x (inputs assumed ≠ 0).
pub fn reciprocal(x: &Tensor) -> Tensor {
    map(x, |v| 1.0 / v)
}

/// c0 + c1·x + … + cd·x^d elementwise, by Horner's rule; no coefficients give 0.
pub fn poly(x: &Tensor, coeffs: &[f64]) -> Tensor {
    map(x, |v| coeffs.iter().rev().fold(0.0, |acc, &c| acc * v + c))
}

/// Coefficients of the degree-4 ReLU replacement of the activation co-design paper.
pub const POLY_RELU_COEFFS: [f64; 5] = [
    322.0 / 1024.0,
    512.0 / 1024.0,
    160.0 / 1024.0,
    0.0,
    -3.0 / 1024.0,
];

/// (322 + 512x + 160x² − 3x⁴) / 1024 elementwise.
pub fn poly_relu(x: &Tensor) -> Tensor {
    poly(x, &POLY_RELU_COEFFS)
}

// ---------------------------------------------------------------------------------------------
// Matrix product
// ---------------------------------------------------------------------------------------------

/// The matrix product `a @ b` as in NumPy, for operands of rank 1 or 2.
///
/// Precondition: `matmul_shape(a.shape(), b.shape())` is `Ok`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let out_shape = matmul_shape(a.shape(), b.shape()).expect("operands were shape-checked");
    let (ad, bd) = (a.data(), b.data());
    let (m, k) = match a.shape() {
        [m, k] => (*m, *k),
        [k] => (1, *k),
        _ => unreachable!("checked above"),
    };
    let data = if b.rank() == 2 {
        let n = b.shape()[1];
        let mut out = vec![0.0; m * n];
        // i-k-j order: the inner loop streams a row of b into a row of the output.
        for i in 0..m {
            let row = &mut out[i * n..(i + 1) * n];
            for p in 0..k {
                let aip = ad[i * k + p];
                let brow = &bd[p * n..(p + 1) * n];
                for (o, &bv) in row.iter_mut().zip(brow) {
                    *o += aip * bv;
                }
            }
        }
        out
    } else {
        (0..m)
            .map(|i| {
                ad[i * k..(i + 1) * k]
                    .iter()
                    .zip(bd)
                    .map(|(&x, &y)| x * y)
                    .sum()
            })
            .collect()
    };
    tensor(out_shape, data)
}

// ---------------------------------------------------------------------------------------------
// Indexing and slicing
// ---------------------------------------------------------------------------------------------

/// Output shape of `select(x, sels)`: selections apply to the leading axes, one per axis, and
/// the remaining axes are kept whole. `Index(i)` picks one position and drops the axis,
/// `Range(a, b)` keeps positions `a..b` (half-open) and the axis, `Full` keeps the whole axis.
pub fn select_shape(shape: &[usize], sels: &[Sel]) -> Result<Vec<usize>, ShapeError> {
    if sels.len() > shape.len() {
        return Err(format!(
            "{} indices for a tensor of rank {} (shape {shape:?})",
            sels.len(),
            shape.len()
        ));
    }
    let mut out = Vec::with_capacity(shape.len());
    for (axis, (sel, &dim)) in sels.iter().zip(shape).enumerate() {
        match *sel {
            Sel::Index(i) if i < dim => {}
            Sel::Index(i) => {
                return Err(format!(
                    "index {i} is out of bounds for axis {axis} of size {dim}"
                ));
            }
            Sel::Range(a, b) if a <= b && b <= dim => out.push(b - a),
            Sel::Range(a, b) => {
                return Err(format!(
                    "range {a}..{b} is out of bounds for axis {axis} of size {dim}"
                ));
            }
            Sel::Full => out.push(dim),
        }
    }
    out.extend_from_slice(&shape[sels.len()..]);
    Ok(out)
}

/// Indexing and slicing on leading axes, `x[i, a..b, :]`.
///
/// Precondition: `select_shape(x.shape(), sels)` is `Ok`.
pub fn select(x: &Tensor, sels: &[Sel]) -> Tensor {
    let out_shape = select_shape(x.shape(), sels).expect("selection was shape-checked");
    let shape = x.shape();
    let k = sels.len();
    // Every selection is a contiguous run along its axis: (start, length) per selected axis.
    let runs: Vec<(usize, usize)> = sels
        .iter()
        .zip(shape)
        .map(|(sel, &dim)| match *sel {
            Sel::Index(i) => (i, 1),
            Sel::Range(a, b) => (a, b - a),
            Sel::Full => (0, dim),
        })
        .collect();
    let n = numel(&out_shape);
    let mut data = Vec::with_capacity(n);
    if k == 0 {
        data.extend_from_slice(x.data());
        return tensor(out_shape, data);
    }
    if n == 0 {
        return tensor(out_shape, data);
    }
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    // The run on the last selected axis, together with all trailing axes, is contiguous.
    let chunk = runs[k - 1].1 * strides[k - 1];
    let base: usize = runs.iter().zip(&strides).map(|(&(s, _), &st)| s * st).sum();
    let src = x.data();
    let mut index = vec![0usize; k - 1];
    let mut offset = base;
    loop {
        data.extend_from_slice(&src[offset..offset + chunk]);
        let mut axis = k - 1;
        loop {
            if axis == 0 {
                return tensor(out_shape, data);
            }
            axis -= 1;
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < runs[axis].1 {
                break;
            }
            offset -= strides[axis] * runs[axis].1;
            index[axis] = 0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Block ReLU
// ---------------------------------------------------------------------------------------------

/// Checks `block_relu(x, [ph, pw])`: `x` is `[C, H, W]` and the patch sizes are at least 1.
/// The output has the shape of `x`.
pub fn block_relu_shape(shape: &[usize], ph: usize, pw: usize) -> Result<Vec<usize>, ShapeError> {
    if shape.len() != 3 {
        return Err(format!(
            "block_relu needs a [C, H, W] tensor, found shape {shape:?}"
        ));
    }
    if ph == 0 || pw == 0 {
        return Err(format!(
            "block_relu patch sizes must be at least 1, found [{ph}, {pw}]"
        ));
    }
    Ok(shape.to_vec())
}

/// Block ReLU on `[C, H, W]`: per channel, `ph × pw` patches tile the plane from the top-left
/// (border patches may be smaller); a patch is kept whole if the sum of its elements is > 0 and
/// zeroed otherwise. `[1, 1]` is plain ReLU.
///
/// Precondition: `block_relu_shape(x.shape(), ph, pw)` is `Ok`.
pub fn block_relu(x: &Tensor, ph: usize, pw: usize) -> Tensor {
    debug_assert!(block_relu_shape(x.shape(), ph, pw).is_ok());
    block_relu_channels(x, &[Patch::Block(ph, pw)])
}

/// [`block_relu`] with a choice per channel (one entry: every channel alike): patches, the
/// identity (the channel unchanged) or zero.
///
/// Precondition: x is `[C, H, W]` and `patches` has 1 or C entries.
pub fn block_relu_channels(x: &Tensor, patches: &[Patch]) -> Tensor {
    let (c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let mut data = x.data().to_vec();
    for ch in 0..c {
        let plane = &mut data[ch * h * w..(ch + 1) * h * w];
        let (ph, pw) = match Patch::of_channel(patches, ch) {
            Some(Patch::Block(ph, pw)) => (ph.max(1), pw.max(1)),
            Some(Patch::Zero) => {
                plane.fill(0.0);
                continue;
            }
            _ => continue,
        };
        let sums = patch_sums(plane, h, w, ph, pw);
        let nw = w.div_ceil(pw);
        for (k, sum) in sums.iter().enumerate() {
            // NaN sums zero the patch too: only a positive sum keeps it.
            if *sum > 0.0 {
                continue;
            }
            let (r0, c0) = (k / nw * ph, k % nw * pw);
            for r in r0..(r0 + ph).min(h) {
                plane[r * w + c0..r * w + (c0 + pw).min(w)].fill(0.0);
            }
        }
    }
    tensor(x.shape().to_vec(), data)
}

/// The sums of an h×w plane's ph×pw patches (tiled from the top-left, border patches smaller),
/// row of patches by row of patches; each sum adds its rows' partial sums.
pub fn patch_sums(plane: &[f64], h: usize, w: usize, ph: usize, pw: usize) -> Vec<f64> {
    let (ph, pw) = (ph.max(1), pw.max(1));
    let mut sums = Vec::with_capacity(h.div_ceil(ph) * w.div_ceil(pw));
    for r0 in (0..h).step_by(ph) {
        for c0 in (0..w).step_by(pw) {
            let cols = c0..(c0 + pw).min(w);
            sums.push(
                (r0..(r0 + ph).min(h))
                    .map(|r| {
                        plane[r * w + cols.start..r * w + cols.end]
                            .iter()
                            .sum::<f64>()
                    })
                    .sum(),
            );
        }
    }
    sums
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

/// Output shape of `sum`/`mean` over `axis` (the axis is removed) or over everything (a scalar).
pub fn reduce_shape(shape: &[usize], axis: Option<usize>) -> Result<Vec<usize>, ShapeError> {
    match axis {
        None => Ok(Vec::new()),
        Some(a) if a < shape.len() => {
            let mut out = shape.to_vec();
            out.remove(a);
            Ok(out)
        }
        Some(a) => Err(format!("axis {a} is out of range for shape {shape:?}")),
    }
}

/// Output shape of `max` over `axis` or everything; like [`reduce_shape`], but the reduced
/// extent must not be empty (a maximum of nothing is undefined).
pub fn max_shape(shape: &[usize], axis: Option<usize>) -> Result<Vec<usize>, ShapeError> {
    let out = reduce_shape(shape, axis)?;
    let empty = match axis {
        None => numel(shape) == 0,
        Some(a) => shape[a] == 0,
    };
    if empty {
        return Err(format!("max over an empty extent of shape {shape:?}"));
    }
    Ok(out)
}

/// Folds `x` along `axis` (or over everything) starting from `init`.
fn reduce(x: &Tensor, axis: Option<usize>, init: f64, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let out_shape = reduce_shape(x.shape(), axis).expect("axis was checked");
    let data = x.data();
    let Some(axis) = axis else {
        return Tensor::scalar(data.iter().fold(init, |acc, &v| f(acc, v)));
    };
    let shape = x.shape();
    let outer = numel(&shape[..axis]);
    let n = shape[axis];
    let inner = numel(&shape[axis + 1..]);
    let mut out = vec![init; outer * inner];
    // Walk the input in storage order, folding each slice along `axis` into its output row.
    for o in 0..outer {
        let acc = &mut out[o * inner..(o + 1) * inner];
        for j in 0..n {
            let src = &data[(o * n + j) * inner..(o * n + j + 1) * inner];
            for (a, &v) in acc.iter_mut().zip(src) {
                *a = f(*a, v);
            }
        }
    }
    tensor(out_shape, out)
}

/// Sum over `axis` (removing it) or over all elements to a scalar.
///
/// Precondition: `reduce_shape(x.shape(), axis)` is `Ok`.
pub fn sum(x: &Tensor, axis: Option<usize>) -> Tensor {
    reduce(x, axis, 0.0, |a, v| a + v)
}

/// Arithmetic mean over `axis` (removing it) or over all elements to a scalar.
///
/// Precondition: `reduce_shape(x.shape(), axis)` is `Ok`.
pub fn mean(x: &Tensor, axis: Option<usize>) -> Tensor {
    let count = match axis {
        None => x.len(),
        Some(a) => x.shape()[a],
    } as f64;
    let mut s = sum(x, axis);
    for v in s.data_mut() {
        *v /= count;
    }
    s
}

/// NumPy's `maximum`: NaN wins.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || a >= b { a } else { b }
}

/// Maximum over `axis` (removing it) or over all elements to a scalar; NaN propagates.
///
/// Precondition: `max_shape(x.shape(), axis)` is `Ok`.
pub fn max(x: &Tensor, axis: Option<usize>) -> Tensor {
    debug_assert!(max_shape(x.shape(), axis).is_ok());
    reduce(x, axis, f64::NEG_INFINITY, nan_max)
}

/// Checks `argmax(x)`: `x` is 1-D and not empty; the result is a scalar.
pub fn argmax_shape(shape: &[usize]) -> Result<Vec<usize>, ShapeError> {
    match shape {
        [n] if *n > 0 => Ok(Vec::new()),
        [_] => Err("argmax of an empty vector".into()),
        _ => Err(format!("argmax needs a 1-D tensor, found shape {shape:?}")),
    }
}

/// Index of the largest element of a 1-D tensor, as a scalar; the first one on ties, and the
/// first NaN if there is one (as NumPy).
///
/// Precondition: `argmax_shape(x.shape())` is `Ok`.
pub fn argmax(x: &Tensor) -> Tensor {
    debug_assert!(argmax_shape(x.shape()).is_ok());
    let mut best = 0;
    let data = x.data();
    for (i, &v) in data.iter().enumerate() {
        if v.is_nan() {
            best = i;
            break;
        }
        if v > data[best] {
            best = i;
        }
    }
    Tensor::scalar(best as f64)
}

/// Runs `f` on every row along the last axis (a scalar is one row of one element).
fn map_rows(x: &Tensor, mut f: impl FnMut(&[f64], &mut [f64])) -> Tensor {
    let d = x.shape().last().copied().unwrap_or(1);
    let mut out = vec![0.0; x.len()];
    if d > 0 {
        for (src, dst) in x.data().chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            f(src, dst);
        }
    }
    tensor(x.shape().to_vec(), out)
}

/// Softmax over the last axis, exp(x − max) / Σ exp(x − max) per row.
pub fn softmax(x: &Tensor) -> Tensor {
    map_rows(x, |src, dst| {
        let m = src.iter().copied().fold(f64::NEG_INFINITY, nan_max);
        let mut total = 0.0;
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = (v - m).exp();
            total += *d;
        }
        for d in dst.iter_mut() {
            *d /= total;
        }
    })
}

/// The variance offset of `layernorm`.
pub const LAYERNORM_EPS: f64 = 1e-5;

/// Checks `layernorm(x, gamma, beta)`: `gamma` and `beta` broadcast against the last axis of `x`
/// (shape `[D]`, `[1]` or `[]`). The output has the shape of `x`.
pub fn layernorm_shape(
    x: &[usize],
    gamma: &[usize],
    beta: &[usize],
) -> Result<Vec<usize>, ShapeError> {
    let Some(&d) = x.last() else {
        return Err("layernorm needs a tensor of rank at least 1, found a scalar".into());
    };
    for (name, s) in [("gamma", gamma), ("beta", beta)] {
        match s {
            [] | [1] => {}
            [n] if *n == d => {}
            _ => {
                return Err(format!(
                    "layernorm {name} has shape {s:?}, expected [{d}] to match the last axis of {x:?}"
                ));
            }
        }
    }
    Ok(x.to_vec())
}

/// Layer normalisation over the last axis: (x − mean)·(var + 1e-5)^(−1/2)·gamma + beta, with
/// the population variance; `gamma`, `beta` broadcast along the last axis.
///
/// Precondition: `layernorm_shape(x, gamma, beta)` is `Ok`.
pub fn layernorm(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Tensor {
    debug_assert!(layernorm_shape(x.shape(), gamma.shape(), beta.shape()).is_ok());
    let (g, b) = (gamma.data(), beta.data());
    // Stride 0 repeats a single scale or shift along the row.
    let (gs, bs) = (usize::from(g.len() > 1), usize::from(b.len() > 1));
    map_rows(x, |src, dst| {
        let n = src.len() as f64;
        let mu = src.iter().sum::<f64>() / n;
        let var = src.iter().map(|&v| (v - mu) * (v - mu)).sum::<f64>() / n;
        let inv = 1.0 / (var + LAYERNORM_EPS).sqrt();
        for (j, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
            *d = (v - mu) * inv * g[j * gs] + b[j * bs];
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling
// ---------------------------------------------------------------------------------------------

/// Output shape of `conv2d(x, w, b, stride, pad)`: x `[C,H,W]`, w `[O,C,KH,KW]`, b `[O]` →
/// `[O, (H + 2·pad − KH)/stride + 1, (W + 2·pad − KW)/stride + 1]` (floor division).
pub fn conv2d_shape(
    x: &[usize],
    w: &[usize],
    b: &[usize],
    stride: usize,
    pad: usize,
) -> Result<Vec<usize>, ShapeError> {
    let &[c, h, wd] = x else {
        return Err(format!("conv2d input must be [C, H, W], found {x:?}"));
    };
    let &[o, wc, kh, kw] = w else {
        return Err(format!(
            "conv2d weights must be [O, C, KH, KW], found {w:?}"
        ));
    };
    if wc != c {
        return Err(format!(
            "conv2d weights {w:?} expect {wc} input channels, the input {x:?} has {c}"
        ));
    }
    if b != [o] {
        return Err(format!("conv2d bias must be [{o}], found {b:?}"));
    }
    if stride == 0 {
        return Err("conv2d stride must be at least 1".into());
    }
    if kh == 0 || kw == 0 {
        return Err(format!("conv2d kernel {kh}×{kw} is empty"));
    }
    let (ph, pw) = (h + 2 * pad, wd + 2 * pad);
    if ph < kh || pw < kw {
        return Err(format!(
            "conv2d kernel {kh}×{kw} is larger than the padded input {ph}×{pw}"
        ));
    }
    Ok(vec![o, (ph - kh) / stride + 1, (pw - kw) / stride + 1])
}

/// Range of output positions `q` for which `q·stride + k − pad` lies in `0..len`.
fn valid_outputs(k: usize, pad: usize, stride: usize, len: usize, out: usize) -> (usize, usize) {
    // Smallest q with q·stride + k ≥ pad.
    let lo = if k >= pad {
        0
    } else {
        (pad - k).div_ceil(stride)
    };
    // Largest q with q·stride + k − pad ≤ len − 1, exclusive bound.
    let hi = if len + pad > k {
        ((len + pad - 1 - k) / stride + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// 2-D cross-correlation with zero padding, as PyTorch's `conv2d` on one sample:
/// `out[o, i, j] = b[o] + Σ_{c,p,q} w[o,c,p,q] · x[c, i·stride + p − pad, j·stride + q − pad]`.
///
/// Precondition: `conv2d_shape(x, w, b, stride, pad)` is `Ok`.
pub fn conv2d(x: &Tensor, w: &Tensor, b: &Tensor, stride: usize, pad: usize) -> Tensor {
    let out_shape =
        conv2d_shape(x.shape(), w.shape(), b.shape(), stride, pad).expect("conv2d shape-checked");
    let (c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (kh, kw) = (w.shape()[2], w.shape()[3]);
    let (o, oh, ow) = (out_shape[0], out_shape[1], out_shape[2]);
    let (xd, wdat) = (x.data(), w.data());
    let mut out = vec![0.0; o * oh * ow];
    for (oc, plane) in out.chunks_exact_mut(oh * ow).enumerate() {
        plane.fill(b.data()[oc]);
        for ic in 0..c {
            let xplane = &xd[ic * h * wd..(ic + 1) * h * wd];
            for p in 0..kh {
                let (i_lo, i_hi) = valid_outputs(p, pad, stride, h, oh);
                for q in 0..kw {
                    let wv = wdat[((oc * c + ic) * kh + p) * kw + q];
                    let (j_lo, j_hi) = valid_outputs(q, pad, stride, wd, ow);
                    for i in i_lo..i_hi {
                        let xrow = &xplane[(i * stride + p - pad) * wd..];
                        let orow = &mut plane[i * ow..(i + 1) * ow];
                        for j in j_lo..j_hi {
                            orow[j] += wv * xrow[j * stride + q - pad];
                        }
                    }
                }
            }
        }
    }
    tensor(out_shape, out)
}

/// Output shape of `maxpool2d`/`avgpool2d(x, k, stride)` on `[C,H,W]` without padding:
/// `[C, ⌊(H−k)/stride⌋+1, ⌊(W−k)/stride⌋+1]`.
pub fn pool_shape(x: &[usize], k: usize, stride: usize) -> Result<Vec<usize>, ShapeError> {
    let &[c, h, w] = x else {
        return Err(format!("pooling needs a [C, H, W] tensor, found {x:?}"));
    };
    if k == 0 || stride == 0 {
        return Err(format!(
            "pooling window ({k}) and stride ({stride}) must be at least 1"
        ));
    }
    if h < k || w < k {
        return Err(format!(
            "pooling window {k}×{k} is larger than the input {h}×{w}"
        ));
    }
    Ok(vec![c, (h - k) / stride + 1, (w - k) / stride + 1])
}

fn pool(x: &Tensor, k: usize, stride: usize, init: f64, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let out_shape = pool_shape(x.shape(), k, stride).expect("pooling shape-checked");
    let (h, w) = (x.shape()[1], x.shape()[2]);
    let (oh, ow) = (out_shape[1], out_shape[2]);
    let mut out = Vec::with_capacity(numel(&out_shape));
    for plane in x.data().chunks_exact(h * w) {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = init;
                for p in 0..k {
                    let row = &plane[(i * stride + p) * w + j * stride..][..k];
                    acc = row.iter().fold(acc, |a, &v| f(a, v));
                }
                out.push(acc);
            }
        }
    }
    tensor(out_shape, out)
}

/// Max pooling over `k×k` windows moved by `stride`, no padding; NaN propagates.
///
/// Precondition: `pool_shape(x.shape(), k, stride)` is `Ok`.
pub fn maxpool2d(x: &Tensor, k: usize, stride: usize) -> Tensor {
    pool(x, k, stride, f64::NEG_INFINITY, nan_max)
}

/// Average pooling over `k×k` windows moved by `stride`, no padding.
///
/// Precondition: `pool_shape(x.shape(), k, stride)` is `Ok`.
pub fn avgpool2d(x: &Tensor, k: usize, stride: usize) -> Tensor {
    let mut t = pool(x, k, stride, 0.0, |a, v| a + v);
    let area = (k * k) as f64;
    for v in t.data_mut() {
        *v /= area;
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Data movement and constants
// ---------------------------------------------------------------------------------------------

/// Checks `reshape(x, to)`: the element counts must agree. Returns `to`.
pub fn reshape_shape(from: &[usize], to: &[usize]) -> Result<Vec<usize>, ShapeError> {
    if numel(from) != numel(to) {
        return Err(format!(
            "cannot reshape {from:?} ({} elements) to {to:?} ({} elements)",
            numel(from),
            numel(to)
        ));
    }
    Ok(to.to_vec())
}

/// The same elements in row-major order, viewed with another shape.
///
/// Precondition: `reshape_shape(x.shape(), shape)` is `Ok`.
pub fn reshape(x: &Tensor, shape: &[usize]) -> Tensor {
    tensor(shape.to_vec(), x.data().to_vec())
}

/// All elements as a 1-D tensor, in row-major order.
pub fn flatten(x: &Tensor) -> Tensor {
    tensor(vec![x.len()], x.data().to_vec())
}

/// Output shape of `transpose`: the axes reversed.
pub fn transpose_shape(shape: &[usize]) -> Vec<usize> {
    shape.iter().rev().copied().collect()
}

/// Reverses the order of all axes, like NumPy's `.T`.
pub fn transpose(x: &Tensor) -> Tensor {
    let shape = x.shape();
    let rank = shape.len();
    let out_shape = transpose_shape(shape);
    let src = x.data();
    if rank < 2 || src.is_empty() {
        return tensor(out_shape, src.to_vec());
    }
    let mut in_strides = vec![1usize; rank];
    for i in (0..rank - 1).rev() {
        in_strides[i] = in_strides[i + 1] * shape[i + 1];
    }
    // Output axis i is input axis rank−1−i.
    let strides: Vec<usize> = in_strides.iter().rev().copied().collect();
    let mut data = Vec::with_capacity(src.len());
    let inner = out_shape[rank - 1];
    let inner_stride = strides[rank - 1];
    let mut index = vec![0usize; rank - 1];
    let mut offset = 0usize;
    loop {
        data.extend((0..inner).map(|j| src[offset + j * inner_stride]));
        let mut axis = rank - 1;
        loop {
            if axis == 0 {
                return tensor(out_shape, data);
            }
            axis -= 1;
            index[axis] += 1;
            offset += strides[axis];
            if index[axis] < out_shape[axis] {
                break;
            }
            offset -= strides[axis] * out_shape[axis];
            index[axis] = 0;
        }
    }
}

/// Output shape of `concat(parts, axis)`: all parts have the same rank (≥ 1) and agree on
/// every axis but `axis`, whose sizes add up.
pub fn concat_shape(parts: &[&[usize]], axis: usize) -> Result<Vec<usize>, ShapeError> {
    let Some(first) = parts.first() else {
        return Err("concat of no tensors".into());
    };
    if axis >= first.len() {
        return Err(format!(
            "concat axis {axis} is out of range for shape {first:?}"
        ));
    }
    let mut out = first.to_vec();
    for s in &parts[1..] {
        let agrees = s.len() == first.len()
            && s.iter()
                .zip(first.iter())
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if !agrees {
            return Err(format!(
                "cannot concatenate {first:?} and {s:?} along axis {axis}"
            ));
        }
        out[axis] += s[axis];
    }
    Ok(out)
}

/// Joins tensors along `axis`, in order.
///
/// Precondition: `concat_shape` of their shapes is `Ok`.
pub fn concat(parts: &[&Tensor], axis: usize) -> Tensor {
    let shapes: Vec<&[usize]> = parts.iter().map(|t| t.shape()).collect();
    let out_shape = concat_shape(&shapes, axis).expect("concat shape-checked");
    let outer = numel(&out_shape[..axis]);
    let inner = numel(&out_shape[axis + 1..]);
    let mut data = Vec::with_capacity(numel(&out_shape));
    for o in 0..outer {
        for t in parts {
            let block = t.shape()[axis] * inner;
            data.extend_from_slice(&t.data()[o * block..(o + 1) * block]);
        }
    }
    tensor(out_shape, data)
}

/// A tensor of zeros.
pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::full(shape.to_vec(), 0.0)
}

/// A tensor of ones.
pub fn ones(shape: &[usize]) -> Tensor {
    Tensor::full(shape.to_vec(), 1.0)
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

/// The kernel of a binary operator: `+ - * /` with broadcasting, `@`. The interpreter and the
/// dataflow graph's evaluator both call this, so they cannot disagree on an operator.
///
/// Precondition: the operand shapes passed the checker for `op`.
pub fn binary(op: BinOp, a: &Tensor, b: &Tensor) -> Tensor {
    match op {
        BinOp::Add => add(a, b),
        BinOp::Sub => sub(a, b),
        BinOp::Mul => mul(a, b),
        BinOp::Div => div(a, b),
        BinOp::MatMul => matmul(a, b),
    }
}

/// The kernel of a builtin applied to its tensor operands (`args`, in order). `None` when an
/// operand is missing, which the checker rules out; one dispatch shared by the interpreter and
/// the dataflow graph's evaluator.
///
/// Precondition: the operand shapes passed the checker for `op`.
pub fn builtin(op: &Builtin, args: &[&Tensor]) -> Option<Tensor> {
    let x = || args.first().copied();
    Some(match op {
        Builtin::Zeros(s) => zeros(s),
        Builtin::Ones(s) => ones(s),
        Builtin::Relu => relu(x()?),
        Builtin::Sigmoid => sigmoid(x()?),
        Builtin::Tanh => tanh(x()?),
        Builtin::Gelu => gelu(x()?),
        Builtin::Exp => exp(x()?),
        Builtin::Rsqrt => rsqrt(x()?),
        Builtin::Sqrt => sqrt(x()?),
        Builtin::Reciprocal => reciprocal(x()?),
        Builtin::Poly(c) => poly(x()?, c),
        Builtin::PolyRelu => poly_relu(x()?),
        // Without a patch the compiler picks one under a ReLU budget; the float reference is the
        // plain ReLU those choices approximate.
        Builtin::BlockRelu(p) => {
            let [ph, pw] = p.unwrap_or([1, 1]);
            block_relu(x()?, ph, pw)
        }
        Builtin::Max(a) => max(x()?, *a),
        Builtin::Argmax => argmax(x()?),
        Builtin::Sum(a) => sum(x()?, *a),
        Builtin::Mean(a) => mean(x()?, *a),
        Builtin::Softmax => softmax(x()?),
        Builtin::Layernorm => layernorm(args.first()?, args.get(1)?, args.get(2)?),
        Builtin::Conv2d { stride, pad } => {
            conv2d(args.first()?, args.get(1)?, args.get(2)?, *stride, *pad)
        }
        Builtin::Maxpool2d { k, stride } => maxpool2d(x()?, *k, *stride),
        Builtin::Avgpool2d { k, stride } => avgpool2d(x()?, *k, *stride),
        Builtin::Reshape(s) => reshape(x()?, s),
        Builtin::Flatten => flatten(x()?),
        Builtin::Transpose => transpose(x()?),
        Builtin::Concat(a) => concat(args, *a),
    })
}

#[cfg(test)]
#[path = "kernels_tests.rs"]
mod tests;
