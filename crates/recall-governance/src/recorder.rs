//! Where recall's own events go: the [`Recorder`] every workflow of this crate writes
//! through. The server records through its ingest pipeline (the one writer of the log
//! while it runs); the CLI, holding the data directory itself, through [`Direct`].

use jiff::Timestamp;
use recall_model::Event;
use recall_query::Db;

use crate::GovernanceError;

/// Appends one of recall's own events to a tenant's log, durably, before returning.
pub trait Recorder {
    /// Appends `event` to `tenant`'s log (creating the log if it has none).
    fn record(&self, tenant: &str, event: Event) -> Result<(), GovernanceError>;
}

/// Records by appending to the journal directly, then checkpointing and indexing: for a
/// process that holds the data directory (the CLI).
pub struct Direct<'a> {
    db: &'a Db,
}

impl<'a> Direct<'a> {
    /// A recorder over `db` (whose journal this process holds).
    pub fn new(db: &'a Db) -> Self {
        Direct { db }
    }
}

impl Recorder for Direct<'_> {
    fn record(&self, tenant: &str, event: Event) -> Result<(), GovernanceError> {
        if let Some(id) = &event.id
            && self.db.lookup_id(tenant, id)?.is_some()
        {
            return Ok(()); // already recorded (a retried outbox entry)
        }
        let journal = self.db.journal();
        journal.open_tenant(tenant)?;
        let events = vec![event];
        let size = journal.store().size(tenant)?;
        let by = [recall_model::APPENDED_BY_CLI];
        let batch = journal.prepare(tenant, &events, &by, size, Timestamp::now())?;
        let committed = journal.commit(tenant, &batch)?;
        journal.checkpoint(tenant)?;
        self.db
            .index_batch(tenant, &batch, &committed.location, &events)?;
        Ok(())
    }
}
