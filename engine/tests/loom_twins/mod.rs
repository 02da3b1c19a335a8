//! Shared by the loom models: running a broken twin in a child process.

/// Runs the ignored test `twin` in a child process of this test binary and panics with
/// loom's report when the model fails there, as a broken twin must. A deadlock report
/// unwinds threads blocked on loom's mutex, whose destructors then abort the process:
/// a child keeps that abort out of this test run.
pub fn fails_in_child(twin: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = std::process::Command::new(exe)
        .args(["--ignored", "--exact", twin, "--test-threads=1"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("running 1 test"),
        "the child ran no test {twin}: {stdout}"
    );
    if !output.status.success() {
        let report = stderr
            .lines()
            .find(|line| line.contains("deadlock"))
            .unwrap_or("the model failed without reporting a deadlock");
        panic!("loom failed {twin}: {report}");
    }
}
