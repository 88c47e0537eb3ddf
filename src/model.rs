//! The `.sir` side: checking a model file with its diagnostics printed, compiling it from its
//! weights and calibration files, and recompiling a plan's source to verify the plan. Errors
//! are printed here, so the error is the exit code.

use crate::fail;
use crate::files::{load_plan, read_inputs};
use sir_compiler::compile::{
    Budget, CompileInput, CompileOptions, Compiled, compile, recorded_bits, recorded_net,
};
use sir_compiler::eval::bind;
use sir_compiler::relu_budget::{self, ReluChoice};
use sir_runtime::net::link::Link;
use sir_runtime::npy;
use sir_runtime::ot::OtKind;
use sir_runtime::plan::Plan;
use std::path::Path;
use std::sync::Arc;

/// Checks a model file, printing every diagnostic; returns the typed program or an exit code.
pub fn load_model(
    path: &Path,
) -> Result<(sir_compiler::types::tir::Program, sir_compiler::Checked), i32> {
    let mut checked = match sir_compiler::check_file(path) {
        Ok(c) => c,
        Err(e) => return Err(fail(format_args!("cannot read {}: {e}", path.display()))),
    };
    for d in &checked.diagnostics {
        d.emit_stderr(&checked.sources);
    }
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    match checked.program.take() {
        Some(p) if errors == 0 => Ok((p, checked)),
        _ => Err(fail(format_args!(
            "could not check `{}` due to {errors} error{}",
            path.display(),
            if errors == 1 { "" } else { "s" }
        ))),
    }
}

/// `sir compile --ot`: an engine, or `auto` (the default): the formats are searched on IKNP's
/// prices (what small models keep) and the plan moves to silent OT when that is fewer bytes for
/// one inference, its preprocessing included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtChoice {
    Auto,
    Fixed(OtKind),
}

impl OtChoice {
    pub fn parse(s: &str) -> Result<OtChoice, String> {
        match s {
            "auto" => Ok(OtChoice::Auto),
            _ => s
                .parse()
                .map(OtChoice::Fixed)
                .map_err(|e: String| e.replace("(iknp or silent)", "(auto, iknp or silent)")),
        }
    }

    /// What a plan was compiled with (for `sir verify`).
    pub fn recorded(plan: &Plan) -> OtChoice {
        if plan.options["ot"].as_str() == Some("auto") {
            OtChoice::Auto
        } else {
            OtChoice::Fixed(plan.ot)
        }
    }
}

/// The files and choices a compilation starts from.
pub struct CompileFiles<'a> {
    pub model: &'a Path,
    pub weights: &'a Path,
    pub calib: &'a Path,
    pub labels: Option<&'a Path>,
    /// The default budget when `None`.
    pub budget: Option<Budget>,
    pub relu: Option<ReluChoice>,
    /// `--net`: minimise the estimated time on this link instead of the bytes.
    pub net: Option<Link>,
    /// `--bits`: the storage width, pinned.
    pub bits: Option<u32>,
    /// `--ot`: the OT engine the plan is priced for, or the cheaper one.
    pub ot: OtChoice,
    /// `--products offline`: products with the server's weights on masks prepared ahead.
    pub masked_products: bool,
    /// `--confidence`: of the bound on unseen inputs (the default when `None`).
    pub confidence: Option<f64>,
    /// For `sir verify` (its messages name the plan's recorded options, not flags).
    pub verifying: bool,
}

/// Loads the model, weights, calibration set and labels, and compiles under the budget: what
/// `sir compile` and `sir verify` share, with the calibration sample count. Diagnostics are
/// printed; the error is the exit code.
pub fn compile_files(files: CompileFiles<'_>) -> Result<(Compiled, usize), i32> {
    let CompileFiles {
        model,
        weights,
        calib,
        labels,
        budget,
        relu,
        net,
        bits,
        ot,
        masked_products,
        confidence,
        verifying,
    } = files;
    if let Some(ReluChoice::Budget(f) | ReluChoice::BudgetPerLayer(f)) = relu
        && let Err(e) = relu_budget::check_fraction(f)
    {
        return Err(fail(format_args!("--relu-budget: {e}")));
    }
    let (prog, checked) = load_model(model)?;
    let source = std::fs::read_to_string(model)
        .map_err(|e| fail(format_args!("cannot read {}: {e}", model.display())))?;
    let weights = npy::read_weights_within(weights, u64::MAX)
        .map_err(|e| e.to_string())
        .and_then(|w| {
            bind::bind_weights(&prog.model, w, &weights.display().to_string())
                .map_err(|e| e.to_string())
        })
        .map_err(fail)?;
    let batch = read_inputs(calib)
        .and_then(|a| {
            bind::bind_inputs(&prog.model, a, &calib.display().to_string())
                .map_err(|e| e.to_string())
        })
        .map_err(fail)?;
    let labels = match labels {
        None => None,
        Some(l) => {
            let v = npy::read_labels(l).map_err(fail)?;
            if let Some(i) = v.iter().position(|&x| x < 0) {
                return Err(fail(format_args!(
                    "--labels: label {} at index {i} is not a class (class indices are ≥ 0)",
                    v[i]
                )));
            }
            Some(v.into_iter().map(|x| x as usize).collect::<Vec<_>>())
        }
    };
    if let (Some(Budget::AccuracyLoss(p)), None) = (budget, &labels) {
        return Err(fail(if verifying {
            format!(
                "the plan was compiled with --labels (its budget: at most {p} points of accuracy lost): pass the same --labels to verify it"
            )
        } else {
            "--max-accuracy-loss needs --labels".to_string()
        }));
    }
    let weights: Vec<Arc<_>> = weights.into_iter().collect();
    let c = compile(
        &CompileInput {
            prog: &prog,
            source: &source,
            weights: &weights,
            calib: &batch,
            labels: labels.as_deref(),
        },
        &CompileOptions {
            budget,
            relu,
            net,
            bits,
            ot: match ot {
                OtChoice::Fixed(k) => k,
                OtChoice::Auto => OtKind::Iknp,
            },
            pick_ot: ot == OtChoice::Auto,
            masked_products,
            confidence,
            exact_products: false,
        },
    )
    .map_err(|e| match e.diagnostic() {
        // At the expression it concerns, as `sir check` reports.
        Some(d) => {
            d.emit_stderr(&checked.sources);
            1
        }
        None => fail(e),
    })?;
    let mut c = c;
    // Unnamed Block-ReLU layers are named by where they are.
    for l in c.relu_choices.iter_mut().filter(|l| l.layer.is_empty()) {
        let (line, col) = checked.sources.line_col(l.span);
        l.layer = format!("{}:{line}:{col}", checked.sources.name(l.span.file));
    }
    Ok((c, batch.samples))
}

/// The patches a plan compiled with `--relu-budget` (or pinned patches) recorded.
pub fn pinned_patches(path: &Path) -> Result<ReluChoice, String> {
    let (plan, _) = load_plan(path)?;
    relu_budget::recorded_patches(&plan.options)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(ReluChoice::Pinned)
        .ok_or_else(|| {
            format!(
                "{} records no Block-ReLU choices (compile it with --relu-budget)",
                path.display()
            )
        })
}

/// A plan and the files it claims to be compiled from.
pub struct VerifyFiles<'a> {
    pub plan: &'a Path,
    /// The `.sir` source.
    pub source: &'a Path,
    pub weights: &'a Path,
    pub calib: &'a Path,
    pub labels: Option<&'a Path>,
}

/// Where two plans first differ.
fn first_difference(a: &Plan, b: &Plan) -> String {
    if a.model != b.model {
        return format!("model `{}` against `{}`", a.model, b.model);
    }
    if a.options != b.options {
        return format!("options {} against {}", a.options, b.options);
    }
    if let Some(i) =
        (0..a.tensors.len().min(b.tensors.len())).find(|&i| a.tensors[i] != b.tensors[i])
    {
        let show = |t: &sir_runtime::plan::TensorDecl| {
            format!(
                "{} {:?} {:?} {}.{}{}",
                t.name.as_deref().unwrap_or("-"),
                t.shape,
                t.owner,
                t.bits,
                t.frac,
                if t.nonneg { "+" } else { "" }
            )
        };
        let (ta, tb) = (&a.tensors[i], &b.tensors[i]);
        if show(ta) == show(tb) {
            // Same declaration: a constant's values differ.
            let (va, vb) = (
                ta.value.as_deref().unwrap_or(&[]),
                tb.value.as_deref().unwrap_or(&[]),
            );
            let k = (0..va.len().max(vb.len()))
                .find(|&k| va.get(k) != vb.get(k))
                .unwrap_or(0);
            let at = |v: &[i64]| v.get(k).map_or("none".to_string(), |x| x.to_string());
            return format!(
                "tensor {i} ({}): constant element {k} is {} in the plan, {} compiled now",
                show(ta),
                at(va),
                at(vb)
            );
        }
        return format!(
            "tensor {i}: {} (plan) against {} (compiled now)",
            show(ta),
            show(tb)
        );
    }
    if a.tensors.len() != b.tensors.len() {
        return format!("{} tensors against {}", a.tensors.len(), b.tensors.len());
    }
    if let Some(k) = (0..a.instrs.len().min(b.instrs.len())).find(|&k| a.instrs[k] != b.instrs[k]) {
        return format!(
            "instruction {k}: {} against {}",
            serde_json::to_string(&a.instrs[k]).unwrap_or_default(),
            serde_json::to_string(&b.instrs[k]).unwrap_or_default()
        );
    }
    if a.instrs.len() != b.instrs.len() {
        return format!("{} instructions against {}", a.instrs.len(), b.instrs.len());
    }
    "the inputs, weights or outputs listed".into()
}

/// `sir verify`: recompiles the plan's source with its recorded options and compares; returns
/// the exit code.
pub fn verify(args: &VerifyFiles<'_>) -> i32 {
    let plan = match load_plan(args.plan) {
        Ok((p, _)) => p,
        Err(e) => return fail(e),
    };
    let source = match std::fs::read(args.source) {
        Ok(s) => s,
        Err(e) => return fail(format_args!("cannot read {}: {e}", args.source.display())),
    };
    let hash = blake3::hash(&source).to_hex().to_string();
    if hash != plan.source_hash {
        return fail(format_args!(
            "{} was not compiled from {}: its source hash is {}, the file's {hash}",
            args.plan.display(),
            args.source.display(),
            plan.source_hash
        ));
    }
    let budget = match Budget::recorded(&plan.options) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let confidence = match Budget::recorded_confidence(&plan.options) {
        Ok(c) => c,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let relu = match ReluChoice::recorded(&plan.options) {
        Ok(r) => r,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let net = match recorded_net(&plan.options) {
        Ok(n) => n,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let bits = match recorded_bits(&plan.options) {
        Ok(b) => b,
        Err(e) => return fail(format_args!("{}: {e}", args.plan.display())),
    };
    let (c, samples) = match compile_files(CompileFiles {
        model: args.source,
        weights: args.weights,
        calib: args.calib,
        labels: args.labels,
        budget: Some(budget),
        relu,
        net,
        bits,
        ot: OtChoice::recorded(&plan),
        masked_products: plan.masked_products,
        confidence: Some(confidence),
        verifying: true,
    }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(n) = plan.options["calibration_samples"].as_u64()
        && n as usize != samples
    {
        return fail(format_args!(
            "the plan was calibrated on {n} samples, {} holds {samples}",
            args.calib.display()
        ));
    }
    if c.plan != plan {
        return fail(format_args!(
            "{} is NOT what {} compiles to with its recorded options: first difference at {}",
            args.plan.display(),
            args.source.display(),
            first_difference(&plan, &c.plan)
        ));
    }
    println!(
        "verified: {} is exactly what {} compiles to ({} instructions, plan hash {})",
        args.plan.display(),
        args.source.display(),
        plan.instrs.len(),
        blake3::Hash::from(plan.hash()).to_hex()
    );
    0
}
