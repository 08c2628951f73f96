//! The simulator's counters: `Counters` (atomics bumped by every handler) and `SimStats`, the
//! snapshot tests read and `GET /sim/stats` serves.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

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
pub(crate) struct Counters {
    pub(crate) calls: AtomicU64,
    pub(crate) calls_429: AtomicU64,
    pub(crate) incomplete_cursor_queries: AtomicU64,
    pub(crate) cursor_requests: AtomicU64,
    pub(crate) invalid_cursors: AtomicU64,
    pub(crate) faults_5xx: AtomicU64,
    pub(crate) faults_reset: AtomicU64,
    pub(crate) faults_truncate: AtomicU64,
    pub(crate) faults_garbage: AtomicU64,
    pub(crate) faults_slow: AtomicU64,
    pub(crate) pages_served: AtomicU64,
    pub(crate) entries_served: AtomicU64,
    pub(crate) short_pages: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) permanent_errors: AtomicU64,
    pub(crate) invalid_arguments: AtomicU64,
    pub(crate) web_calls: AtomicU64,
    pub(crate) web_calls_429: AtomicU64,
    pub(crate) live_events_added: AtomicU64,
    pub(crate) late_events_added: AtomicU64,
    pub(crate) connections: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
