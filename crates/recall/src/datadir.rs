//! The data directory: creating it (`recall init`) and opening what lives in it.
//!
//! Layout: `recall.toml`, `kek.key` (mode 0600, with the file provider), `keystore.db`,
//! `checkpoint.vkey` (the public checkpoint key, for verifiers), `tenants/<tenant>/…`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use recall_crypto::{Kek, KeyProvider, Keystore, create_kek_file};
use recall_ledger::{Signer, Verifier};
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

/// `recall init`: creates the data directory and tells the operator what to keep and
/// publish.
pub fn run_init(path: &Path) -> anyhow::Result<()> {
    let made = init(path)?;
    println!("initialised {}", path.display());
    println!("log origin: {}", made.origin);
    println!("checkpoint verifier key (publish it; also in {VKEY}):");
    println!("{}", made.vkey);
    println!(
        "keep {} safe: without it the data cannot be read",
        path.join("kek.key").display()
    );
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", path.display()))
}

/// Loads the KEK of the data directory at `path` from the provider `cfg` names.
pub fn load_kek(path: &Path, cfg: &Config) -> anyhow::Result<Kek> {
    let provider = match kek_file(path, cfg) {
        Some(file) => KeyProvider::File(file),
        None => KeyProvider::Env(cfg.keys.kek_env.clone()),
    };
    provider.load().context("loading the key-encryption key")
}

/// The KEK file with the file provider (`None` with the environment provider).
fn kek_file(path: &Path, cfg: &Config) -> Option<PathBuf> {
    (cfg.keys.provider != "env").then(|| {
        let file = Path::new(&cfg.keys.kek_file);
        if file.is_absolute() {
            file.to_path_buf()
        } else {
            path.join(file)
        }
    })
}

/// Where a KEK rotation writes the new KEK before the keystore is re-wrapped under it.
fn next_kek_file(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

/// Opens the keystore of the data directory at `path`. A KEK rotation that committed but
/// was cut off before its new KEK file replaced the old one is finished here: the old KEK
/// is refused, the `.next` file opens the keystore, and it takes the old file's place.
pub fn open_keystore(path: &Path, cfg: &Config) -> anyhow::Result<Keystore> {
    let store = path.join(KEYSTORE);
    let err = match Keystore::open(&store, load_kek(path, cfg)?) {
        Ok(ks) => return Ok(ks),
        Err(e) => e,
    };
    if let (recall_crypto::CryptoError::WrongKek { .. }, Some(file)) = (&err, kek_file(path, cfg)) {
        let next = next_kek_file(&file);
        if next.exists()
            && let Ok(ks) = Keystore::open(&store, KeyProvider::File(next.clone()).load()?)
        {
            replace_file(&next, &file)?;
            return Ok(ks);
        }
    }
    Err(anyhow::Error::new(err).context("opening the keystore"))
}

/// Renames `from` over `to` and syncs the directory, so the swap survives a crash.
fn replace_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to).with_context(|| format!("replacing {}", to.display()))?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Takes the data directory's writer lock (what a running server or import holds).
fn lock_exclusive(path: &Path) -> anyhow::Result<std::fs::File> {
    let lock_path = path.join(TENANTS).join(".lock");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(
            "{} is in use (a running server or import): stop it first",
            path.display()
        );
    }
    Ok(lock)
}

/// The checkpoint keys: the primary signer (newest active key), the other active keys
/// (co-signers during a rotation) and verifiers of the retired ones (old checkpoints).
fn checkpoint_keys(keystore: &Keystore) -> anyhow::Result<(Signer, Vec<Signer>, Vec<Verifier>)> {
    let mut signers = keystore
        .signing_keys()?
        .into_iter()
        .map(|k| Signer::new(&k.name, k.seed.expose()))
        .collect::<Result<Vec<_>, _>>()?;
    if signers.is_empty() {
        bail!("the keystore holds no checkpoint signing key");
    }
    let signer = signers.remove(0);
    let verifiers = keystore
        .retired_signing_keys()?
        .iter()
        .map(|(name, key)| Verifier::from_public_key(name, key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((signer, signers, verifiers))
}

/// File of the verifier keys that signed before the current one, one per line.
pub const VKEY_PREVIOUS: &str = "checkpoint.vkey.previous";

/// What a signing-key rotation step did.
pub struct SigningRotation {
    /// The verifier key of the primary signer now (`checkpoint.vkey`).
    pub vkey: String,
    /// Keys retired by this step (finishing), or 0.
    pub retired: usize,
}

/// `recall keys rotate-signing`: starts a rotation (a new primary key; the old one keeps
/// co-signing, so checkpoints carry both signatures) or, with `finish`, ends it (only the
/// new key signs; the old ones stay known for verifying old checkpoints). Needs the data
/// directory to itself. `checkpoint.vkey` always names the primary key; the keys before
/// it are appended to `checkpoint.vkey.previous` for verifiers of old checkpoints.
pub fn rotate_signing(path: &Path, finish: bool) -> anyhow::Result<SigningRotation> {
    let config = Config::load(&path.join(config::FILE))?;
    let _lock = lock_exclusive(path)?;
    let keystore = open_keystore(path, &config)?;
    let active = keystore.signing_keys()?;
    let vkey_of = |k: &recall_crypto::SigningKeyRecord| -> anyhow::Result<String> {
        Ok(Verifier::from_public_key(&k.name, &k.public_key)?.to_vkey())
    };
    if finish {
        if active.len() < 2 {
            bail!(
                "no signing-key rotation is in progress (run `recall keys rotate-signing` first)"
            );
        }
        let retired = keystore.finish_signing_rotation()?;
        return Ok(SigningRotation {
            vkey: vkey_of(&active[0])?,
            retired,
        });
    }
    if active.len() > 1 {
        bail!("a signing-key rotation is already in progress: finish it with --finish first");
    }
    let current = active
        .first()
        .context("the keystore holds no checkpoint signing key")?;
    let new = keystore.add_signing_key(&current.name)?;
    let mut previous = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path.join(VKEY_PREVIOUS))?;
    std::io::Write::write_all(&mut previous, format!("{}\n", vkey_of(current)?).as_bytes())?;
    previous.sync_all()?;
    let vkey = vkey_of(&new)?;
    let tmp = path.join(format!("{VKEY}.tmp"));
    std::fs::write(&tmp, format!("{vkey}\n"))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    replace_file(&tmp, &path.join(VKEY))?;
    Ok(SigningRotation { vkey, retired: 0 })
}

/// What a KEK rotation did.
pub struct Rotated {
    /// Secrets re-wrapped.
    pub secrets: usize,
    /// The file that now holds the new KEK (file provider).
    pub kek_file: Option<PathBuf>,
}

/// `recall keys rotate-kek`: re-wraps every secret of the keystore under a new KEK, with
/// the data directory locked. File provider: a new KEK file is written beside the old one
/// (`<file>.next`, mode 0600), the keystore is re-wrapped in one transaction, then the new
/// file replaces the old one (a crash in between is finished by [`open_keystore`]).
/// Environment provider: the new KEK comes from the variable `new_env`, and the
/// operator points `keys.kek_env`'s variable at it afterwards.
pub fn rotate_kek(path: &Path, new_env: Option<&str>) -> anyhow::Result<Rotated> {
    let config = Config::load(&path.join(config::FILE))?;
    let _lock = lock_exclusive(path)?;
    let keystore = open_keystore(path, &config)?;
    match (kek_file(path, &config), new_env) {
        (Some(file), None) => {
            let next = next_kek_file(&file);
            // The keystore opened with the current KEK, so a `.next` file left by an
            // interrupted rotation wraps nothing: it is safe to replace.
            if next.exists() {
                std::fs::remove_file(&next)?;
            }
            create_kek_file(&next).context("creating the new key-encryption key")?;
            let new = KeyProvider::File(next.clone()).load()?;
            let (_, secrets) = keystore
                .rotate_kek(new)
                .context("re-wrapping the keystore")?;
            replace_file(&next, &file)?;
            Ok(Rotated {
                secrets,
                kek_file: Some(file),
            })
        }
        (None, Some(var)) => {
            let new = KeyProvider::Env(var.to_string())
                .load()
                .with_context(|| format!("--new-kek-env {var}"))?;
            let (_, secrets) = keystore
                .rotate_kek(new)
                .context("re-wrapping the keystore")?;
            Ok(Rotated {
                secrets,
                kek_file: None,
            })
        }
        (Some(_), Some(_)) => {
            bail!(
                "--new-kek-env: only with keys.provider = \"env\"; the file provider makes the new KEK itself"
            )
        }
        (None, None) => bail!("--new-kek-env: required with keys.provider = \"env\""),
    }
}

impl DataDir {
    /// Opens the data directory for a command that needs the log and its indexes to
    /// itself (it reads the index before it records). While a server holds the
    /// directory the command cannot run beside it, and the outbox does not help (it
    /// carries records, not reads): the error names the endpoint that does the same.
    pub fn open_or_use(path: &Path, endpoint: &str) -> anyhow::Result<Self> {
        Self::open(path, false).map_err(|e| {
            let locked = matches!(
                e.downcast_ref::<recall_store::StoreError>(),
                Some(recall_store::StoreError::Locked(_))
            );
            if !locked {
                return e;
            }
            anyhow::anyhow!(
                "a recall server holds {}: while it runs, use its HTTP API, {endpoint} \
                 (this command reads the indexes the server has open)",
                path.display()
            )
        })
    }

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
        let keystore = open_keystore(path, &config)?;
        let (signer, cosigners, verifiers) = checkpoint_keys(&keystore)?;
        let opts = EmbeddedOptions {
            segment_bytes: config.log.segment_mib << 20,
            read_only,
            faults: None,
        };
        let store = EmbeddedStore::open(&path.join(TENANTS), opts)?;
        let journal = Arc::new(
            Journal::new(
                Arc::new(store),
                Arc::new(keystore),
                signer,
                verifiers,
                &config.log.origin,
            )
            .with_cosigners(cosigners)
            .with_action_retention(config.retention.actions.clone()),
        );
        Ok(Self {
            path: path.to_path_buf(),
            config,
            journal,
        })
    }
}
