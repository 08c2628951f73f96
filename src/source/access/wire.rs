//! `team.accessLogs`: cursor paging, one row per (user, ip, user agent) whose `date_last` and
//! `count` move.

use crate::source::slack::web::web_envelope;
use crate::source::slack::{percent_encode, ApiError, EntryRef, Page, Seconds, Text};
use crate::source::weblogs::{access_id, access_key, WebRequest};
use serde::Deserialize;
use std::borrow::Cow;

/// `GET {base}/team.accessLogs?before=…&limit=…[&cursor=…]`: cursor paging, the walk's
/// `before` resent with every page.
pub fn access_logs_url(base: &str, limit: u32, req: &WebRequest) -> String {
    let mut url = format!("{base}/team.accessLogs?before={}&limit={}", req.before, limit.clamp(1, 1000));
    if let Some(cursor) = &req.cursor {
        url.push_str("&cursor=");
        percent_encode(&mut url, cursor);
    }
    url
}
#[derive(Deserialize)]
struct LoginWire<'a> {
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    date_last: Option<Seconds>,
}

/// Reads a 200 answer of `team.accessLogs` (`ok: false` is classified as a Web API error).
/// Each row's id is its (user, ip, agent) key with its `date_last`; its time is `date_last`.
pub fn parse_access_page(body: Vec<u8>) -> Result<Page, ApiError> {
    let (entries, next_cursor) = {
        let wire = web_envelope(&body)?;
        let raw = wire.logins.ok_or_else(|| {
            ApiError::Transient("Slack's team.accessLogs answer has no `logins` array; retrying".to_string())
        })?;
        let base = body.as_ptr() as usize;
        let mut entries = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let text = r.get();
            let row: LoginWire = serde_json::from_str(text).map_err(|e| {
                ApiError::Transient(format!("login row {i} of Slack's page is not a JSON object ({e}); retrying"))
            })?;
            let date_last = row.date_last.as_ref().and_then(Seconds::get).ok_or_else(|| {
                ApiError::Transient(format!("login row {i} of Slack's page has no numeric `date_last`; retrying"))
            })?;
            let key = access_key(
                row.user_id.as_deref().unwrap_or(""),
                row.ip.as_deref().unwrap_or(""),
                row.user_agent.as_deref().unwrap_or(""),
            );
            let start = text.as_ptr() as usize - base;
            entries.push(EntryRef {
                start,
                end: start + text.len(),
                id: Text::Owned(access_id(&key, date_last).into()),
                time: date_last,
                action: None,
            });
        }
        let next = wire.response_metadata.and_then(|m| m.next_cursor).map(|c| c.into_owned()).unwrap_or_default();
        (entries, next)
    };
    Ok(Page { body: body.into(), entries, next_cursor, recycle: None })
}
