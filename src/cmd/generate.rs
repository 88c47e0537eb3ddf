//! `sir generate MODEL --seed S --weights W.npz [--inputs X.npy --samples N]`: deterministic
//! random weights and inputs for a model, so examples and benchmarks need no training and no
//! Python. The same seed gives the same bytes on every machine (ChaCha20).

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sir_cli::fail;
use sir_runtime::{Tensor, npy};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// The `.sir` file holding the model.
    pub model: PathBuf,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write one array per `param` (.npz).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where to write a batch of inputs (.npy for one input, else .npz).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Number of samples in the input batch.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
}

/// Uniform in [lo, hi) from 53 random bits.
fn uniform(rng: &mut ChaCha20Rng, lo: f64, hi: f64) -> f64 {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    lo + (hi - lo) * u
}

/// Glorot-uniform for matrices and filters, small biases, scalars in [0, 1): values in the range
/// a trained model would have, so fixed-point formats chosen from them are realistic.
fn random_param(rng: &mut ChaCha20Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let (lo, hi) = match shape {
        [] => (0.0, 1.0),
        [_] => (-0.1, 0.1),
        [a, b, rest @ ..] => {
            let field: usize = rest.iter().product();
            let lim = (6.0 / ((a + b) * field.max(1)) as f64).sqrt();
            (-lim, lim)
        }
    };
    let data = (0..n).map(|_| uniform(rng, lo, hi)).collect();
    Tensor::new(shape.to_vec(), data).unwrap_or_else(|| Tensor::scalar(0.0))
}

pub fn run(args: &GenerateArgs) -> i32 {
    let (prog, _) = match sir_cli::model::load_model(&args.model) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if args.weights.is_none() && args.inputs.is_none() {
        return fail("nothing to do: give --weights and/or --inputs");
    }
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    if let Some(path) = &args.weights {
        let arrays: Vec<(String, Tensor)> = prog
            .model
            .params
            .iter()
            .map(|p| (p.name.clone(), random_param(&mut rng, &p.shape)))
            .collect();
        if let Err(e) = npy::write_npz(path, &arrays) {
            return fail(e);
        }
    }
    if let Some(path) = &args.inputs
        && prog.model.inputs.len() != 1
        && path.extension().is_some_and(|e| e == "npy")
    {
        return fail(format_args!(
            "the model has {} inputs: write them to an .npz (one array per input name), not {}",
            prog.model.inputs.len(),
            path.display()
        ));
    }
    if let Some(path) = &args.inputs {
        let arrays: Vec<(String, Tensor)> = prog
            .model
            .inputs
            .iter()
            .map(|d| {
                let mut shape = vec![args.samples];
                shape.extend(&d.shape);
                let n: usize = shape.iter().product();
                let data = (0..n).map(|_| uniform(&mut rng, -1.0, 1.0)).collect();
                (
                    d.name.clone(),
                    Tensor::new(shape, data).unwrap_or_else(|| Tensor::scalar(0.0)),
                )
            })
            .collect();
        let r = if arrays.len() == 1 && path.extension().is_some_and(|e| e == "npy") {
            npy::write_npy(path, &arrays[0].1)
        } else {
            npy::write_npz(path, &arrays)
        };
        if let Err(e) = r {
            return fail(e);
        }
    }
    0
}
