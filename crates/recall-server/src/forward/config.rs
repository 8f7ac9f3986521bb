//! `[sinks.<name>]`: one forwarder each, all of the same shape (like `[sources.*]`).
//!
//! ```toml
//! [sinks.siem]
//! kind = "syslog_tls"           # syslog_tls | http | insecure_syslog_tcp | insecure_http
//! address = "siem.example:6514" # syslog kinds: host:port
//! # url = "https://siem.example/ingest"   # http kinds
//! tenant = "st-marys"
//! format = "ocsf"               # native (default) | ocsf | fhir-r4 | fhir-r5
//! role = "engineer"             # whose lens applies: engineer (default) | auditor | privacy_officer
//! batch_events = 500
//! ca = "siem-ca.pem"            # optional: else the system's roots
//! client_cert = "recall.pem"    # optional client certificate (with client_key)
//! client_key = "recall.key"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use recall_governance::Role;
use recall_query::ExportFormat;

/// The transport of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// RFC 5424 messages, RFC 5425 octet counting over TLS.
    SyslogTls,
    /// The same framing over plain TCP, for trusted networks only.
    InsecureSyslogTcp,
    /// NDJSON batches POSTed to an `https://` URL.
    Http,
    /// NDJSON batches POSTed to an `http://` URL, for trusted networks only.
    InsecureHttp,
}

impl SinkKind {
    /// Whether the connection is TLS.
    pub fn tls(self) -> bool {
        matches!(self, SinkKind::SyslogTls | SinkKind::Http)
    }

    /// Whether batches are syslog messages (else HTTP requests).
    pub fn syslog(self) -> bool {
        matches!(self, SinkKind::SyslogTls | SinkKind::InsecureSyslogTcp)
    }
}

/// One `[sinks.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// The transport.
    pub kind: SinkKind,
    /// `host:port` of a syslog receiver.
    pub address: Option<String>,
    /// URL of an HTTP receiver.
    pub url: Option<String>,
    /// The tenant whose log is forwarded.
    pub tenant: String,
    /// The export format of each record.
    #[serde(default = "default_format")]
    pub format: String,
    /// The role whose lens every record passes through.
    #[serde(default = "default_role")]
    pub role: String,
    /// Most events (seqs) per batch: one HTTP request, or one run of syslog messages
    /// before the cursor moves.
    #[serde(default = "default_batch")]
    pub batch_events: u64,
    /// CA certificates (PEM) the receiver's certificate must chain to; unset, the
    /// system's roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) shown to the receiver.
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
    /// The syslog HOSTNAME field; unset, this machine's host name.
    pub hostname: Option<String>,
    /// Extra request headers (HTTP kinds), e.g. a receiver's token.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Longest wait between two attempts, in seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
}

fn default_format() -> String {
    "native".into()
}

/// Engineers see pseudonyms and no free text: a SIEM correlates by pseudonym without
/// holding PHI (docs/design/export.md, "Forwarder").
fn default_role() -> String {
    Role::Engineer.as_str().into()
}

fn default_batch() -> u64 {
    500
}

fn default_max_backoff() -> u64 {
    60
}

/// Largest batch: a batch is held in memory while it is sent.
pub const MAX_BATCH_EVENTS: u64 = 10_000;

impl SinkConfig {
    /// The format, checked: a line format (CSV has a header row, no record per line).
    pub fn export_format(&self) -> Option<ExportFormat> {
        ExportFormat::parse(&self.format).filter(|f| *f != ExportFormat::Csv)
    }

    /// The role, checked: one that reads events of every patient.
    pub fn reader_role(&self) -> Option<Role> {
        let role: Role = self.role.parse().ok()?;
        (role.reader().is_some() && role != Role::Patient).then_some(role)
    }

    /// Checks what parses but makes no sense; the error names the option.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        let at = |opt: &str| format!("sinks.{name}.{opt}");
        if !crate::syslog::config::valid_name(name) {
            return Err(format!(
                "sinks.{name}: a sink name is 1-64 of [A-Za-z0-9_-]"
            ));
        }
        recall_model::validate_tenant(&self.tenant)
            .map_err(|e| format!("{}: {}", at("tenant"), e.message))?;
        if self.export_format().is_none() {
            return Err(format!(
                "{}: must be one of native, ocsf, fhir-r4, fhir-r5",
                at("format")
            ));
        }
        if self.reader_role().is_none() {
            return Err(format!(
                "{}: must be engineer, auditor or privacy_officer",
                at("role")
            ));
        }
        if !(1..=MAX_BATCH_EVENTS).contains(&self.batch_events) {
            return Err(format!(
                "{}: must be 1..={MAX_BATCH_EVENTS}",
                at("batch_events")
            ));
        }
        if !(1..=3600).contains(&self.max_backoff_secs) {
            return Err(format!("{}: must be 1..=3600", at("max_backoff_secs")));
        }
        self.validate_target(&at)?;
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(format!(
                "{}: set both client_cert and client_key",
                at("client_cert")
            ));
        }
        if !self.kind.tls() && (self.ca.is_some() || self.client_cert.is_some()) {
            return Err(format!(
                "{}: only a TLS sink takes certificates",
                at("kind")
            ));
        }
        let printable =
            |h: &String| (1..=255).contains(&h.len()) && h.bytes().all(|b| (33..=126).contains(&b));
        if self.hostname.as_ref().is_some_and(|h| !printable(h)) {
            return Err(format!(
                "{}: 1-255 printable ASCII characters",
                at("hostname")
            ));
        }
        Ok(())
    }

    fn validate_target(&self, at: &dyn Fn(&str) -> String) -> Result<(), String> {
        if self.kind.syslog() {
            if self.url.is_some() || !self.headers.is_empty() {
                return Err(format!(
                    "{}: a syslog sink takes address, not url or headers",
                    at("url")
                ));
            }
            let ok = self
                .address
                .as_deref()
                .and_then(|a| a.rsplit_once(':'))
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("{}: must be host:port", at("address")));
            }
            return Ok(());
        }
        if self.address.is_some() {
            return Err(format!(
                "{}: an http sink takes url, not address",
                at("address")
            ));
        }
        let scheme = if self.kind.tls() { "https" } else { "http" };
        let uri = self
            .url
            .as_deref()
            .and_then(|u| u.parse::<axum::http::Uri>().ok())
            .filter(|u| u.scheme_str() == Some(scheme) && u.host().is_some());
        if uri.is_none() {
            let hint = if self.kind.tls() {
                " (plain http only with kind = \"insecure_http\")"
            } else {
                ""
            };
            return Err(format!("{}: must be an {scheme}:// URL{hint}", at("url")));
        }
        for (k, v) in &self.headers {
            let ok = axum::http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && axum::http::HeaderValue::from_str(v).is_ok();
            if !ok {
                return Err(format!("{}: invalid header {k:?}", at("headers")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SinkConfig {
        toml::from_str(text).unwrap()
    }

    /// A syslog sink with `extra` options fails, naming `sinks.s.<option>`.
    fn refused(kind: &str, extra: &str, option: &str) {
        let text = format!("kind = \"{kind}\"\naddress = \"s:1\"\ntenant = \"t1\"\n{extra}");
        let err = parse(&text).validate("s").unwrap_err();
        assert!(err.contains(&format!("sinks.s.{option}")), "{extra}: {err}");
    }

    #[test]
    fn one_shape_for_every_kind() {
        let s = parse("kind = \"syslog_tls\"\naddress = \"siem:6514\"\ntenant = \"t1\"");
        s.validate("s").unwrap();
        assert_eq!(s.reader_role(), Some(Role::Engineer));
        assert_eq!(s.export_format(), Some(ExportFormat::Native));
        let h =
            parse("kind = \"http\"\nurl = \"https://siem/in\"\ntenant = \"t1\"\nformat = \"ocsf\"");
        h.validate("h").unwrap();
        let plain = parse("kind = \"http\"\nurl = \"http://siem/in\"\ntenant = \"t1\"");
        assert!(plain.validate("h").unwrap_err().contains("sinks.h.url"));
        let insecure = parse("kind = \"insecure_http\"\nurl = \"http://siem/in\"\ntenant = \"t1\"");
        insecure.validate("h").unwrap();
        let no_port = parse("kind = \"syslog_tls\"\naddress = \"siem\"\ntenant = \"t1\"");
        assert!(
            no_port
                .validate("s")
                .unwrap_err()
                .contains("sinks.s.address")
        );
        refused("syslog_tls", "format = \"csv\"", "format");
        refused("syslog_tls", "role = \"patient\"", "role");
        refused("insecure_syslog_tcp", "ca = \"c\"", "kind");
        refused("syslog_tls", "client_cert = \"c\"", "client_cert");
        refused("syslog_tls", "batch_events = 0", "batch_events");
        refused("syslog_tls", "hostname = \"a b\"", "hostname");
        assert!(s.validate("a b").is_err());
        assert!(toml::from_str::<SinkConfig>("kind = \"kafka\"\ntenant = \"t\"").is_err());
    }
}
