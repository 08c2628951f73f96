//! `slack-audit state show --json`: the checkpoints as one JSON object for scripts.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

fn show(sim: &slack_audit_sim::Sim, dir: &std::path::Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["state", "show", "--json", "--api-url", &sim.audit_url()])
        .arg("--state-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn state_show_json_reports_each_stream_before_and_after_a_run() {
    let sim = sim(500, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let before = show(&sim, dir.path());
    let s = &before["streams"][0];
    assert_eq!(s["name"], "audit");
    assert!(s["state"].is_null(), "{before}");
    assert!(s["first_run_reads_from"]["unix"].is_i64(), "{before}");

    let run = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["run", "--once", "--lag", "0", "--api-url", &sim.audit_url()])
        .arg("--state-dir")
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // A state file of another configuration in the same directory is listed, not mistaken.
    std::fs::write(dir.path().join("audit-0123456789abcdef.json"), "{}").unwrap();

    let after = show(&sim, dir.path());
    let s = &after["streams"][0];
    assert_eq!(s["state"]["delivered_total"], 500, "{after}");
    let checkpoint = s["state"]["checkpoint"]["unix"].as_i64().unwrap();
    let now = after["now"]["unix"].as_i64().unwrap();
    assert_eq!(s["lag_seconds"].as_i64().unwrap(), now - checkpoint);
    assert!(s["state"]["checkpoint"]["rfc3339"].as_str().unwrap().ends_with('Z'));
    assert_eq!(after["other_state_files"], serde_json::json!(["audit-0123456789abcdef.json"]));
}
