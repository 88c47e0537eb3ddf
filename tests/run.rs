//! `sir run` as two processes on loopback and `sir simulate`: the client's outputs equal `sir
//! eval --plan` bit for bit, every instruction's measured bytes equal its estimate for both
//! parties, and a bad input, a missing weight, a different plan or an unreachable peer stops
//! both sides with a message naming it and no output file.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

#[path = "cli_support/mod.rs"]
mod cli_support;
use cli_support::sir;
use sir_runtime::npy;

fn tmp(name: &str) -> String {
    cli_support::tmp("sir-run", name).display().to_string()
}

fn ex(name: &str, file: &str) -> String {
    format!("examples/{name}/{file}")
}

fn compile(model: &str, weights: &str, calib: &str, out: &str) {
    let (code, _, err) = sir(&[
        "compile",
        model,
        "--weights",
        weights,
        "--calib",
        calib,
        "-o",
        out,
    ]);
    assert_eq!(code, 0, "{model}: {err}");
}

/// A server process on an ephemeral port; returns it with its address and a reader of the
/// rest of its stderr.
struct Server {
    child: Child,
    addr: String,
    stderr: std::thread::JoinHandle<String>,
}

fn server(plan: &str, weights: &str, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sir"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--role",
            "server",
            "--plan",
            plan,
            "--weights",
            weights,
            "--listen",
            "127.0.0.1:0",
            "--wait",
            "60",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    err.read_line(&mut first).expect("the server's first line");
    let addr = first
        .trim()
        .strip_prefix("server: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let stderr = std::thread::spawn(move || {
        let mut rest = first;
        let _ = err.read_to_string(&mut rest);
        rest
    });
    Server {
        child,
        addr,
        stderr,
    }
}

impl Server {
    fn finish(mut self) -> (i32, String) {
        let code = self.child.wait().expect("waits").code().unwrap_or(-1);
        (code, self.stderr.join().expect("stderr"))
    }
}

fn client(plan: &str, input: &str, addr: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "run",
        "--role",
        "client",
        "--plan",
        plan,
        "--input",
        input,
        "--connect",
        addr,
    ];
    args.extend_from_slice(extra);
    sir(&args)
}

fn report(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json")
}

/// Every instruction of a `--report` measured exactly what it estimated.
fn assert_exact(r: &serde_json::Value, who: &str) {
    let ins = r["instructions"].as_array().expect("instructions");
    assert!(!ins.is_empty());
    for i in ins {
        for (m, e) in [
            ("bytes_sent", "estimated_bytes_sent"),
            ("bytes_received", "estimated_bytes_received"),
            ("rounds", "estimated_rounds"),
        ] {
            assert_eq!(
                i[m], i[e],
                "{who}: instruction {} ({}) {m}",
                i["id"], i["op"]
            );
        }
    }
    let sum = |k: &str| ins.iter().map(|i| i[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(r["rounds"].as_u64(), Some(sum("rounds")));
    assert!(r["bytes_sent"].as_u64().unwrap() >= sum("bytes_sent"));
    assert!(r["setup_bytes"].as_u64().unwrap() > 0);
}

/// One sample of an input file (the first), written as its own .npy.
fn first_sample(input: &str, out: &str) {
    let t = npy::read_npy(input).expect("input");
    let per: usize = t.shape()[1..].iter().product();
    let one = sir_runtime::Tensor::new(t.shape()[1..].to_vec(), t.data()[..per].to_vec())
        .expect("tensor");
    npy::write_npy(out, &one).expect("write");
}

fn two_processes(name: &str, plan: &str, input: &str, threads: &str) {
    let weights = ex(name, "weights.npz");
    let (out, want) = (
        tmp(&format!("{name}-run.npz")),
        tmp(&format!("{name}-eval.npz")),
    );
    let (rs, rc) = (
        tmp(&format!("{name}-s.json")),
        tmp(&format!("{name}-c.json")),
    );
    let s = server(plan, &weights, &["--threads", threads, "--report", &rs]);
    let (code, _, err) = client(
        plan,
        input,
        &s.addr,
        &["--threads", threads, "--out", &out, "--report", &rc],
    );
    let (scode, serr) = s.finish();
    assert_eq!(code, 0, "{name} client: {err}");
    assert_eq!(scode, 0, "{name} server: {serr}");
    let (code, _, err) = sir(&[
        "eval",
        &ex(name, "model.sir"),
        "--weights",
        &weights,
        "--input",
        input,
        "--plan",
        plan,
        "--out",
        &want,
    ]);
    assert_eq!(code, 0, "{err}");
    let (a, b) = (npy::read_npz(&out).unwrap(), npy::read_npz(&want).unwrap());
    assert_eq!(a.len(), b.len());
    for ((n1, t1), (n2, t2)) in a.iter().zip(&b) {
        assert_eq!(n1, n2);
        assert_eq!(t1.shape(), t2.shape(), "{name}: {n1}");
        let bits =
            |t: &sir_runtime::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(t1),
            bits(t2),
            "{name}: output `{n1}` differs from eval --plan"
        );
    }
    let (s, c) = (report(&rs), report(&rc));
    assert_exact(&s, "server");
    assert_exact(&c, "client");
    assert_eq!(s["bytes_sent"], c["bytes_received"]);
    assert_eq!(s["bytes_received"], c["bytes_sent"]);
    assert_eq!(s["rounds"], c["rounds"]);
}

#[test]
fn two_processes_equal_eval_plan_on_every_example() {
    for name in ["gru_motion", "lstm_vowels"] {
        let plan = tmp(&format!("{name}.plan.json"));
        compile(
            &ex(name, "model.sir"),
            &ex(name, "weights.npz"),
            &ex(name, "calib.npy"),
            &plan,
        );
        two_processes(name, &plan, &ex(name, "test.npy"), "1");
    }
    // The benchmark model: one inference, its plan calibrated on a few samples to keep the
    // test short (the plan is what matters here, not its widths).
    let name = "fastgrnn_g30";
    let plan = tmp("g30.plan.json");
    compile(
        &ex(name, "model.sir"),
        &ex(name, "weights.npz"),
        &ex(name, "inputs.npy"),
        &plan,
    );
    let one = tmp("g30-one.npy");
    first_sample(&ex(name, "inputs.npy"), &one);
    two_processes(name, &plan, &one, "2");
}

/// Models no example has: convolution, pooling, softmax, a dense ReLU network,
/// and an elementwise mix, each with random weights and inputs.
#[test]
fn simulate_equals_the_plan_on_unseen_models() {
    let models = [
        (
            "cnn",
            "model cnn { input x: [1, 8, 8]; param K: [3, 1, 3, 3]; param kb: [3];
               param W: [16, 5]; param b: [5];
               let c = relu(conv2d(x, K, kb, stride = 1, pad = 1));
               let p = maxpool2d(c, k = 2, stride = 2) + avgpool2d(c, k = 2, stride = 2);
               output y = softmax(flatten(max(p, axis = 0)) @ W + b); }",
        ),
        (
            "mlp",
            "use std::nn;
             model mlp { input x: [10]; param W1: [10, 16]; param b1: [16];
               param W2: [16, 3]; param b2: [3];
               output c = argmax(dense(dense_relu(x, W1, b1), W2, b2)); }",
        ),
        (
            "mix",
            "model mix { input x: [6]; input z: [6]; param g: [6]; param bt: [6];
               let n = x * z * g + bt;
               output a = tanh(n) * sigmoid(x) - exp(0.0 - relu(z));
               output r = rsqrt(x * x + 1.0); }",
        ),
    ];
    for (name, src) in models {
        let model = tmp(&format!("{name}.sir"));
        std::fs::write(&model, src).unwrap();
        let (w, calib, inp, plan) = (
            tmp(&format!("{name}-w.npz")),
            tmp(&format!(
                "{name}-calib.np{}",
                if name == "mix" { "z" } else { "y" }
            )),
            tmp(&format!(
                "{name}-in.np{}",
                if name == "mix" { "z" } else { "y" }
            )),
            tmp(&format!("{name}.plan.json")),
        );
        for (seed, samples, file) in [("3", "64", &calib), ("4", "5", &inp)] {
            let (code, _, err) = sir(&[
                "generate",
                &model,
                "--seed",
                seed,
                "--weights",
                &w,
                "--inputs",
                file,
                "--samples",
                samples,
            ]);
            assert_eq!(code, 0, "{name}: {err}");
        }
        compile(&model, &w, &calib, &plan);
        let (code, out, err) = sir(&["simulate", &plan, "--weights", &w, "--input", &inp]);
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(out.contains("bit for bit: yes"), "{name}: {out}");
        assert!(out.contains("equal its estimate"), "{name}: {out}");
    }
}

#[test]
fn bad_inputs_stop_both_sides_with_a_named_problem_and_no_output() {
    let gru = tmp("bad-gru.plan.json");
    let lstm = tmp("bad-lstm.plan.json");
    compile(
        &ex("gru_motion", "model.sir"),
        &ex("gru_motion", "weights.npz"),
        &ex("gru_motion", "calib.npy"),
        &gru,
    );
    compile(
        &ex("lstm_vowels", "model.sir"),
        &ex("lstm_vowels", "weights.npz"),
        &ex("lstm_vowels", "calib.npy"),
        &lstm,
    );
    let out = tmp("never.npy");
    let no_output = || assert!(!Path::new(&out).exists(), "an output file was written");
    let gw = ex("gru_motion", "weights.npz");
    let gin = ex("gru_motion", "inputs.npy");

    // The client's input has the wrong shape.
    let s = server(&gru, &gw, &[]);
    let (code, _, err) = client(
        &gru,
        &ex("lstm_vowels", "inputs.npy"),
        &s.addr,
        &["--out", &out],
    );
    let (scode, serr) = s.finish();
    assert_eq!(code, 1);
    assert!(
        err.contains("`x`") && err.contains("shape"),
        "client: {err}"
    );
    assert_eq!(scode, 1);
    assert!(
        serr.contains("client gave up") && serr.contains("input"),
        "server: {serr}"
    );
    // The server hears a category, not the client's details.
    assert!(!serr.contains("shape"), "server: {serr}");
    no_output();

    // The server's weights lack what the plan needs.
    let s = server(&gru, &ex("lstm_vowels", "weights.npz"), &[]);
    let (code, _, err) = client(&gru, &gin, &s.addr, &["--out", &out]);
    let (scode, serr) = s.finish();
    assert_eq!(scode, 1);
    assert!(serr.contains("Wz") || serr.contains("Wi"), "server: {serr}");
    assert_eq!(code, 1);
    assert!(
        err.contains("server gave up") && err.contains("weights"),
        "client: {err}"
    );
    no_output();

    // The two sides loaded different plans.
    let s = server(&gru, &gw, &[]);
    let (code, _, err) = client(
        &lstm,
        &ex("lstm_vowels", "inputs.npy"),
        &s.addr,
        &["--out", &out],
    );
    let (scode, serr) = s.finish();
    assert_eq!(code, 1);
    assert!(err.contains("plan hash mismatch"), "client: {err}");
    assert_eq!(scode, 1);
    assert!(serr.contains("plan hash mismatch"), "server: {serr}");
    no_output();

    // The two sides disagree on the connections.
    let s = server(&gru, &gw, &["--threads", "2"]);
    let (code, _, err) = client(&gru, &gin, &s.addr, &["--out", &out]);
    let (scode, serr) = s.finish();
    assert_eq!((code, scode), (1, 1));
    assert!(
        err.contains("--threads") && serr.contains("--threads"),
        "{err}\n{serr}"
    );
    no_output();

    // Nobody listens.
    let (code, _, err) = client(&gru, &gin, "127.0.0.1:9", &["--out", &out, "--wait", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot reach the server at 127.0.0.1:9"),
        "{err}"
    );
    no_output();

    // The server is not the one to write outputs.
    let (code, _, err) = sir(&[
        "run",
        "--role",
        "server",
        "--plan",
        &gru,
        "--weights",
        &gw,
        "--listen",
        "127.0.0.1:0",
        "--out",
        &out,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("learns no output"), "{err}");
    no_output();
}
