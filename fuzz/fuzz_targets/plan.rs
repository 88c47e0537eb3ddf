//! libFuzzer target: a plan file is hostile input (`sir run`, `sir inspect`, `sir simulate`
//! load it). Parsing and checking it must never panic; a plan that checks must serialise,
//! render and have its costs estimated without panicking, and its canonical JSON must parse
//! back to the same plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sir_runtime::exec::{Shape, estimate};
use sir_runtime::plan::{Plan, render::render};

fuzz_target!(|data: &[u8]| {
    // A plan file that is not UTF-8 is refused before parsing; only UTF-8 text reaches it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = Plan::from_json(text) else {
        return;
    };
    let json = plan.to_json();
    assert!(!json.is_empty(), "a checked plan serialises");
    // Round trip: what we write (and hash in the handshake) loads back as the same plan.
    let again = Plan::from_json(&json).expect("the canonical JSON of a checked plan loads");
    assert_eq!(again.to_json(), json, "canonical JSON is stable");
    let _ = plan.hash();
    let _ = render(&plan);
    let info = plan.check().expect("a loaded plan checks again");
    let _ = estimate(&plan, &info, Shape::ONE);
});
