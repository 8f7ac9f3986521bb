//! The OpenAPI 3.1 description of the API (`/v1/openapi.json`) and the vendored Swagger UI
//! (`/docs`). The operations are declared here, beside each other, so the document reads
//! as one; `routes` holds the handlers with the same paths.

#![allow(dead_code)]

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::openapi_assessments::Assessments;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "recall",
        description = "Tamper-evident audit trail for protected health information. Every search, event read and report is itself recorded in the caller's log. Errors are RFC 9457 problem details (application/problem+json) naming the field and, for batches, the event index.",
        license(name = "Apache-2.0")
    ),
    paths(post_events, search_events, get_event, patient_access, actor_activity, checkpoint, tile, consistency, inclusion, list_keys, create_key, revoke_key, settings, list_holds, create_hold, release_hold, healthz, readyz, metrics,
        put_roster, put_patient_roster, access_review, access_review_signoff),
    modifiers(&Bearer, &Assessments),
    security(("bearer" = [])),
    tags(
        (name = "ingest", description = "writer role"),
        (name = "search", description = "auditor, engineer, privacy_officer (fields by the disclosure policy) and patient (its own patient) roles; `Recall-Justification` header shows an auditor `detail` and is recorded"),
        (name = "reports", description = "the same roles as search; a patient runs only its own patient-access report"),
        (name = "transparency", description = "public data only (no PHI): any key of the tenant, or anyone with public_transparency"),
        (name = "admin", description = "admin role: the caller tenant's API keys and the server settings; no event contents"),
        (name = "holds", description = "admin and privacy_officer roles: legal holds of the caller's tenant; months holding held events are never shredded by retention"),
        (name = "roster", description = "admin and privacy_officer roles: the caller tenant's workforce and patient rosters, sealed at rest; each import is recorded with counts only"),
        (name = "operations", description = "no credentials: for probes and scrapers; aggregate numbers only")
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`recall keys create`) or a JWT from the configured issuer",
                    ))
                    .build(),
            ),
        );
    }
}

/// Replaces the workforce roster: CSV with a header, or NDJSON (first character `{`), columns `user_id` (required, unique), `name`, `role`, `department`, `status` (`active` | `terminated` | `leave`), `hire_date`, `status_date` (required for terminated and leave: the date access should have ended; `YYYY-MM-DD` or RFC 3339). All or nothing; recorded in the log with counts.
#[utoipa::path(put, path = "/v1/roster", tag = "roster",
    request_body(content = String, description = "the roster", content_type = "text/csv"),
    responses(
        (status = 200, description = "`{\"kind\": \"workforce\", \"rows\", \"by\": {status: count}}`"),
        (status = 400, description = "a bad row: `field` is the column, `index` the 0-based data row; nothing changed", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not admin or privacy_officer")))]
fn put_roster() {}

/// Replaces the patient roster (for breach assessments): columns `patient_id` (unique) and `state` (two-letter US code). Patient ids are kept only as index tokens. All or nothing; recorded with counts per state.
#[utoipa::path(put, path = "/v1/roster/patients", tag = "roster",
    request_body(content = String, description = "the roster", content_type = "text/csv"),
    responses(
        (status = 200, description = "`{\"kind\": \"patients\", \"rows\", \"by\": {state: count}}`"),
        (status = 400, description = "a bad row: `field` and `index` name it; nothing changed", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not admin or privacy_officer")))]
fn put_patient_roster() {}

/// The periodic access review: every actor who touched PHI in `[from, to)` (client events naming a patient), grouped by role and department, with events, distinct patients, break-glass, denials, failures, first and last access; with a workforce roster, actors not in it, terminated or on-leave users with accesses after their date (hours to the last one, `over_24h`), dormant active users; and recall's credentials that read PHI with their uses. Patients are never listed. Recorded in the log before it is sent.
#[utoipa::path(get, path = "/v1/reports/access-review", tag = "reports",
    params(
        ("from" = String, Query, description = "RFC 3339, inclusive (required)"),
        ("to" = String, Query, description = "RFC 3339, exclusive (required)"),
        ("format" = Option<String>, Query, description = "json (default) | csv | pdf; the JSON form's SHA-256 is in `Recall-Report-Sha256` whatever the format")),
    responses(
        (status = 200, description = "the review; header `Recall-Report-Sha256` is the SHA-256 of the body (a sign-off names the JSON form's)"),
        (status = 400, description = "bad or missing from/to/format", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not auditor, engineer or privacy_officer")))]
fn access_review() {}

/// Signs an access review off: `{"reviewer", "from", "to", "sha256"}` (the SHA-256 of the JSON review reviewed), recorded as an event in the log (action `approve`, resource `AccessReview`).
#[utoipa::path(post, path = "/v1/reports/access-review/signoff", tag = "reports",
    request_body(content = String, description = "the sign-off", content_type = "application/json"),
    responses(
        (status = 201, description = "what was recorded"),
        (status = 400, description = "bad field, named in `field`", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not privacy_officer or auditor")))]
fn access_review_signoff() {}

/// Appends events: one JSON object, a JSON array (`application/json`), or NDJSON (`application/x-ndjson`); other content types get 415. Durable before the answer; all or nothing. An event whose `id` the tenant already holds is not appended again: its original receipt comes back with `"replayed": true`.
#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    request_body(content = String, description = "native events (wire format v1)", content_type = "application/x-ndjson"),
    responses(
        (status = 201, description = "`{\"receipts\": [{\"tenant\", \"seq\", \"leaf_hash\" (base64), \"replayed\"?}]}` in input order"),
        (status = 200, description = "every event was a replay; original receipts"),
        (status = 400, description = "invalid event: `field` and `index` name it; nothing appended", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not a writer, or an event names another tenant"),
        (status = 413, description = "body or batch too large"),
        (status = 415, description = "Content-Type neither JSON nor NDJSON", content_type = "application/problem+json"),
        (status = 503, description = "queue full: nothing appended; or the outcome is unknown (the detail says so): sending the same events again by id is safe; see Retry-After", content_type = "application/problem+json"),
        (status = 507, description = "the disk is full: nothing appended; see Retry-After", content_type = "application/problem+json")))]
fn post_events() {}

/// Searches the caller's tenant. Order (time, seq); complete and exact; cursor pagination.
#[utoipa::path(get, path = "/v1/events", tag = "search",
    params(
        ("patient" = Option<String>, Query, description = "patient.id, as the caller sees it: a pseudonym (psn_…) for a role that sees it pseudonymised"),
        ("actor" = Option<String>, Query, description = "actor.id, as the caller sees it (likewise)"),
        ("action" = Option<String>, Query), ("outcome" = Option<String>, Query, description = "success | failure | denied"),
        ("purpose" = Option<String>, Query), ("system" = Option<String>, Query, description = "source.system"),
        ("ip" = Option<String>, Query, description = "source.ip"),
        ("break_glass" = Option<bool>, Query, description = "purpose ETREAT"),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive, on the event's time"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("resource_type" = Option<String>, Query, description = "resource.type (tested on each candidate event: no index)"),
        ("resource_id" = Option<String>, Query, description = "resource.id, as the caller sees it (no index)"),
        ("fhir_action" = Option<String>, Query, description = "FHIR crude action of the event's action: C | R | U | D | E"),
        ("fhir_type" = Option<String>, Query, description = "FHIR AuditEvent type code: rest, or a DICOM event code (110114 login/logout, 110101 …)"),
        ("order" = Option<String>, Query, description = "asc (default) | desc"),
        ("limit" = Option<u32>, Query, description = "1..=1000, default 100"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page (same filters and order)")),
    responses((status = 200, description = "`{\"events\": [native event + tenant, seq, received], \"next_cursor\": string | null}`"),
        (status = 400, description = "bad parameter, named in `field` (a clear identifier where the caller sees a pseudonym)", content_type = "application/problem+json"),
        (status = 403, description = "a role that reads no events, a patient asking about another patient (recorded, outcome denied), or a filter on a field the caller does not see, named in `field`")))]
fn search_events() {}

/// One event; `proof=true` adds its inclusion proof to the latest signed checkpoint.
#[utoipa::path(get, path = "/v1/events/{tenant}/{seq}", tag = "search",
    params(("tenant" = String, Path), ("seq" = u64, Path), ("proof" = Option<bool>, Query)),
    responses((status = 200, description = "`{\"event\", \"leaf_hash\", \"inclusion\"?: {\"leaf_index\", \"tree_size\", \"hashes\", \"checkpoint\"}}`"),
        (status = 404, description = "no such event"), (status = 410, description = "shredded by retention")))]
fn get_event() {}

/// Every access to one patient's data in a range, per actor, then the events. JSON, CSV or PDF (`format` or `Accept`), streamed.
/// The PDF (a document for the patient) is read at the latest signed checkpoint; its evidence page holds that checkpoint,
/// its tree size and the SHA-256 of the same report's JSON form at that tree size (`tree_size=N`), also written into the
/// report's self-audit event (`detail.query.sha256`).
#[utoipa::path(get, path = "/v1/reports/patient-access", tag = "reports",
    params(("patient" = String, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("format" = Option<String>, Query, description = "json | csv | pdf"),
        ("tree_size" = Option<u64>, Query, description = "json and csv only: read the report at this tree size (re-checks a PDF's digest)")),
    responses((status = 200, description = "the report: application/json, text/csv or application/pdf"),
        (status = 400, description = "a bad parameter, named in `field`")))]
fn patient_access() {}

/// Everything one actor did in a range, per patient, then the events. JSON, CSV or PDF (as the patient-access report), streamed.
#[utoipa::path(get, path = "/v1/reports/actor-activity", tag = "reports",
    params(("actor" = String, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("format" = Option<String>, Query, description = "json | csv | pdf"),
        ("tree_size" = Option<u64>, Query, description = "json and csv only: read the report at this tree size")),
    responses((status = 200, description = "the report: application/json, text/csv or application/pdf"),
        (status = 400, description = "a bad parameter, named in `field`")))]
fn actor_activity() {}

/// The latest signed checkpoint (C2SP tlog-checkpoint in a signed note, Ed25519).
#[utoipa::path(get, path = "/v1/logs/{tenant}/checkpoint", tag = "transparency",
    params(("tenant" = String, Path)), responses((status = 200, description = "the note", content_type = "text/plain")))]
fn checkpoint() {}

/// C2SP tlog-tiles: `tile/<L>/<N>[.p/<W>]` (hashes) and `tile/entries/<N>[.p/<W>]` (entry bundles of commitments).
#[utoipa::path(get, path = "/v1/logs/{tenant}/tile/{path}", tag = "transparency",
    params(("tenant" = String, Path), ("path" = String, Path, description = "the rest of the tile path")),
    responses((status = 200, description = "tile bytes", content_type = "application/octet-stream"), (status = 404, description = "not (yet) covered")))]
fn tile() {}

/// RFC 9162 consistency proof between two tree sizes (`to` defaults to the latest checkpoint's).
#[utoipa::path(get, path = "/v1/logs/{tenant}/proof/consistency", tag = "transparency",
    params(("tenant" = String, Path), ("from" = u64, Query), ("to" = Option<u64>, Query)),
    responses((status = 200, description = "`{\"from\", \"to\", \"hashes\": [base64]}`")))]
fn consistency() {}

/// RFC 9162 inclusion proof of one leaf to the latest checkpoint covering it (no event contents).
#[utoipa::path(get, path = "/v1/logs/{tenant}/proof/inclusion", tag = "transparency",
    params(("tenant" = String, Path), ("seq" = u64, Query)),
    responses((status = 200, description = "`{\"leaf_index\", \"tree_size\", \"leaf_hash\", \"hashes\", \"checkpoint\"}`")))]
fn inclusion() {}

/// The caller tenant's API keys, oldest first (never a key or its hash).
#[utoipa::path(get, path = "/v1/admin/keys", tag = "admin",
    responses((status = 200, description = "`{\"keys\": [{\"id\", \"role\", \"label\", \"created\", \"revoked\": string | null}]}`"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not an admin")))]
fn list_keys() {}

/// Creates an API key for the caller's own tenant. The key text is in this answer only; recall keeps HMAC(pepper, key). Recorded in the tenant's log.
#[utoipa::path(post, path = "/v1/admin/keys", tag = "admin",
    request_body(content = String, description = "`{\"role\": \"writer\" | \"auditor\" | \"engineer\" | \"privacy_officer\" | \"patient\" | \"admin\" | \"verifier\", \"label\"?: string (1..=100 characters), \"patient\"?: string (a patient key's patient, required for that role only)}`", content_type = "application/json"),
    responses((status = 201, description = "`{\"id\", \"role\", \"label\", \"created\", \"revoked\": null, \"key\": \"rk_…\"}`"),
        (status = 400, description = "bad role or label, or a tenant without a log (`tenant`), named in `field`", content_type = "application/problem+json"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not an admin")))]
fn create_key() {}

/// Revokes an API key of the caller's tenant, effective from the next request. Idempotent. Recorded in the tenant's log.
#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "key id (16 hex digits)")),
    responses((status = 200, description = "the key's facts with `revoked` set"),
        (status = 404, description = "the tenant has no such key (also when another tenant has it)"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not an admin")))]
fn revoke_key() {}

/// The server settings that are not secret: listen address, limits, public transparency, JWT issuer and audience.
#[utoipa::path(get, path = "/v1/admin/settings", tag = "admin",
    responses((status = 200, description = "`{\"listen\", \"tls\", \"insecure_http\", \"max_body_bytes\", \"max_batch_events\", \"queue_events\", \"request_timeout_secs\", \"idle_timeout_secs\", \"max_connections\", \"public_transparency\", \"api_keys\", \"jwt\": {\"issuer\", \"audience\", \"keys\", \"tenant_claim\", \"role_claim\", \"leeway_secs\"} | null}`"),
        (status = 401, description = "no or bad credential"), (status = 403, description = "not an admin")))]
fn settings() {}

/// The caller tenant's legal holds, active and released, oldest first (never a held identifier).
#[utoipa::path(get, path = "/v1/holds", tag = "holds",
    responses((status = 200, description = "`{\"holds\": [{\"id\", \"kind\": \"patient\" | \"actor\" | \"time\", \"matter\", \"from\"?, \"to\"?, \"created\", \"created_by\", \"released\", \"released_by\"}]}`"),
        (status = 403, description = "not an admin or privacy officer")))]
fn list_holds() {}

/// Places a legal hold on a patient, an actor or an event time range. Recorded in the tenant's log (a patient hold names the patient there).
#[utoipa::path(post, path = "/v1/holds", tag = "holds",
    request_body(content = String, description = "`{\"patient\": string} | {\"actor\": string} | {\"from\": RFC 3339, \"to\": RFC 3339}` plus `\"matter\": string (1..=100 characters, no PHI)`", content_type = "application/json"),
    responses((status = 201, description = "the hold's public facts"),
        (status = 400, description = "not exactly one subject, or a bad matter or time, named in `field`", content_type = "application/problem+json"),
        (status = 403, description = "not an admin or privacy officer")))]
fn create_hold() {}

/// Releases a legal hold; its months may be shredded by the next retention run. Idempotent. Recorded in the tenant's log.
#[utoipa::path(delete, path = "/v1/holds/{id}", tag = "holds",
    params(("id" = String, Path, description = "hold id (16 hex digits)")),
    responses((status = 200, description = "the hold with `released` set"),
        (status = 404, description = "the tenant has no such hold"),
        (status = 403, description = "not an admin or privacy officer")))]
fn release_hold() {}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()), responses((status = 200, description = "ok")))]
fn healthz() {}

/// Readiness.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()), responses((status = 200, description = "ready"), (status = 503, description = "starting or stopping, or client events cannot be written (a full disk)")))]
fn readyz() {}

/// Prometheus metrics (no identifiers in labels).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()), responses((status = 200, description = "text exposition")))]
fn metrics() {}

/// The whole document: the main one and the parts described in modules of their own.
fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::openapi_reviews::ReviewsDoc::openapi());
    doc.merge(crate::openapi_integrity::IntegrityDoc::openapi());
    doc.merge(crate::openapi_fhir::FhirDoc::openapi());
    doc.merge(crate::openapi_export::ExportDoc::openapi());
    doc.merge(crate::openapi_facets::FacetsDoc::openapi());
    doc
}

/// The Swagger UI at `/docs` serving the document at `/v1/openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::from(
        utoipa_swagger_ui::SwaggerUi::new("/docs").url("/v1/openapi.json", document()),
    )
}
