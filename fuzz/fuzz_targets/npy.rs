//! libFuzzer target: `.npy`/`.npz` files (weights, inputs, calibration data, labels) are
//! hostile input. The readers are path-based, so the bytes go through a temporary file (one
//! per process, removed after each input); `read_npy`, `read_labels` and `read_npz` must return `Ok` or an error, never panic,
//! abort or allocate beyond what the file's size justifies.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sir_runtime::npy::{read_labels, read_npy, read_npz};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // /dev/shm when available: the file never touches a disk.
        let base = ["/dev/shm", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join("sir-fuzz-npy");
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir.join(format!("input-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");

    if let Ok(t) = read_npy(path) {
        // Every element of a successful read is accounted for by the header's shape.
        assert_eq!(t.shape().iter().product::<usize>(), t.data().len());
    }
    if let Ok(labels) = read_labels(path) {
        // Labels come from a 1-D array; each took at least one byte of the file.
        assert!(labels.len() <= data.len());
    }
    if let Ok(arrays) = read_npz(path) {
        for (i, (name, t)) in arrays.iter().enumerate() {
            assert!(
                arrays[..i].iter().all(|(n, _)| n != name),
                "duplicate array names are refused"
            );
            assert_eq!(t.shape().iter().product::<usize>(), t.data().len());
        }
    }
    let _ = std::fs::remove_file(path);
});
