//! Reading and checking the files a command is given, before any work: sizes against the
//! memory budget, folders that must exist, plans, inputs and labels.

use sir_runtime::plan::{Plan, PlanInfo};
use sir_runtime::{Tensor, npy};
use std::path::Path;

/// The extension of a file name, or "" without one.
pub fn ext(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// Whether a file can be written at `path` (its folder exists), checked before any work so a
/// long run does not end on a typo.
pub fn check_writable(path: &Path, what: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "{what} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        ))
    }
}

/// Refuses a file larger than `budget` bytes before reading it (its size from the file
/// system; the readers then check every claimed size against the bytes present).
pub fn check_size(path: &Path, budget: u64, what: &str) -> Result<(), String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?
        .len();
    if len > budget {
        return Err(format!(
            "{what} {} is {} bytes, more than the memory budget allows ({budget} bytes; see --max-memory)",
            path.display(),
            len
        ));
    }
    Ok(())
}

/// Reads and checks a plan file; with it, what the check proved (what running it needs).
pub fn load_plan(path: &Path) -> Result<(Plan, PlanInfo), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
    let not_a_plan = |what: &str| {
        format!(
            "{} is not a plan ({what}): a plan is the JSON file `sir compile … -o PLAN.json` writes",
            path.display()
        )
    };
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(not_a_plan(
            "it is a zip archive, e.g. a NumPy .npz of weights",
        ));
    }
    if bytes.starts_with(b"\x93NUMPY") {
        return Err(not_a_plan("it is a NumPy .npy array"));
    }
    let text = String::from_utf8(bytes).map_err(|_| not_a_plan("it is not text"))?;
    if !text.trim_start().starts_with('{') {
        return Err(not_a_plan("it is not JSON"));
    }
    Plan::load(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads an input file as (name, array) pairs; a `.npy` gives one unnamed array.
pub fn read_inputs(path: &Path) -> Result<Vec<(Option<String>, Tensor)>, String> {
    match ext(path) {
        "npy" => npy::read_npy(path)
            .map(|t| vec![(None, t)])
            .map_err(|e| e.to_string()),
        "npz" => npy::read_npz(path)
            .map(|v| v.into_iter().map(|(n, t)| (Some(n), t)).collect())
            .map_err(|e| e.to_string()),
        _ => Err(format!("{}: expected a .npy or .npz file", path.display())),
    }
}

/// Reads labels for `samples` samples (checked before the run).
pub fn load_labels(path: Option<&Path>, samples: usize) -> Result<Option<Vec<i64>>, String> {
    let Some(p) = path else { return Ok(None) };
    let v = npy::read_labels(p).map_err(|e| e.to_string())?;
    if v.len() != samples {
        return Err(format!(
            "{}: {} labels for {samples} samples",
            p.display(),
            v.len()
        ));
    }
    Ok(Some(v))
}
