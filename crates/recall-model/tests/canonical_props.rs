//! Property tests of the canonical form: round trip, fixed point, independence from the
//! input's key order, whitespace and escaping, and agreement of the generic JCS writer
//! with the `serde_json_canonicalizer` crate. All values are synthetic.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use proptest::prelude::*;
use recall_model::{
    Actor, Event, Outcome, Patient, Recorded, Resource, Source, canonical, canonical_json_into,
    parse_canonical, parse_event,
};
use serde_json::{Map, Number, Value};

const MAX_SAFE: i64 = 1 << 53;

// ---------- strategies ----------

/// Characters that exercise escaping and UTF-16 ordering, never control characters.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{2028}'),
        1 => proptest::char::range('\u{a1}', '\u{7ff}'),
        1 => proptest::char::range('\u{e000}', '\u{fffd}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(text_char(), 1..=max).prop_map(|v| v.into_iter().collect())
}

/// Identifiers: no whitespace at either end.
fn ident() -> impl Strategy<Value = String> {
    text(24).prop_map(|s| {
        let t = s.trim_matches(char::is_whitespace);
        if t.is_empty() {
            "x".to_owned()
        } else {
            t.to_owned()
        }
    })
}

fn reason() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![8 => text_char(), 1 => Just('\n'), 1 => Just('\t')],
        1..40,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Any time in 0000..=9999 UTC, nanosecond precision.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (-62_167_219_200_000_000_000_i128..=Timestamp::MAX.as_nanosecond()),
        // Whole seconds and milliseconds are the common cases.
        (-62_167_219_200_i128..=253_402_000_000).prop_map(|s| s * 1_000_000_000),
        (1_600_000_000_000_i128..=1_900_000_000_000).prop_map(|ms| ms * 1_000_000),
    ]
    .prop_map(|ns| Timestamp::from_nanosecond(ns).unwrap())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
        any::<[u16; 2]>()
            .prop_map(|s| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, s[0], s[1]))),
    ]
}

/// A detail number, already normalised (integral values are integers).
fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-MAX_SAFE..=MAX_SAFE).prop_map(Number::from),
        (-1000_i64..1000).prop_map(Number::from),
        any::<f64>()
            .prop_filter("finite, within 2^53", |f| f.is_finite()
                && f.abs() <= MAX_SAFE as f64)
            .prop_map(|f| if f.fract() == 0.0 {
                Number::from(f as i64)
            } else {
                Number::from_f64(f).unwrap()
            }),
    ]
}

fn key() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'e'),
            1 => Just('\u{1}'),
            1 => proptest::char::range('\u{e000}', '\u{e002}'),
            1 => Just('\u{ffff}'),
            1 => proptest::char::range('\u{10000}', '\u{10002}'),
            1 => Just('\u{1f600}'),
        ],
        0..4,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn json_value(leaf_number: BoxedStrategy<Number>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        leaf_number.prop_map(Value::Number),
        proptest::collection::vec(
            prop_oneof![text_char(), proptest::char::range('\0', '\u{1f}')],
            0..8
        )
        .prop_map(|v| Value::String(v.into_iter().collect())),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn detail() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(key(), json_value(number().boxed()), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

prop_compose! {
    fn event()(
        id in proptest::option::of(ident()),
        time in timestamp(),
        actor in (ident(), proptest::option::of(text(20)), proptest::option::of(text(20)),
                  proptest::option::of("[a-z][a-z0-9_.-]{0,12}")),
        action in "[a-z][a-z0-9_.-]{0,63}",
        resource in proptest::option::of(("[A-Za-z][A-Za-z0-9_.-]{0,20}", proptest::option::of(ident()))),
        patient in proptest::option::of(ident()),
        outcome in prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Denied)],
        purpose in proptest::option::of(prop_oneof!["[A-Z][A-Z0-9_.-]{0,10}", Just("ETREAT".to_owned())]),
        reason in proptest::option::of(reason()),
        source in proptest::option::of((proptest::option::of(ip()), proptest::option::of(text(20)),
                                        proptest::option::of(text(20)), proptest::option::of(ident()))),
        detail in proptest::option::of(detail()),
    ) -> Event {
        let reason = if purpose.as_deref() == Some("ETREAT") { reason.or(Some("synthetic".into())) } else { reason };
        Event {
            id,
            time,
            tenant: None,
            actor: Actor { id: actor.0, role: actor.1, name: actor.2, kind: actor.3 },
            action,
            resource: resource.map(|(kind, id)| Resource { kind, id }),
            patient: patient.map(|id| Patient { id }),
            outcome,
            purpose,
            reason,
            source: source.map(|(ip, system, device, session)| Source { ip, system, device, session }),
            detail,
            origin: None,
        }
    }
}

prop_compose! {
    fn recorded()(mut event in event(), tenant in "[a-z0-9][a-z0-9-]{0,20}", seq in 0_u64..(1 << 53),
                   received in timestamp(),
                   appended_by in proptest::option::of("(key|jwt|recall):[a-z0-9:_.-]{1,40}")) -> Recorded {
        // parse_canonical reports the recorded tenant as the event's tenant too.
        event.tenant = Some(tenant.clone());
        // None: format v1 (events appended before recall recorded the credential).
        Recorded { event, tenant, seq, received, appended_by }
    }
}

// ---------- rendering an event as arbitrary (but equivalent) input JSON ----------

/// A small deterministic generator for the rendering choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn ws(&mut self, out: &mut String) {
        for _ in 0..self.below(3) {
            out.push([' ', '\n', '\t', '\r'][self.below(4) as usize]);
        }
    }
}

enum J {
    Str(String),
    /// Pre-rendered text (numbers, literals).
    Lit(String),
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
}

fn render(j: &J, rng: &mut Rng, out: &mut String) {
    rng.ws(out);
    match j {
        J::Str(s) => render_str(s, rng, out),
        J::Lit(s) => out.push_str(s),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(item, rng, out);
            }
            rng.ws(out);
            out.push(']');
        }
        J::Obj(members) => {
            let mut order: Vec<usize> = (0..members.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            out.push('{');
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                rng.ws(out);
                render_str(&members[i].0, rng, out);
                rng.ws(out);
                out.push(':');
                render(&members[i].1, rng, out);
            }
            rng.ws(out);
            out.push('}');
        }
    }
    rng.ws(out);
}

/// A JSON string with some characters needlessly written as `\uXXXX` (surrogate pairs
/// above U+FFFF) or `\/`.
fn render_str(s: &str, rng: &mut Rng, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if rng.below(2) == 0 => out.push_str("\\/"),
            c if (c as u32) < 0x20 || rng.below(8) == 0 => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if rng.below(2) == 0 {
                        out.push_str(&format!("\\u{u:04x}"));
                    } else {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn value_to_j(v: &Value, rng: &mut Rng) -> J {
    match v {
        Value::Null => J::Lit("null".into()),
        Value::Bool(b) => J::Lit(b.to_string()),
        Value::Number(n) => J::Lit(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => match rng.below(4) {
                0 => format!("{i}.0"),
                1 => format!("{i}e0"),
                _ => i.to_string(),
            },
            (None, Some(f)) => match rng.below(3) {
                0 => format!("{f:e}"),
                1 => format!("{f:E}"),
                _ => format!("{f}"),
            },
            _ => n.to_string(),
        }),
        Value::String(s) => J::Str(s.clone()),
        Value::Array(items) => J::Arr(items.iter().map(|i| value_to_j(i, rng)).collect()),
        Value::Object(m) => J::Obj(
            m.iter()
                .map(|(k, v)| (k.clone(), value_to_j(v, rng)))
                .collect(),
        ),
    }
}

/// RFC 3339 text of `t` at a random offset, with a random number of fraction digits.
fn time_text(t: Timestamp, rng: &mut Rng) -> String {
    let minutes = rng.below(2879) as i32 - 1439;
    let mut off = Offset::from_seconds(minutes * 60).unwrap();
    let mut local = t.to_zoned(TimeZone::fixed(off)).datetime();
    if !(0..=9999).contains(&local.year()) {
        off = Offset::UTC;
        local = t.to_zoned(TimeZone::UTC).datetime();
    }
    let nanos = local.subsec_nanosecond();
    let mut needed = 0;
    if nanos != 0 {
        needed = 9;
        let mut x = nanos;
        while x % 10 == 0 {
            x /= 10;
            needed -= 1;
        }
    }
    let digits = needed + rng.below(u64::from(10 - needed)) as u32;
    let frac = if digits == 0 {
        String::new()
    } else {
        format!(".{:09}", nanos)[..=digits as usize].to_owned()
    };
    let zone = if off == Offset::UTC && rng.below(2) == 0 {
        ["Z", "z", "+00:00", "-00:00"][rng.below(4) as usize].to_owned()
    } else {
        let s = off.seconds();
        format!(
            "{}{:02}:{:02}",
            if s < 0 { '-' } else { '+' },
            s.abs() / 3600,
            s.abs() / 60 % 60
        )
    };
    let sep = if rng.below(5) == 0 { 't' } else { 'T' };
    format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}{frac}{zone}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

fn ip_text(ip: IpAddr, rng: &mut Rng) -> String {
    match ip {
        IpAddr::V6(v6) if rng.below(2) == 0 => v6
            .segments()
            .iter()
            .map(|s| format!("{s:X}"))
            .collect::<Vec<_>>()
            .join(":"),
        ip => ip.to_string(),
    }
}

/// The event as wire JSON: keys shuffled, whitespace and escapes random, absent fields
/// sometimes written as `null`, the default outcome sometimes omitted.
fn wire_json(e: &Event, rng: &mut Rng) -> String {
    fn opt(members: &mut Vec<(String, J)>, key: &str, v: Option<J>, rng: &mut Rng) {
        match v {
            Some(j) => members.push((key.into(), j)),
            None if rng.below(3) == 0 => members.push((key.into(), J::Lit("null".into()))),
            None => {}
        }
    }
    let s = |v: &Option<String>| v.clone().map(J::Str);
    let mut top = Vec::new();
    opt(&mut top, "id", s(&e.id), rng);
    top.push(("time".into(), J::Str(time_text(e.time, rng))));
    opt(&mut top, "tenant", s(&e.tenant), rng);
    let mut actor = vec![("id".into(), J::Str(e.actor.id.clone()))];
    opt(&mut actor, "role", s(&e.actor.role), rng);
    opt(&mut actor, "name", s(&e.actor.name), rng);
    opt(&mut actor, "type", s(&e.actor.kind), rng);
    top.push(("actor".into(), J::Obj(actor)));
    top.push(("action".into(), J::Str(e.action.clone())));
    let resource = e.resource.as_ref().map(|r| {
        let mut m = vec![("type".into(), J::Str(r.kind.clone()))];
        opt(&mut m, "id", s(&r.id), rng);
        J::Obj(m)
    });
    opt(&mut top, "resource", resource, rng);
    let patient = e
        .patient
        .as_ref()
        .map(|p| J::Obj(vec![("id".into(), J::Str(p.id.clone()))]));
    opt(&mut top, "patient", patient, rng);
    let outcome =
        (e.outcome != Outcome::Success || rng.below(2) == 0).then(|| J::Str(e.outcome.to_string()));
    opt(&mut top, "outcome", outcome, rng);
    opt(&mut top, "purpose", s(&e.purpose), rng);
    opt(&mut top, "reason", s(&e.reason), rng);
    let source = e.source.as_ref().map(|src| {
        let mut m = Vec::new();
        opt(&mut m, "ip", src.ip.map(|ip| J::Str(ip_text(ip, rng))), rng);
        opt(&mut m, "system", s(&src.system), rng);
        opt(&mut m, "device", s(&src.device), rng);
        opt(&mut m, "session", s(&src.session), rng);
        J::Obj(m)
    });
    opt(&mut top, "source", source, rng);
    let detail = e
        .detail
        .as_ref()
        .map(|d| value_to_j(&Value::Object(d.clone()), rng));
    opt(&mut top, "detail", detail, rng);
    let mut out = String::new();
    render(&J::Obj(top), rng, &mut out);
    out
}

// ---------- properties ----------

proptest! {
    #[test]
    fn canonical_round_trips_and_is_a_fixed_point(r in recorded()) {
        let bytes = canonical(&r);
        let back = parse_canonical(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(&canonical(&back), &bytes);
        // The canonical bytes are themselves JCS of their own JSON value.
        let as_value: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&serde_json_canonicalizer::to_vec(&as_value).unwrap(), &bytes);
    }

    #[test]
    fn canonical_ignores_key_order_whitespace_and_escapes(r in recorded(), seed in 1_u64.., omit_tenant: bool) {
        let mut event = r.event.clone();
        if omit_tenant {
            event.tenant = None;
        }
        let mut rng = Rng(seed);
        let input = wire_json(&event, &mut rng);
        let parsed = parse_event(input.as_bytes(), Timestamp::MAX)
            .map_err(|e| TestCaseError::fail(format!("{e} in {input}")))?;
        prop_assert_eq!(&parsed, &event, "{}", input);
        let again = Recorded { event: parsed, ..r.clone() };
        prop_assert_eq!(canonical(&again), canonical(&r));
    }

    #[test]
    fn jcs_writer_agrees_with_serde_json_canonicalizer(
        v in proptest::collection::btree_map(
            key(),
            json_value(prop_oneof![
                any::<i64>().prop_map(Number::from),
                any::<u64>().prop_map(Number::from),
                any::<f64>().prop_filter_map("finite", Number::from_f64),
                number(),
            ].boxed()),
            0..8,
        )
    ) {
        let value = Value::Object(v.into_iter().collect());
        let mut ours = Vec::new();
        canonical_json_into(&value, &mut ours);
        let theirs = serde_json_canonicalizer::to_vec(&value).unwrap();
        prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
    }
}

#[test]
fn keys_sort_by_utf16_code_units() {
    let value: Value = serde_json::from_str(
        r#"{"\uffff":1,"\ud83d\ude00":2,"\ue000":3,"\ud800\udc00":4,"a":5,"":6,"aa":7,"\u0080":8}"#,
    )
    .unwrap();
    let mut ours = Vec::new();
    canonical_json_into(&value, &mut ours);
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        "{\"\":6,\"a\":5,\"aa\":7,\"\u{80}\":8,\"\u{10000}\":4,\"\u{1f600}\":2,\"\u{e000}\":3,\"\u{ffff}\":1}"
    );
}

#[test]
fn numbers_follow_ecmascript() {
    let value: Value = serde_json::from_str(
        r#"{"a":[0,-0,1.0,1e21,1e-7,0.000001,123456789012,-1.5,1e300,5e-324,9007199254740993]}"#,
    )
    .unwrap();
    let mut ours = Vec::new();
    canonical_json_into(&value, &mut ours);
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        r#"{"a":[0,0,1,1e+21,1e-7,0.000001,123456789012,-1.5,1e+300,5e-324,9007199254740992]}"#
    );
}
