//! How a batch reaches a receiver: RFC 5424 messages framed by octet counting (RFC 5425)
//! over TLS or plain TCP, or one HTTP/1.1 POST of NDJSON (hyper's client over rustls).
//!
//! Invariants:
//! - `send` returns `Ok` only once the receiver accepted the whole batch: for syslog,
//!   every frame written and flushed (syslog has no acknowledgement); for HTTP, a 2xx.
//! - Any failure drops the connection; the next attempt opens a new one.
//! - The receiver's certificate is verified (configured CA, else the system's roots);
//!   errors name the sink's configuration and the failure, never a record.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::SinkConfig;
use crate::listen::{certificates, private_key};

/// Time to connect (TLS handshake included).
const CONNECT: Duration = Duration::from_secs(10);
/// Time for one batch to be written, or answered.
const SEND: Duration = Duration::from_secs(60);
/// Most of a receiver's answer body read (then dropped).
const ANSWER_BYTES: usize = 64 * 1024;
/// PRI of every message: facility 13 (log audit) × 8 + severity 6 (informational).
const PRI: u8 = 13 * 8 + 6;
/// Where Linux distributions keep the system's CA bundle.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

// Sync too: a sink's task holds `&Sink` across awaits, and the task must be Send.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

enum Conn {
    Syslog(Box<dyn Stream>),
    Http(SendRequest<Full<Bytes>>),
}

/// A receiver and the open connection to it, if any.
pub(super) struct Target {
    name: String,
    /// `host:port` to connect to.
    addr: String,
    server_name: ServerName<'static>,
    tls: Option<TlsConnector>,
    /// The URL of an HTTP receiver.
    uri: Option<Uri>,
    headers: HeaderMap,
    /// The syslog header before each record (PRI … MSGID, no structured data); the
    /// timestamp goes in at send time.
    hostname: String,
    msgid: &'static str,
    content_type: &'static str,
    conn: Option<Conn>,
}

impl Target {
    /// The receiver of sink `name`; certificate and key files are read here, so a bad
    /// file stops the start, not the first send.
    pub(super) fn new(name: &str, cfg: &SinkConfig) -> Result<Target, String> {
        let format = cfg.export_format().ok_or("format")?;
        let (addr, host, uri) = match &cfg.url {
            Some(url) => {
                let uri: Uri = url.parse().map_err(|_| format!("sinks.{name}.url"))?;
                let host = uri.host().unwrap_or_default().to_owned();
                let port = uri
                    .port_u16()
                    .unwrap_or(if cfg.kind.tls() { 443 } else { 80 });
                (format!("{host}:{port}"), host, Some(uri))
            }
            None => {
                let addr = cfg.address.clone().unwrap_or_default();
                let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
                (addr.clone(), host.to_owned(), None)
            }
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(host)
            .map_err(|e| format!("sinks.{name}: receiver host name: {e}"))?;
        let tls = if cfg.kind.tls() {
            Some(TlsConnector::from(Arc::new(client_tls(name, cfg)?)))
        } else {
            None
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) else {
                return Err(format!("sinks.{name}.headers: invalid header"));
            };
            headers.insert(k, v);
        }
        Ok(Target {
            name: name.to_owned(),
            addr,
            server_name,
            tls,
            uri,
            headers,
            hostname: cfg.hostname.clone().unwrap_or_else(host_name),
            msgid: format.name(),
            content_type: format.content_type(),
            conn: None,
        })
    }

    /// Where records go, for the self-audit event (configuration, no PHI).
    pub(super) fn destination(&self) -> String {
        match &self.uri {
            Some(u) => u.to_string(),
            None => self.addr.clone(),
        }
    }

    /// Sends one batch of NDJSON `lines`, whose last seq is `cursor`.
    pub(super) async fn send(&mut self, lines: &[u8], cursor: u64) -> Result<(), String> {
        let sent = tokio::time::timeout(SEND + CONNECT, self.try_send(lines, cursor)).await;
        let result = sent.unwrap_or_else(|_| Err("timed out".into()));
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn try_send(&mut self, lines: &[u8], cursor: u64) -> Result<(), String> {
        // A kept HTTP connection the receiver has closed meanwhile is replaced, not
        // counted as a failure.
        if let Some(Conn::Http(sender)) = &self.conn
            && sender.is_closed()
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let request = match self.uri {
            Some(_) => Some(self.request(lines, cursor)?),
            None => None,
        };
        match self.conn.as_mut() {
            Some(Conn::Syslog(stream)) => {
                let frames = frames(lines, &self.hostname, self.msgid, Timestamp::now());
                stream.write_all(&frames).await.map_err(|e| e.to_string())?;
                stream.flush().await.map_err(|e| e.to_string())
            }
            Some(Conn::Http(sender)) => {
                let request = request.ok_or("no url")?;
                sender.ready().await.map_err(|e| e.to_string())?;
                let answer = sender
                    .send_request(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = answer.status();
                // Read (a bounded part of) the answer so the connection can be reused.
                let _ = Limited::new(answer.into_body(), ANSWER_BYTES)
                    .collect()
                    .await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("receiver answered {status}"))
                }
            }
            None => Err("not connected".into()),
        }
    }

    fn request(&self, lines: &[u8], cursor: u64) -> Result<Request<Full<Bytes>>, String> {
        // Origin form (`/path?query`): the authority goes in `Host`.
        let target = self
            .uri
            .as_ref()
            .and_then(Uri::path_and_query)
            .ok_or("no url")?;
        let mut req = Request::post(target.as_str())
            .header("host", self.addr.as_str())
            .header("content-type", self.content_type)
            .header("recall-sink", self.name.as_str())
            .header(crate::routes::export::CURSOR_HEADER, cursor)
            .body(Full::new(Bytes::copy_from_slice(lines)))
            .map_err(|e| e.to_string())?;
        req.headers_mut()
            .extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(req)
    }

    async fn connect(&self) -> Result<Conn, String> {
        let connecting = async {
            let tcp = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let stream: Box<dyn Stream> = match &self.tls {
                Some(tls) => Box::new(
                    tls.connect(self.server_name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?,
                ),
                None => Box::new(tcp),
            };
            Ok::<_, String>(stream)
        };
        let stream = tokio::time::timeout(CONNECT, connecting)
            .await
            .map_err(|_| "connect timed out".to_string())??;
        if self.uri.is_none() {
            return Ok(Conn::Syslog(stream));
        }
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn::Http(sender))
    }
}

/// Each line of `lines` as one octet-counted RFC 5424 message.
fn frames(lines: &[u8], hostname: &str, msgid: &str, now: Timestamp) -> Vec<u8> {
    let time = now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let header = format!("<{PRI}>1 {time} {hostname} recall - {msgid} - ");
    let mut out = Vec::with_capacity(lines.len() + lines.len() / 8);
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        out.extend_from_slice(format!("{} ", header.len() + line.len()).as_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(line);
    }
    out
}

/// This machine's host name, or the RFC 5424 nil value.
fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| (33..=126).contains(&b)))
        .unwrap_or_else(|| "-".into())
}

/// The TLS client settings of a sink: its CA file or the system's roots, its client
/// certificate if any, HTTP/1.1 by ALPN for HTTP receivers.
fn client_tls(name: &str, cfg: &SinkConfig) -> Result<rustls::ClientConfig, String> {
    let at = |e: &dyn std::fmt::Display| format!("sinks.{name}: {e}");
    let mut roots = rustls::RootCertStore::empty();
    let certs = match &cfg.ca {
        Some(ca) => certificates(ca).map_err(|e| at(&e))?,
        None => system_roots().map_err(|e| at(&e))?,
    };
    let (_, ignored) = roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        return Err(at(&format!("no usable CA certificate ({ignored} ignored)")));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| at(&e))?
        .with_root_certificates(roots);
    let mut config = match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(
                certificates(cert).map_err(|e| at(&e))?,
                private_key(key).map_err(|e| at(&e))?,
            )
            .map_err(|e| at(&e))?,
        _ => builder.with_no_client_auth(),
    };
    if !cfg.kind.syslog() {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok(config)
}

/// The system's CA bundle: `SSL_CERT_FILE`, else the first of the usual places.
fn system_roots() -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let path = from_env
        .or_else(|| {
            SYSTEM_BUNDLES
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.exists())
        })
        .ok_or("no system CA bundle found: set ca")?;
    certificates(&path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_is_one_strict_rfc5424_message() {
        let lines = b"{\"seq\":1}\n{\"seq\":2,\"x\":\"\xc3\xa9\"}\n";
        let now: Timestamp = "2026-01-02T03:04:05.123456789Z".parse().unwrap();
        let out = frames(lines, "host-1", "ocsf", now);
        let mut rest = &out[..];
        let mut bodies = Vec::new();
        while let Some(f) =
            recall_atna::next_frame(rest, recall_atna::Framing::OctetCounting, 1 << 20).unwrap()
        {
            let msg = &rest[f.start..f.end];
            let h = recall_atna::header::parse(msg).unwrap();
            assert_eq!(
                (h.pri, h.hostname, h.app_name),
                (110, Some("host-1"), Some("recall"))
            );
            assert_eq!(h.msgid, Some("ocsf"));
            assert_eq!(
                h.timestamp.unwrap().to_string(),
                "2026-01-02T03:04:05.123456Z"
            );
            bodies.push(h.msg.to_vec());
            rest = &rest[f.consumed..];
        }
        assert_eq!(
            bodies,
            [&b"{\"seq\":1}"[..], "{\"seq\":2,\"x\":\"é\"}".as_bytes()]
        );
    }
}
