//! `sir bench`: measured throughput, bytes and rounds.

/// What `sir bench` can measure.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {}

/// Runs a benchmark; returns the process exit code.
pub fn run(cmd: BenchCmd) -> i32 {
    match cmd {}
}
