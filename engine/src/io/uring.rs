//! The io_uring durable write path: one ring per [`super::FileStorage`] opened with
//! `IoPath::IoUring`, on which the group-commit leader submits its write (and the file's
//! zero-ahead, `file.rs`) linked (`IO_LINK`) to an fdatasync (`FsyncFlags::DATASYNC`):
//! one system call for both, and the sync starts in the kernel the moment the write ends.
//!
//! The caller waits for the writes' completions (it publishes them), and later, outside
//! the writer's lock, for the sync's ([`RingSync::wait`]). Every completion is reaped and
//! its result checked before the ring is used again; the ring's lock is held from
//! submission until the sync's completion is reaped, so a completion never reaches the
//! wrong caller. A short write cancels the linked sync: the rest is written with `pwrite`
//! and the file synced again, and nothing is reported durable before that sync succeeds.
//!
//! Segment files are registered with the ring (a sparse table of
//! [`REGISTERED_FILES_MAX`] slots), which spares the kernel a descriptor lookup per
//! request; a file that finds the table full uses its plain descriptor.
//!
//! All of the crate's io_uring `unsafe` is here: pushing a request whose buffer the kernel
//! reads after the push, and creating the probe's memfd.
#![expect(
    unsafe_code,
    reason = "io_uring requests point the kernel at buffers that must outlive them"
)]

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, MutexGuard, OnceLock};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

/// Submission queue entries: at most two writes and a sync are ever in flight.
const RING_ENTRIES: u32 = 8;

/// Slots in the ring's table of registered files (segment files open for writing).
pub(crate) const REGISTERED_FILES_MAX: u32 = 64;

/// Most writes one submission links ahead of its sync.
const WRITES_MAX: usize = 2;

/// `user_data` of the sync; writes carry their index.
const SYNC_USER_DATA: u64 = u64::MAX;

/// ECANCELED on Linux: what a linked request gets when the one before it fell short.
const ECANCELED: i32 = libc::ECANCELED;
/// Transient refusals of `io_uring_enter`: out of resources, completion queue full.
const EAGAIN: i32 = libc::EAGAIN;
const EBUSY: i32 = libc::EBUSY;

/// An io_uring instance and its table of registered files.
pub(crate) struct Ring {
    state: Mutex<RingState>,
}

struct RingState {
    ring: IoUring,
    /// Free slots of the registered-file table (empty when registration is unsupported).
    free_slots: Vec<u32>,
}

/// A file as the ring addresses it: its registered slot if it has one.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) file: &'a File,
    pub(crate) slot: Option<u32>,
}

/// The sync a [`Ring::write_then_sync`] started; [`RingSync::wait`] finishes it.
pub(crate) struct RingSync<'a> {
    /// Held until the sync's completion is reaped: nobody else submits meanwhile.
    state: Option<MutexGuard<'a, RingState>>,
    file: &'a File,
    outcome: Outcome,
}

enum Outcome {
    /// The linked sync is in flight.
    InFlight,
    /// Its completion was reaped along with the writes' (a result or `-errno`).
    Completed(i32),
    /// A write fell short and was finished with `pwrite`: the file needs a fresh sync.
    SyncAgain,
}

impl Ring {
    /// Sets up a ring with a registered-file table, or fails the way the kernel refuses
    /// (ENOSYS: no io_uring; EPERM: disabled by policy or a seccomp filter; ENOMEM: the
    /// locked-memory limit), or with `Unsupported` when it lacks write or fsync requests.
    pub(crate) fn new() -> io::Result<Ring> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for code in [opcode::Write::CODE, opcode::Fsync::CODE] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring lacks request opcode {code}"),
                ));
            }
        }
        // Sparse tables need Linux 5.19; without one every request names a descriptor.
        let free_slots = match ring.submitter().register_files_sparse(REGISTERED_FILES_MAX) {
            Ok(()) => (0..REGISTERED_FILES_MAX).rev().collect(),
            Err(_) => Vec::new(),
        };
        Ok(Ring {
            state: Mutex::new(RingState { ring, free_slots }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `file` in a free slot, if any is left.
    pub(crate) fn register(&self, file: &File) -> Option<u32> {
        let mut state = self.lock();
        let slot = state.free_slots.pop()?;
        match state
            .ring
            .submitter()
            .register_files_update(slot, &[file.as_raw_fd()])
        {
            Ok(_) => Some(slot),
            Err(_) => {
                state.free_slots.push(slot);
                None
            }
        }
    }

    /// Empties `slot` (its file is being closed) and frees it.
    pub(crate) fn unregister(&self, slot: u32) {
        let mut state = self.lock();
        // A slot that cannot be emptied keeps its file open; it is not reused.
        if state
            .ring
            .submitter()
            .register_files_update(slot, &[-1])
            .is_ok()
        {
            state.free_slots.push(slot);
        }
    }

    /// Writes each `(offset, bytes)` in order, linked to an fdatasync of the file, and
    /// returns once the writes are complete (the sync may still be running). An error
    /// means no byte of it may be counted on; every completion of the submission is
    /// reaped before it returns.
    pub(crate) fn write_then_sync<'a>(
        &'a self,
        target: Target<'a>,
        writes: &[(u64, &[u8])],
    ) -> io::Result<RingSync<'a>> {
        self.write_then_sync_capped(target, writes, u32::MAX)
    }

    /// [`Ring::write_then_sync`] with each write request asking for at most
    /// `request_bytes_max` bytes: tests use it to make writes fall short.
    fn write_then_sync_capped<'a>(
        &'a self,
        target: Target<'a>,
        writes: &[(u64, &[u8])],
        request_bytes_max: u32,
    ) -> io::Result<RingSync<'a>> {
        assert!(writes.len() <= WRITES_MAX, "too many writes for one sync");
        let mut state = self.lock();
        {
            let mut submission = state.ring.submission();
            assert!(submission.is_empty(), "a request was left unsubmitted");
            for (index, (offset, bytes)) in writes.iter().enumerate() {
                let len = u32::try_from(bytes.len())
                    .unwrap_or(u32::MAX)
                    .min(request_bytes_max);
                let write = match target.slot {
                    Some(slot) => {
                        opcode::Write::new(types::Fixed(slot), bytes.as_ptr(), len).offset(*offset)
                    }
                    None => {
                        opcode::Write::new(types::Fd(target.file.as_raw_fd()), bytes.as_ptr(), len)
                            .offset(*offset)
                    }
                };
                let write = write
                    .build()
                    .flags(squeue::Flags::IO_LINK)
                    .user_data(index as u64);
                // SAFETY: the kernel reads `len` bytes at `bytes.as_ptr()` and uses the
                // file until the request completes. Both are borrowed for `'a` and this
                // function does not return before every write's completion is reaped
                // (`reap` below), nor is the file's descriptor closed before the sync's
                // (`RingSync` borrows the file and reaps it on `wait` or drop).
                unsafe { submission.push(&write) }
                    .expect("the ring is empty and holds more entries than one submission");
            }
            let sync = match target.slot {
                Some(slot) => opcode::Fsync::new(types::Fixed(slot)),
                None => opcode::Fsync::new(types::Fd(target.file.as_raw_fd())),
            };
            let sync = sync
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(SYNC_USER_DATA);
            // SAFETY: a sync names no buffer; the file outlives it as for the writes.
            unsafe { submission.push(&sync) }
                .expect("the ring is empty and holds more entries than one submission");
        }
        let mut results = [None; WRITES_MAX];
        let mut sync_result = None;
        submit_and_wait(&state.ring, writes.len());
        while results[..writes.len()].iter().any(Option::is_none) {
            reap(&mut state.ring, &mut results, &mut sync_result);
        }
        let mut outcome = Outcome::InFlight;
        let mut failure = None;
        for ((offset, bytes), result) in writes.iter().zip(results) {
            let result = result.expect("every write's completion was reaped");
            if failure.is_some() {
                continue;
            }
            let done_bytes = match result {
                r if r >= 0 => r as usize,
                // Cancelled because an earlier write of this submission fell short.
                r if r == -ECANCELED && matches!(outcome, Outcome::SyncAgain) => 0,
                r => {
                    failure = Some(io::Error::from_raw_os_error(-r));
                    continue;
                }
            };
            assert!(
                done_bytes <= bytes.len(),
                "the kernel wrote more than asked"
            );
            if done_bytes < bytes.len() {
                // Never acknowledged as it stands: finish it, and sync again after.
                outcome = Outcome::SyncAgain;
                if let Err(e) = target
                    .file
                    .write_all_at(&bytes[done_bytes..], offset + done_bytes as u64)
                {
                    failure = Some(e);
                }
            }
        }
        if failure.is_some() || matches!(outcome, Outcome::SyncAgain) {
            // The sync was cancelled (or ran before the write was finished): reap it now.
            while sync_result.is_none() {
                reap(&mut state.ring, &mut results, &mut sync_result);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let outcome = match (outcome, sync_result) {
            (Outcome::SyncAgain, Some(r)) if r < 0 && r != -ECANCELED => Outcome::Completed(r),
            (Outcome::SyncAgain, _) => Outcome::SyncAgain,
            (_, Some(r)) => Outcome::Completed(r),
            (outcome, None) => outcome,
        };
        Ok(RingSync {
            state: Some(state),
            file: target.file,
            outcome,
        })
    }
}

impl RingSync<'_> {
    /// Waits for the sync and reports its result.
    pub(crate) fn wait(mut self) -> io::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> io::Result<()> {
        let result = match std::mem::replace(&mut self.outcome, Outcome::Completed(0)) {
            Outcome::InFlight => {
                let state = self.state.as_mut().expect("held until the sync is reaped");
                let mut results = [None; WRITES_MAX];
                let mut sync_result = None;
                while sync_result.is_none() {
                    reap(&mut state.ring, &mut results, &mut sync_result);
                }
                assert!(
                    results.iter().all(Option::is_none),
                    "a stray write completion"
                );
                sync_result.expect("reaped above")
            }
            Outcome::Completed(result) => result,
            Outcome::SyncAgain => {
                self.state = None;
                return self.file.sync_data();
            }
        };
        self.state = None;
        if result < 0 {
            return Err(io::Error::from_raw_os_error(-result));
        }
        Ok(())
    }
}

impl Drop for RingSync<'_> {
    fn drop(&mut self) {
        // Only reached unwaited when the caller unwinds: reap the sync, so the ring
        // holds no completion meant for this caller when the next one submits.
        if self.state.is_some() {
            let _ = self.finish();
        }
    }
}

/// Submits what is queued and waits for `want` completions, retrying interruptions and
/// the kernel's transient refusals (EAGAIN, EBUSY). Any other failure of
/// `io_uring_enter` means a ring this module set up is broken, with requests in it that
/// point into the caller's buffers: the process is aborted rather than let a buffer be
/// freed under the kernel.
fn submit_and_wait(ring: &IoUring, want: usize) {
    loop {
        match ring.submitter().submit_and_wait(want) {
            Ok(_) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.raw_os_error(), Some(EAGAIN | EBUSY)) => {
                std::thread::yield_now();
            }
            Err(_) => std::process::abort(),
        }
    }
}

fn wait_one(ring: &IoUring) {
    submit_and_wait(ring, 1);
}

/// Takes every completion queued (waiting for one if none is), filing each result by
/// its `user_data`.
fn reap(
    ring: &mut IoUring,
    results: &mut [Option<i32>; WRITES_MAX],
    sync_result: &mut Option<i32>,
) {
    if ring.completion().is_empty() {
        wait_one(ring);
    }
    for cqe in ring.completion() {
        let cqe: cqueue::Entry = cqe;
        match cqe.user_data() {
            SYNC_USER_DATA => {
                assert!(sync_result.is_none(), "two sync completions");
                *sync_result = Some(cqe.result());
            }
            index => {
                let slot = &mut results[usize::try_from(index).expect("a write index")];
                assert!(slot.is_none(), "two completions for one write");
                *slot = Some(cqe.result());
            }
        }
    }
}

/// Whether this process can use the io_uring path: a ring can be set up and a write
/// linked to a data sync completes (on a memfd, so probing touches no disk). Probed once
/// per process; the error says why not.
pub(crate) fn probe() -> Result<(), String> {
    static PROBED: OnceLock<Result<(), String>> = OnceLock::new();
    PROBED
        .get_or_init(|| probe_once().map_err(|e| e.to_string()))
        .clone()
}

fn probe_once() -> io::Result<()> {
    let ring = Ring::new()?;
    let file = memfd()?;
    let slot = ring.register(&file);
    let data = [0x5a_u8; 512];
    let target = Target { file: &file, slot };
    let synced = ring
        .write_then_sync(target, &[(0, &data)])
        .and_then(RingSync::wait);
    if let Some(slot) = slot {
        ring.unregister(slot);
    }
    synced?;
    let mut back = [0_u8; 512];
    file.read_exact_at(&mut back, 0)?;
    if back != data {
        return Err(io::Error::other("a linked io_uring write read back wrong"));
    }
    Ok(())
}

/// An anonymous in-memory file.
fn memfd() -> io::Result<File> {
    // SAFETY: the name is a NUL-terminated string literal, read during the call only.
    let fd = unsafe { libc::memfd_create(c"annal-io-uring-probe".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned open by memfd_create and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_or_skip() -> Option<Ring> {
        match Ring::new() {
            Ok(ring) => Some(ring),
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}): skipped");
                None
            }
        }
    }

    #[test]
    fn linked_write_and_sync_land_the_bytes() {
        // Proves a write linked to a data sync puts the bytes in the file, through a
        // registered slot, and leaves no completion behind.
        let Some(ring) = ring_or_skip() else { return };
        let file = tempfile::tempfile().expect("temp file");
        let slot = ring.register(&file);
        let data: Vec<u8> = (0..10_000_u32).map(|i| i as u8).collect();
        let target = Target { file: &file, slot };
        let sync = ring
            .write_then_sync(target, &[(100, &data)])
            .expect("write");
        sync.wait().expect("sync");
        let mut back = vec![0; data.len()];
        file.read_exact_at(&mut back, 100).expect("read");
        assert_eq!(back, data);
        assert!(ring.lock().ring.completion().is_empty());
    }

    #[test]
    fn short_write_is_finished_then_synced_again() {
        // Proves a write that falls short is completed (with the write after it, which
        // was cancelled or ran on) and synced afresh, never reported as it stands.
        let Some(ring) = ring_or_skip() else { return };
        let file = tempfile::tempfile().expect("temp file");
        let first = vec![1_u8; 5000];
        let second = vec![2_u8; 3000];
        let target = Target {
            file: &file,
            slot: None,
        };
        let sync = ring
            .write_then_sync_capped(target, &[(0, &first), (5000, &second)], 700)
            .expect("write");
        assert!(matches!(sync.outcome, Outcome::SyncAgain));
        sync.wait().expect("sync");
        let mut back = vec![0; 8000];
        file.read_exact_at(&mut back, 0).expect("read");
        assert_eq!(&back[..5000], &first[..]);
        assert_eq!(&back[5000..], &second[..]);
        assert!(ring.lock().ring.completion().is_empty());
    }

    #[test]
    fn failed_write_is_an_error_and_reaps_the_sync() {
        // Proves a write the kernel refuses (a read-only descriptor) is an error, its
        // cancelled sync is reaped, and the ring works for the next submission.
        let Some(ring) = ring_or_skip() else { return };
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        std::fs::write(&path, [0_u8; 64]).expect("create");
        let read_only = File::open(&path).expect("open");
        let target = Target {
            file: &read_only,
            slot: None,
        };
        assert!(ring.write_then_sync(target, &[(0, b"abc")]).is_err());
        assert!(ring.lock().ring.completion().is_empty());
        let writable = tempfile::tempfile().expect("temp file");
        let target = Target {
            file: &writable,
            slot: None,
        };
        let sync = ring.write_then_sync(target, &[(0, b"abc")]).expect("write");
        sync.wait().expect("sync");
    }

    #[test]
    fn failed_sync_is_an_error() {
        // Proves a sync the kernel fails (fsync of /dev/null: EINVAL) reaches the caller.
        let Some(ring) = ring_or_skip() else { return };
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("open /dev/null");
        let target = Target {
            file: &null,
            slot: None,
        };
        let sync = ring.write_then_sync(target, &[(0, b"abc")]).expect("write");
        assert!(sync.wait().is_err());
        assert!(ring.lock().ring.completion().is_empty());
    }

    #[test]
    fn probe_succeeds_where_a_ring_can_be_set_up() {
        // Proves the probe accepts this machine when a ring can be created at all.
        if Ring::new().is_ok() {
            probe().expect("probe");
        }
    }
}
