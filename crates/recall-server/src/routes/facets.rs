//! `GET /v1/events/facets`: how many of the events a search filter matches have each
//! action, outcome, actor role and source system (`recall_query::Db::facets`), through
//! the same path as `GET /v1/events` (role, lens, patient binding, self-audit record
//! before the answer). A filter of patient, actor, action, outcome, system and time is
//! counted whole from the index (its facet cube and posting lists; `max` is then null);
//! any other is bounded: the newest `max` (`MAX_FACET_EVENTS`) matches are counted and
//! `complete` says whether that was all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use recall_query::{Facets, MAX_FACET_EVENTS, SearchParams};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::problem::Problem;
use crate::routes::events::{Filtered, over_filter};
use crate::routes::json_body;
use crate::routes::reading::reading;
use crate::state::{AppState, internal};

/// The endpoint as its self-audit records name it.
pub const ENDPOINT: &str = "GET /v1/events/facets";

/// Counts the facets of the caller's filter.
pub async fn facets(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    Ok(json_body(
        count(
            &state,
            &who,
            peer,
            &headers,
            params.map_err(Problem::from)?.0,
        )
        .await?,
    ))
}

/// The facet counts of `params` as JSON (what the endpoint answers; the console renders
/// the same value).
pub async fn count(
    state: &AppState,
    who: &Principal,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: SearchParams,
) -> Result<Value, Problem> {
    if who.role.reader().is_none() {
        reading(state, who, headers, None)?;
    }
    for (name, given) in [
        ("cursor", params.cursor.is_some()),
        ("limit", params.limit.is_some()),
        ("order", params.order.is_some()),
    ] {
        if given {
            return Err(Problem::bad_request(format!(
                "{name} is not taken here: facets count the whole filter, newest first"
            ))
            .field(name));
        }
    }
    let on = Filtered {
        state,
        who,
        peer,
        headers,
        params: &params,
        endpoint: ENDPOINT,
    };
    let (_, (f, whole)) = over_filter(on, |db, p, h| {
        Ok((db.facet_counts(p, h)?, p.counts_whole()))
    })
    .await?;
    Ok(to_json(&f, whole))
}

/// Time a search page spent on its events and on its facet counts (the console adds them
/// to its `Server-Timing`, so the benchmark can tell them from the rest of a page).
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    /// The page of events.
    pub search: Duration,
    /// The facet counts.
    pub facets: Duration,
}

impl Spent {
    /// `search;dur=…, facets;dur=…` (milliseconds).
    pub fn header(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "search;dur={:.2}, facets;dur={:.2}",
            ms(self.search),
            ms(self.facets)
        )
    }
}

/// The endpoint the console's search page records: a page of events and the facet
/// counts of its filter, one read of the user's.
pub const PAGE_ENDPOINT: &str = "GET /v1/events with facets";

/// A page of `params`' events (each through the caller's lens, as `GET /v1/events`
/// answers them), its `next_cursor`, and the facet counts of the whole filter: one
/// request of the user's, so one self-audit record ([`PAGE_ENDPOINT`], naming the
/// filter) before either leaves.
pub async fn page_and_count(
    state: &AppState,
    who: &Principal,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: SearchParams,
) -> Result<(Vec<Value>, Option<String>, Value, Spent), Problem> {
    let on = Filtered {
        state,
        who,
        peer,
        headers,
        params: &params,
        endpoint: PAGE_ENDPOINT,
    };
    let (lens, (page, f, whole, spent)) = over_filter(on, |db, p, h| {
        let t = Instant::now();
        let page = db.run(p, h)?;
        let searched = t.elapsed();
        let f = db.facet_counts(p, h)?;
        let spent = Spent {
            search: searched,
            facets: t.elapsed() - searched,
        };
        Ok((page, f, p.counts_whole(), spent))
    })
    .await?;
    let events = page
        .events
        .iter()
        .map(|hit| {
            let shown = lens.json(&hit.canonical).map_err(internal)?;
            serde_json::from_slice(&shown).map_err(internal)
        })
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok((events, page.next_cursor, to_json(&f, whole), spent))
}

/// Values by count, most frequent first (ties by value).
fn ranked(m: &BTreeMap<String, u64>) -> Value {
    let mut v: Vec<(&String, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    Value::Array(
        v.into_iter()
            .map(|(value, count)| json!({"value": value, "count": count}))
            .collect(),
    )
}

/// `whole`: every match was counted, so there is no bound to name.
fn to_json(f: &Facets, whole: bool) -> Value {
    json!({
        "counted": f.counted,
        "complete": f.complete,
        // The bound the count walked under; null when every match was counted.
        "max": (!whole).then_some(MAX_FACET_EVENTS),
        "facets": {
            "action": ranked(&f.action),
            "outcome": ranked(&f.outcome),
            "role": ranked(&f.role),
            "system": ranked(&f.system),
        }
    })
}
