//! Dense row-major tensors of reals: what the float reference interpreter computes on and what
//! NumPy files hold before quantisation.

/// A dense, row-major tensor of `f64`. A scalar has the empty shape and one element.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    /// A tensor from its shape and row-major data; `None` when the sizes disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Option<Tensor> {
        (shape.iter().product::<usize>() == data.len()).then_some(Tensor { shape, data })
    }

    /// A tensor of one value repeated over a shape.
    pub fn full(shape: Vec<usize>, value: f64) -> Tensor {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![value; n],
        }
    }

    /// A scalar (shape `[]`).
    pub fn scalar(value: f64) -> Tensor {
        Tensor {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &[f64] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// How sample outputs name classes: the one rule behind every accuracy `sir` prints
/// (`compile --labels`, `eval --labels`, `run`/`simulate --labels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassRule {
    /// A vector of `classes` scores per sample: the class is the argmax (the first maximum).
    Argmax { classes: usize },
    /// One value per sample in [0, 1]: the probability of class 1 (scikit-learn's and Keras'
    /// binary heads end in a sigmoid); class 1 from 0.5 up.
    Probability,
    /// One value per sample outside [0, 1]: a class index (e.g. an `argmax` output), rounded.
    /// (A binary model that outputs a logit should end in `sigmoid`.)
    Index,
}

impl ClassRule {
    /// The rule for outputs of `per_sample` values each, from the values themselves.
    pub fn of(data: &[f64], per_sample: usize) -> ClassRule {
        if per_sample > 1 {
            ClassRule::Argmax {
                classes: per_sample,
            }
        } else if data.iter().all(|v| (0.0..=1.0).contains(v)) {
            ClassRule::Probability
        } else {
            ClassRule::Index
        }
    }

    /// The class of one sample's values.
    pub fn class(self, row: &[f64]) -> i64 {
        match self {
            ClassRule::Argmax { .. } => {
                let mut best = 0;
                for (i, v) in row.iter().enumerate() {
                    if *v > row[best] {
                        best = i;
                    }
                }
                best as i64
            }
            ClassRule::Probability => (row.first().copied().unwrap_or(0.0) >= 0.5) as i64,
            ClassRule::Index => row.first().map_or(0, |v| v.round() as i64),
        }
    }

    /// Labels this rule can predict, or what is wrong with the first that it cannot: a label
    /// out of range makes every accuracy silently wrong.
    pub fn check_labels(self, labels: &[i64]) -> Result<(), String> {
        let (lo, hi, what) = match self {
            ClassRule::Argmax { classes } => (
                0,
                classes as i64 - 1,
                format!("the output scores {classes} classes, 0 to {}", classes - 1),
            ),
            ClassRule::Probability => (
                0,
                1,
                "the output is one probability per sample (class 1 from 0.5 up): labels are 0 or 1"
                    .into(),
            ),
            ClassRule::Index => (0, i64::MAX, "class indices are ≥ 0".into()),
        };
        match labels.iter().position(|l| !(lo..=hi).contains(l)) {
            None => Ok(()),
            Some(i) => Err(format!(
                "label {} at index {i} is not a class: {what} (relabel, e.g. 1/2 → 0/1)",
                labels[i]
            )),
        }
    }
}

/// The class of every sample of a batch output (`samples` rows of `per_sample` values) and the
/// rule that read them.
pub fn classes(data: &[f64], per_sample: usize, samples: usize) -> (Vec<i64>, ClassRule) {
    let rule = ClassRule::of(data, per_sample);
    let n = per_sample.max(1);
    let c = (0..samples)
        .map(|s| rule.class(data.get(s * n..(s + 1) * n).unwrap_or(&[])))
        .collect();
    (c, rule)
}
