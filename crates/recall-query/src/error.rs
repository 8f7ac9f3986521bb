//! Errors of the query layer.

/// What went wrong in a query, a read or while indexing. Messages name query parameters,
/// tenants and sequence numbers, never identifiers or event contents (they may be PHI).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A cursor that is not one of ours, or was issued for other filters or another order.
    #[error("invalid cursor: it is malformed or was issued for a different query")]
    BadCursor,
    /// A query parameter is out of range or malformed.
    #[error("invalid query parameter `{field}`: {message}")]
    BadFilter {
        /// The query parameter, as the API names it (`limit`, `ip`, `outcome`, …).
        field: &'static str,
        /// What is wrong, without echoing the value.
        message: String,
    },
    /// A filter on a field the caller's lens withholds: refused before anything is read,
    /// so the answer never tells whether a value it may not see occurs.
    #[error("query parameter `{field}` filters on a field this role does not see")]
    Withheld {
        /// The query parameter.
        field: &'static str,
    },
    /// The log underneath failed.
    #[error(transparent)]
    Store(#[from] recall_store::StoreError),
    /// The fjall index failed.
    #[error("index: {0}")]
    Index(#[from] fjall::Error),
    /// The index directory (its generations and `CURRENT` file) could not be managed.
    #[error("index directory: {0}")]
    IndexDir(std::io::Error),
    /// A key could not be loaded from the keystore.
    #[error(transparent)]
    Crypto(#[from] recall_crypto::CryptoError),
    /// An index entry or a stored event does not have the expected shape; `reindex`
    /// rebuilds the index from the log.
    #[error("corrupt index or event: {0}")]
    Corrupt(String),
    /// Writing a report failed.
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
    /// Writing a CSV report failed.
    #[error("writing the CSV report: {0}")]
    Csv(#[from] csv::Error),
    /// Writing a PDF report failed.
    #[error(transparent)]
    Pdf(#[from] recall_pdf::PdfError),
}
