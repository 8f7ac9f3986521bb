//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use recall_query::Db;

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::ingest::Ingestor;
use crate::problem::Problem;

/// How long a reader waits for the index to cover what was acknowledged before it asked.
pub const INDEX_WAIT: Duration = Duration::from_secs(10);

/// Shared state of the service (cheap to clone).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// Log, keys and indexes.
    pub db: Arc<Db>,
    /// The writer pipeline.
    pub ingest: Ingestor,
    /// Credential checks.
    pub auth: Arc<Authenticator>,
    /// Legal holds (`None` when the server has no data directory, as in some tests).
    pub holds: Option<Arc<recall_governance::Holds>>,
    /// Breach assessments (`None` without a data directory).
    pub assessments: Option<Arc<recall_governance::Assessments>>,
    /// Patients' states of residence, for the media-notice test.
    pub patient_states: Arc<dyn recall_governance::assessment::PatientStates>,
    /// Server settings.
    pub cfg: ServerConfig,
    /// Prometheus rendering, when metrics are installed.
    pub metrics: Option<PrometheusHandle>,
    /// False while starting or stopping.
    pub ready: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.0.auth.clone()
    }
}

impl AppState {
    /// Whether the service takes requests: started, not stopping, and the log takes
    /// client events (not while the disk is full).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.ingest.writable()
    }

    /// Waits until the tenant's index covers its whole log as of now, so an answer
    /// includes every event acknowledged before the request; returns that log size.
    pub async fn await_indexed(&self, tenant: &str) -> Result<u64, Problem> {
        let size = self.log_size(tenant)?;
        if self
            .ingest
            .progress()
            .wait_for(&self.db, tenant, size, INDEX_WAIT)
            .await
        {
            Ok(size)
        } else {
            Err(Problem::unavailable(2).detail("the index is catching up with the log"))
        }
    }

    /// Events in the tenant's log (0 when it has none).
    pub fn log_size(&self, tenant: &str) -> Result<u64, Problem> {
        match self.db.journal().store().size(tenant) {
            Ok(n) => Ok(n),
            Err(recall_store::StoreError::UnknownTenant(_)) => Ok(0),
            Err(e) => Err(internal(e)),
        }
    }
}

/// Logs an internal failure (no PHI: store and index errors name files and offsets) and
/// answers 500 without details.
pub fn internal(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "internal error");
    Problem::internal()
}

/// Runs blocking work (decryption, index scans) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}
