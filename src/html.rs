//! `sir report`: one self-contained HTML page of a plan's (and its runs') cost, precision and
//! choices. Everything is drawn here, in Rust, as HTML tables and inline SVG (no external
//! fetch, no script needed to read it; a few lines of inline script sort the tables), and the
//! data it is drawn from — `sir inspect --json` by layer and by protocol, the runs' reports —
//! is embedded as JSON for a reader to copy out. Large plans stay usable: costs are grouped
//! by layer and protocol (never one row per instruction), groups beyond [`MAX_ROWS`] are
//! folded into one "others" row, and the embedded JSON leaves out the per-instruction and
//! per-tensor arrays above [`MAX_EMBEDDED`] entries (`sir inspect --json` has them).

use crate::summary::{self, By};
use sir_runtime::exec::{self, Latency, Shape};
use sir_runtime::fixed::Patch;
use sir_runtime::net::link::Link;
use sir_runtime::plan::{Owner, Plan, PlanInfo, render};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rows drawn per cost table and chart; the rest are summed into one row.
pub const MAX_ROWS: usize = 40;
/// Per-instruction and per-tensor arrays longer than this are left out of the embedded JSON.
pub const MAX_EMBEDDED: usize = 2000;

/// One run's report (`sir run --report` / `sir simulate --report`), with where it came from.
pub struct RunReport {
    pub name: String,
    pub json: serde_json::Value,
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// 1234567 → "1,234,567".
fn num(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A table cell holding a number: shown with separators, sorted by its value.
fn ncell(n: u64) -> String {
    format!("<td class=n data-v=\"{n}\">{}</td>", num(n))
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}\
th{cursor:pointer;background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.kv td:first-child{color:#555}.note{color:#555;font-size:.92em}.grid{display:inline-block;margin:.4em 1em .4em 0;vertical-align:top}\
.cell{display:inline-block;width:34px;height:22px;margin:1px;font-size:10px;text-align:center;line-height:22px;color:#fff;border-radius:2px}\
svg text{font:11px system-ui,sans-serif}@media print{th{cursor:auto}}";

/// Sorts a table by a clicked header (numbers by `data-v`).
const SCRIPT: &str = "document.querySelectorAll('table.sort').forEach(function(t){\
t.querySelectorAll('th').forEach(function(h,i){h.addEventListener('click',function(){\
var b=t.tBodies[0],r=Array.prototype.slice.call(b.rows),d=h.dataset.d==='1'?-1:1;h.dataset.d=d===1?'1':'0';\
r.sort(function(x,y){var a=x.cells[i],c=y.cells[i];var u=a.dataset.v,v=c.dataset.v;\
if(u!==undefined&&v!==undefined)return d*(parseFloat(u)-parseFloat(v));return d*a.textContent.localeCompare(c.textContent);});\
r.forEach(function(x){b.appendChild(x);});});});});";

const SERVER: &str = "#3b6fb6";
const CLIENT: &str = "#e0883a";
const UNITS: &str = "#6a9f58";
const PRE: &str = "#a98bc9";

/// A horizontal stacked bar chart: per row, server and client bytes, and latency units beside.
fn bars(rows: &[(String, summary::Sum)]) -> String {
    let max_b = rows
        .iter()
        .map(|(_, g)| g.server + g.client + g.pre)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_u = rows
        .iter()
        .map(|(_, g)| g.latency)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (label_w, bw, uw, row_h) = (260.0, 460.0, 220.0, 18.0);
    let h = row_h * rows.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"bytes and latency units per group\">",
        label_w + bw + uw + 40.0
    );
    let _ = write!(
        s,
        "<text x=\"{label_w}\" y=\"12\">bytes: <tspan fill=\"{SERVER}\">server→client</tspan> + <tspan fill=\"{CLIENT}\">client→server</tspan> + <tspan fill=\"{PRE}\">preprocessing</tspan></text>\
         <text x=\"{}\" y=\"12\" fill=\"{UNITS}\">latency units on the critical path</text>",
        label_w + bw + 20.0
    );
    for (i, (k, g)) in rows.iter().enumerate() {
        let y = 20.0 + i as f64 * row_h;
        let ws = g.server as f64 / max_b * bw;
        let wc = g.client as f64 / max_b * bw;
        let wu = g.latency as f64 / max_u * uw;
        let wp = g.pre as f64 / max_b * bw;
        let label: String = k.chars().take(40).collect();
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{ws:.1}\" height=\"{}\" fill=\"{SERVER}\"><title>{}: server→client {} B</title></rect>\
             <rect x=\"{:.1}\" y=\"{y}\" width=\"{wc:.1}\" height=\"{}\" fill=\"{CLIENT}\"><title>{}: client→server {} B</title></rect>\
             <rect x=\"{:.1}\" y=\"{y}\" width=\"{wp:.1}\" height=\"{}\" fill=\"{PRE}\"><title>{}: preprocessing {} B</title></rect>\
             <rect x=\"{}\" y=\"{y}\" width=\"{wu:.1}\" height=\"{}\" fill=\"{UNITS}\"><title>{}: {} latency units</title></rect>",
            label_w - 6.0,
            y + 12.0,
            esc(&label),
            row_h - 4.0,
            esc(k),
            num(g.server),
            label_w + ws,
            row_h - 4.0,
            esc(k),
            num(g.client),
            label_w + ws + wc,
            row_h - 4.0,
            esc(k),
            num(g.pre),
            label_w + bw + 20.0,
            row_h - 4.0,
            esc(k),
            g.latency
        );
    }
    s.push_str("</svg>");
    s
}

/// The rows drawn: the first [`MAX_ROWS`] − 1 by bytes kept in order, the rest summed.
fn fold(groups: &[(String, summary::Sum)]) -> Vec<(String, summary::Sum)> {
    if groups.len() <= MAX_ROWS {
        return groups.to_vec();
    }
    let mut by_bytes: Vec<usize> = (0..groups.len()).collect();
    by_bytes.sort_by_key(|&i| std::cmp::Reverse(groups[i].1.server + groups[i].1.client));
    let keep: std::collections::BTreeSet<usize> =
        by_bytes.iter().take(MAX_ROWS - 1).copied().collect();
    let mut out: Vec<(String, summary::Sum)> = Vec::new();
    let mut rest = summary::Sum::default();
    let mut n = 0;
    for (i, (k, g)) in groups.iter().enumerate() {
        if keep.contains(&i) {
            out.push((k.clone(), *g));
        } else {
            n += 1;
            rest.server += g.server;
            rest.client += g.client;
            rest.rounds += g.rounds;
            rest.latency += g.latency;
            rest.count += g.count;
            rest.pre += g.pre;
        }
    }
    out.push((format!("({n} others)"), rest));
    out
}

fn cost_table(what: &str, rows: &[(String, summary::Sum)]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<table class=sort><thead><tr><th>{what}</th><th>instructions</th><th>server→client B</th>\
         <th>client→server B</th><th>flights</th><th>latency units</th><th>preprocessing B</th></tr></thead><tbody>"
    );
    for (k, g) in rows {
        let _ = write!(
            s,
            "<tr><td>{}</td>{}{}{}{}{}{}</tr>",
            esc(k),
            ncell(g.count as u64),
            ncell(g.server),
            ncell(g.client),
            ncell(g.rounds),
            ncell(g.latency),
            ncell(g.pre)
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// The colour of a patch choice in the Block-ReLU grids.
fn patch_colour(p: &Patch) -> &'static str {
    match p {
        Patch::Identity => "#7d7d7d",
        Patch::Zero => "#c9c9c9",
        Patch::Block(1, 1) => "#b33a3a",
        Patch::Block(h, w) if h * w <= 4 => "#d4843a",
        Patch::Block(h, w) if h * w <= 9 => "#3a7fb3",
        Patch::Block(..) => "#35568c",
    }
}

/// The inputs of one page.
pub struct Page<'a> {
    pub plan: &'a Plan,
    pub info: &'a PlanInfo,
    pub net: Link,
    pub runs: &'a [RunReport],
}

/// The whole page.
pub fn page(p: &Page<'_>) -> Result<String, String> {
    let Page {
        plan,
        info,
        net,
        runs,
    } = *p;
    let latency: Latency =
        exec::estimate_latency(plan, info, Shape::ONE).map_err(|e| e.to_string())?;
    let by_layer = summary::group(plan, By::Layer, &latency.instrs);
    let by_protocol = summary::group(plan, By::Protocol, &latency.instrs);
    let total = plan.total();
    let pre = plan.pre_total();
    let units = latency.total();
    let bytes = total.server_bytes + total.client_bytes + pre.total_bytes();
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>sir report: {m}</title>\
         <meta name=viewport content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <h1>Plan <code>{m}</code></h1>",
        m = esc(&plan.model)
    );

    // 1. Summary.
    let hash: String = plan.hash().iter().map(|b| format!("{b:02x}")).collect();
    let _ = write!(
        s,
        "<h2>1. Summary</h2><table class=kv>\
         <tr><td>plan hash</td><td><code>{hash}</code></td></tr>\
         <tr><td>source hash</td><td><code>{}</code></td></tr>\
         <tr><td>instructions</td><td id=instructions>{}</td></tr>\
         <tr><td>online, server→client</td><td id=bytes-server data-v=\"{}\">{} B</td></tr>\
         <tr><td>online, client→server</td><td id=bytes-client data-v=\"{}\">{} B</td></tr>\
         <tr><td>online flights</td><td id=rounds>{}</td></tr>\
         <tr><td>latency units (one-way delays on the critical path)</td><td id=latency-units>{units}</td></tr>\
         <tr><td>preprocessing (input-independent)</td><td id=preprocessing data-v=\"{}\">{} B + {} B in {} flights</td></tr>\
         <tr><td>setup (once per connection)</td><td>{} B + {} B</td></tr>\
         <tr><td>estimated time on {:.0} Mbit/s, {:.1} ms RTT</td><td id=estimate>{:.3} s ({:.3} s transfer + {:.3} s latency)</td></tr>",
        esc(&plan.source_hash),
        plan.instrs.len(),
        total.server_bytes,
        num(total.server_bytes),
        total.client_bytes,
        num(total.client_bytes),
        total.rounds,
        pre.server_bytes + pre.client_bytes,
        num(pre.server_bytes),
        num(pre.client_bytes),
        pre.rounds,
        num(sir_runtime::ot::cost::SETUP_SERVER_BYTES),
        num(sir_runtime::ot::cost::SETUP_CLIENT_BYTES),
        net.bits_per_s / 1e6,
        net.rtt.as_secs_f64() * 1e3,
        net.estimate(bytes, units),
        bytes as f64 * 8.0 / net.bits_per_s,
        units as f64 * net.rtt.as_secs_f64() / 2.0
    );
    let search = &plan.options["search"];
    if let Some(f) = search["float"].as_f64() {
        let chosen = search["widths"]
            .as_array()
            .and_then(|w| {
                w.iter()
                    .find(|c| c["bits"].as_u64() == search["chosen_bits"].as_u64())
            })
            .and_then(|c| c["metric"].as_f64());
        let acc = search["metric"] == "accuracy_percent";
        let what = match acc {
            true => "calibration accuracy",
            false => "largest output error vs float",
        };
        let fmt = |v: f64| match acc {
            true => format!("{v:.2} %"),
            false => format!("{v:.3e}"),
        };
        // The widths' metrics are on the search part (plans from before the held-back split:
        // the whole calibration set).
        let (f, part) = match search["float_search_part"].as_f64() {
            Some(fs) => (fs, " on the search part"),
            None => (f, ""),
        };
        let float = if acc {
            format!("float {}, ", fmt(f))
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "<tr><td>{what}{part} (at compile time)</td><td>{float}fixed point {} at {} bits</td></tr>",
            chosen.map_or("—".into(), fmt),
            search["chosen_bits"]
        );
    }
    if let Some(line) = sir_compiler::compile::bound_summary(&plan.options) {
        let _ = write!(
            s,
            "<tr><td>on unseen inputs</td><td>{}</td></tr>",
            esc(&line)
        );
    }
    let _ = write!(
        s,
        "<tr><td>options</td><td><code>{}</code></td></tr></table>",
        esc(&budget_text(&plan.options))
    );

    // 2. Where the cost goes.
    let _ = write!(
        s,
        "<h2>2. Where the cost goes</h2><p class=note>Per inference. Layers are the model's \
         statements in source order (a call: <code>function@line</code>); a group's latency \
         units are what it adds to the critical path. Click a column to sort.{}</p>",
        if by_layer.len() > MAX_ROWS || by_protocol.len() > MAX_ROWS {
            format!(" Beyond {MAX_ROWS} rows the smallest groups are summed into one.")
        } else {
            String::new()
        }
    );
    for (what, groups) in [("layer", &by_layer), ("protocol", &by_protocol)] {
        let rows = fold(groups);
        let _ = write!(
            s,
            "<h3>By {what}</h3>{}{}",
            bars(&rows),
            cost_table(what, &rows)
        );
    }

    // 3. Precision.
    precision(&mut s, plan);

    // 4. Activation co-design.
    codesign(&mut s, plan);

    // 5. Runs.
    if !runs.is_empty() {
        runs_section(&mut s, plan, &hash, info, runs)?;
    }

    // The data.
    let mut data = serde_json::json!({
        "by_layer": summary::to_json(plan, &by_layer, By::Layer, net, &latency),
        "by_protocol": summary::to_json(plan, &by_protocol, By::Protocol, net, &latency),
        "search": plan.options["search"],
        "runs": runs.iter().map(|r| serde_json::json!({"name": r.name, "report": r.json})).collect::<Vec<_>>(),
    });
    let mut omitted = Vec::new();
    for k in ["by_layer", "by_protocol"] {
        for arr in ["instructions", "tensors"] {
            let long = data[k][arr]
                .as_array()
                .is_some_and(|a| a.len() > MAX_EMBEDDED);
            if long {
                omitted.push(arr);
                data[k][arr] = serde_json::json!(format!(
                    "omitted: more than {MAX_EMBEDDED} (sir inspect --json has them)"
                ));
            }
        }
    }
    for r in data["runs"].as_array_mut().into_iter().flatten() {
        let long = r["report"]["instructions"]
            .as_array()
            .is_some_and(|a| a.len() > MAX_EMBEDDED);
        if long {
            r["report"]["instructions"] =
                serde_json::json!(format!("omitted: more than {MAX_EMBEDDED}"));
        }
    }
    omitted.dedup();
    let json = data.to_string().replace("</", "<\\/");
    let _ = write!(
        s,
        "<h2>The data</h2><p class=note>What this page is drawn from, as <code>sir inspect \
         --json</code> (by layer and by protocol) and the runs' reports give it{}: select the \
         block below, or read the <code>sir-data</code> script element.</p>\
         <details><summary>JSON ({} bytes)</summary><pre style=\"white-space:pre-wrap;word-break:break-all;font-size:11px\">{}</pre></details>\
         <script type=\"application/json\" id=\"sir-data\">{json}</script>\
         <script>{SCRIPT}</script></body></html>",
        if omitted.is_empty() {
            String::new()
        } else {
            format!(
                " (the {} arrays left out: more than {MAX_EMBEDDED} entries)",
                omitted.join(" and ")
            )
        },
        json.len(),
        esc(&data.to_string())
    );
    Ok(s)
}

/// The recorded options in a line.
fn budget_text(o: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(p) = o["budget"]["max_accuracy_loss"].as_f64() {
        parts.push(format!("--max-accuracy-loss {p}"));
    }
    if let Some(e) = o["budget"]["max_error"].as_f64() {
        parts.push(format!("--max-error {e:.3e}"));
    }
    if let Some(c) = o["budget"]["confidence"].as_f64() {
        parts.push(format!("--confidence {c}"));
    }
    if let Some(n) = o["calibration_samples"].as_u64() {
        parts.push(format!("{n} calibration samples"));
    }
    if let Some(b) = o["bits"].as_u64() {
        parts.push(format!("--bits {b}"));
    }
    if let Some(f) = o["relu_budget"].as_f64() {
        parts.push(format!("--relu-budget {f}"));
    }
    if let Some(f) = o["relu_budget_per_layer"].as_f64() {
        parts.push(format!("--relu-budget-per-layer {f}"));
    }
    if !o["net"].is_null() {
        parts.push(format!("--net {}", o["net"]));
    }
    parts.join(", ")
}

fn precision(s: &mut String, plan: &Plan) {
    let _ = write!(
        s,
        "<h2>3. Precision</h2><p class=note>Each model value's tensor: its format (bits, \
         fraction bits) and the power of two its calibration values stayed below; headroom = \
         integer bits − calibrated bits (the compiler keeps one). Tensors of the same name and \
         format (e.g. one per unrolled step) are one row with a count.</p>"
    );
    let mut rows: Vec<(String, u32, u32, u32, usize)> = Vec::new();
    let mut index: BTreeMap<(String, u32, u32, u32), usize> = BTreeMap::new();
    for t in &plan.tensors {
        let Some(cal) = t.calibrated_log2 else {
            continue;
        };
        if t.owner == Owner::Public {
            continue;
        }
        let name = t.name.clone().unwrap_or_else(|| "-".into());
        let k = (name.clone(), t.bits, t.frac, cal);
        match index.get(&k) {
            Some(&i) => rows[i].4 += 1,
            None => {
                index.insert(k, rows.len());
                rows.push((name, t.bits, t.frac, cal, 1));
            }
        }
    }
    // The inputs and weights first, in declaration order.
    let io_rows: Vec<(String, u32, u32, u32, usize)> = plan
        .inputs
        .iter()
        .chain(&plan.params)
        .filter_map(|io| {
            let t = &plan.tensors[io.tensor];
            Some((io.name.clone(), t.bits, t.frac, io.calibrated_log2?, 1))
        })
        .collect();
    let rows: Vec<_> = io_rows.into_iter().chain(rows).collect();
    if rows.is_empty() {
        s.push_str("<p>This plan records no calibrated ranges (compiled by an older sir).</p>");
    } else {
        // A strip per row: fraction bits, integer bits used, headroom.
        let row_h = 16.0;
        let shown: Vec<_> = rows.iter().take(200).collect();
        let _ = write!(
            s,
            "<svg width=\"760\" height=\"{}\" role=\"img\" aria-label=\"bits per tensor\">",
            shown.len() as f64 * row_h + 24.0
        );
        let _ = write!(
            s,
            "<text x=\"230\" y=\"12\"><tspan fill=\"#3b6fb6\">fraction bits</tspan> · \
             <tspan fill=\"#6a9f58\">integer bits the calibration used</tspan> · \
             <tspan fill=\"#c9c9c9\">headroom</tspan> · sign</text>"
        );
        for (i, (name, bits, frac, cal, _)) in shown.iter().enumerate() {
            let y = 18.0 + i as f64 * row_h;
            let unit = 8.0;
            let int = bits.saturating_sub(frac + 1);
            let used = (*cal).min(int);
            let label: String = name.chars().take(30).collect();
            let _ = write!(
                s,
                "<text x=\"222\" y=\"{}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"230\" y=\"{y}\" width=\"{}\" height=\"12\" fill=\"#3b6fb6\"/>\
                 <rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"12\" fill=\"#6a9f58\"/>\
                 <rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"12\" fill=\"#c9c9c9\"/>\
                 <rect x=\"{}\" y=\"{y}\" width=\"{unit}\" height=\"12\" fill=\"#555\"/>",
                y + 10.0,
                esc(&label),
                *frac as f64 * unit,
                230.0 + *frac as f64 * unit,
                used as f64 * unit,
                230.0 + (*frac + used) as f64 * unit,
                (int - used) as f64 * unit,
                230.0 + (*frac + int) as f64 * unit,
            );
        }
        s.push_str("</svg>");
        s.push_str(
            "<table class=sort><thead><tr><th>tensor</th><th>bits</th><th>fraction bits</th>\
             <th>calibrated below 2^</th><th>headroom bits</th><th>count</th></tr></thead><tbody>",
        );
        for (name, bits, frac, cal, count) in &rows {
            let int = bits.saturating_sub(frac + 1);
            let _ = write!(
                s,
                "<tr><td>{}</td>{}{}{}<td class=n data-v=\"{h}\">{h}</td>{}</tr>",
                esc(name),
                ncell(*bits as u64),
                ncell(*frac as u64),
                ncell(*cal as u64),
                ncell(*count as u64),
                h = int as i64 - *cal as i64
            );
        }
        s.push_str("</tbody></table>");
    }
    // The widths the search tried.
    let search = &plan.options["search"];
    let Some(widths) = search["widths"].as_array() else {
        return;
    };
    let acc = search["metric"] == "accuracy_percent";
    let _ = write!(
        s,
        "<h3>Widths the search tried</h3><p class=note>Bytes per inference (bars; the chosen \
         width dark, over-budget ones red) and the {} on the calibration set (the red curve, \
         on its own scale) at each storage width.</p>",
        if acc {
            "fixed-point accuracy"
        } else {
            "largest output error against float"
        }
    );
    let tried: Vec<(u64, u64, Option<f64>, bool)> = widths
        .iter()
        .filter_map(|w| {
            Some((
                w["bits"].as_u64()?,
                w["bytes"].as_u64()?,
                w["metric"].as_f64(),
                w["within"].as_bool().unwrap_or(false),
            ))
        })
        .collect();
    let chosen = search["chosen_bits"].as_u64();
    let max_b = tried.iter().map(|t| t.1).max().unwrap_or(1).max(1) as f64;
    let (w, h) = (560.0, 200.0);
    let _ = write!(
        s,
        "<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"bytes per width\"><g transform=\"translate(0,16)\">",
        w + 80.0,
        h + 56.0
    );
    let n = tried.len().max(1) as f64;
    for (i, (bits, bytes, metric, within)) in tried.iter().enumerate() {
        let x = 40.0 + i as f64 * (w / n);
        let bh = *bytes as f64 / max_b * h;
        let fill = if Some(*bits) == chosen {
            "#3b6fb6"
        } else if *within {
            "#9bb5da"
        } else {
            "#d9a0a0"
        };
        let m = match metric {
            Some(v) if acc => format!("{v:.2} %"),
            Some(v) => format!("{v:.2e}"),
            None => "stopped".into(),
        };
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{fill}\"><title>{bits} bits: {} B, {m}</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{bits} bits</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{m}</text>",
            h + 10.0 - bh,
            w / n - 10.0,
            num(*bytes),
            x + (w / n - 10.0) / 2.0,
            h + 26.0,
            x + (w / n - 10.0) / 2.0,
            h + 6.0 - bh
        );
    }
    // The metric as a curve over the bars (its own scale: lowest to highest value tried).
    let pts: Vec<(f64, f64)> = tried
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i, t.2?)))
        .map(|(i, m)| (40.0 + i as f64 * (w / n) + (w / n - 10.0) / 2.0, m))
        .collect();
    if pts.len() > 1 {
        let (lo, hi) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let span = (hi - lo).max(f64::MIN_POSITIVE);
        let path: Vec<String> = pts
            .iter()
            .map(|(x, m)| format!("{x:.1},{:.1}", 20.0 + (hi - m) / span * (h - 40.0)))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#b33a3a\" stroke-width=\"2\"><title>{} per width</title></polyline>",
            path.join(" "),
            if acc { "accuracy" } else { "largest error" }
        );
    }
    s.push_str("</g></svg>");
    let skipped: Vec<String> = widths
        .iter()
        .filter_map(|w| Some(format!("{} bits: {}", w["bits"], w["skipped"].as_str()?)))
        .collect();
    if !skipped.is_empty() {
        let _ = write!(
            s,
            "<p class=note>Skipped: {}.</p>",
            esc(&skipped.join("; "))
        );
    }
}

fn codesign(s: &mut String, plan: &Plan) {
    let blocks = plan.block_relus();
    let polys: Vec<usize> = (0..plan.instrs.len())
        .filter(|&k| matches!(plan.instrs[k].op, sir_runtime::plan::Op::Poly { .. }))
        .collect();
    if blocks.is_empty() && polys.is_empty() {
        return;
    }
    s.push_str("<h2>4. Activation co-design</h2>");
    for b in &blocks {
        let [c, h, w] = b.shape;
        let _ = write!(
            s,
            "<div class=grid><b>{}</b> [{c}, {h}, {w}]: {} DReLUs of plain ReLU's {} (saved {}); \
             the layer {} B against a ReLU's {} B ({:.1} %); sums compared at {} bits<br>",
            esc(b.layer.as_deref().unwrap_or("(unnamed)")),
            num(b.drelus as u64),
            num(b.relus as u64),
            num(b.relus.saturating_sub(b.drelus) as u64),
            num(b.layer_bytes),
            num(b.relu_bytes),
            100.0 * b.layer_bytes as f64 / b.relu_bytes.max(1) as f64,
            b.sum_bits
        );
        for ch in 0..c {
            let p = Patch::of_channel(&b.patches, ch).unwrap_or(Patch::Identity);
            let label = match p {
                Patch::Block(ph, pw) => format!("{ph}×{pw}"),
                Patch::Identity => "id".into(),
                Patch::Zero => "0".into(),
            };
            let _ = write!(
                s,
                "<span class=cell style=\"background:{}\" title=\"channel {ch}: {}\">{label}</span>",
                patch_colour(&p),
                esc(&p.to_string())
            );
        }
        s.push_str("</div>");
    }
    if !polys.is_empty() {
        s.push_str(
            "<h3>Polynomial layers</h3><table class=sort><thead><tr><th>instruction</th><th>layer</th>\
             <th>online B</th><th>online flights</th><th>preprocessing B</th><th>preprocessing flights</th></tr></thead><tbody>",
        );
        for k in polys {
            let ins = &plan.instrs[k];
            let _ = write!(
                s,
                "<tr><td>i{k} {}</td><td>{}</td>{}{}{}{}</tr>",
                esc(&render::op_text(&ins.op)),
                esc(ins.layer.as_deref().unwrap_or("")),
                ncell(ins.cost.total_bytes()),
                ncell(ins.cost.rounds),
                ncell(ins.pre.total_bytes()),
                ncell(ins.pre.rounds)
            );
        }
        s.push_str("</tbody></table>");
    }
}

/// The runs' section; `hash` is the plan's (hex), which every report must name.
fn runs_section(
    s: &mut String,
    plan: &Plan,
    hash: &str,
    info: &PlanInfo,
    runs: &[RunReport],
) -> Result<(), String> {
    s.push_str(
        "<h2>5. Runs</h2><p class=note>Measured against estimated, per layer (bytes this party \
         sent and received), from each report; and when each layer was on the wire, in turns \
         (latency units) of the run's schedule — every connection's flights take the same turns \
         — from an operand's arrival to the layer's last instruction's end.</p>",
    );
    for r in runs {
        let j = &r.json;
        if j["plan_hash"].as_str() != Some(hash) {
            return Err(format!("{}: a report of another plan", r.name));
        }
        let samples = j["samples"].as_u64().unwrap_or(1).max(1) as usize;
        let threads = j["threads"].as_u64().unwrap_or(1).max(1) as usize;
        let _ = write!(
            s,
            "<h3>{} ({} side, {samples} sample(s), {threads} connection(s))</h3>\
             <table class=kv><tr><td>bytes sent / received</td><td>{} / {} (estimated {} / {})</td></tr>\
             <tr><td>latency units</td><td>{} (estimated {})</td></tr><tr><td>time</td><td>{:.3} s</td></tr></table>",
            esc(&r.name),
            esc(j["role"].as_str().unwrap_or("?")),
            num(j["instruction_bytes_sent"].as_u64().unwrap_or(0)),
            num(j["instruction_bytes_received"].as_u64().unwrap_or(0)),
            num(j["estimated_bytes_sent"].as_u64().unwrap_or(0)),
            num(j["estimated_bytes_received"].as_u64().unwrap_or(0)),
            j["latency_units"],
            j["estimated_latency_units"],
            j["wall_s"].as_f64().unwrap_or(0.0)
        );
        let Some(instrs) = j["instructions"].as_array() else {
            continue;
        };
        // Per layer: measured and estimated bytes.
        let mut order: Vec<String> = Vec::new();
        let mut m: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        for v in instrs {
            let Some(k) = v["id"].as_u64().map(|k| k as usize) else {
                continue;
            };
            let layer = plan
                .instrs
                .get(k)
                .and_then(|i| i.layer.clone())
                .unwrap_or_else(|| "(unnamed)".into());
            let e = m.entry(layer.clone()).or_insert_with(|| {
                order.push(layer);
                [0; 4]
            });
            let g = |key: &str| v[key].as_u64().unwrap_or(0);
            e[0] += g("bytes_sent") + g("bytes_received");
            e[1] += g("estimated_bytes_sent") + g("estimated_bytes_received");
            e[2] += g("latency_units");
            e[3] += g("estimated_latency_units");
        }
        s.push_str(
            "<table class=sort><thead><tr><th>layer</th><th>measured B</th><th>estimated B</th>\
             <th>measured latency units</th><th>estimated</th></tr></thead><tbody>",
        );
        for k in order.iter().take(MAX_ROWS) {
            let e = m[k];
            let _ = write!(
                s,
                "<tr><td>{}</td>{}{}{}{}</tr>",
                esc(k),
                ncell(e[0]),
                ncell(e[1]),
                ncell(e[2]),
                ncell(e[3])
            );
        }
        s.push_str("</tbody></table>");
        // Timeline: each layer from its first start to its last end, in turns.
        let shape = Shape {
            batch: samples,
            threads,
        };
        let ends = exec::estimate_ends(plan, info, shape).map_err(|e| e.to_string())?;
        let mut writer = vec![usize::MAX; plan.tensors.len()];
        for (k, ins) in plan.instrs.iter().enumerate() {
            writer[ins.out] = k;
        }
        let mut span: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut lorder: Vec<String> = Vec::new();
        for (k, ins) in plan.instrs.iter().enumerate() {
            if ins.cost.rounds == 0 {
                continue;
            }
            let start = ins
                .args
                .iter()
                .filter_map(|&a| ends.get(*writer.get(a)?))
                .max()
                .copied()
                .unwrap_or(0);
            let layer = ins.layer.clone().unwrap_or_else(|| "(unnamed)".into());
            let e = span.entry(layer.clone()).or_insert_with(|| {
                lorder.push(layer);
                (u64::MAX, 0)
            });
            e.0 = e.0.min(start);
            e.1 = e.1.max(ends[k]);
        }
        let rank = |k: &String| {
            plan.layers
                .iter()
                .position(|l| l == k)
                .unwrap_or(usize::MAX)
        };
        lorder.sort_by_key(rank);
        lorder.truncate(MAX_ROWS);
        let last = span.values().map(|v| v.1).max().unwrap_or(1).max(1) as f64;
        let (lw, tw, rh) = (260.0, 640.0, 16.0);
        let _ = write!(
            s,
            "<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"timeline\"><text x=\"{lw}\" y=\"12\">turns 0 … {last}</text>",
            lw + tw + 20.0,
            lorder.len() as f64 * rh + 24.0
        );
        for (i, k) in lorder.iter().enumerate() {
            let (a, b) = span[k];
            let y = 18.0 + i as f64 * rh;
            let label: String = k.chars().take(40).collect();
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
                 <rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"12\" fill=\"#3b6fb6\"><title>{}: turns {a}–{b}</title></rect>",
                lw - 6.0,
                y + 10.0,
                esc(&label),
                lw + a as f64 / last * tw,
                ((b.saturating_sub(a)) as f64 / last * tw).max(1.0),
                esc(k)
            );
        }
        s.push_str("</svg>");
    }
    Ok(())
}
