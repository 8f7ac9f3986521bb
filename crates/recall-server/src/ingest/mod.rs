//! Ingest: one writer thread per process sequences every append (group commit), an
//! indexer thread keeps the indexes behind it.
//!
//! Invariants:
//! - A submission is acknowledged only after its events are durable in the log; it is
//!   all or nothing: its events lie in one batch frame, written and synced at once.
//! - An event whose client `id` the tenant already holds is not appended again; its
//!   receipt is the original one (the index, plus the ids committed but not yet indexed).
//! - Admission is bounded by queued events: beyond capacity a submission is refused at
//!   once (the caller answers 503 with Retry-After), never dropped silently.
//! - A failed submission recorded nothing, unless its error is indeterminate
//!   ([`StorageError::is_indeterminate`]). While a tenant's client appends fail, its
//!   client submissions are refused without touching the disk and the pipeline is not
//!   writable (`/readyz`); a probe once a second finds out when space returns. recall's
//!   own records may use the store's reserve of space, so reads keep working.

mod body;
mod indexer;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use recall_ledger::Hash;
use recall_model::Event;
use recall_query::Db;
use recall_store::Reserve;
use tokio::sync::oneshot;

pub use body::{BodyError, parse_body};
pub use indexer::Progress;

/// What a client gets back for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The tenant whose log holds the event.
    pub tenant: String,
    /// Position in that log.
    pub seq: u64,
    /// RFC 9162 leaf hash of the event's entry.
    pub leaf_hash: Hash,
    /// True when the event's `id` was already in the log (nothing was appended).
    pub replayed: bool,
}

/// Why a submission was not appended.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The queue is full; try again after the given seconds.
    #[error("ingest queue full")]
    Overloaded {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// An event reuses a client id the tenant already holds (or an earlier event of the
    /// same request holds) with different content; nothing of the request was appended.
    #[error("event {index}: its id is already taken by an event with other content")]
    Conflict {
        /// The event's position in the request.
        index: usize,
    },
    /// The log or the index failed; nothing of the submission was appended, unless the
    /// failure [`StorageError::is_indeterminate`].
    #[error("storage failure: {0}")]
    Storage(Failure),
}

/// What failed underneath the writer, shared by every submission of a failed group.
pub type Failure = Arc<StorageError>;

/// The layer that failed under the writer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The log.
    #[error(transparent)]
    Store(#[from] recall_store::StoreError),
    /// The index (client-id lookups).
    #[error(transparent)]
    Query(#[from] recall_query::QueryError),
}

impl StorageError {
    /// A full disk (or quota): it passes once space returns.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_storage_full())
    }

    /// The submission's events may or may not be in the log (a failed write could not be
    /// undone): sending them again with their ids is safe, the log keeps them once.
    pub fn is_indeterminate(&self) -> bool {
        matches!(
            self,
            Self::Store(recall_store::StoreError::Indeterminate(_))
        )
    }
}

/// Wraps a layer's error as a shared [`Failure`].
pub(crate) fn failure(e: impl Into<StorageError>) -> Failure {
    Arc::new(e.into())
}

/// Tuning of the pipeline.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Events that may wait in the queue before submissions are refused.
    pub queue_events: usize,
    /// Events a group commit takes at most (more wait for the next group).
    pub group_events: usize,
    /// Largest interval between checkpoints while a log grows.
    pub checkpoint_interval: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_events: 200_000,
            group_events: 20_000,
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

struct Job {
    tenant: String,
    /// The credential appending the events (written into each: canonical-event.md).
    by: Arc<str>,
    events: Vec<Event>,
    /// Client events keep the store's reserve of space; recall's own records may use it.
    reserve: Reserve,
    reply: oneshot::Sender<Result<Vec<Receipt>, IngestError>>,
}

/// Handle to the writer and indexer threads.
pub struct Ingestor {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    progress: Arc<Progress>,
    /// False while some tenant's client appends fail (the writer's probe resets it).
    writable: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Ingestor {
    /// Starts the writer and indexer threads over `db`.
    pub fn start(db: Arc<Db>, cfg: IngestConfig) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(Progress::default());
        let (index_tx, index_rx) = mpsc::sync_channel(64);
        let indexer = {
            let (db, progress) = (db.clone(), progress.clone());
            std::thread::Builder::new()
                .name("recall-indexer".into())
                .spawn(move || indexer::run(&db, &progress, index_rx))?
        };
        let writable = Arc::new(AtomicBool::new(true));
        let writer = {
            let w = writer::Writer::new(
                db,
                progress.clone(),
                index_tx,
                queued.clone(),
                writable.clone(),
                cfg.clone(),
            );
            std::thread::Builder::new()
                .name("recall-writer".into())
                .spawn(move || w.run(rx))?
        };
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            queued,
            capacity: cfg.queue_events,
            progress,
            writable,
            threads: Mutex::new(vec![writer, indexer]),
        })
    }

    /// Appends a client's `events` to the tenant's log, appended by the caller's credential
    /// `by` (its subject); resolves once they are durable. The entry point of every
    /// ingest path: events a decoder mapped from another format (FHIR, ATNA) carry their
    /// original record in [`Event::origin`], committed with them.
    pub async fn submit(
        &self,
        tenant: &str,
        by: &str,
        events: Vec<Event>,
    ) -> Result<Vec<Receipt>, IngestError> {
        self.submit_as(tenant, by, events, Reserve::Keep).await
    }

    /// Appends recall's own record (the audit of a read, a governance act), appended by
    /// [`recall_model::APPENDED_BY_SERVER`], which may use the store's reserve of space;
    /// resolves once it is durable.
    pub async fn submit_record(
        &self,
        tenant: &str,
        events: Vec<Event>,
    ) -> Result<Vec<Receipt>, IngestError> {
        let by = recall_model::APPENDED_BY_SERVER;
        self.submit_as(tenant, by, events, Reserve::Use).await
    }

    async fn submit_as(
        &self,
        tenant: &str,
        by: &str,
        events: Vec<Event>,
        reserve: Reserve,
    ) -> Result<Vec<Receipt>, IngestError> {
        let n = events.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        // An oversized single submission is still taken when the queue is empty.
        if before > 0 && before + n > self.capacity {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            metrics::counter!("recall_ingest_refused_total").increment(1);
            return Err(IngestError::Overloaded { retry_after: 1 });
        }
        metrics::gauge!("recall_ingest_queue_events").set((before + n) as f64);
        let (reply, rx) = oneshot::channel();
        let job = Job {
            tenant: tenant.to_string(),
            by: Arc::from(by),
            events,
            reserve,
            reply,
        };
        let sent = match &*self.tx.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(IngestError::ShuttingDown);
        }
        rx.await.unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// Index progress, for readers that must see every acknowledged event.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Whether the store takes writes: false while a tenant's client appends fail or the
    /// index cannot be written (a full disk, most likely). Ingest goes on while only the
    /// index fails: the log is the truth, and the index catches up once it recovers.
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Acquire) && !self.progress.failing()
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Stops taking submissions, lets the writer finish what it took (durably, with a
    /// final checkpoint per log) and the indexer catch up, then joins both threads.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Ingestor {
    fn drop(&mut self) {
        self.shutdown();
    }
}
