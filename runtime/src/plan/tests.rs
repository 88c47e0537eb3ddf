use super::clear::{dequantize, quantize, run};
use super::*;

fn t(name: &str, shape: &[usize], owner: Owner, bits: u32, frac: u32) -> TensorDecl {
    TensorDecl {
        name: Some(name.into()),
        ..TensorDecl::new(shape.to_vec(), owner, bits, frac)
    }
}

fn empty() -> Plan {
    Plan::new("toy", "00".into(), serde_json::Value::Null)
}

/// sigmoid(x @ W + b) for x [4] (client, 16.12), W [4, 3] (server, 8.6), b public.
fn dense_sigmoid() -> Plan {
    let mut p = empty();
    let x = p.tensor(t("x", &[4], Owner::Client, 16, 12));
    let w = p.tensor(t("W", &[4, 3], Owner::Server, 8, 6));
    let xs = p.tensor(t("x", &[4], Owner::Shared, 16, 12));
    let xw = p.tensor(t("xW", &[3], Owner::Shared, 26, 18));
    let tr = p.tensor(t("xW", &[3], Owner::Shared, 20, 12));
    let red = p.tensor(t("xW", &[3], Owner::Shared, 16, 12));
    let b = p.tensor(TensorDecl {
        value: Some(vec![410, -410, 0]),
        ..t("b", &[3], Owner::Public, 16, 12)
    });
    let pre = p.tensor(t("pre", &[3], Owner::Shared, 16, 12));
    let y = p.tensor(TensorDecl {
        nonneg: true,
        ..t("y", &[3], Owner::Shared, 16, 12)
    });
    let out = p.tensor(t("y", &[3], Owner::Revealed, 16, 12));
    p.inputs.push(Io::new("x", x));
    p.params.push(Io::new("W", w));
    p.outputs.push(Io::new("y", out));
    p.push(Op::Share, vec![x], xs, Some([0, 5]), None).unwrap();
    p.push(Op::MatMul, vec![xs, w], xw, None, Some("dense".into()))
        .unwrap();
    p.push(
        Op::Truncate {
            shift: 6,
            mode: Trunc::Reduce,
        },
        vec![xw],
        tr,
        None,
        None,
    )
    .unwrap();
    p.push(Op::Reshape, vec![tr], red, None, None).unwrap_err();
    // Reducing the width is a truncation of the encoding: here the values fit 16 bits.
    p.tensors[red].bits = 20;
    p.tensors[pre].bits = 20;
    p.tensors[b].bits = 20;
    p.push(Op::Reshape, vec![tr], red, None, None).unwrap();
    p.push(Op::AddPublic, vec![red, b], pre, None, None)
        .unwrap();
    p.tensors[y].bits = 16;
    p.push(
        Op::Math {
            func: MathOp::Sigmoid,
            cols: 1,
            spline: None,
        },
        vec![pre],
        y,
        None,
        None,
    )
    .unwrap();
    p.push(Op::Reveal, vec![y], out, None, None).unwrap();
    p
}

#[test]
fn a_built_plan_checks_round_trips_and_evaluates() {
    let p = dense_sigmoid();
    p.check().expect("valid");
    let text = p.to_json();
    let back = Plan::from_json(&text).expect("parses");
    assert_eq!(back, p);
    assert_eq!(back.hash(), p.hash());
    // Evaluate: x = [0.5, -1, 2, 0.25], W = 0.5 everywhere except column 2 = -0.25.
    let xs = [0.5, -1.0, 2.0, 0.25];
    let x: Vec<u64> = xs.iter().map(|&v| quantize(v, 16, 12)).collect();
    let wv: Vec<f64> = (0..12)
        .map(|i| if i % 3 == 2 { -0.25 } else { 0.5 })
        .collect();
    let w: Vec<u64> = wv.iter().map(|&v| quantize(v, 8, 6)).collect();
    let y = run(&p, &[x], &[w]).expect("runs");
    let bias = [0.1, -0.1, 0.0];
    for (j, &got) in y[0].iter().enumerate() {
        let pre: f64 = (0..4).map(|k| xs[k] * wv[k * 3 + j]).sum::<f64>() + bias[j];
        let want = 1.0 / (1.0 + (-pre).exp());
        let g = dequantize(got, 16, 12);
        assert!((g - want).abs() < 3e-3, "y[{j}] = {g}, want {want}");
    }
    // Totals are the sum of the instructions' costs; sigmoid dominates.
    let total = p.total();
    let sum: u64 = p
        .instrs
        .iter()
        .map(|i| i.cost.server_bytes + i.cost.client_bytes)
        .sum();
    assert_eq!(total.total_bytes(), sum);
    assert!(total.total_bytes() > 3 * 2000);
    let text = render::render(&p);
    assert!(text.contains("t8 = sigmoid t7"), "{text}");
    assert!(text.contains("total: server sends"));
}

#[test]
fn a_tampered_plan_is_refused_with_the_reason() {
    let good = dense_sigmoid();
    let refuse = |p: &Plan, want: &str| {
        let e = Plan::from_json(&p.to_json())
            .expect_err("refused")
            .to_string();
        assert!(e.contains(want), "{e}");
    };
    let mut p = good.clone();
    p.instrs[1].cost.client_bytes -= 1;
    refuse(&p, "recorded cost");
    let mut p = good.clone();
    p.tensors[p.outputs[0].tensor].owner = Owner::Shared;
    refuse(&p, "reveal");
    let mut p = good.clone();
    p.instrs.swap(0, 1);
    refuse(&p, "before it is written");
    let mut p = good.clone();
    p.tensors[3].shape = vec![4];
    refuse(&p, "matmul");
    let mut p = good.clone();
    p.tensors[0].value = Some(vec![1, 2, 3, 4]);
    refuse(&p, "only public constants carry values");
    let mut p = good.clone();
    p.tensors[1].shape = vec![1 << 20, 1 << 20];
    refuse(&p, "too large");
    let mut p = good.clone();
    p.version = 99;
    refuse(&p, "version 99");
    // A product of two shared matrices whose Y is the server's (and not in the result's ring).
    let mut p = good.clone();
    p.instrs[1].op = Op::MatMulShared;
    refuse(&p, "shared Y in the result's ring");
    assert!(Plan::from_json("{").is_err());
    assert!(Plan::from_json("{\"version\": 1}").is_err());
}

#[test]
fn data_movement_is_an_index_map() {
    use super::clear::{gather, sum_groups};
    // Broadcast [3] → [2, 3]; [2, 1] → [2, 3].
    let g = gather(&Op::Broadcast, &[&[3]], &[2, 3]);
    assert_eq!(
        g.iter().map(|x| x.1).collect::<Vec<_>>(),
        [0, 1, 2, 0, 1, 2]
    );
    let g = gather(&Op::Broadcast, &[&[2, 1]], &[2, 3]);
    assert_eq!(
        g.iter().map(|x| x.1).collect::<Vec<_>>(),
        [0, 0, 0, 1, 1, 1]
    );
    // x[1, 1..3] of a [3, 4] tensor; x[:, 2] keeps axis 0.
    let g = gather(
        &Op::Select {
            sels: vec![Sel::Index(1), Sel::Range(1, 3)],
        },
        &[&[3, 4]],
        &[2],
    );
    assert_eq!(g.iter().map(|x| x.1).collect::<Vec<_>>(), [5, 6]);
    let g = gather(
        &Op::Select {
            sels: vec![Sel::Full, Sel::Index(2)],
        },
        &[&[3, 4]],
        &[3],
    );
    assert_eq!(g.iter().map(|x| x.1).collect::<Vec<_>>(), [2, 6, 10]);
    // Transpose of [2, 3].
    let g = gather(&Op::Transpose, &[&[2, 3]], &[3, 2]);
    assert_eq!(
        g.iter().map(|x| x.1).collect::<Vec<_>>(),
        [0, 3, 1, 4, 2, 5]
    );
    // Concat [2, 1] and [2, 2] on axis 1.
    let g = gather(&Op::Concat { axis: 1 }, &[&[2, 1], &[2, 2]], &[2, 3]);
    assert_eq!(g, [(0, 0), (1, 0), (1, 1), (0, 1), (1, 2), (1, 3)]);
    // Sum of [2, 3] over axis 0 and axis 1.
    assert_eq!(
        sum_groups(&[2, 3], Some(0)),
        [vec![0, 3], vec![1, 4], vec![2, 5]]
    );
    assert_eq!(sum_groups(&[2, 3], Some(1)), [vec![0, 1, 2], vec![3, 4, 5]]);
}

#[test]
fn quantize_rounds_and_saturates() {
    assert_eq!(quantize(0.5, 8, 4), 8);
    assert_eq!(quantize(-0.5, 8, 4), 0xf8);
    assert_eq!(quantize(100.0, 8, 4), 127);
    assert_eq!(quantize(-100.0, 8, 4), 128);
    assert_eq!(quantize(f64::NAN, 8, 4), 0);
    assert_eq!(dequantize(0xf8, 8, 4), -0.5);
}

/// What an internal review found a hostile plan could do to the cleartext run: each is refused.
#[test]
fn hostile_plans_are_refused_before_running() {
    let good = dense_sigmoid();
    let refuse = |p: &Plan, want: &str| {
        let e = p.check().expect_err("refused").to_string();
        assert!(e.contains(want), "{e}");
    };
    // A client tensor the plan does not list as an input.
    let mut p = good.clone();
    let extra = p.tensor(t("y", &[4], Owner::Client, 16, 12));
    refuse(&p, &format!("tensor {extra} is held by a party"));
    // An input listed twice, or pointing at the server's tensor.
    let mut p = good.clone();
    p.inputs.push(p.inputs[0].clone());
    refuse(&p, "listed twice");
    let mut p = good.clone();
    p.inputs[0].tensor = p.params[0].tensor;
    refuse(&p, "not a tensor of its owner");
    // An empty axis hiding huge ones; too many axes.
    let mut p = good.clone();
    p.tensors[3].shape = vec![0, 1 << 40, 1 << 40];
    refuse(&p, "too large");
    // A shift that overflows.
    let mut p = good.clone();
    p.instrs[2].op = Op::Truncate {
        shift: u32::MAX,
        mode: Trunc::Reduce,
    };
    refuse(&p, "truncate");
    // A public constant that does not fit its width.
    let mut p = good.clone();
    p.tensors[6].value = Some(vec![1 << 40, 0, 0]);
    refuse(&p, "fitting its width");
    // Sigmoid applied "in rows" it does not have; a building block as an instruction; a
    // spline recorded on a function that has none; one whose cost is not the recorded one.
    let math = |func, cols, spline, why| {
        let mut p = good.clone();
        p.instrs[5].op = Op::Math { func, cols, spline };
        refuse(&p, why);
    };
    let linear = Some(crate::math::funcs::Spline::Linear { g: 8 });
    math(MathOp::Sigmoid, 3, None, "math function");
    math(MathOp::Lut, 1, None, "building block");
    math(MathOp::Exp, 1, linear, "only sigmoid, tanh and gelu");
    math(MathOp::Sigmoid, 1, linear, "recorded cost");
    // A product with a public constant that widens the ring is not local.
    let mut p = good.clone();
    let c = p.tensor(TensorDecl {
        value: Some(vec![2]),
        ..t("c", &[], Owner::Public, 8, 0)
    });
    let out = p.tensor(t("z", &[3], Owner::Shared, 24, 12));
    p.instrs.push(Instr {
        op: Op::MulPublic,
        args: vec![4, c],
        out,
        span: None,
        layer: None,
        cost: Cost::default(),
        pre: Cost::default(),
    });
    refuse(&p, "public");
}

/// sigmoid/tanh's construction follows the objective: the fewest bytes without a link; on a
/// slow link the variant with the fewest flights (the signed window's wide quadratic) for a
/// call small enough that its extra table bits cost less than the flights it saves, and not
/// for a call large enough that they cost more.
#[test]
fn the_spline_variant_follows_the_link() {
    use crate::fixed::Fx;
    use crate::math::funcs::{Quad, Spline};
    use crate::net::link::Link;
    use math::MathParams;
    for op in [MathOp::Sigmoid, MathOp::Tanh] {
        let p = MathParams::new(Fx::new(20, 17), Fx::new(20, 18), 1);
        // The smallest table within 2 ULP at these formats: sigmoid 2^6 intervals of the
        // signed window; tanh 2^7, as 2^6 on |x|.
        let (cheapest, g) = if op == MathOp::Sigmoid {
            (Quad::narrow(6), 6)
        } else {
            (
                Quad {
                    fold: true,
                    ..Quad::narrow(6)
                },
                7,
            )
        };
        let wide = Some(Spline::Quadratic(Quad {
            wide: true,
            ..Quad::narrow(g)
        }));
        let cheapest = Some(Spline::Quadratic(cheapest));
        assert_eq!(op.spline_for(&p, 100, None), cheapest, "{op:?}");
        assert_eq!(op.spline_for(&p, 100, Some(Link::WAN)), wide, "{op:?}");
        assert_eq!(
            op.spline_for(&p, 1 << 20, Some(Link::LAN)),
            cheapest,
            "{op:?}"
        );
        // Other functions have no spline to choose.
        assert_eq!(MathOp::Exp.spline_for(&p, 100, Some(Link::WAN)), None);
    }
}

/// Issue 19: a plan's strings reach terminals (outputs, inputs, layers, the model): one with
/// an escape sequence or a bidirectional override anywhere is refused at load.
#[test]
fn plans_with_terminal_escapes_are_refused() {
    let evil = ["out\u{1b}]0;owned\u{7}", "x\u{202e}gnp.exe", "a\u{0}b"];
    for e in evil {
        let mut p = dense_sigmoid();
        p.outputs[0].name = e.into();
        let err = p.check().expect_err("refused").to_string();
        assert!(err.contains("output 0's name"), "{err}");
        assert!(
            !err.contains('\u{1b}'),
            "the message repeats the escape: {err}"
        );
        let mut p = dense_sigmoid();
        p.model = e.into();
        assert!(p.check().is_err());
        let mut p = dense_sigmoid();
        p.options = serde_json::json!({"note": e});
        assert!(p.check().is_err());
    }
    assert!(dense_sigmoid().check().is_ok());
}
