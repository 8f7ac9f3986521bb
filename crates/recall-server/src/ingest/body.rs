//! Request bodies of `POST /v1/events`: one JSON object, a JSON array, or NDJSON.

use jiff::Timestamp;
use recall_model::{Event, ValidationError, parse_client_event};
use serde_json::value::RawValue;

/// Why a body was refused; nothing of it is appended.
#[derive(Debug)]
pub enum BodyError {
    /// The body is not JSON of an accepted shape (`index` when one event is at fault).
    Malformed {
        /// Event position, when known.
        index: Option<usize>,
        /// What is wrong, without quoting the input.
        message: String,
    },
    /// An event broke a rule of the wire format.
    Invalid {
        /// Event position in the batch, from 0.
        index: usize,
        /// The field and rule.
        error: ValidationError,
    },
    /// More events than one request may carry.
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// No event at all.
    Empty,
    /// The `Content-Type` is neither JSON nor NDJSON.
    MediaType,
}

/// Parses and validates every event of a body. `content_type` decides NDJSON
/// (`application/x-ndjson`, `application/jsonl`); with `application/json` (or `…+json`)
/// or no content type the body is one JSON object or an array of them; any other type is
/// refused, whatever the body holds.
pub fn parse_body(
    content_type: Option<&str>,
    body: &[u8],
    now: Timestamp,
    max_events: usize,
) -> Result<Vec<Event>, BodyError> {
    let ndjson = match content_type {
        None => false,
        Some(c) => {
            let c = c
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if c.contains("ndjson") || c.contains("jsonl") || c.contains("json-seq") {
                true
            } else if c == "application/json" || c.ends_with("+json") {
                false
            } else {
                return Err(BodyError::MediaType);
            }
        }
    };
    let events = if ndjson {
        parse_lines(body, now, max_events)?
    } else {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => parse_array(body, now, max_events)?,
            Some(b'{') => vec![parse_one(body, 0, now)?],
            Some(_) => {
                return Err(BodyError::Malformed {
                    index: None,
                    message: "the body must be a JSON object, a JSON array of objects, or NDJSON (Content-Type: application/x-ndjson)".into(),
                });
            }
            None => return Err(BodyError::Empty),
        }
    };
    if events.is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(events)
}

fn parse_one(bytes: &[u8], index: usize, now: Timestamp) -> Result<Event, BodyError> {
    parse_client_event(bytes, now).map_err(|error| BodyError::Invalid { index, error })
}

fn parse_lines(body: &[u8], now: Timestamp, max: usize) -> Result<Vec<Event>, BodyError> {
    let mut out = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.len() == max {
            return Err(BodyError::TooMany { limit: max });
        }
        out.push(parse_one(line, out.len(), now)?);
    }
    Ok(out)
}

fn parse_array(body: &[u8], now: Timestamp, max: usize) -> Result<Vec<Event>, BodyError> {
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| BodyError::Malformed {
        index: None,
        // Position only: serde's messages may quote the input.
        message: format!(
            "the body is not a JSON array of events ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    if items.len() > max {
        return Err(BodyError::TooMany { limit: max });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_one(raw.get().as_bytes(), i, now))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const E: &str = r#"{"time":"2026-01-02T03:04:05Z","actor":{"id":"u-1"},"action":"read"}"#;

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn one_object_an_array_and_ndjson() {
        assert_eq!(
            parse_body(Some("application/json"), E.as_bytes(), now(), 10)
                .unwrap()
                .len(),
            1
        );
        let array = format!("[{E},{E}]");
        assert_eq!(
            parse_body(None, array.as_bytes(), now(), 10).unwrap().len(),
            2
        );
        let lines = format!("{E}\n\n{E}\n{E}\n");
        assert_eq!(
            parse_body(Some("application/x-ndjson"), lines.as_bytes(), now(), 10)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn the_failing_event_is_named_by_index_and_field() {
        let bad = E.replace("\"read\"", "\"\"");
        let lines = format!("{E}\n{bad}\n");
        match parse_body(Some("application/x-ndjson"), lines.as_bytes(), now(), 10) {
            Err(BodyError::Invalid { index, error }) => {
                assert_eq!(index, 1);
                assert_eq!(error.field, "action");
            }
            other => panic!("unexpected {other:?}"),
        }
        let array = format!("[{E},{E},{{\"time\":1}}]");
        assert!(matches!(
            parse_body(None, array.as_bytes(), now(), 10),
            Err(BodyError::Invalid { index: 2, .. })
        ));
    }

    #[test]
    fn limits_and_malformed_bodies() {
        let array = format!("[{E},{E},{E}]");
        assert!(matches!(
            parse_body(None, array.as_bytes(), now(), 2),
            Err(BodyError::TooMany { limit: 2 })
        ));
        assert!(matches!(
            parse_body(None, b"  ", now(), 2),
            Err(BodyError::Empty)
        ));
        assert!(matches!(
            parse_body(None, b"[]", now(), 2),
            Err(BodyError::Empty)
        ));
        assert!(matches!(
            parse_body(None, b"\"x\"", now(), 2),
            Err(BodyError::Malformed { .. })
        ));
        assert!(matches!(
            parse_body(None, b"[{\"a\":", now(), 2),
            Err(BodyError::Malformed { .. })
        ));
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            assert!(matches!(
                parse_body(Some(other), E.as_bytes(), now(), 2),
                Err(BodyError::MediaType)
            ));
        }
        assert!(
            parse_body(
                Some("Application/JSON; charset=utf-8"),
                E.as_bytes(),
                now(),
                2
            )
            .is_ok()
        );
    }
}
