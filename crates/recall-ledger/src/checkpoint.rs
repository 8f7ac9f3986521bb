//! C2SP tlog-checkpoint bodies.

use crate::Hash;

/// A checkpoint body: origin, tree size, root hash, optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique origin line, e.g. `recall.example.org/ab12cd34/st-marys`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash at `size`.
    pub root: Hash,
    /// Extension lines (kept, not interpreted).
    pub extensions: Vec<String>,
}

/// A malformed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// TODO(helper): variants.
    #[error("placeholder")]
    Placeholder,
}

impl Checkpoint {
    /// The body text: `origin\nsize\nbase64(root)\n` then each extension line.
    pub fn to_body(&self) -> String {
        todo!()
    }

    /// Parses a body (the text of a signed note).
    pub fn parse_body(_text: &str) -> Result<Self, CheckpointError> {
        todo!()
    }
}
