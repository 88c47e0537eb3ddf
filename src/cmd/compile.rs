//! `sir compile MODEL --weights W.npz --calib C.npy [--labels L.npy] [--max-accuracy-loss P |
//! --max-error E] -o PLAN.json`: the plan, chosen on calibration data, and a summary.

use super::eval::read_inputs;
use super::fail;
use sir_compiler::compile::{Budget, Compiled, compile};
use sir_compiler::eval::bind;
use sir_compiler::relu_budget::{self, ReluChoice};
use sir_runtime::npy;
use std::path::{Path, PathBuf};
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
    /// Patch sizes for every `block_relu(x)`: per layer at most this fraction of plain ReLU's
    /// DReLUs (e.g. 0.1), chosen per channel by a knapsack on calibration distortion. Without
    /// it, `block_relu(x)` is plain ReLU.
    #[arg(long, value_name = "F", conflicts_with = "relu_patches")]
    pub relu_budget: Option<f64>,
    /// Give every `block_relu(x)` the patches recorded in an earlier plan (compiled with
    /// --relu-budget), e.g. to compile weights fine-tuned for that choice.
    #[arg(long, value_name = "PLAN")]
    pub relu_patches: Option<PathBuf>,
    /// Where to write the plan (JSON).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

/// Loads the model, weights, calibration set and labels, and compiles under `budget` (the
/// default budget when `None`): what `sir compile` and `sir verify` share. Diagnostics are
/// printed; the error is the exit code.
pub fn compile_files(
    model: &Path,
    weights: &Path,
    calib: &Path,
    labels: Option<&Path>,
    budget: Option<Budget>,
    relu: Option<ReluChoice>,
) -> Result<(Compiled, usize), i32> {
    if let Some(ReluChoice::Budget(f)) = relu
        && let Err(e) = relu_budget::check_fraction(f)
    {
        return Err(fail(format_args!("--relu-budget: {e}")));
    }
    let (prog, checked) = super::load_model(model)?;
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
        &sir_compiler::compile::CompileInput {
            prog: &prog,
            source: &source,
            weights: &weights,
            calib: &batch,
            labels: labels.as_deref(),
        },
        &sir_compiler::compile::CompileOptions { budget, relu },
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

pub fn run(args: &CompileArgs) -> i32 {
    let budget = match (args.max_accuracy_loss, args.max_error) {
        (Some(p), _) => Some(Budget::AccuracyLoss(p)),
        (_, Some(e)) => Some(Budget::MaxError(e)),
        _ => None,
    };
    let relu = match (args.relu_budget, &args.relu_patches) {
        (Some(f), _) => Some(ReluChoice::Budget(f)),
        (None, Some(p)) => match pinned_patches(p) {
            Ok(c) => Some(c),
            Err(e) => return fail(e),
        },
        (None, None) => None,
    };
    let (c, samples) = match compile_files(
        &args.model,
        &args.weights,
        &args.calib,
        args.labels.as_deref(),
        budget,
        relu,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let batch = Samples { samples };
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
    if args.relu_budget.is_some() && c.relu_choices.is_empty() {
        eprintln!(
            "warning: --relu-budget given, but the model has no `block_relu(x)` without patch sizes"
        );
    }
    for l in &c.relu_choices {
        let budget = match &args.relu_patches {
            Some(p) => format!("pinned from {}", p.display()),
            None => format!("budget {}", l.budget),
        };
        println!(
            "  block_relu `{}` {:?}: {} DReLUs ({budget}, plain ReLU {}), patches {}",
            l.layer,
            l.shape,
            l.drelus,
            l.relus,
            sir_runtime::plan::render::patch_runs(&l.patches)
        );
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

/// The patches a plan compiled with `--relu-budget` (or pinned patches) recorded.
fn pinned_patches(path: &Path) -> Result<ReluChoice, String> {
    let plan = super::run::load_plan(path)?;
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

/// The calibration sample count, for the summary lines.
struct Samples {
    samples: usize,
}
