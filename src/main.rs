//! The `sir` command-line interface.

mod cmd;

fn main() {
    std::process::exit(cmd::main());
}
