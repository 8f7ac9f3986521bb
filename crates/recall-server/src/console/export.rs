//! Export of the search page's current filter as CSV or JSON: the API's search handler
//! page by page (each page self-audited like any search), up to [`MAX_EXPORT`] events.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;

use super::Console;
use super::pages::{Nav, api_json, problem_page, text};
use super::search::Filter;
use super::session::Signed;
use crate::problem::Problem;
use crate::routes::events::search_events;

/// Most events one export holds.
pub const MAX_EXPORT: usize = 10_000;

const COLUMNS: [&str; 11] = [
    "seq",
    "time",
    "action",
    "outcome",
    "actor.id",
    "actor.role",
    "patient.id",
    "resource.type",
    "resource.id",
    "source.system",
    "source.ip",
];

async fn collect(
    c: &Console,
    s: &Signed,
    peer: SocketAddr,
    headers: &HeaderMap,
    f: &Filter,
) -> Result<Vec<Value>, Problem> {
    let mut params = f.params(Timestamp::now())?;
    params.limit = Some(recall_query::MAX_LIMIT);
    params.cursor = None;
    let mut out = Vec::new();
    loop {
        let res = search_events(
            State(c.app.clone()),
            s.principal(),
            ConnectInfo(peer),
            headers.clone(),
            Ok(Query(params.clone())),
        )
        .await;
        let v = api_json(res).await?;
        out.extend(v["events"].as_array().cloned().unwrap_or_default());
        match v["next_cursor"].as_str() {
            Some(next) if out.len() < MAX_EXPORT => params.cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    out.truncate(MAX_EXPORT);
    Ok(out)
}

/// RFC 4180 field quoting.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(events: &[Value]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for e in events {
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|c| match *c {
                "seq" => e["seq"].as_u64().map(|n| n.to_string()).unwrap_or_default(),
                path => csv_field(text(e, path)),
            })
            .collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

fn download(body: String, kind: &'static str, name: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response()
}

/// `GET /export/{format}`: `csv` or `json`.
pub async fn export(
    State(c): State<Console>,
    s: Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(format): Path<String>,
    Query(f): Query<Filter>,
) -> Response {
    let nav = || Some(Nav::of(&s));
    if format != "csv" && format != "json" {
        return problem_page(
            nav(),
            &Problem::not_found().detail("exports are csv or json"),
        );
    }
    let events = match collect(&c, &s, peer, &headers, &f).await {
        Ok(ev) => ev,
        Err(p) => return problem_page(nav(), &p),
    };
    if format == "csv" {
        download(
            csv(&events),
            "text/csv; charset=utf-8",
            "attachment; filename=\"recall-search.csv\"",
        )
    } else {
        download(
            serde_json::json!({ "events": events }).to_string(),
            "application/json",
            "attachment; filename=\"recall-search.json\"",
        )
    }
}
