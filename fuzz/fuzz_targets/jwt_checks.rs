//! The JWT checks recall makes itself (`recall_server::auth::token_checks`): the header's
//! `crit` test on any token text, and the subject test on any `sub`. Nothing panics; a
//! header that decodes to a JSON object is refused exactly when it names `crit`; and every
//! subject the check accepts names the caller in a valid event of recall's own (actor
//! `jwt:<sub>`), so a signed-in caller can never meet a 500 from its self-audit record.

#![no_main]

use base64::Engine as _;
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
// The server's own source file, compiled here without the server (see ingest_body.rs
// for why); it needs only base64 and serde_json.
#[path = "../../crates/recall-server/src/auth/token_checks.rs"]
mod token_checks;
use token_checks::{check_subject, refuse_critical_extensions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As a token.
    let verdict = refuse_critical_extensions(text);
    let head = text.split('.').next().unwrap_or_default();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b).ok());
    match header {
        Some(h) => assert_eq!(verdict.is_ok(), !h.contains_key("crit"), "crit decided wrongly"),
        None => assert_eq!(verdict, Err("malformed")),
    }
    // As a subject.
    if check_subject(text).is_ok() {
        let event = serde_json::json!({
            "time": "2026-01-01T00:00:00Z",
            "actor": {"id": format!("jwt:{text}"), "type": "user"},
            "action": "search",
            "source": {"system": "recall"},
        });
        let now = Timestamp::from_second(4_102_444_800).expect("2100-01-01 is a valid time");
        if let Err(e) = recall_model::parse_event(event.to_string().as_bytes(), now) {
            panic!("an accepted subject cannot name its caller: {}", e.field);
        }
    }
});
