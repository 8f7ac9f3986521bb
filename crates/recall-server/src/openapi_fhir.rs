//! The OpenAPI description of `/fhir/…` (FHIR AuditEvent, IHE BALP), merged into the
//! main document by `openapi::router`; handlers in `routes/fhir.rs`.

#![allow(dead_code)] // the operations exist only for their `#[utoipa::path]`

use utoipa::OpenApi;

/// The FHIR part of the API document.
#[derive(OpenApi)]
#[openapi(
    paths(create_audit_event, search_audit_events, read_audit_event, metadata),
    tags((name = "fhir", description = "FHIR AuditEvent R4 (4.0.1) and R5 (5.0.0) following IHE BALP: the ITI-20 feed and reads, over the same writer, lens and self-audit as /v1"))
)]
pub struct FhirDoc;

/// Records one AuditEvent (ITI-20 FHIR feed). The version comes from the media type's `fhirVersion` parameter, else the resource's shape (R4 by default). One native event per patient named; each keeps the AuditEvent byte for byte (`origin`), marked `partial` with the paths it could not map. Only what is not JSON or not an AuditEvent is refused.
#[utoipa::path(post, path = "/fhir/AuditEvent", tag = "fhir",
    request_body(content = String, description = "an AuditEvent resource", content_type = "application/fhir+json"),
    responses((status = 201, description = "an OperationOutcome naming the events' seqs; `Location: /fhir/AuditEvent/{seq}` of the first", content_type = "application/fhir+json"),
        (status = 400, description = "not JSON, or not an AuditEvent: an OperationOutcome whose `expression` names the element", content_type = "application/fhir+json"),
        (status = 415, description = "Content-Type is not application/fhir+json", content_type = "application/fhir+json"),
        (status = 403, description = "not a writer", content_type = "application/problem+json")))]
fn create_audit_event() {}

/// One event of the caller's tenant as an AuditEvent (`id` is its seq): the version asked in `Accept: application/fhir+json; fhirVersion=5.0` (R4 by default). A reader whose lens shows the original (`origin`) gets it as sent when it is of that version; otherwise the mapping of the lensed event. The read is recorded like `GET /v1/events/{tenant}/{seq}`.
#[utoipa::path(get, path = "/fhir/AuditEvent/{id}", tag = "fhir",
    params(("id" = String, Path, description = "the event's seq in the caller's tenant")),
    responses((status = 200, description = "an AuditEvent", content_type = "application/fhir+json"),
        (status = 404, description = "no event with this id"),
        (status = 410, description = "shredded by retention", content_type = "application/problem+json"),
        (status = 403, description = "the role reads no events", content_type = "application/problem+json")))]
fn read_audit_event() {}

/// ITI-81: the caller's tenant's events as a searchset Bundle of AuditEvents, newest or oldest first, with a `next` link while more remain. Parameters: `date` (eq/ge/gt/le/lt, repeatable), `patient`, `patient.identifier`, `agent`, `agent.identifier`, `entity` (Patient/id: the patient; Type/id or id: the resource), `type` (rest, or a DICOM event code), `subtype` (recall's action, a RESTful interaction, DICOM 110122/110123), `action` (C/R/U/D/E), `outcome`, `source`, `purpose`, `_count`, `_sort=date|-date`, `_cursor`. Same roles, lens and self-audit as `GET /v1/events`.
#[utoipa::path(get, path = "/fhir/AuditEvent", tag = "fhir",
    responses((status = 200, description = "a searchset Bundle", content_type = "application/fhir+json"),
        (status = 400, description = "an unsupported or malformed parameter: an OperationOutcome naming it", content_type = "application/fhir+json"),
        (status = 403, description = "the role reads no events", content_type = "application/problem+json")))]
fn search_audit_events() {}

/// The CapabilityStatement of the FHIR face.
#[utoipa::path(get, path = "/fhir/metadata", tag = "fhir", security(()),
    responses((status = 200, description = "a CapabilityStatement", content_type = "application/fhir+json")))]
fn metadata() {}
