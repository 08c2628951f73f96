//! The integration source: `team.integrationLogs`, each log delivered once. Read as a walk over
//! page numbers ([`super::walk`], which holds the rest of its [`super::SourceKind`]; the walk's
//! "cursor" is the next page number).

pub mod ecs;
pub mod wire;

use super::walk::{self, WebLog};
use super::{Ctx, Request, SourceState};
use crate::config::Source;
use crate::source::integration::wire::{integration_logs_url, integration_page_size, parse_integration_page};
use crate::source::slack::{ApiError, Page};

/// What an integration stream's state file holds: its walk and the logs it knows.
pub type IntegrationState = crate::source::weblogs::WebState;

/// The integration source (its row in [`super::kind`]'s table).
pub struct Integration;

impl WebLog for Integration {
    const SOURCE: Source = Source::Integration;

    fn wrap(state: IntegrationState) -> SourceState {
        SourceState::Integration(state)
    }

    super::variant_of!(Integration, IntegrationState);

    fn plan(state: &mut IntegrationState, ctx: &Ctx) -> Option<Request> {
        let req = walk::plan_paged(state, ctx, integration_page_size(ctx.cfg.limit))?;
        Some(Request {
            url: integration_logs_url(&ctx.cfg.web_api_url, ctx.cfg.limit, &req),
            // A page number never expires: `invalid_cursor` here is Slack's fault.
            expiring_cursor: false,
            page: req.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(1),
        })
    }

    fn parse(body: Vec<u8>, req: &Request) -> Result<Page, ApiError> {
        parse_integration_page(body, req.page)
    }

    fn ecs() -> crate::format::ecs::Mapping {
        ecs::INTEGRATION
    }
}
