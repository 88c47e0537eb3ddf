
pub mod eval;
