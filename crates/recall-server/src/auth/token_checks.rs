//! Checks of a JWT that recall makes itself, before and after the signature check:
//! critical header parameters (RFC 7515 §4.1.11) and a subject that can name the caller in
//! its own audit events. Pure functions of the token text, so that `fuzz/` compiles this
//! file on its own (target `jwt_checks`).

use base64::Engine as _;
use serde_json::{Map, Value};

/// Longest `sub` accepted: `jwt:` and the subject make the actor id (and `appended_by`)
/// of every event the caller causes, which the event format caps at 128 characters.
pub const MAX_SUBJECT_CHARS: usize = 124;

/// Refuses a token whose header names critical parameters: recall understands none, so
/// any `crit` refuses it. A header that is not base64url JSON is `malformed`.
pub fn refuse_critical_extensions(token: &str) -> Result<(), &'static str> {
    let head = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| "malformed")?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|_| "malformed")?;
    if header.contains_key("crit") {
        return Err("critical header parameters are not supported");
    }
    Ok(())
}

/// Refuses a subject that could not name the caller in its own audit events (too long,
/// control characters, surrounding whitespace): at sign-in with 401, never a 500 later.
pub fn check_subject(sub: &str) -> Result<(), &'static str> {
    let n = sub.chars().count();
    if n == 0 || n > MAX_SUBJECT_CHARS || sub.chars().any(char::is_control) || sub.trim() != sub {
        return Err("sub claim too long or not printable (at most 124 characters)");
    }
    Ok(())
}
