//! The server's side of governance: the recorder through which governance workflows append
//! to the log while the server is its writer, the periodic retention run (the one run of
//! `recall_governance::retention`, daily by default), the outbox of records other
//! processes left (appended within [`OUTBOX_EVERY`]), and the start and stop of recording
//! in every tenant's log.

use std::time::Duration;

use jiff::Timestamp;
use recall_governance::retention::{RunOptions, Runner, TenantRun};
use recall_governance::{Act, GovernanceError, Recorder, Via, Who};
use recall_model::Event;

use crate::ingest::IngestError;
use crate::state::AppState;

/// How often the outbox is checked for records left by other processes.
pub const OUTBOX_EVERY: Duration = Duration::from_secs(2);

/// Longest delay of the first run after the server starts.
const FIRST_RUN: Duration = Duration::from_secs(60);

/// Records through the server's ingest pipeline (the log's one writer while it serves).
/// Blocks: call it from a blocking thread.
pub struct IngestRecorder {
    state: AppState,
    handle: tokio::runtime::Handle,
}

impl IngestRecorder {
    /// A recorder over the server's pipeline; `handle` is the server's runtime.
    pub fn new(state: AppState, handle: tokio::runtime::Handle) -> Self {
        IngestRecorder { state, handle }
    }
}

impl Recorder for IngestRecorder {
    fn record(&self, tenant: &str, event: Event) -> Result<(), GovernanceError> {
        let phi = recall_governance::phi_key_change(&event);
        let submitted = self
            .handle
            .block_on(self.state.ingest.submit_record(tenant, vec![event]));
        match submitted {
            Ok(_) => {
                // Every key change the server records passes here (its own and the CLI's
                // from the outbox): one counter to alert on, without identifiers.
                if let Some((change, role)) = phi {
                    metrics::counter!(
                        "recall_phi_key_changes_total",
                        "change" => change,
                        "role" => role.as_str()
                    )
                    .increment(1);
                }
                Ok(())
            }
            Err(IngestError::Overloaded { retry_after }) => {
                Err(GovernanceError::Busy { retry_after })
            }
            Err(e) => Err(GovernanceError::Recording(e.to_string())),
        }
    }
}

/// Runs a governance workflow off the async workers with a recorder over the pipeline.
pub async fn with_recorder<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&AppState, &IngestRecorder) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let recorder = IngestRecorder::new(state.clone(), tokio::runtime::Handle::current());
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state, &recorder)).await
}

/// Runs a governance workflow on behalf of `caller` (an HTTP request through `via`) off
/// the async workers: `f` gets the state and an actor whose records go through the
/// pipeline, and its failure is the answer.
pub async fn as_caller<T: Send + 'static>(
    state: &AppState,
    caller: &crate::auth::Principal,
    via: Via,
    f: impl FnOnce(&AppState, &recall_governance::workflows::Actor<'_>) -> Result<T, crate::Problem>
    + Send
    + 'static,
) -> Result<T, crate::Problem> {
    let who = crate::audit::who(caller);
    with_recorder(state, move |state, recorder| {
        let by = recall_governance::workflows::Actor {
            who: &who,
            via: &via,
            recorder,
        };
        f(state, &by)
    })
    .await
    .map_err(crate::state::internal)?
}

/// Starts the server's periodic retention run (`server.retention_interval_secs`, daily by
/// default; the first a minute after start, or sooner with a shorter interval).
pub fn spawn_periodic(state: AppState) {
    let every = Duration::from_secs(state.cfg.retention_interval_secs);
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_RUN.min(every)).await;
        loop {
            match run_at(&state, Timestamp::now()).await {
                Ok(done) => {
                    let epochs: usize = done.iter().map(|t| t.epochs.len()).sum();
                    let held: usize = done.iter().map(|t| t.held.len()).sum();
                    if epochs > 0 || held > 0 {
                        tracing::info!(epochs, held, "retention: epochs shredded");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention run failed; retried at the next one");
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// One retention run over every tenant as of `now`, recorded through the pipeline.
pub async fn run_at(state: &AppState, now: Timestamp) -> Result<Vec<TenantRun>, GovernanceError> {
    with_recorder(state, move |state, recorder| {
        let holds = state.holds.as_ref().ok_or_else(|| {
            GovernanceError::Recording("no legal holds database: retention refuses to run".into())
        })?;
        let runner = Runner {
            db: &state.db,
            holds,
            recorder,
            who: &Who::system("retention"),
            via: &Via::server("retention run"),
        };
        let opts = RunOptions {
            retention: &state.cfg.retention,
            only: None,
            dry_run: false,
            now,
        };
        recall_governance::retention::run(&runner, &opts)
    })
    .await
    .map_err(|e| GovernanceError::Recording(e.to_string()))?
}

/// Appends the records other processes left in the outbox (`recall keys create` while the
/// server runs), now and every [`OUTBOX_EVERY`].
pub fn spawn_outbox_drain(state: AppState) {
    let Some(dir) = state.cfg.data_dir.clone() else {
        return;
    };
    let path = dir.join(recall_governance::outbox::OUTBOX_FILE);
    tokio::spawn(async move {
        loop {
            if path.exists() {
                let p = path.clone();
                let drained = with_recorder(&state, move |_, recorder| {
                    recall_governance::outbox::Outbox::open(&p)?.drain(recorder)
                })
                .await;
                match drained {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(records = n, "outbox: records appended"),
                    Ok(Err(e)) => tracing::error!(error = %e, "outbox: append failed; retried"),
                    Err(e) => tracing::error!(error = %e, "outbox: drain panicked"),
                }
            }
            tokio::time::sleep(OUTBOX_EVERY).await;
        }
    });
}

/// Records in every tenant's log that recording started (DICOM 110134), and, when the
/// previous run left its marker, that it ended without a stop record. Returns the marker
/// [`stop_recording`] removes. `None` without a data directory.
pub async fn start_recording(
    state: &AppState,
) -> Result<Option<recall_governance::recording::Marker>, GovernanceError> {
    let Some(dir) = state.cfg.data_dir.clone() else {
        return Ok(None);
    };
    let (marker, previous) = recall_governance::recording::Marker::begin(&dir)
        .map_err(|e| GovernanceError::Recording(format!("server.running marker: {e}")))?;
    if previous.is_some() {
        tracing::warn!("the previous run ended without recording its stop (crash or kill)");
    }
    let act = Act::RecordingStarted {
        unclean_previous: previous,
    };
    record_in_every_log(state, act, "server start").await?;
    Ok(Some(marker))
}

/// Records in every tenant's log that recording stops (DICOM 110133), then removes the
/// marker: call it on a clean shutdown, before the writer is drained.
pub async fn stop_recording(
    state: &AppState,
    marker: Option<recall_governance::recording::Marker>,
) -> Result<(), GovernanceError> {
    let Some(marker) = marker else {
        return Ok(());
    };
    record_in_every_log(state, Act::RecordingStopped, "server stop").await?;
    marker
        .end()
        .map_err(|e| GovernanceError::Recording(format!("server.running marker: {e}")))
}

async fn record_in_every_log(
    state: &AppState,
    act: Act<'static>,
    task: &'static str,
) -> Result<(), GovernanceError> {
    with_recorder(state, move |state, recorder| {
        let tenants = state.db.journal().store().tenants()?;
        let by = recall_governance::workflows::Actor {
            who: &Who::system("server"),
            via: &Via::server(task),
            recorder,
        };
        recall_governance::workflows::record_everywhere(&tenants, &by, &act)
    })
    .await
    .map_err(|e| GovernanceError::Recording(e.to_string()))?
}
