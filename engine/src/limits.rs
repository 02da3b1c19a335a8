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
/// Smallest segment file.
pub const SEGMENT_BYTES_MIN: u64 = 64 << 10;
/// Largest segment file (offsets within a segment are u32 in the sparse index).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 31;
/// Default segment file size.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;

const _: () = assert!(EVENT_BYTES_MAX <= BATCH_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_DEFAULT);
const _: () = assert!(EXTENSION_BYTES_MAX < SEGMENT_BYTES_MIN as usize / 2);
const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MAX <= u32::MAX as u64);
const _: () = assert!(BATCH_EVENTS_MAX <= u32::MAX as usize);
