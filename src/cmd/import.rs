//! `sir import MODEL.onnx -o DIR`: an ONNX model to DIR/model.sir and DIR/weights.npz
//! (`sir_cli::onnx`), then `sir check` of the result.

use sir_cli::fail;
use sir_runtime::npy;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model (.onnx, weights inside the file).
    pub model: PathBuf,
    /// The folder to write model.sir and weights.npz into (created if missing).
    #[arg(short, long)]
    pub out: PathBuf,
}

pub fn run(args: &ImportArgs) -> i32 {
    let bytes = match std::fs::read(&args.model) {
        Ok(b) => b,
        Err(e) => return fail(format_args!("cannot read {}: {e}", args.model.display())),
    };
    let name = args.model.file_name().map_or_else(
        || args.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let imported = match sir_cli::onnx::import(&bytes, &name) {
        Ok(i) => i,
        Err(e) => return fail(format_args!("{}: {e}", args.model.display())),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return fail(format_args!("cannot create {}: {e}", args.out.display()));
    }
    let (model, weights) = (args.out.join("model.sir"), args.out.join("weights.npz"));
    if let Err(e) = npy::write_atomic(&model, imported.source.as_bytes()) {
        return fail(format_args!("cannot write {}: {e}", model.display()));
    }
    if let Err(e) = npy::write_npz(&weights, &imported.weights) {
        return fail(format_args!("cannot write {}: {e}", weights.display()));
    }
    if let Err(code) = sir_cli::model::load_model(&model) {
        return code;
    }
    println!(
        "wrote {} and {} ({} weight arrays); the model checks",
        model.display(),
        weights.display(),
        imported.weights.len()
    );
    0
}
