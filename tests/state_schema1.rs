//! Existing users keep their checkpoints across the schema-2 state files: real schema-1 files
//! (written by the last schema-1 build, see tests/fixtures/state-schema1/make-fixtures.sh) are
//! loaded, resumed against the same simulator dataset, and rewritten as schema 2 once the host
//! acknowledged what it read. Nothing is read again from `since`, nothing is lost or repeated.

mod common;

use common::*;
use serde_json::Value;
use slack_audit::config::Source;
use slack_audit_sim::{Sim, SimConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const STREAMS: [&str; 3] = ["audit", "access", "integration"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-schema1")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The simulator the fixtures were written against (same seed, window, burst and rows).
fn fixture_sim() -> (Sim, Value) {
    let p = json(&fixtures().join("sim.json"));
    let n = |k: &str| p[k].as_i64().unwrap();
    let burst =
        p["burst"].as_array().unwrap().iter().map(|b| (b[0].as_i64().unwrap(), b[1].as_u64().unwrap() as usize));
    let sim = Sim::start(SimConfig {
        events: n("events") as usize,
        seed: n("seed") as u64,
        start: n("start"),
        end: n("end"),
        burst: burst.collect(),
        access_rows: n("access_rows") as usize,
        integration_logs: n("integration_logs") as usize,
        max_calls_per_minute: 0,
        web_max_calls_per_minute: 0,
        ..SimConfig::default()
    })
    .expect("start simulator");
    (sim, p)
}

/// A state_dir holding a copy of fixture set `set` (`done` or `inflight`).
fn state_dir(set: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for s in STREAMS {
        let from = fixtures().join(set).join(format!("{s}.json"));
        let text = std::fs::read_to_string(&from).unwrap();
        assert!(text.starts_with(r#"{"schema":1,"#), "{} is not a schema-1 file", from.display());
        std::fs::write(dir.path().join(format!("{s}.json")), text).unwrap();
    }
    dir
}

/// The options of the fixture's runs (`limit` as they had it: integration logs are paged by
/// page number, which only means the same rows with the same page size).
fn cfg(sim: &Sim, dir: &Path, p: &Value, limit: &str) -> slack_audit::config::Config {
    let since = p["since"].as_i64().unwrap().to_string();
    let overlap = p["overlap"].as_i64().unwrap().to_string();
    config(
        sim,
        dir,
        &[
            ("sources", "audit,access,integration"),
            ("since", &since),
            ("overlap", &overlap),
            ("limit", limit),
            ("web_max_calls_per_minute", "1000"),
        ],
    )
}

/// Every stream file is schema 2 now, tagged by its source, with the counters carried over.
fn assert_rewritten_as_schema_2(dir: &Path, set: &str) {
    for s in STREAMS {
        let old = json(&fixtures().join(set).join(format!("{s}.json")));
        let new = json(&dir.join(format!("{s}.json")));
        assert_eq!(new["schema"], 2, "{s}: {new}");
        assert_eq!(new["stream"], s);
        assert!(new["state"][s].is_object(), "{s}: not tagged by its source: {new}");
        assert!(new["state"].get("web").is_none() && new["state"].get("seen").is_none(), "{s}: {new}");
        let (was, now) =
            (old["state"]["delivered_total"].as_u64().unwrap(), new["state"]["delivered_total"].as_u64().unwrap());
        assert!(now >= was, "{s}: delivered_total went from {was} to {now}");
    }
}

/// Finished schema-1 streams: the next run reads only the overlap (audit) and down to the floor
/// (access, integration), delivers nothing, and drops exactly what the old files remembered.
#[test]
fn finished_schema_1_streams_keep_their_checkpoints() {
    let (sim, p) = fixture_sim();
    let dir = state_dir("done");
    let old: HashMap<&str, Value> =
        STREAMS.iter().map(|s| (*s, json(&fixtures().join(format!("done/{s}.json"))))).collect();
    let boundary_ids = old["audit"]["state"]["seen"].as_array().unwrap().len() as u64;
    let known_rows = ["access", "integration"]
        .iter()
        .map(|s| old[s]["state"]["web"]["known"].as_object().unwrap().len() as u64)
        .sum::<u64>();
    assert!(boundary_ids >= 60, "the fixture's overlap holds the 60-event burst: {boundary_ids}");

    let d = drain_raw(cfg(&sim, dir.path(), &p, "200"), None, Duration::from_secs(60));
    assert_eq!(d.error, None);
    assert!(d.entries.is_empty(), "{} entries read again: the checkpoints were not kept", d.entries.len());
    let st = d.stats.unwrap();
    // The re-read overlap and the rows above the floors are all known: every one is dropped.
    assert_eq!(st.duplicates_dropped, boundary_ids + known_rows);
    assert!(sim.stats().entries_served < 1_000, "read {} entries: a full re-read", sim.stats().entries_served);

    assert_rewritten_as_schema_2(dir.path(), "done");
    let audit = json(&dir.path().join("audit.json"));
    let was = old["audit"]["state"]["checkpoint"].as_i64().unwrap();
    assert!(audit["state"]["audit"]["checkpoint"].as_i64().unwrap() >= was);
    for s in ["access", "integration"] {
        let new = json(&dir.path().join(format!("{s}.json")));
        let floor = old[s]["state"]["web"]["floor"].as_i64().unwrap();
        assert!(new["state"][s]["floor"].as_i64().unwrap() >= floor, "{s}: floor moved back: {new}");
    }
}

/// Streams stopped mid-sequence and mid-walk: `state show` describes the migrated walks, then
/// the run finishes each where it stopped; with what the schema-1 run delivered, every audit
/// event, access row and integration log is delivered exactly once.
#[test]
fn in_flight_schema_1_streams_resume_and_lose_nothing() {
    let (sim, p) = fixture_sim();
    let dir = state_dir("inflight");
    let before: Value = json(&fixtures().join("inflight/delivered.json"));

    // `state show` reads the schema-1 files through the new code, per source, leaving them alone.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["state", "show", "--sources", "audit,access,integration", "--state-dir"])
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("in flight: window") && text.contains("cursor saved"), "{text}");
    assert_eq!(text.matches("walk in progress").count(), 2, "{text}");
    assert!(std::fs::read_to_string(dir.path().join("audit.json")).unwrap().starts_with(r#"{"schema":1,"#));

    let d = drain_raw(cfg(&sim, dir.path(), &p, "100"), None, Duration::from_secs(60));
    assert_eq!(d.error, None);

    // audit: the 200 delivered before plus the rest, each once
    let mut ids: Vec<String> =
        before["audit"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 200);
    ids.extend(d.of(Source::Audit).iter().map(|v| v["id"].as_str().unwrap().to_string()));
    assert_eq!(compare(&ids, &sim.dataset()), 0, "audit events repeated");

    // access rows
    let mut rows: Vec<(String, String, String, i64)> = before["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().into(),
                r[1].as_str().unwrap().into(),
                r[2].as_str().unwrap().into(),
                r[3].as_i64().unwrap(),
            )
        })
        .collect();
    rows.extend(d.of(Source::Access).iter().map(|v| {
        (
            v["user_id"].as_str().unwrap().into(),
            v["ip"].as_str().unwrap().into(),
            v["user_agent"].as_str().unwrap().into(),
            v["date_last"].as_i64().unwrap(),
        )
    }));
    let mut want = sim.access_rows();
    rows.sort();
    want.sort();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows, want, "access rows lost or repeated");

    // integration logs
    let mut logs: Vec<(i64, String, String, String)> = before["integration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                r[1].as_str().unwrap().into(),
                r[2].as_str().unwrap().into(),
                r[3].as_str().unwrap().into(),
            )
        })
        .collect();
    logs.extend(d.of(Source::Integration).iter().map(|v| {
        let what = v["service_id"].as_str().or(v["app_id"].as_str()).unwrap_or("").to_string();
        (
            v["date"].as_str().unwrap().parse().unwrap(),
            v["user_id"].as_str().unwrap().into(),
            v["change_type"].as_str().unwrap().into(),
            what,
        )
    }));
    let mut want = sim.integration_logs();
    logs.sort();
    want.sort();
    assert_eq!(logs.len(), 200);
    assert_eq!(logs, want, "integration logs lost or repeated");

    assert_rewritten_as_schema_2(dir.path(), "inflight");
}
