//! Reporting a run: what each instruction should cost (exact estimates), what was measured
//! against them (the `--report` JSON, the one-line summary, the simulation's and the
//! benchmark's text), and where reports are written.

use sir_compiler::compile::{Budget, Compiled};
use sir_runtime::exec::{self, Execution, Shape};
use sir_runtime::net::Role;
use sir_runtime::net::link::Link;
use sir_runtime::npy;
use sir_runtime::ot::OtKind;
use sir_runtime::plan::{Plan, PlanInfo};
use sir_runtime::proto::Cost;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `report.json` → `report.3.json` for session 3 of `--serve N`.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("json");
    path.with_file_name(format!("{stem}.{n}.{ext}"))
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
    /// The OT preprocessing (silent COT generation; zero on IKNP).
    pub ot_pre: Cost,
    /// Latency units on the critical path, by phase.
    pub latency: exec::Latency,
}

/// The exact estimates of a run of `plan` (checked: `info`) in `shape`.
pub fn estimates(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Est, String> {
    Ok(Est {
        online: exec::estimate(plan, info, shape).map_err(|e| e.to_string())?,
        pre: exec::estimate_pre(plan, info, shape).map_err(|e| e.to_string())?,
        ot_pre: exec::ot_session(plan, info, shape)
            .map_err(|e| e.to_string())?
            .preprocess_cost(),
        latency: exec::estimate_latency(plan, info, shape).map_err(|e| e.to_string())?,
    })
}

/// The estimated seconds of a run with these estimates (online and preprocessing) on `link`:
/// both directions' bytes at the bandwidth, half a round trip per latency unit.
pub fn link_estimate(link: &Link, est: &Est) -> f64 {
    let (o, p) = (cost_sum(&est.online), cost_sum(&est.pre));
    link.estimate(o.total_bytes() + p.total_bytes(), est.latency.total())
}

/// A report's account of an emulated link: what it was, the time measured on it (the slower
/// party's), and the estimate.
pub fn link_json(link: &Link, wall_s: f64, est: &Est) -> serde_json::Value {
    serde_json::json!({
        "mbit_per_s": link.bits_per_s / 1e6,
        "rtt_ms": link.rtt.as_secs_f64() * 1e3,
        "wall_s": wall_s,
        "estimated_s": link_estimate(link, est),
    })
}

/// One line on a run over an emulated link.
pub fn link_text(l: &serde_json::Value) -> String {
    let f = |k: &str| l[k].as_f64().unwrap_or(0.0);
    format!(
        "link:      {} Mbit/s, {} ms round trip: {:.3} s measured, {:.3} s estimated",
        f("mbit_per_s"),
        f("rtt_ms"),
        f("wall_s"),
        f("estimated_s")
    )
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

/// One party's run of a plan and what it should have measured.
pub struct PartyRun<'a> {
    pub plan: &'a Plan,
    pub plan_hash: &'a [u8; 32],
    pub role: Role,
    pub shape: Shape,
    pub ex: &'a Execution,
    pub est: &'a Est,
}

/// The `--report` JSON of one party.
pub fn report_json(run: &PartyRun<'_>) -> serde_json::Value {
    let PartyRun {
        plan,
        plan_hash,
        role,
        shape,
        ex,
        est,
    } = *run;
    let instructions: Vec<serde_json::Value> = plan
        .instrs
        .iter()
        .enumerate()
        .map(|(k, ins)| {
            let mut v = versus(role, ex.instrs[k], &est.online[k]);
            v["id"] = serde_json::json!(k);
            v["op"] = serde_json::json!(ins.op.name());
            if let Some(l) = &ex.latency {
                v["latency_units"] = serde_json::json!(l.instrs[k]);
            }
            v["estimated_latency_units"] = serde_json::json!(est.latency.instrs[k]);
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
        // One-way delays on the run's critical path: the turns of shared flights until the last
        // instruction ended, measured by both parties.
        "latency_units": ex.latency.as_ref().map(|l| l.total()),
        // The flights' headers (which task sent how much), both directions, and this party's
        // flights.
        "framing_bytes": ex.framing.bytes_sent + ex.framing.bytes_received,
        "flights_sent": ex.framing.flushes,
        "estimated_latency_units": est.latency.total(),
        "setup_bytes": ex.setup.bytes_sent + ex.setup.bytes_received,
        // Silent OT's COT generation (zero on IKNP), both directions, before the input.
        "ot_preprocessing_bytes": ex.ot_pre.bytes_sent + ex.ot_pre.bytes_received,
        "ot_preprocessing_s": ex.ot_pre_wall.as_secs_f64(),
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
    let latency = match &ex.latency {
        Some(l) => format!(", {} latency units", l.total()),
        None => String::new(),
    };
    format!(
        "{role}: sent {sent} B, received {recv} B, {rounds} rounds{latency} ({check}); setup {} B{pre}; {:.3} s for {} sample{}{per}",
        ex.setup.bytes_sent + ex.setup.bytes_received,
        ex.wall.as_secs_f64(),
        shape.batch,
        if shape.batch == 1 { "" } else { "s" }
    )
}

pub fn write_report(path: &Path, v: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    npy::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
}

/// Both parties' runs of one simulation, against the estimates and the cleartext semantics.
pub struct Simulation<'a> {
    pub plan: &'a Plan,
    pub server: &'a Execution,
    pub client: &'a Execution,
    pub est: &'a Est,
    /// Whether the client's outputs equal the cleartext semantics bit for bit.
    pub equal: bool,
    pub samples: usize,
    pub threads: usize,
}

impl Simulation<'_> {
    /// The first instruction either party measured differently from its estimate.
    pub fn mismatch(&self) -> Option<usize> {
        first_mismatch(Role::Server, self.server, self.est)
            .or_else(|| first_mismatch(Role::Client, self.client, self.est))
    }

    /// What `sir simulate` prints after the outputs: measured against estimated, the check
    /// against the cleartext semantics, the time.
    pub fn text(&self) -> String {
        let Simulation {
            plan,
            server,
            client,
            est,
            equal,
            samples,
            threads,
        } = *self;
        let mut t = String::new();
        let total = cost_sum(&est.online);
        let (sm, cm) = (measured_sum(&server.instrs), measured_sum(&client.instrs));
        let (ss, sr, cs) = (sm.bytes_sent, sm.rounds, cm.bytes_sent);
        let _ = writeln!(
            t,
            "measured:  server sent {ss} B, client sent {cs} B, {sr} rounds ({} in total; setup {} B)",
            human_bytes(ss + cs),
            server.setup.bytes_sent + server.setup.bytes_received
        );
        let _ = writeln!(
            t,
            "estimated: server sent {} B, client sent {} B, {} rounds",
            total.server_bytes, total.client_bytes, total.rounds
        );
        if let Some(l) = &server.latency {
            let _ = writeln!(
                t,
                "latency:   {} units on the critical path, estimated {} (one-way delays: turns of flights shared by every instruction whose operands are ready); framing {} B in {} flights",
                l.total(),
                est.latency.total(),
                server.framing.bytes_sent + server.framing.bytes_received,
                server.framing.flushes + client.framing.flushes
            );
        }
        if est.ot_pre != Cost::ZERO {
            let (sp, cp) = (&server.ot_pre, &client.ot_pre);
            let _ = writeln!(
                t,
                "OT preprocessing (silent COTs, before the input is used): server sent {} B, client sent {} B, {} flights in {:.3} s measured; estimated {} B, {} B, {} flights",
                sp.bytes_sent,
                cp.bytes_sent,
                sp.flushes + cp.flushes,
                server.ot_pre_wall.as_secs_f64(),
                est.ot_pre.server_bytes,
                est.ot_pre.client_bytes,
                est.ot_pre.rounds,
            );
        }
        let pre = cost_sum(&est.pre);
        if pre != Cost::ZERO {
            let (sp, cp) = (measured_sum(&server.pre), measured_sum(&client.pre));
            let _ = writeln!(
                t,
                "preprocessing (input-independent, before the run): server sent {} B, client sent {} B, {} rounds measured; estimated {} B, {} B, {} rounds",
                sp.bytes_sent,
                cp.bytes_sent,
                sp.rounds,
                pre.server_bytes,
                pre.client_bytes,
                pre.rounds,
            );
        }
        let _ = match self.mismatch() {
            None => writeln!(
                t,
                "every instruction's bytes and rounds equal its estimate, for both parties"
            ),
            Some(k) => writeln!(
                t,
                "MISMATCH: instruction {k} ({}) measured differently from its estimate",
                plan.instrs[k].op.name()
            ),
        };
        let _ = writeln!(
            t,
            "result equals `sir eval --plan` bit for bit: {} ({} sample{})",
            if equal { "yes" } else { "NO" },
            samples,
            if samples == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            t,
            "time: {:.3} s for {} sample{} ({} connection{})",
            client.wall.as_secs_f64(),
            samples,
            if samples == 1 { "" } else { "s" },
            threads,
            if threads == 1 { "" } else { "s" }
        );
        t
    }
}

/// `sir bench model`'s table of its JSON result.
pub fn print_model(r: &serde_json::Value) {
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    println!(
        "{} ({} sample{}, {} connection{}, median of {}):",
        r["model"].as_str().unwrap_or(""),
        u("samples"),
        if u("samples") == 1 { "" } else { "s" },
        u("threads"),
        if u("threads") == 1 { "" } else { "s" },
        u("reps")
    );
    println!(
        "  bytes   server→client {} B, client→server {} B, total {:.2} MB (setup {} B)",
        u("server_bytes"),
        u("client_bytes"),
        u("total_bytes") as f64 / 1e6,
        u("setup_bytes")
    );
    if u("preprocessing_bytes") > 0 {
        println!(
            "  preprocessing (input-independent: products' masks, polynomials' mask powers) {:.2} MB in {} flights, the first {:.3} s of each execution (the input is used after it)",
            u("preprocessing_bytes") as f64 / 1e6,
            u("preprocessing_rounds"),
            f("preprocessing_s_median")
        );
    }
    if u("ot_preprocessing_bytes") > 0 {
        println!(
            "  OT preprocessing (silent COTs, before the input) {:.2} MB in {:.3} s, not in the figures above or below",
            u("ot_preprocessing_bytes") as f64 / 1e6,
            f("ot_preprocessing_s")
        );
    }
    println!("  rounds  {}", u("rounds"));
    if let Some(l) = r["latency_units"].as_u64() {
        println!("  latency {l} units on the critical path");
    }
    match f("preprocessing_s_median") {
        p if p > 0.0 => println!(
            "  time    {:.3} s per execution, {:.3} s of it after the preprocessing",
            f("wall_s_median"),
            f("wall_s_median") - p
        ),
        _ => println!("  time    {:.3} s per execution", f("wall_s_median")),
    }
    if r["link"].is_object() {
        println!("  {}", link_text(&r["link"]));
    }
    if u("samples") > 1 {
        println!(
            "  per sample  {:.2} MB, {:.4} s",
            f("per_sample_bytes") / 1e6,
            f("per_sample_wall_s")
        );
    }
    println!(
        "  {}",
        if r["exact"].as_bool().unwrap_or(false) {
            "result equals the plan's cleartext semantics; bytes and rounds equal the estimates"
        } else {
            "MISMATCH against the cleartext semantics or the estimates"
        }
    );
}

/// What `sir compile` prints of a compilation on `samples` calibration samples written to
/// `out`: the plan's size and cost, the accuracy or error against float, every width tried,
/// the Block-ReLU choices (`relu_budget`: whether --relu-budget was given; `relu_patches`: the
/// plan they were pinned from), the groups narrowed.
/// Which OT engine the plan runs on, and what the other would cost (one inference, silent
/// OT's preprocessing included).
fn engine_line(plan: &Plan) -> String {
    let ot = crate::summary::ot_pre(plan);
    let mut other = plan.clone();
    let alt = match plan.ot {
        OtKind::Iknp => OtKind::Silent,
        OtKind::Silent => OtKind::Iknp,
    };
    let alt_bytes = other
        .reprice(alt)
        .ok()
        .and_then(|_| sir_compiler::compile::bytes_with_ot_preprocessing(&other));
    let head = match plan.ot {
        OtKind::Iknp => "OT engine: iknp".to_string(),
        OtKind::Silent => format!(
            "OT engine: silent, plus {} B of OT preprocessing before the input ({} COTs; {:.0} B amortised over many inferences)",
            ot.cost.total_bytes(),
            ot.cots[0] + ot.cots[1],
            ot.amortised_bytes
        ),
    };
    match alt_bytes {
        Some(b) => format!("{head}; on {alt} this plan would send {b} B in all"),
        None => head,
    }
}

pub fn print_compiled(
    c: &Compiled,
    samples: usize,
    relu_budget: bool,
    relu_patches: Option<&Path>,
    out: &Path,
) {
    let total = c.plan.total();
    println!(
        "compiled `{}`: {} graph nodes, {} instructions, storage width {} bits",
        c.plan.model,
        c.nodes,
        c.plan.instrs.len(),
        c.bits
    );
    let b = &c.bound;
    match c.budget {
        Budget::AccuracyLoss(p) => {
            println!(
                "accuracy on {} calibration samples: float {:.2}%, fixed point {:.2}% (budget: at most {p} point{} lost at {}% confidence)",
                samples,
                c.float_metric,
                c.fixed_metric,
                if p == 1.0 { "" } else { "s" },
                b.confidence * 100.0
            );
        }
        Budget::MaxError(e) => println!(
            "largest output error vs float on {} calibration samples: {:.3e} (budget {e:.3e} at {}% confidence)",
            samples,
            c.fixed_metric,
            b.confidence * 100.0
        ),
    }
    println!(
        "  widths ranked on {} samples, confirmed on the {} held back (docs/precision.md)",
        b.search, b.held_back
    );
    if let Some(line) = sir_compiler::compile::bound_summary(&c.plan.options) {
        println!("  {line}");
    }
    println!(
        "communication per inference: server sends {} B, client sends {} B, {} flights (see docs/glossary.md)",
        total.server_bytes, total.client_bytes, total.rounds
    );
    let pre = c.plan.pre_total();
    if !pre.is_zero() {
        let has = |f: fn(&sir_runtime::plan::Op) -> bool| {
            c.plan.instrs.iter().any(|i| f(&i.op) && !i.pre.is_zero())
        };
        let what: Vec<&str> = [
            (
                has(|op| matches!(op, sir_runtime::plan::Op::MatMul)),
                "the products' masks times the weights (--products offline)",
            ),
            (
                has(|op| matches!(op, sir_runtime::plan::Op::Poly { .. })),
                "the polynomials' mask powers",
            ),
        ]
        .into_iter()
        .filter_map(|(yes, what)| yes.then_some(what))
        .collect();
        let what = what.join("; ");
        println!(
            "preprocessing before the input: server sends {} B, client sends {} B, {} flights ({what})",
            pre.server_bytes, pre.client_bytes, pre.rounds
        );
    }
    println!("{}", engine_line(&c.plan));
    for io in &c.plan.outputs {
        let t = &c.plan.tensors[io.tensor];
        println!(
            "output `{}` is revealed in {} bits with {} fraction bits: values are multiples of 2^-{} = {}",
            io.name,
            t.bits,
            t.frac,
            t.frac,
            (-(t.frac as f64)).exp2()
        );
    }
    let metric = |m: f64| match c.budget {
        Budget::AccuracyLoss(_) => format!("fixed-point accuracy {m:.2}%"),
        Budget::MaxError(_) => format!("largest error {m:.3e}"),
    };
    if let Ok(Some(l)) = sir_compiler::compile::recorded_net(&c.plan.options) {
        println!(
            "chosen for the least estimated time on {} Mbit/s, {} ms RTT (--net), not the fewest bytes",
            l.bits_per_s / 1e6,
            l.rtt.as_secs_f64() * 1e3
        );
    }
    for cand in &c.candidates {
        let est = cand
            .seconds
            .map_or(String::new(), |s| format!(", estimated {s:.3} s"));
        let confirmed = match (cand.confirmed, c.budget) {
            (Some((u, ok)), Budget::AccuracyLoss(_)) => format!(
                "; held back: bound {u:.2} points{}",
                if ok { "" } else { ", not confirmed" }
            ),
            (Some((_, ok)), Budget::MaxError(_)) => {
                format!("; held back: {}", if ok { "within" } else { "over budget" })
            }
            (None, _) => String::new(),
        };
        let what = match (&cand.bytes, cand.metric) {
            (Ok(b), Some(m)) => format!(
                "{b} B{est}, {} on the search part{}{confirmed}",
                metric(m),
                if cand.within { "" } else { " (over budget)" }
            ),
            (Err(e), _) => format!("skipped: {e}"),
            (Ok(b), None) => {
                format!("{b} B{est}, over budget (stopped at the first failing samples)")
            }
        };
        println!("  {:>2} bits: {what}", cand.bits);
    }
    if relu_budget && c.relu_choices.is_empty() {
        eprintln!(
            "warning: --relu-budget given, but the model has no `block_relu(x)` without patch sizes"
        );
    }
    // A model-wide budget (`relu_budget`) is printed once; a per-layer one with each layer.
    let model_budget = c.plan.options["relu_budget"].as_f64();
    if let Some(f) = model_budget {
        let relus: usize = c.relu_choices.iter().map(|l| l.relus).sum();
        let drelus: usize = c.relu_choices.iter().map(|l| l.drelus).sum();
        println!(
            "  block_relu: {drelus} DReLUs of plain ReLU's {relus} over the model (budget {}: {f} of them)",
            sir_compiler::relu_budget::layer_budget(f, relus)
        );
    }
    for l in &c.relu_choices {
        let budget = match (relu_patches, model_budget) {
            (Some(p), _) => format!("pinned from {}", p.display()),
            (None, Some(_)) => "of the model's budget".to_string(),
            (None, None) => format!("budget {}", l.budget),
        };
        println!(
            "  block_relu `{}` {:?}: {} DReLUs ({budget}, plain ReLU {}), patches {}",
            l.layer,
            l.shape,
            l.drelus,
            l.relus,
            sir_runtime::plan::render::patch_runs(&l.patches)
        );
    }
    if !c.narrowed.is_empty() {
        let parts: Vec<String> = c
            .narrowed
            .iter()
            .map(|(g, w)| format!("{g} → {w}"))
            .collect();
        println!("  narrowed within the budget: {}", parts.join(", "));
    }
    println!("wrote {} in {:.2} s", out.display(), c.seconds);
}
