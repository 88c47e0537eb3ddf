//! The `.sir` side: checking a model file with its diagnostics printed, and compiling it from
//! its weights and calibration files. Errors are printed here, so the error is the exit code.

use crate::fail;
use crate::files::{load_plan, read_inputs};
use sir_compiler::compile::{Budget, Compiled, compile};
use sir_compiler::eval::bind;
use sir_compiler::relu_budget::{self, ReluChoice};
use sir_runtime::npy;
use std::path::Path;
use std::sync::Arc;

/// Checks a model file, printing every diagnostic; returns the typed program or an exit code.
pub fn load_model(
    path: &Path,
) -> Result<(sir_compiler::types::tir::Program, sir_compiler::Checked), i32> {
    let mut checked = match sir_compiler::check_file(path) {
        Ok(c) => c,
        Err(e) => return Err(fail(format_args!("cannot read {}: {e}", path.display()))),
    };
    for d in &checked.diagnostics {
        d.emit_stderr(&checked.sources);
    }
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    match checked.program.take() {
        Some(p) if errors == 0 => Ok((p, checked)),
        _ => Err(fail(format_args!(
            "could not check `{}` due to {errors} error{}",
            path.display(),
            if errors == 1 { "" } else { "s" }
        ))),
    }
}

/// The files and choices a compilation starts from.
pub struct CompileFiles<'a> {
    pub model: &'a Path,
    pub weights: &'a Path,
    pub calib: &'a Path,
    pub labels: Option<&'a Path>,
    /// The default budget when `None`.
    pub budget: Option<Budget>,
    pub relu: Option<ReluChoice>,
}

/// Loads the model, weights, calibration set and labels, and compiles under the budget: what
/// `sir compile` and `sir verify` share, with the calibration sample count. Diagnostics are
/// printed; the error is the exit code.
pub fn compile_files(files: CompileFiles<'_>) -> Result<(Compiled, usize), i32> {
    let CompileFiles {
        model,
        weights,
        calib,
        labels,
        budget,
        relu,
    } = files;
    if let Some(ReluChoice::Budget(f)) = relu
        && let Err(e) = relu_budget::check_fraction(f)
    {
        return Err(fail(format_args!("--relu-budget: {e}")));
    }
    let (prog, checked) = load_model(model)?;
    let source = std::fs::read_to_string(model)
        .map_err(|e| fail(format_args!("cannot read {}: {e}", model.display())))?;
    let weights = npy::read_npz(weights)
        .map_err(|e| e.to_string())
        .and_then(|w| {
            bind::bind_weights(&prog.model, w, &weights.display().to_string())
                .map_err(|e| e.to_string())
        })
        .map_err(fail)?;
    let batch = read_inputs(calib)
        .and_then(|a| {
            bind::bind_inputs(&prog.model, a, &calib.display().to_string())
                .map_err(|e| e.to_string())
        })
        .map_err(fail)?;
    let labels = match labels {
        None => None,
        Some(l) => Some(
            npy::read_labels(l)
                .map_err(fail)?
                .into_iter()
                .map(|x| x.max(0) as usize)
                .collect::<Vec<_>>(),
        ),
    };
    if matches!(budget, Some(Budget::AccuracyLoss(_))) && labels.is_none() {
        return Err(fail("--max-accuracy-loss needs --labels"));
    }
    let weights: Vec<Arc<_>> = weights.into_iter().collect();
    let c = compile(
        &prog,
        &source,
        &weights,
        &batch,
        labels.as_deref(),
        budget,
        relu.as_ref(),
    )
    .map_err(fail)?;
    let mut c = c;
    // Unnamed Block-ReLU layers are named by where they are.
    for l in c.relu_choices.iter_mut().filter(|l| l.layer.is_empty()) {
        let (line, col) = checked.sources.line_col(l.span);
        l.layer = format!("{}:{line}:{col}", checked.sources.name(l.span.file));
    }
    Ok((c, batch.samples))
}

/// The patches a plan compiled with `--relu-budget` (or pinned patches) recorded.
pub fn pinned_patches(path: &Path) -> Result<ReluChoice, String> {
    let plan = load_plan(path)?;
    relu_budget::recorded_patches(&plan.options)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(ReluChoice::Pinned)
        .ok_or_else(|| {
            format!(
                "{} records no Block-ReLU choices (compile it with --relu-budget)",
                path.display()
            )
        })
}
