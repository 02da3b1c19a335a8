//! The one record walker: every loop over a segment's records — recovery's scan
//! (`scan`), the sequential reader (`reader`) and the replay of record extensions
//! (`extensions`) — steps with it, so a frame is decoded, and its end found, one way
//! everywhere. Reading one record at a known offset (`located`) decodes that frame alone.

use crate::format::record::{
    body, check_body, decode_header, extension_part, Frame, FrameError, RecordHeader,
};

/// A record the walker stepped over: where it starts, its checked header and its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkedRecord<'a> {
    /// The record's offset in its segment.
    pub(crate) offset: u64,
    /// Its header, whose checksum passed.
    pub(crate) header: RecordHeader,
    /// The bytes from the record's start to the end of the walked area (its body is
    /// among them: the header was checked to fit).
    bytes: &'a [u8],
}

impl<'a> WalkedRecord<'a> {
    /// The record's body (events, then the extension).
    pub(crate) fn body(&self) -> &'a [u8] {
        body(&self.header, self.bytes)
    }

    /// Checks the body's checksum.
    pub(crate) fn check_body(&self) -> Result<(), FrameError> {
        check_body(&self.header, self.body())
    }

    /// The record's extension (empty without one).
    pub(crate) fn extension(&self) -> &'a [u8] {
        extension_part(&self.header, self.body())
    }

    /// The offset just past the record (its padding included).
    pub(crate) fn end_offset(&self) -> u64 {
        self.offset + self.header.record_bytes() as u64
    }
}

/// What the walker found at its offset.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// A record (possibly a seal); the walker moved past it.
    Record(WalkedRecord<'a>),
    /// Zeros, or the end of the walked area: nothing more was written.
    End,
    /// Bytes that are not a valid frame; the walker stays there.
    Damaged {
        /// Where the bad frame is.
        offset: u64,
        /// What is wrong with it.
        error: FrameError,
    },
}

/// Steps over the records of one segment's bytes (`view`, from the segment's offset 0),
/// from a record boundary on. It checks headers; body checksums are the caller's choice
/// ([`WalkedRecord::check_body`]).
#[derive(Debug, Clone)]
pub(crate) struct RecordWalker<'a> {
    view: &'a [u8],
    offset: u64,
    epoch: u64,
}

impl<'a> RecordWalker<'a> {
    /// A walker of the log `epoch`'s records in `view` from the record boundary `offset`.
    pub(crate) fn new(view: &'a [u8], offset: u64, epoch: u64) -> RecordWalker<'a> {
        RecordWalker {
            view,
            offset,
            epoch,
        }
    }

    /// The offset of the next frame.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Decodes the frame at the walker's offset and moves past it if it is a record.
    pub(crate) fn step(&mut self) -> Step<'a> {
        let Some(at) = self
            .view
            .get(self.offset as usize..)
            .filter(|at| !at.is_empty())
        else {
            return Step::End;
        };
        match decode_header(at, self.epoch) {
            Ok(Frame::End) => Step::End,
            Ok(Frame::Record(header)) => {
                let record = WalkedRecord {
                    offset: self.offset,
                    header,
                    bytes: at,
                };
                self.offset = record.end_offset();
                Step::Record(record)
            }
            Err(error) => Step::Damaged {
                offset: self.offset,
                error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! Proves the walker steps record by record, stops at zeros and at the end, and
    //! reports a bad frame where it is without moving.
    use super::*;
    use crate::format::record::{append_record, encode_seal};

    const EPOCH: u64 = 7;

    fn records() -> Vec<u8> {
        let mut bytes = Vec::new();
        append_record(&mut bytes, EPOCH, 0, 0, &[b"a".as_slice(), b"bc"], &[]);
        append_record(&mut bytes, EPOCH, 2, 0, &[b"d".as_slice()], b"ext");
        bytes.extend(encode_seal(EPOCH, 3, 0));
        bytes
    }

    #[test]
    fn steps_over_each_record_then_ends_at_zeros() {
        // Proves three records (the last a seal) come back in order with their offsets, then End.
        let mut view = records();
        let len = view.len() as u64;
        view.extend([0u8; 64]);
        let mut walker = RecordWalker::new(&view, 0, EPOCH);
        let mut seen = Vec::new();
        while let Step::Record(record) = walker.step() {
            seen.push((
                record.offset,
                record.header.position,
                record.extension().to_vec(),
            ));
            assert!(record.check_body().is_ok());
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1].2, b"ext");
        assert_eq!(walker.offset(), len);
        assert!(matches!(walker.step(), Step::End));
    }

    #[test]
    fn a_bad_header_is_reported_at_its_offset() {
        // Proves a flipped header byte is Damaged at that record's offset and the walker does not move past it.
        let mut view = records();
        let Step::Record(first) = RecordWalker::new(&view, 0, EPOCH).step() else {
            panic!("first record")
        };
        let at = first.end_offset() as usize;
        view[at + 9] ^= 0xff;
        let mut walker = RecordWalker::new(&view, 0, EPOCH);
        assert!(matches!(walker.step(), Step::Record(_)));
        assert!(matches!(walker.step(), Step::Damaged { offset, .. } if offset == at as u64));
        assert_eq!(walker.offset(), at as u64);
    }
}
