//! `[server]`: the HTTP service's settings, parsed once from `recall.toml` (the `recall`
//! crate applies environment overrides). Options that weaken security are `insecure_*`.

use std::path::PathBuf;

pub use crate::auth::JwtConfig;
use recall_query::Policy;
use recall_store::retention::Retention;

/// The HTTP service's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`host:port`).
    pub listen: String,
    /// TLS certificate chain (PEM). TLS is on when this and `tls_key` are set.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address. Off: without TLS only a loopback
    /// address (behind a local TLS-terminating proxy) is served.
    pub insecure_http: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// Capacity of the ingest queue, in events; beyond it requests get 503.
    pub queue_events: usize,
    /// Memory for decrypted log blocks that searches and reads reuse, in MiB.
    pub cache_mb: usize,
    /// Time limit of one request, in seconds.
    pub request_timeout_secs: u64,
    /// A connection is closed when it has had no request in flight for this long, in
    /// seconds: from its opening (TLS handshake included) to its first request, and
    /// between keep-alive requests.
    pub idle_timeout_secs: u64,
    /// Most connections open at once; further ones wait in the kernel's backlog. Unset:
    /// the descriptor limit less a reserve for the store (`connections::Budget`); a
    /// larger value is lowered to that.
    pub max_connections: Option<usize>,
    /// Serve the transparency endpoints (checkpoints, tiles, proofs) without credentials.
    pub public_transparency: bool,
    /// JWT bearer tokens for people; API keys work without it.
    pub jwt: Option<JwtConfig>,
    /// How often the server runs retention, in seconds (daily by default); the first run
    /// comes a minute after start, or sooner if this is shorter.
    pub retention_interval_secs: u64,
    /// The data directory, whose size `/metrics` reports; set by the caller that opened
    /// it, never read from the file.
    #[serde(skip)]
    pub data_dir: Option<PathBuf>,
    /// What each reading role sees of an event; built by the caller from the
    /// configuration's `[policy]` tables, never read from `[server]`.
    #[serde(skip)]
    pub policy: Policy,
    /// How long each tenant keeps events (ingest refuses older ones; the daily retention
    /// run shreds past it); built by the caller from `[retention]`.
    #[serde(skip)]
    pub retention: Retention,
    /// How long a break-glass access may wait for its review, per tenant; built by the
    /// caller from `[reviews]`.
    #[serde(skip)]
    pub reviews: recall_query::Deadlines,
    /// Console sessions and sign-in limits; built by the caller from `[console]`.
    #[serde(skip)]
    pub console: crate::console::ConsoleConfig,
    /// How often the server verifies every log; built by the caller from `[integrity]`.
    #[serde(skip)]
    pub verify_interval: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            max_body_bytes: 16 << 20,
            max_batch_events: 10_000,
            queue_events: 200_000,
            cache_mb: 256,
            request_timeout_secs: 30,
            idle_timeout_secs: 30,
            max_connections: None,
            public_transparency: false,
            jwt: None,
            retention_interval_secs: 86_400,
            data_dir: None,
            policy: Policy::default(),
            retention: Retention::default(),
            reviews: recall_query::Deadlines::default(),
            console: crate::console::ConsoleConfig::default(),
            verify_interval: crate::integrity::DEFAULT_INTERVAL,
        }
    }
}

impl ServerConfig {
    /// Whether TLS is configured (both certificate and key).
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Checks values that parse but make no sense; the error names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("server.tls_cert and server.tls_key: set both or neither".into());
        }
        if self.listen.is_empty() {
            return Err("server.listen: must be host:port".into());
        }
        if self.max_body_bytes == 0 {
            return Err("server.max_body_bytes: must be at least 1".into());
        }
        if self.max_batch_events == 0 {
            return Err("server.max_batch_events: must be at least 1".into());
        }
        if self.queue_events < self.max_batch_events {
            return Err("server.queue_events: must be at least server.max_batch_events".into());
        }
        if self.retention_interval_secs == 0 {
            return Err("server.retention_interval_secs: must be at least 1".into());
        }
        if !(1..=3600).contains(&self.request_timeout_secs) {
            return Err("server.request_timeout_secs: must be 1..=3600".into());
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            return Err("server.idle_timeout_secs: must be 1..=3600".into());
        }
        if self.max_connections == Some(0) {
            return Err("server.max_connections: must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe_and_valid() {
        let cfg = ServerConfig::default();
        cfg.validate().unwrap();
        assert!(!cfg.insecure_http && !cfg.public_transparency && !cfg.tls());
        let parsed: ServerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, cfg);
        assert!(serde_json::from_str::<ServerConfig>(r#"{"bogus":1}"#).is_err());
        let half = ServerConfig {
            tls_cert: Some("c.pem".into()),
            ..ServerConfig::default()
        };
        assert!(half.validate().unwrap_err().contains("tls_key"));
        let never_idle = ServerConfig {
            idle_timeout_secs: 0,
            ..ServerConfig::default()
        };
        assert!(never_idle.validate().unwrap_err().contains("idle_timeout"));
        let no_room = ServerConfig {
            max_connections: Some(0),
            ..ServerConfig::default()
        };
        assert!(no_room.validate().unwrap_err().contains("max_connections"));
    }
}
