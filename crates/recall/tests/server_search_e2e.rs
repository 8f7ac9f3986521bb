//! `GET /v1/events` over real HTTP against a brute-force oracle: a few thousand synthetic
//! events with late arrivals in two tenants, every filter alone, every pair, a seeded
//! selection of larger combinations, both orders, pages of 1, 7, 100 and 1000 followed to
//! the end; and bad parameters answered with a problem naming the parameter.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::server::{Server, json, own_records_before};
use common::synth::{self, IPS, Oracle, Q, Rng, Sent, assert_same, search, search_all};
use jiff::{SignedDuration, Timestamp};

const TENANTS: [&str; 2] = ["north-clinic", "south-clinic"];
const ATOMS: [&str; 10] = [
    "patient",
    "actor",
    "action",
    "outcome",
    "purpose",
    "system",
    "ip",
    "break_glass",
    "from",
    "to",
];

/// Sets one filter from the values of event `e`, so combinations usually match something;
/// `from` and `to` land exactly on `e.time` a third of the time (inclusive / exclusive edge).
fn set_atom(q: &mut Q, atom: &str, e: &Sent, rng: &mut Rng) {
    let own = |p: &str, or: &str| Some(e.get(p).unwrap_or(or).to_string());
    let days = |rng: &mut Rng| SignedDuration::from_secs(3_600 + rng.below(40 * 86_400) as i64);
    match atom {
        "patient" => q.patient = own("/patient/id", "MRN-99999"),
        "actor" => q.actor = own("/actor/id", "u-999"),
        "action" => q.action = own("/action", "read"),
        "outcome" => q.outcome = Some(e.outcome().to_string()),
        "purpose" => q.purpose = own("/purpose", "HPAYMT"),
        "system" => q.system = own("/source/system", "pacs"),
        "ip" => q.ip = own("/source/ip", IPS[4]),
        "break_glass" => q.break_glass = true,
        "from" => {
            q.from = Some(if rng.chance(333) {
                e.time
            } else {
                e.time - days(rng)
            })
        }
        "to" => {
            q.to = Some(if rng.chance(333) {
                e.time
            } else {
                e.time + days(rng)
            })
        }
        other => unreachable!("{other}"),
    }
}

fn most_common(sent: &[Sent], tenant: &str, pointer: &str) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in sent.iter().filter(|s| s.tenant == tenant) {
        if let Some(v) = s.get(pointer) {
            *counts.entry(v).or_default() += 1;
        }
    }
    let (v, _) = counts.into_iter().max_by_key(|(v, n)| (*n, *v)).unwrap();
    v.to_string()
}

/// Single filters with common values (large results) and a few that match nothing.
fn singles(sent: &[Sent], tenant: &str) -> Vec<Q> {
    let mid: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
    let late: Timestamp = "2026-06-15T12:30:00Z".parse().unwrap();
    let s = |v: &str| Some(v.to_string());
    let d = Q::default;
    vec![
        d(),
        Q {
            patient: Some(most_common(sent, tenant, "/patient/id")),
            ..d()
        },
        Q {
            patient: s("MRN-99999"),
            ..d()
        },
        Q {
            actor: Some(most_common(sent, tenant, "/actor/id")),
            ..d()
        },
        Q {
            action: s("update"),
            ..d()
        },
        Q {
            outcome: s("success"),
            ..d()
        },
        Q {
            outcome: s("failure"),
            ..d()
        },
        Q {
            outcome: s("denied"),
            ..d()
        },
        Q {
            purpose: s("HPAYMT"),
            ..d()
        },
        Q {
            purpose: s("ETREAT"),
            ..d()
        },
        Q {
            system: s("pacs"),
            ..d()
        },
        Q {
            ip: s(IPS[2]),
            ..d()
        },
        Q {
            ip: s(IPS[4]),
            ..d()
        },
        Q {
            break_glass: true,
            ..d()
        },
        Q {
            from: Some(mid),
            ..d()
        },
        Q {
            to: Some(mid),
            ..d()
        },
        Q {
            from: Some(mid),
            to: Some(late),
            ..d()
        },
        Q {
            from: Some(late),
            to: Some(mid),
            ..d()
        },
    ]
}

/// Every pair of filters and `n` random combinations of 3–6, each with values from a
/// random event of a tenant.
fn combinations(sent: &[Sent], n: usize, seed: u64) -> Vec<(String, Q)> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut add = |atoms: &[&str], rng: &mut Rng| {
        let tenant = *rng.pick(&TENANTS);
        let own: Vec<&Sent> = sent.iter().filter(|s| s.tenant == tenant).collect();
        let e = *rng.pick(&own);
        let mut q = Q::default();
        for a in atoms {
            set_atom(&mut q, a, e, rng);
        }
        out.push((tenant.to_string(), q));
    };
    for (i, a) in ATOMS.iter().enumerate() {
        for b in &ATOMS[i + 1..] {
            add(&[*a, *b], &mut rng);
        }
    }
    for _ in 0..n {
        let mut atoms = ATOMS.to_vec();
        let k = 3 + rng.below(4) as usize;
        for i in 0..k {
            let j = i + rng.below((atoms.len() - i) as u64) as usize;
            atoms.swap(i, j);
        }
        add(&atoms[..k], &mut rng);
    }
    out
}

/// Checks one search in both orders with every page size that stays cheap for its size.
fn check(server: &Server, key: &str, tenant: &str, sent: &[Sent], q: &Q) {
    for desc in [false, true] {
        let want = q.oracle(sent, tenant, desc);
        let mut limits = vec![100];
        if want.len() > 900 || q.params().is_empty() {
            limits.push(1000);
        }
        if want.len() <= 300 {
            limits.push(7);
        }
        if want.len() <= 20 {
            limits.push(1);
        }
        for limit in limits {
            let got = search_all(server, key, tenant, q, desc, limit);
            let what = format!("{tenant} {q:?} desc={desc} limit={limit}");
            assert_same(&got, &want, desc, &what);
        }
    }
}

#[test]
fn every_filter_and_combination_matches_the_oracle_in_both_orders_and_all_page_sizes() {
    let (_tmp, data, keys) = synth::data_with_keys(&[
        (TENANTS[0], "writer"),
        (TENANTS[0], "auditor"),
        (TENANTS[1], "writer"),
        (TENANTS[1], "auditor"),
    ]);
    let keys: Vec<(String, String)> = keys
        .chunks(2)
        .map(|k| (k[0].clone(), k[1].clone()))
        .collect();
    let server = Server::start(&data);

    // The tenants' batches interleave; each tenant's seqs still count on without a gap
    // from where its log stood (recall's own records of the keys and its start).
    let mut sent = Vec::new();
    let all: Vec<_> = [1_800, 1_200]
        .iter()
        .enumerate()
        .map(|(i, &n)| synth::events(n, 40 + i as u64, TENANTS[i]))
        .collect();
    for half in 0..2u64 {
        for (i, tenant) in TENANTS.iter().enumerate() {
            let n = all[i].len() / 2;
            let part = if half == 0 {
                &all[i][..n]
            } else {
                &all[i][n..]
            };
            sent.extend(synth::ingest(
                &server,
                &keys[i].0,
                tenant,
                part,
                half * 7 + i as u64,
            ));
        }
    }
    // What the searches must find: the synthetic events and recall's records of the keys
    // created (`recall-cli`); its self-audit (`recall`) is what `search_all` leaves out.
    let mut oracle = sent.clone();
    for (i, tenant) in TENANTS.iter().enumerate() {
        let own: Vec<&Sent> = sent.iter().filter(|s| s.tenant == *tenant).collect();
        let seqs: Vec<u64> = own.iter().map(|s| s.seq).collect();
        let base = seqs[0];
        assert_eq!(seqs, (base..base + all[i].len() as u64).collect::<Vec<_>>());
        let late = own.windows(2).filter(|p| p[1].time < p[0].time).count();
        assert!(late > 20, "the data must hold late arrivals, has {late}");
        for r in own_records_before(&server, &keys[i].1, tenant, base) {
            let event = r["event"].clone();
            if synth::is_self_audit(&event) {
                continue;
            }
            oracle.push(Sent {
                tenant: tenant.to_string(),
                seq: event["seq"].as_u64().unwrap(),
                time: event["time"].as_str().unwrap().parse().unwrap(),
                event,
            });
        }
    }

    let mut jobs: Vec<(String, Q)> = Vec::new();
    for tenant in TENANTS {
        jobs.extend(
            singles(&sent, tenant)
                .into_iter()
                .map(|q| (tenant.to_string(), q)),
        );
    }
    jobs.extend(combinations(&sent, 30, 99));
    let empty = jobs
        .iter()
        .filter(|(t, q)| q.oracle(&oracle, t, false).is_empty())
        .count();
    assert!(
        empty < jobs.len() / 3,
        "most searches should find something"
    );

    // Three clients at once: more realistic, and their audit records share group commits.
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while let Some((tenant, q)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let i = TENANTS.iter().position(|t| t == tenant).unwrap();
                    check(&server, &keys[i].1, tenant, &oracle, q);
                }
            });
        }
    });
    server.stop();
}

/// The parameters with a `to` before the searches' own audit records.
fn bound(p: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut v: Vec<(&str, String)> = p.iter().map(|(k, v)| (*k, v.to_string())).collect();
    if !v.iter().any(|(k, _)| *k == "to") {
        v.push(("to", "2026-11-01T00:00:00Z".into()));
    }
    v
}

fn problem_field(r: reqwest::blocking::Response) -> String {
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p = json(r);
    assert_eq!(p["status"], 400, "{p}");
    assert!(
        p["type"].is_string() && p["title"].is_string() && p["detail"].is_string(),
        "{p}"
    );
    p["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field: {p}"))
        .to_string()
}

#[test]
fn limits_cursors_and_bad_parameters() {
    let (_tmp, data, keys) = synth::data_with_keys(&[
        (TENANTS[0], "writer"),
        (TENANTS[0], "auditor"),
        (TENANTS[1], "auditor"),
    ]);
    let [writer, auditor, other] = keys.try_into().unwrap();
    let server = Server::start(&data);
    let sent = synth::ingest(
        &server,
        &writer,
        TENANTS[0],
        &synth::events(1_500, 5, "p"),
        1,
    );
    let page = |key: &str, p: &[(&'static str, &str)]| json(search(&server, key, &bound(p)));

    // The default page is 100 events; 1000 is the largest page.
    assert_eq!(page(&auditor, &[])["events"].as_array().unwrap().len(), 100);
    let big = page(&auditor, &[("limit", "1000")]);
    assert_eq!(big["events"].as_array().unwrap().len(), 1000);
    let want = Q::default().oracle(&sent, TENANTS[0], false);
    assert_same(
        big["events"].as_array().unwrap(),
        &want[..1000],
        false,
        "limit 1000",
    );

    for (k, v, field) in [
        ("limit", "0", "limit"),
        ("limit", "1001", "limit"),
        ("limit", "5000", "limit"),
        ("limit", "-1", "limit"),
        ("limit", "ten", "limit"),
        ("cursor", "not-a-cursor!", "cursor"),
        ("cursor", "", "cursor"),
        ("from", "yesterday", "from"),
        ("from", "2026-13-01T00:00:00Z", "from"),
        ("to", "2026-03-04", "to"),
        ("order", "sideways", "order"),
        ("outcome", "maybe", "outcome"),
        ("ip", "10.0.0.300", "ip"),
        ("break_glass", "perhaps", "break_glass"),
    ] {
        let r = search(&server, &auditor, &bound(&[(k, v)]));
        assert_eq!(problem_field(r), field, "{k}={v}");
    }
    let r = search(&server, &auditor, &[("bogus", "1".into())]);
    assert_eq!(r.status(), 400);

    // A cursor belongs to its query: another filter, order or tenant refuses it.
    let first = page(&auditor, &[("limit", "3"), ("action", "read")]);
    let cursor = first["next_cursor"].as_str().unwrap();
    for (key, params) in [
        (&auditor, vec![("action", "update"), ("cursor", cursor)]),
        (
            &auditor,
            vec![("action", "read"), ("order", "desc"), ("cursor", cursor)],
        ),
        (&other, vec![("action", "read"), ("cursor", cursor)]),
    ] {
        let mut p = params;
        p.push(("limit", "3"));
        assert_eq!(problem_field(search(&server, key, &bound(&p))), "cursor");
    }
    let cut = &cursor[..cursor.len() - 3];
    let r = search(
        &server,
        &auditor,
        &bound(&[("action", "read"), ("limit", "3"), ("cursor", cut)]),
    );
    assert_eq!(problem_field(r), "cursor");
    // The same query takes it and goes on where the first page ended.
    let next = page(
        &auditor,
        &[("limit", "3"), ("action", "read"), ("cursor", cursor)],
    );
    let reads = Q {
        action: Some("read".into()),
        ..Q::default()
    }
    .oracle(&sent, TENANTS[0], false);
    let both: Vec<_> = [first, next]
        .iter()
        .flat_map(|p| p["events"].as_array().unwrap().clone())
        .collect();
    assert_same(&both, &reads[..6], false, "two pages of 3");
    server.stop();
}
