//! `sir verify PLAN --source MODEL.sir --weights W.npz --calib C.npy [--labels L.npy]`:
//! recompiles the source with the options the plan records and confirms the plan is exactly
//! what they give (compilation is deterministic), or names the first difference. Whoever holds
//! the model's weights and calibration set (the server, an auditor) can so show that a plan
//! handed to a client is the one its source says.

use sir_cli::model::{VerifyFiles, verify};
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

pub fn run(args: &VerifyArgs) -> i32 {
    verify(&VerifyFiles {
        plan: &args.plan,
        source: &args.source,
        weights: &args.weights,
        calib: &args.calib,
        labels: args.labels.as_deref(),
    })
}
