//! The segment reader on arbitrary bytes: scanning must never panic, and whatever it
//! accepts must re-encode to the same bytes (frames are canonical).

#![no_main]

use libfuzzer_sys::fuzz_target;
use recall_store::format::{Record, decode, encode_batch, frame, read_frame};
use recall_store::segment::scan;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.seg");
    let _ = scan(path, data, true, |_, _| Ok(()));
    let _ = scan(path, data, false, |_, _| Ok(()));
    if let Ok((payload, used)) = read_frame(data) {
        assert_eq!(frame(payload), data[..used]);
        if let Ok(Record::Batch(batch)) = decode(payload) {
            assert_eq!(encode_batch(&batch), payload);
        }
    }
});
