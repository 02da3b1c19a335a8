//! Scratch directories on the same disk as the repository (never a tmpfs, which would
//! make every fdatasync free).

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::BenchResult;

/// The directory scratch directories are made in: `ANNAL_BENCH_DIR`, or `bench-tmp` in
/// the workspace's target directory (`CARGO_TARGET_DIR` when set).
pub fn bench_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("ANNAL_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    target_dir().join("bench-tmp")
}

/// The workspace's target directory (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

/// Creates the bench root if needed and refuses a tmpfs (or ramfs) there.
pub fn checked_root() -> BenchResult<PathBuf> {
    let root = bench_root();
    std::fs::create_dir_all(&root)?;
    let root = root.canonicalize()?;
    if let Some(fs_type) = fs_type_of(&root) {
        if fs_type == "tmpfs" || fs_type == "ramfs" {
            return Err(format!(
                "{} is on {fs_type}: fdatasync would be free there; set ANNAL_BENCH_DIR to a \
                 directory on a real disk",
                root.display()
            )
            .into());
        }
    }
    Ok(root)
}

/// A fresh scratch directory under the bench root, removed when dropped.
pub fn scratch(prefix: &str) -> BenchResult<TempDir> {
    let root = checked_root()?;
    Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(root)?)
}

/// The file-system type of the mount holding `path`, from `/proc/self/mounts` (the
/// longest mount point that is a prefix of the path).
pub fn fs_type_of(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount_point = fields.next()?.replace("\\040", " ");
            let fs_type = fields.next()?;
            path.starts_with(&mount_point)
                .then(|| (mount_point.len(), fs_type.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs_type)| fs_type)
}
