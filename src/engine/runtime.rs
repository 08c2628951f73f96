//! A running collection: the worker thread that fetches, and the host-side handle that hands
//! batches over and makes progress durable when the host acknowledges them.
//!
//! The worker does every network wait (rate budget, Retry-After, backoff, slow responses), so
//! `collect` only waits for a ready batch, up to the caller's time budget. The mailbox between
//! them holds at most one batch, and the worker reads a page only when the mailbox is empty,
//! which bounds memory to about two pages. Without read-ahead (the CLI) the worker also waits
//! for the host to ask for the next batch: one page alive.

/// A batch of entries handed to the host: part of this API.
pub use crate::engine::collector::Batch;
use crate::engine::collector::{streams_for, Collector};
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::engine::logs::{Level, LogQueue};
use crate::engine::signal::StopSignal;
use crate::source::StreamState;
use crate::store::state::{open_stream_waiting, StreamStore};
use crate::engine::stats::Stats;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the worker tells the host side.
enum Msg {
    Batch(Box<Batch>),
    /// Every stream has caught up with now (as of this message's place in the queue).
    CaughtUp,
    Failed(Error),
}

#[derive(Default)]
struct MailboxInner {
    queue: VecDeque<Msg>,
    batches: usize,
    interrupted: bool,
    closed: bool,
    /// Off: the worker reads the next page only once the host waits for it (`wanted`).
    no_read_ahead: bool,
    /// The host is in `take` (or was, and no batch was posted since).
    wanted: bool,
}

/// A FIFO between the worker and the host side holding at most one batch.
#[derive(Default)]
struct Mailbox {
    inner: Mutex<MailboxInner>,
    cv: Condvar,
}

const BATCH_CAPACITY: usize = 1;

enum Taken {
    Msg(Msg),
    TimedOut,
    Interrupted,
}

impl Mailbox {
    /// Queues `msg`, waiting for room if it is a batch. False if the mailbox was closed.
    fn post(&self, msg: Msg) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let is_batch = matches!(msg, Msg::Batch(_));
        while is_batch && g.batches >= BATCH_CAPACITY && !g.closed {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.closed {
            return false;
        }
        g.batches += is_batch as usize;
        if is_batch {
            g.wanted = false;
        }
        g.queue.push_back(msg);
        self.cv.notify_all();
        true
    }

    /// Waits until a batch could be posted without waiting (and, without read-ahead, until the
    /// host asks for one). False if the mailbox was closed.
    fn wait_for_room(&self) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while !Self::may_read(&g) && !g.closed {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        !g.closed
    }

    /// The worker may read the next page now.
    fn may_read(g: &MailboxInner) -> bool {
        g.batches < BATCH_CAPACITY && (!g.no_read_ahead || g.wanted)
    }

    fn take(&self, timeout: Duration) -> Taken {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::want_locked(&mut g, &self.cv);
        loop {
            if std::mem::take(&mut g.interrupted) {
                return Taken::Interrupted;
            }
            if let Some(m) = g.queue.pop_front() {
                if matches!(m, Msg::Batch(_)) {
                    g.batches -= 1;
                    self.cv.notify_all();
                }
                return Taken::Msg(m);
            }
            let now = Instant::now();
            if now >= deadline || g.closed {
                return Taken::TimedOut;
            }
            g = self.cv.wait_timeout(g, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Without read-ahead, lets the worker read the next page.
    fn want(&self) {
        Self::want_locked(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()), &self.cv);
    }

    fn want_locked(g: &mut MailboxInner, cv: &Condvar) {
        if g.no_read_ahead && !g.wanted && g.batches == 0 {
            g.wanted = true;
            cv.notify_all();
        }
    }

    fn set_read_ahead(&self, on: bool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.no_read_ahead = !on;
        self.cv.notify_all();
    }

    fn interrupt(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.interrupted = true;
        self.cv.notify_all();
    }

    fn close(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.closed = true;
        self.cv.notify_all();
    }
}

/// A batch handed to the host and not yet acknowledged.
struct Pending {
    id: u64,
    stream: usize,
    snapshot: StreamState,
    events: u64,
    /// False for pages whose entries were all dropped (duplicates): never handed over, made
    /// durable together with the batch before them.
    handed_over: bool,
}

/// The most batches the host may hold without acknowledging.
pub(crate) const MAX_PENDING: usize = 64;

/// A running collection, driven by the host thread.
pub struct Collection {
    stores: Vec<StreamStore>,
    mailbox: Arc<Mailbox>,
    stop: Arc<StopSignal>,
    stats: Arc<Mutex<Stats>>,
    logs: Arc<LogQueue>,
    pending: VecDeque<Pending>,
    /// Slack's refusal (`ErrorKind::Refused`): every later collect reports it.
    failed: Option<Error>,
    caught_up: bool,
    worker_done: Option<mpsc::Receiver<()>>,
    source_count: usize,
    /// Stream names by index, for the per-stream stats.
    names: Vec<String>,
}

/// The result of one `collect`.
pub enum Collected {
    Batch(Box<Batch>),
    /// Nothing ready within the time budget.
    Nothing,
    /// `interrupt` was called.
    Interrupted,
}

/// A changed `actions`, `actor` or `entity` starts a new stream (its own state file, read from
/// `since`) and leaves the old stream's file as it was. Says so once, at start-up: which streams
/// are new and which files in `state_dir` this configuration does not read.
fn note_streams_left_behind(
    cfg: &Config,
    specs: &[(crate::engine::collector::StreamSpec, StreamState)],
    new_streams: &[String],
    logs: &LogQueue,
) {
    let others: Vec<String> = crate::store::state::list_streams(&cfg.state_dir)
        .into_iter()
        .filter(|f| !specs.iter().any(|(s, _)| s.name == f.name))
        .map(|f| {
            let at = match f.state {
                Ok(s) => match s.checkpoint() {
                    Some(c) => format!("checkpoint {c}"),
                    None => "no checkpoint yet".to_string(),
                },
                Err(_) => "unreadable".to_string(),
            };
            format!("{}.json ({}, {at})", f.name, f.stream)
        })
        .collect();
    if others.is_empty() {
        return;
    }
    let left = others.join("; ");
    let dir = cfg.state_dir.display();
    if new_streams.is_empty() {
        logs.push(Level::Info, format!("state_dir {dir} also holds streams this configuration does not read: {left}"));
    } else {
        logs.push(
            Level::Warn,
            format!(
                "new stream(s) {} start from `since` ({}); state_dir {dir} also holds streams this configuration does not read, left as they are: {left}. If a filter (actions, actor, entity) changed by mistake, restore it to resume the old stream; `slack-audit state show` lists them all",
                new_streams.join(", "),
                cfg.since
            ),
        );
    }
}

/// What a host may choose when it starts a [`Collection`], beyond the [`Config`]; the default
/// is what [`Collection::start`] does.
#[derive(Default)]
pub struct StartOptions<'a> {
    /// Ends a wait for a locked stream early when it returns true (the CLI passes "a signal
    /// arrived or stdout's reader is gone"). Default: wait up to `lock_wait`.
    pub cancelled: Option<&'a dyn Fn() -> bool>,
    /// Where the collector reads Unix time (tests run it skewed; Slack's `Date` header corrects
    /// it either way). Default: the system clock. Not for embedders: the trait is internal.
    #[doc(hidden)]
    pub wall_clock: Option<Arc<dyn crate::transport::wallclock::WallClock>>,
}

impl Collection {
    /// Opens (and locks) the state of every stream, resolves the token and starts the worker.
    /// A stream locked by another process is waited for up to `lock_wait`.
    /// Errors: [`ErrorKind::Config`] (no token), [`ErrorKind::State`] (state_dir or a state file
    /// unusable, a stream still in use after `lock_wait`).
    pub fn start(cfg: Config) -> Result<Collection, Error> {
        Self::start_with(cfg, StartOptions::default())
    }

    /// As [`Collection::start`], with the choices of [`StartOptions`].
    pub fn start_with(cfg: Config, options: StartOptions<'_>) -> Result<Collection, Error> {
        let cancelled = options.cancelled.unwrap_or(&|| false);
        let wall = options.wall_clock.unwrap_or_else(|| Arc::new(crate::transport::wallclock::SystemWallClock));
        let logs = Arc::new(LogQueue::default());
        for warning in cfg.warnings() {
            logs.push(Level::Warn, warning);
        }
        let mut stores = Vec::new();
        let mut specs = Vec::new();
        let mut new_streams = Vec::new();
        for spec in streams_for(&cfg) {
            if !cfg.state_dir.join(format!("{}.json", spec.name)).exists() {
                new_streams.push(format!("{} ({})", spec.name, spec.description));
            }
            let (store, state) =
                open_stream_waiting(&cfg.state_dir, &spec.name, &spec.description, cfg.lock_wait, cancelled)?;
            logs.push(
                Level::Info,
                match state.source.view().resumes_from() {
                    Some(c) => {
                        format!("stream {}: resuming from checkpoint {c} ({})", spec.name, store.path().display())
                    }
                    None => format!("stream {}: first run, reading from {}", spec.name, cfg.since),
                },
            );
            stores.push(store);
            specs.push((spec, state));
        }
        note_streams_left_behind(&cfg, &specs, &new_streams, &logs);
        let source_count = cfg.sources.len();
        let mut initial = Stats::default();
        let now = crate::config::now_unix();
        for (spec, state) in &specs {
            let st = initial.stream(&spec.name);
            st.source = spec.source.name().to_string();
            st.checkpoint = state.lag_behind(now).map(|lag| now - lag);
        }
        let names: Vec<String> = specs.iter().map(|(spec, _)| spec.name.clone()).collect();
        let stats = Arc::new(Mutex::new(initial));
        let stop = Arc::new(StopSignal::new());
        let collector = Collector::with_clock(cfg, specs, stats.clone(), stop.clone(), logs.clone(), wall)?;
        let mailbox = Arc::new(Mailbox::default());
        let (done_tx, done_rx) = mpsc::channel();
        {
            let (mailbox, stop) = (mailbox.clone(), stop.clone());
            std::thread::Builder::new()
                .name("slack-audit-worker".into())
                .spawn(move || {
                    work(collector, &mailbox, &stop);
                    let _ = done_tx.send(());
                })
                .map_err(|e| Error::config(format!("cannot start the worker thread: {e}")))?;
        }
        Ok(Collection {
            stores,
            mailbox,
            stop,
            stats,
            logs,
            pending: VecDeque::new(),
            failed: None,
            caught_up: false,
            worker_done: Some(done_rx),
            source_count,
            names,
        })
    }

    /// On by default: the worker reads the next page while the host handles the last one (two
    /// pages alive). Off: it reads a page only while the host waits in `collect` or once the
    /// host says it let go of the last page ([`Collection::want_next`], [`PageReleased`]), so a
    /// host that drops each page before collecting the next keeps one page alive (the CLI, and
    /// the Fluent Bit plugin, which releases the page as soon as its msgpack is built: about
    /// 7 MB less at `limit` 9999), at the price of that overlap.
    pub fn set_read_ahead(&self, on: bool) {
        self.mailbox.set_read_ahead(on);
    }

    /// Without read-ahead: the host has dropped the last batch, so the worker may read the next
    /// page now rather than at the next `collect` (the CLI calls it before it waits for the
    /// pipe's reader, so the read overlaps that wait). Thread-safe; no effect with read-ahead.
    pub fn want_next(&self) {
        self.mailbox.want();
    }

    /// [`Collection::want_next`] for a host that lets go of a page on another path than the
    /// one holding the collection (the C ABI: `slack_audit_batch_release_page` and
    /// `slack_audit_batch_free`, while another thread may be inside `collect`).
    pub fn page_released_signal(&self) -> PageReleased {
        PageReleased(self.mailbox.clone())
    }

    /// Waits up to `timeout` for the next batch with entries to deliver. Pages whose entries
    /// were all duplicates are made durable here without being handed over.
    /// Errors: [`ErrorKind::Refused`] and [`ErrorKind::Config`] (a certificate or proxy that
    /// refused; both sticky: every later call returns it),
    /// [`ErrorKind::Transient`] (once per failed attempt; the worker keeps trying),
    /// [`ErrorKind::State`], [`ErrorKind::TooManyPending`].
    pub fn collect(&mut self, timeout: Duration) -> Result<Collected, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.pending.iter().filter(|p| p.handed_over).count() >= MAX_PENDING {
            return Err(Error::too_many_pending(format!(
                "{MAX_PENDING} batches were handed over without an acknowledgement; acknowledge them before collecting more"
            )));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.mailbox.take(left) {
                Taken::TimedOut => return Ok(Collected::Nothing),
                Taken::Interrupted => return Ok(Collected::Interrupted),
                Taken::Msg(Msg::CaughtUp) => {
                    self.caught_up = true;
                    self.with_stats(|s| s.caught_up = true);
                }
                Taken::Msg(Msg::Failed(e)) => {
                    self.logs.push(Level::Error, e.to_string());
                    // The worker has ended: without this, later calls would just time out.
                    if matches!(e.kind(), ErrorKind::Refused | ErrorKind::Config) {
                        self.failed = Some(e.clone());
                    }
                    return Err(e);
                }
                Taken::Msg(Msg::Batch(mut batch)) => {
                    let snapshot = std::mem::take(&mut batch.snapshot);
                    let events = batch.len() as u64;
                    if events == 0 {
                        if self.pending.is_empty() {
                            self.save(batch.stream, &snapshot)?;
                        } else {
                            self.pending.push_back(Pending {
                                id: batch.id,
                                stream: batch.stream,
                                snapshot,
                                events,
                                handed_over: false,
                            });
                        }
                        continue;
                    }
                    self.caught_up = false;
                    self.pending.push_back(Pending {
                        id: batch.id,
                        stream: batch.stream,
                        snapshot,
                        events,
                        handed_over: true,
                    });
                    let pending = self.pending.iter().filter(|p| p.handed_over).count() as u64;
                    let name = &self.names[batch.stream];
                    self.with_stats(|s| {
                        s.stream(name).events += events;
                        s.events += events;
                        s.batches_pending = pending;
                        s.caught_up = false;
                    });
                    return Ok(Collected::Batch(batch));
                }
            }
        }
    }

    /// The host took batch `id` (and every batch handed over before it): make it durable.
    /// Errors: [`ErrorKind::NotPending`], [`ErrorKind::State`] (the previous checkpoint is
    /// intact).
    pub fn ack(&mut self, id: u64) -> Result<(), Error> {
        let Some(pos) = self.pending.iter().position(|p| p.id == id && p.handed_over) else {
            return Err(Error::not_pending(id));
        };
        // Pages of duplicates that followed this batch become durable with it.
        let mut upto = pos;
        while upto + 1 < self.pending.len() && !self.pending[upto + 1].handed_over {
            upto += 1;
        }
        // Newest snapshot per stream among the acknowledged ones.
        let mut latest: Vec<Option<usize>> = vec![None; self.stores.len()];
        for (k, p) in self.pending.iter().enumerate().take(upto + 1) {
            latest[p.stream] = Some(k);
        }
        let now = crate::config::now_unix();
        let mut points = Vec::new();
        for (stream, k) in latest.iter().enumerate() {
            if let Some(k) = k {
                let snapshot = self.pending[*k].snapshot.clone();
                self.save(stream, &snapshot)?;
                points.push((stream, snapshot.lag_behind(now).map(|lag| now - lag)));
            }
        }
        let mut per_stream = vec![0u64; self.names.len()];
        for p in self.pending.iter().take(upto + 1) {
            per_stream[p.stream] += p.events;
        }
        let acked: u64 = self.pending.drain(..=upto).map(|p| p.events).sum();
        let pending = self.pending.iter().filter(|p| p.handed_over).count() as u64;
        let names = &self.names;
        self.with_stats(|s| {
            s.events_acked += acked;
            s.batches_pending = pending;
            for (stream, point) in points {
                s.stream(&names[stream]).checkpoint = point;
            }
            for (stream, n) in per_stream.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                s.stream(&names[stream]).events_acked += n;
            }
        });
        Ok(())
    }

    /// Writes one stream's state. The caller reports a failure (it returns it to the host), so
    /// it is only recorded in the stats here, not logged twice.
    fn save(&self, stream: usize, state: &StreamState) -> Result<(), Error> {
        let r = self.stores[stream].save(state);
        if let Err(e) = &r {
            self.with_stats(|s| s.last_error = Some(e.message().to_string()));
        }
        r
    }

    /// True once the worker reported that every stream caught up and nothing is unacknowledged.
    pub fn caught_up(&self) -> bool {
        self.caught_up && self.pending.iter().all(|p| !p.handed_over)
    }

    /// Makes a blocked (or the next) `collect` return `Interrupted` at once. Thread-safe.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.mailbox.clone())
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The counters, shared: readable while another thread is inside `collect`.
    pub fn stats_source(&self) -> Arc<Mutex<Stats>> {
        self.stats.clone()
    }

    /// The log queue, shared: drainable while another thread is inside `collect`.
    pub fn log_source(&self) -> Arc<LogQueue> {
        self.logs.clone()
    }

    /// How many sources this collection reads (records are tagged when more than one).
    pub fn source_count(&self) -> usize {
        self.source_count
    }

    /// The next log message for the host to print.
    pub fn next_log(&self) -> Option<(Level, String)> {
        self.logs.pop()
    }

    fn with_stats(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Stops the worker (waiting at most `grace` for it) and releases the state locks.
    /// Unacknowledged batches are not made durable: they will be delivered again.
    pub fn shutdown(mut self, grace: Duration) {
        self.stop_worker(grace);
    }

    fn stop_worker(&mut self, grace: Duration) {
        self.stop.set();
        self.mailbox.close();
        if let Some(done) = self.worker_done.take() {
            // A request in flight finishes (or times out) on its own; the worker then exits.
            // It writes no state, so leaving it behind is safe.
            let _ = done.recv_timeout(grace);
        }
    }
}

impl Drop for Collection {
    fn drop(&mut self) {
        self.stop_worker(Duration::from_millis(500));
    }
}

/// A cloneable, thread-safe way to interrupt a `collect`.
#[derive(Clone)]
pub struct Interrupter(Arc<Mailbox>);

impl Interrupter {
    pub fn interrupt(&self) {
        self.0.interrupt();
    }
}

/// A cloneable, thread-safe [`Collection::want_next`]: the host no longer holds the page of its
/// last batch. No effect with read-ahead, or while a batch waits in the mailbox.
#[derive(Clone)]
pub struct PageReleased(Arc<Mailbox>);

impl PageReleased {
    pub fn signal(&self) {
        self.0.want();
    }

    /// For tests of the hosts that signal: a mailbox of its own, read-ahead off, nothing asked.
    #[cfg(test)]
    pub(crate) fn detached() -> PageReleased {
        let m = Mailbox::default();
        m.set_read_ahead(false);
        PageReleased(Arc::new(m))
    }

    /// For tests: a worker behind this mailbox may read the next page now.
    #[cfg(test)]
    pub(crate) fn worker_may_read(&self) -> bool {
        Mailbox::may_read(&self.0.inner.lock().unwrap())
    }
}

/// The worker thread: fetch pages, post them, report catching up and failures.
fn work(mut c: Collector, mailbox: &Mailbox, stop: &StopSignal) {
    let mut reported_caught_up = false;
    while !stop.is_set() {
        // The next page is read only once the last one was taken: at most two pages are alive
        // (one with the host, one read or waiting here), not three, which is a page (several
        // MB at limit 9999) of peak RSS. The read still overlaps the host's work on the last one.
        if !mailbox.wait_for_room() {
            return;
        }
        match c.next_batch() {
            Ok(Some(batch)) => {
                reported_caught_up = false;
                if !mailbox.post(Msg::Batch(Box::new(batch))) {
                    return;
                }
            }
            Ok(None) => {
                if !reported_caught_up && c.all_caught_up() {
                    reported_caught_up = true;
                    if !mailbox.post(Msg::CaughtUp) {
                        return;
                    }
                }
                let wait = c
                    .next_due()
                    .map(|d| d.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(1))
                    .clamp(Duration::from_millis(10), Duration::from_secs(1));
                stop.sleep(wait);
            }
            Err(e) if e.kind() == ErrorKind::Stopped => return,
            Err(e) if e.kind() == ErrorKind::Transient => {
                if !mailbox.post(Msg::Failed(e)) {
                    return;
                }
                stop.sleep(c.interval());
            }
            // Refused, State, TooManyPending: retrying cannot help; the host is told and this
            // worker ends.
            Err(e) => {
                mailbox.post(Msg::Failed(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: u64) -> Msg {
        Msg::Batch(Box::new(Batch {
            id,
            stream: 0,
            source: crate::config::Source::Audit,
            page: crate::source::slack::Page::empty(),
            deliver: Vec::new(),
            snapshot: StreamState::default(),
            caught_up: false,
            formatted: None,
        }))
    }

    fn may_read(m: &Mailbox) -> bool {
        Mailbox::may_read(&m.inner.lock().unwrap())
    }

    fn taken_id(t: Taken) -> Option<u64> {
        match t {
            Taken::Msg(Msg::Batch(b)) => Some(b.id),
            _ => None,
        }
    }

    #[test]
    fn with_read_ahead_the_worker_reads_as_soon_as_the_mailbox_is_empty() {
        let m = Mailbox::default();
        assert!(may_read(&m));
        assert!(m.post(batch(1)));
        assert!(!may_read(&m), "a second page waits until the first is taken");
        assert_eq!(taken_id(m.take(Duration::ZERO)), Some(1));
        assert!(may_read(&m), "taken: the next page is read while the host works on this one");
    }

    #[test]
    fn without_read_ahead_the_worker_reads_only_once_the_host_asks() {
        let m = Mailbox::default();
        m.set_read_ahead(false);
        assert!(!may_read(&m), "nobody asked yet");
        assert!(matches!(m.take(Duration::ZERO), Taken::TimedOut));
        assert!(may_read(&m), "a collect that found nothing asks for a page");
        assert!(m.post(batch(1)));
        assert!(!may_read(&m));
        assert_eq!(taken_id(m.take(Duration::ZERO)), Some(1));
        assert!(!may_read(&m), "the host holds page 1: page 2 is not read yet");
        // Messages that are not batches neither need nor use up the host's request.
        m.want();
        assert!(may_read(&m), "the host dropped page 1");
        assert!(m.post(Msg::CaughtUp));
        assert!(may_read(&m));
        assert!(m.post(batch(2)));
        assert!(!may_read(&m), "the request was used by page 2");
        m.want();
        assert!(!may_read(&m), "page 2 still waits in the mailbox");
    }

    #[test]
    fn a_released_page_lets_the_worker_read_the_next_one() {
        let m = Arc::new(Mailbox::default());
        m.set_read_ahead(false);
        let released = PageReleased(m.clone());
        m.want();
        assert!(m.post(batch(1)));
        released.signal();
        assert!(!may_read(&m), "page 1 still waits in the mailbox: nothing to release yet");
        assert_eq!(taken_id(m.take(Duration::ZERO)), Some(1));
        assert!(!may_read(&m), "the host holds page 1");
        let worker = {
            let m = m.clone();
            std::thread::spawn(move || m.wait_for_room())
        };
        // From another thread than the one that took the batch, as the C ABI does.
        std::thread::spawn(move || released.signal()).join().unwrap();
        assert!(worker.join().unwrap(), "released: the worker reads page 2");
        assert!(may_read(&m));
    }

    #[test]
    fn a_worker_waiting_for_the_host_wakes_when_asked_or_closed() {
        let m = Arc::new(Mailbox::default());
        m.set_read_ahead(false);
        let worker = {
            let m = m.clone();
            std::thread::spawn(move || m.wait_for_room())
        };
        m.want();
        assert!(worker.join().unwrap(), "asked: the worker goes on");
        let worker = {
            let m = m.clone();
            std::thread::spawn(move || {
                let _ = m.post(batch(1));
                m.wait_for_room()
            })
        };
        m.close();
        assert!(!worker.join().unwrap(), "closed: the worker stops waiting");
    }
}
