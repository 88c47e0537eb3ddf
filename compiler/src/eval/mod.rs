//! Float reference evaluation of `.sir` programs: the real-valued meaning of every builtin
//! (`kernels`), the interpreter over the typed IR (`interp`), and binding NumPy arrays to a
//! model's inputs and params (`bind`). Fixed-point plans are measured against it.

pub mod bind;
pub mod interp;
pub mod kernels;
