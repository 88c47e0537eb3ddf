//! End-to-end NumPy equivalence of the float reference semantics.
//!
//! Every directory `tests/eval/<case>/` holds a valid program `model.sir`, its `weights.npz`,
//! an `input.npy` (one `input`) or `input.npz` (several), and `expected.npz`: the outputs
//! computed by an independent NumPy transcription of the program (`tests/eval/gen_cases.py`,
//! which writes all of these files; this test only reads them). Each case is checked through
//! the library path (check, bind weights and inputs, evaluate) and every output is compared
//! with NumPy's: same names in the same order, same shapes, and every element within
//! |a − b| ≤ 1e-7·max(|b|, 1e-300) + 1e-12.
//!
//! A case whose directory holds a `KNOWN_BUG` file (first line: what is wrong) documents a
//! reported `sir` bug: its failure is printed but does not fail `numpy_equivalence`, and that
//! test fails once the case passes so the marker gets removed. `known_bugs` (ignored by
//! default; `cargo test --test eval_numpy -- --ignored`) fails while any marked case fails.

use sir_compiler::eval::bind;
use sir_runtime::{Tensor, npy};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const REL: f64 = 1e-7;
const ABS: f64 = 1e-12;
/// At most this many differing elements are listed per output.
const SHOW: usize = 5;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("eval")
}

/// Every case directory (one holding a `model.sir`), sorted by name.
fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("tests/eval exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.join("model.sir").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn known_bug(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("KNOWN_BUG"))
        .ok()
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
}

fn input_file(dir: &Path) -> PathBuf {
    let npy = dir.join("input.npy");
    if npy.is_file() {
        npy
    } else {
        dir.join("input.npz")
    }
}

fn read_inputs(path: &Path) -> Result<Vec<(Option<String>, Tensor)>, String> {
    if path.extension().is_some_and(|e| e == "npy") {
        npy::read_npy(path)
            .map(|t| vec![(None, t)])
            .map_err(|e| e.to_string())
    } else {
        npy::read_npz(path)
            .map(|v| v.into_iter().map(|(n, t)| (Some(n), t)).collect())
            .map_err(|e| e.to_string())
    }
}

/// Row-major multi-index of flat position `i` in `shape`.
fn multi_index(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        idx[a] = i % shape[a].max(1);
        i /= shape[a].max(1);
    }
    idx
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= REL * want.abs().max(1e-300) + ABS
}

/// Compares one evaluation's outputs with NumPy's; the error lists every mismatch, naming the
/// output and the element.
fn compare(got: &[(String, Tensor)], expected: &[(String, Tensor)]) -> Result<(), String> {
    let mut errs = String::new();
    let got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    if got_names != want_names {
        let _ = writeln!(
            errs,
            "  output names: sir gives {got_names:?}, NumPy expects {want_names:?}"
        );
    }
    for (name, want) in expected {
        let Some((_, have)) = got.iter().find(|(n, _)| n == name) else {
            continue;
        };
        if have.shape() != want.shape() {
            let _ = writeln!(
                errs,
                "  output `{name}`: shape {:?}, NumPy expects {:?}",
                have.shape(),
                want.shape()
            );
            continue;
        }
        let bad: Vec<usize> = (0..want.len())
            .filter(|&i| !close(have.data()[i], want.data()[i]))
            .collect();
        if bad.is_empty() {
            continue;
        }
        let worst = bad
            .iter()
            .map(|&i| (have.data()[i] - want.data()[i]).abs())
            .fold(0.0, f64::max);
        let _ = writeln!(
            errs,
            "  output `{name}` {:?}: {} of {} elements differ (largest |diff| {worst:e})",
            want.shape(),
            bad.len(),
            want.len()
        );
        for &i in bad.iter().take(SHOW) {
            let (a, b) = (have.data()[i], want.data()[i]);
            let _ = writeln!(
                errs,
                "    at {:?}: sir {a:e}, NumPy {b:e} (diff {:e})",
                multi_index(want.shape(), i),
                a - b
            );
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Runs one case through the library and compares with `expected.npz`.
fn run_case(dir: &Path) -> Result<(), String> {
    let model = dir.join("model.sir");
    let checked = sir_compiler::check_file(&model)
        .map_err(|e| format!("  cannot read {}: {e}", model.display()))?;
    let Some(prog) = checked.program else {
        let diags: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| d.render(&checked.sources))
            .collect();
        return Err(format!(
            "  the program does not check:\n{}",
            diags.join("\n")
        ));
    };
    let wfile = dir.join("weights.npz");
    let weights = npy::read_npz(&wfile).map_err(|e| format!("  {e}"))?;
    let params = bind::bind_weights(&prog.model, weights, &wfile.display().to_string())
        .map_err(|e| format!("  bind_weights: {e}"))?;
    let ifile = input_file(dir);
    let arrays = read_inputs(&ifile).map_err(|e| format!("  {e}"))?;
    let batch = bind::bind_inputs(&prog.model, arrays, &ifile.display().to_string())
        .map_err(|e| format!("  bind_inputs: {e}"))?;
    let got = bind::eval_batch(&prog, &batch, &params).map_err(|e| format!("  eval_batch: {e}"))?;
    let expected = npy::read_npz(dir.join("expected.npz")).map_err(|e| format!("  {e}"))?;
    compare(&got, &expected)
}

/// Runs every case, catching panics so that one broken case does not hide the others.
fn run_all(filter: impl Fn(&Path) -> bool) -> Vec<(PathBuf, Result<(), String>)> {
    cases()
        .into_iter()
        .filter(|d| filter(d))
        .map(|d| {
            let r = std::panic::catch_unwind(|| run_case(&d)).unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!("  panicked: {msg}"))
            });
            (d, r)
        })
        .collect()
}

#[test]
fn suite_is_complete() {
    let dirs = cases();
    assert!(
        dirs.len() >= 25,
        "expected at least 25 cases in {}, found {}",
        suite_dir().display(),
        dirs.len()
    );
    for d in &dirs {
        for f in ["weights.npz", "expected.npz"] {
            assert!(
                d.join(f).is_file(),
                "case `{}` has no {f}; run tests/eval/gen_cases.py",
                case_name(d)
            );
        }
        assert!(
            input_file(d).is_file(),
            "case `{}` has no input.npy or input.npz",
            case_name(d)
        );
    }
}

#[test]
fn numpy_equivalence() {
    let results = run_all(|_| true);
    let mut report = String::new();
    let mut failed = 0;
    for (dir, r) in &results {
        let name = case_name(dir);
        match (r, known_bug(dir)) {
            (Ok(()), None) => {}
            (Ok(()), Some(_)) => {
                failed += 1;
                let _ = writeln!(
                    report,
                    "case `{name}` passes but is marked KNOWN_BUG: delete {}",
                    dir.join("KNOWN_BUG").display()
                );
            }
            (Err(e), Some(bug)) => {
                eprintln!("case `{name}`: known sir bug ({bug}), still failing:\n{e}")
            }
            (Err(e), None) => {
                failed += 1;
                let _ = writeln!(report, "case `{name}` differs from NumPy:\n{e}");
            }
        }
    }
    let known = results
        .iter()
        .filter(|(d, r)| r.is_err() && known_bug(d).is_some())
        .count();
    eprintln!(
        "{} cases: {} pass, {known} known bugs, {failed} failures",
        results.len(),
        results.iter().filter(|(_, r)| r.is_ok()).count()
    );
    assert!(
        failed == 0,
        "{failed} of {} cases fail:\n{report}",
        results.len()
    );
}

/// The cases marked `KNOWN_BUG`, strictly: fails while any of them differs from NumPy.
#[test]
#[ignore = "runs the cases that document open sir bugs (tests/eval/*/KNOWN_BUG)"]
fn known_bugs() {
    let results = run_all(|d| known_bug(d).is_some());
    let mut report = String::new();
    for (dir, r) in &results {
        if let Err(e) = r {
            let _ = writeln!(
                report,
                "case `{}` ({}):\n{e}",
                case_name(dir),
                known_bug(dir).unwrap_or_default()
            );
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// The `sir eval` binary on two cases: a batched multi-input model to an .npz and a batched
/// single-output model to an .npy.
#[test]
fn cli_eval_writes_outputs() {
    let tmp = std::env::temp_dir().join(format!("sir-eval-numpy-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    for (case, out_name) in [("multi_io_batch", "out.npz"), ("cnn_blockrelu", "out.npy")] {
        let dir = suite_dir().join(case);
        let out = tmp.join(format!("{case}-{out_name}"));
        let run = Command::new(env!("CARGO_BIN_EXE_sir"))
            .arg("eval")
            .arg(dir.join("model.sir"))
            .arg("--weights")
            .arg(dir.join("weights.npz"))
            .arg("--input")
            .arg(input_file(&dir))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run sir");
        assert_eq!(
            run.status.code(),
            Some(0),
            "sir eval on case `{case}` failed:\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            out.is_file(),
            "sir eval on case `{case}` wrote no {}",
            out.display()
        );
        let got = if out_name.ends_with(".npy") {
            vec![(
                "out0".to_string(),
                npy::read_npy(&out).expect("readable .npy output"),
            )]
        } else {
            npy::read_npz(&out).expect("readable .npz output")
        };
        let expected = npy::read_npz(dir.join("expected.npz")).expect("expected.npz");
        if let Err(e) = compare(&got, &expected) {
            panic!("case `{case}` through the sir binary differs from NumPy:\n{e}");
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
