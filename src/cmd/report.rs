//! `sir report PLAN [--run REPORT.json ...] [--net LINK] -o report.html`: one self-contained
//! HTML page of a plan's and its runs' cost, precision and choices ([`sir_cli::html`]).

use sir_cli::fail;
use sir_cli::files::load_plan;
use sir_cli::html::{Page, RunReport, page};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The plan (JSON, from `sir compile`).
    pub plan: PathBuf,
    /// A run's report (`sir run --report` or `sir simulate --report`) to put beside the
    /// estimates; repeat for both parties or several runs.
    #[arg(long)]
    pub run: Vec<PathBuf>,
    /// The network for the time estimate: lan (1 Gbit/s, 0.5 ms), wan (100 Mbit/s, 40 ms), or
    /// MBIT_PER_S,RTT_MS.
    #[arg(long, default_value = "lan", value_parser = super::inspect::parse_net)]
    pub net: sir_runtime::net::link::Link,
    /// Where to write the page.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

pub fn run(args: &ReportArgs) -> i32 {
    let (plan, info) = match load_plan(&args.plan) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut runs = Vec::new();
    for r in &args.run {
        let text = match std::fs::read_to_string(r) {
            Ok(t) => t,
            Err(e) => return fail(format_args!("{}: {e}", r.display())),
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(json) if json["instructions"].is_array() => runs.push(RunReport {
                name: r.display().to_string(),
                json,
            }),
            _ => {
                return fail(format_args!(
                    "{}: not a run report (sir run --report or sir simulate --report writes one)",
                    r.display()
                ));
            }
        }
    }
    let html = match page(&Page {
        plan: &plan,
        info: &info,
        net: args.net,
        runs: &runs,
    }) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    if let Err(e) = std::fs::write(&args.out, html.as_bytes()) {
        return fail(format_args!("cannot write {}: {e}", args.out.display()));
    }
    println!("wrote {} ({} bytes)", args.out.display(), html.len());
    0
}
