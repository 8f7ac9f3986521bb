//! Reads by seq, idempotency lookups, catch-up and reindex from the log.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TENANTS, all_pages, append, journal_in, oracle, world};
use jiff::Timestamp;
use recall_query::{Db, Filter, Lookup, Order};

#[test]
fn get_serves_the_canonical_bytes_of_every_event() {
    let w = world(2_000, 21);
    for r in w.recs.iter().step_by(7) {
        let Lookup::Found(found) = w.db.get(&r.tenant, r.seq).unwrap() else {
            panic!("seq {} of {} not found", r.seq, r.tenant);
        };
        assert_eq!(found.seq, r.seq);
        let rec = recall_model::parse_canonical(&found.canonical).unwrap();
        assert_eq!(rec.seq, r.seq);
        assert_eq!(rec.tenant, r.tenant);
        assert_eq!(found.event.actor, r.event.actor);
        assert_eq!(found.event.time, r.event.time);
        assert_eq!(found.received, rec.received);
        // What the API serves is exactly what the ledger committed to.
        assert_eq!(found.canonical, recall_model::canonical(&rec));
    }
    let size = w.journal.store().size("north").unwrap();
    assert!(matches!(w.db.get("north", size).unwrap(), Lookup::NotFound));
    assert!(matches!(w.db.get("nobody", 0).unwrap(), Lookup::NotFound));
}

#[test]
fn lookup_id_finds_the_seq_of_a_client_id() {
    let w = world(1_200, 22);
    for r in w.recs.iter().step_by(37) {
        let id = r.event.id.as_deref().unwrap();
        assert_eq!(w.db.lookup_id(&r.tenant, id).unwrap(), Some(r.seq));
        let other = TENANTS.iter().find(|t| **t != r.tenant).unwrap();
        assert_eq!(
            w.db.lookup_id(other, id).unwrap(),
            None,
            "ids are per tenant"
        );
    }
    assert_eq!(w.db.lookup_id("north", "evt-never").unwrap(), None);
}

#[test]
fn ids_are_found_after_a_reopen_once_the_filter_is_filled_from_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, dir, mut recs) = closed_index(tmp.path(), 900, 28);
    let db = Db::open(journal, &dir).unwrap();
    let started = std::time::Instant::now();
    while !db.id_filter_ready() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the filter never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let more = common::generated(1_000, 29);
    recs.extend(append(&db, "t", &more[900..], 50));
    let ids: Vec<&str> = recs
        .iter()
        .map(|r| r.event.id.as_deref().unwrap())
        .collect();
    let seqs: Vec<Option<u64>> = recs.iter().map(|r| Some(r.seq)).collect();
    assert_eq!(db.lookup_ids("t", &ids).unwrap(), seqs);
    assert_eq!(db.lookup_ids("t", &["evt-never"]).unwrap(), [None]);
}

#[test]
fn indexing_a_batch_twice_is_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    let events = common::generated(400, 23);
    journal.open_tenant("t").unwrap();
    let batch = journal
        .prepare(
            "t",
            &events,
            &vec!["key:k-test"; events.len()],
            0,
            Timestamp::now(),
        )
        .unwrap();
    let committed = journal.commit("t", &batch).unwrap();
    db.index_batch("t", &batch, &committed.location, &events)
        .unwrap();
    db.index_batch("t", &batch, &committed.location, &events)
        .unwrap();
    assert_eq!(db.indexed("t").unwrap(), 400);
    let all = all_pages(&db, "t", &Filter::default(), Order::Asc, 1000);
    assert_eq!(all.len(), 400);
}

#[test]
fn a_missed_batch_is_caught_up_from_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    let events = common::generated(300, 24);
    journal.open_tenant("t").unwrap();
    // The first batch is committed but its indexing call never happens.
    journal
        .append("t", events[..100].to_vec(), "key:k-test", Timestamp::now())
        .unwrap();
    assert!(
        matches!(db.get("t", 5).unwrap(), Lookup::Found(_)),
        "get catches up"
    );
    journal
        .append(
            "t",
            events[100..200].to_vec(),
            "key:k-test",
            Timestamp::now(),
        )
        .unwrap();
    let recs = append(&db, "t", &events[200..], 100);
    assert_eq!(recs[0].seq, 200);
    assert_eq!(db.indexed("t").unwrap(), 300);
    let all = all_pages(&db, "t", &Filter::default(), Order::Asc, 1000);
    assert_eq!(all.len(), 300);
}

#[test]
fn catch_up_after_losing_the_index_and_reindex_give_the_same_answers() {
    let w = world(3_000, 25);
    let f = Filter {
        from: Some("2026-02-01T00:00:00Z".parse().unwrap()),
        ..Filter::default()
    };
    let before: Vec<_> = TENANTS
        .iter()
        .map(|t| all_pages(&w.db, t, &f, Order::Desc, 500))
        .collect();
    let dir = w.index_dir();
    let journal = w.journal.clone();
    drop(w.db);
    std::fs::remove_dir_all(&dir).unwrap();
    let db = Db::open(journal, &dir).unwrap();
    for (t, want) in TENANTS.iter().zip(&before) {
        assert_eq!(&all_pages(&db, t, &f, Order::Desc, 500), want);
        assert_eq!(want, &oracle(&w.recs, t, &f, Order::Desc));
        assert_eq!(
            db.indexed(t).unwrap(),
            db.journal().store().size(t).unwrap()
        );
    }
    assert_eq!(db.reindex().unwrap(), 3_000);
    assert_eq!(db.catch_up().unwrap(), 0, "nothing beyond the watermarks");
    for (t, want) in TENANTS.iter().zip(&before) {
        assert_eq!(&all_pages(&db, t, &f, Order::Desc, 500), want);
    }
    let r = &w.recs[1234];
    assert_eq!(
        db.lookup_id(&r.tenant, r.event.id.as_deref().unwrap())
            .unwrap(),
        Some(r.seq)
    );
}

#[test]
fn shredded_events_are_unreadable_and_skipped_by_search() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    let mk = |time: &str, ip: &str| {
        let json = format!(
            r#"{{"time":"{time}","actor":{{"id":"u-1"}},"action":"read","patient":{{"id":"p-1"}},"source":{{"ip":"{ip}"}}}}"#
        );
        recall_model::parse_event(json.as_bytes(), Timestamp::now()).unwrap()
    };
    let events = vec![
        mk("2026-01-10T10:00:00Z", "::1"),
        mk("2026-02-10T10:00:00Z", "10.0.0.1"),
        mk("2026-02-11T10:00:00Z", "2001:db8::1"),
    ];
    append(&db, "t", &events, 10);
    // IPs compare as addresses, not as text.
    for (text, want) in [
        ("0::1", vec![0]),
        ("2001:0db8:0::1", vec![2]),
        ("::2", vec![]),
    ] {
        let f = Filter {
            ip: Some(text.into()),
            ..Filter::default()
        };
        assert_eq!(all_pages(&db, "t", &f, Order::Asc, 10), want);
    }
    assert!(journal.keystore().forget_epoch("t", 202601).unwrap());
    assert!(matches!(db.get("t", 0).unwrap(), Lookup::Unreadable { .. }));
    assert!(matches!(db.get("t", 1).unwrap(), Lookup::Found(_)));
    let f = Filter {
        patient: Some("p-1".into()),
        ..Filter::default()
    };
    assert_eq!(all_pages(&db, "t", &f, Order::Asc, 10), vec![1, 2]);
    // The summaries drop them too (their list names the destroyed epoch).
    let summarised = |db: &Db| {
        let (from, to) = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        let mut seqs = Vec::new();
        db.summaries(
            "t",
            from.parse().unwrap(),
            to.parse().unwrap(),
            3,
            &mut |s| seqs.push(s.seq),
        )
        .unwrap();
        seqs.sort_unstable();
        seqs
    };
    assert_eq!(summarised(&db), vec![1, 2]);
    // A rebuild cannot read them either, and still indexes the rest.
    assert_eq!(db.reindex().unwrap(), 2);
    assert!(matches!(db.get("t", 0).unwrap(), Lookup::Unreadable { .. }));
    assert_eq!(all_pages(&db, "t", &f, Order::Asc, 10), vec![1, 2]);
    assert_eq!(summarised(&db), vec![1, 2]);
}

#[test]
fn open_indexes_what_the_log_gained_while_the_index_was_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let dir = tmp.path().join("index");
    let events = common::generated(800, 26);
    let db = Db::open(journal.clone(), &dir).unwrap();
    let mut recs = append(&db, "t", &events[..500], 100);
    drop(db);
    // Committed while no index was open (e.g. a crash between commit and indexing).
    journal
        .append("t", events[500..].to_vec(), "key:k-test", Timestamp::now())
        .unwrap();
    recs.extend((500..800).map(|i| common::Rec {
        tenant: "t".into(),
        seq: i as u64,
        event: events[i].clone(),
    }));
    let db = Db::open(journal, &dir).unwrap();
    assert_eq!(db.indexed("t").unwrap(), 800);
    assert_eq!(db.catch_up().unwrap(), 0);
    let f = Filter::default();
    assert_eq!(
        all_pages(&db, "t", &f, Order::Desc, 97),
        oracle(&recs, "t", &f, Order::Desc)
    );
}

#[test]
fn an_index_of_an_older_layout_is_rebuilt_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, dir, recs) = closed_index(tmp.path(), 600, 27);
    // Make it look like an index of an older layout: another layout mark, and an id
    // entry in a shape a point read cannot use.
    {
        let ks = fjall::Config::new(dir.join("gen-1")).open().unwrap();
        let about = ks.open_partition("about", Default::default()).unwrap();
        about.insert("layout", 2u32.to_be_bytes()).unwrap();
        let id = ks.open_partition("id", Default::default()).unwrap();
        id.insert([0u8; 20], []).unwrap();
        ks.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let db = Db::open(journal, &dir).unwrap();
    assert_eq!(db.indexed("t").unwrap(), 600);
    for r in recs.iter().step_by(29) {
        let id = r.event.id.as_deref().unwrap();
        assert_eq!(db.lookup_id("t", id).unwrap(), Some(r.seq));
    }
    drop(db);
    assert_eq!(
        entries(&dir, "gen-"),
        ["gen-2"],
        "rebuilt in generation 2, 1 removed"
    );
    assert_eq!(std::fs::read_to_string(dir.join("CURRENT")).unwrap(), "2\n");
}

/// A tenant `t` of `n` generated events, indexed, with the index closed again: the
/// journal, the index directory and the records.
fn closed_index(
    tmp: &std::path::Path,
    n: u64,
    seed: u64,
) -> (
    std::sync::Arc<recall_store::Journal>,
    std::path::PathBuf,
    Vec<common::Rec>,
) {
    let journal = journal_in(tmp);
    let dir = tmp.join("index");
    let db = Db::open(journal.clone(), &dir).unwrap();
    let recs = append(&db, "t", &common::generated(n, seed), 100);
    drop(db);
    (journal, dir, recs)
}

/// Names in `dir` that start with `prefix`, sorted.
fn entries(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn an_index_of_layout_two_kept_at_the_root_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, dir, recs) = closed_index(tmp.path(), 300, 28);
    std::fs::remove_dir_all(&dir).unwrap();
    // The shape layouts 1 and 2 had: one fjall keyspace at the root, `<name>_<gen>`.
    {
        let ks = fjall::Config::new(&dir).open().unwrap();
        let id = ks.open_partition("id_0", Default::default()).unwrap();
        id.insert([0u8; 20], []).unwrap();
        ks.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let db = Db::open(journal, &dir).unwrap();
    assert_eq!(db.indexed("t").unwrap(), 300);
    let r = &recs[123];
    assert_eq!(
        db.lookup_id("t", r.event.id.as_deref().unwrap()).unwrap(),
        Some(r.seq)
    );
    drop(db);
    assert_eq!(
        entries(&dir, ""),
        ["CURRENT", "gen-1"],
        "the old keyspace is gone"
    );
}

#[test]
fn reindex_retires_the_old_generation_and_an_unfinished_one_is_dropped_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, dir, _) = closed_index(tmp.path(), 400, 29);
    let db = Db::open(journal.clone(), &dir).unwrap();
    assert_eq!(db.reindex().unwrap(), 400);
    assert_eq!(db.reindex().unwrap(), 400);
    assert_eq!(
        entries(&dir, "gen-"),
        ["gen-3"],
        "retired generations are removed"
    );
    drop(db);
    // A reindex that died before switching over: its generation exists, CURRENT does
    // not name it.
    std::fs::create_dir_all(dir.join("gen-4/partitions")).unwrap();
    std::fs::write(dir.join("CURRENT.tmp"), "4\n").unwrap();
    let db = Db::open(journal, &dir).unwrap();
    assert_eq!(db.indexed("t").unwrap(), 400);
    assert_eq!(db.catch_up().unwrap(), 0, "generation 3 was complete");
    drop(db);
    assert_eq!(entries(&dir, "gen-"), ["gen-3"]);
    assert!(!dir.join("CURRENT.tmp").exists());
}
