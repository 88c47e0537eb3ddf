//! `sir run` (one party, two hosts) and `sir simulate` (both parties in one process over a real
//! loopback socket pair): their options; the driver is `sir_cli::driver`.

use sir_cli::driver::{self, RunOptions, SimulateOptions};
use sir_cli::fail;
use sir_runtime::net::Role;
use sir_runtime::net::link::Link;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleArg {
    Server,
    Client,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Which party this process plays.
    #[arg(long)]
    pub role: RoleArg,
    /// The plan from `sir compile` (both parties load the same file).
    #[arg(long)]
    pub plan: PathBuf,
    /// The server's weights (.npz, one array per param).
    #[arg(long, required_if_eq("role", "server"))]
    pub weights: Option<PathBuf>,
    /// The client's input (.npy, or .npz by input name); one extra leading axis is a batch.
    #[arg(long, required_if_eq("role", "client"))]
    pub input: Option<PathBuf>,
    /// The server's address to listen on, e.g. 0.0.0.0:7000.
    #[arg(long, required_if_eq("role", "server"))]
    pub listen: Option<String>,
    /// The server's address to connect to, e.g. 10.0.0.2:7000.
    #[arg(long, required_if_eq("role", "client"))]
    pub connect: Option<String>,
    /// Parallel connections (both parties must agree); large instructions are split across them.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where the client writes the outputs (.npy for one output, else .npz).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write measured and estimated communication, per instruction, as JSON.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// This party's TLS identity: a folder made by `sir keygen --out DIR` (cert.pem, key.pem).
    /// Needed unless --insecure-plaintext (the run says so, naming `sir keygen`).
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// The peer's certificate (its cert.pem, made by its `sir keygen`): every connection must
    /// present one of these. A server gives one per client it serves: repeat the option, or
    /// name a directory whose *.pem files are the clients' certificates (the log names each
    /// session's client by its certificate's fingerprint; remove a file to revoke a client).
    #[arg(long)]
    pub peer_cert: Vec<PathBuf>,
    /// Plain TCP: no encryption, no authentication (benchmarks on a trusted network only).
    #[arg(long, conflicts_with_all = ["identity", "peer_cert"])]
    pub insecure_plaintext: bool,
    /// Seconds the client keeps retrying to connect, and the server waits for a client.
    #[arg(long, default_value_t = 60)]
    pub wait: u64,
    /// Integer class labels (.npy), one per sample: the client prints its accuracy.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Memory this party may use, in MiB: a plan, weights or input file, or a run (its batch)
    /// that would need more is refused before anything is allocated.
    #[arg(long, default_value_t = 8192)]
    pub max_memory: u64,
    /// The server exits after this many completed sessions (each a fresh session: its own OT
    /// setup and randomness); 0 serves until SIGINT/SIGTERM, which finish the running sessions.
    /// A client that fails or disconnects does not stop the others, and connections that are
    /// not a greeted client (scans, other certificates, garbage) never count.
    #[arg(long, default_value_t = 1)]
    pub serve: usize,
    /// Sessions the server runs at once (0: as many as this machine has cores); they share
    /// --max-memory, each client offered at most its share of what is free.
    #[arg(long, default_value_t = 0)]
    pub concurrency: usize,
    /// The server's log of session events on stderr: text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds one read or write may wait on the peer during the run.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Refuse (exit 1) a weight or input value beyond the range the plan was calibrated on
    /// (by default a warning; a value beyond the plan's format is always refused).
    #[arg(long)]
    pub strict_range: bool,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The plan from `sir compile`.
    pub plan: PathBuf,
    /// The server's weights (.npz).
    #[arg(long)]
    pub weights: PathBuf,
    /// The client's input (.npy or .npz); one extra leading axis is a batch.
    #[arg(long)]
    pub input: PathBuf,
    /// Parallel connections.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where to write the client's outputs.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the client's report (as `sir run --report`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Integer class labels (.npy), one per sample: print the two-party accuracy.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Both connections' ends over TLS with fresh pinned certificates (as `sir run` does by
    /// default), to measure its cost.
    #[arg(long)]
    pub tls: bool,
    /// Run over an emulated link: lan (1 Gbit/s, 0.5 ms), wan (100 Mbit/s, 40 ms) or
    /// MBIT_PER_S,RTT_MS. A relay on loopback holds every byte half a round trip and paces each
    /// direction at the bandwidth, so the time on that link is measured; the report adds it
    /// (`wall_s`) beside the estimate (`estimated_s`).
    #[arg(long, value_name = "LINK", value_parser = parse_link)]
    pub link: Option<Link>,
    /// Refuse (exit 1) a weight or input value beyond the range the plan was calibrated on
    /// (by default a warning; a value beyond the plan's format is always refused).
    #[arg(long)]
    pub strict_range: bool,
}

/// `--strict-range`'s policy.
fn range_check(strict: bool) -> sir_cli::encoding::RangeCheck {
    match strict {
        true => sir_cli::encoding::RangeCheck::Strict,
        false => sir_cli::encoding::RangeCheck::Warn,
    }
}

/// `--link`'s value.
pub fn parse_link(s: &str) -> Result<Link, String> {
    Link::parse(s)
}

pub fn run(args: RunArgs) -> i32 {
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match args.log_format {
        LogFormat::Text => log.try_init(),
        LogFormat::Json => log.json().try_init(),
    };
    let options = RunOptions {
        role: match args.role {
            RoleArg::Server => Role::Server,
            RoleArg::Client => Role::Client,
        },
        plan: args.plan,
        weights: args.weights,
        input: args.input,
        listen: args.listen,
        connect: args.connect,
        threads: args.threads,
        out: args.out,
        report: args.report,
        identity: args.identity,
        peer_cert: args.peer_cert,
        insecure_plaintext: args.insecure_plaintext,
        wait: args.wait,
        labels: args.labels,
        max_memory: args.max_memory,
        serve: args.serve,
        concurrency: args.concurrency,
        timeout: args.timeout,
        range: range_check(args.strict_range),
    };
    match driver::run_party(&options) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

pub fn simulate(args: SimulateArgs) -> i32 {
    let options = SimulateOptions {
        plan: args.plan,
        weights: args.weights,
        input: args.input,
        threads: args.threads,
        out: args.out,
        report: args.report,
        labels: args.labels,
        tls: args.tls,
        link: args.link,
        range: range_check(args.strict_range),
    };
    match driver::simulate(&options) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => fail(e),
    }
}
