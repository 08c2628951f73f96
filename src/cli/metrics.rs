//! `run --metrics-listen ADDR`: `/metrics` in the Prometheus/OpenMetrics text format.
//!
//! Every value comes from the collection's [`Stats`] (the same counters as the C ABI's stats
//! JSON), copied into a fresh `prometheus-client` registry at each scrape, so there is one
//! source of truth and the exposition format (escaping, `_total`, `# EOF`) is the crate's.
//! Served by one std thread with a plain `TcpListener`: one GET endpoint scraped every few
//! seconds needs no HTTP framework, and an extra thread is nothing next to the collector's.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use slack_audit::error::Error;
use slack_audit::stats::Stats;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The content type of the OpenMetrics text format, which Prometheus scrapes natively.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

/// Checks the listen address: loopback unless the operator explicitly allowed others.
pub fn check_address(text: &str, allow_remote: bool) -> Result<SocketAddr, Error> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        Error::config(format!("--metrics-listen {text:?}: expected IP:PORT such as 127.0.0.1:9464 or [::1]:9464"))
    })?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(Error::config(format!(
            "--metrics-listen {addr}: not a loopback address; the metrics would be readable from the network. Add --metrics-allow-remote if that is intended"
        )));
    }
    Ok(addr)
}

/// Binds `addr` and serves `/metrics` from `stats` on a background thread for the life of the
/// process. Returns the bound address (port 0 picks a free one).
pub fn serve(addr: SocketAddr, stats: Arc<Mutex<Stats>>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("slack-audit-metrics".into()).spawn(move || {
        for conn in listener.incoming().flatten() {
            // One scrape at a time; a stuck client is dropped after the timeouts.
            let _ = answer(conn, &stats);
        }
    })?;
    Ok(bound)
}

fn answer(mut conn: TcpStream, stats: &Mutex<Stats>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // Read (and ignore) the headers, bounded.
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if reader.by_ref().take(8192).read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let snapshot = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            ("200 OK", CONTENT_TYPE, render(&snapshot, slack_audit::config::now_unix()))
        }
        ("GET" | "HEAD", "/") => ("200 OK", "text/plain", "slack-audit: metrics at /metrics\n".to_string()),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found; try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    if method != "HEAD" {
        conn.write_all(body.as_bytes())?;
    }
    conn.flush()
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn stream_label(name: &str, source: &str) -> Labels {
    vec![("stream".into(), name.into()), ("source".into(), source.into())]
}

/// The exposition of one stats snapshot at Unix second `now`.
pub fn render(s: &Stats, now: i64) -> String {
    let mut r = Registry::with_prefix("slack_audit");
    r.register(
        "build",
        "Version of the running slack-audit",
        Info::new(vec![("version".to_string(), env!("CARGO_PKG_VERSION").to_string())]),
    );

    let events = Family::<Labels, Counter>::default();
    let acked = Family::<Labels, Counter>::default();
    let calls = Family::<Labels, Counter>::default();
    let lag = Family::<Labels, Gauge>::default();
    let checkpoint = Family::<Labels, Gauge>::default();
    let stalled = Family::<Labels, Gauge>::default();
    for (name, st) in &s.streams {
        let l = stream_label(name, &st.source);
        events.get_or_create(&l).inc_by(st.events);
        acked.get_or_create(&l).inc_by(st.events_acked);
        calls.get_or_create(&l).inc_by(st.calls);
        if let Some(c) = st.checkpoint {
            checkpoint.get_or_create(&l).set(c);
            lag.get_or_create(&l).set((now - c).max(0));
        }
        stalled.get_or_create(&l).set(s.stalled_streams.iter().any(|x| x == name) as i64);
    }
    r.register("events", "Events handed to the output, per stream", events);
    r.register("events_acked", "Events written and acknowledged (checkpointed), per stream", acked);
    r.register("calls", "HTTP calls to Slack, retries included, per stream", calls);
    r.register(
        "checkpoint_lag_seconds",
        "Seconds between now and the point up to which the stream is durably delivered",
        lag,
    );
    r.register("checkpoint_timestamp_seconds", "Unix time up to which the stream is durably delivered", checkpoint);
    r.register(
        "stream_stalled",
        "1 when the stream delivered nothing for stall_warning_after (the no-data alarm)",
        stalled,
    );
    gauge(&mut r, "stalled_streams", "Streams currently stalled", s.stalled_streams.len() as i64);

    counter(&mut r, "pages", "Pages received and accepted", s.pages);
    counter(&mut r, "retries", "Repeated requests after 5xx, resets, timeouts, bad bodies and 429s", s.retries);
    counter(&mut r, "rate_limited", "HTTP 429 answers from Slack", s.rate_limited);
    counter(
        &mut r,
        "duplicates_dropped",
        "Entries dropped as already delivered (boundary and overlap re-reads)",
        s.duplicates_dropped,
    );
    counter(&mut r, "invalid_cursors", "Expired cursors that restarted a sequence", s.invalid_cursors);
    counter(&mut r, "excluded", "Entries dropped by exclude_actions", s.excluded);
    counter(&mut r, "sequences", "Sequences (time windows) finished", s.sequences);
    let waits: Counter<f64, AtomicU64> = Counter::default();
    waits.inc_by(s.budget_waits_ms as f64 / 1000.0);
    r.register("budget_wait_seconds", "Time spent waiting for the org-wide rate budget", waits);
    gauge(&mut r, "batches_pending", "Batches handed over and not yet acknowledged", s.batches_pending as i64);
    gauge(&mut r, "caught_up", "1 when every stream has caught up with now", s.caught_up as i64);
    gauge(
        &mut r,
        "last_success_timestamp_seconds",
        "Unix time of the last page received from Slack (0: none yet)",
        s.last_success.unwrap_or(0),
    );
    gauge(
        &mut r,
        "last_error",
        "1 when the last attempt failed (the message is in the logs)",
        s.last_error.is_some() as i64,
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_audit::stats::StreamStats;

    #[test]
    fn exposition_has_per_stream_lag_and_totals() {
        let mut s = Stats { calls: 9, retries: 2, rate_limited: 1, budget_waits_ms: 1500, ..Stats::default() };
        s.streams.insert(
            "audit-all".into(),
            StreamStats { source: "audit".into(), calls: 9, events: 40, events_acked: 30, checkpoint: Some(1000) },
        );
        s.stalled_streams = vec!["audit-all".into()];
        let text = render(&s, 1060);
        for line in [
            "slack_audit_events_total{stream=\"audit-all\",source=\"audit\"} 40",
            "slack_audit_events_acked_total{stream=\"audit-all\",source=\"audit\"} 30",
            "slack_audit_checkpoint_lag_seconds{stream=\"audit-all\",source=\"audit\"} 60",
            "slack_audit_stream_stalled{stream=\"audit-all\",source=\"audit\"} 1",
            "slack_audit_rate_limited_total 1",
            "slack_audit_budget_wait_seconds_total 1.5",
            "slack_audit_build_info{version=\"",
            "# EOF",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn remote_addresses_need_the_explicit_flag() {
        assert!(check_address("127.0.0.1:9464", false).is_ok());
        assert!(check_address("[::1]:9464", false).is_ok());
        let e = check_address("0.0.0.0:9464", false).unwrap_err();
        assert!(e.message().contains("--metrics-allow-remote"), "{e}");
        assert!(check_address("0.0.0.0:9464", true).is_ok());
        assert!(check_address("localhost", false).unwrap_err().message().contains("IP:PORT"));
    }
}
