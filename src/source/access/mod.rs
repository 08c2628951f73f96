//! The access source: `team.accessLogs`, one row per (user, ip, user agent), delivered again
//! whenever its `date_last` moves. Read as a cursor walk ([`super::walk`], which holds the rest
//! of its [`super::SourceKind`]).

pub mod ecs;
pub mod wire;

use super::walk::{self, WebLog};
use super::{Ctx, Request, SourceState};
use crate::config::Source;
use crate::source::access::wire::{access_logs_url, parse_access_page};
use crate::source::slack::{ApiError, Page};

/// What an access stream's state file holds: its walk and the rows it knows.
pub type AccessState = crate::source::weblogs::WebState;

/// The access source (its row in [`super::kind`]'s table).
pub struct Access;

impl WebLog for Access {
    const SOURCE: Source = Source::Access;

    fn wrap(state: AccessState) -> SourceState {
        SourceState::Access(state)
    }

    super::variant_of!(Access, AccessState);

    fn plan(state: &mut AccessState, ctx: &Ctx) -> Option<Request> {
        let req = walk::plan(state, ctx)?;
        Some(Request {
            url: access_logs_url(&ctx.cfg.web_api_url, ctx.cfg.limit, &req),
            expiring_cursor: req.cursor.is_some(),
            page: 1,
        })
    }

    fn parse(body: Vec<u8>, _req: &Request) -> Result<Page, ApiError> {
        parse_access_page(body)
    }

    fn ecs() -> crate::format::ecs::Mapping {
        ecs::ACCESS
    }
}
