//! `sources=access` and `sources=integration` against the simulator: change detection across
//! polls, restarts, paging and the Web API's errors.

mod common;

use common::*;
use slack_audit::config::{now_unix, Source};
use std::collections::HashMap;
use std::time::Duration;

type Row = (String, String, String, i64);

fn row_of(v: &serde_json::Value) -> Row {
    (
        v["user_id"].as_str().unwrap().to_string(),
        v["ip"].as_str().unwrap().to_string(),
        v["user_agent"].as_str().unwrap().to_string(),
        v["date_last"].as_i64().unwrap(),
    )
}

/// Asserts `got` holds each row of `want` exactly once and nothing else.
fn assert_rows(got: &[Row], want: &[Row]) {
    let mut counts: HashMap<&Row, usize> = HashMap::new();
    for r in got {
        *counts.entry(r).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dups.is_empty(), "repeated rows: {dups:?}");
    let missing: Vec<_> = want.iter().filter(|r| !counts.contains_key(r)).collect();
    assert!(missing.is_empty(), "{} rows missing, e.g. {:?}", missing.len(), missing.first());
    assert_eq!(got.len(), want.len(), "unexpected extra rows");
}

fn access_cfg(sim: &slack_audit_sim::Sim, dir: &std::path::Path) -> slack_audit::config::Config {
    config(sim, dir, &[("sources", "access"), ("limit", "40"), ("web_max_calls_per_minute", "1000")])
}

/// Access rows: every row once on the first poll; then exactly the moved and the new rows
/// (with their new `date_last` as event time); then nothing while nothing changes.
#[test]
fn access_rows_are_delivered_once_per_change() {
    let sim = sim(0, 0, |c| c.web_max_calls_per_minute = 0);
    let dir = tempfile::tempdir().unwrap();
    let first = drain_raw(access_cfg(&sim, dir.path()), None, Duration::from_secs(60));
    assert_eq!(first.error, None);
    let got: Vec<Row> = first.of(Source::Access).into_iter().map(row_of).collect();
    let before = sim.access_rows();
    assert_eq!(before.len(), 300);
    assert_rows(&got, &before);
    for (_, v, t) in &first.entries {
        assert_eq!(*t, v["date_last"].as_i64().unwrap(), "event time is date_last");
    }
    assert!(sim.stats().web_calls >= 8, "300 rows in pages of 40 need cursor paging");

    let now = now_unix();
    assert_eq!(sim.touch_access_rows(&[0, 17, 123], now), 3);
    sim.add_access_rows(4, now);
    std::thread::sleep(Duration::from_millis(1100));
    let second = drain_raw(access_cfg(&sim, dir.path()), None, Duration::from_secs(60));
    assert_eq!(second.error, None);
    let after = sim.access_rows();
    let changed: Vec<Row> = after.iter().filter(|r| !before.contains(r)).cloned().collect();
    assert_eq!(changed.len(), 7);
    let got: Vec<Row> = second.of(Source::Access).into_iter().map(row_of).collect();
    assert_rows(&got, &changed);

    std::thread::sleep(Duration::from_millis(1100));
    let third = drain_raw(access_cfg(&sim, dir.path()), None, Duration::from_secs(60));
    assert_eq!(third.error, None);
    assert!(third.entries.is_empty(), "unchanged rows re-delivered: {}", third.entries.len());
}

/// A walk stopped after two acknowledged pages resumes from the saved cursor: the union of
/// both runs is every row exactly once; the state file stays small (keys are hashes, and only
/// rows within `overlap` of the newest are kept).
#[test]
fn access_restart_mid_walk_repeats_nothing_and_state_is_bounded() {
    let sim = sim(0, 0, |c| {
        c.web_max_calls_per_minute = 0;
        c.access_rows = 2_000;
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        || config(&sim, dir.path(), &[("sources", "access"), ("limit", "300"), ("web_max_calls_per_minute", "1000")]);
    let a = drain_raw(cfg(), Some(2), Duration::from_secs(60));
    assert_eq!(a.entries.len(), 600);
    let b = drain_raw(cfg(), None, Duration::from_secs(60));
    let got: Vec<Row> = a.entries.iter().chain(&b.entries).map(|(_, v, _)| row_of(v)).collect();
    assert_rows(&got, &sim.access_rows());
    let text = std::fs::read_to_string(dir.path().join("access.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 2);
    let known = v["state"]["access"]["known"].as_object().unwrap().len();
    assert!(known < 100, "state keeps {known} rows (only rows within overlap of the newest)");
    assert!(!text.contains("Mozilla") && !text.contains(TOKEN), "no agents or token in the state");
}

/// Integration logs: all once, then exactly the new ones, then nothing; `date` (a string)
/// becomes the event time; a restart with the persisted state repeats nothing.
#[test]
fn integration_logs_are_delivered_exactly_once_across_polls_and_restarts() {
    let sim = sim(0, 0, |c| c.web_max_calls_per_minute = 0);
    let dir = tempfile::tempdir().unwrap();
    let cfg = || {
        config(&sim, dir.path(), &[("sources", "integration"), ("limit", "30"), ("web_max_calls_per_minute", "1000")])
    };
    let key = |v: &serde_json::Value| {
        let what = v["service_id"].as_str().or(v["app_id"].as_str()).unwrap_or("").to_string();
        (
            v["date"].as_str().unwrap().parse::<i64>().unwrap(),
            v["user_id"].as_str().unwrap().to_string(),
            v["change_type"].as_str().unwrap().to_string(),
            what,
        )
    };
    let first = drain_raw(cfg(), None, Duration::from_secs(60));
    assert_eq!(first.error, None);
    let mut got: Vec<_> = first.entries.iter().map(|(_, v, _)| key(v)).collect();
    for (_, v, t) in &first.entries {
        assert_eq!(v["date"].as_str().unwrap().parse::<i64>().unwrap(), *t, "event time is date");
    }
    let mut want = sim.integration_logs();
    assert_eq!(want.len(), 200);
    got.sort();
    want.sort();
    assert_eq!(got, want);

    let now = now_unix();
    sim.add_integration_logs(5, now);
    std::thread::sleep(Duration::from_millis(1100));
    let calls_before = sim.stats().web_calls;
    let second = drain_raw(cfg(), None, Duration::from_secs(60));
    assert_eq!(second.error, None);
    assert_eq!(second.entries.len(), 5, "only the new logs");
    assert!(second.entries.iter().all(|(_, _, t)| *t == now));
    assert_eq!(sim.stats().web_calls - calls_before, 1, "the walk stops at the first page reaching known logs");

    std::thread::sleep(Duration::from_millis(1100));
    let third = drain_raw(cfg(), None, Duration::from_secs(60));
    assert!(third.entries.is_empty(), "re-delivered {}", third.entries.len());
}

/// Web API `ok:false` errors stop collection after one call with a message naming what the
/// Web API needs (the `admin` scope, a paid plan), never the token.
#[test]
fn web_api_errors_are_permanent_and_actionable() {
    for (mode, expect) in
        [("missing_scope", "needed admin"), ("paid_only", "paid plan"), ("invalid_auth", "`admin` scope")]
    {
        let sim = sim(0, 0, |c| c.error_mode = Some(mode.into()));
        let dir = tempfile::tempdir().unwrap();
        let d = drain_raw(config(&sim, dir.path(), &[("sources", "access")]), None, Duration::from_secs(30));
        let err = d.error.unwrap_or_else(|| panic!("{mode}: no error"));
        assert!(err.contains(expect), "{mode}: {err}");
        assert!(!err.contains(TOKEN), "{mode}: token in message");
        assert_eq!(sim.stats().web_calls, 1, "{mode}: retried a permanent error");
    }
}

/// A Web API 429 with Retry-After is waited out and the same request repeated, with
/// `before` and `limit` on it.
#[test]
fn web_api_rate_limits_are_honoured() {
    let page = r#"{"ok":true,"logins":[{"user_id":"U1","username":"a","date_first":1600000000,"date_last":1600000100,"count":2,"ip":"192.0.2.1","user_agent":"ua","isp":"","country":"","region":""}],"paging":{"count":100,"total":1,"page":1,"pages":1},"response_metadata":{"next_cursor":""}}"#;
    let server = Scripted::start(vec![
        Reply {
            status: 429,
            headers: vec![("Retry-After".into(), "1".into())],
            body: r#"{"ok":false,"error":"ratelimited"}"#.into(),
        },
        Reply::json(200, page),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = slack_audit::config::Config::from_pairs([
        ("token", TOKEN),
        ("web_api_url", &format!("{}/api", server.url)),
        ("sources", "access"),
        ("state_dir", dir.path().to_str().unwrap()),
        ("limit", "100"),
    ])
    .unwrap();
    let d = drain_raw(cfg, None, Duration::from_secs(30));
    assert_eq!(d.error, None);
    assert_eq!(d.entries.len(), 1);
    assert_eq!(d.entries[0].2, 1_600_000_100);
    let reqs = server.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs[1].0 - reqs[0].0 >= Duration::from_millis(900), "retried too early");
    assert_eq!(reqs[0].1, reqs[1].1, "the same request is repeated");
    assert!(reqs[0].1.contains("/api/team.accessLogs?before=") && reqs[0].1.contains("&limit=100"), "{}", reqs[0].1);
    assert_eq!(d.stats.unwrap().rate_limited, 1);
}
