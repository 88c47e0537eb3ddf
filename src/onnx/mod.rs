//! `sir import`: an ONNX model (one batch axis first, as torch.onnx, tf2onnx and skl2onnx export
//! it) to a readable `.sir` model and its weights.
//!
//! The ONNX graph is walked in its (topological) node order. A value is either an activation —
//! a per-sample tensor of the `.sir` model, named after the ONNX value, whose shape drops the
//! batch axis — or a constant known at import (an initializer, a `Constant`), which becomes a
//! `param` where an operation needs it (transposed, scaled or reshaped as the `.sir` form needs:
//! Gemm's `transB`, `alpha` and `beta`, a leading broadcast axis of size 1) or a literal if it is
//! a scalar. BatchNormalization after a Conv or Gemm whose output nothing else reads is folded
//! into its weights; elsewhere it is a per-channel affine map. Every node becomes one `let` with
//! the ONNX node's name in a comment. An operator or attribute outside what is supported is
//! refused naming the node, the operator and what to do — never imported as something else.

pub mod proto;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use prost::Message;
use proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, dtype};
use sir_runtime::Tensor;

/// What an import produced: the `.sir` source and one weight array per `param`.
#[derive(Debug)]
pub struct Imported {
    pub source: String,
    pub weights: Vec<(String, Tensor)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a readable ONNX model: {0}")]
    Decode(String),
    #[error("node `{node}` ({op}): {why}")]
    Node {
        node: String,
        op: String,
        why: String,
    },
    #[error("{0}")]
    Model(String),
}

/// A value of the ONNX graph.
#[derive(Clone, Debug)]
enum Val {
    /// Computed per sample by the `.sir` model: its name there, its per-sample shape, and where
    /// the batch axis sits in its ONNX shape (0 but after the transposes RNNs take).
    Act {
        name: String,
        shape: Vec<usize>,
        batch: usize,
    },
    /// Known at import: its ONNX shape and values, and where it came from (for param names).
    Const {
        shape: Vec<usize>,
        data: Vec<f64>,
        origin: String,
    },
}

/// Names a `.sir` identifier may not take.
const RESERVED: &[&str] = &[
    "model", "fn", "use", "input", "param", "let", "mut", "for", "in", "output", "return",
];

/// Reads the ONNX model in `bytes`; `source_name` goes into the header comment.
pub fn import(bytes: &[u8], source_name: &str) -> Result<Imported, ImportError> {
    let model = ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    if !(7..=23).contains(&opset) {
        return Err(ImportError::Model(format!(
            "the model imports ONNX opset {opset}; sir import reads opsets 7 to 23"
        )));
    }
    let graph = model
        .graph
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let mut t = Translator::default();
    let nodes = t.prepare(graph.clone())?;
    // The outputs keep their ONNX names (what `sir eval --out` and the run name them).
    let out_names: Vec<String> = graph.output.iter().map(|o| t.fresh(&o.name)).collect();
    t.inputs(&graph)?;
    for node in &nodes {
        t.node(node)?;
    }
    let mut outputs = Vec::new();
    for (o, out) in graph.output.iter().zip(&out_names) {
        match t.vals.get(&o.name).cloned() {
            Some(Val::Act { name, .. }) => {
                outputs.push(format!("    output {out} = {name};"));
            }
            Some(Val::Const { .. }) => {
                return Err(ImportError::Model(format!(
                    "graph output `{}` does not depend on the input",
                    o.name
                )));
            }
            None => {
                return Err(ImportError::Model(format!(
                    "graph output `{}` is computed by no node",
                    o.name
                )));
            }
        }
    }
    let name = {
        let n = sanitize(&graph.name);
        if n.is_empty() || n == "_" {
            "imported".to_string()
        } else {
            n
        }
    };
    let mut src = String::new();
    let _ = writeln!(
        src,
        "// Imported from {} (producer `{}`, ONNX opset {opset}) by `sir import`.",
        source_name.replace('\n', " "),
        model.producer_name.replace('\n', " ")
    );
    if t.uses_rnn {
        let _ = writeln!(src, "use std::rnn;\n");
    }
    let _ = writeln!(src, "model {name} {{");
    for l in &t.decls {
        let _ = writeln!(src, "{l}");
    }
    for l in &t.body {
        let _ = writeln!(src, "{l}");
    }
    for l in &outputs {
        let _ = writeln!(src, "{l}");
    }
    src.push_str("}\n");
    Ok(Imported {
        source: src,
        weights: t.weights,
    })
}

/// An identifier from an ONNX name: letters, digits and `_`, not starting with a digit.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_string();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("v{s}")
    } else {
        s
    }
}

/// A float as a `.sir` literal (negative values in parentheses).
fn literal(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let s = format!("{:?}", v.abs());
    Some(if v < 0.0 { format!("(-{s})") } else { s })
}

/// NumPy broadcasting of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        let pad = n - s.len();
        if i < pad { 1 } else { s[i - pad] }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn tensor_values(t: &TensorProto) -> Result<Vec<f64>, String> {
    if t.data_location == 1 {
        return Err(format!(
            "tensor `{}` keeps its data in an external file: save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))",
            t.name
        ));
    }
    let n = t
        .dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?))
        .ok_or_else(|| format!("tensor `{}` has dims {:?}", t.name, t.dims))?;
    let raw = &t.raw_data;
    let v: Vec<f64> = match t.data_type {
        dtype::FLOAT if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        dtype::FLOAT => t.float_data.iter().map(|&x| x as f64).collect(),
        dtype::DOUBLE if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        dtype::DOUBLE => t.double_data.clone(),
        dtype::INT64 if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
            .collect(),
        dtype::INT64 => t.int64_data.iter().map(|&x| x as f64).collect(),
        dtype::INT32 if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        dtype::INT32 => t.int32_data.iter().map(|&x| x as f64).collect(),
        d => {
            return Err(format!(
                "tensor `{}` has data type {d} (float, double, int32 and int64 are read)",
                t.name
            ));
        }
    };
    if v.len() != n {
        return Err(format!(
            "tensor `{}` holds {} values for dims {:?}",
            t.name,
            v.len(),
            t.dims
        ));
    }
    Ok(v)
}

/// An ONNX axis of a tensor of rank `r` whose batch axis is `batch`: the axis and the
/// per-sample axis it is, or why not (out of range, or the batch axis itself).
fn sample_axis(axis: i64, r: i64, batch: usize, what: &str) -> Result<(usize, usize), String> {
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&axis) {
        return Err(format!("axis {axis} is outside the input's {r} axes"));
    }
    let axis = axis as usize;
    if axis == batch {
        return Err(format!("{what} along the batch axis"));
    }
    Ok((axis, axis - (axis > batch) as usize))
}

/// A node's first output's name ("" if it has none).
fn first_output(n: &NodeProto) -> String {
    n.output.first().cloned().unwrap_or_default()
}

fn dims(t: &TensorProto) -> Vec<usize> {
    t.dims.iter().map(|&d| d.max(0) as usize).collect()
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn attr_f(n: &NodeProto, name: &str, default: f64) -> f64 {
    attr(n, name).map_or(default, |a| a.f as f64)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

#[derive(Default)]
struct Translator {
    vals: HashMap<String, Val>,
    /// Activations holding class indices (argmax and what passes them on): integer casts of
    /// these are exact.
    integral: HashSet<String>,
    /// ONNX values some node or graph output reads.
    read: HashSet<String>,
    /// Whether the model calls `std::rnn`'s cells.
    uses_rnn: bool,
    used: HashSet<String>,
    decls: Vec<String>,
    body: Vec<String>,
    weights: Vec<(String, Tensor)>,
}

impl Translator {
    fn fresh(&mut self, base: &str) -> String {
        let mut s = sanitize(base);
        if RESERVED.contains(&s.as_str()) || sir_compiler::resolve::BUILTINS.contains(&s.as_str()) {
            s.push('_');
        }
        let mut name = s.clone();
        let mut k = 1;
        while self.used.contains(&name) {
            k += 1;
            name = format!("{s}_{k}");
        }
        self.used.insert(name.clone());
        name
    }

    fn shape_str(s: &[usize]) -> String {
        let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
        format!("[{}]", parts.join(", "))
    }

    /// A new `param` holding `data` with `shape`.
    fn param(&mut self, base: &str, shape: Vec<usize>, data: Vec<f64>) -> Result<String, String> {
        let name = self.fresh(base);
        let t = Tensor::new(shape.clone(), data)
            .ok_or_else(|| format!("weights `{base}` do not fill shape {shape:?}"))?;
        self.decls.push(format!(
            "    param {name}: {};  // {base}",
            Self::shape_str(&shape)
        ));
        self.weights.push((name.clone(), t));
        Ok(name)
    }

    /// The graph's initializers as constants; BatchNormalization folded into the Conv or Gemm
    /// before it where that node's output has no other reader. Returns the nodes to translate.
    fn prepare(&mut self, g: GraphProto) -> Result<Vec<NodeProto>, ImportError> {
        let mut consts: HashMap<String, (Vec<usize>, Vec<f64>)> = HashMap::new();
        for t in &g.initializer {
            let v = tensor_values(t).map_err(ImportError::Model)?;
            consts.insert(t.name.clone(), (dims(t), v));
        }
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for n in &g.node {
            for i in &n.input {
                *readers.entry(i.as_str()).or_default() += 1;
            }
        }
        for o in &g.output {
            *readers.entry(o.name.as_str()).or_default() += 1;
        }
        self.read = readers.keys().map(|k| k.to_string()).collect();
        let mut nodes = g.node.clone();
        let mut drop = vec![false; nodes.len()];
        for b in 0..nodes.len() {
            if nodes[b].op_type != "BatchNormalization" || nodes[b].input.len() < 5 {
                continue;
            }
            let x = nodes[b].input[0].clone();
            let Some(p) = nodes[..b].iter().position(|n| n.output.first() == Some(&x)) else {
                continue;
            };
            let op = nodes[p].op_type.clone();
            if !matches!(op.as_str(), "Conv" | "Gemm") || readers.get(x.as_str()) != Some(&1) {
                continue;
            }
            let get = |k: usize| consts.get(&nodes[b].input[k]).cloned();
            let (Some(sc), Some(bi), Some(me), Some(va)) = (get(1), get(2), get(3), get(4)) else {
                continue;
            };
            let Some((ws, w)) = nodes[p].input.get(1).and_then(|i| consts.get(i)).cloned() else {
                continue;
            };
            let eps = attr_f(&nodes[b], "epsilon", 1e-5);
            let c = sc.1.len();
            if [&bi, &me, &va].iter().any(|t| t.1.len() != c) || c == 0 {
                continue;
            }
            let a: Vec<f64> = (0..c).map(|i| sc.1[i] / (va.1[i] + eps).sqrt()).collect();
            // Output channel of each weight entry: Conv's axis 0; Gemm's B axis 0 if transB.
            let trans_b = attr_i(&nodes[p], "transB", 0) == 1;
            let per_out: Box<dyn Fn(usize) -> usize> = match (op.as_str(), trans_b) {
                ("Gemm", false) => {
                    let m = ws.get(1).copied().unwrap_or(1).max(1);
                    Box::new(move |j| j % m)
                }
                _ => {
                    let stride = w.len() / ws.first().copied().unwrap_or(1).max(1);
                    Box::new(move |j| j / stride.max(1))
                }
            };
            if ws.first().copied() != Some(c)
                && !(op == "Gemm" && !trans_b && ws.get(1) == Some(&c))
            {
                continue;
            }
            if op == "Gemm"
                && (attr_f(&nodes[p], "alpha", 1.0) != 1.0 || attr_f(&nodes[p], "beta", 1.0) != 1.0)
            {
                continue;
            }
            let w2: Vec<f64> = w
                .iter()
                .enumerate()
                .map(|(j, &v)| v * a[per_out(j)])
                .collect();
            let b0: Vec<f64> = match nodes[p].input.get(2).and_then(|n| consts.get(n)) {
                Some((_, v)) if v.len() == c => v.clone(),
                Some((_, v)) if v.len() == 1 => vec![v[0]; c],
                _ => vec![0.0; c],
            };
            let b2: Vec<f64> = (0..c).map(|i| (b0[i] - me.1[i]) * a[i] + bi.1[i]).collect();
            let (wn, bn) = (
                format!("{}_bn_folded", nodes[p].input[1]),
                format!("{}_bn_folded_bias", nodes[p].output[0]),
            );
            consts.insert(wn.clone(), (ws, w2));
            consts.insert(bn.clone(), (vec![c], b2));
            nodes[p].input[1] = wn;
            if nodes[p].input.len() < 3 {
                nodes[p].input.push(bn);
            } else {
                nodes[p].input[2] = bn;
            }
            nodes[p].output[0] = nodes[b].output[0].clone();
            drop[b] = true;
        }
        for (name, (shape, data)) in consts {
            self.vals.insert(
                name.clone(),
                Val::Const {
                    shape,
                    data,
                    origin: name,
                },
            );
        }
        // Nodes no graph output depends on are left out (exporters' dead size computations).
        let mut live: HashSet<String> = g.output.iter().map(|o| o.name.clone()).collect();
        let mut keep = vec![false; nodes.len()];
        for (k, n) in nodes.iter().enumerate().rev() {
            if drop[k] || !n.output.iter().any(|o| live.contains(o)) {
                continue;
            }
            keep[k] = true;
            live.extend(n.input.iter().cloned());
        }
        Ok(nodes
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(n, _)| n)
            .collect())
    }

    /// The graph inputs that are not initializers: `input` declarations without the batch axis.
    fn inputs(&mut self, g: &GraphProto) -> Result<(), ImportError> {
        for i in &g.input {
            if self.vals.contains_key(&i.name) {
                continue;
            }
            let dims: Vec<Option<i64>> = i
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .and_then(|t| t.shape.as_ref())
                .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
                .ok_or_else(|| {
                    ImportError::Model(format!("graph input `{}` has no tensor shape", i.name))
                })?;
            // The batch axis: the one dimension without a fixed size, else the first.
            let free: Vec<usize> = (0..dims.len())
                .filter(|&k| dims[k].is_none_or(|d| d <= 0))
                .collect();
            let batch = if dims.len() >= 2 && free.len() == 1 {
                free[0]
            } else {
                0
            };
            let per: Vec<Option<i64>> = if dims.len() >= 2 {
                let mut p = dims.clone();
                p.remove(batch);
                p
            } else {
                dims.clone()
            };
            let shape: Vec<usize> = per
                .iter()
                .map(|d| match d {
                    Some(v) if *v > 0 => Ok(*v as usize),
                    _ => Err(ImportError::Model(format!(
                        "graph input `{}` has a dimension other than the batch axis that is not a fixed number ({dims:?}); export with fixed shapes",
                        i.name
                    ))),
                })
                .collect::<Result<_, _>>()?;
            let name = self.fresh(&i.name);
            self.decls
                .push(format!("    input {name}: {};", Self::shape_str(&shape)));
            self.vals
                .insert(i.name.clone(), Val::Act { name, shape, batch });
        }
        Ok(())
    }

    fn get(&self, n: &NodeProto, k: usize) -> Result<Val, String> {
        let name = n
            .input
            .get(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("input {k} is missing"))?;
        self.vals
            .get(name)
            .cloned()
            .ok_or_else(|| format!("input `{name}` is produced by no earlier node"))
    }

    /// `let OUT = expr;` for the node's first output (batch axis first).
    fn emit(&mut self, n: &NodeProto, expr: String, shape: Vec<usize>) {
        self.emit_at(n, expr, shape, 0);
    }

    /// [`Translator::emit`] with the batch axis at `batch`.
    fn emit_at(&mut self, n: &NodeProto, expr: String, shape: Vec<usize>, batch: usize) {
        self.emit_as(n, &first_output(n), expr, shape, batch);
    }

    /// `let NAME = expr;` for ONNX value `out`, its batch axis at `batch`.
    fn emit_as(&mut self, n: &NodeProto, out: &str, expr: String, shape: Vec<usize>, batch: usize) {
        let name = self.fresh(out);
        let what = if n.name.is_empty() {
            n.op_type.clone()
        } else {
            format!("{} ({})", n.name, n.op_type)
        };
        self.body
            .push(format!("    let {name} = {expr};  // {what}"));
        self.vals
            .insert(out.to_string(), Val::Act { name, shape, batch });
    }

    /// An elementwise operand next to an activation of per-sample rank `rank`: an activation's
    /// name, a scalar constant's literal, or a constant as a param with the batch axis's
    /// leading 1 dropped.
    fn operand(&mut self, v: &Val, rank: usize) -> Result<(String, Vec<usize>), String> {
        match v {
            Val::Act { name, shape, batch } => {
                if *batch != 0 {
                    return Err(
                        "an operand's batch axis is not its first: transpose it back".into(),
                    );
                }
                Ok((name.clone(), shape.clone()))
            }
            Val::Const { data, .. } if data.len() == 1 => {
                Ok((literal(data[0]).ok_or("a constant is not finite")?, vec![]))
            }
            Val::Const {
                shape,
                data,
                origin,
            } => {
                let mut s = shape.clone();
                while s.len() > rank {
                    if s[0] != 1 {
                        return Err(format!(
                            "constant `{origin}` of shape {shape:?} broadcasts over the batch axis"
                        ));
                    }
                    s.remove(0);
                }
                while s.first() == Some(&1) && s.len() > 1 {
                    s.remove(0);
                }
                Ok((self.param(origin, s.clone(), data.clone())?, s))
            }
        }
    }

    /// An activation wherever its batch axis sits: (name, per-sample shape, batch axis).
    fn act_any(v: &Val, what: &str) -> Result<(String, Vec<usize>, usize), String> {
        match v {
            Val::Act { name, shape, batch } => Ok((name.clone(), shape.clone(), *batch)),
            Val::Const { origin, .. } => Err(format!(
                "{what} is the constant `{origin}`: sir import needs it computed from the input"
            )),
        }
    }

    /// An activation whose batch axis comes first (what every operator but the RNNs and the
    /// data movement around them expects).
    fn act(v: &Val, what: &str) -> Result<(String, Vec<usize>), String> {
        match Self::act_any(v, what)? {
            (name, shape, 0) => Ok((name, shape)),
            _ => Err(format!(
                "{what} has its batch axis elsewhere than first (an RNN's layout): transpose it back first"
            )),
        }
    }

    fn constant(v: &Val, what: &str) -> Result<(Vec<usize>, Vec<f64>, String), String> {
        match v {
            Val::Const {
                shape,
                data,
                origin,
            } => Ok((shape.clone(), data.clone(), origin.clone())),
            Val::Act { .. } => Err(format!(
                "{what} is computed by the model: sir import needs it as a constant (an initializer)"
            )),
        }
    }

    /// GRU (both `linear_before_reset` conventions) and LSTM, forward, one layer, default
    /// activations, unrolled over the sequence: `std::rnn`'s `gru_cell_lbr` and `lstm_cell`
    /// where they match ONNX's equations, the GRU with the reset gate before the product
    /// (`linear_before_reset = 0`) written out. Y (every step's state) is built only if read.
    fn rnn(&mut self, n: &NodeProto) -> Result<(), String> {
        let lstm = n.op_type == "LSTM";
        let (x, s, b) = Self::act_any(&self.get(n, 0)?, "X")?;
        let layout = attr_i(n, "layout", 0);
        if b != if layout == 0 { 1 } else { 0 } || s.len() != 2 {
            return Err(format!(
                "X must be [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1), not per-sample {s:?} with the batch axis at {b}"
            ));
        }
        let dir = attr(n, "direction").map(|a| String::from_utf8_lossy(&a.s).to_string());
        if dir.as_deref().is_some_and(|d| d != "forward") {
            return Err("only direction = forward is supported".into());
        }
        if attr(n, "activations").is_some() || attr(n, "clip").is_some() {
            return Err("only the default activations without clip are supported".into());
        }
        if attr_i(n, "input_forget", 0) != 0 {
            return Err("input_forget is not supported".into());
        }
        let (t_len, i_len) = (s[0], s[1]);
        let gates = if lstm { 4 } else { 3 };
        let (ws, wd, wo) = Self::constant(&self.get(n, 1)?, "W")?;
        let (_, rd, ro) = Self::constant(&self.get(n, 2)?, "R")?;
        let hh = attr_i(
            n,
            "hidden_size",
            (ws.get(1).copied().unwrap_or(0) / gates) as i64,
        );
        if !(1..=1 << 20).contains(&hh) {
            return Err(format!("hidden_size {hh}"));
        }
        let hh = hh as usize;
        if ws != [1, gates * hh, i_len] || rd.len() != gates * hh * hh {
            return Err(format!(
                "W is {ws:?}: one direction, {gates}·hidden × input expected"
            ));
        }
        let bd = match self.get(n, 3) {
            Ok(v) => Self::constant(&v, "B")?.1,
            Err(_) => vec![0.0; 2 * gates * hh],
        };
        if bd.len() != 2 * gates * hh {
            return Err("B must hold 2·gates·hidden values".into());
        }
        if self.get(n, 4).is_ok() {
            return Err(
                "sequence_lens is not supported: every sequence has the full length".into(),
            );
        }
        if lstm && self.get(n, 7).is_ok() {
            return Err("peepholes (P) are not supported".into());
        }
        // Gate g's input block transposed to [input, hidden], its recurrent block to
        // [hidden, hidden], its two biases.
        let block = |data: &[f64], g: usize, cols: usize| -> Vec<f64> {
            let mut out = vec![0.0; cols * hh];
            for r in 0..hh {
                for c in 0..cols {
                    out[c * hh + r] = data[(g * hh + r) * cols + c];
                }
            }
            out
        };
        let bias = |g: usize, rec: bool| -> Vec<f64> {
            let o = if rec { gates * hh } else { 0 } + g * hh;
            bd[o..o + hh].to_vec()
        };
        let initial = |me: &mut Self, k: usize, what: &str| -> Result<Option<String>, String> {
            match me.get(n, k) {
                Ok(v) => {
                    let (sh, d, o) = Self::constant(&v, what)?;
                    if d.len() != hh {
                        return Err(format!(
                            "{what} of shape {sh:?}: one direction and a batch of one expected"
                        ));
                    }
                    Ok(Some(me.param(&o, vec![hh], d)?))
                }
                Err(_) => Ok(None),
            }
        };
        let h0 = initial(self, 5, "initial_h")?;
        let c0 = if lstm {
            initial(self, 6, "initial_c")?
        } else {
            None
        };
        let node = sanitize(if n.name.is_empty() {
            &n.op_type
        } else {
            &n.name
        });
        let p = |me: &mut Self, what: &str, shape: Vec<usize>, data: Vec<f64>| {
            me.param(&format!("{node}_{what}"), shape, data)
        };
        // ONNX gate orders: GRU z, r, h; LSTM i, o, f, c.
        let names: &[&str] = if lstm {
            &["i", "o", "f", "g"]
        } else {
            &["z", "r", "n"]
        };
        let mut w = Vec::new();
        let mut u = Vec::new();
        let mut bsum = Vec::new();
        let mut bin = Vec::new();
        let mut bhn = Vec::new();
        for (g, gn) in names.iter().enumerate() {
            w.push(p(
                self,
                &format!("W{gn}"),
                vec![i_len, hh],
                block(&wd, g, i_len),
            )?);
            u.push(p(self, &format!("U{gn}"), vec![hh, hh], block(&rd, g, hh))?);
            let (bw, br) = (bias(g, false), bias(g, true));
            if !lstm && g == 2 {
                bin.push(p(self, "bin", vec![hh], bw)?);
                bhn.push(p(self, "bhn", vec![hh], br)?);
            } else {
                let sum: Vec<f64> = bw.iter().zip(&br).map(|(a, c)| a + c).collect();
                bsum.push(p(self, &format!("b{gn}"), vec![hh], sum)?);
            }
        }
        let _ = (wo, ro);
        let lbr = attr_i(n, "linear_before_reset", 0) == 1;
        let outs: Vec<String> = n.output.clone();
        let want_y = outs
            .first()
            .is_some_and(|o| !o.is_empty() && self.read.contains(o));
        let h = self.fresh(&format!("{node}_h"));
        let c = self.fresh(&format!("{node}_c"));
        let what = format!("{} ({})", n.name, n.op_type);
        let (zn, rn, nn) = (
            self.fresh(&format!("{node}_z")),
            self.fresh(&format!("{node}_r")),
            self.fresh(&format!("{node}_n")),
        );
        self.body.push(format!(
            "    let mut {h} = {};  // {what}",
            h0.clone().unwrap_or_else(|| format!("zeros([{hh}])"))
        ));
        if lstm {
            self.body.push(format!(
                "    let mut {c} = {};",
                c0.clone().unwrap_or_else(|| format!("zeros([{hh}])"))
            ));
        }
        // One step at x[t]: the statements updating h (and c).
        let step = |t: &str| -> Vec<String> {
            if lstm {
                vec![format!(
                    "({h}, {c}) = lstm_cell({x}[{t}], {h}, {c}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
                    w[0],
                    u[0],
                    bsum[0],
                    w[2],
                    u[2],
                    bsum[2],
                    w[3],
                    u[3],
                    bsum[3],
                    w[1],
                    u[1],
                    bsum[1]
                )]
            } else if lbr {
                vec![format!(
                    "{h} = gru_cell_lbr({x}[{t}], {h}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
                    w[0], u[0], bsum[0], w[1], u[1], bsum[1], w[2], u[2], bin[0], bhn[0]
                )]
            } else {
                vec![
                    format!(
                        "let {zn} = sigmoid({x}[{t}] @ {} + {h} @ {} + {});",
                        w[0], u[0], bsum[0]
                    ),
                    format!(
                        "let {rn} = sigmoid({x}[{t}] @ {} + {h} @ {} + {});",
                        w[1], u[1], bsum[1]
                    ),
                    format!(
                        "let {nn} = tanh({x}[{t}] @ {} + ({rn} * {h}) @ {} + {} + {});",
                        w[2], u[2], bin[0], bhn[0]
                    ),
                    format!("{h} = (1 - {zn}) * {nn} + {zn} * {h};"),
                ]
            }
        };
        self.uses_rnn |= lstm || lbr;
        let mut states = Vec::new();
        if want_y {
            for t in 0..t_len {
                // (A step's lets shadow the previous step's.)
                for l in step(&t.to_string()) {
                    self.body.push(format!("    {l}"));
                }
                let st = self.fresh(&format!("{node}_y{t}"));
                self.body
                    .push(format!("    let {st} = reshape({h}, [1, 1, {hh}]);"));
                states.push(st);
            }
        } else {
            self.body.push(format!("    for t in 0..{t_len} {{"));
            for l in step("t") {
                self.body.push(format!("        {l}"));
            }
            self.body.push("    }".into());
        }
        // Y [seq, 1, batch, hidden] (batch axis 2), Y_h and Y_c [1, batch, hidden] (axis 1).
        if want_y {
            let y = outs[0].clone();
            let e = if states.len() == 1 {
                states[0].clone()
            } else {
                format!("concat([{}], axis = 0)", states.join(", "))
            };
            self.emit_as(n, &y, e, vec![t_len, 1, hh], 2);
        }
        for (k, src) in [(1, &h), (2, &c)] {
            let read = |o: &&String| !o.is_empty() && self.read.contains(*o);
            if let Some(o) = outs.get(k).filter(|o| read(o) && (k == 1 || lstm)) {
                self.emit_as(n, o, format!("reshape({src}, [1, {hh}])"), vec![1, hh], 1);
            }
        }
        Ok(())
    }

    /// The node's value when it is known at import: exporters compute reshape targets from
    /// `Shape` through Gather, Unsqueeze, Concat and arithmetic (torch's `x.view(x.size(0),
    /// -1)`). `Shape` of an activation gives its per-sample dimensions and 1 for the batch
    /// axis (which Reshape reads as the batch entry, whatever its value). None: not constant.
    fn fold(&self, n: &NodeProto) -> Result<Option<Val>, String> {
        let op = n.op_type.as_str();
        let konst = |shape: Vec<usize>, data: Vec<f64>| {
            Some(Val::Const {
                shape,
                data,
                origin: first_output(n),
            })
        };
        if op == "Shape" {
            let Val::Act { shape, batch, .. } = self.get(n, 0)? else {
                let (sh, _, _) = Self::constant(&self.get(n, 0)?, "its input")?;
                let d: Vec<f64> = sh.iter().map(|&v| v as f64).collect();
                return Ok(konst(vec![d.len()], d));
            };
            let mut full: Vec<f64> = shape.iter().map(|&v| v as f64).collect();
            full.insert(batch.min(full.len()), 1.0);
            let r = full.len() as i64;
            let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (a, b) = (clamp(attr_i(n, "start", 0)), clamp(attr_i(n, "end", r)));
            let d = full.get(a..b.max(a)).unwrap_or(&[]).to_vec();
            return Ok(konst(vec![d.len()], d));
        }
        if op == "ConstantOfShape" {
            let (_, dims, _) = Self::constant(&self.get(n, 0)?, "the shape")?;
            let v = match attr(n, "value").and_then(|a| a.t.as_ref()) {
                Some(t) => *tensor_values(t)?.first().unwrap_or(&0.0),
                None => 0.0,
            };
            let shape: Vec<usize> = dims.iter().map(|&d| d.max(0.0) as usize).collect();
            let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let len = len
                .filter(|&l| l <= 1 << 24)
                .ok_or("a constant too large")?;
            return Ok(konst(shape, vec![v; len]));
        }
        let foldable = matches!(
            op,
            "Gather"
                | "Unsqueeze"
                | "Squeeze"
                | "Concat"
                | "Cast"
                | "Add"
                | "Sub"
                | "Mul"
                | "Div"
                | "Reshape"
                | "Slice"
                | "Neg"
        );
        // Every named input must come from an earlier node, folded or not (an operator that
        // reads an input as optional must not take a dangling name for an absent one).
        if let Some(i) = n
            .input
            .iter()
            .find(|i| !i.is_empty() && !self.vals.contains_key(*i))
        {
            return Err(format!("input `{i}` is produced by no earlier node"));
        }
        if !foldable {
            return Ok(None);
        }
        let inputs: Vec<Val> = (0..n.input.len())
            .filter(|&k| !n.input[k].is_empty())
            .map(|k| self.get(n, k))
            .collect::<Result<_, _>>()?;
        if inputs.iter().any(|v| matches!(v, Val::Act { .. })) {
            return Ok(None);
        }
        let c = |k: usize| -> (Vec<usize>, Vec<f64>) {
            match inputs.get(k) {
                Some(Val::Const { shape, data, .. }) => (shape.clone(), data.clone()),
                _ => (vec![], vec![]),
            }
        };
        let ints = |k: usize| -> Vec<i64> { c(k).1.iter().map(|&v| v as i64).collect() };
        Ok(match op {
            "Cast" => {
                let (sh, d) = c(0);
                let to = attr_i(n, "to", dtype::FLOAT as i64) as i32;
                let int = to != dtype::FLOAT && to != dtype::DOUBLE;
                konst(
                    sh,
                    d.iter().map(|&v| if int { v.trunc() } else { v }).collect(),
                )
            }
            "Neg" => {
                let (sh, d) = c(0);
                konst(sh, d.iter().map(|v| -v).collect())
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let ((sa, a), (sb, b)) = (c(0), c(1));
                let shape = broadcast(&sa, &sb).ok_or("operand shapes do not broadcast")?;
                let len: usize = shape.iter().product();
                let at = |s: &[usize], d: &[f64], i: usize| -> f64 {
                    // Row-major index i of the broadcast shape, mapped into s.
                    let (mut rem, mut off, mut stride) = (i, 0usize, 1usize);
                    for (k, &dim) in shape.iter().enumerate().rev() {
                        let coord = rem % dim.max(1);
                        rem /= dim.max(1);
                        let pad = shape.len() - s.len();
                        if k >= pad {
                            let sd = s[k - pad];
                            off += if sd == 1 { 0 } else { coord * stride };
                            stride *= sd;
                        }
                    }
                    d.get(off).copied().unwrap_or(0.0)
                };
                let integral = a.iter().chain(&b).all(|v| v.fract() == 0.0);
                let data = (0..len)
                    .map(|i| {
                        let (x, y) = (at(&sa, &a, i), at(&sb, &b, i));
                        match op {
                            "Add" => x + y,
                            "Sub" => x - y,
                            "Mul" => x * y,
                            _ if integral && y != 0.0 => (x / y).trunc(),
                            _ => x / y,
                        }
                    })
                    .collect();
                konst(shape, data)
            }
            "Unsqueeze" | "Squeeze" | "Reshape" => {
                let (sh, d) = c(0);
                let axes: Vec<i64> = attr_ints(n, "axes")
                    .unwrap_or_else(|| if inputs.len() > 1 { ints(1) } else { vec![] });
                let out: Vec<usize> = match op {
                    "Squeeze" if axes.is_empty() => {
                        sh.iter().copied().filter(|&v| v != 1).collect()
                    }
                    "Squeeze" => {
                        let r = sh.len() as i64;
                        sh.iter()
                            .enumerate()
                            .filter(|(k, _)| {
                                !axes
                                    .iter()
                                    .any(|&a| (if a < 0 { a + r } else { a }) == *k as i64)
                            })
                            .map(|(_, &v)| v)
                            .collect()
                    }
                    "Unsqueeze" => {
                        let r = (sh.len() + axes.len()) as i64;
                        let mut ax: Vec<i64> = axes
                            .iter()
                            .map(|&a| if a < 0 { a + r } else { a })
                            .collect();
                        ax.sort_unstable();
                        let mut out = sh.clone();
                        for a in ax {
                            if a < 0 || a as usize > out.len() {
                                return Err(format!("axis {a} is out of range"));
                            }
                            out.insert(a as usize, 1);
                        }
                        out
                    }
                    _ => {
                        let t = ints(1);
                        let total = d.len();
                        let known: usize = t
                            .iter()
                            .enumerate()
                            .map(|(k, &v)| match v {
                                0 => sh.get(k).copied().unwrap_or(1),
                                -1 => 1,
                                v => v.max(0) as usize,
                            })
                            .product();
                        t.iter()
                            .enumerate()
                            .map(|(k, &v)| match v {
                                0 => sh.get(k).copied().unwrap_or(1),
                                -1 => total / known.max(1),
                                v => v.max(0) as usize,
                            })
                            .collect()
                    }
                };
                if out.iter().product::<usize>() != d.len() {
                    return Err(format!("a constant of shape {sh:?} cannot become {out:?}"));
                }
                konst(out, d)
            }
            "Concat" => {
                let axis = attr_i(n, "axis", 0);
                let parts: Vec<(Vec<usize>, Vec<f64>)> = (0..inputs.len()).map(c).collect();
                if parts.iter().any(|(s, _)| s.len() > 1) || axis != 0 && axis != -1 {
                    return Ok(None);
                }
                let d: Vec<f64> = parts.into_iter().flat_map(|(_, d)| d).collect();
                konst(vec![d.len()], d)
            }
            "Gather" => {
                let ((sh, d), (ish, idx)) = (c(0), c(1));
                if sh.len() != 1 || attr_i(n, "axis", 0) != 0 {
                    return Ok(None);
                }
                let len = sh[0] as i64;
                let picked: Vec<f64> = idx
                    .iter()
                    .map(|&i| {
                        let i = i as i64;
                        let i = if i < 0 { i + len } else { i };
                        d.get(i.max(0) as usize)
                            .copied()
                            .ok_or(format!("index {i} outside {len}"))
                    })
                    .collect::<Result<_, _>>()?;
                konst(ish, picked)
            }
            "Slice" => {
                let (sh, d) = c(0);
                if sh.len() != 1 || inputs.len() < 3 {
                    return Ok(None);
                }
                let len = sh[0] as i64;
                let fix = |v: i64| (if v < 0 { v + len } else { v }).clamp(0, len) as usize;
                let first = |k: usize| ints(k).first().copied();
                let (Some(a), Some(b)) = (first(1), first(2)) else {
                    return Ok(None);
                };
                let (a, b) = (fix(a), fix(b));
                let out = d.get(a..b.max(a)).unwrap_or(&[]).to_vec();
                konst(vec![out.len()], out)
            }
            _ => None,
        })
    }

    fn mark_integral(&mut self, n: &NodeProto) {
        if let Some(Val::Act { name, .. }) = n.output.first().and_then(|o| self.vals.get(o)) {
            self.integral.insert(name.clone());
        }
    }

    fn node(&mut self, n: &NodeProto) -> Result<(), ImportError> {
        let fail = |why: String| ImportError::Node {
            node: if n.name.is_empty() {
                first_output(n)
            } else {
                n.name.clone()
            },
            op: n.op_type.clone(),
            why,
        };
        let ml = n.domain == "ai.onnx.ml" && n.op_type == "ArrayFeatureExtractor";
        if !(n.domain.is_empty() || n.domain == "ai.onnx" || ml) {
            return Err(fail(format!(
                "operator domain `{}` is not ONNX's: export with the standard operator set",
                n.domain
            )));
        }
        self.translate(n).map_err(fail)
    }

    fn translate(&mut self, n: &NodeProto) -> Result<(), String> {
        if let Some(v) = self.fold(n)? {
            let out = first_output(n);
            self.vals.insert(out, v);
            return Ok(());
        }
        let op = n.op_type.as_str();
        match op {
            "Identity" | "Dropout" => {
                let v = self.get(n, 0)?;
                let out = first_output(n);
                self.vals.insert(out, v);
            }
            "Constant" => {
                let t = attr(n, "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or("only a `value` tensor attribute is read")?;
                let out = first_output(n);
                let v = Val::Const {
                    shape: dims(t),
                    data: tensor_values(t)?,
                    origin: out.clone(),
                };
                self.vals.insert(out, v);
            }
            "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Sqrt" | "Reciprocal" | "Neg" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let e = match op {
                    "Neg" => format!("-{x}"),
                    "Reciprocal" => format!("reciprocal({x})"),
                    _ => format!("{}({x})", op.to_lowercase()),
                };
                self.emit(n, e, s);
            }
            "LeakyRelu" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let a = literal(attr_f(n, "alpha", 0.01)).ok_or("alpha is not finite")?;
                self.emit(n, format!("relu({x}) - {a} * relu(-{x})"), s);
            }
            "Softmax" | "LogSoftmax" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let axis = attr_i(n, "axis", -1);
                let last = s.len() as i64; // ONNX rank − 1 (batch axis included)
                if axis != -1 && axis != last {
                    return Err(format!(
                        "axis {axis}: only the last axis is supported (softmax over rows)"
                    ));
                }
                if op == "LogSoftmax" {
                    return Err("LogSoftmax is not lowerable to two parties (log): export Softmax, or take argmax of the logits".into());
                }
                self.emit(n, format!("softmax({x})"), s);
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (a, b) = (self.get(n, 0)?, self.get(n, 1)?);
                let rank = match (&a, &b) {
                    (Val::Act { shape, .. }, Val::Act { shape: s2, .. }) => {
                        shape.len().max(s2.len())
                    }
                    (Val::Act { shape, .. }, _) | (_, Val::Act { shape, .. }) => shape.len(),
                    _ => {
                        return Err(
                            "both operands are constants: fold them before exporting".into()
                        );
                    }
                };
                let b = match (op, &b) {
                    // x / c = x · (1/c): `/` takes public constants only.
                    (
                        "Div",
                        Val::Const {
                            shape,
                            data,
                            origin,
                        },
                    ) => Val::Const {
                        shape: shape.clone(),
                        data: data.iter().map(|v| 1.0 / v).collect(),
                        origin: format!("{origin}_reciprocal"),
                    },
                    _ => b,
                };
                let (x, sx) = self.operand(&a, rank)?;
                let (y, sy) = self.operand(&b, rank)?;
                let shape = broadcast(&sx, &sy).ok_or("operand shapes do not broadcast")?;
                let e = match (op, &b) {
                    ("Div", Val::Act { .. }) => format!("{x} * reciprocal({y})"),
                    ("Div", _) | ("Mul", _) => format!("{x} * {y}"),
                    ("Add", _) => format!("{x} + {y}"),
                    _ => format!("{x} - {y}"),
                };
                self.emit(n, e, shape);
            }
            "Gemm" => {
                if attr_i(n, "transA", 0) != 0 {
                    return Err("transA = 1 is not supported (A is the batch of inputs)".into());
                }
                let (x, sx) = Self::act(&self.get(n, 0)?, "A")?;
                if sx.len() != 1 {
                    return Err(format!("A must be [batch, K], not a per-sample {sx:?}"));
                }
                let (bs, bd, origin) = Self::constant(&self.get(n, 1)?, "B")?;
                let (alpha, beta) = (attr_f(n, "alpha", 1.0), attr_f(n, "beta", 1.0));
                let [r, c] = bs[..] else {
                    return Err("B must be a matrix".into());
                };
                let (k, m) = if attr_i(n, "transB", 0) == 1 {
                    (c, r)
                } else {
                    (r, c)
                };
                if k != sx[0] {
                    return Err(format!("B is {bs:?}, A's rows have {} entries", sx[0]));
                }
                let mut w = vec![0.0; k * m];
                for i in 0..k {
                    for j in 0..m {
                        let v = if attr_i(n, "transB", 0) == 1 {
                            bd[j * k + i]
                        } else {
                            bd[i * m + j]
                        };
                        w[i * m + j] = alpha * v;
                    }
                }
                let wn = self.param(&origin, vec![k, m], w)?;
                let mut e = format!("{x} @ {wn}");
                if let Ok(cv) = self.get(n, 2) {
                    let (cs, cd, corigin) = Self::constant(&cv, "C")?;
                    let data: Vec<f64> = match cd.len() {
                        1 => vec![beta * cd[0]; m],
                        l if l == m => cd.iter().map(|v| beta * v).collect(),
                        _ => return Err(format!("C of shape {cs:?} does not broadcast to [{m}]")),
                    };
                    let cn = self.param(&corigin, vec![m], data)?;
                    e = format!("{e} + {cn}");
                }
                self.emit(n, e, vec![m]);
            }
            "MatMul" => {
                let (a, b) = (self.get(n, 0)?, self.get(n, 1)?);
                let (e, shape) = match (&a, &b) {
                    (
                        Val::Act {
                            name,
                            shape,
                            batch: 0,
                        },
                        Val::Const {
                            shape: ws,
                            data,
                            origin,
                        },
                    ) => {
                        let [k, m] = ws[..] else {
                            return Err(format!("the weight matrix is {ws:?}, not [K, M]"));
                        };
                        if shape.last() != Some(&k) {
                            return Err(format!("{shape:?} @ {ws:?} do not fit"));
                        }
                        let w = self.param(origin, vec![k, m], data.clone())?;
                        let mut s = shape.clone();
                        let last = s.len() - 1;
                        s[last] = m;
                        (format!("{name} @ {w}"), s)
                    }
                    (
                        Val::Act {
                            name: x,
                            shape: s1,
                            batch: 0,
                        },
                        Val::Act {
                            name: y,
                            shape: s2,
                            batch: 0,
                        },
                    ) => match (&s1[..], &s2[..]) {
                        ([mm, k], [k2, nn]) if k == k2 => (format!("{x} @ {y}"), vec![*mm, *nn]),
                        ([k], [k2, nn]) if k == k2 => (format!("{x} @ {y}"), vec![*nn]),
                        ([mm, k], [k2]) if k == k2 => (format!("{x} @ {y}"), vec![*mm]),
                        _ => {
                            return Err(format!(
                                "{s1:?} @ {s2:?}: per-sample products of rank ≤ 2 only"
                            ));
                        }
                    },
                    _ => return Err(
                        "a constant on the left of MatMul: transpose the product before exporting"
                            .into(),
                    ),
                };
                self.emit(n, e, shape);
            }
            "Conv" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "X")?;
                let [c, h, w] = s[..] else {
                    return Err(format!(
                        "X must be [batch, C, H, W], not a per-sample {s:?}"
                    ));
                };
                let (ws, wd, origin) = Self::constant(&self.get(n, 1)?, "W")?;
                let [o, c2, kh, kw] = ws[..] else {
                    return Err("W must be [O, C, KH, KW] (2-D convolution)".into());
                };
                if c2 != c || attr_i(n, "group", 1) != 1 {
                    return Err("grouped convolutions are not supported".into());
                }
                if attr_ints(n, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
                    return Err("dilations other than 1 are not supported".into());
                }
                let ap = attr(n, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).to_string());
                if ap.as_deref().is_some_and(|a| a != "NOTSET") {
                    return Err("auto_pad is not supported: export with explicit pads".into());
                }
                let strides = attr_ints(n, "strides").unwrap_or(vec![1, 1]);
                let pads = attr_ints(n, "pads").unwrap_or(vec![0, 0, 0, 0]);
                if strides.len() != 2 || strides[0] != strides[1] || strides[0] < 1 {
                    return Err(format!(
                        "strides {strides:?}: equal strides on both axes only"
                    ));
                }
                if pads.len() != 4 || pads.iter().any(|&p| p != pads[0]) || pads[0] < 0 {
                    return Err(format!(
                        "pads {pads:?}: the same padding on every side only"
                    ));
                }
                let (st, p) = (strides[0] as usize, pads[0] as usize);
                if h + 2 * p < kh || w + 2 * p < kw {
                    return Err("the kernel is larger than the padded input".into());
                }
                let wn = self.param(&origin, ws.clone(), wd)?;
                let bn = match self.get(n, 2) {
                    Ok(bv) => {
                        let (_, bd, bo) = Self::constant(&bv, "B")?;
                        self.param(&bo, vec![o], bd)?
                    }
                    Err(_) => self.param(&format!("{}_bias", origin), vec![o], vec![0.0; o])?,
                };
                let out = vec![o, (h + 2 * p - kh) / st + 1, (w + 2 * p - kw) / st + 1];
                self.emit(
                    n,
                    format!("conv2d({x}, {wn}, {bn}, stride = {st}, pad = {p})"),
                    out,
                );
            }
            "BatchNormalization" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "X")?;
                let mut parts = Vec::new();
                for k in 1..5 {
                    parts.push(Self::constant(&self.get(n, k)?, "a statistic")?.1);
                }
                let c = parts[0].len();
                if s.first() != Some(&c) {
                    return Err(format!("{c} channels for an input of {s:?}"));
                }
                let eps = attr_f(n, "epsilon", 1e-5);
                let a: Vec<f64> = (0..c)
                    .map(|i| parts[0][i] / (parts[3][i] + eps).sqrt())
                    .collect();
                let b: Vec<f64> = (0..c).map(|i| parts[1][i] - parts[2][i] * a[i]).collect();
                let mut cs = vec![c];
                cs.extend(std::iter::repeat_n(1, s.len() - 1));
                let out0 = first_output(n);
                let an = self.param(&format!("{out0}_scale"), cs.clone(), a)?;
                let bn = self.param(&format!("{out0}_shift"), cs, b)?;
                self.emit(n, format!("{x} * {an} + {bn}"), s);
            }
            "MaxPool" | "AveragePool" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "X")?;
                let [c, h, w] = s[..] else {
                    return Err("X must be [batch, C, H, W]".into());
                };
                let k = attr_ints(n, "kernel_shape").ok_or("kernel_shape is missing")?;
                if k.len() != 2 || k[0] != k[1] {
                    return Err(format!("kernel_shape {k:?}: square windows only"));
                }
                // (ONNX's default stride is 1, not the window.)
                let st = attr_ints(n, "strides").unwrap_or(vec![1, 1]);
                if st.len() != 2 || st[0] != st[1] {
                    return Err(format!("strides {st:?}: equal strides only"));
                }
                if attr_ints(n, "pads").is_some_and(|p| p.iter().any(|&v| v != 0))
                    || attr_i(n, "ceil_mode", 0) != 0
                {
                    return Err("pooling with padding or ceil_mode is not supported".into());
                }
                if k[0] < 1 || st[0] < 1 {
                    return Err("windows and strides must be at least 1".into());
                }
                let (k, st) = (k[0] as usize, st[0] as usize);
                if k > h || k > w {
                    return Err("the window is larger than the input".into());
                }
                let f = if op == "MaxPool" {
                    "maxpool2d"
                } else {
                    "avgpool2d"
                };
                let out = vec![c, (h - k) / st + 1, (w - k) / st + 1];
                self.emit(n, format!("{f}({x}, {k}, stride = {st})"), out);
            }
            "GlobalAveragePool" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "X")?;
                let [c, h, w] = s[..] else {
                    return Err("X must be [batch, C, H, W]".into());
                };
                self.emit(
                    n,
                    format!(
                        "reshape(mean(reshape({x}, [{c}, {}]), axis = 1), [{c}, 1, 1])",
                        h * w
                    ),
                    vec![c, 1, 1],
                );
            }
            "Flatten" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                if attr_i(n, "axis", 1) != 1 {
                    return Err("only axis = 1 (flatten each sample) is supported".into());
                }
                let len = s.iter().product();
                self.emit(n, format!("flatten({x})"), vec![len]);
            }
            "Reshape" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "data")?;
                let (_, target, _) = Self::constant(&self.get(n, 1)?, "the shape")?;
                if target.is_empty() {
                    return Err("a reshape to a scalar drops the batch axis".into());
                }
                let total: usize = s.iter().product();
                let mut out = Vec::new();
                let mut infer = None;
                for (i, &d) in target.iter().enumerate().skip(1) {
                    match d as i64 {
                        -1 => {
                            infer = Some(out.len());
                            out.push(1);
                        }
                        0 => out.push(*s.get(i - 1).ok_or("0 copies a dimension the input lacks")?),
                        d if d > 0 => out.push(d as usize),
                        _ => return Err(format!("shape entry {d}")),
                    }
                }
                if let Some(i) = infer {
                    let known: usize = out.iter().product();
                    out[i] = total / known.max(1);
                }
                if out.iter().product::<usize>() != total {
                    return Err(format!("{s:?} cannot become {out:?} per sample"));
                }
                let integral = self.integral.contains(&x);
                self.emit(n, format!("reshape({x}, {})", Self::shape_str(&out)), out);
                if integral {
                    self.mark_integral(n);
                }
            }
            "Transpose" => {
                let (x, s, b) = Self::act_any(&self.get(n, 0)?, "its input")?;
                let r = s.len() + 1;
                let perm = attr_ints(n, "perm").unwrap_or_else(|| (0..r as i64).rev().collect());
                if perm.len() != r || (0..r as i64).any(|k| !perm.contains(&k)) {
                    return Err(format!("perm {perm:?} is not a permutation of {r} axes"));
                }
                let nb = perm.iter().position(|&p| p as usize == b).unwrap_or(0);
                // The permutation of the per-sample axes.
                let q: Vec<usize> = perm
                    .iter()
                    .filter(|&&p| p as usize != b)
                    .map(|&p| p as usize - (p as usize > b) as usize)
                    .collect();
                let out: Vec<usize> = q.iter().map(|&k| s[k]).collect();
                if q.iter().enumerate().all(|(i, &k)| i == k) {
                    let v = Val::Act {
                        name: x,
                        shape: s,
                        batch: nb,
                    };
                    self.vals.insert(first_output(n), v);
                } else if q == [1, 0] {
                    self.emit_at(n, format!("transpose({x})"), out, nb);
                } else if let Some(k) = (1..q.len())
                    .find(|&k| q.iter().enumerate().all(|(i, &p)| p == (i + k) % q.len()))
                {
                    // A rotation of the axes (NHWC ↔ NCHW): the two groups of axes as the two
                    // axes of a matrix, transposed.
                    let (a, b2): (usize, usize) =
                        (s[..k].iter().product(), s[k..].iter().product());
                    let e = format!(
                        "reshape(transpose(reshape({x}, [{a}, {b2}])), {})",
                        Self::shape_str(&out)
                    );
                    self.emit_at(n, e, out, nb);
                } else {
                    return Err(format!(
                        "perm {perm:?}: only rotations of a sample's axes (e.g. NHWC ↔ NCHW) and moving the batch axis are supported"
                    ));
                }
            }
            "Squeeze" | "Unsqueeze" => {
                let (x, s, b) = Self::act_any(&self.get(n, 0)?, "its input")?;
                let axes: Vec<i64> = match attr_ints(n, "axes") {
                    Some(a) => a,
                    None => match self.get(n, 1) {
                        Ok(v) => Self::constant(&v, "axes")?
                            .1
                            .iter()
                            .map(|&a| a as i64)
                            .collect(),
                        Err(_) => return Err("axes must be given".into()),
                    },
                };
                // The ONNX shape with a marker for the batch axis.
                let mut full: Vec<Option<usize>> = s.iter().map(|&d| Some(d)).collect();
                full.insert(b, None);
                if op == "Squeeze" {
                    let r = full.len() as i64;
                    let mut ax: Vec<usize> = axes
                        .iter()
                        .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                        .collect();
                    ax.sort_unstable();
                    ax.dedup();
                    for &a in ax.iter().rev() {
                        match full.get(a) {
                            Some(Some(1)) => {
                                full.remove(a);
                            }
                            _ => {
                                return Err(format!("axis {a} is not a per-sample axis of size 1"));
                            }
                        }
                    }
                } else {
                    let r = (full.len() + axes.len()) as i64;
                    let mut ax: Vec<usize> = axes
                        .iter()
                        .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                        .collect();
                    ax.sort_unstable();
                    for a in ax {
                        if a > full.len() {
                            return Err(format!("axis {a} is out of range"));
                        }
                        full.insert(a, Some(1));
                    }
                }
                let nb = full.iter().position(|d| d.is_none()).unwrap_or(0);
                let out: Vec<usize> = full.into_iter().flatten().collect();
                self.emit_at(
                    n,
                    format!("reshape({x}, {})", Self::shape_str(&out)),
                    out,
                    nb,
                );
            }
            "Gather" => {
                let (x, s, b) = Self::act_any(&self.get(n, 0)?, "the data")?;
                let (ishape, idx, _) = Self::constant(&self.get(n, 1)?, "the indices")?;
                if !ishape.is_empty() || idx.len() != 1 {
                    return Err("only a single constant index is supported".into());
                }
                let r = s.len() as i64 + 1;
                let (axis, a) = sample_axis(attr_i(n, "axis", 0), r, b, "gathering")?;
                let d = s[a] as i64;
                let i = if idx[0] < 0.0 {
                    idx[0] as i64 + d
                } else {
                    idx[0] as i64
                };
                if !(0..d).contains(&i) {
                    return Err(format!("index {} is outside 0..{d}", idx[0]));
                }
                let mut sel: Vec<String> = vec![":".into(); a];
                sel.push(i.to_string());
                let mut out = s.clone();
                out.remove(a);
                let nb = b - (axis < b) as usize;
                self.emit_at(n, format!("{x}[{}]", sel.join(", ")), out, nb);
            }
            "GRU" | "LSTM" => self.rnn(n)?,
            "Gelu" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let approx =
                    attr(n, "approximate").map(|a| String::from_utf8_lossy(&a.s).to_string());
                if approx.as_deref().is_some_and(|a| a != "none") {
                    return Err(
                        "the tanh approximation is not supported: gelu is the erf-based one".into(),
                    );
                }
                self.emit(n, format!("gelu({x})"), s);
            }
            "Pow" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "the base")?;
                let (_, e, _) = Self::constant(&self.get(n, 1)?, "the exponent")?;
                let e = match e[..] {
                    [v] => v,
                    _ => return Err("only a scalar exponent is supported".into()),
                };
                let expr = if e == 1.0 {
                    x.clone()
                } else if e == 2.0 {
                    format!("{x} * {x}")
                } else if e == 3.0 {
                    format!("{x} * {x} * {x}")
                } else if e == 0.5 {
                    format!("sqrt({x})")
                } else if e == -0.5 {
                    format!("rsqrt({x})")
                } else if e == -1.0 {
                    format!("reciprocal({x})")
                } else {
                    return Err(format!(
                        "exponent {e}: 1, 2, 3, 0.5, −0.5 and −1 are supported"
                    ));
                };
                self.emit(n, expr, s);
            }
            "ReduceMean" | "ReduceSum" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let axes: Vec<i64> = match attr_ints(n, "axes") {
                    Some(a) => a,
                    None => match self.get(n, 1) {
                        Ok(v) => Self::constant(&v, "axes")?
                            .1
                            .iter()
                            .map(|&a| a as i64)
                            .collect(),
                        Err(_) => vec![],
                    },
                };
                let r = s.len() as i64 + 1;
                let [a] = axes[..] else {
                    return Err("only a reduction over one axis is supported".into());
                };
                let (_, k) = sample_axis(a, r, 0, "reducing")?;
                let f = if op == "ReduceMean" { "mean" } else { "sum" };
                let mut out = s.clone();
                let e = format!("{f}({x}, axis = {k})");
                if attr_i(n, "keepdims", 1) == 1 {
                    out[k] = 1;
                    self.emit(n, format!("reshape({e}, {})", Self::shape_str(&out)), out);
                } else {
                    out.remove(k);
                    self.emit(n, e, out);
                }
            }
            "LayerNormalization" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "X")?;
                let axis = attr_i(n, "axis", -1);
                if !(axis == -1 || axis == s.len() as i64) {
                    return Err(format!("axis {axis}: normalising over the last axis only"));
                }
                let eps = attr_f(n, "epsilon", 1e-5);
                if (eps - 1e-5).abs() > 1e-9 {
                    return Err(format!(
                        "epsilon {eps}: sir's layernorm uses 1e-5 (PyTorch's default); set it when exporting"
                    ));
                }
                let d = *s.last().ok_or("a scalar input")?;
                let (_, g, go) = Self::constant(&self.get(n, 1)?, "the scale")?;
                let out0 = first_output(n);
                let (b, bo) = match self.get(n, 2) {
                    Ok(v) => {
                        let (_, b, o) = Self::constant(&v, "the bias")?;
                        (b, o)
                    }
                    Err(_) => (vec![0.0; d], format!("{out0}_bias")),
                };
                if g.len() != d || b.len() != d {
                    return Err(format!("scale and bias must have {d} entries"));
                }
                let gn = self.param(&go, vec![d], g)?;
                let bn = self.param(&bo, vec![d], b)?;
                self.emit(n, format!("layernorm({x}, {gn}, {bn})"), s);
            }
            "Slice" => {
                let (x, s, b) = Self::act_any(&self.get(n, 0)?, "the data")?;
                let ints = |me: &Self, k: usize, what: &str| -> Result<Option<Vec<i64>>, String> {
                    match me.get(n, k) {
                        Ok(v) => Ok(Some(
                            Self::constant(&v, what)?
                                .1
                                .iter()
                                .map(|&a| a as i64)
                                .collect(),
                        )),
                        Err(_) => Ok(None),
                    }
                };
                let starts = ints(self, 1, "starts")?.ok_or("starts must be given")?;
                let ends = ints(self, 2, "ends")?.ok_or("ends must be given")?;
                let r = s.len() as i64 + 1;
                let axes =
                    ints(self, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
                if ints(self, 4, "steps")?.is_some_and(|st| st.iter().any(|&v| v != 1)) {
                    return Err("only steps of 1 are supported".into());
                }
                let mut sel: Vec<String> = vec![":".into(); s.len()];
                let mut out = s.clone();
                for ((&st, &en), &ax) in starts.iter().zip(&ends).zip(&axes) {
                    let (_, a) = sample_axis(ax, r, b, "slicing")?;
                    let d = s[a] as i64;
                    let fix = |v: i64| (if v < 0 { v + d } else { v }).clamp(0, d);
                    let (lo, hi) = (fix(st), fix(en));
                    if hi <= lo {
                        return Err(format!("an empty slice {st}..{en} of {d}"));
                    }
                    sel[a] = format!("{lo}..{hi}");
                    out[a] = (hi - lo) as usize;
                }
                while sel.last().is_some_and(|v| v == ":") {
                    sel.pop();
                }
                let e = if sel.is_empty() {
                    x.clone()
                } else {
                    format!("{x}[{}]", sel.join(", "))
                };
                self.emit_at(n, e, out, b);
            }
            "ArgMax" => {
                let (x, s) = Self::act(&self.get(n, 0)?, "its input")?;
                let axis = attr_i(n, "axis", 0);
                if s.len() != 1 || !(axis == 1 || axis == -1) {
                    return Err("only the argmax over a sample's vector (axis 1 of [batch, K]) is supported".into());
                }
                if attr_i(n, "keepdims", 1) == 1 {
                    self.emit(n, format!("reshape(argmax({x}), [1])"), vec![1]);
                } else {
                    self.emit(n, format!("argmax({x})"), vec![]);
                }
                self.mark_integral(n);
            }
            "ArrayFeatureExtractor" => {
                // skl2onnx's label: classes[argmax]; the index itself when classes = 0..n−1.
                let (_, classes, origin) = Self::constant(&self.get(n, 0)?, "the class list")?;
                let idx = self.get(n, 1)?;
                let (x, s) = Self::act(&idx, "the index")?;
                if classes.iter().enumerate().any(|(i, &c)| c != i as f64) {
                    return Err(format!(
                        "classes `{origin}` are not 0..{}: relabel the classes 0..n−1 before exporting",
                        classes.len()
                    ));
                }
                if !self.integral.contains(&x) {
                    return Err("the index is not a class index (argmax)".into());
                }
                let out = first_output(n);
                self.vals.insert(
                    out,
                    Val::Act {
                        name: x,
                        shape: s,
                        batch: 0,
                    },
                );
            }
            "Cast" => {
                let to = attr_i(n, "to", dtype::FLOAT as i64) as i32;
                let v = self.get(n, 0)?;
                let exact = match &v {
                    Val::Act { name, .. } => self.integral.contains(name),
                    Val::Const { .. } => true,
                };
                if !(to == dtype::FLOAT
                    || to == dtype::DOUBLE
                    || (exact && (to == dtype::INT64 || to == dtype::INT32)))
                {
                    return Err("only casts between float types (or of class indices to integers) are supported".into());
                }
                let out = first_output(n);
                self.vals.insert(out, v);
            }
            "Concat" => {
                let axis = attr_i(n, "axis", 0);
                let mut parts = Vec::new();
                let mut shapes = Vec::new();
                let rank = (0..n.input.len())
                    .filter_map(|k| match self.get(n, k) {
                        Ok(Val::Act { shape, .. }) => Some(shape.len()),
                        _ => None,
                    })
                    .max()
                    .ok_or("every operand is a constant: fold them before exporting")?;
                for k in 0..n.input.len() {
                    let v = self.get(n, k)?;
                    let (e, s) = self.operand(&v, rank)?;
                    if s.len() != rank {
                        return Err("operands of different ranks".into());
                    }
                    parts.push(e);
                    shapes.push(s);
                }
                let ax = if axis < 0 {
                    axis + rank as i64 + 1
                } else {
                    axis
                };
                if ax < 1 || ax > rank as i64 {
                    return Err(format!("axis {axis}: concatenating along the batch axis"));
                }
                let a = (ax - 1) as usize;
                let mut out = shapes[0].clone();
                out[a] = shapes.iter().map(|s| s[a]).sum();
                self.emit(
                    n,
                    format!("concat([{}], axis = {a})", parts.join(", ")),
                    out,
                );
            }
            _ => {
                return Err(format!(
                    "operator `{op}` is not supported by sir import; rewrite this part of the model in .sir by hand (docs/porting.md) or export it with supported operators"
                ));
            }
        }
        Ok(())
    }
}
