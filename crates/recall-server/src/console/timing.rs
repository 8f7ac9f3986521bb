//! `Server-Timing` on every console response (W3C Server Timing): the time the server
//! spent on the request, so a browser's navigation timing (and the console benchmark)
//! can tell the server's share of a page load from the network's and the browser's.
//!
//! Invariant: the header carries a duration only — no names, values or filters that
//! could hold PHI.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// Name of the one metric: the whole request inside the server, handler to headers.
pub const METRIC: &str = "app";

/// Times the rest of the stack and adds `Server-Timing: app;dur=<ms>`. Pages are
/// rendered before the response is returned, so this covers the search, the lens, the
/// self-audit commit and the template; only sending the body is outside.
pub async fn server_timing(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut res = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if let Ok(v) = HeaderValue::from_str(&format!("{METRIC};dur={ms:.2}")) {
        res.headers_mut().append("server-timing", v);
    }
    res
}
