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
        assert!(!declares_doctype(data), "a message with a DTD was mapped");
    }
    // The XML reader alone: a DTD is refused whatever surrounds it.
    if let Ok(text) = std::str::from_utf8(data) {
        if text.trim_start().starts_with("<!DOCTYPE") {
            assert!(recall_atna::xml::parse(data).is_err());
        }
    }
});

/// Whether quick-xml itself, reading the message's body, meets a document type
/// declaration. (`<!DOCTYPE` text inside a name, a comment or CDATA declares nothing: the
/// fuzzer found such a message, mapped as it should be.)
fn declares_doctype(data: &[u8]) -> bool {
    let Ok(header) = recall_atna::header::parse(data) else {
        return false;
    };
    let mut reader = quick_xml::Reader::from_reader(header.msg);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::DocType(_)) => return true,
            Ok(quick_xml::events::Event::Eof) | Err(_) => return false,
            Ok(_) => buf.clear(),
        }
    }
}
