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
