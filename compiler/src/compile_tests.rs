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
