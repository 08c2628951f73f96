//! Slack's wire format: building the audit query, reading a page without copying its entries,
//! and turning error answers into verdicts with messages a person can act on.

use crate::sequence::PageRequest;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

/// The filters of one audit stream; resent with every page because the cursor forgets them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actions: Vec<String>,
    pub actor: Option<String>,
    pub entity: Option<String>,
}

impl AuditFilter {
    /// A stable description of the filter set, stored in the state file.
    pub fn describe(&self) -> String {
        let mut s = String::from("audit");
        if !self.actions.is_empty() {
            let _ = write!(s, " action={}", self.actions.join(","));
        }
        if let Some(a) = &self.actor {
            let _ = write!(s, " actor={a}");
        }
        if let Some(e) = &self.entity {
            let _ = write!(s, " entity={e}");
        }
        s
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a cursor's `+`, `/` and
/// `=` survive the trip (a raw `+` in a query string reads as a space).
pub fn percent_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `GET {base}/logs?oldest=…&latest=…&limit=…[&action=…][&actor=…][&entity=…][&cursor=…]`:
/// the whole query on every page, integers only.
pub fn audit_logs_url(base: &str, filter: &AuditFilter, limit: u32, req: &PageRequest) -> String {
    let mut url = format!("{base}/logs?oldest={}&latest={}&limit={limit}", req.oldest, req.latest);
    if !filter.actions.is_empty() {
        url.push_str("&action=");
        percent_encode(&mut url, &filter.actions.join(","));
    }
    if let Some(actor) = &filter.actor {
        url.push_str("&actor=");
        percent_encode(&mut url, actor);
    }
    if let Some(entity) = &filter.entity {
        url.push_str("&entity=");
        percent_encode(&mut url, entity);
    }
    if let Some(cursor) = &req.cursor {
        url.push_str("&cursor=");
        percent_encode(&mut url, cursor);
    }
    url
}

/// One entry of a page: where its bytes are in the body, and the fields the collector needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub start: usize,
    pub end: usize,
    pub id: Box<str>,
    pub date_create: i64,
    pub action: Option<Box<str>>,
}

/// A parsed page. The body is kept whole; entries point into it, so nothing is copied.
#[derive(Debug)]
pub struct AuditPage {
    pub body: Vec<u8>,
    pub entries: Vec<EntryRef>,
    pub next_cursor: String,
}

impl AuditPage {
    pub fn entry_bytes(&self, e: &EntryRef) -> &[u8] {
        &self.body[e.start..e.end]
    }
}

#[derive(Deserialize)]
struct PageWire<'a> {
    #[serde(borrow)]
    entries: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    response_metadata: Option<MetaWire<'a>>,
    ok: Option<bool>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MetaWire<'a> {
    #[serde(borrow)]
    next_cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct KeyWire<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    date_create: Option<Seconds>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
}

/// Unix seconds sent as an integer (as documented), a float, or a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Seconds {
    Int(i64),
    Float(f64),
    Text(String),
    Other(serde::de::IgnoredAny),
}

impl Seconds {
    pub fn get(&self) -> Option<i64> {
        match self {
            Seconds::Int(n) => Some(*n),
            Seconds::Float(f) if f.is_finite() && *f >= 0.0 => Some(*f as i64),
            Seconds::Text(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as i64),
            _ => None,
        }
    }
}

/// What an answer from Slack means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// Auth, plan, scope or arguments: repeating the request cannot help.
    Permanent { code: String, message: String },
    /// The cursor expired: restart the sequence from its saved bounds.
    InvalidCursor,
    /// 429: wait, then repeat.
    RateLimited(Option<Duration>),
    /// 5xx, reset, truncated or non-JSON body: repeat after a backoff.
    Transient(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Permanent { message, .. } => f.write_str(message),
            ApiError::InvalidCursor => f.write_str("Slack answered invalid_cursor (the cursor expired)"),
            ApiError::RateLimited(Some(d)) => write!(f, "rate limited by Slack (Retry-After {} s)", d.as_secs()),
            ApiError::RateLimited(None) => f.write_str("rate limited by Slack"),
            ApiError::Transient(why) => f.write_str(why),
        }
    }
}

/// Reads a 200 answer of `/audit/v1/logs`. A body that is not the documented shape is
/// `Transient` (a truncated or garbled transfer is the usual cause; the retry bound stops it).
pub fn parse_audit_page(body: Vec<u8>) -> Result<AuditPage, ApiError> {
    let (entries, next_cursor) = {
        let wire: PageWire = serde_json::from_slice(&body)
            .map_err(|e| ApiError::Transient(format!("Slack's answer is not valid JSON ({e}); retrying")))?;
        if wire.ok == Some(false) {
            return Err(classify_error_code(200, wire.error.as_deref().unwrap_or("unknown_error"), &body));
        }
        let raw = wire
            .entries
            .ok_or_else(|| ApiError::Transient("Slack's answer has no `entries` array; retrying".to_string()))?;
        let base = body.as_ptr() as usize;
        let mut entries = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let text = r.get();
            let key: KeyWire = serde_json::from_str(text).map_err(|e| {
                ApiError::Transient(format!("entry {i} of Slack's page is not a JSON object ({e}); retrying"))
            })?;
            let id = key.id.filter(|s| !s.is_empty()).ok_or_else(|| {
                ApiError::Transient(format!("entry {i} of Slack's page has no string `id`; retrying"))
            })?;
            let date_create = key.date_create.as_ref().and_then(Seconds::get).ok_or_else(|| {
                ApiError::Transient(format!("entry {i} ({id}) of Slack's page has no numeric `date_create`; retrying"))
            })?;
            let start = text.as_ptr() as usize - base;
            entries.push(EntryRef {
                start,
                end: start + text.len(),
                id: id.into(),
                date_create,
                action: key.action.map(Into::into),
            });
        }
        let next = wire.response_metadata.and_then(|m| m.next_cursor).map(|c| c.into_owned()).unwrap_or_default();
        (entries, next)
    };
    Ok(AuditPage { body, entries, next_cursor })
}

#[derive(Deserialize)]
struct ErrorWire<'a> {
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    needed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    provided: Option<Cow<'a, str>>,
}

/// Classifies a non-200 answer (or a 200 with `ok: false`).
pub fn classify_failure(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    if status == 429 {
        return ApiError::RateLimited(retry_after);
    }
    let code = serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error.map(|c| c.into_owned()));
    match code {
        Some(code) => classify_error_code(status, &code, body),
        None if status >= 500 => ApiError::Transient(format!("Slack answered HTTP {status}; retrying")),
        None if status == 408 => ApiError::Transient("Slack answered HTTP 408 (request timeout); retrying".into()),
        None => ApiError::Permanent {
            code: format!("http_{status}"),
            message: format!(
                "Slack answered HTTP {status} without an error code; check api_url (it should end in /audit/v1) and the token"
            ),
        },
    }
}

fn classify_error_code(status: u16, code: &str, body: &[u8]) -> ApiError {
    let what_to_do = match code {
        "invalid_cursor" => return ApiError::InvalidCursor,
        "ratelimited" | "rate_limited" => return ApiError::RateLimited(None),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            return ApiError::Transient(format!("Slack reported {code}; retrying"))
        }
        "missing_authentication" | "not_authed" => "Slack received no token; set SLACK_AUDIT_TOKEN (or token_env / token_file) to the org owner's user token (xoxp-…)".to_string(),
        "invalid_authentication" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" => format!(
            "Slack rejected the token ({code}): it is wrong, revoked or expired; create a new user token for the org owner with the auditlogs:read scope and set it in SLACK_AUDIT_TOKEN"
        ),
        "missing_scope" => {
            let w = serde_json::from_slice::<ErrorWire>(body).ok();
            let needed = w.as_ref().and_then(|w| w.needed.as_deref().map(str::to_string)).unwrap_or_else(|| "auditlogs:read".into());
            let provided = w.as_ref().and_then(|w| w.provided.as_deref().map(str::to_string)).unwrap_or_else(|| "?".into());
            format!(
                "the token lacks a scope (missing_scope: needed {needed}, provided {provided}); add {needed} to the app's user token scopes and reinstall it on the organization"
            )
        }
        "feature_not_enabled" => "audit logs are only available to Enterprise Grid organizations and this one is not (feature_not_enabled); on other paid plans use sources=access,integration".to_string(),
        "paid_only" | "paid_teams_only" => format!("this workspace's plan does not offer these logs ({code}); they need a paid plan"),
        "invalid_workspace" | "team_not_authorized" => format!(
            "the token is not installed on the organization ({code}); install the app at the Enterprise Grid org level (not on a workspace) and use that token"
        ),
        "user_not_authorized" => "the token's user may not read audit logs (user_not_authorized); use a token of the org owner".to_string(),
        "not_allowed_token_type" => "this method needs a user token (xoxp-…), not a bot token (not_allowed_token_type)".to_string(),
        "over_pagination_limit" => "Slack refuses pages past 100 (over_pagination_limit)".to_string(),
        other => format!("Slack answered HTTP {status} with error `{other}`; check the token and the options"),
    };
    ApiError::Permanent { code: code.to_string(), message: what_to_do }
}

/// Parses a `Retry-After` header: seconds (Slack's form); anything else is ignored.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_query_goes_with_every_page_and_cursors_are_encoded() {
        let f = AuditFilter {
            actions: vec!["user_login".into(), "file_downloaded".into()],
            actor: Some("W1".into()),
            entity: Some("C2".into()),
        };
        let req = PageRequest { oldest: 1_600_000_000, latest: 1_700_000_000, cursor: Some("ab+/c==".into()) };
        let url = audit_logs_url("http://x/audit/v1", &f, 9999, &req);
        assert_eq!(
            url,
            "http://x/audit/v1/logs?oldest=1600000000&latest=1700000000&limit=9999&action=user_login%2Cfile_downloaded&actor=W1&entity=C2&cursor=ab%2B%2Fc%3D%3D"
        );
    }

    #[test]
    fn a_page_is_read_without_copying_entries() {
        let body = br#"{"entries":[{"id":"a","date_create":5,"action":"user_login","x":{"y":[1,2]}},{"date_create":"4","id":"b"}],"response_metadata":{"next_cursor":"Zz=="}}"#.to_vec();
        let page = parse_audit_page(body).unwrap();
        assert_eq!(page.next_cursor, "Zz==");
        assert_eq!(page.entries.len(), 2);
        assert_eq!(
            page.entry_bytes(&page.entries[0]),
            br#"{"id":"a","date_create":5,"action":"user_login","x":{"y":[1,2]}}"#
        );
        assert_eq!((&*page.entries[1].id, page.entries[1].date_create), ("b", 4));
        assert_eq!(page.entries[0].action.as_deref(), Some("user_login"));
    }

    #[test]
    fn malformed_pages_are_transient_with_a_reason() {
        for (body, want) in [
            (&b"<html>oops"[..], "not valid JSON"),
            (&br#"{"entries":[{"id":"a","date_create":5}"#[..], "not valid JSON"),
            (&br#"{"response_metadata":{}}"#[..], "no `entries`"),
            (&br#"{"entries":[{"date_create":5}]}"#[..], "no string `id`"),
            (&br#"{"entries":[{"id":"a","date_create":{}}]}"#[..], "no numeric `date_create`"),
            (&br#"{"entries":[7]}"#[..], "not a JSON object"),
        ] {
            match parse_audit_page(body.to_vec()) {
                Err(ApiError::Transient(m)) => assert!(m.contains(want), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn errors_are_classified_and_explained() {
        let c = |s, b: &str| classify_failure(s, None, b.as_bytes());
        assert_eq!(c(429, ""), ApiError::RateLimited(None));
        assert_eq!(c(400, r#"{"ok":false,"error":"invalid_cursor"}"#), ApiError::InvalidCursor);
        assert!(matches!(c(503, "<html>"), ApiError::Transient(_)));
        let ApiError::Permanent { message, .. } =
            c(403, r#"{"ok":false,"error":"missing_scope","needed":"auditlogs:read","provided":"read"}"#)
        else {
            panic!()
        };
        assert!(message.contains("needed auditlogs:read") && message.contains("provided read"), "{message}");
        let ApiError::Permanent { message, .. } = c(403, r#"{"ok":false,"error":"feature_not_enabled"}"#) else {
            panic!()
        };
        assert!(message.contains("Enterprise"), "{message}");
        let ApiError::Permanent { message, .. } = c(401, r#"{"ok":false,"error":"invalid_authentication"}"#) else {
            panic!()
        };
        assert!(message.contains("rejected the token"), "{message}");
        assert!(matches!(c(404, "not found"), ApiError::Permanent { .. }));
    }
}
