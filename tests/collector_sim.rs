//! The collector against the bundled simulator: completeness, durability and the protocol
//! details of Slack's audit API.

mod common;

use common::*;
use slack_audit::config::now_unix;
use std::time::{Duration, Instant};

/// 50,000+ events, one second holding more events than a page: nothing missing, nothing
/// repeated, every cursor page sent with its full query, the budget respected.
#[test]
fn fifty_thousand_events_with_a_burst_bigger_than_a_page_arrive_exactly_once() {
    let sim = sim(45_000, 7_500, |c| c.max_calls_per_minute = 50);
    let dir = tempfile::tempdir().unwrap();
    let d = drain(config(&sim, dir.path(), &[("limit", "2000")]), None, Duration::from_secs(120));
    assert_eq!(d.error, None);
    let expected = sim.dataset();
    assert_eq!(expected.len(), 52_500);
    assert_eq!(compare(&d.ids, &expected), 0, "duplicates");
    for (id, t) in &expected {
        assert_eq!(d.times[id], *t, "event time of {id}");
    }
    let s = sim.stats();
    assert_eq!(s.incomplete_cursor_queries, 0);
    assert!(s.cursor_requests > 20, "{s:?}");
    assert!(s.max_calls_in_any_60s <= 50, "{s:?}");
    assert_eq!(s.calls_429, 0, "{s:?}");
}

/// Filters go with every page (the cursor forgets them) and only matching entries come back.
#[test]
fn filters_are_resent_with_every_cursor_page() {
    let sim = sim(3_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let d = drain(
        config(&sim, dir.path(), &[("limit", "100"), ("actions", "user_login,file_downloaded")]),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(d.error, None);
    let s = sim.stats();
    assert!(s.cursor_requests > 3, "{s:?}");
    assert_eq!(s.incomplete_cursor_queries, 0);
    assert!(!d.ids.is_empty());
    assert!(d.actions.iter().all(|a| a == "user_login" || a == "file_downloaded"), "{:?}", d.actions);
    // the state of a filtered stream lives in its own file
    let files: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().any(|f| f.starts_with("audit-") && f.ends_with(".json")), "{files:?}");
}

/// A second run after a complete one re-reads only the boundary and delivers nothing again.
#[test]
fn a_second_run_repeats_nothing() {
    let sim = sim(5_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let first = drain(config(&sim, dir.path(), &[("limit", "1000")]), None, Duration::from_secs(60));
    assert_eq!(first.ids.len(), 5_000);
    let second = drain(config(&sim, dir.path(), &[("limit", "1000")]), None, Duration::from_secs(60));
    assert_eq!(second.error, None);
    assert!(second.ids.is_empty(), "re-delivered {}", second.ids.len());
}

/// A run stopped after a few acknowledged batches resumes from the saved cursor: nothing is
/// lost and nothing acknowledged is repeated.
#[test]
fn stop_and_resume_mid_sequence_loses_nothing() {
    let sim = sim(12_000, 3_000, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for _ in 0..4 {
        let d = drain(config(&sim, dir.path(), &[("limit", "700")]), Some(3), Duration::from_secs(60));
        assert_eq!(d.error, None);
        all.extend(d.ids);
    }
    let rest = drain(config(&sim, dir.path(), &[("limit", "700")]), None, Duration::from_secs(60));
    all.extend(rest.ids);
    assert_eq!(compare(&all, &sim.dataset()), 0);
}

/// Expired cursors restart the sequence from its saved bounds without repeats or losses.
#[test]
fn invalid_cursors_resume_from_saved_bounds() {
    let sim = sim(15_000, 1_200, |c| c.p_invalid_cursor = 0.25);
    let dir = tempfile::tempdir().unwrap();
    let d = drain(config(&sim, dir.path(), &[("limit", "500")]), None, Duration::from_secs(120));
    assert_eq!(d.error, None);
    assert_eq!(compare(&d.ids, &sim.dataset()), 0);
    let st = d.stats.unwrap();
    assert!(st.invalid_cursors > 0, "{st:?}");
    assert_eq!(sim.stats().incomplete_cursor_queries, 0);
}

/// 5xx, resets, truncated and garbled bodies are retried until the collection is exact.
#[test]
fn transient_faults_are_retried_until_exact() {
    let sim = sim(10_000, 800, |c| {
        c.p_5xx = 0.1;
        c.p_reset = 0.1;
        c.p_truncate = 0.1;
        c.p_garbage = 0.05;
    });
    let dir = tempfile::tempdir().unwrap();
    let d = drain(config(&sim, dir.path(), &[("limit", "400"), ("max_retries", "20")]), None, Duration::from_secs(180));
    assert_eq!(d.error, None);
    assert_eq!(compare(&d.ids, &sim.dataset()), 0);
    let s = sim.stats();
    assert!(s.faults_5xx + s.faults_reset + s.faults_truncate + s.faults_garbage > 0, "{s:?}");
    assert!(d.stats.unwrap().retries > 0);
}

/// Each permanent error stops collection at once with a message that says what to do, after
/// exactly one call (no retry storm).
#[test]
fn permanent_errors_stop_with_an_actionable_message_and_no_retries() {
    for (mode, expect) in [
        ("invalid_auth", "rejected the token"),
        ("missing_scope", "auditlogs:read"),
        ("feature_not_enabled", "Enterprise"),
        ("team_not_authorized", "organization"),
        ("user_not_authorized", "org owner"),
        ("invalid_workspace", "organization"),
    ] {
        let sim = sim(100, 0, |c| c.error_mode = Some(mode.into()));
        let dir = tempfile::tempdir().unwrap();
        let d = drain(config(&sim, dir.path(), &[]), None, Duration::from_secs(30));
        let err = d.error.unwrap_or_else(|| panic!("{mode}: no error"));
        assert!(err.contains(expect), "{mode}: {err}");
        assert!(!err.contains(TOKEN), "{mode}: token in message");
        assert_eq!(sim.stats().calls, 1, "{mode}: retried a permanent error");
    }
}

/// A wrong token is reported as such, and never echoed.
#[test]
fn a_wrong_token_is_a_permanent_error() {
    let sim = sim(100, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&sim, dir.path(), &[]);
    cfg.token.token = Some(slack_audit::config::Secret::new("xoxp-wrong-secret-value".into()));
    let d = drain(cfg, None, Duration::from_secs(30));
    let err = d.error.expect("error");
    assert!(err.contains("token"), "{err}");
    assert!(!err.contains("wrong-secret"), "{err}");
}

/// 429 with Retry-After: the next call waits at least that long, then the page is read.
#[test]
fn rate_limited_answers_are_honoured() {
    let page = r#"{"entries":[{"id":"a1","date_create":1600000000,"action":"user_login"}],"response_metadata":{"next_cursor":""}}"#;
    let server = Scripted::start(vec![
        Reply {
            status: 429,
            headers: vec![("Retry-After".into(), "2".into())],
            body: r#"{"ok":false,"error":"ratelimited"}"#.into(),
        },
        Reply::json(200, page),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = scripted_config(&server, dir.path());
    let d = drain(cfg, None, Duration::from_secs(30));
    assert_eq!(d.error, None);
    assert_eq!(d.ids, vec!["a1".to_string()]);
    let reqs = server.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let gap = reqs[1].0 - reqs[0].0;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    assert_eq!(reqs[0].1, reqs[1].1, "the same request is repeated");
    assert_eq!(d.stats.unwrap().rate_limited, 1);
}

/// The org budget holds under a tiny limit: no 60 s window sees more calls than allowed.
#[test]
fn the_call_budget_is_never_exceeded() {
    let sim = sim(3_000, 0, |c| c.max_calls_per_minute = 8);
    let dir = tempfile::tempdir().unwrap();
    // 3000 / 500 = 6 pages + the final empty check fits in 8; a limit of 6 forces waiting.
    // The deadline leaves room for one full 60 s window of waiting: the process-wide budget is
    // keyed by api_url, and a simulator of an earlier test in this binary may have had the same
    // ephemeral port (seen once: 5 calls, then 31 s of waiting at a 30 s deadline).
    let d = drain(
        config(&sim, dir.path(), &[("limit", "500"), ("max_calls_per_minute", "6")]),
        Some(6),
        Duration::from_secs(130),
    );
    assert_eq!(d.error, None);
    let s = sim.stats();
    assert!(s.max_calls_in_any_60s <= 6, "{s:?}");
    assert_eq!(s.calls_429, 0);
}

/// Events that arrive while a sequence is being paged are collected exactly once by the next
/// poll; late events (dated in the past, within the overlap guard) too.
#[test]
fn live_and_late_events_are_collected_exactly_once() {
    let sim = sim(6_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&sim, dir.path(), &[("limit", "500"), ("overlap", "600")]);
    // first run: stop after two batches, then new events arrive mid-sequence
    let mut all = drain(cfg(), Some(2), Duration::from_secs(60)).ids;
    let now = now_unix();
    sim.insert_events(&[now - 1, now - 1, now]);
    all.extend(drain(cfg(), None, Duration::from_secs(60)).ids);
    // late events: dated 2 and 5 minutes ago, visible only now
    std::thread::sleep(Duration::from_millis(1100));
    let now = now_unix();
    sim.insert_events(&[now - 120, now - 300, now]);
    std::thread::sleep(Duration::from_millis(1100));
    all.extend(drain(cfg(), None, Duration::from_secs(60)).ids);
    assert_eq!(compare(&all, &sim.dataset()), 0, "duplicates");
}

/// `interrupt` makes a blocked collect return at once.
#[test]
fn interrupt_wakes_a_blocked_collect() {
    let sim = sim(10, 0, |c| c.slow_ms = 5_000);
    let dir = tempfile::tempdir().unwrap();
    let mut c = slack_audit::runtime::Collection::start(config(&sim, dir.path(), &[])).unwrap();
    let i = c.interrupter();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        i.interrupt();
    });
    let t0 = Instant::now();
    let r = c.collect(Duration::from_secs(30)).unwrap();
    assert!(matches!(r, slack_audit::runtime::Collected::Interrupted));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let t1 = Instant::now();
    c.shutdown(Duration::from_millis(500));
    assert!(t1.elapsed() < Duration::from_secs(2));
}

/// The state file is 0600, versioned, holds no token, and a second collector on the same
/// stream is refused.
#[test]
fn state_is_private_locked_and_token_free() {
    use std::os::unix::fs::PermissionsExt;
    let sim = sim(500, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let c1 = slack_audit::runtime::Collection::start(config(&sim, dir.path(), &[])).unwrap();
    let e = slack_audit::runtime::Collection::start(config(&sim, dir.path(), &[])).err().expect("second is refused");
    assert!(e.to_string().contains("in use"), "{e}");
    c1.shutdown(Duration::from_secs(1));
    drain(config(&sim, dir.path(), &[]), None, Duration::from_secs(30));
    let path = dir.path().join("audit.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"schema\":2"), "{text}");
    assert!(!text.contains(TOKEN));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

/// A run that resumes an older in-flight window does not stop when that window ends: it reads
/// on to its own start, so events that arrived in between are delivered by this run.
#[test]
fn a_resumed_run_reads_up_to_its_own_start() {
    let sim = sim(4_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&sim, dir.path(), &[("limit", "500")]);
    let mut all = drain(cfg(), Some(2), Duration::from_secs(60)).ids;
    // newer than the interrupted window's `latest`
    std::thread::sleep(Duration::from_millis(1_100));
    let now = now_unix();
    let fresh = sim.insert_events(&[now, now]);
    std::thread::sleep(Duration::from_millis(1_100));
    let second = drain(cfg(), None, Duration::from_secs(60)).ids;
    for id in &fresh {
        assert!(second.contains(id), "the resumed run stopped short of event {id}");
    }
    all.extend(second);
    assert_eq!(compare(&all, &sim.dataset()), 0);
}

/// Issue 12, defect 1: a cursor that expires while a poll re-reads the overlap (pages of
/// duplicates only) used to restart the walk from its top forever. The second `--once`-style
/// run must end, deliver nothing again, and the next one still find what is new.
#[test]
fn expired_cursors_in_the_overlap_re_read_end_with_progress() {
    let now = now_unix();
    let sim = sim(2_000, 0, |c| {
        c.end = now - 1;
        c.start = now - 1_200;
        c.p_invalid_cursor = 0.3;
        c.max_calls_per_minute = 0;
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&sim, dir.path(), &[("limit", "50"), ("since", "1h"), ("max_calls_per_minute", "1000")]);
    let first = drain(cfg(), None, Duration::from_secs(120));
    assert_eq!(first.error, None);
    assert_eq!(compare(&first.ids, &sim.dataset()), 0);
    std::thread::sleep(Duration::from_millis(1_100));
    let second = drain(cfg(), None, Duration::from_secs(120));
    assert_eq!(second.error, None);
    assert!(second.ids.is_empty(), "re-delivered {}", second.ids.len());
    let st = second.stats.unwrap();
    assert!(st.invalid_cursors > 0 && st.duplicates_dropped >= 900, "{st:?}");
    let fresh = sim.insert_events(&[now_unix() - 1]);
    std::thread::sleep(Duration::from_millis(1_100));
    let third = drain(cfg(), None, Duration::from_secs(120));
    assert_eq!(third.ids, fresh);
}

/// A collector reading the scripted server's one page (1600000000) from just before it.
fn scripted_config(server: &Scripted, state_dir: &std::path::Path) -> slack_audit::config::Config {
    slack_audit::config::Config::from_pairs([
        ("token", TOKEN),
        ("api_url", &format!("{}/audit/v1", server.url)),
        ("state_dir", state_dir.to_str().unwrap()),
        ("since", "1599999000"),
        ("lag", "0"),
    ])
    .unwrap()
}

/// Issue 12, defect 5: a 5xx is transient whatever its body says, even an error code
/// slack-audit does not know (it used to stop collection for good).
#[test]
fn a_5xx_with_an_unknown_code_is_retried() {
    let page = r#"{"entries":[{"id":"a1","date_create":1600000000,"action":"user_login"}],"response_metadata":{"next_cursor":""}}"#;
    let server = Scripted::start(vec![
        Reply::json(500, r#"{"ok":false,"error":"something_new_and_odd"}"#),
        Reply::json(503, r#"{"ok":false,"error":"invalid_auth"}"#),
        Reply::json(200, page),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = scripted_config(&server, dir.path());
    let d = drain(cfg, None, Duration::from_secs(30));
    assert_eq!(d.error, None);
    assert_eq!(d.ids, vec!["a1".to_string()]);
    assert_eq!(server.requests.lock().unwrap().len(), 3);
    assert_eq!(d.stats.unwrap().retries, 2);
}

/// Issue 12, item 10: a local clock running hours ahead never skips events. "Now" comes from
/// the simulator's `Date` header, so the checkpoint never moves into the future, and events
/// created after a skewed run are found by the next run, skewed or not.
#[test]
fn a_clock_running_hours_ahead_loses_nothing() {
    let sim = sim(3_000, 0, |c| c.max_calls_per_minute = 0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = || config(&sim, dir.path(), &[("limit", "1000")]);
    let ahead = 4 * 3600;
    let first = drain_skewed(cfg(), ahead, Duration::from_secs(60));
    assert_eq!(first.error, None);
    assert_eq!(compare(&first.ids, &sim.dataset()), 0);
    assert!(first.logs.iter().any(|l| l.contains("4h ahead of Slack")), "{:?}", first.logs);
    let st = slack_audit::store::state::peek(dir.path(), "audit", "audit").unwrap().unwrap();
    let checkpoint = st.checkpoint().unwrap();
    assert!(checkpoint <= now_unix(), "checkpoint {checkpoint} is in the future");

    let mut all = first.ids;
    for skew in [0, ahead, ahead] {
        std::thread::sleep(Duration::from_millis(1_100));
        let now = now_unix();
        let mut fresh = sim.insert_events(&[now - 1, now - 1, now]);
        std::thread::sleep(Duration::from_millis(1_100));
        let d = drain_skewed(cfg(), skew, Duration::from_secs(60));
        assert_eq!(d.error, None);
        let mut got = d.ids.clone();
        got.sort();
        fresh.sort();
        assert_eq!(got, fresh, "skew {skew}");
        all.extend(d.ids);
    }
    assert_eq!(compare(&all, &sim.dataset()), 0);
}
