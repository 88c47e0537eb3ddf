//! Every diagnostic the frontend can emit, pinned as rendered text (no colour). Each file under
//! tests/diagnostics/ is named after the code it must produce; files starting with `_` are only
//! `use`d by others.

use std::path::Path;

fn render(path: &Path) -> String {
    let rel = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path);
    let checked = sir_compiler::check_file(rel).expect("case file readable");
    let mut out = String::new();
    for d in &checked.diagnostics {
        out.push_str(&d.render(&checked.sources));
    }
    out
}

#[test]
fn diagnostics() {
    // Paths in the rendered output are relative to the package root.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to package root");
    insta::glob!("diagnostics/*.sir", |path| {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if name.starts_with('_') {
            return;
        }
        let text = render(path);
        let code = name.split('_').next().unwrap_or_default();
        if code.starts_with('E') || code.starts_with('W') {
            assert!(
                text.contains(&format!("[{code}]")),
                "{name}: expected a {code} diagnostic, got:\n{text}"
            );
        }
        if code.starts_with('W') {
            assert!(
                !text.contains("error["),
                "{name}: a warning case must not have errors:\n{text}"
            );
        }
        let headers = text.matches("error[").count() + text.matches("warning[").count();
        assert_eq!(
            headers,
            text.matches("= help:").count(),
            "{name}: every diagnostic has a help line:\n{text}"
        );
        insta::assert_snapshot!(text);
    });
}

#[test]
fn several_independent_errors_are_all_reported() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to package root");
    let checked = sir_compiler::check_file(Path::new(
        "tests/diagnostics/multiple_independent_errors.sir",
    ))
    .expect("readable");
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect();
    assert_eq!(codes, ["E0201", "E0211", "E0304", "E0205"], "{codes:?}");
}

#[test]
fn check_exit_codes() {
    let sir = env!("CARGO_BIN_EXE_sir");
    let dir = env!("CARGO_MANIFEST_DIR");
    let ok = std::process::Command::new(sir)
        .current_dir(dir)
        .args(["check", "examples/fastgrnn_g30/model.sir"])
        .output()
        .expect("runs");
    assert_eq!(ok.status.code(), Some(0));
    assert!(
        ok.stdout.is_empty() && ok.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = std::process::Command::new(sir)
        .current_dir(dir)
        .args(["check", "tests/diagnostics/E0301_broadcast_mismatch.sir"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("error[E0301]")
            && err.contains("tests/diagnostics/E0301_broadcast_mismatch.sir:4:12"),
        "{err}"
    );
    let usage = std::process::Command::new(sir)
        .args(["check"])
        .output()
        .expect("runs");
    assert_eq!(usage.status.code(), Some(2));
    let missing = std::process::Command::new(sir)
        .args(["check", "/no/such/file.sir"])
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(1));
}
