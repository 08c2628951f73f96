//! What the access and integration sources share: both are read as walks from the newest row
//! down ([`crate::source::weblogs`]), from the Web API's tier, with the Web API's errors.

use super::{Accepted, Ctx, Request, SourceKind, SourceState, StateView, StreamSpec};
use crate::config::{Config, Source};
use crate::source::slack::web::classify_web_failure;
use crate::source::slack::{ApiError, Page};
use crate::source::weblogs::{key_of, WebPolicy, WebRequest, WebState, MAX_WALK_PAGES};
use crate::transport::governor::Tier;
use serde_json::{json, Value};
use std::time::Duration;

/// What tells a Web API log source apart: its name, its state variant, how it asks for the
/// walk's next page and reads the answer, its ECS mapping. The rest of [`SourceKind`] is one
/// walk for all of them (the blanket impl below).
pub(super) trait WebLog: Sync {
    const SOURCE: Source;
    /// The source's variant of [`SourceState`] holding `state`.
    fn wrap(state: WebState) -> SourceState;
    /// Its state; any other is replaced by a fresh one (a stream with no file).
    fn state_mut(state: &mut SourceState) -> &mut WebState;
    /// Its state, if `state` is one.
    fn state_ref(state: &SourceState) -> Option<&WebState>;
    /// The next request of the walk, starting one when due.
    fn plan(state: &mut WebState, ctx: &Ctx) -> Option<Request>;
    /// Reads a 200 answer to `req`.
    fn parse(body: Vec<u8>, req: &Request) -> Result<Page, ApiError>;
    fn ecs() -> crate::format::ecs::Mapping;
}

impl<T: WebLog> SourceKind for T {
    fn tier(&self) -> Tier {
        Tier::WebApiLogs
    }

    fn streams(&self, _cfg: &Config) -> Vec<StreamSpec> {
        let name = T::SOURCE.name().to_string();
        vec![StreamSpec { description: name.clone(), name, source: T::SOURCE, filter: Default::default() }]
    }

    fn fresh(&self) -> SourceState {
        T::wrap(WebState::default())
    }

    fn plan(&self, _spec: &StreamSpec, state: &mut SourceState, ctx: &Ctx) -> Option<Request> {
        T::plan(T::state_mut(state), ctx)
    }

    fn parse(&self, body: Vec<u8>, req: &Request) -> Result<Page, ApiError> {
        T::parse(body, req)
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
        classify_web_failure(status, retry_after, body)
    }

    fn observe_server_time(&self, state: &mut SourceState, server_now: i64, _ctx: &Ctx) {
        T::state_mut(state).cap_before(server_now);
    }

    fn on_invalid_cursor(&self, state: &mut SourceState) -> &'static str {
        T::state_mut(state).on_invalid_cursor();
        INVALID_CURSOR
    }

    fn accept(&self, state: &mut SourceState, page: &Page, ctx: &Ctx) -> Accepted {
        accept(T::state_mut(state), page, ctx)
    }

    fn caught_up(&self, state: &SourceState, ctx: &Ctx) -> bool {
        T::state_ref(state).is_some_and(|w| w.caught_up(ctx.now, ctx.slack()))
    }

    /// The floor is the checkpoint: rows dated at or after it are delivered again, older ones
    /// not. No walk is recorded, so the next run walks (a recent last walk would let `--once`
    /// end at once, reading nothing).
    fn with_checkpoint(&self, t: i64) -> SourceState {
        T::wrap(WebState { floor: Some(t), ..Default::default() })
    }

    fn ecs(&self) -> crate::format::ecs::Mapping {
        T::ecs()
    }
}

pub(super) fn policy(ctx: &Ctx) -> WebPolicy {
    WebPolicy { since: ctx.cfg.since, margin: ctx.cfg.overlap }
}

/// Plan: the next page of the walk, starting one when due.
pub(super) fn plan(state: &mut WebState, ctx: &Ctx) -> Option<WebRequest> {
    state.plan(ctx.now)
}

/// Plan for a walk over numbered pages of `page_size` rows (see [`WebState::plan_paged`]).
pub(super) fn plan_paged(state: &mut WebState, ctx: &Ctx, page_size: u32) -> Option<WebRequest> {
    state.plan_paged(ctx.now, page_size)
}

/// The text logged when a walk's cursor expired.
pub(super) const INVALID_CURSOR: &str =
    "cursor expired (invalid_cursor); walking again from the newest row (rows delivered already are dropped)";

/// Accept: rows are told apart by their key (the id without its date).
pub(super) fn accept(state: &mut WebState, page: &Page, ctx: &Ctx) -> Accepted {
    let verdict =
        state.on_page(page.entries.iter().map(|e| (key_of(page.id(e)), e.time)), &page.next_cursor, &policy(ctx));
    Accepted {
        deliver: Accepted::indices(&verdict.deliver),
        done: verdict.walk_done,
        // A walk resumed from an older run ends behind now: the next one starts at once.
        caught_up: verdict.walk_done && state.caught_up(ctx.now, ctx.slack()),
        duplicates: verdict.duplicates,
        out_of_window: 0,
        excluded: 0,
        warning: verdict.page_limit_hit.then(|| {
            format!(
                "stopped reading after {MAX_WALK_PAGES} pages (Slack's limit); older rows of this poll were skipped. Raise `limit` (up to 1000 rows per page for these methods) or shorten `interval`"
            )
        }),
    }
}

impl StateView for WebState {
    /// The floor: rows dated before it are not delivered again.
    fn checkpoint(&self) -> Option<i64> {
        self.floor
    }

    fn resumes_from(&self) -> Option<i64> {
        self.walked_at
    }

    fn lag_behind(&self, now: i64) -> Option<i64> {
        self.walked_at.map(|c| now - c)
    }

    fn window_progress(&self) -> Option<f64> {
        None
    }

    fn show(&self, delivered_total: u64, since: i64, when: &dyn Fn(i64) -> String) -> Vec<String> {
        let mut out = vec![match self.floor {
            Some(f) => format!("  checkpoint: {} (rows dated before it are not delivered again)", when(f)),
            None => format!("  checkpoint: none yet (the first walk reads from {})", when(since)),
        }];
        out.push(format!("  delivered: {} rows; {} recent rows remembered", delivered_total, self.known.len()));
        if let Some(t) = self.walked_at {
            out.push(format!("  last walk: up to {}", when(t)));
        }
        if let Some(h) = self.high_water {
            out.push(format!("  newest row seen: {}", when(h)));
        }
        if let Some(walk) = &self.inflight {
            out.push(format!(
                "  walk in progress: up to {}, {} pages read, cursor {}",
                when(walk.before),
                walk.pages,
                if walk.cursor.is_some() { "saved" } else { "none" }
            ));
        }
        out
    }

    fn to_json(&self, time: &dyn Fn(Option<i64>) -> Value) -> serde_json::Map<String, Value> {
        // The keys of an audit stream's (null where they do not apply), plus the walk's own.
        let v = json!({
            "checkpoint": Value::Null,
            "web_walked_at": time(self.walked_at),
            "boundary_ids": 0,
            "in_flight": Value::Null,
            "floor": time(self.floor),
            "known_rows": self.known.len(),
            "walk_in_progress": self.inflight.is_some(),
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        }
    }
}
