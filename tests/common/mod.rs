//! Helpers shared by the integration tests: a simulator, drains through the library and the
//! CLI, and a scripted one-connection-at-a-time HTTP server for exact protocol checks.
#![allow(dead_code)]

pub mod logstash;

use slack_audit::config::Config;
use slack_audit::runtime::{Collected, Collection, StartOptions};
use slack_audit_sim::{Sim, SimConfig};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "xoxp-sim-token";

/// A simulator with `events` spread entries plus `burst` entries in one second, no rate limit
/// unless asked.
pub fn sim(events: usize, burst: usize, tweak: impl FnOnce(&mut SimConfig)) -> Sim {
    let end = slack_audit::config::now_unix() - 3600;
    let mut c = SimConfig {
        events,
        end,
        start: end - 10 * 86_400,
        seed: 7,
        burst: if burst > 0 { vec![(end - 5 * 86_400, burst)] } else { vec![] },
        ..SimConfig::default()
    };
    tweak(&mut c);
    Sim::start(c).expect("start simulator")
}

/// A config for `sim` with the given extra options.
pub fn config(sim: &Sim, state_dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("token".into(), TOKEN.into()),
        ("api_url".into(), sim.audit_url()),
        ("web_api_url".into(), sim.web_url()),
        ("state_dir".into(), state_dir.display().to_string()),
        ("lag".into(), "0".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_pairs(pairs).expect("valid test config")
}

/// What a drain delivered.
#[derive(Debug, Default)]
pub struct Drained {
    pub ids: Vec<String>,
    pub times: HashMap<String, i64>,
    pub actions: Vec<String>,
    pub stats: Option<slack_audit::stats::Stats>,
    pub error: Option<String>,
    /// Set by [`drain_skewed`] only.
    pub logs: Vec<String>,
}

/// Collects audit entries until caught up (or `max_batches` batches, or an error),
/// acknowledging each batch.
pub fn drain(cfg: Config, max_batches: Option<usize>, deadline: Duration) -> Drained {
    let raw = drain_raw(cfg, max_batches, deadline);
    let mut d = Drained { stats: raw.stats, error: raw.error, ..Drained::default() };
    for (_, v, t) in raw.entries {
        let id = v["id"].as_str().expect("entry has an id").to_string();
        d.actions.push(v["action"].as_str().unwrap_or("").to_string());
        d.times.insert(id.clone(), t);
        d.ids.push(id);
    }
    d
}

/// The `id` of a Slack entry's JSON.
pub fn entry_id(json: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(json).expect("entry is JSON");
    v["id"].as_str().expect("entry has an id").to_string()
}

/// Checks that `got` holds every id of `expected` and nothing else; returns the duplicate count.
pub fn compare(got: &[String], expected: &[(String, i64)]) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for g in got {
        *counts.entry(g.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = expected.iter().map(|(i, _)| i).filter(|i| !counts.contains_key(i.as_str())).collect();
    let known: std::collections::HashSet<&str> = expected.iter().map(|(i, _)| i.as_str()).collect();
    let unknown: Vec<&&str> = counts.keys().filter(|k| !known.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events missing, e.g. {:?}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(3)]
    );
    assert!(unknown.is_empty(), "{} unknown events, e.g. {:?}", unknown.len(), &unknown[..unknown.len().min(3)]);
    counts.values().map(|c| c - 1).sum()
}

/// One canned answer of [`Scripted`].
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply { status, headers: vec![], body: body.to_string() }
    }
}

/// A loopback HTTP server answering each request with the next scripted reply (the last one
/// repeats), recording each request line and when it arrived.
pub struct Scripted {
    pub url: String,
    pub requests: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Scripted {
    pub fn start(replies: Vec<Reply>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let log = requests.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            // Stops by itself: after 200 connections or 60 s without one.
            listener.set_nonblocking(false).unwrap();
            for stream in listener.incoming().take(200) {
                let Ok(mut stream) = stream else { return };
                stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    log.lock().unwrap().push((Instant::now(), line.trim().to_string()));
                    let r = replies[n.min(replies.len() - 1)].clone();
                    n += 1;
                    let mut resp = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                        r.status,
                        r.body.len()
                    );
                    for (k, v) in &r.headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    resp.push_str(&r.body);
                    if stream.write_all(resp.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        Scripted { url, requests }
    }
}

/// What [`drain_raw`] delivered: every entry with its source and event time, plus the logs.
#[derive(Debug, Default)]
pub struct Raw {
    pub entries: Vec<(slack_audit::config::Source, serde_json::Value, i64)>,
    pub logs: Vec<String>,
    pub stats: Option<slack_audit::stats::Stats>,
    pub error: Option<String>,
}

impl Raw {
    /// The entries of one source.
    pub fn of(&self, source: slack_audit::config::Source) -> Vec<&serde_json::Value> {
        self.entries.iter().filter(|(s, _, _)| *s == source).map(|(_, v, _)| v).collect()
    }
}

/// As [`drain`], for entries of any source (access rows and integration logs have no `id`).
pub fn drain_raw(cfg: Config, max_batches: Option<usize>, deadline: Duration) -> Raw {
    drain_collection(Collection::start(cfg).expect("start collection"), max_batches, deadline)
}

/// As [`drain`], for a collector whose local clock is `skew` seconds off (positive: ahead).
pub fn drain_skewed(cfg: Config, skew: i64, deadline: Duration) -> Drained {
    let wall = Arc::new(slack_audit::transport::wallclock::SkewedClock(skew));
    let options = StartOptions { wall_clock: Some(wall), ..Default::default() };
    let raw = drain_collection(Collection::start_with(cfg, options).expect("start collection"), None, deadline);
    let mut d = Drained { stats: raw.stats, error: raw.error, ..Drained::default() };
    for (_, v, t) in raw.entries {
        let id = v["id"].as_str().expect("entry has an id").to_string();
        d.times.insert(id.clone(), t);
        d.ids.push(id);
    }
    d.logs = raw.logs;
    d
}

/// Drains a started collection (see [`drain_raw`]).
pub fn drain_collection(mut c: Collection, max_batches: Option<usize>, deadline: Duration) -> Raw {
    let mut d = Raw::default();
    let start = Instant::now();
    let mut batches = 0;
    loop {
        assert!(start.elapsed() < deadline, "drain did not finish within {deadline:?}: {:?}", c.stats());
        while let Some((_, m)) = c.next_log() {
            d.logs.push(m);
        }
        match c.collect(Duration::from_millis(200)) {
            Ok(Collected::Batch(b)) => {
                for i in 0..b.len() {
                    let (json, t) = b.event(i);
                    d.entries.push((b.source, serde_json::from_slice(json).expect("entry is JSON"), t));
                }
                c.ack(b.id).expect("ack");
                batches += 1;
                if max_batches.is_some_and(|m| batches >= m) {
                    break;
                }
            }
            Ok(_) => {
                if c.caught_up() {
                    break;
                }
            }
            Err(e) => {
                d.error = Some(e.to_string());
                break;
            }
        }
    }
    while let Some((_, m)) = c.next_log() {
        d.logs.push(m);
    }
    d.stats = Some(c.stats());
    c.shutdown(Duration::from_secs(1));
    d
}

/// splitmix64: a tiny seeded PRNG, so a failing randomized test can be replayed with its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The seed of a randomized test: `SLACK_AUDIT_SEED` to replay a run, else from the clock.
pub fn seed() -> u64 {
    std::env::var("SLACK_AUDIT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    })
}
