//! SiRnn's math library (Rathee et al., "SiRnn: A Math Library for Secure RNN Inference",
//! IEEE S&P 2021, §V): exp, sigmoid, tanh, reciprocal, rsqrt, sqrt on fixed-point shares,
//! with the digit decomposition and MSNZB they are built from.
//!
//! - [`engine`]: the primitive set the functions are written in, and its three
//!   interpretations (cleartext semantics, two-party protocol, exact cost).
//! - [`funcs`]: the functions, each written once.
//! - [`table`]: the lookup tables, built from public parameters and cached.
//! - [`ops`]: the functions as named operations for `sir bench op` and the tests.

pub mod engine;
pub mod funcs;
pub mod table;

#[cfg(test)]
mod tests;

pub use crate::fixed::Fx;
pub use engine::{Clear, Counter, Engine};
pub use funcs::Tuning;
