//! `GET /v1/reports/patient-access` and `GET /v1/reports/actor-activity`, JSON, CSV or
//! PDF (`report_pdf.rs`), streamed: the report is written on a blocking thread into a
//! bounded channel that the response body drains, so memory stays bounded whatever the
//! report's size. `tree_size=N` reads a JSON or CSV report at that tree size (how a PDF's
//! digest is re-checked).

use std::io::Write;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use recall_query::{Field, ReportFormat, TimeRange};
use serde::Deserialize;
use serde_json::{Map, json};
use tokio::sync::mpsc;

use crate::audit::{self, Use};
use crate::auth::Principal;
use crate::auth::Role;
use crate::problem::Problem;
use crate::routes::reading::reading;
use crate::routes::{query_problem, time_param};
use crate::state::AppState;

/// Query parameters of a report.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// The patient (patient access).
    pub patient: Option<String>,
    /// The actor (actor activity).
    pub actor: Option<String>,
    /// Event time from (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Event time until (RFC 3339, exclusive).
    pub to: Option<String>,
    /// `json`, `csv` or `pdf`.
    pub format: Option<String>,
    /// Read at this tree size (JSON and CSV).
    pub tree_size: Option<u64>,
}

/// What the caller wants back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    Data(ReportFormat),
    Pdf,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    PatientAccess,
    ActorActivity,
}

impl Kind {
    /// The query layer's report on `subject`.
    pub(super) fn on(self, subject: &str) -> recall_query::ReportKind<'_> {
        match self {
            Kind::PatientAccess => recall_query::ReportKind::PatientAccess(subject),
            Kind::ActorActivity => recall_query::ReportKind::ActorActivity(subject),
        }
    }
}

/// Every access to one patient's data in a range, per actor, then the events.
pub async fn patient_access(
    state: State<AppState>,
    who: Principal,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    report(state, who, peer, headers, params, Kind::PatientAccess).await
}

/// Everything one actor did in a range, per patient, then the events.
pub async fn actor_activity(
    state: State<AppState>,
    who: Principal,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    report(state, who, peer, headers, params, Kind::ActorActivity).await
}

async fn report(
    State(state): State<AppState>,
    who: Principal,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
    kind: Kind,
) -> Result<Response, Problem> {
    if who.role.reader().is_none() {
        reading(&state, &who, &headers, None)?;
    }
    let Query(p) = params.map_err(Problem::from)?;
    let (endpoint, report_name) = match kind {
        Kind::PatientAccess => ("GET /v1/reports/patient-access", "patient-access"),
        Kind::ActorActivity => ("GET /v1/reports/actor-activity", "actor-activity"),
    };
    let mut query = Map::new();
    for (k, v) in [
        ("actor", &p.actor),
        ("from", &p.from),
        ("to", &p.to),
        ("format", &p.format),
    ] {
        if let Some(v) = v {
            query.insert(k.into(), json!(v));
        }
    }
    if let Some(n) = p.tree_size {
        query.insert("tree_size".into(), json!(n));
    }
    query.insert("report".into(), json!(report_name));
    fn use_of<'a>(
        endpoint: &'a str,
        patient: Option<&'a str>,
        query: &Map<String, serde_json::Value>,
        client: std::net::IpAddr,
    ) -> Use<'a> {
        Use {
            kind: recall_governance::UseKind::Report,
            endpoint,
            patient,
            query: query.clone(),
            client: Some(client),
            justification: None,
        }
    }
    let asked = |patient, query: &Map<String, serde_json::Value>| {
        use_of(endpoint, patient, query, peer.ip())
    };
    if who.role == Role::Patient && matches!(kind, Kind::ActorActivity) {
        let no = Problem::forbidden()
            .detail("a patient credential runs only the patient access report of its patient");
        return Err(audit::refused(&state, &who, asked(None, &query), no).await);
    }
    let (name, subject) = match kind {
        Kind::PatientAccess => ("patient", p.patient.clone()),
        Kind::ActorActivity => ("actor", p.actor.clone()),
    };
    let subject = subject
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Problem::bad_request(format!("{name} is required")).field(name))?;
    let range = TimeRange {
        from: time_param("from", p.from.as_deref())?,
        to: time_param("to", p.to.as_deref())?,
    };
    let wanted = format_of(p.format.as_deref(), &headers)?;
    if wanted == Wanted::Pdf && p.tree_size.is_some() {
        let no = "tree_size applies to json and csv: a PDF is read at the latest checkpoint";
        return Err(Problem::bad_request(no).field("tree_size"));
    }
    let read = match reading(&state, &who, &headers, p.patient.as_deref()) {
        Ok(read) => read,
        Err(no) => {
            let asked = asked(p.patient.as_deref(), &query);
            return Err(audit::refused(&state, &who, asked, no).await);
        }
    };
    // The subject as the caller sees it: refused like a search filter on it would be.
    let field = match kind {
        Kind::PatientAccess => Field::PatientId,
        Kind::ActorActivity => Field::ActorId,
    };
    let by_pseudonym = match recall_query::check_subject(&read.lens, field, &subject) {
        Ok(b) => b,
        Err(e) => {
            let asked = asked(p.patient.as_deref(), &query);
            return Err(audit::refused(&state, &who, asked, query_problem(e)).await);
        }
    };
    // A pseudonym is no patient id: it is kept with the parameters, not as the patient.
    let patient = match kind {
        Kind::PatientAccess if by_pseudonym => {
            query.insert("patient".into(), json!(subject));
            None
        }
        _ => p.patient.as_deref(),
    };
    let size = state.await_indexed(&who.tenant).await?;
    if p.tree_size.is_some_and(|n| n > size) {
        let no = Problem::bad_request("tree_size is beyond the log's size").field("tree_size");
        return Err(no);
    }
    let format = match wanted {
        Wanted::Data(f) => f,
        Wanted::Pdf => {
            let ask = crate::routes::report_pdf::Ask {
                kind,
                subject,
                range,
                lens: read.lens,
                asked: Use {
                    justification: read.justification.as_deref(),
                    ..asked(patient, &query)
                },
            };
            return crate::routes::report_pdf::respond(&state, &who, ask).await;
        }
    };
    audit::record(
        &state,
        &who,
        Use {
            justification: read.justification.as_deref(),
            ..asked(patient, &query)
        },
    )
    .await?;
    // The report reads up to what is indexed when it starts; waiting for the record just
    // written makes it always part of the report (as with `recall report`), not only when
    // the indexer happened to be quick.
    state.await_indexed(&who.tenant).await?;
    let (db, tenant, lens, at) = (state.db.clone(), who.tenant.clone(), read.lens, p.tree_size);
    let content_type = match format {
        ReportFormat::Json => "application/json",
        ReportFormat::Csv => "text/csv; charset=utf-8",
    };
    Ok(streamed(content_type, move |out| {
        db.report_at(&tenant, kind.on(&subject), range, format, &lens, at, out)
            .map(|_| ())
    }))
}

/// A response whose body `produce` writes on a blocking thread, through a bounded
/// channel. A failure midway is logged and truncates the body (the client never sees a
/// complete-looking report).
pub(crate) fn streamed<E: std::fmt::Display>(
    content_type: &'static str,
    produce: impl FnOnce(&mut dyn Write) -> Result<(), E> + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter::new(tx.clone());
        let result = produce(&mut out);
        let flushed = out.flush();
        if let Err(e) = result
            .map_err(|e| e.to_string())
            .and(flushed.map_err(|e| e.to_string()))
        {
            tracing::error!(error = %e, "report failed while streaming");
            let _ = tx.blocking_send(Err(std::io::Error::other("report failed")));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(stream),
    )
        .into_response()
}

pub(crate) fn format_of(param: Option<&str>, headers: &HeaderMap) -> Result<Wanted, Problem> {
    match param {
        Some("json") => return Ok(Wanted::Data(ReportFormat::Json)),
        Some("csv") => return Ok(Wanted::Data(ReportFormat::Csv)),
        Some("pdf") => return Ok(Wanted::Pdf),
        Some(_) => {
            return Err(Problem::bad_request("format must be json, csv or pdf").field("format"));
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(if accept.contains("application/json") {
        Wanted::Data(ReportFormat::Json)
    } else if accept.contains("application/pdf") {
        Wanted::Pdf
    } else if accept.contains("text/csv") {
        Wanted::Data(ReportFormat::Csv)
    } else {
        Wanted::Data(ReportFormat::Json)
    })
}

/// A `Write` that sends 64 KiB chunks into a bounded channel (blocking when the client
/// reads slower than the report is produced).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChannelWriter {
    fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}
