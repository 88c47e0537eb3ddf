//! `sir bench`: measured throughput, bytes and rounds.

use std::io::Write as _;

use sir_cli::driver::{BenchModel, bench_model};
use sir_cli::fail;
use sir_cli::report::print_model;
use sir_runtime::net::link::Link;
use sir_runtime::ot::OtKind;
use sir_runtime::testkit::bench::{
    OpBenchConfig, OpBenchReport, OtBenchConfig, OtBenchReport, bench_op, bench_ot,
};
use sir_runtime::testkit::ops::{ALL, Operation, Params};
use std::path::PathBuf;

/// What `sir bench` can measure.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {
    /// Oblivious transfer: every flavour between two in-process parties over loopback TCP.
    Ot {
        /// OTs per timed batch (1-of-N runs n/256 instances).
        #[arg(long, default_value_t = 1 << 23)]
        n: usize,
        /// Parallel connections, each with its own pair of party threads and OT engines.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed repetitions (after one warm-up); medians are reported.
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Run only these flavours (rot, cot64, cot16, chosen64, ot1ofN_256x16; scot, the silent
        /// random COT of Ferret, runs by default only with --ot silent).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The engine under the flavours: iknp, or silent (each connection first generates
        /// the COTs of every rep, reported as `preprocessing`).
        #[arg(long, default_value = "iknp", value_parser = parse_ot)]
        ot: OtKind,
    },
    /// One two-party protocol between two in-process parties over loopback TCP on random
    /// inputs: bytes, time and rounds per call, checked against the cleartext semantics and
    /// the cost model. NAME: relu, drelu, msb, and, b2a, mux, wrap, wrap_ones, millionaire,
    /// mult, matmul, zext, sext, trunc_reduce, lrs, ars, ars_round, the known-MSB variants
    /// ({zext,sext,lrs,ars}_{known,shared}_msb), the math library (lut, digdec, msnzb, rexp,
    /// exp, sigmoid, tanh, reciprocal, rsqrt, sqrt; formats from --bits-in/--frac-in/
    /// --bits-out/--frac-out), or `all`.
    Op {
        /// The operation.
        name: String,
        /// Ring width ℓ.
        #[arg(long, default_value_t = 32)]
        bits: u32,
        /// Input width m (extension, multiplication families).
        #[arg(long)]
        bits_in: Option<u32>,
        /// Output width n (extension, multiplication families).
        #[arg(long)]
        bits_out: Option<u32>,
        /// Shift amount s (truncation families).
        #[arg(long)]
        shift: Option<u32>,
        /// Input fraction bits (math functions; default 12).
        #[arg(long)]
        frac_in: Option<u32>,
        /// Output fraction bits (math functions; default: the input's).
        #[arg(long)]
        frac_out: Option<u32>,
        /// Digit width of DigDec and MSNZB (default 8).
        #[arg(long)]
        digit: Option<u32>,
        /// Matrix dimensions M,K,N (matmul).
        #[arg(long, value_delimiter = ',', num_args = 1..=3)]
        dims: Option<Vec<usize>>,
        /// Elements per call.
        #[arg(long, default_value_t = 1 << 16)]
        n: usize,
        /// Parallel connections, each with its own pair of party threads and OT engines.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed calls (after one warm-up); the median is reported.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// OT engine: silent (Ferret COTs generated before the calls; B/elem adds their
        /// amortised generation) or iknp.
        #[arg(long, default_value = "silent", value_parser = parse_ot)]
        ot: OtKind,
        /// Print one JSON object per operation instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A whole plan between two in-process parties over loopback TCP: bytes each way, rounds,
    /// and the median wall time of one execution (setup excluded), checked against the
    /// plan's cleartext semantics and its estimates. Without --weights/--input it draws random
    /// values in the plan's formats (cost and time do not depend on them).
    Model {
        /// The plan from `sir compile`.
        plan: PathBuf,
        /// The server's weights (.npz).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The client's input (.npy/.npz; a leading axis is a batch).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Samples per execution when the input is random.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Parallel connections.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Timed executions; the median is reported.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Run over TLS with fresh pinned certificates (the default of `sir run`).
        #[arg(long)]
        tls: bool,
        /// Run over an emulated link (lan, wan or MBIT_PER_S,RTT_MS): every byte held half a
        /// round trip, each direction paced at the bandwidth; the time on that link is
        /// measured (`wall_s`) beside its estimate (`estimated_s`).
        #[arg(long, value_name = "LINK", value_parser = super::run::parse_link)]
        link: Option<Link>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a benchmark; returns the process exit code.
pub fn run(cmd: BenchCmd) -> i32 {
    match cmd {
        BenchCmd::Model {
            plan,
            weights,
            input,
            batch,
            threads,
            reps,
            tls,
            link,
            json,
        } => match bench_model(&BenchModel {
            plan: &plan,
            weights: weights.as_deref(),
            input: input.as_deref(),
            batch,
            threads,
            reps,
            tls,
            link,
        }) {
            Ok(r) => {
                if json {
                    println!("{r}");
                } else {
                    print_model(&r);
                }
                i32::from(!r["exact"].as_bool().unwrap_or(false))
            }
            Err(e) => fail(e),
        },
        BenchCmd::Op {
            name,
            bits,
            bits_in,
            bits_out,
            shift,
            frac_in,
            frac_out,
            digit,
            dims,
            n,
            threads,
            reps,
            ot,
            json,
        } => {
            let ops: Vec<Operation> = if name == "all" {
                ALL.iter()
                    .copied()
                    .chain(sir_runtime::testkit::math_ops::ALL.map(Operation::Math))
                    .collect()
            } else if let Some(op) = Operation::from_name(&name) {
                vec![op]
            } else {
                let names: Vec<&str> = ALL
                    .iter()
                    .copied()
                    .chain(sir_runtime::testkit::math_ops::ALL.map(Operation::Math))
                    .map(|o| o.name())
                    .collect();
                eprintln!(
                    "error: unknown operation `{name}` (known: {}, all)",
                    names.join(", ")
                );
                return 2;
            };
            if dims.as_ref().is_some_and(|d| d.len() != 3) {
                eprintln!("error: --dims takes three sizes M,K,N");
                return 2;
            }
            let params = Params {
                bits,
                bits_in,
                bits_out,
                shift,
                dims: dims.map(|d| [d[0], d[1], d[2]]),
                frac_in,
                frac_out,
                digit,
                ot,
            };
            let mut code = 0;
            if !json {
                print_op_header();
            }
            let all = ops.len() > 1;
            for op in ops {
                if all && let Err(e) = op.check(&params) {
                    eprintln!("note: {} skipped: {e}", op.name());
                    continue;
                }
                match bench_op(&OpBenchConfig {
                    op,
                    params,
                    n,
                    threads,
                    reps,
                    ot,
                }) {
                    Ok(r) => {
                        if !(r.bit_exact && r.cost_exact) {
                            code = 1;
                        }
                        if json {
                            let _ = writeln!(std::io::stdout(), "{}", op_json(&r));
                        } else {
                            print_op_row(&r);
                        }
                    }
                    // With `all`, an operation these parameters do not suit is skipped.
                    Err(e @ sir_runtime::proto::ProtoError::Argument(_)) if all => {
                        eprintln!("note: {} skipped: {e}", op.name());
                    }
                    Err(e) => {
                        eprintln!("error: {} benchmark failed: {e}", op.name());
                        return 1;
                    }
                }
            }
            code
        }
        BenchCmd::Ot {
            n,
            threads,
            reps,
            json,
            only,
            ot,
        } => match bench_ot(OtBenchConfig {
            n,
            threads,
            reps,
            only,
            ot,
        }) {
            Ok(r) => {
                if json {
                    let _ = writeln!(std::io::stdout(), "{}", to_json(&r));
                } else {
                    print_table(&r);
                }
                0
            }
            Err(e) => {
                eprintln!("error: OT benchmark failed: {e}");
                1
            }
        },
    }
}

fn to_json(r: &OtBenchReport) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for f in &r.flavours {
        o.insert(
            f.name.to_string(),
            serde_json::json!({
                "ots_per_s": f.ots_per_s,
                "bytes_per_ot": f.bytes_per_ot(),
                "rounds": f.rounds,
                "sender_bytes_per_ot": f.sender_bytes_per_ot,
                "receiver_bytes_per_ot": f.receiver_bytes_per_ot,
                "ots": f.ots,
                "seconds": f.seconds,
            }),
        );
    }
    let phase = |s: &sir_runtime::testkit::bench::SetupResult| {
        serde_json::json!({
            "ms": s.ms,
            "bytes_server_to_client": s.server_bytes,
            "bytes_client_to_server": s.client_bytes,
            "rounds": s.rounds,
        })
    };
    o.insert("setup".to_string(), phase(&r.setup));
    o.insert("ot".to_string(), serde_json::json!(r.ot.name()));
    if let Some(p) = &r.preprocessing {
        o.insert("preprocessing".to_string(), phase(p));
    }
    serde_json::Value::Object(o)
}

/// `--ot`'s values.
pub fn parse_ot(s: &str) -> Result<OtKind, String> {
    s.parse()
}

fn op_json(r: &OpBenchReport) -> serde_json::Value {
    serde_json::json!({
        "op": r.op,
        "n": r.n,
        "bits": r.params.bits,
        "threads": r.threads,
        "ot": r.ot.name(),
        "bytes_per_elem": r.bytes_per_elem(),
        "online_bytes_per_elem": r.online_bytes_per_elem(),
        "silent_cots": r.silent_cots,
        "correlation_bytes": r.correlation_bytes,
        "setup_bytes": r.pre_bytes,
        "setup_s": r.pre_seconds,
        "bytes_server": r.bytes_server,
        "bytes_client": r.bytes_client,
        "us_per_elem": r.us_per_elem(),
        "rounds": r.rounds,
        "bit_exact": r.bit_exact,
        "cost_exact": r.cost_exact,
        "max_ulp": r.max_ulp,
    })
}

fn print_op_header() {
    let _ = writeln!(
        std::io::stdout(),
        "{:<12} {:>4} {:>9} {:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9} {:>10} {:>8}",
        "op",
        "bits",
        "n",
        "ot",
        "threads",
        "B/elem",
        "online",
        "B/el S",
        "B/el C",
        "us/elem",
        "rounds",
        "exact",
        "max ULP"
    );
}

fn print_op_row(r: &OpBenchReport) {
    let n = r.n.max(1) as f64;
    let _ = writeln!(
        std::io::stdout(),
        "{:<12} {:>4} {:>9} {:>6} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>7.3} {:>9} {:>10} {:>8}",
        r.op,
        r.params.bits,
        r.n,
        r.ot.name(),
        r.threads,
        r.bytes_per_elem(),
        r.online_bytes_per_elem(),
        r.bytes_server as f64 / n,
        r.bytes_client as f64 / n,
        r.us_per_elem(),
        r.rounds,
        match (r.bit_exact, r.cost_exact) {
            (true, true) => "bit+cost",
            (false, true) => "WRONG",
            (true, false) => "cost≠",
            (false, false) => "WRONG,cost≠",
        },
        r.max_ulp.map_or("-".to_string(), |u| format!("{u:.2}"))
    );
}

fn print_table(r: &OtBenchReport) {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "setup (base OTs): {:.1} ms, {} bytes server->client, {} bytes client->server, {} messages",
        r.setup.ms, r.setup.server_bytes, r.setup.client_bytes, r.setup.rounds
    );
    if let Some(p) = &r.preprocessing {
        let _ = writeln!(
            t,
            "silent COT generation for every rep: {:.1} ms, {} bytes server->client, {} bytes client->server, {} messages",
            p.ms, p.server_bytes, p.client_bytes, p.rounds
        );
    }
    let _ = writeln!(
        t,
        "{:<15} {:>10} {:>10} {:>11} {:>11} {:>10} {:>7}",
        "flavour", "OTs", "M OTs/s", "B/OT S->R", "B/OT R->S", "B/OT", "rounds"
    );
    for f in &r.flavours {
        let _ = writeln!(
            t,
            "{:<15} {:>10} {:>10.2} {:>11.3} {:>11.3} {:>10.3} {:>7}",
            f.name,
            f.ots,
            f.ots_per_s / 1e6,
            f.sender_bytes_per_ot,
            f.receiver_bytes_per_ot,
            f.bytes_per_ot(),
            f.rounds
        );
    }
    // A closed stdout (e.g. piped into `head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), t.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sir bench op NAME --bits B -n N --threads T [--json]`, one repetition.
    fn op_cmd(name: String, bits: u32, n: usize, threads: usize, json: bool) -> BenchCmd {
        BenchCmd::Op {
            name,
            bits,
            bits_in: None,
            bits_out: None,
            shift: None,
            frac_in: None,
            frac_out: None,
            digit: None,
            dims: None,
            n,
            threads,
            reps: 1,
            ot: OtKind::Silent,
            json,
        }
    }

    #[test]
    fn json_has_every_flavour_and_setup() {
        let r = bench_ot(OtBenchConfig {
            n: 2048,
            threads: 1,
            reps: 1,
            only: vec![],
            ot: OtKind::Iknp,
        })
        .unwrap();
        let v = to_json(&r);
        for k in ["rot", "cot64", "cot16", "chosen64", "ot1ofN_256x16"] {
            assert!(v[k]["ots_per_s"].as_f64().unwrap() > 0.0, "{k}");
            assert!(v[k]["bytes_per_ot"].as_f64().is_some(), "{k}");
            assert!(v[k]["rounds"].as_u64().is_some(), "{k}");
        }
        assert_eq!(v["rot"]["bytes_per_ot"], 16.0);
        assert!(v["setup"]["ms"].as_f64().is_some());
        assert_eq!(v["setup"]["bytes_client_to_server"], 8192);
        for name in ["relu", "all"] {
            assert_eq!(run(op_cmd(name.into(), 37, 100, 2, true)), 0, "{name}");
        }
        assert_eq!(run(op_cmd("nope".into(), 32, 10, 1, false)), 2);
        let r = bench_op(&OpBenchConfig {
            op: Operation::Relu,
            params: Params::bits(32),
            n: 1000,
            threads: 1,
            reps: 1,
            ot: OtKind::Silent,
        })
        .unwrap();
        let v = op_json(&r);
        assert_eq!(v["op"], "relu");
        assert_eq!(v["bit_exact"], true);
        assert_eq!(v["cost_exact"], true);
        assert_eq!(
            v["bytes_server"].as_u64().unwrap() + v["bytes_client"].as_u64().unwrap(),
            Operation::Relu
                .cost(1000, &Params::bits(32))
                .on(OtKind::Silent)
                .total_bytes()
        );
        assert_eq!(
            run(BenchCmd::Ot {
                n: 256,
                threads: 1,
                reps: 1,
                json: true,
                only: vec![],
                ot: OtKind::Silent,
            }),
            0
        );
    }
}
