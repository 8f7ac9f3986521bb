//! Batch and transaction Bundles posted to `POST /fhir`: split into their entries'
//! resources, each as the exact bytes the sender wrote (so each keeps its original).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::DecodeError;

/// How a Bundle's entries are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// Each entry on its own: an entry that is refused does not stop the others.
    Batch,
    /// All or nothing.
    Transaction,
}

impl BundleKind {
    /// The Bundle `type` code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Transaction => "transaction",
        }
    }
}

/// A posted Bundle: its kind and each entry's resource bytes (`None`: no resource).
#[derive(Debug)]
pub struct Bundle<'a> {
    /// Batch or transaction.
    pub kind: BundleKind,
    /// The entries' resources, in order, as sent.
    pub entries: Vec<Option<&'a [u8]>>,
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow, default)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

/// Splits a batch or transaction Bundle.
pub fn split_bundle(bytes: &[u8]) -> Result<Bundle<'_>, DecodeError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::NotJson("the body is not UTF-8".into()))?;
    let raw: Raw<'_> = serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => DecodeError::NotBundle,
            _ => DecodeError::NotJson(format!("line {} column {}", e.line(), e.column())),
        }
    })?;
    if raw.resource_type.as_deref() != Some("Bundle") {
        return Err(DecodeError::NotBundle);
    }
    let kind = match raw.kind.as_deref() {
        Some("batch") => BundleKind::Batch,
        Some("transaction") => BundleKind::Transaction,
        _ => return Err(DecodeError::BundleType),
    };
    let entries = raw
        .entry
        .into_iter()
        .map(|e| e.resource.map(|r| r.get().as_bytes()))
        .collect();
    Ok(Bundle { kind, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_their_bytes() {
        let body = br#"{"resourceType":"Bundle","type":"batch","entry":[{"resource":{ "resourceType" : "AuditEvent" }},{"request":{}}]}"#;
        let b = split_bundle(body).unwrap();
        assert_eq!(b.kind, BundleKind::Batch);
        assert_eq!(
            b.entries[0],
            Some(&br#"{ "resourceType" : "AuditEvent" }"#[..])
        );
        assert_eq!(b.entries[1], None);
        let err = |b: &[u8]| split_bundle(b).unwrap_err();
        assert_eq!(
            err(br#"{"resourceType":"Bundle","type":"searchset"}"#),
            DecodeError::BundleType
        );
        assert_eq!(
            err(br#"{"resourceType":"AuditEvent"}"#),
            DecodeError::NotBundle
        );
        assert!(matches!(err(b"{"), DecodeError::NotJson(_)));
    }
}
