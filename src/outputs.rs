//! The client's outputs: where they may be written (checked before any work), how they are
//! shown, scored against labels, and written.

use crate::encoding::Inputs;
use crate::files::ext;
use sir_runtime::tensor::{ClassRule, classes};
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

/// The accuracy of the first output against the labels (`sir_runtime::tensor::ClassRule`: a
/// vector's argmax, one probability thresholded at 0.5, or a class index), with the rule's
/// words; an error names a label the output cannot predict, or an output that names no class.
pub fn accuracy(
    named: &[(String, Tensor)],
    (samples, batched): (usize, bool),
    labels: &[i64],
) -> Result<(f64, usize, String), String> {
    let Some((name, first)) = named.first() else {
        return Err("the model has no output to compare with labels".into());
    };
    let per = if batched {
        &first.shape()[1..]
    } else {
        first.shape()
    };
    if per.len() > 1 {
        return Err(format!(
            "output `{name}` is {per:?} per sample; accuracy needs a class index, a probability \
             or a vector of scores"
        ));
    }
    let (preds, rule) = classes(first.data(), per.iter().product(), samples);
    rule.check_labels(labels)
        .map_err(|e| format!("--labels: {e}"))?;
    let ok = preds.iter().zip(labels).filter(|(a, b)| a == b).count();
    let how = match rule {
        ClassRule::Argmax { classes } => format!("argmax of {classes} scores"),
        ClassRule::Probability => "one probability, class 1 from 0.5".into(),
        ClassRule::Index => "a class index".into(),
    };
    Ok((
        100.0 * ok as f64 / labels.len().max(1) as f64,
        ok,
        format!("on output `{name}`, {how}"),
    ))
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

/// What a two-party run prints of its outputs: the accuracy with labels, else every output.
pub fn print_outputs(
    named: &[(String, Tensor)],
    inp: &Inputs,
    labels: Option<&[i64]>,
) -> Result<(), String> {
    match labels {
        Some(l) => {
            let (pct, ok, how) = accuracy(named, (inp.samples, inp.batched), l)?;
            println!("accuracy: {pct:.2}% ({ok}/{}) {how} (two-party)", l.len());
        }
        None => {
            for (name, t) in named {
                println!("{name}: {}", format_tensor(t));
            }
        }
    }
    Ok(())
}
