//! A generic RFC 8785 (JCS) writer for `serde_json::Value`, and the pieces of it the
//! fixed-shape event writer shares (string escaping, integers).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// 2^53: integers of larger magnitude are not all representable as IEEE-754 doubles.
pub(crate) const MAX_SAFE: u64 = 1 << 53;

/// Where canonical bytes go: a buffer, or a counter when only the size matters.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    fn byte(&mut self, b: u8);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn byte(&mut self, b: u8) {
        self.push(b);
    }
}

/// Counts bytes instead of storing them.
#[derive(Default)]
pub(crate) struct Counter(pub usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn byte(&mut self, _: u8) {
        self.0 += 1;
    }
}

/// The canonical (RFC 8785) bytes of any JSON value, appended to `out`.
///
/// Object keys are sorted by their UTF-16 code units, strings are escaped as JCS says,
/// and numbers are written as ECMAScript's `Number.prototype.toString` writes the
/// double they denote (so integers beyond ±2^53 are first rounded to a double, as JCS
/// requires). Recursion follows the value's nesting; values parsed by this crate are at
/// most 128 levels deep.
pub fn canonical_json_into(value: &Value, out: &mut Vec<u8>) {
    write_value(out, value);
}

pub(crate) fn write_value<S: Sink>(out: &mut S, value: &Value) {
    match value {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.byte(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.byte(b',');
                }
                write_value(out, item);
            }
            out.byte(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

pub(crate) fn write_object<S: Sink>(out: &mut S, map: &Map<String, Value>) {
    out.byte(b'{');
    // serde_json's map iterates in UTF-8 (code point) order, which is already UTF-16
    // order unless keys mix U+E000..U+FFFF with supplementary characters; only then
    // (or if the map keeps insertion order) do we pay for a sort.
    let mut keys = map.keys();
    let sorted = match keys.next() {
        None => true,
        Some(first) => {
            let mut prev = first;
            keys.all(|k| {
                let ok = utf16_cmp(prev, k) == Ordering::Less;
                prev = k;
                ok
            })
        }
    };
    if sorted {
        write_members(out, map.iter());
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
        write_members(out, members.into_iter());
    }
    out.byte(b'}');
}

fn write_members<'a, S: Sink>(out: &mut S, members: impl Iterator<Item = (&'a String, &'a Value)>) {
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.byte(b',');
        }
        write_str(out, k);
        out.byte(b':');
        write_value(out, v);
    }
}

/// Compares two strings by their UTF-16 code units (JCS §3.2.3) without transcoding.
///
/// UTF-8 byte order is code point order, and it differs from UTF-16 order only where a
/// character in U+E000..=U+FFFF (lead byte 0xEE/0xEF) meets a supplementary character
/// (lead byte 0xF0..=0xF4, a surrogate pair in UTF-16, which sorts lower).
pub(crate) fn utf16_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some(i) => {
            let (x, y) = (a[i], b[i]);
            let high_bmp = |c: u8| c == 0xEE || c == 0xEF;
            let supplementary = |c: u8| c >= 0xF0;
            if (high_bmp(x) && supplementary(y)) || (supplementary(x) && high_bmp(y)) {
                y.cmp(&x)
            } else {
                x.cmp(&y)
            }
        }
    }
}

/// Per byte: 0 = copy, b'u' = `\u00XX`, anything else = two-character escape `\X`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Writes a JSON string as JCS (ECMAScript `JSON.stringify`) does: `"` and `\` and
/// the short control escapes, other C0 controls as `\u00xx` (lower-case hex), every
/// other character (DEL, U+2028, non-ASCII) as its UTF-8 bytes.
#[inline]
pub(crate) fn write_str<S: Sink>(out: &mut S, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.byte(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.put(&bytes[start..i]);
        if esc == b'u' {
            out.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.put(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.put(&bytes[start..]);
    out.byte(b'"');
}

/// Writes an unsigned integer in decimal.
#[inline]
pub(crate) fn write_u64<S: Sink>(out: &mut S, v: u64) {
    out.put(itoa::Buffer::new().format(v).as_bytes());
}

fn write_number<S: Sink>(out: &mut S, n: &Number) {
    // Integers within ±2^53 print the same as ECMAScript prints their double; beyond
    // that JCS formats the (rounded) double, which is what ryu-js does.
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE {
            return write_u64(out, u);
        }
        return write_f64(out, u as f64);
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE {
            out.byte(b'-');
            return write_u64(out, i.unsigned_abs());
        }
        return write_f64(out, i as f64);
    }
    // serde_json numbers are always finite; without `arbitrary_precision` as_f64 is Some.
    write_f64(out, n.as_f64().unwrap_or(0.0));
}

fn write_f64<S: Sink>(out: &mut S, f: f64) {
    let mut buf = ryu_js::Buffer::new();
    out.put(buf.format_finite(f).as_bytes());
}

/// Checks the detail number rule and normalises numbers so that a value reads back
/// from its canonical text as the same `Value`: integral doubles (including -0) become
/// integers. Returns the path below `detail` of the first number of magnitude > 2^53.
pub(crate) fn normalise_numbers(value: &mut Value) -> Result<(), Vec<PathSeg>> {
    match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if u > MAX_SAFE {
                    return Err(Vec::new());
                }
            } else if let Some(i) = n.as_i64() {
                if i.unsigned_abs() > MAX_SAFE {
                    return Err(Vec::new());
                }
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_nan() || f.abs() > MAX_SAFE as f64 {
                    return Err(Vec::new());
                }
                if f.fract() == 0.0 {
                    *n = Number::from(f as i64);
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                normalise_numbers(item).map_err(|mut p| {
                    p.push(PathSeg::Index(i));
                    p
                })?;
            }
            Ok(())
        }
        Value::Object(map) => normalise_map(map),
        _ => Ok(()),
    }
}

pub(crate) fn normalise_map(map: &mut Map<String, Value>) -> Result<(), Vec<PathSeg>> {
    for (k, v) in map.iter_mut() {
        normalise_numbers(v).map_err(|mut p| {
            p.push(PathSeg::Key(k.clone()));
            p
        })?;
    }
    Ok(())
}

/// One step of a path below a field, innermost last once reversed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathSeg {
    Key(String),
    Index(usize),
}

/// Appends path segments (outermost first) to a dotted field name: keys as `.key`,
/// array positions as `[i]`. Keys are clipped and control characters replaced so
/// that an error's field name stays short and printable.
pub(crate) fn push_path<'a>(field: &mut String, segs: impl Iterator<Item = &'a PathSeg>) {
    for seg in segs {
        match seg {
            PathSeg::Key(k) => {
                field.push('.');
                push_key(field, k);
            }
            PathSeg::Index(i) => {
                field.push('[');
                field.push_str(&i.to_string());
                field.push(']');
            }
        }
    }
}

/// Appends a key as it may appear in an error: at most 64 characters, controls as `?`,
/// and the empty key as `""` so that a field name is never empty.
pub(crate) fn push_key(field: &mut String, key: &str) {
    const MAX: usize = 64;
    if key.is_empty() {
        field.push_str("\"\"");
        return;
    }
    for (i, c) in key.chars().enumerate() {
        if i == MAX {
            field.push('…');
            break;
        }
        field.push(if c.is_control() { '?' } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            proptest::char::range('\0', '\u{7f}'),
            proptest::char::range('\u{80}', '\u{d7ff}'),
            proptest::char::range('\u{e000}', '\u{ffff}'),
            proptest::char::range('\u{10000}', '\u{10ffff}'),
        ]
    }

    fn any_string() -> impl Strategy<Value = String> {
        proptest::collection::vec(any_char(), 0..6).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn utf16_cmp_matches_transcoding(a in any_string(), b in any_string()) {
            prop_assert_eq!(utf16_cmp(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
        }

        #[test]
        fn strings_escape_like_serde_json(s in any_string()) {
            let mut ours = Vec::new();
            write_str(&mut ours, &s);
            prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
        }
    }

    #[test]
    fn every_control_character_escapes() {
        let all: String = ('\0'..='\u{7f}').collect();
        let mut ours = Vec::new();
        write_str(&mut ours, &all);
        let text = String::from_utf8(ours).unwrap();
        assert!(text.starts_with(r#""\u0000\u0001"#), "{text}");
        assert!(text.contains(r#"\u0007\b\t\n\u000b\f\r\u000e"#), "{text}");
        assert!(
            text.contains(r##" !\"#"##) && text.contains(r"[\\]"),
            "{text}"
        );
        assert!(text.ends_with("~\u{7f}\""), "{text}");
    }

    #[test]
    fn counter_counts_what_the_writer_writes() {
        let v = serde_json::json!({"a": [1, 2.5, "\u{1}é", null, true, {"\u{10000}": -3}]});
        let mut bytes = Vec::new();
        write_value(&mut bytes, &v);
        let mut n = Counter::default();
        write_value(&mut n, &v);
        assert_eq!(n.0, bytes.len());
    }

    #[test]
    fn paths_are_clipped() {
        let mut f = String::from("detail");
        push_path(
            &mut f,
            [
                PathSeg::Key("a.b".into()),
                PathSeg::Index(3),
                PathSeg::Key("\n".into()),
            ]
            .iter(),
        );
        assert_eq!(f, "detail.a.b[3].?");
        let mut f = String::from("detail");
        push_path(&mut f, [PathSeg::Key(String::new())].iter());
        assert_eq!(f, "detail.\"\"");
    }
}
