//! Grouping independent instructions into shared rounds (DESIGN.md "Performance design": batch
//! independent instructions of the same kind).
//!
//! An instruction's *level* is the number of communicating instructions on the longest path
//! from the inputs to it; two communicating instructions of one level never depend on each
//! other. Within a level, elementwise protocol instructions with the same parameters
//! (operation, operand and result formats) become one: their operands are flattened and
//! concatenated (free), the protocol runs once on the whole vector — one set of messages
//! instead of one per instruction — and each original result is sliced back out (free).
//! The plan is re-emitted level by level (each level's local instructions first, in their
//! original order, then its communicating ones), which keeps every operand written before
//! it is read, and every instruction's cost is recomputed by `Plan::push`.

use std::collections::BTreeMap;

use sir_runtime::plan::{Instr, MathOp, Op, Owner, Plan, PlanError, Sel, TensorDecl};

/// What must agree for two instructions to run as one call.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    op: String,
    args: Vec<(u32, u32, bool)>,
    out: (u32, u32, bool),
}

fn groupable(op: &Op) -> bool {
    match op {
        Op::Extend | Op::Truncate { .. } | Op::Mult | Op::Relu => true,
        Op::Math { cols, func, .. } => {
            *cols == 1 && !matches!(func, MathOp::Softmax | MathOp::Layernorm | MathOp::Argmax)
        }
        _ => false,
    }
}

/// The plan with independent same-kind instructions of each level merged.
pub fn group_rounds(plan: Plan) -> Result<Plan, PlanError> {
    let n = plan.instrs.len();
    let mut out_level = vec![0usize; plan.tensors.len()];
    let mut level = vec![0usize; n];
    for (k, ins) in plan.instrs.iter().enumerate() {
        let l = ins.args.iter().map(|&a| out_level[a]).max().unwrap_or(0);
        level[k] = l;
        let talks = ins.cost.server_bytes + ins.cost.client_bytes + ins.cost.rounds > 0;
        out_level[ins.out] = l + talks as usize;
    }
    let top = level.iter().copied().max().unwrap_or(0);
    let mut by_level: Vec<Vec<usize>> = vec![Vec::new(); top + 1];
    for (k, &l) in level.iter().enumerate() {
        by_level[l].push(k);
    }
    let mut tensors = plan.tensors.clone();
    let old = plan.instrs;
    let mut new = Plan {
        instrs: Vec::with_capacity(n),
        tensors: Vec::new(),
        ..plan
    };
    new.tensors = std::mem::take(&mut tensors);
    for ks in by_level {
        let talks = |k: &usize| {
            let c = old[*k].cost;
            c.server_bytes + c.client_bytes + c.rounds > 0
        };
        for &k in ks.iter().filter(|k| !talks(k)) {
            re_push(&mut new, &old[k])?;
        }
        // Communicating ones: grouped by key, groups in order of their first member.
        let mut groups: BTreeMap<(usize, Key), Vec<usize>> = BTreeMap::new();
        let mut first: BTreeMap<Key, usize> = BTreeMap::new();
        for &k in ks.iter().filter(|k| talks(k)) {
            let ins = &old[k];
            if !groupable(&ins.op) {
                groups.insert((k, Key::solo(k)), vec![k]);
                continue;
            }
            let key = key_of(&new, ins);
            let f = *first.entry(key.clone()).or_insert(k);
            groups.entry((f, key)).or_default().push(k);
        }
        for (_, members) in groups {
            if members.len() == 1 {
                re_push(&mut new, &old[members[0]])?;
            } else {
                merge(&mut new, &old, &members)?;
            }
        }
    }
    Ok(new)
}

impl Key {
    /// A key no other instruction shares.
    fn solo(k: usize) -> Key {
        Key {
            op: format!("#{k}"),
            args: Vec::new(),
            out: (0, 0, false),
        }
    }
}

fn fmt(t: &TensorDecl) -> (u32, u32, bool) {
    (t.bits, t.frac, t.nonneg)
}

fn key_of(plan: &Plan, ins: &Instr) -> Key {
    Key {
        op: serde_json::to_string(&ins.op).unwrap_or_default(),
        args: ins.args.iter().map(|&a| fmt(&plan.tensors[a])).collect(),
        out: fmt(&plan.tensors[ins.out]),
    }
}

fn re_push(plan: &mut Plan, ins: &Instr) -> Result<(), PlanError> {
    plan.push(
        ins.op.clone(),
        ins.args.clone(),
        ins.out,
        ins.span,
        ins.layer.clone(),
    )
}

/// A shared tensor like `like` with another shape (and, given one, another name).
fn shaped(plan: &mut Plan, like: usize, shape: Vec<usize>, name: Option<String>) -> usize {
    let t = &plan.tensors[like];
    let t = TensorDecl {
        name: name.or_else(|| t.name.clone()),
        shape,
        owner: Owner::Shared,
        bits: t.bits,
        frac: t.frac,
        nonneg: t.nonneg,
        value: None,
        calibrated_log2: None,
    };
    plan.tensor(t)
}

/// The name of a join of `parts`: each member's name once, in order, joined by ` ‖ ` (so a
/// join of `b1` and `b2` is not listed as `b1`); unnamed members show as `-`.
fn joined_name(plan: &Plan, parts: &[usize]) -> Option<String> {
    let mut names: Vec<&str> = Vec::new();
    for &p in parts {
        let n = plan.tensors[p].name.as_deref().unwrap_or("-");
        if !names.contains(&n) {
            names.push(n);
        }
    }
    match names.as_slice() {
        ["-"] => None,
        _ => Some(names.join(" ‖ ")),
    }
}

/// `members` (same key, one level) as concat → one call → slices.
fn merge(plan: &mut Plan, old: &[Instr], members: &[usize]) -> Result<(), PlanError> {
    let first = &old[members[0]];
    let (span, layer) = (first.span, first.layer.clone());
    let sizes: Vec<usize> = members
        .iter()
        .map(|&k| plan.tensors[old[k].out].numel())
        .collect();
    let total: usize = sizes.iter().sum();
    let mut wide_args = Vec::new();
    for p in 0..first.args.len() {
        let mut parts = Vec::new();
        for &k in members {
            let a = old[k].args[p];
            let flat = if plan.tensors[a].shape.len() == 1 {
                a
            } else {
                let f = shaped(plan, a, vec![plan.tensors[a].numel()], None);
                plan.push(Op::Reshape, vec![a], f, span, layer.clone())?;
                f
            };
            parts.push(flat);
        }
        let wide = shaped(plan, parts[0], vec![total], joined_name(plan, &parts));
        plan.push(Op::Concat { axis: 0 }, parts, wide, span, layer.clone())?;
        wide_args.push(wide);
    }
    let outs: Vec<usize> = members.iter().map(|&k| old[k].out).collect();
    let out = shaped(plan, first.out, vec![total], joined_name(plan, &outs));
    plan.push(first.op.clone(), wide_args, out, span, layer.clone())?;
    let mut off = 0;
    for (&k, &sz) in members.iter().zip(&sizes) {
        let target = old[k].out;
        let piece = shaped(plan, target, vec![sz], None);
        plan.push(
            Op::Select {
                sels: vec![Sel::Range(off, off + sz)],
            },
            vec![out],
            piece,
            old[k].span,
            old[k].layer.clone(),
        )?;
        plan.push(
            Op::Reshape,
            vec![piece],
            target,
            old[k].span,
            old[k].layer.clone(),
        )?;
        off += sz;
    }
    Ok(())
}
