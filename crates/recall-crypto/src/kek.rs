//! The key-encryption key and where it comes from.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes, random_array};

/// The key-encryption key: wraps every other key (AES-KWP, RFC 5649).
#[derive(Clone, Debug)]
pub struct Kek(pub(crate) SecretBytes);

/// Where the KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProvider {
    /// A file holding the KEK (base64 of 32 bytes, one line); created mode 0600 by
    /// [`create_kek_file`]. Loading refuses a file readable by group or others.
    File(PathBuf),
    /// An environment variable holding base64 of 32 bytes.
    Env(String),
}

/// Longest KEK file accepted: base64 of 32 bytes is 44 characters, plus a line end and
/// some slack. Bigger files are refused without being read into memory.
const MAX_KEK_FILE: u64 = 128;

impl KeyProvider {
    /// Loads the KEK.
    pub fn load(&self) -> Result<Kek, CryptoError> {
        match self {
            KeyProvider::File(path) => load_file(path),
            KeyProvider::Env(var) => {
                let value = std::env::var_os(var)
                    .ok_or_else(|| CryptoError::KekEnvMissing { var: var.clone() })?;
                let text = Zeroizing::new(value.into_encoded_bytes());
                decode(&text, || format!("environment variable {var}"))
            }
        }
    }
}

fn load_file(path: &Path) -> Result<Kek, CryptoError> {
    let io = |source| CryptoError::KekFileIo {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    // Check the permissions of the file we opened (fstat), not of whatever the path
    // names a moment later.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(CryptoError::KekNotAFile {
            path: path.to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KekFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let origin = || format!("file {}", path.display());
    if meta.len() > MAX_KEK_FILE {
        return Err(CryptoError::KekMalformed { origin: origin() });
    }
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_KEK_FILE as usize));
    Read::by_ref(&mut file)
        .take(MAX_KEK_FILE + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    decode(&text, origin)
}

/// Decodes base64 of exactly 32 bytes, ignoring surrounding whitespace (the line end).
/// Errors never include the content: base64's own error would echo an offending byte.
fn decode(text: &[u8], origin: impl Fn() -> String) -> Result<Kek, CryptoError> {
    let malformed = || CryptoError::KekMalformed { origin: origin() };
    let text = text.trim_ascii();
    let mut bytes = Zeroizing::new([0u8; 33]);
    // A 33-byte buffer makes over-long input fail instead of being silently accepted.
    let len = STANDARD
        .decode_slice(text, bytes.as_mut())
        .map_err(|_| malformed())?;
    if len != 32 {
        return Err(malformed());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[..32]);
    Ok(Kek::from_bytes(key))
}

/// Creates a new random KEK file with mode 0600; refuses to overwrite an existing file.
pub fn create_kek_file(path: &Path) -> Result<(), CryptoError> {
    let io = |source| CryptoError::KekFileIo {
        path: path.to_owned(),
        source,
    };
    // create_new is atomic (O_EXCL): an existing key is never clobbered, even in a race.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CryptoError::KekFileExists {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    let key = Zeroizing::new(random_array::<32>());
    let mut line = Zeroizing::new(STANDARD.encode(key.as_ref()));
    line.push('\n');
    let written = file
        .write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| sync_parent(path));
    if let Err(e) = written {
        // Do not leave a half-written key behind: a later create would refuse it and a
        // later load would fail on it.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io(e));
    }
    Ok(())
}

/// fsyncs the directory holding `path`, so the new directory entry survives a crash.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

impl Kek {
    /// A KEK from raw bytes (tests, and providers).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBytes(bytes))
    }

    fn aes_kek(&self) -> Result<AesKek, aws_lc_rs::error::Unspecified> {
        AesKek::new(&AES_256, self.0.expose())
    }

    /// Wraps a 32-byte secret with AES-KWP.
    pub fn wrap(&self, secret: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
        self.wrap_raw(secret.expose())
    }

    /// Unwraps a secret wrapped by [`Kek::wrap`]; fails on a wrong KEK or damaged input.
    pub fn unwrap_secret(&self, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        let plain = self.unwrap_raw(wrapped, "secret")?;
        to_secret(&plain, "secret")
    }

    /// Wraps `secret ‖ SHA-256(context)`: the wrapped bytes only unwrap (with
    /// [`Kek::unwrap_bound`]) for the same context, so a wrapped key copied into another
    /// keystore row (another tenant, epoch or kind) is refused instead of used.
    pub(crate) fn wrap_bound(
        &self,
        secret: &SecretBytes,
        context: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut plain = Zeroizing::new([0u8; 64]);
        plain[..32].copy_from_slice(secret.expose());
        plain[32..].copy_from_slice(&Sha256::digest(context));
        self.wrap_raw(plain.as_ref())
    }

    /// Unwraps what [`Kek::wrap_bound`] wrapped for the same `context`.
    pub(crate) fn unwrap_bound(
        &self,
        wrapped: &[u8],
        context: &[u8],
        what: &'static str,
    ) -> Result<SecretBytes, CryptoError> {
        let plain = self.unwrap_raw(wrapped, what)?;
        if plain.len() != 64 || plain[32..] != Sha256::digest(context)[..] {
            return Err(CryptoError::Unwrap { what });
        }
        to_secret(&plain[..32], what)
    }

    fn wrap_raw(&self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        // KWP output: the input padded to a multiple of 8, plus an 8-byte integrity block.
        let mut out = vec![0u8; plain.len() + 15];
        let len = self
            .aes_kek()
            .and_then(|kek| kek.wrap_with_padding(plain, &mut out).map(|w| w.len()))
            .map_err(|_| CryptoError::Wrap)?;
        out.truncate(len);
        Ok(out)
    }

    fn unwrap_raw(
        &self,
        wrapped: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
        let len = self
            .aes_kek()
            .and_then(|kek| kek.unwrap_with_padding(wrapped, &mut out).map(|p| p.len()))
            .map_err(|_| CryptoError::Unwrap { what })?;
        out.truncate(len);
        Ok(out)
    }
}

fn to_secret(plain: &[u8], what: &'static str) -> Result<SecretBytes, CryptoError> {
    let bytes: [u8; 32] = plain.try_into().map_err(|_| CryptoError::Unwrap { what })?;
    Ok(SecretBytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip() {
        let kek = Kek::from_bytes(random_array());
        let secret = SecretBytes::from_bytes(random_array());
        let wrapped = kek.wrap(&secret).unwrap();
        assert_eq!(wrapped.len(), 40);
        assert_ne!(&wrapped[..32], secret.expose());
        assert_eq!(
            kek.unwrap_secret(&wrapped).unwrap().expose(),
            secret.expose()
        );
    }

    #[test]
    fn unwrap_refuses_wrong_kek_and_damage() {
        let kek = Kek::from_bytes(random_array());
        let other = Kek::from_bytes(random_array());
        let wrapped = kek.wrap(&SecretBytes::from_bytes(random_array())).unwrap();
        assert!(matches!(
            other.unwrap_secret(&wrapped),
            Err(CryptoError::Unwrap { .. })
        ));
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 0x01;
            assert!(kek.unwrap_secret(&bad).is_err(), "flip at {i} accepted");
        }
        assert!(kek.unwrap_secret(&wrapped[..32]).is_err());
        assert!(kek.unwrap_secret(&[]).is_err());
    }

    #[test]
    fn bound_wrap_refuses_other_context() {
        let kek = Kek::from_bytes(random_array());
        let secret = SecretBytes::from_bytes(random_array());
        let wrapped = kek.wrap_bound(&secret, b"epoch/acme/202603").unwrap();
        assert_eq!(wrapped.len(), 72);
        let back = kek
            .unwrap_bound(&wrapped, b"epoch/acme/202603", "key")
            .unwrap();
        assert_eq!(back.expose(), secret.expose());
        assert!(
            kek.unwrap_bound(&wrapped, b"epoch/acme/202604", "key")
                .is_err()
        );
        // A plain wrap is not a bound wrap, and vice versa.
        assert!(kek.unwrap_secret(&wrapped).is_err());
        let plain = kek.wrap(&secret).unwrap();
        assert!(kek.unwrap_bound(&plain, b"", "key").is_err());
    }

    #[test]
    fn decode_accepts_exactly_32_bytes() {
        let good = STANDARD.encode([7u8; 32]);
        assert_eq!(
            decode(good.as_bytes(), String::new).unwrap().0.expose(),
            &[7u8; 32]
        );
        assert!(decode(format!("{good}\n").as_bytes(), String::new).is_ok());
        assert!(decode(format!("{good}\r\n").as_bytes(), String::new).is_ok());
        for bad in [
            STANDARD.encode([7u8; 31]),
            STANDARD.encode([7u8; 33]),
            STANDARD.encode([7u8; 64]),
            String::new(),
            format!("{}!", &good[..43]),
            good.replace('H', "-"),
        ] {
            assert!(
                decode(bad.as_bytes(), String::new).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let kek = Kek::from_bytes([0x5A; 32]);
        let text = format!("{kek:?}");
        assert_eq!(text, "Kek([redacted])");
    }
}
