//! The OpenAPI operations of `/v1/assessments` (breach impact assessments), merged into
//! the document by a modifier so they sit apart from the other operations.

#![allow(dead_code)]

use utoipa::{Modify, OpenApi};

/// The assessments' part of the document.
#[derive(OpenApi)]
#[openapi(
    paths(open_assessment, list_assessments, get_assessment, update_assessment, assessment_patients),
    tags((name = "assessments", description = "privacy_officer opens, changes and reads breach impact assessments and alone gets the affected-patient list; auditor reads them (lens applies). Every change is an event in the tenant's log; every read is self-audited"))
)]
struct AssessmentsDoc;

/// Adds the assessments' operations to the document.
pub struct Assessments;

impl Modify for Assessments {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.merge(AssessmentsDoc::openapi());
    }
}

/// Opens an assessment: recall computes, exactly from the log, the accesses in scope, the distinct affected patients (by state of residence: `unknown` without a patient roster), the evidence by outcome and action, and the deadlines. Recorded in the tenant's log with its whole state.
#[utoipa::path(post, path = "/v1/assessments", tag = "assessments",
    request_body(content = String, description = "`{\"description\": string (1..=2000), \"discovered\": \"YYYY-MM-DD\", \"scope\": {\"actors\"?, \"ips\"?, \"systems\"?, \"resource_types\"?, \"patients\"?: [string] (any of; at most 32 values in all), \"from\": RFC 3339, \"to\": RFC 3339}}`", content_type = "application/json"),
    responses((status = 201, description = "the assessment: `{\"id\", \"version\": 1, \"description\", \"discovered\", \"scope\", \"figures\": {\"events\", \"patients\", \"by_outcome\", \"by_action\", \"by_state\", \"horizon\"}, \"deadlines\": {\"individuals\", \"hhs\", \"hhs_route\": \"within_60_days\" | \"annual_log\", \"media_required\": \"yes\" | \"no\" | \"unknown\", \"media_states\", \"media\"}, \"factors\", \"decision\", \"opened\", \"opened_by\", \"updated\", \"updated_by\"}`"),
        (status = 400, description = "a bad field, named in `field` (e.g. `scope.ips`, `discovered`); nothing is opened", content_type = "application/problem+json"),
        (status = 403, description = "not a privacy officer")))]
fn open_assessment() {}

/// The tenant's assessments at their latest versions, oldest first. Self-audited.
#[utoipa::path(get, path = "/v1/assessments", tag = "assessments",
    responses((status = 200, description = "`{\"assessments\": [assessment]}` through the caller's lens"),
        (status = 403, description = "not a privacy officer or auditor")))]
fn list_assessments() {}

/// One assessment and every version of it (each with `version`, `seq` of its event, `at`, `by`, `changed`, `state`). Self-audited.
#[utoipa::path(get, path = "/v1/assessments/{id}", tag = "assessments",
    params(("id" = String, Path, description = "assessment id (16 hex digits)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `pdf`: the document to file, through the same lens")),
    responses((status = 200, description = "`{\"assessment\", \"history\": [...]}`, or the PDF"),
        (status = 404, description = "the tenant has no such assessment"),
        (status = 403, description = "not a privacy officer or auditor")))]
fn get_assessment() {}

/// Changes an assessment: each field given replaces the current one (the factors given replace theirs only). A new version, recorded in the log; a change that changes nothing records nothing.
#[utoipa::path(patch, path = "/v1/assessments/{id}", tag = "assessments",
    params(("id" = String, Path, description = "assessment id")),
    request_body(content = String, description = "`{\"description\"?, \"discovered\"?, \"factors\"?: {\"nature\"?, \"unauthorized_person\"?, \"acquired_or_viewed\"?, \"mitigation\"?}, \"decision\"?: {\"breach\": bool, \"reason\": string}}`", content_type = "application/json"),
    responses((status = 200, description = "the assessment after the change"),
        (status = 400, description = "a bad field, named in `field`; nothing changes", content_type = "application/problem+json"),
        (status = 404, description = "the tenant has no such assessment"),
        (status = 403, description = "not a privacy officer")))]
fn update_assessment() {}

/// The affected patients, for the notification mailing: exactly those counted when the assessment was opened. Self-audited.
#[utoipa::path(get, path = "/v1/assessments/{id}/patients", tag = "assessments",
    params(("id" = String, Path, description = "assessment id"), ("format" = Option<String>, Query, description = "`csv` (the default and only format)")),
    responses((status = 200, description = "CSV: `patient_id,state,accesses,first,last`, one row per patient, sorted by id", content_type = "text/csv"),
        (status = 404, description = "the tenant has no such assessment"),
        (status = 403, description = "not a privacy officer")))]
fn assessment_patients() {}
