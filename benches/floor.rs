//! The floor of reading one page: inflating a 9,999-entry simulator page plus one validating pass
//! over the inflated bytes, next to what the collector's page reader costs on the same bytes. Two
//! pages: the simulator's classic dataset gzipped at level 6, and its varied dataset (shaped like
//! Slack's answers: `\/` and `\uXXXX` escapes, varied `details`) gzipped at level 9.
//!
//! Run: `cargo bench --bench floor` (`FLOOR_DATASET=classic|varied` for one of them). Prints a
//! table per dataset and writes `target/bench-floor.json`.
//! Times are the thread's CPU time (not wall time: the machine is shared), best of `RUNS`.

use serde::de::IgnoredAny;
use slack_audit::source::audit::parse_audit_page;
use slack_audit::transport::inflate::gunzip_into;
use slack_audit::transport::jsonscan::scan_page;
mod support;

use slack_audit_sim::Dataset;
use std::hint::black_box;
use std::io::{Read, Write};
use support::{measure, sim_page, ENTRIES, RUNS};

/// The collector's inflater: libdeflate, whole body, output sized from the gzip trailer.
fn inflate(gz: &[u8], out: &mut Vec<u8>) {
    gunzip_into(gz, out, 1 << 30).expect("valid gzip");
}

/// The previous one, for comparison: flate2's streaming decoder (zlib-rs backend).
fn inflate_flate2(gz: &[u8], out: &mut Vec<u8>) {
    out.clear();
    flate2::read::GzDecoder::new(gz).read_to_end(out).expect("valid gzip");
}

fn main() {
    let only = std::env::var("FLOOR_DATASET").unwrap_or_default();
    let mut sections = Vec::new();
    for (name, dataset, level) in [("classic", Dataset::Classic, 6), ("varied", Dataset::Varied, 9)] {
        if only.is_empty() || only == name {
            sections.push(run(name, dataset, level));
        }
    }
    let json = format!("{{\n{}\n}}\n", sections.join(",\n"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("bench-floor.json");
    match std::fs::write(&path, json) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

/// One dataset's table; returns its JSON member.
fn run(name: &str, dataset: Dataset, level: u32) -> String {
    // One real page of the simulator, uncompressed, then gzipped at `level`.
    let body = sim_page(dataset);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    enc.write_all(&body).unwrap();
    let gz = enc.finish().unwrap();
    let n = parse_audit_page(body.clone()).expect("page parses").entries.len();
    assert_eq!(n, ENTRIES as usize);

    let mut out = Vec::with_capacity(body.len() + 4096);
    let mut page_body = Vec::with_capacity(body.len() + 4096);
    let text = std::str::from_utf8(&body).unwrap();
    let cases: Vec<(&str, (f64, f64))> = vec![
        ("inflate (libdeflate, the collector's)", measure(|| inflate(&gz, &mut out))),
        ("inflate (flate2 streaming, zlib-rs)", measure(|| inflate_flate2(&gz, &mut out))),
        (
            "UTF-8 check (std from_utf8)",
            measure(|| {
                black_box(std::str::from_utf8(black_box(&body)).is_ok());
            }),
        ),
        (
            "JSON check (serde_json IgnoredAny, &str)",
            measure(|| {
                black_box(serde_json::from_str::<IgnoredAny>(black_box(text)).is_ok());
            }),
        ),
        (
            "one pass: JSON + UTF-8 (jsonscan)",
            measure(|| {
                black_box(scan_page(black_box(&body), |_, _| {}).is_ok());
            }),
        ),
        (
            "floor: inflate + one pass (jsonscan)",
            measure(|| {
                inflate(&gz, &mut out);
                black_box(scan_page(&out, |_, _| {}).is_ok());
            }),
        ),
        (
            "inflate + UTF-8 + JSON check (serde_json)",
            measure(|| {
                inflate(&gz, &mut out);
                let t = std::str::from_utf8(&out).unwrap();
                black_box(serde_json::from_str::<IgnoredAny>(t).unwrap());
            }),
        ),
        (
            "page reader (parse_audit_page)",
            measure(|| {
                page_body.clear();
                page_body.extend_from_slice(&body);
                let mut p = parse_audit_page(std::mem::take(&mut page_body)).unwrap();
                page_body = std::mem::take(&mut p.body).into_vec();
            }),
        ),
        (
            "inflate + page reader",
            measure(|| {
                inflate(&gz, &mut page_body);
                let mut p = parse_audit_page(std::mem::take(&mut page_body)).unwrap();
                page_body = std::mem::take(&mut p.body).into_vec();
            }),
        ),
        (
            "copy of the body (memcpy)",
            measure(|| {
                page_body.clear();
                page_body.extend_from_slice(black_box(&body));
            }),
        ),
    ];

    let per_100k = |s: f64| s / f64::from(ENTRIES) * 1e5;
    println!(
        "{name} page: {ENTRIES} entries, {} bytes ({:.0} bytes each), gzip level {level}: {} bytes ({:.1}x); thread CPU, best of {RUNS} (median)",
        body.len(),
        body.len() as f64 / f64::from(ENTRIES),
        gz.len(),
        body.len() as f64 / gz.len() as f64
    );
    println!("{:<42} {:>9} {:>9} {:>14}", "case", "ms", "MB/s", "CPU s/100k");
    let mut json = format!(
        "  \"{name}\": {{\n  \"gzip_level\": {level},\n  \"entries\": {ENTRIES},\n  \"body_bytes\": {},\n  \"gzip_bytes\": {},\n  \"runs\": {RUNS},\n  \"cases\": [\n",
        body.len(),
        gz.len()
    );
    for (i, (name, (best, median))) in cases.iter().enumerate() {
        println!(
            "{:<42} {:>9.3} {:>9.0} {:>14.4}   (median {:.3} ms)",
            name,
            best * 1e3,
            body.len() as f64 / 1e6 / best,
            per_100k(*best),
            median * 1e3
        );
        json.push_str(&format!(
            "    {{\"name\": \"{name}\", \"best_ms\": {:.4}, \"median_ms\": {:.4}, \"mb_per_s\": {:.1}, \"cpu_s_per_100k\": {:.5}}}{}\n",
            best * 1e3,
            median * 1e3,
            body.len() as f64 / 1e6 / best,
            per_100k(*best),
            if i + 1 < cases.len() { "," } else { "" }
        ));
    }
    json.push_str("  ]\n  }");
    println!();
    json
}
