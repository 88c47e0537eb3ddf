//! What `sir inspect --json` says about a plan — its instructions grouped by instruction,
//! layer or protocol, totals, latency, Block-ReLU layers, tensors — built once for `sir
//! inspect` and `sir report` (whose page embeds the same JSON).

use sir_runtime::exec::{self, Latency, Shape};
use sir_runtime::net::link::Link;
use sir_runtime::ot::cost::{SETUP_CLIENT_BYTES, SETUP_FLIGHTS, SETUP_SERVER_BYTES};
use sir_runtime::ot::pool;
use sir_runtime::plan::{BlockReluUse, Owner, Plan, render};
use sir_runtime::proto::{Cost, OtSession};
use std::collections::BTreeMap;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
/// How instructions are grouped.
pub enum By {
    Instruction,
    Layer,
    Protocol,
}

/// One group's totals.
#[derive(Default, Clone, Copy)]
pub struct Sum {
    pub server: u64,
    pub client: u64,
    pub rounds: u64,
    /// Latency units the group adds to the critical path.
    pub latency: u64,
    pub count: usize,
    /// Input-independent preprocessing bytes (both parties).
    pub pre: u64,
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
pub fn group(plan: &Plan, by: By, latency: &[u64]) -> Vec<(String, Sum)> {
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
        e.pre += ins.pre.total_bytes();
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

/// The power of two tensor `i`'s calibration values stayed below, if the plan records it (on
/// the tensor, or for an input or weight on its declaration).
pub fn calibrated_log2(plan: &Plan, i: usize) -> Option<u32> {
    plan.tensors[i].calibrated_log2.or_else(|| {
        plan.inputs
            .iter()
            .chain(&plan.params)
            .find(|io| io.tensor == i)
            .and_then(|io| io.calibrated_log2)
    })
}

/// The integer bits a format leaves above a calibrated range: bits − frac − 1 − log2.
pub fn headroom(bits: u32, frac: u32, log2: u32) -> i64 {
    bits as i64 - frac as i64 - 1 - log2 as i64
}

/// One row of [`tensor_rows`]: name, shape, owner, bits, frac, calibrated log2, count.
pub type TensorRow = (String, String, String, u32, u32, Option<u32>, usize);

/// Tensors with the same name, shape, format and calibrated range (e.g. one per unrolled step)
/// collapse into one row with a count.
pub fn tensor_rows(plan: &Plan) -> Vec<TensorRow> {
    let mut rows: Vec<TensorRow> = Vec::new();
    // A row's position by its key (everything but the count).
    let mut index: BTreeMap<TensorRow, usize> = BTreeMap::new();
    for (i, t) in plan.tensors.iter().enumerate() {
        if t.owner == Owner::Public {
            continue;
        }
        let name = t.name.clone().unwrap_or_else(|| "-".into());
        let shape = format!("{:?}", t.shape);
        let owner = format!("{:?}", t.owner).to_lowercase();
        let cal = calibrated_log2(plan, i);
        let k = (
            name.clone(),
            shape.clone(),
            owner.clone(),
            t.bits,
            t.frac,
            cal,
            0,
        );
        match index.get(&k) {
            Some(&r) => rows[r].6 += 1,
            None => {
                index.insert(k, rows.len());
                rows.push((name, shape, owner, t.bits, t.frac, cal, 1));
            }
        }
    }
    rows
}

/// A Block-ReLU layer's DReLU budget, for a plan compiled with `--relu-budget`.
pub fn layer_budget(plan: &Plan, b: &BlockReluUse) -> Option<usize> {
    plan.options["relu_budget_per_layer"]
        .as_f64()
        .map(|f| sir_compiler::relu_budget::layer_budget(f, b.relus))
}

/// The OT preprocessing of one inference on the plan's engine: the silent COTs its tasks use
/// (by OT sender: server, client), the exact cost of generating them in one run (setup
/// iteration included: a fixed ≈ 1.3 MB per direction for small demands) and what they cost
/// amortised over many inferences ([`pool::steady_bytes_per_cot`]). Zero on IKNP.
pub struct OtPre {
    pub cots: [u64; 2],
    pub cost: Cost,
    pub amortised_bytes: f64,
}

pub fn ot_pre(plan: &Plan) -> OtPre {
    let session = plan
        .check()
        .ok()
        .and_then(|info| exec::ot_session(plan, &info, Shape::ONE).ok())
        .unwrap_or(OtSession::IKNP);
    OtPre {
        cots: session.demand,
        cost: session.preprocess_cost(),
        amortised_bytes: (session.demand[0] + session.demand[1]) as f64
            * pool::steady_bytes_per_cot(),
    }
}

/// The JSON of `sir inspect --json`: `groups` grouped `by`, the estimate on `net`.
pub fn to_json(
    plan: &Plan,
    groups: &[(String, Sum)],
    by: By,
    net: Link,
    latency: &Latency,
) -> serde_json::Value {
    let units = latency.total();
    let total = plan.total();
    let ot = ot_pre(plan);
    let tensors: Vec<serde_json::Value> = plan
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let cal = calibrated_log2(plan, i);
            serde_json::json!({
                "id": i, "name": t.name, "shape": t.shape,
                "owner": format!("{:?}", t.owner).to_lowercase(),
                "bits": t.bits, "frac": t.frac, "nonneg": t.nonneg,
                "calibrated_log2": cal,
                "headroom_bits": cal.map(|k| headroom(t.bits, t.frac, k)),
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
                "preprocessing_bytes": g.pre,
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
            "ot": plan.ot.name(),
            "silent_cots": ot.cots[0] + ot.cots[1],
            "ot_preprocessing_bytes_server": ot.cost.server_bytes,
            "ot_preprocessing_bytes_client": ot.cost.client_bytes,
            "ot_preprocessing_rounds": ot.cost.rounds,
            "ot_preprocessing_amortised_bytes": ot.amortised_bytes,
        },
        "estimate": {
            "bits_per_s": net.bits_per_s, "rtt_s": net.rtt.as_secs_f64(),
            "latency_units": units,
            "preprocessing_latency_units": latency.pre,
            "seconds": net.estimate(total.server_bytes + total.client_bytes + plan.pre_total().total_bytes(), units),
        },
        "by": format!("{by:?}").to_lowercase(),
        "block_relu": plan.block_relus().iter().map(|b| serde_json::json!({
            "instruction": b.instr, "layer": b.layer, "shape": b.shape,
            "patches": b.patches, "drelus": b.drelus, "relus": b.relus,
            "budget": layer_budget(plan, b),
            "drelu_bytes": b.drelu_bytes, "relu_drelu_bytes": b.relu_drelu_bytes,
            "sum_bits": b.sum_bits, "layer_bytes": b.layer_bytes, "relu_bytes": b.relu_bytes,
        })).collect::<Vec<_>>(),
        "poly": storage_bits(plan).map_or_else(Vec::new, |bits| plan.polys(bits)).iter().map(|p| serde_json::json!({
            "instruction": p.instr, "layer": p.layer, "elements": p.elements,
            "ring_bits": p.ring_bits, "online_bytes": p.online_bytes, "rounds": p.rounds,
            "pre_bytes": p.pre_bytes, "relu_bytes": p.relu_bytes, "relu_rounds": p.relu_rounds,
        })).collect::<Vec<_>>(),
        "groups": grouped,
        "tensors": tensors,
        "instructions": instructions,
        // The compile's bound on unseen inputs (docs/precision.md) and the precision groups it
        // could not narrow within the budget.
        "accuracy": {
            "bound": plan.options["bound"],
            "binding": plan.options["search"]["binding"],
        },
    })
}

/// The plan's storage width: the pinned `--bits`, else the width the search chose (None for
/// a plan compiled without a search record).
pub fn storage_bits(plan: &Plan) -> Option<u32> {
    let o = &plan.options;
    sir_compiler::compile::recorded_bits(o)
        .ok()
        .flatten()
        .or_else(|| {
            o["search"]["chosen_bits"]
                .as_u64()
                .and_then(|b| u32::try_from(b).ok())
        })
}
