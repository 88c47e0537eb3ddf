//! libFuzzer target: the frontend (parse, load `use`d files from an in-memory file system,
//! check, render diagnostics) and, for programs that check, the float interpreter must never
//! panic. The oracle is shared with the proptest suite in tests/fuzz_frontend.rs.
#![no_main]

#[path = "../../tests/fuzz_support/harness.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The frontend takes a `String`; non-UTF-8 bytes become U+FFFD as a file reader would.
    let src = String::from_utf8_lossy(data);
    harness::run(&src);
});
