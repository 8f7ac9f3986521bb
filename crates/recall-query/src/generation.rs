//! Index generations: each is a fjall keyspace of its own, in `<index dir>/gen-<N>`, and
//! the file `CURRENT` names the one in use.
//!
//! Why a keyspace per generation: `reindex` must throw the old index away while fjall
//! may still be flushing it, and fjall 2's flusher panics when a partition it is flushing
//! is deleted under it. A whole keyspace can be closed instead — closing waits for its
//! background threads — and its directory removed afterwards, once no reader holds it.
//!
//! Crash safety: a new generation is created complete (partitions, layout mark, synced)
//! before `CURRENT` is replaced atomically (write, fsync, rename, fsync the directory).
//! Open removes every generation `CURRENT` does not name, so an interrupted reindex
//! leaves nothing behind and the old index stays in use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use fjall::{Keyspace, PartitionCreateOptions, PartitionHandle};

use crate::combos::Codes;
use crate::error::QueryError;
use crate::idfilter::IdFilter;
use crate::index_memory::IndexMemory;

/// Layout of the entries (key `layout` in the `about` partition, `u32be`). An index of
/// another layout is rebuilt from the log on open. 3: one keyspace per generation;
/// 4: posting lists for patients and actors; 5: for time too; 6: the break-glass queue;
/// 7: the event summaries; 8: the facet cube; 9: combination codes in the posting
/// lists (`combos.rs`).
const LAYOUT: u32 = 9;
/// Sealed memtables fjall's flusher writes out each time it wakes. fjall 2.11 wakes it
/// once per enqueued memtable, except for those recovered from its journal on open: one
/// wake-up per partition, however many it recovered. With one flush worker (fjall's
/// choice on two cores) each wake-up wrote one memtable, so the rest stayed in memory for
/// good, journals piled up, and once they filled the write buffer every index write
/// halted — and with it every audited read (measured: a server restarted on a busy data
/// directory stopped answering after ~150,000 reads). Taking up to this many a wake-up
/// drains such a backlog within a few rotations.
const FLUSH_BATCH: usize = 16;
/// The file naming the generation in use (decimal, newline-terminated).
const CURRENT: &str = "CURRENT";
/// Entries a fjall 2 keyspace keeps at its root: an index of layout 1 or 2, which kept
/// every generation in one keyspace at the root of the index directory.
const LEGACY: [&str; 3] = ["journals", "partitions", "version"];

/// One generation of the index: its keyspace and partitions.
pub(crate) struct Parts {
    pub generation: u32,
    /// fjall's memory settings, kept for the next generation and a reopen.
    pub memory: IndexMemory,
    pub keyspace: Keyspace,
    pub meta: PartitionHandle,
    pub time: PartitionHandle,
    pub patient: PartitionHandle,
    pub actor: PartitionHandle,
    pub id: PartitionHandle,
    pub blocks: PartitionHandle,
    pub frames: PartitionHandle,
    /// The break-glass review queue (`breakglass.rs`).
    pub breakglass: PartitionHandle,
    /// The event summaries (`summary.rs`).
    pub summary: PartitionHandle,
    /// The facet cube (`cube.rs`).
    pub facets: PartitionHandle,
    /// Which client ids `id` may hold, in memory.
    pub ids: IdFilter,
    /// The combination codes of each tenant, in memory (`combos.rs`).
    pub codes: Codes,
    /// Declared last: fields drop in order, so the directory is removed only after the
    /// keyspace has stopped its background threads and every partition handle is gone.
    retired: Retired,
}

impl Parts {
    /// Marks this generation for removal once the last reader lets go of it.
    pub fn retire(&self) {
        self.retired.flag.store(true, Ordering::Release);
    }

    /// Flushes fjall's journal to disk (a clean shutdown has nothing to catch up).
    pub fn sync(&self) -> Result<(), QueryError> {
        Ok(self.keyspace.persist(fjall::PersistMode::SyncAll)?)
    }

    /// What the index holds in memory, unflushed.
    pub fn buffers(&self) -> IndexBuffers {
        use fjall::AbstractTree;
        let partitions = [
            &self.meta,
            &self.time,
            &self.patient,
            &self.actor,
            &self.id,
            &self.blocks,
            &self.frames,
            &self.breakglass,
            &self.summary,
            &self.facets,
        ];
        IndexBuffers {
            write_buffer_bytes: self.keyspace.write_buffer_size(),
            sealed_memtables: partitions
                .iter()
                .map(|p| p.tree.sealed_memtable_count())
                .sum(),
        }
    }
}

/// The index's unflushed entries: fjall's count of their key and value bytes, and how
/// many full memtables wait for its flusher (a number that keeps growing means writes
/// will soon halt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexBuffers {
    /// Key and value bytes in memtables, active and sealed.
    pub write_buffer_bytes: u64,
    /// Sealed memtables not yet written to disk.
    pub sealed_memtables: usize,
}

/// Removes a generation's directory when dropped, if it was retired.
struct Retired {
    dir: PathBuf,
    flag: AtomicBool,
}

impl Drop for Retired {
    fn drop(&mut self) {
        if self.flag.load(Ordering::Acquire) {
            // Left behind on failure, the next open removes it.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Opens the generation `CURRENT` names in `index_dir` (creating the directory and a
/// first generation if needed) after removing every other one. Returns the parts and
/// whether their layout is current; a stale layout is the caller's to rebuild.
pub(crate) fn open_current(
    index_dir: &Path,
    memory: IndexMemory,
) -> Result<(Parts, bool), QueryError> {
    std::fs::create_dir_all(index_dir).map_err(QueryError::IndexDir)?;
    let current = read_current(index_dir)?;
    remove_others(index_dir, current)?;
    let Some(generation) = current else {
        return Ok((create(index_dir, 1, memory)?, true));
    };
    let parts = open(index_dir, generation, memory)?;
    let layout = parts
        .keyspace
        .open_partition("about", options("about"))?
        .get("layout")?
        .and_then(|v| v.as_ref().try_into().ok())
        .map(u32::from_be_bytes);
    Ok((parts, layout == Some(LAYOUT)))
}

/// Creates generation `generation` (complete and synced) and makes it the current one.
pub(crate) fn create(
    index_dir: &Path,
    generation: u32,
    memory: IndexMemory,
) -> Result<Parts, QueryError> {
    let parts = open(index_dir, generation, memory)?;
    let about = parts.keyspace.open_partition("about", options("about"))?;
    about.insert("layout", LAYOUT.to_be_bytes())?;
    // Flushed now, or this one-entry memtable would pin every journal from here on.
    about.rotate_memtable()?;
    parts.sync()?;
    parts.ids.set_ready();
    write_current(index_dir, generation)?;
    Ok(parts)
}

/// Generation number of the empty keyspace that stands in while a generation is closed
/// and opened again ([`reopen`]); removed when dropped, or by the next open.
pub(crate) const STAND_IN: u32 = u32::MAX;

/// Closes the generation in `slot` and opens it again: fjall poisons a keyspace after a
/// failed write (a full disk) and refuses every write until it is reopened. `slot` must
/// hold the only reference (fjall 2 keeps one keyspace per directory). If opening fails,
/// an empty stand-in stays in `slot` (no tenant, so every watermark is 0) and the error
/// is returned; calling again retries.
pub(crate) fn reopen(index_dir: &Path, slot: &mut std::sync::Arc<Parts>) -> Result<(), QueryError> {
    let generation = match slot.generation {
        STAND_IN => read_current(index_dir)?
            .ok_or_else(|| QueryError::Corrupt("index CURRENT file is missing".into()))?,
        g => g,
    };
    if slot.generation != STAND_IN {
        let stand_in = open(index_dir, STAND_IN, slot.memory)?;
        stand_in.retire();
        // Dropping the last reference closes the keyspace and joins its threads.
        drop(std::mem::replace(slot, std::sync::Arc::new(stand_in)));
    }
    *slot = std::sync::Arc::new(open(index_dir, generation, slot.memory)?);
    Ok(())
}

fn open(index_dir: &Path, generation: u32, memory: IndexMemory) -> Result<Parts, QueryError> {
    let dir = index_dir.join(format!("gen-{generation}"));
    // fjall replays its journal into memtables on open, so the write buffer is set before.
    let keyspace = fjall::Config::new(&dir)
        .max_write_buffer_size(memory.fjall_write_buffer_bytes())
        .cache_size(memory.fjall_cache_bytes())
        .flush_workers(FLUSH_BATCH)
        .open()?;
    let open = |name: &str| keyspace.open_partition(name, options(name));
    Ok(Parts {
        generation,
        memory,
        meta: open("meta")?,
        time: open("time")?,
        patient: open("patient")?,
        actor: open("actor")?,
        id: open("id")?,
        blocks: open("blocks")?,
        frames: open("frames")?,
        breakglass: open("breakglass")?,
        summary: open("summary")?,
        facets: open("facets")?,
        ids: IdFilter::default(),
        codes: Codes::default(),
        keyspace,
        retired: Retired {
            dir,
            flag: AtomicBool::new(false),
        },
    })
}

/// Partitions only ever read by range or prefix (`summary` too): a Bloom filter answers "is this exact
/// key here?", which no range scan asks, yet fjall keeps every segment's filter in
/// memory and buffers a hash per key while compacting — memory that grows with the
/// index (measured with heaptrack on 2.7M events: 67 MiB of hashes in one compaction,
/// 15 MiB of filters). Point lookups (`meta`, `id`, `breakglass`) keep theirs.
const SCAN_ONLY: [&str; 6] = ["time", "patient", "actor", "blocks", "frames", "summary"];

/// fjall stores a partition's options when it creates it, so a change here reaches an
/// existing index at its next generation (`recall reindex` or a layout change).
fn options(name: &str) -> PartitionCreateOptions {
    let options = PartitionCreateOptions::default();
    if SCAN_ONLY.contains(&name) {
        options.bloom_filter_bits(None)
    } else {
        options
    }
}

fn read_current(index_dir: &Path) -> Result<Option<u32>, QueryError> {
    match std::fs::read_to_string(index_dir.join(CURRENT)) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| QueryError::Corrupt("index CURRENT file".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(QueryError::IndexDir(e)),
    }
}

/// Replaces `CURRENT` atomically and durably.
fn write_current(index_dir: &Path, generation: u32) -> Result<(), QueryError> {
    let tmp = index_dir.join(format!("{CURRENT}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, format!("{generation}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, index_dir.join(CURRENT))?;
        std::fs::File::open(index_dir)?.sync_all()
    };
    write().map_err(QueryError::IndexDir)
}

/// Removes every generation but `keep`, an index of an older layout kept at the root,
/// and a `CURRENT` left half-written. Nothing else in the directory is touched.
fn remove_others(index_dir: &Path, keep: Option<u32>) -> Result<(), QueryError> {
    let keep = keep.map(|g| format!("gen-{g}"));
    for entry in std::fs::read_dir(index_dir).map_err(QueryError::IndexDir)? {
        let entry = entry.map_err(QueryError::IndexDir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = (name.starts_with("gen-") && Some(name.as_ref()) != keep.as_deref())
            || LEGACY.contains(&name.as_ref())
            || name == format!("{CURRENT}.tmp");
        if !stale {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(QueryError::IndexDir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Memtables left sealed in fjall's journal (a crash, or a stop before they were
    /// flushed) are all written out after open; with fjall's own setting on two cores
    /// 27 of these 30 stayed in memory for good.
    #[test]
    fn memtables_recovered_from_the_journal_are_all_flushed() {
        let dir = tempfile::tempdir().unwrap();
        {
            // No flusher: every rotated memtable stays sealed, in the journal only.
            let keyspace = fjall::Config::new(dir.path().join("gen-1"))
                .flush_workers(0)
                .open()
                .unwrap();
            for name in ["time", "patient", "actor"] {
                let p = keyspace.open_partition(name, options(name)).unwrap();
                for i in 0..10 {
                    p.insert(format!("key-{i}"), "value").unwrap();
                    assert!(p.rotate_memtable().unwrap());
                }
            }
            keyspace.persist(fjall::PersistMode::SyncAll).unwrap();
        }
        let parts = open(dir.path(), 1, IndexMemory::default()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while parts.buffers().sealed_memtables > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(parts.buffers().sealed_memtables, 0, "{:?}", parts.buffers());
        assert_eq!(
            parts.patient.get("key-9").unwrap().as_deref(),
            Some(&b"value"[..])
        );
    }

    /// Range-only partitions are written without Bloom filters; the ones read by key keep
    /// them (their filters are what makes a miss cheap).
    #[test]
    fn only_point_read_partitions_keep_bloom_filters() {
        use fjall::AbstractTree;
        let dir = tempfile::tempdir().unwrap();
        let parts = open(dir.path(), 1, IndexMemory::default()).unwrap();
        let all = [
            ("meta", &parts.meta),
            ("time", &parts.time),
            ("patient", &parts.patient),
            ("actor", &parts.actor),
            ("id", &parts.id),
            ("blocks", &parts.blocks),
            ("frames", &parts.frames),
            ("breakglass", &parts.breakglass),
            ("summary", &parts.summary),
            ("facets", &parts.facets),
        ];
        for (name, p) in all {
            for i in 0..1000 {
                p.insert(format!("key-{i:04}"), "value").unwrap();
            }
            p.rotate_memtable_and_wait().unwrap();
            let filter = p.tree.bloom_filter_size();
            assert_eq!(
                filter == 0,
                SCAN_ONLY.contains(&name),
                "{name}: {filter} bytes"
            );
        }
    }
}
