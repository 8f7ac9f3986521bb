//! Native export against an oracle built from single reads: for every lens (everything
//! shown, an auditor's with `detail` withheld, an engineer's with pseudonyms) and filter
//! (none: the bytes-only path; some: the view path), the stream is each matching event's
//! `Lens::json` in seq order, and a consumer cut off after any record resumes from that
//! record's seq and gets the rest: nothing skipped, nothing repeated.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Rec, append, engineer_lens, matches, world};
use jiff::Timestamp;
use recall_model::Event;
use recall_query::{Db, Export, ExportFormat, Filter, Lens, Lookup, Policy, Reader};

/// Events the scan hands to the general path, or must read past: escapes, floats, a
/// nested `seq`, non-ASCII text, deep nesting, an empty parent.
fn awkward() -> Vec<Event> {
    let lines = [
        r#"{"time":"2026-02-01T00:00:00Z","actor":{"id":"u-\"q\"","name":"Zoë"},"action":"read","patient":{"id":"MRN-1"},"detail":{"seq":999999,"x":1.5,"s":"a\\b\n"}}"#,
        r#"{"time":"2026-02-01T00:00:01Z","actor":{"id":"u-2"},"action":"read","detail":{"n":-3,"e":1.5e-7,"f":2.0,"i":9007199254740991}}"#,
        r#"{"time":"2026-02-01T00:00:02Z","actor":{"id":"u-3","role":"nurse"},"action":"update","detail":{"a":{"b":{"c":[[[{"d":[1,2,{"seq":7}]}]]]}}}}"#,
        r#"{"time":"2026-02-01T00:00:03Z","actor":{"id":"u-4","name":"Ünal 😀"},"action":"read","source":{"system":"ehr-\u00e9"},"reason":"x\ty"}"#,
        r#"{"time":"2026-02-01T00:00:04Z","actor":{"id":"u-5"},"action":"read","source":{},"detail":{"l":[true,false,null,0,"seq"]}}"#,
    ];
    let now = Timestamp::now();
    lines
        .iter()
        .map(|l| recall_model::parse_event(l.as_bytes(), now).unwrap())
        .collect()
}

/// The export as text, with its stats' count and last seq.
fn export(db: &Db, tenant: &str, f: &Filter, lens: &Lens, after: Option<u64>) -> Vec<u8> {
    let horizon = db.indexed(tenant).unwrap();
    let x = Export {
        tenant,
        filter: f,
        after,
        horizon,
        format: ExportFormat::Native,
        lens,
    };
    let mut out = Vec::new();
    let stats = db.export(&x, &mut out, &mut |_| {}).unwrap();
    let lines = out.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(stats.events, lines);
    assert_eq!(stats.unreadable, 0);
    out
}

/// What the export must write: every matching event read alone, through `Lens::json`.
fn expected(db: &Db, recs: &[Rec], tenant: &str, f: &Filter, lens: &Lens) -> Vec<(u64, Vec<u8>)> {
    recs.iter()
        .filter(|r| r.tenant == tenant && matches(f, &r.event))
        .map(|r| {
            let Lookup::Found(found) = db.get(tenant, r.seq).unwrap() else {
                panic!("seq {} not found", r.seq);
            };
            let mut line = lens.json(&found.canonical).unwrap().into_owned();
            line.push(b'\n');
            (r.seq, line)
        })
        .collect()
}

#[test]
fn native_export_equals_single_reads_and_resumes_at_every_record() {
    let mut w = world(900, 41);
    let tenant = "north";
    w.recs.extend(append(&w.db, tenant, &awkward(), 2));
    let policy = Policy::default();
    let auditor = w.db.lens(tenant, &policy, Reader::Auditor, false).unwrap();
    let engineer = engineer_lens(&w.db);
    let everything_after = Filter {
        from: Some("2000-01-01T00:00:00Z".parse().unwrap()),
        ..Filter::default()
    };
    let filters = [
        Filter::default(),
        everything_after,
        Filter {
            action: Some("read".into()),
            ..Filter::default()
        },
    ];
    for (name, lens) in [
        ("full", Lens::full()),
        ("auditor", auditor),
        ("engineer", engineer),
    ] {
        for (i, f) in filters.iter().enumerate() {
            let want = expected(&w.db, &w.recs, tenant, f, &lens);
            assert!(want.len() > 50, "{name} filter {i}: too few events");
            let all: Vec<u8> = want.iter().flat_map(|(_, l)| l.clone()).collect();
            let got = export(&w.db, tenant, f, &lens, None);
            assert!(
                got == all,
                "{name} filter {i}: stream differs from single reads"
            );
            // Cut after record k, resume from its seq: the rest, exactly. Every record
            // for the auditor without filters (the benchmark's export), every 11th else.
            let step = if i == 0 && name == "auditor" { 1 } else { 11 };
            for k in (0..want.len()).step_by(step) {
                let rest = export(&w.db, tenant, f, &lens, Some(want[k].0));
                let tail: Vec<u8> = want[k + 1..].iter().flat_map(|(_, l)| l.clone()).collect();
                assert!(rest == tail, "{name} filter {i}: resumed after record {k}");
            }
        }
    }
}
