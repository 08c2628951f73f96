//! The Fluent Bit plugin moves its checkpoint only once Fluent Bit has stored the records: the
//! host emulator (tests/c/flb_host.c) stores them like Fluent Bit's threaded proxy (a ring
//! drained into chunk files every 250 ms, not while paused, dropped when full, discarded at
//! exit) or like `threaded off` (the chunk written before the cleanup callback). Each test
//! stops or crashes the host at seeded moments of a backfill, restarts it on the same state,
//! and compares the union of the chunk files with the simulator's dataset: 0 missing,
//! duplicates bounded by the batches in flight.
//!
//! Seeds are printed; replay with SLACK_AUDIT_SEED=<seed>. SLACK_AUDIT_FLB_PLUGIN=<path to a .so>
//! runs these tests against another build of the plugin.

mod cbuild;
mod common;
mod flb;

use cbuild::{build_c, describe};
use common::{seed, Rng};
use flb::{props, records, run, spawn};
use slack_audit_sim::{Sim, SimConfig};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

const START: i64 = 1_650_000_000;
const LIMIT: usize = 500;

fn sim(events: usize, seed: u64) -> Sim {
    Sim::start(SimConfig {
        events,
        start: START,
        end: START + 30 * 86_400,
        burst: vec![(START + 86_400, 1_500)],
        seed,
        max_calls_per_minute: 0,
        ..SimConfig::default()
    })
    .expect("sim")
}

/// Missing ids (must be 0) and duplicates of the union of all chunk files.
fn tally(sim: &Sim, chunks: &Path) -> (usize, usize, usize) {
    let want: HashMap<String, i64> = sim.dataset().into_iter().collect();
    let got = records(chunks);
    let mut seen = HashSet::new();
    for (id, t, _) in &got {
        assert_eq!(want.get(id), Some(t), "id {id}: unknown, or a wrong time");
        seen.insert(id.clone());
    }
    (want.len() - seen.len(), got.len() - seen.len(), got.len())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Term,
    Kill,
}

/// `stops` runs of the host on one state dir and one chunk file, each stopped by SIGTERM or
/// SIGKILL at a seeded moment, with the engine pausing the input for 1.5 s after every second
/// hand-over (records wait in the paused ring); then a run to the end. Returns (missing,
/// duplicates, stored, stops).
fn stop_and_restart(mode: &[&str], stops: usize, label: &str) -> (usize, usize, usize, usize) {
    build_c();
    let seed = seed();
    eprintln!("{label} seed {seed} (replay with SLACK_AUDIT_SEED={seed})");
    let mut rng = Rng(seed);
    let sim = sim(10_500, seed);
    let dir = tempfile::tempdir().unwrap();
    let (state, chunks) = (dir.path().join("state"), dir.path().join("chunks.txt"));
    let p = props(&sim, &state, LIMIT);
    let mut done = 0;
    for i in 0..stops {
        let how = if rng.below(2) == 0 { Stop::Term } else { Stop::Kill };
        // Fluent Bit's 1 s callback; the first batch comes at about 1 s.
        let after = Duration::from_millis(1_000 + rng.below(4_000) as u64);
        let pause = format!("{}:1500:2", 1 + rng.below(2));
        let mut args = vec!["-c", "1000", "-t", "60000", "-P", &pause];
        args.extend_from_slice(mode);
        let mut child = spawn(&args, &[(&chunks, p.clone())], sim.token());
        let t0 = Instant::now();
        while t0.elapsed() < after && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let sig = if how == Stop::Term { libc::SIGTERM } else { libc::SIGKILL };
        unsafe { libc::kill(child.id() as i32, sig) };
        let out = child.wait_with_output().unwrap();
        let stored = records(&chunks).len();
        eprintln!("{label} run {i}: {how:?} after {after:?}, {stored} records in chunks so far");
        if how == Stop::Term {
            assert!(out.status.success(), "SIGTERM: {}", describe(&out));
        }
        done += 1;
    }
    // To the end: no pauses, stop 3 s after the last chunk write.
    let mut args = vec!["-c", "1000", "-w", "3000", "-t", "120000"];
    args.extend_from_slice(mode);
    let r = run(flb::host(), &args, &[(&chunks, p.clone())], sim.token());
    assert!(r.out.status.success(), "{}", describe(&r.out));
    let (missing, dups, stored) = tally(&sim, &chunks);
    eprintln!(
        "{label}: seed {seed}, {done} stops, {} events, {stored} stored, {missing} missing, {dups} duplicates",
        sim.dataset().len()
    );
    (missing, dups, stored, done)
}

/// Threaded (Fluent Bit's default for proxy inputs): SIGTERM and SIGKILL at seeded moments,
/// while records wait in the ring or in a paused ring. Nothing is lost; each stop repeats at most
/// the batches not yet acknowledged (two, plus one being handed over again).
/// Acknowledging in the cleanup callback (before the ring is drained) loses records here.
#[test]
fn threaded_stops_and_kills_lose_nothing() {
    let stops = 10;
    let (missing, dups, _, done) = stop_and_restart(&[], stops, "threaded");
    assert_eq!(missing, 0, "records acknowledged before they reached a chunk were lost");
    assert!(dups <= done * 3 * LIMIT, "{dups} duplicates for {done} stops (bound {})", done * 3 * LIMIT);
}

/// `threaded off`: the chunk is written before the cleanup callback, so each stop repeats at most
/// the one batch between the chunk write and the acknowledgement.
#[test]
fn threaded_off_stops_and_kills_lose_nothing() {
    let stops = 6;
    let (missing, dups, _, done) = stop_and_restart(&["-T", "off"], stops, "threaded off");
    assert_eq!(missing, 0);
    assert!(dups <= done * LIMIT, "{dups} duplicates for {done} stops (bound {})", done * LIMIT);
}

/// The records Fluent Bit drops when the ring stays full (the engine thread busy for 3 s, a
/// ring of one entry: ten retries 100 ms apart, then "could not enqueue") are handed over again,
/// so one run stores every event.
#[test]
fn records_dropped_by_a_full_ring_are_handed_over_again() {
    build_c();
    let sim = sim(6_000, 5);
    let dir = tempfile::tempdir().unwrap();
    let chunks = dir.path().join("chunks.txt");
    let r = run(
        flb::host(),
        &["-c", "200", "-R", "1", "-S", "2:3000", "-w", "5000", "-t", "60000"],
        &[(&chunks, props(&sim, &dir.path().join("state"), LIMIT))],
        sim.token(),
    );
    eprintln!("{}", describe(&r.out));
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert!(r.get(0, "dropped") >= 1.0, "the ring never overflowed: {}", describe(&r.out));
    let again = r.stderr().matches("handing them over again").count();
    assert!(again >= 1, "{}", r.stderr());
    let (missing, dups, _) = tally(&sim, &chunks);
    assert_eq!(missing, 0, "dropped records were acknowledged");
    // A write that succeeded after a retry is slow too: handed over again, a duplicate.
    assert!(dups <= again * LIMIT, "{dups} duplicates for {again} batches handed over again");
}

/// A buffer the host never takes back (no cleanup callback) is handed over again before anything
/// newer, instead of being freed and then covered by the next cumulative acknowledgement.
#[test]
fn a_buffer_never_given_back_is_handed_over_again() {
    build_c();
    let sim = sim(6_000, 6);
    let dir = tempfile::tempdir().unwrap();
    let (state, chunks) = (dir.path().join("state"), dir.path().join("chunks.txt"));
    let r = run(
        flb::host(),
        &["-c", "100", "-U", "2", "-w", "2500", "-t", "60000"],
        &[(&chunks, props(&sim, &state, LIMIT))],
        sim.token(),
    );
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert!(r.stderr().contains("handing it over again"), "{}", r.stderr());
    let (missing, dups, _) = tally(&sim, &chunks);
    assert_eq!((missing, dups), (0, 0), "{}", describe(&r.out));
}

/// With `threaded off` the plugin acknowledges each batch as soon as its chunk is written: a crash
/// right after the third batch repeats nothing. Threaded, the same crash repeats the batches
/// still waiting for their drain margin.
#[test]
fn threaded_off_acknowledges_at_the_chunk_write() {
    build_c();
    for (mode, want_dups) in [("off", false), ("on", true)] {
        let sim = sim(6_000, 8);
        let dir = tempfile::tempdir().unwrap();
        let (state, chunks) = (dir.path().join("state"), dir.path().join("chunks.txt"));
        let mut args = vec!["-c", "1000", "-b", "3", "-X", "-t", "60000"];
        if mode == "off" {
            args.extend_from_slice(&["-T", "off"]);
        }
        let p = props(&sim, &state, LIMIT);
        let r1 = run(flb::host(), &args, &[(&chunks, p.clone())], sim.token());
        assert!(r1.out.status.success(), "{}", describe(&r1.out));
        let r2 = run(flb::host(), &["-c", "200", "-w", "2500", "-t", "60000"], &[(&chunks, p)], sim.token());
        assert!(r2.out.status.success(), "{}", describe(&r2.out));
        let (missing, dups, _) = tally(&sim, &chunks);
        eprintln!("threaded {mode}: {dups} duplicates after a crash at the third batch");
        assert_eq!(missing, 0);
        assert_eq!(dups > 0, want_dups, "threaded {mode}: {dups} duplicates; {}", describe(&r1.out));
        assert!(dups <= 2 * LIMIT);
    }
}
