//! Incident scopes (`Db::impact`, `Db::affected_patients`) against a brute-force scan of
//! the same generated events: the accesses, the distinct patients, the counts by outcome
//! and action, and the patient list, for scopes driven by patients, actors and time,
//! with lists of several values and every kind of condition.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use common::{Rec, TENANTS, world};
use jiff::Timestamp;
use recall_query::{Impact, IncidentScope};

/// The `n` most frequent values of `key` in the tenant.
fn top<'a>(
    recs: &'a [Rec],
    tenant: &str,
    n: usize,
    key: impl Fn(&'a Rec) -> Option<&'a str>,
) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in recs.iter().filter(|r| r.tenant == tenant) {
        if let Some(k) = key(r) {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().take(n).map(|(k, _)| k.to_string()).collect()
}

/// Written independently of the crate: is `r` in `s`?
fn in_scope(s: &IncidentScope, r: &Rec) -> bool {
    let e = &r.event;
    let src = e.source.as_ref();
    let any = |list: &[String], have: Option<&str>| {
        list.is_empty() || have.is_some_and(|h| list.iter().any(|w| w == h))
    };
    e.time >= s.from
        && e.time < s.to
        && any(&s.actors, Some(&e.actor.id))
        && any(&s.patients, e.patient.as_ref().map(|p| p.id.as_str()))
        && any(&s.systems, src.and_then(|s| s.system.as_deref()))
        && any(
            &s.resource_types,
            e.resource.as_ref().map(|r| r.kind.as_str()),
        )
        && (s.ips.is_empty() || src.and_then(|s| s.ip).is_some_and(|ip| s.ips.contains(&ip)))
}

fn oracle(recs: &[Rec], tenant: &str, s: &IncidentScope) -> (Impact, BTreeMap<String, u64>) {
    let mut impact = Impact::default();
    let mut patients: BTreeMap<String, u64> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.tenant == tenant && in_scope(s, r)) {
        impact.events += 1;
        *impact
            .by_outcome
            .entry(r.event.outcome.as_str().to_string())
            .or_default() += 1;
        *impact.by_action.entry(r.event.action.clone()).or_default() += 1;
        if let Some(p) = &r.event.patient {
            *patients.entry(p.id.clone()).or_default() += 1;
        }
    }
    impact.patients = patients.len() as u64;
    (impact, patients)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn incident_scopes_count_exactly_what_a_scan_counts() {
    let w = world(6000, 16);
    let mut checked = 0;
    for tenant in TENANTS {
        let recs = &w.recs;
        let (first, last) = common::time_span(recs, tenant);
        let mid = first + (last.duration_since(first) / 2);
        let patients = top(recs, tenant, 3, |r| {
            r.event.patient.as_ref().map(|p| p.id.as_str())
        });
        let actors = top(recs, tenant, 4, |r| Some(r.event.actor.id.as_str()));
        let systems = top(recs, tenant, 2, |r| {
            r.event.source.as_ref().and_then(|s| s.system.as_deref())
        });
        let rtypes = top(recs, tenant, 2, |r| {
            r.event.resource.as_ref().map(|x| x.kind.as_str())
        });
        let mut ip_counts: HashMap<IpAddr, usize> = HashMap::new();
        for r in recs.iter().filter(|r| r.tenant == tenant) {
            if let Some(ip) = r.event.source.as_ref().and_then(|s| s.ip) {
                *ip_counts.entry(ip).or_default() += 1;
            }
        }
        let mut ips: Vec<(IpAddr, usize)> = ip_counts.into_iter().collect();
        ips.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let ips: Vec<IpAddr> = ips.into_iter().take(2).map(|(ip, _)| ip).collect();
        assert!(!ips.is_empty(), "the generator sends addresses");
        let all = IncidentScope {
            from: first,
            to: last + jiff::SignedDuration::from_secs(1),
            ..Default::default()
        };
        let half = IncidentScope {
            to: mid,
            ..all.clone()
        };
        let scopes = vec![
            all.clone(),
            half.clone(),
            IncidentScope {
                patients: patients.clone(),
                ..all.clone()
            },
            IncidentScope {
                patients: patients.clone(),
                actors: actors.clone(),
                ..half.clone()
            },
            IncidentScope {
                actors: actors.clone(),
                ..all.clone()
            },
            IncidentScope {
                actors: actors[..1].to_vec(),
                systems: systems.clone(),
                ..all.clone()
            },
            IncidentScope {
                systems: systems[..1].to_vec(),
                ..half.clone()
            },
            IncidentScope {
                resource_types: rtypes.clone(),
                ..half.clone()
            },
            IncidentScope {
                resource_types: rtypes[..1].to_vec(),
                actors: actors.clone(),
                ..all.clone()
            },
            IncidentScope {
                ips: ips.clone(),
                ..all.clone()
            },
            // Repeated values count once; an empty window finds nothing.
            IncidentScope {
                actors: vec![actors[0].clone(), actors[0].clone()],
                ..all.clone()
            },
            IncidentScope {
                from: at("2000-01-01T00:00:00Z"),
                to: at("2000-01-02T00:00:00Z"),
                ..all.clone()
            },
        ];
        let horizon = w.db.indexed(tenant).unwrap();
        for s in scopes {
            let (want, want_patients) = oracle(recs, tenant, &s);
            let mut seen = Vec::new();
            let got =
                w.db.impact(tenant, &s, horizon, &mut |p| {
                    seen.push(p.to_string());
                    Ok(())
                })
                .unwrap();
            assert_eq!(got, want, "{tenant} {s:?}");
            let seen: BTreeSet<String> = seen.into_iter().collect();
            assert_eq!(
                seen.len() as u64,
                want.patients,
                "each patient announced once"
            );
            let list = w.db.affected_patients(tenant, &s, horizon).unwrap();
            let listed: BTreeMap<String, u64> =
                list.iter().map(|a| (a.patient.clone(), a.events)).collect();
            assert_eq!(listed, want_patients, "{tenant} {s:?}");
            assert!(
                list.windows(2).all(|w| w[0].patient < w[1].patient),
                "sorted"
            );
            checked += u64::from(want.events > 0);
        }
        // A horizon below the tenant's events sees none of them.
        assert_eq!(
            w.db.impact(tenant, &all, 0, &mut |_| Ok(())).unwrap(),
            Impact::default()
        );
    }
    assert!(checked >= 20, "the scopes must find events: {checked}");
}
