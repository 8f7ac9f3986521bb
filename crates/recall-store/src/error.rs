//! Errors of the storage layer.

use std::path::PathBuf;

/// What went wrong in the store. Messages name files, offsets and sequence numbers, never
/// event contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system I/O error on a named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record in the middle of the log is damaged: never skipped.
    #[error("corrupt log: {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The log's segments do not form one unbroken sequence.
    #[error("broken log for tenant {tenant}: {reason}")]
    Broken {
        /// The tenant.
        tenant: String,
        /// What is wrong.
        reason: String,
    },
    /// The log is shorter than, or differs from, a checkpoint it already signed.
    #[error("tenant {tenant}: {reason}")]
    Rollback {
        /// The tenant.
        tenant: String,
        /// What is wrong.
        reason: String,
    },
    /// An earlier write or sync failed and its undo (cutting the file back) has not
    /// succeeded yet; the log refuses appends until it does (retried on each append).
    #[error(
        "tenant {0}: an earlier write failed and could not be undone yet; nothing was appended"
    )]
    Poisoned(String),
    /// A write or sync of a batch failed and undoing it failed too: the batch may or may
    /// not be in the log (recovery on the next open keeps it if its frame is complete).
    #[error(
        "tenant {0}: a write failed and could not be undone; the batch may or may not be in the log"
    )]
    Indeterminate(String),
    /// A batch does not continue the log.
    #[error("tenant {tenant}: batch starts at seq {got}, the log holds {expected} events")]
    OutOfOrder {
        /// The tenant.
        tenant: String,
        /// The batch's first seq.
        got: u64,
        /// The log size.
        expected: u64,
    },
    /// No such tenant log.
    #[error("no log for tenant {0}")]
    UnknownTenant(String),
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another recall process")]
    Locked(PathBuf),
    /// The data directory is missing or not a recall data directory.
    #[error("{0} is not a recall data directory (run `recall init`)")]
    NotInitialised(PathBuf),
    /// A requested range lies outside what the store holds.
    #[error("{0}")]
    OutOfRange(String),
    /// Stored data fails an internal check (a body block, a checkpoint, …).
    #[error("{0}")]
    Malformed(String),
    /// Injected by a [`crate::FaultPlan`] in tests.
    #[error("injected fault: {0}")]
    Injected(&'static str),
    /// A key or encryption failure.
    #[error(transparent)]
    Crypto(#[from] recall_crypto::CryptoError),
    /// A ledger (proof or note) failure.
    #[error(transparent)]
    Proof(#[from] recall_ledger::ProofError),
    /// A signed-note failure.
    #[error(transparent)]
    Note(#[from] recall_ledger::NoteError),
}

impl StoreError {
    /// Whether the error is a full disk or an exhausted quota: it passes once space
    /// returns (ingest answers 507 with Retry-After).
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            // The keystore (a new month's keys are made while a batch is prepared).
            Self::Crypto(c) => c.is_storage_full(),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Result alias of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
