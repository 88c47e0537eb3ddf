//! `sir bench`: measured throughput, bytes and rounds.

use std::io::Write as _;

use sir_runtime::bench::{OtBenchConfig, OtBenchReport, bench_ot};

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
        /// Run only these flavours (rot, cot64, cot16, chosen64, ot1ofN_256x16).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
}

/// Runs a benchmark; returns the process exit code.
pub fn run(cmd: BenchCmd) -> i32 {
    match cmd {
        BenchCmd::Ot {
            n,
            threads,
            reps,
            json,
            only,
        } => match bench_ot(OtBenchConfig {
            n,
            threads,
            reps,
            only,
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
    o.insert(
        "setup".to_string(),
        serde_json::json!({
            "ms": r.setup.ms,
            "bytes_server_to_client": r.setup.server_bytes,
            "bytes_client_to_server": r.setup.client_bytes,
            "rounds": r.setup.rounds,
        }),
    );
    serde_json::Value::Object(o)
}

fn print_table(r: &OtBenchReport) {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "setup (base OTs): {:.1} ms, {} bytes server->client, {} bytes client->server, {} messages",
        r.setup.ms, r.setup.server_bytes, r.setup.client_bytes, r.setup.rounds
    );
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

    #[test]
    fn json_has_every_flavour_and_setup() {
        let r = bench_ot(OtBenchConfig {
            n: 2048,
            threads: 1,
            reps: 1,
            only: vec![],
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
        assert_eq!(
            run(BenchCmd::Ot {
                n: 256,
                threads: 1,
                reps: 1,
                json: true,
                only: vec![],
            }),
            0
        );
    }
}
