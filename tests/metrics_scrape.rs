//! `slack-audit run --metrics-listen`: /metrics scraped during a run against the simulator,
//! `slack-audit stats` reading it, and the loopback-only default.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// The value of the sample line starting with `series` (name plus labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn kill_term(child: &Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

#[test]
fn metrics_are_served_during_a_run_and_read_by_stats() {
    let sim = sim(3000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["run", "--lag", "0", "--limit", "200", "--interval", "1", "--stall-warning-after", "2"])
        .args(["--sources", "audit,access", "--metrics-listen", "127.0.0.1:0"])
        .args(["--api-url", &sim.audit_url(), "--web-api-url", &sim.web_url()])
        .arg("--state-dir")
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address is logged on stderr.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no metrics address logged");
        if let Some(rest) = line.split("metrics at http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    // Drain stdout and stderr so the collector never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });

    let audit = "{stream=\"audit\",source=\"audit\"}";
    let t0 = Instant::now();
    let body = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the run never reported all audit events as acknowledged and the audit stream as stalled"
        );
        let (head, body) = get(&addr, "/metrics");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("application/openmetrics-text"), "{head}");
        let acked = sample(&body, &format!("slack_audit_events_acked_total{audit}")).unwrap_or(0.0);
        // The audit stream's own alarm: the access stream (3 calls) may finish and stall first.
        let stalled = sample(&body, &format!("slack_audit_stream_stalled{audit}")).unwrap_or(0.0);
        if acked as usize == 3000 && stalled >= 1.0 {
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(sample(&body, &format!("slack_audit_events_total{audit}")), Some(3000.0));
    assert!(sample(&body, &format!("slack_audit_calls_total{audit}")).unwrap() >= 15.0, "{body}");
    let access = "{stream=\"access\",source=\"access\"}";
    assert!(sample(&body, &format!("slack_audit_calls_total{access}")).unwrap() >= 1.0, "{body}");
    // Caught up: the audit checkpoint is within a minute of now.
    let lag = sample(&body, &format!("slack_audit_checkpoint_lag_seconds{audit}")).unwrap();
    assert!(lag < 60.0, "lag {lag}\n{body}");
    assert_eq!(sample(&body, &format!("slack_audit_stream_stalled{audit}")), Some(1.0), "{body}");
    assert!(sample(&body, "slack_audit_stalled_streams").unwrap_or(0.0) >= 1.0, "{body}");
    for series in [
        "slack_audit_retries_total",
        "slack_audit_rate_limited_total",
        "slack_audit_duplicates_dropped_total",
        "slack_audit_budget_wait_seconds_total",
        "slack_audit_last_success_timestamp_seconds",
    ] {
        assert!(sample(&body, series).is_some(), "{series} missing:\n{body}");
    }
    let version = format!("slack_audit_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(body.contains(&version), "{body}");
    let (head, _) = get(&addr, "/nope");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // `slack-audit stats` reads the same endpoint.
    let stats =
        Command::new(env!("CARGO_BIN_EXE_slack-audit")).args(["stats", "--metrics-listen", &addr]).output().unwrap();
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "{}", String::from_utf8_lossy(&stats.stderr));
    let row = text.lines().find(|l| l.starts_with("audit ")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("3000") && row.contains("yes"), "{row}");

    kill_term(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let lines = reader.join().unwrap().split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(lines >= 3000, "{lines}");

    // Nobody answers any more: `stats` says so and fails.
    let stats =
        Command::new(env!("CARGO_BIN_EXE_slack-audit")).args(["stats", "--metrics-listen", &addr]).output().unwrap();
    assert_eq!(stats.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&stats.stderr).contains("--metrics-listen"));
}

#[test]
fn non_loopback_metrics_need_an_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["run", "--once", "--metrics-listen", "0.0.0.0:0"])
        .arg("--state-dir")
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-allow-remote"));
}
