//! A Bloom filter in memory of the client ids an index generation holds, so that
//! checking an id the tenant has never sent — nearly every id at ingest — reads nothing
//! from the index. Each check used to search fjall's memtable (a large skiplist, at a
//! random place) and cost about as much as the rest of the writer's work on the event.
//!
//! Invariant: once the filter is ready, every key of the generation's `id` partition is
//! in it. It can only err towards "maybe", which costs the index read that would have
//! happened anyway. A new generation is ready at once (it is empty); one opened from disk
//! is filled from its `id` partition in the background and says "maybe" until then.
//! Entries written meanwhile are added by the writer of the index as it writes them, and
//! the fill reads the partition only after the filter exists, so none is missed.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, Weak};

use fastbloom::BloomFilter;

use crate::db::Parts;
use crate::error::QueryError;
use crate::keys;

/// Ids the first filter of a tenant is sized for; each further one doubles.
const FIRST_CAPACITY: usize = 1 << 20;
/// False-positive rate of each filter (a chain of k filters errs at most k times as often).
const FALSE_POSITIVES: f64 = 0.005;
/// Keys read per step of a fill, so that a closed generation is let go of soon.
const FILL_STEP: usize = 1 << 16;

/// The filter of one generation: per tenant number, a chain of Bloom filters.
#[derive(Default)]
pub(crate) struct IdFilter {
    ready: AtomicBool,
    tenants: RwLock<HashMap<u32, Chain>>,
}

/// Bloom filters of growing size: a full one is kept and a larger one started.
struct Chain {
    filters: Vec<BloomFilter>,
    capacity: usize,
    room: usize,
}

impl Chain {
    fn new() -> Self {
        Chain {
            filters: vec![filter(FIRST_CAPACITY)],
            capacity: FIRST_CAPACITY,
            room: FIRST_CAPACITY,
        }
    }

    fn insert(&mut self, hash: u64) {
        if self.room == 0 {
            self.capacity *= 2;
            self.room = self.capacity;
            self.filters.push(filter(self.capacity));
        }
        if let Some(last) = self.filters.last_mut() {
            last.insert_hash(hash);
        }
        self.room -= 1;
    }

    fn contains(&self, hash: u64) -> bool {
        self.filters.iter().any(|f| f.contains_hash(hash))
    }
}

fn filter(capacity: usize) -> BloomFilter {
    BloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(capacity)
}

/// The filter's hash of an id token: its first bytes (tokens are HMAC outputs, already
/// uniform).
fn hash(token: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(token.get(..8)?.try_into().ok()?))
}

impl IdFilter {
    /// Marks the filter complete (a new, empty generation; or a fill that finished).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the filter covers the whole generation.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Which of `tokens` (full id tokens of tenant `tno`) the generation may hold.
    pub fn may_hold(&self, tno: u32, tokens: &[[u8; 32]]) -> Vec<bool> {
        if !self.ready.load(Ordering::Acquire) {
            return vec![true; tokens.len()];
        }
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let Some(chain) = tenants.get(&tno) else {
            return vec![false; tokens.len()];
        };
        tokens
            .iter()
            .map(|t| hash(t).is_none_or(|h| chain.contains(h)))
            .collect()
    }

    /// Adds the ids of `id` partition keys (`tno ‖ token`).
    pub fn add_keys<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let Some((tno, token)) = key.split_at_checked(keys::TNO) else {
                continue;
            };
            let (Ok(tno), Some(h)) = (tno.try_into().map(u32::from_be_bytes), hash(token)) else {
                continue;
            };
            tenants.entry(tno).or_insert_with(Chain::new).insert(h);
        }
    }
}

/// Fills the filter of `parts` from its `id` partition, a step at a time, then marks it
/// ready. Stops early, leaving it not ready, when the generation is closed meanwhile.
pub(crate) fn fill(parts: &Weak<Parts>) -> Result<(), QueryError> {
    let mut after: Option<Vec<u8>> = None;
    loop {
        let Some(p) = parts.upgrade() else {
            return Ok(());
        };
        let lo = match after.take() {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let mut step = Vec::with_capacity(FILL_STEP);
        for kv in p.id.range::<Vec<u8>, _>((lo, Bound::Unbounded)) {
            step.push(kv?.0);
            if step.len() == FILL_STEP {
                break;
            }
        }
        p.ids.add_keys(step.iter().map(|k| k.as_ref()));
        if step.len() < FILL_STEP {
            p.ids.set_ready();
            return Ok(());
        }
        after = step.last().map(|k| k.to_vec());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(tno: u32, i: u64) -> Vec<u8> {
        let mut tok = [0u8; keys::ID_TOKEN];
        // Spread like HMAC output would be.
        tok[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        keys::cat(&[&tno.to_be_bytes(), &tok])
    }

    fn token(k: &[u8]) -> [u8; 32] {
        let mut t = [0u8; 32];
        t[..keys::ID_TOKEN].copy_from_slice(&k[keys::TNO..]);
        t
    }

    #[test]
    fn says_maybe_until_ready_and_never_forgets_an_id() {
        let f = IdFilter::default();
        let held: Vec<Vec<u8>> = (0..3 * FIRST_CAPACITY as u64 + 7)
            .map(|i| key(1, i))
            .collect();
        let toks: Vec<[u8; 32]> = held.iter().map(|k| token(k)).collect();
        assert!(
            f.may_hold(1, &toks[..3]).iter().all(|m| *m),
            "not ready: maybe"
        );
        f.add_keys(held.iter().map(|k| k.as_slice()));
        f.set_ready();
        assert!(f.may_hold(1, &toks).iter().all(|m| *m), "no false negative");
        let other: Vec<[u8; 32]> = (0..10_000u64)
            .map(|i| token(&key(1, i + (1 << 40))))
            .collect();
        let false_pos = f.may_hold(1, &other).iter().filter(|m| **m).count();
        assert!(false_pos < 300, "{false_pos} false positives in 10,000");
        assert!(
            f.may_hold(2, &toks[..5]).iter().all(|m| !*m),
            "another tenant"
        );
    }
}
