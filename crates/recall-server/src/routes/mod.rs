//! HTTP handlers, one module per resource, and the helpers they share (JSON answers,
//! parameter parsing, query errors as problems).

pub mod access_review;
pub mod admin;
pub mod assessments;
pub mod events;
pub mod export;
pub mod facets;
pub mod fhir;
pub mod fhir_search;
pub mod holds;
pub mod integrity;
pub mod logs;
pub mod ops;
pub mod reading;
mod report_pdf;
pub mod reports;
pub mod reviews;
pub mod roster;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use recall_query::QueryError;
use serde_json::Value;

use crate::problem::Problem;
use crate::state::internal;

/// Any path no route matches: a 404 problem (never echoing the path).
pub async fn no_such_endpoint() -> Problem {
    Problem::not_found().detail("no such endpoint")
}

/// Parses an optional RFC 3339 parameter, naming it on error (the query layer's rule).
pub fn time_param(name: &'static str, value: Option<&str>) -> Result<Option<Timestamp>, Problem> {
    recall_query::time_param(name, value).map_err(query_problem)
}

/// Maps query-layer errors (bad cursors and filters name their parameter).
pub fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::BadCursor => Problem::bad_request(
            "cursor is not valid for this query (it must come from the same filters and order)",
        )
        .field("cursor"),
        QueryError::BadFilter { field, message } => Problem::bad_request(message).field(field),
        QueryError::Withheld { field } => Problem::forbidden()
            .detail(format!("{field} filters on a field this role does not see"))
            .field(field),
        other => internal(other),
    }
}

/// A JSON response from a value.
pub fn json_body(v: Value) -> Response {
    json_bytes(serde_json::to_vec(&v).unwrap_or_default())
}

/// A JSON response from bytes already encoded.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(bytes),
    )
        .into_response()
}
