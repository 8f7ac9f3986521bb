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
            skip_peer: true,
        },
        samples: 1,
        node_dir: Some(tests_dir("console")),
    })
    .unwrap();
    let assets = referenced_assets();
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
        // The page and its assets were each fetched and weighed: at least the assets the
        // layout references (an earlier harness counted cached assets as 0 bytes).
        assert!(s.requests > assets.0, "{}: the page and its assets", s.name);
        assert!(
            s.bytes_p50 > assets.1,
            "{}: weight {} under the assets' {} bytes",
            s.name,
            s.bytes_p50,
            assets.1
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

/// The assets every console page's layout references: how many and their bytes (served
/// as they are in the source tree, uncompressed).
fn referenced_assets() -> (usize, u64) {
    let server = tests_dir("../../recall-server");
    let layout = std::fs::read_to_string(server.join("templates/console/base.html")).unwrap();
    let names: Vec<&str> = layout
        .split("\"/assets/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    let bytes = names
        .iter()
        .map(|n| {
            std::fs::metadata(server.join("assets").join(n))
                .unwrap()
                .len()
        })
        .sum();
    (names.len(), bytes)
}
