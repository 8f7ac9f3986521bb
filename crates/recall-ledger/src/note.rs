//! C2SP signed notes with Ed25519 signatures.
//!
//! A note is its text (ending in `\n`), a blank line, then one or more lines
//! `— <name> <base64(key ID ‖ signature)>\n`. The Ed25519 signature covers the text
//! bytes exactly, final newline included. Compatible with golang.org/x/mod/sumdb/note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

/// The most signature lines a note may carry; more is refused before any signature is
/// checked, so a hostile note cannot make verification slow. C2SP requires at least 16.
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Em dash (U+2014) and a space: how every signature line starts.
const SIG_PREFIX: &str = "\u{2014} ";
/// C2SP signed-note signature type for Ed25519.
const ALG_ED25519: u8 = 0x01;

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// First four bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
    pub key_id: [u8; 4],
    /// The signature bytes (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A parsed signed note: its text (ending in a newline) and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in `\n`.
    pub text: String,
    /// Signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds whitespace or `+`.
    #[error("invalid key name {0:?}: must be non-empty, without whitespace or '+'")]
    BadKeyName(String),
    /// The text (or the whole note) does not end with a newline.
    #[error("note text does not end with a newline")]
    MissingFinalNewline,
    /// The note holds an ASCII control character other than newline.
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    /// No blank line separates the text from signature lines.
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    /// Nothing follows the last blank line, or no signer was given to sign with.
    #[error("note has no signatures")]
    NoSignatures,
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("note has {0} signature lines, at most {MAX_NOTE_SIGNATURES} are accepted")]
    TooManySignatures(usize),
    /// A line after the blank line is not `— <name> <base64 of ≥ 5 bytes>`.
    #[error("malformed signature line {line}: {reason}")]
    MalformedSignatureLine {
        /// 1-based position among the signature lines.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier key string is not `<name>+<8 hex>+<base64(0x01 ‖ 32-byte key)>` with
    /// a matching key ID.
    #[error("invalid verifier key: {0}")]
    BadVerifierKey(&'static str),
    /// Two different known keys share a name and key ID, so a signature is ambiguous.
    #[error("ambiguous key {name}+{}", hex_id(.key_id))]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The shared key ID.
        key_id: [u8; 4],
    },
    /// A signature by a known key does not verify: the note is refused as a whole.
    #[error("invalid signature for key {name}+{}", hex_id(.key_id))]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: [u8; 4],
    },
    /// No signature is by a known key (unknown signatures are ignored, not trusted).
    #[error("note has no signature by a known key")]
    UnverifiedNote,
}

fn hex_id(id: &[u8; 4]) -> String {
    format!("{:08x}", u32::from_be_bytes(*id))
}

/// C2SP key names: non-empty, no Unicode whitespace, no `+` (the vkey separator).
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest: [u8; 32] = h.finalize().into();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Notes are text for operators: only newline among the ASCII control characters.
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// An Ed25519 note signer.
pub struct Signer {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Signer {
    // Never print the secret key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({}+{})", self.name, hex_id(&self.key_id()))
    }
}

impl Signer {
    /// A signer from a name and a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.verifying_key().as_bytes())
    }
    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }
}

/// An Ed25519 note verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl Verifier {
    /// A verifier from a name and a 32-byte Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::BadVerifierKey("not an Ed25519 public key"))?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }
    /// Parses a verifier key in the `name+hex(keyid)+base64(0x01 ‖ pubkey)` form.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        // The name holds no '+', the ID is hex: so only the base64 part may hold '+'.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey("expected name+keyid+key"));
        };
        check_name(name).map_err(|_| NoteError::BadVerifierKey("bad key name"))?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NoteError::BadVerifierKey("key ID is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16)
            .map_err(|_| NoteError::BadVerifierKey("key ID is not 8 hex digits"))?
            .to_be_bytes();
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadVerifierKey("key is not canonical base64"))?;
        let Some((&ALG_ED25519, public_key)) = raw.split_first() else {
            return Err(NoteError::BadVerifierKey("not an Ed25519 (type 0x01) key"));
        };
        let public_key: &[u8; 32] = public_key
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("Ed25519 key is not 32 bytes"))?;
        let v = Self::from_public_key(name, public_key)?;
        if v.key_id() != id {
            return Err(NoteError::BadVerifierKey(
                "key ID does not match name and key",
            ));
        }
        Ok(v)
    }
    /// The `name+hex(keyid)+base64(0x01 ‖ pubkey)` form.
    pub fn to_vkey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex_id(&self.key_id()),
            STANDARD.encode(raw)
        )
    }
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.key.as_bytes())
    }
    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// Strict RFC 8032 verification (canonical encodings, no small-order keys or `R`).
    fn verify(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text.as_bytes(), &sig).is_ok()
    }
}

impl Note {
    /// Signs `text` (must end in `\n`) with every signer and returns the note as text.
    pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        check_chars(text)?;
        if signers.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let note = Note {
            text: text.to_owned(),
            signatures: signers
                .iter()
                .map(|s| NoteSignature {
                    name: s.name.clone(),
                    key_id: s.key_id(),
                    signature: s.key.sign(text.as_bytes()).to_bytes().to_vec(),
                })
                .collect(),
        };
        Ok(note.to_msg())
    }

    /// The note as text: the text, a blank line, one line per signature.
    pub fn to_msg(&self) -> String {
        let mut out = format!("{}\n", self.text);
        for s in &self.signatures {
            let mut raw = s.key_id.to_vec();
            raw.extend_from_slice(&s.signature);
            out.push_str(&format!(
                "{SIG_PREFIX}{} {}\n",
                s.name,
                STANDARD.encode(raw)
            ));
        }
        out
    }

    /// Parses a note without checking signatures.
    pub fn parse(msg: &str) -> Result<Self, NoteError> {
        check_chars(msg)?;
        // The text may itself hold blank lines: the last one starts the signatures.
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        let count = sigs.split('\n').count();
        if count > MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures(count));
        }
        let signatures = sigs
            .split('\n')
            .enumerate()
            .map(|(i, line)| parse_sig_line(line, i + 1))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses and verifies: succeeds when at least one signature is by a known verifier
    /// and every signature by a known verifier is valid; unknown signatures are ignored.
    /// Returns the note and the names of the verifiers whose signatures checked.
    ///
    /// A known verifier is one with the signature's name *and* key ID; a signature that
    /// shares only one of them with a known key is unknown (C2SP signed-note).
    pub fn open(msg: &str, verifiers: &[Verifier]) -> Result<(Self, Vec<String>), NoteError> {
        let note = Self::parse(msg)?;
        let mut verified: Vec<String> = Vec::new();
        for sig in &note.signatures {
            let mut known = verifiers
                .iter()
                .filter(|v| v.name == sig.name && v.key_id() == sig.key_id);
            let Some(v) = known.next() else { continue };
            if known.any(|other| other.key != v.key) {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !v.verify(&note.text, &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified.contains(&sig.name) {
                verified.push(sig.name.clone());
            }
        }
        if verified.is_empty() {
            return Err(NoteError::UnverifiedNote);
        }
        Ok((note, verified))
    }
}

/// `— <name> <base64(key ID ‖ signature)>`, without its newline.
fn parse_sig_line(line: &str, n: usize) -> Result<NoteSignature, NoteError> {
    let bad = |reason| NoteError::MalformedSignatureLine { line: n, reason };
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| bad("does not start with \"— \""))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad("no space after the key name"))?;
    check_name(name).map_err(|_| bad("invalid key name"))?;
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| bad("signature is not canonical base64"))?;
    if raw.len() < 5 {
        return Err(bad("signature shorter than a key ID and one byte"));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: [raw[0], raw[1], raw[2], raw[3]],
        signature: raw[4..].to_vec(),
    })
}
