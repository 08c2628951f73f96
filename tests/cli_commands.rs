//! The rest of the command line: `check`, `actions`, `schemas`, `state`, `validate`, JSON logs.
//! The command of `logstash-example.conf` run the way Logstash's pipe input runs it (exec'd
//! directly, codec json, SIGKILL + close, restart) is in tests/logstash_pipe.rs.

mod common;

use common::*;
use std::process::{Command, Stdio};

fn cli(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    c.args(args).env("SLACK_AUDIT_TOKEN", TOKEN).stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `check` tells apart every failure a user can hit, each with what to do and its exit code.
#[test]
fn check_names_each_failure_and_what_to_do() {
    let good = sim(10, 0, |_| {});
    let (code, out, _) = run(cli(&["check", "--api-url", &good.audit_url()]));
    assert_eq!(code, 0);
    assert!(out.contains("ok:"), "{out}");

    for (mode, want) in [
        ("invalid_auth", "rejected the token"),
        ("missing_scope", "auditlogs:read"),
        ("feature_not_enabled", "Enterprise"),
        ("team_not_authorized", "organization"),
    ] {
        let s = sim(10, 0, |c| c.error_mode = Some(mode.into()));
        let (code, _, err) = run(cli(&["check", "--api-url", &s.audit_url()]));
        assert_eq!(code, 4, "{mode}: {err}");
        assert!(err.contains(want) && err.contains(mode), "{mode}: {err}");
        assert!(!err.contains(TOKEN));
    }

    let (code, _, err) = run({
        let mut c = cli(&["check", "--api-url", &good.audit_url()]);
        c.env_remove("SLACK_AUDIT_TOKEN");
        c
    });
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("token missing") && err.contains("SLACK_AUDIT_TOKEN"), "{err}");

    // nothing listens on this port
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, _, err) = run(cli(&["check", "--api-url", &format!("http://127.0.0.1:{port}/audit/v1")]));
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("unreachable"), "{err}");

    let s = sim(10, 0, |c| c.p_5xx = 1.0);
    let (code, _, err) = run(cli(&["check", "--api-url", &s.audit_url()]));
    assert_eq!(code, 75, "{err}");
}

/// `actions` and `schemas` print Slack's catalogs without a token; `check` flags unknown names.
#[test]
fn catalogs_and_unknown_action_names() {
    let s = sim(10, 0, |_| {});
    let (code, out, err) = run({
        let mut c = cli(&["actions", "--api-url", &s.audit_url()]);
        c.env_remove("SLACK_AUDIT_TOKEN");
        c
    });
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["actions"]["user"].as_array().is_some_and(|a| !a.is_empty()), "{out}");
    let (code, out, _) = run(cli(&["schemas", "--api-url", &s.audit_url()]));
    assert_eq!(code, 0);
    assert!(out.contains("schemas"));
    let (code, _, err) = run(cli(&["check", "--api-url", &s.audit_url(), "--actions", "user_login,user_loggin"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("user_loggin") && !err.contains("user_login,"), "{err}");
}

/// `state show`, `state set` and `state reset` (which need --yes), refused while a run holds the lock.
#[test]
fn state_show_set_reset() {
    let s = sim(2_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let base = ["--api-url", &s.audit_url(), "--state-dir", state, "--lag", "0"];
    let (code, out, _) = run(cli(&[&["state", "show"][..], &base].concat()));
    assert_eq!(code, 0);
    assert!(out.contains("no state yet"), "{out}");
    let (code, out, _) = run(cli(&[&["run", "--once"][..], &base].concat()));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2_000);
    let (_, out, _) = run(cli(&[&["state", "show"][..], &base].concat()));
    assert!(out.contains("checkpoint: 1") && out.contains("delivered: 2000 events"), "{out}");

    let (code, _, err) = run(cli(&[&["state", "reset"][..], &base].concat()));
    assert_eq!(code, 2);
    assert!(err.contains("--yes"), "{err}");
    let (code, _, _) = run(cli(&[&["state", "reset", "--yes"][..], &base].concat()));
    assert_eq!(code, 0);
    let (code, out, _) = run(cli(&[&["run", "--once"][..], &base].concat()));
    assert_eq!((code, out.lines().count()), (0, 2_000), "after reset everything is read again");

    // move the checkpoint to 30 minutes ago: the dataset ends 1 hour ago, so nothing is re-read
    let (code, _, err) = run(cli(&[&["state", "set", "--checkpoint", "30m", "--yes"][..], &base].concat()));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(cli(&[&["run", "--once", "--overlap", "0"][..], &base].concat()));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 0, "nothing lies in the last 30 minutes");
}

/// Issue 12, defect 7: `state show` and `state set` are right for access and integration streams
/// (`set` used to clear their floor, so the next run read everything again from `since`).
#[test]
fn state_show_and_set_for_access_and_integration_streams() {
    let s = sim(0, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let (audit, web) = (s.audit_url(), s.web_url());
    let base = [
        "--api-url",
        &audit,
        "--web-api-url",
        &web,
        "--sources",
        "access,integration",
        "--state-dir",
        state,
        "--lag",
        "0",
        "--since",
        "30d",
        "--web-max-calls-per-minute",
        "1000",
    ];
    let (code, out, err) = run(cli(&[&["run", "--once"][..], &base].concat()));
    assert_eq!(code, 0, "{err}");
    let all = out.lines().count();
    assert_eq!(all, s.access_rows().len() + s.integration_logs().len());
    let (_, out, _) = run(cli(&[&["state", "show"][..], &base].concat()));
    assert!(out.contains("stream access") && out.contains("stream integration"), "{out}");
    assert!(!out.contains("none yet"), "{out}");
    assert!(out.contains(&format!("delivered: {} rows", s.access_rows().len())), "{out}");

    // the data ends an hour ago: a checkpoint 30 minutes ago leaves nothing to read
    let (code, _, err) = run(cli(&[&["state", "set", "--checkpoint", "30m", "--yes"][..], &base].concat()));
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(cli(&[&["state", "show"][..], &base].concat()));
    assert_eq!(out.matches("(rows dated before it are not delivered again)").count(), 2, "{out}");
    let (code, out, err) = run(cli(&[&["run", "--once", "--overlap", "0"][..], &base].concat()));
    assert_eq!((code, out.lines().count()), (0, 0), "{out}");
    assert!(!err.contains(" 0 calls"), "the run must walk again after `state set`: {err}");
    // and moved back before the data, every row is delivered again
    let (code, _, _) = run(cli(&[&["state", "set", "--checkpoint", "20d", "--yes"][..], &base].concat()));
    assert_eq!(code, 0);
    let (code, out, _) = run(cli(&[&["run", "--once"][..], &base].concat()));
    assert_eq!((code, out.lines().count()), (0, all));
}

/// Issue 12, item 11: a changed filter starts a new stream; the run says so once, naming the
/// stream file it leaves behind, and `state show` lists every stream file with its filter.
#[test]
fn a_changed_filter_names_the_stream_left_behind() {
    let s = sim(500, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let audit = s.audit_url();
    let base = ["--api-url", &audit, "--state-dir", state, "--lag", "0"];
    let (code, _, err) = run(cli(&[&["run", "--once", "--actions", "user_login"][..], &base].concat()));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("does not read"), "nothing is left behind yet: {err}");
    let (code, _, err) = run(cli(&[&["run", "--once", "--actions", "file_downloaded"][..], &base].concat()));
    assert_eq!(code, 0, "{err}");
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("does not read")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(
        notes[0].contains("new stream")
            && notes[0].contains("action=file_downloaded")
            && notes[0].contains("action=user_login"),
        "{}",
        notes[0]
    );
    let (_, out, _) = run(cli(&[&["state", "show", "--actions", "file_downloaded"][..], &base].concat()));
    assert!(out.contains("(audit action=file_downloaded)"), "{out}");
    assert!(out.contains("(audit action=user_login)") && out.contains("not read by this configuration"), "{out}");
}

/// `--log-format json` writes one JSON object per stderr line, and nothing but entries on stdout.
#[test]
fn json_logs_on_stderr() {
    let s = sim(300, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(cli(&[
        "run",
        "--once",
        "--log-format",
        "json",
        "--api-url",
        &s.audit_url(),
        "--state-dir",
        dir.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 300);
    for line in err.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["msg"].is_string(), "{line}");
    }
    assert!(err.lines().any(|l| l.contains("\"msg\":\"done\"") && l.contains("\"events_acked\":300")), "{err}");
}
