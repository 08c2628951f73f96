//! The simulator's Audit Logs API, exercised over real HTTP with ureq.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use slack_audit_sim::{Sim, SimConfig};

const START: i64 = 1_600_000_000;
const END: i64 = START + 100_000;

fn config(events: usize) -> SimConfig {
    SimConfig { events, start: START, end: END, seed: 42, max_calls_per_minute: 0, ..SimConfig::default() }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// GET `<audit>/logs` with the sim's token and the given (already final) query string.
fn logs_raw(a: &ureq::Agent, sim: &Sim, query: &str) -> Reply {
    let url = format!("{}/logs?{query}", sim.audit_url());
    let mut r = a.get(&url).header("Authorization", &format!("Bearer {}", sim.token())).call().expect("request");
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().with_config().limit(64 << 20).read_to_string().expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:.200}"));
    Reply { status, retry_after, body }
}

fn logs(a: &ureq::Agent, sim: &Sim, params: &[(&str, String)]) -> Reply {
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    logs_raw(a, sim, &q.join("&"))
}

fn entries(r: &Reply) -> Vec<(String, i64)> {
    r.body["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {}", r.body))
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_string(), e["date_create"].as_i64().unwrap()))
        .collect()
}

fn next_cursor(r: &Reply) -> String {
    r.body["response_metadata"]["next_cursor"].as_str().expect("next_cursor always present").to_string()
}

fn window(sim: &Sim, oldest: i64, latest: i64) -> HashSet<String> {
    sim.dataset().into_iter().filter(|(_, d)| (oldest..=latest).contains(d)).map(|(id, _)| id).collect()
}

/// Walks a whole sequence, resending `params` on every page; returns every entry.
fn walk(a: &ureq::Agent, sim: &Sim, params: &[(&str, String)]) -> (Vec<(String, i64)>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let mut p = params.to_vec();
        if !cursor.is_empty() {
            p.push(("cursor", cursor.clone()));
        }
        let r = logs(a, sim, &p);
        assert_eq!(r.status, 200, "{}", r.body);
        all.extend(entries(&r));
        pages += 1;
        cursor = next_cursor(&r);
        if cursor.is_empty() {
            return (all, pages);
        }
    }
}

/// Entries come newest first, and both `oldest` and `latest` are inclusive.
#[test]
fn newest_first_and_inclusive_bounds() {
    let sim = Sim::start(config(3000)).unwrap();
    let a = agent();
    let mut dates: Vec<i64> = sim.dataset().iter().map(|d| d.1).collect();
    dates.sort();
    let (oldest, latest) = (dates[1000], dates[2000]);
    let r = logs(&a, &sim, &[("oldest", oldest.to_string()), ("latest", latest.to_string()), ("limit", "9999".into())]);
    assert_eq!(r.status, 200);
    let got = entries(&r);
    assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "not newest first");
    assert_eq!(got.first().unwrap().1, latest, "latest is inclusive");
    assert_eq!(got.last().unwrap().1, oldest, "oldest is inclusive");
    let ids: HashSet<String> = got.iter().map(|e| e.0.clone()).collect();
    assert_eq!(ids, window(&sim, oldest, latest));
    assert_eq!(next_cursor(&r), "", "last page ends with an empty cursor");
    // A full page is exactly `limit` long.
    let r = logs(&a, &sim, &[("limit", "7".into())]);
    assert_eq!(entries(&r).len(), 7);
    assert!(!next_cursor(&r).is_empty());
}

/// A cursor walk that resends the whole query returns every entry of the window exactly once.
#[test]
fn cursor_walk_with_full_query_returns_each_entry_once() {
    let sim = Sim::start(config(3000)).unwrap();
    let a = agent();
    let (oldest, latest) = (START + 20_000, START + 80_000);
    let params = [("oldest", oldest.to_string()), ("latest", latest.to_string()), ("limit", "37".into())];
    let (all, pages) = walk(&a, &sim, &params);
    let ids: HashSet<String> = all.iter().map(|e| e.0.clone()).collect();
    assert_eq!(ids.len(), all.len(), "duplicates in the walk");
    assert_eq!(ids, window(&sim, oldest, latest));
    assert!(all.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(pages, all.len().div_ceil(37));
    let st = sim.stats();
    assert_eq!(st.incomplete_cursor_queries, 0);
    assert_eq!(st.cursor_requests as usize, pages - 1);
}

/// Cursors are standard base64 with `+`, `/` and `=`, and carry no query: a page-2 request
/// without the bounds runs back through history and is counted as incomplete.
#[test]
fn cursor_forgets_the_query() {
    let sim = Sim::start(config(3000)).unwrap();
    let a = agent();
    let mut dates: Vec<i64> = sim.dataset().iter().map(|d| d.1).collect();
    dates.sort();
    // A window of 15 entries, pages of 10.
    let (oldest, latest) = (dates[1500], dates[1514]);
    let first =
        logs(&a, &sim, &[("oldest", oldest.to_string()), ("latest", latest.to_string()), ("limit", "10".into())]);
    let cursor = next_cursor(&first);
    assert!(cursor.contains('+') && cursor.contains('/') && cursor.ends_with('='), "{cursor}");
    let second = logs(&a, &sim, &[("limit", "10".into()), ("cursor", cursor)]);
    assert_eq!(second.status, 200);
    let got = entries(&second);
    assert_eq!(got.len(), 10, "a forgetful client gets a full page of history");
    assert!(got.iter().any(|e| e.1 < oldest), "entries older than the window");
    assert_eq!(sim.stats().incomplete_cursor_queries, 1);
}

/// A cursor whose `+` was not percent-encoded decodes as a space: `invalid_cursor`.
#[test]
fn unencoded_plus_in_cursor_is_invalid() {
    let sim = Sim::start(config(500)).unwrap();
    let a = agent();
    let r = logs(&a, &sim, &[("limit", "10".into())]);
    let cursor = next_cursor(&r);
    assert!(cursor.contains('+'));
    let bad = logs_raw(&a, &sim, &format!("limit=10&cursor={cursor}"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"], "invalid_cursor");
    let good = logs_raw(&a, &sim, &format!("limit=10&cursor={}", enc(&cursor)));
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(sim.stats().invalid_cursors, 1);
}

/// Expired cursors (by `expire_cursors` or `cursor_ttl`) answer 400 `invalid_cursor`.
#[test]
fn expired_cursors_are_invalid() {
    let sim = Sim::start(config(500)).unwrap();
    let a = agent();
    let c1 = next_cursor(&logs(&a, &sim, &[("limit", "10".into())]));
    sim.expire_cursors();
    let r = logs(&a, &sim, &[("limit", "10".into()), ("cursor", c1)]);
    assert_eq!((r.status, r.body["error"].as_str()), (400, Some("invalid_cursor")));
    // Cursors issued after the expiry work.
    let c2 = next_cursor(&logs(&a, &sim, &[("limit", "10".into())]));
    assert_eq!(logs(&a, &sim, &[("limit", "10".into()), ("cursor", c2.clone())]).status, 200);
    sim.set_cursor_expiry(0.0, Some(0));
    std::thread::sleep(Duration::from_millis(20));
    let r = logs(&a, &sim, &[("limit", "10".into()), ("cursor", c2)]);
    assert_eq!(r.body["error"], "invalid_cursor");
    sim.set_cursor_expiry(1.0, None);
    let c3 = next_cursor(&logs(&a, &sim, &[("limit", "10".into())]));
    assert_eq!(logs(&a, &sim, &[("limit", "10".into()), ("cursor", c3)]).status, 400);
    assert_eq!(sim.stats().invalid_cursors, 3);
}

/// Over the org-wide budget: 429, a sane `Retry-After`, `ratelimited`; rejected calls count.
#[test]
fn rate_limit_answers_429_with_retry_after() {
    let sim = Sim::start(SimConfig { max_calls_per_minute: 5, ..config(100) }).unwrap();
    let a = agent();
    let statuses: Vec<Reply> = (0..7).map(|_| logs(&a, &sim, &[("limit", "5".into())])).collect();
    assert!(statuses[..5].iter().all(|r| r.status == 200));
    for r in &statuses[5..] {
        assert_eq!(r.status, 429);
        assert_eq!(r.body["error"], "ratelimited");
        let secs: u64 = r.retry_after.as_deref().expect("Retry-After").parse().unwrap();
        assert!((55..=60).contains(&secs), "Retry-After {secs}");
    }
    let st = sim.stats();
    assert_eq!((st.calls, st.calls_429, st.max_calls_in_any_60s), (7, 2, 7));
    // Lifting the limit lets calls through again.
    sim.set_rate_limits(0, 20);
    assert_eq!(logs(&a, &sim, &[]).status, 200);
}

/// Missing/wrong tokens and every `error_mode` give their Slack error body and a 4xx.
#[test]
fn auth_and_error_modes() {
    let sim = Sim::start(config(100)).unwrap();
    let a = agent();
    let url = format!("{}/logs", sim.audit_url());
    let mut r = a.get(&url).call().unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"], "missing_authentication");
    let mut r = a.get(&url).header("Authorization", "Bearer xoxp-wrong").call().unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"], "invalid_authentication");
    assert_eq!(sim.stats().auth_failures, 2);

    for (mode, status, code) in [
        ("invalid_auth", 401, "invalid_auth"),
        ("missing_scope", 403, "missing_scope"),
        ("feature_not_enabled", 403, "feature_not_enabled"),
        ("team_not_authorized", 403, "team_not_authorized"),
        ("user_not_authorized", 403, "user_not_authorized"),
        ("invalid_workspace", 400, "invalid_workspace"),
    ] {
        sim.set_error_mode(Some(mode.to_string())).unwrap();
        let r = logs(&a, &sim, &[]);
        assert_eq!((r.status, r.body["ok"].as_bool()), (status, Some(false)), "{mode}");
        assert_eq!(r.body["error"], code);
        if mode == "missing_scope" {
            assert_eq!(r.body["needed"], "auditlogs:read");
            assert!(r.body["provided"].is_string());
        }
    }
    assert!(sim.set_error_mode(Some("nonsense".into())).is_err());
    sim.set_error_mode(None).unwrap();
    assert_eq!(logs(&a, &sim, &[]).status, 200);
    assert_eq!(sim.stats().permanent_errors, 6);
}

/// `limit` outside 1..=9999, non-integer times and more than 30 actions are `invalid_arguments`.
#[test]
fn bad_arguments_are_rejected() {
    let sim = Sim::start(config(100)).unwrap();
    let a = agent();
    let too_many: Vec<String> = (0..31).map(|i| format!("a{i}")).collect();
    for q in [
        "limit=10000".to_string(),
        "limit=0".into(),
        "limit=1.7e9".into(),
        "oldest=1.7e9".into(),
        "latest=abc".into(),
        format!("action={}", too_many.join(",")),
    ] {
        let r = logs_raw(&a, &sim, &q);
        assert_eq!((r.status, r.body["error"].as_str()), (400, Some("invalid_arguments")), "{q}");
    }
    assert_eq!(logs_raw(&a, &sim, "limit=9999").status, 200);
    assert_eq!(sim.stats().invalid_arguments, 6);
}

/// Injected faults: a truncated body is an error for the client, a reset fails the call, 5xx
/// and garbage bodies arrive as such; each is counted.
#[test]
fn faults_on_demand() {
    let sim = Sim::start(config(500)).unwrap();
    let a = agent();
    let url = format!("{}/logs?limit=200", sim.audit_url());
    let auth = format!("Bearer {}", sim.token());

    sim.set_fault_rates(0.0, 0.0, 1.0, 0.0);
    let read = a.get(&url).header("Authorization", &auth).call().and_then(|mut r| r.body_mut().read_to_string());
    assert!(read.is_err(), "a truncated body must not read as complete");

    sim.set_fault_rates(0.0, 1.0, 0.0, 0.0);
    assert!(a.get(&url).header("Authorization", &auth).call().is_err());

    sim.set_fault_rates(1.0, 0.0, 0.0, 0.0);
    let r = a.get(&url).header("Authorization", &auth).call().unwrap();
    assert!(r.status().is_server_error());

    sim.set_fault_rates(0.0, 0.0, 0.0, 1.0);
    let mut r = a.get(&url).header("Authorization", &auth).call().unwrap();
    assert_eq!(r.status(), 200);
    let text = r.body_mut().read_to_string().unwrap_or_default();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    sim.set_fault_rates(0.0, 0.0, 0.0, 0.0);
    let mut r = a.get(&url).header("Authorization", &auth).call().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 200);

    let st = sim.stats();
    assert_eq!((st.faults_truncate, st.faults_reset, st.faults_5xx, st.faults_garbage), (1, 1, 1, 1));
}

/// One second holding more entries than a page is paged completely, within that second.
#[test]
fn burst_second_is_fully_paged() {
    const T: i64 = START + 50_000;
    let sim = Sim::start(SimConfig { burst: vec![(T, 25_000)], gzip: false, ..config(200) }).unwrap();
    let a = agent();
    let (all, pages) =
        walk(&a, &sim, &[("oldest", T.to_string()), ("latest", T.to_string()), ("limit", "9999".into())]);
    let ids: HashSet<String> = all.iter().map(|e| e.0.clone()).collect();
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), all.len());
    assert_eq!(ids, window(&sim, T, T));
    assert!(ids.len() >= 25_000);
}

/// `action`, `actor` and `entity` filter exactly (AND), also across pages.
#[test]
fn filters_combine_with_and() {
    let sim = Sim::start(SimConfig { gzip: false, ..config(3000) }).unwrap();
    let a = agent();
    let all: Vec<Value> = logs(&a, &sim, &[("limit", "9999".into())]).body["entries"].as_array().unwrap().clone();
    assert_eq!(all.len(), 3000);
    let entity_id = |e: &Value| {
        let t = e["entity"]["type"].as_str().unwrap();
        e["entity"][t]["id"].as_str().map(String::from)
    };
    let busy = all.iter().find(|e| e["action"] == "user_login" && e["actor"]["user"]["id"] != "USLACKUSER").unwrap();
    let actor = busy["actor"]["user"]["id"].as_str().unwrap().to_string();
    let file = all.iter().find(|e| e["entity"]["type"] == "file").unwrap();
    let file_id = entity_id(file).unwrap();

    let check = |params: &[(&str, String)], keep: &dyn Fn(&Value) -> bool| {
        let want: Vec<String> = all.iter().filter(|e| keep(e)).map(|e| e["id"].as_str().unwrap().to_string()).collect();
        let mut p = params.to_vec();
        p.push(("limit", "3".into()));
        let (got, _) = walk(&a, &sim, &p);
        let got: Vec<String> = got.into_iter().map(|e| e.0).collect();
        assert!(!want.is_empty(), "{params:?} matches nothing");
        assert_eq!(got, want, "{params:?}");
    };
    check(&[("action", "user_login,file_downloaded".into())], &|e| {
        e["action"] == "user_login" || e["action"] == "file_downloaded"
    });
    check(&[("actor", actor.clone())], &|e| e["actor"]["user"]["id"] == actor.as_str());
    check(&[("entity", file_id.clone())], &|e| entity_id(e).as_deref() == Some(&file_id));
    check(&[("actor", actor.clone()), ("action", "user_login".into())], &|e| {
        e["actor"]["user"]["id"] == actor.as_str() && e["action"] == "user_login"
    });
    assert_eq!(sim.stats().incomplete_cursor_queries, 0);
}

/// With `short_pages`, some pages hold fewer than `limit` entries but still carry a cursor, and
/// a client that keeps going until the cursor is empty still gets every entry once.
#[test]
fn short_pages_do_not_end_a_sequence() {
    let sim = Sim::start(SimConfig { short_pages: true, ..config(2000) }).unwrap();
    let a = agent();
    let mut cursor = String::new();
    let mut all = Vec::new();
    let mut short_with_cursor = 0;
    loop {
        let mut p = vec![("limit", "50".to_string())];
        if !cursor.is_empty() {
            p.push(("cursor", cursor.clone()));
        }
        let r = logs(&a, &sim, &p);
        let got = entries(&r);
        cursor = next_cursor(&r);
        if got.len() < 50 && !cursor.is_empty() {
            short_with_cursor += 1;
        }
        all.extend(got);
        if cursor.is_empty() {
            break;
        }
    }
    assert!(short_with_cursor > 0);
    assert_eq!(sim.stats().short_pages, short_with_cursor);
    let ids: HashSet<String> = all.iter().map(|e| e.0.clone()).collect();
    assert_eq!((ids.len(), all.len()), (2000, 2000));
}

/// `/schemas` and `/actions` answer without a token and list real action names.
#[test]
fn schemas_and_actions() {
    let sim = Sim::start(config(10)).unwrap();
    let a = agent();
    let mut r = a.get(&format!("{}/actions", sim.audit_url())).call().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    for (cat, name) in [
        ("user", "user_login"),
        ("file", "file_downloaded"),
        ("channel", "channel_deleted"),
        ("app", "app_scopes_expanded"),
        ("workspace_or_org", "pref_sso_setting_changed"),
    ] {
        assert!(v["actions"][cat].as_array().unwrap().iter().any(|n| n == name), "{cat}/{name}");
    }
    let total: usize = v["actions"].as_object().unwrap().values().map(|l| l.as_array().unwrap().len()).sum();
    assert!(total >= 40);
    let mut r = a.get(&format!("{}/schemas", sim.audit_url())).call().unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert!(v["schemas"].as_array().unwrap().iter().any(|s| s["type"] == "user"));
}

/// Live mode adds entries (some late) that become visible in `/logs` and the dataset.
#[test]
fn live_and_late_events() {
    let sim = Sim::start(SimConfig { live_rate: 200.0, late_fraction: 0.5, late_delay: 1000, ..config(100) }).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let st = sim.stats();
    assert!(st.live_events_added >= 20, "{st:?}");
    assert!(st.late_events_added > 0 && st.late_events_added < st.live_events_added);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let a = agent();
    let r = logs(&a, &sim, &[("oldest", (now - 1100).to_string()), ("limit", "9999".into())]);
    let got = entries(&r);
    assert!(got.iter().any(|e| e.1 >= now - 2), "on-time events");
    assert!(got.iter().any(|e| (now - 1003..=now - 998).contains(&e.1)), "late events");
    assert!(sim.dataset().len() as u64 >= 100 + st.live_events_added);
    // Access-log aggregates move too: rows are added while the sim runs.
    let url = format!("{}/team.accessLogs?count=1000", sim.web_url());
    let mut r = a.get(&url).header("Authorization", &format!("Bearer {}", sim.token())).call().unwrap();
    let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert!(v["paging"]["total"].as_u64().unwrap() > 300, "{}", v["paging"]);
    let ids = sim.insert_events(&[START + 5]);
    assert!(sim.dataset().iter().any(|(id, d)| id == &ids[0] && *d == START + 5));
}

/// Shutdown returns promptly even with an idle keep-alive connection, and the port closes.
#[test]
fn shutdown_is_prompt() {
    let sim = Sim::start(config(10)).unwrap();
    let addr = sim.addr();
    let a = agent();
    assert_eq!(logs(&a, &sim, &[]).status, 200); // leaves a pooled keep-alive connection
    let t = Instant::now();
    sim.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

/// Not a check but a measurement: drains 1,000,000 entries at limit 9999 through ureq and
/// prints the time per page. Run with
/// `cargo test --release --test sim_audit drain_a_million -- --ignored --nocapture`.
#[test]
#[ignore]
fn drain_a_million() {
    let t = Instant::now();
    // Default gzip settings: ureq asks for gzip, pages come back deflated at level 6.
    let sim = Sim::start(config(1_000_000)).unwrap();
    println!("start with 1M entries: {:?}", t.elapsed());
    let a = agent();
    let t = Instant::now();
    let mut cursor = String::new();
    let (mut n, mut pages) = (0usize, 0usize);
    let mut slowest = Duration::ZERO;
    loop {
        let mut q = format!("oldest={START}&latest={END}&limit=9999");
        if !cursor.is_empty() {
            q.push_str(&format!("&cursor={}", enc(&cursor)));
        }
        let p = Instant::now();
        let url = format!("{}/logs?{q}", sim.audit_url());
        let mut r = a.get(&url).header("Authorization", &format!("Bearer {}", sim.token())).call().unwrap();
        let body = r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
        slowest = slowest.max(p.elapsed());
        // Cheap scan instead of a JSON parse: count entries and find the cursor.
        let pat = b"\"date_create\":";
        n += body.windows(pat.len()).filter(|w| w == pat).count();
        let tail = String::from_utf8_lossy(&body[body.len() - 200..]).into_owned();
        cursor = tail.rsplit("\"next_cursor\":\"").next().unwrap().trim_end_matches("\"}}").to_string();
        pages += 1;
        if cursor.is_empty() {
            break;
        }
    }
    let el = t.elapsed();
    println!(
        "drained {n} entries in {pages} pages: {el:?} total, {:?} per page, slowest {slowest:?}",
        el / pages as u32
    );
    assert_eq!(n, 1_000_000);
}
