//! How a raft entry is stored in its log record: a compact binary form.
//!
//! Every entry is encoded once on each replica and decoded several times (for each
//! follower's `AppendEntries`, and for apply), so its form is CPU on the path of every
//! replicated append. JSON, the first form, wrote each byte of event data as a decimal
//! number in an array and parsed it back digit by digit: half of the replicated
//! cluster's CPU in a profile at 64 clients. The binary form copies the bytes.
//!
//! Layout (integers little-endian; `bytes` is a u32 length then the bytes; strings are
//! UTF-8 bytes):
//!
//! ```text
//! entry    = 0x01 (form) | term u64 | node u64 | index u64 | kind u8 | body
//! kind 0   = blank, no body
//! kind 1   = normal: proposal
//! kind 2   = membership: the membership as JSON (rare, not on the append path)
//! proposal = 0 request | 1 count u32, request × count
//! request  = stream bytes | expected (0 any | 1 no stream | 2 stream exists |
//!            3 exact u64) | count u32, event × count
//! event    = event_type bytes | data bytes | metadata bytes
//! ```
//!
//! A record that starts with `{` is an entry in the JSON form, written before this one;
//! it is still read.

use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId};

use crate::{AppendRequest, Expected, Proposal, ProposedEvent, TypeConfig};

/// The first byte of an entry in the binary form.
const BINARY_FORM: u8 = 0x01;
/// The first byte of an entry in the JSON form (`{`).
const JSON_FORM: u8 = b'{';

const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;

const PROPOSAL_APPEND: u8 = 0;
const PROPOSAL_BATCH: u8 = 1;

/// The record payload of `entry`.
pub(crate) fn encode(entry: &Entry<TypeConfig>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    out.push(BINARY_FORM);
    out.extend_from_slice(&entry.log_id.leader_id.term.to_le_bytes());
    out.extend_from_slice(&entry.log_id.leader_id.node_id.to_le_bytes());
    out.extend_from_slice(&entry.log_id.index.to_le_bytes());
    match &entry.payload {
        EntryPayload::Blank => out.push(KIND_BLANK),
        EntryPayload::Normal(proposal) => {
            out.push(KIND_NORMAL);
            match proposal {
                Proposal::Append(request) => {
                    out.push(PROPOSAL_APPEND);
                    put_request(&mut out, request)?;
                }
                Proposal::Batch(requests) => {
                    out.push(PROPOSAL_BATCH);
                    put_len(&mut out, requests.len())?;
                    for request in requests {
                        put_request(&mut out, request)?;
                    }
                }
            }
        }
        EntryPayload::Membership(membership) => {
            out.push(KIND_MEMBERSHIP);
            let json = serde_json::to_vec(membership).map_err(|e| e.to_string())?;
            put_bytes(&mut out, &json)?;
        }
    }
    Ok(out)
}

/// The entry a record payload holds, in either form; a clear error for anything else.
pub(crate) fn decode(payload: &[u8]) -> Result<Entry<TypeConfig>, String> {
    match payload.first() {
        Some(&BINARY_FORM) => decode_binary(&mut Reader {
            rest: &payload[1..],
        }),
        Some(&JSON_FORM) => serde_json::from_slice(payload).map_err(|e| e.to_string()),
        Some(other) => Err(format!("unknown entry form {other:#04x}")),
        None => Err("empty entry".to_string()),
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), String> {
    let len = u32::try_from(len).map_err(|_| format!("{len} items: at most 2^32 - 1"))?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_request(out: &mut Vec<u8>, request: &AppendRequest) -> Result<(), String> {
    put_bytes(out, request.stream.as_bytes())?;
    match request.expected {
        Expected::Any => out.push(0),
        Expected::NoStream => out.push(1),
        Expected::StreamExists => out.push(2),
        Expected::Exact(revision) => {
            out.push(3);
            out.extend_from_slice(&revision.to_le_bytes());
        }
    }
    put_len(out, request.events.len())?;
    for event in &request.events {
        put_bytes(out, event.event_type.as_bytes())?;
        put_bytes(out, &event.data)?;
        put_bytes(out, &event.metadata)?;
    }
    Ok(())
}

/// The unread rest of a payload; every read checks the length first.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!(
                "entry cut short: {what} needs {n} bytes, {} left",
                self.rest.len()
            ));
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(bytes))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let bytes = self.bytes(what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    /// A count of items that each take at least `min_bytes`: a count the rest cannot
    /// hold is refused before anything is allocated for it.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, String> {
        let count = self.u32(what)? as usize;
        if count.saturating_mul(min_bytes) > self.rest.len() {
            return Err(format!(
                "entry cut short: {count} {what} in {} bytes",
                self.rest.len()
            ));
        }
        Ok(count)
    }
}

fn decode_binary(reader: &mut Reader<'_>) -> Result<Entry<TypeConfig>, String> {
    let term = reader.u64("the term")?;
    let node = reader.u64("the leader's node id")?;
    let index = reader.u64("the index")?;
    let log_id = LogId::new(CommittedLeaderId::new(term, node), index);
    let payload = match reader.u8("the entry kind")? {
        KIND_BLANK => EntryPayload::Blank,
        KIND_NORMAL => EntryPayload::Normal(match reader.u8("the proposal kind")? {
            PROPOSAL_APPEND => Proposal::Append(read_request(reader)?),
            PROPOSAL_BATCH => {
                // A request takes at least 4 + 1 + 4 bytes.
                let count = reader.count("appends", 9)?;
                let mut requests = Vec::with_capacity(count);
                for _ in 0..count {
                    requests.push(read_request(reader)?);
                }
                Proposal::Batch(requests)
            }
            other => return Err(format!("unknown proposal kind {other}")),
        }),
        KIND_MEMBERSHIP => {
            let json = reader.bytes("the membership")?;
            EntryPayload::Membership(serde_json::from_slice(json).map_err(|e| e.to_string())?)
        }
        other => return Err(format!("unknown entry kind {other}")),
    };
    if !reader.rest.is_empty() {
        return Err(format!(
            "{} bytes after the end of entry {log_id}",
            reader.rest.len()
        ));
    }
    Ok(Entry { log_id, payload })
}

fn read_request(reader: &mut Reader<'_>) -> Result<AppendRequest, String> {
    let stream = reader.string("the stream name")?;
    let expected = match reader.u8("the expected revision")? {
        0 => Expected::Any,
        1 => Expected::NoStream,
        2 => Expected::StreamExists,
        3 => Expected::Exact(reader.u64("the expected revision")?),
        other => return Err(format!("unknown expected revision kind {other}")),
    };
    // An event takes at least three lengths of 4 bytes.
    let count = reader.count("events", 12)?;
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(ProposedEvent {
            event_type: reader.string("the event type")?,
            data: reader.bytes("the event data")?.to_vec(),
            metadata: reader.bytes("the event metadata")?.to_vec(),
        });
    }
    Ok(AppendRequest {
        stream,
        expected,
        events,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{BasicNode, Membership};

    use super::*;

    fn request(stream: &str, expected: Expected, events: usize) -> AppendRequest {
        AppendRequest {
            stream: stream.to_string(),
            expected,
            events: (0..events)
                .map(|n| ProposedEvent {
                    event_type: format!("Type{n}"),
                    data: vec![n as u8; n * 7],
                    metadata: if n % 2 == 0 { vec![] } else { b"meta".to_vec() },
                })
                .collect(),
        }
    }

    fn entries() -> Vec<Entry<TypeConfig>> {
        let id = |index| LogId::new(CommittedLeaderId::new(7, 3), index);
        let members: BTreeMap<u64, BasicNode> = (1..=3)
            .map(|n| (n, BasicNode::new(format!("127.0.0.1:{n}"))))
            .collect();
        let membership = Membership::new(vec![BTreeSet::from([1, 2, 3])], members);
        vec![
            Entry {
                log_id: id(1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: id(2),
                payload: EntryPayload::Membership(membership),
            },
            Entry {
                log_id: id(3),
                payload: EntryPayload::Normal(Proposal::Append(request("one", Expected::Any, 1))),
            },
            Entry {
                log_id: id(u64::MAX),
                payload: EntryPayload::Normal(Proposal::Batch(vec![
                    request("a", Expected::NoStream, 3),
                    request("b-ü", Expected::StreamExists, 2),
                    request("c", Expected::Exact(u64::MAX - 1), 5),
                ])),
            },
        ]
    }

    #[test]
    fn every_kind_of_entry_reads_back_as_written() {
        // Proves the binary form round-trips blank, membership, single and batched
        // proposals with every expectation, empty and non-empty bytes, non-ASCII names.
        for entry in entries() {
            let payload = encode(&entry).unwrap();
            assert_eq!(payload[0], BINARY_FORM);
            assert_eq!(decode(&payload).unwrap(), entry);
        }
    }

    #[test]
    fn entries_written_as_json_still_read() {
        // Proves a log written before the binary form (JSON records) stays readable.
        for entry in entries() {
            let payload = serde_json::to_vec(&entry).unwrap();
            assert_eq!(decode(&payload).unwrap(), entry);
        }
    }

    #[test]
    fn cut_or_damaged_payloads_are_refused_with_an_error() {
        // Proves every truncation of an entry, a trailing byte, an unknown form, kind
        // or tag, a huge count and bad UTF-8 give an error, never a panic or an entry.
        for entry in entries() {
            let payload = encode(&entry).unwrap();
            for cut in 0..payload.len() {
                assert!(decode(&payload[..cut]).is_err(), "cut at {cut} of {entry}");
            }
            let mut longer = payload.clone();
            longer.push(0);
            assert!(decode(&longer).unwrap_err().contains("after the end"));
        }
        assert!(decode(&[0x02, 0, 0])
            .unwrap_err()
            .contains("unknown entry form"));
        let mut header = vec![BINARY_FORM];
        header.extend_from_slice(&[0u8; 24]);
        let with = |tail: &[u8]| [header.as_slice(), tail].concat();
        assert!(decode(&with(&[9])).unwrap_err().contains("entry kind"));
        assert!(decode(&with(&[KIND_NORMAL, 5]))
            .unwrap_err()
            .contains("proposal kind"));
        let huge_batch = with(&[KIND_NORMAL, PROPOSAL_BATCH, 0xff, 0xff, 0xff, 0xff]);
        assert!(decode(&huge_batch).unwrap_err().contains("cut short"));
        let bad_name = with(&[
            KIND_NORMAL,
            PROPOSAL_APPEND,
            1,
            0,
            0,
            0,
            0xff,
            0,
            0,
            0,
            0,
            0,
        ]);
        assert!(decode(&bad_name).unwrap_err().contains("UTF-8"));
        let bad_expected = with(&[KIND_NORMAL, PROPOSAL_APPEND, 1, 0, 0, 0, b's', 9]);
        assert!(decode(&bad_expected)
            .unwrap_err()
            .contains("expected revision"));
    }
}
