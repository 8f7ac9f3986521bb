//! The configuration file `recall.toml`, parsed once into typed structs. Environment
//! variables override it: `RECALL_KEYS_PROVIDER`, `RECALL_KEYS_KEK_FILE`,
//! `RECALL_KEYS_KEK_ENV`, `RECALL_LOG_SEGMENT_MIB`, `RECALL_IMPORT_BATCH_EVENTS`,
//! `RECALL_SERVER_LISTEN`, `RECALL_SERVER_INSECURE_HTTP`, `RECALL_SERVER_TLS_CERT`,
//! `RECALL_SERVER_TLS_KEY`, `RECALL_SERVER_PUBLIC_TRANSPARENCY`, `RECALL_SERVER_MAX_BODY_BYTES`,
//! `RECALL_SERVER_MAX_BATCH_EVENTS`, `RECALL_SERVER_QUEUE_EVENTS`,
//! `RECALL_SERVER_CACHE_MB`, `RECALL_SERVER_REQUEST_TIMEOUT_SECS`,
//! `RECALL_SERVER_IDLE_TIMEOUT_SECS`, `RECALL_SERVER_MAX_CONNECTIONS`,
//! `RECALL_SERVER_RETENTION_INTERVAL_SECS`, `RECALL_INDEX_CACHE_MB`,
//! `RECALL_INDEX_WRITE_BUFFER_MB`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
pub use recall_server::ServerConfig;
use serde::Deserialize;

/// File name of the configuration inside the data directory.
pub const FILE: &str = "recall.toml";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Log settings.
    pub log: LogConfig,
    /// Key settings.
    pub keys: KeysConfig,
    /// Import settings.
    #[serde(default)]
    pub import: ImportConfig,
    /// HTTP service settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[policy.<role>]`: `"field" = "rule"` overrides of the disclosure policy
    /// (docs/design/disclosure.md).
    #[serde(default)]
    pub policy: BTreeMap<String, BTreeMap<String, String>>,
    /// `[retention]`: how long events are kept before their epoch keys are destroyed.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[reviews]`: how long a break-glass access may wait for its review.
    #[serde(default)]
    pub reviews: ReviewsConfig,
    /// `[console]`: session lifetimes and sign-in limits of the web console.
    #[serde(default)]
    pub console: recall_server::console::ConsoleConfig,
    /// `[integrity]`: how often the server verifies every log.
    #[serde(default)]
    pub integrity: recall_server::integrity::IntegrityConfig,
    /// `[index]`: the memory of fjall's block cache and write buffer, as held.
    #[serde(default)]
    pub index: recall_query::IndexMemory,
    /// `[sources.<name>]`: IHE ATNA syslog listeners (docs/design/atna.md).
    #[serde(default)]
    pub sources: BTreeMap<String, recall_server::syslog::SourceConfig>,
    /// `[sinks.<name>]`: forwarders to SIEMs and archives (docs/design/export.md).
    #[serde(default)]
    pub sinks: BTreeMap<String, recall_server::forward::SinkConfig>,
}

/// `[reviews]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsConfig {
    /// Days a break-glass access may wait for its review before it is overdue.
    #[serde(default = "default_deadline_days")]
    pub break_glass_deadline_days: u32,
    /// Per-tenant days (`[reviews.tenants]`, `"st-marys" = 3`).
    #[serde(default)]
    pub tenants: BTreeMap<String, u32>,
}

fn default_deadline_days() -> u32 {
    recall_query::DEFAULT_DEADLINE_DAYS
}

impl Default for ReviewsConfig {
    fn default() -> Self {
        ReviewsConfig {
            break_glass_deadline_days: default_deadline_days(),
            tenants: BTreeMap::new(),
        }
    }
}

impl ReviewsConfig {
    /// The deadlines the queue applies.
    pub fn deadlines(&self) -> recall_query::Deadlines {
        recall_query::Deadlines {
            default_days: self.break_glass_deadline_days,
            tenants: self.tenants.clone(),
        }
    }
}

/// `[retention]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Years, by event time, for tenants without their own setting.
    #[serde(default = "default_retention_years")]
    pub default_years: u32,
    /// Per-tenant years (`[retention.tenants]`, `"st-marys" = 7`).
    #[serde(default)]
    pub tenants: BTreeMap<String, u32>,
    /// Per-action years for every tenant (`[retention.actions]`, `login = 1`), fixed into
    /// each event's keys when it is written.
    #[serde(default)]
    pub actions: BTreeMap<String, u32>,
}

fn default_retention_years() -> u32 {
    6
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            default_years: default_retention_years(),
            tenants: BTreeMap::new(),
            actions: BTreeMap::new(),
        }
    }
}

impl RetentionConfig {
    /// The policy the store applies.
    pub fn policy(&self) -> recall_store::retention::Retention {
        recall_store::retention::Retention {
            default_years: self.default_years,
            tenants: self.tenants.clone(),
            actions: self.actions.clone(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Origin prefix of every tenant log: checkpoints name `<origin>/<tenant>`.
    pub origin: String,
    /// Segment size in MiB before it is sealed.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// `file` or `env`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// KEK file, relative to the data directory unless absolute.
    #[serde(default = "default_kek_file")]
    pub kek_file: String,
    /// Environment variable holding the KEK (base64) with `provider = "env"`.
    #[serde(default = "default_kek_env")]
    pub kek_env: String,
}

/// `[import]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// Events per batch: one durable write each.
    #[serde(default = "default_batch_events")]
    pub batch_events: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            batch_events: default_batch_events(),
        }
    }
}

fn default_segment_mib() -> u64 {
    64
}
fn default_provider() -> String {
    "file".into()
}
fn default_kek_file() -> String {
    "kek.key".into()
}
fn default_kek_env() -> String {
    "RECALL_KEK".into()
}
fn default_batch_events() -> usize {
    8192
}

impl Config {
    /// Reads the file and applies environment overrides.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Self =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("RECALL_KEYS_PROVIDER") {
            self.keys.provider = v;
        }
        if let Some(v) = get("RECALL_KEYS_KEK_FILE") {
            self.keys.kek_file = v;
        }
        if let Some(v) = get("RECALL_KEYS_KEK_ENV") {
            self.keys.kek_env = v;
        }
        if let Some(v) = get("RECALL_LOG_SEGMENT_MIB") {
            self.log.segment_mib = v.parse().context("RECALL_LOG_SEGMENT_MIB: not a number")?;
        }
        if let Some(v) = get("RECALL_IMPORT_BATCH_EVENTS") {
            self.import.batch_events = v
                .parse()
                .context("RECALL_IMPORT_BATCH_EVENTS: not a number")?;
        }
        if let Some(v) = get("RECALL_SERVER_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = get("RECALL_SERVER_INSECURE_HTTP") {
            self.server.insecure_http = parse_bool("RECALL_SERVER_INSECURE_HTTP", &v)?;
        }
        if let Some(v) = get("RECALL_SERVER_TLS_CERT") {
            self.server.tls_cert = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = get("RECALL_SERVER_TLS_KEY") {
            self.server.tls_key = (!v.is_empty()).then(|| v.into());
        }
        if let Some(v) = get("RECALL_SERVER_PUBLIC_TRANSPARENCY") {
            self.server.public_transparency = parse_bool("RECALL_SERVER_PUBLIC_TRANSPARENCY", &v)?;
        }
        for (name, slot) in [
            (
                "RECALL_SERVER_MAX_BODY_BYTES",
                &mut self.server.max_body_bytes,
            ),
            (
                "RECALL_SERVER_MAX_BATCH_EVENTS",
                &mut self.server.max_batch_events,
            ),
            ("RECALL_SERVER_QUEUE_EVENTS", &mut self.server.queue_events),
            ("RECALL_SERVER_CACHE_MB", &mut self.server.cache_mb),
        ] {
            if let Some(v) = get(name) {
                *slot = v.parse().with_context(|| format!("{name}: not a number"))?;
            }
        }
        for (name, slot) in [
            (
                "RECALL_SERVER_REQUEST_TIMEOUT_SECS",
                &mut self.server.request_timeout_secs,
            ),
            (
                "RECALL_SERVER_IDLE_TIMEOUT_SECS",
                &mut self.server.idle_timeout_secs,
            ),
            (
                "RECALL_SERVER_RETENTION_INTERVAL_SECS",
                &mut self.server.retention_interval_secs,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = v.parse().with_context(|| format!("{name}: not a number"))?;
            }
        }
        for (name, slot) in [
            ("RECALL_INDEX_CACHE_MB", &mut self.index.cache_mb),
            (
                "RECALL_INDEX_WRITE_BUFFER_MB",
                &mut self.index.write_buffer_mb,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = v.parse().with_context(|| format!("{name}: not a number"))?;
            }
        }
        if let Some(v) = get("RECALL_SERVER_MAX_CONNECTIONS") {
            self.server.max_connections = Some(
                v.parse()
                    .context("RECALL_SERVER_MAX_CONNECTIONS: not a number")?,
            );
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.keys.provider.as_str(), "file" | "env") {
            bail!("keys.provider: must be \"file\" or \"env\"");
        }
        if self.log.origin.is_empty()
            || self.log.origin.contains(char::is_whitespace)
            || self.log.origin.contains('+')
        {
            bail!("log.origin: must be non-empty, without spaces or '+'");
        }
        if !(1..=4096).contains(&self.log.segment_mib) {
            bail!("log.segment_mib: must be 1..=4096");
        }
        if !(1..=1_000_000).contains(&self.import.batch_events) {
            bail!("import.batch_events: must be 1..=1000000");
        }
        self.server.validate().map_err(anyhow::Error::msg)?;
        self.console.validate().map_err(anyhow::Error::msg)?;
        self.integrity.interval().map_err(anyhow::Error::msg)?;
        self.index.validate().map_err(anyhow::Error::msg)?;
        self.disclosure()?;
        self.retention
            .policy()
            .validate()
            .map_err(anyhow::Error::msg)?;
        self.reviews
            .deadlines()
            .validate()
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The disclosure policy: the defaults with the `[policy]` overrides.
    pub fn disclosure(&self) -> anyhow::Result<recall_query::Policy> {
        let mut policy = recall_query::Policy::default();
        for (role, fields) in &self.policy {
            for (field, rule) in fields {
                policy.set(role, field, rule)?;
            }
        }
        Ok(policy)
    }
}

/// `true`/`false` (also `1`/`0`) from an environment variable.
fn parse_bool(var: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("{var}: must be true or false"),
    }
}

/// The commented file `recall init` writes.
pub fn default_file(origin: &str) -> String {
    format!(
        r#"# recall configuration (TOML). Environment variables override single options:
# RECALL_KEYS_PROVIDER, RECALL_KEYS_KEK_FILE, RECALL_KEYS_KEK_ENV,
# RECALL_LOG_SEGMENT_MIB, RECALL_IMPORT_BATCH_EVENTS, RECALL_SERVER_LISTEN,
# RECALL_SERVER_INSECURE_HTTP, RECALL_SERVER_TLS_CERT, RECALL_SERVER_TLS_KEY,
# RECALL_SERVER_PUBLIC_TRANSPARENCY, RECALL_SERVER_MAX_BODY_BYTES,
# RECALL_SERVER_MAX_BATCH_EVENTS, RECALL_SERVER_QUEUE_EVENTS,
# RECALL_SERVER_REQUEST_TIMEOUT_SECS, RECALL_SERVER_IDLE_TIMEOUT_SECS,
# RECALL_SERVER_MAX_CONNECTIONS, RECALL_SERVER_RETENTION_INTERVAL_SECS.

[log]
# Origin of this installation's logs. Checkpoints of tenant T name "<origin>/T" and are
# signed under this name. Must be unique to this installation; never change it once
# checkpoints have been published.
origin = "{origin}"
# A segment file is sealed once it would grow past this size (MiB).
segment_mib = 64

[keys]
# Where the key-encryption key (KEK) comes from: "file" (kek_file, mode 0600) or "env"
# (the variable named by kek_env, base64 of 32 bytes). Every data key, commitment secret
# and the checkpoint signing key are wrapped under it. Losing it loses the data.
provider = "file"
kek_file = "kek.key"
kek_env = "RECALL_KEK"

[import]
# Events per batch: each batch is one durable write (group commit).
batch_events = 8192

[server]
# Address of the HTTP API. Without TLS only a loopback address is served (put a TLS proxy
# in front), unless insecure_http = true.
# listen = "127.0.0.1:8080"
# TLS certificate chain and private key (PEM); TLS is on when both are set.
# tls_cert = "/etc/recall/tls/cert.pem"
# tls_key = "/etc/recall/tls/key.pem"
# insecure_http = false
# Largest request body (bytes), most events per batch request, ingest queue (events).
# max_body_bytes = 16777216
# max_batch_events = 10000
# queue_events = 200000
# Memory for decrypted log blocks reused by searches and reads (MiB). The server's
# memory: this, plus [index] cache_mb and write_buffer_mb, plus a fixed allowance
# (docs/design/service.md, "Memory").
# cache_mb = 256
# Time limit of one request, from its first byte to the end of its answer (seconds); a
# client that sends its headers or body too slowly is cut off after it.
# request_timeout_secs = 30
# A connection with no request in flight this long is closed (seconds): before its first
# request (TLS handshake included) and between keep-alive requests.
# idle_timeout_secs = 30
# Most connections open at once; more wait in the kernel's backlog. Default: the file
# descriptor limit (raised to its hard limit at start) less a reserve for the store of
# half the limit, at most 1024; a larger value is lowered to that.
# max_connections = 10000
# Serve checkpoints, tiles and proofs to anyone (true) or to verifier credentials only.
# public_transparency = false
# How often the server runs retention (seconds; the first run a minute after start).
# retention_interval_secs = 86400
# API keys (`recall keys create`) need no configuration. For people, accept JWTs (OIDC
# access tokens) too: the secret's environment variable name, or a JWKS file.
# [server.jwt]
# issuer = "https://login.example.org/"
# audience = "recall"
# hs256_secret_env = "RECALL_JWT_SECRET"
# jwks_file = "/etc/recall/jwks.json"
# tenant_claim = "tenant"
# role_claim = "role"
# leeway_secs = 30
# patient_claim = "patient"

# What each reading role sees of an event (minimum necessary). The defaults are the
# table in docs/design/disclosure.md; override a field per role with show, withhold,
# pseudonym or justified (shown only with a Recall-Justification), e.g.:
# [policy.patient]
# "actor.name" = "withhold"
# [policy.engineer]
# "source.ip" = "pseudonym"

[retention]
# Years an event is kept, by its time. Past that, `recall retention run` (and the server,
# daily) destroys the keys of whole months of events (crypto-shredding): their contents
# become unrecoverable while the log still verifies. Events older than this are refused
# at ingest. Legal holds keep held months.
default_years = 6
# [retention.tenants]
# "st-marys" = 7
# Actions kept for a period of their own (every tenant). Fixed into each event's keys when
# it is written: a change applies to events written afterwards.
# [retention.actions]
# login = 1

[reviews]
# Days a break-glass access (purpose ETREAT) may wait for a privacy officer's review
# before the queue flags it overdue (and /metrics counts it in recall_break_glass_overdue).
break_glass_deadline_days = 7
# [reviews.tenants]
# "st-marys" = 3

# [index]
# Memory of the index's block cache and of its unflushed entries (MiB, as really held;
# fjall is given less, by its measured overhead). Smaller saves memory; a smaller write
# buffer flushes more often.
# cache_mb = 56
# write_buffer_mb = 96

[integrity]
# Hours between the server's verifications of every tenant's log (the same checks as
# `recall verify`; the first run 30 s after start). Verdicts: GET /v1/integrity.
verify_interval_hours = 24
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_default_parses_and_env_overrides_it() {
        let mut cfg: Config = toml::from_str(&default_file("recall.invalid/abc")).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.keys.provider, "file");
        cfg.apply_env(|k| (k == "RECALL_KEYS_PROVIDER").then(|| "env".to_string()))
            .unwrap();
        assert_eq!(cfg.keys.provider, "env");
        assert_eq!(cfg.server, ServerConfig::default());
        let env = |k: &str| match k {
            "RECALL_SERVER_LISTEN" => Some("0.0.0.0:8443".to_string()),
            "RECALL_SERVER_INSECURE_HTTP" => Some("true".to_string()),
            "RECALL_SERVER_TLS_CERT" => Some("/c.pem".to_string()),
            "RECALL_SERVER_TLS_KEY" => Some("/k.pem".to_string()),
            "RECALL_SERVER_PUBLIC_TRANSPARENCY" => Some("1".to_string()),
            "RECALL_SERVER_REQUEST_TIMEOUT_SECS" => Some("7".to_string()),
            "RECALL_SERVER_IDLE_TIMEOUT_SECS" => Some("3".to_string()),
            "RECALL_SERVER_MAX_CONNECTIONS" => Some("500".to_string()),
            _ => None,
        };
        cfg.apply_env(env).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.server.listen, "0.0.0.0:8443");
        assert!(cfg.server.insecure_http && cfg.server.public_transparency && cfg.server.tls());
        assert_eq!(cfg.server.request_timeout_secs, 7);
        assert_eq!(cfg.server.idle_timeout_secs, 3);
        assert_eq!(cfg.server.max_connections, Some(500));
        assert!(
            cfg.apply_env(|k| (k == "RECALL_SERVER_INSECURE_HTTP").then(|| "yes".into()))
                .is_err()
        );
    }

    #[test]
    fn policy_tables_override_the_defaults_and_bad_ones_are_named() {
        let base = "[log]\norigin='a'\n[keys]\n";
        let text = format!("{base}[policy.patient]\n\"actor.name\" = \"pseudonym\"\n");
        let cfg: Config = toml::from_str(&text).unwrap();
        cfg.validate().unwrap();
        let policy = cfg.disclosure().unwrap();
        use recall_query::{Field, Reader, Rule};
        assert_eq!(
            policy.rule(Reader::Patient, Field::ActorName),
            Rule::Pseudonym
        );
        assert_eq!(policy.rule(Reader::Auditor, Field::Detail), Rule::Justified);
        for (bad, named) in [
            ("[policy.nurse]\n\"detail\" = \"show\"", "nurse"),
            ("[policy.engineer]\n\"actor.mail\" = \"show\"", "actor.mail"),
            ("[policy.engineer]\n\"reason\" = \"maybe\"", "maybe"),
        ] {
            let cfg: Config = toml::from_str(&format!("{base}{bad}\n")).unwrap();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn the_server_section_parses_with_jwt() {
        let text = format!(
            "{}\nlisten = \"127.0.0.1:0\"\n[server.jwt]\nissuer = \"i\"\naudience = \"a\"\njwks_file = \"/j.json\"\n",
            "[log]\norigin='a'\n[keys]\n[server]"
        );
        let cfg: Config = toml::from_str(&text).unwrap();
        cfg.validate().unwrap();
        let jwt = cfg.server.jwt.unwrap();
        assert_eq!(jwt.tenant_claim, "tenant");
        assert_eq!(jwt.leeway_secs, 30);
        assert!(
            toml::from_str::<Config>("[log]\norigin='a'\n[keys]\n[server]\nbogus=1\n").is_err()
        );
    }

    #[test]
    fn the_index_section_sets_fjalls_memory_and_bad_values_are_named() {
        let base = "[log]\norigin='a'\n[keys]\n";
        let cfg: Config = toml::from_str(&format!(
            "{base}[index]\ncache_mb = 24\nwrite_buffer_mb = 32\n"
        ))
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.index.total_mb(), 56);
        let mut cfg: Config = toml::from_str(base).unwrap();
        assert_eq!(cfg.index, recall_query::IndexMemory::default());
        cfg.apply_env(|k| (k == "RECALL_INDEX_WRITE_BUFFER_MB").then(|| "8".into()))
            .unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.starts_with("index.write_buffer_mb:"), "{err}");
        assert!(toml::from_str::<Config>(&format!("{base}[index]\nbogus = 1\n")).is_err());
    }

    #[test]
    fn unknown_options_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("[log]\norigin='a'\nbogus=1\n[keys]\n").is_err());
        let cfg: Config = toml::from_str("[log]\norigin='a b'\n[keys]\n").unwrap();
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("log.origin")
        );
    }
}
