//! Reading consumer files without the writer's registry: for a full verification (each
//! file's slots, name, epoch, and a checkpoint within the log) and for listing the
//! consumers of a log opened read-only (`annal stat`). Nothing here writes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::registry::{CONSUMERS_DIR, FILE_SUFFIX};
use super::ConsumerInfo;
use crate::error::{Error, Result};
use crate::format::consumer_checkpoint::{CheckpointEntry, Slot, FILE_BYTES};
use crate::format::extension::{Entries, KIND_CONSUMER_CHECKPOINT};
use crate::io::Storage;
use crate::log::{Shared, VerifyProblemKind, VerifyProgress, VerifyReport, VerifyStage};
use crate::position::Position;

/// One consumer file's newest valid state.
struct FileState {
    path: PathBuf,
    slot: Slot,
}

/// One consumer file: its state, or the file and what is wrong with it.
type FileRead = std::result::Result<FileState, (PathBuf, String)>;

/// The consumer files of the log in `dir`: each name with its newest valid slot, or
/// what is wrong with the file.
fn read_files(storage: &dyn Storage, dir: &Path) -> Result<Vec<(String, FileRead)>> {
    let dir = dir.join(CONSUMERS_DIR);
    let names = match storage.list_dir(&dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list consumers directory", Some(dir), e)),
    };
    let mut files = Vec::new();
    for file_name in &names {
        let Some(name) = file_name.strip_suffix(FILE_SUFFIX) else {
            continue;
        };
        let path = dir.join(file_name);
        let file = match storage.open_file(&path, false) {
            Ok(file) => file,
            // Deleted since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open consumer file", Some(path), e)),
        };
        let state = if file.len_bytes() != FILE_BYTES {
            Err(format!(
                "consumer file is {} bytes, not {FILE_BYTES}",
                file.len_bytes()
            ))
        } else {
            let view = file
                .view()
                .map_err(|e| Error::io("map consumer file", Some(path.clone()), e))?;
            match Slot::newest(&view) {
                None => Err("no valid slot in consumer file".to_owned()),
                Some(slot) if slot.name != name => {
                    Err(format!("consumer file holds the consumer {:?}", slot.name))
                }
                Some(slot) => Ok(slot),
            }
        };
        let state = state
            .map(|slot| FileState {
                path: path.clone(),
                slot,
            })
            .map_err(|reason| (path, reason));
        files.push((name.to_owned(), state));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Checks every consumer file of the log in `dir` (of `epoch`, ending at `end_position`),
/// adding problems to `report`.
pub(crate) fn verify_files(
    storage: &dyn Storage,
    dir: &Path,
    epoch: Option<u64>,
    end_position: u64,
    progress: &mut dyn FnMut(VerifyProgress),
    report: &mut VerifyReport,
) -> Result<()> {
    let files = read_files(storage, dir)?;
    let total = files.len() as u64;
    for (k, (_, state)) in files.into_iter().enumerate() {
        progress(VerifyProgress {
            stage: VerifyStage::Consumers,
            done: k as u64,
            total,
        });
        report.consumers_checked += 1;
        let kind = VerifyProblemKind::Consumer;
        match state {
            Err((path, reason)) => report.push(kind, path, Some(0), None, reason),
            Ok(FileState { path, slot }) => {
                let offset = Some(slot.offset());
                if epoch.is_some_and(|epoch| epoch != slot.epoch) {
                    let detail = "consumer file belongs to another log (epoch)";
                    report.push(kind, path, offset, None, detail);
                } else if slot.position > end_position {
                    let detail = format!(
                        "checkpoint at position {} is past the log's end ({end_position})",
                        slot.position
                    );
                    report.push(kind, path, offset, Some(slot.position), detail);
                }
            }
        }
    }
    progress(VerifyProgress {
        stage: VerifyStage::Consumers,
        done: total,
        total,
    });
    Ok(())
}

/// The consumers of a log opened read-only, as their files and the checkpoints committed
/// with appends say (the extensions of the records from the file's `replay_from` on are
/// read, as the writer's open does). Damaged files are left out (`verify` reports them).
pub(crate) fn list_read_only(shared: &Shared) -> Result<Vec<ConsumerInfo>> {
    let files = read_files(shared.storage(), shared.dir())?;
    let mut states: Vec<(String, Slot)> = files
        .into_iter()
        .filter_map(|(name, state)| state.ok().map(|s| (name, s.slot)))
        .filter(|(_, slot)| slot.epoch == shared.epoch())
        .collect();
    if let Some(from) = states.iter().filter_map(|(_, s)| s.replay_from).min() {
        let by_name: HashMap<(String, u64), usize> = states
            .iter()
            .enumerate()
            .map(|(k, (name, slot))| ((name.clone(), slot.incarnation), k))
            .collect();
        let mut newest: Vec<(u64, u64)> = states
            .iter()
            .map(|(_, s)| (s.sequence, s.position))
            .collect();
        shared.visit_extensions(Position(from), |record, extension| {
            for (kind, body) in Entries::new(extension).map_while(|entry| entry.ok()) {
                let Some(checkpoint) = (kind == KIND_CONSUMER_CHECKPOINT)
                    .then(|| CheckpointEntry::decode(body))
                    .flatten()
                else {
                    continue;
                };
                let key = (checkpoint.name.to_owned(), checkpoint.incarnation);
                let Some(&k) = by_name.get(&key) else {
                    continue;
                };
                let in_range = states[k]
                    .1
                    .replay_from
                    .is_some_and(|replay_from| record.position.0 >= replay_from);
                if in_range && checkpoint.sequence > newest[k].0 {
                    newest[k] = (checkpoint.sequence, checkpoint.position);
                }
            }
            Ok(())
        })?;
        for ((_, slot), (_, position)) in states.iter_mut().zip(newest) {
            slot.position = position;
        }
    }
    let written = shared.written();
    Ok(states
        .into_iter()
        .map(|(name, slot)| ConsumerInfo {
            name,
            checkpoint: Position(slot.position.min(written)),
        })
        .collect())
}
