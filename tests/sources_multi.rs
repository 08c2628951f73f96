//! Several sources and streams in one collector, action filters, and the no-data alarm.

mod common;

use common::*;
use slack_audit::config::{now_unix, Source};
use slack_audit::runtime::{Collected, Collection};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

fn state_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json"))
        .collect();
    v.sort();
    v
}

/// audit + access + integration in one collector: each source complete, each batch tagged with
/// its source (told apart by shape too), each stream its own state file, one Web API budget
/// shared by the two Web API streams.
#[test]
fn three_sources_together_each_with_its_own_state_file() {
    let sim = sim(2_000, 0, |c| c.web_max_calls_per_minute = 12);
    let dir = tempfile::tempdir().unwrap();
    let cfg = || {
        config(
            &sim,
            dir.path(),
            &[("sources", "audit,access,integration"), ("limit", "100"), ("web_max_calls_per_minute", "12")],
        )
    };
    let d = drain_raw(cfg(), None, Duration::from_secs(60));
    assert_eq!(d.error, None);
    let audit: Vec<String> = d.of(Source::Audit).iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(compare(&audit, &sim.dataset()), 0);
    assert_eq!(d.of(Source::Access).len(), 300);
    assert_eq!(d.of(Source::Integration).len(), 200);
    for (source, v, _) in &d.entries {
        let shape = match (v.get("action"), v.get("user_agent"), v.get("change_type")) {
            (Some(_), None, None) => Source::Audit,
            (None, Some(_), None) => Source::Access,
            (None, None, Some(_)) => Source::Integration,
            _ => panic!("ambiguous entry {v}"),
        };
        assert_eq!(*source, shape, "{v}");
    }
    assert_eq!(state_files(dir.path()), vec!["access.json", "audit.json", "integration.json"]);
    // 3 access pages + 2 integration pages share the one Tier 2 budget of this process
    let s = sim.stats();
    assert!(s.max_web_calls_in_any_60s <= 12, "{s:?}");
    assert_eq!(s.web_calls_429, 0, "{s:?}");
    // a restart repeats nothing from any source
    std::thread::sleep(Duration::from_millis(1100));
    let again = drain_raw(cfg(), None, Duration::from_secs(60));
    assert_eq!(again.error, None);
    assert!(again.entries.is_empty(), "re-delivered {}", again.entries.len());
}

/// More than 30 `actions` become two audit streams of at most 30 names each (the simulator,
/// like Slack, refuses more than 30), each with its own deterministically named state file,
/// and together they deliver every matching event exactly once.
#[test]
fn thirty_five_actions_are_split_into_two_streams() {
    let sim = sim(4_000, 0, |_| {});
    // which action each event has, from an unfiltered drain
    let all_dir = tempfile::tempdir().unwrap();
    let all = drain(config(&sim, all_dir.path(), &[("limit", "1000")]), None, Duration::from_secs(60));
    let action_of: HashMap<&str, &str> =
        all.ids.iter().map(String::as_str).zip(all.actions.iter().map(String::as_str)).collect();
    let mut names: Vec<String> =
        action_of.values().map(|a| a.to_string()).collect::<HashSet<_>>().into_iter().collect();
    names.sort();
    names.truncate(20); // some real names and some that match nothing
    names.extend((0..15).map(|i| format!("no_such_action_{i:02}")));
    assert_eq!(names.len(), 35);
    let dir = tempfile::tempdir().unwrap();
    let list = names.join(",");
    let d = drain(config(&sim, dir.path(), &[("limit", "1000"), ("actions", &list)]), None, Duration::from_secs(60));
    assert_eq!(d.error, None);
    let chosen: HashSet<&str> = names.iter().map(String::as_str).collect();
    let expected: Vec<(String, i64)> =
        sim.dataset().into_iter().filter(|(id, _)| chosen.contains(action_of[id.as_str()])).collect();
    assert!(expected.len() > 100, "the filter should match a good share: {}", expected.len());
    assert_eq!(compare(&d.ids, &expected), 0);
    let files = state_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.starts_with("audit-")), "{files:?}");
    assert_eq!(sim.stats().invalid_arguments, 0);
    // the same actions in another order name the same streams: a restart resumes them
    let mut reversed = names.clone();
    reversed.reverse();
    let again = drain(
        config(&sim, dir.path(), &[("limit", "1000"), ("actions", &reversed.join(","))]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(again.error, None);
    assert!(again.ids.is_empty(), "re-delivered {}", again.ids.len());
    assert_eq!(state_files(dir.path()), files);
}

/// `exclude_actions` drops those entries client-side, counts them, and delivers the rest.
#[test]
fn exclude_actions_drops_only_those_actions() {
    let sim = sim(3_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let all = drain(config(&sim, dir.path(), &[("limit", "1000")]), None, Duration::from_secs(60));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for a in &all.actions {
        *counts.entry(a.as_str()).or_default() += 1;
    }
    let (top, n) = counts.iter().max_by_key(|(_, n)| **n).map(|(a, n)| (a.to_string(), *n)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d =
        drain(config(&sim, dir.path(), &[("limit", "1000"), ("exclude_actions", &top)]), None, Duration::from_secs(60));
    assert_eq!(d.error, None);
    assert!(!d.actions.contains(&top), "{top} was delivered");
    assert_eq!(d.ids.len(), 3_000 - n);
    assert_eq!(d.stats.unwrap().excluded, n as u64);
}

/// Runs a collection until `until` holds for its stats or `limit` passes; returns the warnings.
fn run_until(
    cfg: slack_audit::config::Config,
    limit: Duration,
    until: impl Fn(&slack_audit::stats::Stats) -> bool,
) -> (Vec<String>, Duration, slack_audit::stats::Stats) {
    let mut c = Collection::start(cfg).unwrap();
    let t0 = Instant::now();
    let mut logs = Vec::new();
    while t0.elapsed() < limit && !until(&c.stats()) {
        if let Ok(Collected::Batch(b)) = c.collect(Duration::from_millis(100)) {
            c.ack(b.id).unwrap();
        }
        while let Some((_, m)) = c.next_log() {
            logs.push(m);
        }
    }
    let took = t0.elapsed();
    while let Some((_, m)) = c.next_log() {
        logs.push(m);
    }
    let stats = c.stats();
    c.shutdown(Duration::from_secs(1));
    (logs, took, stats)
}

/// The no-data alarm: a stream that delivers nothing for `stall_warning_after` warns once and
/// is listed in the stats; the clock is persisted, so after a restart it fires at once; it
/// clears when events flow again.
#[test]
fn a_stalled_stream_warns_once_and_the_clock_survives_a_restart() {
    let sim = sim(0, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&sim, dir.path(), &[("stall_warning_after", "3"), ("interval", "1")]);
    let stalls = |logs: &[String]| logs.iter().filter(|m| m.contains("no events delivered")).count();

    // nothing to deliver: the warning comes after about 3 s, then not again
    let (logs, took, stats) = run_until(cfg(), Duration::from_secs(6), |_| false);
    assert_eq!(stalls(&logs), 1, "{logs:?}");
    assert!(took >= Duration::from_secs(6));
    assert_eq!(stats.stalled_streams, vec!["audit".to_string()]);

    // restarted, the stream is still stalled: the warning comes at once, not 3 s later
    let (logs, took, _) = run_until(cfg(), Duration::from_secs(10), |s| !s.stalled_streams.is_empty());
    assert_eq!(stalls(&logs), 1, "{logs:?}");
    assert!(took < Duration::from_millis(2500), "the stall clock was reset by the restart ({took:?})");

    // events again: the alarm clears
    sim.insert_events(&[now_unix() - 1]);
    let (logs, _, stats) = run_until(cfg(), Duration::from_secs(10), |s| s.events > 0 && s.stalled_streams.is_empty());
    assert!(stats.stalled_streams.is_empty(), "{stats:?} {logs:?}");
    assert_eq!(stats.events, 1);
}
