//! What `recall verify --checkpoint FILE` parses: a C2SP signed note holding a C2SP
//! checkpoint body. On arbitrary input nothing panics; every note `Note::parse` accepts
//! re-serialises (`to_msg`) to the same bytes, and so does every checkpoint body
//! `Checkpoint::parse_body` accepts (`to_body`; both formats are canonical: strict
//! base64, no leading zeros, every line ends in `\n`); `Note::open` with fixed verifier
//! keys never panics and agrees with `Note::parse`; a body that parses, once signed,
//! opens and parses back to the same checkpoint; a verifier key that parses re-encodes
//! to the same key.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use recall_ledger::{Checkpoint, MAX_NOTE_SIGNATURES, Note, NoteError, Signer, Verifier};

/// The frozen v1 fixture's checkpoint key (crates/recall/tests/fixtures/v1/data): the
/// seeds hold notes it signed, so mutations reach signature verification.
const FIXTURE_VKEY: &str =
    "recall.invalid/5fe595488173d9bb+550a4172+AQ2+pdH+pXYLiflX2GcSyg7RqT7OwPfay+JQJZTZOfSS";

/// A test-only signer (public seed, signs nothing real): signs fuzzed bodies and the
/// co-signed seeds.
static SIGNER: LazyLock<Signer> =
    LazyLock::new(|| Signer::new("fuzz.invalid/cosigner", &[0x5a; 32]).expect("a valid key name"));

static VERIFIERS: LazyLock<Vec<Verifier>> = LazyLock::new(|| {
    vec![
        Verifier::from_vkey(FIXTURE_VKEY).expect("the fixture's vkey parses"),
        SIGNER.verifier(),
    ]
});

fuzz_target!(|data: &[u8]| {
    // The CLI reads the file with read_to_string: only UTF-8 reaches the parsers.
    let Ok(msg) = std::str::from_utf8(data) else {
        return;
    };

    let parsed = Note::parse(msg);
    if let Ok(note) = &parsed {
        assert_eq!(note.to_msg(), msg, "an accepted note is not canonical");
        assert!(note.text.ends_with('\n'), "note text without final newline");
        assert!(
            (1..=MAX_NOTE_SIGNATURES).contains(&note.signatures.len()),
            "signature count out of range"
        );
        let _ = check_body(&note.text);
    }

    match Note::open(msg, &VERIFIERS) {
        Ok((note, names)) => {
            assert_eq!(Ok(&note), parsed.as_ref(), "open and parse disagree");
            assert!(!names.is_empty(), "opened without a verified signer");
            assert!(
                names
                    .iter()
                    .all(|n| VERIFIERS.iter().any(|v| v.name() == n)),
                "verified by a name that is not a known key"
            );
        }
        Err(err) => {
            // Parse errors come first; the verification errors need a parsed note.
            if let Err(parse_err) = &parsed {
                assert_eq!(&err, parse_err, "open and parse refuse differently");
            } else {
                assert!(
                    matches!(
                        err,
                        NoteError::UnverifiedNote
                            | NoteError::InvalidSignature { .. }
                            | NoteError::AmbiguousKey { .. }
                    ),
                    "a parsed note refused for a parse reason: {err:?}"
                );
            }
        }
    }

    // The input as a bare checkpoint body: what the log signs.
    if let Ok(cp) = check_body(msg) {
        let signed = Note::sign(msg, &[&SIGNER]).expect("a valid body signs");
        let (note, names) = Note::open(&signed, &VERIFIERS).expect("a fresh signature opens");
        assert_eq!(names, [SIGNER.name()]);
        assert_eq!(note.text, msg);
        assert_eq!(Checkpoint::parse_body(&note.text), Ok(cp));
    }

    // The input as a verifier key (`name+keyid+base64(0x01 ‖ key)`): the key ID may be
    // written in upper case; `to_vkey` writes lower case.
    if let Ok(v) = Verifier::from_vkey(msg) {
        let mut parts = msg.splitn(3, '+');
        let (name, id, key) = (parts.next(), parts.next(), parts.next());
        let expected = format!(
            "{}+{}+{}",
            name.unwrap_or_default(),
            id.unwrap_or_default().to_ascii_lowercase(),
            key.unwrap_or_default()
        );
        assert_eq!(v.to_vkey(), expected, "an accepted vkey is not canonical");
    }
});

/// Parses a checkpoint body; whatever it accepts must re-serialise byte for byte.
fn check_body(text: &str) -> Result<Checkpoint, recall_ledger::CheckpointError> {
    let cp = Checkpoint::parse_body(text)?;
    assert_eq!(
        cp.to_body(),
        text,
        "an accepted checkpoint body is not canonical"
    );
    Ok(cp)
}
