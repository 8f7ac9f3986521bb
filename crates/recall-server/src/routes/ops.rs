//! `/healthz`, `/readyz`, `/metrics`, and the request metrics/log middleware.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
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
/// Store sizes are refreshed on each scrape: events per log summed over tenants, and the
/// data directory's bytes.
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
    let buffers = state.db.index_buffers();
    metrics::gauge!("recall_index_write_buffer_bytes").set(buffers.write_buffer_bytes as f64);
    metrics::gauge!("recall_index_sealed_memtables").set(buffers.sealed_memtables as f64);
    crate::routes::reviews::set_gauges(&state).await;
    crate::integrity::set_gauges(&state).await;
    if let Some(dir) = state.cfg.data_dir.clone() {
        // A walk of the directory: blocking I/O, off the async workers.
        if let Ok(bytes) = tokio::task::spawn_blocking(move || tree_bytes(&dir)).await {
            metrics::gauge!("recall_store_bytes").set(bytes as f64);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Bytes of the files under `dir` (logs, indexes, keys: the store, all included);
/// unreadable entries count as empty.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The methods the API knows; any other is answered 405 here, before routing, and never
/// becomes a label or a log field (a method is client-chosen text of any length).
const KNOWN_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// The longest request target (path and query) served; a longer one is answered 414 here,
/// as a problem, before any handler reads it. Well below hyper's own limit (65,534
/// bytes, answered 414 without a body) so that every URI too long for the API gets the
/// problem; the longest legitimate target (a search with every filter and a cursor)
/// is a few hundred bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

fn target_len(uri: &axum::http::Uri) -> usize {
    uri.scheme_str().map_or(0, str::len)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len())
}

/// Records latency and status per route template and logs one line per request — the
/// method (from a closed set), the template and the status only: paths and queries can
/// carry identifiers. Unknown methods (405) and over-long URIs (414) are answered here.
pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let Some(known) = KNOWN_METHODS.iter().find(|m| *m == req.method()) else {
        metrics::counter!("recall_http_unknown_methods_total").increment(1);
        let problem =
            crate::problem::Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .detail("unknown HTTP method");
        return problem.into_response();
    };
    let method = known.as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = if target_len(req.uri()) > MAX_URI_BYTES {
        crate::problem::Problem::uri_too_long(MAX_URI_BYTES).into_response()
    } else {
        next.run(req).await
    };
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
