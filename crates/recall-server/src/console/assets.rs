//! The console's static files, embedded in the binary (no CDN, works offline). htmx is
//! vendored minified (2.0.4, Zero-Clause BSD: `assets/htmx.LICENSE`).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "htmx.min.js",
        "text/javascript",
        include_bytes!("../../assets/htmx.min.js"),
    ),
    (
        "console.js",
        "text/javascript",
        include_bytes!("../../assets/console.js"),
    ),
    (
        "proof.js",
        "text/javascript",
        include_bytes!("../../assets/proof.js"),
    ),
    (
        "console.css",
        "text/css",
        include_bytes!("../../assets/console.css"),
    ),
];

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
