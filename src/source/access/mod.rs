//! The access source: `team.accessLogs`, one row per (user, ip, user agent), delivered again
//! whenever its `date_last` moves. Read as a cursor walk ([`super::walk`]).

pub mod ecs;
pub mod wire;

use super::{walk, Accepted, Ctx, Request, SourceKind, SourceState, StreamSpec};
use crate::config::{Config, Source};
use crate::transport::governor::Tier;
use crate::source::access::wire::{access_logs_url, parse_access_page};
use crate::source::slack::web::classify_web_failure;
use crate::source::slack::{ApiError, Page};
use std::time::Duration;

/// What an access stream's state file holds: its walk and the rows it knows.
pub type AccessState = crate::source::weblogs::WebState;

super::variant_of!(Access, AccessState);

/// The access source (its row in [`super::kind`]'s table).
pub struct Access;

impl SourceKind for Access {
    fn tier(&self) -> Tier {
        Tier::WebApiLogs
    }

    fn streams(&self, _cfg: &Config) -> Vec<StreamSpec> {
        let name = Source::Access.name().to_string();
        vec![StreamSpec { description: name.clone(), name, source: Source::Access, filter: Default::default() }]
    }

    fn fresh(&self) -> SourceState {
        SourceState::Access(AccessState::default())
    }

    fn plan(&self, _spec: &StreamSpec, state: &mut SourceState, ctx: &Ctx) -> Option<Request> {
        let req = walk::plan(state_mut(state), ctx)?;
        Some(Request {
            url: access_logs_url(&ctx.cfg.web_api_url, ctx.cfg.limit, &req),
            expiring_cursor: req.cursor.is_some(),
            page: 1,
        })
    }

    fn parse(&self, body: Vec<u8>, _req: &Request) -> Result<Page, ApiError> {
        parse_access_page(body)
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
        classify_web_failure(status, retry_after, body)
    }

    fn observe_server_time(&self, state: &mut SourceState, server_now: i64, _ctx: &Ctx) {
        state_mut(state).cap_before(server_now);
    }

    fn on_invalid_cursor(&self, state: &mut SourceState) -> &'static str {
        state_mut(state).on_invalid_cursor();
        walk::INVALID_CURSOR
    }

    fn accept(&self, state: &mut SourceState, page: &Page, ctx: &Ctx) -> Accepted {
        walk::accept(state_mut(state), page, ctx)
    }

    fn caught_up(&self, state: &SourceState, ctx: &Ctx) -> bool {
        state_ref(state).is_some_and(|w| w.caught_up(ctx.now, ctx.slack()))
    }

    /// The floor is the checkpoint: rows dated at or after it are delivered again, older ones
    /// not. No walk is recorded, so the next run walks (a recent last walk would let `--once`
    /// end at once, reading nothing).
    fn with_checkpoint(&self, t: i64) -> SourceState {
        SourceState::Access(AccessState { floor: Some(t), ..Default::default() })
    }

    fn ecs(&self) -> crate::format::ecs::Mapping {
        ecs::ACCESS
    }
}
