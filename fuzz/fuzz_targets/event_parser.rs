//! parse_event on arbitrary bytes never panics, and every accepted event canonicalises,
//! reads back with parse_canonical, and re-canonicalises to the same bytes.

#![no_main]

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use recall_model::{Recorded, canonical, parse_canonical, parse_event};

fuzz_target!(|data: &[u8]| {
    // A fixed clock keeps runs reproducible; far enough ahead that most times pass.
    let now = Timestamp::from_second(4_102_444_800).expect("2100-01-01 is a valid time");
    let event = match parse_event(data, now) {
        Ok(event) => event,
        Err(err) => {
            assert!(!err.field.is_empty(), "an error must name a field");
            return;
        }
    };
    let tenant = event.tenant.clone().unwrap_or_else(|| "fuzz-tenant".to_owned());
    let rec = Recorded {
        event,
        tenant: tenant.clone(),
        seq: 42,
        received: now,
        appended_by: Some("recall:server".to_owned()),
    };
    let bytes = canonical(&rec);
    let back = match parse_canonical(&bytes) {
        Ok(back) => back,
        Err(err) => panic!("canonical form of an accepted event refused: {err}"),
    };
    assert_eq!(canonical(&back), bytes, "canonical form is not a fixed point");
    // Same event, except that parse_canonical reports the recorded tenant.
    let mut expected = rec;
    expected.event.tenant = Some(tenant);
    assert_eq!(back, expected, "parse_canonical(canonical(r)) != r");
});
