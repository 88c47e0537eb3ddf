//! Binding this party's data to a plan: the server's weights and the client's inputs in the
//! plan's fixed-point formats (quantised), the client's outputs decoded back to tensors.

use crate::files::read_inputs;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use sir_compiler::eval::bind::{self, Decl};
use sir_runtime::plan::Plan;
use sir_runtime::plan::clear::{dequantize, fits, quantize};
use sir_runtime::{Tensor, npy};
use std::path::Path;

fn io_decls<'a>(plan: &'a Plan, ios: &'a [sir_runtime::plan::Io]) -> Vec<Decl<'a>> {
    ios.iter()
        .map(|io| Decl::new(&io.name, &plan.tensors[io.tensor].shape))
        .collect()
}

/// What a party does with its values beyond the calibrated range (within the format's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RangeCheck {
    /// Print a warning and run.
    #[default]
    Warn,
    /// Refuse (`--strict-range`).
    Strict,
}

/// The server's weights in the plan's formats; an archive declaring more than `limit` bytes
/// is refused before anything is decompressed.
pub fn load_weights(
    plan: &Plan,
    path: &Path,
    limit: u64,
    check: RangeCheck,
) -> Result<Vec<Vec<u64>>, String> {
    let arrays = npy::read_weights_within(path, limit).map_err(|e| e.to_string())?;
    let ts = bind::bind_weights_to(
        &io_decls(plan, &plan.params),
        arrays,
        &path.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    let file = path.display().to_string();
    for (io, t) in plan.params.iter().zip(&ts) {
        check_range(plan, io, t, &file, false, check)?;
    }
    Ok(plan
        .params
        .iter()
        .zip(&ts)
        .map(|(io, t)| encode(plan, io.tensor, t))
        .collect())
}

/// Every value of a tensor fits its format in the plan: a value beyond the format's range
/// would be saturated and the run silently wrong (weights scaled after compiling, inputs
/// unlike the calibration data). A value within the format but beyond what `sir compile`
/// calibrated on runs where the accuracy was never measured: a warning on stderr, or with
/// [`RangeCheck::Strict`] a refusal. Checked locally by each party on its own data, revealing
/// nothing. `batched`: the tensor carries a leading sample axis (for the index named).
fn check_range(
    plan: &Plan,
    io: &sir_runtime::plan::Io,
    t: &Tensor,
    file: &str,
    batched: bool,
    check: RangeCheck,
) -> Result<(), String> {
    let f = &plan.tensors[io.tensor];
    let per = f.numel().max(1);
    let at = |i: usize| {
        if batched {
            format!("sample {}, element {}", i / per, i % per)
        } else {
            format!("element {i}")
        }
    };
    if let Some(i) = t.data().iter().position(|&x| !fits(x, f.bits, f.frac)) {
        // The range quantising saturates to.
        let end = |x: f64| dequantize(quantize(x, f.bits, f.frac), f.bits, f.frac);
        let (lo, hi) = (end(f64::MIN), end(f64::MAX));
        return Err(format!(
            "{file}: `{}` holds {} at {}, outside what the plan's format for it holds \
             ({} bits, {} fraction bits: {lo} to {hi}); compile the plan with calibration \
             data (or weights) that cover such values",
            io.name,
            t.data()[i],
            at(i),
            f.bits,
            f.frac
        ));
    }
    let Some(k) = io.calibrated_log2 else {
        return Ok(());
    };
    let bound = (k as f64).exp2();
    let beyond = t.data().iter().filter(|x| x.abs() >= bound).count();
    let Some(i) = t.data().iter().position(|x| x.abs() >= bound) else {
        return Ok(());
    };
    let what = format!(
        "{file}: `{}` holds {} at {} ({beyond} value(s) in all), beyond the calibrated range \
         (every value `sir compile` saw there was within ±{bound}): the plan's format holds it, \
         but its accuracy was measured on smaller values",
        io.name,
        t.data()[i],
        at(i),
    );
    match check {
        RangeCheck::Warn => {
            eprintln!("warning: {what} (--strict-range refuses such values)");
            Ok(())
        }
        RangeCheck::Strict => Err(format!(
            "{what}; refused by --strict-range (recompile with calibration data that covers \
             them, or drop --strict-range)"
        )),
    }
}

fn encode(plan: &Plan, id: usize, t: &Tensor) -> Vec<u64> {
    let f = &plan.tensors[id];
    t.data()
        .iter()
        .map(|&x| quantize(x, f.bits, f.frac))
        .collect()
}

/// The client's inputs in the plan's formats (samples back to back), the sample count, and
/// whether the file carried a batch axis.
pub struct Inputs {
    pub values: Vec<Vec<u64>>,
    pub samples: usize,
    pub batched: bool,
}

pub fn load_inputs(
    plan: &Plan,
    path: &Path,
    limit: u64,
    check: RangeCheck,
) -> Result<Inputs, String> {
    let arrays = if path.extension().is_some_and(|e| e == "npz") {
        npy::read_npz_within(path, limit)
            .map(|v| v.into_iter().map(|(n, t)| (Some(n), t)).collect())
            .map_err(|e| e.to_string())?
    } else {
        read_inputs(path)?
    };
    let batch = bind::bind_inputs_to(
        &io_decls(plan, &plan.inputs),
        arrays,
        &path.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    let file = path.display().to_string();
    for (io, t) in plan.inputs.iter().zip(&batch.inputs) {
        check_range(plan, io, t, &file, batch.batched, check)?;
    }
    Ok(Inputs {
        values: plan
            .inputs
            .iter()
            .zip(&batch.inputs)
            .map(|(io, t)| encode(plan, io.tensor, t))
            .collect(),
        samples: batch.samples,
        batched: batch.batched,
    })
}

/// Random encodings in a tensor's format, within a quarter of its range.
pub fn random_encodings(rng: &mut ChaCha20Rng, n: usize, bits: u32) -> Vec<u64> {
    let span = 1u64 << bits.saturating_sub(2).min(62);
    (0..n)
        .map(|_| {
            let v = (rng.next_u64() % (2 * span)) as i64 - span as i64;
            sir_runtime::ring::reduce(v as u64, bits)
        })
        .collect()
}

/// The client's outputs as named tensors (with the sample axis when the input had one).
pub fn decode_outputs(plan: &Plan, outs: &[Vec<u64>], inp: &Inputs) -> Vec<(String, Tensor)> {
    plan.outputs
        .iter()
        .zip(outs)
        .map(|(io, v)| {
            let t = &plan.tensors[io.tensor];
            let mut shape = t.shape.clone();
            if inp.batched {
                shape.insert(0, inp.samples);
            }
            let data = v.iter().map(|&x| dequantize(x, t.bits, t.frac)).collect();
            (
                io.name.clone(),
                Tensor::new(shape, data).unwrap_or_else(|| Tensor::scalar(0.0)),
            )
        })
        .collect()
}
