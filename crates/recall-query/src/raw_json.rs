//! One pass over an event's canonical JSON bytes, without a parser: its top-level `seq`,
//! and a lens's edit written straight into the caller's buffer — what an export does per
//! event (`export.rs`), so it costs one scan instead of a parse into borrowed members,
//! a second parse per kept member and an allocation per member (`disclose_fast.rs`).
//!
//! Invariants:
//! - [`seq_of`] reads only the event's own `seq` member: every value before it is
//!   skipped whole (escapes included), so a `"seq"` key nested in `detail` never counts.
//! - [`Edit::write`] writes exactly what [`Lens::json`] answers. It takes the scan only
//!   where that is plainly so — keys in byte order, no backslash in what it keeps, no
//!   number but a short unsigned integer: the members serde_json writes back unchanged —
//!   and otherwise hands the event to [`Lens::json`]. A property test holds the two equal.

use crate::disclose::{Field, Lens, Rule};
use crate::error::QueryError;

/// Nesting the scan follows before it hands the event to the general path.
const MAX_DEPTH: usize = 32;

/// The parents of nested governed fields (as `disclose_fast.rs` splits them).
const PARENTS: [&str; 4] = ["actor", "resource", "patient", "source"];

/// The event's top-level `seq`, if it has one (an unsigned decimal integer).
pub(crate) fn seq_of(canonical: &[u8]) -> Option<u64> {
    let mut s = Scan::new(canonical);
    s.eat(b'{')?;
    if s.peek()? == b'}' {
        return None;
    }
    loop {
        let key = s.any_string()?;
        s.eat(b':')?;
        if key == b"seq" {
            let digits = s.integer()?;
            return std::str::from_utf8(digits).ok()?.parse().ok();
        }
        s.skip()?;
        if s.next()? != b',' {
            return None;
        }
    }
}

/// A lens's edits, found once per export: the fields it does not show.
pub(crate) struct Edit<'l> {
    lens: &'l Lens,
    /// `(parent, key, field, rule)` of every field whose rule is not `show`.
    rules: Vec<(Option<&'static str>, &'static str, Field, Rule)>,
}

impl<'l> Edit<'l> {
    /// The edits of `lens`.
    pub(crate) fn of(lens: &'l Lens) -> Edit<'l> {
        let rules = Field::ALL
            .into_iter()
            .filter(|&f| lens.rule(f) != Rule::Show)
            .map(|f| {
                let (parent, key) = f.path();
                (parent, key, f, lens.rule(f))
            })
            .collect();
        Edit { lens, rules }
    }

    /// Appends `canonical` as the lens shows it to `out`: byte for byte what
    /// [`Lens::json`] answers.
    pub(crate) fn write(&self, canonical: &[u8], out: &mut Vec<u8>) -> Result<(), QueryError> {
        if self.rules.is_empty() || !self.lens.may_change(canonical) {
            out.extend_from_slice(canonical);
            return Ok(());
        }
        let mark = out.len();
        if self.scan(canonical, out).is_none() {
            out.truncate(mark);
            out.extend_from_slice(&self.lens.json(canonical)?);
        }
        Ok(())
    }

    /// The rule for `key` under `parent`, if it is not `show`.
    fn rule(&self, parent: Option<&str>, key: &[u8]) -> Option<(Field, Rule)> {
        self.rules
            .iter()
            .find(|(p, k, _, _)| *p == parent && k.as_bytes() == key)
            .map(|&(_, _, f, r)| (f, r))
    }

    /// Whether some rule applies under `parent`.
    fn touches(&self, parent: &str) -> bool {
        self.rules.iter().any(|(p, ..)| *p == Some(parent))
    }

    /// The edit by one scan; `None` (with `out` part written) where it is not plainly
    /// the tree path's answer.
    fn scan(&self, canonical: &[u8], out: &mut Vec<u8>) -> Option<()> {
        // The tree path refuses bytes that are not UTF-8.
        std::str::from_utf8(canonical).ok()?;
        let mut s = Scan::new(canonical);
        self.object(&mut s, None, out)?;
        (s.at == canonical.len()).then_some(())
    }

    /// One object at `s` (the event, or a parent of governed fields) through the rules.
    fn object(&self, s: &mut Scan<'_>, parent: Option<&str>, out: &mut Vec<u8>) -> Option<()> {
        s.eat(b'{')?;
        out.push(b'{');
        let opened = out.len();
        if s.peek()? == b'}' {
            s.at += 1;
            out.push(b'}');
            return Some(());
        }
        let mut last: &[u8] = &[];
        loop {
            let key = s.key_after(&mut last)?;
            self.member(s, parent, key, opened, out)?;
            match s.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        out.push(b'}');
        Some(())
    }

    /// One member (its key already read) through the rules.
    fn member(
        &self,
        s: &mut Scan<'_>,
        parent: Option<&str>,
        key: &[u8],
        opened: usize,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let open = |out: &mut Vec<u8>| {
            if out.len() > opened {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":");
        };
        let nested = parent
            .is_none()
            .then(|| PARENTS.iter().find(|p| p.as_bytes() == key));
        if let Some(Some(&p)) = nested
            && s.peek()? == b'{'
        {
            let mark = out.len();
            open(out);
            let inner = out.len();
            self.object(s, Some(p), out)?;
            // The tree path drops a parent it emptied (only one a rule touches).
            if out.len() == inner + 2 && self.touches(p) {
                out.truncate(mark);
            }
            return Some(());
        }
        match self.rule(parent, key) {
            None => {
                let from = s.at;
                s.stable(0)?;
                open(out);
                out.extend_from_slice(&s.b[from..s.at]);
            }
            Some((_, Rule::Withhold | Rule::Justified)) => s.skip()?,
            Some((f, Rule::Pseudonym)) if s.peek()? == b'"' => {
                let text = std::str::from_utf8(s.plain_string()?).ok()?;
                let shown = self.lens.disclose(f, text)?;
                open(out);
                serde_json::to_writer(&mut *out, &*shown).ok()?;
            }
            Some((_, Rule::Pseudonym | Rule::Show)) => {
                let from = s.at;
                s.stable(0)?;
                open(out);
                out.extend_from_slice(&s.b[from..s.at]);
            }
        }
        Some(())
    }
}

/// A cursor over canonical JSON (no whitespace). Every step answers `None` on bytes it
/// does not expect, never panics.
struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scan { b, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// A string without a backslash: its bytes between the quotes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let from = self.at;
        let end = from + memchr::memchr2(b'"', b'\\', &self.b[from..])?;
        if self.b[end] != b'"' {
            return None;
        }
        self.at = end + 1;
        Some(&self.b[from..end])
    }

    /// A member's plain key and its colon, if it sorts after `last` (then the new
    /// `last`): serde_json's map writes keys in byte order, so copying is exact only if so.
    fn key_after(&mut self, last: &mut &'a [u8]) -> Option<&'a [u8]> {
        let key = self.plain_string()?;
        if key <= *last && !last.is_empty() {
            return None;
        }
        *last = key;
        self.eat(b':')?;
        Some(key)
    }

    /// Any string: its raw bytes between the quotes (escapes left as they are).
    fn any_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let from = self.at;
        loop {
            let at = self.at + memchr::memchr2(b'"', b'\\', &self.b[self.at..])?;
            if self.b[at] == b'"' {
                self.at = at + 1;
                return Some(&self.b[from..at]);
            }
            self.at = at + 2;
        }
    }

    /// An unsigned integer of at most 18 digits (one serde_json holds and writes as is).
    fn integer(&mut self) -> Option<&'a [u8]> {
        let from = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.b[from..self.at];
        let plain = !digits.is_empty()
            && digits.len() <= 18
            && (digits[0] != b'0' || digits.len() == 1)
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        plain.then_some(digits)
    }

    fn literal(&mut self) -> Option<()> {
        let rest = &self.b[self.at..];
        let n = [&b"true"[..], b"false", b"null"]
            .into_iter()
            .find(|l| rest.starts_with(l))?
            .len();
        self.at += n;
        Some(())
    }

    /// Skips one value that serde_json writes back unchanged; `None` for any other.
    fn stable(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.plain_string().map(|_| ()),
            b'{' => {
                self.at += 1;
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                let mut last: &[u8] = &[];
                loop {
                    self.key_after(&mut last)?;
                    self.stable(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.stable(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' | b'f' | b'n' => self.literal(),
            _ => self.integer().map(|_| ()),
        }
    }

    /// Skips one value of any kind (a withheld one, or one before `seq`), at any depth.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.any_string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.at += 1;
                }
                b',' | b':' if depth > 0 => self.at += 1,
                _ => {
                    // A literal or a number: up to the next delimiter.
                    let n = self.b[self.at..]
                        .iter()
                        .position(|c| matches!(c, b',' | b'}' | b']'))?;
                    if n == 0 {
                        return None;
                    }
                    self.at += n;
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::{Edit, seq_of};
    use crate::disclose::{Lens, Policy, Reader};
    use crate::disclose_fast::tests::{any_json, event, lens};

    fn canonical(v: &serde_json::Value) -> Vec<u8> {
        let mut out = Vec::new();
        recall_model::canonical_json_into(v, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The scan's edit writes exactly what `Lens::json` answers, after what the buffer
        /// already held; and it reads the event's own seq, not one nested in `detail`.
        #[test]
        fn edit_equals_lens_json(event in event(), lens in lens(), before in "[a-z]{0,3}") {
            let bytes = canonical(&event);
            let mut out = before.as_bytes().to_vec();
            Edit::of(&lens).write(&bytes, &mut out).unwrap();
            let want = [before.as_bytes(), &lens.json(&bytes).unwrap()].concat();
            prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
            prop_assert_eq!(seq_of(&bytes), event["seq"].as_u64());
        }

        /// A `seq` nested anywhere before the event's own is skipped.
        #[test]
        fn nested_seq_is_not_the_events(detail in any_json(), seq in any::<u32>()) {
            let e = json!({"appended_by": {"seq": 1}, "detail": {"seq": detail}, "seq": seq});
            prop_assert_eq!(seq_of(&canonical(&e)), Some(u64::from(seq)));
        }
    }

    #[test]
    fn the_default_lenses_take_the_scan() {
        let event = br#"{"action":"read","actor":{"id":"u-1","name":"Synthetic Name"},"detail":{"k":"v"},"patient":{"id":"MRN-1"},"seq":3,"source":{"ip":"10.0.0.1"},"tenant":"t","time":"2026-01-01T00:00:00Z"}"#;
        let key = recall_crypto::Pseudonymizer::new(&recall_crypto::IndexKey(
            recall_crypto::SecretBytes::from_bytes([9; 32]),
        ));
        for reader in [Reader::Auditor, Reader::Engineer, Reader::Patient] {
            let lens: Lens = Policy::default().lens(reader, false, Some(key.clone()));
            let mut out = Vec::new();
            assert!(Edit::of(&lens).scan(event, &mut out).is_some(), "{reader}");
            assert_eq!(out, lens.json(event).unwrap().into_owned(), "{reader}");
        }
        assert_eq!(seq_of(event), Some(3));
        assert_eq!(seq_of(b"{}"), None);
        assert_eq!(seq_of(br#"{"seq":1.5}"#), None);
    }
}
