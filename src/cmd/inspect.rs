//! `sir inspect PLAN [--by instruction|layer|protocol] [--net lan|wan|BW,RTT] [--json]`: the
//! tensors with their formats, the instructions' communication grouped as asked, totals, the
//! one-time setup, and an estimated wall time on a network.

use sir_cli::fail;
use sir_runtime::exec::{self, Latency, Shape};
use sir_runtime::net::link::Link;
use sir_runtime::ot::cost::{SETUP_CLIENT_BYTES, SETUP_FLIGHTS, SETUP_SERVER_BYTES};
use sir_runtime::plan::{BlockReluUse, Owner, Plan, render};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Instruction,
    Layer,
    Protocol,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The plan (JSON, from `sir compile`).
    pub plan: PathBuf,
    /// How to group the instructions.
    #[arg(long, value_enum, default_value = "protocol")]
    pub by: By,
    /// The network for the time estimate: lan (1 Gbit/s, 0.5 ms), wan (100 Mbit/s, 40 ms), or
    /// BANDWIDTH_MBIT,RTT_MS.
    #[arg(long, default_value = "lan")]
    pub net: String,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Print the whole plan as text (tensors, instructions with costs, I/O, totals) instead.
    #[arg(long, conflicts_with = "json")]
    pub text: bool,
    /// Leave out the table of tensors (the cost table, totals and estimate only).
    #[arg(long, conflicts_with_all = ["json", "text"])]
    pub brief: bool,
}

/// `--net`: the link the time estimate assumes (one definition with `--link`).
pub fn parse_net(s: &str) -> Result<Link, String> {
    Link::parse(s).map_err(|e| format!("--net {e}"))
}

#[derive(Default, Clone, Copy)]
struct Sum {
    server: u64,
    client: u64,
    rounds: u64,
    /// Latency units the group adds to the critical path.
    latency: u64,
    count: usize,
}

pub fn run(args: &InspectArgs) -> i32 {
    let net = match parse_net(&args.net) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let (plan, info) = match sir_cli::files::load_plan(&args.plan) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if args.text {
        return super::print_out(&render::render(&plan));
    }
    // The latency of one inference on the critical path, from what the check proved.
    let latency = match exec::estimate_latency(&plan, &info, Shape::ONE) {
        Ok(l) => l,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let groups = group(&plan, args.by, &latency.instrs);
    if args.json {
        let mut j = to_json(&plan, &groups, args.by, net, &latency).to_string();
        j.push('\n');
        return super::print_out(&j);
    }
    super::print_out(&tables(&plan, &groups, args, net, &latency))
}

fn key(plan: &Plan, k: usize, by: By) -> String {
    let ins = &plan.instrs[k];
    match by {
        By::Instruction => format!("i{k} {}", render::op_text(&ins.op)),
        By::Layer => ins.layer.clone().unwrap_or_else(|| "(unnamed)".into()),
        By::Protocol => ins.op.protocol().to_string(),
    }
}

/// Instructions grouped by `by`, in order of first appearance, with their bytes, flights and
/// the latency units they add to the critical path (`latency`, per instruction).
fn group(plan: &Plan, by: By, latency: &[u64]) -> Vec<(String, Sum)> {
    let mut order: Vec<String> = Vec::new();
    let mut m: BTreeMap<String, Sum> = BTreeMap::new();
    for (k, ins) in plan.instrs.iter().enumerate() {
        let key = key(plan, k, by);
        let e = m.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Sum::default()
        });
        e.server += ins.cost.server_bytes;
        e.client += ins.cost.client_bytes;
        e.rounds += ins.cost.rounds;
        e.latency += latency.get(k).copied().unwrap_or(0);
        e.count += 1;
    }
    if by == By::Layer {
        // Source order where the plan records it (older plans: order of execution).
        let rank = |k: &String| {
            plan.layers
                .iter()
                .position(|l| l == k)
                .unwrap_or(usize::MAX)
        };
        order.sort_by_key(rank);
    }
    order
        .into_iter()
        .map(|k| {
            let s = m[&k];
            (k, s)
        })
        .collect()
}

/// Tensors with the same name, shape and format (e.g. one per unrolled step) collapse into
/// one row with a count.
fn tensor_rows(plan: &Plan) -> Vec<(String, String, String, u32, u32, usize)> {
    let mut rows: Vec<(String, String, String, u32, u32, usize)> = Vec::new();
    let mut index: BTreeMap<(String, String, String, u32, u32), usize> = BTreeMap::new();
    for t in &plan.tensors {
        if t.owner == Owner::Public {
            continue;
        }
        let name = t.name.clone().unwrap_or_else(|| "-".into());
        let shape = format!("{:?}", t.shape);
        let owner = format!("{:?}", t.owner).to_lowercase();
        let k = (name.clone(), shape.clone(), owner.clone(), t.bits, t.frac);
        match index.get(&k) {
            Some(&i) => rows[i].5 += 1,
            None => {
                index.insert(k, rows.len());
                rows.push((name, shape, owner, t.bits, t.frac, 1));
            }
        }
    }
    rows
}

fn tables(
    plan: &Plan,
    groups: &[(String, Sum)],
    args: &InspectArgs,
    net: Link,
    latency: &Latency,
) -> String {
    let by = args.by;
    let units = latency.total();
    use std::fmt::Write as _;
    let mut s = String::new();
    let total = plan.total();
    let all = (total.server_bytes + total.client_bytes).max(1) as f64;
    let _ = writeln!(
        s,
        "plan `{}`: {} tensors, {} instructions",
        plan.model,
        plan.tensors.len(),
        plan.instrs.len()
    );
    if !args.brief {
        let _ = writeln!(s, "\ntensors (identical rows counted):");
        let _ = writeln!(
            s,
            "  {:<16} {:<14} {:<9} {:>4} {:>4} {:>6}",
            "name", "shape", "owner", "bits", "frac", "count"
        );
        for (name, shape, owner, bits, frac, count) in tensor_rows(plan) {
            let _ = writeln!(
                s,
                "  {name:<16} {shape:<14} {owner:<9} {bits:>4} {frac:>4} {count:>6}"
            );
        }
    }
    let what = match by {
        By::Instruction => "instruction",
        By::Layer => "layer",
        By::Protocol => "protocol",
    };
    let _ = writeln!(s, "\nby {what}:");
    let _ = writeln!(
        s,
        "  {:<34} {:>6} {:>14} {:>14} {:>8} {:>8} {:>7}",
        what, "instrs", "server→client", "client→server", "rounds", "latency", "share"
    );
    for (k, g) in groups {
        let _ = writeln!(
            s,
            "  {k:<34} {:>6} {:>14} {:>14} {:>8} {:>8} {:>6.1}%",
            g.count,
            g.server,
            g.client,
            g.rounds,
            g.latency,
            100.0 * (g.server + g.client) as f64 / all
        );
    }
    let _ = writeln!(
        s,
        "  {:<34} {:>6} {:>14} {:>14} {:>8} {:>8} {:>6.1}%",
        "total",
        plan.instrs.len(),
        total.server_bytes,
        total.client_bytes,
        total.rounds,
        units - latency.pre,
        100.0
    );
    let pre = plan.pre_total();
    if pre != sir_runtime::proto::Cost::ZERO {
        let _ = writeln!(
            s,
            "  {:<34} {:>6} {:>14} {:>14} {:>8} {:>8}   (input-independent, before the run)",
            "preprocessing",
            plan.instrs.iter().filter(|i| !i.pre.is_zero()).count(),
            pre.server_bytes,
            pre.client_bytes,
            pre.rounds,
            latency.pre
        );
    }
    let _ = writeln!(
        s,
        "  {:<34} {:>6} {:>14} {:>14} {:>8}   (once per connection)",
        "setup (base OTs)", "", SETUP_SERVER_BYTES, SETUP_CLIENT_BYTES, SETUP_FLIGHTS
    );
    let blocks = plan.block_relus();
    if !blocks.is_empty() {
        let _ = writeln!(s, "\nblock_relu layers (per sample):");
        if let Some(f) = plan.options["relu_budget"].as_f64() {
            let relus: usize = blocks.iter().map(|b| b.relus).sum();
            let drelus: usize = blocks.iter().map(|b| b.drelus).sum();
            let _ = writeln!(
                s,
                "  model: {drelus} DReLUs of plain ReLU's {relus}, budget {} ({f} over every layer)",
                sir_compiler::relu_budget::layer_budget(f, relus)
            );
        }
        for b in &blocks {
            let [c, h, w] = b.shape;
            let within = match layer_budget(plan, b) {
                Some(n) => format!(", budget {n}"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "  i{} {} [{c}, {h}, {w}]: {} DReLUs of plain ReLU's {}{within}; DReLU bytes {} ({:.1}% of ReLU's {}, sums at {} bits)\n    whole layer {} B (comparisons, one selection per patch, the sums' extension) = {:.1}% of a ReLU's {} B at {} bits\n    patches: {}",
                b.instr,
                b.layer.as_deref().unwrap_or("(unnamed)"),
                b.drelus,
                b.relus,
                b.drelu_bytes,
                100.0 * b.drelu_bytes as f64 / b.relu_drelu_bytes.max(1) as f64,
                b.relu_drelu_bytes,
                b.sum_bits,
                b.layer_bytes,
                100.0 * b.layer_bytes as f64 / b.relu_bytes.max(1) as f64,
                b.relu_bytes,
                plan.tensors[plan.instrs[b.instr].out].bits,
                render::patch_runs(&b.patches)
            );
        }
    }
    let t = net.estimate(total.server_bytes + total.client_bytes, units);
    let _ = writeln!(
        s,
        "\nestimated time on {:.0} Mbit/s, {:.1} ms RTT: {:.3} s ({:.3} s transfer + {:.3} s latency: {units} latency units on the critical path, one-way delays, for {} flights)",
        net.bits_per_s / 1e6,
        net.rtt.as_secs_f64() * 1e3,
        t,
        (total.server_bytes + total.client_bytes) as f64 * 8.0 / net.bits_per_s,
        units as f64 * net.rtt.as_secs_f64() / 2.0,
        total.rounds
    );
    s
}

/// A Block-ReLU layer's DReLU budget, for a plan compiled with `--relu-budget`.
fn layer_budget(plan: &Plan, b: &BlockReluUse) -> Option<usize> {
    plan.options["relu_budget_per_layer"]
        .as_f64()
        .map(|f| sir_compiler::relu_budget::layer_budget(f, b.relus))
}

fn to_json(
    plan: &Plan,
    groups: &[(String, Sum)],
    by: By,
    net: Link,
    latency: &Latency,
) -> serde_json::Value {
    let units = latency.total();
    let total = plan.total();
    let tensors: Vec<serde_json::Value> = plan
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({
                "id": i, "name": t.name, "shape": t.shape,
                "owner": format!("{:?}", t.owner).to_lowercase(),
                "bits": t.bits, "frac": t.frac, "nonneg": t.nonneg,
            })
        })
        .collect();
    let instructions: Vec<serde_json::Value> = plan
        .instrs
        .iter()
        .enumerate()
        .map(|(k, ins)| {
            serde_json::json!({
                "id": k, "op": ins.op.name(), "protocol": ins.op.protocol(),
                "layer": ins.layer, "args": ins.args, "out": ins.out, "span": ins.span,
                "bytes_server": ins.cost.server_bytes, "bytes_client": ins.cost.client_bytes,
                "rounds": ins.cost.rounds,
                "latency_units": latency.instrs.get(k),
                "pre_bytes_server": ins.pre.server_bytes, "pre_bytes_client": ins.pre.client_bytes,
                "pre_rounds": ins.pre.rounds,
            })
        })
        .collect();
    let grouped: Vec<serde_json::Value> = groups
        .iter()
        .map(|(k, g)| {
            serde_json::json!({
                "key": k, "instructions": g.count, "bytes_server": g.server,
                "bytes_client": g.client, "rounds": g.rounds, "latency_units": g.latency,
            })
        })
        .collect();
    serde_json::json!({
        "model": plan.model,
        "totals": {
            "bytes_server": total.server_bytes,
            "bytes_client": total.client_bytes,
            "rounds": total.rounds,
            "setup_bytes": SETUP_SERVER_BYTES + SETUP_CLIENT_BYTES,
            "setup_rounds": SETUP_FLIGHTS,
            "preprocessing_bytes_server": plan.pre_total().server_bytes,
            "preprocessing_bytes_client": plan.pre_total().client_bytes,
            "preprocessing_rounds": plan.pre_total().rounds,
        },
        "estimate": {
            "bits_per_s": net.bits_per_s, "rtt_s": net.rtt.as_secs_f64(),
            "latency_units": units,
            "seconds": net.estimate(total.server_bytes + total.client_bytes, units),
        },
        "by": format!("{by:?}").to_lowercase(),
        "block_relu": plan.block_relus().iter().map(|b| serde_json::json!({
            "instruction": b.instr, "layer": b.layer, "shape": b.shape,
            "patches": b.patches, "drelus": b.drelus, "relus": b.relus,
            "budget": layer_budget(plan, b),
            "drelu_bytes": b.drelu_bytes, "relu_drelu_bytes": b.relu_drelu_bytes,
            "sum_bits": b.sum_bits, "layer_bytes": b.layer_bytes, "relu_bytes": b.relu_bytes,
        })).collect::<Vec<_>>(),
        "groups": grouped,
        "tensors": tensors,
        "instructions": instructions,
    })
}
