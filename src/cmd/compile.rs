//! `sir compile MODEL --weights W.npz --calib C.npy [--labels L.npy] [--max-accuracy-loss P |
//! --max-error E] [--net LINK] -o PLAN.json`: the plan, chosen on calibration data, and a
//! summary.

use sir_cli::fail;
use sir_cli::model::{CompileFiles, OtChoice, compile_files, pinned_patches};
use sir_cli::report::print_compiled;
use sir_compiler::compile::Budget;
use sir_compiler::relu_budget::ReluChoice;
use sir_runtime::net::link::Link;
use std::path::PathBuf;

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
    /// Patch sizes for every `block_relu(x)`: at most this fraction of plain ReLU's DReLUs
    /// over the whole model (e.g. 0.1), chosen per channel by one knapsack over every layer's
    /// channels on calibration distortion. Without it, `block_relu(x)` is plain ReLU.
    #[arg(long, value_name = "F", conflicts_with_all = ["relu_patches", "relu_budget_per_layer"])]
    pub relu_budget: Option<f64>,
    /// As --relu-budget, but the fraction holds in every layer (a knapsack per layer).
    #[arg(long, value_name = "F", conflicts_with = "relu_patches")]
    pub relu_budget_per_layer: Option<f64>,
    /// Give every `block_relu(x)` the patches recorded in an earlier plan (compiled with
    /// --relu-budget), e.g. to compile weights fine-tuned for that choice.
    #[arg(long, value_name = "PLAN")]
    pub relu_patches: Option<PathBuf>,
    /// Choose the formats for the least estimated time on this link (lan: 1 Gbit/s, 0.5 ms;
    /// wan: 100 Mbit/s, 40 ms; or MBIT_PER_S,RTT_MS) instead of the fewest bytes: transfer
    /// plus latency units × RTT/2, as `sir inspect --net` prices it.
    #[arg(long, value_name = "LINK", value_parser = super::run::parse_link)]
    pub net: Option<Link>,
    /// Pin the storage width (8, 10, 12, 16, 20, 24 or 32): only this width is tried and no
    /// tensor group is narrowed below it, so plans of one model (ReLU, Block-ReLU, polynomial)
    /// compare at equal width. The budget must still hold.
    #[arg(long, value_name = "N")]
    pub bits: Option<u32>,
    /// The OT engine the plan runs on and is priced for: iknp (IKNP/KK13, nothing ahead of
    /// the run), silent (Ferret COTs generated before the input is used: a fraction of the
    /// bytes per OT, plus a preprocessing phase of ≈ 2.6 MB and more that `sir inspect`
    /// shows apart), or auto: formats searched on IKNP's prices, then the engine with fewer
    /// bytes per inference, preprocessing included. Both parties run the plan's engine.
    #[arg(long, default_value = "auto", value_parser = OtChoice::parse)]
    pub ot: OtChoice,
    /// Where products with the server's weights pay their OT payloads: offline (the client's
    /// random mask times the weights is prepared before the input, Delphi-style; online the
    /// client sends its masked share and the wrap term: a few percent of the bytes), or
    /// online (all of it after the input, nothing prepared).
    #[arg(long, default_value = "offline", value_parser = ["offline", "online"])]
    pub products: String,
    /// The confidence of the bound on unseen inputs: the search ranks widths on a quarter of
    /// the calibration set and keeps a plan only if the three quarters held back confirm, at this
    /// confidence, that its loss on inputs it has never seen stays within the budget
    /// (Clopper–Pearson on the predictions float gets right and the plan wrong; for --max-error,
    /// no held-back sample over it). Too few samples for the budget at this confidence are
    /// refused, naming how many would do. See docs/precision.md.
    #[arg(long, default_value_t = sir_compiler::confidence::DEFAULT, value_name = "C")]
    pub confidence: f64,
    /// Where to write the plan (JSON).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

pub fn run(args: &CompileArgs) -> i32 {
    let budget = match (args.max_accuracy_loss, args.max_error) {
        (Some(p), _) => Some(Budget::AccuracyLoss(p)),
        (_, Some(e)) => Some(Budget::MaxError(e)),
        _ => None,
    };
    let relu = match (args.relu_budget, &args.relu_patches) {
        (Some(f), _) => Some(ReluChoice::Budget(f)),
        (None, _) if args.relu_budget_per_layer.is_some() => {
            args.relu_budget_per_layer.map(ReluChoice::BudgetPerLayer)
        }
        (None, Some(p)) => match pinned_patches(p) {
            Ok(c) => Some(c),
            Err(e) => return fail(e),
        },
        (None, None) => None,
    };
    let (c, samples) = match compile_files(CompileFiles {
        model: &args.model,
        weights: &args.weights,
        calib: &args.calib,
        labels: args.labels.as_deref(),
        budget,
        relu,
        net: args.net,
        bits: args.bits,
        ot: args.ot,
        masked_products: args.products == "offline",
        confidence: Some(args.confidence),
        verifying: false,
    }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in &c.pin_warnings {
        eprintln!("warning: {w}");
    }
    if let Err(e) = std::fs::write(&args.out, c.plan.to_json()) {
        return fail(format_args!("cannot write {}: {e}", args.out.display()));
    }
    print_compiled(
        &c,
        samples,
        args.relu_budget.is_some() || args.relu_budget_per_layer.is_some(),
        args.relu_patches.as_deref(),
        &args.out,
    );
    0
}
