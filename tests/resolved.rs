//! The resolved, shape-checked program of every example and every standard-library module,
//! pinned as text: a change in name resolution, shape inference or function instantiation
//! shows up here as a diff.

use sir_compiler::resolve::{self, STDLIB};
use sir_compiler::types::{self, render};
use std::path::Path;

#[test]
fn examples() {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("cd to package root");
    insta::glob!("../examples", "*/model.sir", |path| {
        let rel = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(path);
        let checked = sir_compiler::check_file(rel).expect("example readable");
        let errors: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| d.render(&checked.sources))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let prog = checked.program.expect("example checks");
        insta::assert_snapshot!(render::program(&prog));
    });
}

#[test]
fn stdlib_modules() {
    for (name, _) in STDLIB {
        let mut diags = sir_compiler::diag::Diagnostics::default();
        let prog = resolve::load(
            "main.sir",
            format!("use std::{name};"),
            Path::new("."),
            &resolve::Disk,
            &mut diags,
        );
        let (fns, table) = types::check_library(&prog, &mut diags);
        let problems: Vec<String> = diags
            .iter()
            .filter(|d| d.code != "E0103")
            .map(|d| d.render(&prog.sources))
            .collect();
        assert!(problems.is_empty(), "std::{name}: {}", problems.join("\n"));
        let text: String = fns
            .iter()
            .filter(|(r, _)| r.module != prog.main)
            .map(|(_, f)| render::instance(f, &table) + "\n")
            .collect();
        insta::assert_snapshot!(format!("std_{name}"), text);
    }
}
