//! The graph against the interpreter (bit for bit, on every NumPy case, the FastGRNN example and
//! the stdlib cells), and the builder's unrolling, sharing, folding, pruning and determinism.

use super::*;
use crate::eval::{bind, interp};
use crate::resolve;
use crate::types::tir::Program;
use sir_runtime::npy;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(src: &str) -> Program {
    let c = crate::check_source("test.sir", src.to_string(), Path::new("."), &resolve::Disk);
    match c.program {
        Some(p) => p,
        None => panic!(
            "does not check:\n{}",
            c.diagnostics
                .iter()
                .map(|d| d.render(&c.sources))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Deterministic values in [-1, 1) for a shape (a 64-bit LCG).
fn pseudo(shape: &[usize], seed: u64) -> Arc<Tensor> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    Arc::new(Tensor::new(shape.to_vec(), data).expect("sized"))
}

fn random_io(prog: &Program, seed: u64) -> (Vec<Arc<Tensor>>, Vec<Arc<Tensor>>) {
    let m = &prog.model;
    let ins = m
        .inputs
        .iter()
        .enumerate()
        .map(|(i, d)| pseudo(&d.shape, seed + i as u64))
        .collect();
    let ps = m
        .params
        .iter()
        .enumerate()
        .map(|(i, d)| pseudo(&d.shape, seed + 1000 + i as u64))
        .collect();
    (ins, ps)
}

fn bits(ts: &[Tensor]) -> Vec<(Vec<usize>, Vec<u64>)> {
    ts.iter()
        .map(|t| {
            (
                t.shape().to_vec(),
                t.data().iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

/// Builds the graph and checks its outputs equal the interpreter's bit for bit.
fn same_as_interp(what: &str, prog: &Program, ins: &[Arc<Tensor>], ps: &[Arc<Tensor>]) -> Graph {
    let g = build(prog, None).unwrap_or_else(|e| panic!("{what}: build: {e}"));
    let want = interp::run(prog, ins, ps).unwrap_or_else(|e| panic!("{what}: interp: {e}"));
    let got = eval(&g, ins, ps).unwrap_or_else(|e| panic!("{what}: graph eval: {e}"));
    assert_eq!(
        bits(&got),
        bits(&want),
        "{what}: graph and interpreter differ"
    );
    let names: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
    let want_names: Vec<&str> = prog.model.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, want_names, "{what}: output names");
    g
}

fn count(g: &Graph, kind: &str) -> usize {
    g.op_counts().get(kind).copied().unwrap_or(0)
}

#[test]
fn every_numpy_case_matches_the_interpreter() {
    let dir = workspace().join("tests").join("eval");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/eval")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("model.sir").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "found {} cases", cases.len());
    for case in cases {
        let name = case.display().to_string();
        let c = crate::check_file(&case.join("model.sir")).expect("readable");
        let prog = c
            .program
            .unwrap_or_else(|| panic!("{name}: does not check"));
        let w = npy::read_npz(case.join("weights.npz")).expect("weights");
        let ps = bind::bind_weights(&prog.model, w, "weights.npz").expect("bind weights");
        let arrays = if case.join("input.npy").is_file() {
            vec![(None, npy::read_npy(case.join("input.npy")).expect("input"))]
        } else {
            npy::read_npz(case.join("input.npz"))
                .expect("input")
                .into_iter()
                .map(|(n, t)| (Some(n), t))
                .collect()
        };
        let batch = bind::bind_inputs(&prog.model, arrays, "input").expect("bind inputs");
        let g = build(&prog, None).unwrap_or_else(|e| panic!("{name}: build: {e}"));
        for i in 0..batch.samples {
            let ins = batch.sample(i);
            let want = interp::run(&prog, &ins, &ps).expect("interp");
            let got = eval(&g, &ins, &ps).expect("graph eval");
            assert_eq!(bits(&got), bits(&want), "{name}, sample {i}");
        }
        // And on inputs the case does not hold.
        let (ins, _) = random_io(&prog, 7);
        same_as_interp(&name, &prog, &ins, &ps);
        eprintln!("{name}: {} nodes", g.len());
    }
}

fn fastgrnn() -> (Program, Vec<Arc<Tensor>>, Vec<Arc<Tensor>>) {
    let dir = workspace().join("examples").join("fastgrnn_g30");
    let c = crate::check_file(&dir.join("model.sir")).expect("readable");
    let prog = c.program.expect("fastgrnn_g30 checks");
    let w = npy::read_npz(dir.join("weights.npz")).expect("weights");
    let ps = bind::bind_weights(&prog.model, w, "weights.npz").expect("bind weights");
    let x = npy::read_npy(dir.join("inputs.npy")).expect("inputs");
    let batch = bind::bind_inputs(&prog.model, vec![(None, x)], "inputs.npy").expect("bind");
    let ins = batch.sample(0);
    (prog, ins, ps)
}

#[test]
fn fastgrnn_g30_matches_the_interpreter_and_unrolls_small() {
    let (prog, ins, ps) = fastgrnn();
    let g = same_as_interp("fastgrnn_g30", &prog, &ins, &ps);
    let per_step = g.len() as f64 / 99.0;
    eprintln!(
        "fastgrnn_g30: {} nodes, {per_step:.1} per time step; {:?}",
        g.len(),
        g.op_counts()
    );
    assert!(g.len() <= 30 * 99, "{} nodes", g.len());
    // Four products per step (x@W1@W2, h@U1@U2) and the classifier's.
    assert_eq!(count(&g, "MatMul"), 4 * 99 + 1);
    assert_eq!(count(&g, "Select"), 99);
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(g.params.len(), 10);
    // Ranges over a few samples: every computed node has a finite range.
    let dir = workspace().join("examples").join("fastgrnn_g30");
    let x = npy::read_npy(dir.join("inputs.npy")).expect("inputs");
    let batch = bind::bind_inputs(&prog.model, vec![(None, x)], "inputs.npy").expect("bind");
    let samples: Vec<Vec<Arc<Tensor>>> =
        (0..batch.samples.min(4)).map(|i| batch.sample(i)).collect();
    let rs = ranges(&g, &samples, &ps).expect("ranges");
    assert_eq!(rs.len(), g.len());
    assert!(
        rs.iter()
            .all(|r| r.min.is_finite() && r.max.is_finite() && r.min <= r.max)
    );
    // A sigmoid's range lies in [0, 1].
    for (i, w) in g.g.node_weights().enumerate() {
        if matches!(w.op, NodeOp::Builtin(tir::Builtin::Sigmoid)) {
            assert!(rs[i].min >= 0.0 && rs[i].max <= 1.0, "{:?}", rs[i]);
        }
    }
}

#[test]
fn stdlib_cells_match_the_interpreter() {
    let gru = check(
        "use std::rnn;
         model gru {
             input x: [5, 3];
             param Wz: [3, 4]; param Uz: [4, 4]; param bz: [4];
             param Wr: [3, 4]; param Ur: [4, 4]; param br: [4];
             param Wn: [3, 4]; param Un: [4, 4]; param bn: [4];
             let mut h = zeros([4]);
             for t in 0..5 {
                 h = gru_cell(x[t], h, Wz, Uz, bz, Wr, Ur, br, Wn, Un, bn);
             }
             output h;
         }",
    );
    let lstm = check(
        "use std::rnn;
         model lstm {
             input x: [6, 2];
             param Wi: [2, 3]; param Ui: [3, 3]; param bi: [3];
             param Wf: [2, 3]; param Uf: [3, 3]; param bf: [3];
             param Wg: [2, 3]; param Ug: [3, 3]; param bg: [3];
             param Wo: [2, 3]; param Uo: [3, 3]; param bo: [3];
             let mut h = zeros([3]);
             let mut c = zeros([3]);
             for t in 0..6 {
                 (h, c) = lstm_cell(x[t], h, c, Wi, Ui, bi, Wf, Uf, bf, Wg, Ug, bg, Wo, Uo, bo);
             }
             output hidden = h;
             output cell = c;
         }",
    );
    let fg = check(
        "use std::rnn;
         model fg {
             input x: [4, 3];
             param W1: [3, 2]; param W2: [2, 5]; param U1: [5, 2]; param U2: [2, 5];
             param bg: [5]; param bh: [5]; param zeta: []; param nu: [];
             let mut h = zeros([5]);
             for t in 0..4 {
                 h = fastgrnn_cell(x[t], h, W1, W2, U1, U2, bg, bh, zeta, nu);
             }
             output h;
         }",
    );
    for (name, prog) in [("gru", gru), ("lstm", lstm), ("fastgrnn", fg)] {
        for seed in [1, 2, 3] {
            let (ins, ps) = random_io(&prog, seed);
            same_as_interp(name, &prog, &ins, &ps);
        }
    }
}

#[test]
fn common_subexpressions_are_shared() {
    let prog = check(
        "model m {
             input x: [3];
             param W: [3, 4];
             let a = x @ W;
             let b = x @ W;
             output relu(a) + relu(b);
         }",
    );
    let (ins, ps) = random_io(&prog, 1);
    let g = same_as_interp("cse", &prog, &ins, &ps);
    assert_eq!(count(&g, "MatMul"), 1);
    assert_eq!(count(&g, "Builtin(Relu)"), 1);
    // The shared node keeps the first name it was bound to.
    let mm =
        g.g.node_weights()
            .find(|w| matches!(w.op, NodeOp::MatMul))
            .expect("a matmul");
    assert_eq!(mm.name.as_deref(), Some("a"));
}

#[test]
fn constants_fold_into_one_node() {
    let prog = check(
        "model m {
             input x: [3];
             let a = ones([3]) * 2 + 1;
             output x + a;
         }",
    );
    let (ins, ps) = random_io(&prog, 1);
    let g = same_as_interp("fold", &prog, &ins, &ps);
    assert_eq!(g.len(), 3, "{:?}", g.op_counts());
    assert_eq!(count(&g, "Const"), 1);
    let c =
        g.g.node_weights()
            .find_map(|w| match &w.op {
                NodeOp::Const(t) => Some((t.clone(), w.name.clone())),
                _ => None,
            })
            .expect("a constant");
    assert_eq!(c.0.shape(), &[3]);
    assert_eq!(c.0.data(), &[3.0, 3.0, 3.0]);
    assert_eq!(c.1.as_deref(), Some("a"));
}

#[test]
fn loop_variables_become_constants_and_fold() {
    let prog = check(
        "model m {
             input x: [4];
             let mut s = zeros([4]);
             for i in 0..4 {
                 s = s + i * 2;
             }
             output x * s;
         }",
    );
    let (ins, ps) = random_io(&prog, 1);
    let g = same_as_interp("loop fold", &prog, &ins, &ps);
    assert_eq!(g.len(), 3, "{:?}", g.op_counts());
}

#[test]
fn unused_values_leave_no_node() {
    let prog = check(
        "model m {
             input x: [3];
             input unused_in: [2];
             param unused_p: [2];
             let dead = x * 7;
             let deader = sigmoid(dead);
             output x + 1;
         }",
    );
    let (ins, ps) = random_io(&prog, 1);
    let g = same_as_interp("dce", &prog, &ins, &ps);
    assert_eq!(count(&g, "Mul"), 0);
    assert_eq!(count(&g, "Builtin(Sigmoid)"), 0);
    // x, unused_in, unused_p, the constant 1 and the sum.
    assert_eq!(g.len(), 5, "{:?}", g.op_counts());
    assert_eq!(g.inputs.len(), 2);
    assert_eq!(g.params.len(), 1);
    assert!(matches!(g.g[g.inputs[1]].op, NodeOp::Input(1)));
    assert!(matches!(g.g[g.params[0]].op, NodeOp::Param(0)));
    assert_eq!(g.g[g.params[0]].name.as_deref(), Some("unused_p"));
}

#[test]
fn creation_order_is_topological_and_operands_ordered() {
    let (prog, _, _) = fastgrnn();
    let g = build(&prog, None).expect("build");
    for n in g.g.node_indices() {
        for o in g.operands(n) {
            assert!(o < n, "operand {o:?} of {n:?} comes later");
        }
    }
    // `1 - g`: the constant is operand 0 of the subtraction.
    let sub =
        g.g.node_indices()
            .find(|&n| matches!(g.g[n].op, NodeOp::Sub))
            .expect("a subtraction");
    let ops = g.operands(sub);
    assert!(matches!(g.g[ops[0]].op, NodeOp::Const(_)));
    assert!(matches!(
        g.g[ops[1]].op,
        NodeOp::Builtin(tir::Builtin::Sigmoid)
    ));
}

/// A stable description of every node: operation (with constant bits), shape, name, operands.
fn fingerprint(g: &Graph) -> Vec<String> {
    g.g.node_indices()
        .map(|n| {
            let w = &g.g[n];
            let op = match &w.op {
                NodeOp::Const(t) => format!(
                    "Const{:?}",
                    t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                ),
                op => format!("{op:?}"),
            };
            format!("{op} {:?} {:?} {:?}", w.shape, w.name, g.operands(n))
        })
        .collect()
}

#[test]
fn building_is_deterministic() {
    let (prog, _, _) = fastgrnn();
    let a = build(&prog, None).expect("build");
    let b = build(&prog, None).expect("build");
    assert_eq!(fingerprint(&a), fingerprint(&b));
    assert_eq!(
        a.outputs
            .iter()
            .map(|(s, n)| (s.clone(), n.index()))
            .collect::<Vec<_>>(),
        b.outputs
            .iter()
            .map(|(s, n)| (s.clone(), n.index()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn ranges_cover_all_samples() {
    let prog = check(
        "model m {
             input x: [2];
             output r = relu(x) * 3;
         }",
    );
    let g = build(&prog, None).expect("build");
    let s = |a: f64, b: f64| vec![Arc::new(Tensor::new(vec![2], vec![a, b]).expect("sized"))];
    let rs = ranges(&g, &[s(-1.0, 2.0), s(0.5, -4.0)], &[]).expect("ranges");
    let (_, out) = &g.outputs[0];
    assert_eq!(
        rs[g.inputs[0].index()],
        Range {
            min: -4.0,
            max: 2.0
        }
    );
    assert_eq!(rs[out.index()], Range { min: 0.0, max: 6.0 });
}

#[test]
fn wrong_inputs_are_an_error() {
    let prog = check("model m { input x: [2]; output x + 1; }");
    let g = build(&prog, None).expect("build");
    assert!(matches!(
        eval(&g, &[], &[]),
        Err(GraphEvalError::Count { .. })
    ));
    let wrong = Arc::new(Tensor::scalar(1.0));
    assert!(matches!(
        eval(&g, &[wrong], &[]),
        Err(GraphEvalError::Shape { .. })
    ));
}

#[test]
fn outputs_may_be_inputs_and_share_nodes() {
    let prog = check(
        "model m {
             input x: [2];
             output a = x;
             output b = x;
             output c = x * 2;
         }",
    );
    let (ins, ps) = random_io(&prog, 3);
    let g = same_as_interp("outputs", &prog, &ins, &ps);
    assert_eq!(g.outputs[0].1, g.inputs[0]);
    assert_eq!(g.outputs[1].1, g.inputs[0]);
}
