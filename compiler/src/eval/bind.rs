//! Matching the arrays of NumPy files to a model's `param`s and `input`s (LANGUAGE.md, "Files
//! around a model"), batch detection, and evaluating every sample of a batch in parallel.

use super::interp::{self, EvalError};
use crate::types::tir::{self, shape_str};
use rayon::prelude::*;
use sir_runtime::Tensor;
use std::sync::Arc;

/// NumPy's name for the n-th array saved without a name: `np.savez(path, a, b)`.
fn savez_hint(name: &str) -> &'static str {
    let unnamed = name
        .strip_prefix("arr_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if unnamed {
        "; `np.savez(path, a, b)` names arrays arr_0, arr_1, …: save each under its param's \
         name, `np.savez(path, W1=W1, b1=b1)`"
    } else {
        ""
    }
}

/// A weights or input file that does not fit the model. Messages name the file and the array.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{file}: no array `{name}` for `param {name}: {expected}`")]
    MissingArray {
        file: String,
        name: String,
        expected: String,
    },
    #[error(
        "{file}: array `{name}` matches no {what} of the model (it has: {known}){}",
        savez_hint(name)
    )]
    ExtraArray {
        file: String,
        name: String,
        what: &'static str,
        known: String,
    },
    #[error("{file}: array `{name}` has shape {got}, but the model declares {expected}")]
    Shape {
        file: String,
        name: String,
        got: String,
        expected: String,
    },
    #[error("{file}: array `{name}` holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        file: String,
        name: String,
        value: f64,
        index: usize,
    },
    #[error(
        "{file}: the model has {count} inputs ({names}); give them as an .npz with one array per input"
    )]
    NeedNpz {
        file: String,
        count: usize,
        names: String,
    },
    #[error("{file}: inputs disagree on the batch: {detail}")]
    Batch { file: String, detail: String },
}

fn finite(file: &str, name: &str, t: &Tensor) -> Result<(), BindError> {
    match t.data().iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(BindError::NonFinite {
            file: file.into(),
            name: name.into(),
            value: t.data()[index],
            index,
        }),
    }
}

/// A declared `param` or `input`: what an array must be called and shaped. A model gives them
/// ([`Decl::params`], [`Decl::inputs`]), and so does a plan (which `sir run` binds against).
#[derive(Clone, Copy, Debug)]
pub struct Decl<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
}

impl<'a> Decl<'a> {
    pub fn params(model: &'a tir::Model) -> Vec<Decl<'a>> {
        model
            .params
            .iter()
            .map(|p| Decl::new(&p.name, &p.shape))
            .collect()
    }

    pub fn inputs(model: &'a tir::Model) -> Vec<Decl<'a>> {
        model
            .inputs
            .iter()
            .map(|p| Decl::new(&p.name, &p.shape))
            .collect()
    }

    pub fn new(name: &'a str, shape: &'a [usize]) -> Decl<'a> {
        Decl { name, shape }
    }
}

/// Orders the arrays of a weights file as the model's `param`s, checking names and shapes.
pub fn bind_weights(
    model: &tir::Model,
    arrays: Vec<(String, Tensor)>,
    file: &str,
) -> Result<Vec<Arc<Tensor>>, BindError> {
    bind_weights_to(&Decl::params(model), arrays, file)
}

/// Orders the arrays of a weights file as `params`, checking names and shapes.
pub fn bind_weights_to(
    params: &[Decl<'_>],
    arrays: Vec<(String, Tensor)>,
    file: &str,
) -> Result<Vec<Arc<Tensor>>, BindError> {
    let known = || params.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
    if let Some((name, _)) = arrays
        .iter()
        .find(|(n, _)| !params.iter().any(|p| p.name == n))
    {
        return Err(BindError::ExtraArray {
            file: file.into(),
            name: name.clone(),
            what: "param",
            known: known(),
        });
    }
    let mut arrays: Vec<Option<(String, Tensor)>> = arrays.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        let slot = arrays
            .iter_mut()
            .find(|a| a.as_ref().is_some_and(|(n, _)| n == p.name));
        let Some((name, t)) = slot.and_then(Option::take) else {
            return Err(BindError::MissingArray {
                file: file.into(),
                name: p.name.to_string(),
                expected: shape_str(p.shape),
            });
        };
        if t.shape() != p.shape {
            let hint = if p.shape.is_empty() {
                " (a scalar: save it as a 0-d array, e.g. `np.float64(v)`)"
            } else {
                ""
            };
            return Err(BindError::Shape {
                file: file.into(),
                name,
                got: shape_str(t.shape()),
                expected: format!("{}{hint}", shape_str(p.shape)),
            });
        }
        finite(file, p.name, &t)?;
        out.push(Arc::new(t));
    }
    Ok(out)
}

/// The model's inputs for one or many samples.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Whether the inputs carry a leading sample axis.
    pub batched: bool,
    pub samples: usize,
    /// One tensor per `input`, in declaration order (with the sample axis when `batched`).
    pub inputs: Vec<Tensor>,
}

impl Batch {
    /// Sample `i`'s inputs.
    pub fn sample(&self, i: usize) -> Vec<Arc<Tensor>> {
        self.inputs
            .iter()
            .map(|t| {
                if !self.batched {
                    return Arc::new(t.clone());
                }
                let per = t.len() / self.samples.max(1);
                let data = t.data()[i * per..(i + 1) * per].to_vec();
                Arc::new(
                    Tensor::new(t.shape()[1..].to_vec(), data)
                        .unwrap_or_else(|| Tensor::scalar(0.0)),
                )
            })
            .collect()
    }
}

/// Matches an input file's arrays (one unnamed array for a `.npy`, else named) to the model's
/// inputs, deciding whether it is one sample or a batch (exactly one extra leading axis).
pub fn bind_inputs(
    model: &tir::Model,
    arrays: Vec<(Option<String>, Tensor)>,
    file: &str,
) -> Result<Batch, BindError> {
    bind_inputs_to(&Decl::inputs(model), arrays, file)
}

/// [`bind_inputs`] against any list of declared inputs.
pub fn bind_inputs_to(
    decls: &[Decl<'_>],
    arrays: Vec<(Option<String>, Tensor)>,
    file: &str,
) -> Result<Batch, BindError> {
    let names = || decls.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
    let mut ordered: Vec<(String, Tensor)> = Vec::new();
    if arrays.len() == 1 && arrays[0].0.is_none() {
        if decls.len() != 1 {
            return Err(BindError::NeedNpz {
                file: file.into(),
                count: decls.len(),
                names: names(),
            });
        }
        let (_, t) = arrays.into_iter().next().ok_or(BindError::NeedNpz {
            file: file.into(),
            count: 1,
            names: names(),
        })?;
        ordered.push((decls[0].name.to_string(), t));
    } else {
        let mut arrays: Vec<Option<(String, Tensor)>> = arrays
            .into_iter()
            .map(|(n, t)| Some((n.unwrap_or_default(), t)))
            .collect();
        if let Some((name, _)) = arrays
            .iter()
            .flatten()
            .find(|(n, _)| !decls.iter().any(|p| p.name == n))
        {
            return Err(BindError::ExtraArray {
                file: file.into(),
                name: name.clone(),
                what: "input",
                known: names(),
            });
        }
        for d in decls {
            let slot = arrays
                .iter_mut()
                .find(|a| a.as_ref().is_some_and(|(n, _)| n == d.name))
                .and_then(Option::take);
            let Some(a) = slot else {
                return Err(BindError::MissingArray {
                    file: file.into(),
                    name: d.name.to_string(),
                    expected: shape_str(d.shape),
                });
            };
            ordered.push(a);
        }
    }
    let mut batch: Option<(bool, usize, String)> = None;
    let mut inputs = Vec::new();
    for (d, (name, t)) in decls.iter().zip(ordered) {
        let this = if t.shape() == d.shape {
            (false, 1)
        } else if t.rank() == d.shape.len() + 1 && t.shape()[1..] == d.shape[..] {
            (true, t.shape()[0])
        } else {
            return Err(BindError::Shape {
                file: file.into(),
                name,
                got: shape_str(t.shape()),
                expected: format!(
                    "{} (or [n, {}] for a batch of n samples)",
                    shape_str(d.shape),
                    d.shape
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        if let Some((b, n, first)) = &batch
            && (*b, *n) != this
        {
            return Err(BindError::Batch {
                file: file.into(),
                detail: format!(
                    "`{first}` is {} but `{name}` is {}",
                    describe(*b, *n),
                    describe(this.0, this.1)
                ),
            });
        }
        finite(file, &name, &t)?;
        batch.get_or_insert((this.0, this.1, name));
        inputs.push(t);
    }
    let (batched, samples) = batch.map_or((false, 1), |(b, n, _)| (b, n));
    Ok(Batch {
        batched,
        samples,
        inputs,
    })
}

fn describe(batched: bool, n: usize) -> String {
    if batched {
        format!("a batch of {n}")
    } else {
        "one sample".into()
    }
}

/// Evaluates every sample (in parallel) and returns the outputs, each with a leading sample
/// axis when the batch has one.
pub fn eval_batch(
    prog: &tir::Program,
    batch: &Batch,
    params: &[Arc<Tensor>],
) -> Result<Vec<(String, Tensor)>, EvalError> {
    let per_sample: Vec<Vec<Tensor>> = (0..batch.samples)
        .into_par_iter()
        .map(|i| interp::run(prog, &batch.sample(i), params))
        .collect::<Result<_, _>>()?;
    let outs: Vec<(String, Vec<usize>)> = prog
        .model
        .outputs
        .iter()
        .map(|o| (o.name.clone(), o.shape.clone()))
        .collect();
    Ok(stack(per_sample, &outs, batch))
}

/// Per-sample outputs → one tensor per output (named, with the shape given), with a leading
/// sample axis when the batch has one.
pub fn stack(
    per_sample: Vec<Vec<Tensor>>,
    outputs: &[(String, Vec<usize>)],
    batch: &Batch,
) -> Vec<(String, Tensor)> {
    outputs
        .iter()
        .enumerate()
        .map(|(j, (name, shape))| {
            if !batch.batched {
                let t = per_sample
                    .first()
                    .and_then(|s| s.get(j))
                    .cloned()
                    .unwrap_or_else(|| Tensor::scalar(0.0));
                return (name.clone(), t);
            }
            let mut data = Vec::with_capacity(batch.samples * shape.iter().product::<usize>());
            for s in &per_sample {
                if let Some(t) = s.get(j) {
                    data.extend_from_slice(t.data());
                }
            }
            let mut full = vec![batch.samples];
            full.extend(shape.iter().copied());
            (
                name.clone(),
                Tensor::new(full, data).unwrap_or_else(|| Tensor::scalar(0.0)),
            )
        })
        .collect()
}
