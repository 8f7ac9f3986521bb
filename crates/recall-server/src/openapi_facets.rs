//! The OpenAPI description of `GET /v1/events/facets`, merged into the main document by
//! `openapi::document`; handler in `routes/facets.rs`.

#![allow(dead_code)] // the operation exists only for its `#[utoipa::path]`

use utoipa::OpenApi;

/// The facet counts' part of the API document.
#[derive(OpenApi)]
#[openapi(paths(event_facets))]
pub struct FacetsDoc;

/// Facet counts of a search filter: how many matching events have each `action`, `outcome`, `actor.role` and `source.system` (values as the caller's lens shows them: a withheld field is not counted, a pseudonymised one by pseudonym). A filter of `patient`, `actor`, `action`, `outcome`, `system`, `from` and `to` only is counted whole from the index (`complete` true, `max` null); any other counts at most the newest `max` (10,000) matches, and `complete` is false when there were more. Same roles, lens, patient binding and self-audit record as `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events/facets", tag = "search",
    params(("patient" = Option<String>, Query, description = "patient.id"),
        ("actor" = Option<String>, Query, description = "actor.id"),
        ("action" = Option<String>, Query, description = "action"),
        ("outcome" = Option<String>, Query, description = "success, failure or denied"),
        ("purpose" = Option<String>, Query, description = "purpose"),
        ("system" = Option<String>, Query, description = "source.system"),
        ("ip" = Option<String>, Query, description = "source.ip"),
        ("break_glass" = Option<bool>, Query, description = "only break-glass events"),
        ("from" = Option<String>, Query, description = "event time from (RFC 3339, inclusive)"),
        ("to" = Option<String>, Query, description = "event time until (RFC 3339, exclusive)")),
    responses((status = 200, description = "`{\"counted\", \"complete\", \"max\" (null when every match was counted), \"facets\": {\"action\" | \"outcome\" | \"role\" | \"system\": [{\"value\", \"count\"}] (most frequent first)}}`"),
        (status = 400, description = "a bad filter, or `cursor` / `limit` / `order` (not taken here), named in `field`", content_type = "application/problem+json"),
        (status = 403, description = "a role that reads no events, or a filter on a field the lens withholds", content_type = "application/problem+json")))]
fn event_facets() {}
