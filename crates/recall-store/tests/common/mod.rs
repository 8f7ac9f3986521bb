//! Shared helpers of the store's integration tests: synthetic events and a journal over
//! a temporary directory.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use jiff::Timestamp;
use recall_crypto::{Kek, Keystore};
use recall_ledger::Signer;
use recall_store::{EmbeddedOptions, EmbeddedStore, Journal};

/// A synthetic event in `month` of 2026, of varied size (so batches need several blocks).
pub fn event(i: u32, month: u32) -> recall_model::Event {
    let json = format!(
        r#"{{"time":"2026-{month:02}-03T10:00:{:02}Z","actor":{{"id":"u-{i}"}},"action":"read","patient":{{"id":"p-{}"}},"detail":{{"pad":"{}"}}}}"#,
        i % 60,
        i % 7,
        "x".repeat((i % 50) as usize * 20)
    );
    recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
}

/// A journal over a fresh keystore and store in `dir`.
pub fn journal(dir: &std::path::Path, opts: EmbeddedOptions) -> Journal {
    let keystore = Keystore::create(&dir.join("ks.db"), Kek::from_bytes([7; 32])).unwrap();
    let store = EmbeddedStore::open(&dir.join("tenants"), opts).unwrap();
    let signer = Signer::new("test", &[1; 32]).unwrap();
    Journal::new(Arc::new(store), Arc::new(keystore), signer, vec![], "test")
}

/// Appends to `tenant`'s log, at `first_seq`, the record a retention run writes before it
/// destroys keys (appended by `recall:cli`, `detail.retention`), as of now: verify holds
/// every keystore tombstone against such records. Returns the events appended (1).
pub fn record_retention(
    journal: &Journal,
    tenant: &str,
    first_seq: u64,
    record: &recall_store::retention::RetentionRecord,
) -> u64 {
    let now = Timestamp::now();
    let json = serde_json::json!({
        "time": now.to_string(),
        "actor": {"id": "recall:retention", "type": "system"},
        "action": "delete",
        "resource": {"type": "AuditEvent"},
        "source": {"system": "recall"},
        "outcome": "success",
        "detail": {"retention": record},
    });
    let e = recall_model::parse_event(json.to_string().as_bytes(), now).unwrap();
    let batch = journal
        .prepare(
            tenant,
            &[e],
            &[recall_model::APPENDED_BY_CLI],
            first_seq,
            now,
        )
        .unwrap();
    journal.commit(tenant, &batch).unwrap();
    1
}
