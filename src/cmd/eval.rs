//! `sir eval MODEL --weights W.npz --input X.npy|X.npz [--out Y] [--labels L.npy]`: the float
//! reference semantics on one sample or a batch.

use sir_cli::reference::{EvalOptions, eval};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The `.sir` file holding the model.
    pub model: PathBuf,
    /// The server's weights: an .npz with one array per `param`.
    #[arg(long)]
    pub weights: PathBuf,
    /// The client's input: .npy for a model with one input, else .npz by input name. One extra
    /// leading axis makes it a batch.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the outputs: .npz (one array per output) or .npy (one output only).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Integer class labels (.npy), one per sample: print accuracy instead of the outputs.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Evaluate the plan's cleartext fixed-point semantics (from `sir compile`) instead of
    /// float: the reference a two-party run equals bit for bit.
    #[arg(long)]
    pub plan: Option<PathBuf>,
}

pub fn run(args: &EvalArgs) -> i32 {
    eval(&EvalOptions {
        model: &args.model,
        weights: &args.weights,
        input: &args.input,
        out: args.out.as_deref(),
        labels: args.labels.as_deref(),
        plan: args.plan.as_deref(),
    })
}
