//! The compiler end to end on small programs: plans whose cleartext fixed point follows float
//! where the review found the lowering could go wrong (ReLU of negative values, a large
//! constant subtracted, a labelled budget).

use super::*;
use crate::eval::bind::Batch;
use crate::relu_budget::ReluChoice;
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

/// `samples` deterministic images of `shape` (values a, a+1, … mod `m`, centred and scaled),
/// as one batch.
fn images(samples: usize, shape: [usize; 3], (a, b, m, div): (usize, usize, usize, f64)) -> Batch {
    let per: usize = shape.iter().product();
    let data: Vec<f64> = (0..samples)
        .flat_map(|s| (0..per).map(move |i| (((i * a + s * b) % m) as f64 - (m / 2) as f64) / div))
        .collect();
    Batch {
        batched: true,
        samples,
        inputs: vec![Tensor::new(vec![samples, shape[0], shape[1], shape[2]], data).unwrap()],
    }
}

fn close(src: &str, w: Vec<Tensor>, rows: Vec<Vec<f64>>, tol: f64) -> Compiled {
    close_on(src, w, batch(rows), tol)
}

/// Compiles under an output-error budget `tol` and checks the plan's fixed point against
/// float on every calibration sample.
fn close_on(src: &str, w: Vec<Tensor>, b: Batch, tol: f64) -> Compiled {
    let prog = program(src);
    let weights: Vec<Arc<Tensor>> = w.into_iter().map(Arc::new).collect();
    let c = compile(
        &CompileInput {
            prog: &prog,
            source: src,
            weights: &weights,
            calib: &b,
            labels: None,
        },
        &CompileOptions {
            budget: Some(Budget::MaxError(tol)),
            relu: None,
            net: None,
            bits: None,
            ot: sir_runtime::ot::OtKind::Iknp,
            pick_ot: false,
            masked_products: false,
            confidence: None,
            exact_products: false,
        },
    )
    .expect("compiles");
    let samples: Vec<_> = (0..b.samples).map(|i| b.sample(i)).collect();
    let fixed = run_plan(&c.plan, &samples, &weights).expect("runs");
    for (s, f) in samples.iter().zip(&fixed) {
        let want = graph::eval(&graph::build(&prog, None).unwrap(), s, &weights).unwrap();
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
    let g = graph::build(&prog, None).unwrap();
    let labels: Vec<usize> = samples
        .iter()
        .map(|s| graph::eval(&g, s, &weights).unwrap()[0].data()[0] as usize)
        .collect();
    let input = CompileInput {
        prog: &prog,
        source: src,
        weights: &weights,
        calib: &b,
        labels: Some(&labels),
    };
    let with = |budget: Budget, confidence: Option<f64>| {
        compile(
            &input,
            &CompileOptions {
                budget: Some(budget),
                confidence,
                ..CompileOptions::default()
            },
        )
    };
    // 40 samples hold back 30: no budget below 1 − 0.05^(1/30) ≈ 9.5 points can be confirmed
    // at 95 %, and the refusal says how many samples 1 point needs (299 held back).
    for p in [0.0, 1.0] {
        match with(Budget::AccuracyLoss(p), None) {
            Err(CompileError::TooFewSamples {
                held, best, need, ..
            }) => {
                assert_eq!(held, 30);
                assert!((best - 9.503).abs() < 0.01, "{best}");
                let want = match p {
                    0.0 => "no calibration set",
                    _ => "at least 299 held-back samples, a calibration set of at least 398",
                };
                assert!(need.contains(want), "{need}");
            }
            other => panic!("{p} points on 40 samples: {other:?}"),
        }
    }
    assert!(matches!(
        with(Budget::AccuracyLoss(10.0), Some(1.0)),
        Err(CompileError::Confidence(_))
    ));
    let c = with(Budget::AccuracyLoss(10.0), None).expect("compiles");
    assert_eq!(c.float_metric, 100.0);
    assert_eq!(c.fixed_metric, 100.0);
    assert_eq!(
        (c.bound.search, c.bound.held_back, c.bound.flips),
        (10, 30, 0)
    );
    assert!((c.bound.upper - 9.503).abs() < 0.01);
    assert_eq!(
        c.plan.options["bound"]["upper_accuracy_points_lost"].as_f64(),
        Some(c.bound.upper)
    );
    // A lower confidence, a tighter bound for as many flips.
    let c = with(Budget::AccuracyLoss(10.0), Some(0.8)).expect("compiles");
    assert_eq!(c.bound.confidence, 0.8);
    let at = |conf: f64| 100.0 * crate::confidence::clopper_pearson_upper(c.bound.flips, 30, conf);
    assert!(
        (c.bound.upper - at(0.8)).abs() < 1e-9 && at(0.8) < at(0.95),
        "{:?}",
        c.bound
    );
    // With labels but an error budget, the metric is the error.
    let c = with(Budget::MaxError(0.5), None).expect("compiles");
    assert!(c.fixed_metric <= 0.5);
}

/// Two independent sigmoids of one format share one protocol call (and its messages).
#[test]
fn independent_same_kind_instructions_share_one_call() {
    // Two values of one kind and range, so one format (the search narrows by group).
    let src = "model m { input x: [5]; output y = sigmoid(x + 1.0) + sigmoid(x + -1.0); }";
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
    close_on(src, w, images(24, [1, 6, 6], (13, 7, 23, 8.0)), 0.05);
}

/// Layer norm with small γ: the output's range (|γ·n + β| < 0.25) says nothing about the
/// normalised values, which reach √(C − 1) ≈ 2.24 on a row with one outlier. The
/// normalisation must get a format that holds them (it used to take the output's, ±2, and
/// wrapped: an error of 4·|γ| at every width).
#[test]
fn layernorm_with_small_gamma_holds_the_normalised_range() {
    let src = "model m { input x: [6]; param g: [6]; param bt: [6];
        output a = layernorm(x, g, bt); }";
    let g = Tensor::new(
        vec![6],
        vec![0.0225, -0.094, -0.0897, 0.0369, 0.0937, 0.0507],
    )
    .unwrap();
    let bt = Tensor::new(
        vec![6],
        vec![0.0794, -0.0205, -0.0063, 0.0513, 0.0123, -0.0015],
    )
    .unwrap();
    let rows: Vec<Vec<f64>> = (0..32)
        .map(|i| {
            (0..6)
                .map(|j| {
                    if i % 4 == 0 {
                        // One outlier: its normalised value is ±√5·(1 − ε′).
                        let s = if i % 8 == 0 { 1.0 } else { -0.8 };
                        if j == i % 6 {
                            s
                        } else {
                            0.05 * (j as f64 - 2.5) / 2.5
                        }
                    } else {
                        ((i * 7 + j * 5) % 13) as f64 / 13.0 - 0.5
                    }
                })
                .collect()
        })
        .collect();
    let c = close(src, vec![g, bt], rows, 0.02);
    // Every width from 12 bits on follows float within the budget.
    for cand in c.candidates.iter().filter(|c| c.bits >= 12) {
        assert!(cand.within, "{cand:?}");
    }
}

/// A width whose trial stops at the first failing samples still says what it reached.
#[test]
fn a_failed_budget_reports_the_error_reached_by_early_stopped_widths() {
    let src = "model m { input x: [4]; param W: [4, 3]; output y = x @ W; }";
    let w = Tensor::new(vec![4, 3], (0..12).map(|i| i as f64 / 7.0 - 0.8).collect()).unwrap();
    let rows: Vec<Vec<f64>> = (0..32)
        .map(|i| {
            (0..4)
                .map(|j| ((i * 5 + j * 3) % 9) as f64 / 9.0 - 0.4)
                .collect()
        })
        .collect();
    let prog = program(src);
    let b = batch(rows);
    let e = compile(
        &CompileInput {
            prog: &prog,
            source: src,
            weights: &[Arc::new(w)],
            calib: &b,
            labels: None,
        },
        &CompileOptions {
            budget: Some(Budget::MaxError(1e-15)),
            relu: None,
            net: None,
            bits: None,
            ot: sir_runtime::ot::OtKind::Iknp,
            pick_ot: false,
            masked_products: false,
            confidence: None,
            exact_products: false,
        },
    )
    .expect_err("no width is exact");
    let CompileError::Budget { best, .. } = e else {
        panic!("{e}")
    };
    assert!(
        best.contains("8 bits: ")
            && best.contains("stopped early: ")
            && best.contains("over the budget with the plan's errors doubled"),
        "{best}"
    );
}

/// The normalised values' integer bits: 2^k > √(C − 1) with a margin of 1/32.
#[test]
fn layernorm_integer_bits_bound_the_normalised_values() {
    let k = crate::lower::layernorm_int_bits;
    assert_eq!(
        [
            k(1),
            k(2),
            k(4),
            k(5),
            k(6),
            k(16),
            k(17),
            k(64),
            k(768),
            k(1024)
        ],
        [1, 1, 1, 2, 2, 2, 3, 4, 5, 6]
    );
    for c in 1..5000usize {
        assert!(
            ((c - 1) as f64).sqrt() * (1.0 + 1.0 / 32.0) < (k(c) as f64).exp2(),
            "{c}"
        );
    }
}

/// Rows of every length with one outlier, whose normalised value is at the bound √(C − 1):
/// at 8 bits and more, it must not round past the normalised format and wrap.
#[test]
fn layernorm_outliers_at_the_bound_do_not_wrap() {
    for c in [2usize, 4, 5, 16, 17, 64, 65, 1024] {
        let src = format!(
            "model m {{ input x: [{c}]; param g: [{c}]; param bt: [{c}];
            output a = layernorm(x, g, bt); }}"
        );
        let g = Tensor::new(vec![c], vec![0.1; c]).unwrap();
        let bt = Tensor::new(vec![c], vec![0.0; c]).unwrap();
        let rows: Vec<Vec<f64>> = (0..16)
            .map(|i| {
                let s = if i % 2 == 0 { 1.0 } else { -1.0 };
                (0..c).map(|j| if j == i % c { s } else { 0.0 }).collect()
            })
            .collect();
        // The largest output is 0.1·√(C − 1) (up to 3.2); a wrap would be an error of
        // 0.1·2^{k+1} ≥ 0.4, 8 bits' rounding stays below 0.2 (1024 columns: 1 fraction bit),
        // and the search doubles errors on the held-back samples: 0.4 against a wrap's 0.8.
        let tol = 0.45;
        let out = close(&src, vec![g, bt], rows, tol);
        // Every width that lowers (32-bit rows of 1024 need a wider rsqrt table) is within.
        for cand in out.candidates.iter().filter(|c| c.bytes.is_ok()) {
            assert!(cand.within, "{c}: {cand:?}");
        }
        assert!(out.candidates.iter().filter(|k| k.within).count() >= 6);
    }
}

/// `--relu-budget`: for every budget each `block_relu(x)` layer's DReLUs stay within
/// ⌊F·C·H·W⌋, the plan carries exactly the chosen patches, a budget of 1 keeps plain ReLU's
/// distortion (zero), and a fraction outside (0, 1] is refused.
#[test]
fn relu_budget_choices_stay_within_the_budget() {
    let src = "model m { input x: [2, 6, 5]; param k: [3, 2, 3, 3]; param b: [3];
        let h = block_relu(conv2d(x, k, b, pad = 1));
        output y = sum(block_relu(h * 0.5 - 0.1)); }";
    let kdata: Vec<f64> = (0..54)
        .map(|i| ((i * 37 % 19) as f64 - 9.0) / 10.0)
        .collect();
    let weights: Vec<Arc<Tensor>> = vec![
        Arc::new(Tensor::new(vec![3, 2, 3, 3], kdata).unwrap()),
        Arc::new(Tensor::new(vec![3], vec![0.1, -0.2, 0.05]).unwrap()),
    ];
    let b = images(20, [2, 6, 5], (11, 5, 17, 6.0));
    let prog = program(src);
    let with = |relu: ReluChoice, budget: Option<Budget>| {
        let input = CompileInput {
            prog: &prog,
            source: src,
            weights: &weights,
            calib: &b,
            labels: None,
        };
        compile(
            &input,
            &CompileOptions {
                budget,
                relu: Some(relu),
                net: None,
                bits: None,
                ot: sir_runtime::ot::OtKind::Iknp,
                pick_ot: false,
                masked_products: false,
                confidence: None,
                exact_products: false,
            },
        )
    };
    let within = Some(Budget::MaxError(0.1));
    for f in [0.02, 0.1, 0.25, 0.5, 1.0] {
        // Over the whole model: one budget for both layers' 180 DReLUs.
        let c = with(ReluChoice::Budget(f), within).expect("compiles");
        let spent: usize = c.relu_choices.iter().map(|ch| ch.drelus).sum();
        assert!(spent <= (f * 180.0).floor() as usize, "{spent} at {f}");
        assert_eq!(c.plan.options["relu_budget"].as_f64(), Some(f));
        // Per layer.
        let c = with(ReluChoice::BudgetPerLayer(f), within).expect("compiles");
        assert_eq!(c.relu_choices.len(), 2, "both layers chosen at {f}");
        let uses = c.plan.block_relus();
        for ch in &c.relu_choices {
            assert_eq!(ch.relus, 90);
            assert_eq!(ch.budget, (f * 90.0).floor() as usize);
            assert!(
                ch.drelus <= ch.budget,
                "{} > {} at {f}",
                ch.drelus,
                ch.budget
            );
            let [_, h, w] = ch.shape;
            let sum: usize = ch.patches.iter().map(|p| p.drelus(h, w)).sum();
            assert_eq!(sum, ch.drelus);
            if f == 1.0 {
                assert!(
                    ch.distortion.abs() < 1e-12,
                    "a full budget keeps ReLU's outputs"
                );
            }
            // All 1×1 lowers to plain ReLU; otherwise the plan holds exactly the choice.
            if ch
                .patches
                .iter()
                .any(|p| *p != sir_runtime::fixed::Patch::Block(1, 1))
            {
                assert!(
                    uses.iter()
                        .any(|u| u.patches == ch.patches && u.drelus == ch.drelus)
                );
            }
        }
        assert_eq!(c.plan.options["relu_budget_per_layer"].as_f64(), Some(f));
    }
    // A fraction outside (0, 1] is refused.
    let e = with(ReluChoice::Budget(1.5), None);
    assert!(matches!(e, Err(CompileError::ReluBudget(_))));
    // The recorded choice, pinned, gives the same plan instructions (fine-tuned weights keep
    // their patches this way); a list that does not fit is refused.
    let c = with(ReluChoice::Budget(0.25), within).expect("compiles");
    let pinned = ReluChoice::recorded(&c.plan.options).expect("parses");
    let Some(ReluChoice::Budget(_)) = pinned else {
        panic!("a budgeted plan records its budget");
    };
    let choices: Vec<Vec<sir_runtime::fixed::Patch>> =
        serde_json::from_value(c.plan.options["relu_choices"].clone()).expect("choices");
    let again = with(ReluChoice::Pinned(choices.clone()), within).expect("compiles");
    assert_eq!(again.plan.block_relus(), c.plan.block_relus());
    assert_eq!(
        ReluChoice::recorded(&again.plan.options).expect("parses"),
        Some(ReluChoice::Pinned(choices.clone()))
    );
    let e = with(ReluChoice::Pinned(choices[..1].to_vec()), None);
    assert!(matches!(e, Err(CompileError::ReluBudget(_))));
}

/// `poly_relu` and `poly` lower to one-round polynomial instructions whose fixed point follows
/// float (the exact polynomial of the quantized input, rounded once), each with its
/// preprocessing recorded apart and one online round.
#[test]
fn polynomials_follow_float() {
    let src = "model m { input x: [6]; param W: [6, 4];
        output y = poly_relu(x @ W) + poly(x @ W, [0.5, -0.25, 0.125, 0.0625]); }";
    let w = Tensor::new(
        vec![6, 4],
        (0..24).map(|i| ((i * 7 % 13) as f64 - 6.0) / 8.0).collect(),
    )
    .unwrap();
    let rows: Vec<Vec<f64>> = (0..40)
        .map(|s| {
            (0..6)
                .map(|i| (((i * 5 + s * 3) % 11) as f64 - 5.0) / 4.0)
                .collect()
        })
        .collect();
    let c = close(src, vec![w], rows, 0.05);
    let polys: Vec<_> = c
        .plan
        .instrs
        .iter()
        .filter(|i| matches!(i.op, sir_runtime::plan::Op::Poly { .. }))
        .collect();
    assert_eq!(polys.len(), 2);
    for p in polys {
        assert_eq!(p.cost.rounds, 1, "one online round");
        assert!(!p.pre.is_zero(), "mask powers prepared apart");
    }
}

/// The plans of `input` at `bits` with products cut ([`crate::cut`]) and exact, after checking
/// that the cut one sends fewer bytes and computes the same outputs on every calibration sample.
fn cut_and_exact(
    input: &CompileInput,
    bits: u32,
    relu: Option<ReluChoice>,
    what: &str,
) -> [Plan; 2] {
    let plan = |exact_products: bool| {
        compile(
            input,
            &CompileOptions {
                budget: Some(Budget::MaxError(1e9)),
                bits: Some(bits),
                relu: relu.clone(),
                exact_products,
                ..CompileOptions::default()
            },
        )
        .expect("compiles")
        .plan
    };
    let (cut, exact) = (plan(false), plan(true));
    let bytes = |p: &Plan| p.total().total_bytes() + p.pre_total().total_bytes();
    assert!(
        bytes(&cut) < bytes(&exact),
        "{what}: {} against {}",
        bytes(&cut),
        bytes(&exact)
    );
    let samples: Vec<_> = (0..input.calib.samples)
        .map(|i| input.calib.sample(i))
        .collect();
    let got = run_plan(&cut, &samples, input.weights).expect("runs");
    let want = run_plan(&exact, &samples, input.weights).expect("runs");
    for (g, e) in got.iter().zip(&want) {
        for (a, b) in g.iter().zip(e) {
            assert_eq!(a.data(), b.data(), "{what}");
        }
    }
    [cut, exact]
}

/// [`crate::cut`]: products computed in the bits their rounded results keep give the plan's
/// values bit for bit (the cleartext semantics of the cut plan equals the exact plan's on
/// every sample) for fewer bytes, at each pinned width.
#[test]
fn cut_products_keep_the_values_and_send_fewer_bytes() {
    let src = "model m {
        input x: [2, 6, 6];
        param k: [4, 2, 3, 3]; param kb: [4];
        param W: [64, 5]; param V: [64, 5];
        let h = relu(conv2d(x, k, kb, stride = 1, pad = 0));
        let f = flatten(h);
        output y = (f @ W) * tanh(f @ V);
    }";
    let prog = program(src);
    let param = |shape: Vec<usize>, a: usize| {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i * a) % 17) as f64 / 17.0 - 0.45)
            .collect();
        Arc::new(Tensor::new(shape, v).unwrap())
    };
    let weights = [
        param(vec![4, 2, 3, 3], 5),
        param(vec![4], 3),
        param(vec![64, 5], 7),
        param(vec![64, 5], 11),
    ];
    let b = images(24, [2, 6, 6], (7, 3, 23, 30.0));
    let input = CompileInput {
        prog: &prog,
        source: src,
        weights: &weights,
        calib: &b,
        labels: None,
    };
    for bits in [8, 12, 16] {
        let [cut, exact] = cut_and_exact(&input, bits, None, &format!("{bits} bits"));
        let narrower = cut
            .instrs
            .iter()
            .zip(&exact.instrs)
            .filter(|(c, e)| {
                matches!(
                    c.op,
                    sir_runtime::plan::Op::MatMul | sir_runtime::plan::Op::Mult
                ) && cut.tensors[c.out].bits < exact.tensors[e.out].bits
            })
            .count();
        assert!(narrower >= 3, "{bits} bits: {narrower} products cut");
    }
}

/// The same on the examples' models (RNN gates rescaled by public constants, Block-ReLU's patch
/// sums narrowed from a convolution's truncation, convolutions into a polynomial's ring), at
/// pinned widths on their first calibration samples.
#[test]
fn cut_products_keep_the_examples_values() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let cases: [(&str, &str, &str, u32, Option<ReluChoice>); 4] = [
        ("gru_motion", "model.sir", "weights.npz", 10, None),
        ("digits_cnn", "model_poly.sir", "weights_poly.npz", 8, None),
        (
            "digits_cnn",
            "model_block.sir",
            "weights.npz",
            8,
            Some(ReluChoice::Budget(0.1)),
        ),
        ("cnn_cost", "model_poly.sir", "weights.npz", 8, None),
    ];
    for (ex, model, weights, bits, relu) in cases {
        let path = root.join(ex).join(model);
        let source = std::fs::read_to_string(&path).expect("model");
        let prog = crate::check_file(&path)
            .expect("reads")
            .program
            .expect("checks");
        let w = sir_runtime::npy::read_npz(root.join(ex).join(weights)).expect("weights");
        let w = crate::eval::bind::bind_weights(&prog.model, w, weights).expect("binds");
        let calib = sir_runtime::npy::read_npy(root.join(ex).join("calib.npy")).expect("calib");
        let (n, per) = (calib.shape()[0].min(24), calib.shape()[1..].to_vec());
        let size: usize = per.iter().product();
        let mut shape = vec![n];
        shape.extend(&per);
        let first = Tensor::new(shape, calib.data()[..n * size].to_vec()).expect("slice");
        let b = crate::eval::bind::bind_inputs(&prog.model, vec![(None, first)], "calib")
            .expect("binds");
        let input = CompileInput {
            prog: &prog,
            source: &source,
            weights: &w,
            calib: &b,
            labels: None,
        };
        cut_and_exact(&input, bits, relu, &format!("{ex}/{model}"));
    }
}
