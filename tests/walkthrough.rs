//! The newcomer's path (issue 22), as a user takes it: `sir demo` with no files, and every
//! `sir` command of docs/port-your-model.md run as written (in a scratch folder holding the
//! repository's `examples/`), the two-host step as two processes over TLS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder for this test, with `examples/` linked in (the doc's paths are relative to
/// the repository root; its outputs must not land there).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sir-walkthrough-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    std::os::unix::fs::symlink(root().join("examples"), dir.join("examples")).expect("link");
    dir
}

fn sir_in(dir: &Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sir"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("sir runs")
}

/// The `sir` command lines of the doc's ```sh blocks, in order (words split on spaces: the
/// doc keeps its commands to plain words).
fn doc_commands(doc: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in doc.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if in_sh && let Some(rest) = t.strip_prefix("sir ") {
            out.push(rest.split_whitespace().map(String::from).collect());
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn the_port_your_model_walkthrough_runs_as_written() {
    let doc = std::fs::read_to_string(root().join("docs/port-your-model.md")).expect("doc");
    let commands = doc_commands(&doc);
    assert!(commands.len() >= 10, "too few commands found: {commands:?}");
    let dir = scratch("port");
    let port = free_port().to_string();
    let mut server = None;
    let mut client_out = String::new();
    for mut args in commands {
        for a in &mut args {
            if a.contains(":7000") {
                *a = a.replace("7000", &port);
            }
        }
        let line = args.join(" ");
        if line.starts_with("run --role server") {
            let child = Command::new(env!("CARGO_BIN_EXE_sir"))
                .current_dir(&dir)
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("server starts");
            server = Some(child);
            continue;
        }
        let out = sir_in(&dir, &args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "`sir {line}` failed:\n{stdout}\n{stderr}"
        );
        // What the doc says each step shows.
        if line.starts_with("eval") && line.contains("--labels") {
            assert!(stdout.contains("accuracy: 95.80% (137/143)"), "{stdout}");
        }
        if line.starts_with("compile") {
            assert!(stdout.contains("storage width 10 bits"), "{stdout}");
            assert!(
                stdout.contains("8 bits: 23040 B")
                    && stdout.contains("bound 1.47 points, not confirmed"),
                "{stdout}"
            );
            assert!(
                stdout.contains("server sends 6511 B, client sends 9913 B, 45 flights"),
                "{stdout}"
            );
            assert!(
                stdout.contains(
                    "preprocessing before the input: server sends 9590 B, client sends 7424 B, 4 flights"
                ),
                "{stdout}"
            );
        }
        if line.starts_with("inspect") {
            assert!(
                stdout.contains("estimated time on 100 Mbit/s, 40.0 ms RTT: 0.68"),
                "{stdout}"
            );
            assert!(stdout.contains("\n  h "), "{stdout}");
        }
        if line.starts_with("simulate") {
            assert!(
                stdout.contains("bit for bit: yes (143 samples)"),
                "{stdout}"
            );
            assert!(stdout.contains("accuracy: 95.80%"), "{stdout}");
        }
        if line.starts_with("run --role client") {
            client_out = stdout;
        }
    }
    let server = server
        .expect("the doc starts a server")
        .wait_with_output()
        .expect("server");
    assert!(
        server.status.success(),
        "server: {}",
        String::from_utf8_lossy(&server.stderr)
    );
    assert!(client_out.contains("accuracy: 95.80%"), "{client_out}");
    // The client's probabilities equal the plan's cleartext semantics, bit for bit.
    let plan_eval = sir_in(
        &dir,
        &[
            "eval",
            "examples/port_sklearn/model.sir",
            "--weights",
            "examples/port_sklearn/weights.npz",
            "--input",
            "examples/port_sklearn/test.npy",
            "--plan",
            "cancer.plan.json",
            "--out",
            "want.npy",
        ]
        .map(String::from),
    );
    assert!(plan_eval.status.success());
    let (got, want) = (
        sir_runtime::npy::read_npy(dir.join("p.npy")).expect("read p"),
        sir_runtime::npy::read_npy(dir.join("want.npy")).expect("read want"),
    );
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_runs_with_no_files() {
    let dir = scratch("demo");
    for model in [None, Some("digits_cnn")] {
        let mut args = vec!["demo".to_string()];
        if let Some(m) = model {
            args.extend(["--model".into(), m.into()]);
        }
        let out = sir_in(&dir, &args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        for want in [
            "== 1/3 compile",
            "$ sir compile model.sir",
            "== 2/3 inspect",
            "estimated time on 100 Mbit/s",
            "== 3/3 two-party run",
            "accuracy: ",
            "every instruction's bytes and rounds equal its estimate, for both parties",
            "bit for bit: yes",
        ] {
            assert!(stdout.contains(want), "no `{want}`: {stdout}");
        }
        // The temporary folder is gone.
        let tmpdir = stdout
            .lines()
            .find_map(|l| l.strip_prefix("the commands below run in "))
            .and_then(|l| l.split(" (").next())
            .expect("the folder");
        assert!(!Path::new(tmpdir).exists(), "{tmpdir} left behind");
    }
    // --dir keeps the files to go on by hand.
    let kept = dir.join("kept");
    let out = sir_in(
        &dir,
        &["demo", "--model", "digits_cnn", "--dir", "kept"].map(String::from),
    );
    assert!(out.status.success());
    for f in [
        "model.sir",
        "weights.npz",
        "calib.npy",
        "inputs.npy",
        "plan.json",
    ] {
        assert!(kept.join(f).exists(), "{f} not kept");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
