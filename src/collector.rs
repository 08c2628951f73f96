//! The collector: for each stream, plan the next page, spend the rate budget, fetch, retry what
//! is transient, and turn a page into a [`Batch`] of entries to deliver plus the state to make
//! durable once the host acknowledges them.
//!
//! This is synchronous and owns no state file: it runs on the worker thread of
//! [`crate::runtime`], which hands batches to the host; acknowledgements are written by the host
//! side, in order.

use crate::config::{Config, ConfigError, Secret, Source};
use crate::governor::{shared_budget, Budget, Clock, Jitter, RetryPolicy, SystemClock, Tier};
use crate::http::HttpClient;
use crate::logs::{Level, LogQueue};
use crate::sequence::{PageRequest, StreamState, WindowPolicy};
use crate::signal::StopSignal;
use crate::slack::{audit_logs_url, classify_failure, parse_audit_page, ApiError, AuditFilter, AuditPage};
use crate::stats::Stats;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a stream is read.
#[derive(Clone, Debug)]
pub enum StreamKind {
    Audit(AuditFilter),
}

/// One stream: a source with one filter set, with its own state file.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// The state file's name (without `.json`).
    pub name: String,
    /// The source and filters, stored in the state file and checked on load.
    pub description: String,
    pub source: Source,
    pub kind: StreamKind,
}

/// The streams a config asks for.
pub fn streams_for(cfg: &Config) -> Vec<StreamSpec> {
    let mut out = Vec::new();
    for source in &cfg.sources {
        match source {
            Source::Audit => {
                let filter =
                    AuditFilter { actions: cfg.actions.clone(), actor: cfg.actor.clone(), entity: cfg.entity.clone() };
                let description = filter.describe();
                let name = if description == "audit" {
                    "audit".to_string()
                } else {
                    format!("audit-{:016x}", fnv1a(&description))
                };
                out.push(StreamSpec { name, description, source: *source, kind: StreamKind::Audit(filter) });
            }
            Source::Access | Source::Integration => {}
        }
    }
    out
}

/// A stable 64-bit hash for file names (FNV-1a; std's hasher is not stable across releases).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Entries of one page to hand to the host, and the stream state to commit once it took them.
#[derive(Debug)]
pub struct Batch {
    pub id: u64,
    /// Index of the stream in the collector's list.
    pub stream: usize,
    pub source: Source,
    pub page: AuditPage,
    /// Indices into `page.entries` of the entries to deliver, in page order (newest first).
    pub deliver: Vec<u32>,
    /// The stream's state after this page; durable only once this batch is acknowledged.
    pub snapshot: StreamState,
    /// The page ended its sequence and the stream is now within one interval of now.
    pub caught_up: bool,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.deliver.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliver.is_empty()
    }

    /// The JSON bytes and `date_create` of delivered entry `i`.
    pub fn event(&self, i: usize) -> (&[u8], i64) {
        let e = &self.page.entries[self.deliver[i] as usize];
        (self.page.entry_bytes(e), e.date_create)
    }
}

/// Why collecting stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CollectError {
    /// Retrying cannot help: auth, scope, plan, arguments. The message says what to do.
    Permanent(String),
    /// Still failing after `max_retries`; a later attempt may succeed.
    Transient(String),
    /// Stopped by shutdown or interrupt.
    Stopped,
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollectError::Permanent(m) | CollectError::Transient(m) => f.write_str(m),
            CollectError::Stopped => f.write_str("stopped"),
        }
    }
}

struct Stream {
    spec: StreamSpec,
    state: StreamState,
    /// When this stream should next be polled.
    due: Instant,
}

pub struct Collector {
    cfg: Config,
    token: Secret,
    http: HttpClient,
    audit_budget: Arc<Mutex<Budget>>,
    clock: SystemClock,
    retry: RetryPolicy,
    jitter: Jitter,
    streams: Vec<Stream>,
    next_stream: usize,
    next_batch_id: u64,
    stats: Arc<Mutex<Stats>>,
    stop: Arc<StopSignal>,
    logs: Arc<LogQueue>,
}

impl Collector {
    /// Builds a collector for `specs` starting from the given (loaded) states.
    pub fn new(
        cfg: Config,
        specs: Vec<(StreamSpec, StreamState)>,
        stats: Arc<Mutex<Stats>>,
        stop: Arc<StopSignal>,
        logs: Arc<LogQueue>,
    ) -> Result<Collector, ConfigError> {
        let token = cfg.resolve_token()?;
        let now = Instant::now();
        Ok(Collector {
            http: HttpClient::new(cfg.timeout, cfg.tls_insecure),
            audit_budget: shared_budget(&cfg.api_url, Tier::AuditLogs, cfg.max_calls_per_minute),
            clock: SystemClock::new(),
            retry: RetryPolicy::new(cfg.max_retries),
            jitter: Jitter::from_time(),
            streams: specs.into_iter().map(|(spec, state)| Stream { spec, state, due: now }).collect(),
            next_stream: 0,
            next_batch_id: 1,
            token,
            cfg,
            stats,
            stop,
            logs,
        })
    }

    pub fn interval(&self) -> Duration {
        self.cfg.interval
    }

    fn policy(&self) -> WindowPolicy {
        WindowPolicy { since: self.cfg.since, lag: self.cfg.lag, overlap: self.cfg.overlap }
    }

    /// When the earliest stream is due again (for the worker's idle wait).
    pub fn next_due(&self) -> Option<Instant> {
        self.streams.iter().map(|s| s.due).min()
    }

    /// True when every stream has finished a sequence within one interval of now.
    pub fn all_caught_up(&self) -> bool {
        let now = crate::config::now_unix();
        let slack = self.cfg.interval.as_secs() as i64;
        let policy = self.policy();
        self.streams.iter().all(|s| s.state.caught_up(now, &policy, slack))
    }

    /// Fetches the next page of the next due stream. `Ok(None)`: nothing is due now.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, CollectError> {
        let n = self.streams.len();
        for k in 0..n {
            let i = (self.next_stream + k) % n;
            if self.streams[i].due > Instant::now() {
                continue;
            }
            self.next_stream = (i + 1) % n;
            if let Some(batch) = self.poll_stream(i)? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// One page of stream `i`, or `None` when it is caught up (then it is due after `interval`).
    fn poll_stream(&mut self, i: usize) -> Result<Option<Batch>, CollectError> {
        let policy = self.policy();
        loop {
            let now = crate::config::now_unix();
            let Some(req) = self.streams[i].state.plan(now, &policy) else {
                self.streams[i].due = Instant::now() + self.cfg.interval;
                self.update_lag();
                return Ok(None);
            };
            let StreamKind::Audit(filter) = &self.streams[i].spec.kind;
            let url = audit_logs_url(&self.cfg.api_url, filter, self.cfg.limit, &req);
            match self.fetch_audit_page(&url, &req) {
                Ok(page) => return Ok(Some(self.accept_page(i, page))),
                Err(FetchError::InvalidCursor) => {
                    self.logs.push(
                        Level::Warn,
                        format!(
                            "stream {}: cursor expired (invalid_cursor); resuming the sequence from its saved bounds",
                            self.streams[i].spec.name
                        ),
                    );
                    self.streams[i].state.on_invalid_cursor();
                    self.with_stats(|s| s.invalid_cursors += 1);
                }
                Err(FetchError::Fatal(e)) => {
                    let msg = e.to_string();
                    self.with_stats(|s| s.last_error = Some(msg));
                    return Err(e);
                }
            }
        }
    }

    fn accept_page(&mut self, i: usize, page: AuditPage) -> Batch {
        let policy = self.policy();
        let stream = &mut self.streams[i];
        let verdict =
            stream.state.on_page(page.entries.iter().map(|e| (&*e.id, e.date_create)), &page.next_cursor, &policy);
        let exclude = &self.cfg.exclude_actions;
        let mut excluded = 0u64;
        let deliver: Vec<u32> = verdict
            .deliver
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .filter(|(k, _)| {
                let drop = !exclude.is_empty()
                    && page.entries[*k].action.as_deref().is_some_and(|a| exclude.iter().any(|x| x == a));
                excluded += drop as u64;
                !drop
            })
            .map(|(k, _)| k as u32)
            .collect();
        let now = crate::config::now_unix();
        let caught_up =
            verdict.sequence_done && stream.state.caught_up(now, &policy, self.cfg.interval.as_secs() as i64);
        if caught_up {
            stream.due = Instant::now() + self.cfg.interval;
        }
        let batch = Batch {
            id: self.next_batch_id,
            stream: i,
            source: stream.spec.source,
            deliver,
            snapshot: stream.state.clone(),
            caught_up,
            page,
        };
        self.next_batch_id += 1;
        let lag = stream.state.lag_behind(now);
        let progress = stream.state.window_progress();
        self.with_stats(|s| {
            s.pages += 1;
            s.duplicates_dropped += verdict.duplicates;
            s.out_of_window += verdict.out_of_window;
            s.excluded += excluded;
            s.last_success = Some(now);
            s.last_error = None;
            s.lag_seconds = lag;
            s.window_progress = progress;
            if verdict.sequence_done {
                s.sequences += 1;
            }
        });
        batch
    }

    fn update_lag(&self) {
        let now = crate::config::now_unix();
        let lag = self.streams.iter().filter_map(|s| s.state.lag_behind(now)).max();
        self.with_stats(|s| s.lag_seconds = lag);
    }

    fn with_stats(&self, f: impl FnOnce(&mut Stats)) {
        let mut g = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }

    /// Waits for the org budget, then sends; repeats transient failures with backoff and
    /// honours 429 Retry-After, counting every attempt against the budget.
    fn fetch_audit_page(&mut self, url: &str, req: &PageRequest) -> Result<AuditPage, FetchError> {
        let mut failures = 0u32;
        loop {
            self.wait_for_slot(&self.audit_budget.clone())?;
            self.with_stats(|s| s.calls += 1);
            let outcome = match self.http.get(url, Some(&self.token)) {
                Ok(resp) if resp.status == 200 => parse_audit_page(resp.body),
                Ok(resp) => Err(classify_failure(resp.status, resp.retry_after, &resp.body)),
                Err(transport) => Err(ApiError::Transient(transport)),
            };
            match outcome {
                Ok(page) => return Ok(page),
                Err(ApiError::InvalidCursor) if req.cursor.is_some() => return Err(FetchError::InvalidCursor),
                Err(ApiError::InvalidCursor) => {
                    return Err(FetchError::Fatal(CollectError::Permanent(
                        "Slack answered invalid_cursor to a request without a cursor; this is a Slack-side problem, try again later".into(),
                    )))
                }
                Err(ApiError::Permanent { message, .. }) => {
                    return Err(FetchError::Fatal(CollectError::Permanent(message)))
                }
                Err(ApiError::RateLimited(after)) => {
                    let wait = after.unwrap_or(self.retry.default_retry_after);
                    let now = self.clock.now_ms();
                    self.audit_budget.lock().unwrap_or_else(|e| e.into_inner()).on_rate_limited(now, wait);
                    self.logs.push(
                        Level::Warn,
                        format!("Slack answered 429 (rate limited); waiting {} s as asked", wait.as_secs()),
                    );
                    self.with_stats(|s| {
                        s.rate_limited += 1;
                        s.retries += 1;
                    });
                }
                Err(ApiError::Transient(why)) => {
                    failures += 1;
                    if !self.retry.may_retry(failures) {
                        return Err(FetchError::Fatal(CollectError::Transient(format!(
                            "giving up after {} attempts: {why}",
                            failures
                        ))));
                    }
                    let wait = self.retry.backoff(failures, self.jitter.next_f64());
                    self.logs.push(
                        Level::Warn,
                        format!("{why}; retry {failures}/{} in {} ms", self.retry.max_retries, wait.as_millis()),
                    );
                    self.with_stats(|s| {
                        s.retries += 1;
                        s.last_error = Some(why);
                    });
                    if self.stop.sleep(wait) {
                        return Err(FetchError::Fatal(CollectError::Stopped));
                    }
                }
            }
        }
    }

    /// Blocks (interruptibly) until the budget grants a call.
    fn wait_for_slot(&self, budget: &Arc<Mutex<Budget>>) -> Result<(), FetchError> {
        loop {
            if self.stop.is_set() {
                return Err(FetchError::Fatal(CollectError::Stopped));
            }
            let now = self.clock.now_ms();
            let next = {
                let mut b = budget.lock().unwrap_or_else(|e| e.into_inner());
                if b.try_acquire(now) {
                    return Ok(());
                }
                b.next_slot(now)
            };
            // Wake at least once a second to re-check: another collector may share the budget.
            let wait = Duration::from_millis((next - now).clamp(1, 1000));
            self.with_stats(|s| s.budget_waits_ms += wait.as_millis() as u64);
            if self.stop.sleep(wait) {
                return Err(FetchError::Fatal(CollectError::Stopped));
            }
        }
    }
}

enum FetchError {
    InvalidCursor,
    Fatal(CollectError),
}
