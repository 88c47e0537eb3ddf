//! The plan as stable, diffable text: what snapshot tests pin and `sir inspect` starts from.

use std::fmt::Write as _;

use super::{Op, Plan, Sel, TensorDecl, Trunc};

fn fmt_tensor(t: &TensorDecl) -> String {
    format!("{}.{}{}", t.bits, t.frac, if t.nonneg { "+" } else { "" })
}

fn shape(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Per-channel patch choices as runs of equal ones, channels in order: `8x8 *3, identity, 2x2`.
pub fn patch_runs(patches: &[crate::fixed::Patch]) -> String {
    let mut runs: Vec<(crate::fixed::Patch, usize)> = Vec::new();
    for &p in patches {
        match runs.last_mut() {
            Some((q, n)) if *q == p => *n += 1,
            _ => runs.push((p, 1)),
        }
    }
    let parts: Vec<String> = runs
        .iter()
        .map(|(p, n)| {
            if *n > 1 {
                format!("{p} *{n}")
            } else {
                p.to_string()
            }
        })
        .collect();
    parts.join(", ")
}

/// The operation with its static parameters, as one word or call.
pub fn op_text(op: &Op) -> String {
    match op {
        Op::Select { sels } => {
            let parts: Vec<String> = sels
                .iter()
                .map(|s| match s {
                    Sel::Index(i) => i.to_string(),
                    Sel::Range(a, b) => format!("{a}..{b}"),
                    Sel::Full => ":".into(),
                })
                .collect();
            format!("select[{}]", parts.join(", "))
        }
        Op::Concat { axis } => format!("concat(axis={axis})"),
        Op::Sum { axis: Some(a) } => format!("sum(axis={a})"),
        Op::Sum { axis: None } => "sum".into(),
        Op::Truncate { shift, mode } => format!(
            "{}({shift})",
            match mode {
                Trunc::Reduce => "tr",
                Trunc::Ars => "ars",
                Trunc::ArsRound => "ars_round",
            }
        ),
        Op::BlockRelu { patches } => format!("block_relu({})", patch_runs(patches)),
        Op::Math { func, cols, .. } if *cols > 1 => format!("{}(rows of {cols})", func.name()),
        Op::Math {
            func,
            spline: Some(sp),
            ..
        } => match sp {
            crate::math::funcs::Spline::Linear { g } => {
                format!("{}(spline, 2^{g} lines)", func.name())
            }
            crate::math::funcs::Spline::Quadratic(q) => {
                let w = if q.wide { ", wide" } else { "" };
                let fold = if q.fold { " of |x|" } else { "" };
                format!("{}(spline, 2^{} quadratics{fold}{w})", func.name(), q.g)
            }
        },
        other => other.name().to_string(),
    }
}

/// The whole plan as text: header, tensors (id, name, shape, owner, bits.frac, `+` when known
/// non-negative), instructions with their cost per party and rounds, outputs and totals.
pub fn render(plan: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "plan {} (format v{})", plan.model, plan.version);
    let _ = writeln!(s, "source blake3 {}", plan.source_hash);
    let _ = writeln!(s, "tensors:");
    for (i, t) in plan.tensors.iter().enumerate() {
        let owner = format!("{:?}", t.owner).to_lowercase();
        let _ = writeln!(
            s,
            "  t{i:<4} {:<12} {:<14} {:<8} {}",
            t.name.as_deref().unwrap_or("-"),
            shape(&t.shape),
            owner,
            fmt_tensor(t)
        );
    }
    let _ = writeln!(
        s,
        "instructions:                                        server B   client B  rounds"
    );
    for (k, ins) in plan.instrs.iter().enumerate() {
        let args: Vec<String> = ins.args.iter().map(|a| format!("t{a}")).collect();
        let line = format!("t{} = {} {}", ins.out, op_text(&ins.op), args.join(", "));
        let _ = writeln!(
            s,
            "  i{k:<4} {line:<44} {:>9} {:>10} {:>7}",
            ins.cost.server_bytes, ins.cost.client_bytes, ins.cost.rounds
        );
    }
    let _ = writeln!(s, "inputs (client):");
    for io in &plan.inputs {
        let _ = writeln!(s, "  {} = t{}", io.name, io.tensor);
    }
    let _ = writeln!(s, "weights (server):");
    for io in &plan.params {
        let _ = writeln!(s, "  {} = t{}", io.name, io.tensor);
    }
    let _ = writeln!(s, "outputs (client):");
    for io in &plan.outputs {
        let _ = writeln!(s, "  {} = t{}", io.name, io.tensor);
    }
    let c = plan.total();
    let _ = writeln!(
        s,
        "total: server sends {} B, client sends {} B, {} rounds",
        c.server_bytes, c.client_bytes, c.rounds
    );
    s
}
