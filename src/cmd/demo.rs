//! `sir demo [--model NAME] [--dir DIR]`: the main job end to end on an example embedded in
//! the binary, needing no file paths — compile with calibration, a short `inspect`, a
//! two-party run over loopback with TLS (accuracy, bytes measured against estimated, the
//! result against the plan's cleartext semantics). Each step runs the real subcommand and
//! prints the command line that does the same by hand.

use super::compile::CompileArgs;
use super::inspect::{By, InspectArgs};
use super::run::SimulateArgs;
use sir_cli::fail;
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoModel {
    /// A GRU-16 on BasicMotions (smartwatch activity), 8 test inputs.
    #[value(name = "gru_motion", alias = "gru-motion")]
    GruMotion,
    /// An LSTM-16 on JapaneseVowels (speaker recognition), 9 test inputs.
    #[value(name = "lstm_vowels", alias = "lstm-vowels")]
    LstmVowels,
    /// A small CNN on scikit-learn's 8×8 digits, 10 test images.
    #[value(name = "digits_cnn", alias = "digits-cnn")]
    DigitsCnn,
    /// SiRnn's FastGRNN on Google-30's shape (random weights: cost, not accuracy), 8 inputs.
    #[value(name = "fastgrnn_g30", alias = "fastgrnn-g30")]
    FastgrnnG30,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Which embedded example to run.
    #[arg(long, value_enum, default_value = "gru_motion")]
    pub model: DemoModel,
    /// Write the example's files and the plan into this folder and keep them (to go on by
    /// hand); by default a temporary folder, removed at the end.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// One embedded example: its files, and which of them the steps use.
struct Example {
    name: &'static str,
    about: &'static str,
    files: &'static [(&'static str, &'static [u8])],
    /// The calibration labels, when its README compiles with them.
    calib_labels: Option<&'static str>,
    /// The run's labels, when the example has them.
    labels: Option<&'static str>,
}

macro_rules! embed {
    ($dir:literal: $($file:literal),+) => {
        &[$(($file, include_bytes!(concat!("../../examples/", $dir, "/", $file)))),+]
    };
}

fn example(m: DemoModel) -> Example {
    match m {
        DemoModel::GruMotion => Example {
            name: "gru_motion",
            about: "a GRU-16 trained on BasicMotions (6 smartwatch channels, 4 activities)",
            files: embed!("gru_motion": "model.sir", "weights.npz", "calib.npy", "inputs.npy", "inputs_labels.npy"),
            calib_labels: None,
            labels: Some("inputs_labels.npy"),
        },
        DemoModel::LstmVowels => Example {
            name: "lstm_vowels",
            about: "an LSTM-16 trained on JapaneseVowels (9 speakers)",
            files: embed!("lstm_vowels": "model.sir", "weights.npz", "calib.npy", "inputs.npy", "inputs_labels.npy"),
            calib_labels: None,
            labels: Some("inputs_labels.npy"),
        },
        DemoModel::DigitsCnn => Example {
            name: "digits_cnn",
            about: "a two-block CNN trained on scikit-learn's 8×8 digits",
            files: embed!("digits_cnn": "model.sir", "weights.npz", "calib.npy", "train_labels.npy", "inputs.npy", "inputs_labels.npy"),
            calib_labels: Some("train_labels.npy"),
            labels: Some("inputs_labels.npy"),
        },
        DemoModel::FastgrnnG30 => Example {
            name: "fastgrnn_g30",
            about: "SiRnn's FastGRNN on Google-30's shape (99 steps, random weights: the cost \
                    is the point; the run is checked against the plan's cleartext semantics)",
            files: embed!("fastgrnn_g30": "model.sir", "weights.npz", "calib.npy", "inputs.npy"),
            calib_labels: None,
            labels: None,
        },
    }
}

/// A folder that is removed when dropped unless it is the user's.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn workdir(dir: Option<&Path>, name: &str) -> Result<Workdir, String> {
    let (path, keep) = match dir {
        Some(d) => (d.to_path_buf(), true),
        None => {
            let salt = blake3::hash(format!("{:?}", std::time::SystemTime::now()).as_bytes());
            let tag = &salt.to_hex()[..12];
            (
                std::env::temp_dir().join(format!("sir-demo-{name}-{}-{tag}", std::process::id())),
                false,
            )
        }
    };
    let made = match keep {
        true => std::fs::create_dir_all(&path),
        // A fresh, unpredictable name: never someone else's folder.
        false => std::fs::create_dir(&path),
    };
    made.map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(Workdir { path, keep })
}

fn step(n: usize, what: &str, command: &str) {
    println!("\n== {n}/3 {what}\n$ {command}\n");
}

pub fn run(args: &DemoArgs) -> i32 {
    let ex = example(args.model);
    let dir = match workdir(args.dir.as_deref(), ex.name) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    for (file, bytes) in ex.files {
        let p = dir.path.join(file);
        if let Err(e) = std::fs::write(&p, bytes) {
            return fail(format_args!("cannot write {}: {e}", p.display()));
        }
    }
    // Command lines name the files as seen from the folder.
    let at = |f: &str| dir.path.join(f);
    println!(
        "sir demo: {} — {}\nthe commands below run in {}{}",
        ex.name,
        ex.about,
        dir.path.display(),
        if dir.keep {
            ""
        } else {
            " (removed at the end; --dir keeps it)"
        }
    );

    let plan = at("plan.json");
    let mut compile_line =
        "sir compile model.sir --weights weights.npz --calib calib.npy".to_string();
    if let Some(l) = ex.calib_labels {
        compile_line += &format!(" --labels {l}");
    }
    compile_line += " -o plan.json";
    step(
        1,
        "compile: fixed-point formats chosen on calibration data",
        &compile_line,
    );
    let code = super::compile::run(&CompileArgs {
        model: at("model.sir"),
        weights: at("weights.npz"),
        calib: at("calib.npy"),
        labels: ex.calib_labels.map(at),
        max_accuracy_loss: None,
        max_error: None,
        relu_budget: None,
        relu_budget_per_layer: None,
        relu_patches: None,
        net: None,
        bits: None,
        ot: sir_cli::model::OtChoice::Auto,
        products: "offline".into(),
        confidence: sir_compiler::confidence::DEFAULT,
        out: plan.clone(),
    });
    if code != 0 {
        return code;
    }

    step(
        2,
        "inspect: where the bytes and the latency go, and the time on a WAN",
        "sir inspect plan.json --brief --net wan",
    );
    let code = super::inspect::run(&InspectArgs {
        plan: plan.clone(),
        by: By::Protocol,
        net: "wan".into(),
        json: false,
        text: false,
        brief: true,
    });
    if code != 0 {
        return code;
    }

    let mut run_line =
        "sir simulate plan.json --weights weights.npz --input inputs.npy --tls".to_string();
    if let Some(l) = ex.labels {
        run_line += &format!(" --labels {l}");
    }
    step(
        3,
        "two-party run: server (weights) and client (input) over TLS on loopback",
        &run_line,
    );
    let code = super::run::simulate(SimulateArgs {
        plan: plan.clone(),
        weights: at("weights.npz"),
        input: at("inputs.npy"),
        threads: 1,
        out: None,
        report: None,
        labels: ex.labels.map(at),
        tls: true,
        link: None,
        strict_range: false,
    });
    if code != 0 {
        return code;
    }
    println!(
        "\nThe same between two hosts: README.md, \"The two commands\" and `sir run --help`; \
         your own model: docs/port-your-model.md."
    );
    0
}
