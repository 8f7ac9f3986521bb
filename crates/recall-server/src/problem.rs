//! RFC 9457 problem details: every error response of the HTTP API.
//!
//! A [`Problem`] never carries request contents: details name fields and limits, never the
//! values that failed (they may be PHI or credentials).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of problem responses.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem: status, title, optional detail, and the field (and batch index)
/// at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` (the title is the status's phrase).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status.
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault (a JSON path such as `actor.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The position (0-based) in a batch of the item at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

fn status_code<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    /// A problem with `status` and `title`.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        Self {
            type_uri: "about:blank".into(),
            title: title.into(),
            status,
            detail: None,
            field: None,
            index: None,
            retry_after: None,
        }
    }

    /// A problem whose title is the status's canonical phrase.
    fn from_status(status: StatusCode) -> Self {
        Self::new(status, status.canonical_reason().unwrap_or("Error"))
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the batch index at fault.
    pub fn index(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    /// Sets `Retry-After` (seconds).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 Bad Request with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::from_status(StatusCode::BAD_REQUEST).detail(detail)
    }

    /// 401 Unauthorized (the response carries `WWW-Authenticate: Bearer`).
    pub fn unauthorized() -> Self {
        Self::from_status(StatusCode::UNAUTHORIZED)
    }

    /// 403 Forbidden.
    pub fn forbidden() -> Self {
        Self::from_status(StatusCode::FORBIDDEN)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        Self::from_status(StatusCode::NOT_FOUND)
    }

    /// 413 Content Too Large, naming the limit in bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large").detail(format!(
            "the request body exceeds the limit of {limit} bytes"
        ))
    }

    /// 414 URI Too Long, naming the limit in bytes (never quoting the URI).
    pub fn uri_too_long(limit: usize) -> Self {
        Self::from_status(StatusCode::URI_TOO_LONG).detail(format!(
            "the request target exceeds the limit of {limit} bytes"
        ))
    }

    /// 503 Service Unavailable with `Retry-After`.
    pub fn unavailable(retry_after: u64) -> Self {
        Self::from_status(StatusCode::SERVICE_UNAVAILABLE).retry_after(retry_after)
    }

    /// 507 Insufficient Storage with `Retry-After`: the server cannot store the request
    /// now (a full disk); a retry may succeed once space returns.
    pub fn insufficient_storage(retry_after: u64) -> Self {
        Self::from_status(StatusCode::INSUFFICIENT_STORAGE).retry_after(retry_after)
    }

    /// 429 Too Many Requests with `Retry-After`.
    pub fn too_many(retry_after: u64) -> Self {
        Self::from_status(StatusCode::TOO_MANY_REQUESTS).retry_after(retry_after)
    }

    /// 408 Request Timeout: a slow client, or an answer that took longer than the limit.
    pub fn request_timeout() -> Self {
        Self::from_status(StatusCode::REQUEST_TIMEOUT)
            .detail("the request was not received and answered within the server's time limit")
    }

    /// 500 Internal Server Error; the cause belongs in the server log, not the response.
    pub fn internal() -> Self {
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = match serde_json::to_vec(&self) {
            Ok(body) => body,
            Err(_) => {
                br#"{"type":"about:blank","title":"Internal Server Error","status":500}"#.to_vec()
            }
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The field path axum's serde_path_to_error puts before the error, in
/// `"<prefix>: <path>: <error>"`; only a plain path (letters, digits, `_`, `.`, `[]`) is
/// taken, so nothing of the rejected value is echoed.
fn field_in(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?.strip_prefix(": ")?;
    let (path, _) = rest.split_once(": ")?;
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'));
    plain.then(|| path.to_owned())
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => {
                let problem = Problem::bad_request(
                    "the JSON body does not have the expected fields or types",
                );
                match field_in(
                    &text,
                    "Failed to deserialize the JSON body into the target type",
                ) {
                    Some(f) => problem.field(f),
                    None => problem,
                }
            }
            JsonRejection::JsonSyntaxError(_) => Problem::bad_request("the body is not valid JSON"),
            JsonRejection::MissingJsonContentType(_) => {
                Problem::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                    .detail("expected Content-Type: application/json")
            }
            other => body_rejection(other.status()),
        }
    }
}

/// A rejection while reading the body: too large (413), or unreadable (400).
fn body_rejection(status: StatusCode) -> Problem {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large")
            .detail("the request body exceeds the size limit")
    } else {
        Problem::bad_request("the request body could not be read")
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        // Names the parameter at fault, or the whole query when none can be named (an
        // unknown parameter, say); serde's message is not echoed, it may quote values.
        let problem = Problem::bad_request("the query string is not valid for this endpoint");
        let field = field_in(&rejection.body_text(), "Failed to deserialize query string");
        problem.field(field.unwrap_or_else(|| "query".into()))
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        if rejection.status().is_server_error() {
            tracing::error!(reason = %rejection.body_text(), "path extraction misconfigured");
            Problem::internal()
        } else {
            Problem::bad_request("a path segment is not valid for this endpoint")
        }
    }
}

/// Every error answer is a problem: a 4xx or 5xx that is not already
/// `application/problem+json` — the timeout layer's bare 408, axum's plain-text extractor
/// rejections (which echo the input, NUL bytes included), the empty 404 of an unknown route
/// and 405 of a wrong method — gets the problem of its status instead of its body. Headers
/// such as `Allow` stay.
pub async fn errors_as_problems(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            // The console's pages answer errors as HTML pages of their own, and FHIR routes
            // with an OperationOutcome, which names the element.
            let v = v.as_bytes();
            v.starts_with(b"application/problem+json")
                || v.starts_with(b"text/html")
                || v.starts_with(b"application/fhir+json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let problem = match status {
        StatusCode::REQUEST_TIMEOUT => Problem::request_timeout(),
        StatusCode::NOT_FOUND => Problem::not_found().detail("no such endpoint"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::from_status(status)
            .detail("this endpoint does not take that method (see Allow)"),
        StatusCode::BAD_REQUEST => Problem::bad_request("a path segment or parameter is not valid"),
        s => Problem::from_status(s),
    };
    let (mut parts, _) = response.into_parts();
    let fresh = problem.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, fresh.into_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_is_taken_only_when_plain() {
        let p = "Failed to deserialize query string";
        assert_eq!(
            field_in(&format!("{p}: limit: invalid digit"), p).as_deref(),
            Some("limit")
        );
        assert_eq!(
            field_in(&format!("{p}: actor.id: missing"), p).as_deref(),
            Some("actor.id")
        );
        assert_eq!(field_in(&format!("{p}: MRN 12: x"), p), None);
        assert_eq!(field_in("other", p), None);
    }
}
