//! The budget's bound holds on data the compiler never saw (issue 20): every example compiled
//! with its budget, then float and the plan's fixed point evaluated on its committed test set;
//! the realised loss must be within the bound the plan records (`options.bound`). Accuracy
//! budgets: float's test accuracy minus the plan's ≤ the bound in points; error budgets: the
//! share of test samples whose largest output error exceeds the budget ≤ the bound in %.

use sir_runtime::npy;
use std::path::PathBuf;

#[path = "cli_support/mod.rs"]
mod cli_support;
use cli_support::sir;

fn tmp(name: &str) -> PathBuf {
    cli_support::tmp("sir-precision", name)
}

/// (right, total) from `sir eval --labels`' "accuracy: 96.49% (357/370) …".
fn correct(out: &str) -> (usize, usize) {
    let inner = out
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no accuracy in {out}"));
    let (a, b) = inner.split_once('/').expect("right/total");
    (a.parse().expect("right"), b.parse().expect("total"))
}

struct Example {
    dir: &'static str,
    model: &'static str,
    calib: &'static str,
    /// Calibration labels and the accuracy budget, or None for the default error budget.
    labels: Option<(&'static str, &'static str)>,
    test: &'static str,
    test_labels: &'static str,
}

/// Compiles `ex`, checks the test-set figures against the bound the plan records and returns
/// the plan's options.
fn realised_within_bound(ex: &Example) -> serde_json::Value {
    let at = |f: &str| format!("examples/{}/{f}", ex.dir);
    let (model, weights) = (at(ex.model), at("weights.npz"));
    // One file per budget kind: the two tests run at once.
    let kind = if ex.labels.is_some() { "acc" } else { "err" };
    let plan = tmp(&format!("{}-{kind}.plan.json", ex.dir))
        .display()
        .to_string();
    let mut args = vec![
        "compile".to_string(),
        model.clone(),
        "--weights".into(),
        weights.clone(),
        "--calib".into(),
        at(ex.calib),
        "-o".into(),
        plan.clone(),
    ];
    if let Some((labels, budget)) = ex.labels {
        args.extend([
            "--labels".into(),
            at(labels),
            "--max-accuracy-loss".into(),
            budget.into(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = sir(&args);
    assert_eq!(code, 0, "{}: {err}", ex.dir);
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("plan")).expect("json");
    let bound = &p["options"]["bound"];
    assert_eq!(bound["confidence"].as_f64(), Some(0.95), "{bound}");
    let (test, test_labels) = (at(ex.test), at(ex.test_labels));
    let eval = |extra: &[&str]| {
        let mut a = vec!["eval", &model, "--weights", &weights, "--input", &test];
        a.extend_from_slice(extra);
        let (code, out, err) = sir(&a);
        assert_eq!(code, 0, "{}: {err}", ex.dir);
        out
    };
    if ex.labels.is_some() {
        let upper = bound["upper_accuracy_points_lost"]
            .as_f64()
            .unwrap_or_else(|| panic!("{bound}"));
        let (f, n) = correct(&eval(&["--labels", &test_labels]));
        let (q, _) = correct(&eval(&["--labels", &test_labels, "--plan", &plan]));
        let lost = 100.0 * (f as f64 - q as f64) / n as f64;
        println!(
            "{}: bound {upper:.2} points at 95 %, test loss {lost:.2} points ({f} vs {q} of {n})\n{out}",
            ex.dir
        );
        assert!(lost <= upper, "{}: lost {lost} > bound {upper}", ex.dir);
    } else {
        let upper = bound["upper_percent_over_budget"]
            .as_f64()
            .unwrap_or_else(|| panic!("{bound}"));
        let e = p["options"]["budget"]["max_error"]
            .as_f64()
            .expect("budget");
        let (fo, po) = (
            tmp(&format!("{}-f.npy", ex.dir)),
            tmp(&format!("{}-p.npy", ex.dir)),
        );
        let (fs, ps) = (fo.display().to_string(), po.display().to_string());
        eval(&["--out", &fs]);
        eval(&["--out", &ps, "--plan", &plan]);
        let (f, q) = (
            npy::read_npy(&fo).expect("float"),
            npy::read_npy(&po).expect("fixed"),
        );
        assert_eq!(f.shape(), q.shape());
        let n = f.shape()[0];
        let per = f.data().len() / n;
        let over = (0..n)
            .filter(|i| {
                let r = i * per..(i + 1) * per;
                f.data()[r.clone()]
                    .iter()
                    .zip(&q.data()[r])
                    .any(|(a, b)| (a - b).abs() > e)
            })
            .count();
        let share = 100.0 * over as f64 / n as f64;
        println!(
            "{}: budget {e:.3e}; bound {upper:.2} % of inputs over it at 95 %, test {over} of {n} ({share:.2} %)\n{out}",
            ex.dir
        );
        assert!(share <= upper, "{}: {share} % > bound {upper} %", ex.dir);
    }
    p["options"].clone()
}

#[test]
fn classifiers_lose_no_more_than_their_bound_on_their_test_sets() {
    for ex in [
        // 1,347 samples: 1,010 held back confirm the default 1 point.
        Example {
            dir: "digits_cnn",
            model: "model.sir",
            calib: "calib.npy",
            labels: Some(("train_labels.npy", "1")),
            test: "test.npy",
            test_labels: "test_labels.npy",
        },
        // 426 samples: 320 held back, 1 point with no harmful flip among them.
        Example {
            dir: "port_sklearn",
            model: "model.sir",
            calib: "calib.npy",
            labels: Some(("calib_labels.npy", "1")),
            test: "test.npy",
            test_labels: "test_labels.npy",
        },
        // lstm_vowels, 2 points: `lstm_vowels_takes_the_fallback_and_saves_bytes`.
        // 40 samples: 30 held back support 10 points.
        Example {
            dir: "gru_motion",
            model: "model.sir",
            calib: "calib.npy",
            labels: Some(("train_labels.npy", "10")),
            test: "test.npy",
            test_labels: "test_labels.npy",
        },
    ] {
        realised_within_bound(&ex);
    }
}

fn lstm_2_points() -> Example {
    Example {
        dir: "lstm_vowels",
        model: "model.sir",
        calib: "calib.npy",
        labels: Some(("train_labels.npy", "2")),
        test: "test.npy",
        test_labels: "test_labels.npy",
    }
}

/// lstm_vowels' ranking quarter picks 8 bits, which its held-back samples refuse: the
/// fallback (10 bits with tensors narrowed to 8 under the stricter ranking test) is confirmed
/// before 8 bits are tried, so the plan is narrowed at the bound of uniform 10 bits and costs
/// fewer bytes than it (issue 20: at most as many bytes at an equal or better bound).
#[test]
fn lstm_vowels_takes_the_fallback_and_saves_bytes() {
    let o = realised_within_bound(&lstm_2_points());
    let s = &o["search"];
    let fb = &s["fallback"];
    assert_eq!(fb["bits"].as_u64(), Some(10), "{fb}");
    assert_eq!(fb["confirmed"].as_bool(), Some(true), "{fb}");
    assert_eq!(s["chosen_bits"].as_u64(), Some(10), "{s}");
    let narrowed = s["narrowed"].as_array().expect("narrowed").len();
    assert!(narrowed > 0 && narrowed as u64 == fb["narrowed"].as_u64().unwrap_or(0));
    let width = |b: u64| {
        s["widths"]
            .as_array()
            .and_then(|w| w.iter().find(|c| c["bits"].as_u64() == Some(b)))
            .cloned()
            .unwrap_or_else(|| panic!("no {b}-bit candidate in {s}"))
    };
    // 8 bits were refused; the bound is uniform 10 bits' (the same flips: none).
    assert_eq!(width(8)["confirmed"].as_bool(), Some(false));
    assert_eq!(
        fb["held_back_bound"].as_f64(),
        width(10)["held_back_bound"].as_f64()
    );
    // Bytes per inference, online and preprocessing, below uniform 10 bits'.
    let plan = tmp("lstm_vowels-acc.plan.json").display().to_string();
    let (code, out, err) = sir(&["inspect", "--json", &plan]);
    assert_eq!(code, 0, "{err}");
    let t: serde_json::Value = serde_json::from_str(&out).expect("json");
    let t = &t["totals"];
    let bytes: u64 = [
        "bytes_client",
        "bytes_server",
        "preprocessing_bytes_client",
        "preprocessing_bytes_server",
    ]
    .iter()
    .map(|k| t[*k].as_u64().expect("bytes"))
    .sum();
    let uniform = width(10)["bytes"].as_u64().expect("bytes");
    assert!(
        bytes < uniform,
        "{bytes} B against uniform 10 bits' {uniform} B"
    );
}

#[test]
fn error_budgets_hold_on_the_share_they_bound() {
    for dir in ["gru_motion", "lstm_vowels"] {
        realised_within_bound(&Example {
            dir,
            model: "model.sir",
            calib: "calib.npy",
            labels: None,
            test: "test.npy",
            test_labels: "test_labels.npy",
        });
    }
}

/// The digits CNN at its old 8-bit choice lost 2 points on its test set under a 1-point budget
/// met on calibration: 8 bits are no longer chosen, and `sir verify` replays the bound (an
/// edited bound is not what the source compiles to).
#[test]
fn digits_refuses_the_width_that_broke_its_budget_and_verify_replays_the_bound() {
    let plan = tmp("digits-verify.plan.json").display().to_string();
    let base = [
        "--weights",
        "examples/digits_cnn/weights.npz",
        "--calib",
        "examples/digits_cnn/calib.npy",
        "--labels",
        "examples/digits_cnn/train_labels.npy",
    ];
    let mut args = vec!["compile", "examples/digits_cnn/model.sir"];
    args.extend(base);
    args.extend(["-o", &plan]);
    let (code, out, err) = sir(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("storage width 10 bits"), "{out}");
    // `sir inspect` says what the compile learnt: the bound, and the values that bound it.
    let (code, text, err) = sir(&["inspect", &plan]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("accuracy: at 95% confidence at most")
            && text
                .contains("the accuracy is bound by (narrowing any of these breaks the budget): "),
        "{text}"
    );
    let (code, json, err) = sir(&["inspect", &plan, "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).expect("json");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).expect("plan")).expect("json");
    assert_eq!(j["accuracy"]["bound"], p["options"]["bound"]);
    assert!(
        j["accuracy"]["binding"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    let mut v = vec!["verify", &plan, "--source", "examples/digits_cnn/model.sir"];
    v.extend(base);
    let (code, out, err) = sir(&v);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&plan).expect("plan");
    let mut p: serde_json::Value = serde_json::from_str(&text).expect("json");
    p["options"]["bound"]["upper_accuracy_points_lost"] = serde_json::json!(0.01);
    std::fs::write(&plan, serde_json::to_string(&p).expect("json")).expect("write");
    let (code, _, _) = sir(&v);
    assert_eq!(code, 1, "an edited bound is not verified");
}
