//! Layer 5, the sources: one folder per source, the trait the collector's one poll loop drives
//! ([`crate::engine::collector`]), and the pieces the sources share.
//!
//! For each page the loop asks the stream's source to **plan** the next request from the state
//! (its URL is the **request**), sends it under the budget of the source's API tier, has the
//! source **parse** a 200 answer or **classify** any other, then **accept** the page: the
//! verdict (which entries to deliver) and the new state, committed once the host acknowledges
//! the batch. **Describe** gives the streams a configuration reads (names, descriptions) and the
//! texts of logs and `state show`.
//!
//! Everything here is pure (no I/O, no clock: `now` comes in [`Ctx`]).
//!
//! # The tree
//! - `audit/`, `access/`, `integration/`: one folder per source, each with `mod.rs` (its
//!   [`SourceKind`] and its state), `wire.rs` (its URL, page reader and error codes) and
//!   whatever else is its own (`audit/window.rs`, the window/checkpoint state machine;
//!   `access/ecs.rs`, `integration/ecs.rs`, their `format = ecs` mappings);
//! - shared by the sources: `slack/` (Slack's pages and error classification, and the Web API
//!   envelope in `slack/web.rs`), `walk.rs` and `weblogs.rs` (the walk of a Web API log),
//!   `dedupe.rs` (ids already delivered near a boundary).
//!
//! # Adding a source
//! 1. A folder `src/source/<name>/` with a unit type implementing [`SourceKind`] and the state
//!    its streams keep (`Default`, serde); `variant_of!` gives it its `state_mut`/`state_ref`.
//!    A Web API log read as a walk implements `walk::WebLog` instead (name, state variant,
//!    request, page reader, ECS mapping): `walk.rs` gives it the rest of [`SourceKind`].
//!    Its wire format and, for `format = ecs`, its mapping (built with the ECS writer's parts in
//!    src/format/ecs.rs) go in the same folder. Shared pieces are used, not copied: `walk` for a
//!    paged log, `slack` for Slack's answers, the governor's [`Tier`] for the budget.
//! 2. One row in the table of sources in src/base/source_id.rs; it gives the `sources` option
//!    its word, the state file its key, [`SourceState`] its variant and [`kind`] its code.
//! 3. `pub mod <name>;` below.
//!
//! Nothing else changes: tests/repo_consistency.rs fails if code outside src/source/ matches on
//! a source, and checks that the access and integration sources are each their folder plus
//! their row.

pub mod access;
pub mod audit;
pub mod dedupe;
pub mod integration;
pub mod slack;
mod walk;
pub mod weblogs;

use crate::config::Config;
use crate::transport::governor::Tier;
use crate::source::slack::{ApiError, Page};
use audit::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

pub use crate::base::source_id::Source;
use crate::base::source_id::source_table;

/// Makes the per-source enum of states and the lookup of a source's code from the rows of
/// [`source_table`].
macro_rules! states_and_kinds {
    ($($variant:ident = $name:literal => $module:ident :: $unit:ident ( $state:ty )),* $(,)?) => {
        /// What a stream's state file holds for its source: one variant per source, each owned
        /// by its module (serialized as `{"audit": {...}}`, `{"access": {...}}`, ...).
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum SourceState {
            $(#[serde(rename = $name)] $variant($state)),*
        }

        impl SourceState {
            /// The source this state belongs to.
            pub fn source(&self) -> Source {
                match self {
                    $(SourceState::$variant(_) => Source::$variant),*
                }
            }

            /// What the state says, for logs and `state show`.
            pub fn view(&self) -> &dyn StateView {
                match self {
                    $(SourceState::$variant(s) => s),*
                }
            }
        }

        /// The code of one source.
        pub fn kind(source: Source) -> &'static dyn SourceKind {
            match source {
                $(Source::$variant => &$module::$unit),*
            }
        }
    };
}

source_table!(states_and_kinds);

impl Source {
    /// How this source's entries become ECS documents (`format = ecs`).
    pub fn ecs(self) -> crate::format::ecs::Mapping {
        kind(self).ecs()
    }
}

/// Everything a stream's state file holds (schema 2): what every source keeps, plus its
/// source's own state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// Entries delivered by this stream since its state was created.
    pub delivered_total: u64,
    /// Unix seconds of the last page that delivered an entry (or of the stream's first poll):
    /// the no-data alarm (`stall_warning_after`) counts from here, across restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<i64>,
    #[serde(flatten)]
    pub source: SourceState,
}

impl StreamState {
    /// The state of a stream of `source` that has read nothing yet.
    pub fn new(source: Source) -> StreamState {
        StreamState { delivered_total: 0, last_delivery: None, source: kind(source).fresh() }
    }

    /// The state before any page of an audit stream.
    pub fn audit(state: audit::AuditState) -> StreamState {
        StreamState { source: SourceState::Audit(state), ..StreamState::new(Source::Audit) }
    }

    /// The audit part, if this is an audit stream.
    pub fn as_audit(&self) -> Option<&audit::AuditState> {
        match &self.source {
            SourceState::Audit(a) => Some(a),
            _ => None,
        }
    }

    /// The second up to which the stream is delivered, as `state show` and the logs name it:
    /// an audit stream's checkpoint, an access or integration stream's floor.
    pub fn checkpoint(&self) -> Option<i64> {
        self.source.view().checkpoint()
    }

    /// Seconds of history not yet covered: how far the stream is behind `now`.
    pub fn lag_behind(&self, now: i64) -> Option<i64> {
        self.source.view().lag_behind(now)
    }

    /// The share of the window in flight already read, 0.0..=1.0 (audit streams only).
    pub fn window_progress(&self) -> Option<f64> {
        self.source.view().window_progress()
    }
}

impl Default for StreamState {
    /// An audit stream that has read nothing (what a missing state file means; the collector
    /// gives a stream of another source its own fresh state).
    fn default() -> StreamState {
        StreamState::new(Source::Audit)
    }
}

/// What a state says, without knowing its source (logs, `state show`, the stats).
pub trait StateView {
    /// See [`StreamState::checkpoint`].
    fn checkpoint(&self) -> Option<i64>;
    /// Where the next run resumes, for its first log line (`None`: from `since`).
    fn resumes_from(&self) -> Option<i64>;
    /// See [`StreamState::lag_behind`].
    fn lag_behind(&self, now: i64) -> Option<i64>;
    /// See [`StreamState::window_progress`].
    fn window_progress(&self) -> Option<f64>;
    /// The lines of `state show` after the stream's name (`since`: where a first run reads from).
    fn show(&self, delivered_total: u64, since: i64, when: &dyn Fn(i64) -> String) -> Vec<String>;
    /// The source's fields of `state show --json` (`time` renders a second).
    fn to_json(&self, time: &dyn Fn(Option<i64>) -> Value) -> serde_json::Map<String, Value>;
}

/// One stream: a source with one filter set, with its own state file.
#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// The state file's name (without `.json`).
    pub name: String,
    /// The source and filters, stored in the state file and checked on load.
    pub description: String,
    pub source: Source,
    /// The audit API's filters, resent with every page (empty for the other sources).
    pub filter: AuditFilter,
}

impl StreamSpec {
    /// The code of this stream's source.
    pub fn kind(&self) -> &'static dyn SourceKind {
        kind(self.source)
    }
}

/// The streams a config asks for, in the order of its `sources`.
pub fn streams_for(cfg: &Config) -> Vec<StreamSpec> {
    cfg.sources.iter().flat_map(|s| kind(*s).streams(cfg)).collect()
}

/// What the poll loop knows when it asks a source something.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    /// Unix seconds now, by Slack's clock once it answered.
    pub now: i64,
    /// When the collector started, by the same clock (`--once` reads at least up to here).
    pub started: i64,
}

impl Ctx<'_> {
    /// How close to now a finished sequence or walk counts as caught up.
    pub fn slack(&self) -> i64 {
        self.cfg.interval.as_secs() as i64
    }
}

/// The next request of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    /// The request carries a cursor that can expire (`invalid_cursor` then restarts the
    /// sequence or walk; on a request without one it is Slack's fault and fatal).
    pub expiring_cursor: bool,
    /// The page number asked for (page-numbered methods; 1 otherwise).
    pub page: u32,
}

/// What one page comes to.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Indices of the entries to deliver, in page order.
    pub deliver: Vec<u32>,
    /// The page ended a sequence (audit) or a walk (access, integration).
    pub done: bool,
    /// The stream is within one interval of now: poll it again after `interval`.
    pub caught_up: bool,
    pub duplicates: u64,
    pub out_of_window: u64,
    pub excluded: u64,
    /// A warning to log (the stream's name is put in front).
    pub warning: Option<String>,
}

impl Accepted {
    /// The indices of the `true` flags of a verdict.
    pub fn indices(flags: &[bool]) -> Vec<u32> {
        flags.iter().enumerate().filter(|(_, d)| **d).map(|(k, _)| k as u32).collect()
    }
}

/// The code of one source, driven by the collector's poll loop. Every method gets the
/// stream's [`SourceState`]; a state of another source (a stream with no state file yet) is
/// replaced by this source's fresh one.
pub trait SourceKind: Sync {
    /// The API tier it is read from: which base URL and which org-wide budget.
    fn tier(&self) -> Tier;
    /// Describe: the streams `cfg` reads from this source.
    fn streams(&self, cfg: &Config) -> Vec<StreamSpec>;
    /// The state of a stream that has read nothing.
    fn fresh(&self) -> SourceState;
    /// Plan and request: the next request, starting a sequence or walk when one is due;
    /// `None` when caught up.
    fn plan(&self, spec: &StreamSpec, state: &mut SourceState, ctx: &Ctx) -> Option<Request>;
    /// Parse a 200 answer to `req`.
    fn parse(&self, body: Vec<u8>, req: &Request) -> Result<Page, ApiError>;
    /// Classify any other answer.
    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError;
    /// Slack's clock (an answer's `Date`) says it is `server_now`: a window or walk planned by a
    /// local clock running ahead ends there.
    fn observe_server_time(&self, state: &mut SourceState, server_now: i64, ctx: &Ctx);
    /// The cursor expired: restart the sequence or walk; returns what to log.
    fn on_invalid_cursor(&self, state: &mut SourceState) -> &'static str;
    /// Accept one page: the verdict, with the state moved past it.
    fn accept(&self, state: &mut SourceState, page: &Page, ctx: &Ctx) -> Accepted;
    /// True when the stream has nothing left to read up to now.
    fn caught_up(&self, state: &SourceState, ctx: &Ctx) -> bool;
    /// `state set --checkpoint t`: a state delivering again from second `t`.
    fn with_checkpoint(&self, t: i64) -> SourceState;
    /// Its mapping to the Elastic Common Schema (`format = ecs`), one of those of
    /// [`crate::format::ecs`]: the ECS writer names no source, each source names its mapping.
    fn ecs(&self) -> crate::format::ecs::Mapping;
}

/// Generates the accessors a source module uses to reach its variant of [`SourceState`].
macro_rules! variant_of {
    ($variant:ident, $state:ty) => {
        /// This source's state; any other is replaced by a fresh one (a stream with no file).
        fn state_mut(s: &mut crate::source::SourceState) -> &mut $state {
            if !matches!(s, crate::source::SourceState::$variant(_)) {
                *s = crate::source::SourceState::$variant(<$state>::default());
            }
            match s {
                crate::source::SourceState::$variant(x) => x,
                _ => unreachable!("just set"),
            }
        }

        /// This source's state, if `s` is one.
        #[allow(dead_code)]
        fn state_ref(s: &crate::source::SourceState) -> Option<&$state> {
            match s {
                crate::source::SourceState::$variant(x) => Some(x),
                _ => None,
            }
        }
    };
}
pub(crate) use variant_of;

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs_at(pairs.iter().copied(), 1_700_000_000).unwrap()
    }

    #[test]
    fn every_source_is_its_own_stream() {
        let specs = streams_for(&cfg(&[("sources", "integration,audit,access")]));
        assert_eq!(specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>(), vec!["integration", "audit", "access"]);
        assert_eq!(
            specs.iter().map(|s| s.source).collect::<Vec<_>>(),
            vec![Source::Integration, Source::Audit, Source::Access]
        );
    }

    #[test]
    fn each_source_names_its_own_code_state_and_ecs_mapping() {
        for &source in Source::ALL {
            assert_eq!(kind(source).fresh().source(), source);
            assert_eq!(source.ecs().source(), source);
            assert_eq!(StreamState::new(source).source.source(), source);
        }
    }

    #[test]
    fn a_state_is_tagged_by_its_source_and_round_trips() {
        for source in [Source::Audit, Source::Access, Source::Integration] {
            let mut s = StreamState::new(source);
            s.delivered_total = 3;
            assert_eq!(s.source.source(), source);
            let text = serde_json::to_string(&s).unwrap();
            assert!(text.contains(&format!("\"{}\":{{", source.name())), "{text}");
            assert_eq!(serde_json::from_str::<StreamState>(&text).unwrap(), s);
        }
    }
}
