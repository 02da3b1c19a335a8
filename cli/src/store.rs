//! Opening what the user pointed at, read-only, with errors that say what is wrong: a
//! missing directory, a file, an empty directory, a directory that holds no log. A
//! directory whose events are not event-store envelopes is opened as a raw log.

use std::path::{Path, PathBuf};

use annal::{EventStore, Log, Options};

use crate::output::{error, Failure};

/// A store or raw log opened read-only.
pub enum Opened {
    /// An event store (streams on the log).
    Store(EventStore),
    /// A raw log whose events are not the event store's.
    Log(Log),
}

impl Opened {
    /// The kind, for the operator.
    pub fn kind(&self) -> &'static str {
        match self {
            Opened::Store(_) => "event store",
            Opened::Log(_) => "raw log",
        }
    }

    /// The segment files.
    pub fn segments(&self) -> Result<Vec<annal::SegmentInfo>, Failure> {
        Ok(match self {
            Opened::Store(store) => store.segments()?,
            Opened::Log(log) => log.segments()?,
        })
    }
}

/// Checks that `dir` is a directory holding segment files; the error says what it is
/// instead.
pub fn check_dir(dir: &Path) -> Result<(), Failure> {
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error(format!("{}: no such directory", dir.display())));
        }
        Err(e) => return Err(error(format!("{}: {e}", dir.display()))),
    };
    if !metadata.is_dir() {
        return Err(error(format!("{}: not a directory", dir.display())));
    }
    let has_segment = std::fs::read_dir(dir)
        .map_err(|e| error(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok())
        .any(|entry| is_segment_name(&entry.file_name().to_string_lossy()));
    if !has_segment {
        return Err(error(format!(
            "{}: not an Annal store (no segment files in it)",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether a file name is a segment's (`<20 digits>.log`).
fn is_segment_name(name: &str) -> bool {
    name.strip_suffix(".log")
        .is_some_and(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
}

/// Opens `dir` read-only: as an event store, or as a raw log if its events are not the
/// store's.
pub fn open_read_only(dir: &Path) -> Result<Opened, Failure> {
    check_dir(dir)?;
    match EventStore::open_read_only(dir, Options::default()) {
        Ok(store) => Ok(Opened::Store(store)),
        Err(annal::Error::Corrupt { reason, .. }) if reason.contains("not a valid envelope") => {
            Ok(Opened::Log(Log::open_read_only(dir, Options::default())?))
        }
        Err(e) => Err(error(format!(
            "cannot open {} read-only: {e}",
            dir.display()
        ))),
    }
}

/// A file name for display (the path's last part).
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The bytes of every file under `dir`.
pub fn size_on_disk(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The damage a read-only open cannot read past, if any: segment files it does not
/// read (they lie after damage it stopped at).
pub fn unreadable_warning(segments: &[annal::SegmentInfo]) -> Option<String> {
    if let Some(segment) = segments.iter().find(|s| s.damaged_at.is_some()) {
        let stops_at = segment.end_position.map_or(0, |p| p.0);
        return Some(format!(
            "the log cannot be read past position {stops_at}: damage in {} at offset {} \
             (later records follow it); run `annal verify` for every problem",
            file_name(&segment.path),
            segment.damaged_at.unwrap_or(0)
        ));
    }
    let unreadable: Vec<_> = segments.iter().filter(|s| !s.readable).collect();
    let first = unreadable.first()?;
    let stops_at = segments
        .iter()
        .filter(|s| s.readable)
        .filter_map(|s| s.end_position)
        .max()
        .map_or(0, |p| p.0);
    Some(format!(
        "the log cannot be read past position {stops_at}: {} segment file(s) from {} on lie \
         after damage or a gap; run `annal verify` for the file and offset",
        unreadable.len(),
        file_name(&first.path)
    ))
}

/// Whether another process holds the store's directory lock (it has the store open for
/// writing). Looks with a shared lock taken and dropped at once, writing nothing.
pub fn locked_by_another_process(dir: &Path) -> Result<bool, Failure> {
    let path = dir.join("LOCK");
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(error(format!("{}: {e}", path.display()))),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(error(format!("{}: {e}", path.display()))),
    }
}
