//! Targets for the pure decoders: the record frame, the stream envelope and the consumer
//! file and checkpoint entry. Each decodes arbitrary bytes; whatever decodes must
//! re-encode to the same bytes (the formats have one encoding per value), and nothing may
//! panic or read out of bounds.

use bytes::Bytes;

use super::FUZZ_EPOCH;
use crate::format::consumer_checkpoint::{CheckpointEntry, Slot, FILE_BYTES, SLOT_BYTES};
use crate::format::envelope::{self, EnvelopeParts};
use crate::format::extension::Entries;
use crate::format::record::{
    body, check_body, decode_header, encode_record, encode_seal, events_part, extension_part,
    EventRanges, Frame, RECORD_HEADER_BYTES, SEAL_RECORD_BYTES,
};
use crate::format::{crc32, crc32_salted, read_u32};
use crate::index::Index;
use crate::position::{Location, Position};

/// Mode bit: recompute the body and header checksums before decoding, so the fuzzer
/// explores what lies behind them (lengths, counts, flags) rather than only the checksum
/// mismatch.
const FIX_CHECKSUMS: u8 = 1;

/// Rewrites the checksums of the record at the start of `bytes` (the body's only when the
/// body lies within `bytes`) so that the header check passes.
pub(super) fn fix_record_checksums(bytes: &mut [u8], epoch: u64) {
    if bytes.len() < RECORD_HEADER_BYTES {
        return;
    }
    let body_bytes = read_u32(bytes, 0) as usize;
    if let Some(body) =
        bytes.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES.saturating_add(body_bytes))
    {
        let crc = crc32(body);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32_salted(epoch, &bytes[0..36]);
    bytes[36..40].copy_from_slice(&crc.to_le_bytes());
}

/// The record decoder: `decode_header`, `check_body`, `EventRanges` and the extension's
/// entries. Input: a mode byte (bit 0: fix checksums), then the bytes at a record
/// boundary.
pub fn record_decoder(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & FIX_CHECKSUMS != 0 {
        fix_record_checksums(&mut bytes, FUZZ_EPOCH);
    }
    check_record(&bytes, FUZZ_EPOCH);
    // The event iterator on its own, over any bytes and any count: ranges stay inside.
    let count = u32::from(mode >> 1) * 3;
    let mut covered = 0;
    for range in EventRanges::new(rest, count) {
        assert!(range.start >= covered + 4 && range.end <= rest.len());
        covered = range.end;
    }
}

/// Decodes the frame at the start of `bytes` and checks everything a decoded record
/// promises.
pub(super) fn check_record(bytes: &[u8], epoch: u64) {
    let frame = decode_header(bytes, epoch);
    let starts_with_zeros = bytes.iter().take(8).all(|&b| b == 0);
    let header = match frame {
        Ok(Frame::End) => {
            assert!(starts_with_zeros, "end of log read from non-zero bytes");
            return;
        }
        Err(_) => {
            assert!(!starts_with_zeros, "zeros refused as a record");
            return;
        }
        Ok(Frame::Record(header)) => header,
    };
    assert!(!starts_with_zeros, "a record decoded from zeros");
    let record_bytes = header.record_bytes();
    assert!(record_bytes <= bytes.len(), "record runs past the input");
    assert_eq!(record_bytes % 8, 0);
    let body = body(&header, bytes);
    assert_eq!(body.len(), header.body_bytes as usize);
    let events = events_part(&header, body);
    let extension = extension_part(&header, body);
    assert_eq!(extension.len(), header.extension_bytes as usize);
    assert_eq!(events.len() + extension.len(), body.len());
    let ranges: Vec<_> = EventRanges::new(events, header.event_count).collect();
    for range in &ranges {
        assert!(range.end <= events.len());
    }
    if check_body(&header, body).is_err() {
        return;
    }
    if header.is_seal() {
        assert_eq!(header.event_count, 0);
        assert_eq!(record_bytes, SEAL_RECORD_BYTES);
        let seal = encode_seal(epoch, header.position, header.synced_before);
        assert_eq!(
            &bytes[..SEAL_RECORD_BYTES],
            &seal[..],
            "a seal re-encodes differently"
        );
        return;
    }
    assert_eq!(
        ranges.len(),
        header.event_count as usize,
        "a checked body lost events"
    );
    assert_eq!(ranges.last().map_or(0, |r| r.end), events.len());
    let payloads: Vec<&[u8]> = ranges.iter().map(|r| &events[r.clone()]).collect();
    let mut encoded = Vec::new();
    encode_record(
        &mut encoded,
        epoch,
        header.position,
        header.synced_before,
        &payloads,
        extension,
    );
    assert_eq!(encoded.len(), record_bytes);
    let unpadded = RECORD_HEADER_BYTES + body.len();
    assert_eq!(
        &encoded[..unpadded],
        &bytes[..unpadded],
        "a record re-encodes differently"
    );
    // The extension's entries never panic, whatever the body holds.
    for (_, entry_body) in Entries::new(extension).flatten() {
        assert!(entry_body.len() <= extension.len());
    }
}

/// The stream envelope decoder, and the index applying what it decodes. Input: a log
/// event's payload.
pub fn stream_envelope(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    let Ok(decoded) = envelope::decode(&payload) else {
        return;
    };
    let block: Vec<Location> = decoded.block_links().collect();
    let mut encoded = Vec::new();
    envelope::encode(
        &EnvelopeParts {
            kind: decoded.kind,
            stream: &decoded.stream,
            event_type: &decoded.event_type,
            revision: decoded.revision,
            timestamp_ns: decoded.timestamp_ns,
            previous_in_stream: decoded.previous_in_stream,
            previous_in_category: decoded.previous_in_category,
            id: decoded.id,
            link_block: &block,
            metadata: &decoded.metadata,
            data: &decoded.data,
        },
        &mut encoded,
    );
    assert_eq!(
        encoded.len(),
        data.len(),
        "an envelope re-encodes to another length"
    );
    assert_eq!(
        envelope::envelope_bytes(
            decoded.stream.len(),
            decoded.event_type.len(),
            decoded.id.is_some(),
            block.len(),
            decoded.metadata.len(),
            decoded.data.len()
        ),
        data.len()
    );
    let again = envelope::decode(&Bytes::from(encoded)).expect("a re-encoded envelope decodes");
    assert_eq!(
        again, decoded,
        "an envelope changes through encode and decode"
    );
    // Replaying a log applies every envelope it holds to the index: an envelope of any
    // content is applied or refused, never a panic.
    let mut index = Index::starting_at(0);
    for position in 0..3 {
        let link = Location::new(Position(position), 64);
        if index.apply(&decoded, link).is_ok() {
            assert_eq!(index.through, position + 1);
        }
    }
}

/// The consumer file (two slots) and the consumer checkpoint entry of a record
/// extension. Input: the bytes of a consumer file, also read as one entry body.
pub fn consumer_checkpoint(data: &[u8]) {
    for slot_bytes in [data, data.get(SLOT_BYTES..).unwrap_or_default()] {
        if let Some(slot) = Slot::decode(slot_bytes) {
            let encoded = slot.encode();
            assert_eq!(
                &slot_bytes[..encoded.len()],
                &encoded[..],
                "a consumer slot re-encodes differently"
            );
        }
    }
    let file = &data[..data.len().min(FILE_BYTES as usize)];
    if let Some(newest) = Slot::newest(file) {
        let half = newest.offset() as usize;
        let decoded = Slot::decode(&file[half..file.len().min(half + SLOT_BYTES)]);
        assert_eq!(
            decoded.as_ref(),
            Some(&newest),
            "newest is not its own slot"
        );
    }
    if let Some(entry) = CheckpointEntry::decode(data) {
        assert_eq!(
            entry.encode(),
            data,
            "a checkpoint entry re-encodes differently"
        );
    }
}
