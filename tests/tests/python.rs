//! The Python package's suite from `cargo test`: `.ci/python` builds `ffi/python` with
//! maturin into a virtualenv under `target/`, checks its type stub and runs pytest.

use std::path::Path;
use std::process::Command;

#[test]
fn python_package_suite_passes() {
    // Proves the Python package builds against this engine, its stub matches it, and every pytest passes, on a real interpreter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new("bash")
        .args([".ci/python", "-q"])
        .current_dir(&root)
        .status()
        .expect("bash runs .ci/python");
    assert!(status.success(), ".ci/python failed: {status}");
}
