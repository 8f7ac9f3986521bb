//! The OpenAPI description of `/v1/reviews/…` (the review queues), merged into the main
//! document by `openapi::router`; handlers in `routes/reviews.rs`.

#![allow(dead_code)] // the operations exist only for their `#[utoipa::path]`

use utoipa::OpenApi;

/// The review queues' part of the API document.
#[derive(OpenApi)]
#[openapi(
    paths(list_break_glass, get_break_glass, review_break_glass),
    tags((name = "reviews", description = "break-glass review queue: auditor and privacy_officer read it (fields by the disclosure policy), privacy_officer reviews; every read is recorded in the caller's log"))
)]
pub struct ReviewsDoc;

/// The break-glass accesses (purpose ETREAT) of the caller's tenant, newest first by event time: each with `seq`, `time`, `state` (`open` | `reviewed`), `age_seconds`, `due` (time + the tenant's deadline, 7 days by default), `overdue`, the access's `actor`, `patient`, `reason`, `resource`, `source` as the caller's lens shows them, and, once reviewed, `review`: the latest `{seq, disposition, reviewer, time, note}`.
#[utoipa::path(get, path = "/v1/reviews/break-glass", tag = "reviews",
    params(("state" = Option<String>, Query, description = "open (default), reviewed or all"),
        ("from" = Option<String>, Query, description = "event time from (RFC 3339, inclusive)"),
        ("to" = Option<String>, Query, description = "event time until (RFC 3339, exclusive)"),
        ("actor" = Option<String>, Query, description = "the access's actor.id (a pseudonym for a role that sees pseudonyms)"),
        ("limit" = Option<usize>, Query, description = "1..=500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page of the same query")),
    responses((status = 200, description = "`{\"items\": [...], \"next_cursor\": string | null}`"),
        (status = 400, description = "a bad parameter, named in `field`", content_type = "application/problem+json"),
        (status = 403, description = "not an auditor or privacy officer, or an actor filter on a field the lens withholds")))]
fn list_break_glass() {}

/// One break-glass access with `history`: every review of it, oldest first (a later review supersedes, none is edited).
#[utoipa::path(get, path = "/v1/reviews/break-glass/{seq}", tag = "reviews",
    params(("seq" = u64, Path, description = "the access's seq in the tenant's log")),
    responses((status = 200, description = "the item as in the list, plus `history`"),
        (status = 404, description = "no break-glass access at this seq", content_type = "application/problem+json"),
        (status = 403, description = "not an auditor or privacy officer")))]
fn get_break_glass() {}

/// Records a review: an event recall appends to the tenant's log (appended_by recall:server) naming the access's seq and leaf hash, the disposition, the reviewer (the credential) and the note (in `reason`).
#[utoipa::path(post, path = "/v1/reviews/break-glass/{seq}", tag = "reviews",
    params(("seq" = u64, Path, description = "the access's seq in the tenant's log")),
    request_body(content = String, description = "`{\"disposition\": \"appropriate\" | \"inappropriate\" | \"needs-follow-up\" | \"education\", \"note\"?: string (1..=2048 characters)}`", content_type = "application/json"),
    responses((status = 201, description = "`{\"seq\", \"disposition\", \"leaf_hash\"}`"),
        (status = 400, description = "a bad disposition or note, named in `field`", content_type = "application/problem+json"),
        (status = 403, description = "not a privacy officer, or the reviewer's own access (`field` seq)", content_type = "application/problem+json"),
        (status = 404, description = "the log holds no event at this seq", content_type = "application/problem+json"),
        (status = 409, description = "the event at this seq is no break-glass access", content_type = "application/problem+json"),
        (status = 410, description = "the event was shredded by retention", content_type = "application/problem+json")))]
fn review_break_glass() {}
