//! The plan: what the compiler produces and both parties execute. A versioned, serialisable
//! list of instructions over tensors with fixed-point formats, each instruction's exact cost
//! recorded beside it. The instruction set is described once here: [`Op`] says what an
//! instruction is, [`clear`] what it computes (the cleartext reference the two-party run must
//! equal), and [`Plan::instr_cost`] what it costs, from the protocols' own cost functions.
//!
//! A plan holds structure, shapes, formats and public constants — never a weight or an input
//! (DESIGN.md, invariant 3). [`Plan::check`] validates everything a plan claims before anything
//! is allocated or run: operand counts, shapes, formats, sizes against a budget, and that every
//! recorded cost is what the instruction costs.

pub mod clear;
pub mod kernel;
pub mod math;
pub mod render;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use kernel::Kernel;
pub use math::{MathOp, MathParams};

use crate::fixed::Fx;
use crate::fixed::linear::{Format, MatDims};
use crate::ot::cost::OtKind;
use crate::proto::Cost;
use crate::proto::mult::MultParams;

/// The plan format's version; a plan of another version is refused.
pub const VERSION: u32 = 1;

/// The most elements a plan's tensors may hold in total (each party stores one share each).
pub const MAX_TOTAL_ELEMENTS: u64 = 1 << 26;

/// The most elements one math instruction may take: its exact cost is computed by running the
/// function on the cost engine, which holds a few vectors of that length.
pub const MAX_MATH_ELEMENTS: usize = 1 << 22;

/// Who holds a tensor's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// Known to both (a constant of the model; its value is in the plan).
    Public,
    /// The server's weights, in the clear on the server only.
    Server,
    /// The client's input, in the clear on the client only.
    Client,
    /// Secret-shared between the two.
    Shared,
    /// Revealed to the client (an output).
    Revealed,
}

/// A tensor: shape, owner and fixed-point format (two's complement, `bits` wide, `frac`
/// fraction bits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub shape: Vec<usize>,
    pub owner: Owner,
    pub bits: u32,
    pub frac: u32,
    /// Known to be ≥ 0 (so the cheaper known-MSB protocol variants apply).
    #[serde(default)]
    pub nonneg: bool,
    /// A public constant's encodings (two's complement integers at `frac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Vec<i64>>,
    /// For a model value's tensor: every value it took on the calibration set had a magnitude
    /// below 2^this (the headroom its format leaves is bits − frac − 1 − this). No more than
    /// the format's integer bits already tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated_log2: Option<u32>,
}

impl TensorDecl {
    /// An unnamed tensor of this shape, owner and format, not known non-negative, no value.
    pub fn new(shape: Vec<usize>, owner: Owner, bits: u32, frac: u32) -> TensorDecl {
        TensorDecl {
            name: None,
            shape,
            owner,
            bits,
            frac,
            nonneg: false,
            value: None,
            calibrated_log2: None,
        }
    }

    /// A public constant: its encodings (two's complement integers at `frac`) in the plan.
    pub fn public(shape: Vec<usize>, bits: u32, frac: u32, value: Vec<i64>) -> TensorDecl {
        TensorDecl {
            value: Some(value),
            ..TensorDecl::new(shape, Owner::Public, bits, frac)
        }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn format(&self) -> Format {
        Format::signed(self.bits)
    }
}

/// The most coefficients of a `poly` instruction (degree 16).
pub const MAX_POLY_TERMS: usize = 17;

/// One Block-ReLU instruction's comparisons against plain ReLU's ([`Plan::block_relus`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReluUse {
    pub instr: usize,
    pub layer: Option<String>,
    pub shape: [usize; 3],
    pub patches: Vec<crate::fixed::Patch>,
    /// DReLUs per sample (one per patch), and plain ReLU's (one per element).
    pub drelus: usize,
    pub relus: usize,
    /// The bytes of those comparisons per sample, and of plain ReLU's at the same width.
    pub drelu_bytes: u64,
    pub relu_drelu_bytes: u64,
    /// The ring the patch sums are compared in.
    pub sum_bits: u32,
    /// The whole layer's bytes per sample — the instruction (comparisons and selections) and
    /// every instruction that only prepares its sums (their extension) — and plain ReLU's
    /// (comparison and multiplexer) on the same tensor at the same width.
    pub layer_bytes: u64,
    pub relu_bytes: u64,
}

/// One polynomial activation's cost beside plain ReLU's on as many elements at a storage
/// width ([`Plan::polys`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolyUse {
    pub instr: usize,
    pub layer: Option<String>,
    pub elements: usize,
    /// The ring the polynomial is evaluated in.
    pub ring_bits: u32,
    /// Per sample: the instruction's online bytes and flights, its preprocessing bytes.
    pub online_bytes: u64,
    pub rounds: u64,
    pub pre_bytes: u64,
    /// Plain ReLU (comparison and multiplexer) on as many elements at the storage width, and
    /// its flights.
    pub relu_bytes: u64,
    pub relu_rounds: u64,
}

/// A [C, H, W] shape as an array.
pub(crate) fn chw(shape: &[usize]) -> Option<[usize; 3]> {
    match *shape {
        [c, h, w] => Some([c, h, w]),
        _ => None,
    }
}

/// A selection on one leading axis (after the compiler evaluated its indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sel {
    Index(usize),
    Range(usize, usize),
    Full,
}

/// How a truncation rounds and where its result lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trunc {
    /// SiRnn's TR: ⌊x/2^s⌋ of the unsigned encoding, into Z_{2^{ℓ−s}} (the caller adds the
    /// offsets that make it signed, and 2^{s−1} to round).
    Reduce,
    /// Arithmetic shift in the same ring (floor).
    Ars,
    /// Arithmetic shift in the same ring, rounding to nearest.
    ArsRound,
}

/// What an instruction does. Formats come from the operand and result tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The owner's input (`Client`) or weight (`Server`) becomes shares.
    Share,
    /// Shares become the client's value.
    Reveal,
    /// A public constant as shares (the server's share is the value, the client's 0): free.
    Embed,
    Add,
    Sub,
    Neg,
    /// Shared + public constant (same format; the constant has the shared operand's shape or
    /// is a scalar).
    AddPublic,
    /// Shared × public constant (its shape or a scalar), exact mod 2^ℓ (fractions add).
    MulPublic,
    /// The encoding reduced to the result's (smaller) width: free, and exact when the value
    /// fits (the compiler narrows only what its ranges say fits).
    Narrow,
    /// NumPy broadcasting to the result's shape.
    Broadcast,
    Select {
        sels: Vec<Sel>,
    },
    Reshape,
    Transpose,
    /// The k_h×k_w windows of a [C, H, W] tensor (zero padding `pad`, step `stride`) as rows:
    /// [OH·OW, C·KH·KW] for a convolution, or with `per_channel` [C·OH·OW, KH·KW] for pooling.
    Patches {
        kh: usize,
        kw: usize,
        stride: usize,
        pad: usize,
        per_channel: bool,
    },
    Concat {
        axis: usize,
    },
    /// Sum over an axis (all axes: `None`), mod 2^ℓ (extend first).
    Sum {
        axis: Option<usize>,
    },
    /// Sign- (or, for a non-negative operand, zero-) extension to the result's width.
    Extend,
    Truncate {
        shift: u32,
        mode: Trunc,
    },
    /// Shared × shared, elementwise (SiRnn's UMult/SMult; equal shapes).
    Mult,
    /// Shared X [d1, d2] (or [d2]) × the server's W [d2, d3] (SiRnn's MatMul).
    MatMul,
    /// Shared X [d1, d2] (or [d2]) × shared Y [d2, d3], Y already in the result's ring
    /// (SiRnn's MatMul in both directions, [`crate::proto::linear::matmul_shared`]).
    MatMulShared,
    /// A function of the math library over rows of `cols` (elementwise ones ignore it).
    Math {
        func: MathOp,
        #[serde(default = "one")]
        cols: usize,
        /// sigmoid and tanh: the spline the compiler chose (checked on every input there);
        /// absent: rExp and the reciprocal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spline: Option<crate::math::funcs::Spline>,
    },
    Relu,
    /// Block-ReLU on a [C, H, W] tensor x with a patch choice per channel (one entry: every
    /// channel alike), operands [x, s]: each patch (tiled from the top-left) of x kept where
    /// the sum of s over it is positive (mod 2^bits(s)), else zeroed; identity channels kept,
    /// zero channels dropped. s holds x's values at x's fraction in a ring wide enough for the
    /// sums (the compiler narrows it free from a wider value x was itself narrowed from).
    BlockRelu {
        patches: Vec<crate::fixed::Patch>,
    },
    /// Σ_k coeffs[k]·x^k in x's ring (wrapping; the compiler pre-scales the coefficients so
    /// the exact value fits), by the activation co-design paper's one-round protocol: shared
    /// powers of a random mask prepared before the input is known (the instruction's `pre`
    /// cost), then one exchange opening x − r.
    Poly {
        coeffs: Vec<i64>,
    },
}

fn one() -> usize {
    1
}

/// One instruction: `out = op(args…)`, where it came from, and its recorded cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instr {
    #[serde(flatten)]
    pub op: Op,
    pub args: Vec<usize>,
    pub out: usize,
    /// Byte range in the source, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<[u32; 2]>,
    /// The source-level name the result belongs to (a `let`, a function), for `--by layer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub cost: Cost,
    /// The input-independent preprocessing it needs before the run (the polynomial's mask
    /// powers), recorded apart from its online `cost`.
    #[serde(default, skip_serializing_if = "Cost::is_zero")]
    pub pre: Cost,
}

/// What [`Plan::check`] proved about a plan, for the stages that run it: computed once and
/// read by [`crate::exec`]'s estimates and execution, which therefore recompute nothing and
/// keep no error arms for what cannot happen.
#[derive(Clone, Debug)]
pub struct PlanInfo {
    /// Per tensor: it holds one value per sample — the client's inputs and everything computed
    /// from them (weights, constants and what derives from those alone hold one for the batch).
    pub per_sample: Vec<bool>,
    /// Per tensor: the instruction after which a party may drop it (its last reader); `None`
    /// for the outputs, the public constants and tensors nothing reads.
    pub last_use: Vec<Option<usize>>,
    /// Per instruction.
    pub instrs: Vec<InstrInfo>,
    /// The OT engine the plan's costs are priced for.
    pub ot: OtKind,
}

/// One validated instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrInfo {
    pub op: OpInfo,
    /// Units per sample ([`Plan::units`]) and the operand elements of one unit.
    pub units: usize,
    pub unit_len: usize,
    /// Its protocol parameters, resolved from the tensors.
    pub kernel: Kernel,
}

/// A named model input, weight or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Io {
    pub name: String,
    pub tensor: usize,
    /// Every value `sir compile` saw here (the calibration inputs; the weights it compiled)
    /// had a magnitude below 2^this: a party warns about its values beyond it (its format, with
    /// headroom, holds more). The format's integer bits already tell as much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated_log2: Option<u32>,
}

impl Io {
    /// A named input, weight or output with no calibrated range.
    pub fn new(name: impl Into<String>, tensor: usize) -> Io {
        Io {
            name: name.into(),
            tensor,
            calibrated_log2: None,
        }
    }
}

/// Characters a plan's (or a peer's) text may not put on a terminal: controls (escape
/// sequences), and the format characters (bidirectional overrides, zero-width joiners) that
/// make text read differently from what it is.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF)
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    pub model: String,
    /// BLAKE3 of the model's source text (hex).
    pub source_hash: String,
    /// The options it was compiled with (recorded for `sir verify`).
    #[serde(default)]
    pub options: serde_json::Value,
    /// The OT engine its costs are priced for (both parties must run it).
    #[serde(default = "OtKind::iknp", skip_serializing_if = "OtKind::is_iknp")]
    pub ot: OtKind,
    /// Products with the server's weights pay their OT payloads in the preprocessing
    /// ([`crate::proto::masked`]); absent: online, as plans compiled before the choice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked_products: bool,
    pub tensors: Vec<TensorDecl>,
    /// The client's inputs, the server's weights and the outputs, in declaration order.
    pub inputs: Vec<Io>,
    pub params: Vec<Io>,
    pub outputs: Vec<Io>,
    pub instrs: Vec<Instr>,
    /// The instructions' layer labels in source order (instructions run in another order:
    /// independent ones are grouped), for listing layers as the model reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// Why a plan is refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("instruction {instr} ({op}): {why}")]
    Instr {
        instr: usize,
        op: &'static str,
        why: String,
    },
    #[error("{0}")]
    Plan(String),
    #[error("plan version {found} is not supported (this build reads version {VERSION})")]
    Version { found: u32 },
    #[error("not a plan: {0}")]
    Json(#[from] serde_json::Error),
}

/// The protocol family an instruction belongs to ([`OpInfo::family`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Each party computes it on its own shares (or the public values): no communication.
    Local,
    /// Sharing an input or weight, revealing an output.
    Io,
    ExtensionTruncation,
    Multiplication,
    /// A function of SiRnn's math library.
    Math,
    /// CrypTFlow2's comparison (ReLU, Block-ReLU).
    Comparison,
    /// The one-round polynomial, with its preprocessing.
    Polynomial,
}

impl Family {
    /// The label of `sir inspect --by protocol`.
    pub fn label(self) -> &'static str {
        match self {
            Family::Local => "local",
            Family::Io => "io",
            Family::ExtensionTruncation => "extension/truncation",
            Family::Multiplication => "multiplication",
            Family::Math => "math (SiRnn)",
            Family::Comparison => "comparison (CrypTFlow2)",
            Family::Polynomial => "polynomial (one round)",
        }
    }
}

/// How many operands an instruction takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

impl Arity {
    pub fn admits(self, n: usize) -> bool {
        match self {
            Arity::Exactly(a) => n == a,
            Arity::AtLeast(a) => n >= a,
        }
    }
}

impl std::fmt::Display for Arity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arity::Exactly(a) => write!(f, "{a}"),
            Arity::AtLeast(a) => write!(f, "at least {a}"),
        }
    }
}

/// An instruction's static properties, declared once ([`Op::info`]) and read everywhere else
/// (validation, cost, execution, reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The name in plans' text form and reports.
    pub name: &'static str,
    pub family: Family,
    pub arity: Arity,
    /// Its units may be sliced across connections ([`Plan::units`]); the input and output
    /// messages, Block-ReLU's patches (which span elements) and the polynomial's masks
    /// (prepared for the whole tensor on the first connection) stay whole.
    pub splits: bool,
    /// It needs an input-independent preprocessing phase before the run ([`Plan::pre_cost_at`]).
    pub preprocessed: bool,
}

impl Op {
    /// Everything static about this instruction. One exhaustive match: a new instruction
    /// declares its properties here (docs/add-an-instruction.md lists the other places).
    pub fn info(&self) -> OpInfo {
        let local = |name, arity| OpInfo {
            name,
            family: Family::Local,
            arity: Arity::Exactly(arity),
            splits: false,
            preprocessed: false,
        };
        let protocol = |name, family, arity, splits| OpInfo {
            name,
            family,
            arity: Arity::Exactly(arity),
            splits,
            preprocessed: false,
        };
        match self {
            Op::Share => protocol("share", Family::Io, 1, false),
            Op::Reveal => protocol("reveal", Family::Io, 1, false),
            Op::Embed => local("embed", 1),
            Op::Add => local("add", 2),
            Op::Sub => local("sub", 2),
            Op::Neg => local("neg", 1),
            Op::AddPublic => local("add_public", 2),
            Op::MulPublic => local("mul_public", 2),
            Op::Narrow => local("narrow", 1),
            Op::Broadcast => local("broadcast", 1),
            Op::Select { .. } => local("select", 1),
            Op::Reshape => local("reshape", 1),
            Op::Transpose => local("transpose", 1),
            Op::Patches { .. } => local("patches", 1),
            Op::Concat { .. } => OpInfo {
                arity: Arity::AtLeast(1),
                ..local("concat", 1)
            },
            Op::Sum { .. } => local("sum", 1),
            Op::Extend => protocol("extend", Family::ExtensionTruncation, 1, true),
            Op::Truncate { .. } => protocol("truncate", Family::ExtensionTruncation, 1, true),
            Op::Mult => protocol("mult", Family::Multiplication, 2, true),
            Op::MatMul => protocol("matmul", Family::Multiplication, 2, true),
            Op::MatMulShared => protocol("matmul_shared", Family::Multiplication, 2, true),
            Op::Math { func, .. } => protocol(func.name(), Family::Math, 1, true),
            Op::Relu => protocol("relu", Family::Comparison, 1, true),
            Op::BlockRelu { .. } => protocol("block_relu", Family::Comparison, 2, false),
            Op::Poly { .. } => OpInfo {
                preprocessed: true,
                ..protocol("poly", Family::Polynomial, 1, false)
            },
        }
    }

    pub fn name(&self) -> &'static str {
        self.info().name
    }

    /// The protocol family's label, for `sir inspect --by protocol`.
    pub fn protocol(&self) -> &'static str {
        self.info().family.label()
    }
}

impl Plan {
    /// Every string of the plan is printable as it is: names, the model, the layers and the
    /// recorded options hold no control or format characters (`sir` prints them; a compiled
    /// plan never has any, so one that does was made to attack a terminal).
    fn check_text(&self) -> Result<(), PlanError> {
        fn json_ok(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => !s.chars().any(unsafe_char),
                serde_json::Value::Array(a) => a.iter().all(json_ok),
                serde_json::Value::Object(o) => o
                    .iter()
                    .all(|(k, v)| !k.chars().any(unsafe_char) && json_ok(v)),
                _ => true,
            }
        }
        let bad = |what: String| {
            Err(PlanError::Plan(format!(
                "{what} contains a control or format character (a terminal escape?)"
            )))
        };
        let clean = |t: &str| !t.chars().any(unsafe_char);
        if !clean(&self.model) || !clean(&self.source_hash) {
            return bad("the model name or source hash".into());
        }
        for (kind, ios) in [
            ("input", &self.inputs),
            ("param", &self.params),
            ("output", &self.outputs),
        ] {
            if let Some(i) = ios.iter().position(|io| !clean(&io.name)) {
                return bad(format!("{kind} {i}'s name"));
            }
        }
        if let Some(i) = self
            .tensors
            .iter()
            .position(|t| t.name.as_deref().is_some_and(|n| !clean(n)))
        {
            return bad(format!("tensor {i}'s name"));
        }
        if let Some(i) = self
            .instrs
            .iter()
            .position(|x| x.layer.as_deref().is_some_and(|n| !clean(n)))
        {
            return bad(format!("instruction {i}'s layer"));
        }
        if !json_ok(&self.options) {
            return bad("the recorded options".into());
        }
        if self.layers.iter().any(|l| !clean(l)) {
            return bad("a layer name".into());
        }
        Ok(())
    }

    /// An empty plan of this format version, to be filled by [`Plan::tensor`] and
    /// [`Plan::push`].
    pub fn new(model: impl Into<String>, source_hash: String, options: serde_json::Value) -> Plan {
        Plan {
            version: VERSION,
            model: model.into(),
            source_hash,
            options,
            ot: OtKind::Iknp,
            masked_products: false,
            tensors: Vec::new(),
            inputs: Vec::new(),
            params: Vec::new(),
            outputs: Vec::new(),
            instrs: Vec::new(),
            layers: Vec::new(),
        }
    }

    /// The same plan priced for another OT engine: every instruction's recorded cost and
    /// preprocessing recomputed (the instructions themselves do not depend on the engine).
    pub fn reprice(&mut self, ot: OtKind) -> Result<(), PlanError> {
        self.ot = ot;
        for k in 0..self.instrs.len() {
            self.instrs[k].cost = self.instr_cost(k)?;
            self.instrs[k].pre = self.pre_cost_at(k, self.units(k))?;
        }
        Ok(())
    }

    /// Records the instructions' layers in their current order as the source order.
    pub fn record_layer_order(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.layers = self
            .instrs
            .iter()
            .filter_map(|i| i.layer.clone())
            .filter(|l| seen.insert(l.clone()))
            .collect();
    }

    /// Parses and checks a plan.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        Plan::load(text).map(|(plan, _)| plan)
    }

    /// Parses and checks a plan, and returns what the check proved (for running it).
    pub fn load(text: &str) -> Result<(Plan, PlanInfo), PlanError> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let found = v.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != VERSION {
            return Err(PlanError::Version { found });
        }
        let plan: Plan = serde_json::from_value(v)?;
        let info = plan.check()?;
        Ok((plan, info))
    }

    /// The canonical JSON text (what is hashed and written).
    pub fn to_json(&self) -> String {
        // A plan is plain data; serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// BLAKE3 of the canonical JSON: both parties compare it in the handshake.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(self.to_json().as_bytes()).as_bytes()
    }

    /// Appends `out = op(args)` after validating it against the tensors so far, with its
    /// exact cost recorded: how the compiler builds plans.
    pub fn push(
        &mut self,
        op: Op,
        args: Vec<usize>,
        out: usize,
        span: Option<[u32; 2]>,
        layer: Option<String>,
    ) -> Result<(), PlanError> {
        let nt = self.tensors.len();
        if out >= nt || args.iter().any(|&a| a >= nt) {
            return Err(PlanError::Plan(format!(
                "{}: names a tensor that does not exist",
                op.name()
            )));
        }
        self.instrs.push(Instr {
            op,
            args,
            out,
            span,
            layer,
            cost: Cost::ZERO,
            pre: Cost::ZERO,
        });
        let k = self.instrs.len() - 1;
        let r = self.check_instr(k).and_then(|_| {
            let c = self.instr_cost(k)?;
            Ok((c, self.pre_cost_at(k, self.units(k))?))
        });
        match r {
            Ok((c, pre)) => {
                self.instrs[k].cost = c;
                self.instrs[k].pre = pre;
                Ok(())
            }
            Err(e) => {
                self.instrs.pop();
                Err(e)
            }
        }
    }

    /// Adds a tensor; returns its id.
    pub fn tensor(&mut self, t: TensorDecl) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Every Block-ReLU instruction's comparisons (per sample) against plain ReLU's on the
    /// same tensor.
    pub fn block_relus(&self) -> Vec<BlockReluUse> {
        let mut out = Vec::new();
        for (k, ins) in self.instrs.iter().enumerate() {
            let Op::BlockRelu { patches } = &ins.op else {
                continue;
            };
            let t = &self.tensors[ins.out];
            let Some(shape @ [c, h, w]) = chw(&t.shape) else {
                continue;
            };
            let sum_bits = ins.args.get(1).map_or(t.bits, |&a| self.tensors[a].bits);
            let layer_bytes = ins.cost.total_bytes()
                + ins
                    .args
                    .get(1)
                    .map_or(0, |&s| self.preparing(s, ins.args[0]));
            let drelus: usize = (0..c)
                .filter_map(|ch| crate::fixed::Patch::of_channel(patches, ch))
                .map(|p| p.drelus(h, w))
                .sum();
            out.push(BlockReluUse {
                instr: k,
                layer: ins.layer.clone(),
                shape,
                patches: patches.clone(),
                drelus,
                relus: c * h * w,
                drelu_bytes: crate::proto::relu::patch_drelu_cost(drelus, sum_bits)
                    .on(self.ot)
                    .total_bytes(),
                relu_drelu_bytes: crate::proto::relu::drelu_cost(c * h * w, t.bits)
                    .on(self.ot)
                    .total_bytes(),
                sum_bits,
                layer_bytes,
                relu_bytes: crate::proto::relu::relu_cost(c * h * w, t.bits)
                    .on(self.ot)
                    .total_bytes(),
            });
        }
        out
    }

    /// Every polynomial activation against plain ReLU on as many elements at `bits` (the
    /// plan's storage width), on the plan's engine.
    pub fn polys(&self, bits: u32) -> Vec<PolyUse> {
        self.instrs
            .iter()
            .enumerate()
            .filter(|(_, ins)| matches!(ins.op, Op::Poly { .. }))
            .map(|(k, ins)| {
                let t = &self.tensors[ins.out];
                let n = t.numel();
                let relu = crate::proto::relu::relu_cost(n, bits).on(self.ot);
                PolyUse {
                    instr: k,
                    layer: ins.layer.clone(),
                    elements: n,
                    ring_bits: t.bits,
                    online_bytes: ins.cost.total_bytes(),
                    rounds: ins.cost.rounds,
                    pre_bytes: ins.pre.total_bytes(),
                    relu_bytes: relu.total_bytes(),
                    relu_rounds: relu.rounds,
                }
            })
            .collect()
    }

    /// The bytes of the instructions that compute tensor `t` and nothing `x` depends on: what
    /// preparing `t` alone costs beside `x` (e.g. a Block-ReLU's sums beside its operand).
    fn preparing(&self, t: usize, x: usize) -> u64 {
        let mut writer = vec![usize::MAX; self.tensors.len()];
        for (k, ins) in self.instrs.iter().enumerate() {
            writer[ins.out] = k;
        }
        let ancestors = |start: usize| {
            let mut seen = vec![false; self.tensors.len()];
            let mut stack = vec![start];
            while let Some(u) = stack.pop() {
                if std::mem::replace(&mut seen[u], true) {
                    continue;
                }
                if let Some(ins) = self.instrs.get(writer[u]) {
                    stack.extend(ins.args.iter().copied());
                }
            }
            seen
        };
        let (of_x, of_t) = (ancestors(x), ancestors(t));
        (0..self.tensors.len())
            .filter(|&u| of_t[u] && !of_x[u])
            .filter_map(|u| self.instrs.get(writer[u]))
            .map(|ins| ins.cost.total_bytes())
            .sum()
    }

    /// The sum of the instructions' recorded costs (one after another).
    pub fn total(&self) -> Cost {
        self.sum(|i| i.cost)
    }

    /// The sum of the instructions' recorded preprocessing costs.
    pub fn pre_total(&self) -> Cost {
        self.sum(|i| i.pre)
    }

    fn sum(&self, of: impl Fn(&Instr) -> Cost) -> Cost {
        self.instrs.iter().map(of).fold(Cost::ZERO, Cost::then)
    }

    fn err(&self, k: usize, why: impl Into<String>) -> PlanError {
        PlanError::Instr {
            instr: k,
            op: self.instrs[k].op.name(),
            why: why.into(),
        }
    }

    /// The exact cost of instruction `k` from the protocols' cost functions.
    pub fn instr_cost(&self, k: usize) -> Result<Cost, PlanError> {
        self.cost_at(k, self.units(k))
    }

    /// How many independent units instruction `k` works on per sample: its elements, or for
    /// a function over rows its rows, for a matrix product X's rows. A batch of B samples (or
    /// a slice of one, on another connection) is the same instruction on more (or fewer)
    /// units, which is all [`Plan::cost_at`] needs to cost it.
    pub fn units(&self, k: usize) -> usize {
        let ins = &self.instrs[k];
        let x = &self.tensors[ins.args[0]];
        match &ins.op {
            Op::MatMul | Op::MatMulShared => match x.shape[..] {
                [d1, _] => d1,
                _ => 1,
            },
            Op::Math { cols, .. } => x.numel() / (*cols).max(1),
            _ => self.tensors[ins.out].numel(),
        }
    }

    /// The operand elements of one unit of instruction `k` (see [`Plan::units`]).
    pub fn unit_len(&self, k: usize) -> usize {
        let ins = &self.instrs[k];
        let x = &self.tensors[ins.args[0]];
        match &ins.op {
            Op::MatMul | Op::MatMulShared => x.shape.last().copied().unwrap_or(1),
            Op::Math { cols, .. } => (*cols).max(1),
            _ => 1,
        }
    }

    /// The exact cost of the input-independent preprocessing instruction `k` needs on `units`
    /// units (zero but for the polynomial's mask powers).
    pub fn pre_cost_at(&self, k: usize, units: usize) -> Result<Cost, PlanError> {
        Ok(self.kernel(k)?.pre_cost(units).on(self.ot))
    }

    /// The exact cost of instruction `k` on `units` units (its own count: [`Plan::instr_cost`]).
    pub fn cost_at(&self, k: usize, units: usize) -> Result<Cost, PlanError> {
        Ok(self
            .kernel(k)?
            .cost(units)
            .map_err(|why| self.err(k, why))?
            .on(self.ot))
    }

    /// Instruction `k` resolved to its protocol call ([`Kernel`]): every parameter read off its
    /// tensors. [`Plan::check`] validates the instruction first and hands the kernels on in
    /// [`PlanInfo`].
    pub fn kernel(&self, k: usize) -> Result<Kernel, PlanError> {
        let ins = &self.instrs[k];
        let t = |i: usize| &self.tensors[ins.args[i]];
        let out = &self.tensors[ins.out];
        Ok(match &ins.op {
            Op::Share => Kernel::Share {
                owner: kernel::owner(t(0).owner)
                    .ok_or_else(|| self.err(k, "shares only a client's or server's tensor"))?,
                bits: out.bits,
            },
            Op::Reveal => Kernel::Reveal { bits: out.bits },
            Op::Extend => Kernel::Extend {
                from: t(0).bits,
                to: out.bits,
                nonneg: t(0).nonneg,
            },
            Op::Truncate { shift, mode } => Kernel::Truncate {
                bits: t(0).bits,
                shift: *shift,
                mode: *mode,
            },
            Op::Mult => Kernel::Mult(self.mult_params(k)?),
            Op::MatMul | Op::MatMulShared => {
                let (dims, _) = self.matmul_dims(k)?;
                let params = crate::proto::linear::MatMulParams {
                    dims,
                    x: t(0).format(),
                    w: t(1).format(),
                    out_bits: out.bits,
                };
                match ins.op {
                    Op::MatMul => Kernel::MatMul {
                        params,
                        masked: self.masked_products,
                    },
                    _ => Kernel::MatMulShared { params },
                }
            }
            Op::Math { func, cols, spline } => Kernel::Math {
                func: *func,
                params: self.math_params(k, *cols).pinned(*spline),
            },
            Op::Relu => Kernel::Relu { bits: out.bits },
            Op::BlockRelu { patches } => Kernel::BlockRelu {
                shape: chw(&out.shape).ok_or_else(|| self.err(k, "needs a [C, H, W] tensor"))?,
                patches: patches.clone(),
                bits: out.bits,
                sum_bits: t(1).bits,
            },
            Op::Poly { coeffs } => Kernel::Poly {
                coeffs: coeffs.clone(),
                bits: out.bits,
            },
            Op::Embed
            | Op::Add
            | Op::Sub
            | Op::Neg
            | Op::AddPublic
            | Op::MulPublic
            | Op::Narrow
            | Op::Broadcast
            | Op::Select { .. }
            | Op::Reshape
            | Op::Transpose
            | Op::Patches { .. }
            | Op::Concat { .. }
            | Op::Sum { .. } => Kernel::Local,
        })
    }

    pub(crate) fn mult_params(&self, k: usize) -> Result<MultParams, PlanError> {
        let ins = &self.instrs[k];
        let (x, y) = (&self.tensors[ins.args[0]], &self.tensors[ins.args[1]]);
        let out = self.tensors[ins.out].bits;
        if out > x.bits + y.bits {
            return Err(self.err(k, format!("{out} bits exceed m + n = {}", x.bits + y.bits)));
        }
        Ok(MultParams {
            x: x.format(),
            y: y.format(),
            out_bits: out,
        })
    }

    /// MatMul's dimensions, and whether X is a vector.
    pub(crate) fn matmul_dims(&self, k: usize) -> Result<(MatDims, bool), PlanError> {
        let ins = &self.instrs[k];
        let (x, w) = (&self.tensors[ins.args[0]], &self.tensors[ins.args[1]]);
        let (d1, d2, vec) = match x.shape[..] {
            [d2] => (1, d2, true),
            [d1, d2] => (d1, d2, false),
            _ => return Err(self.err(k, "X must be a vector or a matrix")),
        };
        match w.shape[..] {
            [e2, d3] if e2 == d2 => Ok((MatDims::new(d1, d2, d3), vec)),
            _ => Err(self.err(k, "W's shape does not fit X's")),
        }
    }

    pub(crate) fn math_params(&self, k: usize, cols: usize) -> MathParams {
        let ins = &self.instrs[k];
        let (x, out) = (&self.tensors[ins.args[0]], &self.tensors[ins.out]);
        MathParams::new(Fx::new(x.bits, x.frac), Fx::new(out.bits, out.frac), cols).on(self.ot)
    }

    /// Validates the whole plan: every instruction's operands, shapes and formats, the sizes,
    /// and every recorded cost. Returns what it proved ([`PlanInfo`]) for the stages that run
    /// the plan.
    pub fn check(&self) -> Result<PlanInfo, PlanError> {
        if self.version != VERSION {
            return Err(PlanError::Version {
                found: self.version,
            });
        }
        self.check_text()?;
        let nt = self.tensors.len();
        let mut total: u64 = 0;
        for (i, t) in self.tensors.iter().enumerate() {
            // Every axis and the product of the non-empty ones are bounded (an empty axis
            // must not hide huge strides), and ranks stay small.
            let nonzero = t
                .shape
                .iter()
                .filter(|&&d| d != 0)
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
                .filter(|&n| n <= MAX_TOTAL_ELEMENTS);
            if nonzero.is_none() || t.shape.len() > 8 {
                return Err(PlanError::Plan(format!("tensor {i} is too large")));
            }
            let n = t.numel() as u64;
            total = total.saturating_add(n);
            if !(1..=64).contains(&t.bits) || t.frac > t.bits {
                return Err(PlanError::Plan(format!(
                    "tensor {i}: format of {} bits with {} fraction bits",
                    t.bits, t.frac
                )));
            }
            let fits = |v: &[i64]| {
                let lo = -(1i128 << (t.bits - 1));
                v.iter().all(|&x| (lo..-lo).contains(&(x as i128)))
            };
            match (&t.value, t.owner) {
                (Some(v), Owner::Public) if v.len() as u64 == n && fits(v) => {}
                (None, o) if o != Owner::Public => {}
                _ => {
                    return Err(PlanError::Plan(format!(
                        "tensor {i}: only public constants carry values, all of them, each fitting its width"
                    )));
                }
            }
        }
        if total > MAX_TOTAL_ELEMENTS {
            return Err(PlanError::Plan(format!(
                "the plan's tensors hold {total} elements (at most {MAX_TOTAL_ELEMENTS})"
            )));
        }
        let in_range = |i: usize| i < nt;
        for io in self.inputs.iter().chain(&self.params).chain(&self.outputs) {
            if !in_range(io.tensor) {
                return Err(PlanError::Plan(format!("`{}` names no tensor", io.name)));
            }
        }
        // The client's inputs are exactly its tensors, the server's weights exactly its own,
        // each listed once.
        for (list, owner, what) in [
            (&self.inputs, Owner::Client, "input"),
            (&self.params, Owner::Server, "weight"),
        ] {
            let mut listed = vec![false; nt];
            for io in list.iter() {
                if self.tensors[io.tensor].owner != owner || listed[io.tensor] {
                    return Err(PlanError::Plan(format!(
                        "{what} `{}` is not a tensor of its owner, or is listed twice",
                        io.name
                    )));
                }
                listed[io.tensor] = true;
            }
            // (A server tensor may also be the server's own rearrangement of a weight.)
            let produced: Vec<bool> = {
                let mut v = vec![false; nt];
                for ins in &self.instrs {
                    if ins.out < nt {
                        v[ins.out] = true;
                    }
                }
                v
            };
            if let Some(i) =
                (0..nt).find(|&i| self.tensors[i].owner == owner && !listed[i] && !produced[i])
            {
                return Err(PlanError::Plan(format!(
                    "tensor {i} is held by a party but is no {what}"
                )));
            }
        }
        // Each tensor is written once, after its operands (instructions run in order).
        let mut written = vec![false; nt];
        let listed_io: std::collections::HashSet<usize> = self
            .inputs
            .iter()
            .chain(&self.params)
            .map(|io| io.tensor)
            .collect();
        for (i, t) in self.tensors.iter().enumerate() {
            written[i] = t.owner == Owner::Public || listed_io.contains(&i);
        }
        let mut instrs = Vec::with_capacity(self.instrs.len());
        for (k, ins) in self.instrs.iter().enumerate() {
            if !in_range(ins.out) || ins.args.iter().any(|&a| !in_range(a)) {
                return Err(self.err(k, "names a tensor that does not exist"));
            }
            let arity = ins.op.info().arity;
            if !arity.admits(ins.args.len()) {
                return Err(self.err(k, format!("takes {arity} operands, not {}", ins.args.len())));
            }
            if ins.args.iter().any(|&a| !written[a]) || written[ins.out] {
                return Err(self.err(
                    k,
                    "reads a tensor before it is written, or writes one twice",
                ));
            }
            self.check_instr(k)?;
            let kernel = self.kernel(k)?;
            let units = self.units(k);
            if kernel
                .cost(units)
                .map_err(|why| self.err(k, why))?
                .on(self.ot)
                != ins.cost
            {
                return Err(self.err(
                    k,
                    "its recorded cost is not what it costs (compiled by another version of sir? compile it again)",
                ));
            }
            if kernel.pre_cost(units).on(self.ot) != ins.pre {
                return Err(self.err(k, "its recorded preprocessing cost is not what it costs"));
            }
            written[ins.out] = true;
            instrs.push(InstrInfo {
                op: ins.op.info(),
                units,
                unit_len: self.unit_len(k),
                kernel,
            });
        }
        for o in &self.outputs {
            if self.tensors[o.tensor].owner != Owner::Revealed || !written[o.tensor] {
                return Err(PlanError::Plan(format!(
                    "output `{}` is not revealed to the client",
                    o.name
                )));
            }
        }
        Ok(PlanInfo {
            per_sample: self.per_sample(),
            last_use: self.last_use(),
            instrs,
            ot: self.ot,
        })
    }

    /// Which tensors hold one value per sample: the client's inputs and everything computed
    /// from them. Weights, constants and what is computed from those alone are one value for
    /// the batch.
    pub fn per_sample(&self) -> Vec<bool> {
        let mut ps: Vec<bool> = self
            .tensors
            .iter()
            .map(|t| t.owner == Owner::Client)
            .collect();
        for ins in &self.instrs {
            if ins
                .args
                .iter()
                .any(|&a| ps.get(a).copied().unwrap_or(false))
                && let Some(o) = ps.get_mut(ins.out)
            {
                *o = true;
            }
        }
        ps
    }

    /// Per tensor, the last instruction that reads it; `None` for the outputs and public
    /// constants (kept to the end) and for what nothing reads.
    fn last_use(&self) -> Vec<Option<usize>> {
        let mut last = vec![None; self.tensors.len()];
        for (k, ins) in self.instrs.iter().enumerate() {
            for &a in &ins.args {
                last[a] = Some(k);
            }
        }
        for o in &self.outputs {
            last[o.tensor] = None;
        }
        for (i, t) in self.tensors.iter().enumerate() {
            if t.owner == Owner::Public {
                last[i] = None;
            }
        }
        last
    }

    /// The shape and format rules of one instruction.
    fn check_instr(&self, k: usize) -> Result<(), PlanError> {
        let ins = &self.instrs[k];
        let arity = ins.op.info().arity;
        if !arity.admits(ins.args.len()) {
            return Err(self.err(k, format!("takes {arity} operands, not {}", ins.args.len())));
        }
        let t = |i: usize| &self.tensors[ins.args[i]];
        let out = &self.tensors[ins.out];
        let bad = |why: &str| Err(self.err(k, why));
        let shared = |x: &TensorDecl| x.owner == Owner::Shared;
        let same_fmt = |a: &TensorDecl, b: &TensorDecl| a.bits == b.bits && a.frac == b.frac;
        match &ins.op {
            Op::Share => {
                if !matches!(t(0).owner, Owner::Client | Owner::Server)
                    || !shared(out)
                    || t(0).shape != out.shape
                    || !same_fmt(t(0), out)
                {
                    return bad("shares a client's or server's tensor into one like it");
                }
            }
            Op::Reveal => {
                if !shared(t(0))
                    || out.owner != Owner::Revealed
                    || t(0).shape != out.shape
                    || !same_fmt(t(0), out)
                {
                    return bad("reveals a shared tensor as it is");
                }
            }
            Op::Embed => {
                if t(0).owner != Owner::Public
                    || !shared(out)
                    || t(0).shape != out.shape
                    || !same_fmt(t(0), out)
                {
                    return bad("embeds a public tensor into shares like it");
                }
            }
            Op::Add | Op::Sub => {
                if !(shared(t(0)) && shared(t(1)) && shared(out))
                    || t(0).shape != out.shape
                    || t(1).shape != out.shape
                    || !same_fmt(t(0), out)
                    || !same_fmt(t(1), out)
                {
                    return bad("adds shared tensors of one shape and format");
                }
            }
            Op::Poly { coeffs } => {
                let fits = |c: i64| {
                    out.bits == 64
                        || (c >= -(1i64 << (out.bits - 1)) && c < (1i64 << (out.bits - 1)))
                };
                if !shared(t(0))
                    || !shared(out)
                    || t(0).shape != out.shape
                    || t(0).bits != out.bits
                    || coeffs.is_empty()
                    || coeffs.len() > MAX_POLY_TERMS
                    || !coeffs.iter().all(|&c| fits(c))
                {
                    return bad(
                        "maps a shared tensor to one of its ring, with 1 to 17 coefficients that fit it",
                    );
                }
            }
            Op::BlockRelu { patches } => {
                let channels = chw(&out.shape).map(|s| s[0]);
                if !shared(t(0))
                    || !shared(t(1))
                    || !shared(out)
                    || t(0).shape != out.shape
                    || t(1).shape != out.shape
                    || !same_fmt(t(0), out)
                    || t(1).frac != t(0).frac
                    || t(1).bits < t(0).bits
                    || channels.is_none()
                    || !(patches.len() == 1 || Some(patches.len()) == channels)
                {
                    return bad(
                        "maps a shared [C, H, W] tensor, with its values at as many or more bits for the sums, to one like it, with one patch choice or one per channel",
                    );
                }
            }
            Op::Neg | Op::Relu => {
                if !shared(t(0)) || !shared(out) || t(0).shape != out.shape || !same_fmt(t(0), out)
                {
                    return bad("maps a shared tensor to one like it");
                }
            }
            Op::AddPublic | Op::MulPublic => {
                // (A product of shares with a public constant is local only in the same ring.)
                let fmt_ok = match ins.op {
                    Op::AddPublic => same_fmt(t(0), out) && same_fmt(t(1), out),
                    _ => t(0).frac + t(1).frac == out.frac && out.bits == t(0).bits,
                };
                let shape_ok = t(1).shape == out.shape || t(1).shape.is_empty();
                if !shared(t(0))
                    || t(1).owner != Owner::Public
                    || t(0).shape != out.shape
                    || !shape_ok
                    || !fmt_ok
                {
                    return bad("combines a shared tensor with a public one (its shape or scalar)");
                }
            }
            Op::Narrow => {
                if !shared(t(0))
                    || !shared(out)
                    || out.bits > t(0).bits
                    || out.frac != t(0).frac
                    || t(0).shape != out.shape
                {
                    return bad("narrows a shared tensor, same scale");
                }
            }
            Op::Broadcast
            | Op::Select { .. }
            | Op::Reshape
            | Op::Transpose
            | Op::Patches { .. }
            | Op::Concat { .. }
            | Op::Sum { .. } => {
                // The server may rearrange its own weights (e.g. a convolution's kernel into
                // a matrix); everything else moves shares.
                let server_move = matches!(ins.op, Op::Reshape | Op::Transpose)
                    && t(0).owner == Owner::Server
                    && out.owner == Owner::Server;
                let all_shared = ins.args.iter().all(|&a| shared(&self.tensors[a])) && shared(out);
                if !(server_move || all_shared)
                    || ins.args.iter().any(|&a| !same_fmt(&self.tensors[a], out))
                {
                    return bad(
                        "rearranges shared tensors (or the server's own) of the result's format",
                    );
                }
                let want = clear::shape_of(
                    &ins.op,
                    &ins.args
                        .iter()
                        .map(|&a| &self.tensors[a].shape[..])
                        .collect::<Vec<_>>(),
                    &out.shape,
                )
                .map_err(|w| self.err(k, w))?;
                if want != out.shape {
                    return bad("its result's shape is not what the operation gives");
                }
            }
            Op::Extend => {
                if !shared(t(0))
                    || !shared(out)
                    || out.bits < t(0).bits
                    || t(0).frac != out.frac
                    || t(0).shape != out.shape
                {
                    return bad("widens a shared tensor, same scale");
                }
            }
            Op::Truncate { shift, mode } => {
                let bits_ok = match mode {
                    Trunc::Reduce => out.bits.checked_add(*shift) == Some(t(0).bits),
                    _ => out.bits == t(0).bits,
                };
                if !shared(t(0))
                    || !shared(out)
                    || !bits_ok
                    || *shift >= t(0).bits
                    || t(0).frac < *shift
                    || out.frac.checked_add(*shift) != Some(t(0).frac)
                    || t(0).shape != out.shape
                {
                    return bad("shifts a shared tensor right (scale and width follow)");
                }
            }
            Op::Mult => {
                self.mult_params(k)?;
                if !(shared(t(0)) && shared(t(1)) && shared(out))
                    || t(0).shape != out.shape
                    || t(1).shape != out.shape
                    || t(0).frac + t(1).frac != out.frac
                {
                    return bad("multiplies shared tensors of one shape (scales add)");
                }
            }
            Op::MatMul | Op::MatMulShared => {
                let (dims, vec) = self.matmul_dims(k)?;
                let work = (dims.d1 as u128) * (dims.d2 as u128) * (dims.d3 as u128);
                if work > 1 << 32 {
                    return bad("multiplies matrices too large (d1·d2·d3 ≤ 2^32)");
                }
                let want = if vec {
                    vec![dims.d3]
                } else {
                    vec![dims.d1, dims.d3]
                };
                if !shared(t(0)) || !shared(out) || out.shape != want {
                    return bad("multiplies a shared X [d1, d2] (or [d2]) into a shared result");
                }
                if t(0).frac + t(1).frac != out.frac {
                    return bad("multiplies matrices whose scales do not add up to the result's");
                }
                match ins.op {
                    Op::MatMul if t(1).owner != Owner::Server || t(0).bits + t(1).bits > 64 => {
                        return bad("multiplies shared X by the server's W (m + n ≤ 64)");
                    }
                    Op::MatMulShared if !shared(t(1)) || t(1).bits != out.bits => {
                        return bad("multiplies shared X by shared Y in the result's ring");
                    }
                    _ => {}
                }
            }
            Op::Math { func, cols, spline } => {
                let x = t(0);
                if spline.is_some()
                    && !matches!(func, MathOp::Sigmoid | MathOp::Tanh | MathOp::Gelu)
                {
                    return bad("records a spline, which only sigmoid, tanh and gelu have");
                }
                if x.numel() > MAX_MATH_ELEMENTS {
                    return bad("applies a math function to more than 2^22 elements at once");
                }
                if func.is_building_block() {
                    return bad("is a building block, not a plan instruction");
                }
                let row = func.is_row();
                let last = x.shape.last().copied().unwrap_or(1);
                let rows_ok = if row {
                    *cols == last && last >= 1
                } else {
                    *cols == 1
                };
                let want = if func.reduces_row() {
                    let mut s = x.shape.clone();
                    s.pop();
                    s
                } else {
                    x.shape.clone()
                };
                if !shared(x) || !shared(out) || !rows_ok || out.shape != want {
                    return bad("applies a math function to a shared tensor");
                }
                func.check(&self.math_params(k, *cols).pinned(*spline))
                    .map_err(|e| self.err(k, e.to_string()))?;
            }
        }
        Ok(())
    }
}
