//! `sir import` on the committed ONNX suite (tests/onnx/, written by tests/onnx/gen.py with the
//! onnx package and onnxruntime; no Python here): every model imports, its float evaluation
//! equals onnxruntime's outputs within 1e-6·max(|ref|, 1) — onnxruntime computes in float32,
//! rounding every operation at 2^−24 ≈ 6e−8 relative, against our float64, and these small
//! networks stay below 2e−7 — and the import compiles and runs two-party bit-equal to
//! `sir eval --plan` at its estimated cost. An unsupported operator is refused naming the node.

mod cli_support;
use cli_support::{sir, tmp};
use sir_runtime::npy;
use std::path::Path;

const CASES: [&str; 14] = [
    "torch_layernorm_gelu",
    "gemm_bn_avgpool",
    "torch_view_flatten",
    "transformer_bits",
    "keras_cnn_nhwc",
    "stacked_gru",
    "mlp_gemm",
    "cnn_bn",
    "ops_mix",
    "sklearn_mlp",
    "gru_torch",
    "gru_lbr0_y",
    "lstm_torch",
    "lstm_y",
];

#[test]
fn onnx_models_import_evaluate_like_onnxruntime_and_run_two_party() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("onnx");
    for case in CASES {
        let dir = root.join(case);
        let out = tmp("onnx-import", case);
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let (onnx, input) = (s(&dir.join("model.onnx")), s(&dir.join("input.npy")));
        let (code, _, err) = sir(&["import", &onnx, "-o", &s(&out)]);
        assert_eq!(code, 0, "{case}: {err}");
        let (model, weights) = (s(&out.join("model.sir")), s(&out.join("weights.npz")));
        let got = s(&out.join("got.npz"));
        let (code, _, err) = sir(&[
            "eval",
            &model,
            "--weights",
            &weights,
            "--input",
            &input,
            "--out",
            &got,
        ]);
        assert_eq!(code, 0, "{case}: {err}");
        let expected = npy::read_npz(dir.join("expected.npz")).expect("expected outputs");
        let got = npy::read_npz(&got).expect("our outputs");
        assert_eq!(
            got.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            expected.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "{case}: output names"
        );
        for ((name, g), (_, e)) in got.iter().zip(&expected) {
            assert_eq!(g.shape(), e.shape(), "{case}.{name}");
            for (a, b) in g.data().iter().zip(e.data()) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{case}.{name}: {a} against onnxruntime's {b}"
                );
            }
        }
        let plan = s(&out.join("plan.json"));
        let (code, _, err) = sir(&[
            "compile",
            &model,
            "--weights",
            &weights,
            "--calib",
            &input,
            "-o",
            &plan,
        ]);
        assert_eq!(code, 0, "{case}: {err}");
        let (code, out, err) = sir(&["simulate", &plan, "--weights", &weights, "--input", &input]);
        assert_eq!(code, 0, "{case}: {out}{err}");
        assert!(out.contains("bit for bit: yes"), "{case}: {out}");
        assert!(
            out.contains("every instruction's bytes and rounds equal its estimate"),
            "{case}: {out}"
        );
    }
}

#[test]
fn an_unsupported_operator_is_refused_naming_the_node() {
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/unsupported/model.onnx");
    let out = tmp("onnx-import", "unsupported");
    let (code, _, err) = sir(&[
        "import",
        &onnx.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("node `/act/Erf` (Erf)"), "{err}");
    assert!(err.contains("operator `Erf` is not supported"), "{err}");
    assert!(!out.join("model.sir").exists());
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let out = tmp("onnx-import", "garbage");
    let bad = tmp("onnx-import", "garbage.onnx");
    std::fs::write(&bad, b"\xff\xff\xff not protobuf").expect("write");
    let (code, _, err) = sir(&[
        "import",
        &bad.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a readable ONNX model"), "{err}");
}

/// The README's "Import from ONNX": the walkthrough's scikit-learn MLP converted by skl2onnx
/// (examples/port_sklearn/model.onnx) imports, compiles under the accuracy budget and runs
/// two-party bit-exact with the accuracy the README states.
#[test]
fn the_readme_import_flow_runs() {
    let out = tmp("onnx-import", "readme");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (model, weights, plan) = (
        s(&out.join("model.sir")),
        s(&out.join("weights.npz")),
        s(&out.join("plan.json")),
    );
    let (code, _, err) = sir(&["import", "examples/port_sklearn/model.onnx", "-o", &s(&out)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sir(&[
        "compile",
        &model,
        "--weights",
        &weights,
        "--calib",
        "examples/port_sklearn/calib.npy",
        "--labels",
        "examples/port_sklearn/calib_labels.npy",
        "-o",
        &plan,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = sir(&[
        "simulate",
        &plan,
        "--weights",
        &weights,
        "--input",
        "examples/port_sklearn/test.npy",
        "--labels",
        "examples/port_sklearn/test_labels.npy",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bit for bit: yes (143 samples)"), "{out}");
    // 8 bits flips one of the 320 held-back samples, so the 1-point bound takes 10 bits,
    // which equal float on the test set.
    assert!(out.contains("accuracy: 95.80% (137/143)"), "{out}");
}

/// A damaged or hostile file is refused, never a panic: every committed model with random
/// bytes overwritten, truncated, or with bytes inserted (4,000 variants).
#[test]
fn damaged_models_are_refused_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("onnx");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut cases = 0;
    for case in CASES.iter().chain(&["unsupported"]) {
        let good = std::fs::read(root.join(case).join("model.onnx")).expect("model");
        for k in 0..300 {
            let mut b = good.clone();
            match k % 3 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() % b.len() as u64) as usize;
                        b[i] = next() as u8;
                    }
                }
                1 => b.truncate((next() % b.len() as u64) as usize),
                _ => {
                    let i = (next() % b.len() as u64) as usize;
                    b.insert(i, next() as u8);
                }
            }
            let r = std::panic::catch_unwind(|| sir_cli::onnx::import(&b, "fuzz"));
            assert!(r.is_ok(), "{case}: variant {k} panicked");
            cases += 1;
        }
    }
    assert!(cases >= 3600);
}
