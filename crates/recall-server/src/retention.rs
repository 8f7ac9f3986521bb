//! The retention run (docs/design/retention.md): for each tenant, the months of events
//! past its retention period are recorded in the tenant's log, then their keys are
//! destroyed. The server runs it once a day; `recall retention run` runs it on demand.
//!
//! Record first, shred second: a run cut off in between has said what it was about to
//! do, and the next run finishes it (and records again) — never keys destroyed without a
//! record.

use std::time::Duration;

use jiff::Timestamp;
use recall_store::retention::Retention;
use serde_json::{Value, json};

use crate::state::AppState;

/// Longest delay of the first run after the server starts.
const FIRST_RUN: Duration = Duration::from_secs(60);

/// Who runs retention, for its record.
pub struct Runner<'a> {
    /// Actor id: `recall:retention` (the server) or `cli:<user>`.
    pub actor: &'a str,
    /// Actor type: `system` or `user`.
    pub kind: &'a str,
    /// `source.system`: `recall` or `recall-cli`.
    pub system: &'a str,
}

/// The event that records a retention run of `tenant` about to shred `epochs`.
pub fn record(
    runner: &Runner<'_>,
    retention: &Retention,
    tenant: &str,
    now: Timestamp,
    epochs: &[u32],
) -> Value {
    json!({
        "time": now.to_string(),
        "actor": {"id": runner.actor, "type": runner.kind},
        "action": "delete",
        "resource": {"type": "AuditEvent"},
        "purpose": "HSYSADMIN",
        "source": {"system": runner.system},
        "detail": {
            "retention": {
                "years": retention.years(tenant),
                "cutoff": retention.cutoff(tenant, now).to_string(),
                "shredded_epochs": epochs,
            }
        },
    })
}

/// The months of `tenant` past retention at `now` that no active hold keeps.
pub fn expired(
    db: &recall_query::Db,
    holds: Option<&crate::holds::Holds>,
    tenant: &str,
    retention: &Retention,
    now: Timestamp,
) -> Result<Vec<u32>, String> {
    let held = match holds {
        Some(h) => h.held_months(db, tenant).map_err(|e| e.to_string())?,
        None => Default::default(),
    };
    db.journal()
        .expired_epochs(tenant, retention, now, &|e| held.contains(&e))
        .map_err(|e| e.to_string())
}

/// Starts the server's periodic retention run (`server.retention_interval_secs`, daily by
/// default; the first a minute after start, or sooner with a shorter interval).
pub fn spawn_periodic(state: AppState) {
    let every = Duration::from_secs(state.cfg.retention_interval_secs);
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_RUN.min(every)).await;
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::error!(error = %e, "retention run failed; retried at the next one");
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// One retention run over every tenant; returns the epochs shredded per tenant.
pub async fn run_once(state: &AppState) -> Result<Vec<(String, Vec<u32>)>, String> {
    let journal = state.db.journal().clone();
    let tenants = {
        let j = journal.clone();
        tokio::task::spawn_blocking(move || j.store().tenants())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let runner = Runner {
        actor: "recall:retention",
        kind: "system",
        system: "recall",
    };
    let mut done = Vec::new();
    for tenant in tenants {
        let now = Timestamp::now();
        let (j, t, policy) = (journal.clone(), tenant.clone(), state.cfg.retention.clone());
        let expired =
            tokio::task::spawn_blocking(move || j.expired_epochs(&t, &policy, now, &|_| false))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        if expired.is_empty() {
            continue;
        }
        let event = record(&runner, &state.cfg.retention, &tenant, now, &expired);
        let bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
        let parsed = recall_model::parse_event(&bytes, now).map_err(|e| e.to_string())?;
        state
            .ingest
            .submit(&tenant, vec![parsed])
            .await
            .map_err(|e| e.to_string())?;
        let (j, t, e) = (journal.clone(), tenant.clone(), expired.clone());
        let shredded = tokio::task::spawn_blocking(move || j.shred(&t, &e))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tracing::info!(epochs = shredded.len(), "retention: epochs shredded");
        done.push((tenant, shredded));
    }
    Ok(done)
}
