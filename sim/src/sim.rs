//! `Sim`: a running simulator as tests, benchmarks and `slack-audit sim` hold it: start it,
//! read its URLs, stats and dataset, change faults and budgets while it runs, stop it.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::accept::accept_loop;
use crate::config::check_error_mode;
use crate::live::live_loop;
use crate::shared::Shared;
use crate::{lock, unix_now, web, SimConfig, SimStats};

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
        let shared = Arc::new(Shared::new(&config, addr.port()));
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
