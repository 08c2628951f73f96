//! `Shared`: the state every connection thread, the live thread and the `Sim` handle share: the
//! generated world, the sorted index of audit entries, the run-time knobs, the budgets' windows,
//! the cursor table and the counters.

use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cursor_table::CursorTable;
use crate::data::{self, Rng, World};
use crate::stats::{inc, Counters, SimStats};
use crate::window::Window;
use crate::{lock, web, SimConfig};

/// The options a test may change while the server runs.
#[derive(Clone)]
pub(crate) struct Knobs {
    pub(crate) error_mode: Option<String>,
    pub(crate) p_5xx: f64,
    pub(crate) p_reset: f64,
    pub(crate) p_truncate: f64,
    pub(crate) p_garbage: f64,
    pub(crate) slow_ms: u64,
    pub(crate) p_invalid_cursor: f64,
    pub(crate) cursor_ttl: Option<u64>,
    pub(crate) max_calls_per_minute: u32,
    pub(crate) web_max_calls_per_minute: u32,
    pub(crate) gzip: bool,
    pub(crate) gzip_level: Option<u32>,
    pub(crate) short_pages: bool,
}

/// The sorted index of audit entries: `(date_create, idx)` ascending.
pub(crate) struct Index {
    pub(crate) keys: Vec<(i64, u32)>,
    pub(crate) next_idx: u32,
}

/// The state every connection thread shares.
pub(crate) struct Shared {
    pub(crate) world: World,
    pub(crate) seed: u64,
    pub(crate) token: String,
    pub(crate) instance: u16,
    /// `live_rate` as f64 bits, changeable while running ([`Sim::set_live_rate`]).
    pub(crate) live_rate: AtomicU64,
    pub(crate) late_fraction: f64,
    pub(crate) late_delay: i64,
    pub(crate) idle_timeout: Duration,
    pub(crate) knobs: Mutex<Knobs>,
    pub(crate) index: RwLock<Index>,
    pub(crate) cursors: Mutex<CursorTable>,
    pub(crate) audit_window: Mutex<Window>,
    pub(crate) web_window: Mutex<Window>,
    pub(crate) c: Counters,
    pub(crate) web: web::WebData,
    pub(crate) request_counter: AtomicU64,
    pub(crate) shutdown: AtomicBool,
    pub(crate) conns: Mutex<HashMap<u64, TcpStream>>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// Builds the dataset: `config.events` entries spread over `[start, end]` plus the bursts,
    /// indexed by `(date_create, idx)`, and the Web API rows. `port` salts the instance id.
    pub(crate) fn new(config: &SimConfig, port: u16) -> Shared {
        let world = World::with_dataset(config.seed, config.dataset);
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
        let web = web::WebData::new(&world, config);
        let instance = (data::mix(
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0) ^ u64::from(port),
        ) & 0xffff) as u16;
        Shared {
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
        }
    }

    pub(crate) fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// A generator for one request's decisions, reproducible from the seed and arrival order.
    pub(crate) fn rng(&self) -> Rng {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        Rng::new(data::h3(self.seed, n, 0x5EED))
    }

    /// Sleeps `ms`, returning early on shutdown.
    pub(crate) fn sleep(&self, ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        while !self.shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                break;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }

    pub(crate) fn insert(&self, dates: &[(i64, bool)]) -> Vec<u32> {
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

    pub(crate) fn stats(&self) -> SimStats {
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

    pub(crate) fn dataset(&self) -> Vec<(String, i64)> {
        let keys = self.index.read().unwrap_or_else(|e| e.into_inner()).keys.clone();
        keys.iter().map(|&(d, i)| (self.world.id_string(i), d)).collect()
    }
}
