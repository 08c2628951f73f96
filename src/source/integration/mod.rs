//! The integration source: `team.integrationLogs`, each log delivered once. Read as a walk over
//! page numbers ([`super::walk`]; the walk's "cursor" is the next page number).

pub mod ecs;
pub mod wire;

use super::{walk, Accepted, Ctx, Request, SourceKind, SourceState, StreamSpec};
use crate::config::{Config, Source};
use crate::transport::governor::Tier;
use crate::source::integration::wire::{integration_logs_url, integration_page_size, parse_integration_page};
use crate::source::slack::web::classify_web_failure;
use crate::source::slack::{ApiError, Page};
use std::time::Duration;

/// What an integration stream's state file holds: its walk and the logs it knows.
pub type IntegrationState = crate::source::weblogs::WebState;

super::variant_of!(Integration, IntegrationState);

/// The integration source (its row in [`super::kind`]'s table).
pub struct Integration;

impl SourceKind for Integration {
    fn tier(&self) -> Tier {
        Tier::WebApiLogs
    }

    fn streams(&self, _cfg: &Config) -> Vec<StreamSpec> {
        let name = Source::Integration.name().to_string();
        vec![StreamSpec {
            description: name.clone(),
            name,
            source: Source::Integration,
            filter: Default::default(),
        }]
    }

    fn fresh(&self) -> SourceState {
        SourceState::Integration(IntegrationState::default())
    }

    fn plan(&self, _spec: &StreamSpec, state: &mut SourceState, ctx: &Ctx) -> Option<Request> {
        let req = walk::plan_paged(state_mut(state), ctx, integration_page_size(ctx.cfg.limit))?;
        Some(Request {
            url: integration_logs_url(&ctx.cfg.web_api_url, ctx.cfg.limit, &req),
            // A page number never expires: `invalid_cursor` here is Slack's fault.
            expiring_cursor: false,
            page: req.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1),
        })
    }

    fn parse(&self, body: Vec<u8>, req: &Request) -> Result<Page, ApiError> {
        parse_integration_page(body, req.page)
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

    /// As for access rows: the floor is the checkpoint, and no walk is recorded.
    fn with_checkpoint(&self, t: i64) -> SourceState {
        SourceState::Integration(IntegrationState { floor: Some(t), ..Default::default() })
    }

    fn ecs(&self) -> crate::format::ecs::Mapping {
        ecs::INTEGRATION
    }
}
