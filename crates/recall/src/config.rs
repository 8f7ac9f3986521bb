//! The configuration file `recall.toml`, parsed once into typed structs. Environment
//! variables override it: `RECALL_KEYS_PROVIDER`, `RECALL_KEYS_KEK_FILE`,
//! `RECALL_KEYS_KEK_ENV`, `RECALL_LOG_SEGMENT_MIB`, `RECALL_IMPORT_BATCH_EVENTS`.

use std::path::Path;

use anyhow::{Context, bail};
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
        Ok(())
    }
}

/// The commented file `recall init` writes.
pub fn default_file(origin: &str) -> String {
    format!(
        r#"# recall configuration (TOML). Environment variables override single options:
# RECALL_KEYS_PROVIDER, RECALL_KEYS_KEK_FILE, RECALL_KEYS_KEK_ENV,
# RECALL_LOG_SEGMENT_MIB, RECALL_IMPORT_BATCH_EVENTS.

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
