//! The client's outputs: where they may be written (checked before any work), how they are
//! shown, scored against labels, and written.

use crate::encoding::Inputs;
use crate::files::ext;
use sir_runtime::{Tensor, npy};
use std::path::Path;

/// Whether `--out` names a file the outputs can be written to (checked before any work).
pub fn check_out(out: &Path, outputs: usize) -> Result<(), String> {
    match ext(out) {
        "npz" => Ok(()),
        "npy" if outputs == 1 => Ok(()),
        "npy" => Err(format!(
            "{}: the model has {outputs} outputs; write them to an .npz",
            out.display()
        )),
        _ => Err(format!("{}: --out must end in .npz or .npy", out.display())),
    }
}

/// Writes named outputs: one `.npy`, or an `.npz` of all (atomically).
pub fn write_outputs(out: &Path, results: &[(String, Tensor)]) -> Result<(), String> {
    let r = match (ext(out), results.first()) {
        ("npy", Some((_, t))) => npy::write_npy(out, t),
        _ => npy::write_npz(out, results),
    };
    r.map_err(|e| e.to_string())
}

/// The class each sample predicts: the value itself for a scalar output, the argmax of a vector.
pub fn predictions(t: &Tensor, per_sample: &[usize], samples: usize) -> Option<Vec<i64>> {
    let n: usize = per_sample.iter().product();
    match per_sample.len() {
        0 => Some(t.data().iter().map(|v| v.round() as i64).collect()),
        1 => Some(
            (0..samples)
                .map(|s| {
                    let row = &t.data()[s * n..(s + 1) * n];
                    let mut best = 0;
                    for (i, v) in row.iter().enumerate() {
                        if *v > row[best] {
                            best = i;
                        }
                    }
                    best as i64
                })
                .collect(),
        ),
        _ => None,
    }
}

/// `[shape] [v0, v1, …]`, eliding the middle of long tensors.
pub fn format_tensor(t: &Tensor) -> String {
    const SHOW: usize = 8;
    let d = t.data();
    let shape = format!(
        "[{}]",
        t.shape()
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let fmt = |v: &f64| format!("{v}");
    let body = if d.len() <= 2 * SHOW {
        d.iter().map(fmt).collect::<Vec<_>>().join(", ")
    } else {
        format!(
            "{}, …, {}",
            d[..SHOW].iter().map(fmt).collect::<Vec<_>>().join(", "),
            d[d.len() - SHOW..]
                .iter()
                .map(fmt)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if t.shape().is_empty() {
        d.first().map_or(String::new(), fmt)
    } else {
        format!("{shape} [{body}]")
    }
}

/// `accuracy: …` of the first output against the labels.
fn accuracy_line(named: &[(String, Tensor)], inp: &Inputs, labels: &[i64]) -> String {
    let Some((name, first)) = named.first() else {
        return "no output to compare with labels".into();
    };
    let per = if inp.batched {
        &first.shape()[1..]
    } else {
        first.shape()
    };
    match predictions(first, per, inp.samples) {
        None => format!("output `{name}` is no class index or score vector"),
        Some(p) => {
            let ok = p.iter().zip(labels).filter(|(a, b)| a == b).count();
            format!(
                "accuracy: {:.2}% ({ok}/{}) on output `{name}` (two-party)",
                100.0 * ok as f64 / labels.len().max(1) as f64,
                labels.len()
            )
        }
    }
}

/// What a two-party run prints of its outputs: the accuracy with labels, else every output.
pub fn print_outputs(named: &[(String, Tensor)], inp: &Inputs, labels: Option<&[i64]>) {
    match labels {
        Some(l) => println!("{}", accuracy_line(named, inp, l)),
        None => {
            for (name, t) in named {
                println!("{name}: {}", format_tensor(t));
            }
        }
    }
}
