//! Hand-rolled encoders: NDJSON (wire format v1) and CSV rows for the PostgreSQL peer.

use std::io::Write;

use super::Event;

/// Columns of the peer's `audit_log` table filled from CSV, in order (`received` is defaulted).
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "time",
    "tenant",
    "actor_id",
    "actor_role",
    "actor_name",
    "actor_type",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "purpose",
    "reason",
    "source_ip",
    "source_system",
    "source_device",
    "source_session",
    "detail",
];

/// Appends `v` in decimal, zero-padded to at least `width` digits.
pub fn push_u64(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    out.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(digits.as_bytes());
}

/// Appends `v` in decimal, zero-padded to at least `width` digits, to a `String`.
pub fn push_u64_str(out: &mut String, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

/// Appends `ms` (Unix milliseconds, UTC) as RFC 3339 with milliseconds and `Z`.
pub fn push_rfc3339_millis(out: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000) as u64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    // Civil from days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        // Outside RFC 3339's range; never produced by the generator.
        let _ = write!(out, "{y}");
    } else {
        push_u64(out, y as u64, 4);
    }
    for (sep, v, w) in [
        (b'-', m, 2),
        (b'-', d, 2),
        (b'T', sod / 3600, 2),
        (b':', sod / 60 % 60, 2),
        (b':', sod % 60, 2),
        (b'.', milli, 3),
    ] {
        out.push(sep);
        push_u64(out, v, w);
    }
    out.push(b'Z');
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    // Branch-free scan (vectorises); most strings need no escaping.
    if s.bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
    {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn key(out: &mut Vec<u8>, k: &str, v: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
    push_json_str(out, v);
}

/// Appends the source IP in dotted form.
pub fn push_ip(out: &mut Vec<u8>, ip: [u8; 4]) {
    for (i, b) in ip.into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(b), 1);
    }
}

/// Appends one event as a single NDJSON line (with the trailing newline).
pub fn write_json_line(ev: &Event, out: &mut Vec<u8>) {
    out.push(b'{');
    key(out, "id", &ev.id);
    out.extend_from_slice(b",\"time\":\"");
    push_rfc3339_millis(out, ev.time_ms);
    out.extend_from_slice(b"\",\"actor\":{");
    key(out, "id", &ev.actor_id);
    out.push(b',');
    key(out, "role", ev.actor_role);
    out.push(b',');
    key(out, "name", &ev.actor_name);
    out.push(b',');
    key(out, "type", ev.actor_type);
    out.extend_from_slice(b"},");
    key(out, "action", ev.action);
    if let Some(kind) = ev.resource_type {
        out.extend_from_slice(b",\"resource\":{");
        key(out, "type", kind);
        if !ev.resource_id.is_empty() {
            out.push(b',');
            key(out, "id", &ev.resource_id);
        }
        out.push(b'}');
    }
    if !ev.patient_id.is_empty() {
        out.extend_from_slice(b",\"patient\":{");
        key(out, "id", &ev.patient_id);
        out.push(b'}');
    }
    for (k, v) in [
        ("outcome", ev.outcome),
        ("purpose", ev.purpose),
        ("reason", ev.reason),
    ] {
        if let Some(v) = v {
            out.push(b',');
            key(out, k, v);
        }
    }
    out.extend_from_slice(b",\"source\":{\"ip\":\"");
    push_ip(out, ev.source_ip);
    out.extend_from_slice(b"\",");
    key(out, "system", ev.source_system);
    out.push(b',');
    key(out, "device", &ev.source_device);
    out.push(b',');
    key(out, "session", &ev.source_session);
    out.push(b'}');
    if !ev.detail.is_empty() {
        out.extend_from_slice(b",\"detail\":");
        out.extend_from_slice(ev.detail.as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

/// Appends a CSV field: empty (NULL) for `None`, quoted when it needs to be.
fn csv_field(out: &mut Vec<u8>, v: Option<&str>) {
    let Some(v) = v else { return };
    let plain = v.bytes().fold(true, |ok, b| {
        ok & (b != b',') & (b != b'"') & (b != b'\n') & (b != b'\r')
    });
    let needs = v.is_empty() || !plain;
    if !needs {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    out.push(b'"');
    for &b in v.as_bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Appends one event as a CSV row in [`CSV_COLUMNS`] order (PostgreSQL `FORMAT csv`).
///
/// Absent fields are NULL; an absent outcome is written as its default, `success`.
pub fn write_csv_row(ev: &Event, tenant: &str, out: &mut Vec<u8>) {
    csv_field(out, Some(&ev.id));
    out.push(b',');
    push_rfc3339_millis(out, ev.time_ms);
    let head = [
        Some(tenant),
        Some(ev.actor_id.as_str()),
        Some(ev.actor_role),
        Some(ev.actor_name.as_str()),
        Some(ev.actor_type),
        Some(ev.action),
        ev.resource_type,
        non_empty(&ev.resource_id),
        non_empty(&ev.patient_id),
        Some(ev.outcome.unwrap_or("success")),
        ev.purpose,
        ev.reason,
    ];
    for f in head {
        out.push(b',');
        csv_field(out, f);
    }
    out.push(b',');
    push_ip(out, ev.source_ip);
    let tail = [
        Some(ev.source_system),
        Some(ev.source_device.as_str()),
        Some(ev.source_session.as_str()),
        non_empty(&ev.detail),
    ];
    for f in tail {
        out.push(b',');
        csv_field(out, f);
    }
    out.push(b'\n');
}
