//! IHE ATNA (ITI-20) syslog listeners: `[sources.<name>]` as TLS (RFC 5425), UDP
//! (RFC 5426) or plain TCP (`insecure_tcp`, RFC 6587), each message decoded by
//! `recall-atna` and appended through the same writer as `POST /v1/events`, appended by
//! `syslog:<name>`.
//!
//! Invariants:
//! - Syslog has no acknowledgement, so the messages taken off a stream (one read, plus
//!   what had already arrived) are committed (durable in the log) before anything more
//!   is read from that connection: TCP back-pressure is the acknowledgement. Under overload the
//!   listener waits and retries, slowing its senders; it never drops a message.
//! - A message that does not map is appended as one "unparsed" event holding its text
//!   and counted (`recall_syslog_unparsed_total`, labelled by source name only).
//! - Logs name the source, the peer address and fixed reasons, never message content.

pub mod config;
mod stream;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use recall_model::Event;
use tokio::task::JoinHandle;

pub use config::{SourceConfig, SourceKind, TenantField};

use crate::ingest::IngestError;
use crate::state::AppState;

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The configuration is inconsistent (the message names the option).
    #[error("{0}")]
    Config(String),
    /// Certificates or keys could not be loaded, or rustls refused them.
    #[error("sources.{name}: {source}")]
    Tls {
        /// The source.
        name: String,
        /// Why.
        source: crate::listen::ListenError,
    },
    /// The address could not be bound.
    #[error("sources.{name}.listen {addr}: {source}")]
    Bind {
        /// The source.
        name: String,
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One running listener's settings, shared by its connections.
pub(crate) struct Source {
    pub(crate) name: String,
    /// `appended_by` of its events.
    pub(crate) by: String,
    pub(crate) cfg: SourceConfig,
    pub(crate) state: AppState,
}

/// Binds every configured source and serves it in the background; `on_bound` learns
/// each bound address. The handles stop the listeners when aborted.
pub async fn start(
    state: &AppState,
    sources: &std::collections::BTreeMap<String, SourceConfig>,
    mut on_bound: impl FnMut(&str, SourceKind, SocketAddr),
) -> Result<Vec<JoinHandle<()>>, SourceError> {
    let mut handles = Vec::new();
    for (name, cfg) in sources {
        cfg.validate(name).map_err(SourceError::Config)?;
        let source = Arc::new(Source {
            name: name.clone(),
            by: recall_model::appended_by_syslog(name),
            cfg: cfg.clone(),
            state: state.clone(),
        });
        metrics::counter!("recall_syslog_unparsed_total", "source" => name.clone()).increment(0);
        metrics::counter!("recall_syslog_messages_total", "source" => name.clone()).increment(0);
        if cfg.max_connections.is_some() {
            metrics::counter!("recall_syslog_refused_total", "source" => name.clone()).increment(0);
        }
        let addr = cfg.listen();
        let bind = |source| SourceError::Bind {
            name: name.clone(),
            addr: addr.clone(),
            source,
        };
        let (bound, handle) = match cfg.kind {
            SourceKind::Udp => udp::start(source, &addr).await.map_err(bind)?,
            SourceKind::Tls | SourceKind::InsecureTcp => stream::start(source, &addr).await?,
        };
        tracing::info!(source = %name, %bound, kind = ?cfg.kind, "syslog listening");
        on_bound(name, cfg.kind, bound);
        handles.push(handle);
    }
    Ok(handles)
}

/// Why a message could not be appended (the connection is closed).
#[derive(Debug)]
pub(crate) struct Stopped;

impl Source {
    /// Decodes one message: the tenant it goes to and its events. An unparsed message is
    /// counted and logged here (by reason, never content).
    pub(crate) fn decode(&self, message: &[u8], peer: SocketAddr) -> (String, Vec<Event>) {
        let ctx = recall_atna::Context {
            received: Timestamp::now(),
            peer: Some(peer.ip()),
        };
        let decoded = recall_atna::decode(message, &ctx);
        if let Some(why) = &decoded.unparsed {
            metrics::counter!("recall_syslog_unparsed_total", "source" => self.name.clone())
                .increment(1);
            tracing::warn!(source = %self.name, %peer, reason = %why, "syslog message kept unparsed");
        }
        (
            self.cfg.tenant_for(&decoded.keys).to_owned(),
            decoded.events,
        )
    }

    /// Appends the events of `messages` messages to the tenant's log in one submission
    /// (all or nothing); returns once they are durable. Overload and a full disk are
    /// waited out; other failures stop the connection.
    pub(crate) async fn append(
        &self,
        tenant: &str,
        events: Vec<Event>,
        messages: usize,
        peer: SocketAddr,
    ) -> Result<(), Stopped> {
        let mut wait = Duration::from_millis(10);
        loop {
            match self
                .state
                .ingest
                .submit(tenant, &self.by, events.clone())
                .await
            {
                Ok(_) => break,
                Err(IngestError::Overloaded { .. }) => {}
                Err(IngestError::Storage(f)) if f.is_storage_full() => {}
                Err(e) => {
                    tracing::error!(source = %self.name, %peer, error = %e, "syslog messages not appended; closing");
                    return Err(Stopped);
                }
            }
            metrics::counter!("recall_syslog_waits_total", "source" => self.name.clone())
                .increment(1);
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
        metrics::counter!("recall_syslog_messages_total", "source" => self.name.clone())
            .increment(messages as u64);
        Ok(())
    }

    /// Decodes and appends one message.
    pub(crate) async fn commit(&self, message: &[u8], peer: SocketAddr) -> Result<(), Stopped> {
        let (tenant, events) = self.decode(message, peer);
        self.append(&tenant, events, 1, peer).await
    }
}
