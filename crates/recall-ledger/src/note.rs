//! C2SP signed notes with Ed25519 signatures.

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
    /// TODO(helper): variants (malformed, no known signature, bad signature, …).
    #[error("placeholder")]
    Placeholder,
}

/// An Ed25519 note signer.
pub struct Signer {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl Signer {
    /// A signer from a name and a 32-byte Ed25519 seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        let _ = (name, seed);
        todo!()
    }
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        todo!()
    }
    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        let _ = &self.key;
        todo!()
    }
}

/// An Ed25519 note verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl Verifier {
    /// Parses a verifier key in the `name+hex(keyid)+base64(0x01 ‖ pubkey)` form.
    pub fn from_vkey(_vkey: &str) -> Result<Self, NoteError> {
        todo!()
    }
    /// The `name+hex(keyid)+base64(0x01 ‖ pubkey)` form.
    pub fn to_vkey(&self) -> String {
        let _ = &self.key;
        todo!()
    }
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        todo!()
    }
}

impl Note {
    /// Signs `text` (must end in `\n`) with every signer and returns the note as text.
    pub fn sign(_text: &str, _signers: &[&Signer]) -> Result<String, NoteError> {
        todo!()
    }

    /// Parses a note without checking signatures.
    pub fn parse(_msg: &str) -> Result<Self, NoteError> {
        todo!()
    }

    /// Parses and verifies: succeeds when at least one signature is by a known verifier
    /// and every signature by a known verifier is valid; unknown signatures are ignored.
    /// Returns the note and the names of the verifiers whose signatures checked.
    pub fn open(_msg: &str, _verifiers: &[Verifier]) -> Result<(Self, Vec<String>), NoteError> {
        todo!()
    }
}
