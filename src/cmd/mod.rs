//! Subcommands of `sir`, one module each.

pub mod bench;

pub fn main() -> i32 {
    0
}
