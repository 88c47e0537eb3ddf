//! `sir check MODEL`: parse, resolve, shape-check.

use std::path::Path;

pub fn run(model: &Path, print_typed: bool) -> i32 {
    match sir_cli::model::load_model(model) {
        Ok((prog, _)) => {
            if print_typed {
                print!("{}", sir_compiler::types::render::program(&prog));
            }
            0
        }
        Err(code) => code,
    }
}
