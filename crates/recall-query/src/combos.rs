//! Combination codes: each tenant's distinct (key epoch, `action`, `outcome`,
//! `actor.role`, `source.system`) tuples, numbered 0, 1, 2… in the order the indexer
//! first meets them. Every position of a posting list carries its event's code
//! (`postings.rs`), so the facet counts of a patient, actor or time window are read from
//! the lists alone, with no event body (`facet_lists.rs`), and the cube adds up codes,
//! not strings (`cube.rs`).
//!
//! Invariants:
//! - A code never changes meaning: the table only grows, and a new entry is written in
//!   the same fjall batch as the first posting list that uses it, by the one index
//!   writer under the write lock. An in-memory table a failed write may have put ahead
//!   of the disk is dropped (not given back) and read again from disk.
//! - Stored as the cube's cells are (same partition, the same four values in the clear,
//!   no identifier): `facets` key `tno ‖ 2 ‖ u32be code` → `u32be epoch ‖ combo`.
//! - Derived like every index: a new generation (reindex, layout change) starts empty.
//! - Readers see only committed entries: the list they read is published after the
//!   commit, and a code beyond it is looked up on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use recall_model::Event;

use crate::cube::{Combo, put_combo};
use crate::error::QueryError;
use crate::keys;

/// The "grain" byte of code entries in the `facets` partition (the cube's are 0 and 1).
const CODES: u8 = 2;

/// What a code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key epoch of the events with this code.
    pub epoch: u32,
    /// Their four values (the cube's encoding).
    pub combo: Combo,
}

/// One tenant's table, as the index writer extends it.
#[derive(Default)]
pub(crate) struct Table {
    /// `u32be epoch ‖ combo` → code.
    by_key: HashMap<Vec<u8>, u32>,
    entries: Vec<Entry>,
    /// Entries `..stored` are on disk.
    stored: usize,
    /// Reused for each event's key, so a known combination allocates nothing.
    buf: Vec<u8>,
}

impl Table {
    /// The code of event `e` of key epoch `epoch`, numbered now if new.
    pub fn code(&mut self, epoch: u32, e: &Event) -> u32 {
        self.buf.clear();
        self.buf.extend_from_slice(&epoch.to_be_bytes());
        put_combo(&mut self.buf, e);
        if let Some(c) = self.by_key.get(self.buf.as_slice()) {
            return *c;
        }
        let code = self.entries.len() as u32;
        self.entries.push(Entry {
            epoch,
            combo: self.buf[4..].to_vec(),
        });
        self.by_key.insert(self.buf.clone(), code);
        code
    }

    /// The combination of `code` (one this table handed out).
    pub fn combo(&self, code: u32) -> &[u8] {
        self.entries
            .get(code as usize)
            .map_or(&[][..], |e| e.combo.as_slice())
    }

    /// Puts the entries numbered since the last commit in `b`.
    pub fn write(&self, b: &mut fjall::Batch, part: &fjall::PartitionHandle, tno: u32) {
        for (code, e) in self.entries.iter().enumerate().skip(self.stored) {
            b.insert(
                part,
                key(tno, code as u32),
                keys::cat(&[&e.epoch.to_be_bytes(), &e.combo]),
            );
        }
    }

    fn from_entries(entries: Vec<Entry>) -> Table {
        let by_key = entries
            .iter()
            .enumerate()
            .map(|(code, e)| (keys::cat(&[&e.epoch.to_be_bytes(), &e.combo]), code as u32))
            .collect();
        Table {
            by_key,
            stored: entries.len(),
            entries,
            buf: Vec::new(),
        }
    }
}

/// The tables of a generation's tenants.
#[derive(Default)]
pub(crate) struct Codes {
    /// The writer's tables, absent while one is lent out for a batch.
    writing: Mutex<HashMap<u32, Table>>,
    /// The committed entries readers look codes up in.
    reading: RwLock<HashMap<u32, Arc<Vec<Entry>>>>,
}

impl Codes {
    /// Lends the writer tenant `tno`'s table (read from disk when not in memory). Callers
    /// hold the write lock and give it back with [`Codes::put`] once their batch is
    /// committed; a table not given back is read from disk next time.
    pub fn take(&self, part: &fjall::PartitionHandle, tno: u32) -> Result<Table, QueryError> {
        let held = self
            .writing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&tno);
        match held {
            Some(t) => Ok(t),
            None => Ok(Table::from_entries(load(part, tno)?)),
        }
    }

    /// Takes back a table whose batch committed, and publishes its new entries.
    pub fn put(&self, tno: u32, mut table: Table) {
        if table.stored < table.entries.len() {
            table.stored = table.entries.len();
            self.publish(tno, Arc::new(table.entries.clone()));
        }
        self.writing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tno, table);
    }

    fn publish(&self, tno: u32, entries: Arc<Vec<Entry>>) {
        let mut reading = self.reading.write().unwrap_or_else(|p| p.into_inner());
        let longer = reading
            .get(&tno)
            .is_none_or(|old| old.len() < entries.len());
        if longer {
            reading.insert(tno, entries);
        }
    }

    /// Tenant `tno`'s committed entries, at least `len` of them (a reader met code
    /// `len - 1`), else the index is corrupt.
    pub fn entries(
        &self,
        part: &fjall::PartitionHandle,
        tno: u32,
        len: usize,
    ) -> Result<Arc<Vec<Entry>>, QueryError> {
        let cached = self
            .reading
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tno)
            .cloned();
        if let Some(c) = cached
            && c.len() >= len
        {
            return Ok(c);
        }
        let loaded = Arc::new(load(part, tno)?);
        if loaded.len() < len {
            return Err(corrupt());
        }
        self.publish(tno, loaded.clone());
        Ok(loaded)
    }
}

fn corrupt() -> QueryError {
    QueryError::Corrupt("combination code".into())
}

/// Key `tno ‖ 2 ‖ u32be code`.
fn key(tno: u32, code: u32) -> Vec<u8> {
    keys::cat(&[&tno.to_be_bytes(), &[CODES], &code.to_be_bytes()])
}

/// Tenant `tno`'s entries on disk, which are numbered 0, 1, 2… without a gap.
fn load(part: &fjall::PartitionHandle, tno: u32) -> Result<Vec<Entry>, QueryError> {
    let mut out = Vec::new();
    for kv in part.range(key(tno, 0)..=key(tno, u32::MAX)) {
        let (k, v) = kv?;
        let code = k
            .get(keys::TNO + 1..)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes);
        if code != Some(out.len() as u32) || v.len() < 4 {
            return Err(corrupt());
        }
        out.push(Entry {
            epoch: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            combo: v[4..].to_vec(),
        });
    }
    Ok(out)
}
