use std::collections::HashMap;
use std::net::Ipv4Addr;

use jiff::Timestamp;
use serde_json::Value;

use super::*;

fn lines(cfg: Config) -> Vec<u8> {
    let mut out = Vec::new();
    write_workload::<_, Vec<u8>>(cfg, &mut out, None).unwrap();
    out
}

const RESOURCE_TYPES: &[&str] = &[
    "Observation",
    "MedicationAdministration",
    "MedicationRequest",
    "MedicationDispense",
    "Encounter",
    "Patient",
    "DocumentReference",
    "Condition",
    "AllergyIntolerance",
    "CarePlan",
    "DiagnosticReport",
    "Procedure",
    "ImagingStudy",
    "ServiceRequest",
    "Coverage",
    "Appointment",
    "Claim",
    "Account",
    "Specimen",
];

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let a = lines(Config::hospital(5_000, 7));
    assert_eq!(a, lines(Config::hospital(5_000, 7)));
    assert_ne!(a, lines(Config::hospital(5_000, 8)));
}

#[test]
fn time_bounds_match_the_calendar() {
    assert_eq!(
        START_MS,
        "2025-11-01T00:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond()
    );
    assert_eq!(
        END_MS,
        "2026-11-01T00:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond()
    );
}

#[test]
fn rfc3339_formatting_agrees_with_jiff() {
    let samples = [
        0,
        951_782_400_000,
        1_709_164_800_123,
        START_MS,
        END_MS - 1,
        4_102_444_799_999,
        1_234_567,
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let random = (0..2_000).map(|_| rng.random_range(0..4_102_444_800_000i64));
    for ms in samples.into_iter().chain(random) {
        let mut out = Vec::new();
        push_rfc3339_millis(&mut out, ms);
        let text = String::from_utf8(out).unwrap();
        let want = Timestamp::from_millisecond(ms).unwrap();
        assert_eq!(text, format!("{want:.3}"), "ms {ms}");
        assert_eq!(text.parse::<Timestamp>().unwrap(), want);
    }
}

/// Checks one parsed event against wire format v1 (docs/design/canonical-event.md §0).
fn check_event(v: &Value, now: Timestamp) {
    let obj = v.as_object().unwrap();
    let s = |path: &[&str]| -> Option<&str> {
        let mut cur = v;
        for p in path {
            cur = cur.get(p)?;
        }
        Some(cur.as_str().expect("string field"))
    };
    let id = s(&["id"]).unwrap();
    assert!(id.starts_with("evt-") && id.len() <= 128);
    let time = s(&["time"]).unwrap();
    assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
    let t: Timestamp = time.parse().unwrap();
    assert!(t <= now, "future time {time}");
    assert!(
        t.as_millisecond() >= START_MS && t.as_millisecond() < END_MS,
        "{time}"
    );
    assert!(!s(&["actor", "id"]).unwrap().is_empty());
    assert_eq!(s(&["actor", "type"]), Some("user"));
    assert!(s(&["actor", "role"]).is_some() && s(&["actor", "name"]).is_some());
    let action = s(&["action"]).unwrap();
    assert!(!action.is_empty() && action.bytes().all(|b| b.is_ascii_lowercase()));
    if action == "login" {
        assert!(obj.get("patient").is_none() && obj.get("resource").is_none());
    } else {
        let mrn = s(&["patient", "id"]).unwrap();
        assert!(
            mrn.strip_prefix("MRN-")
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        );
        assert!(RESOURCE_TYPES.contains(&s(&["resource", "type"]).unwrap()));
        assert_eq!(s(&["resource", "id"]).is_none(), action == "search");
    }
    if let Some(o) = s(&["outcome"]) {
        assert!(["success", "failure", "denied"].contains(&o));
    }
    let purpose = s(&["purpose"]);
    assert!(purpose.is_none_or(|p| ["TREAT", "HPAYMT", "HOPERAT", "ETREAT"].contains(&p)));
    // Break-glass always says why; nothing else carries a reason.
    assert_eq!(
        purpose == Some("ETREAT"),
        s(&["reason"]).is_some_and(|r| !r.is_empty())
    );
    let ip: Ipv4Addr = s(&["source", "ip"]).unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0], 10);
    for f in ["system", "device", "session"] {
        assert!(!s(&["source", f]).unwrap().is_empty());
    }
    if let Some(d) = obj.get("detail") {
        assert!(d.is_object() && d.to_string().len() <= 16 * 1024);
    }
    if action == "search" {
        assert!(obj["detail"]["query"].is_string());
    }
    for k in obj.keys() {
        let known = [
            "id", "time", "actor", "action", "resource", "patient", "outcome", "purpose", "reason",
            "source", "detail",
        ];
        assert!(known.contains(&k.as_str()), "unexpected field {k}");
    }
}

#[test]
fn events_are_valid_wire_format_v1() {
    let now: Timestamp = "2026-11-22T00:00:00Z".parse().unwrap();
    let out = lines(Config::hospital(20_000, 11));
    let mut n = 0;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        check_event(&serde_json::from_slice(line).unwrap(), now);
        n += 1;
    }
    assert_eq!(n, 20_000);
}

#[test]
fn shape_of_100k_events() {
    let s = Shape::measure(Config::hospital(100_000, 1));
    let pct = |x: u64| 100.0 * x as f64 / s.events as f64;
    assert_eq!(s.events, 100_000);
    assert!((0.8..=1.2).contains(&pct(s.late)), "late {}%", pct(s.late));
    assert!(
        (0.1..=0.4).contains(&pct(s.break_glass)),
        "break-glass {}%",
        pct(s.break_glass)
    );
    assert!(
        (1.7..=2.3).contains(&pct(s.failed)),
        "failed {}%",
        pct(s.failed)
    );
    // Heavy tail: the busiest patient has far more events than the median patient.
    assert!(
        s.top_patient >= 50 * s.median_patient.max(1),
        "top {} median {}",
        s.top_patient,
        s.median_patient
    );
    assert!(s.top_patient >= 500, "top {}", s.top_patient);
    assert!(s.actors > 5_000);
    assert!(
        (350.0..=550.0).contains(&s.bytes_mean),
        "mean {} bytes",
        s.bytes_mean
    );
    assert!(
        s.last_ms >= END_MS - 86_400_000,
        "the year is covered to its end"
    );
    assert!(s.first_ms < START_MS + 86_400_000);
}

#[test]
fn late_arrivals_are_minutes_to_days_late() {
    let mut clock = i64::MIN;
    for ev in Generator::new(Config::hospital(50_000, 5)) {
        if ev.time_ms < clock {
            let late = clock - ev.time_ms;
            assert!(
                (60_000..=3 * 86_400_000 + 1_000).contains(&late) || ev.time_ms == START_MS,
                "late by {late} ms"
            );
        }
        clock = clock.max(ev.time_ms);
    }
}

#[test]
fn small_runs_still_have_heavy_patients() {
    let s = Shape::measure(Config::hospital(10_000, 2));
    assert!(s.top_patient >= 100, "top {}", s.top_patient);
}

#[test]
fn sessions_read_one_chart_in_a_row() {
    let evs: Vec<Event> = Generator::new(Config::hospital(20_000, 4)).collect();
    let pairs = evs
        .windows(2)
        .filter(|w| w[0].source_session == w[1].source_session);
    let (mut same, mut chart) = (0, 0);
    for w in pairs {
        same += 1;
        assert_eq!(
            (&w[0].actor_id, &w[0].source_device),
            (&w[1].actor_id, &w[1].source_device)
        );
        chart += usize::from(w[0].patient_id == w[1].patient_id || w[0].action == "login");
    }
    assert!(
        same > evs.len() * 7 / 10,
        "{same} of {} consecutive pairs share a session",
        evs.len()
    );
    assert_eq!(chart, same, "a session stays on one chart");
}

/// Splits one CSV line (no embedded newlines) into fields; `None` for unquoted empty (NULL).
fn parse_csv(line: &str) -> Vec<Option<String>> {
    let (mut fields, mut cur, mut quoted, mut in_q) = (Vec::new(), String::new(), false, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_q) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => in_q = false,
            ('"', false) => (in_q, quoted) = (true, true),
            (',', false) => {
                fields.push((quoted || !cur.is_empty()).then(|| std::mem::take(&mut cur)));
                quoted = false;
            }
            _ => cur.push(c),
        }
    }
    fields.push((quoted || !cur.is_empty()).then_some(cur));
    fields
}

#[test]
fn csv_rows_match_json_events_field_for_field() {
    let cfg = Config::hospital(20_000, 9);
    let (mut json, mut csv) = (Vec::new(), Vec::new());
    let w = write_workload(cfg, &mut json, Some((&mut csv, "bench"))).unwrap();
    assert_eq!(w.events, 20_000);
    assert_eq!(
        (w.json_bytes, w.csv_bytes),
        (json.len() as u64, csv.len() as u64)
    );
    let json = String::from_utf8(json).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut seen = HashMap::new();
    for (j, c) in json.lines().zip(csv.lines()) {
        let v: Value = serde_json::from_str(j).unwrap();
        let row = parse_csv(c);
        assert_eq!(row.len(), CSV_COLUMNS.len(), "{c}");
        let get = |path: &str| -> Option<String> {
            let mut cur = &v;
            for p in path.split('.') {
                cur = cur.get(p)?;
            }
            Some(cur.as_str()?.to_owned())
        };
        for (col, cell) in CSV_COLUMNS.iter().zip(&row) {
            *seen.entry(*col).or_insert(0) += usize::from(cell.is_some());
            let want = match *col {
                "tenant" => Some("bench".to_owned()),
                "outcome" => Some(get("outcome").unwrap_or_else(|| "success".into())),
                "detail" => {
                    let d = cell
                        .as_deref()
                        .map(|t| serde_json::from_str::<Value>(t).unwrap());
                    assert_eq!(d.as_ref(), v.get("detail"));
                    continue;
                }
                c => get(&c.replacen('_', ".", 1)),
            };
            assert_eq!(cell, &want, "column {col} of {c}");
        }
    }
    assert_eq!(json.lines().count(), csv.lines().count());
    // Every column is exercised.
    for col in CSV_COLUMNS {
        assert!(
            seen.get(col).copied().unwrap_or(0) > 0,
            "column {col} never filled"
        );
    }
}

#[test]
fn names_are_invented() {
    let g = Generator::new(Config::hospital(1, 1));
    let mut names: Vec<&str> = g.users.iter().map(|u| u.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() > 4_000, "{} distinct names", names.len());
    for u in &g.users {
        let (first, last) = u.name.split_once(' ').unwrap();
        assert!(first.len() >= 4 && last.len() >= 4);
    }
    let mut ids: Vec<&str> = g.users.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8_000);
}

#[test]
fn escaping_round_trips() {
    let ev = Event {
        id: "a\"b\\c\u{1}".into(),
        actor_name: "x, \"y\"".into(),
        actor_role: "r",
        actor_type: "user",
        action: "read",
        source_system: "s",
        detail: r#"{"q":"a,b"}"#.into(),
        ..Event::default()
    };
    let mut j = Vec::new();
    write_json_line(&ev, &mut j);
    let v: Value = serde_json::from_slice(&j).unwrap();
    assert_eq!(v["id"], "a\"b\\c\u{1}");
    let mut c = Vec::new();
    write_csv_row(&ev, "t", &mut c);
    let row = parse_csv(std::str::from_utf8(&c).unwrap().trim_end());
    assert_eq!(row[5].as_deref(), Some("x, \"y\""));
    assert_eq!(row[18].as_deref(), Some(r#"{"q":"a,b"}"#));
}
