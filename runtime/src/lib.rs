//! `sir-runtime`: the plan format, tensors and NumPy I/O, fixed-point semantics, and the
//! two-party protocols that execute plans. See ARCHITECTURE.md for where things live.

pub mod exec;
pub mod fixed;
pub mod math;
pub mod net;
pub mod npy;
pub mod ot;
pub mod plan;
pub mod proto;
pub mod ring;
pub mod tensor;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use tensor::Tensor;
