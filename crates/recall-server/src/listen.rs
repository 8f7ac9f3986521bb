//! The listener: TLS with rustls (aws-lc-rs) when configured, plain HTTP only on a
//! loopback address unless `insecure_http`, connections capped and idle ones closed
//! (`connections`), and graceful shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ServerConfig;
use crate::connections::{self, Admit, Budget, Guard};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// `listen` does not resolve to an address.
    #[error("server.listen {listen:?}: {reason}")]
    Address {
        /// The configured value.
        listen: String,
        /// Why it did not resolve.
        reason: String,
    },
    /// Plain HTTP was asked for on an address other machines can reach.
    #[error(
        "refusing plain HTTP on {addr}, which is not a loopback address: configure \
         server.tls_cert and server.tls_key, listen on 127.0.0.1 behind a TLS proxy, or set \
         server.insecure_http = true"
    )]
    PlainHttpRefused {
        /// The resolved address.
        addr: SocketAddr,
    },
    /// Only one of `tls_cert` and `tls_key` is set.
    #[error("server.tls_cert and server.tls_key: set both or neither")]
    TlsIncomplete,
    /// The certificate chain file is unreadable or holds no certificate.
    #[error("TLS certificate file {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The private key file is unreadable or holds no usable key (its content is never
    /// echoed).
    #[error("TLS private key file {path}: {reason}")]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// Binding the address failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

async fn resolve(listen: &str) -> Result<SocketAddr, ListenError> {
    let fail = |reason: String| ListenError::Address {
        listen: listen.to_owned(),
        reason,
    };
    tokio::net::lookup_host(listen)
        .await
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("resolves to no address".into()))
}

pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ListenError> {
    let fail = |reason: String| ListenError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if chain.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(chain)
}

pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ListenError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| ListenError::PrivateKey {
        path: path.to_owned(),
        // pki-types' errors name the problem (missing section, I/O), not key bytes.
        reason: e.to_string(),
    })
}

/// The rustls configuration for `cert` and `key` (aws-lc-rs provider, safe default
/// protocol versions, HTTP/2 and HTTP/1.1 by ALPN).
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ListenError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates(cert)?, private_key(key)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Cuts off a client that takes longer than `limit` to send a request's headers
/// (slowloris). The request timeout only starts once the headers are in, and hyper runs
/// its own header timeout only when given a timer: without this, a client that never
/// finishes its headers holds a connection forever.
fn limit_header_time(builder: &mut Builder<TokioExecutor>, limit: Duration) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limit);
}

/// Serves `app` on `cfg.listen` until `shutdown` resolves.
///
/// TLS when `tls_cert` and `tls_key` are set; otherwise plain HTTP, refused for a
/// non-loopback address unless `insecure_http`. `on_bound` gets the bound address (useful
/// with port 0) before the first connection is accepted. After `shutdown` resolves, no new
/// connection is accepted and in-flight requests get up to `request_timeout_secs` to
/// finish. A client gets `request_timeout_secs` for its headers too. At most
/// `max_connections` connections are open at once (see [`Budget`]: the soft descriptor
/// limit is raised to the hard one first); one without a request in flight for
/// `idle_timeout_secs` is closed.
pub async fn serve(
    app: Router,
    cfg: &ServerConfig,
    on_bound: impl FnOnce(SocketAddr) + Send,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ListenError> {
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        (None, None) => None,
        _ => return Err(ListenError::TlsIncomplete),
    };
    let addr = resolve(&cfg.listen).await?;
    if tls.is_none() && !addr.ip().is_loopback() && !cfg.insecure_http {
        return Err(ListenError::PlainHttpRefused { addr });
    }
    let bind = |source| ListenError::Bind { addr, source };
    let listener = TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    if tls.is_none() && !bound.ip().is_loopback() {
        tracing::warn!(%bound, "serving plain HTTP on a non-loopback address (insecure_http)");
    }
    let budget = Budget::new(connections::raise_nofile_limit(), cfg.max_connections);
    if cfg
        .max_connections
        .is_some_and(|asked| asked > budget.max_connections)
    {
        tracing::warn!(
            nofile = budget.nofile,
            reserve = budget.reserve,
            max_connections = budget.max_connections,
            "server.max_connections lowered to what the descriptor limit allows"
        );
    }
    let handle = Handle::new();
    let grace = Duration::from_secs(cfg.request_timeout_secs);
    let header_time = Duration::from_secs(cfg.request_timeout_secs.max(1));
    let stopper = {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            handle.graceful_shutdown(Some(grace));
        })
    };
    on_bound(bound);
    tracing::info!(
        %bound,
        tls = tls.is_some(),
        max_connections = budget.max_connections,
        nofile = budget.nofile,
        reserve = budget.reserve,
        "listening"
    );
    let service = Admit::new(
        app.into_make_service_with_connect_info::<SocketAddr>(),
        budget.max_connections,
        Duration::from_secs(cfg.idle_timeout_secs),
    );
    let served = match tls {
        Some(config) => {
            let config = RustlsConfig::from_config(Arc::new(config));
            let mut server = axum_server::from_tcp_rustls(listener, config)
                .map(|tls| tls.acceptor(Guard))
                .handle(handle);
            limit_header_time(server.http_builder(), header_time);
            server.serve(service).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener)
                .acceptor(Guard)
                .handle(handle);
            limit_header_time(server.http_builder(), header_time);
            server.serve(service).await
        }
    };
    stopper.abort();
    served.map_err(ListenError::Serve)
}
