//! The collector's one JSON pass (`src/jsonscan.rs`) next to a SIMD JSON parser, sonic-rs, on
//! the same 9,999-entry pages of both simulator datasets (issue 23): what checking a page and
//! finding its entries costs each.
//!
//! Run: `cargo bench --bench simd_json`. Times are the thread's CPU time, best of `RUNS` (and
//! the median), as in `benches/floor.rs`.

use slack_audit::transport::jsonscan::scan_page;
mod support;

use slack_audit_sim::Dataset;
use sonic_rs::JsonValueTrait;
use std::hint::black_box;
use support::{measure, sim_page, ENTRIES, RUNS};

/// sonic-rs the way the collector would use it: the top-level object lazily, `entries` as a
/// lazy array whose elements are checked and handed over as raw spans.
fn sonic_entries(body: &[u8]) -> usize {
    let mut n = 0;
    for member in sonic_rs::to_object_iter(body) {
        let (key, value) = member.expect("valid page");
        if key == "entries" {
            for e in sonic_rs::to_array_iter(value.as_raw_str()) {
                black_box(e.expect("valid entry").as_raw_str().len());
                n += 1;
            }
        }
    }
    n
}

fn main() {
    for (name, dataset) in [("classic", Dataset::Classic), ("varied", Dataset::Varied)] {
        let body = sim_page(dataset);
        let mut spans = 0;
        assert!(scan_page(&body, |_, _| spans += 1).is_ok());
        assert_eq!(spans, ENTRIES as usize);
        assert_eq!(sonic_entries(&body), ENTRIES as usize);
        let cases: Vec<(&str, (f64, f64))> = vec![
            (
                "jsonscan::scan_page (check + entry spans)",
                measure(|| {
                    let mut n = 0usize;
                    black_box(scan_page(black_box(&body), |_, _| n += 1).is_ok());
                    black_box(n);
                }),
            ),
            (
                "sonic-rs lazy: object iter + entries array iter",
                measure(|| {
                    black_box(sonic_entries(black_box(&body)));
                }),
            ),
            (
                "sonic-rs from_slice::<Value> (whole DOM)",
                measure(|| {
                    let v: sonic_rs::Value = sonic_rs::from_slice(black_box(&body)).expect("valid");
                    black_box(v.get("entries").map(|e| e.is_array()));
                }),
            ),
            (
                "serde_json from_slice::<IgnoredAny>",
                measure(|| {
                    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).is_ok());
                }),
            ),
        ];
        println!(
            "{name} page: {ENTRIES} entries, {} bytes ({:.0} each); thread CPU, best of {RUNS} (median)",
            body.len(),
            body.len() as f64 / f64::from(ENTRIES)
        );
        for (case, (best, median)) in cases {
            println!(
                "{case:<50} {:>8.3} ms {:>7.0} MB/s   (median {:.3} ms)",
                best * 1e3,
                body.len() as f64 / 1e6 / best,
                median * 1e3
            );
        }
        println!();
    }
}
