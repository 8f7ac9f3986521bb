//! C2SP signed notes, cross-tested against the published vectors of Go's
//! golang.org/x/mod/sumdb/note (note_test.go: the PeterNeumann and EnochRoot keys and
//! their signatures over the same text).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use recall_ledger::{MAX_NOTE_SIGNATURES, Note, NoteError, Signer, Verifier};
use sha2::{Digest, Sha256};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// Go's `PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 ‖ seed)>`: only the seed is used.
const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter_signer() -> Signer {
    let raw = STANDARD.decode(PETER_SKEY_B64).unwrap();
    assert_eq!(raw[0], 0x01);
    Signer::new("PeterNeumann", &raw[1..].try_into().unwrap()).unwrap()
}

fn peter() -> Verifier {
    Verifier::from_vkey(PETER_VKEY).unwrap()
}

fn enoch() -> Verifier {
    Verifier::from_vkey(ENOCH_VKEY).unwrap()
}

fn msg(sigs: &[&str]) -> String {
    format!("{TEXT}\n{}", sigs.concat())
}

#[test]
fn signing_reproduces_go_output_byte_for_byte() {
    let s = peter_signer();
    assert_eq!(s.verifier(), peter());
    assert_eq!(s.verifier().to_vkey(), PETER_VKEY);
    assert_eq!(Note::sign(TEXT, &[&s]).unwrap(), msg(&[PETER_SIG]));
}

#[test]
fn key_id_is_sha256_of_name_newline_type_key() {
    for v in [peter(), enoch()] {
        let mut h = Sha256::new();
        h.update(v.name().as_bytes());
        h.update([b'\n', 0x01]);
        h.update(v.public_key());
        assert_eq!(v.key_id(), h.finalize()[..4]);
    }
    assert_eq!(peter().key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(enoch().key_id(), [0xaf, 0x0c, 0xfe, 0x78]);
    assert_eq!(peter_signer().key_id(), peter().key_id());
}

#[test]
fn open_go_notes() {
    let both = msg(&[PETER_SIG, ENOCH_SIG]);
    let (n, names) = Note::open(&both, &[peter()]).unwrap();
    assert_eq!(n.text, TEXT);
    assert_eq!(n.signatures.len(), 2);
    assert_eq!(names, ["PeterNeumann"]);
    let (_, names) = Note::open(&both, &[peter(), enoch()]).unwrap();
    assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
    let (_, names) = Note::open(&both, &[enoch()]).unwrap();
    assert_eq!(names, ["EnochRoot"]);
    assert_eq!(Note::open(&both, &[]), Err(NoteError::UnverifiedNote));
    // Duplicated good signatures plus a mangled one by a key nobody trusts.
    let enoch_bad = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let dup = msg(&[PETER_SIG, PETER_SIG, ENOCH_SIG, ENOCH_SIG, &enoch_bad]);
    assert_eq!(Note::open(&dup, &[peter()]).unwrap().1, ["PeterNeumann"]);
}

#[test]
fn invalid_signature_by_known_key_fails() {
    let mangled = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let err = Note::open(&msg(&[&mangled]), &[peter()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid signature for key PeterNeumann+c74f20a3"
    );
    // Even when another known key signed correctly.
    assert!(matches!(
        Note::open(&msg(&[ENOCH_SIG, &mangled]), &[peter(), enoch()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn flipped_text_byte_fails() {
    let good = msg(&[PETER_SIG]);
    let bad = good.replacen("problem", "problem!", 1);
    assert!(matches!(
        Note::open(&bad, &[peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    let bad = good.replacen("If", "if", 1);
    assert!(matches!(
        Note::open(&bad, &[peter()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn wrong_key_and_lookalike_signatures_are_unknown() {
    let good = msg(&[PETER_SIG]);
    // Same name, other key: different key ID, so the signature is not by a known key.
    let other = Signer::new("PeterNeumann", &[9; 32]).unwrap().verifier();
    assert_eq!(
        Note::open(&good, std::slice::from_ref(&other)),
        Err(NoteError::UnverifiedNote)
    );
    // Another name with Peter's key ID: unknown too.
    let renamed = good.replace("PeterNeumann", "CarmenSandiego");
    assert_eq!(
        Note::open(&renamed, &[peter()]),
        Err(NoteError::UnverifiedNote)
    );
    // Peter's name with another key ID: unknown.
    let rehashed = good.replace("x08g", "xxxx");
    assert_eq!(
        Note::open(&rehashed, &[peter()]),
        Err(NoteError::UnverifiedNote)
    );
    assert!(Note::open(&good, &[other, peter()]).is_ok());
}

#[test]
fn malformed_notes_are_refused() {
    let bad = [
        (TEXT.to_owned(), NoteError::MissingSignatureBlock),
        (format!("{TEXT}\n"), NoteError::NoSignatures),
        (
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            NoteError::MissingFinalNewline,
        ),
        (
            format!("\x01{}", msg(&[PETER_SIG])),
            NoteError::ControlCharacter,
        ),
        (format!("a\rb\n\n{PETER_SIG}"), NoteError::ControlCharacter),
    ];
    for (m, want) in bad {
        assert_eq!(Note::open(&m, &[peter()]), Err(want), "{m:?}");
    }
    let bad_lines = [
        "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "Unexpected line.\n",
        "- PeterNeumann x08go/ZJ\n",
        "— PeterNeumann\n",
        "— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "— PeterNeumann AAAA\n",
        "— PeterNeumann \n",
    ];
    for line in bad_lines {
        let m = msg(&[PETER_SIG, line]);
        assert!(
            matches!(
                Note::open(&m, &[peter()]),
                Err(NoteError::MalformedSignatureLine { line: 2, .. })
            ),
            "{line:?}"
        );
    }
}

#[test]
fn signature_count_limits() {
    let many = msg(&vec![PETER_SIG; MAX_NOTE_SIGNATURES + 1]);
    assert_eq!(
        Note::open(&many, &[peter()]),
        Err(NoteError::TooManySignatures(101))
    );
    // C2SP: verifiers must accept at least 16 signatures.
    let signers: Vec<Signer> = (0..16u8)
        .map(|i| Signer::new(&format!("witness{i}.example/w"), &[i; 32]).unwrap())
        .collect();
    let refs: Vec<&Signer> = signers.iter().collect();
    let note = Note::sign(TEXT, &refs).unwrap();
    let verifiers: Vec<Verifier> = signers.iter().map(Signer::verifier).collect();
    let (n, names) = Note::open(&note, &verifiers).unwrap();
    assert_eq!((n.signatures.len(), names.len()), (16, 16));
    assert_eq!(n.to_msg(), note);
    assert_eq!(Note::parse(&note).unwrap(), n);
}

#[test]
fn round_trip_and_blank_lines_in_text() {
    let s = Signer::new("recall.example.org/log", &[42; 32]).unwrap();
    let text = "line one\n\nline three after a blank line\n";
    let note = Note::sign(text, &[&s]).unwrap();
    let (n, names) = Note::open(&note, &[s.verifier()]).unwrap();
    assert_eq!(
        (n.text.as_str(), names),
        (text, vec!["recall.example.org/log".to_owned()])
    );
    assert_eq!(
        Note::sign("no newline", &[&s]),
        Err(NoteError::MissingFinalNewline)
    );
    assert_eq!(
        Note::sign("tab\there\n", &[&s]),
        Err(NoteError::ControlCharacter)
    );
    assert_eq!(Note::sign(text, &[]), Err(NoteError::NoSignatures));
}

#[test]
fn key_names_are_checked() {
    for name in ["", "a b", "a+b", "tab\tname", "nbsp\u{a0}name"] {
        assert_eq!(
            Signer::new(name, &[1; 32]).unwrap_err(),
            NoteError::BadKeyName(name.to_owned())
        );
    }
    assert!(Signer::new("example.com/log-é", &[1; 32]).is_ok());
}

#[test]
fn vkey_round_trip_and_manglings() {
    let s = Signer::new("recall.example.org/st-marys", &[3; 32]).unwrap();
    let v = s.verifier();
    assert_eq!(Verifier::from_vkey(&v.to_vkey()).unwrap(), v);
    assert_eq!(
        Verifier::from_public_key(v.name(), &v.public_key()).unwrap(),
        v
    );

    // As in Go's TestNewVerifier: every proper substring and every byte bumped by one
    // must be refused.
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let sub = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(Verifier::from_vkey(sub).is_err(), "{sub:?}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let m = String::from_utf8(m).unwrap();
        assert!(Verifier::from_vkey(&m).is_err(), "{m:?}");
    }
    // Wrong key length and unknown algorithm, each with an adjusted key ID (from Go).
    for k in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(Verifier::from_vkey(k).is_err(), "{k}");
    }
}

#[test]
fn signer_debug_hides_the_key() {
    assert_eq!(
        format!("{:?}", peter_signer()),
        "Signer(PeterNeumann+c74f20a3)"
    );
}
