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

/// The plan of an example compiled on one of its files, once per test process (tests that
/// only read it share it).
fn example_plan(name: &str, calib: &str) -> String {
    static PLANS: std::sync::Mutex<Vec<((String, String), String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut plans = PLANS.lock().unwrap_or_else(|e| e.into_inner());
    let key = (name.to_string(), calib.to_string());
    if let Some((_, p)) = plans.iter().find(|(k, _)| *k == key) {
        return p.clone();
    }
    let plan = tmp(&format!("{name}-{calib}.plan.json"));
    compile(
        &ex(name, "model.sir"),
        &ex(name, "weights.npz"),
        &ex(name, calib),
        &plan,
    );
    plans.push((key, plan.clone()));
    plan
}

/// A server process on an ephemeral port; returns it with its address and a reader of the
/// rest of its stderr.
struct Server {
    child: Child,
    addr: String,
    stderr: std::thread::JoinHandle<String>,
}

/// Three TLS identities made once per test process: the server's, the client's, a stranger's.
fn keys() -> &'static [String; 3] {
    static KEYS: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        ["server", "client", "stranger"].map(|who| {
            let dir = tmp(&format!("keys-{who}"));
            let (code, _, err) = sir(&["keygen", "--out", &dir]);
            assert_eq!(code, 0, "{err}");
            dir
        })
    })
}

/// The TLS options of a role (its identity, the other's certificate) unless `extra` chooses.
fn tls_args(role: &str, extra: &[&str]) -> Vec<String> {
    if extra.contains(&"--insecure-plaintext") || extra.contains(&"--identity") {
        return Vec::new();
    }
    let [s, c, _] = keys();
    let (mine, peer) = if role == "server" { (s, c) } else { (c, s) };
    vec![
        "--identity".into(),
        mine.clone(),
        "--peer-cert".into(),
        format!("{peer}/cert.pem"),
    ]
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
        ])
        .args(if extra.contains(&"--wait") {
            &[][..]
        } else {
            &["--wait", "60"][..]
        })
        .args(extra)
        .args(tls_args("server", extra))
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

/// A server and a client on one plan that must both stop with exit 1: their messages
/// (client's, server's).
fn both_refuse(
    plan: &str,
    weights: &str,
    input: &str,
    server_extra: &[&str],
    client_extra: &[&str],
) -> (String, String) {
    let s = server(plan, weights, server_extra);
    let (code, _, err) = client(plan, input, &s.addr, client_extra);
    let (scode, serr) = s.finish();
    assert_eq!((code, scode), (1, 1), "client: {err}\nserver: {serr}");
    (err, serr)
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
    let tls = tls_args("client", extra);
    args.extend(tls.iter().map(|s| s.as_str()));
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
    // The latency measured on the critical path, by instruction, adds up, and no more than
    // the flights.
    let units = r["latency_units"].as_u64().expect("latency measured");
    assert!(
        units <= sum("rounds") && units > 0,
        "{who}: {units} latency units"
    );
    let pre = units - sum("latency_units");
    assert!(
        pre <= r["preprocessing"]["rounds"].as_u64().unwrap(),
        "{who}"
    );
    // ... and equals what the plan's kernels price, instruction by instruction.
    for i in ins {
        assert_eq!(
            i["latency_units"], i["estimated_latency_units"],
            "{who}: instruction {} ({}) latency units",
            i["id"], i["op"]
        );
    }
    assert_eq!(r["latency_units"], r["estimated_latency_units"], "{who}");
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

/// The first `n` samples of a batch.
fn first_samples(input: &str, n: usize, out: &str) {
    let t = npy::read_npy(input).expect("input");
    let per: usize = t.shape()[1..].iter().product();
    let mut shape = t.shape().to_vec();
    shape[0] = n;
    let some = sir_runtime::Tensor::new(shape, t.data()[..n * per].to_vec()).expect("tensor");
    npy::write_npy(out, &some).expect("write");
}

/// Two `.npz` output files hold the same arrays (names, shapes, every value bit for bit).
fn assert_same_outputs(got: &str, want: &str, who: &str) {
    let (a, b) = (npy::read_npz(got).unwrap(), npy::read_npz(want).unwrap());
    assert_eq!(a.len(), b.len());
    let bits = |t: &sir_runtime::Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for ((n1, t1), (n2, t2)) in a.iter().zip(&b) {
        assert_eq!(n1, n2);
        assert_eq!(t1.shape(), t2.shape(), "{who}: {n1}");
        assert_eq!(
            bits(t1),
            bits(t2),
            "{who}: output `{n1}` differs from eval --plan"
        );
    }
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
    assert_same_outputs(&out, &want, name);
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
        let plan = example_plan(name, "calib.npy");
        two_processes(name, &plan, &ex(name, "test.npy"), "1");
    }
    // The benchmark model: one inference, its plan calibrated on a few samples to keep the
    // test short (the plan is what matters here, not its widths).
    let name = "fastgrnn_g30";
    let plan = example_plan(name, "inputs.npy");
    let one = tmp("g30-one.npy");
    first_sample(&ex(name, "inputs.npy"), &one);
    two_processes(name, &plan, &one, "2");
    // A batch of 4 over 2 connections: flights of megabytes on both connections (they
    // deadlocked while a flight's connections were flushed in another order than read).
    let four = tmp("g30-four.npy");
    first_samples(&ex(name, "inputs.npy"), 4, &four);
    two_processes(name, &plan, &four, "2");
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
            "blk",
            "model blk { input x: [2, 6, 7]; param k: [2, 6, 7];
               output y = block_relu(x * k, [2, 3]) + block_relu(x, [1, 1]); }",
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
        // Over an emulated link (through the relay, TLS on two connections) the run is the
        // same, and the report says what the link was, the time on it and the estimate.
        let rep = tmp(&format!("{name}-link.json"));
        let (code, out, err) = sir(&[
            "simulate",
            &plan,
            "--weights",
            &w,
            "--input",
            &inp,
            "--link",
            "1000,2",
            "--tls",
            "--threads",
            "2",
            "--report",
            &rep,
        ]);
        assert_eq!(code, 0, "{name} over a link: {out}{err}");
        assert!(out.contains("bit for bit: yes"), "{name}: {out}");
        assert!(
            out.contains("link:      1000 Mbit/s, 2 ms round trip"),
            "{name}: {out}"
        );
        let r = report(&rep);
        assert_exact(&r, name);
        assert_eq!(r["link"]["mbit_per_s"], 1000.0, "{name}");
        assert_eq!(r["link"]["rtt_ms"], 2.0, "{name}");
        assert!(r["link"]["wall_s"].as_f64().unwrap() > 0.0, "{name}");
        assert!(r["estimated_s"].as_f64().unwrap() > 0.0, "{name}");
    }
    let (code, _, err) = sir(&[
        "simulate",
        "x.json",
        "--weights",
        "w",
        "--input",
        "i",
        "--link",
        "100",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("expected lan, wan or MBIT_PER_S,RTT_MS"),
        "{err}"
    );
}

#[test]
fn bad_inputs_stop_both_sides_with_a_named_problem_and_no_output() {
    let gru = example_plan("gru_motion", "calib.npy");
    let lstm = example_plan("lstm_vowels", "calib.npy");
    let out = tmp("never.npy");
    let no_output = || assert!(!Path::new(&out).exists(), "an output file was written");
    let gw = ex("gru_motion", "weights.npz");
    let gin = ex("gru_motion", "inputs.npy");

    // (A session that fails does not count: the server then waits `--wait` for another
    // client and stops with an error.)
    let fails = ["--wait", "2"];
    // The client's input has the wrong shape.
    let s = server(&gru, &gw, &fails);
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
    let s = server(&gru, &gw, &fails);
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
    let (err, serr) = both_refuse(
        &gru,
        &gw,
        &gin,
        &["--threads", "2", "--wait", "2"],
        &["--out", &out],
    );
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
        "--insecure-plaintext",
        "--out",
        &out,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("learns no output"), "{err}");
    no_output();
}

/// What a relay saw: client → server, server → client.
type Seen = std::thread::JoinHandle<(Vec<u8>, Vec<u8>)>;

/// A relay between client and server that records both directions.
fn relay(to: String) -> (String, Seen) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("relay listens");
    let addr = l.local_addr().expect("addr").to_string();
    let h = std::thread::spawn(move || {
        let (c, _) = l.accept().expect("the client comes");
        let s = std::net::TcpStream::connect(&to).expect("the server is there");
        let pump = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
            std::thread::spawn(move || {
                use std::io::Write;
                let mut seen = Vec::new();
                let mut buf = [0u8; 1 << 16];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            seen.extend_from_slice(&buf[..n]);
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Write);
                seen
            })
        };
        let up = pump(c.try_clone().expect("clone"), s.try_clone().expect("clone"));
        let down = pump(s, c);
        (up.join().expect("up"), down.join().expect("down"))
    });
    (addr, h)
}

/// Whether a byte stream is a sequence of whole TLS records (handshake, alert, change cipher
/// spec, application data), none longer than TLS allows.
fn only_tls_records(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        if b.len() < 5 || !(20..=23).contains(&b[0]) || b[1] != 3 {
            return false;
        }
        let len = u16::from_be_bytes([b[3], b[4]]) as usize;
        if len > (1 << 14) + 256 || b.len() < 5 + len {
            return false;
        }
        b = &b[5 + len..];
    }
    true
}

#[test]
fn by_default_an_observer_sees_only_tls_records_and_strangers_are_refused() {
    let name = "gru_motion";
    let plan = example_plan(name, "calib.npy");
    let s = server(&plan, &ex(name, "weights.npz"), &[]);
    let (addr, rec) = relay(s.addr.clone());
    let out = tmp("tls-out.npy");
    let (code, _, err) = client(&plan, &ex(name, "inputs.npy"), &addr, &["--out", &out]);
    let (scode, serr) = s.finish();
    assert_eq!((code, scode), (0, 0), "{err}\n{serr}");
    let (up, down) = rec.join().expect("relay");
    assert!(up.len() > 1_000_000 && down.len() > 1_000_000);
    assert!(
        only_tls_records(&up),
        "client → server is not only TLS records"
    );
    assert!(
        only_tls_records(&down),
        "server → client is not only TLS records"
    );
    let magic = b"SIR-2PC";
    assert!(!up.windows(magic.len()).any(|w| w == magic));
    assert!(!down.windows(magic.len()).any(|w| w == magic));

    // Strangers never cost a session (issue 19): a client with another certificate than the
    // server pinned, a client expecting another server, a plaintext client at a TLS server,
    // and garbage each stop on their side, named; the server logs and drops each and serves
    // the real client that comes after them.
    let [_, _, stranger] = keys();
    let (w, input) = (ex(name, "weights.npz"), ex(name, "inputs.npy"));
    let server_cert = format!("{}/cert.pem", keys()[0]);
    let client_id = keys()[1].clone();
    let stranger_cert = format!("{stranger}/cert.pem");
    let s = server(&plan, &w, &["--serve", "1"]);
    let cases: [(&[&str], &str); 3] = [
        (
            &["--identity", stranger, "--peer-cert", &server_cert],
            "refused",
        ),
        (
            &["--identity", &client_id, "--peer-cert", &stranger_cert],
            "--peer-cert",
        ),
        (&["--insecure-plaintext"], "--insecure-plaintext"),
    ];
    for (extra, want) in cases {
        let (code, _, err) = client(&plan, &input, &s.addr, extra);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(want), "client {extra:?}: {err}");
    }
    {
        use std::io::Write;
        let mut g = std::net::TcpStream::connect(&s.addr).expect("connects");
        let _ = g.write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
    let (code, _, err) = client(&plan, &input, &s.addr, &[]);
    assert_eq!(code, 0, "the real client after the strangers: {err}");
    let (scode, serr) = s.finish();
    assert_eq!(scode, 0, "{serr}");
    assert_eq!(
        serr.matches("connection_dropped").count(),
        4,
        "server: {serr}"
    );
    assert!(
        serr.contains("is not one given with --peer-cert"),
        "server: {serr}"
    );
    assert!(
        serr.contains("refused") && serr.contains("certificate"),
        "server: {serr}"
    );
    assert!(serr.contains("without TLS"), "server: {serr}");
    assert!(serr.contains("outcome=\"completed\""), "server: {serr}");
}

/// A client process running in the background.
fn spawn_client(plan: &str, input: &str, addr: &str, extra: &[&str]) -> Child {
    let mut args: Vec<String> = [
        "run",
        "--role",
        "client",
        "--plan",
        plan,
        "--input",
        input,
        "--connect",
        addr,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(tls_args("client", extra));
    Command::new(env!("CARGO_BIN_EXE_sir"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts")
}

#[test]
fn a_killed_peer_stops_the_other_at_an_instruction_and_serve_goes_on() {
    let name = "fastgrnn_g30";
    let plan = example_plan(name, "inputs.npy");
    let one = tmp("fault-one.npy");
    first_sample(&ex(name, "inputs.npy"), &one);
    let w = ex(name, "weights.npz");
    let mid_run = std::time::Duration::from_millis(600);

    // The client dies mid-run: the server logs it and serves the next client (`--serve 1`
    // counts completed sessions).
    let s = server(&plan, &w, &["--serve", "1", "--timeout", "10"]);
    let mut c1 = spawn_client(&plan, &one, &s.addr, &[]);
    std::thread::sleep(mid_run);
    c1.kill().expect("kill");
    let _ = c1.wait();
    let out = tmp("fault-out.npy");
    let (code, _, err) = client(&plan, &one, &s.addr, &["--out", &out]);
    assert_eq!(code, 0, "the second client: {err}");
    assert!(Path::new(&out).exists());
    let (scode, serr) = s.finish();
    assert_eq!(scode, 0, "{serr}");
    assert!(
        serr.contains("session=1") && serr.contains("outcome=\"failed\""),
        "server: {serr}"
    );
    assert!(
        serr.contains("instruction") || serr.contains("OT preprocessing"),
        "server: {serr}"
    );
    assert!(serr.contains("completed=1 failed=1"), "server: {serr}");

    // The server dies mid-run: the client stops at an instruction and writes nothing.
    let mut s = server(&plan, &w, &[]);
    let out = tmp("fault-none.npy");
    let c = spawn_client(&plan, &one, &s.addr, &["--out", &out, "--timeout", "10"]);
    std::thread::sleep(mid_run);
    s.child.kill().expect("kill");
    let _ = s.finish();
    let t = std::time::Instant::now();
    let r = c.wait_with_output().expect("the client ends");
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(t.elapsed().as_secs() < 10);
    // Where it stopped: an instruction, or (fastgrnn_g30 runs on silent OT) the generation of
    // its COTs before the first.
    assert!(
        err.contains("instruction") || err.contains("OT preprocessing"),
        "client: {err}"
    );
    assert!(!Path::new(&out).exists(), "an output after a failed run");
}

#[test]
fn a_plan_edited_to_reveal_to_the_server_is_refused_before_connecting() {
    let plan = example_plan("gru_motion", "calib.npy");
    let text = std::fs::read_to_string(&plan).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Edits that would hand a value derived from the client's input to the server: the
    // output's tensor owned by the server; the client's input declared the server's; an
    // intermediate shared tensor made the server's own.
    let out_t = v["outputs"][0]["tensor"].as_u64().unwrap() as usize;
    let in_t = v["inputs"][0]["tensor"].as_u64().unwrap() as usize;
    let shared = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .rposition(|t| t["owner"] == "shared")
        .unwrap();
    for (i, t) in [(0, out_t), (1, in_t), (2, shared)] {
        let mut e = v.clone();
        e["tensors"][t]["owner"] = serde_json::json!("server");
        let path = tmp(&format!("edited-{i}.plan.json"));
        std::fs::write(&path, serde_json::to_string(&e).unwrap()).unwrap();
        // Nobody listens: the client must refuse before it tries to connect.
        let (code, _, err) = client(
            &path,
            &ex("gru_motion", "inputs.npy"),
            "127.0.0.1:9",
            &["--wait", "1"],
        );
        assert_eq!(code, 1, "edit {i}");
        assert!(
            !err.contains("cannot reach"),
            "edit {i} got as far as connecting: {err}"
        );
        assert!(err.contains(&path), "edit {i}: {err}");
    }
}

#[test]
fn verify_confirms_a_compiled_plan_and_names_an_edit() {
    let e = |f: &str| ex("gru_motion", f);
    let plan = example_plan("gru_motion", "calib.npy");
    let args = |p: &str| {
        [
            "verify",
            p,
            "--source",
            &e("model.sir"),
            "--weights",
            &e("weights.npz"),
            "--calib",
            &e("calib.npy"),
        ]
        .map(String::from)
    };
    let run = |p: &str| {
        let a = args(p);
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        sir(&refs)
    };
    let (code, out, err) = run(&plan);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verified"), "{out}");
    // A constant changed: still a well-formed plan, but not what the source gives.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let tensors = v["tensors"].as_array_mut().unwrap();
    let c = tensors
        .iter_mut()
        .find(|t| t["owner"] == "public" && t["value"][0].as_i64().is_some_and(|x| x != 0))
        .expect("a nonzero constant");
    c["value"][0] = serde_json::json!(0);
    let edited = tmp("verify-edited.plan.json");
    std::fs::write(&edited, serde_json::to_string(&v).unwrap()).unwrap();
    let (code, _, err) = run(&edited);
    assert_eq!(code, 1);
    assert!(err.contains("NOT what") && err.contains("tensor"), "{err}");
    // Named for a reader, not as a Rust debug struct (issue 22).
    assert!(err.contains("constant element 0 is 0 in the plan"), "{err}");
    assert!(
        !err.contains("TensorDecl") && !err.contains("Some("),
        "{err}"
    );
}

#[test]
fn files_and_batches_beyond_the_memory_budget_are_refused_before_reading() {
    let e = |f: &str| ex("gru_motion", f);
    let plan = example_plan("gru_motion", "calib.npy");
    // A 1 MiB budget: the plan file (≈ 1.2 MB) is too large to read.
    let (code, _, err) = client(
        &plan,
        &e("test.npy"),
        "127.0.0.1:9",
        &["--max-memory", "1", "--wait", "1"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("the plan") && err.contains("--max-memory"),
        "{err}"
    );
    // 16 MiB: the plan and input are read, but 40 samples at once (≈ 37 MiB) are too many.
    let (code, _, err) = client(
        &plan,
        &e("test.npy"),
        "127.0.0.1:9",
        &["--max-memory", "16", "--wait", "1"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("40 samples") && err.contains("--max-memory"),
        "{err}"
    );
}

/// Issue 19: a server pins one certificate per client (a directory of them): each session's
/// log names its client by fingerprint, and a client whose certificate is not there is
/// refused (and dropped, not costing a session).
#[test]
fn a_server_tells_its_clients_apart_and_refuses_a_revoked_one() {
    let name = "gru_motion";
    let plan = example_plan(name, "calib.npy");
    let (w, input) = (ex(name, "weights.npz"), ex(name, "inputs.npy"));
    let [server_id, client_id, _] = keys();
    let second = tmp("keys-second-client");
    if !Path::new(&format!("{second}/cert.pem")).exists() {
        let (code, _, err) = sir(&["keygen", "--out", &second]);
        assert_eq!(code, 0, "{err}");
    }
    let dir = tmp("clients-dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(format!("{client_id}/cert.pem"), format!("{dir}/alice.pem")).expect("copy");
    std::fs::copy(format!("{second}/cert.pem"), format!("{dir}/bob.pem")).expect("copy");
    let server_cert = format!("{server_id}/cert.pem");
    let srv = |extra: &[&str]| {
        let mut a = vec![
            "--identity",
            server_id.as_str(),
            "--peer-cert",
            dir.as_str(),
        ];
        a.extend_from_slice(extra);
        server(&plan, &w, &a)
    };
    let s = srv(&["--serve", "2"]);
    for id in [client_id.as_str(), second.as_str()] {
        let (code, _, err) = client(
            &plan,
            &input,
            &s.addr,
            &["--identity", id, "--peer-cert", &server_cert],
        );
        assert_eq!(code, 0, "{id}: {err}");
    }
    let (code, serr) = s.finish();
    assert_eq!(code, 0, "{serr}");
    let clients: std::collections::BTreeSet<&str> = serr
        .lines()
        .filter(|l| l.contains("session_end"))
        .filter_map(|l| l.split("client=").nth(1))
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    assert_eq!(clients.len(), 2, "two clients told apart: {serr}");

    // Bob's certificate removed: Bob is refused, Alice still served.
    std::fs::remove_file(format!("{dir}/bob.pem")).expect("revoke");
    let s = srv(&["--serve", "1"]);
    let (code, _, err) = client(
        &plan,
        &input,
        &s.addr,
        &["--identity", &second, "--peer-cert", &server_cert],
    );
    assert_eq!(code, 1, "a revoked client is refused: {err}");
    let (code, _, err) = client(
        &plan,
        &input,
        &s.addr,
        &["--identity", client_id, "--peer-cert", &server_cert],
    );
    assert_eq!(code, 0, "{err}");
    let (code, serr) = s.finish();
    assert_eq!(code, 0, "{serr}");
    assert!(serr.contains("connection_dropped"), "{serr}");
}

/// Issue 19's soak, short (the long one is `benches/soak.py`): a server running 2 sessions at
/// once, serving until SIGTERM, serves every honest client — each result bit-equal to
/// `sir eval --plan` — while hostile connections come in between: a TLS client with another
/// certificate, garbage, a connection that trickles bytes (cut at the handshake deadline), one
/// that hangs up during the handshake, and a client killed mid-run.
#[test]
fn a_server_under_hostile_connections_serves_every_honest_client() {
    use std::io::Write;
    let name = "gru_motion";
    let plan = example_plan(name, "calib.npy");
    let (w, input) = (ex(name, "weights.npz"), ex(name, "inputs.npy"));
    let want = tmp("soak-eval.npz");
    let (code, _, err) = sir(&[
        "eval",
        &ex(name, "model.sir"),
        "--weights",
        &w,
        "--input",
        &input,
        "--plan",
        &plan,
        "--out",
        &want,
    ]);
    assert_eq!(code, 0, "{err}");
    let s = server(
        &plan,
        &w,
        &["--serve", "0", "--concurrency", "2", "--timeout", "10"],
    );
    let addr = s.addr.clone();
    let trickler = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let mut t = std::net::TcpStream::connect(&addr).expect("connects");
        // A TLS record header announcing 512 bytes, then one byte at a time.
        let _ = t.write_all(b"\x16\x03\x01\x02\x00");
        for _ in 0..60 {
            if t.write_all(b"A").is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        t0.elapsed()
    });
    let [_, _, stranger] = keys();
    let server_cert = format!("{}/cert.pem", keys()[0]);
    let mut honest = Vec::new();
    for round in 0..3 {
        // Hostile: another certificate, garbage, a hang-up mid-handshake, a killed client.
        let mut st = spawn_client(
            &plan,
            &input,
            &s.addr,
            &["--identity", stranger, "--peer-cert", &server_cert],
        );
        if let Ok(mut g) = std::net::TcpStream::connect(&s.addr) {
            let _ = g.write_all(b"\x16\x03\x01garbage garbage garbage");
        }
        drop(std::net::TcpStream::connect(&s.addr));
        let mut killed = spawn_client(&plan, &input, &s.addr, &[]);
        std::thread::sleep(std::time::Duration::from_millis(40 + 30 * round));
        let _ = killed.kill();
        let _ = killed.wait();
        // Honest: two at once.
        for i in 0..2 {
            let out = tmp(&format!("soak-{round}-{i}.npz"));
            let _ = std::fs::remove_file(&out);
            honest.push((spawn_client(&plan, &input, &s.addr, &["--out", &out]), out));
        }
        assert_eq!(
            st.wait().expect("ends").code(),
            Some(1),
            "the stranger is refused"
        );
    }
    for (c, out) in honest {
        let r = c.wait_with_output().expect("ends");
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(0), "an honest client failed: {err}");
        assert_same_outputs(&out, &want, "an honest client");
    }
    let cut = trickler.join().expect("trickler");
    assert!(
        cut < std::time::Duration::from_secs(12),
        "the trickling connection was held {cut:?}"
    );
    let pid = s.child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(term.expect("kill -TERM").success());
    let (scode, serr) = s.finish();
    assert_eq!(scode, 0, "{serr}");
    assert!(serr.contains("no complete handshake within"), "{serr}");
    assert!(serr.contains("is not one given with --peer-cert"), "{serr}");
    let completed = serr
        .lines()
        .filter(|l| l.contains("outcome=\"completed\""))
        .count();
    assert!(completed >= 6, "{completed} sessions completed: {serr}");
    assert!(serr.contains("server_stopped"), "{serr}");
}
