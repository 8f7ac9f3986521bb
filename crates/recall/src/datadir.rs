//! The data directory: creating it (`recall init`) and opening what lives in it.
//!
//! Layout: `recall.toml`, `kek.key` (mode 0600, with the file provider), `keystore.db`,
//! `checkpoint.vkey` (the public checkpoint key, for verifiers), `tenants/<tenant>/…`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use recall_crypto::{Kek, KeyProvider, Keystore, create_kek_file};
use recall_ledger::Signer;
use recall_store::{EmbeddedOptions, EmbeddedStore, Journal};

use crate::config::{self, Config};

/// File name of the keystore.
pub const KEYSTORE: &str = "keystore.db";
/// File name of the public checkpoint key.
pub const VKEY: &str = "checkpoint.vkey";
/// Directory of tenant logs.
pub const TENANTS: &str = "tenants";
/// Directory of the indexes (derived from the logs; rebuilt by `recall reindex`).
pub const INDEX: &str = "index";

/// An opened data directory.
pub struct DataDir {
    /// Its path.
    pub path: PathBuf,
    /// The parsed configuration.
    pub config: Config,
    /// The journal over the embedded store.
    pub journal: Arc<Journal>,
}

/// What `init` made.
pub struct Initialised {
    /// The origin written to the configuration.
    pub origin: String,
    /// The public checkpoint key.
    pub vkey: String,
}

/// Creates a new data directory; refuses one that already holds anything.
pub fn init(path: &Path) -> anyhow::Result<Initialised> {
    if path.exists() && std::fs::read_dir(path)?.next().is_some() {
        bail!(
            "{} already exists and is not empty: refusing to overwrite it",
            path.display()
        );
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    restrict(path)?;
    let id = hex::encode(recall_crypto::random_array::<8>());
    let origin = format!("recall.invalid/{id}");
    let kek_path = path.join("kek.key");
    create_kek_file(&kek_path).context("creating the key-encryption key")?;
    let kek = KeyProvider::File(kek_path).load()?;
    let keystore = Keystore::create(&path.join(KEYSTORE), kek).context("creating the keystore")?;
    let record = keystore
        .create_signing_key(&origin)
        .context("creating the checkpoint signing key")?;
    let signer = Signer::new(&origin, record.seed.expose())?;
    let vkey = signer.verifier().to_vkey();
    std::fs::write(path.join(VKEY), format!("{vkey}\n"))?;
    std::fs::write(path.join(config::FILE), config::default_file(&origin))?;
    std::fs::create_dir_all(path.join(TENANTS))?;
    Ok(Initialised { origin, vkey })
}

#[cfg(unix)]
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", path.display()))
}

/// Loads the KEK of the data directory at `path` from the provider `cfg` names.
pub fn load_kek(path: &Path, cfg: &Config) -> anyhow::Result<Kek> {
    let provider = match cfg.keys.provider.as_str() {
        "env" => KeyProvider::Env(cfg.keys.kek_env.clone()),
        _ => {
            let file = Path::new(&cfg.keys.kek_file);
            KeyProvider::File(if file.is_absolute() {
                file.to_path_buf()
            } else {
                path.join(file)
            })
        }
    };
    provider.load().context("loading the key-encryption key")
}

impl DataDir {
    /// Opens the data directory. `read_only` opens the store without recovery and without
    /// the writer lock (verification must not change what it checks).
    pub fn open(path: &Path, read_only: bool) -> anyhow::Result<Self> {
        let cfg_path = path.join(config::FILE);
        if !cfg_path.exists() {
            bail!(
                "{} is not a recall data directory (no {}); run `recall init` first",
                path.display(),
                config::FILE
            );
        }
        let config = Config::load(&cfg_path)?;
        let kek = load_kek(path, &config)?;
        let keystore = Keystore::open(&path.join(KEYSTORE), kek).context("opening the keystore")?;
        let record = keystore
            .signing_key()?
            .context("the keystore holds no checkpoint signing key")?;
        let signer = Signer::new(&record.name, record.seed.expose())?;
        let opts = EmbeddedOptions {
            segment_bytes: config.log.segment_mib << 20,
            read_only,
            faults: None,
        };
        let store = EmbeddedStore::open(&path.join(TENANTS), opts)?;
        let journal = Arc::new(Journal::new(
            Arc::new(store),
            Arc::new(keystore),
            signer,
            Vec::new(),
            &config.log.origin,
        ));
        Ok(Self {
            path: path.to_path_buf(),
            config,
            journal,
        })
    }
}
