//! Gives the shared library the soname `libannal.so`, the name C programs link and load it
//! by (Cargo names the file `libannal_ffi.so`: see Cargo.toml).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libannal.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
