//! Float reference evaluation of `.sir` programs: the real-valued meaning of every builtin
//! (`kernels`), against which the fixed-point plans are measured.

pub mod kernels;
