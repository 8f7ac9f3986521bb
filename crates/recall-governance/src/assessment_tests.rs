//! Deadlines and the media rule at their edges, and the checks on what an officer sends.
#![allow(clippy::unwrap_used)]

use super::*;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn unknown(n: u64) -> BTreeMap<String, u64> {
    BTreeMap::from([(UNKNOWN_STATE.to_string(), n)])
}

#[test]
fn hhs_is_told_within_60_days_from_500_affected_else_in_the_annual_log() {
    for (affected, route, hhs) in [
        (499, "annual_log", "2027-03-01"),
        (500, "within_60_days", "2026-05-31"),
        (501, "within_60_days", "2026-05-31"),
    ] {
        let dl = deadlines(d("2026-04-01"), affected, &unknown(affected));
        assert_eq!(dl.individuals, "2026-05-31", "{affected}");
        assert_eq!(
            (dl.hhs_route.as_str(), dl.hhs.as_str()),
            (route, hhs),
            "{affected}"
        );
    }
}

#[test]
fn the_annual_log_is_due_60_days_after_the_year_of_discovery_ends() {
    // 2026 is followed by a common year: 31 days of January, 28 of February, 1 March.
    let dl = deadlines(d("2026-12-20"), 10, &unknown(10));
    assert_eq!(
        (dl.hhs.as_str(), dl.individuals.as_str()),
        ("2027-03-01", "2027-02-18")
    );
    // 2027 is followed by the leap year 2028: Feb 29.
    let dl = deadlines(d("2027-12-20"), 10, &unknown(10));
    assert_eq!(
        (dl.hhs.as_str(), dl.individuals.as_str()),
        ("2028-02-29", "2028-02-18")
    );
    // Discovered on Dec 31 and Jan 1 of a leap year: same year-end rule.
    assert_eq!(deadlines(d("2027-12-31"), 1, &unknown(1)).hhs, "2028-02-29");
    assert_eq!(deadlines(d("2028-01-01"), 1, &unknown(1)).hhs, "2029-03-01");
    // A leap day of discovery itself.
    assert_eq!(
        deadlines(d("2028-02-29"), 1, &unknown(1)).individuals,
        "2028-04-29"
    );
}

#[test]
fn media_notice_needs_more_than_500_residents_of_one_state() {
    let states = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    };
    type Case<'a> = (&'a [(&'a str, u64)], &'a str, Vec<&'a str>);
    let cases: [Case<'_>; 6] = [
        (&[("MA", 500)], "no", vec![]),
        (&[("MA", 501)], "yes", vec!["MA"]),
        (&[("MA", 300), ("NH", 300)], "no", vec![]),
        (
            &[("MA", 501), ("NH", 502), ("VT", 3)],
            "yes",
            vec!["MA", "NH"],
        ),
        // Without a roster: 500 cannot exceed 500 in one state; 501 might.
        (&[("unknown", 500)], "no", vec![]),
        (&[("unknown", 501)], "unknown", vec![]),
    ];
    for (pairs, want, want_states) in cases {
        let by = states(pairs);
        let total = by.values().sum();
        let dl = deadlines(d("2026-04-01"), total, &by);
        assert_eq!(dl.media_required, want, "{pairs:?}");
        assert_eq!(dl.media_states, want_states, "{pairs:?}");
        assert_eq!(dl.media.is_some(), want != "no", "{pairs:?}");
    }
}

#[test]
fn each_bad_field_is_named() {
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let good = OpenRequest {
        description: "Laptop stolen".into(),
        discovered: "2026-05-30".into(),
        scope: ScopeDoc {
            from: "2026-05-01T00:00:00Z".into(),
            to: "2026-05-08T00:00:00Z".into(),
            ..Default::default()
        },
    };
    assert!(good.check(now).is_ok());
    let mut cases: Vec<(&str, OpenRequest)> = Vec::new();
    let mut r = good.clone();
    r.description = " ".into();
    cases.push(("description", r));
    let mut r = good.clone();
    r.discovered = "30/05/2026".into();
    cases.push(("discovered", r));
    let mut r = good.clone();
    r.discovered = "2026-07-01".into();
    cases.push(("discovered", r));
    let mut r = good.clone();
    r.scope.to = r.scope.from.clone();
    cases.push(("scope.to", r));
    let mut r = good.clone();
    r.scope.from = "May".into();
    cases.push(("scope.from", r));
    let mut r = good.clone();
    r.scope.ips = vec!["10.0.0".into()];
    cases.push(("scope.ips", r));
    let mut r = good.clone();
    r.scope.patients = vec![String::new()];
    cases.push(("scope.patients", r));
    let mut r = good;
    r.scope.actors = (0..33).map(|i| format!("u{i}")).collect();
    cases.push(("scope", r));
    for (field, req) in cases {
        assert_eq!(req.check(now).unwrap_err().field, field);
    }
    let empty = UpdateRequest::default();
    assert_eq!(empty.check(now).unwrap_err().field, "body");
    let bad = UpdateRequest {
        decision: Some(Decision {
            breach: false,
            reason: String::new(),
        }),
        ..Default::default()
    };
    assert_eq!(bad.check(now).unwrap_err().field, "decision.reason");
}
