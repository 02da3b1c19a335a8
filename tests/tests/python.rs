//! The Python package's suite from `cargo test`: `.ci/python` builds `ffi/python` with
//! maturin into a virtualenv under `target/`, checks its type stub and runs pytest.

use std::path::Path;
use std::process::Command;

#[test]
fn python_package_suite_passes() {
    // Proves the Python package builds against this engine, its stub matches it, and every pytest passes, on a real interpreter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The package builds with the machine's default toolchain and flags, whatever this
    // test was built with (a `cargo +nightly` run with sanitizer flags, say).
    let status = Command::new("bash")
        .args([".ci/python", "-q"])
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(&root)
        .status()
        .expect("bash runs .ci/python");
    assert!(status.success(), ".ci/python failed: {status}");
}
