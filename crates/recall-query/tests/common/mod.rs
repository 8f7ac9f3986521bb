//! A real journal (embedded store, keystore) with generated hospital events in several
//! tenants, indexed batch by batch as the server does, and a brute-force oracle.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use recall_crypto::{Kek, Keystore};
use recall_ledger::Signer;
use recall_model::Event;
use recall_query::{Db, Filter, Order, Query};
use recall_store::{EmbeddedOptions, EmbeddedStore, Journal};
use recall_synth::{Config, Generator, write_json_line};

pub const TENANTS: [&str; 3] = ["north", "south", "east"];

/// One stored event, as the oracle knows it.
#[derive(Debug, Clone)]
pub struct Rec {
    pub tenant: String,
    pub seq: u64,
    pub event: Event,
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub journal: Arc<Journal>,
    pub db: Db,
    pub recs: Vec<Rec>,
}

impl World {
    pub fn index_dir(&self) -> PathBuf {
        self.tmp.path().join("index")
    }
}

pub fn journal_in(dir: &std::path::Path) -> Arc<Journal> {
    let keystore = Keystore::create(&dir.join("ks.db"), Kek::from_bytes([7; 32])).unwrap();
    let store = EmbeddedStore::open(&dir.join("tenants"), EmbeddedOptions::default()).unwrap();
    let signer = Signer::new("test", &[1; 32]).unwrap();
    Arc::new(Journal::new(
        Arc::new(store),
        Arc::new(keystore),
        signer,
        vec![],
        "test",
    ))
}

/// Generated hospital events as model events.
pub fn generated(n: u64, seed: u64) -> Vec<Event> {
    let now = Timestamp::now();
    Generator::new(Config::hospital(n, seed))
        .map(|g| {
            let mut line = Vec::new();
            write_json_line(&g, &mut line);
            recall_model::parse_event(line.trim_ascii_end(), now).unwrap()
        })
        .collect()
}

/// Commits `events` to the tenant in batches of `batch` and indexes each batch.
pub fn append(db: &Db, tenant: &str, events: &[Event], batch: usize) -> Vec<Rec> {
    let journal = db.journal();
    journal.open_tenant(tenant).unwrap();
    let mut recs = Vec::new();
    for chunk in events.chunks(batch) {
        let first = journal.store().size(tenant).unwrap();
        let sealed = journal
            .prepare(
                tenant,
                chunk,
                &vec!["key:k-test"; chunk.len()],
                first,
                Timestamp::now(),
            )
            .unwrap();
        let committed = journal.commit(tenant, &sealed).unwrap();
        db.index_batch(tenant, &sealed, &committed.location, chunk)
            .unwrap();
        for (i, e) in chunk.iter().enumerate() {
            recs.push(Rec {
                tenant: tenant.into(),
                seq: first + i as u64,
                event: e.clone(),
            });
        }
    }
    recs
}

/// An engineer's lens on tenant `north` that pseudonymises `source.system` and withholds
/// `actor.role`: the two ways a lens changes a facet.
#[allow(dead_code)]
pub fn engineer_lens(db: &Db) -> recall_query::Lens {
    let mut policy = recall_query::Policy::default();
    policy
        .set("engineer", "source.system", "pseudonym")
        .unwrap();
    policy.set("engineer", "actor.role", "withhold").unwrap();
    let lens = db
        .lens("north", &policy, recall_query::Reader::Engineer, false)
        .unwrap();
    assert_eq!(
        lens.rule(recall_query::Field::SourceSystem),
        recall_query::Rule::Pseudonym
    );
    lens
}

/// `n` generated events spread over [`TENANTS`] in runs, batches of varying size.
pub fn world(n: u64, seed: u64) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let journal = journal_in(tmp.path());
    let db = Db::open(journal.clone(), &tmp.path().join("index")).unwrap();
    let events = generated(n, seed);
    let mut recs = Vec::new();
    for (j, chunk) in events.chunks(331).enumerate() {
        let tenant = TENANTS[j % TENANTS.len()];
        recs.extend(append(&db, tenant, chunk, 50 + (j % 4) * 60));
    }
    World {
        tmp,
        journal,
        db,
        recs,
    }
}

/// The oracle: does `e` satisfy `f`? Written independently of the crate.
pub fn matches(f: &Filter, e: &Event) -> bool {
    let src = e.source.as_ref();
    let ok = |want: &Option<String>, have: Option<&str>| match want {
        None => true,
        Some(w) => have == Some(w.as_str()),
    };
    ok(&f.patient, e.patient.as_ref().map(|p| p.id.as_str()))
        && ok(&f.actor, Some(e.actor.id.as_str()))
        && ok(&f.action, Some(e.action.as_str()))
        && ok(&f.outcome, Some(e.outcome.as_str()))
        && ok(&f.purpose, e.purpose.as_deref())
        && ok(&f.system, src.and_then(|s| s.system.as_deref()))
        && f.ip
            .as_ref()
            .is_none_or(|ip| src.and_then(|s| s.ip) == Some(ip.parse::<IpAddr>().unwrap()))
        && (!f.break_glass || e.purpose.as_deref() == Some("ETREAT"))
        && f.from.is_none_or(|t| e.time >= t)
        && f.to.is_none_or(|t| e.time < t)
}

/// Seqs of the tenant's matching events in (time, seq) order.
pub fn oracle(recs: &[Rec], tenant: &str, f: &Filter, order: Order) -> Vec<u64> {
    let mut hits: Vec<(Timestamp, u64)> = recs
        .iter()
        .filter(|r| r.tenant == tenant && matches(f, &r.event))
        .map(|r| (r.event.time, r.seq))
        .collect();
    hits.sort();
    if order == Order::Desc {
        hits.reverse();
    }
    hits.into_iter().map(|(_, s)| s).collect()
}

/// Every page of a search, concatenated; checks page sizes and cursor presence.
pub fn all_pages(db: &Db, tenant: &str, f: &Filter, order: Order, limit: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .search(
                tenant,
                &Query {
                    filter: f.clone(),
                    order,
                    limit,
                    cursor: cursor.take(),
                },
            )
            .unwrap();
        assert!(page.events.len() <= limit);
        for found in &page.events {
            // A filter under a lens holds pseudonyms; its caller compares with the oracle.
            assert!(f.lens.is_some() || matches(f, &found.event().unwrap()));
            out.push(found.seq);
        }
        match page.next_cursor {
            Some(c) => {
                assert_eq!(page.events.len(), limit, "only full pages have a next page");
                cursor = Some(c);
            }
            None => return out,
        }
    }
}

/// The earliest and latest event time of `tenant` among `recs`.
pub fn time_span(recs: &[Rec], tenant: &str) -> (Timestamp, Timestamp) {
    let times = recs
        .iter()
        .filter(|r| r.tenant == tenant)
        .map(|r| r.event.time);
    let first = times.clone().min().unwrap();
    (first, times.max().unwrap())
}
