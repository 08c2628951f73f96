//! The bundled Slack simulator: a real HTTP/1.1 server on 127.0.0.1 that behaves like Slack's
//! Audit Logs API and the two Web API log methods, with faults on demand.
//!
//! What it reproduces, after Slack's API documentation: newest-first pages, inclusive
//! `oldest`/`latest`, cursors that carry a position but not the query (and count the clients that
//! forget to resend it), bursts of many entries in one second, an org-wide sliding-window budget
//! answered with 429 and `Retry-After`, permanent error bodies, 5xx/resets/truncated/garbage
//! bodies, expiring cursors, live and late events, gzip, `/schemas`, `/actions`,
//! `team.accessLogs` and `team.integrationLogs`.
//!
//! Entries are never stored rendered: the index holds `(date_create, idx)` pairs sorted by key
//! and each entry is rendered on demand from `(seed, idx)` (see `data.rs`).
//!
//! Sim-only endpoints: `GET /sim/stats` (the [`SimStats`] as JSON) and `GET /sim/dataset`
//! (NDJSON `{"id":..,"date_create":..}`, one line per audit entry that exists now).
//!
//! A crate of its own so the shipped library, the C header and the Fluent Bit plugin hold none
//! of it: the `slack-audit` package uses it as a dev-dependency (tests, benches) and, behind its
//! `sim` feature, for the `slack-audit sim` command. One file per concern:
//! - `config`: `SimConfig`, defaults, validation;
//! - `sim`: the `Sim` handle (start, control, stop);
//! - `shared`: the state the threads share (world, index, knobs, windows, counters);
//! - `accept`: the accept loop and each connection's keep-alive loop;
//! - `router`: path to handler;
//! - `gate`: budget, delay and injected faults before each log call;
//! - `window`: the sliding 60 s budget window;
//! - `cursor_table`: cursors issued and the queries that issued them;
//! - `cursor`: the cursor encoding;
//! - `audit`: `/audit/v1/logs`, `/schemas`, `/actions`;
//! - `web`: `team.accessLogs`, `team.integrationLogs`, `auth.test`;
//! - `data`: the generated world and entries rendered on demand;
//! - `varied`: the `varied` dataset's pools, actions and entries (shaped like Slack's answers);
//! - `live`: live and late entries while running;
//! - `http`: the minimal HTTP/1.1 reader and writer, gzip;
//! - `stats`: counters and the `SimStats` snapshot;
//! - `cli`: the foreground run of `slack-audit sim`.

mod accept;
mod audit;
mod cli;
mod config;
mod cursor;
mod cursor_table;
mod data;
mod gate;
mod http;
mod live;
mod router;
mod shared;
mod sim;
mod stats;
mod varied;
mod web;
mod window;

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

pub use cli::run_cli;
pub use config::{Dataset, SimConfig, ERROR_MODES};
pub use sim::Sim;
pub use stats::SimStats;

pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A poisoned lock still holds usable counters and knobs: a panicking handler thread must not
/// take the whole simulator down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
