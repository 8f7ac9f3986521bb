//! Export of the search page's current filter: CSV and JSON (NDJSON of the lensed native
//! events) through the API's `GET /v1/export` handler, PDF through the API's report
//! handler (`format=pdf`): the patient access report when the filter names a patient,
//! else the actor activity report when it names an actor, over the filter's date range.
//! So role, lens, self-audit record and streaming are the API's.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use jiff::Timestamp;
use recall_query::ExportParams;

use super::Console;
use super::pages::{Nav, problem_page};
use super::search::Filter;
use super::session::Signed;
use crate::problem::Problem;
use crate::routes::reports::{ReportParams, actor_activity, patient_access};

/// `GET /export/{format}`: `csv`, `json` or `pdf`.
pub async fn export(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(f): Query<Filter>,
) -> Response {
    let nav = || Some(Nav::of(&s));
    let p = match f.params(Timestamp::now()) {
        Ok(p) => p,
        Err(p) => return problem_page(nav(), &p),
    };
    let state = State(c.app.clone());
    let who = s.principal();
    let (answer, name) = match format.as_str() {
        "csv" | "json" => {
            let x = ExportParams {
                filter: p.filter,
                after: None,
                format: Some(if format == "csv" { "csv" } else { "native" }.into()),
            };
            let name = if format == "csv" {
                "recall-search.csv"
            } else {
                "recall-search.ndjson"
            };
            let answer =
                crate::routes::export::export(state, who, peer, headers, Ok(Query(x))).await;
            (answer, name)
        }
        "pdf" => {
            let r = ReportParams {
                patient: p.filter.patient.clone(),
                actor: p
                    .filter
                    .actor
                    .clone()
                    .filter(|_| p.filter.patient.is_none()),
                from: p.filter.from,
                to: p.filter.to,
                format: Some("pdf".into()),
                tree_size: None,
            };
            let answer = match (&r.patient, &r.actor) {
                (Some(_), _) => patient_access(state, who, peer, headers, Ok(Query(r))).await,
                (None, Some(_)) => actor_activity(state, who, peer, headers, Ok(Query(r))).await,
                (None, None) => Err(Problem::bad_request(
                    "a PDF report is about one patient or one actor: filter on one first",
                )
                .field("patient")),
            };
            (answer, "recall-report.pdf")
        }
        _ => (
            Err(Problem::not_found().detail("exports are csv, json or pdf")),
            "",
        ),
    };
    match answer {
        Ok(mut res) => {
            let disposition = format!("attachment; filename=\"{name}\"");
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(p) => problem_page(nav(), &p),
    }
}
