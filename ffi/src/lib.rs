//! The C ABI of Annal: `libannal.so` / `libannal.a` and `include/annal.h`.
//!
//! Every export is named `annal_<noun>_<verb>`, runs behind the panic boundary
//! ([`panic::guard`]), returns an `annal_status` when it can fail, and writes its
//! out-parameters only on success. Handles are opaque ids looked up in per-kind tables
//! ([`handle`]), so NULL, a closed handle, a double close or a handle of the wrong kind
//! is a status, never undefined behaviour. `docs/ffi.md` is the guide; `docs/safety.md`
//! lists the unsafe sites.
//!
//! The workspace denies `unsafe_code`; the modules that export functions (`no_mangle`)
//! or read caller memory allow it, each saying why.

pub mod args;
pub mod consumer;
pub mod enums;
pub mod failure;
pub mod handle;
pub mod last_error;
pub mod limits;
pub mod log;
pub mod options;
pub mod owner;
pub mod panic;
pub mod reader;
pub mod recovery;
pub mod stats;
pub mod status;
pub mod store;
pub mod store_consumer;
pub mod store_read;
pub mod store_subscription;
pub mod stream_handle;
pub mod subscription;
pub mod types;
pub mod version;
pub mod views;
