//! Kernels against NumPy reference values (tests/data/kernels/, made by
//! tests/data/gen_kernel_cases.py) and a few hand-derived cases.

use std::collections::HashMap;
use std::path::Path;

use super::*;

struct Cases {
    file: &'static str,
    arrays: HashMap<String, Tensor>,
}

impl Cases {
    fn load(file: &'static str) -> Cases {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/kernels")
            .join(file);
        let arrays = sir_runtime::npy::read_npz(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .collect();
        Cases { file, arrays }
    }

    /// Number of cases recorded for `kernel`.
    fn count(&self, kernel: &str) -> usize {
        let n = (0..)
            .take_while(|i| self.arrays.contains_key(&format!("{kernel}.{i}.out")))
            .count();
        assert!(n > 0, "{}: no cases for {kernel}", self.file);
        n
    }

    fn get(&self, kernel: &str, i: usize, role: &str) -> &Tensor {
        let name = format!("{kernel}.{i}.{role}");
        self.arrays
            .get(&name)
            .unwrap_or_else(|| panic!("{}: missing {name}", self.file))
    }

    fn int(&self, kernel: &str, i: usize, role: &str) -> i64 {
        let t = self.get(kernel, i, role);
        assert_eq!(t.rank(), 0, "{kernel}.{i}.{role} is not a scalar");
        t.data()[0] as i64
    }

    fn usize(&self, kernel: &str, i: usize, role: &str) -> usize {
        usize::try_from(self.int(kernel, i, role)).expect("non-negative parameter")
    }

    /// Runs every case of `kernel` and compares with its `out`.
    fn check(&self, kernel: &str, run: impl Fn(&Cases, usize) -> Tensor) {
        for i in 0..self.count(kernel) {
            assert_close(
                &run(self, i),
                self.get(kernel, i, "out"),
                &format!("{kernel}.{i}"),
            );
        }
    }
}

/// Equal shapes, and each element within relative 1e-9 (absolute 1e-12 near zero); NaN matches
/// NaN and infinities match exactly.
#[track_caller]
fn assert_close(actual: &Tensor, expected: &Tensor, ctx: &str) {
    assert_eq!(actual.shape(), expected.shape(), "{ctx}: shape");
    for (k, (&a, &e)) in actual.data().iter().zip(expected.data()).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() {
            a == e
        } else {
            (a - e).abs() <= (1e-9 * e.abs()).max(1e-12)
        };
        assert!(ok, "{ctx}: element {k}: got {a:e}, NumPy gives {e:e}");
    }
}

type Binary = fn(&Tensor, &Tensor) -> Tensor;
type Unary = fn(&Tensor) -> Tensor;

fn t(shape: &[usize], data: &[f64]) -> Tensor {
    Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
}

fn axis(c: &Cases, kernel: &str, i: usize) -> Option<usize> {
    usize::try_from(c.int(kernel, i, "axis")).ok()
}

#[test]
fn binary_ops_broadcast_like_numpy() {
    let c = Cases::load("elementwise.npz");
    let ops: [(&str, Binary); 4] = [("add", add), ("sub", sub), ("mul", mul), ("div", div)];
    for (name, op) in ops {
        c.check(name, |c, i| {
            let (a, b) = (c.get(name, i, "a"), c.get(name, i, "b"));
            assert!(broadcast_shapes(a.shape(), b.shape()).is_some());
            op(a, b)
        });
    }
}

#[test]
fn broadcast_shape_rules() {
    assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
    assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
    assert_eq!(broadcast_shapes(&[0, 3], &[1]), Some(vec![0, 3]));
    assert_eq!(broadcast_shapes(&[3], &[4]), None);
    assert_eq!(broadcast_shapes(&[2, 3], &[3, 3]), None);
    assert_eq!(broadcast_shapes(&[0], &[2]), None);
}

#[test]
fn unary_ops_match_numpy() {
    let c = Cases::load("elementwise.npz");
    let ops: [(&str, Unary); 9] = [
        ("neg", neg),
        ("relu", relu),
        ("sigmoid", sigmoid),
        ("tanh", tanh),
        ("exp", exp),
        ("rsqrt", rsqrt),
        ("sqrt", sqrt),
        ("reciprocal", reciprocal),
        ("poly_relu", poly_relu),
    ];
    for (name, op) in ops {
        c.check(name, |c, i| op(c.get(name, i, "x")));
    }
    c.check("poly", |c, i| {
        poly(c.get("poly", i, "x"), c.get("poly", i, "coeffs").data())
    });
}

#[test]
fn sigmoid_is_stable_at_extremes() {
    let y = sigmoid(&t(&[4], &[-1000.0, 1000.0, -40.0, 0.0]));
    assert_eq!(y.data()[0], 0.0);
    assert_eq!(y.data()[1], 1.0);
    assert!(y.data()[2] > 0.0 && y.data()[2] < 1e-17);
    assert_eq!(y.data()[3], 0.5);
}

#[test]
fn matmul_matches_numpy() {
    let c = Cases::load("matmul.npz");
    c.check("matmul", |c, i| {
        let (a, b) = (c.get("matmul", i, "a"), c.get("matmul", i, "b"));
        assert!(matmul_shape(a.shape(), b.shape()).is_ok());
        matmul(a, b)
    });
    assert!(matmul_shape(&[2, 3], &[4, 2]).is_err());
    assert!(matmul_shape(&[2, 3, 4], &[4, 2]).is_err());
    assert!(matmul_shape(&[], &[2]).is_err());
}

#[test]
fn reductions_match_numpy() {
    let c = Cases::load("reduce.npz");
    c.check("sum", |c, i| sum(c.get("sum", i, "x"), axis(c, "sum", i)));
    c.check("mean", |c, i| {
        mean(c.get("mean", i, "x"), axis(c, "mean", i))
    });
    c.check("max", |c, i| {
        let (x, ax) = (c.get("max", i, "x"), axis(c, "max", i));
        assert!(max_shape(x.shape(), ax).is_ok());
        max(x, ax)
    });
    c.check("argmax", |c, i| argmax(c.get("argmax", i, "x")));
    assert_eq!(reduce_shape(&[2, 3, 4], Some(1)).unwrap(), vec![2, 4]);
    assert!(reduce_shape(&[2, 3], Some(2)).is_err());
    assert!(max_shape(&[2, 0], Some(1)).is_err());
    assert!(max_shape(&[2, 0], Some(0)).is_ok());
    assert!(argmax_shape(&[0]).is_err());
    assert!(argmax_shape(&[2, 2]).is_err());
}

#[test]
fn argmax_takes_the_first_of_ties() {
    assert_eq!(argmax(&t(&[5], &[1.0, 7.0, 3.0, 7.0, 7.0])).data(), &[1.0]);
    assert_eq!(argmax(&t(&[3], &[-2.0, -2.0, -2.0])).data(), &[0.0]);
    assert_eq!(argmax(&t(&[1], &[f64::NEG_INFINITY])).data(), &[0.0]);
    assert_eq!(argmax(&t(&[3], &[0.0, -0.0, 0.0])).data(), &[0.0]);
}

#[test]
fn softmax_and_layernorm_match_numpy() {
    let c = Cases::load("reduce.npz");
    c.check("softmax", |c, i| softmax(c.get("softmax", i, "x")));
    c.check("layernorm", |c, i| {
        let (x, g, b) = (
            c.get("layernorm", i, "x"),
            c.get("layernorm", i, "gamma"),
            c.get("layernorm", i, "beta"),
        );
        assert!(layernorm_shape(x.shape(), g.shape(), b.shape()).is_ok());
        layernorm(x, g, b)
    });
    assert!(layernorm_shape(&[3, 4], &[3], &[4]).is_err());
    assert!(layernorm_shape(&[], &[], &[]).is_err());
    assert_eq!(softmax(&Tensor::scalar(3.0)).data(), &[1.0]);
}

#[test]
fn conv_and_pooling_match_numpy() {
    let c = Cases::load("conv.npz");
    c.check("conv2d", |c, i| {
        let k = "conv2d";
        let (x, w, b) = (c.get(k, i, "x"), c.get(k, i, "w"), c.get(k, i, "b"));
        let (stride, pad) = (c.usize(k, i, "stride"), c.usize(k, i, "pad"));
        assert!(conv2d_shape(x.shape(), w.shape(), b.shape(), stride, pad).is_ok());
        conv2d(x, w, b, stride, pad)
    });
    for k in ["maxpool2d", "avgpool2d"] {
        let f = if k == "maxpool2d" {
            maxpool2d
        } else {
            avgpool2d
        };
        c.check(k, |c, i| {
            let (x, size, stride) = (
                c.get(k, i, "x"),
                c.usize(k, i, "k"),
                c.usize(k, i, "stride"),
            );
            assert!(pool_shape(x.shape(), size, stride).is_ok());
            f(x, size, stride)
        });
    }
    c.check("block_relu", |c, i| {
        let patch = c.get("block_relu", i, "patch").data();
        block_relu(
            c.get("block_relu", i, "x"),
            patch[0] as usize,
            patch[1] as usize,
        )
    });
}

#[test]
fn conv_and_pool_shapes() {
    assert_eq!(
        conv2d_shape(&[3, 32, 32], &[16, 3, 3, 3], &[16], 1, 1).unwrap(),
        vec![16, 32, 32]
    );
    assert_eq!(
        conv2d_shape(&[3, 32, 32], &[16, 3, 5, 5], &[16], 2, 0).unwrap(),
        vec![16, 14, 14]
    );
    assert!(conv2d_shape(&[3, 8, 8], &[16, 2, 3, 3], &[16], 1, 0).is_err());
    assert!(conv2d_shape(&[3, 8, 8], &[16, 3, 3, 3], &[8], 1, 0).is_err());
    assert!(conv2d_shape(&[3, 8, 8], &[16, 3, 3, 3], &[16], 0, 0).is_err());
    assert!(conv2d_shape(&[3, 2, 8], &[16, 3, 3, 3], &[16], 1, 0).is_err());
    assert!(conv2d_shape(&[3, 8, 8], &[16, 3, 0, 3], &[16], 1, 0).is_err());
    assert_eq!(pool_shape(&[4, 7, 9], 2, 2).unwrap(), vec![4, 3, 4]);
    assert!(pool_shape(&[4, 1, 9], 2, 2).is_err());
    assert!(pool_shape(&[4, 8, 8], 2, 0).is_err());
    assert!(pool_shape(&[8, 8], 2, 2).is_err());
}

#[test]
fn block_relu_by_hand() {
    // One 3×5 channel, 2×2 patches: patches are rows {0,1},{2} × columns {0,1},{2,3},{4}.
    #[rustfmt::skip]
    let x = t(&[1, 3, 5], &[
        1.0, -2.0,   3.0, -1.0,   -4.0,
        2.0, -0.5,  -3.0,  1.0,    5.0,
        -1.0, 1.0,   0.5, -0.25,  -1e-9,
    ]);
    #[rustfmt::skip]
    let expected = t(&[1, 3, 5], &[
        1.0, -2.0,   0.0,  0.0,   -4.0,
        2.0, -0.5,   0.0,  0.0,    5.0,
        0.0,  0.0,   0.5, -0.25,   0.0,
    ]);
    // Patch sums: 0.5 keep, 0 zero (not > 0), 1 keep; 0 zero, 0.25 keep, −1e-9 zero.
    assert_eq!(block_relu(&x, 2, 2), expected);
    // [1, 1] is ReLU; one patch covering everything keeps or zeroes the whole channel.
    assert_eq!(block_relu(&x, 1, 1), relu(&x));
    let sum_x: f64 = x.data().iter().sum();
    assert!(sum_x > 0.0);
    assert_eq!(block_relu(&x, 10, 10), x);
    assert_eq!(block_relu(&neg(&x), 3, 5), zeros(&[1, 3, 5]));
    assert!(block_relu_shape(&[3, 5], 1, 1).is_err());
    assert!(block_relu_shape(&[1, 3, 5], 0, 1).is_err());
}

#[test]
fn select_matches_numpy() {
    let c = Cases::load("movement.npz");
    c.check("select", |c, i| {
        let rows = c.get("select", i, "sels");
        let sels: Vec<Sel> = rows
            .data()
            .chunks_exact(3)
            .map(|r| match r[0] as i64 {
                0 => Sel::Index(r[1] as usize),
                1 => Sel::Range(r[1] as usize, r[2] as usize),
                _ => Sel::Full,
            })
            .collect();
        let x = c.get("select", i, "x");
        assert!(select_shape(x.shape(), &sels).is_ok());
        select(x, &sels)
    });
    let shape = [4, 5, 6];
    assert!(select_shape(&shape, &[Sel::Index(4)]).is_err());
    assert!(select_shape(&shape, &[Sel::Full, Sel::Range(3, 6)]).is_err());
    assert!(select_shape(&shape, &[Sel::Range(3, 2)]).is_err());
    assert!(select_shape(&shape, &[Sel::Full; 4]).is_err());
    assert_eq!(
        select_shape(&shape, &[Sel::Index(0); 3]).unwrap(),
        Vec::<usize>::new()
    );
    assert_eq!(
        select(&t(&[2], &[4.0, 5.0]), &[Sel::Index(1)]),
        Tensor::scalar(5.0)
    );
}

#[test]
fn transpose_and_concat_match_numpy() {
    let c = Cases::load("movement.npz");
    c.check("transpose", |c, i| transpose(c.get("transpose", i, "x")));
    c.check("concat", |c, i| {
        let parts: Vec<&Tensor> = (0..)
            .map_while(|p| c.arrays.get(&format!("concat.{i}.p{p}")))
            .collect();
        concat(&parts, c.usize("concat", i, "axis"))
    });
    assert!(concat_shape(&[], 0).is_err());
    assert!(concat_shape(&[&[2, 3], &[2, 4]], 0).is_err());
    assert!(concat_shape(&[&[2, 3], &[2]], 0).is_err());
    assert!(concat_shape(&[&[]], 0).is_err());
    assert_eq!(concat_shape(&[&[2, 3], &[2, 4]], 1).unwrap(), vec![2, 7]);
}

#[test]
fn reshape_flatten_constants() {
    let x = t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(reshape(&x, &[3, 1, 2]), t(&[3, 1, 2], x.data()));
    assert_eq!(flatten(&x), t(&[6], x.data()));
    assert_eq!(flatten(&Tensor::scalar(2.0)), t(&[1], &[2.0]));
    assert!(reshape_shape(&[2, 3], &[4]).is_err());
    assert_eq!(reshape_shape(&[2, 3], &[6, 1]).unwrap(), vec![6, 1]);
    assert_eq!(zeros(&[2, 2]), t(&[2, 2], &[0.0; 4]));
    assert_eq!(ones(&[]), Tensor::scalar(1.0));
    assert_eq!(transpose(&transpose(&x)), x);
}

/// Every kernel accepts every degenerate shape its shape function accepts, without panicking.
#[test]
fn empty_and_degenerate_shapes_do_not_panic() {
    let e = t(&[0, 3], &[]);
    assert_eq!(add(&e, &t(&[3], &[1.0, 2.0, 3.0])).shape(), &[0, 3]);
    assert_eq!(sum(&e, Some(0)).data(), &[0.0; 3]);
    assert!(mean(&e, None).data()[0].is_nan());
    assert_eq!(max(&e, Some(1)).shape(), &[0]);
    assert_eq!(softmax(&e).shape(), &[0, 3]);
    assert_eq!(softmax(&t(&[2, 0], &[])).shape(), &[2, 0]);
    assert_eq!(transpose(&e).shape(), &[3, 0]);
    assert_eq!(select(&e, &[Sel::Range(0, 0)]).shape(), &[0, 3]);
    assert_eq!(matmul(&t(&[2, 0], &[]), &t(&[0, 3], &[])), zeros(&[2, 3]));
    assert_eq!(concat(&[&e, &e], 0).shape(), &[0, 3]);
    // A zero-height input that padding makes large enough for the kernel.
    let x = t(&[1, 0, 2], &[]);
    let w = t(&[1, 1, 2, 2], &[1.0; 4]);
    let b = t(&[1], &[0.5]);
    assert_eq!(
        conv2d_shape(x.shape(), w.shape(), b.shape(), 1, 1).unwrap(),
        vec![1, 1, 3]
    );
    assert_eq!(conv2d(&x, &w, &b, 1, 1), t(&[1, 1, 3], &[0.5; 3]));
    assert_eq!(block_relu(&t(&[0, 4, 4], &[]), 2, 2).shape(), &[0, 4, 4]);
    assert_eq!(maxpool2d(&t(&[0, 2, 2], &[]), 2, 2).shape(), &[0, 1, 1]);
    assert_eq!(
        layernorm(&t(&[2, 0], &[]), &t(&[0], &[]), &t(&[], &[0.0])).shape(),
        &[2, 0]
    );
}
