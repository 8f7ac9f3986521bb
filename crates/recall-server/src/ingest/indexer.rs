//! The indexer thread, and how far it got per tenant (readers wait on it so that a search
//! sees every event acknowledged before it started).

use std::collections::HashMap;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

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

/// Events indexed per tenant (known once the indexer or a reader asked).
#[derive(Default)]
pub struct Progress {
    indexed: Mutex<HashMap<String, u64>>,
    changed: Notify,
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
    while let Ok(job) = rx.recv() {
        let end = job.batch.first_seq + job.events.len() as u64;
        match db.index_batch(&job.tenant, &job.batch, &job.location, &job.events) {
            Ok(()) => progress.set(&job.tenant, end),
            // The log is the truth; the next open catches the index up. Readers waiting
            // for this batch time out with 503 instead of seeing an incomplete answer.
            Err(e) => tracing::error!(error = %e, "indexing a batch failed"),
        }
    }
}
