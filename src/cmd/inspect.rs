//! `sir inspect PLAN [--by instruction|layer|protocol] [--net lan|wan|BW,RTT] [--json]`: the
//! tensors with their formats, the instructions' communication grouped as asked, totals, the
//! one-time setup, and an estimated wall time on a network.

use sir_cli::fail;
pub use sir_cli::summary::By;
use sir_cli::summary::{Sum, group, headroom, layer_budget, tensor_rows, to_json};
use sir_runtime::exec::{self, Latency, Shape};
use sir_runtime::net::link::Link;
use sir_runtime::ot::cost::{SETUP_CLIENT_BYTES, SETUP_FLIGHTS, SETUP_SERVER_BYTES};
use sir_runtime::plan::{Plan, render};
use std::path::PathBuf;

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
        "plan `{}`: {} tensors, {} instructions, OT engine {}",
        plan.model,
        plan.tensors.len(),
        plan.instrs.len(),
        plan.ot
    );
    if !args.brief {
        let _ = writeln!(
            s,
            "\ntensors (identical rows counted; calib: calibration values stayed below this \
             power of two; headroom: integer bits the format leaves above it):"
        );
        let _ = writeln!(
            s,
            "  {:<16} {:<14} {:<9} {:>4} {:>4} {:>6} {:>8} {:>6}",
            "name", "shape", "owner", "bits", "frac", "calib", "headroom", "count"
        );
        for (name, shape, owner, bits, frac, cal, count) in tensor_rows(plan) {
            let (c, h) = match cal {
                Some(k) => (format!("2^{k}"), headroom(bits, frac, k).to_string()),
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "  {name:<16} {shape:<14} {owner:<9} {bits:>4} {frac:>4} {c:>6} {h:>8} {count:>6}"
            );
        }
    }
    if !args.brief {
        // What the compiler learnt of the accuracy: its bound on unseen inputs, and the values
        // it could not narrow without breaking the budget.
        if let Some(line) = sir_compiler::compile::bound_summary(&plan.options) {
            let _ = writeln!(s, "\naccuracy: {line}");
        }
        if let Some(b) = plan.options["search"]["binding"].as_array()
            && !b.is_empty()
        {
            let names: Vec<&str> = b.iter().filter_map(|v| v.as_str()).collect();
            let _ = writeln!(
                s,
                "the accuracy is bound by (narrowing any of these breaks the budget): {}",
                names.join(", ")
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
    let ot = sir_cli::summary::ot_pre(plan);
    if !ot.cost.is_zero() {
        let _ = writeln!(
            s,
            "  {:<34} {:>6} {:>14} {:>14} {:>8}   (silent OT: {} COTs generated before the input; {:.0} B amortised over many inferences)",
            "OT preprocessing",
            "",
            ot.cost.server_bytes,
            ot.cost.client_bytes,
            ot.cost.rounds,
            ot.cots[0] + ot.cots[1],
            ot.amortised_bytes,
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
    let bits = sir_cli::summary::storage_bits(plan);
    let polys = bits.map_or_else(Vec::new, |b| plan.polys(b));
    if let Some(bits) = bits
        && !polys.is_empty()
    {
        let _ = writeln!(
            s,
            "\npolynomial layers (per sample; beside plain ReLU on as many elements at the {bits}-bit storage width; the ring's conversions count with the neighbouring layers, so compare whole plans for the activation's cost):"
        );
        for p in &polys {
            let _ = writeln!(
                s,
                "  i{} {} ({} elements, ring {} bits): {} B online, flights {}, + {} B of preprocessing; ReLU {} B, flights {}",
                p.instr,
                p.layer.as_deref().unwrap_or("(unnamed)"),
                p.elements,
                p.ring_bits,
                p.online_bytes,
                p.rounds,
                p.pre_bytes,
                p.relu_bytes,
                p.relu_rounds,
            );
        }
    }
    // A run does its preprocessing too: its bytes are on the link, its flights in `units`.
    let bytes = total.server_bytes + total.client_bytes + pre.total_bytes();
    let t = net.estimate(bytes, units);
    let of_pre = match pre.is_zero() {
        true => String::new(),
        false => format!(
            ", {:.3} s of it the preprocessing's bytes",
            pre.total_bytes() as f64 * 8.0 / net.bits_per_s
        ),
    };
    let _ = writeln!(
        s,
        "\nestimated time on {:.0} Mbit/s, {:.1} ms RTT: {:.3} s ({:.3} s transfer{of_pre} + {:.3} s latency: {units} latency units on the critical path, one-way delays, for {} flights)",
        net.bits_per_s / 1e6,
        net.rtt.as_secs_f64() * 1e3,
        t,
        bytes as f64 * 8.0 / net.bits_per_s,
        units as f64 * net.rtt.as_secs_f64() / 2.0,
        total.rounds
    );
    if !ot.cost.is_zero() {
        // Each of its flights waits for the previous one at most.
        let ot_bytes = ot.cost.total_bytes();
        let _ = writeln!(
            s,
            "before it, the silent COTs' generation: at most {:.3} s ({:.3} s transfer + {} flights × {:.1} ms)",
            net.estimate(ot_bytes, ot.cost.rounds),
            ot_bytes as f64 * 8.0 / net.bits_per_s,
            ot.cost.rounds,
            net.rtt.as_secs_f64() * 1e3 / 2.0
        );
    }
    s
}
