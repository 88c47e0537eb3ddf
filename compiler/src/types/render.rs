//! A stable text rendering of the typed IR: every name resolved (a shadowed local gets a `'N`
//! suffix), every binding with its shape, every function instance with its shape variables.
//! Snapshot tests pin it.

use super::tir::*;
use std::fmt::Write;

/// Renders a checked program.
pub fn program(p: &Program) -> String {
    let mut out = String::new();
    let m = &p.model;
    let names = local_names(&m.body);
    let _ = writeln!(out, "model {} {{", m.name);
    for d in &m.inputs {
        let _ = writeln!(
            out,
            "    input {}: {}{}",
            names[d.local as usize],
            shape_str(&d.shape),
            pin(d.pin)
        );
    }
    for d in &m.params {
        let _ = writeln!(
            out,
            "    param {}: {}{}",
            names[d.local as usize],
            shape_str(&d.shape),
            pin(d.pin)
        );
    }
    let r = Renderer {
        names: &names,
        fns: &p.fns,
        loops: loop_names(&m.body),
    };
    r.stmts(&mut out, &m.body.stmts, 1, &m.outputs);
    out.push_str("}\n");
    for (i, f) in p.fns.iter().enumerate() {
        out.push('\n');
        function(&mut out, f, Some(i), &p.fns);
    }
    out
}

/// Renders one function instance; `fns` is the instance table its calls refer to.
pub fn instance(f: &FnInstance, fns: &[FnInstance]) -> String {
    let mut out = String::new();
    function(&mut out, f, None, fns);
    out
}

fn function(out: &mut String, f: &FnInstance, id: Option<usize>, fns: &[FnInstance]) {
    let names = local_names(&f.body);
    let vars: Vec<String> = f
        .shape_vars
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let params: Vec<String> = f
        .params
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{}: {}",
                names[*l as usize],
                f.param_shapes.get(i).map_or("?".into(), |s| shape_str(s))
            )
        })
        .collect();
    let tag = id.map_or(String::new(), |i| format!("#{i}"));
    let vars = if vars.is_empty() {
        String::new()
    } else {
        format!(" where {}", vars.join(", "))
    };
    let _ = writeln!(
        out,
        "fn {}{tag}({}) -> {}{vars} {{",
        f.name,
        params.join(", "),
        &f.ret.ty.to_string()
    );
    let r = Renderer {
        names: &names,
        fns,
        loops: loop_names(&f.body),
    };
    r.stmts(out, &f.body.stmts, 1, &[]);
    let _ = writeln!(out, "    return {};", r.expr(&f.ret));
    out.push_str("}\n");
}

fn local_names(b: &Body) -> Vec<String> {
    let mut count: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    b.local_names
        .iter()
        .map(|n| {
            let c = count.entry(n).or_insert(0);
            *c += 1;
            if *c == 1 {
                n.clone()
            } else {
                format!("{n}'{}", *c - 1)
            }
        })
        .collect()
}

fn loop_names(b: &Body) -> Vec<String> {
    b.loop_names.clone()
}

fn pin(p: Pin) -> String {
    match (p.bits, p.frac) {
        (None, None) => String::new(),
        (b, f) => {
            let mut parts = Vec::new();
            if let Some(b) = b {
                parts.push(format!("bits({b})"));
            }
            if let Some(f) = f {
                parts.push(format!("frac({f})"));
            }
            format!(" #[{}]", parts.join(", "))
        }
    }
}

struct Renderer<'a> {
    names: &'a [String],
    fns: &'a [FnInstance],
    loops: Vec<String>,
}

impl Renderer<'_> {
    fn local(&self, l: LocalId) -> &str {
        self.names.get(l as usize).map_or("?", String::as_str)
    }

    fn stmts(&self, out: &mut String, stmts: &[Stmt], depth: usize, outputs: &[OutputInfo]) {
        let pad = "    ".repeat(depth);
        for s in stmts {
            match s {
                Stmt::Let {
                    locals,
                    value,
                    pin: p,
                    ..
                } => {
                    let lhs: Vec<&str> = locals.iter().map(|l| self.local(*l)).collect();
                    let lhs = if lhs.len() == 1 {
                        lhs[0].to_string()
                    } else {
                        format!("({})", lhs.join(", "))
                    };
                    let _ = writeln!(
                        out,
                        "{pad}let {lhs}: {}{} = {};",
                        &value.ty.to_string(),
                        pin(*p),
                        self.expr(value)
                    );
                }
                Stmt::Assign { locals, value, .. } => {
                    let lhs: Vec<&str> = locals.iter().map(|l| self.local(*l)).collect();
                    let lhs = if lhs.len() == 1 {
                        lhs[0].to_string()
                    } else {
                        format!("({})", lhs.join(", "))
                    };
                    let _ = writeln!(out, "{pad}{lhs} = {};", self.expr(value));
                }
                Stmt::For {
                    var, lo, hi, body, ..
                } => {
                    let _ = writeln!(
                        out,
                        "{pad}for {} in {}..{} {{",
                        self.loops[*var as usize],
                        self.iexpr(lo),
                        self.iexpr(hi)
                    );
                    self.stmts(out, body, depth + 1, outputs);
                    let _ = writeln!(out, "{pad}}}");
                }
                Stmt::Output { index, value } => {
                    let name = outputs.get(*index).map_or("?", |o| o.name.as_str());
                    let _ = writeln!(
                        out,
                        "{pad}output {name}: {} = {};",
                        &value.ty.to_string(),
                        self.expr(value)
                    );
                }
            }
        }
    }

    fn iexpr(&self, e: &IExpr) -> String {
        match e {
            IExpr::Lit(v) => v.to_string(),
            IExpr::Loop(l) => self
                .loops
                .get(*l as usize)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            IExpr::Neg(a) => format!("-{}", self.iexpr(a)),
            IExpr::Add(a, b) => format!("({} + {})", self.iexpr(a), self.iexpr(b)),
            IExpr::Sub(a, b) => format!("({} - {})", self.iexpr(a), self.iexpr(b)),
            IExpr::Mul(a, b) => format!("({} * {})", self.iexpr(a), self.iexpr(b)),
        }
    }

    fn expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Const(v) => format!("{v:?}"),
            ExprKind::Int(i) => self.iexpr(i),
            ExprKind::Local(l) => self.local(*l).to_string(),
            ExprKind::Neg(a) => format!("-{}", self.expr(a)),
            ExprKind::Binary(op, a, b) => {
                format!("({} {} {})", self.expr(a), op.symbol(), self.expr(b))
            }
            ExprKind::Call { func, args } => {
                let name = self
                    .fns
                    .get(*func as usize)
                    .map_or("?", |f| f.name.as_str());
                format!(
                    "{name}#{func}({})",
                    args.iter()
                        .map(|a| self.expr(a))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            ExprKind::Builtin { op, args } => {
                let mut parts: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                let name = match op {
                    Builtin::Zeros(s) => return format!("zeros({})", shape_str(s)),
                    Builtin::Ones(s) => return format!("ones({})", shape_str(s)),
                    Builtin::Relu => "relu",
                    Builtin::Sigmoid => "sigmoid",
                    Builtin::Tanh => "tanh",
                    Builtin::Gelu => "gelu",
                    Builtin::Exp => "exp",
                    Builtin::Rsqrt => "rsqrt",
                    Builtin::Sqrt => "sqrt",
                    Builtin::Reciprocal => "reciprocal",
                    Builtin::Poly(c) => {
                        parts.push(format!(
                            "[{}]",
                            c.iter()
                                .map(|v| format!("{v:?}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        "poly"
                    }
                    Builtin::PolyRelu => "poly_relu",
                    Builtin::BlockRelu(p) => {
                        if let Some([a, b]) = p {
                            parts.push(format!("[{a}, {b}]"));
                        }
                        "block_relu"
                    }
                    Builtin::Max(a) | Builtin::Sum(a) | Builtin::Mean(a) => {
                        if let Some(a) = a {
                            parts.push(format!("axis = {a}"));
                        }
                        match op {
                            Builtin::Max(_) => "max",
                            Builtin::Sum(_) => "sum",
                            _ => "mean",
                        }
                    }
                    Builtin::Argmax => "argmax",
                    Builtin::Softmax => "softmax",
                    Builtin::Layernorm => "layernorm",
                    Builtin::Conv2d { stride, pad } => {
                        parts.push(format!("stride = {stride}, pad = {pad}"));
                        "conv2d"
                    }
                    Builtin::Maxpool2d { k, stride } | Builtin::Avgpool2d { k, stride } => {
                        parts.push(format!("{k}, stride = {stride}"));
                        if matches!(op, Builtin::Maxpool2d { .. }) {
                            "maxpool2d"
                        } else {
                            "avgpool2d"
                        }
                    }
                    Builtin::Reshape(s) => {
                        parts.push(shape_str(s));
                        "reshape"
                    }
                    Builtin::Flatten => "flatten",
                    Builtin::Transpose => "transpose",
                    Builtin::Concat(a) => {
                        let list = format!("[{}]", parts.join(", "));
                        return format!("concat({list}, axis = {a})");
                    }
                };
                format!("{name}({})", parts.join(", "))
            }
            ExprKind::Select { base, sels } => {
                let items: Vec<String> = sels
                    .iter()
                    .map(|s| match s {
                        Subscript::Index(i) => self.iexpr(i),
                        Subscript::Range(a, b) => format!("{}..{}", self.iexpr(a), self.iexpr(b)),
                        Subscript::Full => ":".into(),
                    })
                    .collect();
                format!("{}[{}]", self.expr(base), items.join(", "))
            }
            ExprKind::Tuple(items) => format!(
                "({})",
                items
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExprKind::Error => "<error>".into(),
        }
    }
}
