//! The rate budget shared by the processes of one host, through `state_dir`.
//!
//! Slack's budget is per organization, but a process's own [`Budget`] starts empty: back-to-back
//! `--once` runs (cron, in_exec) and several collectors on one host would each spend a whole
//! minute's budget. So the recent call starts and any Retry-After deadline also live in one
//! small file, `state_dir/rate-budget`, read and rewritten under an exclusive `flock` for
//! every call (the lock is held for microseconds; the file holds at most one window of calls).
//!
//! Times there are wall-clock Unix milliseconds, because a monotonic clock does not survive its
//! process. A clock step is handled sanely: a call further in the future than one window is
//! ignored, a nearer one counts as made now, and a Retry-After deadline is never further away
//! than the Retry-After that set it. So a clock stepped back never stalls collection for longer
//! than a window, and one stepped forward only forgets calls (Slack's 429 then still paces us).
//!
//! The pure part ([`admit`], [`block`]) takes `now` as an argument; [`BudgetStore`] does the I/O.

use crate::error::Error;
use crate::transport::governor::{Budget, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The file's name in `state_dir` (JSON inside; no `.json` suffix, so that nothing listing the
/// stream state files, `*.json`, mistakes it for one).
pub const FILE_NAME: &str = "rate-budget";

/// The schema this build writes. The file is advisory: one it cannot read is started afresh.
const SCHEMA: u32 = 1;

/// The whole file: one [`Shared`] per API tier and URL.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct BudgetFile {
    pub schema: u32,
    /// Keyed by `"<tier> <api_url>"`, so collectors of different orgs or tiers never mix.
    #[serde(default)]
    pub budgets: BTreeMap<String, Shared>,
}

/// One tier's shared history.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Shared {
    /// Unix milliseconds of the calls started within the last window, oldest first.
    #[serde(default)]
    pub calls: Vec<u64>,
    /// No call before this Unix millisecond (a 429's Retry-After); 0 for none.
    #[serde(default)]
    pub blocked_until: u64,
    /// When that deadline was set, to bound it after a clock step back.
    #[serde(default)]
    pub blocked_at: u64,
}

/// The budget `shared` describes, seen at `now`: calls out of the window and calls more than a
/// window in the future dropped, nearer future ones moved to `now`, the deadline bounded.
fn budget_at(shared: &Shared, now: u64, max_calls: u32) -> Budget {
    let mut b = Budget::per_minute(max_calls);
    let window = b.window_ms();
    let mut calls: Vec<u64> = shared
        .calls
        .iter()
        .copied()
        .filter(|&t| t.saturating_add(window) > now && t <= now.saturating_add(window))
        .map(|t| t.min(now))
        .collect();
    calls.sort_unstable();
    for t in calls {
        b.record(t);
    }
    let until = deadline_at(shared, now);
    if until > now {
        b.on_rate_limited(now, Duration::from_millis(until - now));
    }
    b
}

/// The Retry-After deadline as seen at `now` (0 or past: none). A deadline set "in the future"
/// (the clock stepped back since) keeps only its own length from `now`.
fn deadline_at(shared: &Shared, now: u64) -> u64 {
    if shared.blocked_until <= now {
        0
    } else if shared.blocked_at > now {
        now + shared.blocked_until.saturating_sub(shared.blocked_at)
    } else {
        shared.blocked_until
    }
}

/// Takes a slot at `now` if the shared history has one for `max_calls` per window: `Ok` (the
/// call is recorded in `shared`) or `Err` with the earliest millisecond a call may start.
pub fn admit(shared: &mut Shared, now: u64, max_calls: u32) -> Result<(), u64> {
    let mut b = budget_at(shared, now, max_calls);
    if !b.try_acquire(now) {
        return Err(b.next_slot(now));
    }
    shared.calls = b.starts().collect();
    if deadline_at(shared, now) <= now {
        shared.blocked_until = 0;
        shared.blocked_at = 0;
    }
    Ok(())
}

/// A 429 at `now` asked every caller to wait `retry_after`.
pub fn block(shared: &mut Shared, now: u64, retry_after: Duration) {
    let until = now.saturating_add(retry_after.as_millis() as u64);
    if until > deadline_at(shared, now) {
        shared.blocked_until = until;
        shared.blocked_at = now;
    }
}

/// Unix milliseconds now.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One collector's view of the host-wide budget of one API tier.
#[derive(Debug)]
pub struct BudgetStore {
    path: PathBuf,
    key: String,
    max_calls: u32,
    /// An I/O failure is reported once; collection goes on with the process's budget.
    warned: AtomicBool,
}

impl BudgetStore {
    pub fn new(state_dir: &Path, api_url: &str, tier: Tier, max_calls: u32) -> BudgetStore {
        BudgetStore {
            path: state_dir.join(FILE_NAME),
            key: format!("{tier:?} {api_url}"),
            max_calls,
            warned: AtomicBool::new(false),
        }
    }

    /// Takes a slot now: `Ok(None)`, or `Ok(Some(wait))` when the host's budget is spent.
    pub fn try_acquire(&self) -> Result<Option<Duration>, Error> {
        self.update(|shared, now| match admit(shared, now, self.max_calls) {
            Ok(()) => (None, true),
            Err(next) => (Some(Duration::from_millis(next.saturating_sub(now).max(1))), false),
        })
    }

    /// Shares a 429's Retry-After with every process on this host.
    pub fn on_rate_limited(&self, retry_after: Duration) -> Result<(), Error> {
        self.update(|shared, now| {
            block(shared, now, retry_after);
            ((), true)
        })
    }

    /// True the first time only: whether to report an I/O failure.
    pub fn first_failure(&self) -> bool {
        !self.warned.swap(true, Ordering::Relaxed)
    }

    /// Reads the file under an exclusive lock, lets `f` change this tier's entry and writes the
    /// file back (still under the lock, so readers never see half of it) when `f` says so.
    fn update<R>(&self, f: impl FnOnce(&mut Shared, u64) -> (R, bool)) -> Result<R, Error> {
        let what = |e: std::io::Error| {
            Error::state(format!(
                "cannot use the shared rate budget file {}: {e}; state_dir must be writable by the user running slack-audit (going on with this process's budget only)",
                self.path.display()
            ))
        };
        let mut file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(what)?;
        // SAFETY: flock on a file descriptor we own; no memory is involved. Closing the file
        // (end of this function) releases the lock.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(what(std::io::Error::last_os_error()));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(what)?;
        // Empty (new), torn by a crash mid-write, or from another schema: start afresh.
        let mut content: BudgetFile = serde_json::from_slice(&bytes)
            .ok()
            .filter(|c: &BudgetFile| c.schema == SCHEMA)
            .unwrap_or(BudgetFile { schema: SCHEMA, budgets: BTreeMap::new() });
        let now = wall_ms();
        let (out, write) = f(content.budgets.entry(self.key.clone()).or_default(), now);
        if write {
            // Entries of other tiers or URLs that saw no call for a window are dropped.
            content
                .budgets
                .retain(|_, s| s.calls.iter().any(|&t| t.saturating_add(120_000) > now) || s.blocked_until > now);
            let text = serde_json::to_vec(&content).map_err(|e| what(std::io::Error::other(e)))?;
            file.seek(SeekFrom::Start(0)).map_err(what)?;
            file.write_all(&text).map_err(what)?;
            file.set_len(text.len() as u64).map_err(what)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn calls_of_an_earlier_run_count_until_they_leave_the_window() {
        let mut s = Shared::default();
        assert_eq!(admit(&mut s, T0, 2), Ok(()));
        assert_eq!(admit(&mut s, T0 + 10, 2), Ok(()));
        // A later run (same file) at T0 + 5 s must wait for the first call to age out.
        assert_eq!(admit(&mut s, T0 + 5_000, 2), Err(T0 + 60_500));
        assert_eq!(admit(&mut s, T0 + 60_500, 2), Ok(()));
        assert_eq!(s.calls, vec![T0 + 10, T0 + 60_500]);
    }

    #[test]
    fn a_retry_after_is_shared_and_bounded_after_a_clock_step_back() {
        let mut s = Shared::default();
        block(&mut s, T0, Duration::from_secs(30));
        assert_eq!(admit(&mut s, T0 + 1_000, 50), Err(T0 + 30_000));
        // The clock steps back an hour: the wait is still at most the 30 s asked.
        assert_eq!(admit(&mut s, T0 - 3_600_000, 50), Err(T0 - 3_600_000 + 30_000));
        assert_eq!(admit(&mut s, T0 + 30_000, 50), Ok(()));
        assert_eq!((s.blocked_until, s.blocked_at), (0, 0));
    }

    #[test]
    fn a_clock_step_never_stalls_longer_than_a_window() {
        let mut s = Shared { calls: vec![T0, T0 + 1, T0 + 2], ..Shared::default() };
        // Stepped back 10 minutes: calls "from the future" beyond a window are ignored.
        assert_eq!(admit(&mut s, T0 - 600_000, 3), Ok(()));
        // Stepped back 20 s: they count as made now, so the wait is one window, not more.
        let mut s = Shared { calls: vec![T0, T0 + 1, T0 + 2], ..Shared::default() };
        assert_eq!(admit(&mut s, T0 - 20_000, 3), Err(T0 - 20_000 + 60_500));
    }

    #[test]
    fn the_store_shares_calls_and_retry_after_between_instances() {
        let dir = tempfile::tempdir().unwrap();
        let a = BudgetStore::new(dir.path(), "http://x/audit/v1", Tier::AuditLogs, 2);
        let b = BudgetStore::new(dir.path(), "http://x/audit/v1", Tier::AuditLogs, 2);
        let other_tier = BudgetStore::new(dir.path(), "http://x/audit/v1", Tier::WebApiLogs, 2);
        assert_eq!(a.try_acquire(), Ok(None));
        assert_eq!(a.try_acquire(), Ok(None));
        let wait = b.try_acquire().unwrap().expect("b must wait for a's calls");
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_millis(60_500), "{wait:?}");
        assert_eq!(other_tier.try_acquire(), Ok(None));
        other_tier.on_rate_limited(Duration::from_secs(20)).unwrap();
        let wait = other_tier.try_acquire().unwrap().expect("Retry-After is shared");
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20), "{wait:?}");
        // A torn file is started afresh, not an error.
        std::fs::write(dir.path().join(FILE_NAME), b"{\"schema\":1,\"budg").unwrap();
        assert_eq!(b.try_acquire(), Ok(None));
    }
}
