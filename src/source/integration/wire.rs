//! `team.integrationLogs`: page-number paging; a log never changes, so its id is a hash of
//! the whole entry.

use crate::source::slack::web::web_envelope;
use crate::source::slack::{ApiError, EntryRef, Page, Seconds, Text};
use crate::base::fnv::fnv1a;
use crate::source::weblogs::WebRequest;
use serde::Deserialize;

/// The rows per page asked for with `limit`: Slack takes 1 to 1000 here.
pub fn integration_page_size(limit: u32) -> u32 {
    limit.clamp(1, 1000)
}

/// `GET {base}/team.integrationLogs?count=…&page=…`: the walk's "cursor" is the page number.
pub fn integration_logs_url(base: &str, limit: u32, req: &WebRequest) -> String {
    let page = req.cursor.as_deref().and_then(|c| c.parse::<u32>().ok()).unwrap_or(1);
    format!("{base}/team.integrationLogs?count={}&page={page}", integration_page_size(limit))
}

/// Reads a 200 answer of `team.integrationLogs` for page `page`. Each log's id is a hash of
/// all its fields (canonical JSON), its time is `date` (a string of seconds); the next
/// "cursor" is the next page number, `""` after the last page.
pub fn parse_integration_page(body: Vec<u8>, page: u32) -> Result<Page, ApiError> {
    let (entries, next_cursor) = {
        let wire = web_envelope(&body)?;
        let raw = wire.logs.ok_or_else(|| {
            ApiError::Transient("Slack's team.integrationLogs answer has no `logs` array; retrying".to_string())
        })?;
        let base = body.as_ptr() as usize;
        let mut entries = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let text = r.get();
            let bad = |e: String| ApiError::Transient(format!("integration log {i} of Slack's page {e}; retrying"));
            // One parse: the value gives both the time and, re-serialized (serde_json's map is
            // ordered by key), one canonical text per log for its id.
            let canonical: serde_json::Value =
                serde_json::from_str(text).map_err(|e| bad(format!("is not a JSON object ({e})")))?;
            if !canonical.is_object() {
                return Err(bad("is not a JSON object".into()));
            }
            let date = canonical
                .get("date")
                .and_then(|d| Seconds::deserialize(d).ok())
                .as_ref()
                .and_then(Seconds::get)
                .ok_or_else(|| bad("has no `date`".into()))?;
            let id = format!("{:016x}", fnv1a(&canonical.to_string()));
            let start = text.as_ptr() as usize - base;
            entries.push(EntryRef {
                start,
                end: start + text.len(),
                id: Text::Owned(id.into()),
                time: date,
                action: None,
            });
        }
        let more = !raw.is_empty() && wire.paging.as_ref().and_then(|p| p.pages).is_none_or(|pages| page < pages);
        (entries, if more { (page + 1).to_string() } else { String::new() })
    };
    Ok(Page { body: body.into(), entries, next_cursor, recycle: None })
}
