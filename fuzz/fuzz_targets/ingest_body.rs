//! Request bodies of `POST /v1/events` (`recall_server::ingest::parse_body`): one JSON
//! object, a JSON array of objects, or NDJSON. The input is the body, tried with no
//! content type, `application/json` and `application/x-ndjson`. Nothing panics; no
//! content type and `application/json` agree; an accepted body holds 1 to `MAX` events,
//! and each of them, taken out of the body and parsed alone (the NDJSON line, or the
//! array element re-serialised by serde_json), gives the same event.

#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use recall_model::{Event, Recorded, canonical, parse_event};
// The server's own source file (`recall_server::ingest::parse_body`), compiled here
// without the server: depending on recall-server doubles this project's crates (137 to
// 275) and its build from scratch (4.5 to 6.7 minutes on 2 cores), too slow for the CI
// smoke run. body.rs needs only recall-model, jiff and serde_json; should it ever use
// the server's internals, this stops compiling and the target should depend on it.
#[path = "../../crates/recall-server/src/ingest/body.rs"]
mod body;
use body::{BodyError, parse_body};

/// Small, so that the limit is reached.
const MAX: usize = 8;

fuzz_target!(|data: &[u8]| {
    // A fixed clock keeps runs reproducible; far enough ahead that most times pass.
    let now = Timestamp::from_second(4_102_444_800).expect("2100-01-01 is a valid time");

    let json = parse_body(Some("application/json"), data, now, MAX);
    let none = parse_body(None, data, now, MAX);
    match (&json, &none) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "no content type and application/json differ"),
        (Err(a), Err(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "refused differently");
            check_error(a);
        }
        _ => panic!("no content type and application/json disagree"),
    }
    if let Ok(events) = &json {
        assert!((1..=MAX).contains(&events.len()));
        let first = data.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            assert_eq!(events.len(), 1);
            same(&events[0], data, now);
        } else {
            assert_eq!(
                first,
                Some(&b'['),
                "accepted JSON body is neither object nor array"
            );
            let items: Vec<serde_json::Value> =
                serde_json::from_slice(data).expect("an accepted array is JSON");
            assert_eq!(
                items.len(),
                events.len(),
                "array length and event count differ"
            );
            for (event, item) in events.iter().zip(&items) {
                let alone = serde_json::to_vec(item).expect("a JSON value serialises");
                same(event, &alone, now);
            }
        }
    }

    match parse_body(Some("application/x-ndjson"), data, now, MAX) {
        Ok(events) => {
            assert!((1..=MAX).contains(&events.len()));
            let lines: Vec<&[u8]> = data
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            assert_eq!(
                lines.len(),
                events.len(),
                "line count and event count differ"
            );
            for (event, line) in events.iter().zip(lines) {
                same(event, line, now);
                // The line alone is a one-line NDJSON body of that event.
                let one = parse_body(Some("application/x-ndjson"), line, now, 1);
                assert_eq!(one.ok().as_deref(), Some(std::slice::from_ref(event)));
            }
        }
        Err(err) => check_error(&err),
    }
});

/// An error names an event within the limit, the limit itself, and a field or reason.
fn check_error(err: &BodyError) {
    match err {
        BodyError::Malformed { index, message } => {
            assert!(index.is_none_or(|i| i < MAX));
            assert!(!message.is_empty());
        }
        BodyError::Invalid { index, error } => {
            assert!(*index < MAX);
            assert!(!error.field.is_empty(), "an error must name a field");
        }
        BodyError::TooMany { limit } => assert_eq!(*limit, MAX),
        BodyError::Empty => {}
        BodyError::MediaType => panic!("a JSON or NDJSON content type refused as a media type"),
    }
}

/// `bytes`, parsed alone, is an event with the same canonical form (what the ledger
/// commits to) and the same client-named tenant as `event`.
fn same(event: &Event, bytes: &[u8], now: Timestamp) {
    let alone = match parse_event(bytes, now) {
        Ok(alone) => alone,
        Err(err) => panic!("an event of an accepted body refused alone: {err}"),
    };
    assert_eq!(
        alone.tenant, event.tenant,
        "tenant differs when parsed alone"
    );
    let rec = |e: &Event| Recorded {
        event: e.clone(),
        tenant: "fuzz-tenant".to_owned(),
        seq: 1,
        received: now,
        appended_by: Some("key:fuzz".to_owned()),
    };
    assert_eq!(
        canonical(&rec(&alone)),
        canonical(&rec(event)),
        "an event differs when parsed alone"
    );
}
