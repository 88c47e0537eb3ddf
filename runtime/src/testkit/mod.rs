//! What tests and benchmarks share, kept out of the library's default build (feature
//! `testkit`; always on in this crate's own tests): the registry of named operations that
//! `sir bench op` and the property tests draw inputs for and check against `fixed`
//! ([`ops`], with the extension/truncation, multiplication and math entries beside it), both
//! parties of a protocol in one process ([`pair`]), and the measurement loops behind
//! `sir bench` ([`bench`]). Nothing in the library uses this module.

pub mod bench;
pub mod ext_ops;
pub mod math_ops;
pub mod mult_ops;
pub mod ops;
pub mod pair;
