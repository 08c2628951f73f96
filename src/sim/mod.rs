//! The bundled Slack simulator: a real HTTP/1.1 server on 127.0.0.1 that behaves like Slack's
//! Audit Logs API and the two Web API log methods, with faults on demand.
//!
//! What it reproduces (see `SLACK_API.md`): newest-first pages, inclusive `oldest`/`latest`,
//! cursors that carry a position but not the query (and count the clients that forget to resend
//! it), bursts of many entries in one second, an org-wide sliding-window budget answered with 429
//! and `Retry-After`, permanent error bodies, 5xx/resets/truncated/garbage bodies, expiring
//! cursors, live and late events, gzip, `/schemas`, `/actions`, `team.accessLogs` and
//! `team.integrationLogs`.
//!
//! Entries are never stored rendered: the index holds `(date_create, idx)` pairs sorted by key
//! and each entry is rendered on demand from `(seed, idx)` (see `data.rs`).
//!
//! Sim-only endpoints: `GET /sim/stats` (the [`SimStats`] as JSON) and `GET /sim/dataset`
//! (NDJSON `{"id":..,"date_create":..}`, one line per audit entry that exists now).

mod audit;
mod cursor;
mod data;
mod http;
mod web;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use data::{Rng, World};
use http::{Request, Response};

/// The error modes `error_mode` accepts.
pub const ERROR_MODES: &[&str] = &[
    "invalid_auth",
    "missing_scope",
    "feature_not_enabled",
    "team_not_authorized",
    "user_not_authorized",
    "invalid_workspace",
    "paid_only",
];

/// Everything the simulator can be told. The snake_case names double as the JSON keys.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Audit entries spread over `[start, end]` (bursts come on top). Default 10 000.
    pub events: usize,
    /// Oldest `date_create` of the spread entries. Default `end - 30 days`.
    pub start: i64,
    /// Newest `date_create` of the spread entries. Default now - 3600.
    pub end: i64,
    /// Makes the dataset, ids, cursors and faults reproducible. Default 1.
    pub seed: u64,
    /// Extra entries: `(second, count)`, all created in that one second.
    pub burst: Vec<(i64, usize)>,
    /// The bearer token both APIs accept. Default `xoxp-sim-token`.
    pub token: String,
    /// Org-wide budget of `/logs` calls in any sliding 60 s window; 0 = unlimited. Default 50.
    pub max_calls_per_minute: u32,
    /// Budget of the Web API log methods (Tier 2); 0 = unlimited. Default 20.
    pub web_max_calls_per_minute: u32,
    /// A permanent error for every log call: one of [`ERROR_MODES`]. Default none.
    pub error_mode: Option<String>,
    /// Probability of a 500/502/503 answer.
    pub p_5xx: f64,
    /// Probability of closing the connection without an answer (FIN or RST).
    pub p_reset: f64,
    /// Probability of a body cut short after full headers.
    pub p_truncate: f64,
    /// Probability of a 200 whose body is not JSON.
    pub p_garbage: f64,
    /// Delay before answering each log call, in milliseconds.
    pub slow_ms: u64,
    /// Probability that a request carrying a cursor gets `invalid_cursor`.
    pub p_invalid_cursor: f64,
    /// Cursors older than this many seconds are `invalid_cursor`. Default none (never expire).
    pub cursor_ttl: Option<u64>,
    /// Compress when the client sends `Accept-Encoding: gzip`. Default true.
    pub gzip: bool,
    /// Deflate level 0..=9 for gzip bodies. Default 6, what web servers (and Slack) send, so a
    /// client pays for real inflating. `null`: level 1 up to 1 MiB and stored (uncompressed
    /// but valid gzip) blocks above, for runs where the simulator's CPU must stay low.
    pub gzip_level: Option<u32>,
    /// Sometimes answer fewer than `limit` entries (with a cursor) although more exist.
    pub short_pages: bool,
    /// New audit entries per second while running. Default 0.
    pub live_rate: f64,
    /// Fraction of live entries that appear with `date_create = now - late_delay`.
    pub late_fraction: f64,
    /// How late late entries are, in seconds. Default 300.
    pub late_delay: i64,
    /// Rows of `team.accessLogs`. Default 300.
    pub access_rows: usize,
    /// Entries of `team.integrationLogs`. Default 200.
    pub integration_logs: usize,
    /// Port on 127.0.0.1; 0 picks an ephemeral one. Default 0.
    pub port: u16,
    /// Idle keep-alive connections are closed after this many milliseconds. Default 5000.
    pub idle_timeout_ms: u64,
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Default for SimConfig {
    fn default() -> Self {
        let end = unix_now() - 3600;
        SimConfig {
            events: 10_000,
            start: end - 30 * 86_400,
            end,
            seed: 1,
            burst: Vec::new(),
            token: "xoxp-sim-token".to_string(),
            max_calls_per_minute: 50,
            web_max_calls_per_minute: 20,
            error_mode: None,
            p_5xx: 0.0,
            p_reset: 0.0,
            p_truncate: 0.0,
            p_garbage: 0.0,
            slow_ms: 0,
            p_invalid_cursor: 0.0,
            cursor_ttl: None,
            gzip: true,
            gzip_level: Some(6),
            short_pages: false,
            live_rate: 0.0,
            late_fraction: 0.0,
            late_delay: 300,
            access_rows: 300,
            integration_logs: 200,
            port: 0,
            idle_timeout_ms: 5000,
        }
    }
}

impl SimConfig {
    fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        for (name, p) in [
            ("p_5xx", self.p_5xx),
            ("p_reset", self.p_reset),
            ("p_truncate", self.p_truncate),
            ("p_garbage", self.p_garbage),
            ("p_invalid_cursor", self.p_invalid_cursor),
            ("late_fraction", self.late_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be within 0..=1, got {p}"));
            }
        }
        if self.start > self.end {
            return bad(format!("start ({}) is after end ({})", self.start, self.end));
        }
        if !(self.live_rate >= 0.0 && self.live_rate.is_finite()) {
            return bad(format!("live_rate must be >= 0, got {}", self.live_rate));
        }
        let total = self.events as u64 + self.burst.iter().map(|b| b.1 as u64).sum::<u64>();
        if total >= u32::MAX as u64 / 2 {
            return bad(format!("too many events: {total}"));
        }
        check_error_mode(self.error_mode.as_deref())
    }
}

fn check_error_mode(mode: Option<&str>) -> io::Result<()> {
    match mode {
        Some(m) if !ERROR_MODES.contains(&m) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("error_mode must be one of {}, got {m:?}", ERROR_MODES.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// A snapshot of the simulator's counters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimStats {
    /// Every `/logs` request, accepted or not.
    pub calls: u64,
    /// `/logs` requests answered 429.
    pub calls_429: u64,
    /// The most `/logs` requests received within any 60 s window.
    pub max_calls_in_any_60s: u64,
    /// Cursor requests whose query differs from the one that issued the cursor.
    pub incomplete_cursor_queries: u64,
    /// Requests that carried a cursor.
    pub cursor_requests: u64,
    /// Requests answered `invalid_cursor` (undecodable, expired, or injected).
    pub invalid_cursors: u64,
    pub faults_5xx: u64,
    pub faults_reset: u64,
    pub faults_truncate: u64,
    pub faults_garbage: u64,
    /// Log calls delayed by `slow_ms`.
    pub faults_slow: u64,
    /// Successful `/logs` pages (including truncated ones).
    pub pages_served: u64,
    /// Entries in those pages.
    pub entries_served: u64,
    /// Pages deliberately shorter than the limit (`short_pages`).
    pub short_pages: u64,
    /// Missing or wrong token, on either API.
    pub auth_failures: u64,
    /// Answers forced by `error_mode`.
    pub permanent_errors: u64,
    /// Requests rejected with `invalid_arguments`.
    pub invalid_arguments: u64,
    /// Calls of the Web API log methods.
    pub web_calls: u64,
    pub web_calls_429: u64,
    pub max_web_calls_in_any_60s: u64,
    /// Audit entries that exist now.
    pub entries: u64,
    /// Entries added while running (`live_rate` or `insert_events`).
    pub live_events_added: u64,
    /// Of those, entries made visible late.
    pub late_events_added: u64,
    /// TCP connections accepted.
    pub connections: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    calls_429: AtomicU64,
    incomplete_cursor_queries: AtomicU64,
    cursor_requests: AtomicU64,
    invalid_cursors: AtomicU64,
    faults_5xx: AtomicU64,
    faults_reset: AtomicU64,
    faults_truncate: AtomicU64,
    faults_garbage: AtomicU64,
    faults_slow: AtomicU64,
    pages_served: AtomicU64,
    entries_served: AtomicU64,
    short_pages: AtomicU64,
    auth_failures: AtomicU64,
    permanent_errors: AtomicU64,
    invalid_arguments: AtomicU64,
    web_calls: AtomicU64,
    web_calls_429: AtomicU64,
    live_events_added: AtomicU64,
    late_events_added: AtomicU64,
    connections: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The options a test may change while the server runs.
#[derive(Clone)]
pub(crate) struct Knobs {
    error_mode: Option<String>,
    p_5xx: f64,
    p_reset: f64,
    p_truncate: f64,
    p_garbage: f64,
    slow_ms: u64,
    p_invalid_cursor: f64,
    cursor_ttl: Option<u64>,
    max_calls_per_minute: u32,
    web_max_calls_per_minute: u32,
    gzip: bool,
    gzip_level: Option<u32>,
    short_pages: bool,
}

/// Request times within the last 60 s, for the budget and for `max_calls_in_any_60s`.
#[derive(Default)]
struct Window {
    times: VecDeque<Instant>,
    max_seen: u64,
}

const MINUTE: Duration = Duration::from_secs(60);

impl Window {
    /// Records a request at `now`; `Err(retry_after_secs)` when it is over `limit`.
    fn hit(&mut self, now: Instant, limit: u32) -> Result<(), u64> {
        while let Some(&t) = self.times.front() {
            if now.duration_since(t) >= MINUTE {
                self.times.pop_front();
            } else {
                break;
            }
        }
        let over = limit > 0 && self.times.len() >= limit as usize;
        self.times.push_back(now);
        self.max_seen = self.max_seen.max(self.times.len() as u64);
        if !over {
            return Ok(());
        }
        // A slot is free once only limit-1 requests remain in the window.
        let t = self.times[self.times.len() - limit as usize];
        let wait = (t + MINUTE).saturating_duration_since(now);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(secs.max(1))
    }
}

/// The sorted index of audit entries: `(date_create, idx)` ascending.
struct Index {
    keys: Vec<(i64, u32)>,
    next_idx: u32,
}

/// The normalized query of a `/logs` request, as recorded for each cursor issued.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct LogsQuery {
    pub oldest: Option<i64>,
    pub latest: Option<i64>,
    pub limit: Option<u32>,
    /// Sorted action names.
    pub action: Option<Vec<String>>,
    pub actor: Option<String>,
    pub entity: Option<String>,
}

struct Issued {
    query: LogsQuery,
    at: Instant,
}

/// Every cursor issued (bounded), so requests can be compared with their origin.
struct CursorTable {
    base: u32,
    items: VecDeque<Issued>,
    /// Cursors with a serial below this were expired by `expire_cursors`.
    expired_below: u32,
}

const MAX_ISSUED: usize = 200_000;

impl CursorTable {
    fn issue(&mut self, query: LogsQuery) -> u32 {
        if self.items.len() >= MAX_ISSUED {
            self.items.drain(..MAX_ISSUED / 2);
            self.base = self.base.wrapping_add((MAX_ISSUED / 2) as u32);
        }
        self.items.push_back(Issued { query, at: Instant::now() });
        self.base.wrapping_add(self.items.len() as u32 - 1)
    }

    fn get(&self, serial: u32) -> Option<&Issued> {
        let off = serial.checked_sub(self.base)?;
        self.items.get(off as usize)
    }
}

/// The state every connection thread shares.
pub(crate) struct Shared {
    world: World,
    seed: u64,
    token: String,
    instance: u16,
    /// `live_rate` as f64 bits, changeable while running ([`Sim::set_live_rate`]).
    live_rate: AtomicU64,
    late_fraction: f64,
    late_delay: i64,
    idle_timeout: Duration,
    knobs: Mutex<Knobs>,
    index: RwLock<Index>,
    cursors: Mutex<CursorTable>,
    audit_window: Mutex<Window>,
    web_window: Mutex<Window>,
    c: Counters,
    web: web::WebData,
    request_counter: AtomicU64,
    shutdown: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// A generator for one request's decisions, reproducible from the seed and arrival order.
    fn rng(&self) -> Rng {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        Rng::new(data::h3(self.seed, n, 0x5EED))
    }

    /// Sleeps `ms`, returning early on shutdown.
    fn sleep(&self, ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        while !self.shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }

    fn insert(&self, dates: &[(i64, bool)]) -> Vec<u32> {
        let mut idx = self.index.write().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(dates.len());
        for &(date, late) in dates {
            let i = idx.next_idx;
            idx.next_idx += 1;
            let key = (date, i);
            let pos = idx.keys.partition_point(|k| *k < key);
            idx.keys.insert(pos, key);
            out.push(i);
            inc(&self.c.live_events_added);
            if late {
                inc(&self.c.late_events_added);
            }
        }
        out
    }

    fn stats(&self) -> SimStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.c;
        SimStats {
            calls: g(&c.calls),
            calls_429: g(&c.calls_429),
            max_calls_in_any_60s: lock(&self.audit_window).max_seen,
            incomplete_cursor_queries: g(&c.incomplete_cursor_queries),
            cursor_requests: g(&c.cursor_requests),
            invalid_cursors: g(&c.invalid_cursors),
            faults_5xx: g(&c.faults_5xx),
            faults_reset: g(&c.faults_reset),
            faults_truncate: g(&c.faults_truncate),
            faults_garbage: g(&c.faults_garbage),
            faults_slow: g(&c.faults_slow),
            pages_served: g(&c.pages_served),
            entries_served: g(&c.entries_served),
            short_pages: g(&c.short_pages),
            auth_failures: g(&c.auth_failures),
            permanent_errors: g(&c.permanent_errors),
            invalid_arguments: g(&c.invalid_arguments),
            web_calls: g(&c.web_calls),
            web_calls_429: g(&c.web_calls_429),
            max_web_calls_in_any_60s: lock(&self.web_window).max_seen,
            entries: self.index.read().unwrap_or_else(|e| e.into_inner()).keys.len() as u64,
            live_events_added: g(&c.live_events_added),
            late_events_added: g(&c.late_events_added),
            connections: g(&c.connections),
        }
    }

    fn dataset(&self) -> Vec<(String, i64)> {
        let keys = self.index.read().unwrap_or_else(|e| e.into_inner()).keys.clone();
        keys.iter().map(|&(d, i)| (self.world.id_string(i), d)).collect()
    }
}

/// What a handler wants done with the connection.
pub(crate) enum Outcome {
    Send(Response),
    /// Send full headers but only part of the body, then close.
    Truncate(Response),
    /// Close without answering; `rst` sends a TCP reset instead of a FIN.
    Reset {
        rst: bool,
    },
}

/// Result of the checks shared by every log endpoint (budget, delay, injected faults).
pub(crate) enum Gate {
    Go { truncate: bool, knobs: Knobs },
    Stop(Outcome),
}

/// Counts the call, applies the sliding-window budget, the delay and the injected faults.
fn gate(s: &Shared, rng: &mut Rng, web: bool) -> Gate {
    let knobs = s.knobs();
    let now = Instant::now();
    let (window, limit) = if web {
        inc(&s.c.web_calls);
        (&s.web_window, knobs.web_max_calls_per_minute)
    } else {
        inc(&s.c.calls);
        (&s.audit_window, knobs.max_calls_per_minute)
    };
    let verdict = lock(window).hit(now, limit);
    if let Err(retry_after) = verdict {
        inc(if web { &s.c.web_calls_429 } else { &s.c.calls_429 });
        let mut r = Response::error(429, "ratelimited");
        r.headers.push(("Retry-After", retry_after.to_string()));
        return Gate::Stop(Outcome::Send(r));
    }
    if knobs.slow_ms > 0 {
        inc(&s.c.faults_slow);
        s.sleep(knobs.slow_ms);
    }
    let mut x = rng.unit();
    let mut roll = |p: f64| {
        let hit = x < p;
        x -= p;
        hit
    };
    if roll(knobs.p_reset) {
        inc(&s.c.faults_reset);
        return Gate::Stop(Outcome::Reset { rst: rng.below(2) == 0 });
    }
    if roll(knobs.p_5xx) {
        inc(&s.c.faults_5xx);
        let r = match rng.below(3) {
            0 => Response::error(500, "internal_error"),
            1 => Response {
                status: 502,
                content_type: "text/html",
                headers: Vec::new(),
                body: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n".to_vec(),
            },
            _ => Response {
                status: 503,
                content_type: "text/html; charset=utf-8",
                headers: Vec::new(),
                body: b"<!DOCTYPE html><html><body><h1>Slack is temporarily unavailable</h1></body></html>".to_vec(),
            },
        };
        return Gate::Stop(Outcome::Send(r));
    }
    if roll(knobs.p_garbage) {
        inc(&s.c.faults_garbage);
        let (ct, body): (&'static str, &[u8]) = match rng.below(3) {
            0 => ("text/html", b"<html><body>upstream connect error or disconnect/reset before headers</body></html>"),
            1 => ("application/json; charset=utf-8", b"{\"entries\":[{\"id\":\"8d3c"),
            _ => ("application/json; charset=utf-8", b"\x00\x1f\x8b garbage \xff\xfe"),
        };
        return Gate::Stop(Outcome::Send(Response {
            status: 200,
            content_type: ct,
            headers: Vec::new(),
            body: body.to_vec(),
        }));
    }
    let truncate = roll(knobs.p_truncate);
    if truncate {
        inc(&s.c.faults_truncate);
    }
    Gate::Go { truncate, knobs }
}

fn finish(resp: Response, truncate: bool) -> Outcome {
    if truncate {
        Outcome::Truncate(resp)
    } else {
        Outcome::Send(resp)
    }
}

fn route(s: &Shared, req: &Request) -> Outcome {
    match req.path.trim_end_matches('/') {
        "/audit/v1/logs" => audit::logs(s, req),
        "/audit/v1/schemas" => Outcome::Send(audit::schemas()),
        "/audit/v1/actions" => Outcome::Send(audit::actions()),
        "/api/team.accessLogs" => web::access_logs(s, req),
        "/api/team.integrationLogs" => web::integration_logs(s, req),
        "/api/auth.test" => web::auth_test(s, req),
        "/sim/stats" => Outcome::Send(Response::json(200, serde_json::to_vec(&s.stats()).unwrap_or_default())),
        "/sim/dataset" => {
            let keys = s.index.read().unwrap_or_else(|e| e.into_inner()).keys.clone();
            let mut body = Vec::with_capacity(keys.len() * 70);
            for (date, idx) in keys {
                body.extend_from_slice(b"{\"id\":\"");
                s.world.write_id(&mut body, idx);
                body.extend_from_slice(b"\",\"date_create\":");
                data::push_i64(&mut body, date);
                body.extend_from_slice(b"}\n");
            }
            let mut r = Response::json(200, body);
            r.content_type = "application/x-ndjson";
            Outcome::Send(r)
        }
        p if p.starts_with("/api/") => Outcome::Send(Response::error(404, "unknown_method")),
        _ => Outcome::Send(Response::error(404, "not_found")),
    }
}

fn serve_conn(s: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(s.idle_timeout));
    let mut buf = Vec::new();
    while !s.shutdown.load(Ordering::Relaxed) {
        let req = match http::read_request(&mut stream, &mut buf) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let (gzip_on, gzip_level) = {
            let k = lock(&s.knobs);
            (k.gzip, k.gzip_level)
        };
        let gzip_ok = req.accepts_gzip() && gzip_on;
        let keep_alive = req.keep_alive;
        let (mut resp, truncate) = match route(s, &req) {
            Outcome::Reset { rst } => {
                if rst {
                    http::reset(stream);
                } else {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                return;
            }
            Outcome::Send(r) => (r, false),
            Outcome::Truncate(r) => (r, true),
        };
        let body = if gzip_ok {
            match http::gzip(&resp.body, gzip_level) {
                Ok(b) => b,
                Err(_) => return,
            }
        } else {
            std::mem::take(&mut resp.body)
        };
        let head = http::head(&resp, body.len(), gzip_ok, keep_alive && !truncate);
        let sent = if truncate {
            let cut = (body.len() / 2).min(body.len().saturating_sub(1));
            stream.write_all(&head).and_then(|_| stream.write_all(&body[..cut])).and_then(|_| stream.flush())
        } else {
            stream.write_all(&head).and_then(|_| stream.write_all(&body))
        };
        if sent.is_err() || truncate || !keep_alive {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}

/// A running simulator. Dropping it stops the server and joins its threads.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    live: Option<JoinHandle<()>>,
}

impl Sim {
    /// Builds the dataset, binds 127.0.0.1:`config.port` (0 = ephemeral) and serves on
    /// background threads until [`Sim::shutdown`] or drop.
    pub fn start(config: SimConfig) -> io::Result<Sim> {
        config.validate()?;
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let addr = listener.local_addr()?;
        let world = World::new(config.seed);
        let seed = config.seed;
        let total = config.events + config.burst.iter().map(|b| b.1).sum::<usize>();
        let mut keys = Vec::with_capacity(total);
        let span = (config.end - config.start) as u64 + 1;
        for i in 0..config.events as u32 {
            keys.push((config.start + (data::h3(seed, i as u64, 9) % span) as i64, i));
        }
        let mut next = config.events as u32;
        for &(second, count) in &config.burst {
            for _ in 0..count {
                keys.push((second, next));
                next += 1;
            }
        }
        keys.sort_unstable();
        let web = web::WebData::new(&world, &config);
        let instance = (data::mix(
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
                ^ u64::from(addr.port()),
        ) & 0xffff) as u16;
        let shared = Arc::new(Shared {
            world,
            seed,
            token: config.token.clone(),
            instance,
            live_rate: AtomicU64::new(config.live_rate.to_bits()),
            late_fraction: config.late_fraction,
            late_delay: config.late_delay,
            idle_timeout: Duration::from_millis(config.idle_timeout_ms.max(1)),
            knobs: Mutex::new(Knobs {
                error_mode: config.error_mode.clone(),
                p_5xx: config.p_5xx,
                p_reset: config.p_reset,
                p_truncate: config.p_truncate,
                p_garbage: config.p_garbage,
                slow_ms: config.slow_ms,
                p_invalid_cursor: config.p_invalid_cursor,
                cursor_ttl: config.cursor_ttl,
                max_calls_per_minute: config.max_calls_per_minute,
                web_max_calls_per_minute: config.web_max_calls_per_minute,
                gzip: config.gzip,
                gzip_level: config.gzip_level,
                short_pages: config.short_pages,
            }),
            index: RwLock::new(Index { keys, next_idx: next }),
            cursors: Mutex::new(CursorTable { base: 0, items: VecDeque::new(), expired_below: 0 }),
            audit_window: Mutex::default(),
            web_window: Mutex::default(),
            c: Counters::default(),
            web,
            request_counter: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            conns: Mutex::default(),
            threads: Mutex::default(),
        });
        let s = Arc::clone(&shared);
        let accept = std::thread::Builder::new().name("sim-accept".into()).spawn(move || accept_loop(s, listener))?;
        let live = if config.live_rate > 0.0 {
            let s = Arc::clone(&shared);
            Some(std::thread::Builder::new().name("sim-live".into()).spawn(move || live_loop(&s))?)
        } else {
            None
        };
        Ok(Sim { shared, addr, accept: Some(accept), live })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/audit/v1`
    pub fn audit_url(&self) -> String {
        format!("http://{}/audit/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/api`
    pub fn web_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the simulator accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    /// `(id, date_create)` of every audit entry that exists now, oldest first.
    pub fn dataset(&self) -> Vec<(String, i64)> {
        self.shared.dataset()
    }

    /// Adds audit entries created at the given seconds (they become visible at once, like a
    /// late event when the second is in the past). Returns their ids.
    pub fn insert_events(&self, dates: &[i64]) -> Vec<String> {
        let now = unix_now();
        let marked: Vec<(i64, bool)> = dates.iter().map(|&d| (d, d < now - 1)).collect();
        self.shared.insert(&marked).into_iter().map(|i| self.shared.world.id_string(i)).collect()
    }

    /// `team.accessLogs`: moves `date_last` of the rows at `indices` (creation order) to `now`.
    /// Returns how many moved.
    pub fn touch_access_rows(&self, indices: &[usize], now: i64) -> usize {
        web::touch_access_rows(&self.shared, indices, now)
    }

    /// `team.accessLogs`: `n` new rows (new user, ip, agent combinations) seen at `now`.
    pub fn add_access_rows(&self, n: usize, now: i64) {
        web::add_access_rows(&self.shared, n, now)
    }

    /// `(user_id, ip, user_agent, date_last)` of every access row that exists now.
    pub fn access_rows(&self) -> Vec<(String, String, String, i64)> {
        web::access_snapshot(&self.shared)
    }

    /// `team.integrationLogs`: `n` new, distinct logs dated `date`.
    pub fn add_integration_logs(&self, n: usize, date: i64) {
        web::add_integration_logs(&self.shared, n, date)
    }

    /// `(date, user_id, change_type, service_id or app_id)` of every integration log, newest first.
    pub fn integration_logs(&self) -> Vec<(i64, String, String, String)> {
        web::integration_snapshot(&self.shared)
    }

    /// Forces (or, with `None`, stops) a permanent error on every log call. Unknown modes are
    /// rejected with `InvalidInput`.
    pub fn set_error_mode(&self, mode: Option<String>) -> io::Result<()> {
        check_error_mode(mode.as_deref())?;
        lock(&self.shared.knobs).error_mode = mode;
        Ok(())
    }

    /// Sets the fault probabilities (each clamped to 0..=1).
    pub fn set_fault_rates(&self, p_5xx: f64, p_reset: f64, p_truncate: f64, p_garbage: f64) {
        let c = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let mut k = lock(&self.shared.knobs);
        k.p_5xx = c(p_5xx);
        k.p_reset = c(p_reset);
        k.p_truncate = c(p_truncate);
        k.p_garbage = c(p_garbage);
    }

    pub fn set_slow_ms(&self, ms: u64) {
        lock(&self.shared.knobs).slow_ms = ms;
    }

    /// Changes both budgets (0 = unlimited). Requests already in the window still count.
    pub fn set_rate_limits(&self, max_calls_per_minute: u32, web_max_calls_per_minute: u32) {
        let mut k = lock(&self.shared.knobs);
        k.max_calls_per_minute = max_calls_per_minute;
        k.web_max_calls_per_minute = web_max_calls_per_minute;
    }

    pub fn set_cursor_expiry(&self, p_invalid_cursor: f64, cursor_ttl: Option<u64>) {
        let mut k = lock(&self.shared.knobs);
        k.p_invalid_cursor = p_invalid_cursor.clamp(0.0, 1.0);
        k.cursor_ttl = cursor_ttl;
    }

    /// Changes the rate of live events (0 stops them). Only a simulator started with a
    /// `live_rate` above 0 runs the live thread; on others this has no effect.
    pub fn set_live_rate(&self, per_second: f64) {
        let r = if per_second.is_finite() && per_second > 0.0 { per_second } else { 0.0 };
        self.shared.live_rate.store(r.to_bits(), Ordering::Relaxed);
    }

    pub fn set_short_pages(&self, on: bool) {
        lock(&self.shared.knobs).short_pages = on;
    }

    /// Makes every cursor issued so far answer `invalid_cursor`.
    pub fn expire_cursors(&self) {
        let mut t = lock(&self.shared.cursors);
        t.expired_below = t.base.wrapping_add(t.items.len() as u32);
    }

    /// Stops accepting, closes every connection and joins all threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let s = &self.shared;
        if s.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, c) in lock(&s.conns).drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let threads: Vec<_> = lock(&s.threads).drain(..).collect();
        for h in threads {
            let _ = h.join();
        }
        if let Some(h) = self.live.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(s: Arc<Shared>, listener: TcpListener) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if s.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        inc(&s.c.connections);
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&s.conns).insert(id, clone);
        }
        let s2 = Arc::clone(&s);
        let spawned = std::thread::Builder::new().name("sim-conn".into()).spawn(move || {
            serve_conn(&s2, stream);
            lock(&s2.conns).remove(&id);
        });
        let mut threads = lock(&s.threads);
        threads.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => threads.push(h),
            Err(_) => {
                lock(&s.conns).remove(&id);
            }
        }
    }
}

fn live_loop(s: &Shared) {
    let mut last = Instant::now();
    // Fractional events owed at the current rate; the rate may change between ticks.
    let mut owed = 0.0f64;
    let mut added = 0u64;
    let mut n = 0u64;
    while !s.shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let rate = f64::from_bits(s.live_rate.load(Ordering::Relaxed));
        owed += rate * last.elapsed().as_secs_f64();
        last = Instant::now();
        let due = added + owed as u64;
        if due <= added {
            continue;
        }
        owed -= (due - added) as f64;
        let now = unix_now();
        let batch: Vec<(i64, bool)> = (added..due)
            .map(|k| {
                let late = Rng::new(data::h3(s.seed, k, 0x1A7E)).unit() < s.late_fraction;
                if late {
                    (now - s.late_delay, true)
                } else {
                    (now, false)
                }
            })
            .collect();
        s.insert(&batch);
        n += 1;
        web::live_tick(s, (due - added) as usize, now, n);
        added = due;
    }
}

static STOP_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_SIGNAL.store(true, Ordering::SeqCst);
}

/// Runs the simulator in the foreground for `slack-audit sim`: prints
/// `listening on http://127.0.0.1:PORT` as one line on stdout, serves until SIGTERM/SIGINT or
/// until `duration` seconds pass, then prints the final stats as JSON on stderr.
/// `port` (when not 0) overrides `config.port`.
pub fn run_cli(mut config: SimConfig, port: u16, duration: Option<u64>) -> io::Result<()> {
    if port != 0 {
        config.port = port;
    }
    STOP_SIGNAL.store(false, Ordering::SeqCst);
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let (old_int, old_term) = unsafe { (libc::signal(libc::SIGINT, handler), libc::signal(libc::SIGTERM, handler)) };
    let result = (|| {
        let sim = Sim::start(config)?;
        {
            let mut out = io::stdout().lock();
            writeln!(out, "listening on http://{}", sim.addr())?;
            out.flush()?;
        }
        let deadline = duration.map(|d| Instant::now() + Duration::from_secs(d));
        while !STOP_SIGNAL.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let stats = sim.stats();
        sim.shutdown();
        eprintln!("sim stats: {}", serde_json::to_string(&stats).unwrap_or_default());
        Ok(())
    })();
    // SAFETY: restores the dispositions that were in place before.
    unsafe {
        libc::signal(libc::SIGINT, old_int);
        libc::signal(libc::SIGTERM, old_term);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json() {
        let c: SimConfig = serde_json::from_str(r#"{"events":5,"burst":[[100,3]],"error_mode":"paid_only"}"#).unwrap();
        assert_eq!((c.events, c.burst.clone(), c.max_calls_per_minute), (5, vec![(100, 3)], 50));
        assert!(serde_json::from_str::<SimConfig>(r#"{"evnets":5}"#).is_err());
        assert!(SimConfig { p_5xx: 1.5, ..c.clone() }.validate().is_err());
        assert!(SimConfig { error_mode: Some("nope".into()), ..c }.validate().is_err());
    }

    #[test]
    fn window_retry_after() {
        let mut w = Window::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(w.hit(t0 + Duration::from_secs(i), 3).is_ok());
        }
        // The rejected call counts too: the window is t0..t0+3 and two must leave before a
        // slot is free, the second of them (t0+1) at t0+61, 58 s after t0+3.
        assert_eq!(w.hit(t0 + Duration::from_secs(3), 3), Err(58));
        assert_eq!(w.max_seen, 4);
        // Rejected calls count: at t0+60 the window still holds 3 (t0+1, t0+2, t0+3).
        assert_eq!(w.hit(t0 + Duration::from_secs(60), 3), Err(2));
    }
}
