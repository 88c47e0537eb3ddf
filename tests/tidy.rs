//! Tidy checks of the workspace's structure (in the spirit of rust-analyzer's `tidy` test): the
//! layers of ARCHITECTURE.md are acyclic — in the runtime and in the compiler, a module uses
//! only modules of the layers below its own — and the runtime's test kit stays out of the
//! default build.
//!
//! The check reads the sources as text: every `crate::m` and `super::…::m` path that reaches a
//! top-level module `m` is a use of `m`, wherever it stands (a `use`, an expression, a type),
//! except in comments and strings. Test code (`tests.rs`, `*_tests.rs`, `#[cfg(test)] mod … {
//! … }`) stands with the test kit, above every layer: it may use any module.

use std::path::{Path, PathBuf};

/// The runtime's layers, bottom first. A module may use the modules of every earlier layer.
const RUNTIME: &[&[&str]] = &[
    &["ring", "tensor"],
    &["npy", "fixed"],
    &["net"],
    &["ot"],
    &["proto"],
    &["math"],
    &["plan"],
    &["exec"],
    &["testkit"],
];

/// The compiler's passes, bottom first: each stage reads what the earlier ones produce.
const COMPILER: &[&[&str]] = &[
    &["diag", "shape", "confidence"],
    &["syntax"],
    &["resolve"],
    &["types"],
    &["eval"],
    &["graph"],
    &["precision", "knapsack", "schedule", "cut"],
    &["lower", "relu_budget"],
    &["compile"],
];

type Layers = &'static [&'static [&'static str]];

fn layer(layers: Layers, module: &str) -> Option<usize> {
    layers.iter().position(|l| l.contains(&module))
}

/// The source with comments and the contents of strings blanked out (so that `"//"` in a
/// string is not a comment, nor a path in a string a use), lengths and line breaks preserved.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] != b'\n' {
                            out[i] = b' ';
                        }
                        i += 1;
                    }
                }
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    let step = if b[i] == b'\\' { 2 } else { 1 };
                    for k in i..(i + step).min(b.len()) {
                        if b[k] != b'\n' {
                            out[k] = b' ';
                        }
                    }
                    i += step;
                }
                i += 1;
            }
            // A character literal ('x', '\n', '"'); a lifetime has no closing quote.
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Byte ranges of `#[cfg(test)] mod name { … }` blocks.
fn test_blocks(src: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = src[from..].find("#[cfg(test)]") {
        let start = from + at;
        let after = &src[start + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let is_mod = item.starts_with("mod ") || item.starts_with("pub(crate) mod ");
        match (is_mod, item.find(['{', ';'])) {
            (true, Some(p)) if item.as_bytes()[p] == b'{' => {
                let open = src.len() - item.len() + p;
                let mut depth = 0usize;
                let mut end = src.len();
                for (k, c) in src[open..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                out.push(start..end);
                from = end;
            }
            _ => from = start + 1,
        }
    }
    out
}

/// The module path of a source file relative to `src/` (`proto/linear/tests.rs` →
/// `[proto, linear, tests]`, `proto/mod.rs` → `[proto]`).
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn is_test_file(path: &[String]) -> bool {
    path.iter().any(|p| p == "tests" || p.ends_with("_tests"))
}

/// Every use of another top-level module that the layers forbid, as `file: from → to`.
fn violations(layers: Layers, files: &[(String, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (rel, src) in files {
        let path = module_path(rel);
        let Some(top) = path.first().cloned() else {
            continue;
        };
        // The crate root, and test files, which stand above every layer.
        if top == "lib" || is_test_file(&path) {
            continue;
        }
        let Some(own) = layer(layers, &top) else {
            bad.push(format!(
                "{rel}: module `{top}` is in no layer (add it to the layers here and in ARCHITECTURE.md)"
            ));
            continue;
        };
        let code = strip_comments(src);
        let tests = test_blocks(&code);
        let in_test = |at: usize| is_test_file(&path) || tests.iter().any(|r| r.contains(&at));
        for (at, target) in references(&code, &path, &tests) {
            if target == top {
                continue;
            }
            let allowed = match layer(layers, &target) {
                Some(l) => l < own || in_test(at),
                // Not a module of ours (a crate-root re-export such as `crate::Tensor`).
                None => true,
            };
            if !allowed {
                let line = code[..at].matches('\n').count() + 1;
                bad.push(format!(
                    "{rel}:{line}: `{top}` uses `{target}`, a layer above it"
                ));
            }
        }
    }
    bad
}

/// (offset, top-level module) of every `crate::m`, `crate::{m, …}` and `super::…::m` path.
fn references(
    code: &str,
    path: &[String],
    tests: &[std::ops::Range<usize>],
) -> Vec<(usize, String)> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let boundary = |at: usize| {
        at == 0 || {
            let c = code.as_bytes()[at - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        }
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if !boundary(at) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = ident(item.trim());
                if !name.is_empty() {
                    out.push((at, name));
                }
            }
        } else {
            out.push((at, ident(rest)));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if !boundary(at) {
            continue;
        }
        let mut rest = &code[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        // Inside an inline test module, `super` is the file's own module.
        let depth = path.len() + tests.iter().any(|r| r.contains(&at)) as usize;
        if ups == depth {
            let name = ident(rest);
            if !name.is_empty() {
                out.push((at, name));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).expect("under src");
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&p).expect("read source")));
        }
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check_crate(dir: &str, layers: Layers) {
    let root = workspace().join(dir).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    assert!(files.len() > 20, "read {} files under {dir}", files.len());
    let bad = violations(layers, &files);
    assert!(
        bad.is_empty(),
        "{dir}: imports against the layers:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_runtime_layers_are_acyclic() {
    check_crate("runtime", RUNTIME);
}

#[test]
fn the_compiler_passes_are_acyclic() {
    check_crate("compiler", COMPILER);
}

#[test]
fn a_wrong_import_is_caught() {
    let file = |rel: &str, src: &str| (rel.to_string(), src.to_string());
    // `fixed` is the bottom of the semantics: it may not reach up to the protocols; the
    // precision pass may not reach forward into the lowering.
    let bad = violations(
        RUNTIME,
        &[file("fixed/mod.rs", "use crate::proto::Cost;\n")],
    );
    assert_eq!(
        bad,
        ["fixed/mod.rs:1: `fixed` uses `proto`, a layer above it"]
    );
    // The same through `super`, a grouped import, and the test kit outside tests.
    assert_eq!(
        violations(
            RUNTIME,
            &[file("proto/relu.rs", "fn f() { super::super::math::x(); }")]
        )
        .len(),
        1
    );
    assert_eq!(
        violations(
            RUNTIME,
            &[file("net/mod.rs", "use crate::{ring, ot::OtEngine};")]
        )
        .len(),
        1
    );
    assert_eq!(
        violations(
            RUNTIME,
            &[file("exec/mod.rs", "use crate::testkit::pair::run_mem;")]
        )
        .len(),
        1
    );
    // Downward uses, comments, strings and the test kit in test code are fine.
    let fine = [
        file(
            "exec/mod.rs",
            "use crate::plan::Plan;\nuse super::proto::Party;",
        ),
        file(
            "fixed/ext.rs",
            "//! see [`crate::proto::ext`]\nlet s = \"crate::exec\";",
        ),
        file("proto/tests.rs", "use crate::testkit::pair::run_mem;"),
        file("math/tests.rs", "use crate::plan::MathOp;"),
        file(
            "proto/mult.rs",
            "fn m() {}\n#[cfg(test)]\nmod tests {\n    use crate::testkit::pair::run_mem;\n    use super::m;\n}\n",
        ),
    ];
    assert_eq!(violations(RUNTIME, &fine), Vec::<String>::new());
    // A new top-level module must be given a layer.
    assert_eq!(violations(RUNTIME, &[file("cache/mod.rs", "")]).len(), 1);
}

#[test]
fn the_test_kit_is_not_in_the_default_build() {
    let dir = workspace().join("runtime");
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
    let decl = lib.find("pub mod testkit;").expect("testkit is declared");
    let gate = lib[..decl].trim_end();
    assert!(
        gate.ends_with("#[cfg(any(test, feature = \"testkit\"))]"),
        "testkit must be compiled only for tests and the `testkit` feature"
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let default = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("default"));
    assert!(
        default.is_none_or(|l| !l.contains("testkit")),
        "the default features must not include testkit"
    );
    // The compiler builds on the library alone.
    let compiler = std::fs::read_to_string(dir.join("../compiler/Cargo.toml")).expect("compiler");
    assert!(
        !compiler.contains("testkit"),
        "the compiler must not enable testkit"
    );
}
