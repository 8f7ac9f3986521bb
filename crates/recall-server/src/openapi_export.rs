//! The OpenAPI description of `GET /v1/export`, merged into the main document by
//! `openapi::router`; the handler is `routes/export.rs`.

#![allow(dead_code)] // the operation exists only for its `#[utoipa::path]`

use utoipa::OpenApi;

/// The export's part of the API document.
#[derive(OpenApi)]
#[openapi(
    paths(export),
    tags((name = "export", description = "the search's roles, lens and filters; a patient only with its own `patient`; one self-audit event per request"))
)]
pub struct ExportDoc;

/// The caller tenant's events in log (seq) order after a cursor, streamed (docs/design/export.md). The cursor is the `seq` of the last event the consumer kept: `after=S` answers every matching event with seq > S that the log held when the request arrived. A consumer cut off midway resumes with the last record's `seq` (every format carries it: native `seq`, OCSF `metadata.sequence`, CSV column `seq`); after a complete body it resumes with the `Recall-Export-Cursor` header. At least once: nothing is skipped, an event may come twice. One self-audit event (action `export`, `detail.query` with the filters, `after`, `until` and `format`) is appended before the first byte.
#[utoipa::path(get, path = "/v1/export", tag = "export",
    params(("after" = Option<String>, Query, description = "the cursor: seq of the last event already had (absent: from the start)"),
        ("format" = Option<String>, Query, description = "native (NDJSON, default) | ocsf (NDJSON of OCSF 1.7.0 events) | csv | fhir-r4 / fhir-r5 (NDJSON of FHIR AuditEvent resources)"),
        ("patient" = Option<String>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query),
        ("outcome" = Option<String>, Query), ("purpose" = Option<String>, Query), ("system" = Option<String>, Query),
        ("ip" = Option<String>, Query), ("break_glass" = Option<bool>, Query),
        ("from" = Option<String>, Query, description = "event time from (RFC 3339, inclusive)"),
        ("to" = Option<String>, Query, description = "event time until (RFC 3339, exclusive)"),
        ("resource_type" = Option<String>, Query), ("resource_id" = Option<String>, Query),
        ("fhir_action" = Option<String>, Query, description = "C | R | U | D | E"),
        ("fhir_type" = Option<String>, Query, description = "rest, or a DICOM event code")),
    responses((status = 200, description = "the records: application/x-ndjson or text/csv; header `Recall-Export-Cursor` when the log is not empty"),
        (status = 400, description = "a bad parameter, named in `field`; nothing recorded", content_type = "application/problem+json"),
        (status = 403, description = "a role that does not read events, or a filter on a field the lens withholds")))]
fn export() {}
