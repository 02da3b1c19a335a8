//! Proves the committed include/annal.h is what cbindgen generates from the sources now;
//! `ANNAL_BLESS_HEADER=1` rewrites it instead of failing.

use std::path::Path;

/// Proves include/annal.h is what cbindgen generates from the sources now.
#[test]
fn committed_header_matches_a_fresh_generation() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi/cbindgen.toml parses");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let path = crate_dir.join("include/annal.h");
    if std::env::var_os("ANNAL_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/annal.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ffi/include/annal.h is stale: regenerate it with \
         `ANNAL_BLESS_HEADER=1 cargo test -p annal-ffi --test header` and commit it"
    );
}
