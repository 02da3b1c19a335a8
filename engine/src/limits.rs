//! Every limit the engine enforces, as named constants with the relations between them
//! checked at compile time.

/// Largest payload of one event, in bytes.
pub const EVENT_BYTES_MAX: usize = 16 << 20;
/// Most events in one append (one record).
pub const BATCH_EVENTS_MAX: usize = 65_536;
/// Most payload bytes in one append. A batch must also fit in one segment, so the
/// effective limit is the smaller of this and the segment's capacity.
pub const BATCH_BYTES_MAX: usize = 64 << 20;
/// Largest record extension (data committed with a batch, such as a consumer checkpoint).
pub const EXTENSION_BYTES_MAX: usize = 16 << 10;
/// Longest stream name, in bytes (names are 1 to this many bytes, without NUL).
pub const STREAM_NAME_BYTES_MAX: usize = 255;
/// Longest event type, in bytes.
pub const EVENT_TYPE_BYTES_MAX: usize = 255;
/// Most live subscriptions of one log (each `Log::subscribe` until dropped).
pub const SUBSCRIPTIONS_MAX: usize = 1024;
/// Most events a subscription's filter skips in one `try_next` call before returning
/// (its position moved past them), so that a call stays bounded while a writer keeps
/// appending events the filter rejects.
pub const FILTER_SKIPPED_EVENTS_PER_CALL_MAX: usize = 4096;
/// Most consumers (named, durable checkpoints) one log holds.
pub const CONSUMERS_MAX: usize = 1024;
/// Longest consumer name, in bytes. Names are ASCII letters, digits, `-`, `_` and `.`,
/// not starting with `.`.
pub const CONSUMER_NAME_BYTES_MAX: usize = 64;
/// A consumer that commits with its appends (checkpoint in the record extension) has its
/// file rewritten once its oldest checkpoint not yet in the file is this many events
/// behind the log's end: it bounds what opening the log replays to find checkpoints.
pub const CONSUMER_REPLAY_EVENTS_MAX: u64 = 1 << 20;
/// Smallest segment file.
pub const SEGMENT_BYTES_MIN: u64 = 64 << 10;
/// Largest segment file (offsets within a segment are u32 in the sparse index).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 31;
/// Default segment file size.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;

const _: () = assert!(EVENT_BYTES_MAX <= BATCH_BYTES_MAX);
// A consumer checkpoint entry (40 bytes and the name) fits in a record extension.
const _: () = assert!(40 + CONSUMER_NAME_BYTES_MAX <= EXTENSION_BYTES_MAX);
const _: () = assert!(CONSUMER_NAME_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(STREAM_NAME_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(EVENT_TYPE_BYTES_MAX <= u16::MAX as usize);
const _: () = assert!(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_DEFAULT);
const _: () = assert!(EXTENSION_BYTES_MAX < SEGMENT_BYTES_MIN as usize / 2);
const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MAX <= u32::MAX as u64);
const _: () = assert!(BATCH_EVENTS_MAX <= u32::MAX as usize);

/// How often a read-only follower (`Log::open_read_only`) looks for records its writer
/// added, while a subscription of it is live: the bound on what following adds to an
/// event's latency, at a cost of one wake-up per interval.
pub const FOLLOW_POLL_INTERVAL_ACTIVE: std::time::Duration = std::time::Duration::from_millis(1);

/// How often a follower looks while no subscription is live (every read also looks for
/// itself first).
pub const FOLLOW_POLL_INTERVAL_IDLE: std::time::Duration = std::time::Duration::from_millis(20);
