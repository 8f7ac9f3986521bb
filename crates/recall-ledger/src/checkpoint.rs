//! C2SP tlog-checkpoint bodies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::Hash;

/// A checkpoint body: origin, tree size, root hash, optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique origin line, e.g. `recall.example.org/ab12cd34/st-marys`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash at `size`.
    pub root: Hash,
    /// Extension lines (kept, not interpreted).
    pub extensions: Vec<String>,
}

/// A malformed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body does not end with a newline (every line, the last included, must).
    #[error("checkpoint body does not end with a newline")]
    MissingFinalNewline,
    /// The body has fewer than the three mandatory lines (origin, size, root).
    #[error("checkpoint body has {0} lines, at least 3 are required")]
    TooFewLines(usize),
    /// A line is empty: the origin, or an extension line (C2SP: MUST be non-empty).
    #[error("checkpoint line {0} is empty")]
    EmptyLine(usize),
    /// The body holds an ASCII control character other than newline (signed notes
    /// forbid them).
    #[error("checkpoint body contains a control character on line {0}")]
    ControlCharacter(usize),
    /// The size line is not a decimal u64 without sign or leading zeros.
    #[error("checkpoint size {0:?} is not a canonical decimal u64")]
    BadSize(String),
    /// The root line is not the canonical standard base64 of exactly 32 bytes.
    #[error("checkpoint root {0:?} is not the base64 of a 32-byte hash")]
    BadRoot(String),
}

impl Checkpoint {
    /// The body text: `origin\nsize\nbase64(root)\n` then each extension line.
    ///
    /// The fields are written as they are; a checkpoint with an empty origin, or a
    /// field holding a newline, gives a body [`Checkpoint::parse_body`] refuses.
    pub fn to_body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a body (the text of a signed note). Strict: every line ends in `\n`, no
    /// line is empty, the size has no leading zeros, the root is canonical base64 of
    /// 32 bytes, and the body round-trips through [`Checkpoint::to_body`] byte for byte.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let Some(text) = text.strip_suffix('\n') else {
            return Err(CheckpointError::MissingFinalNewline);
        };
        let lines: Vec<&str> = text.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            // Line numbers in errors are 1-based, as an editor shows them.
            if line.is_empty() {
                return Err(CheckpointError::EmptyLine(i + 1));
            }
            if line.chars().any(|c| c < ' ') {
                return Err(CheckpointError::ControlCharacter(i + 1));
            }
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines(lines.len()));
        };
        Ok(Self {
            origin: (*origin).to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

/// A decimal u64 with no sign, no leading zeros (except `0` itself), no spaces.
fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::BadSize(s.to_owned());
    if !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

/// Standard base64 with padding; the engine rejects non-canonical trailing bits, and
/// the length check rejects anything but 32 bytes.
fn parse_root(s: &str) -> Result<Hash, CheckpointError> {
    STANDARD
        .decode(s)
        .ok()
        .and_then(|v| Hash::try_from(v).ok())
        .ok_or_else(|| CheckpointError::BadRoot(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    /// golang.org/x/mod/sumdb/tlog note_test.go: the tree of RecordHash("hello world").
    const GO_TREE: &str =
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";

    #[test]
    fn go_sumdb_tree_vector() {
        let c = Checkpoint::parse_body(GO_TREE).unwrap();
        assert_eq!(c.origin, "go.sum database tree");
        assert_eq!(c.size, 123_456_789_012);
        assert_eq!(c.root, leaf_hash(b"hello world"));
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_body(), GO_TREE);
    }

    /// The example in C2SP tlog-checkpoint.
    #[test]
    fn c2sp_example_parses() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse_body(body).unwrap();
        assert_eq!(
            (c.origin.as_str(), c.size),
            ("example.com/behind-the-sofa", 20_852_163)
        );
        assert_eq!(c.to_body(), body);
    }

    #[test]
    fn extensions_round_trip() {
        let c = Checkpoint {
            origin: "recall.example.org/x".into(),
            size: 0,
            root: crate::EMPTY_ROOT,
            extensions: vec!["ext one".into(), "— two".into()],
        };
        assert_eq!(Checkpoint::parse_body(&c.to_body()).unwrap(), c);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        use CheckpointError::*;
        let root = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
        let cases: Vec<(String, CheckpointError)> = vec![
            (format!("o\n1\n{root}"), MissingFinalNewline),
            ("o\n1\n".into(), TooFewLines(2)),
            (format!("\n1\n{root}\n"), EmptyLine(1)),
            (format!("o\n1\n{root}\n\n"), EmptyLine(4)),
            (format!("o\n1\n{root}\next\n\nmore\n"), EmptyLine(5)),
            (format!("o\r\n1\n{root}\n"), ControlCharacter(1)),
            (format!("o\n01\n{root}\n"), BadSize("01".into())),
            (format!("o\n+1\n{root}\n"), BadSize("+1".into())),
            (format!("o\n 1\n{root}\n"), BadSize(" 1".into())),
            (format!("o\n\u{0661}\n{root}\n"), BadSize("\u{0661}".into())),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                BadSize("18446744073709551616".into()),
            ),
            ("o\n1\nAAAA\n".into(), BadRoot("AAAA".into())),
            // Non-canonical: the last character carries non-zero padding bits.
            (
                "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=\n".into(),
                BadRoot("TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=".into()),
            ),
            (
                "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0\n".into(),
                BadRoot("TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0".into()),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
    }
}
