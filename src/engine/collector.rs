//! The collector: for each stream, plan the next page, spend the rate budget, fetch, retry what
//! is transient, and turn a page into a [`Batch`] of entries to deliver plus the state to make
//! durable once the host acknowledges them.
//!
//! The loop is the same for every source: [`crate::source`] holds what differs (plan, request,
//! parse, classify, accept, describe), one module per source.
//!
//! This is synchronous and owns no state file: it runs on the worker thread of
//! [`crate::engine::runtime`], which hands batches to the host; acknowledgements are written by the host
//! side, in order.

use crate::store::budget_store::BudgetStore;
use crate::config::{Config, Secret, Source};
use crate::error::Error;
use crate::transport::governor::{shared_budget, Budget, Clock, Jitter, RetryPolicy, SystemClock, Tier};
use crate::transport::http::{HttpClient, HttpError};
use crate::engine::logs::{Level, LogQueue};
use crate::engine::signal::StopSignal;
use crate::source::slack::{ApiError, Page};
use crate::source::{Accepted, Ctx, Request, SourceKind, SourceState, StreamState};
use crate::engine::stats::Stats;
use crate::transport::wallclock::{ServerTime, WallClock};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::source::{streams_for, StreamSpec};

/// Entries of one page to hand to the host, and the stream state to commit once it took them.
#[derive(Debug)]
pub struct Batch {
    pub id: u64,
    /// Index of the stream in the collector's list.
    pub stream: usize,
    pub source: Source,
    pub page: Page,
    /// Indices into `page.entries` of the entries to deliver, in page order (newest first).
    pub deliver: Vec<u32>,
    /// The stream's state after this page; durable only once this batch is acknowledged.
    pub snapshot: StreamState,
    /// The page ended its sequence and the stream is now within one interval of now.
    pub caught_up: bool,
    /// With `format = ecs`, every delivered entry as its ECS document (in `deliver` order);
    /// `None` for `raw`, which hands over Slack's bytes untouched.
    pub formatted: Option<crate::format::ecs::Encoded>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.deliver.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliver.is_empty()
    }

    /// The JSON bytes and event time of delivered entry `i`: `date_create` for audit entries,
    /// `date_last` for access rows, `date` for integration logs.
    pub fn event(&self, i: usize) -> (&[u8], i64) {
        let e = &self.page.entries[self.deliver[i] as usize];
        match &self.formatted {
            Some(docs) => (docs.get(i), e.time),
            None => (self.page.entry_bytes(e), e.time),
        }
    }

    /// Re-encodes every delivered entry as an ECS document (`format = ecs`).
    pub fn encode_ecs(&mut self) {
        let mut docs = crate::format::ecs::Encoded::with_capacity(
            self.deliver.len(),
            // Each document is the entry plus its ECS fields: about 500 bytes and some of the
            // entry's strings repeated. Too little means copying the whole batch to grow it.
            self.page.body.len() * 2 + self.deliver.len() * 512,
        );
        let mapping = self.source.ecs();
        for &k in &self.deliver {
            let e = &self.page.entries[k as usize];
            docs.push(mapping, self.page.id(e), e.time, self.page.entry_bytes(e));
        }
        self.formatted = Some(docs);
    }
}

struct Stream {
    spec: StreamSpec,
    state: StreamState,
    /// When this stream should next be polled.
    due: Instant,
    /// The no-data alarm fired for the current stall.
    stall_warned: bool,
}

pub struct Collector {
    /// Local Unix second this collector started: `--once` must cover at least up to here (in
    /// Slack's time: see [`Collector::started`]).
    started_unix: i64,
    /// The local wall clock; [`Collector::now`] corrects it by Slack's.
    wall: Arc<dyn WallClock>,
    /// The offset of Slack's clock (its `Date` header) from `wall`.
    server_time: ServerTime,
    /// The `Date` of the last answer, if it had one.
    last_date: Option<i64>,
    /// The clock-offset warning was logged.
    skew_warned: bool,
    cfg: Config,
    token: Secret,
    http: HttpClient,
    audit_budget: TierBudget,
    web_budget: TierBudget,
    clock: SystemClock,
    retry: RetryPolicy,
    jitter: Jitter,
    streams: Vec<Stream>,
    next_stream: usize,
    /// The stream being polled (its calls are counted in its per-stream stats).
    polling: usize,
    next_batch_id: u64,
    stats: Arc<Mutex<Stats>>,
    stop: Arc<StopSignal>,
    logs: Arc<LogQueue>,
}

impl Collector {
    /// Builds a collector for `specs` starting from the given (loaded) states (tests; the
    /// runtime passes its wall clock to [`Collector::with_clock`]).
    #[cfg(any(test, feature = "internals"))]
    pub fn new(
        cfg: Config,
        specs: Vec<(StreamSpec, StreamState)>,
        stats: Arc<Mutex<Stats>>,
        stop: Arc<StopSignal>,
        logs: Arc<LogQueue>,
    ) -> Result<Collector, Error> {
        Collector::with_clock(cfg, specs, stats, stop, logs, Arc::new(crate::transport::wallclock::SystemWallClock))
    }

    /// As [`Collector::new`], reading Unix time from `wall` (tests run it skewed).
    pub fn with_clock(
        cfg: Config,
        specs: Vec<(StreamSpec, StreamState)>,
        stats: Arc<Mutex<Stats>>,
        stop: Arc<StopSignal>,
        logs: Arc<LogQueue>,
        wall: Arc<dyn WallClock>,
    ) -> Result<Collector, Error> {
        let token = cfg.resolve_token()?;
        let reads: Vec<&str> = specs.iter().map(|(spec, _)| spec.kind().tier().base_url(&cfg)).collect();
        let http = HttpClient::new(&cfg, &reads)?;
        logs.push(Level::Info, http.network_summary());
        let now = Instant::now();
        let unix_now = wall.unix();
        let streams = specs
            .into_iter()
            .map(|(spec, mut state)| {
                // A stream without a state file yet gets its source's fresh state.
                if state.source.source() != spec.source {
                    state.source = spec.kind().fresh();
                }
                // The no-data clock of a new stream starts at its first poll.
                state.last_delivery.get_or_insert(unix_now);
                Stream { spec, state, due: now, stall_warned: false }
            })
            .collect();
        Ok(Collector {
            started_unix: unix_now,
            wall,
            server_time: ServerTime::default(),
            last_date: None,
            skew_warned: false,
            http,
            audit_budget: TierBudget::new(&cfg, Tier::AuditLogs, cfg.max_calls_per_minute),
            web_budget: TierBudget::new(&cfg, Tier::WebApiLogs, cfg.web_max_calls_per_minute),
            clock: SystemClock::new(),
            retry: RetryPolicy::new(cfg.max_retries),
            jitter: Jitter::from_time(),
            streams,
            next_stream: 0,
            polling: 0,
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

    /// Unix seconds now, by Slack's clock once it has answered (the local one until then).
    fn now(&self) -> i64 {
        self.server_time.now(self.wall.unix())
    }

    /// When this collector started, by Slack's clock.
    fn started(&self) -> i64 {
        self.server_time.now(self.started_unix)
    }

    /// Takes Slack's time from an answer's `Date`; warns once when the local clock is off by
    /// more than a minute.
    fn observe_date(&mut self, date: Option<i64>) {
        // A date before Slack's audit data existed is a broken proxy's, not Slack's: ignored.
        let date = date.filter(|d| *d >= crate::config::AUDIT_EPOCH);
        self.last_date = date;
        let Some(server) = date else {
            return;
        };
        let local = self.wall.unix();
        self.server_time.observe(local, server);
        let off = local - server;
        if off.abs() > 60 && !self.skew_warned {
            self.skew_warned = true;
            self.logs.push(
                Level::Warn,
                format!(
                    "the local clock is {} {} Slack's (its Date header); windows and checkpoints use Slack's time. Fix the clock (NTP)",
                    humantime::format_duration(Duration::from_secs(off.unsigned_abs())),
                    if off > 0 { "ahead of" } else { "behind" }
                ),
            );
        }
    }

    /// What a source is told when asked something.
    fn ctx(&self) -> Ctx<'_> {
        Ctx { cfg: &self.cfg, now: self.now(), started: self.started() }
    }

    /// When the earliest stream is due again (for the worker's idle wait).
    pub fn next_due(&self) -> Option<Instant> {
        self.streams.iter().map(|s| s.due).min()
    }

    /// True when every stream has finished a sequence within one interval of now.
    pub fn all_caught_up(&self) -> bool {
        let ctx = self.ctx();
        self.streams.iter().all(|s| s.spec.kind().caught_up(&s.state.source, &ctx))
    }

    /// Fetches the next page of the next due stream. `Ok(None)`: nothing is due now.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        self.check_stalls(self.now());
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

    /// The no-data alarm: a warning (once per stall) and `Stats::stalled_streams` for every
    /// stream that delivered nothing for `stall_warning_after`; cleared when it delivers again.
    fn check_stalls(&mut self, now: i64) {
        let Some(after) = self.cfg.stall_warning_after else {
            return;
        };
        let after = after.as_secs() as i64;
        let mut changed = false;
        for s in &mut self.streams {
            let last = s.state.last_delivery.unwrap_or(now);
            let stalled = now - last >= after;
            if stalled && !s.stall_warned {
                s.stall_warned = true;
                changed = true;
                self.logs.push(
                    Level::Warn,
                    format!(
                        "stream {}: no events delivered for {} (stall_warning_after={after}s); check that Slack still produces them for this source and filter, that the token still has access, and the last error in the stats",
                        s.spec.name,
                        humantime::format_duration(Duration::from_secs((now - last).max(0) as u64)),
                    ),
                );
            } else if !stalled && s.stall_warned {
                s.stall_warned = false;
                changed = true;
                self.logs.push(Level::Info, format!("stream {}: delivering events again", s.spec.name));
            }
        }
        if changed {
            let stalled: Vec<String> =
                self.streams.iter().filter(|s| s.stall_warned).map(|s| s.spec.name.clone()).collect();
            self.with_stats(|st| st.stalled_streams = stalled);
        }
    }

    /// One page of stream `i`, or `None` when it is caught up (then it is due after `interval`).
    /// The same loop for every source: plan, request, parse or classify, accept.
    fn poll_stream(&mut self, i: usize) -> Result<Option<Batch>, Error> {
        self.polling = i;
        let kind = self.streams[i].spec.kind();
        let budget = match kind.tier() {
            Tier::AuditLogs => self.audit_budget.clone(),
            Tier::WebApiLogs => self.web_budget.clone(),
        };
        loop {
            let (spec, state, ctx) = self.source_call(i);
            let Some(req) = kind.plan(spec, state, &ctx) else {
                self.streams[i].due = Instant::now() + self.cfg.interval;
                self.update_lag();
                return Ok(None);
            };
            match self.fetch(kind, &req, &budget) {
                Ok(page) => {
                    let last_date = self.last_date;
                    let (_, state, ctx) = self.source_call(i);
                    // A window or walk planned by a local clock running ahead ends at Slack's now.
                    if let Some(date) = last_date {
                        kind.observe_server_time(state, date, &ctx);
                    }
                    let accepted = kind.accept(state, &page, &ctx);
                    return Ok(Some(self.finish_batch(i, page, accepted)));
                }
                Err(FetchError::InvalidCursor) => {
                    let what = kind.on_invalid_cursor(&mut self.streams[i].state.source);
                    self.logs.push(Level::Warn, format!("stream {}: {what}", self.streams[i].spec.name));
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

    /// What a call into stream `i`'s source needs: its spec, its state and the context.
    fn source_call(&mut self, i: usize) -> (&StreamSpec, &mut SourceState, Ctx<'_>) {
        let (now, started) = (self.now(), self.started());
        let stream = &mut self.streams[i];
        (&stream.spec, &mut stream.state.source, Ctx { cfg: &self.cfg, now, started })
    }

    /// What every page comes to, whatever its source: the stream's bookkeeping, the batch with
    /// the state to commit once it is acknowledged, the stats.
    fn finish_batch(&mut self, i: usize, page: Page, o: Accepted) -> Batch {
        let Accepted { deliver, done, caught_up, duplicates, out_of_window, excluded, warning } = o;
        let now = self.now();
        let stream = &mut self.streams[i];
        if let Some(w) = warning {
            self.logs.push(Level::Warn, format!("stream {}: {w}", stream.spec.name));
        }
        stream.state.delivered_total += deliver.len() as u64;
        if !deliver.is_empty() {
            stream.state.last_delivery = Some(now);
        }
        if caught_up {
            stream.due = Instant::now() + self.cfg.interval;
        }
        let mut batch = Batch {
            id: self.next_batch_id,
            stream: i,
            source: stream.spec.source,
            deliver,
            snapshot: stream.state.clone(),
            caught_up,
            page,
            formatted: None,
        };
        if self.cfg.format == crate::config::OutputFormat::Ecs {
            batch.encode_ecs();
        }
        self.next_batch_id += 1;
        let lag = stream.state.lag_behind(now);
        let progress = stream.state.window_progress();
        self.with_stats(|s| {
            s.pages += 1;
            s.duplicates_dropped += duplicates;
            s.out_of_window += out_of_window;
            s.excluded += excluded;
            s.last_success = Some(now);
            s.last_error = None;
            s.lag_seconds = lag;
            s.window_progress = progress;
            if done {
                s.sequences += 1;
            }
        });
        self.check_stalls(now);
        batch
    }

    fn update_lag(&self) {
        let now = self.now();
        let lag = self.streams.iter().filter_map(|s| s.state.lag_behind(now)).max();
        self.with_stats(|s| s.lag_seconds = lag);
    }

    fn with_stats(&self, f: impl FnOnce(&mut Stats)) {
        let mut g = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }

    /// Waits for `budget` (the org-wide budget of the API tier), then sends; repeats transient
    /// failures with backoff and honours 429 Retry-After, counting every attempt against the
    /// budget. The source parses a 200 answer and classifies any other.
    fn fetch(&mut self, kind: &dyn SourceKind, req: &Request, budget: &TierBudget) -> Result<Page, FetchError> {
        let mut failures = 0u32;
        loop {
            self.wait_for_slot(budget)?;
            let stream = &self.streams[self.polling].spec.name;
            self.with_stats(|s| {
                s.calls += 1;
                s.stream(stream).calls += 1;
            });
            let response = self.http.get(&req.url, Some(&self.token));
            self.observe_date(response.as_ref().ok().and_then(|r| r.date));
            let outcome = match response {
                Ok(resp) if resp.status == 200 => kind.parse(resp.body, req).map(|mut page| {
                    page.recycle = Some(self.http.pool().clone());
                    page
                }),
                Ok(resp) => Err(kind.classify(resp.status, resp.retry_after, &resp.body)),
                Err(HttpError::Transient { message, .. }) => Err(ApiError::Transient(message)),
                // A certificate that fails verification or a proxy that refuses: configuration,
                // not an outage; one attempt, then stop (exit 2, which systemd does not restart).
                Err(HttpError::Setup { message, .. }) => {
                    self.with_stats(|s| s.last_error = Some(message.clone()));
                    return Err(FetchError::Fatal(Error::config(message)));
                }
            };
            match outcome {
                Ok(page) => return Ok(page),
                Err(ApiError::InvalidCursor) if req.expiring_cursor => return Err(FetchError::InvalidCursor),
                Err(ApiError::InvalidCursor) => {
                    return Err(FetchError::Fatal(Error::refused(
                        "Slack answered invalid_cursor to a request without a cursor; this is a Slack-side problem, try again later",
                    )))
                }
                Err(ApiError::Permanent { message, .. }) => {
                    return Err(FetchError::Fatal(Error::refused(message)))
                }
                Err(ApiError::RateLimited(after)) => {
                    let wait = after.unwrap_or(self.retry.default_retry_after);
                    let now = self.clock.now_ms();
                    budget.process.lock().unwrap_or_else(|e| e.into_inner()).on_rate_limited(now, wait);
                    if let Err(e) = budget.host.on_rate_limited(wait) {
                        self.host_budget_failed(&budget.host, e);
                    }
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
                        return Err(FetchError::Fatal(Error::transient(format!(
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
                        return Err(FetchError::Fatal(Error::stopped()));
                    }
                }
            }
        }
    }

    /// Blocks (interruptibly) until both budgets grant a call: the process's, then the host's
    /// (asked under the process's lock, so a call is recorded in both or in neither).
    fn wait_for_slot(&self, budget: &TierBudget) -> Result<(), FetchError> {
        loop {
            if self.stop.is_set() {
                return Err(FetchError::Fatal(Error::stopped()));
            }
            let now = self.clock.now_ms();
            let next = {
                let mut b = budget.process.lock().unwrap_or_else(|e| e.into_inner());
                let next = b.next_slot(now);
                if next > now {
                    next
                } else {
                    match budget.host.try_acquire() {
                        Ok(Some(wait)) => now + wait.as_millis() as u64,
                        Ok(None) => {
                            b.try_acquire(now);
                            return Ok(());
                        }
                        Err(e) => {
                            self.host_budget_failed(&budget.host, e);
                            b.try_acquire(now);
                            return Ok(());
                        }
                    }
                }
            };
            // Wake at least once a second to re-check: another collector may share the budget.
            let wait = Duration::from_millis((next - now).clamp(1, 1000));
            self.with_stats(|s| s.budget_waits_ms += wait.as_millis() as u64);
            if self.stop.sleep(wait) {
                return Err(FetchError::Fatal(Error::stopped()));
            }
        }
    }
}

impl Collector {
    fn host_budget_failed(&self, store: &BudgetStore, e: Error) {
        if store.first_failure() {
            self.logs.push(Level::Warn, e.into_message());
        }
    }
}

/// The budgets of one API tier: the process's (shared by its collectors, on the process's
/// monotonic clock) and the host's (shared through `state_dir` by processes in a row or side by
/// side; see [`crate::store::budget_store`]).
#[derive(Clone)]
struct TierBudget {
    process: Arc<Mutex<Budget>>,
    host: Arc<BudgetStore>,
}

impl TierBudget {
    fn new(cfg: &Config, tier: Tier, max_calls: u32) -> TierBudget {
        let api_url = tier.base_url(cfg);
        TierBudget {
            process: shared_budget(api_url, tier, max_calls),
            host: Arc::new(BudgetStore::new(&cfg.state_dir, api_url, tier, max_calls)),
        }
    }
}

/// What a fetch ends with when it brings no page: an expired cursor (the caller restarts the
/// sequence; not an error) or an error for the host.
enum FetchError {
    InvalidCursor,
    Fatal(Error),
}
