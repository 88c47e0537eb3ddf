//! `sir-compiler`: the `.sir` frontend (parse, load modules, resolve names, check shapes), the
//! float reference interpreter, the dataflow graph (loops unrolled, calls inlined), and — later —
//! precision inference and lowering to plans.
//! See ARCHITECTURE.md for where things live and what may depend on what.

pub mod compile;
pub mod confidence;
pub mod cut;
pub mod diag;
pub mod eval;
pub mod graph;
pub mod knapsack;
pub mod lower;
pub mod precision;
pub mod relu_budget;
pub mod resolve;
pub mod schedule;
pub mod shape;
pub mod syntax;
pub mod types;

use diag::{Diagnostic, Diagnostics, SourceMap};
use std::path::Path;

/// The result of checking a file: its sources (for rendering diagnostics), every diagnostic in
/// source order, and the typed program when there was no error.
pub struct Checked {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub program: Option<types::tir::Program>,
    pub modules: resolve::Program,
}

/// Parses, loads, resolves and shape-checks a program given as text; `use "…"` paths are
/// resolved against `dir` through `fs`.
pub fn check_source(
    name: &str,
    source: String,
    dir: &Path,
    fs: &dyn resolve::FileSource,
) -> Checked {
    // The parser and checker recurse once per nesting level; the syntax limits keep that depth in
    // the thousands, which a dedicated thread's stack holds whatever the caller's stack is.
    const STACK: usize = 256 << 20;
    let source = &source;
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("sir-frontend".into())
            .stack_size(STACK)
            .spawn_scoped(s, || check_here(name, source.clone(), dir, fs));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had: check on this one.
            Err(_) => check_here(name, source.clone(), dir, fs),
        }
    })
}

fn check_here(name: &str, source: String, dir: &Path, fs: &dyn resolve::FileSource) -> Checked {
    let mut diags = Diagnostics::default();
    let prog = resolve::load(name, source, dir, fs, &mut diags);
    let program = types::check(&prog, &mut diags);
    let program = if diags.has_errors() { None } else { program };
    let sources = std::mem::take(&mut SourceMap::new());
    let mut modules = prog;
    let sources = std::mem::replace(&mut modules.sources, sources);
    Checked {
        sources,
        diagnostics: diags.sorted(),
        program,
        modules,
    }
}

/// Checks the file at `path` (read from disk, with its `use`d files).
pub fn check_file(path: &Path) -> std::io::Result<Checked> {
    let source = std::fs::read_to_string(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(check_source(
        &path.display().to_string(),
        source,
        dir,
        &resolve::Disk,
    ))
}
