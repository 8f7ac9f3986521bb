//! Stream listeners: TLS (RFC 5425, octet counting, client certificates checked against
//! `client_ca` when set) and `insecure_tcp` (octet counting or LF framing).
//!
//! Each connection reads into a buffer and commits the complete messages in it (one
//! submission per tenant, at most 1,000 messages), reading more only once they are
//! durable: while messages are being committed nothing is read, so a sender that
//! outpaces the log is slowed by TCP itself, and no message taken off the socket waits
//! in memory behind a read. After a read, whatever else has already arrived (in the
//! kernel's socket buffer or the TLS layer) is taken too, without waiting, up to
//! [`GATHER_BYTES`]: a sender's burst costs one commit, not one per read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use recall_atna::{Framing, next_frame};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::{Source, SourceError, SourceKind};
use crate::listen::{certificates, private_key};

/// Time a sender has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Buffer growth per read; a message may span many reads.
const READ_CHUNK: usize = 64 * 1024;

/// Most messages committed in one submission.
const BATCH_MESSAGES: usize = 1000;

/// Bytes a connection's buffer may gather from data that has already arrived before its
/// messages are committed (a single message may still need more: it is read in full).
const GATHER_BYTES: usize = 4 * READ_CHUNK;

pub(super) async fn start(
    source: Arc<Source>,
    addr: &str,
) -> Result<(SocketAddr, JoinHandle<()>), SourceError> {
    let tls = match source.cfg.kind {
        SourceKind::Tls => Some(acceptor(&source).map_err(|e| SourceError::Tls {
            name: source.name.clone(),
            source: e,
        })?),
        _ => None,
    };
    let bind = |e| SourceError::Bind {
        name: source.name.clone(),
        addr: addr.to_owned(),
        source: e,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let slots = source
        .cfg
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n)));
    let handle = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(source = %source.name, error = %e, "syslog accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = take_slot(slots.as_ref()) else {
                refuse(&source, peer);
                continue;
            };
            let (source, tls) = (source.clone(), tls.clone());
            tokio::spawn(async move {
                // The slot is held for as long as the connection is served.
                let _slot = slot;
                let _ = tcp.set_nodelay(true);
                match tls {
                    Some(tls) => match tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                        Ok(Ok(s)) => serve(s, Framing::OctetCounting, peer, &source).await,
                        Ok(Err(e)) => {
                            tracing::warn!(source = %source.name, %peer, error = %e, "syslog TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::warn!(source = %source.name, %peer, "syslog TLS handshake timed out");
                        }
                    },
                    None => serve(tcp, Framing::Auto, peer, &source).await,
                }
            });
        }
    });
    Ok((bound, handle))
}

/// A slot under the source's `max_connections`, if it has one; `Err` when all are taken.
fn take_slot(
    slots: Option<&Arc<Semaphore>>,
) -> Result<Option<OwnedSemaphorePermit>, tokio::sync::TryAcquireError> {
    slots.map(|s| s.clone().try_acquire_owned()).transpose()
}

/// Closes a connection beyond `max_connections` at once (the sender sees it closed and
/// retries later) and counts it.
fn refuse(source: &Source, peer: SocketAddr) {
    metrics::counter!("recall_syslog_refused_total", "source" => source.name.clone()).increment(1);
    tracing::warn!(source = %source.name, %peer, "syslog connection refused: max_connections reached");
}

/// The TLS acceptor: the source's certificate, and client certificates required and
/// verified against `client_ca` when it is set.
fn acceptor(source: &Source) -> Result<TlsAcceptor, crate::listen::ListenError> {
    let cfg = &source.cfg;
    let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) else {
        return Err(crate::listen::ListenError::TlsIncomplete);
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &cfg.client_ca {
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certificates(cert)?, private_key(key)?)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn client_verifier(
    ca: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, crate::listen::ListenError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca)? {
        roots.add(c)?;
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| crate::listen::ListenError::Certificate {
            path: ca.to_owned(),
            reason: e.to_string(),
        })
}

/// Commits every message of one connection in order until it closes or fails.
async fn serve(
    mut conn: impl AsyncRead + Unpin,
    framing: Framing,
    peer: SocketAddr,
    source: &Source,
) {
    let max = source.cfg.max_message_bytes;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        // Every complete message is committed before the next read (more than
        // BATCH_MESSAGES of them take several submissions).
        loop {
            let used = match commit_buffered(&buf, framing, max, peer, source).await {
                Some(used) => used,
                None => return,
            };
            buf.drain(..used);
            if used == 0 {
                break;
            }
        }
        buf.reserve(READ_CHUNK);
        match conn.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => gather(&mut conn, &mut buf),
            Err(e) => {
                tracing::debug!(source = %source.name, %peer, error = %e, "syslog connection ended");
                return;
            }
        }
    }
    // A legacy sender's last line may lack its LF; it is a message all the same.
    let rest = buf.trim_ascii();
    if framing == Framing::Auto && !rest.is_empty() && !rest[0].is_ascii_digit() {
        let _ = source.commit(rest, peer).await;
    } else if !rest.is_empty() {
        tracing::warn!(source = %source.name, %peer, bytes = rest.len(), "syslog connection closed inside a message");
    }
}

/// Adds to `buf` what the connection already holds, without waiting, until it has
/// [`GATHER_BYTES`]. The end of the stream or an error is left for the next (waiting)
/// read to report, after what was gathered has been committed.
fn gather(conn: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) {
    while buf.len() < GATHER_BYTES {
        buf.reserve(READ_CHUNK);
        // A read that would wait is dropped unfinished: `read_buf` is cancel safe, so
        // nothing is taken off the connection and lost.
        match conn.read_buf(buf).now_or_never() {
            Some(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Commits the complete messages at the front of `buf` — one submission per tenant,
/// durable before this returns — and says how many bytes they took; `None` when the
/// connection must close (a framing error, or the log failing).
async fn commit_buffered(
    buf: &[u8],
    framing: Framing,
    max: usize,
    peer: SocketAddr,
    source: &Source,
) -> Option<usize> {
    let mut used = 0;
    let mut pending: BTreeMap<String, (Vec<recall_model::Event>, usize)> = BTreeMap::new();
    let mut failed = false;
    while pending.values().map(|p| p.1).sum::<usize>() < BATCH_MESSAGES {
        match next_frame(&buf[used..], framing, max) {
            Ok(Some(f)) => {
                let (tenant, events) = source.decode(&buf[used + f.start..used + f.end], peer);
                let slot = pending.entry(tenant).or_default();
                slot.0.extend(events);
                slot.1 += 1;
                used += f.consumed;
            }
            Ok(None) => break,
            Err(e) => {
                // The stream cannot be resynchronised; the messages before it are kept.
                tracing::warn!(source = %source.name, %peer, error = %e, "syslog framing error; closing");
                failed = true;
                break;
            }
        }
    }
    for (tenant, (events, messages)) in pending {
        source.append(&tenant, events, messages, peer).await.ok()?;
    }
    (!failed).then_some(used)
}
