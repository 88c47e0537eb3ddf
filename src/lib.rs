//! What the `sir` subcommands share, one job per module, so that each subcommand (src/cmd/ in
//! the binary) is only its arguments and calls into these: no subcommand borrows from another.

pub mod driver;
pub mod encoding;
pub mod files;
pub mod html;
pub mod model;
pub mod onnx;
pub mod outputs;
pub mod reference;
pub mod report;
pub mod serve;
pub mod summary;

/// Prints `error: …` to stderr and returns exit code 1.
pub fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    1
}
