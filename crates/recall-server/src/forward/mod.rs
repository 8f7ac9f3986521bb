//! The forwarder: each `[sinks.<name>]` is a task inside `recall serve` that pushes one
//! tenant's new events, in log order, to a SIEM or archive — RFC 5424 syslog over TLS
//! (RFC 5425) or NDJSON batches over HTTPS. Records are made by the export
//! (`recall_query::Db::export`, the code behind `GET /v1/export`), through the lens of
//! the sink's role; the sink's cursor is the export's resume cursor.
//!
//! Invariants:
//! - At least once, never a gap: the cursor (`cursor.rs`) moves only after the receiver
//!   accepted a batch, and a batch is every seq after the cursor up to its end. After a
//!   crash the last batch may be sent again.
//! - Before a sink sends anything after it starts, one self-audit event (110101, action
//!   `export`) names the sink, its role, format, destination and the cursor it resumes
//!   after; what a run disclosed is the range from that cursor to the next start's.
//! - A receiver that fails is retried with capped exponential back-off and jitter; it
//!   never blocks ingest or reads (the sink is its own task; exports read the index).
//! - Metric labels and logs name the sink (configuration), never event contents.

pub mod config;
mod cursor;
mod transport;

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use recall_governance::{Act, UseKind, Via, Who};
use recall_query::{Export, ExportFormat, ExportStats, Filter, Lens, Lookup};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

pub use config::{SinkConfig, SinkKind};
pub use cursor::DIR as CURSOR_DIR;

use crate::state::{AppState, blocking, internal};
use cursor::CursorFile;
use transport::Target;

/// Why the sinks could not start.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration is inconsistent or a certificate file is unusable (the message
    /// names the option).
    #[error("{0}")]
    Config(String),
}

/// Longest wait for new events before the lag is computed again.
const IDLE: Duration = Duration::from_secs(1);
/// First wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The wait before the next attempt after a failure: doubling from [`FIRST_BACKOFF`],
/// capped, jittered.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(max: Duration) -> Backoff {
        Backoff {
            next: FIRST_BACKOFF,
            max,
        }
    }

    /// Counts and logs a failure (by sink and reason), then waits.
    async fn failed(&mut self, sink: &str, what: &str, why: &str) {
        metrics::counter!("recall_sink_errors_total", "sink" => sink.to_owned()).increment(1);
        tracing::warn!(sink, error = %why, retry_in_ms = self.next.as_millis() as u64, "sink: {what} failed");
        tokio::time::sleep(jittered(self.next)).await;
        self.next = (self.next * 2).min(self.max);
    }
}

/// Runs the fallible expression until it succeeds, waiting out each failure.
macro_rules! until_ok {
    ($self:ident, $what:expr, $e:expr) => {{
        let mut backoff = Backoff::new($self.max_backoff);
        loop {
            match $e {
                Ok(x) => break x,
                Err(why) => backoff.failed(&$self.name, $what, &why).await,
            }
        }
    }};
}

/// One running sink.
struct Sink {
    name: String,
    cfg: SinkConfig,
    format: ExportFormat,
    state: AppState,
    cursor: CursorFile,
    target: Target,
    max_backoff: Duration,
}

/// Checks every configured sink and starts each as a task; the handles stop them when
/// aborted. Certificate files are read here, so a bad one stops the start.
pub fn start(
    state: &AppState,
    sinks: &BTreeMap<String, SinkConfig>,
) -> Result<Vec<JoinHandle<()>>, SinkError> {
    let mut handles = Vec::new();
    for (name, cfg) in sinks {
        cfg.validate(name).map_err(SinkError::Config)?;
        let data = state.cfg.data_dir.as_deref().ok_or_else(|| {
            SinkError::Config(format!("sinks.{name}: the server has no data directory"))
        })?;
        let sink = Sink {
            name: name.clone(),
            format: cfg
                .export_format()
                .ok_or_else(|| SinkError::Config(name.clone()))?,
            cursor: CursorFile::new(data, name, &cfg.tenant),
            target: Target::new(name, cfg).map_err(SinkError::Config)?,
            max_backoff: Duration::from_secs(cfg.max_backoff_secs),
            cfg: cfg.clone(),
            state: state.clone(),
        };
        for counter in ["recall_sink_sent_total", "recall_sink_errors_total"] {
            metrics::counter!(counter, "sink" => name.clone()).increment(0);
        }
        tracing::info!(sink = %name, kind = ?cfg.kind, to = %sink.target.destination(), "sink starting");
        handles.push(tokio::spawn(sink.run()));
    }
    Ok(handles)
}

impl Sink {
    async fn run(mut self) {
        let mut after = until_ok!(
            self,
            "reading the cursor",
            self.cursor.load().map_err(|e| e.to_string())
        );
        // A tenant without a log yet has nothing to forward and no keys for a lens.
        while self.state.log_size(&self.cfg.tenant).unwrap_or(0) == 0 {
            tokio::time::sleep(IDLE).await;
        }
        let lens = until_ok!(self, "starting", self.begin(after).await);
        loop {
            match self.next_batch(after, &lens).await {
                Some(end) => after = Some(end),
                None => self.idle(after).await,
            }
            self.gauges(after).await;
        }
    }

    /// Records the start and returns the lens of the sink's role.
    async fn begin(&self, after: Option<u64>) -> Result<Lens, String> {
        let tenant = &self.cfg.tenant;
        let role = self.cfg.reader_role().ok_or("role")?;
        let reader = role.reader().ok_or("role")?;
        let lens = (self.state.db)
            .lens(tenant, &self.state.cfg.policy, reader, false)
            .map_err(|e| e.to_string())?;
        let mut query = Map::new();
        query.insert("sink".into(), Value::from(self.name.as_str()));
        query.insert("destination".into(), Value::from(self.target.destination()));
        query.insert("format".into(), Value::from(self.format.name()));
        if let Some(a) = after {
            query.insert("after".into(), Value::from(a.to_string()));
        }
        let act = Act::LogUsed {
            kind: UseKind::Export,
            patient: None,
            query,
            justification: None,
            refused: false,
        };
        let who = Who {
            id: format!("sink:{}", self.name),
            role: Some(role.to_string()),
            kind: "service",
        };
        let via = Via::server(&format!("forwarder sinks.{}", self.name));
        crate::audit::record_act(&self.state, tenant, &act, &who, &via)
            .await
            .map_err(|p| format!("recording the start: {}", p.status))?;
        tracing::info!(sink = %self.name, after = ?after, "sink resumed");
        Ok(lens)
    }

    /// Exports and sends the next batch after `after`; its last seq once the receiver
    /// accepted it and the cursor is kept, `None` when there was nothing new.
    async fn next_batch(&mut self, after: Option<u64>, lens: &Lens) -> Option<u64> {
        let indexed = self.state.db.indexed(&self.cfg.tenant).ok()?;
        let start = after.map_or(0, |a| a + 1);
        if start >= indexed {
            return None;
        }
        let horizon = indexed.min(start + self.cfg.batch_events);
        let (lines, stats) = until_ok!(
            self,
            "exporting",
            self.export(after, horizon, lens.clone()).await
        );
        let end = horizon - 1;
        if !lines.is_empty() {
            until_ok!(self, "sending", self.target.send(&lines, end).await);
        }
        until_ok!(
            self,
            "keeping the cursor",
            self.cursor.store(end).map_err(|e| e.to_string())
        );
        metrics::counter!("recall_sink_sent_total", "sink" => self.name.clone())
            .increment(stats.events);
        Some(end)
    }

    /// The records of seqs after `after` and below `horizon`, as NDJSON.
    async fn export(
        &self,
        after: Option<u64>,
        horizon: u64,
        lens: Lens,
    ) -> Result<(Vec<u8>, ExportStats), String> {
        let (db, tenant, format) = (self.state.db.clone(), self.cfg.tenant.clone(), self.format);
        blocking(move || {
            let filter = Filter::default();
            let x = Export {
                tenant: &tenant,
                filter: &filter,
                after,
                horizon,
                format,
                lens: &lens,
            };
            let mut out = Vec::new();
            let stats = db.export(&x, &mut out, &mut |_| {}).map_err(internal)?;
            Ok((out, stats))
        })
        .await
        .map_err(|p| format!("export failed ({})", p.status))
    }

    /// Waits (at most [`IDLE`]) for an event after `after` to be indexed.
    async fn idle(&self, after: Option<u64>) {
        let want = after.map_or(1, |a| a + 2);
        let progress = self.state.ingest.progress();
        let _ = progress
            .wait_for(&self.state.db, &self.cfg.tenant, want, IDLE)
            .await;
    }

    /// `recall_sink_lag_events`: events in the log after the cursor;
    /// `recall_sink_lag_seconds`: how long ago the oldest of them was received.
    async fn gauges(&self, after: Option<u64>) {
        let size = self.state.log_size(&self.cfg.tenant).unwrap_or(0);
        let next = after.map_or(0, |a| a + 1);
        let lag = size.saturating_sub(next);
        let mut seconds = 0.0;
        if lag > 0 {
            let (db, tenant) = (self.state.db.clone(), self.cfg.tenant.clone());
            let found = blocking(move || db.get(&tenant, next).map_err(internal)).await;
            if let Ok(Lookup::Found(f)) = found {
                seconds = Timestamp::now()
                    .duration_since(f.received)
                    .as_secs_f64()
                    .max(0.0);
            }
        }
        metrics::gauge!("recall_sink_lag_events", "sink" => self.name.clone()).set(lag as f64);
        metrics::gauge!("recall_sink_lag_seconds", "sink" => self.name.clone()).set(seconds);
    }
}

/// A wait between `d / 2` and `d`, so that sinks failing together do not retry together.
fn jittered(d: Duration) -> Duration {
    let r = std::collections::hash_map::RandomState::new().hash_one(Instant::now()) % 1000;
    d / 2 + d / 2 * u32::try_from(r).unwrap_or(0) / 1000
}
