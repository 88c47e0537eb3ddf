//! Driving a run of a plan: opening the session (one party of `sir run`, or both in this
//! process over a real loopback socket pair for `sir simulate` and `sir bench model`),
//! executing, and collecting what each party measured. Files are checked before anything is
//! sent; a party whose file is bad still tells its peer why, so both sides name the problem.
//! Outputs are written only after a complete run.

use crate::encoding::{
    Inputs, RangeCheck, decode_outputs, load_inputs, load_weights, random_encodings,
};
use crate::files::{check_size, check_writable, load_labels, load_plan};
use crate::outputs::{check_out, print_outputs, write_outputs};
use crate::report::{
    PartyRun, Simulation, estimates, first_mismatch, human_bytes, link_json, link_text,
    measured_sum, report_json, summary, write_report,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sir_runtime::exec::session::{self, Offer, Waits};
use sir_runtime::exec::{self, Execution, Own, Shape};
use sir_runtime::net::link::{Link, Relay};
use sir_runtime::net::tls::Tls;
use sir_runtime::net::{ChannelOptions, Role};
use sir_runtime::plan::{Plan, PlanInfo};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What `sir run` was asked to do (its options, as `sir run --help` describes them).
pub struct RunOptions {
    pub role: Role,
    pub plan: PathBuf,
    pub weights: Option<PathBuf>,
    pub input: Option<PathBuf>,
    pub listen: Option<String>,
    pub connect: Option<String>,
    pub threads: usize,
    pub out: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub identity: Option<PathBuf>,
    /// The peer's certificate; for a server, one per client it serves (files or directories
    /// of `*.pem`).
    pub peer_cert: Vec<PathBuf>,
    pub insecure_plaintext: bool,
    pub wait: u64,
    pub labels: Option<PathBuf>,
    pub max_memory: u64,
    /// Completed sessions a server serves before it exits (0: until interrupted).
    pub serve: usize,
    /// Sessions a server runs at once (0: as many as the cores).
    pub concurrency: usize,
    pub timeout: u64,
    /// Values beyond the calibrated range: warned about or refused.
    pub range: RangeCheck,
}

/// What `sir simulate` was asked to do.
pub struct SimulateOptions {
    pub plan: PathBuf,
    pub weights: PathBuf,
    pub input: PathBuf,
    pub threads: usize,
    pub out: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub tls: bool,
    /// An emulated link between the parties (`None`: loopback as it is).
    pub link: Option<Link>,
    /// Values beyond the calibrated range: warned about or refused.
    pub range: RangeCheck,
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

/// One party's execution of a plan, with a progress bar (when `show` and on a terminal).
struct Progress<'a> {
    label: &'a str,
    plan: &'a Plan,
    info: &'a PlanInfo,
    batch: usize,
    own: Own<'a>,
    show: bool,
}

fn run_with_progress(
    parties: &mut [sir_runtime::proto::Party],
    run: Progress<'_>,
) -> Result<Execution, String> {
    let Progress {
        label,
        plan,
        info,
        batch,
        own,
        show,
    } = run;
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
    let r = exec::execute(parties, plan, info, batch, own, &mut tick);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    r.map_err(|e| e.to_string())
}

/// `sir run`: this party's session(s), from its files to its report and outputs.
pub fn run_party(args: &RunOptions) -> Result<(), String> {
    let budget = args.max_memory.saturating_mul(1 << 20);
    // A plan's JSON text grows about tenfold in memory; weights and inputs (f32 or f64 on
    // disk) become f64 tensors and then shares: four times their size is a safe bound.
    check_size(&args.plan, budget / 10, "the plan")?;
    for f in [&args.weights, &args.input].into_iter().flatten() {
        check_size(f, budget / 4, "the file")?;
    }
    let (plan, info) = load_plan(&args.plan)?;
    if let Some(out) = &args.out {
        if args.role == Role::Server {
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
        let Some(dir) = &args.identity else {
            return Err(
                "--identity is needed: a folder made by `sir keygen --out DIR` (or --insecure-plaintext)"
                    .into(),
            );
        };
        if args.peer_cert.is_empty() {
            return Err(
                "--peer-cert is needed: the peer's cert.pem, made by its `sir keygen` (or --insecure-plaintext)"
                    .into(),
            );
        }
        let t = Tls::load_peers(&dir.join("cert.pem"), &dir.join("key.pem"), &args.peer_cert)
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
        Role::Server => {
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
                .and_then(|w| load_weights(&plan, w, budget / 4, args.range));
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
                    let offer = Offer::new(
                        threads,
                        limit,
                        Some("its weights do not fit the plan (details on its side)".into()),
                    );
                    let _ = session::serve(&listener, hash, &offer, &waits);
                    return Err("the server could not load its weights".into());
                }
            };
            let concurrency = if args.concurrency == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                args.concurrency
            };
            let served = crate::serve::serve(
                &crate::serve::Serving {
                    plan: &plan,
                    hash,
                    info: &info,
                    weights: &weights,
                    threads: args.threads,
                    serve: args.serve,
                    concurrency,
                    budget,
                    report: args.report.clone(),
                    wait: Duration::from_secs(args.wait),
                    waits,
                },
                listener,
            )?;
            if served.completed == 0 && served.failed > 0 {
                return Err(format!(
                    "{} session(s) failed, none completed",
                    served.failed
                ));
            }
            Ok(())
        }
        Role::Client => {
            let addr = args.connect.as_deref().unwrap_or_default();
            let inputs = args
                .input
                .as_deref()
                .ok_or_else(|| "--input is required for the client".to_string())
                .and_then(|p| load_inputs(&plan, p, budget / 4, args.range))
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
            let (inputs, labels) =
                match inputs {
                    Ok(i) => i,
                    Err(e) => {
                        // Only a category goes to the peer: the details (values, indices, paths,
                        // shapes) are the client's own.
                        let offer = Offer::new(threads, 0, Some(
                            "its input does not fit the plan or its options (details on its side)"
                                .into(),
                        ));
                        let _ = session::connect(addr, hash, &offer, &waits, &mut |_| {});
                        return Err(e);
                    }
                };
            let offer = Offer::new(threads, inputs.samples as u64, None);
            let mut parties = session::connect(addr, hash, &offer, &waits, &mut waiting)
                .map_err(|e| e.to_string())?;
            let shape = Shape {
                batch: inputs.samples,
                threads: args.threads,
            };
            let ex = run_with_progress(
                &mut parties,
                Progress {
                    label: "client",
                    plan: &plan,
                    info: &info,
                    batch: shape.batch,
                    own: Own::Client(&inputs.values),
                    show: true,
                },
            )?;
            let est = estimates(&plan, &info, shape)?;
            let outs = ex
                .outputs
                .as_deref()
                .ok_or_else(|| "the run revealed no outputs".to_string())?;
            let named = decode_outputs(&plan, outs, &inputs);
            print_outputs(&named, &inputs, labels.as_deref())?;
            eprintln!("{}", summary(Role::Client, shape, &ex, &est));
            // The report first: if it fails, no output file is left behind either.
            if let Some(r) = &args.report {
                write_report(
                    r,
                    &report_json(&PartyRun {
                        plan: &plan,
                        plan_hash: &hash,
                        role: Role::Client,
                        shape,
                        ex: &ex,
                        est: &est,
                    }),
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

/// Both parties of a simulation: the plan, each party's data, the connections, and whether
/// to show progress and run over TLS.
pub struct Pair<'a> {
    pub plan: &'a Plan,
    /// What the plan's check proved.
    pub info: &'a PlanInfo,
    pub weights: &'a [Vec<u64>],
    pub inputs: &'a Inputs,
    pub threads: usize,
    pub show: bool,
    pub tls: bool,
    pub link: Option<Link>,
}

/// Both parties in this process over a loopback socket pair; returns (server, client) runs.
pub fn simulate_pair(pair: &Pair<'_>) -> Result<(Execution, Execution), String> {
    let Pair {
        plan,
        info,
        weights,
        inputs,
        threads,
        show,
        tls,
        link,
    } = *pair;
    let shape = Shape {
        batch: inputs.samples,
        threads,
    };
    exec::check_shape(plan, shape).map_err(|e| e.to_string())?;
    let listener = session::listen("127.0.0.1:0").map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Over an emulated link the client reaches the server through the relay.
    let addr = match link {
        Some(l) => Relay::start(local, l)
            .map_err(|e| format!("cannot start the link relay: {e}"))?
            .addr(),
        None => local,
    }
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
            let offer = Offer::new(threads as u32, limit, None);
            let (mut ps, batch) = session::serve(&listener, hash, &offer, &server_waits)
                .map_err(|e| e.to_string())?;
            exec::execute(
                &mut ps,
                plan,
                info,
                batch,
                Own::Server(weights),
                &mut |_, _, _| {},
            )
            .map_err(|e| format!("server: {e}"))
        });
        let offer = Offer::new(threads as u32, inputs.samples as u64, None);
        let client = session::connect(&addr, hash, &offer, &client_waits, &mut |_| {})
            .map_err(|e| e.to_string())
            .and_then(|mut ps| {
                run_with_progress(
                    &mut ps,
                    Progress {
                        label: "simulate",
                        plan,
                        info,
                        batch: inputs.samples,
                        own: Own::Client(&inputs.values),
                        show,
                    },
                )
                .map_err(|e| format!("client: {e}"))
            });
        let server = server
            .join()
            .map_err(|_| "the server thread panicked".to_string())?;
        Ok((server?, client?))
    })
}

/// `sir simulate`: whether the run checked out (outputs equal to the cleartext semantics,
/// every instruction as estimated); the outputs are written only then.
pub fn simulate(args: &SimulateOptions) -> Result<bool, String> {
    let (plan, info) = load_plan(&args.plan)?;
    if let Some(out) = &args.out {
        check_out(out, plan.outputs.len())?;
        check_writable(out, "--out")?;
    }
    if let Some(r) = &args.report {
        check_writable(r, "--report")?;
    }
    let weights = load_weights(&plan, &args.weights, u64::MAX, args.range)?;
    let inputs = load_inputs(&plan, &args.input, u64::MAX, args.range)?;
    let labels = load_labels(args.labels.as_deref(), inputs.samples)?;
    let (server, client) = simulate_pair(&Pair {
        plan: &plan,
        info: &info,
        weights: &weights,
        inputs: &inputs,
        threads: args.threads,
        show: true,
        tls: args.tls,
        link: args.link,
    })?;
    let shape = Shape {
        batch: inputs.samples,
        threads: args.threads,
    };
    let est = estimates(&plan, &info, shape)?;
    let outs = client
        .outputs
        .as_deref()
        .ok_or_else(|| "the run revealed no outputs".to_string())?;
    let equal = equals_clear(&plan, &weights, &inputs, outs)?;
    let named = decode_outputs(&plan, outs, &inputs);
    print_outputs(&named, &inputs, labels.as_deref())?;
    let sim = Simulation {
        plan: &plan,
        server: &server,
        client: &client,
        est: &est,
        equal,
        samples: inputs.samples,
        threads: args.threads,
    };
    print!("{}", sim.text());
    // The time on the link is the slower party's.
    let link = args.link.map(|l| {
        let wall = server.wall.max(client.wall).as_secs_f64();
        link_json(&l, wall, &est)
    });
    if let Some(l) = &link {
        println!("{}", link_text(l));
    }
    let mismatch = sim.mismatch();
    if let Some(r) = &args.report {
        let mut j = report_json(&PartyRun {
            plan: &plan,
            plan_hash: &plan.hash(),
            role: Role::Client,
            shape,
            ex: &client,
            est: &est,
        });
        if let Some(l) = link {
            j["estimated_s"] = l["estimated_s"].clone();
            j["link"] = l;
        }
        write_report(r, &j)?;
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

/// What `sir bench model` measures: a plan, the parties' data (random in the plan's formats
/// when absent), and the run's shape.
pub struct BenchModel<'a> {
    pub plan: &'a Path,
    pub weights: Option<&'a Path>,
    pub input: Option<&'a Path>,
    /// Samples per execution when the input is random.
    pub batch: usize,
    pub threads: usize,
    pub reps: usize,
    pub tls: bool,
    /// An emulated link between the parties.
    pub link: Option<Link>,
}

/// A whole plan between two in-process parties, `reps` times: the median wall time, bytes
/// and rounds, and whether every run was exact (as estimated, and equal to the cleartext
/// semantics on the last run), as `sir bench model --json` prints it.
pub fn bench_model(b: &BenchModel<'_>) -> Result<serde_json::Value, String> {
    let BenchModel {
        plan: plan_path,
        weights,
        input,
        batch,
        threads,
        reps,
        tls,
        link,
    } = *b;
    let (plan, info) = load_plan(plan_path)?;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let w = match weights {
        Some(p) => load_weights(&plan, p, u64::MAX, RangeCheck::Warn)?,
        None => plan
            .params
            .iter()
            .map(|io| {
                let t = &plan.tensors[io.tensor];
                random_encodings(&mut rng, t.numel(), t.bits)
            })
            .collect(),
    };
    let inputs = match input {
        Some(p) => load_inputs(&plan, p, u64::MAX, RangeCheck::Warn)?,
        None => Inputs {
            values: plan
                .inputs
                .iter()
                .map(|io| {
                    let t = &plan.tensors[io.tensor];
                    random_encodings(&mut rng, t.numel() * batch, t.bits)
                })
                .collect(),
            samples: batch,
            batched: batch > 1,
        },
    };
    let shape = Shape {
        batch: inputs.samples,
        threads,
    };
    let est = estimates(&plan, &info, shape)?;
    let mut walls = Vec::new();
    let mut pre_walls = Vec::new();
    let mut exact = true;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let (s, c) = simulate_pair(&Pair {
            plan: &plan,
            info: &info,
            weights: &w,
            inputs: &inputs,
            threads,
            show: false,
            tls,
            link,
        })?;
        exact &= first_mismatch(Role::Server, &s, &est).is_none()
            && first_mismatch(Role::Client, &c, &est).is_none();
        walls.push(s.wall.max(c.wall).as_secs_f64());
        pre_walls.push(s.pre_wall.max(c.pre_wall).as_secs_f64());
        last = Some((s, c));
    }
    let (s, c) = last.ok_or("no run")?;
    // Bit-equality with the cleartext semantics on the last run.
    let outs = c.outputs.as_deref().unwrap_or(&[]);
    exact &= equals_clear(&plan, &w, &inputs, outs)?;
    walls.sort_by(f64::total_cmp);
    let wall = walls[walls.len() / 2];
    pre_walls.sort_by(f64::total_cmp);
    let pre_wall = pre_walls[pre_walls.len() / 2];
    let (sm, cm) = (measured_sum(&s.instrs), measured_sum(&c.instrs));
    let (ss, cs, rounds) = (sm.bytes_sent, cm.bytes_sent, sm.rounds);
    let (sp, cp) = (measured_sum(&s.pre), measured_sum(&c.pre));
    let b = inputs.samples.max(1) as f64;
    Ok(serde_json::json!({
        "plan": plan_path.display().to_string(),
        "model": plan.model,
        "samples": inputs.samples,
        "threads": threads,
        "reps": reps.max(1),
        "server_bytes": ss,
        "client_bytes": cs,
        "total_bytes": ss + cs,
        "rounds": rounds,
        "latency_units": s.latency.as_ref().map(|l| l.total()),
        "estimated_latency_units": est.latency.total(),
        "setup_bytes": s.setup.bytes_sent + s.setup.bytes_received,
        "preprocessing_bytes": sp.bytes_sent + cp.bytes_sent,
        "preprocessing_rounds": sp.rounds,
        "preprocessing_s_median": pre_wall,
        "ot": plan.ot.name(),
        "ot_preprocessing_bytes": s.ot_pre.bytes_sent + s.ot_pre.bytes_received,
        "ot_preprocessing_s": s.ot_pre_wall.max(c.ot_pre_wall).as_secs_f64(),
        "wall_s_median": wall,
        "per_sample_bytes": (ss + cs) as f64 / b,
        "per_sample_wall_s": wall / b,
        "tls": tls,
        "link": link.map(|l| link_json(&l, wall, &est)),
        "exact": exact,
    }))
}
