//! The rate budget and the retry policy: pure logic over an injected clock.
//!
//! Slack's limits are per organization and count every call, retries included, so one
//! [`Budget`] per API tier is shared by every collector in the process ([`shared_budget`]), and
//! by the processes of one host through [`crate::store::budget_store`].
//! Nothing here sleeps or does I/O; callers ask "when may I call?" and wait themselves.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Milliseconds on a monotonic clock; tests drive it by hand.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The real monotonic clock: milliseconds since the process's one epoch ([`process_epoch`]),
/// whenever it was created. Budgets are shared per process, so every reader of a shared budget
/// must count from the same origin; a clock per collector made one collector's calls look
/// older (or newer) to another, and a Retry-After set by one land at the wrong time for others.
pub struct SystemClock {
    start: Instant,
}

/// The origin of every [`SystemClock`] in this process, fixed at first use.
pub fn process_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock { start: process_epoch() }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// A sliding-window call budget: at most `max_calls` starts in any window of `window_ms`.
///
/// The window is a little longer than 60 s so that a server counting arrivals (which lag our
/// send times by a variable delay) never sees one call too many in its own 60 s window.
#[derive(Debug)]
pub struct Budget {
    max_calls: usize,
    window_ms: u64,
    starts: VecDeque<u64>,
    /// Set by a 429's Retry-After: no call before this instant.
    blocked_until: u64,
}

/// Slack counts calls per minute; we count over a minute plus this margin.
pub(crate) const WINDOW_MARGIN_MS: u64 = 500;

impl Budget {
    pub fn per_minute(max_calls: u32) -> Budget {
        Budget {
            max_calls: max_calls.max(1) as usize,
            window_ms: 60_000 + WINDOW_MARGIN_MS,
            starts: VecDeque::new(),
            blocked_until: 0,
        }
    }

    /// Lowers the limit (several collectors sharing one budget take the smallest setting).
    pub fn limit_to(&mut self, max_calls: u32) {
        self.max_calls = self.max_calls.min(max_calls.max(1) as usize);
    }

    /// The earliest time a call may start.
    pub fn next_slot(&mut self, now: u64) -> u64 {
        while let Some(&t) = self.starts.front() {
            if t + self.window_ms <= now {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        let by_window = if self.starts.len() < self.max_calls {
            now
        } else {
            self.starts[self.starts.len() - self.max_calls] + self.window_ms
        };
        by_window.max(self.blocked_until).max(now)
    }

    /// Takes a slot if one is free at `now`; returns false (and takes nothing) otherwise.
    pub fn try_acquire(&mut self, now: u64) -> bool {
        if self.next_slot(now) <= now {
            self.starts.push_back(now);
            true
        } else {
            false
        }
    }

    /// A 429 arrived: Slack says wait `retry_after` before any further call.
    pub fn on_rate_limited(&mut self, now: u64, retry_after: Duration) {
        self.blocked_until = self.blocked_until.max(now + retry_after.as_millis() as u64);
    }

    /// Records a call that started at `t` (another process's, read from the shared file);
    /// calls must be recorded oldest first.
    pub fn record(&mut self, t: u64) {
        self.starts.push_back(t);
    }

    /// The recorded call starts, oldest first.
    pub fn starts(&self) -> impl Iterator<Item = u64> + '_ {
        self.starts.iter().copied()
    }

    /// The window length in milliseconds.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }
}

/// The API tiers with separate budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Audit Logs API, Tier 3 (about 50 calls per minute for the whole org).
    AuditLogs,
    /// Web API log methods, Tier 2 (about 20 per minute).
    WebApiLogs,
}

impl Tier {
    /// The base URL the tier is read from: `api_url` or `web_api_url`.
    pub fn base_url(self, cfg: &crate::config::Config) -> &str {
        match self {
            Tier::AuditLogs => &cfg.api_url,
            Tier::WebApiLogs => &cfg.web_api_url,
        }
    }
}

type BudgetKey = (String, Tier);

/// The process-wide budget for (`api_url`, tier), shared by every collector in this process.
pub fn shared_budget(api_url: &str, tier: Tier, max_calls: u32) -> Arc<Mutex<Budget>> {
    static REGISTRY: OnceLock<Mutex<HashMap<BudgetKey, Arc<Mutex<Budget>>>>> = OnceLock::new();
    let mut map = REGISTRY.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let b = map
        .entry((api_url.to_string(), tier))
        .or_insert_with(|| Arc::new(Mutex::new(Budget::per_minute(max_calls))))
        .clone();
    b.lock().unwrap_or_else(|e| e.into_inner()).limit_to(max_calls);
    b
}

/// Exponential backoff with full jitter and a bound on the number of retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Used when a 429 carries no usable Retry-After.
    pub default_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            default_retry_after: Duration::from_secs(30),
        }
    }

    /// The wait before retry number `attempt` (1-based), given a uniform random `r` in [0, 1).
    /// Half the exponential step is fixed and half is jitter, so a herd spreads out but no
    /// retry comes back immediately.
    pub fn backoff(&self, attempt: u32, r: f64) -> Duration {
        let exp = self.base.as_millis() as f64 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
        let step = exp.min(self.cap.as_millis() as f64);
        Duration::from_millis((step / 2.0 + step / 2.0 * r.clamp(0.0, 1.0)) as u64)
    }

    /// Whether another retry is allowed after `failures` failed attempts of this request.
    /// Rate-limit answers are not failures of the request: they only delay it.
    pub fn may_retry(&self, failures: u32) -> bool {
        failures <= self.max_retries
    }
}

/// A small deterministic PRNG (xorshift64*) for jitter: no dependency, seedable in tests.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    pub fn from_time() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter::new(nanos ^ (std::process::id() as u64) << 32)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_a_burst_then_spaces_calls_by_the_window() {
        let mut b = Budget::per_minute(3);
        assert!(b.try_acquire(0));
        assert!(b.try_acquire(10));
        assert!(b.try_acquire(20));
        assert!(!b.try_acquire(30));
        assert_eq!(b.next_slot(30), 60_500);
        assert!(!b.try_acquire(60_499));
        assert!(b.try_acquire(60_500));
        assert_eq!(b.next_slot(60_500), 60_510);
    }

    #[test]
    fn no_sixty_second_window_ever_holds_more_than_the_limit() {
        let mut b = Budget::per_minute(50);
        let mut starts = Vec::new();
        let mut now = 0;
        while starts.len() < 400 {
            now = b.next_slot(now);
            assert!(b.try_acquire(now));
            starts.push(now);
            now += 7; // callers come back a few ms later
        }
        for (i, &s) in starts.iter().enumerate() {
            let in_window = starts[i..].iter().take_while(|&&t| t < s + 60_000).count();
            assert!(in_window <= 50, "window at {s} holds {in_window}");
        }
        // and the budget is used: 400 calls need just over 7 windows
        assert!(*starts.last().unwrap() < 8 * 60_500, "{}", starts.last().unwrap());
    }

    #[test]
    fn retry_after_blocks_every_caller() {
        let mut b = Budget::per_minute(50);
        assert!(b.try_acquire(0));
        b.on_rate_limited(100, Duration::from_secs(7));
        assert_eq!(b.next_slot(200), 7_100);
        assert!(!b.try_acquire(7_099));
        assert!(b.try_acquire(7_100));
    }

    #[test]
    fn shared_budget_is_one_per_api_and_tier_and_takes_the_smallest_limit() {
        let a = shared_budget("http://test-shared/a", Tier::AuditLogs, 50);
        let b = shared_budget("http://test-shared/a", Tier::AuditLogs, 10);
        let c = shared_budget("http://test-shared/a", Tier::WebApiLogs, 20);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let mut g = a.lock().unwrap();
        for i in 0..10 {
            assert!(g.try_acquire(i));
        }
        assert!(!g.try_acquire(11));
    }

    /// Issue 12 item 2: clocks created at different times read one time base, so a budget
    /// shared by collectors created apart (hot reload, a C host re-creating handles) sees
    /// every call at its true time.
    #[test]
    fn clocks_created_apart_share_one_time_base() {
        let older = SystemClock::new();
        std::thread::sleep(Duration::from_millis(50));
        let younger = SystemClock::new();
        let t_older = older.now_ms();
        let t_younger = younger.now_ms();
        // Read later on one monotonic base, the younger clock can never be behind the older.
        assert!(t_younger >= t_older, "younger clock reads {t_younger} ms, older {t_older} ms");
        assert!(t_older >= 50, "{t_older}");
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter_and_cap() {
        let p = RetryPolicy::new(5);
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(60));
        assert!(p.may_retry(5));
        assert!(!p.may_retry(6));
    }

    #[test]
    fn jitter_is_uniformish_and_in_range() {
        let mut j = Jitter::new(42);
        let xs: Vec<f64> = (0..10_000).map(|_| j.next_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
