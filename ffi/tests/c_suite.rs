//! Proves the C API works from C: every C test in tests/c/ (and the example in
//! examples/) compiles with
//! `-std=c11 -Wall -Wextra -Werror`, links against libannal.a and libannal.so, and passes
//! when run plainly, under valgrind (no memory error, no definite or indirect leak) and
//! under AddressSanitizer; and that together they call every function the header declares.

use std::path::{Path, PathBuf};
use std::process::Command;

const CFLAGS: &[&str] = &["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"];
/// What a Rust staticlib needs from the system (`rustc --print native-static-libs`).
const STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory Cargo put `libannal_ffi.{a,so}` in for this build: the test binary's own
/// (`target/<profile>/deps`).
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    for dir in [
        deps.clone(),
        deps.parent().map(Path::to_path_buf).unwrap_or_default(),
    ] {
        if dir.join("libannal_ffi.a").exists() && dir.join("libannal_ffi.so").exists() {
            return dir;
        }
    }
    panic!(
        "libannal_ffi.a and libannal_ffi.so not found next to {}",
        exe.display()
    );
}

fn require(tool: &str, why: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is required for {why} but was not found on PATH: install it (apt-get install {tool})");
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn c_sources(dir: &str) -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(crate_dir().join(dir))
        .unwrap_or_else(|e| panic!("read ffi/{dir}: {e}"))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no C files in ffi/{dir}");
    sources
}

/// Links `source` statically or dynamically, with or without AddressSanitizer.
fn compile(source: &Path, lib: &Path, out: &Path, dynamic: bool, asan: bool) {
    let mut gcc = Command::new("gcc");
    gcc.args(CFLAGS)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"));
    if asan {
        gcc.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
    }
    gcc.arg(source).arg("-o").arg(out);
    if dynamic {
        gcc.arg("-L").arg(lib).arg("-lannal");
        gcc.arg(format!("-Wl,-rpath,{}", lib.display()));
    } else {
        gcc.arg(lib.join("libannal.a")).args(STATIC_LIBS);
    }
    run(
        &mut gcc,
        &format!("gcc {} -> {}", source.display(), out.display()),
    );
}

/// Proves every C test and the example pass linked both ways, plainly, under valgrind and under ASan.
#[test]
fn c_suite_passes_plain_under_valgrind_and_under_asan() {
    require("gcc", "the C test suite");
    require("valgrind", "the C test suite's memory checks");
    let work = tempfile::tempdir().expect("tempdir");
    let lib = work.path().join("lib");
    std::fs::create_dir(&lib).expect("mkdir lib");
    let artifacts = artifacts_dir();
    std::fs::copy(artifacts.join("libannal_ffi.a"), lib.join("libannal.a")).expect("copy .a");
    std::fs::copy(artifacts.join("libannal_ffi.so"), lib.join("libannal.so")).expect("copy .so");

    for source in c_sources("tests/c")
        .into_iter()
        .chain(c_sources("examples"))
    {
        let name = source
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        for (dynamic, asan) in [(false, false), (true, false), (false, true), (true, true)] {
            let linkage = if dynamic { "dynamic" } else { "static" };
            let flavour = if asan { "-asan" } else { "" };
            let exe = work.path().join(format!("{name}-{linkage}{flavour}"));
            compile(&source, &lib, &exe, dynamic, asan);
            let data = tempfile::tempdir().expect("tempdir");
            let mut command = Command::new(&exe);
            command.arg(data.path());
            if asan {
                command.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0");
            }
            run(&mut command, &format!("{name} ({linkage}{flavour})"));
            if !asan {
                let data = tempfile::tempdir().expect("tempdir");
                run(
                    Command::new("valgrind")
                        .args([
                            "--error-exitcode=1",
                            "--leak-check=full",
                            "--errors-for-leak-kinds=definite,indirect",
                            "--quiet",
                        ])
                        .arg(&exe)
                        .arg(data.path()),
                    &format!("{name} ({linkage}) under valgrind"),
                );
            }
        }
    }
}

/// Proves the C tests call every function annal.h declares.
#[test]
fn c_suite_calls_every_function_in_the_header() {
    let header = std::fs::read_to_string(crate_dir().join("include/annal.h")).expect("annal.h");
    let tests: String = c_sources("tests/c")
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("read C test"))
        .collect();
    let functions: Vec<&str> = header
        .lines()
        .filter(|line| !line.starts_with("//") && !line.starts_with(" *"))
        .filter_map(|line| {
            // `annal_status annal_log_open(const char *dir,` → `annal_log_open`.
            let before = &line[..line.find('(')?];
            let name = before.split_whitespace().last()?.trim_start_matches('*');
            name.starts_with("annal_").then_some(name)
        })
        .collect();
    assert!(
        functions.len() > 60,
        "parsed too few functions: {functions:?}"
    );
    let missing: Vec<&&str> = functions
        .iter()
        .filter(|f| !tests.contains(&format!("{f}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "functions the C tests never call: {missing:?}"
    );
}
