//! The event page: every field the caller's lens shows, the raw JSON, and the proof,
//! which the browser checks itself (`assets/proof.js`: RFC 9162 inclusion with WebCrypto
//! SHA-256, the checkpoint's Ed25519 signature with WebCrypto against the log's public
//! keys, which this page hands over). The event is read through the API's own handler
//! (lens, self-audit); the proof comes from the same code as
//! `/v1/logs/{tenant}/proof/inclusion` and carries no event contents.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::Console;
use super::pages::{Nav, api_json, html, problem_page, text, when};
use super::session::Signed;
use crate::routes::events::{GetParams, get_event};
use crate::routes::json_body;

#[derive(Template)]
#[template(path = "console/event.html")]
struct EventPage {
    nav: Option<Nav>,
    seq: u64,
    fields: Vec<(&'static str, String)>,
    raw: String,
    leaf_hash: String,
    vkeys: String,
}

const SHOWN: [(&str, &str); 13] = [
    ("Time", "time"),
    ("Action", "action"),
    ("Outcome", "outcome"),
    ("Actor", "actor.id"),
    ("Actor name", "actor.name"),
    ("Role", "actor.role"),
    ("Patient", "patient.id"),
    ("Resource type", "resource.type"),
    ("Resource", "resource.id"),
    ("Purpose", "purpose"),
    ("Reason", "reason"),
    ("System", "source.system"),
    ("IP", "source.ip"),
];

/// `GET /event/{seq}`.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(seq): Path<u64>,
) -> Response {
    let nav = Nav::of(&s);
    let who = s.principal();
    let tenant = who.tenant.clone();
    let answer = get_event(
        State(c.app.clone()),
        who,
        peer,
        headers,
        Path((tenant, seq)),
        Ok(Query(GetParams::default())),
    )
    .await;
    let v = match api_json(answer).await {
        Ok(v) => v,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let e = &v["event"];
    let fields = SHOWN
        .iter()
        .map(|(label, path)| match *path {
            "time" => (*label, when(text(e, path))),
            _ => (*label, text(e, path).to_owned()),
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let vkeys = c
        .app
        .db
        .journal()
        .verifiers()
        .iter()
        .map(|k| k.to_vkey())
        .collect::<Vec<_>>()
        .join(" ");
    html(&EventPage {
        nav: Some(nav),
        seq,
        fields,
        raw: serde_json::to_string_pretty(e).unwrap_or_default(),
        leaf_hash: text(&v, "leaf_hash").to_owned(),
        vkeys,
    })
}

/// `GET /console/proof/{seq}`: the inclusion proof of the session's tenant's event `seq`
/// and the signed checkpoint it leads to (what the transparency endpoint answers).
pub async fn proof(State(c): State<Console>, s: Signed, Path(seq): Path<u64>) -> Response {
    match crate::routes::logs::inclusion(&c.app, &s.session.tenant, seq).await {
        Ok(v) => json_body(v),
        Err(p) => p.into_response(),
    }
}
