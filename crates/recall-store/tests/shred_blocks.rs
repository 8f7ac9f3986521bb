//! Retention's block deletion: after a month is shredded, its body blocks in sealed
//! segments are zeros (frames still valid, offsets unchanged), other months' blocks are
//! untouched and readable, and verify passes, naming the shredded month.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::event;
use jiff::{Timestamp, ToSpan};
use recall_model::Epoch;
use recall_store::EmbeddedOptions;
use recall_store::format::{Record, decode, read_frame};
use recall_store::retention::RetentionRecord;

/// (epoch, all zero) of every block in the tenant's segments (all of them, or the
/// sealed ones).
fn blocks(dir: &std::path::Path, sealed_only: bool) -> Vec<(u32, bool)> {
    let log = dir.join("tenants").join("t").join("log");
    let mut names: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    names.sort();
    if sealed_only {
        names.pop(); // the active one
    }
    let mut out = Vec::new();
    for path in names {
        let buf = std::fs::read(&path).unwrap();
        let mut at = 0;
        while at < buf.len() && buf[at..].iter().any(|&b| b != 0) {
            let (payload, used) = read_frame(&buf[at..]).unwrap();
            if let Ok(Record::Batch(b)) = decode(payload) {
                for block in &b.blocks {
                    out.push((block.epoch, block.sealed.iter().all(|&x| x == 0)));
                }
            }
            at += used;
        }
    }
    out
}

#[test]
fn a_shredded_months_sealed_blocks_are_zeroed_and_the_log_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        segment_bytes: 16 << 10,
        ..EmbeddedOptions::default()
    };
    let journal = common::journal(tmp.path(), opts);
    journal.open_tenant("t").unwrap();
    let mut first = 0;
    for round in 0..12u32 {
        let events: Vec<_> = (0..300).map(|i| event(i + round, 1 + (i % 2))).collect();
        let batch = journal
            .prepare(
                "t",
                &events,
                &vec!["key:k-test"; events.len()],
                first,
                Timestamp::now(),
            )
            .unwrap();
        journal.commit("t", &batch).unwrap();
        first += events.len() as u64;
    }
    journal.checkpoint("t").unwrap();
    let sealed = blocks(tmp.path(), true);
    assert!(sealed.iter().any(|b| b.0 == 202601) && sealed.iter().any(|b| b.0 == 202602));
    let before = blocks(tmp.path(), false);
    assert!(
        before.len() > sealed.len(),
        "the active segment holds blocks too"
    );
    assert!(before.iter().all(|b| !b.1), "nothing zero yet");

    let record = RetentionRecord {
        years: 6,
        cutoff: "2026-02-01T00:00:00Z".parse().unwrap(),
        shredded_epochs: vec![202601],
        previously_shredded: Vec::new(),
        holds: Some(Vec::new()),
    };
    let read = first;
    first += common::record_retention(&journal, "t", first, &record);
    assert_eq!(journal.shred("t", &[202601]).unwrap(), vec![202601]);
    // The active segment held blocks of the month: it was sealed, and every block of the
    // month is gone, wherever it was; the others are untouched.
    // (Whether the record's block landed in the sealed segment or opened a new one
    // depends on event sizes; either way no block of the month is left anywhere.)
    let after = blocks(tmp.path(), false);
    assert_eq!(
        after.len(),
        before.len() + 1,
        "same blocks and the record's"
    );
    for (epoch, zero) in &after {
        assert_eq!(*zero, *epoch == 202601, "epoch {epoch}");
    }
    // The log goes on in a new segment.
    let more: Vec<_> = (0..50).map(|i| event(i, 2)).collect();
    let batch = journal
        .prepare(
            "t",
            &more,
            &vec!["key:k-test"; more.len()],
            first,
            Timestamp::now(),
        )
        .unwrap();
    journal.commit("t", &batch).unwrap();
    first += more.len() as u64;
    journal.checkpoint("t").unwrap();
    // Shredding again changes nothing and fails nothing.
    assert_eq!(journal.shred("t", &[202601]).unwrap(), Vec::<u32>::new());

    let report = recall_store::verify::verify(&journal, None, None).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    let t = &report.tenants[0];
    assert_eq!(t.events, first);
    let shredded: BTreeSet<u32> = t.shredded.iter().map(|r| r.epoch).collect();
    assert_eq!(shredded, BTreeSet::from([202601]));
    assert_eq!(t.shredded[0].events, read / 2);
}

/// An action with a retention period of its own gets keys of its own: its months are
/// shredded on its schedule while the other events of the same months stay readable.
#[test]
fn an_action_kept_shorter_is_shredded_apart_from_the_rest_of_its_month() {
    use recall_store::retention::{Retention, key_epoch};
    let tmp = tempfile::tempdir().unwrap();
    let mut retention = Retention::default();
    retention.actions.insert("login".into(), 1);
    let journal = common::journal(tmp.path(), EmbeddedOptions::default())
        .with_action_retention(retention.actions.clone());
    journal.open_tenant("t").unwrap();
    // Events of 18 months ago: past a year, well within six.
    let now = Timestamp::now();
    let then = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_sub(18.months())
        .unwrap()
        .timestamp();
    let month = Epoch::of(then).0;
    let mut events: Vec<_> = (0..20).map(|i| event(i, 1)).collect();
    for e in events.iter_mut() {
        e.time = then;
    }
    for e in events.iter_mut().step_by(2) {
        e.action = "login".into();
    }
    let batch = journal
        .prepare(
            "t",
            &events,
            &vec!["key:k-test"; events.len()],
            0,
            Timestamp::now(),
        )
        .unwrap();
    journal.commit("t", &batch).unwrap();
    let epochs: BTreeSet<u32> = batch.blocks.iter().map(|b| b.epoch).collect();
    assert_eq!(
        epochs,
        BTreeSet::from([key_epoch(month, 0), key_epoch(month, 1)])
    );

    // The logins are past their year; the rest is kept 6.
    let expired = journal
        .expired_epochs("t", &retention, now, &|_| false)
        .unwrap();
    assert_eq!(expired, vec![key_epoch(month, 1)]);
    // A hold on the month keeps the logins too.
    let held = journal
        .expired_epochs("t", &retention, now, &|m| m == month)
        .unwrap();
    assert!(held.is_empty());
    let record = RetentionRecord {
        years: 6,
        cutoff: retention.cutoff("t", now),
        shredded_epochs: expired.clone(),
        previously_shredded: Vec::new(),
        holds: Some(Vec::new()),
    };
    common::record_retention(&journal, "t", 20, &record);
    journal.shred("t", &expired).unwrap();
    for block in &batch.blocks {
        let opened = journal.existing_epoch_keys("t", block.epoch).unwrap();
        assert_eq!(opened.is_some(), block.epoch == key_epoch(month, 0));
    }
    let report = recall_store::verify::verify(&journal, None, None).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.tenants[0].shredded[0].events, 10);
}
