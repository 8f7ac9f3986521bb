//! A hand-written reader for the common shape of an event: an object of known keys whose
//! values are strings without escapes, `null`, or the known nested objects of such
//! strings; the stored form's `seq` (a plain integer) and `received`; and `detail`, whose
//! span is handed to serde alone. It is the first try of the fast path because serde_json
//! spent more than half of the importer's CPU time on this machine (and, before it read
//! `seq` and `detail`, half of a search's); anything else — escapes, other numbers,
//! unknown or repeated keys, malformed JSON — returns `None` and goes to the serde path,
//! which decides. Where it returns `Some`, the serde path gives the same `RawEvent`
//! (property-tested in `flat_tests`).

use std::borrow::Cow;

use crate::raw::{Detail, Obj, RawActor, RawEvent, RawPatient, RawResource, RawSource, Str};

/// Nesting beyond this inside `detail` goes to the serde path (which has its own limit
/// for the whole document).
const MAX_DETAIL_DEPTH: usize = 64;

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    /// Step over `detail` instead of reading it (the reader wants everything else).
    skip_detail: bool,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string with no escape and no control character (both go to the serde path).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        self.at = start + end + 1;
        // Both ends are ASCII quotes, so these are char boundaries.
        self.text.get(start..start + end)
    }

    /// `null` (absent) or a string.
    fn opt_string(&mut self) -> Option<Option<Str<'a>>> {
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        Some(Some(Str(Cow::Borrowed(self.string()?))))
    }

    /// `null` or a non-negative integer as serde reads a `u64`: no sign, fraction,
    /// exponent or leading zero, and no overflow.
    fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        let rest = &self.text.as_bytes()[self.at..];
        let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let after = rest.get(len).copied();
        if len == 0
            || (len > 1 && rest[0] == b'0')
            || matches!(after, Some(b'.' | b'e' | b'E' | b'-' | b'+'))
        {
            return None;
        }
        let n = self.text.get(self.at..self.at + len)?.parse().ok()?;
        self.at += len;
        Some(Some(n))
    }

    /// `null` or an object, whose span serde reads alone.
    fn opt_detail(&mut self) -> Option<Option<Detail>> {
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        let span = self.object_span()?;
        if self.skip_detail {
            return Some(None);
        }
        serde_json::from_str(span).ok().map(Some)
    }

    /// Steps over an object (or `null`) without reading it: only for stored events,
    /// whose bytes were validated when they were accepted.
    fn skip_object(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            return self.null();
        }
        self.object_span().map(|_| ())
    }

    /// The text of the object that starts here, stepped over.
    fn object_span(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        let start = self.at;
        if b.get(start) != Some(&b'{') {
            return None;
        }
        let (mut depth, mut in_string, mut i) = (0usize, false, start);
        while i < b.len() {
            match (in_string, b[i]) {
                (true, b'\\') => i += 1,
                (_, b'"') => in_string = !in_string,
                (false, b'{' | b'[') => {
                    depth += 1;
                    if depth > MAX_DETAIL_DEPTH {
                        return None;
                    }
                }
                (false, b'}' | b']') => {
                    depth -= 1;
                    if depth == 0 {
                        self.at = i + 1;
                        return self.text.get(start..i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }

    fn null(&mut self) -> Option<()> {
        self.skip_ws();
        self.text[self.at..]
            .starts_with("null")
            .then(|| self.at += 4)
    }

    /// `{ "key": value, … }`, calling `member` for each key; refuses repeated keys by
    /// index in `keys`.
    fn object(
        &mut self,
        keys: &[&str],
        mut member: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let mut seen = 0u32;
        loop {
            let key = self.string()?;
            let k = keys.iter().position(|&known| known == key)?;
            if seen & (1 << k) != 0 {
                return None;
            }
            seen |= 1 << k;
            self.eat(b':')?;
            member(self, k)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `null` (absent) or a nested object.
    fn opt_object<T: Default>(
        &mut self,
        keys: &[&str],
        mut member: impl FnMut(&mut Self, &mut T, usize) -> Option<()>,
    ) -> Option<Option<Obj<T>>> {
        if self.peek()? == b'n' {
            return self.null().map(|()| None);
        }
        let mut value = T::default();
        self.object(keys, |c, k| member(c, &mut value, k))?;
        Some(Some(Obj(value)))
    }
}

const TOP: &[&str] = &[
    "id",
    "time",
    "tenant",
    "actor",
    "action",
    "resource",
    "patient",
    "outcome",
    "purpose",
    "reason",
    "source",
    "detail",
    "seq",
    "received",
    "appended_by",
    "origin",
];

/// Reads the common shape, or `None` for anything else.
pub(crate) fn read(text: &str) -> Option<RawEvent<'_>> {
    read_with(text, false)
}

/// [`read`] that steps over `detail` (left `None`) without parsing it. Only for stored
/// events: the span is found but not checked.
pub(crate) fn read_without_detail(text: &str) -> Option<RawEvent<'_>> {
    read_with(text, true)
}

fn read_with(text: &str, skip_detail: bool) -> Option<RawEvent<'_>> {
    let mut c = Cursor {
        text,
        at: 0,
        skip_detail,
    };
    let mut raw = RawEvent::default();
    c.object(TOP, |c, k| {
        match k {
            0 => raw.id = c.opt_string()?,
            1 => raw.time = c.opt_string()?,
            2 => raw.tenant = c.opt_string()?,
            3 => raw.actor = c.opt_object(&["id", "role", "name", "type"], actor)?,
            4 => raw.action = c.opt_string()?,
            5 => raw.resource = c.opt_object(&["type", "id"], resource)?,
            6 => {
                raw.patient = c.opt_object(&["id"], |c, p: &mut RawPatient<'_>, _| {
                    p.id = c.opt_string()?;
                    Some(())
                })?
            }
            7 => raw.outcome = c.opt_string()?,
            8 => raw.purpose = c.opt_string()?,
            9 => raw.reason = c.opt_string()?,
            10 => raw.source = c.opt_object(&["ip", "system", "device", "session"], source)?,
            11 => raw.detail = c.opt_detail()?,
            12 => raw.seq = Some(c.opt_u64()?),
            13 => raw.received = Some(c.opt_string()?),
            14 => raw.appended_by = Some(c.opt_string()?),
            // The original record is only stepped over, by the view; the serde path
            // reads it for a whole event.
            _ if c.skip_detail => c.skip_object()?,
            _ => return None,
        }
        Some(())
    })?;
    c.skip_ws();
    (c.at == text.len()).then_some(raw)
}

fn actor<'a>(c: &mut Cursor<'a>, a: &mut RawActor<'a>, k: usize) -> Option<()> {
    let v = c.opt_string()?;
    match k {
        0 => a.id = v,
        1 => a.role = v,
        2 => a.name = v,
        _ => a.kind = v,
    }
    Some(())
}

fn resource<'a>(c: &mut Cursor<'a>, r: &mut RawResource<'a>, k: usize) -> Option<()> {
    let v = c.opt_string()?;
    match k {
        0 => r.kind = v,
        _ => r.id = v,
    }
    Some(())
}

fn source<'a>(c: &mut Cursor<'a>, s: &mut RawSource<'a>, k: usize) -> Option<()> {
    let v = c.opt_string()?;
    match k {
        0 => s.ip = v,
        1 => s.system = v,
        2 => s.device = v,
        _ => s.session = v,
    }
    Some(())
}

#[cfg(test)]
#[path = "flat_tests.rs"]
mod tests;
