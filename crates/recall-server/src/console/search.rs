//! The search / timeline page: the filter lives in the URL (bookmarkable), results and
//! facet counts come from the API's search path (`over_filter`: role check, lens, one
//! self-audit record for the page), grouped by day, with
//! badges and every value a link that adds it to the filter. Paging follows the API's
//! cursors; the trail of earlier cursors in the URL makes "previous" exact.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::{Timestamp, ToSpan};
use recall_query::{FilterParams, SearchParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Console;
use super::pages::{Nav, html, problem_page, text};
use super::session::Signed;
use crate::problem::Problem;

/// Results per page unless the URL says otherwise.
const PAGE: usize = 50;

/// The filter as the URL carries it (empty values are no filter).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct Filter {
    #[serde(default)]
    pub patient: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub system: String,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub break_glass: String,
    /// `today`, `7d`, `30d`, `custom` or empty (all time).
    #[serde(default)]
    pub range: String,
    /// Custom range, `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub limit: String,
    #[serde(default)]
    pub cursor: String,
    /// Earlier pages' cursors, `.`-separated (the first page's is empty).
    #[serde(default)]
    pub trail: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn bad(field: &str, message: &str) -> Problem {
    Problem::bad_request(message.to_owned()).field(field.to_owned())
}

/// Midnight UTC starting `day` (`YYYY-MM-DD`) plus `add_days`, RFC 3339; the error
/// names `field`.
pub fn utc_day(field: &str, day: &str, add_days: i64) -> Result<String, Problem> {
    let d: jiff::civil::Date = day
        .parse()
        .map_err(|_| bad(field, "must be a date, YYYY-MM-DD"))?;
    let d = d
        .checked_add(add_days.days())
        .map_err(|_| bad(field, "out of range"))?;
    Ok(format!("{d}T00:00:00Z"))
}

impl Filter {
    /// The API's search parameters for this filter at `now`.
    pub fn params(&self, now: Timestamp) -> Result<SearchParams, Problem> {
        let since = |days: i64| (now - (days * 24).hours()).to_string();
        let today = format!("{}T00:00:00Z", now.to_zoned(jiff::tz::TimeZone::UTC).date());
        let (from, to) = match self.range.as_str() {
            "" => (None, None),
            "today" => (Some(today), None),
            "7d" => (Some(since(7)), None),
            "30d" => (Some(since(30)), None),
            "custom" => (
                opt(&self.from)
                    .map(|d| utc_day("from", &d, 0))
                    .transpose()?,
                opt(&self.to).map(|d| utc_day("to", &d, 1)).transpose()?,
            ),
            _ => return Err(bad("range", "must be today, 7d, 30d or custom")),
        };
        let limit = match opt(&self.limit) {
            None => PAGE,
            Some(l) => l.parse().map_err(|_| bad("limit", "must be a number"))?,
        };
        let filter = FilterParams {
            patient: opt(&self.patient),
            actor: opt(&self.actor),
            action: opt(&self.action),
            outcome: opt(&self.outcome),
            purpose: opt(&self.purpose),
            system: opt(&self.system),
            ip: opt(&self.ip),
            break_glass: matches!(self.break_glass.as_str(), "on" | "true").then_some(true),
            from,
            to,
            ..FilterParams::default()
        };
        Ok(SearchParams {
            filter,
            order: Some("desc".into()),
            limit: Some(limit),
            cursor: opt(&self.cursor),
        })
    }

    /// This filter's URL with `key` set to `value` and paging reset.
    pub fn with(&self, key: &str, value: &str) -> String {
        let mut f = self.clone();
        f.cursor.clear();
        f.trail.clear();
        match key {
            "patient" => f.patient = value.into(),
            "actor" => f.actor = value.into(),
            "action" => f.action = value.into(),
            "outcome" => f.outcome = value.into(),
            "purpose" => f.purpose = value.into(),
            "system" => f.system = value.into(),
            "ip" => f.ip = value.into(),
            "break_glass" => f.break_glass = value.into(),
            _ => {}
        }
        f.url("/search")
    }

    /// `base` with this filter as its query (empty fields left out).
    pub fn url(&self, base: &str) -> String {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        let pairs: Vec<(String, String)> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                Some((k.clone(), v.as_str().filter(|s| !s.is_empty())?.to_owned()))
            })
            .collect();
        let q = serde_urlencoded_pairs(&pairs);
        if q.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{q}")
        }
    }

    /// Drops every field but the patient and the date range (the report takes no others).
    pub fn keep_only_patient_and_range(&mut self) {
        *self = Filter {
            patient: std::mem::take(&mut self.patient),
            range: std::mem::take(&mut self.range),
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            ..Filter::default()
        };
    }

    fn page_url(&self, cursor: &str, trail: &str) -> String {
        let mut f = self.clone();
        f.cursor = cursor.to_owned();
        f.trail = trail.to_owned();
        f.url("/search")
    }
}

fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One row of the timeline.
pub struct Row {
    seq: u64,
    time: String,
    action: String,
    outcome: String,
    actor: String,
    actor_name: String,
    role: String,
    patient: String,
    resource: String,
    system: String,
    ip: String,
    purpose: String,
    break_glass: bool,
    after_hours: bool,
}

/// One day of the timeline.
pub struct Day {
    date: String,
    rows: Vec<Row>,
}

fn row(e: &Value) -> Row {
    let time = text(e, "time");
    let hour = time
        .get(11..13)
        .and_then(|h| h.parse::<u32>().ok())
        .unwrap_or(12);
    let resource = [text(e, "resource.type"), text(e, "resource.id")]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    Row {
        seq: e.get("seq").and_then(Value::as_u64).unwrap_or(0),
        time: time.get(11..19).unwrap_or(time).to_owned(),
        action: text(e, "action").to_owned(),
        outcome: text(e, "outcome").to_owned(),
        actor: text(e, "actor.id").to_owned(),
        actor_name: text(e, "actor.name").to_owned(),
        role: text(e, "actor.role").to_owned(),
        patient: text(e, "patient.id").to_owned(),
        resource,
        system: text(e, "source.system").to_owned(),
        ip: text(e, "source.ip").to_owned(),
        purpose: text(e, "purpose").to_owned(),
        break_glass: text(e, "purpose") == recall_query::BREAK_GLASS,
        // Outside 07:00–19:00 UTC (the log keeps UTC; sites' hours are not configured yet).
        after_hours: !(7..19).contains(&hour),
    }
}

fn days(events: &[Value]) -> Vec<Day> {
    let mut out: Vec<Day> = Vec::new();
    for e in events {
        let date = text(e, "time").get(..10).unwrap_or("").to_owned();
        match out.last_mut() {
            Some(d) if d.date == date => d.rows.push(row(e)),
            _ => out.push(Day {
                date,
                rows: vec![row(e)],
            }),
        }
    }
    out
}

/// Marks the first page (no cursor) in the trail; cursors are base64url, never this.
const FIRST: &str = "first";

/// The next and previous pages' URLs: the trail holds the cursors of the pages before
/// this one, so going back shows exactly the page seen before.
fn paging(f: &Filter, next_cursor: Option<&str>) -> (Option<String>, Option<String>) {
    let here = if f.cursor.is_empty() {
        FIRST
    } else {
        &f.cursor
    };
    let next = next_cursor.map(|n| {
        let trail = if f.trail.is_empty() {
            here.to_owned()
        } else {
            format!("{}.{here}", f.trail)
        };
        f.page_url(n, &trail)
    });
    let prev = (!f.trail.is_empty()).then(|| {
        let (rest, last) = f.trail.rsplit_once('.').unwrap_or(("", &f.trail));
        f.page_url(if last == FIRST { "" } else { last }, rest)
    });
    (next, prev)
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    nav: Option<Nav>,
    f: Filter,
    days: Vec<Day>,
    count: usize,
    next: Option<String>,
    prev: Option<String>,
    csv: String,
    json: String,
    /// The PDF report of the filter's patient (or actor), when it names one.
    pdf: Option<String>,
    /// The new assessment form, filled from this filter.
    assess: String,
    facets: super::facets::Shown,
}

/// `GET /search`.
pub async fn page(
    State(c): State<Console>,
    s: Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    let nav = Nav::of(&s);
    let params = match f.params(Timestamp::now()) {
        Ok(p) => p,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let read =
        crate::routes::facets::page_and_count(&c.app, &s.principal(), peer, &headers, params).await;
    let (events, cursor, counts, spent) = match read {
        Ok(r) => r,
        Err(p) => return problem_page(Some(nav), &p),
    };
    let (next, prev) = paging(&f, cursor.as_deref());
    let mut export = f.clone();
    export.cursor.clear();
    export.trail.clear();
    let facets = super::facets::shown(&counts, &f);
    let mut page = html(&SearchPage {
        nav: Some(nav),
        csv: export.url("/export/csv"),
        json: export.url("/export/json"),
        assess: export.url("/assessments/new"),
        pdf: (!export.patient.trim().is_empty() || !export.actor.trim().is_empty())
            .then(|| export.url("/export/pdf")),
        facets,
        count: events.len(),
        days: days(&events),
        next,
        prev,
        f,
    });
    // Durations only (no filter, no value): see console/timing.rs.
    if let Ok(v) = axum::http::HeaderValue::from_str(&spent.header()) {
        page.headers_mut().append("server-timing", v);
    }
    page
}
