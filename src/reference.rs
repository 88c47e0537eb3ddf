//! The reference semantics on files: a model evaluated in floating point, or a plan's
//! cleartext fixed-point semantics (the reference a two-party run equals bit for bit), on one
//! sample or a batch.

use crate::fail;
use crate::files::read_inputs;
use crate::model::load_model;
use crate::outputs::{check_out, format_tensor, write_outputs};
use sir_compiler::eval::bind;
use sir_runtime::{Tensor, npy};
use std::path::Path;

/// What `sir eval` was asked to evaluate.
pub struct EvalOptions<'a> {
    pub model: &'a Path,
    pub weights: &'a Path,
    pub input: &'a Path,
    pub out: Option<&'a Path>,
    pub labels: Option<&'a Path>,
    /// The plan whose cleartext semantics to evaluate instead of float.
    pub plan: Option<&'a Path>,
}

/// `sir eval`: prints the outputs (or the accuracy against labels) and writes them; returns
/// the exit code.
pub fn eval(args: &EvalOptions<'_>) -> i32 {
    let (prog, _) = match load_model(args.model) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // One f64 tensor of 2^28 elements is 2 GiB; beyond that, refuse rather than abort on an
    // allocation failure halfway through.
    const MAX_EVAL_ELEMENTS: usize = 1 << 28;
    let (largest, _) = sir_compiler::eval::interp::largest_tensor(&prog);
    if largest > MAX_EVAL_ELEMENTS {
        return fail(format_args!(
            "the model needs a tensor of {largest} elements; `sir eval` holds at most 2^28 (2 GiB of f64) per tensor"
        ));
    }
    if let Some(out) = args.out
        && let Err(e) = check_out(out, prog.model.outputs.len())
    {
        return fail(e);
    }
    let wfile = args.weights.display().to_string();
    let weights = match npy::read_weights_within(args.weights, u64::MAX) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let params = match bind::bind_weights(&prog.model, weights, &wfile) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let arrays = match read_inputs(args.input) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let batch = match bind::bind_inputs(&prog.model, arrays, &args.input.display().to_string()) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let labels = match args.labels {
        None => None,
        Some(l) => match npy::read_labels(l) {
            Ok(v) if v.len() == batch.samples => Some(v),
            Ok(v) => {
                return fail(format_args!(
                    "{}: {} labels for {} samples",
                    l.display(),
                    v.len(),
                    batch.samples
                ));
            }
            Err(e) => return fail(e),
        },
    };
    let results = match args.plan {
        None => match bind::eval_batch(&prog, &batch, &params) {
            Ok(r) => r,
            Err(e) => return fail(format_args!("evaluation failed: {e}")),
        },
        Some(p) => match eval_plan(p, args.model, &prog, &batch, &params) {
            Ok(r) => r,
            Err(e) => return fail(e),
        },
    };
    if let Some(labels) = labels {
        match crate::outputs::accuracy(&results, (batch.samples, batch.batched), &labels) {
            Ok((pct, ok, how)) => println!("accuracy: {pct:.2}% ({ok}/{}) {how}", labels.len()),
            Err(e) => return fail(e),
        }
    } else {
        for (name, t) in &results {
            println!("{name}: {}", format_tensor(t));
        }
    }
    if let Some(out) = args.out
        && let Err(e) = write_outputs(out, &results)
    {
        return fail(e);
    }
    0
}

/// The plan's fixed-point outputs on every sample of the batch.
fn eval_plan(
    path: &Path,
    model: &Path,
    prog: &sir_compiler::types::tir::Program,
    batch: &bind::Batch,
    params: &[std::sync::Arc<Tensor>],
) -> Result<Vec<(String, Tensor)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let plan = sir_runtime::plan::Plan::from_json(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if plan.model != prog.model.name {
        return Err(format!(
            "{}: the plan is for model `{}`, not `{}`",
            path.display(),
            plan.model,
            prog.model.name
        ));
    }
    // Same name is not same model: the plan records its source's hash.
    let source =
        std::fs::read(model).map_err(|e| format!("cannot read {}: {e}", model.display()))?;
    let hash = blake3::hash(&source).to_hex().to_string();
    if hash != plan.source_hash {
        return Err(format!(
            "{} was not compiled from {}: the plan's source hash is {}, the file's {hash} \
             (compile it again, or pass the model it was compiled from)",
            path.display(),
            model.display(),
            plan.source_hash
        ));
    }
    let samples: Vec<_> = (0..batch.samples).map(|i| batch.sample(i)).collect();
    let per = sir_compiler::compile::run_plan(&plan, &samples, params)?;
    let outs: Vec<(String, Vec<usize>)> = plan
        .outputs
        .iter()
        .map(|io| (io.name.clone(), plan.tensors[io.tensor].shape.clone()))
        .collect();
    Ok(bind::stack(per, &outs, batch))
}
