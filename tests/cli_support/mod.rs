//! Running the `sir` binary from the CLI tests.

use std::path::PathBuf;
use std::process::Command;

/// Runs `sir` with `args` in the workspace root: (exit code, stdout, stderr).
pub fn sir(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sir"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("sir runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path for `name` in this test process's own temporary folder `{suite}-{pid}`.
pub fn tmp(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// `sir report` of a plan (with run reports): the page's totals equal `sir inspect --json`'s,
/// it fetches nothing, and it is under `max_bytes`. Returns the page.
#[allow(dead_code)]
pub fn check_report(plan: &str, runs: &[&str], html: &str, max_bytes: usize) -> String {
    let mut args = vec!["report", plan, "--net", "wan", "-o", html];
    for r in runs {
        args.extend(["--run", r]);
    }
    let (code, _, err) = sir(&args);
    assert_eq!(code, 0, "{plan}: {err}");
    let page = std::fs::read_to_string(html).expect("page");
    let (code, json, err) = sir(&["inspect", plan, "--json", "--net", "wan"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    // The number an element of the page shows (its `data-v`, else its text).
    let shown = |id: &str| -> u64 {
        let at = page
            .find(&format!("id={id} "))
            .or_else(|| page.find(&format!("id={id}>")))
            .unwrap_or_else(|| panic!("{plan}: no #{id}"));
        let rest = &page[at..];
        let value = match rest.find("data-v=\"") {
            Some(i) if i < rest.find('>').unwrap_or(0) => &rest[i + 8..],
            _ => &rest[rest.find('>').unwrap_or(0) + 1..],
        };
        value
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("{plan}: #{id} is not a number"))
    };
    let t = &v["totals"];
    assert_eq!(
        Some(shown("bytes-server")),
        t["bytes_server"].as_u64(),
        "{plan}"
    );
    assert_eq!(
        Some(shown("bytes-client")),
        t["bytes_client"].as_u64(),
        "{plan}"
    );
    assert_eq!(Some(shown("rounds")), t["rounds"].as_u64(), "{plan}");
    assert_eq!(
        Some(shown("latency-units")),
        v["estimate"]["latency_units"].as_u64(),
        "{plan}"
    );
    assert_eq!(
        Some(shown("preprocessing")),
        Some(
            t["preprocessing_bytes_server"].as_u64().unwrap()
                + t["preprocessing_bytes_client"].as_u64().unwrap()
        ),
        "{plan}"
    );
    assert!(
        !page.contains(" src=") && !page.contains(" href=") && !page.contains("url("),
        "{plan}: the page must not fetch anything"
    );
    assert!(page.len() < max_bytes, "{plan}: {} bytes", page.len());
    page
}
