//! `sir run` (one party, two hosts) and `sir simulate` (both parties in one process over a real
//! loopback socket pair): load the plan and this party's data, open the session, execute,
//! and report measured against estimated communication. Files are checked before anything is
//! sent; a party whose file is bad still tells its peer why, so both sides name the problem.
//! Outputs are written only after a complete run.

use super::eval::{check_out, format_tensor, predictions, read_inputs, write_outputs};
use super::fail;
use indicatif::{ProgressBar, ProgressStyle};
use sir_compiler::eval::bind::{self, Decl};
use sir_runtime::exec::session::{self, Offer, Waits};
use sir_runtime::exec::{self, Execution, Own, Shape};
use sir_runtime::net::tls::Tls;
use sir_runtime::net::{ChannelOptions, Role};
use sir_runtime::plan::Plan;
use sir_runtime::plan::clear::{dequantize, quantize};
use sir_runtime::proto::Cost;
use sir_runtime::{Tensor, npy};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleArg {
    Server,
    Client,
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
    /// This party's TLS identity: a folder made by `sir keygen` (cert.pem, key.pem).
    #[arg(long, required_unless_present = "insecure_plaintext")]
    pub identity: Option<PathBuf>,
    /// The peer's certificate (its cert.pem): every connection must present exactly this one.
    #[arg(long, required_unless_present = "insecure_plaintext")]
    pub peer_cert: Option<PathBuf>,
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
    /// The server serves this many clients one after another (each a fresh session) before it
    /// exits; a client that fails or disconnects does not stop the others.
    #[arg(long, default_value_t = 1)]
    pub serve: usize,
    /// Seconds one read or write may wait on the peer during the run.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
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
}

/// Whether a file can be written at `path` (its folder exists), checked before any work so a
/// long run does not end on a typo.
pub fn check_writable(path: &Path, what: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "{what} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        ))
    }
}

/// `report.json` → `report.3.json` for session 3 of `--serve N`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
    path.with_file_name(format!("{stem}.{n}.{ext}"))
}

/// Refuses a file larger than `budget` bytes before reading it (its size from the file
/// system; the readers then check every claimed size against the bytes present).
pub fn check_size(path: &Path, budget: u64, what: &str) -> Result<(), String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?
        .len();
    if len > budget {
        return Err(format!(
            "{what} {} is {} bytes, more than the memory budget allows ({budget} bytes; see --max-memory)",
            path.display(),
            len
        ));
    }
    Ok(())
}

/// Reads and checks a plan file.
pub fn load_plan(path: &Path) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn io_decls<'a>(plan: &'a Plan, ios: &'a [sir_runtime::plan::Io]) -> Vec<Decl<'a>> {
    ios.iter()
        .map(|io| Decl::new(&io.name, &plan.tensors[io.tensor].shape))
        .collect()
}

/// The server's weights in the plan's formats.
/// The server's weights in the plan's formats; an archive declaring more than `limit` bytes
/// is refused before anything is decompressed.
pub fn load_weights(plan: &Plan, path: &Path, limit: u64) -> Result<Vec<Vec<u64>>, String> {
    let arrays = npy::read_npz_within(path, limit).map_err(|e| e.to_string())?;
    let ts = bind::bind_weights_to(
        &io_decls(plan, &plan.params),
        arrays,
        &path.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    Ok(plan
        .params
        .iter()
        .zip(&ts)
        .map(|(io, t)| encode(plan, io.tensor, t))
        .collect())
}

fn encode(plan: &Plan, id: usize, t: &Tensor) -> Vec<u64> {
    let f = &plan.tensors[id];
    t.data()
        .iter()
        .map(|&x| quantize(x, f.bits, f.frac))
        .collect()
}

/// The client's inputs in the plan's formats (samples back to back), the sample count, and
/// whether the file carried a batch axis.
pub struct Inputs {
    pub values: Vec<Vec<u64>>,
    pub samples: usize,
    pub batched: bool,
}

pub fn load_inputs(plan: &Plan, path: &Path, limit: u64) -> Result<Inputs, String> {
    let arrays = if path.extension().is_some_and(|e| e == "npz") {
        npy::read_npz_within(path, limit)
            .map(|v| v.into_iter().map(|(n, t)| (Some(n), t)).collect())
            .map_err(|e| e.to_string())?
    } else {
        read_inputs(path)?
    };
    let batch = bind::bind_inputs_to(
        &io_decls(plan, &plan.inputs),
        arrays,
        &path.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Inputs {
        values: plan
            .inputs
            .iter()
            .zip(&batch.inputs)
            .map(|(io, t)| encode(plan, io.tensor, t))
            .collect(),
        samples: batch.samples,
        batched: batch.batched,
    })
}

/// The client's outputs as named tensors (with the sample axis when the input had one).
pub fn decode_outputs(plan: &Plan, outs: &[Vec<u64>], inp: &Inputs) -> Vec<(String, Tensor)> {
    plan.outputs
        .iter()
        .zip(outs)
        .map(|(io, v)| {
            let t = &plan.tensors[io.tensor];
            let mut shape = t.shape.clone();
            if inp.batched {
                shape.insert(0, inp.samples);
            }
            let data = v.iter().map(|&x| dequantize(x, t.bits, t.frac)).collect();
            (
                io.name.clone(),
                Tensor::new(shape, data).unwrap_or_else(|| Tensor::scalar(0.0)),
            )
        })
        .collect()
}

/// Reads labels for `samples` samples (checked before the run).
fn load_labels(path: Option<&Path>, samples: usize) -> Result<Option<Vec<i64>>, String> {
    let Some(p) = path else { return Ok(None) };
    let v = npy::read_labels(p).map_err(|e| e.to_string())?;
    if v.len() != samples {
        return Err(format!(
            "{}: {} labels for {samples} samples",
            p.display(),
            v.len()
        ));
    }
    Ok(Some(v))
}

/// `accuracy: …` of the first output against the labels.
fn accuracy_line(named: &[(String, Tensor)], inp: &Inputs, labels: &[i64]) -> String {
    let Some((name, first)) = named.first() else {
        return "no output to compare with labels".into();
    };
    let per = if inp.batched {
        &first.shape()[1..]
    } else {
        first.shape()
    };
    match predictions(first, per, inp.samples) {
        None => format!("output `{name}` is no class index or score vector"),
        Some(p) => {
            let ok = p.iter().zip(labels).filter(|(a, b)| a == b).count();
            format!(
                "accuracy: {:.2}% ({ok}/{}) on output `{name}` (two-party)",
                100.0 * ok as f64 / labels.len().max(1) as f64,
                labels.len()
            )
        }
    }
}

/// A progress bar on stderr when it is a terminal: instruction i of n, bytes so far.
fn progress_bar(label: &str, n: usize) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(n as u64);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] instruction {pos}/{len} · {msg} · {elapsed}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(s) = style {
        pb.set_style(s);
    }
    pb.set_prefix(label.to_string());
    Some(pb)
}

fn run_with_progress(
    label: &str,
    parties: &mut [sir_runtime::proto::Party],
    plan: &Plan,
    batch: usize,
    own: Own<'_>,
    show: bool,
) -> Result<Execution, String> {
    let pb = if show {
        progress_bar(label, plan.instrs.len())
    } else {
        None
    };
    let mut tick = |i: usize, n: usize, bytes: u64| {
        if let Some(pb) = &pb
            && (i.is_multiple_of(16) || i == n)
        {
            pb.set_position(i as u64);
            pb.set_message(human_bytes(bytes));
        }
    };
    let r = exec::execute(parties, plan, batch, own, &mut tick);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    r.map_err(|e| e.to_string())
}

pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1 << 20 => format!("{:.2} MB", b as f64 / 1e6),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// What a run should measure, per instruction: its online cost and its preprocessing.
pub struct Est {
    pub online: Vec<Cost>,
    pub pre: Vec<Cost>,
}

/// The exact estimates of a run of `plan` in `shape`.
pub fn estimates(plan: &Plan, shape: Shape) -> Result<Est, String> {
    Ok(Est {
        online: exec::estimate(plan, shape).map_err(|e| e.to_string())?,
        pre: exec::estimate_pre(plan, shape).map_err(|e| e.to_string())?,
    })
}

/// This party's (sent, received) bytes in a two-party cost.
fn sides(role: Role, c: &Cost) -> (u64, u64) {
    match role {
        Role::Server => (c.server_bytes, c.client_bytes),
        Role::Client => (c.client_bytes, c.server_bytes),
    }
}

/// The costs one after another.
fn cost_sum(cs: &[Cost]) -> Cost {
    cs.iter().fold(Cost::ZERO, |a, c| a.then(*c))
}

/// The measurements added up.
pub fn measured_sum(ms: &[exec::Measured]) -> exec::Measured {
    ms.iter()
        .fold(exec::Measured::default(), |a, m| exec::Measured {
            bytes_sent: a.bytes_sent + m.bytes_sent,
            bytes_received: a.bytes_received + m.bytes_received,
            rounds: a.rounds + m.rounds,
        })
}

/// What this party measured against what was estimated, as the report writes it.
fn versus(role: Role, m: exec::Measured, e: &Cost) -> serde_json::Value {
    let (es, er) = sides(role, e);
    serde_json::json!({
        "bytes_sent": m.bytes_sent,
        "bytes_received": m.bytes_received,
        "rounds": m.rounds,
        "estimated_bytes_sent": es,
        "estimated_bytes_received": er,
        "estimated_rounds": e.rounds,
    })
}

/// The `--report` JSON of one party.
pub fn report_json(
    plan: &Plan,
    plan_hash: &[u8; 32],
    role: Role,
    shape: Shape,
    ex: &Execution,
    est: &Est,
) -> serde_json::Value {
    let instructions: Vec<serde_json::Value> = plan
        .instrs
        .iter()
        .enumerate()
        .map(|(k, ins)| {
            let mut v = versus(role, ex.instrs[k], &est.online[k]);
            v["id"] = serde_json::json!(k);
            v["op"] = serde_json::json!(ins.op.name());
            let (p, pe) = (ex.pre[k], est.pre[k]);
            if p != Default::default() || pe != Cost::ZERO {
                v["preprocessing"] = versus(role, p, &pe);
            }
            v
        })
        .collect();
    let run = measured_sum(&ex.instrs);
    let (est_sent, est_recv) = sides(role, &cost_sum(&est.online));
    let b = shape.batch.max(1) as f64;
    serde_json::json!({
        "role": role.to_string(),
        "plan_hash": hex(plan_hash),
        "samples": shape.batch,
        "threads": shape.threads,
        "bytes_sent": ex.total.bytes_sent,
        "bytes_received": ex.total.bytes_received,
        "rounds": run.rounds,
        "setup_bytes": ex.setup.bytes_sent + ex.setup.bytes_received,
        "closing_bytes": ex.closing.bytes_sent + ex.closing.bytes_received,
        "instruction_bytes_sent": run.bytes_sent,
        "instruction_bytes_received": run.bytes_received,
        "estimated_bytes_sent": est_sent,
        "estimated_bytes_received": est_recv,
        "estimated_rounds": cost_sum(&est.online).rounds,
        "preprocessing": versus(role, measured_sum(&ex.pre), &cost_sum(&est.pre)),
        "wall_s": ex.wall.as_secs_f64(),
        "per_sample": {
            "bytes": (run.bytes_sent + run.bytes_received) as f64 / b,
            "wall_s": ex.wall.as_secs_f64() / b,
        },
        "instructions": instructions,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The first instruction whose measured bytes or rounds — online or in its preprocessing —
/// differ from the estimate.
pub fn first_mismatch(role: Role, ex: &Execution, est: &Est) -> Option<usize> {
    let differs = |c: &Cost, m: &exec::Measured| {
        let (s, r) = sides(role, c);
        m.bytes_sent != s || m.bytes_received != r || m.rounds != c.rounds
    };
    (0..est.online.len()).find(|&k| {
        match (
            est.online.get(k),
            ex.instrs.get(k),
            est.pre.get(k),
            ex.pre.get(k),
        ) {
            (Some(c), Some(m), Some(pc), Some(pm)) => differs(c, m) || differs(pc, pm),
            _ => true,
        }
    })
}

/// The one-line summary of a party's run.
pub fn summary(role: Role, shape: Shape, ex: &Execution, est: &Est) -> String {
    let run = measured_sum(&ex.instrs);
    let (sent, recv, rounds) = (run.bytes_sent, run.bytes_received, run.rounds);
    let check = match first_mismatch(role, ex, est) {
        None => "every instruction as estimated".to_string(),
        Some(k) => format!("instruction {k} differs from its estimate"),
    };
    let per = if shape.batch > 1 {
        format!(
            "; per sample {} and {:.3} s",
            human_bytes((sent + recv) / shape.batch as u64),
            ex.wall.as_secs_f64() / shape.batch as f64
        )
    } else {
        String::new()
    };
    let pre = measured_sum(&ex.pre);
    let pre = if pre.bytes_sent + pre.bytes_received > 0 {
        format!(
            "; preprocessing {} B, {} rounds",
            pre.bytes_sent + pre.bytes_received,
            pre.rounds
        )
    } else {
        String::new()
    };
    format!(
        "{role}: sent {sent} B, received {recv} B, {rounds} rounds ({check}); setup {} B{pre}; {:.3} s for {} sample{}{per}",
        ex.setup.bytes_sent + ex.setup.bytes_received,
        ex.wall.as_secs_f64(),
        shape.batch,
        if shape.batch == 1 { "" } else { "s" }
    )
}

fn write_report(path: &Path, v: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    npy::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
}

pub fn run(args: &RunArgs) -> i32 {
    match run_party(args) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn run_party(args: &RunArgs) -> Result<(), String> {
    let budget = args.max_memory.saturating_mul(1 << 20);
    // A plan's JSON text grows about tenfold in memory; weights and inputs (f32 or f64 on
    // disk) become f64 tensors and then shares: four times their size is a safe bound.
    check_size(&args.plan, budget / 10, "the plan")?;
    for f in [&args.weights, &args.input].into_iter().flatten() {
        check_size(f, budget / 4, "the file")?;
    }
    let plan = load_plan(&args.plan)?;
    if let Some(out) = &args.out {
        if args.role == RoleArg::Server {
            return Err("--out: the server learns no output".into());
        }
        check_out(out, plan.outputs.len())?;
        check_writable(out, "--out")?;
    }
    if let Some(r) = &args.report {
        check_writable(r, "--report")?;
    }
    if !(1..=exec::MAX_THREADS).contains(&args.threads) {
        return Err(format!(
            "--threads {}: use 1 to {}",
            args.threads,
            exec::MAX_THREADS
        ));
    }
    let tls = if args.insecure_plaintext {
        eprintln!(
            "warning: --insecure-plaintext: the traffic is neither encrypted nor authenticated; use it on a trusted network only"
        );
        None
    } else {
        let (Some(dir), Some(peer)) = (&args.identity, &args.peer_cert) else {
            return Err("--identity and --peer-cert are needed (or --insecure-plaintext)".into());
        };
        let t = Tls::load(&dir.join("cert.pem"), &dir.join("key.pem"), peer)
            .map_err(|e| e.to_string())?;
        Some(Arc::new(t))
    };
    let waits = Waits {
        connect: Duration::from_secs(args.wait),
        channel: ChannelOptions {
            timeout: Some(Duration::from_secs(args.timeout.max(1))),
            ..ChannelOptions::default()
        },
        tls,
    };
    let hash = plan.hash();
    let threads = args.threads as u32;
    match args.role {
        RoleArg::Server => {
            let addr = args.listen.as_deref().unwrap_or_default();
            let listener = session::listen(addr).map_err(|e| e.to_string())?;
            eprintln!(
                "server: listening on {}",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| addr.into())
            );
            let weights = args
                .weights
                .as_deref()
                .ok_or_else(|| "--weights is required for the server".to_string())
                .and_then(|w| load_weights(&plan, w, budget / 4));
            let limit = exec::max_batch_within(&plan, budget) as u64;
            let weights = if limit == 0 {
                Err(format!(
                    "the plan needs {} bytes for one sample, more than --max-memory {} MiB",
                    exec::bytes_needed(&plan, 1),
                    args.max_memory
                ))
            } else {
                weights
            };
            let weights = match weights {
                Ok(w) => w,
                Err(e) => {
                    // Tell the client why (when one connects within the wait), then stop.
                    eprintln!("error: {e}");
                    eprintln!("waiting up to {} s to tell the client…", args.wait);
                    // Only what the plan already says goes to the peer: no values, paths or shapes.
                    let offer = Offer {
                        threads,
                        batch: limit,
                        gave_up: Some(
                            "its weights do not fit the plan (details on its side)".into(),
                        ),
                    };
                    let _ = session::serve(&listener, hash, &offer, &waits);
                    return Err("the server could not load its weights".into());
                }
            };
            let offer = Offer {
                threads,
                batch: limit,
                gave_up: None,
            };
            // One client after another, each a fresh session (new OT setup, new randomness);
            // a client that fails or leaves does not stop the others.
            let serve_one = |n: usize| -> Result<(), String> {
                let (mut parties, batch) =
                    session::serve(&listener, hash, &offer, &waits).map_err(|e| e.to_string())?;
                let shape = Shape {
                    batch,
                    threads: args.threads,
                };
                let ex = run_with_progress(
                    "server",
                    &mut parties,
                    &plan,
                    batch,
                    Own::Server(&weights),
                    true,
                )?;
                let est = estimates(&plan, shape)?;
                eprintln!("{}", summary(Role::Server, shape, &ex, &est));
                if let Some(r) = &args.report {
                    let path = if args.serve > 1 {
                        numbered(r, n)
                    } else {
                        r.clone()
                    };
                    write_report(
                        &path,
                        &report_json(&plan, &hash, Role::Server, shape, &ex, &est),
                    )?;
                }
                Ok(())
            };
            if args.serve <= 1 {
                return serve_one(1);
            }
            let mut failed = 0;
            for n in 1..=args.serve {
                eprintln!("server: session {n} of {}", args.serve);
                if let Err(e) = serve_one(n) {
                    eprintln!("error: session {n}: {e}");
                    failed += 1;
                }
            }
            eprintln!(
                "server: {} session(s) completed, {failed} failed",
                args.serve - failed
            );
            if failed > 0 {
                Err(format!("{failed} of {} sessions failed", args.serve))
            } else {
                Ok(())
            }
        }
        RoleArg::Client => {
            let addr = args.connect.as_deref().unwrap_or_default();
            let inputs = args
                .input
                .as_deref()
                .ok_or_else(|| "--input is required for the client".to_string())
                .and_then(|p| load_inputs(&plan, p, budget / 4))
                .and_then(|i| {
                    let shape = Shape {
                        batch: i.samples,
                        threads: args.threads,
                    };
                    let need = exec::bytes_needed(&plan, i.samples);
                    if need > budget {
                        return Err(format!(
                            "a run of {} samples needs about {} MiB, more than --max-memory {} MiB (split the batch)",
                            i.samples,
                            need >> 20,
                            args.max_memory
                        ));
                    }
                    exec::check_shape(&plan, shape)
                        .map(|_| i)
                        .map_err(|e| e.to_string())
                });
            let mut waiting = |e: &std::io::Error| {
                eprintln!(
                    "client: the server at {addr} is not reachable yet ({e}); retrying for up to {} s…",
                    args.wait
                );
            };
            let inputs =
                inputs.and_then(|i| load_labels(args.labels.as_deref(), i.samples).map(|l| (i, l)));
            let (inputs, labels) = match inputs {
                Ok(i) => i,
                Err(e) => {
                    // Only a category goes to the peer: the details (values, indices, paths,
                    // shapes) are the client's own.
                    let offer = Offer {
                        threads,
                        batch: 0,
                        gave_up: Some(
                            "its input does not fit the plan or its options (details on its side)"
                                .into(),
                        ),
                    };
                    let _ = session::connect(addr, hash, &offer, &waits, &mut |_| {});
                    return Err(e);
                }
            };
            let offer = Offer {
                threads,
                batch: inputs.samples as u64,
                gave_up: None,
            };
            let mut parties = session::connect(addr, hash, &offer, &waits, &mut waiting)
                .map_err(|e| e.to_string())?;
            let shape = Shape {
                batch: inputs.samples,
                threads: args.threads,
            };
            let ex = run_with_progress(
                "client",
                &mut parties,
                &plan,
                shape.batch,
                Own::Client(&inputs.values),
                true,
            )?;
            let est = estimates(&plan, shape)?;
            let outs = ex
                .outputs
                .as_deref()
                .ok_or_else(|| "the run revealed no outputs".to_string())?;
            let named = decode_outputs(&plan, outs, &inputs);
            match &labels {
                Some(l) => println!("{}", accuracy_line(&named, &inputs, l)),
                None => {
                    for (name, t) in &named {
                        println!("{name}: {}", format_tensor(t));
                    }
                }
            }
            eprintln!("{}", summary(Role::Client, shape, &ex, &est));
            // The report first: if it fails, no output file is left behind either.
            if let Some(r) = &args.report {
                write_report(
                    r,
                    &report_json(&plan, &hash, Role::Client, shape, &ex, &est),
                )?;
            }
            if let Some(out) = &args.out {
                write_outputs(out, &named)?;
            }
            Ok(())
        }
    }
}

/// Whether the client's outputs equal the plan's cleartext semantics on every sample (what
/// `sir eval --plan` runs), bit for bit.
pub fn equals_clear(
    plan: &Plan,
    weights: &[Vec<u64>],
    inputs: &Inputs,
    outs: &[Vec<u64>],
) -> Result<bool, String> {
    let mut equal = outs.len() == plan.outputs.len();
    for s in 0..inputs.samples {
        let sample: Vec<Vec<u64>> = plan
            .inputs
            .iter()
            .zip(&inputs.values)
            .map(|(io, v)| {
                let n = plan.tensors[io.tensor].numel();
                v[s * n..(s + 1) * n].to_vec()
            })
            .collect();
        let want =
            sir_runtime::plan::clear::run(plan, &sample, weights).map_err(|e| e.to_string())?;
        for (o, w) in outs.iter().zip(&want) {
            let n = w.len();
            equal &= o.get(s * n..(s + 1) * n) == Some(&w[..]);
        }
    }
    Ok(equal)
}

/// Both parties in this process over a loopback socket pair; returns (server, client) runs.
pub fn simulate_pair(
    plan: &Plan,
    weights: &[Vec<u64>],
    inputs: &Inputs,
    threads: usize,
    show: bool,
    tls: bool,
) -> Result<(Execution, Execution), String> {
    let shape = Shape {
        batch: inputs.samples,
        threads,
    };
    exec::check_shape(plan, shape).map_err(|e| e.to_string())?;
    let listener = session::listen("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    let hash = plan.hash();
    let (server_tls, client_tls) = if tls {
        let (a, b) = Tls::ephemeral_pair().map_err(|e| e.to_string())?;
        (Some(Arc::new(a)), Some(Arc::new(b)))
    } else {
        (None, None)
    };
    let waits = |tls| Waits {
        connect: Duration::from_secs(10),
        channel: ChannelOptions {
            timeout: Some(Duration::from_secs(600)),
            ..ChannelOptions::default()
        },
        tls,
    };
    let (server_waits, client_waits) = (waits(server_tls), waits(client_tls));
    let limit = exec::max_batch(plan) as u64;
    std::thread::scope(|s| {
        let server = s.spawn(move || -> Result<Execution, String> {
            let offer = Offer {
                threads: threads as u32,
                batch: limit,
                gave_up: None,
            };
            let (mut ps, batch) = session::serve(&listener, hash, &offer, &server_waits)
                .map_err(|e| e.to_string())?;
            exec::execute(
                &mut ps,
                plan,
                batch,
                Own::Server(weights),
                &mut |_, _, _| {},
            )
            .map_err(|e| format!("server: {e}"))
        });
        let offer = Offer {
            threads: threads as u32,
            batch: inputs.samples as u64,
            gave_up: None,
        };
        let client = session::connect(&addr, hash, &offer, &client_waits, &mut |_| {})
            .map_err(|e| e.to_string())
            .and_then(|mut ps| {
                run_with_progress(
                    "simulate",
                    &mut ps,
                    plan,
                    inputs.samples,
                    Own::Client(&inputs.values),
                    show,
                )
                .map_err(|e| format!("client: {e}"))
            });
        let server = server
            .join()
            .map_err(|_| "the server thread panicked".to_string())?;
        Ok((server?, client?))
    })
}

pub fn simulate(args: &SimulateArgs) -> i32 {
    match simulate_run(args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => fail(e),
    }
}

fn simulate_run(args: &SimulateArgs) -> Result<bool, String> {
    let plan = load_plan(&args.plan)?;
    if let Some(out) = &args.out {
        check_out(out, plan.outputs.len())?;
        check_writable(out, "--out")?;
    }
    if let Some(r) = &args.report {
        check_writable(r, "--report")?;
    }
    let weights = load_weights(&plan, &args.weights, u64::MAX)?;
    let inputs = load_inputs(&plan, &args.input, u64::MAX)?;
    let labels = load_labels(args.labels.as_deref(), inputs.samples)?;
    let (server, client) = simulate_pair(&plan, &weights, &inputs, args.threads, true, args.tls)?;
    let shape = Shape {
        batch: inputs.samples,
        threads: args.threads,
    };
    let est = estimates(&plan, shape)?;
    let outs = client
        .outputs
        .as_deref()
        .ok_or_else(|| "the run revealed no outputs".to_string())?;
    let equal = equals_clear(&plan, &weights, &inputs, outs)?;
    let named = decode_outputs(&plan, outs, &inputs);
    match &labels {
        Some(l) => println!("{}", accuracy_line(&named, &inputs, l)),
        None => {
            for (name, t) in &named {
                println!("{name}: {}", format_tensor(t));
            }
        }
    }
    let total = cost_sum(&est.online);
    let (sm, cm) = (measured_sum(&server.instrs), measured_sum(&client.instrs));
    let (ss, sr, cs) = (sm.bytes_sent, sm.rounds, cm.bytes_sent);
    println!(
        "measured:  server sent {ss} B, client sent {cs} B, {sr} rounds ({} in total; setup {} B)",
        human_bytes(ss + cs),
        server.setup.bytes_sent + server.setup.bytes_received
    );
    println!(
        "estimated: server sent {} B, client sent {} B, {} rounds",
        total.server_bytes, total.client_bytes, total.rounds
    );
    let pre = cost_sum(&est.pre);
    if pre != Cost::ZERO {
        let (sp, cp) = (measured_sum(&server.pre), measured_sum(&client.pre));
        println!(
            "preprocessing (input-independent, before the run): server sent {} B, client sent {} B, {} rounds measured; estimated {} B, {} B, {} rounds",
            sp.bytes_sent, cp.bytes_sent, sp.rounds, pre.server_bytes, pre.client_bytes, pre.rounds,
        );
    }
    let mismatch = first_mismatch(Role::Server, &server, &est)
        .or_else(|| first_mismatch(Role::Client, &client, &est));
    match mismatch {
        None => {
            println!("every instruction's bytes and rounds equal its estimate, for both parties")
        }
        Some(k) => println!(
            "MISMATCH: instruction {k} ({}) measured differently from its estimate",
            plan.instrs[k].op.name()
        ),
    }
    println!(
        "result equals `sir eval --plan` bit for bit: {} ({} sample{})",
        if equal { "yes" } else { "NO" },
        inputs.samples,
        if inputs.samples == 1 { "" } else { "s" }
    );
    println!(
        "time: {:.3} s for {} sample{} ({} connection{})",
        client.wall.as_secs_f64(),
        inputs.samples,
        if inputs.samples == 1 { "" } else { "s" },
        args.threads,
        if args.threads == 1 { "" } else { "s" }
    );
    if let Some(r) = &args.report {
        write_report(
            r,
            &report_json(&plan, &plan.hash(), Role::Client, shape, &client, &est),
        )?;
    }
    // Outputs only from a run that checked out.
    let ok = equal && mismatch.is_none();
    if let Some(out) = &args.out
        && ok
    {
        write_outputs(out, &named)?;
    }
    Ok(ok)
}
