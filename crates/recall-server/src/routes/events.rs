//! `POST /v1/events`, `GET /v1/events`, `GET /v1/events/{tenant}/{seq}`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use jiff::Timestamp;
use recall_query::Lookup;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::audit::{self, Use};
use crate::auth::{Principal, Role};
use crate::ingest::{BodyError, IngestError, Receipt, parse_body};
use crate::problem::Problem;
use crate::routes::reading::reading;
use crate::routes::{json_body, json_bytes, query_problem};
use crate::state::{AppState, blocking, internal};

/// Bodies up to this size are parsed on the async worker (tens of microseconds).
const INLINE_PARSE_BYTES: usize = 16 * 1024;

/// Appends one event, a JSON array of events, or NDJSON; answers with a receipt per event.
pub async fn post_events(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    who.require(&[Role::Writer])?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Body too large")
                .detail(format!(
                    "a request body holds at most {} bytes",
                    state.cfg.max_body_bytes
                ))
                .field("body")
        } else {
            Problem::bad_request("the body could not be read").field("body")
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max = state.cfg.max_batch_events;
    let small = body.len() <= INLINE_PARSE_BYTES;
    let parse = move || parse_body(content_type.as_deref(), &body, Timestamp::now(), max);
    // Large bodies are parsed off the async workers; a small one costs less than the
    // hand-off to a blocking thread and back.
    let events = if small {
        parse()
    } else {
        tokio::task::spawn_blocking(parse).await.map_err(internal)?
    }
    .map_err(body_problem)?;
    check_events(&state, &who, &events)?;
    metrics::histogram!("recall_ingest_request_events").record(events.len() as f64);
    let receipts = state
        .ingest
        .submit(&who.tenant, &who.subject, events)
        .await
        .map_err(ingest_problem)?;
    let status = if receipts.iter().all(|r| r.replayed) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, json_body(receipts_json(&receipts))).into_response())
}

/// Refuses events for another tenant, or already past their retention period (they
/// would be shredded at once); shared by every ingest route.
pub(crate) fn check_events(
    state: &AppState,
    who: &Principal,
    events: &[recall_model::Event],
) -> Result<(), Problem> {
    let now = Timestamp::now();
    let retention = &state.cfg.retention;
    for (i, e) in events.iter().enumerate() {
        if e.tenant.as_deref().is_some_and(|t| t != who.tenant) {
            return Err(Problem::new(StatusCode::FORBIDDEN, "Tenant mismatch")
                .detail("the event names a tenant other than the credential's")
                .field("tenant")
                .index(i));
        }
        if e.time < retention.cutoff_for(&who.tenant, &e.action, now) {
            return Err(Problem::bad_request(
                "time is older than the retention period of this tenant or action: it would be shredded at once",
            )
            .field("time")
            .index(i));
        }
    }
    Ok(())
}

fn receipts_json(receipts: &[Receipt]) -> Value {
    let list: Vec<Value> = receipts
        .iter()
        .map(|r| {
            let mut o =
                json!({"tenant": r.tenant, "seq": r.seq, "leaf_hash": B64.encode(r.leaf_hash)});
            if r.replayed {
                o["replayed"] = json!(true);
            }
            o
        })
        .collect();
    json!({ "receipts": list })
}

fn body_problem(e: BodyError) -> Problem {
    match e {
        BodyError::Malformed { index, message } => {
            let p = Problem::bad_request(message).field("body");
            match index {
                Some(i) => p.index(i),
                None => p,
            }
        }
        BodyError::Invalid { index, error } => {
            Problem::new(StatusCode::BAD_REQUEST, "Invalid event")
                .detail(format!("{}: {}", error.field, error.message))
                .field(error.field)
                .index(index)
        }
        BodyError::TooMany { limit } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Too many events")
                .detail(format!("a request carries at most {limit} events"))
        }
        BodyError::Empty => Problem::bad_request("the body holds no event").field("body"),
        BodyError::MediaType => {
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
                .detail("Content-Type must be application/json or application/x-ndjson")
                .field("content-type")
        }
    }
}

/// Maps an ingest failure to its answer.
pub fn ingest_problem(e: IngestError) -> Problem {
    match e {
        IngestError::Overloaded { retry_after } => {
            Problem::unavailable(retry_after).detail("the ingest queue is full; retry later")
        }
        IngestError::ShuttingDown => Problem::unavailable(5).detail("the server is shutting down"),
        IngestError::Conflict { index } => Problem::new(StatusCode::CONFLICT, "Conflict")
            .detail(
                "this id is already taken by an event with other content; nothing of the request was appended",
            )
            .field("id")
            .index(index),
        IngestError::Storage(e) => storage_problem(&e),
    }
}

/// Seconds a client is asked to wait after a refusal for lack of space (the writer probes
/// for space once a second).
const FULL_RETRY_SECS: u64 = 5;

/// A storage failure under ingest: a full disk is 507 and nothing was recorded; an
/// indeterminate outcome is 503 and says that sending the events again by id is safe;
/// anything else 500, nothing recorded.
fn storage_problem(e: &crate::ingest::StorageError) -> Problem {
    if e.is_storage_full() {
        tracing::warn!(error = %e, "ingest refused: storage full");
        return Problem::insufficient_storage(FULL_RETRY_SECS).detail(
            "the server is out of disk space; nothing of this request was recorded; retry later",
        );
    }
    if e.is_indeterminate() {
        tracing::error!(error = %e, "ingest outcome unknown");
        return Problem::unavailable(FULL_RETRY_SECS).detail(
            "the outcome is unknown: the events may or may not have been recorded; sending them again with the same ids is safe (an id already recorded is answered as replayed)",
        );
    }
    internal(e).detail("nothing of this request was recorded")
}

/// Searches the caller's tenant.
pub async fn search_events(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<recall_query::SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    if who.role.reader().is_none() {
        reading(&state, &who, &headers, None)?;
    }
    let Query(params) = params.map_err(Problem::from)?;
    let found = search(&state, &who, peer, &headers, &params, "GET /v1/events").await?;
    let page = &found.page;
    let mut out = Vec::with_capacity(
        64 + page
            .events
            .iter()
            .map(|f| f.canonical.len() + 1)
            .sum::<usize>(),
    );
    out.extend_from_slice(b"{\"events\":[");
    for (i, f) in page.events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&found.lens.json(&f.canonical).map_err(internal)?);
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    out.extend_from_slice(&serde_json::to_vec(&page.next_cursor).map_err(internal)?);
    out.push(b'}');
    Ok(json_bytes(out))
}

/// A page of a search and the lens its events are to be shown through.
pub(crate) struct Searched {
    /// How the caller sees the events.
    pub lens: recall_query::Lens,
    /// The matching events, still in their stored form.
    pub page: recall_query::Page,
}

/// The one search path of every face (`GET /v1/events`, `GET /fhir/AuditEvent`): a page
/// of [`over_filter`].
pub(crate) async fn search(
    state: &AppState,
    who: &Principal,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: &recall_query::SearchParams,
    endpoint: &'static str,
) -> Result<Searched, Problem> {
    let on = Filtered {
        state,
        who,
        peer,
        headers,
        params,
        endpoint,
    };
    let (lens, page) = over_filter(on, |db, p, h| db.run(p, h)).await?;
    Ok(Searched { lens, page })
}

/// A request that reads over a search filter, and the endpoint its record names.
pub(crate) struct Filtered<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) who: &'a Principal,
    pub(crate) peer: SocketAddr,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) params: &'a recall_query::SearchParams,
    pub(crate) endpoint: &'static str,
}

/// What every read over a search filter shares (searches, facet counts): role and lens
/// checks, the filter as this reader may ask it, and the self-audit record, durable
/// before the answer is returned; `run` reads below the horizon taken at the start, so
/// it never sees its own record. Refusals are recorded too. Answers the lens and `run`'s
/// result.
pub(crate) async fn over_filter<T: Send + 'static>(
    on: Filtered<'_>,
    run: impl FnOnce(
        &recall_query::Db,
        &recall_query::Prepared,
        u64,
    ) -> Result<T, recall_query::QueryError>
    + Send
    + 'static,
) -> Result<(recall_query::Lens, T), Problem> {
    let (state, who, headers, params) = (on.state, on.who, on.headers, on.params);
    let (peer, endpoint) = (on.peer, on.endpoint);
    let asked = |lens: &recall_query::Lens| Use {
        kind: recall_governance::UseKind::Search,
        endpoint,
        patient: params.recorded_patient(lens),
        query: params.recorded(lens),
        client: Some(peer.ip()),
        justification: None,
    };
    let read = match reading(state, who, headers, params.filter.patient.as_deref()) {
        Ok(read) => read,
        Err(p) => {
            return Err(audit::refused(state, who, asked(&recall_query::Lens::full()), p).await);
        }
    };
    let query = match params.query(&read.lens) {
        Ok(q) => q,
        Err(e) => {
            return Err(audit::refused(state, who, asked(&read.lens), query_problem(e)).await);
        }
    };
    // Prepared after the wait: a tenant's first events may be what makes it known to the
    // index.
    let horizon = state.await_indexed(&who.tenant).await?;
    // Preparing is a keyed hash and a look at the tenant table: cheaper here than a
    // hand-off to a blocking thread and back.
    let prepared = state
        .db
        .prepare(&who.tenant, &query)
        .map_err(query_problem)?;
    // The audit record is made durable while the search runs (it needs only the
    // request); the search stops below `horizon`, so it never returns its own record.
    let db = state.db.clone();
    let search = blocking(move || run(&db, &prepared, horizon).map_err(query_problem));
    let record = audit::record(
        state,
        who,
        Use {
            justification: read.justification.as_deref(),
            ..asked(&read.lens)
        },
    );
    let (out, ()) = tokio::try_join!(search, record)?;
    Ok((read.lens, out))
}

/// Query parameters of `GET /v1/events/{tenant}/{seq}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    proof: Option<bool>,
}

/// Reads one event, optionally with its inclusion proof to the latest checkpoint.
pub async fn get_event(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((tenant, seq)): Path<(String, u64)>,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    if who.role.reader().is_none() {
        reading(&state, &who, &headers, None)?;
    }
    who.require_tenant(&tenant)?;
    let Query(params) = params.map_err(Problem::from)?;
    let mut query = Map::new();
    query.insert("seq".into(), json!(seq));
    query.insert("proof".into(), json!(params.proof.unwrap_or(false)));
    let asked = Asked {
        endpoint: "GET /v1/events/{tenant}/{seq}",
        query,
        client: peer.ip(),
    };
    let (read, found) = read_event(&state, &who, &headers, &tenant, seq, asked).await?;
    let leaf = {
        let journal = state.db.journal().clone();
        let t = tenant.clone();
        blocking(move || journal.leaf(&t, seq).map_err(internal)).await?
    };
    let mut out = Vec::with_capacity(found.canonical.len() + 512);
    out.extend_from_slice(b"{\"event\":");
    out.extend_from_slice(&read.lens.json(&found.canonical).map_err(internal)?);
    out.extend_from_slice(format!(",\"leaf_hash\":\"{}\"", B64.encode(leaf)).as_bytes());
    if params.proof == Some(true) {
        let proof = crate::routes::logs::inclusion(&state, &tenant, seq).await?;
        out.extend_from_slice(b",\"inclusion\":");
        out.extend_from_slice(&serde_json::to_vec(&proof).map_err(internal)?);
    }
    out.push(b'}');
    Ok(json_bytes(out))
}

/// How a read of one event is put on record.
pub(crate) struct Asked {
    /// The endpoint, as recorded.
    pub(crate) endpoint: &'static str,
    /// The request's parameters, as recorded.
    pub(crate) query: Map<String, Value>,
    /// The caller's address.
    pub(crate) client: std::net::IpAddr,
}

/// Reads event `seq` of `tenant` for `who`: its lens, and the event once the read's
/// self-audit record is durable (404, 410, 403 otherwise; a refused read is recorded).
pub(crate) async fn read_event(
    state: &AppState,
    who: &Principal,
    headers: &HeaderMap,
    tenant: &str,
    seq: u64,
    asked: Asked,
) -> Result<(crate::routes::reading::Reading, recall_query::Found), Problem> {
    let (db, t) = (state.db.clone(), tenant.to_string());
    let found = match blocking(move || db.get(&t, seq).map_err(query_problem)).await? {
        Lookup::Found(f) => f,
        Lookup::NotFound => return Err(not_found()),
        Lookup::Unreadable { epoch } => return Err(shredded(state, tenant, seq, epoch).await),
    };
    let patient = found.event.patient.as_ref().map(|p| p.id.as_str());
    let asked = Use {
        kind: recall_governance::UseKind::Search,
        endpoint: asked.endpoint,
        patient,
        query: asked.query,
        client: Some(asked.client),
        justification: None,
    };
    // A patient credential learns nothing of other patients' events, not even that
    // they exist; the attempt is on record.
    let read = match reading(state, who, headers, patient) {
        Ok(read) => read,
        Err(_) if who.role == Role::Patient => {
            return Err(audit::refused(state, who, asked, not_found()).await);
        }
        Err(p) => return Err(p),
    };
    audit::record(
        state,
        who,
        Use {
            justification: read.justification.as_deref(),
            ..asked
        },
    )
    .await?;
    Ok((read, found))
}

/// 410 for an event whose epoch keys retention destroyed: its seq and when.
async fn shredded(state: &AppState, tenant: &str, seq: u64, epoch: u32) -> Problem {
    let (journal, t) = (state.db.journal().clone(), tenant.to_string());
    let when = blocking(move || journal.keystore().forgotten_epochs_at(&t).map_err(internal))
        .await
        .ok()
        .and_then(|list| {
            list.into_iter()
                .find(|(e, _)| *e == epoch)
                .map(|(_, at)| at)
        });
    let at = when.map_or_else(String::new, |w| format!(" at {w}"));
    Problem::new(StatusCode::GONE, "Event shredded").detail(format!(
        "event {seq} was shredded by the retention policy{at} (its month's keys were destroyed); its entry stays in the tree and verifies"
    ))
}

fn not_found() -> Problem {
    Problem::not_found().detail("no event at this seq")
}
