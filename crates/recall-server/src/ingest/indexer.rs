//! The indexer thread, and how far it got per tenant (readers wait on it so that a search
//! sees every event acknowledged before it started).
//!
//! A failed index write (a full disk: fjall then poisons its keyspace) does not stop the
//! thread: it marks the index failing (`/readyz` is not ready meanwhile; ingest goes on,
//! the log is the truth), forgets the progress it published, keeps taking jobs (the log holds
//! them; catch-up indexes them) and, at most once per [`RETRY`], recovers the index
//! (`Db::recover`: reopen, catch up from the log) until that succeeds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use recall_model::Event;
use recall_query::Db;
use recall_store::{Location, SealedBatch};
use tokio::sync::Notify;

/// A committed batch to index.
pub(super) struct IndexJob {
    pub tenant: String,
    pub batch: SealedBatch,
    pub location: Location,
    pub events: Vec<Event>,
}

/// How often a failing index is recovered.
const RETRY: Duration = Duration::from_secs(1);
/// How long a recovery waits for searches still reading a poisoned index.
const RECOVER_WAIT: Duration = Duration::from_secs(5);

/// Events indexed per tenant (known once the indexer or a reader asked).
#[derive(Default)]
pub struct Progress {
    indexed: Mutex<HashMap<String, u64>>,
    changed: Notify,
    failing: AtomicBool,
}

impl Progress {
    /// Events of the tenant known to be indexed (0 if not yet known).
    pub fn get(&self, tenant: &str) -> u64 {
        self.lock().get(tenant).copied().unwrap_or(0)
    }

    fn set(&self, tenant: &str, size: u64) {
        let mut map = self.lock();
        let e = map.entry(tenant.to_string()).or_insert(0);
        *e = (*e).max(size);
        drop(map);
        self.changed.notify_waiters();
    }

    /// Whether the last index write failed and the index has not recovered yet.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// Marks the index failing and forgets what was published: until it recovers,
    /// readers ask the index itself how far it got.
    fn fail(&self) {
        self.failing.store(true, Ordering::Release);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.indexed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the tenant's index covers `size` events; false after `timeout`.
    pub async fn wait_for(&self, db: &Db, tenant: &str, size: u64, timeout: Duration) -> bool {
        if self.get(tenant) < size
            && let Ok(n) = db.indexed(tenant)
        {
            self.set(tenant, n);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.get(tenant) >= size {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.get(tenant) >= size;
            }
        }
    }
}

pub(super) fn run(db: &Db, progress: &Progress, rx: mpsc::Receiver<IndexJob>) {
    let mut next_try = Instant::now();
    loop {
        let job = if progress.failing() {
            match rx.recv_timeout(RETRY) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(job) => Some(job),
                Err(_) => break,
            }
        };
        if progress.failing() {
            if Instant::now() < next_try {
                // Dropped: catch-up indexes it from the log.
                continue;
            }
            next_try = Instant::now() + RETRY;
            match db.recover(RECOVER_WAIT) {
                Ok(n) => {
                    tracing::info!(events = n, "the index recovered and caught up");
                    progress.failing.store(false, Ordering::Release);
                    progress.changed.notify_waiters();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the index has not recovered yet");
                    continue;
                }
            }
        }
        let Some(job) = job else { continue };
        let end = job.batch.first_seq + job.events.len() as u64;
        match db.index_batch(&job.tenant, &job.batch, &job.location, &job.events) {
            Ok(()) => progress.set(&job.tenant, end),
            // The log is the truth: recovered from it above. Readers waiting for this
            // batch time out with 503 instead of seeing an incomplete answer.
            Err(e) => {
                tracing::error!(error = %e, "indexing a batch failed; recovering the index");
                progress.fail();
                next_try = Instant::now();
            }
        }
    }
}
