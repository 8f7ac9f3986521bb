//! Code systems, extensions and profiles of the mapping. recall's own systems live under
//! [`RECALL`]: they carry the native fields that FHIR has no element for, so that a
//! round trip is exact.

/// Base of recall's own code systems and extensions.
pub const RECALL: &str = "urn:recall:fhir:";
/// recall's action codes (the native `action`, verbatim).
pub const ACTION_SYSTEM: &str = "urn:recall:fhir:action";
/// recall's actor kinds (the native `actor.type`).
pub const ACTOR_TYPE_SYSTEM: &str = "urn:recall:fhir:actor-type";
/// Extension: the client's event id.
pub const EXT_EVENT_ID: &str = "urn:recall:fhir:event-id";
/// Extension: `source.device`.
pub const EXT_DEVICE: &str = "urn:recall:fhir:source-device";
/// Extension: `source.session`.
pub const EXT_SESSION: &str = "urn:recall:fhir:source-session";
/// Extension: `detail`, as its RFC 8785 JSON text.
pub const EXT_DETAIL: &str = "urn:recall:fhir:detail";
/// Extension: the credential that appended the event (`appended_by`).
pub const EXT_APPENDED_BY: &str = "urn:recall:fhir:appended-by";
/// Extension: when recall received the event (`received`).
pub const EXT_RECEIVED: &str = "urn:recall:fhir:received";
/// Extension: how much of the original recall understood (`origin.understood`).
pub const EXT_UNDERSTOOD: &str = "urn:recall:fhir:understood";

/// HL7 audit event types (R4 `type`, R5 `category`).
pub const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
/// FHIR RESTful interactions (`subtype` / `code`).
pub const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
/// DICOM (login, logout and the roles of BALP).
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// Outcome codes 0, 4, 8, 12.
pub const OUTCOME_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/audit-event-outcome";
/// HL7 v3 ActReason: PurposeOfUse.
pub const PURPOSE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
/// Entity types (R4 `entity.type`).
pub const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
/// Entity roles (R4 `entity.role`).
pub const ENTITY_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
/// Object role 24, Query: the entity that carries a search's query.
pub const QUERY_ROLE: &str = "24";
/// FHIR's resource types, an R4 entity type beside audit-entity-type's codes: the type of
/// a query's searched resource (a type-2 entity would be read as the query itself).
pub const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";
/// Network access point types (R4 `agent.network.type`).
pub const NETWORK_TYPE: &str = "http://hl7.org/fhir/network-type";
/// Data-absent reasons (an observer recall does not know).
pub const DATA_ABSENT: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";

/// IHE BALP 1.1 profile of a basic RESTful AuditEvent.
pub const BALP_REST: &str =
    "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Read";

/// FHIR RESTful interaction codes: kept as the native action when a sender uses them.
pub const RESTFUL: [&str; 17] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "search",
    "search-type",
    "search-system",
    "capabilities",
    "transaction",
    "batch",
    "operation",
];

/// The FHIR `action` (C, R, U, D, E) of a native action. A search is E: FHIR's action
/// codes say so ("perform a query/search operation"), and BALP's Query profile fixes it.
pub fn crude(action: &str) -> &'static str {
    match action {
        "create" => "C",
        "read" | "vread" | "history" | "history-instance" | "history-type" | "history-system"
        | "export" | "print" | "disclose" => "R",
        "update" | "patch" => "U",
        "delete" => "D",
        _ => "E",
    }
}

/// The AuditEvent type code (R4 `type`, R5 `category`) of a native event: the DICOM
/// event recall's own records name (`detail.dicom_event`), User Authentication (110114)
/// for a login or logout, else a RESTful operation (`rest`). `GET /fhir/AuditEvent?type=`
/// filters on the same code.
pub fn event_type<'a>(action: &str, own: Option<&'a str>) -> &'a str {
    match (own, action) {
        (Some(code), _) => code,
        (None, "login" | "logout") => "110114",
        (None, _) => "rest",
    }
}

/// The native action of a FHIR `action` code, when nothing more precise is given.
pub fn action_of_crude(code: &str) -> Option<&'static str> {
    Some(match code {
        "C" => "create",
        "R" => "read",
        "U" => "update",
        "D" => "delete",
        "E" => "execute",
        _ => return None,
    })
}

/// The outcome code of a native outcome.
pub fn outcome_code(outcome: &str) -> &'static str {
    match outcome {
        "failure" => "8",
        "denied" => "4",
        _ => "0",
    }
}

/// The native outcome of an outcome code (`None`: unknown code).
pub fn outcome_of_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "0" => "success",
        "4" => "denied",
        "8" | "12" => "failure",
        _ => return None,
    })
}
