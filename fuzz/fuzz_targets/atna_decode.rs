//! The ATNA decoder (`recall_atna::decode`: header, XML without DTDs, mapping): any
//! message, never a panic, always at least one event; a message that declares a
//! document type or an entity is never mapped (no XXE, no billion laughs), and an
//! unparsed event never holds more text than the message had.

#![no_main]

use libfuzzer_sys::fuzz_target;
use recall_atna::{Context, UNPARSED_ACTION, decode};

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        received: jiff::Timestamp::from_second(1_780_000_000).unwrap(),
        peer: None,
    };
    let d = decode(data, &ctx);
    assert!(!d.events.is_empty());
    if d.unparsed.is_some() {
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].action, UNPARSED_ACTION);
    }
    if d.unparsed.is_none() {
        assert!(!data.windows(9).any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE")));
    }
    // The XML reader alone: a DTD is refused whatever surrounds it.
    if let Ok(text) = std::str::from_utf8(data) {
        if text.trim_start().starts_with("<!DOCTYPE") {
            assert!(recall_atna::xml::parse(data).is_err());
        }
    }
});
