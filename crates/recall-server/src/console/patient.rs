//! The patient access report page: who accessed one patient's record, grouped by person
//! with role, actions and purposes, a chart of accesses over time (inline SVG drawn
//! here), and the PDF one click away. The report comes from the API's own
//! patient-access handler (`format=json`: role, lens, patient binding, self-audit
//! record); the PDF link goes through the search page's export, i.e. the same handler
//! with `format=pdf`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

use super::Console;
use super::chart::{Chart, chart};
use super::pages::{Nav, api_json, html, listed, problem_page, text, when};
use super::search::Filter;
use super::session::Signed;
use crate::routes::reports::{ReportParams, patient_access};

/// One person who accessed the record.
pub struct Person {
    actor: String,
    name: String,
    role: String,
    actions: String,
    purposes: String,
    count: u64,
    first: String,
    last: String,
    /// The search for this person's accesses to this patient.
    href: String,
}

#[derive(Template)]
#[template(path = "console/patient.html")]
struct PatientPage {
    nav: Option<Nav>,
    f: Filter,
    people: Vec<Person>,
    total: u64,
    chart: Option<Chart>,
    pdf: String,
    asked: bool,
}

fn person(f: &Filter, row: &Value) -> Person {
    let actor = text(row, "actor_id").to_owned();
    let mut search = f.clone();
    search.actor = actor.clone();
    Person {
        href: search.url("/search"),
        name: text(row, "actor_name").to_owned(),
        role: text(row, "actor_role").to_owned(),
        actions: listed(&row["actions"], str::to_owned),
        purposes: listed(&row["purposes"], str::to_owned),
        count: row["count"].as_u64().unwrap_or(0),
        first: when(text(row, "first")),
        last: when(text(row, "last")),
        actor,
    }
}

/// Accesses per day (UTC) of the report's events.
fn per_day(events: &[Value]) -> BTreeMap<Date, u64> {
    let mut m = BTreeMap::new();
    for e in events {
        if let Some(day) = text(e, "time").get(..10).and_then(|d| d.parse().ok()) {
            *m.entry(day).or_default() += 1;
        }
    }
    m
}

/// `GET /patient?patient=…&range=…`.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(mut f): Query<Filter>,
) -> Response {
    let nav = Nav::of(&s);
    f.keep_only_patient_and_range();
    let mut page = PatientPage {
        nav: None,
        pdf: f.url("/export/pdf"),
        f: f.clone(),
        people: Vec::new(),
        total: 0,
        chart: None,
        asked: !f.patient.trim().is_empty(),
    };
    if page.asked {
        let p = match f.params(Timestamp::now()) {
            Ok(p) => p,
            Err(p) => return problem_page(Some(nav), &p),
        };
        let r = ReportParams {
            patient: p.filter.patient,
            from: p.filter.from,
            to: p.filter.to,
            format: Some("json".into()),
            ..ReportParams::default()
        };
        let answer = patient_access(
            State(c.app.clone()),
            s.principal(),
            peer,
            headers,
            Ok(Query(r)),
        );
        let v = match api_json(answer.await).await {
            Ok(v) => v,
            Err(p) => return problem_page(Some(nav), &p),
        };
        let rows = v["summary"].as_array().cloned().unwrap_or_default();
        page.people = rows.iter().map(|r| person(&f, r)).collect();
        page.people
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.actor.cmp(&b.actor)));
        let events = v["events"].as_array().cloned().unwrap_or_default();
        page.total = events.len() as u64;
        page.chart = chart(&per_day(&events));
    }
    page.nav = Some(nav);
    html(&page)
}

#[cfg(test)]
mod listed_tests {
    /// The report's JSON gives actions and purposes as arrays; the page showed them empty.
    #[test]
    fn actions_and_purposes_are_shown() {
        let row = serde_json::json!({"actor_id": "u-1", "actions": ["read", "update"], "purposes": ["TREAT"], "count": 2,
            "first": "2026-03-04T10:22:01.123456789Z", "last": "2026-03-05T08:00:00Z"});
        let p = super::person(&super::super::search::Filter::default(), &row);
        assert_eq!(
            (p.actions.as_str(), p.purposes.as_str()),
            ("read, update", "TREAT")
        );
        // Plain date and time, the zone named (the page showed RFC 3339 with nanoseconds).
        assert_eq!(
            (p.first.as_str(), p.last.as_str()),
            ("2026-03-04 10:22:01 UTC", "2026-03-05 08:00:00 UTC")
        );
    }
}
