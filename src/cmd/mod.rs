//! Subcommands of `sir`, one module each. Exit codes: 0 success, 1 an error in the user's program
//! or files, 2 bad command-line usage (clap's own).

pub mod bench;
mod check;
pub mod compile;
mod demo;
mod eval;
mod generate;
mod import;
mod inspect;
mod report;
mod run;
mod verify;

use clap::{Parser, Subcommand};
use sir_cli::fail;
use std::path::PathBuf;

/// Private inference of neural networks between two parties.
#[derive(Parser, Debug)]
#[command(name = "sir", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the main job end to end on an example built into this binary: compile it with
    /// calibration data, inspect the plan, run it between the two parties over TLS on
    /// loopback. Needs no files; prints each step's command line.
    Demo(demo::DemoArgs),
    /// Parse, resolve and shape-check a model; prints only diagnostics.
    Check {
        /// The `.sir` file holding the model.
        model: PathBuf,
        /// Also print the typed program (every name resolved, every shape known).
        #[arg(long)]
        print_typed: bool,
    },
    /// Evaluate a model in floating point (the reference semantics).
    Eval(eval::EvalArgs),
    /// Compile a model to a two-party plan, choosing fixed-point formats on calibration data.
    ///
    /// Words it prints: a flight is what one party sends at once before waiting (JSON:
    /// `rounds`); a latency unit is one one-way network delay on the run's critical path;
    /// `bits.frac` is a fixed-point format (20.17: 20 bits, 17 of them fraction); see
    /// docs/glossary.md.
    Compile(compile::CompileArgs),
    /// Show a plan's tensor formats and per-instruction, per-layer or per-protocol costs.
    ///
    /// Words it prints: a flight is what one party sends at once before waiting (JSON:
    /// `rounds`); a latency unit is one one-way network delay on the run's critical path;
    /// `bits.frac` is a fixed-point format (20.17: 20 bits, 17 of them fraction); see
    /// docs/glossary.md.
    Inspect(inspect::InspectArgs),
    /// One self-contained HTML page of a plan's cost (per layer and protocol), precision
    /// (formats against calibrated ranges, the widths tried), co-design choices and, with
    /// --run, measured against estimated and a timeline.
    Report(report::ReportArgs),
    /// Run a plan as one party: the server (weights) listens, the client (input) connects and
    /// learns the outputs.
    ///
    /// Words it prints: a flight is what one party sends at once before waiting (JSON:
    /// `rounds`); a latency unit is one one-way network delay on the run's critical path;
    /// `bits.frac` is a fixed-point format (20.17: 20 bits, 17 of them fraction); see
    /// docs/glossary.md.
    Run(run::RunArgs),
    /// Run a plan as both parties in this process over a loopback socket pair; compares the
    /// result with the plan's cleartext semantics and the measured bytes with the estimates.
    Simulate(run::SimulateArgs),
    /// Recompile a plan's source with the options the plan records and confirm the plan is
    /// exactly what it gives (or name the first difference).
    Verify(verify::VerifyArgs),
    /// Write deterministic random weights (and inputs) for a model.
    Generate(generate::GenerateArgs),
    /// Import an ONNX model (MLPs and CNNs as torch.onnx, tf2onnx and skl2onnx export them):
    /// writes DIR/model.sir and DIR/weights.npz and checks the model. An operator it does not
    /// support is refused with the node's name.
    Import(import::ImportArgs),
    /// Make this party's TLS identity: a private key (key.pem, owner-only) and its self-signed
    /// certificate (cert.pem, to give to the peer, who passes it as --peer-cert).
    Keygen {
        /// The folder to write key.pem and cert.pem into (an existing key is not overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure throughput, bytes and flights ("rounds").
    ///
    /// Words it prints: a flight is what one party sends at once before waiting (JSON:
    /// `rounds`); a latency unit is one one-way network delay on the run's critical path;
    /// `bits.frac` is a fixed-point format (20.17: 20 bits, 17 of them fraction); see
    /// docs/glossary.md.
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCmd,
    },
}

/// Output into a closed pipe (`sir … | head`) ends the process quietly, as it does other Unix
/// tools, instead of a panic in `println!`: SIGPIPE back to its default action. Not for `sir
/// run`, whose sessions must outlive a closed log pipe (its sockets never raise SIGPIPE: the
/// standard library sends with MSG_NOSIGNAL).
fn quiet_broken_pipe() {
    #[cfg(unix)]
    {
        unsafe extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        // SAFETY: restores the default disposition of one signal before any thread starts.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_)) {
        quiet_broken_pipe();
    }
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Check { model, print_typed } => check::run(&model, print_typed),
        Command::Eval(args) => eval::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Run(args) => run::run(args),
        Command::Verify(args) => verify::run(&args),
        Command::Keygen { out } => match sir_runtime::net::tls::keygen(&out) {
            Ok(()) => {
                let cert = out.join("cert.pem");
                match std::fs::read(&cert) {
                    Ok(_) => {
                        println!(
                            "wrote {} (keep it private) and {} (give it to the peer: --peer-cert)",
                            out.join("key.pem").display(),
                            cert.display()
                        );
                        0
                    }
                    Err(e) => fail(format_args!("{}: {e}", cert.display())),
                }
            }
            Err(e) => fail(e),
        },
        Command::Simulate(args) => run::simulate(args),
        Command::Bench { cmd } => bench::run(cmd),
    }
}

/// Writes a command's report to stdout; a reader that stopped early (`| head`) ends the
/// command quietly, as it does for other Unix tools, instead of a panic. Returns the exit code.
pub fn print_out(text: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            1
        }
    }
}
