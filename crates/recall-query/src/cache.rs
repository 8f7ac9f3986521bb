//! A bounded LRU cache of decrypted body blocks.
//!
//! Consecutive search hits often share a block (session locality: one user reads many
//! resources of one chart in a row), and opening a block costs a read, AES-GCM and zstd.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Which block: `(tenant number, first seq of its batch, index in the batch)`.
pub type BlockKey = (u32, u64, u16);

/// A decrypted block: its plaintext and the span of each event in block order.
#[derive(Debug)]
pub struct Block {
    plain: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Block {
    /// Splits a block's plaintext; `None` if it does not split into events.
    pub fn new(plain: Vec<u8>) -> Option<Block> {
        let base = plain.as_ptr() as usize;
        let spans = recall_store::split_block(&plain)?
            .iter()
            .map(|e| (e.as_ptr() as usize - base, e.len()))
            .collect();
        Some(Block { plain, spans })
    }

    /// Canonical bytes of the `k`-th event of the block.
    pub fn event(&self, k: usize) -> Option<&[u8]> {
        let &(at, len) = self.spans.get(k)?;
        self.plain.get(at..at + len)
    }

    fn cost(&self) -> usize {
        self.plain.len() + self.spans.len() * 16 + 64
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<BlockKey, (Arc<Block>, u64)>,
    order: BTreeMap<u64, BlockKey>,
    tick: u64,
    bytes: usize,
}

/// LRU of blocks bounded by their plaintext bytes.
pub struct BlockCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl BlockCache {
    /// A cache holding at most about `budget` bytes of plaintext.
    pub fn new(budget: usize) -> Self {
        Self {
            inner: Mutex::default(),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached block, marked as most recently used.
    pub fn get(&self, key: &BlockKey) -> Option<Arc<Block>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let (block, old) = inner.map.get_mut(key).map(|(b, t)| {
            let old = *t;
            *t = tick;
            (b.clone(), old)
        })?;
        inner.order.remove(&old);
        inner.order.insert(tick, *key);
        Some(block)
    }

    /// Caches a block, evicting the least recently used ones beyond the budget.
    pub fn put(&self, key: BlockKey, block: Arc<Block>) {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += block.cost();
        if let Some((old, t)) = inner.map.insert(key, (block, tick)) {
            inner.bytes -= old.cost();
            inner.order.remove(&t);
        }
        inner.order.insert(tick, key);
        while inner.bytes > self.budget && inner.order.len() > 1 {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = inner.map.remove(&victim) {
                inner.bytes -= b.cost();
            }
        }
    }

    /// Forgets everything (after a reindex).
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn block(n: usize) -> Arc<Block> {
        let mut plain = Vec::new();
        plain.extend_from_slice(&(n as u32).to_le_bytes());
        plain.extend(std::iter::repeat_n(b'x', n));
        Arc::new(Block::new(plain).unwrap())
    }

    #[test]
    fn evicts_least_recently_used_beyond_budget() {
        let cache = BlockCache::new(3 * (1000 + 4 + 16 + 64));
        for i in 0..3 {
            cache.put((0, i, 0), block(1000));
        }
        assert!(cache.get(&(0, 0, 0)).is_some());
        cache.put((0, 3, 0), block(1000));
        assert!(
            cache.get(&(0, 1, 0)).is_none(),
            "least recently used goes first"
        );
        assert!(cache.get(&(0, 0, 0)).is_some());
        assert_eq!(cache.get(&(0, 3, 0)).unwrap().event(0).unwrap().len(), 1000);
    }
}
