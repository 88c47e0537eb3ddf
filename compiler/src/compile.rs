//! The compiler driver: checked program + weights + calibration data → plan.
//!
//! graph (inline, unroll, fold, CSE, DCE) → ranges on the calibration set (float) → for each
//! candidate storage width: formats, lowering, the cleartext fixed-point run of the plan on
//! the ranking quarter of the calibration set, compared with float → per-tensor narrowing of
//! the ranking's choice → the candidates confirmed on the three quarters held back, most
//! expensive first (fixed-sequence testing, [`crate::confidence`]) → the cheapest confirmed
//! plan (fewest bytes), with its upper confidence bound on the loss on unseen inputs. The
//! search is over a handful of widths and at most 3 trials per tensor narrowed, each costing
//! one lowering and one fixed-point pass over a part of the calibration set, so it scales
//! linearly in model size × samples and cannot explode on long unrolled loops.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use sir_runtime::Tensor;
use sir_runtime::fixed::Fx;
use sir_runtime::net::link::Link;
use sir_runtime::ot::OtKind;
use sir_runtime::plan::clear::{dequantize, quantize};
use sir_runtime::plan::{Plan, PlanInfo};
use sir_runtime::tensor::ClassRule;

use crate::confidence;
use crate::eval::bind::Batch;
use crate::graph;
use crate::lower::{self, LowerError, Meta};
use crate::precision;
use crate::relu_budget::ReluChoice;
use crate::types::tir;

/// Calibration samples evaluated between budget checks.
const CHUNK: usize = 16;

/// The share of the flips a width's ranking may show that a narrowing's may: the narrowed
/// plan is confirmed as a whole, after all its narrowings, so each step keeps a margin.
const NARROW_SHARE: f64 = 0.5;

/// The most precision units (tensors) stage 2 tries to narrow.
pub const MAX_GROUPS: usize = 64;

/// The storage widths tried, narrowest first.
pub const WIDTHS: [u32; 7] = [8, 10, 12, 16, 20, 24, 32];

/// What the plan must preserve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// Classification accuracy on the calibration labels may drop at most this many
    /// percentage points below float.
    AccuracyLoss(f64),
    /// No output may differ from float by more than this.
    MaxError(f64),
}

impl Budget {
    /// The confidence a plan's options record for its budget's bound (plans from before
    /// `--confidence`: the default).
    pub fn recorded_confidence(options: &serde_json::Value) -> Result<f64, String> {
        match &options["budget"]["confidence"] {
            serde_json::Value::Null => Ok(confidence::DEFAULT),
            v => v
                .as_f64()
                .filter(|c| valid_confidence(*c))
                .ok_or_else(|| format!("the plan's budget confidence is malformed: {v}")),
        }
    }

    /// The budget a plan's options record (what `compile` writes there).
    pub fn recorded(options: &serde_json::Value) -> Result<Budget, String> {
        let b = &options["budget"];
        if let Some(p) = b["max_accuracy_loss"].as_f64() {
            Ok(Budget::AccuracyLoss(p))
        } else if let Some(e) = b["max_error"].as_f64() {
            Ok(Budget::MaxError(e))
        } else {
            Err("the plan records no budget among its options".into())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Build(#[from] graph::BuildError),
    #[error(transparent)]
    Eval(#[from] graph::GraphEvalError),
    #[error(transparent)]
    Lower(#[from] LowerError),
    #[error("the calibration set is empty")]
    NoCalibration,
    #[error(transparent)]
    ReluBudget(#[from] crate::relu_budget::BudgetError),
    #[error("{labels} labels for {samples} calibration samples")]
    Labels { labels: usize, samples: usize },
    #[error("--labels: {0}")]
    LabelValues(String),
    #[error("no storage width meets the budget ({budget}); best: {best}")]
    Budget { budget: String, best: String },
    #[error("--bits {0} is not a storage width the compiler uses (8, 10, 12, 16, 20, 24 or 32)")]
    Width(u32),
    #[error("--confidence {0} is not a probability strictly between 0.5 and 1 (e.g. 0.95)")]
    Confidence(f64),
    #[error(
        "the calibration set is too small for a loss of at most {budget} point(s) at {pct}% \
         confidence: of its {samples} samples {held} are held back to confirm the plan, and even \
         with no prediction changed among them the loss on unseen inputs is bounded only by \
         {best:.2} points; {need}",
        pct = confidence * 100.0
    )]
    TooFewSamples {
        budget: f64,
        confidence: f64,
        samples: usize,
        held: usize,
        best: f64,
        /// How many samples would do, or why none would.
        need: String,
    },
}

/// Confidences the bound is computed at: above a coin flip, below certainty.
fn valid_confidence(c: f64) -> bool {
    c.is_finite() && c > 0.5 && c < 1.0
}

impl CompileError {
    /// The error as a diagnostic at the source expression it concerns, where it has one: an
    /// operation the two-party runtime cannot run yet (E0501), a program that cannot be
    /// unrolled (E0502).
    pub fn diagnostic(&self) -> Option<crate::diag::Diagnostic> {
        use crate::diag::Diagnostic;
        match self {
            CompileError::Lower(LowerError::Unsupported { what, span }) => Some(
                Diagnostic::error("E0501", self.to_string(), *span, "this expression").with_help(
                    format!(
                        "`sir check` and `sir eval` accept it; two parties cannot compute {what} \
                         yet"
                    ),
                ),
            ),
            CompileError::Build(e) => Some(Diagnostic::error(
                "E0502",
                e.to_string(),
                e.span(),
                "while unrolling this",
            )),
            _ => None,
        }
    }
}

/// One candidate width and how it did.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub bits: u32,
    /// Total bytes both parties send (excluding setup), or the lowering error.
    pub bytes: Result<u64, String>,
    /// The fixed-point metric (accuracy in % or max error).
    pub metric: Option<f64>,
    /// For a trial stopped as soon as the budget was certainly exceeded (no `metric`), what
    /// it had reached on the samples evaluated so far.
    pub stopped: Option<String>,
    pub within: bool,
    /// With `--net`, the estimated seconds of one inference on that link.
    pub seconds: Option<f64>,
    /// For a width within the budget on the search part: its bound on the held-back part
    /// (accuracy points, or % of inputs over the error budget) and whether it confirmed the
    /// budget; None when the confirmation stopped before it (a more expensive width failed).
    pub confirmed: Option<(f64, bool)>,
}

/// What the held-back samples say of the chosen plan ([`crate::confidence`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub confidence: f64,
    /// Calibration samples the search ranked candidates on.
    pub search: usize,
    /// Samples held back to confirm them (0: a single calibration sample, nothing held back).
    pub held_back: usize,
    /// The plan's loss on the held-back samples: accuracy points lost against float, or the
    /// largest output error.
    pub point: f64,
    /// The upper bound at `confidence`: accuracy points lost on unseen inputs, or for error
    /// budgets the % of unseen inputs whose error may exceed the budget.
    pub upper: f64,
    /// Held-back samples float classifies right and the plan wrong (classifiers), or whose
    /// error exceeds the budget (error budgets: 0 for a confirmed plan).
    pub flips: usize,
}

impl Bound {
    /// The bound as a plan records it among its options.
    pub fn to_json(&self, budget: Budget) -> serde_json::Value {
        let (method, point) = match budget {
            Budget::AccuracyLoss(_) => ("clopper_pearson_harmful_flips", "accuracy_points_lost"),
            Budget::MaxError(_) => ("held_back_maximum_quantile", "max_error"),
        };
        serde_json::json!({
            "method": method,
            "confidence": self.confidence,
            "search_samples": self.search,
            "held_back_samples": self.held_back,
            point: self.point,
            "flips": self.flips,
            match budget {
                Budget::AccuracyLoss(_) => "upper_accuracy_points_lost",
                Budget::MaxError(_) => "upper_percent_over_budget",
            }: self.upper,
        })
    }
}

/// The chosen plan and how it was chosen.
#[derive(Debug)]
pub struct Compiled {
    pub plan: Plan,
    /// The uniform storage width of stage 1.
    pub bits: u32,
    /// The groups stage 2 narrowed, with their widths.
    pub narrowed: Vec<(String, u32)>,
    /// Pins that cannot hold the calibration range.
    pub pin_warnings: Vec<String>,
    /// Float accuracy (%) or 0 for max-error budgets.
    pub float_metric: f64,
    pub fixed_metric: f64,
    pub budget: Budget,
    /// The chosen plan's loss on the held-back samples and its confidence bound.
    pub bound: Bound,
    pub candidates: Vec<Candidate>,
    /// The patches `--relu-budget` chose for each `block_relu(x)` layer.
    pub relu_choices: Vec<crate::relu_budget::LayerChoice>,
    pub nodes: usize,
    pub seconds: f64,
}

/// What `compile` compiles: the checked program and the data it is calibrated on.
#[derive(Clone, Copy)]
pub struct CompileInput<'a> {
    pub prog: &'a tir::Program,
    /// The program's source text, for the plan's source hash.
    pub source: &'a str,
    /// The server's weights, in declaration order.
    pub weights: &'a [Arc<Tensor>],
    /// The calibration samples.
    pub calib: &'a Batch,
    /// One class index per calibration sample (accuracy budgets need them).
    pub labels: Option<&'a [usize]>,
}

/// How `compile` chooses the plan.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// What the plan must preserve; without one, 1 point of accuracy with labels, else 1% of
    /// the largest float output.
    pub budget: Option<Budget>,
    /// With a budget F, every `block_relu(x)` gets per-channel patches within F of plain
    /// ReLU's DReLUs (`crate::relu_budget`), or the pinned patches; without it, it is plain
    /// ReLU.
    pub relu: Option<ReluChoice>,
    /// Minimise the estimated time on this link (transfer + latency units × RTT/2) instead of
    /// the bytes.
    pub net: Option<Link>,
    /// Pin the storage width (`sir compile --bits N`): only this width is tried and no group is
    /// narrowed below it, so plans of one model compare at equal width. The budget still
    /// holds.
    pub bits: Option<u32>,
    /// The OT engine the plan's costs are priced for (and the search minimises).
    pub ot: OtKind,
    /// Choose the engine (`sir compile --ot auto`): widths ranked priced for `ot`, then the
    /// engine with fewer bytes for one inference on the ranking's cheapest plan, OT
    /// preprocessing included (silent OT's generation is a fixed ≈ 2.6 MB per run, which
    /// small models do not recoup), chosen before the held-back confirmation, which (with
    /// stage 2) runs on plans lowered for it. Ranking on IKNP's prices keeps small models'
    /// plans exactly what an IKNP search gives.
    pub pick_ot: bool,
    /// Products with the server's weights pay their OT payloads in the preprocessing
    /// (`sir compile --products offline`, [`sir_runtime::proto::masked`]).
    pub masked_products: bool,
    /// The confidence of the reported bound (`--confidence`; [`confidence::DEFAULT`] when
    /// None): the plan's loss on unseen inputs stays within the budget with this probability.
    pub confidence: Option<f64>,
    /// Keep every product in the ring that holds it exactly ([`crate::cut`] off): the same
    /// values for more bytes (a reference for comparisons and tests).
    pub exact_products: bool,
}

/// Bytes of one inference of `plan`, its preprocessing and OT preprocessing included.
pub fn bytes_with_ot_preprocessing(plan: &Plan) -> Option<u64> {
    let info = plan.check().ok()?;
    let session = sir_runtime::exec::ot_session(plan, &info, sir_runtime::exec::Shape::ONE).ok()?;
    Some(
        plan.total().total_bytes()
            + plan.pre_total().total_bytes()
            + session.preprocess_cost().total_bytes(),
    )
}

/// One sentence on what a plan's recorded bound says of unseen inputs (None for plans compiled
/// before the held-back split).
pub fn bound_summary(options: &serde_json::Value) -> Option<String> {
    let b = &options["bound"];
    let conf = b["confidence"].as_f64()? * 100.0;
    let held = b["held_back_samples"].as_u64()?;
    let flips = b["flips"].as_u64()?;
    if held == 0 {
        return Some(
            "a single calibration sample: nothing held back, so no bound on unseen inputs".into(),
        );
    }
    if let Some(upper) = b["upper_accuracy_points_lost"].as_f64() {
        let point = b["accuracy_points_lost"].as_f64()?;
        Some(format!(
            "at {conf}% confidence at most {upper:.2} accuracy points lost on unseen inputs \
             (Clopper–Pearson on {flips} of {held} held-back samples classified right by float \
             and wrong by the plan with its output errors doubled; {point:.2} points lost on them)"
        ))
    } else {
        let upper = b["upper_percent_over_budget"].as_f64()?;
        let point = b["max_error"].as_f64()?;
        let e = options["budget"]["max_error"].as_f64()?;
        Some(format!(
            "largest error {point:.3e} on {held} held-back samples (budget {e:.3e}, met by each \
             with its error doubled): at {conf}% confidence at most {upper:.2}% of unseen inputs \
             exceed the budget"
        ))
    }
}

/// The storage width a plan's options pin (`sir compile --bits`), if any.
pub fn recorded_bits(options: &serde_json::Value) -> Result<Option<u32>, String> {
    match &options["bits"] {
        serde_json::Value::Null => Ok(None),
        v => v
            .as_u64()
            .filter(|b| WIDTHS.contains(&(*b as u32)))
            .map(|b| Some(b as u32))
            .ok_or_else(|| format!("the plan's `bits` option is malformed: {v}")),
    }
}

/// The link a plan's options record as its objective (`sir compile --net`), if any.
pub fn recorded_net(options: &serde_json::Value) -> Result<Option<Link>, String> {
    let n = &options["net"];
    if n.is_null() {
        return Ok(None);
    }
    match (n["mbit_per_s"].as_f64(), n["rtt_ms"].as_f64()) {
        (Some(b), Some(r)) => Link::parse(&format!("{b},{r}")).map(Some),
        _ => Err(format!("the plan's `net` option is malformed: {n}")),
    }
}

/// Estimated seconds of one inference of `plan` (checked: `info`) on `link` (None: its
/// latency cannot be simulated, which a checked plan never meets).
fn estimated_seconds(plan: &Plan, info: &PlanInfo, link: &Link) -> Option<f64> {
    let units = sir_runtime::exec::estimate_latency(plan, info, sir_runtime::exec::Shape::ONE)
        .ok()?
        .total();
    Some(link.estimate(
        plan.total().total_bytes() + plan.pre_total().total_bytes(),
        units,
    ))
}

/// Compiles the input's program with its weights, calibrating on its samples (and labels),
/// under the options' budget and Block-ReLU choice.
pub fn compile(input: &CompileInput, options: &CompileOptions) -> Result<Compiled, CompileError> {
    let CompileInput {
        prog,
        source,
        weights,
        calib,
        labels,
    } = *input;
    let options_in = options;
    let (budget, relu, net) = (options.budget, options.relu.as_ref(), options.net);
    let pinned = options.bits;
    let widths: Vec<u32> = match pinned {
        Some(b) if WIDTHS.contains(&b) => vec![b],
        Some(b) => return Err(CompileError::Width(b)),
        None => WIDTHS.to_vec(),
    };
    let t0 = Instant::now();
    let conf = options.confidence.unwrap_or(confidence::DEFAULT);
    if !valid_confidence(conf) {
        return Err(CompileError::Confidence(conf));
    }
    // The samples in the split's order: the search part first, then the held-back part
    // (`crate::confidence`); the formats' ranges are measured on all of them.
    let order = confidence::split_order(calib.samples);
    let samples: Vec<Vec<Arc<Tensor>>> = order.iter().map(|&i| calib.sample(i)).collect();
    if samples.is_empty() {
        return Err(CompileError::NoCalibration);
    }
    if let Some(l) = labels
        && l.len() != samples.len()
    {
        return Err(CompileError::Labels {
            labels: l.len(),
            samples: samples.len(),
        });
    }
    let labels_ordered: Option<Vec<usize>> = labels.map(|l| order.iter().map(|&i| l[i]).collect());
    let labels = labels_ordered.as_deref();
    let n = samples.len();
    let (n_search, n_held) = confidence::split_sizes(n);
    let search = 0..n_search;
    // One sample is both parts (and nothing is held back).
    let held = if n < 2 { 0..n } else { n_search..n };
    let held_count = if n < 2 { 0 } else { n_held };
    let mut graph = graph::build(prog, Some(source))?;
    let relu_choices = match relu {
        Some(ReluChoice::Budget(f)) => {
            crate::relu_budget::choose(&mut graph, &samples, weights, *f, false)?
        }
        Some(ReluChoice::BudgetPerLayer(f)) => {
            crate::relu_budget::choose(&mut graph, &samples, weights, *f, true)?
        }
        Some(ReluChoice::Pinned(p)) => crate::relu_budget::pin(&mut graph, p)?,
        None => Vec::new(),
    };
    let graph = graph;
    let graph::Profile {
        ranges,
        patch_sums,
        outputs: floats,
        scores: float_scores,
    } = graph::profile(&graph, &samples, weights)?;
    // How outputs name classes, decided once on float's outputs (the fixed-point trials are
    // scored by the same rule); labels it cannot predict are refused, not scored as misses.
    let rule = class_rule(&floats);
    if let Some(l) = labels {
        let l: Vec<i64> = l.iter().map(|&v| v as i64).collect();
        rule.check_labels(&l).map_err(CompileError::LabelValues)?;
    }
    let float_metric = match labels {
        Some(l) => accuracy(&floats, l, rule),
        None => 0.0,
    };
    // Which samples float classifies right (harmful flips are counted among them).
    let float_right: Vec<bool> = match labels {
        Some(l) => floats
            .iter()
            .zip(l)
            .map(|(o, l)| class_of(o, rule) == Some(*l))
            .collect(),
        None => vec![false; n],
    };
    let budget = budget.unwrap_or(match labels {
        Some(_) => Budget::AccuracyLoss(1.0),
        None => {
            // 1% of the largest float output magnitude.
            let m = floats
                .iter()
                .flatten()
                .flat_map(|t| t.data().iter())
                .fold(0.0f64, |a, v| a.max(v.abs()));
            Budget::MaxError((m * 0.01).max(1e-3))
        }
    });
    // The most harmful flips among the held-back samples that still confirm an accuracy
    // budget; refused up front when even none would not.
    let most_flips = match (labels, budget) {
        (Some(_), Budget::AccuracyLoss(p)) => {
            match confidence::most_flips_within(held_count, conf, p / 100.0) {
                Some(k) => Some(k),
                None => {
                    let need = match confidence::held_back_needed(conf, p / 100.0) {
                        Some(h) => format!(
                            "{p} point(s) need at least {h} held-back samples, a calibration set \
                             of at least {} (or allow a larger loss, or a lower --confidence)",
                            confidence::calibration_needed(h)
                        ),
                        None => "no calibration set confirms a loss of exactly 0: allow a \
                                 small one (e.g. --max-accuracy-loss 1)"
                            .into(),
                    };
                    return Err(CompileError::TooFewSamples {
                        budget: p,
                        confidence: conf,
                        samples: n,
                        held: held_count,
                        best: 100.0 * confidence::clopper_pearson_upper(0, held_count, conf),
                        need,
                    });
                }
            }
        }
        _ => None,
    };
    let nonneg = precision::nonneg(&graph);
    // The engine plans are lowered for: `--ot auto` may change it once, before the
    // confirmation (below).
    let engine = std::cell::Cell::new(options.ot);
    let meta = |opts: serde_json::Value, fuse_rounding: bool| Meta {
        model: &prog.model.name,
        source_hash: blake3::hash(source.as_bytes()).to_hex().to_string(),
        options: opts,
        input_names: prog.model.inputs.iter().map(|d| d.name.clone()).collect(),
        param_names: prog.model.params.iter().map(|d| d.name.clone()).collect(),
        fuse_rounding,
        net,
        ot: engine.get(),
        masked_products: options.masked_products,
        cut_products: !options.exact_products,
        ranges: &ranges,
        patch_sums: &patch_sums,
    };
    let options = serde_json::json!({
        "budget": match budget {
            Budget::AccuracyLoss(p) => serde_json::json!({"max_accuracy_loss": p, "confidence": conf}),
            Budget::MaxError(e) => serde_json::json!({"max_error": e, "confidence": conf}),
        },
        "calibration_samples": samples.len(),
        "widths": widths,
    });
    let mut options = options;
    if let Some(l) = net {
        options["net"] = serde_json::json!({
            "mbit_per_s": l.bits_per_s / 1e6,
            "rtt_ms": l.rtt.as_secs_f64() * 1e3,
        });
    }
    match relu {
        Some(ReluChoice::Budget(f)) => options["relu_budget"] = serde_json::json!(f),
        Some(ReluChoice::BudgetPerLayer(f)) => {
            options["relu_budget_per_layer"] = serde_json::json!(f)
        }
        _ => {}
    }
    if let Some(b) = pinned {
        options["bits"] = serde_json::json!(b);
    }
    if options_in.pick_ot {
        options["ot"] = serde_json::json!("auto");
    }
    if relu.is_some() {
        let choices: Vec<&[sir_runtime::fixed::Patch]> =
            relu_choices.iter().map(|c| c.patches.as_slice()).collect();
        options["relu_choices"] = serde_json::json!(choices);
    }
    // One trial: formats from a width per node, lowering, the fixed-point run on a part of
    // the calibration set. Ok(Err) when the formats cannot be lowered.
    struct Trial {
        plan: Plan,
        bytes: u64,
        metric: Option<f64>,
        within: bool,
        error: Option<String>,
        stopped: Option<String>,
        /// Lowered with rounding chains fused.
        fuse: bool,
        /// What the search minimises: bytes, or with `--net` the estimated seconds.
        cost: f64,
        /// Over the samples run (all of the part unless stopped early): how many the plan
        /// classifies right, how many float classifies right and the plan wrong, the largest
        /// output error.
        right: usize,
        flips: usize,
        max_err: f64,
    }
    /// What a trial decides: whether the ranking part predicts the held-back part will
    /// confirm the plan (its flips, errors doubled, scaled to the held-back count within what
    /// the bound allows), whether the held-back part confirms it, or (nothing held back, a
    /// single sample) the plain point estimate.
    #[derive(Clone, Copy, PartialEq)]
    enum Test {
        Plain,
        Rank,
        /// As `Rank`, for a narrowing of stage 2: within [`NARROW_SHARE`] of the allowance.
        Narrow,
        /// For a narrowing of a wider width that enters the sequence ahead of a narrower one
        /// (see `fallback`): no flips on the ranking part with the plan's errors magnified
        /// by [`STRESS`] times the held-back part's size over the ranking part's (the
        /// smallest margin among n samples shrinks about as 1/n).
        Strict,
        Confirm,
    }
    // The magnification of a plan's errors each test applies.
    let strict_stress = STRESS * (held_count.max(1) as f64 / n_search.max(1) as f64).max(1.0);
    let stress_of = |test: Test| {
        if test == Test::Strict {
            strict_stress
        } else {
            STRESS
        }
    };
    // The flips the ranking part may show for the held-back part to be expected to confirm.
    let rank_flips = |test: Test| {
        let share = match test {
            Test::Narrow => NARROW_SHARE,
            Test::Strict => 0.0,
            _ => 1.0,
        };
        most_flips.map(|k| share * k as f64 * n_search as f64 / held_count.max(1) as f64)
    };
    let trial = |width: &dyn Fn(usize) -> u32,
                 set: std::ops::Range<usize>,
                 fuse: bool,
                 test: Test|
     -> Result<Result<Trial, String>, CompileError> {
        let (samples, floats) = (&samples[set.clone()], &floats[set.clone()]);
        let labels = labels.map(|l| &l[set.clone()]);
        let float_right = &float_right[set.clone()];
        let float_metric = labels.map_or(0.0, |l| accuracy(floats, l, rule));
        let fmts = precision::assign(&graph, &ranges, width);
        let (plan, info) = match lower::lower(&graph, &fmts, &nonneg, meta(options.clone(), fuse)) {
            Ok(p) => p,
            Err(e @ LowerError::Unsupported { .. }) => return Err(e.into()),
            Err(e) => return Ok(Err(e.to_string())),
        };
        // Bytes per inference: online and the preprocessing (masked products, polynomials).
        let bytes = plan.total().total_bytes() + plan.pre_total().total_bytes();
        let cost = match &net {
            None => bytes as f64,
            Some(l) => estimated_seconds(&plan, &info, l).unwrap_or(f64::INFINITY),
        };
        let float_scores = float_scores.get(set.clone());
        // One sample's verdict: whether the plan classifies it right, whether it counts
        // against the plan, and its largest output error. It counts against the plan when
        // float classifies it right and the plan does not (errors magnified by STRESS when
        // ranking or confirming, see `STRESS`), or, under an error budget when ranking or
        // confirming, when its error magnified the same way is over the budget (the argmax's
        // class moved by more than it, for an argmax output).
        let judge = |i: usize, q: &[Tensor], q_scores: Option<&Tensor>| -> (bool, bool, f64) {
            let f = &floats[i];
            let err = sample_error(q, f);
            let right = labels.is_some_and(|l| class_of(q, rule) == Some(l[i]));
            let k = stress_of(test);
            let stressed = || stressed_class(f, q, float_scores.map(|s| &s[i]), q_scores, rule, k);
            let against = match (test, budget) {
                (Test::Rank | Test::Narrow | Test::Strict | Test::Confirm, Budget::MaxError(m)) => {
                    match (float_scores.is_some(), q_scores.is_some()) {
                        (true, true) => {
                            match (stressed(), f.first().and_then(|t| t.data().first())) {
                                (Some(c), Some(fc)) => (c as f64 - fc).abs() > m,
                                _ => true,
                            }
                        }
                        _ => k * err > m,
                    }
                }
                (Test::Plain, _) => labels.is_some() && float_right[i] && !right,
                (Test::Rank | Test::Narrow | Test::Strict | Test::Confirm, _) => {
                    labels.is_some_and(|l| float_right[i] && stressed() != Some(l[i]))
                }
            };
            (right, against, err)
        };
        // Chunk by chunk, stopping as soon as the budget is certainly exceeded (most failing
        // trials end after the first chunk); the verdicts are summed as the samples run.
        let (mut k, mut right, mut flips, mut max_err) = (0usize, 0usize, 0usize, 0.0f64);
        let mut error = None;
        for chunk in samples.chunks(CHUNK) {
            match run_plan_scored(&plan, chunk, weights, float_scores.is_some()) {
                Ok(f) => {
                    for (o, sc) in f {
                        let (r, a, e) = judge(k, &o, sc.as_ref());
                        right += usize::from(r);
                        flips += usize::from(a);
                        max_err = max_err.max(e);
                        k += 1;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
            let hopeless = match (labels, budget, test, most_flips) {
                (Some(l), Budget::AccuracyLoss(p), Test::Plain, _) => {
                    // Misclassified so far only grows: past float's mistakes plus p% of all
                    // samples, the budget cannot hold.
                    let allowed = (100.0 - float_metric + p) / 100.0 * l.len() as f64;
                    let w = k - right;
                    (w as f64 > allowed + 1e-9).then(|| {
                        format!("{w} of the first {k} samples misclassified, over the {allowed:.1} the budget allows")
                    })
                }
                (Some(_), Budget::AccuracyLoss(_), Test::Rank | Test::Narrow | Test::Strict, _) => rank_flips(test)
                    .filter(|most| flips as f64 > most + 1e-9)
                    .map(|most| {
                        format!("{flips} of the first {k} ranking samples classified right by float and wrong by the plan with its errors doubled, over the {most:.1} the held-back part would allow")
                    }),
                (Some(_), Budget::AccuracyLoss(_), Test::Confirm, Some(most)) => {
                    (flips > most).then(|| {
                        format!("{flips} of the first {k} held-back samples classified right by float and wrong by the plan, over the {most} the bound allows")
                    })
                }
                (_, Budget::MaxError(m), Test::Plain, _) => {
                    (max_err > m).then(|| format!("error {max_err:.3e} on the first {k} samples"))
                }
                (_, Budget::MaxError(_), Test::Rank | Test::Narrow | Test::Strict | Test::Confirm, _) => (flips > 0).then(|| {
                    format!("{flips} of the first {k} samples over the budget with the plan's errors doubled")
                }),
                _ => None,
            };
            if let Some(reached) = hopeless {
                return Ok(Ok(Trial {
                    plan,
                    bytes,
                    metric: None,
                    within: false,
                    error: None,
                    stopped: Some(reached),
                    fuse,
                    cost,
                    right: 0,
                    flips,
                    max_err,
                }));
            }
        }
        let metric = match (&error, labels, budget) {
            (None, Some(l), Budget::AccuracyLoss(_)) => {
                Some(100.0 * right as f64 / l.len().max(1) as f64)
            }
            (None, _, Budget::MaxError(_)) => Some(max_err),
            _ => None,
        };
        let within = match (metric, budget, test) {
            (Some(a), Budget::AccuracyLoss(p), Test::Plain) => float_metric - a <= p + 1e-9,
            (Some(_), Budget::AccuracyLoss(_), Test::Rank | Test::Narrow | Test::Strict) => {
                rank_flips(test).is_some_and(|most| flips as f64 <= most + 1e-9)
            }
            (Some(_), Budget::AccuracyLoss(_), Test::Confirm) => {
                most_flips.is_some_and(|most| flips <= most)
            }
            (Some(e), Budget::MaxError(m), Test::Plain) => e <= m,
            (
                Some(_),
                Budget::MaxError(_),
                Test::Rank | Test::Narrow | Test::Strict | Test::Confirm,
            ) => flips == 0,
            (None, _, _) => false,
        };
        Ok(Ok(Trial {
            plan,
            bytes,
            metric,
            within,
            error,
            stopped: None,
            fuse,
            cost,
            right,
            flips,
            max_err,
        }))
    };
    // The bound a held-back trial gives (accuracy points, or % of inputs over the budget).
    let upper = |t: &Trial| match budget {
        Budget::AccuracyLoss(_) => {
            100.0 * confidence::clopper_pearson_upper(t.flips, held_count, conf)
        }
        Budget::MaxError(_) => 100.0 * confidence::clopper_pearson_upper(0, held_count, conf),
    };
    let rank = if held_count == 0 {
        Test::Plain
    } else {
        Test::Rank
    };
    // Stage 1: one storage width for every tensor, ranked on the search part.
    let mut candidates = Vec::new();
    let mut ranked: Vec<(u32, Trial)> = Vec::new();
    // Per width, rounding chains fused (fewer rounds and bytes) and, if that misses the
    // budget, unfused (each value rounded to its own format first).
    for &bits in &widths {
        let mut t = trial(&|_| bits, search.clone(), true, rank)?;
        if !t.as_ref().is_ok_and(|t| t.within)
            && let Ok(u) = trial(&|_| bits, search.clone(), false, rank)?
            && (u.within || t.is_err())
        {
            t = Ok(u);
        }
        candidates.push(Candidate {
            bits,
            bytes: match &t {
                Ok(t) => t.error.clone().map_or(Ok(t.bytes), Err),
                Err(e) => Err(e.clone()),
            },
            metric: t.as_ref().ok().and_then(|t| t.metric),
            stopped: t.as_ref().ok().and_then(|t| t.stopped.clone()),
            within: t.as_ref().is_ok_and(|t| t.within),
            seconds: net.and(t.as_ref().ok().map(|t| t.cost)),
            confirmed: None,
        });
        if let Ok(t) = t
            && t.within
        {
            ranked.push((bits, t));
        }
    }
    let describe = |c: &Candidate| match (&c.bytes, c.metric, &c.stopped) {
        (Ok(b), Some(m), _) => format!("{} bits: {b} B, metric {m:.4}", c.bits),
        (Err(e), _, _) => format!("{} bits: {e}", c.bits),
        (Ok(b), None, Some(r)) => format!("{} bits: {b} B, stopped early: {r}", c.bits),
        (Ok(b), None, None) => format!("{} bits: {b} B", c.bits),
    };
    if ranked.is_empty() {
        return Err(CompileError::Budget {
            budget: format!("{budget:?}"),
            best: candidates
                .iter()
                .map(describe)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    // Confirmation on the held-back part, most expensive first, until one fails
    // (fixed-sequence testing: the order is the search part's, so every test keeps the full
    // confidence). The cheapest confirmed width is stage 1's plan.
    ranked.sort_by(|a, b| b.1.cost.total_cmp(&a.1.cost).then(b.0.cmp(&a.0)));
    let cheapest_ranked = ranked.last().map(|r| r.0);
    // `--ot auto`: the engine with fewer bytes for one inference (OT preprocessing included)
    // on the ranking's cheapest plan, chosen before the held-back part is looked at. The math
    // functions' digits are tuned per engine, which changes their results' last bits, so
    // every plan confirmed from here on is lowered for that engine.
    if options_in.pick_ot
        && let Some((_, t)) = ranked.last()
        && let Some(here) = bytes_with_ot_preprocessing(&t.plan)
    {
        for other in OtKind::ALL.into_iter().filter(|&k| k != t.plan.ot) {
            let mut alt = t.plan.clone();
            if alt.reprice(other).is_ok()
                && bytes_with_ot_preprocessing(&alt).is_some_and(|b| b < here)
            {
                engine.set(other);
            }
        }
    }
    // A single calibration sample holds nothing back: it is checked on itself as ranked,
    // and no bound is claimed.
    let confirm = if held_count == 0 {
        Test::Plain
    } else {
        Test::Confirm
    };
    let node_group = precision::units(&graph, source, prog.model.span.file);
    // One greedy pass over `units` (least bytes first) from uniform `bits`: each unit takes the
    // first of `to` (narrowest first) whose plan the search part accepts under `test` for
    // less than the last kept one's `best` cost. Returns the narrowing, the last kept
    // narrowing's trial, and the units some width was refused for and none kept (the values
    // that bound the accuracy).
    type Greedy = (Narrowing, Option<Trial>, Vec<String>);
    let greedy = |units: &[String],
                  bits: u32,
                  to: &[u32],
                  fuse: bool,
                  test: Test,
                  mut best: f64|
     -> Result<Greedy, CompileError> {
        let (mut nw, mut last, mut binding) = (Narrowing::default(), None, Vec::new());
        for g in units {
            let mut over = false;
            let mut kept = false;
            for &w in to {
                let width = |i: usize| {
                    if &node_group[i] == g {
                        w
                    } else {
                        nw.width(&node_group[i], bits)
                    }
                };
                match trial(&width, search.clone(), fuse, test)? {
                    Ok(t) if t.within && t.cost < best => {
                        best = t.cost;
                        nw.widths.insert(g.clone(), w);
                        nw.order.push((g.clone(), w));
                        last = Some(t);
                        kept = true;
                        break;
                    }
                    Ok(t) if !t.within => over = true,
                    _ => {}
                }
            }
            if over && !kept {
                binding.push(g.clone());
            }
        }
        Ok((nw, last, binding))
    };
    // The fallback: the ranking's second cheapest width with tensors narrowed towards the
    // cheapest one's, each kept only under `Test::Strict` (chosen on the ranking part alone),
    // tested between the two. Where the held-back part refuses the cheapest width (the
    // ranking part, a third of its size, is too lenient: lstm_vowels' 8 bits), the sequence
    // has confirmed this one first; where it confirms the cheapest width, the fallback (each
    // tensor at least as wide) was confirmed on the way and is superseded.
    let mut fallback: Option<(u32, Narrowing, Trial)> = None;
    if pinned.is_none() && held_count > 0 && ranked.len() >= 2 {
        let (hi, t_hi) = &ranked[ranked.len() - 2];
        let (hi, lo, fuse) = (*hi, ranked[ranked.len() - 1].0, t_hi.fuse);
        if lo < hi {
            let units = by_bytes(&graph, &node_group, &t_hi.plan);
            // The wider plan's cost on the engine the sequence runs on.
            let best = if t_hi.plan.ot == engine.get() {
                t_hi.cost
            } else {
                match trial(&|_| hi, search.clone(), fuse, rank)? {
                    Ok(t) => t.cost,
                    Err(_) => t_hi.cost,
                }
            };
            let to: Vec<u32> = (lo..hi).step_by(2).collect();
            let (nw, last, _) = greedy(&units, hi, &to, fuse, Test::Strict, best)?;
            if let Some(t) = last {
                fallback = Some((hi, nw, t));
            }
        }
    }
    let mut seq: Vec<(u32, Option<Narrowing>, Trial)> =
        ranked.into_iter().map(|(b, t)| (b, None, t)).collect();
    if let Some((hi, nw, t)) = fallback {
        let at = seq.len() - 1;
        seq.insert(at, (hi, Some(nw), t));
    }
    let mut confirmed: Option<(u32, Option<Narrowing>, Trial, Trial)> = None;
    let mut failed = None;
    let mut fallback_bound = None;
    for (bits, nw, t) in seq {
        let width = |i: usize| nw.as_ref().map_or(bits, |n| n.width(&node_group[i], bits));
        let what = match &nw {
            None => format!("{bits} bits"),
            Some(n) => format!("{bits} bits with {} tensors narrowed", n.order.len()),
        };
        let c = match trial(&width, held.clone(), t.fuse, confirm)? {
            Ok(c) => c,
            Err(e) => {
                failed = Some(format!("{what}: {e}"));
                break;
            }
        };
        let bound = upper(&c);
        match &nw {
            None => {
                if let Some(cand) = candidates.iter_mut().find(|k| k.bits == bits) {
                    cand.confirmed = Some((bound, c.within));
                }
            }
            Some(_) => {
                fallback_bound = Some((
                    bits,
                    nw.as_ref().map_or(0, |n| n.order.len()),
                    bound,
                    c.within,
                ))
            }
        }
        if !c.within {
            failed = Some(match &c.stopped {
                Some(r) => format!("{what}: {r}"),
                None => format!("{what}: bound {bound:.2} on {held_count} held-back samples"),
            });
            break;
        }
        confirmed = Some((bits, nw, t, c));
    }
    let Some((bits, from_fallback, chosen, chosen_held)) = confirmed else {
        return Err(CompileError::Budget {
            budget: format!(
                "{budget:?}, confirmed at {}% confidence on {held_count} held-back samples",
                conf * 100.0
            ),
            best: format!(
                "within on the search part: {}; on the held-back part {}",
                candidates
                    .iter()
                    .filter(|c| c.within)
                    .map(|c| c.bits.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                failed.unwrap_or_default()
            ),
        });
    };
    // Stage 2: per tensor (each weight, input and named value; each unnamed intermediate
    // expression: [`precision::units`]; the 64 with the most bytes, least first), narrow the
    // tensor by 8, 4 or 2 bits where the search part still predicts confirmation and it saves
    // bytes. At most 3 trials per tensor and [`MAX_GROUPS`] tensors: the search is linear in
    // model size × calibration samples. Only from the search part's own choice (so the
    // held-back part still decides nothing before it confirms), and only kept if the
    // held-back part then confirms the narrowed plan too.
    let fuse = chosen.fuse;
    // The ranking's run of the plan as lowered for the engine (its digits) if auto changed it.
    let chosen = if chosen.plan.ot == engine.get() || from_fallback.is_some() {
        chosen
    } else {
        match trial(&|_| bits, search.clone(), fuse, rank)? {
            Ok(t) => t,
            Err(_) => chosen,
        }
    };
    let stage1 = (chosen, chosen_held);
    let groups = by_bytes(&graph, &node_group, &stage1.0.plan);
    // A pinned width is every tensor's; a width more expensive than the search part's choice
    // was not the search part's choice (a confirmed fallback among them: stage 1's plan keeps
    // its narrowings).
    let groups: &[String] = if pinned.is_some() || cheapest_ranked != Some(bits) {
        &[]
    } else {
        &groups
    };
    let to: Vec<u32> = [8u32, 4, 2]
        .iter()
        .filter_map(|&step| bits.checked_sub(step).filter(|&w| w >= 6))
        .collect();
    let narrow = if rank == Test::Rank {
        Test::Narrow
    } else {
        rank
    };
    let (nw, last, binding) = greedy(groups, bits, &to, fuse, narrow, stage1.0.cost)?;
    // The narrowed plan, tested on the held-back part after stage 1's choice (it is chosen on
    // the search part alone, so the sequence stays fixed before the held-back part is seen).
    // Every kept step, confirmed one by one, would be a longer sequence of the same validity,
    // but narrowings do not simply add their errors (on gru_motion the whole set confirms
    // where a prefix of it fails), and the first failure would end it.
    let mut kept = None;
    if let Some(r) = last
        && let Ok(c) = trial(
            &|i: usize| nw.width(&node_group[i], bits),
            held.clone(),
            fuse,
            confirm,
        )?
        && c.within
    {
        kept = Some((r, c));
    }
    let ((chosen, chosen_held), nw) = match kept {
        Some(t) => (t, nw),
        None => (stage1, from_fallback.unwrap_or_default()),
    };
    // The chosen plan over the whole calibration set (its two parts; one sample is both).
    let fixed_metric = match budget {
        Budget::AccuracyLoss(_) if n < 2 => chosen_held.metric.unwrap_or(0.0),
        Budget::AccuracyLoss(_) => 100.0 * (chosen.right + chosen_held.right) as f64 / n as f64,
        Budget::MaxError(_) => chosen.max_err.max(chosen_held.max_err),
    };
    let bound = Bound {
        confidence: conf,
        search: n_search,
        held_back: held_count,
        point: match budget {
            Budget::AccuracyLoss(_) => {
                let right = float_right[held.clone()].iter().filter(|r| **r).count();
                100.0 * (right as f64 - chosen_held.right as f64) / held.len().max(1) as f64
            }
            Budget::MaxError(_) => chosen_held.max_err,
        },
        upper: upper(&chosen_held),
        flips: chosen_held.flips,
    };
    let mut plan = chosen.plan;
    plan.options["bound"] = bound.to_json(budget);
    // What the search tried, for reports (deterministic, so `sir verify` recompiles it too).
    plan.options["search"] = serde_json::json!({
        "metric": match budget {
            Budget::AccuracyLoss(_) => "accuracy_percent",
            Budget::MaxError(_) => "max_error",
        },
        "float": float_metric,
        "widths": candidates.iter().map(|c| serde_json::json!({
            "bits": c.bits,
            "bytes": c.bytes.as_ref().ok(),
            "skipped": c.bytes.as_ref().err(),
            "metric": c.metric,
            "within": c.within,
            "held_back_bound": c.confirmed.map(|c| c.0),
            "confirmed": c.confirmed.map(|c| c.1),
        })).collect::<Vec<_>>(),
        "float_search_part": labels.map(|l| accuracy(&floats[search.clone()], &l[search.clone()], rule)),
        "chosen_bits": bits,
        // The fallback tested ahead of the cheapest ranked width, if there was one: its width,
        // how many tensors it narrowed, its held-back bound and whether that confirmed it.
        "fallback": fallback_bound.map(|(b, k, bound, ok)| serde_json::json!({
            "bits": b,
            "narrowed": k,
            "held_back_bound": bound,
            "confirmed": ok,
        })),
        "narrowed": nw.order.iter().map(|(g, w)| serde_json::json!([g, w])).collect::<Vec<_>>(),
        // The precision groups no narrowing step kept within the budget on the ranking part
        // (empty when stage 2 did not run: a pinned width, or a width the ranking did not choose).
        "binding": binding,
    });
    let pin_warnings = {
        let fmts = precision::assign(&graph, &ranges, &|i| nw.width(&node_group[i], bits));
        precision::pin_warnings(&graph, &ranges, &fmts)
    };
    Ok(Compiled {
        plan,
        bits,
        narrowed: nw.order,
        pin_warnings,
        float_metric,
        fixed_metric,
        budget,
        bound,
        candidates,
        relu_choices,
        nodes: graph.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// A plan's per-tensor widths over a uniform one: each narrowed unit's width, in the order
/// they were narrowed.
#[derive(Default)]
struct Narrowing {
    widths: std::collections::HashMap<String, u32>,
    order: Vec<(String, u32)>,
}

impl Narrowing {
    /// The width of a node of this unit, `bits` where it is not narrowed.
    fn width(&self, unit: &str, bits: u32) -> u32 {
        *self.widths.get(unit).unwrap_or(&bits)
    }
}

/// The [`MAX_GROUPS`] precision units whose operations cost the most bytes in `plan` (on
/// IKNP), in stage 2's order: the least of them first. (Largest first was tried: each large tensor's
/// narrowing takes most of the margin the many smaller ones would have shared, and the greedy
/// search ends dearer: digits_cnn 1.43 MB, gru_motion 1.67 MB, against 1.40 and 1.47.) An
/// instruction counts for every unit with a node of its span.
fn by_bytes(graph: &graph::Graph, units: &[String], plan: &Plan) -> Vec<String> {
    let mut of_span: std::collections::HashMap<[u32; 2], Vec<&str>> =
        std::collections::HashMap::new();
    for (i, u) in units.iter().enumerate() {
        let sp = graph.g[petgraph::graph::NodeIndex::new(i)].span;
        let at = of_span.entry([sp.start, sp.end]).or_default();
        if !at.contains(&u.as_str()) {
            at.push(u);
        }
    }
    let mut bytes: std::collections::BTreeMap<&str, u64> =
        units.iter().map(|u| (u.as_str(), 0)).collect();
    // On IKNP's prices whatever the plan's engine, so both engines narrow alike.
    let iknp;
    let plan = if plan.ot == OtKind::Iknp {
        plan
    } else {
        let mut p = plan.clone();
        match p.reprice(OtKind::Iknp) {
            Ok(()) => {
                iknp = p;
                &iknp
            }
            Err(_) => plan,
        }
    };
    for ins in &plan.instrs {
        let b = ins.cost.total_bytes() + ins.pre.total_bytes();
        for u in ins.span.and_then(|s| of_span.get(&s)).into_iter().flatten() {
            *bytes.entry(u).or_default() += b;
        }
    }
    let mut order: Vec<(&str, u64)> = bytes.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    order.truncate(MAX_GROUPS);
    order.reverse();
    order.into_iter().map(|(u, _)| u.to_string()).collect()
}

/// How much the confirmation magnifies a plan's output errors before counting a held-back
/// sample as flipped: calibration samples are often the ones the model was trained on, whose
/// margins between the top two classes are wider than unseen inputs' (lstm_vowels: the
/// smallest of its 270 training samples' is 3.8, while 5 % of its test samples' are under
/// 2.1), so a plan that flips none of them can still flip unseen inputs near a boundary.
/// Counting the flips of the plan's errors doubled is the same as counting its flips on
/// samples of half the margin. (lstm_vowels at 8 bits: 0 plain flips among its calibration
/// samples, 4 doubled, 7 on its test set.)
pub const STRESS: f64 = 2.0;

/// The class float's outputs would name with the plan's errors magnified `k` times: on
/// the scores an `argmax` output picks from when there are any (both given), else on the first
/// output itself.
fn stressed_class(
    float: &[Tensor],
    fixed: &[Tensor],
    float_scores: Option<&Tensor>,
    fixed_scores: Option<&Tensor>,
    rule: ClassRule,
    k: f64,
) -> Option<usize> {
    let stress = |f: &[f64], q: &[f64]| -> Vec<f64> {
        f.iter().zip(q).map(|(a, b)| a + k * (b - a)).collect()
    };
    match (float_scores, fixed_scores) {
        (Some(f), Some(q)) => {
            let s = stress(f.data(), q.data());
            // argmax's first maximum, as the builtin.
            let mut best = 0;
            for (i, v) in s.iter().enumerate() {
                if *v > s[best] {
                    best = i;
                }
            }
            Some(best)
        }
        _ => {
            let (f, q) = (float.first()?, fixed.first()?);
            usize::try_from(rule.class(&stress(f.data(), q.data()))).ok()
        }
    }
}

/// The plan's cleartext fixed-point outputs (dequantized) on every sample: inputs and weights
/// quantized with the plan's own formats.
pub fn run_plan(
    plan: &Plan,
    samples: &[Vec<Arc<Tensor>>],
    weights: &[Arc<Tensor>],
) -> Result<Vec<Vec<Tensor>>, String> {
    Ok(run_plan_scored(plan, samples, weights, false)?
        .into_iter()
        .map(|(o, _)| o)
        .collect())
}

/// A sample's outputs and the scores its first output, an `argmax`, picks from.
type Scored = (Vec<Tensor>, Option<Tensor>);

/// [`run_plan`], with (when `scores`) each sample's scores its first output, an `argmax`,
/// picks from (dequantized; None when that output is not an argmax).
fn run_plan_scored(
    plan: &Plan,
    samples: &[Vec<Arc<Tensor>>],
    weights: &[Arc<Tensor>],
    scores: bool,
) -> Result<Vec<Scored>, String> {
    // The argmax behind the first output (which a reveal opens to the client).
    let producer = |t: usize| plan.instrs.iter().find(|i| i.out == t);
    let scored = plan
        .outputs
        .first()
        .filter(|_| scores)
        .and_then(|o| producer(o.tensor))
        .and_then(|i| match i.op {
            sir_runtime::plan::Op::Reveal => i.args.first().and_then(|&a| producer(a)),
            _ => Some(i),
        })
        .and_then(|i| match &i.op {
            sir_runtime::plan::Op::Math {
                func: sir_runtime::plan::MathOp::Argmax,
                ..
            } => i.args.first().copied(),
            _ => None,
        });
    let fmt = |id: usize| Fx {
        bits: plan.tensors[id].bits,
        frac: plan.tensors[id].frac,
    };
    if weights.len() != plan.params.len() {
        return Err(format!(
            "{} weights given, the plan has {}",
            weights.len(),
            plan.params.len()
        ));
    }
    let params = quantize_all(weights, plan.params.iter().map(|io| fmt(io.tensor)));
    samples
        .par_iter()
        .map(|s| {
            let inputs = quantize_all(s, plan.inputs.iter().map(|io| fmt(io.tensor)));
            let (outs, kept) =
                sir_runtime::plan::clear::run_keeping(plan, &inputs, &params, scored)
                    .map_err(|e| e.to_string())?;
            let tensor = |id: usize, v: Vec<u64>| {
                let t = &plan.tensors[id];
                let data = v.iter().map(|&x| dequantize(x, t.bits, t.frac)).collect();
                Tensor::new(t.shape.clone(), data).unwrap_or_else(|| Tensor::scalar(0.0))
            };
            Ok((
                plan.outputs
                    .iter()
                    .zip(outs)
                    .map(|(io, v)| tensor(io.tensor, v))
                    .collect(),
                scored.zip(kept).map(|(id, v)| tensor(id, v)),
            ))
        })
        .collect()
}

/// Each tensor's encodings in its format.
pub fn quantize_all(ts: &[Arc<Tensor>], fmts: impl Iterator<Item = Fx>) -> Vec<Vec<u64>> {
    ts.iter()
        .zip(fmts)
        .map(|(t, f)| {
            t.data()
                .iter()
                .map(|&x| quantize(x, f.bits, f.frac))
                .collect()
        })
        .collect()
}

/// How the first output names classes (`ClassRule`), from float's outputs on every sample.
fn class_rule(floats: &[Vec<Tensor>]) -> ClassRule {
    let per = floats
        .first()
        .and_then(|o| o.first())
        .map_or(1, |t| t.data().len());
    let data: Vec<f64> = floats
        .iter()
        .filter_map(|o| o.first())
        .flat_map(|t| t.data().iter().copied())
        .collect();
    ClassRule::of(&data, per)
}

/// The class a sample's first output names.
fn class_of(outs: &[Tensor], rule: ClassRule) -> Option<usize> {
    let c = rule.class(outs.first()?.data());
    usize::try_from(c).ok()
}

/// Percentage of samples whose class equals the label.
fn accuracy(outs: &[Vec<Tensor>], labels: &[usize], rule: ClassRule) -> f64 {
    let right = outs
        .iter()
        .zip(labels)
        .filter(|(o, l)| class_of(o, rule) == Some(**l))
        .count();
    100.0 * right as f64 / labels.len().max(1) as f64
}

/// The largest |fixed − float| over all outputs of one sample.
fn sample_error(fixed: &[Tensor], float: &[Tensor]) -> f64 {
    fixed
        .iter()
        .zip(float)
        .flat_map(|(a, b)| a.data().iter().zip(b.data()).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max)
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
