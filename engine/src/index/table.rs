//! The index checkpoint as the index's bottom level: an immutable table of every stream
//! and category, searched in place through the file's read-only mapping. Opening checks
//! the whole file once (its checksum, then every slot, record and link in one sequential
//! pass that allocates nothing), so a lookup afterwards trusts the layout and copies
//! only what it returns: the name and heads stay slices of the mapping.

use bytes::Bytes;

use super::chain::{Chain, LINK_GROUP};
use super::ChainEntry;
use crate::format::envelope::{read_link, LINK_BYTES};
use crate::format::index_table::{
    bucket, directory_bits, name_hash, parse_record, Header, Invalid, RecordView, SectionRanges,
    Sections, HEADER_BYTES, SLOT_BYTES, TIME_ENTRY_BYTES,
};
use crate::format::{crc32, read_u32, read_u64};

/// Which of the table's two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Streams,
    Categories,
}

/// A validated, mapped index checkpoint.
#[derive(Debug)]
pub(crate) struct Table {
    bytes: Bytes,
    header: Header,
    sections: Sections,
}

impl Table {
    /// Checks `bytes` as a checkpoint of the log `epoch` and keeps it. Never panics.
    pub(crate) fn open(bytes: Bytes, epoch: u64) -> Result<Table, Invalid> {
        let header = Header::parse(&bytes)?;
        if header.epoch != epoch {
            return Err(Invalid("checkpoint of another log"));
        }
        if header.file_bytes != bytes.len() as u64 {
            return Err(Invalid("checkpoint length mismatch"));
        }
        let sections = header.sections()?;
        // One directory size per count: the layout is canonical, so a table rewrites
        // to the same bytes.
        if header.stream_directory_bits != directory_bits(header.streams)
            || header.category_directory_bits != directory_bits(header.categories)
        {
            return Err(Invalid("checkpoint directory size does not fit its count"));
        }
        if crc32(&bytes[HEADER_BYTES..]) != header.body_crc {
            return Err(Invalid("checkpoint body checksum mismatch"));
        }
        if header.events_indexed > header.through {
            return Err(Invalid("checkpoint counts more events than positions"));
        }
        let table = Table {
            bytes,
            header,
            sections,
        };
        table.check_time()?;
        table.check_section(Section::Streams)?;
        table.check_section(Section::Categories)?;
        Ok(table)
    }

    /// The table this process has just written with `header` (its checksum computed
    /// as it was written), mapped: the header and layout are checked, the body is not
    /// read again — except in debug builds (every test), which check it all as
    /// [`Table::open`] does, so the writer's output is held to the reader's checks.
    pub(crate) fn adopt(bytes: Bytes, header: &Header) -> Result<Table, Invalid> {
        if cfg!(debug_assertions) {
            let table = Table::open(bytes, header.epoch)?;
            return match table.header == *header {
                true => Ok(table),
                false => Err(Invalid("checkpoint header is not the one written")),
            };
        }
        if Header::parse(&bytes)? != *header || header.file_bytes != bytes.len() as u64 {
            return Err(Invalid("checkpoint header is not the one written"));
        }
        let sections = header.sections()?;
        Ok(Table {
            bytes,
            header: *header,
            sections,
        })
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes mapped (page cache, not heap).
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn ranges(&self, section: Section) -> &SectionRanges {
        match section {
            Section::Streams => &self.sections.streams,
            Section::Categories => &self.sections.categories,
        }
    }

    /// Entries in `section`.
    pub(crate) fn len(&self, section: Section) -> usize {
        let (start, end) = self.ranges(section).slots;
        (end - start) / SLOT_BYTES
    }

    /// The time index: (timestamp, position) of every `TIME_INDEX_EVERY`-th event.
    pub(crate) fn time(&self) -> Vec<(u64, u64)> {
        let (start, end) = self.sections.time;
        self.bytes[start..end]
            .chunks_exact(TIME_ENTRY_BYTES)
            .map(|entry| (read_u64(entry, 0), read_u64(entry, 8)))
            .collect()
    }

    /// Slot `i`'s (name hash, record offset); the caller keeps `i` below `len`.
    fn slot(&self, ranges: &SectionRanges, i: usize) -> (u64, usize) {
        let at = ranges.slots.0 + i * SLOT_BYTES;
        (
            read_u64(&self.bytes, at),
            read_u64(&self.bytes, at + 8) as usize,
        )
    }

    fn directory(&self, ranges: &SectionRanges, k: usize) -> usize {
        read_u32(&self.bytes, ranges.directory.0 + k * 4) as usize
    }

    /// The record at `offset` in `ranges`' records (checked at open).
    fn record(&self, ranges: &SectionRanges, offset: usize) -> Option<RecordView<'_>> {
        let end = ranges.records.1;
        parse_record(self.bytes.get(offset..end)?)
    }

    /// The record named `name`, if the table has it: its directory bucket, then a binary
    /// search of the bucket's slots by (hash, name).
    pub(crate) fn find_record(&self, section: Section, name: &[u8]) -> Option<RecordView<'_>> {
        let ranges = self.ranges(section);
        let hash = name_hash(name);
        let k = bucket(hash, ranges.bits);
        let (mut low, mut high) = (self.directory(ranges, k), self.directory(ranges, k + 1));
        while low < high {
            let mid = low + (high - low) / 2;
            let (slot_hash, offset) = self.slot(ranges, mid);
            let record = self.record(ranges, offset)?;
            match (slot_hash, record.name).cmp(&(hash, name)) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(record),
            }
        }
        None
    }

    /// The entry named `name`, if the table has it, pointing into the mapping.
    pub(crate) fn find(&self, section: Section, name: &[u8]) -> Option<ChainEntry> {
        self.find_record(section, name)
            .and_then(|record| self.entry_of(&record))
    }

    /// A record as an index entry: its name and heads stay slices of the mapping.
    pub(crate) fn entry_of(&self, record: &RecordView<'_>) -> Option<ChainEntry> {
        Some(ChainEntry {
            name: self.bytes.slice_ref(record.name),
            chain: Chain::from_parts(
                record.events,
                self.bytes.slice_ref(record.heads),
                record.open,
            )?,
            truncate_before: record.truncate_before,
            deleted: record.deleted,
        })
    }

    /// The heads of `name`'s record as a slice of the mapping.
    pub(crate) fn heads_of(&self, section: Section, name: &[u8]) -> Option<Bytes> {
        self.find_record(section, name)
            .map(|record| self.bytes.slice_ref(record.heads))
    }

    /// Every record of `section` with its name hash, in slot order ((hash, name)).
    pub(crate) fn records(
        &self,
        section: Section,
    ) -> impl Iterator<Item = (u64, RecordView<'_>)> + '_ {
        let ranges = *self.ranges(section);
        (0..self.len(section)).filter_map(move |i| {
            let (hash, offset) = self.slot(&ranges, i);
            self.record(&ranges, offset).map(|record| (hash, record))
        })
    }

    fn check_time(&self) -> Result<(), Invalid> {
        let (start, end) = self.sections.time;
        for entry in self.bytes[start..end].chunks_exact(TIME_ENTRY_BYTES) {
            if read_u64(entry, 8) >= self.header.through {
                return Err(Invalid("checkpoint time entry past its position"));
            }
        }
        Ok(())
    }

    /// One pass over a section: slots ordered by (hash, name) with each hash that of its
    /// record's name, records back to back filling their range, every chain consistent,
    /// and the directory pointing at the first slot of every bucket.
    fn check_section(&self, section: Section) -> Result<(), Invalid> {
        let ranges = *self.ranges(section);
        let count = self.len(section);
        let buckets = 1usize << ranges.bits;
        let mut next_record = ranges.records.0;
        let mut previous: Option<(u64, &[u8])> = None;
        let mut k = 0usize;
        for i in 0..count {
            let (hash, offset) = self.slot(&ranges, i);
            if offset != next_record {
                return Err(Invalid("checkpoint records not back to back"));
            }
            let record = self
                .record(&ranges, offset)
                .ok_or(Invalid("checkpoint record runs past its section"))?;
            if name_hash(record.name) != hash {
                return Err(Invalid("checkpoint slot hash is not its name's"));
            }
            if previous.is_some_and(|p| p >= (hash, record.name)) {
                return Err(Invalid("checkpoint slots out of order or a name twice"));
            }
            previous = Some((hash, record.name));
            self.check_chain(&record)?;
            next_record += record.bytes.len();
            let own = bucket(hash, ranges.bits);
            while k <= own {
                if self.directory(&ranges, k) != i {
                    return Err(Invalid("checkpoint directory does not match its slots"));
                }
                k += 1;
            }
        }
        if next_record != ranges.records.1 {
            return Err(Invalid("checkpoint records do not fill their section"));
        }
        while k <= buckets {
            if self.directory(&ranges, k) != count {
                return Err(Invalid("checkpoint directory does not match its slots"));
            }
            k += 1;
        }
        Ok(())
    }

    /// A chain whose links could have been written by this log: one head per group, the
    /// open group after the last head, every link at or above its event's sequence
    /// number (each event takes a position of its own), below `through`, increasing.
    fn check_chain(&self, record: &RecordView<'_>) -> Result<(), Invalid> {
        let through = self.header.through;
        if !Chain::parts_consistent(record.events, record.heads, record.open) {
            return Err(Invalid("checkpoint chain inconsistent"));
        }
        let heads = record.heads.len() / LINK_BYTES;
        let open_start = heads.saturating_sub(1) as u64 * LINK_GROUP;
        let ranged = |links: &[u8], first_seq: u64, step: u64| {
            let mut previous: Option<u64> = None;
            links.chunks_exact(LINK_BYTES).enumerate().all(|(i, link)| {
                let position = read_link(link).position.0;
                let seq = (i as u64).saturating_mul(step).saturating_add(first_seq);
                let increasing = previous.is_none_or(|p| p < position);
                previous = Some(position);
                seq <= position && position < through && increasing
            })
        };
        if !ranged(record.heads, 0, LINK_GROUP) || !ranged(record.open, open_start, 1) {
            return Err(Invalid("checkpoint chain link out of range or order"));
        }
        Ok(())
    }
}
