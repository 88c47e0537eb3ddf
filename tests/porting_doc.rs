//! docs/porting.md's Python functions are the ones the NumPy suite runs: every ```python block
//! of the page appears verbatim between `# porting: NAME` and `# end porting` in
//! tests/eval/gen_cases.py, every such function is on the page, and each is used by a case
//! whose directory exists (so tests/eval_numpy.rs checks the port against the framework's
//! equations).

use std::path::Path;

#[test]
fn the_porting_guide_shows_the_tested_functions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/porting.md")).expect("docs/porting.md");
    let src = std::fs::read_to_string(root.join("tests/eval/gen_cases.py")).expect("gen_cases.py");
    let blocks: Vec<&str> = doc
        .split("```python\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or(""))
        .collect();
    let snippets: Vec<&str> = src
        .split("# porting: ")
        .skip(1)
        .map(|s| {
            let body = s.split_once('\n').map_or("", |(_, b)| b);
            body.split("# end porting").next().unwrap_or("")
        })
        .collect();
    assert!(snippets.len() >= 6, "{} ported functions", snippets.len());
    assert_eq!(
        blocks.len(),
        snippets.len(),
        "python blocks against ported functions"
    );
    for b in &blocks {
        assert!(
            snippets.contains(b),
            "a block of docs/porting.md is not in gen_cases.py:\n{b}"
        );
    }
    for s in &snippets {
        let name = s
            .trim_start()
            .strip_prefix("def ")
            .and_then(|r| r.split('(').next())
            .expect("a function");
        let used = src.matches(&format!("{name}(")).count();
        assert!(used >= 2, "{name} is defined but no case calls it");
    }
    for case in [
        "gru_lbr",
        "ported_torch_lstm",
        "ported_keras_gru",
        "ported_keras_lstm",
        "ported_edgeml_fastgrnn",
        "ported_torch_cnn",
    ] {
        assert!(
            root.join("tests/eval")
                .join(case)
                .join("expected.npz")
                .is_file(),
            "{case}"
        );
    }
}
