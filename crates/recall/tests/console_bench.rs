//! `recall-bench console` at a tiny size, end to end: this build's `recall serve`, a
//! console user from `recall users create`, Debian's headless chromium signing in and
//! loading the search page and filter clicks. Proves the benchmark measures real page
//! loads (every series filled, the server's `Server-Timing` read by the browser, the
//! whole page weighed) — not how fast they are. Skips without chromium or the node
//! packages, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use common::console::{browser_tools, tests_dir};
use recall_bench::compliance::TenantOptions;
use recall_bench::console::{ConsoleOptions, console};

#[test]
fn console_benchmark_measures_real_page_loads() {
    if !browser_tools(&[]) {
        eprintln!("skipped: chromium or the console test's node packages are missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rep = console(&ConsoleOptions {
        tenant: TenantOptions {
            events: 3_000,
            seed: 7,
            recall: Some(common::recall_bin()),
            workdir: dir.path().join("work"),
            keep: false,
            json: None,
        },
        samples: 1,
        node_dir: Some(tests_dir("console")),
        skip_peer: true,
    })
    .unwrap();
    let counts: Vec<(&str, usize)> = rep
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.server.n))
        .collect();
    assert_eq!(
        counts,
        [
            ("landing", 1),
            ("first page", 4),
            ("click patient", 1),
            ("click actor", 1),
            ("click action", 1),
            ("click system", 1)
        ]
    );
    for s in &rep.series {
        assert!(s.server.p50_ms > 0.0, "{}: server time", s.name);
        assert!(
            s.load.p50_ms >= s.ttfb.p50_ms,
            "{}: load after first byte",
            s.name
        );
        // The page and its assets (stylesheet, scripts) were each fetched. How many bytes
        // the browser reports for them is the benchmark's figure, not checked here: on
        // this build the landing page reported 46,818 bytes, less than htmx alone, so the
        // weight of assets is not yet trusted (docs/benchmarks.md, "Console").
        assert!(
            s.requests >= 5 && s.bytes_max > 0,
            "{}: the page and its assets",
            s.name
        );
        assert!(s.rows_p50 > 0, "{}: rows", s.name);
    }
    assert_eq!(rep.series[1].rows_p50, 50, "a first page is full");
    assert_eq!(rep.goals.len(), 3 * 6);
    assert!(rep.server_cpu_ms_per_page.unwrap() > 0.0);
    assert!(
        !dir.path().join("work/recall-data").exists(),
        "tenant removed"
    );
}
