//! recall's HTTP service: ingest with group commit, search, reports, transparency,
//! authentication, metrics.
//!
//! Invariants:
//! - A 2xx to `POST /v1/events` means every event of the request is durable; a refusal
//!   means none of it was appended.
//! - A key or token is bound to one tenant; every handler checks the role and tenant
//!   before touching data.
//! - Every search, event read and report is itself recorded in the caller's log before
//!   the answer leaves.
//! - Logs and metric labels carry route templates, statuses and timings — never paths,
//!   queries or bodies, which can hold PHI.

#![forbid(unsafe_code)]
// `Problem` (136 bytes) is the error of every handler and only travels the error path,
// where boxing it would cost an allocation and buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod console;
pub mod forward;
pub mod governance;
pub mod ingest;
pub mod integrity;
pub mod listen;
pub mod openapi;
pub mod openapi_assessments;
mod openapi_export;
mod openapi_facets;
mod openapi_fhir;
mod openapi_integrity;
mod openapi_reviews;
pub mod problem;
pub mod routes;
pub mod state;
pub mod syslog;
pub mod telemetry;

pub use auth::{Authenticator, Principal, Role};
pub use config::ServerConfig;
pub use problem::Problem;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use recall_query::Db;

use crate::ingest::{IngestConfig, Ingestor};
use crate::state::{AppState, Inner};

/// Builds the state: starts the writer and indexer over `db`.
pub fn state(
    db: Arc<Db>,
    auth: Authenticator,
    cfg: ServerConfig,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> std::io::Result<AppState> {
    let ingest = Ingestor::start(
        db.clone(),
        IngestConfig {
            queue_events: cfg.queue_events,
            ..IngestConfig::default()
        },
    )?;
    let holds = match &cfg.data_dir {
        Some(dir) => Some(Arc::new(
            recall_governance::Holds::open(&dir.join(recall_governance::HOLDS_FILE))
                .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    // States of residence from the patient roster; without a data directory, unknown.
    let patient_states: Arc<dyn recall_governance::assessment::PatientStates> = match &cfg.data_dir
    {
        Some(dir) => Arc::new(recall_governance::roster::RosterStates::new(
            db.clone(),
            dir.join(recall_governance::sealed::SEALED_FILE),
        )),
        None => Arc::new(recall_governance::assessment::NoRoster),
    };
    let assessments = match &cfg.data_dir {
        Some(dir) => Some(Arc::new(
            recall_governance::Assessments::open(&dir.join(recall_governance::ASSESSMENTS_FILE))
                .map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    Ok(AppState(Arc::new(Inner {
        db,
        ingest,
        holds,
        assessments,
        patient_states,
        auth: Arc::new(auth),
        cfg,
        metrics,
        ready: AtomicBool::new(true),
    })))
}

/// The router of the whole API.
pub fn app(state: AppState) -> Router {
    use routes::{admin, assessments, events, holds, logs, ops, reports};
    let api = Router::new()
        .route(
            "/v1/events",
            post(events::post_events).get(events::search_events),
        )
        .route("/v1/events/{tenant}/{seq}", get(events::get_event))
        .route("/v1/events/facets", get(routes::facets::facets))
        .route("/v1/export", get(routes::export::export))
        .route("/v1/reports/patient-access", get(reports::patient_access))
        .route("/v1/reports/actor-activity", get(reports::actor_activity))
        .route("/v1/logs/{tenant}/checkpoint", get(logs::checkpoint))
        .route("/v1/logs/{tenant}/tile/{*path}", get(logs::tile))
        .route(
            "/v1/logs/{tenant}/proof/consistency",
            get(logs::consistency),
        )
        .route(
            "/v1/logs/{tenant}/proof/inclusion",
            get(logs::inclusion_route),
        )
        .route(
            "/v1/admin/keys",
            get(admin::list_keys).post(admin::create_key),
        )
        .route("/v1/admin/keys/{id}", delete(admin::revoke_key))
        .route("/v1/admin/settings", get(admin::settings))
        .route("/v1/holds", get(holds::list_holds).post(holds::create_hold))
        .route("/v1/holds/{id}", delete(holds::release_hold))
        .route("/v1/reviews/break-glass", get(routes::reviews::list))
        .route(
            "/v1/reviews/break-glass/{seq}",
            get(routes::reviews::item).post(routes::reviews::review),
        )
        .route("/v1/roster", put(routes::roster::put_workforce))
        .route("/v1/roster/patients", put(routes::roster::put_patients))
        .route(
            "/v1/reports/access-review",
            get(routes::access_review::access_review),
        )
        .route(
            "/v1/reports/access-review/signoff",
            post(routes::access_review::signoff),
        )
        .route(
            "/v1/assessments",
            get(assessments::list).post(assessments::open),
        )
        .route(
            "/v1/assessments/{id}",
            get(assessments::get_one).patch(assessments::update),
        )
        .route("/v1/assessments/{id}/patients", get(assessments::patients))
        .route("/v1/integrity", get(routes::integrity::status))
        .route("/v1/integrity/verify", post(routes::integrity::verify))
        .route(
            "/v1/integrity/{tenant}/acknowledge",
            post(routes::integrity::acknowledge),
        )
        .route("/fhir", post(routes::fhir::bundle))
        .route(
            "/fhir/AuditEvent",
            post(routes::fhir::create).get(routes::fhir_search::search_audit_events),
        )
        .route("/fhir/AuditEvent/{id}", get(routes::fhir::read))
        .route("/fhir/metadata", get(routes::fhir::metadata))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(openapi::router())
        .merge(console::router(state.clone()))
        .fallback(routes::no_such_endpoint);
    let timeout = Duration::from_secs(state.cfg.request_timeout_secs.max(1));
    // Outermost last: timed-out requests still get a problem body and are observed.
    api.layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::map_response(problem::errors_as_problems))
        .layer(axum::middleware::from_fn(ops::observe))
        .with_state(state)
}
