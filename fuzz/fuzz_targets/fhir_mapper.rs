//! recall_fhir::decode on arbitrary bytes never panics; every event it returns is a valid
//! stored event whose canonical form reads back (origin included, byte for byte), and
//! maps to an AuditEvent (R4 and R5) that decodes to the same native event.

#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use recall_fhir::{FhirVersion, decode, to_audit_event};
use recall_model::{Recorded, canonical, parse_canonical};

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_second(4_102_444_800).expect("2100-01-01 is a valid time");
    let Ok(decoded) = decode(data, None, now) else {
        return;
    };
    for event in decoded.events {
        let origin = event.origin.clone().expect("a decoded event keeps its original");
        assert_eq!(origin.body.as_bytes(), data, "the original is kept byte for byte");
        let rec = Recorded {
            event,
            tenant: "fuzz-tenant".to_owned(),
            seq: 7,
            received: now,
            appended_by: Some("key:fuzz".to_owned()),
        };
        let bytes = canonical(&rec);
        let back = parse_canonical(&bytes).expect("a decoded event's canonical form reads back");
        assert_eq!(canonical(&back), bytes, "canonical form is not a fixed point");
        let stored: serde_json::Value = serde_json::from_slice(&bytes).expect("canonical JSON");
        for v in [FhirVersion::R4, FhirVersion::R5] {
            let ae = serde_json::to_vec(&to_audit_event(&stored, v)).expect("JSON");
            let again = decode(&ae, Some(v), now).expect("recall's own AuditEvent decodes");
            let mut mapped = again.events.into_iter().next().expect("one event");
            mapped.origin = None;
            let mut want = rec.event.clone();
            want.origin = None;
            assert_eq!(mapped, want, "native -> {v} -> native is not exact");
        }
    }
});
