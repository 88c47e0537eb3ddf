//! `sir verify PLAN --source MODEL.sir --weights W.npz --calib C.npy [--labels L.npy]`:
//! recompiles the source with the options the plan records and confirms the plan is exactly
//! what they give (compilation is deterministic), or names the first difference. Whoever holds
//! the model's weights and calibration set (the server, an auditor) can so show that a plan
//! handed to a client is the one its source says.

use sir_cli::fail;
use sir_cli::files::load_plan;
use sir_cli::model::{CompileFiles, compile_files};
use sir_compiler::compile::Budget;
use sir_runtime::plan::Plan;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The plan to check.
    pub plan: PathBuf,
    /// The `.sir` source it claims to come from.
    #[arg(long)]
    pub source: PathBuf,
    /// The weights it was compiled with.
    #[arg(long)]
    pub weights: PathBuf,
    /// The calibration set it was compiled with.
    #[arg(long)]
    pub calib: PathBuf,
    /// The calibration labels (for a plan compiled with an accuracy budget).
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

/// Where two plans first differ.
fn first_difference(a: &Plan, b: &Plan) -> String {
    if a.model != b.model {
        return format!("model `{}` against `{}`", a.model, b.model);
    }
    if a.options != b.options {
        return format!("options {} against {}", a.options, b.options);
    }
    if let Some(i) =
        (0..a.tensors.len().min(b.tensors.len())).find(|&i| a.tensors[i] != b.tensors[i])
    {
        return format!("tensor {i}: {:?} against {:?}", a.tensors[i], b.tensors[i]);
    }
    if a.tensors.len() != b.tensors.len() {
        return format!("{} tensors against {}", a.tensors.len(), b.tensors.len());
    }
    if let Some(k) = (0..a.instrs.len().min(b.instrs.len())).find(|&k| a.instrs[k] != b.instrs[k]) {
        return format!(
            "instruction {k}: {} against {}",
            serde_json::to_string(&a.instrs[k]).unwrap_or_default(),
            serde_json::to_string(&b.instrs[k]).unwrap_or_default()
        );
    }
    if a.instrs.len() != b.instrs.len() {
        return format!("{} instructions against {}", a.instrs.len(), b.instrs.len());
    }
    "the inputs, weights or outputs listed".into()
}

pub fn run(args: &VerifyArgs) -> i32 {
    let plan = match load_plan(&args.plan) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let source = match std::fs::read(&args.source) {
        Ok(s) => s,
        Err(e) => return fail(format_args!("cannot read {}: {e}", args.source.display())),
    };
    let hash = blake3::hash(&source).to_hex().to_string();
    if hash != plan.source_hash {
        return fail(format_args!(
            "{} was not compiled from {}: its source hash is {}, the file's {hash}",
            args.plan.display(),
            args.source.display(),
            plan.source_hash
        ));
    }
    let budget = match Budget::recorded(&plan.options) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let relu = match sir_compiler::relu_budget::ReluChoice::recorded(&plan.options) {
        Ok(r) => r,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let (c, samples) = match compile_files(CompileFiles {
        model: &args.source,
        weights: &args.weights,
        calib: &args.calib,
        labels: args.labels.as_deref(),
        budget: Some(budget),
        relu,
    }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(n) = plan.options["calibration_samples"].as_u64()
        && n as usize != samples
    {
        return fail(format_args!(
            "the plan was calibrated on {n} samples, {} holds {samples}",
            args.calib.display()
        ));
    }
    if c.plan != plan {
        return fail(format_args!(
            "{} is NOT what {} compiles to with its recorded options: first difference at {}",
            args.plan.display(),
            args.source.display(),
            first_difference(&plan, &c.plan)
        ));
    }
    println!(
        "verified: {} is exactly what {} compiles to ({} instructions, plan hash {})",
        args.plan.display(),
        args.source.display(),
        plan.instrs.len(),
        blake3::Hash::from(plan.hash()).to_hex()
    );
    0
}
