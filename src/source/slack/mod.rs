//! Slack's wire format, one module per endpoint: [`audit`] (`/audit/v1/logs`), [`access`]
//! (`team.accessLogs`), [`integration`] (`team.integrationLogs`) and [`web`] (the Web API
//! envelope both of those share). This file holds what they all use: the parsed [`Page`] whose
//! entries point into the body, Slack's seconds, and the classification of error answers into
//! [`ApiError`] verdicts with messages a person can act on.
//!
//! Pure: bytes in, pages and verdicts out. The HTTP transport is [`crate::transport::http`]; which
//! endpoint a stream reads is [`crate::source`].

pub mod web;

use crate::transport::bodypool::BodyPool;
use crate::transport::jsonscan::Body;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

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

/// One entry of a page: where its bytes are in the body, and the fields the collector needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef {
    pub start: usize,
    pub end: usize,
    /// Read with [`Page::id`]: Slack's `id` for audit entries, a computed one for access rows
    /// and integration logs.
    pub id: Text,
    /// The event time: `date_create` (audit), `date_last` (access), `date` (integration).
    pub time: i64,
    /// Read with [`Page::action`].
    pub action: Option<Text>,
}
/// A short string of an entry: where it is in the page's body when it is there verbatim (no
/// escapes, the usual case: no allocation), or its own copy (escaped, or computed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// `body[start..end]`.
    Span(u32, u32),
    Owned(Box<str>),
}

/// A parsed page. The body is kept whole; entries point into it, so nothing is copied. An audit
/// page's body is one the scanner checked ([`Body::scan_page`]): its ids are read without a
/// second UTF-8 check.
#[derive(Debug)]
pub struct Page {
    pub body: Body,
    pub entries: Vec<EntryRef>,
    pub next_cursor: String,
    /// Where the body goes when the page is dropped (set by the collector), to be read into
    /// again.
    pub recycle: Option<Arc<BodyPool>>,
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            pool.give(std::mem::take(&mut self.body).into_vec());
        }
    }
}

impl Page {
    /// A page with nothing in it (what a released batch keeps).
    pub fn empty() -> Page {
        Page { body: Body::default(), entries: Vec::new(), next_cursor: String::new(), recycle: None }
    }

    pub fn entry_bytes(&self, e: &EntryRef) -> &[u8] {
        &self.body[e.start..e.end]
    }

    /// The entry's id (for access and integration rows, the id computed for them).
    pub fn id<'a>(&'a self, e: &'a EntryRef) -> &'a str {
        self.text(&e.id)
    }

    /// Each entry's id and time, in page order: what the sequence reads to de-duplicate. The
    /// id of an entry a few places ahead is prefetched: the page is larger than the cache, so
    /// each id's line would otherwise be waited for, one entry at a time.
    pub fn ids(&self) -> impl Iterator<Item = (&str, i64)> + '_ {
        const AHEAD: usize = 8;
        self.entries.iter().enumerate().map(move |(i, e)| {
            if let Some(Text::Span(a, _)) = self.entries.get(i + AHEAD).map(|n| &n.id) {
                prefetch(self.body.as_ptr().wrapping_add(*a as usize));
            }
            (self.id(e), e.time)
        })
    }

    /// The entry's `action`, if it has one.
    pub fn action<'a>(&'a self, e: &'a EntryRef) -> Option<&'a str> {
        e.action.as_ref().map(|t| self.text(t))
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            // Spans are made in audit pages, whose body the scanner checked whole: no second
            // UTF-8 check (a range that is not text of the body reads as "").
            Text::Span(a, b) => self.body.text(*a as usize..*b as usize),
            Text::Owned(s) => s,
        }
    }
}

/// Asks the CPU to bring the cache line at `p` in; any address is fine (nothing is read).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address; SSE is part of
    // the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[derive(Deserialize)]
pub(crate) struct MetaWire<'a> {
    #[serde(borrow)]
    pub(crate) next_cursor: Option<Cow<'a, str>>,
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
            Seconds::Int(n) if *n >= 0 => Some(*n),
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
#[derive(Deserialize)]
pub(crate) struct ErrorWire<'a> {
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    needed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    provided: Option<Cow<'a, str>>,
}
/// An answer without an error code: 408 is a timeout; anything else points at the URL (the
/// option `url_option`, which should end in `url_end`) or the token.
pub(crate) fn without_code(status: u16, url_option: &str, url_end: &str) -> ApiError {
    if status == 408 {
        return ApiError::Transient("Slack answered HTTP 408 (request timeout); retrying".into());
    }
    ApiError::Permanent {
        code: format!("http_{status}"),
        message: format!(
            "Slack answered HTTP {status} without an error code; check {url_option} (it should end in {url_end}) and the token"
        ),
    }
}

/// What every endpoint does first with a failed answer (non-200, or 200 with `ok: false`): 429
/// is the rate limit and any 5xx is transient, whatever the body says; otherwise Slack's `error`
/// code, when the body has one, is read by the endpoint's `by_code`, and `without_code` says
/// what an answer without one means.
pub(crate) fn classify_answer(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    by_code: fn(u16, &str, &[u8]) -> ApiError,
    without_code: impl FnOnce() -> ApiError,
) -> ApiError {
    if status == 429 {
        return ApiError::RateLimited(retry_after);
    }
    if status >= 500 {
        return server_error(status, body);
    }
    match serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error) {
        Some(code) => by_code(status, &code, body),
        None => without_code(),
    }
}

/// A 5xx is Slack's side failing: transient whatever its body says (even a code that would be
/// permanent on a 4xx, or one we do not know).
pub(crate) fn server_error(status: u16, body: &[u8]) -> ApiError {
    let code = serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error.map(|c| c.into_owned()));
    ApiError::Transient(match code {
        Some(code) => format!("Slack answered HTTP {status} ({code}); retrying"),
        None => format!("Slack answered HTTP {status}; retrying"),
    })
}

pub(crate) fn classify_error_code(status: u16, code: &str, body: &[u8]) -> ApiError {
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
        other => format!(
            "Slack answered HTTP {status} with error `{other}`, a code slack-audit does not know; it is not retried. Check the token and the options, and Slack's documentation for `{other}`"
        ),
    };
    ApiError::Permanent { code: code.to_string(), message: what_to_do }
}

#[cfg(test)]
mod tests {
    use super::web::classify_web_failure;
    use super::*;
    use crate::source::audit::classify_failure;

    #[test]
    fn a_5xx_is_transient_whatever_its_code_and_an_unknown_4xx_code_is_named() {
        for classify in [classify_failure, classify_web_failure] {
            for (status, body) in [
                (500, r#"{"ok":false,"error":"some_new_code"}"#),
                (503, r#"{"ok":false,"error":"invalid_auth"}"#),
                (502, r#"{"ok":false,"error":"invalid_cursor"}"#),
                (504, r#"{"ok":false}"#),
            ] {
                let v = classify(status, None, body.as_bytes());
                let ApiError::Transient(why) = &v else { panic!("{status} {body}: {v:?}") };
                assert!(why.contains(&status.to_string()), "{why}");
            }
            let v = classify(400, None, br#"{"ok":false,"error":"some_new_code"}"#);
            let ApiError::Permanent { code, message } = v else { panic!("{v:?}") };
            assert_eq!(code, "some_new_code");
            assert!(message.contains("HTTP 400") && message.contains("`some_new_code`"), "{message}");
        }
    }
}
