//! Syslog stream framing and RFC 5424 headers (`recall_atna::next_frame`,
//! `recall_atna::header::parse`): any bytes, either framing, never panic; every frame
//! found lies inside the buffer, is at most the limit and consumes at least itself, so a
//! listener always makes progress or closes; an accepted header's body is a suffix of
//! the message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use recall_atna::{Framing, next_frame};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::OctetCounting, Framing::Auto] {
        let mut rest = data;
        while let Ok(Some(f)) = next_frame(rest, framing, MAX) {
            assert!(f.start <= f.end && f.end <= f.consumed && f.consumed <= rest.len());
            assert!(f.consumed > 0 && f.end - f.start <= MAX);
            let message = &rest[f.start..f.end];
            if let Ok(h) = recall_atna::header::parse(message) {
                assert!(message.ends_with(h.msg) && h.pri <= 191);
            }
            rest = &rest[f.consumed..];
        }
    }
});
