//! `sir report` (issue 21) on the examples the plan snapshots do not cover, with run reports:
//! the page's totals are `sir inspect --json`'s, the runs' measured bytes are shown beside the
//! estimates, the co-design sections appear where a plan has Block-ReLU or polynomials, and
//! nothing is fetched.

#[path = "cli_support/mod.rs"]
mod cli_support;
use cli_support::{check_report, sir};

fn tmp(name: &str) -> String {
    cli_support::tmp("sir-report", name).display().to_string()
}

/// Compiles `model` of `examples/{ex}` and runs it on `input` (simulate, client's report).
fn plan_and_run(
    ex: &str,
    model: &str,
    weights: &str,
    input: &str,
    extra: &[&str],
) -> (String, String) {
    let e = |f: &str| format!("examples/{ex}/{f}");
    let (plan, run) = (
        tmp(&format!("{ex}-{model}.json")),
        tmp(&format!("{ex}-{model}.run.json")),
    );
    let (m, w, c) = (e(model), e(weights), e("calib.npy"));
    let mut args = vec!["compile", &m, "--weights", &w, "--calib", &c, "-o", &plan];
    args.extend_from_slice(extra);
    let (code, _, err) = sir(&args);
    assert_eq!(code, 0, "{ex}/{model}: {err}");
    let i = e(input);
    let (code, out, err) = sir(&[
        "simulate",
        &plan,
        "--weights",
        &w,
        "--input",
        &i,
        "--report",
        &run,
    ]);
    assert_eq!(code, 0, "{ex}/{model}: {out}{err}");
    (plan, run)
}

#[test]
fn reports_of_every_kind_of_plan() {
    let labels = ["--labels", "examples/digits_cnn/train_labels.npy"];
    let cases: Vec<(&str, &str, &str, &str, Vec<&str>)> = vec![
        (
            "digits_cnn",
            "model.sir",
            "weights.npz",
            "inputs.npy",
            labels.to_vec(),
        ),
        (
            "digits_cnn",
            "model_block.sir",
            "weights.npz",
            "inputs.npy",
            [labels.as_slice(), &["--relu-budget", "0.1"]].concat(),
        ),
        (
            "digits_cnn",
            "model_poly.sir",
            "weights_poly.npz",
            "inputs.npy",
            labels.to_vec(),
        ),
        (
            "port_sklearn",
            "model.sir",
            "weights.npz",
            "test.npy",
            vec!["--labels", "examples/port_sklearn/calib_labels.npy"],
        ),
    ];
    for (ex, model, weights, input, extra) in cases {
        let (plan, run) = plan_and_run(ex, model, weights, input, &extra);
        let page = check_report(
            &plan,
            &[&run],
            &tmp(&format!("{ex}-{model}.html")),
            2_000_000,
        );
        assert!(page.contains("<h2>5. Runs</h2>"), "{ex}/{model}");
        // The run's measured bytes (both directions, this side) are on the page.
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&run).unwrap()).unwrap();
        let sent = r["instruction_bytes_sent"].as_u64().unwrap();
        let shown = {
            let s = sent.to_string();
            let mut o = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    o.push(',');
                }
                o.push(c);
            }
            o
        };
        assert!(page.contains(&shown), "{ex}/{model}: {shown} B not shown");
        match model {
            "model_block.sir" => assert!(page.contains("DReLUs of plain ReLU")),
            "model_poly.sir" => assert!(page.contains("Polynomial layers")),
            _ => assert!(!page.contains("4. Activation co-design")),
        }
    }
    // The cost-only CNN, without a run: its Block-ReLU grids for four layers.
    let plan = tmp("cnn_cost.json");
    let (code, _, err) = sir(&[
        "compile",
        "examples/cnn_cost/model_block.sir",
        "--weights",
        "examples/cnn_cost/weights.npz",
        "--calib",
        "examples/cnn_cost/calib.npy",
        "--bits",
        "8",
        "--max-error",
        "1000",
        "--relu-budget",
        "0.1",
        "-o",
        &plan,
    ]);
    assert_eq!(code, 0, "{err}");
    let page = check_report(&plan, &[], &tmp("cnn_cost.html"), 2_000_000);
    assert_eq!(page.matches("DReLUs of plain ReLU").count(), 4);
    // A report of another plan is refused.
    let (plan, _) = plan_and_run("port_sklearn", "model.sir", "weights.npz", "test.npy", &[]);
    let (_, other) = plan_and_run(
        "digits_cnn",
        "model.sir",
        "weights.npz",
        "inputs.npy",
        &labels,
    );
    let (code, _, err) = sir(&["report", &plan, "--run", &other, "-o", &tmp("x.html")]);
    assert_eq!(code, 1);
    assert!(err.contains("another plan"), "{err}");
}
