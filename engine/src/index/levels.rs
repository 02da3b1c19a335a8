//! The index's levels for one kind of chain (streams, or categories): the entries changed
//! since the mapped table was written live on the heap, over the table.
//!
//! Lookups go down the levels: `active` (changed since the last snapshot), `frozen` (the
//! snapshot a checkpoint is being written from, shared with the writer, immutable), then
//! the table. A change to an entry found below `active` copies it up first (its heads
//! stay where they are: slices of the mapping). When the checkpoint is written, the table
//! it wrote replaces both the old table and `frozen`, and the active entries read their
//! older heads from it; if the write failed, `frozen` folds back into `active`.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

use super::names::{same_name, NameIds};
use super::table::{Section, Table};
use super::ChainEntry;

/// Entries on the heap, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Level {
    entries: Vec<ChainEntry>,
    ids: NameIds,
    /// Entries created here because no level below had their name.
    created: usize,
    /// The entry found last by [`Level::id_of`]: consecutive appends usually share a
    /// category (and a bulk load a stream), and one comparison is cheaper than a hash
    /// lookup. Ids never change within a level, so it cannot go stale.
    recent: Option<u32>,
}

impl Level {
    fn get(&self, name: &[u8]) -> Option<&ChainEntry> {
        self.ids.get(name).map(|id| &self.entries[id as usize])
    }

    /// The id of `name` here, if it has one.
    fn id_of(&mut self, name: &[u8]) -> Option<u32> {
        if let Some(id) = self.recent {
            if same_name(&self.entries[id as usize].name, name) {
                return Some(id);
            }
        }
        let id = self.ids.get(name)?;
        self.recent = Some(id);
        Some(id)
    }

    fn push(&mut self, entry: ChainEntry, created: bool) -> u32 {
        let id = self.entries.len() as u32;
        self.ids.insert(entry.name.clone(), id);
        self.entries.push(entry);
        self.created += usize::from(created);
        id
    }

    /// The level's entries, in the order they were added.
    pub(crate) fn entries(&self) -> &[ChainEntry] {
        &self.entries
    }

    fn heap_bytes(&self) -> usize {
        let names: usize = self.entries.iter().map(|e| e.name.len()).sum();
        let chains: usize = self.entries.iter().map(|e| e.chain.heap_bytes()).sum();
        // A hash map slot is its entry plus one control byte.
        let name_slot = std::mem::size_of::<(Bytes, u32)>() + 1;
        names
            + chains
            + self.entries.capacity() * std::mem::size_of::<ChainEntry>()
            + self.ids.capacity() * name_slot
    }
}

/// One kind of chain: its heap levels over its section of the table.
#[derive(Debug)]
pub(crate) struct Levels {
    section: Section,
    active: Level,
    frozen: Option<Arc<Level>>,
    /// The table installed last and the next active entry to rebase on it: rebasing is
    /// spread over the appends after an install ([`Levels::rebase_some`]), so that no
    /// append waits for all of it.
    rebasing: Option<(Arc<Table>, usize)>,
}

impl Levels {
    pub(crate) fn new(section: Section) -> Levels {
        Levels {
            section,
            active: Level::default(),
            frozen: None,
            rebasing: None,
        }
    }

    /// The entry `name`, from the highest level that has it.
    pub(crate) fn get<'a>(
        &'a self,
        table: Option<&Table>,
        name: &[u8],
    ) -> Option<Cow<'a, ChainEntry>> {
        if let Some(entry) = self.active.get(name) {
            return Some(Cow::Borrowed(entry));
        }
        if let Some(entry) = self.frozen.as_ref().and_then(|f| f.get(name)) {
            return Some(Cow::Borrowed(entry));
        }
        table
            .and_then(|t| t.find(self.section, name))
            .map(Cow::Owned)
    }

    /// The active id of an existing entry `name`, copied up into `active` if it is
    /// below; `None` if no level has it.
    pub(crate) fn promote(&mut self, table: Option<&Table>, name: &[u8]) -> Option<u32> {
        if let Some(id) = self.active.id_of(name) {
            return Some(id);
        }
        let below = match self.frozen.as_ref().and_then(|f| f.get(name)) {
            Some(entry) => entry.clone(),
            None => {
                let mut entry = table?.find(self.section, name)?;
                // The name is copied out of the mapping, so that once a newer table is
                // installed (and the heads rebased on it) no active entry keeps the old
                // file's mapping alive.
                entry.name = Bytes::copy_from_slice(&entry.name);
                entry
            }
        };
        Some(self.active.push(below, false))
    }

    /// The active id of `name`, its entry copied up or created (empty) as needed.
    pub(crate) fn id_or_insert(&mut self, table: Option<&Table>, name: &[u8]) -> u32 {
        if let Some(id) = self.promote(table, name) {
            return id;
        }
        // The name is copied: a slice of an event's payload would keep it all alive.
        let entry = ChainEntry::empty(Bytes::copy_from_slice(name));
        self.active.push(entry, true)
    }

    /// Adds an entry no level has (loading an older checkpoint onto the heap); `false`
    /// if its name is taken.
    pub(crate) fn insert_new(&mut self, entry: ChainEntry) -> bool {
        if self.active.ids.get(&entry.name).is_some() {
            return false;
        }
        self.active.push(entry, true);
        true
    }

    /// Whether the active entry `id` exists and is `name`'s: a remembered id is checked
    /// this way before it is used, so an id from before a freeze or a thaw (which
    /// number the active entries anew) is never taken for another name's.
    #[inline]
    pub(crate) fn active_is(&self, id: u32, name: &[u8]) -> bool {
        self.active
            .entries
            .get(id as usize)
            .is_some_and(|entry| same_name(&entry.name, name))
    }

    pub(crate) fn active(&self, id: u32) -> &ChainEntry {
        &self.active.entries[id as usize]
    }

    pub(crate) fn active_mut(&mut self, id: u32) -> &mut ChainEntry {
        &mut self.active.entries[id as usize]
    }

    /// Calls `f` with every entry once, in no particular order: each name's newest
    /// version, from the highest level that has it.
    pub(crate) fn for_each(&self, table: Option<&Table>, mut f: impl FnMut(&ChainEntry)) {
        let frozen = self.frozen.as_deref();
        for entry in &self.active.entries {
            f(entry);
        }
        let in_active = |name: &[u8]| self.active.ids.get(name).is_some();
        for entry in frozen.map_or(&[][..], |f| &f.entries[..]) {
            if !in_active(&entry.name) {
                f(entry);
            }
        }
        let Some(table) = table else {
            return;
        };
        for (_, record) in table.records(self.section) {
            let above =
                in_active(record.name) || frozen.is_some_and(|f| f.ids.get(record.name).is_some());
            if !above {
                if let Some(entry) = table.entry_of(&record) {
                    f(&entry);
                }
            }
        }
    }

    /// Entries in all levels together.
    pub(crate) fn count(&self, table: Option<&Table>) -> usize {
        table.map_or(0, |t| t.len(self.section))
            + self.frozen.as_ref().map_or(0, |f| f.created)
            + self.active.created
    }

    /// Whether anything changed since the table was written.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.active.entries.is_empty() && self.frozen.is_none()
    }

    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Freezes `active` for a checkpoint to be written from; later changes start a new
    /// `active`. Only one snapshot at a time: the caller installs or thaws the last one
    /// first.
    pub(crate) fn freeze(&mut self) -> Arc<Level> {
        assert!(self.frozen.is_none(), "a snapshot is already being written");
        // Entries not yet rebased go into the snapshot, and the next install drops them.
        self.rebasing = None;
        let frozen = Arc::new(std::mem::take(&mut self.active));
        self.frozen = Some(Arc::clone(&frozen));
        frozen
    }

    /// The checkpoint written from `frozen` is `table`: it holds everything `frozen` and
    /// the old table held, so `frozen` goes (returned, for the caller to drop outside the
    /// store's lock), and the active entries are to read the heads the table has of them
    /// in place ([`Levels::rebase_some`]).
    pub(crate) fn install(&mut self, table: &Arc<Table>) -> Option<Arc<Level>> {
        self.rebasing = Some((Arc::clone(table), 0));
        self.frozen.take()
    }

    /// Rebases up to `budget` active entries on the table installed last: their heads
    /// that table holds are read in place from it, and their copies on the heap (and any
    /// older table's mapping they kept alive) let go. Answers do not change.
    #[inline]
    pub(crate) fn rebase_some(&mut self, budget: usize) {
        // Inlined: every store append calls it, and almost always nothing is left.
        if self.rebasing.is_some() {
            self.rebase_some_now(budget);
        }
    }

    #[cold]
    fn rebase_some_now(&mut self, budget: usize) {
        let Some((table, next)) = self.rebasing.as_mut() else {
            return;
        };
        let end = (*next + budget).min(self.active.entries.len());
        for entry in &mut self.active.entries[*next..end] {
            if let Some(heads) = table.heads_of(self.section, &entry.name) {
                entry.chain.rebase(heads);
            }
        }
        *next = end;
        if end == self.active.entries.len() {
            self.rebasing = None;
        }
    }

    /// The checkpoint from `frozen` was not written: its entries return to `active`,
    /// under the newer copies made since.
    pub(crate) fn thaw(&mut self) {
        let Some(frozen) = self.frozen.take() else {
            return;
        };
        self.rebasing = None;
        let mut merged = Arc::try_unwrap(frozen).unwrap_or_else(|shared| (*shared).clone());
        let newer = std::mem::take(&mut self.active);
        merged.created += newer.created;
        for entry in newer.entries {
            match merged.ids.get(&entry.name) {
                Some(id) => merged.entries[id as usize] = entry,
                None => {
                    merged.push(entry, false);
                }
            }
        }
        self.active = merged;
    }

    /// Heap bytes of both levels.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.active.heap_bytes() + self.frozen.as_ref().map_or(0, |f| f.heap_bytes())
    }
}
