//! The simulator's Web API methods, its sim-only endpoints and its HTTP behaviour (gzip,
//! keep-alive) over real sockets.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use slack_audit_sim::{Sim, SimConfig};

fn config() -> SimConfig {
    SimConfig {
        events: 500,
        start: 1_600_000_000,
        end: 1_600_100_000,
        seed: 7,
        access_rows: 250,
        integration_logs: 120,
        ..SimConfig::default()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn web(a: &ureq::Agent, sim: &Sim, method: &str, query: &str, token: Option<&str>) -> (u16, Value, Option<String>) {
    let url = format!("{}/{method}?{query}", sim.web_url());
    let mut req = a.get(&url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap(), retry)
}

/// team.accessLogs: rows newest `date_last` first, classic paging with its 100-page cap, and
/// cursor paging that ends with an empty `next_cursor`.
#[test]
fn access_logs_paging() {
    let sim = Sim::start(config()).unwrap();
    let a = agent();
    let tok = Some(sim.token());
    let (status, v, _) = web(&a, &sim, "team.accessLogs", "count=100&page=1", tok);
    assert_eq!((status, v["ok"].as_bool()), (200, Some(true)), "{v}");
    let rows = v["logins"].as_array().unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(v["paging"]["total"], 250);
    assert_eq!(v["paging"]["pages"], 3);
    let lasts: Vec<i64> = rows.iter().map(|r| r["date_last"].as_i64().unwrap()).collect();
    assert!(lasts.windows(2).all(|w| w[0] >= w[1]));
    for key in ["user_id", "username", "ip", "user_agent", "isp", "country", "region"] {
        assert!(rows[0][key].is_string(), "{key}");
    }
    assert!(rows[0]["count"].is_u64() && rows[0]["date_first"].as_i64() <= rows[0]["date_last"].as_i64());
    let (_, v, _) = web(&a, &sim, "team.accessLogs", "count=100&page=3", tok);
    assert_eq!(v["logins"].as_array().unwrap().len(), 50);
    let (status, v, _) = web(&a, &sim, "team.accessLogs", "count=10&page=101", tok);
    assert_eq!((status, v["error"].as_str()), (200, Some("over_pagination_limit")));
    let (_, v, _) = web(&a, &sim, "team.accessLogs", "count=5000", tok);
    assert_eq!(v["error"], "invalid_arguments");

    let mut seen = HashSet::new();
    let mut cursor = String::new();
    loop {
        let q = if cursor.is_empty() {
            "limit=40".to_string()
        } else {
            format!("limit=40&cursor={}", cursor.replace('+', "%2B").replace('=', "%3D"))
        };
        let (_, v, _) = web(&a, &sim, "team.accessLogs", &q, tok);
        for r in v["logins"].as_array().unwrap() {
            assert!(seen.insert((r["user_id"].to_string(), r["ip"].to_string(), r["user_agent"].to_string())));
        }
        cursor = v["response_metadata"]["next_cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 250);
    let (_, v, _) = web(&a, &sim, "team.accessLogs", "cursor=bm9wZQ%3D%3D", tok);
    assert_eq!(v["error"], "invalid_cursor");
    // `before` is an inclusive bound.
    let (_, v, _) = web(&a, &sim, "team.accessLogs", "before=1600050000&count=1000", tok);
    let rows = v["logins"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() < 250);
    assert!(rows.iter().all(|r| r["date_first"].as_i64().unwrap() <= 1_600_050_000));
}

/// team.integrationLogs: `date` is a string, filters narrow the rows, paging counts them.
#[test]
fn integration_logs_basics() {
    let sim = Sim::start(config()).unwrap();
    let a = agent();
    let tok = Some(sim.token());
    let (status, v, _) = web(&a, &sim, "team.integrationLogs", "count=1000", tok);
    assert_eq!(status, 200);
    let logs = v["logs"].as_array().unwrap().clone();
    assert_eq!(logs.len(), 120);
    assert_eq!(v["paging"]["total"], 120);
    let dates: Vec<i64> = logs.iter().map(|l| l["date"].as_str().unwrap().parse().unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]));
    assert!(logs.iter().any(|l| l["app_id"].is_string()) && logs.iter().any(|l| l["service_id"].is_string()));
    let user = logs[0]["user_id"].as_str().unwrap();
    let (_, v, _) = web(&a, &sim, "team.integrationLogs", &format!("user={user}&change_type=added"), tok);
    let want = logs.iter().filter(|l| l["user_id"] == user && l["change_type"] == "added").count();
    assert_eq!(v["logs"].as_array().unwrap().len(), want);
    assert!(v["logs"].as_array().unwrap().iter().all(|l| l["user_id"] == user));
    let app = logs.iter().find(|l| l["app_id"].is_string()).unwrap()["app_id"].as_str().unwrap();
    let (_, v, _) = web(&a, &sim, "team.integrationLogs", &format!("app_id={app}"), tok);
    assert!(v["logs"].as_array().unwrap().iter().all(|l| l["app_id"] == app));
    let (_, v, _) = web(&a, &sim, "team.integrationLogs", "count=50&page=2", tok);
    assert_eq!(v["logs"].as_array().unwrap().len(), 50);
    assert_eq!(v["paging"]["page"], 2);
}

/// Web API errors: HTTP 200 with `ok:false` for auth and `paid_only`; 429 past the Tier 2 budget.
#[test]
fn web_errors_and_budget() {
    let sim = Sim::start(SimConfig { web_max_calls_per_minute: 3, ..config() }).unwrap();
    let a = agent();
    let (s1, v1, _) = web(&a, &sim, "team.accessLogs", "", None);
    let (s2, v2, _) = web(&a, &sim, "team.accessLogs", "", Some("xoxp-wrong"));
    assert_eq!((s1, v1["error"].as_str()), (200, Some("not_authed")));
    assert_eq!((s2, v2["error"].as_str()), (200, Some("invalid_auth")));
    sim.set_error_mode(Some("paid_only".into())).unwrap();
    let (s3, v3, _) = web(&a, &sim, "team.integrationLogs", "", Some(sim.token()));
    assert_eq!((s3, v3["ok"].as_bool(), v3["error"].as_str()), (200, Some(false), Some("paid_only")));
    let (s4, v4, retry) = web(&a, &sim, "team.accessLogs", "", Some(sim.token()));
    assert_eq!((s4, v4["error"].as_str()), (429, Some("ratelimited")));
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    let st = sim.stats();
    assert_eq!((st.web_calls, st.web_calls_429, st.calls), (4, 1, 0));
}

/// Sends one raw request on `s` and reads one response (headers + Content-Length body).
fn raw(s: &mut TcpStream, request: &str) -> (String, Vec<u8>) {
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed in headers");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// gzip when asked (and only then), keep-alive across requests, `Connection: close` honoured.
#[test]
fn gzip_and_keep_alive() {
    let sim = Sim::start(config()).unwrap();
    let mut s = TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = |extra: &str| {
        format!(
            "GET /audit/v1/logs?limit=50 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n{extra}\r\n",
            sim.token()
        )
    };
    let (head, body) = raw(&mut s, &req("Accept-Encoding: gzip\r\n"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-encoding: gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut plain).unwrap();
    let v: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 50);
    // Same connection, no gzip this time, then close.
    let (head, body) = raw(&mut s, &req("Connection: close\r\n"));
    assert!(!head.to_ascii_lowercase().contains("content-encoding"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 50);
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "server closes after Connection: close");
    assert_eq!(sim.stats().connections, 1);
}

/// `/sim/stats` and `/sim/dataset` agree with the Rust API.
#[test]
fn sim_endpoints_match_rust_api() {
    let sim = Sim::start(SimConfig { burst: vec![(1_600_000_500, 40)], ..config() }).unwrap();
    let a = agent();
    let mut r = a.get(&format!("{}/sim/dataset", sim.base_url())).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    let mut over_http: Vec<(String, i64)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["date_create"].as_i64().unwrap())
        })
        .collect();
    let mut api = sim.dataset();
    over_http.sort();
    api.sort();
    assert_eq!(over_http, api);
    assert_eq!(api.len(), 540);
    let mut r = a.get(&format!("{}/sim/stats", sim.base_url())).call().unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["entries"], 540);
    assert_eq!(v["calls"], 0);
    assert_eq!(sim.stats().entries, 540);
}

/// `run_cli` serves in the foreground and returns by itself once `duration` has passed.
#[test]
fn run_cli_stops_after_duration() {
    let t = std::time::Instant::now();
    slack_audit_sim::run_cli(config(), 0, Some(1)).unwrap();
    let el = t.elapsed();
    assert!(el >= Duration::from_secs(1) && el < Duration::from_secs(3), "{el:?}");
}

/// Idle keep-alive connections are closed by the server after `idle_timeout_ms`, and a pooling
/// client (ureq) notices and reconnects instead of failing.
#[test]
fn idle_connections_are_closed() {
    let sim = Sim::start(SimConfig { idle_timeout_ms: 150, ..config() }).unwrap();
    let a = agent();
    let tok = Some(sim.token());
    assert_eq!(web(&a, &sim, "team.accessLogs", "count=1", tok).0, 200);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(web(&a, &sim, "team.accessLogs", "count=1", tok).0, 200);
    assert_eq!(sim.stats().connections, 2, "the idle connection was closed");
}
