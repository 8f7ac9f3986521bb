//! `[sources.<name>]`: one syslog listener each, all of the same shape.
//!
//! ```toml
//! [sources.pacs]
//! kind = "tls"                  # tls | udp | insecure_tcp
//! listen = "0.0.0.0:6514"       # default: 6514 for tls, 514 for udp, 601 for insecure_tcp
//! tenant = "st-marys"           # the tenant of every message, unless mapped below
//! tenant_by = "audit_source"    # optional: hostname | app_name | audit_source
//! tenants = { "pacs-east" = "st-johns" }
//! tls_cert = "pacs.crt"         # tls only
//! tls_key = "pacs.key"
//! client_ca = "senders-ca.pem"  # tls only, optional: senders must present a certificate
//! max_connections = 200         # tls and insecure_tcp, optional: more are refused
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// RFC 5425: TLS, octet counting.
    Tls,
    /// RFC 5426: one message per datagram.
    Udp,
    /// Plain TCP (RFC 6587 octet counting or LF framing), for trusted networks only.
    InsecureTcp,
}

/// A message field whose value picks the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantField {
    /// The syslog HOSTNAME.
    Hostname,
    /// The syslog APP-NAME.
    AppName,
    /// AuditSourceIdentification's AuditSourceID.
    AuditSource,
}

/// One `[sources.<name>]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The transport.
    pub kind: SourceKind,
    /// Address to listen on (`host:port`); a default per kind.
    pub listen: Option<String>,
    /// The tenant whose log takes the messages (those `tenants` does not map).
    pub tenant: String,
    /// The field whose value `tenants` maps to a tenant.
    pub tenant_by: Option<TenantField>,
    /// Values of `tenant_by` → tenant.
    #[serde(default)]
    pub tenants: BTreeMap<String, String>,
    /// TLS certificate chain (PEM), `tls` only.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), `tls` only.
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that senders' client certificates must chain to; unset, no
    /// client certificate is asked for.
    pub client_ca: Option<PathBuf>,
    /// Longest message accepted, in bytes (a longer frame closes the connection); at most,
    /// and by default, the largest origin (256 KiB).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most connections open at once (stream kinds); a connection beyond it is closed at
    /// once and counted (`recall_syslog_refused_total`). Unset: no cap of its own.
    pub max_connections: Option<usize>,
}

/// Whether `name` may name a source or a sink (it becomes a metric label and part of
/// `appended_by`): 1-64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Every message accepted fits an event's origin, so each is kept byte for byte.
fn default_max_message_bytes() -> usize {
    recall_model::MAX_ORIGIN_BYTES
}

impl SourceConfig {
    /// The address to listen on.
    pub fn listen(&self) -> String {
        self.listen.clone().unwrap_or_else(|| {
            match self.kind {
                SourceKind::Tls => "0.0.0.0:6514",
                SourceKind::Udp => "0.0.0.0:514",
                SourceKind::InsecureTcp => "0.0.0.0:601",
            }
            .into()
        })
    }

    /// Checks what parses but makes no sense; the error names the option.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        let at = |opt: &str| format!("sources.{name}.{opt}");
        if !valid_name(name) {
            return Err(format!(
                "sources.{name}: a source name is 1-64 of [A-Za-z0-9_-]"
            ));
        }
        let tenants = std::iter::once(&self.tenant).chain(self.tenants.values());
        for t in tenants {
            recall_model::validate_tenant(t)
                .map_err(|e| format!("{}: {}", at("tenant"), e.message))?;
        }
        if self.tenant_by.is_some() == self.tenants.is_empty() {
            return Err(format!(
                "{}: set both tenant_by and tenants, or neither",
                at("tenants")
            ));
        }
        let tls = self.kind == SourceKind::Tls;
        if tls && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(format!(
                "{}: a tls source needs tls_cert and tls_key",
                at("tls_cert")
            ));
        }
        let has_tls = self.tls_cert.is_some() || self.tls_key.is_some() || self.client_ca.is_some();
        if !tls && has_tls {
            return Err(format!(
                "{}: only a tls source takes certificates",
                at("kind")
            ));
        }
        if self.max_connections == Some(0) {
            return Err(format!("{}: must be at least 1", at("max_connections")));
        }
        if self.kind == SourceKind::Udp && self.max_connections.is_some() {
            return Err(format!(
                "{}: a udp source has no connections",
                at("max_connections")
            ));
        }
        let most = recall_model::MAX_ORIGIN_BYTES;
        if !(1024..=most).contains(&self.max_message_bytes) {
            return Err(format!(
                "{}: must be 1024..={most}",
                at("max_message_bytes")
            ));
        }
        Ok(())
    }

    /// The tenant of a message with these fields.
    pub fn tenant_for(&self, keys: &recall_atna::Keys) -> &str {
        let value = match self.tenant_by {
            Some(TenantField::Hostname) => keys.hostname.as_deref(),
            Some(TenantField::AppName) => keys.app_name.as_deref(),
            Some(TenantField::AuditSource) => keys.audit_source.as_deref(),
            None => None,
        };
        value
            .and_then(|v| self.tenants.get(v))
            .unwrap_or(&self.tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> SourceConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn one_shape_for_every_kind() {
        let udp = parse("kind = \"udp\"\ntenant = \"t1\"");
        udp.validate("u").unwrap();
        assert_eq!(udp.listen(), "0.0.0.0:514");
        let tls = parse("kind = \"tls\"\ntenant = \"t1\"\ntls_cert = \"c\"\ntls_key = \"k\"");
        tls.validate("t").unwrap();
        assert_eq!(tls.listen(), "0.0.0.0:6514");
        let no_key = parse("kind = \"tls\"\ntenant = \"t1\"\ntls_cert = \"c\"");
        assert!(
            no_key
                .validate("t")
                .unwrap_err()
                .contains("sources.t.tls_cert")
        );
        let cert_on_udp = parse("kind = \"udp\"\ntenant = \"t1\"\nclient_ca = \"c\"");
        assert!(
            cert_on_udp
                .validate("u")
                .unwrap_err()
                .contains("sources.u.kind")
        );
        let bad_tenant = parse("kind = \"udp\"\ntenant = \"T 1\"");
        assert!(
            bad_tenant
                .validate("u")
                .unwrap_err()
                .contains("sources.u.tenant")
        );
        assert!(
            parse("kind = \"udp\"\ntenant = \"t\"")
                .validate("a b")
                .is_err()
        );
        assert!(toml::from_str::<SourceConfig>("kind = \"tcp\"\ntenant = \"t\"").is_err());
        // A cap on a datagram source, or of no connection at all, makes no sense.
        for bad in [
            "udp\"\nmax_connections = 5",
            "insecure_tcp\"\nmax_connections = 0",
        ] {
            let err = parse(&format!("tenant = \"t1\"\nkind = \"{bad}"))
                .validate("c")
                .unwrap_err();
            assert!(err.contains("sources.c.max_connections"), "{err}");
        }
    }

    #[test]
    fn a_field_maps_messages_to_tenants() {
        let cfg = parse(
            "kind = \"udp\"\ntenant = \"t1\"\ntenant_by = \"audit_source\"\ntenants = { pacs-east = \"t2\" }",
        );
        cfg.validate("u").unwrap();
        let keys = |s: &str| recall_atna::Keys {
            audit_source: Some(s.into()),
            ..recall_atna::Keys::default()
        };
        assert_eq!(cfg.tenant_for(&keys("pacs-east")), "t2");
        assert_eq!(cfg.tenant_for(&keys("elsewhere")), "t1");
        let half = parse("kind = \"udp\"\ntenant = \"t1\"\ntenant_by = \"hostname\"");
        assert!(half.validate("u").is_err());
    }
}
