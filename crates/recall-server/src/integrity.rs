//! The server's scheduled integrity verification (`[integrity]`): every
//! `verify_interval_hours` (the first run shortly after start) each tenant's log is
//! verified by `recall_governance::integrity`, the same verification as `recall verify`,
//! and the verdict kept in `integrity.db`. Also the gauges `/metrics` shows of it.
//!
//! Invariants:
//! - One verification at a time in this process (scheduled or asked for), one tenant at a
//!   time, body checks on one thread, off the async workers: ingest keeps its cores.
//! - Gauges carry no tenant names (they can identify a customer): counts and an age only.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use recall_governance::GovernanceError;
use recall_governance::integrity::{INTEGRITY_FILE, Verdict, Verdicts, verify_tenant};

use crate::state::AppState;

/// The interval without `[integrity]`: daily.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(86_400);

/// `[integrity]` of `recall.toml`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    /// Hours between verifications of every tenant (fractions allowed).
    pub verify_interval_hours: f64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            verify_interval_hours: DEFAULT_INTERVAL.as_secs_f64() / 3600.0,
        }
    }
}

impl IntegrityConfig {
    /// The interval, checked: at least a second, at most a year.
    pub fn interval(&self) -> Result<Duration, String> {
        let secs = self.verify_interval_hours * 3600.0;
        if !secs.is_finite() || !(1.0..=366.0 * 86_400.0).contains(&secs) {
            return Err("integrity.verify_interval_hours: must be 1 s to 366 days".into());
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

/// Longest delay of the first run after the server starts.
const FIRST_RUN: Duration = Duration::from_secs(30);

/// Threads that check bodies during a run.
const WORKERS: usize = 1;

/// Serialises runs: a scheduled one and one asked for never overlap.
static RUNNING: Mutex<()> = Mutex::new(());

/// When this process started scheduling: a tenant never verified counts from then.
static SINCE: OnceLock<Timestamp> = OnceLock::new();

/// The server's verdicts; `None` without a data directory.
pub fn verdicts(state: &AppState) -> Result<Option<Verdicts>, GovernanceError> {
    match &state.cfg.data_dir {
        Some(dir) => Ok(Some(Verdicts::open(&dir.join(INTEGRITY_FILE))?)),
        None => Ok(None),
    }
}

/// Verifies `tenants` one after the other, each verdict stored as it comes. Blocks: call
/// it from a blocking thread.
pub fn verify_now(state: &AppState, tenants: &[String]) -> Result<Vec<Verdict>, GovernanceError> {
    let Some(verdicts) = verdicts(state)? else {
        return Ok(Vec::new());
    };
    let _one_at_a_time = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let v = verify_tenant(state.db.journal(), &verdicts, tenant, WORKERS)?;
        let result = v.result.as_str();
        metrics::counter!("recall_integrity_verifications_total", "result" => result).increment(1);
        if result != "ok" {
            // No tenant name or failure text in the log line: the API shows them.
            tracing::error!(result, "integrity verification did not pass");
        }
        out.push(v);
    }
    Ok(out)
}

/// Starts the scheduled verification of every tenant.
pub fn spawn_scheduled(state: AppState) {
    let every = state.cfg.verify_interval.max(Duration::from_secs(1));
    SINCE.get_or_init(Timestamp::now);
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_RUN.min(every)).await;
        loop {
            let s = state.clone();
            let ran = tokio::task::spawn_blocking(move || {
                let tenants = s.db.journal().store().tenants()?;
                verify_now(&s, &tenants)
            })
            .await;
            match ran {
                Ok(Ok(done)) => tracing::info!(tenants = done.len(), "integrity verified"),
                Ok(Err(e)) => tracing::error!(error = %e, "integrity run failed; retried later"),
                Err(e) => tracing::error!(error = %e, "integrity run panicked"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Sets the integrity gauges from the verdicts (at each scrape).
pub async fn set_gauges(state: &AppState) {
    let s = state.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<_, GovernanceError> {
        let Some(v) = verdicts(&s)? else {
            return Ok(None);
        };
        Ok(Some((v.summary()?, s.db.journal().store().tenants()?)))
    })
    .await;
    let Ok(Ok(Some((summary, tenants)))) = read else {
        return;
    };
    metrics::gauge!("recall_integrity_tenants_failing").set(summary.failing as f64);
    metrics::gauge!("recall_integrity_unacknowledged_failures").set(summary.unacknowledged as f64);
    // The oldest "last verification" over every tenant; one never verified counts from
    // the start of scheduling, so a stuck or missing run shows as a growing age.
    let since = SINCE.get().copied().unwrap_or_else(Timestamp::now);
    let oldest = tenants
        .iter()
        .map(|t| {
            summary
                .latest
                .iter()
                .find(|(name, _)| name == t)
                .map_or(since, |(_, at)| *at)
        })
        .min();
    let age = oldest.map_or(0.0, |t| {
        Timestamp::now().duration_since(t).as_secs_f64().max(0.0)
    });
    metrics::gauge!("recall_integrity_oldest_verification_age_seconds").set(age);
}
