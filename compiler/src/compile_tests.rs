//! The compiler end to end on small programs: plans whose cleartext fixed point follows float
//! where the review found the lowering could go wrong (ReLU of negative values, a large
//! constant subtracted, a labelled budget).

use super::*;
use crate::eval::bind::Batch;
use sir_runtime::Tensor;
use std::collections::HashMap;
use std::path::Path;

fn program(src: &str) -> tir::Program {
    let fs: HashMap<std::path::PathBuf, String> = HashMap::new();
    let c = crate::check_source("t.sir", src.to_string(), Path::new("."), &fs);
    c.program.expect("checks")
}

fn batch(rows: Vec<Vec<f64>>) -> Batch {
    let n = rows.len();
    let k = rows[0].len();
    Batch {
        batched: true,
        samples: n,
        inputs: vec![Tensor::new(vec![n, k], rows.concat()).expect("shape")],
    }
}

fn close(src: &str, w: Vec<Tensor>, rows: Vec<Vec<f64>>, tol: f64) -> Compiled {
    let prog = program(src);
    let weights: Vec<Arc<Tensor>> = w.into_iter().map(Arc::new).collect();
    let b = batch(rows);
    let c = compile(&prog, src, &weights, &b, None, Some(Budget::MaxError(tol))).expect("compiles");
    let samples: Vec<_> = (0..b.samples).map(|i| b.sample(i)).collect();
    let fixed = run_plan(&c.plan, &samples, &weights).expect("runs");
    for (s, f) in samples.iter().zip(&fixed) {
        let want = graph::eval(&graph::build(&prog).unwrap(), s, &weights).unwrap();
        for (a, b) in want[0].data().iter().zip(f[0].data()) {
            assert!((a - b).abs() <= tol, "{a} vs {b}");
        }
    }
    c
}

#[test]
fn relu_of_negative_values_and_large_constants_follow_float() {
    let src = "model m { input x: [4]; param W: [4, 3];
        output y = relu(x @ W - 105.0) + relu(0.0 - x @ W) * 0.5; }";
    let w = Tensor::new(
        vec![4, 3],
        vec![
            30.0, -2.0, 0.5, 20.0, 1.0, -0.5, 40.0, 3.0, 0.25, 25.0, -1.0, 1.0,
        ],
    )
    .unwrap();
    let rows: Vec<Vec<f64>> = (0..32)
        .map(|i| {
            (0..4)
                .map(|j| ((i * 7 + j * 3) % 11) as f64 / 10.0 - 0.5 + (i % 3) as f64)
                .collect()
        })
        .collect();
    close(src, vec![w], rows, 0.05);
}

#[test]
fn a_labelled_budget_compares_accuracy() {
    let src = "model m { input x: [3]; param W: [3, 4]; output c = argmax(x @ W); }";
    let w = Tensor::new(
        vec![3, 4],
        vec![
            1.0, 0.0, -1.0, 0.5, 0.0, 1.0, 0.5, -1.0, -0.5, 0.5, 1.0, 0.0,
        ],
    )
    .unwrap();
    let rows: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            vec![
                (i % 5) as f64 - 2.0,
                (i % 7) as f64 * 0.3,
                (i % 3) as f64 - 1.0,
            ]
        })
        .collect();
    let prog = program(src);
    let weights = vec![Arc::new(w)];
    let b = batch(rows);
    let samples: Vec<_> = (0..b.samples).map(|i| b.sample(i)).collect();
    let g = graph::build(&prog).unwrap();
    let labels: Vec<usize> = samples
        .iter()
        .map(|s| graph::eval(&g, s, &weights).unwrap()[0].data()[0] as usize)
        .collect();
    let c = compile(
        &prog,
        src,
        &weights,
        &b,
        Some(&labels),
        Some(Budget::AccuracyLoss(0.0)),
    )
    .expect("compiles");
    assert_eq!(c.float_metric, 100.0);
    assert_eq!(c.fixed_metric, 100.0);
    // With labels but an error budget, the metric is the error.
    let c = compile(
        &prog,
        src,
        &weights,
        &b,
        Some(&labels),
        Some(Budget::MaxError(0.5)),
    )
    .expect("compiles");
    assert!(c.fixed_metric <= 0.5);
}

/// Two independent sigmoids of one format share one protocol call (and its messages).
#[test]
fn independent_same_kind_instructions_share_one_call() {
    let src = "model m { input x: [5]; output y = sigmoid(x) + sigmoid(0.0 - x); }";
    let rows: Vec<Vec<f64>> = (0..16)
        .map(|i| {
            (0..5)
                .map(|j| (i as f64 - 8.0) * 0.3 + j as f64 * 0.1)
                .collect()
        })
        .collect();
    let c = close(src, Vec::new(), rows, 0.01);
    let sigmoids = c
        .plan
        .instrs
        .iter()
        .filter(|i| i.op.name() == "sigmoid")
        .count();
    assert_eq!(
        sigmoids,
        1,
        "{}",
        sir_runtime::plan::render::render(&c.plan)
    );
    let merged = c
        .plan
        .instrs
        .iter()
        .find(|i| i.op.name() == "sigmoid")
        .map(|i| c.plan.tensors[i.out].numel());
    assert_eq!(merged, Some(10));
}

/// A small CNN: convolution with padding, ReLU, max and average pooling, max over an axis,
/// layernorm with γ and β, a dense layer — the fixed-point plan follows float.
#[test]
fn a_small_cnn_lowers_and_follows_float() {
    let src = "model m { input x: [1, 6, 6]; param K: [2, 1, 3, 3]; param kb: [2];
        param g: [9]; param be: [9]; param W: [9, 3]; param wb: [3];
        let c = relu(conv2d(x, K, kb, stride = 1, pad = 1));
        let p = maxpool2d(c, k = 2, stride = 2) + avgpool2d(c, k = 2, stride = 2);
        let f = layernorm(flatten(max(p, axis = 0)), g, be);
        output y = f @ W + wb; }";
    let t = |shape: Vec<usize>, seed: usize| {
        let n: usize = shape.iter().product();
        let d = (0..n)
            .map(|i| (((i * 37 + seed * 11) % 17) as f64 - 8.0) / 10.0)
            .collect();
        Tensor::new(shape, d).unwrap()
    };
    let w = vec![
        t(vec![2, 1, 3, 3], 1),
        t(vec![2], 2),
        t(vec![9], 3),
        t(vec![9], 4),
        t(vec![9, 3], 5),
        t(vec![3], 6),
    ];
    let rows: Vec<Vec<f64>> = (0..24)
        .map(|s| {
            (0..36)
                .map(|i| (((i * 13 + s * 7) % 23) as f64 - 11.0) / 8.0)
                .collect()
        })
        .collect();
    let prog = program(src);
    let weights: Vec<Arc<Tensor>> = w.into_iter().map(Arc::new).collect();
    let b = Batch {
        batched: true,
        samples: rows.len(),
        inputs: vec![Tensor::new(vec![rows.len(), 1, 6, 6], rows.concat()).unwrap()],
    };
    let c =
        compile(&prog, src, &weights, &b, None, Some(Budget::MaxError(0.05))).expect("compiles");
    let samples: Vec<_> = (0..b.samples).map(|i| b.sample(i)).collect();
    let fixed = run_plan(&c.plan, &samples, &weights).expect("runs");
    let g = graph::build(&prog).unwrap();
    for (s, f) in samples.iter().zip(&fixed) {
        let want = graph::eval(&g, s, &weights).unwrap();
        for (a, b) in want[0].data().iter().zip(f[0].data()) {
            assert!((a - b).abs() <= 0.05, "{a} vs {b}");
        }
    }
}
