//! `/healthz`, `/readyz`, `/metrics`, and the request metrics/log middleware.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: indexes caught up, writer running, not shutting down.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// Prometheus text exposition (no identifiers in labels: routes are path templates).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response();
    };
    let store = state.db.journal().store();
    if let Ok(tenants) = store.tenants() {
        metrics::gauge!("recall_tenants").set(tenants.len() as f64);
        let total: u64 = tenants.iter().filter_map(|t| store.size(t).ok()).sum();
        metrics::gauge!("recall_log_events").set(total as f64);
    }
    metrics::gauge!("recall_ingest_queue_events").set(state.ingest.queued() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Records latency and status per route template and logs one line per request — the
/// method, the template and the status only: paths and queries can carry identifiers.
pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let secs = started.elapsed().as_secs_f64();
    let labels = [
        ("method", method.clone()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::histogram!("recall_http_request_seconds", &labels).record(secs);
    tracing::info!(method, route, status, ms = secs * 1e3, "request");
    response
}
