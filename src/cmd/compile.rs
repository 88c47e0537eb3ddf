//! `sir compile MODEL --weights W.npz --calib C.npy [--labels L.npy] [--max-accuracy-loss P |
//! --max-error E] -o PLAN.json`: the plan, chosen on calibration data, and a summary.

use super::eval::read_inputs;
use super::fail;
use sir_compiler::compile::{Budget, compile};
use sir_compiler::eval::bind;
use sir_runtime::npy;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// The `.sir` file holding the model.
    pub model: PathBuf,
    /// The server's weights (.npz, one array per `param`): ranges and accuracy are measured
    /// with them; the plan does not contain them.
    #[arg(long)]
    pub weights: PathBuf,
    /// Calibration inputs: a batch (.npy for one input, else .npz by input name).
    #[arg(long)]
    pub calib: PathBuf,
    /// Integer class labels of the calibration samples (.npy).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Largest accuracy drop vs float, in percentage points (needs --labels; default 1.0).
    #[arg(long, conflicts_with = "max_error")]
    pub max_accuracy_loss: Option<f64>,
    /// Largest absolute output error vs float (default without labels: 1% of the largest
    /// float output).
    #[arg(long)]
    pub max_error: Option<f64>,
    /// Where to write the plan (JSON).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

pub fn run(args: &CompileArgs) -> i32 {
    let (prog, _) = match super::load_model(&args.model) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let source = match std::fs::read_to_string(&args.model) {
        Ok(s) => s,
        Err(e) => return fail(format_args!("cannot read {}: {e}", args.model.display())),
    };
    let weights = match npy::read_npz(&args.weights)
        .map_err(|e| e.to_string())
        .and_then(|w| {
            bind::bind_weights(&prog.model, w, &args.weights.display().to_string())
                .map_err(|e| e.to_string())
        }) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let batch = match read_inputs(&args.calib).and_then(|a| {
        bind::bind_inputs(&prog.model, a, &args.calib.display().to_string())
            .map_err(|e| e.to_string())
    }) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let labels = match &args.labels {
        None => None,
        Some(l) => match npy::read_labels(l) {
            Ok(v) => Some(v.into_iter().map(|x| x.max(0) as usize).collect::<Vec<_>>()),
            Err(e) => return fail(e),
        },
    };
    if args.max_accuracy_loss.is_some() && labels.is_none() {
        return fail("--max-accuracy-loss needs --labels");
    }
    let budget = match (args.max_accuracy_loss, args.max_error) {
        (Some(p), _) => Some(Budget::AccuracyLoss(p)),
        (_, Some(e)) => Some(Budget::MaxError(e)),
        _ => None,
    };
    let weights: Vec<Arc<_>> = weights.into_iter().collect();
    let c = match compile(&prog, &source, &weights, &batch, labels.as_deref(), budget) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    for w in &c.pin_warnings {
        eprintln!("warning: {w}");
    }
    if let Err(e) = std::fs::write(&args.out, c.plan.to_json()) {
        return fail(format_args!("cannot write {}: {e}", args.out.display()));
    }
    let total = c.plan.total();
    println!(
        "compiled `{}`: {} graph nodes, {} instructions, storage width {} bits",
        c.plan.model,
        c.nodes,
        c.plan.instrs.len(),
        c.bits
    );
    match c.budget {
        Budget::AccuracyLoss(p) => println!(
            "accuracy on {} calibration samples: float {:.2}%, fixed point {:.2}% (budget: −{p} points)",
            batch.samples, c.float_metric, c.fixed_metric
        ),
        Budget::MaxError(e) => println!(
            "largest output error vs float on {} calibration samples: {:.3e} (budget {e:.3e})",
            batch.samples, c.fixed_metric
        ),
    }
    println!(
        "communication per inference: server sends {} B, client sends {} B, {} rounds",
        total.server_bytes, total.client_bytes, total.rounds
    );
    for cand in &c.candidates {
        let what = match (&cand.bytes, cand.metric) {
            (Ok(b), Some(m)) => format!(
                "{b} B, metric {m:.4}{}",
                if cand.within { "" } else { " (over budget)" }
            ),
            (Err(e), _) => e.clone(),
            (Ok(b), None) => format!("{b} B, over budget (stopped at the first failing samples)"),
        };
        println!("  {:>2} bits: {what}", cand.bits);
    }
    if !c.narrowed.is_empty() {
        let parts: Vec<String> = c
            .narrowed
            .iter()
            .map(|(g, w)| format!("{g} → {w}"))
            .collect();
        println!("  narrowed within the budget: {}", parts.join(", "));
    }
    println!("wrote {} in {:.2} s", args.out.display(), c.seconds);
    0
}
