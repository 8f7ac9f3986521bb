//! A bounded LRU cache of decrypted body blocks.
//!
//! Consecutive search hits often share a block (session locality: one user reads many
//! resources of one chart in a row), and opening a block costs a read, AES-GCM and zstd.
//! A cached block also keeps the [`View`] of each event once read (as offsets into its
//! plaintext): reading the fields of an event costs about as much as the rest of a hit
//! together, and hot blocks are read again and again.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use jiff::Timestamp;
use recall_model::{Outcome, View, view_canonical};

use crate::keys::Run;

/// Which block: `(tenant number, first seq of its batch, index in the batch)`.
pub type BlockKey = (u32, u64, u16);

/// A decrypted block: its plaintext, the span of each event in block order, and each
/// event's view once read.
#[derive(Debug)]
pub struct Block {
    plain: Bytes,
    /// Bytes the plaintext's allocation holds (its capacity, which `Bytes` keeps).
    held: usize,
    spans: Vec<(usize, usize)>,
    /// `Some(None)`: the fast view does not take the event (escapes); parse it whole.
    views: Box<[OnceLock<Option<Slots>>]>,
}

impl Block {
    /// Splits a block's plaintext; `None` if it does not split into events.
    pub fn new(plain: Vec<u8>) -> Option<Block> {
        let base = plain.as_ptr() as usize;
        let spans: Vec<(usize, usize)> = recall_store::split_block(&plain)?
            .iter()
            .map(|e| (e.as_ptr() as usize - base, e.len()))
            .collect();
        let views = spans.iter().map(|_| OnceLock::new()).collect();
        Some(Block {
            held: plain.capacity(),
            plain: Bytes::from(plain),
            spans,
            views,
        })
    }

    /// Canonical bytes of the `k`-th event of the block.
    pub fn event(&self, k: usize) -> Option<&[u8]> {
        let &(at, len) = self.spans.get(k)?;
        self.plain.get(at..at + len)
    }

    /// [`Block::event`] sharing the block's memory instead of copying it.
    pub fn shared(&self, k: usize) -> Option<Bytes> {
        let &(at, len) = self.spans.get(k)?;
        (at + len <= self.plain.len()).then(|| self.plain.slice(at..at + len))
    }

    /// The view of the `k`-th event (read once, then kept); `None` if there is no such
    /// event or the fast view does not take it.
    pub fn view(&self, k: usize) -> Option<View<'_>> {
        let bytes = self.event(k)?;
        self.views[k]
            .get_or_init(|| view_canonical(bytes).and_then(|v| Slots::of(&v, bytes)))
            .as_ref()
            .map(|s| s.view(bytes))
    }

    /// Bytes this block keeps allocated while cached: its plaintext's whole allocation
    /// (not the bytes in use), spans, views, and the block and cache entry themselves.
    fn cost(&self) -> usize {
        self.held
            + self.spans.capacity() * size_of::<(usize, usize)>()
            + self.views.len() * size_of::<OnceLock<Option<Slots>>>()
            + size_of::<Block>()
            + ENTRY_COST
    }
}

/// What a cached block costs beside its own allocations: the `Arc`'s counts, the shared
/// header `Bytes` adds to a vector, its map and LRU entries (rounded up).
const ENTRY_COST: usize = 128;

/// A byte range of an event's canonical bytes (within the block's 32 KiB).
#[derive(Debug, Clone, Copy)]
struct Span(u32, u32);

impl Span {
    /// Where `part` (a slice of `whole`) lies; `None` for text that is not a slice of it
    /// (text the view had to unescape).
    fn of(part: &[u8], whole: &[u8]) -> Option<Span> {
        let at = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        (at + part.len() <= whole.len()).then_some(Span(
            u32::try_from(at).ok()?,
            u32::try_from(part.len()).ok()?,
        ))
    }

    fn bytes<'b>(&self, whole: &'b [u8]) -> Cow<'b, [u8]> {
        Cow::Borrowed(&whole[self.0 as usize..(self.0 + self.1) as usize])
    }
}

/// A [`View`] kept as offsets into the event's bytes.
#[derive(Debug, Clone)]
struct Slots {
    seq: u64,
    time: Timestamp,
    received: Timestamp,
    outcome: Outcome,
    ip: Option<IpAddr>,
    actor: Span,
    action: Span,
    patient: Option<Span>,
    purpose: Option<Span>,
    system: Option<Span>,
}

impl Slots {
    fn of(v: &View<'_>, bytes: &[u8]) -> Option<Slots> {
        let opt = |s: &Option<Cow<'_, [u8]>>| match s {
            None => Some(None),
            Some(s) => Span::of(s, bytes).map(Some),
        };
        Some(Slots {
            seq: v.seq,
            time: v.time,
            received: v.received,
            outcome: v.outcome,
            ip: v.ip,
            actor: Span::of(&v.actor, bytes)?,
            action: Span::of(&v.action, bytes)?,
            patient: opt(&v.patient)?,
            purpose: opt(&v.purpose)?,
            system: opt(&v.system)?,
        })
    }

    fn view<'b>(&self, bytes: &'b [u8]) -> View<'b> {
        View {
            seq: self.seq,
            time: self.time,
            received: self.received,
            actor: self.actor.bytes(bytes),
            action: self.action.bytes(bytes),
            patient: self.patient.map(|s| s.bytes(bytes)),
            outcome: self.outcome,
            purpose: self.purpose.map(|s| s.bytes(bytes)),
            system: self.system.map(|s| s.bytes(bytes)),
            ip: self.ip,
        }
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

/// Block-table entries read lately: `(tno, first seq of the run) → run`. A hit whose run
/// is here skips the block table (a fjall range read, ~10% of a heavy page's CPU). An
/// entry found here is only a guess — the nearest run starting at or before the seq,
/// whose successor may be missing — so a reader takes the event it leads to only if that
/// event carries the seq asked for.
pub struct RunCache {
    runs: Mutex<BTreeMap<(u32, u64), Arc<Run>>>,
    capacity: usize,
}

impl RunCache {
    /// A cache of at most `capacity` runs (all are forgotten when it is full: runs are
    /// cheap to read again, and a page's runs are read again at once).
    pub fn new(capacity: usize) -> Self {
        RunCache {
            runs: Mutex::default(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(u32, u64), Arc<Run>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached run of tenant `no` starting nearest at or before `seq`.
    pub fn guess(&self, no: u32, seq: u64) -> Option<(u64, Arc<Run>)> {
        let runs = self.lock();
        let (&(n, start), run) = runs.range(..=(no, seq)).next_back()?;
        (n == no).then(|| (start, run.clone()))
    }

    /// Remembers a run read from the block table.
    pub fn put(&self, no: u32, start: u64, run: Arc<Run>) {
        let mut runs = self.lock();
        if runs.len() >= self.capacity {
            runs.clear();
        }
        runs.insert((no, start), run);
    }

    /// Forgets everything (after a reindex).
    pub fn clear(&self) {
        self.lock().clear();
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

    fn stored(json: &str, seq: u64) -> Vec<u8> {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let event = recall_model::parse_event(json.as_bytes(), now).unwrap();
        recall_model::canonical(&recall_model::Recorded {
            event,
            tenant: "t".into(),
            seq,
            received: now,
            appended_by: Some("key:k".into()),
        })
    }

    #[test]
    fn a_kept_view_is_the_view_of_the_bytes() {
        let events = [
            stored(
                r#"{"time":"2025-12-01T10:00:00Z","actor":{"id":"u-1"},"action":"read","patient":{"id":"MRN-1"},"purpose":"TREAT","source":{"ip":"10.0.0.7","system":"ehr"}}"#,
                7,
            ),
            stored(
                r#"{"time":"2025-12-01T10:00:00Z","actor":{"id":"u-2","name":"A \"B\""},"action":"login","outcome":"denied"}"#,
                8,
            ),
            stored(
                r#"{"time":"2025-12-01T10:00:01Z","actor":{"id":"u-3"},"action":"read"}"#,
                9,
            ),
        ];
        let mut plain = Vec::new();
        for e in &events {
            plain.extend_from_slice(&(e.len() as u32).to_le_bytes());
            plain.extend_from_slice(e);
        }
        let block = Block::new(plain).unwrap();
        for _ in 0..2 {
            for (k, e) in events.iter().enumerate() {
                assert_eq!(block.view(k), view_canonical(e), "event {k}");
                assert_eq!(block.shared(k).unwrap(), e.as_slice());
            }
        }
        assert!(
            block.view(1).is_none(),
            "escapes are left to the whole parse"
        );
        assert!(block.view(3).is_none() && block.shared(3).is_none());
    }

    #[test]
    fn a_run_guess_is_the_nearest_run_at_or_before_the_seq_of_that_tenant() {
        let run = |pos: u32| {
            Arc::new(Run {
                epoch: 1,
                batch_first: 0,
                index: 0,
                pos,
                offset: 0,
                len: 1,
                file: "f".into(),
            })
        };
        let runs = RunCache::new(3);
        runs.put(1, 100, run(0));
        runs.put(1, 200, run(1));
        runs.put(2, 50, run(2));
        assert_eq!(runs.guess(1, 150).map(|(s, r)| (s, r.pos)), Some((100, 0)));
        assert_eq!(runs.guess(1, 200).map(|(s, r)| (s, r.pos)), Some((200, 1)));
        assert!(runs.guess(1, 99).is_none(), "no run of tenant 1 before 100");
        assert!(runs.guess(2, 49).is_none());
        assert!(
            runs.guess(3, 10).is_none(),
            "another tenant's runs are not guesses"
        );
        runs.put(3, 10, run(3));
        assert!(runs.guess(1, 150).is_none(), "full: forgotten");
        assert_eq!(runs.guess(3, 11).map(|(s, _)| s), Some(10));
    }

    /// One small event in an allocation of `capacity` bytes, as a decompressor that
    /// reserved more than it wrote hands it over.
    fn roomy_block(capacity: usize) -> Arc<Block> {
        let mut plain = Vec::with_capacity(capacity);
        plain.extend_from_slice(&100u32.to_le_bytes());
        plain.extend(std::iter::repeat_n(b'x', 100));
        Arc::new(Block::new(plain).unwrap())
    }

    #[test]
    fn a_block_costs_its_whole_allocation_not_the_bytes_in_use() {
        let block = roomy_block(160 << 10);
        assert_eq!(block.event(0).unwrap().len(), 100);
        assert!(block.cost() >= 160 << 10, "cost {}", block.cost());
    }

    #[test]
    fn the_budget_bounds_the_memory_blocks_hold() {
        let cache = BlockCache::new(1 << 20);
        for i in 0..100 {
            cache.put((0, i, 0), roomy_block(160 << 10));
        }
        let kept = (0..100)
            .filter(|&i| cache.get(&(0, i, 0)).is_some())
            .count();
        assert!(
            (1..=6).contains(&kept),
            "{kept} blocks of 160 KiB kept in 1 MiB"
        );
    }

    #[test]
    fn evicts_least_recently_used_beyond_budget() {
        let cache = BlockCache::new(3 * block(1000).cost());
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
