//! Search cursors (`?cursor=` of `GET /v1/logs/{tenant}/events`, `Query::cursor`):
//! `base64url(v1 ‖ fingerprint(8) ‖ time(12) ‖ seq u64be)`, where the fingerprint is a
//! keyed hash of the query that binds the cursor to it. The position is not secret and
//! not authenticated: a client may move it, which only chooses where its own query
//! resumes.
//!
//! The input is tried twice. As a cursor string: decoding never panics; a cursor
//! accepted for one fingerprint is refused for another; an accepted cursor re-encodes to
//! the same position (and to the same string, except for a sub-second field of 10^9 or
//! more, which the decoder normalises). As bytes `fp(8) ‖ seconds(8) ‖ nanos(4) ‖ seq(8)
//! ‖ tamper(2)`: the cursor made by `encode_cursor` decodes to the same position, with
//! its fingerprint changed it is refused, and with one character changed it is refused
//! or names another position.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use recall_query::{QueryError, decode_cursor, encode_cursor};

/// The fingerprint the seeds were made for.
const FP: [u8; 8] = *b"fuzz-fp!";

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        as_string(s);
    }
    as_parts(data);
});

fn as_string(s: &str) {
    let Ok(pos) = decode_cursor(s, &FP) else {
        return;
    };
    let mut other = FP;
    other[7] ^= 1;
    assert!(
        matches!(decode_cursor(s, &other), Err(QueryError::BadCursor)),
        "a cursor accepted for another fingerprint"
    );
    let again = encode_cursor(&FP, pos);
    assert_eq!(
        decode_cursor(&again, &FP).ok(),
        Some(pos),
        "re-encoding moved the position"
    );
    if again != s {
        // Known: the sub-second field is not checked to be below 10^9, so seconds=s,
        // nanos=10^9+n decodes as s+1 seconds and n nanoseconds. Anything else is a bug.
        let raw = URL_SAFE_NO_PAD
            .decode(s)
            .expect("an accepted cursor is base64url");
        let nanos = u32::from_be_bytes(raw[17..21].try_into().expect("4 bytes"));
        assert!(
            nanos >= 1_000_000_000,
            "an accepted cursor is not canonical: {s:?} vs {again:?}"
        );
    }
}

fn as_parts(data: &[u8]) {
    let Some((fp, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((secs, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((nanos, rest)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let Some((seq, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    // Any instant jiff can represent.
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let secs = min + i64::from_be_bytes(*secs).rem_euclid(max - min + 1);
    let nanos = (u32::from_be_bytes(*nanos) % 1_000_000_000) as i32;
    let Ok(time) = Timestamp::new(secs, nanos) else {
        return; // the last second of the range holds no positive nanoseconds
    };
    let pos = (time, u64::from_be_bytes(*seq));

    let cursor = encode_cursor(fp, pos);
    assert_eq!(
        decode_cursor(&cursor, fp).ok(),
        Some(pos),
        "a cursor did not round-trip"
    );

    let tamper = rest.first().copied().unwrap_or(0);
    let mut other = *fp;
    other[usize::from(tamper) % 8] ^= 1 << (tamper / 32);
    assert!(
        matches!(decode_cursor(&cursor, &other), Err(QueryError::BadCursor)),
        "a cursor accepted for another fingerprint"
    );

    // One character replaced by another of the alphabet (or an outsider).
    let at = usize::from(rest.get(1).copied().unwrap_or(0)) % cursor.len();
    let by = char::from(rest.get(2).copied().unwrap_or(b'A'));
    let mut chars: Vec<char> = cursor.chars().collect();
    if chars[at] == by {
        return;
    }
    chars[at] = by;
    let tampered: String = chars.into_iter().collect();
    if let Ok(moved) = decode_cursor(&tampered, fp) {
        // Only the position characters may change: it names another position.
        assert_ne!(moved, pos, "a changed cursor names the same position");
        assert!(
            at * 6 >= 9 * 8,
            "a change to the version or fingerprint was accepted"
        );
    }
}
