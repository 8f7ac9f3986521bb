//! `recall keys`: create, list and revoke API keys (`auth.db`, stored as
//! HMAC(pepper, key) with the pepper from the keystore). Opens only the keystore and
//! `auth.db`, never the log, so it works while the server runs.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use recall_crypto::Keystore;
use recall_server::auth::{API_KEYS_FILE, ApiKeys, KeyInfo, PEPPER_SECRET, Role};

use crate::config::{self, Config};
use crate::datadir::{KEYSTORE, load_kek};

/// The `keys` verbs.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; prints the key once (it is stored only as a keyed hash).
    Create {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// writer, auditor, admin or verifier.
        #[arg(long)]
        role: Role,
        /// What the key is for (1 to 100 characters, shown in lists; no PHI).
        #[arg(long)]
        label: Option<String>,
    },
    /// List API keys: id, tenant, role, label, created, revoked (never the key).
    List,
    /// Revoke an API key by id.
    Revoke {
        /// The key id (from `recall keys list`).
        id: String,
    },
}

/// Opens the API key database of the data directory at `data_dir`.
pub fn open_api_keys(data_dir: &Path) -> anyhow::Result<ApiKeys> {
    let cfg_path = data_dir.join(config::FILE);
    if !cfg_path.exists() {
        bail!(
            "{} is not a recall data directory (no {}); run `recall init` first",
            data_dir.display(),
            config::FILE
        );
    }
    let cfg = Config::load(&cfg_path)?;
    let kek = load_kek(data_dir, &cfg)?;
    let keystore = Keystore::open(&data_dir.join(KEYSTORE), kek).context("opening the keystore")?;
    let pepper = keystore
        .named_secret(PEPPER_SECRET)
        .context("reading the API key pepper")?;
    let path = data_dir.join(API_KEYS_FILE);
    ApiKeys::open(&path, pepper).with_context(|| format!("opening {}", path.display()))
}

fn line(k: &KeyInfo) -> String {
    let revoked = k.revoked.map_or_else(|| "-".to_string(), |t| t.to_string());
    format!(
        "{}\t{}\t{}\t{}\t{}\t{revoked}",
        k.id,
        k.tenant,
        k.role,
        k.label.as_deref().unwrap_or("-"),
        k.created
    )
}

/// Runs one `keys` verb.
pub fn run(data_dir: &Path, cmd: KeysCommand) -> anyhow::Result<()> {
    let keys = open_api_keys(data_dir)?;
    match cmd {
        KeysCommand::Create {
            tenant,
            role,
            label,
        } => {
            let (info, text) = keys.create_labeled(&tenant, role, label.as_deref())?;
            println!("{text}");
            eprintln!(
                "created key {} ({} for tenant {}); it is shown only this once",
                info.id, info.role, info.tenant
            );
        }
        KeysCommand::List => {
            println!("id\ttenant\trole\tlabel\tcreated\trevoked");
            for k in keys.list()? {
                println!("{}", line(&k));
            }
        }
        KeysCommand::Revoke { id } => {
            if keys.revoke(&id)? {
                println!("revoked {id}");
            } else if keys.list()?.iter().any(|k| k.id == id) {
                println!("{id} was already revoked");
            } else {
                bail!("no API key with id {id}");
            }
        }
    }
    Ok(())
}
