//! The record extension's inner layout: a sequence of typed entries, so that several
//! layers can commit data atomically with one batch without knowing about each other.
//!
//! ```text
//! entry
//! 0  u16 kind         what the body is (see the KIND_* constants); readers skip kinds they do not know
//! 2  u16 reserved     zero
//! 4  u32 body_bytes   length of the body
//! 8  body
//! ```
//!
//! Entries follow each other with no padding; the extension ends exactly after the last
//! one. The record's body checksum already covers every byte, so a malformed sequence
//! is a bug in the writer, reported as corruption by whoever decodes it.

use super::{read_u16, read_u32};

/// Bytes of an entry's header.
pub const ENTRY_HEADER_BYTES: usize = 8;
/// Entry kind: a durable consumer's checkpoint (`consumer::format`).
pub const KIND_CONSUMER_CHECKPOINT: u16 = 1;

/// Appends one entry to `out`.
pub fn put_entry(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Why an extension is not a valid sequence of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedExtension;

impl MalformedExtension {
    /// A short phrase for error messages.
    pub fn describe(self) -> &'static str {
        "record extension is not a valid sequence of entries"
    }
}

/// The entries of an extension, as `(kind, body)`; yields one error and stops at a
/// header that runs past the end or has non-zero reserved bits.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    /// The entries of `extension` (empty when the record has none).
    pub fn new(extension: &'a [u8]) -> Entries<'a> {
        Entries { rest: extension }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<(u16, &'a [u8]), MalformedExtension>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        if rest.len() < ENTRY_HEADER_BYTES || read_u16(rest, 2) != 0 {
            return Some(Err(MalformedExtension));
        }
        let kind = read_u16(rest, 0);
        let body_bytes = read_u32(rest, 4) as usize;
        if rest.len() - ENTRY_HEADER_BYTES < body_bytes {
            return Some(Err(MalformedExtension));
        }
        let end = ENTRY_HEADER_BYTES + body_bytes;
        self.rest = &rest[end..];
        Some(Ok((kind, &rest[ENTRY_HEADER_BYTES..end])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_in_order() {
        // Proves entries of several kinds decode back in order with their bodies.
        let mut out = Vec::new();
        put_entry(&mut out, KIND_CONSUMER_CHECKPOINT, b"first");
        put_entry(&mut out, 7, b"");
        put_entry(&mut out, 9, b"third");
        let entries: Vec<_> = Entries::new(&out)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(
            entries,
            vec![
                (KIND_CONSUMER_CHECKPOINT, b"first".as_slice()),
                (7, b"".as_slice()),
                (9, b"third".as_slice())
            ]
        );
        assert_eq!(Entries::new(&[]).count(), 0);
    }

    #[test]
    fn truncated_or_reserved_entries_are_malformed() {
        // Proves a cut entry or a non-zero reserved field is an error, never a panic.
        let mut out = Vec::new();
        put_entry(&mut out, 1, b"body");
        for len in 1..out.len() {
            let result: Result<Vec<_>, _> = Entries::new(&out[..len]).collect();
            assert_eq!(result, Err(MalformedExtension), "cut at {len}");
        }
        out[2] = 1;
        let result: Result<Vec<_>, _> = Entries::new(&out).collect();
        assert_eq!(result, Err(MalformedExtension));
    }
}
