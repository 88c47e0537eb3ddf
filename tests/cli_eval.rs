//! `sir eval` and `sir generate` through the binary: files that do not fit the model are errors
//! naming the array, exit status 1, no output file; `generate` is deterministic.

use sir_runtime::{Tensor, npy};
use std::path::{Path, PathBuf};

const MODEL: &str = "examples/fastgrnn_g30/model.sir";
const WEIGHTS: &str = "examples/fastgrnn_g30/weights.npz";
const INPUTS: &str = "examples/fastgrnn_g30/inputs.npy";

#[path = "cli_support/mod.rs"]
mod cli_support;
use cli_support::sir;

fn tmp(name: &str) -> PathBuf {
    cli_support::tmp("sir-cli-eval", name)
}

fn weights_with(edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> String {
    let mut w = npy::read_npz(Path::new(env!("CARGO_MANIFEST_DIR")).join(WEIGHTS))
        .expect("example weights");
    edit(&mut w);
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = tmp(&format!(
        "w{}.npz",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    npy::write_npz(&path, &w).expect("write weights");
    path.display().to_string()
}

#[test]
fn bad_weights_are_named() {
    let missing = weights_with(|w| w.retain(|(n, _)| n != "U2"));
    let extra = weights_with(|w| w.push(("U3".into(), Tensor::scalar(1.0))));
    let misshaped = weights_with(|w| {
        for (n, t) in w.iter_mut() {
            if n == "W1" {
                *t = Tensor::full(vec![16, 32], 0.0);
            }
        }
    });
    let scalar_as_vector = weights_with(|w| {
        for (n, t) in w.iter_mut() {
            if n == "zeta" {
                *t = Tensor::full(vec![1], 0.5);
            }
        }
    });
    let nan = weights_with(|w| w[0].1.data_mut()[3] = f64::NAN);
    for (file, needle) in [
        (&missing, "no array `U2`"),
        (&extra, "array `U3` matches no param"),
        (
            &misshaped,
            "array `W1` has shape [16, 32], but the model declares [32, 16]",
        ),
        (
            &scalar_as_vector,
            "array `zeta` has shape [1], but the model declares [] (a scalar",
        ),
        (&nan, "non-finite value"),
    ] {
        let out = tmp("never.npz");
        let (code, _, err) = sir(&[
            "eval",
            MODEL,
            "--weights",
            file,
            "--input",
            INPUTS,
            "--out",
            &out.display().to_string(),
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        assert!(!out.exists(), "no output file on error");
    }
}

#[test]
fn bad_inputs_are_named() {
    let wrong = tmp("wrong.npy");
    npy::write_npy(&wrong, &Tensor::full(vec![4, 98, 32], 0.0)).expect("write");
    let (code, _, err) = sir(&[
        "eval",
        MODEL,
        "--weights",
        WEIGHTS,
        "--input",
        &wrong.display().to_string(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("has shape [4, 98, 32], but the model declares [99, 32] (or [n, 99, 32]"),
        "{err}"
    );
    let (code, _, err) = sir(&[
        "eval",
        MODEL,
        "--weights",
        WEIGHTS,
        "--input",
        "no/such/input.npy",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no/such/input.npy"), "{err}");
    let (code, _, err) = sir(&["eval", MODEL, "--weights", WEIGHTS, "--input", MODEL]);
    assert_eq!(code, 1);
    assert!(err.contains("expected a .npy or .npz file"), "{err}");
}

#[test]
fn single_sample_batch_and_labels() {
    let batch = npy::read_npy(Path::new(env!("CARGO_MANIFEST_DIR")).join(INPUTS)).expect("inputs");
    let one = Tensor::new(vec![99, 32], batch.data()[..99 * 32].to_vec()).expect("shape");
    let one_path = tmp("one.npy");
    npy::write_npy(&one_path, &one).expect("write");
    let (code, out, err) = sir(&[
        "eval",
        MODEL,
        "--weights",
        WEIGHTS,
        "--input",
        &one_path.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, all, _) = sir(&["eval", MODEL, "--weights", WEIGHTS, "--input", INPUTS]);
    // The first sample of the batch predicts what the sample alone predicts.
    let first_of_batch = all
        .split('[')
        .nth(2)
        .and_then(|s| s.split(',').next())
        .unwrap_or_default()
        .trim()
        .to_string();
    assert_eq!(out.trim(), format!("out0: {first_of_batch}"), "{all}");
    let labels = tmp("labels.npy");
    npy::write_npy(
        &labels,
        &Tensor::new(vec![8], vec![1.0, 4.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]).expect("shape"),
    )
    .expect("write");
    let (code, out, err) = sir(&[
        "eval",
        MODEL,
        "--weights",
        WEIGHTS,
        "--input",
        INPUTS,
        "--labels",
        &labels.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "accuracy: 50.00% (4/8) on output `out0`");
}

#[test]
fn generate_is_deterministic() {
    let a = tmp("ga.npz");
    let b = tmp("gb.npz");
    for p in [&a, &b] {
        let (code, _, err) = sir(&[
            "generate",
            MODEL,
            "--seed",
            "5",
            "--weights",
            &p.display().to_string(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(npy::read_npz(&a).expect("a"), npy::read_npz(&b).expect("b"));
    let shipped =
        npy::read_npz(Path::new(env!("CARGO_MANIFEST_DIR")).join(WEIGHTS)).expect("shipped");
    let (_, _, _) = sir(&[
        "generate",
        MODEL,
        "--seed",
        "30",
        "--weights",
        &a.display().to_string(),
    ]);
    assert_eq!(
        npy::read_npz(&a).expect("a"),
        shipped,
        "examples/fastgrnn_g30/weights.npz is `sir generate --seed 30`"
    );
}

#[test]
fn a_model_too_large_to_evaluate_is_refused_before_allocating() {
    let model = tmp("big.sir");
    std::fs::write(&model, "model big {\n    input x: [4];\n    let z = zeros([65536, 65536]);\n    output x + sum(z);\n}\n").expect("write");
    let (code, _, err) = sir(&[
        "eval",
        &model.display().to_string(),
        "--weights",
        WEIGHTS,
        "--input",
        INPUTS,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("a tensor of 4294967296 elements"), "{err}");
}
