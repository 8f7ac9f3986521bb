//! The OpenAPI description of `/v1/integrity…` (scheduled verification), merged into the
//! main document by `openapi::document`; handlers in `routes/integrity.rs`.

#![allow(dead_code)] // the operations exist only for their `#[utoipa::path]`

use utoipa::OpenApi;

/// The integrity part of the API document.
#[derive(OpenApi)]
#[openapi(
    paths(status, verify_now, acknowledge),
    tags((name = "integrity", description = "the server verifies every tenant's log on a schedule (`[integrity] verify_interval_hours`, the checks of `recall verify`) and keeps the verdicts: admin, auditor and privacy_officer read them and may ask for a run; admin and privacy_officer acknowledge failures"))
)]
pub struct IntegrityDoc;

/// The caller's tenant: `{"verify_interval_hours", "tenants": [{"tenant", "latest_checkpoint" (signed note text) | null, "checkpoints": [{"number", "size", "root" (hex)} | {"number", "invalid"}] (the last 20), "checkpoints_error"? (the checkpoint log could not be read), "last_verification": verdict | null, "verifications": [verdict] (newest first, the last 20), "unacknowledged_failures", "unacknowledged_failure"}]}`; a verdict is `{"id", "started", "duration_ms", "result": "ok" | "failed" | "error", "tree_size", "checkpoints", "failure"?, "first_bad_seq"?, "acknowledged"?: {"by", "at"}}`. No event contents: not recorded in the log.
#[utoipa::path(get, path = "/v1/integrity", tag = "integrity",
    responses((status = 200, description = "checkpoints and verdicts of the caller's tenant"),
        (status = 403, description = "not an admin, auditor or privacy officer", content_type = "application/problem+json"),
        (status = 404, description = "the server has no data directory", content_type = "application/problem+json")))]
fn status() {}

/// Verifies the caller's tenant's log now (one run at a time: waits for a scheduled one) and stores the verdict.
#[utoipa::path(post, path = "/v1/integrity/verify", tag = "integrity",
    responses((status = 200, description = "`{\"verification\": verdict}`"),
        (status = 403, description = "not an admin, auditor or privacy officer", content_type = "application/problem+json"),
        (status = 404, description = "the tenant has no log yet", content_type = "application/problem+json")))]
fn verify_now() {}

/// Acknowledges every failed verification of the tenant not yet acknowledged: recorded in its log (action `acknowledge`, resource `IntegrityVerification`) before the verdicts change.
#[utoipa::path(post, path = "/v1/integrity/{tenant}/acknowledge", tag = "integrity",
    params(("tenant" = String, Path, description = "the caller's tenant")),
    responses((status = 200, description = "`{\"acknowledged_failures\": n}`"),
        (status = 403, description = "not an admin or privacy officer, or another tenant", content_type = "application/problem+json"),
        (status = 409, description = "no unacknowledged failure: nothing recorded", content_type = "application/problem+json")))]
fn acknowledge() {}
