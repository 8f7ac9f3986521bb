//! RFC 3339 timestamps: strict parsing, and the canonical UTC text form.
//!
//! Hand-written rather than jiff's parser because jiff deliberately accepts more than
//! RFC 3339 (space separators, hour-only offsets, bracketed zone names, comma
//! fractions), and the wire format promises RFC 3339; it is also on the hot path.

use jiff::Timestamp;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// Seconds from 0000-01-01T00:00:00Z to the Unix epoch: the earliest time we accept,
/// because earlier instants have no four-digit RFC 3339 year.
const YEAR_ZERO_SECONDS: i64 = -62_167_219_200;

/// Why a timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// Not `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` or not a real calendar instant.
    Syntax,
    /// A real RFC 3339 instant, but outside 0000-01-01T00:00:00Z..=jiff's maximum.
    Range,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`; `t` and `z` may be lower case
/// (RFC 3339 §5.6 allows it). A leap second (`:60`) is read as `:59` with its fraction,
/// as jiff does, so that an event stamped during one is not lost.
pub(crate) fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(TimeError::Syntax);
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' {
        return Err(TimeError::Syntax);
    }
    if b[16] != b':' {
        return Err(TimeError::Syntax);
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(TimeError::Syntax);
    }
    let mut pos = 19;
    let mut nanos: i64 = 0;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start == 9 {
                // Sub-nanosecond precision cannot be kept; refuse rather than truncate.
                return Err(TimeError::Syntax);
            }
            nanos = nanos * 10 + i64::from(b[pos] - b'0');
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err(TimeError::Syntax);
        }
        nanos *= 10_i64.pow(9 - n as u32);
    }
    let offset_seconds = match b.get(pos..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let oh = digits(&[*h1, *h2], 0, 2)?;
            let om = digits(&[*m1, *m2], 0, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimeError::Syntax);
            }
            let s = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -s } else { s }
        }
        _ => return Err(TimeError::Syntax),
    };
    let second = second.min(59);
    let local = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second);
    let utc = local - offset_seconds;
    if utc < YEAR_ZERO_SECONDS {
        return Err(TimeError::Range);
    }
    Timestamp::from_nanosecond(i128::from(utc) * NANOS_PER_SECOND + i128::from(nanos))
        .map_err(|_| TimeError::Range)
}

/// Appends `"YYYY-MM-DDTHH:MM:SS[.fff]Z"` (with the quotes): UTC, fraction only when
/// non-zero, trailing zeros trimmed. Years outside 0000..=9999 (never produced by
/// parsing) are written in ISO 8601 expanded form (`-YYYYYY`), which parsing refuses.
pub(crate) fn write_quoted(out: &mut Vec<u8>, ts: Timestamp) {
    // Second and sub-second parts share a sign in jiff; fold a negative fraction into
    // the previous second (avoids i128 division on the hot path).
    let (mut secs, mut nanos) = (ts.as_second(), ts.subsec_nanosecond());
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    let nanos = nanos as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    out.push(b'"');
    if (0..=9999).contains(&year) {
        push_digits(out, year as u32, 4);
    } else {
        out.push(if year < 0 { b'-' } else { b'+' });
        push_digits(out, year.unsigned_abs() as u32, 6);
    }
    out.push(b'-');
    push_digits(out, month, 2);
    out.push(b'-');
    push_digits(out, day, 2);
    out.push(b'T');
    push_digits(out, sod / 3600, 2);
    out.push(b':');
    push_digits(out, sod / 60 % 60, 2);
    out.push(b':');
    push_digits(out, sod % 60, 2);
    if nanos != 0 {
        let mut width = 9;
        let mut frac = nanos;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        out.push(b'.');
        push_digits(out, frac, width);
    }
    out.extend_from_slice(b"Z\"");
}

fn push_digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimeError> {
    let mut v = 0;
    for &c in b.get(at..at + n).ok_or(TimeError::Syntax)? {
        if !c.is_ascii_digit() {
            return Err(TimeError::Syntax);
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(ts: Timestamp) -> String {
        let mut out = Vec::new();
        write_quoted(&mut out, ts);
        String::from_utf8(out).unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn accepts_rfc3339_forms() {
        let cases = [
            ("2026-03-04T15:02:11.123Z", "2026-03-04T15:02:11.123Z"),
            ("2026-03-04t15:02:11z", "2026-03-04T15:02:11Z"),
            ("2026-03-04T16:02:11+01:00", "2026-03-04T15:02:11Z"),
            ("2026-03-04T10:02:11.5-05:00", "2026-03-04T15:02:11.5Z"),
            ("2026-03-04T15:02:11-00:00", "2026-03-04T15:02:11Z"),
            (
                "2026-03-04T15:02:11.000000001Z",
                "2026-03-04T15:02:11.000000001Z",
            ),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_rfc3339(input).map(fmt),
                Ok(format!("\"{want}\"")),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_non_rfc3339() {
        for input in [
            "",
            "2026-03-04",
            "2026-03-04T15:02:11",
            "2026-03-04 15:02:11Z",
            "2026-03-04T15:02Z",
            "2026-03-04T15:02:11+01",
            "2026-03-04T15:02:11+0100",
            "2026-03-04T15:02:11.Z",
            "2026-03-04T15:02:11.1234567891Z",
            "2026-03-04T15:02:11,5Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-03-04T24:00:00Z",
            "2026-03-04T15:60:00Z",
            "2026-03-04T15:02:61Z",
            "2026-03-04T15:02:11+24:00",
            "2026-03-04T15:02:11Z[UTC]",
            "+2026-03-04T15:02:11Z",
            "2026-03-04T15:02:11ZZ",
            "2026-03-04T15:02:11\u{0}Z",
            "２０２６-03-04T15:02:11Z",
        ] {
            assert_eq!(parse_rfc3339(input), Err(TimeError::Syntax), "{input:?}");
        }
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00+00:01"),
            Err(TimeError::Range)
        );
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Err(TimeError::Range));
    }

    #[test]
    fn formats_like_jiff_for_edge_cases() {
        assert_eq!(fmt(Timestamp::UNIX_EPOCH), "\"1970-01-01T00:00:00Z\"");
        assert_eq!(
            fmt(ts("1969-12-31T23:59:59.9Z")),
            "\"1969-12-31T23:59:59.9Z\""
        );
        assert_eq!(fmt(Timestamp::MAX), "\"9999-12-30T22:00:00.999999999Z\"");
        assert_eq!(fmt(Timestamp::MIN), "\"-009999-01-02T01:59:59Z\"");
    }

    proptest! {
        #[test]
        fn round_trips_and_matches_jiff(ns in -62_167_219_200_000_000_000_i128..=Timestamp::MAX.as_nanosecond()) {
            let t = Timestamp::from_nanosecond(ns).unwrap();
            let text = fmt(t);
            let inner = &text[1..text.len() - 1];
            prop_assert_eq!(parse_rfc3339(inner), Ok(t));
            // jiff prints the same instant; it always writes the fraction it has.
            let theirs: Timestamp = inner.parse().unwrap();
            prop_assert_eq!(theirs, t);
        }

        #[test]
        fn offsets_normalise_to_utc(secs in 0_i64..253_402_000_000, off_min in -1439_i32..=1439) {
            let t = Timestamp::from_second(secs).unwrap();
            let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(off_min * 60).unwrap());
            let local = t.to_zoned(tz).datetime();
            let sign = if off_min < 0 { '-' } else { '+' };
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
                local.year(), local.month(), local.day(), local.hour(), local.minute(), local.second(),
                sign, off_min.abs() / 60, off_min.abs() % 60,
            );
            if (0..=9999).contains(&local.year()) {
                prop_assert_eq!(parse_rfc3339(&text), Ok(t), "{}", text);
            }
        }
    }
}
