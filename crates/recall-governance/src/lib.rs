//! recall's governance: who may act (roles and API keys), what must be kept (legal
//! holds), when data is destroyed (the retention run), and the record of every such act
//! in the tenant's own log (recall's audit events about itself).
//!
//! This is domain logic, not "how recall is reached": the HTTP server and the CLI both
//! call the functions here, so no workflow exists twice (docs/design/governance.md).
//!
//! Invariants:
//! - A retention run reads the legal holds itself ([`retention::run`]); no caller can
//!   run one that skips them.
//! - Keys are destroyed only after the run's record is durable in the tenant's log.
//! - Every change to a key or a hold is recorded in the tenant's log; a change whose record
//!   could not be written is taken back.
//! - `auth.db`, `holds.db`, `assessments.db`, `integrity.db` and `outbox.db` hold no patient identifier: patients and actors
//!   appear only as keyed hashes.
//! - `sealed.db` holds only ciphertext (the rosters), under a per-tenant key in the
//!   keystore that retention never destroys; a roster import and an access review's
//!   sign-off are recorded in the tenant's log, the import with counts only.

#![forbid(unsafe_code)]

pub mod access_review;
pub mod assessment;
pub mod assessment_pdf;
mod assessment_view;
pub mod assessments;
pub mod credentials;
pub mod holds;
pub mod integrity;
pub mod operator;
pub mod outbox;
pub mod record;
pub mod recorder;
pub mod recording;
pub mod retention;
pub mod reviews;
pub mod roster;
pub mod sealed;
mod sealed_rows;
mod sqlite;
pub mod user_changes;
pub mod users;
mod users_secret;
pub mod workflows;

pub use assessment_view::{patients_csv, shown};
pub use assessments::{ASSESSMENTS_FILE, AssessmentError, Assessments, Books};
pub use credentials::{
    API_KEYS_FILE, ApiKeys, CredentialError, KeyInfo, MAX_LABEL_CHARS, PEPPER_SECRET, REFRESH,
    Role, check_label, patient_binding,
};
pub use holds::{HOLDS_FILE, Hold, HoldError, Holds, Scope};
pub use record::{
    Act, Change, Rotation, SessionAct, UseKind, UserChange, Via, Who, phi_key_change,
};
pub use recorder::{Direct, Recorder};

/// What went wrong in a governance workflow. Never carries an identifier or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GovernanceError {
    /// The credential store failed or refused.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The holds database failed or refused.
    #[error(transparent)]
    Holds(#[from] HoldError),
    /// The log failed.
    #[error(transparent)]
    Store(#[from] recall_store::StoreError),
    /// The index failed.
    #[error(transparent)]
    Query(#[from] recall_query::QueryError),
    /// The keystore failed.
    #[error(transparent)]
    Crypto(#[from] recall_crypto::CryptoError),
    /// recall built an event the event format refuses (a bug).
    #[error(transparent)]
    InvalidRecord(#[from] record::InvalidRecord),
    /// A roster file was refused; names the row and field.
    #[error(transparent)]
    Roster(#[from] roster::RowError),
    /// A sealed document could not be stored or opened.
    #[error(transparent)]
    Sealed(#[from] sealed::SealedError),
    /// A request that cannot be carried out as asked; names the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The outbox database failed.
    #[error("outbox database error: {0}")]
    Outbox(#[from] rusqlite::Error),
    /// The log's writer is too busy to take the record now; retry after this many seconds.
    #[error("the log is busy; retry in {retry_after} s")]
    Busy {
        /// Seconds.
        retry_after: u64,
    },
    /// The log's writer could not record (it is stopping, or failed).
    #[error("recording failed: {0}")]
    Recording(String),
    /// A break-glass review was refused (`reviews.rs`).
    #[error(transparent)]
    Review(#[from] reviews::ReviewError),
    /// A breach assessment could not be opened, changed or read.
    #[error(transparent)]
    Assessment(AssessmentError),
    /// The integrity verdicts could not be read or kept.
    #[error(transparent)]
    Integrity(#[from] integrity::IntegrityError),
    /// A console user could not be created, changed or read.
    #[error(transparent)]
    Users(#[from] users::UserError),
    /// A tenant without a log, where one is needed.
    #[error("this data directory has no tenant {0}")]
    UnknownTenant(String),
}
