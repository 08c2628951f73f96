//! Issue 5, crash safety: `slack-audit run --once` killed with SIGKILL at random moments of a
//! backfill while live and late events keep arriving; the union of everything each process
//! wrote to stdout is complete, with duplicates bounded by one unacknowledged batch per kill.

mod common;

use common::*;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_cmd(sim: &slack_audit_sim::Sim, state: &Path, limit: usize) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    c.arg("run")
        .arg("--once")
        .args(["--api-url", &sim.audit_url()])
        .arg("--state-dir")
        .arg(state)
        .args(["--lag", "2", "--overlap", "600", "--limit", &limit.to_string()])
        .args(["--max-calls-per-minute", "1000"])
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The ids of the complete lines of `out`; a final line cut short by the kill is dropped
/// (it was never acknowledged, so it is re-delivered).
fn complete_ids(out: &[u8], partial: &mut usize) -> Vec<String> {
    if out.last().is_some_and(|&b| b != b'\n') {
        *partial += 1;
    }
    let end = out.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    out[..end]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            assert!(l.starts_with(b"{") && l.ends_with(b"}"), "not one JSON object per line");
            entry_id(l)
        })
        .collect()
}

/// Runs one process, kills it with SIGKILL after `kill_after` (unless it finished), and returns
/// everything it wrote, including what was still in the pipe, and whether it was killed.
fn run_and_kill(mut cmd: Command, kill_after: Option<Duration>) -> (Vec<u8>, bool) {
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // A reader a little slower than the pipe (like a busy Logstash): batches bigger than the
    // pipe buffer keep the writer blocked for a while, so kills also land mid-batch.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            match stdout.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        buf
    });
    let t0 = Instant::now();
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if kill_after.is_some_and(|k| t0.elapsed() >= k) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "slack-audit did not finish");
        std::thread::sleep(Duration::from_millis(2));
    }
    (reader.join().unwrap(), killed)
}

/// 20+ SIGKILLs at seeded random moments of a backfill with live and late events: nothing is
/// lost and duplicates stay within one batch (`limit`) per kill.
#[test]
fn random_kill_nine_during_live_backfill_loses_nothing() {
    let seed = seed();
    eprintln!("reliability_crash seed {seed} (replay with SLACK_AUDIT_SEED={seed})");
    let mut rng = Rng(seed);
    let sim = sim(40_000, 2_000, |c| {
        c.seed = seed;
        c.max_calls_per_minute = 0;
        c.slow_ms = 60; // so the backfill spans many of the killed runs
        c.live_rate = 40.0;
        c.late_fraction = 0.2;
        c.late_delay = 30; // within the 600 s overlap guard
    });
    let dir = tempfile::tempdir().unwrap();
    let limit = 500;
    let kills_wanted = 20;
    let mut all = Vec::new();
    let (mut kills, mut finished, mut partial) = (0, 0, 0);
    while kills < kills_wanted {
        assert!(kills + finished < 200, "could not kill {kills_wanted} times");
        let after = Duration::from_millis(20 + rng.below(600) as u64);
        let (out, killed) = run_and_kill(run_cmd(&sim, dir.path(), limit), Some(after));
        all.extend(complete_ids(&out, &mut partial));
        if killed {
            kills += 1;
        } else {
            finished += 1;
        }
    }
    // Stop live events, wait past `lag`, then run to completion.
    sim.set_live_rate(0.0);
    std::thread::sleep(Duration::from_secs(3));
    let (out, killed) = run_and_kill(run_cmd(&sim, dir.path(), limit), None);
    assert!(!killed);
    all.extend(complete_ids(&out, &mut partial));
    let expected = sim.dataset();
    let st = sim.stats();
    if std::env::var("SLACK_AUDIT_DEBUG_MISSING").is_ok() {
        let got: std::collections::HashSet<&String> = all.iter().collect();
        let now = slack_audit::config::now_unix();
        let mut miss: Vec<i64> = expected.iter().filter(|(i, _)| !got.contains(i)).map(|(_, d)| now - d).collect();
        miss.sort();
        eprintln!("missing ages: {:?} .. {:?} (n={})", miss.first(), miss.last(), miss.len());
        eprintln!(
            "state: {}",
            std::fs::read_to_string(dir.path().join("audit.json"))
                .unwrap_or_default()
                .chars()
                .take(600)
                .collect::<String>()
        );
    }
    let dups = compare(&all, &expected);
    eprintln!(
        "reliability_crash: seed {seed}, {kills} kills ({partial} left a partial line), {finished} runs that finished before their kill, {} events ({} live, {} late), {dups} duplicates (bound {})",
        expected.len(),
        st.live_events_added,
        st.late_events_added,
        kills * limit
    );
    assert!(st.live_events_added > 0 && st.late_events_added > 0, "live and late events must arrive: {st:?}");
    assert!(dups <= kills * limit, "{dups} duplicates for {kills} kills (bound {})", kills * limit);
}
