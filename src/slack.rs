//! Slack's wire format: building the audit query, reading a page without copying its entries,
//! and turning error answers into verdicts with messages a person can act on.

use crate::collector::fnv1a;
use crate::http::BodyPool;
use crate::jsonscan;
use crate::sequence::PageRequest;
use crate::weblogs::{access_id, access_key, WebRequest};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
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
    /// Read with [`AuditPage::id`].
    pub id: Text,
    pub date_create: i64,
    /// Read with [`AuditPage::action`].
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

/// A parsed page. The body is kept whole; entries point into it, so nothing is copied.
#[derive(Debug)]
pub struct AuditPage {
    pub body: Vec<u8>,
    pub entries: Vec<EntryRef>,
    pub next_cursor: String,
    /// Where the body goes when the page is dropped (set by the collector), to be read into
    /// again.
    pub recycle: Option<Arc<BodyPool>>,
}

impl Drop for AuditPage {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            pool.give(std::mem::take(&mut self.body));
        }
    }
}

impl AuditPage {
    /// A page with nothing in it (what a released batch keeps).
    pub fn empty() -> AuditPage {
        AuditPage { body: Vec::new(), entries: Vec::new(), next_cursor: String::new(), recycle: None }
    }

    pub fn entry_bytes(&self, e: &EntryRef) -> &[u8] {
        &self.body[e.start..e.end]
    }

    /// The entry's id (for access and integration rows, the id computed for them).
    pub fn id<'a>(&'a self, e: &'a EntryRef) -> &'a str {
        self.text(&e.id)
    }

    /// The entry's `action`, if it has one.
    pub fn action<'a>(&'a self, e: &'a EntryRef) -> Option<&'a str> {
        e.action.as_ref().map(|t| self.text(t))
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            // A span is only made inside an entry's text, which serde_json checked is UTF-8.
            Text::Span(a, b) => std::str::from_utf8(&self.body[*a as usize..*b as usize]).unwrap_or(""),
            Text::Owned(s) => s,
        }
    }
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

/// Reads a 200 answer of `/audit/v1/logs`. A body that is not the documented shape is
/// `Transient` (a truncated or garbled transfer is the usual cause; the retry bound stops it).
/// One pass ([`jsonscan::scan_page`]) checks the JSON and its UTF-8 and finds the entries.
pub fn parse_audit_page(body: Vec<u8>) -> Result<AuditPage, ApiError> {
    // Each entry's keys are read as soon as the scan has checked it, while its bytes are still
    // in cache. Entries the one-pass key reader does not handle are read after the scan.
    let mut entries = Vec::new();
    let mut unusual = Vec::new();
    let scan = jsonscan::scan_page(&body, |start, end| {
        let span = |(a, b): (usize, usize)| Text::Span((start + a) as u32, (start + b) as u32);
        match scan_keys(&body[start..end]).filter(|_| end <= u32::MAX as usize) {
            Some(Keys { id: Some(id), date_create: Some(date_create), action }) if id.1 > id.0 => {
                entries.push(EntryRef { start, end, id: span(id), date_create, action: action.map(span) })
            }
            _ => {
                unusual.push(entries.len());
                entries.push(EntryRef { start, end, id: Text::Owned("".into()), date_create: 0, action: None });
            }
        }
    })
    .map_err(|e| not_json(&body, e))?;
    if scan.ok == Some(false) {
        let code = scan.error.map(|(a, b)| json_string(&body[a..b])).transpose()?;
        return Err(classify_error_code(200, code.as_deref().unwrap_or("unknown_error"), &body));
    }
    if scan.entries.is_none() {
        return Err(ApiError::Transient("Slack's answer has no `entries` array; retrying".to_string()));
    }
    for i in unusual {
        // Anything unusual (escapes, a non-integer date, a missing or repeated key): the
        // general reader, which also words the error.
        let e = &mut entries[i];
        let key: KeyWire = std::str::from_utf8(&body[e.start..e.end])
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
            .map_err(|e| {
                ApiError::Transient(format!("entry {i} of Slack's page is not a JSON object ({e}); retrying"))
            })?;
        let id = key
            .id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::Transient(format!("entry {i} of Slack's page has no string `id`; retrying")))?;
        e.date_create = key.date_create.as_ref().and_then(Seconds::get).ok_or_else(|| {
            ApiError::Transient(format!("entry {i} ({id}) of Slack's page has no numeric `date_create`; retrying"))
        })?;
        e.id = Text::Owned(id.into());
        e.action = key.action.map(|a| Text::Owned(a.into()));
    }
    let next_cursor = scan.next_cursor.map(|(a, b)| json_string(&body[a..b])).transpose()?.unwrap_or_default();
    Ok(AuditPage { body, entries, next_cursor, recycle: None })
}

/// The text of a JSON string (quotes included) that [`jsonscan`] found valid.
fn json_string(raw: &[u8]) -> Result<String, ApiError> {
    let inner = &raw[1..raw.len() - 1];
    let plain = if inner.contains(&b'\\') { None } else { std::str::from_utf8(inner).ok() };
    match plain {
        Some(s) => Ok(s.to_string()),
        None => serde_json::from_slice::<String>(raw)
            .map_err(|e| ApiError::Transient(format!("Slack's answer is not valid JSON ({e}); retrying"))),
    }
}

/// The error for a body [`jsonscan`] refused, in serde_json's words (line and column) when it
/// refuses it too.
fn not_json(body: &[u8], e: jsonscan::ScanError) -> ApiError {
    let why = match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) => e.to_string(),
        Ok(_) => format!("invalid UTF-8 or not the documented shape at byte {}", e.0),
    };
    ApiError::Transient(format!("Slack's answer is not valid JSON ({why}); retrying"))
}

/// What [`scan_keys`] found at the top level of an entry: spans (relative to the entry) of
/// `id` and `action` and the value of `date_create`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Keys {
    id: Option<(usize, usize)>,
    date_create: Option<i64>,
    action: Option<(usize, usize)>,
}

/// One pass over an entry's text (already checked to be valid JSON) that reads `id`,
/// `date_create` and `action`, skipping other values without decoding them, and stops once it
/// has all three (a key repeated after that is not seen; the first one counts). `None` for
/// whatever it does not handle itself (not an object, escapes in a key or in those values, a
/// repeated key, `id`/`action` that are not plain strings, a `date_create` that is not a plain
/// integer): the caller then uses the general reader.
fn scan_keys(t: &[u8]) -> Option<Keys> {
    let mut k = Keys::default();
    let mut p = skip_ws(t, 0);
    if t.get(p) != Some(&b'{') {
        return None;
    }
    p = skip_ws(t, p + 1);
    if t.get(p) == Some(&b'}') {
        return Some(k);
    }
    loop {
        if t.get(p) != Some(&b'"') {
            return None;
        }
        let (ks, ke) = plain_string(t, p)?;
        p = skip_ws(t, ke + 1);
        if t.get(p) != Some(&b':') {
            return None;
        }
        p = skip_ws(t, p + 1);
        match &t[ks..ke] {
            b"id" | b"action" => {
                let slot = if &t[ks..ke] == b"id" { &mut k.id } else { &mut k.action };
                if slot.is_some() || t.get(p) != Some(&b'"') {
                    return None;
                }
                let (vs, ve) = plain_string(t, p)?;
                *slot = Some((vs, ve));
                p = ve + 1;
            }
            b"date_create" => {
                if k.date_create.is_some() {
                    return None;
                }
                let e = t[p..].iter().position(|c| !matches!(c, b'-' | b'0'..=b'9')).map_or(t.len(), |n| p + n);
                if matches!(t.get(e), Some(b'.' | b'e' | b'E')) {
                    return None;
                }
                // A negative second goes to the serde path, which refuses it with a message.
                k.date_create = Some(std::str::from_utf8(&t[p..e]).ok()?.parse::<i64>().ok().filter(|n| *n >= 0)?);
                p = e;
            }
            _ => p = skip_value(t, p)?,
        }
        if k.id.is_some() && k.date_create.is_some() && k.action.is_some() {
            // Slack sends these first: the rest of the entry (most of it) is not looked at.
            return Some(k);
        }
        p = skip_ws(t, p);
        match t.get(p) {
            Some(b',') => p = skip_ws(t, p + 1),
            Some(b'}') => return Some(k),
            _ => return None,
        }
    }
}

fn skip_ws(t: &[u8], mut p: usize) -> usize {
    while matches!(t.get(p), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        p += 1;
    }
    p
}

/// The content span of the string opening at `t[p]`, if it holds no escape. Looks 16 bytes at
/// a time ([`jsonscan::special`]); a non-ASCII byte is stepped over (the scan checked UTF-8).
fn plain_string(t: &[u8], p: usize) -> Option<(usize, usize)> {
    let mut i = p + 1;
    loop {
        i += jsonscan::special(t.get(i..)?);
        match *t.get(i)? {
            b'"' => return Some((p + 1, i)),
            b'\\' => return None,
            _ => i += 1,
        }
    }
}

/// The position just after the JSON value starting at `t[p]`.
fn skip_value(t: &[u8], mut p: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *t.get(p)? {
            b'"' => {
                p += 1;
                loop {
                    p += t[p..].iter().position(|&c| c == b'"' || c == b'\\')?;
                    if t[p] == b'"' {
                        break;
                    }
                    p += 2;
                }
                p += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                p += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                p += 1;
            }
            _ if depth == 0 => {
                // A scalar: up to the next delimiter.
                return Some(
                    t[p..]
                        .iter()
                        .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                        .map_or(t.len(), |n| p + n),
                );
            }
            _ => p += 1,
        }
        if depth == 0 {
            return Some(p);
        }
    }
}

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

/// `GET {base}/team.integrationLogs?count=…&page=…`: the walk's "cursor" is the page number.
pub fn integration_logs_url(base: &str, count: u32, req: &WebRequest) -> String {
    let page = req.cursor.as_deref().and_then(|c| c.parse::<u32>().ok()).unwrap_or(1);
    format!("{base}/team.integrationLogs?count={}&page={page}", count.clamp(1, 1000))
}

#[derive(Deserialize)]
struct WebPageWire<'a> {
    ok: Option<bool>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    logins: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    logs: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    response_metadata: Option<MetaWire<'a>>,
    paging: Option<PagingWire>,
}

#[derive(Deserialize)]
struct PagingWire {
    pages: Option<u32>,
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
pub fn parse_access_page(body: Vec<u8>) -> Result<AuditPage, ApiError> {
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
                date_create: date_last,
                action: None,
            });
        }
        let next = wire.response_metadata.and_then(|m| m.next_cursor).map(|c| c.into_owned()).unwrap_or_default();
        (entries, next)
    };
    Ok(AuditPage { body, entries, next_cursor, recycle: None })
}

/// Reads a 200 answer of `team.integrationLogs` for page `page`. Each log's id is a hash of
/// all its fields (canonical JSON), its time is `date` (a string of seconds); the next
/// "cursor" is the next page number, `""` after the last page.
pub fn parse_integration_page(body: Vec<u8>, page: u32) -> Result<AuditPage, ApiError> {
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
                date_create: date,
                action: None,
            });
        }
        let more = !raw.is_empty() && wire.paging.as_ref().and_then(|p| p.pages).is_none_or(|pages| page < pages);
        (entries, if more { (page + 1).to_string() } else { String::new() })
    };
    Ok(AuditPage { body, entries, next_cursor, recycle: None })
}

/// The Web API envelope: `ok: false` is an error whatever the HTTP status.
fn web_envelope(body: &[u8]) -> Result<WebPageWire<'_>, ApiError> {
    let wire: WebPageWire = serde_json::from_slice(body)
        .map_err(|e| ApiError::Transient(format!("Slack's answer is not valid JSON ({e}); retrying")))?;
    if wire.ok != Some(true) {
        let code = wire.error.as_deref().unwrap_or("unknown_error");
        return Err(classify_web_error_code(200, code, body));
    }
    Ok(wire)
}

/// As [`classify_failure`], for `team.accessLogs` and `team.integrationLogs`, whose token
/// needs the `admin` scope on a paid workspace rather than `auditlogs:read` on Enterprise Grid.
pub fn classify_web_failure(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    if status == 429 {
        return ApiError::RateLimited(retry_after);
    }
    if status >= 500 {
        return server_error(status, body);
    }
    let code = serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error.map(|c| c.into_owned()));
    match code {
        Some(code) => classify_web_error_code(status, &code, body),
        None => match classify_failure(status, retry_after, body) {
            ApiError::Permanent { code, .. } => ApiError::Permanent {
                message: format!(
                    "Slack answered HTTP {status} without an error code; check web_api_url (it should end in /api) and the token"
                ),
                code,
            },
            other => other,
        },
    }
}

fn classify_web_error_code(status: u16, code: &str, body: &[u8]) -> ApiError {
    let token_hint = "a user token (xoxp-…) of a workspace admin or owner with the `admin` scope";
    let message = match code {
        "missing_authentication" | "not_authed" => {
            format!("Slack received no token for the access/integration logs ({code}); set SLACK_AUDIT_TOKEN (or token_env / token_file) to {token_hint}")
        }
        "invalid_authentication" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" => format!(
            "Slack rejected the token for the access/integration logs ({code}): it is wrong, revoked or expired; create {token_hint} and set it in SLACK_AUDIT_TOKEN"
        ),
        "missing_scope" => {
            let w = serde_json::from_slice::<ErrorWire>(body).ok();
            let needed = w.as_ref().and_then(|w| w.needed.as_deref().map(str::to_string)).unwrap_or_else(|| "admin".into());
            let provided = w.as_ref().and_then(|w| w.provided.as_deref().map(str::to_string)).unwrap_or_else(|| "?".into());
            format!(
                "the token lacks a scope for the access/integration logs (missing_scope: needed {needed}, provided {provided}); add the {needed} user scope to the app, reinstall it and use the new token of a workspace admin or owner"
            )
        }
        "paid_only" | "paid_teams_only" | "feature_not_enabled" => format!(
            "this workspace's plan does not offer the access and integration logs ({code}): they need a paid plan; remove access,integration from `sources`"
        ),
        "not_allowed_token_type" => format!(
            "the access and integration logs need a user token, not a bot or app token (not_allowed_token_type); use {token_hint}"
        ),
        "no_permission" | "not_authorized" | "user_not_authorized" => format!(
            "the token's user may not read the access and integration logs ({code}); use {token_hint}"
        ),
        "over_pagination_limit" => {
            "Slack refused a page past 100 (over_pagination_limit); this is a slack-audit bug, please report it".to_string()
        }
        _ => return classify_error_code(status, code, body),
    };
    ApiError::Permanent { code: code.to_string(), message }
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
    if status >= 500 {
        return server_error(status, body);
    }
    let code = serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error.map(|c| c.into_owned()));
    match code {
        Some(code) => classify_error_code(status, &code, body),
        None if status == 408 => ApiError::Transient("Slack answered HTTP 408 (request timeout); retrying".into()),
        None => ApiError::Permanent {
            code: format!("http_{status}"),
            message: format!(
                "Slack answered HTTP {status} without an error code; check api_url (it should end in /audit/v1) and the token"
            ),
        },
    }
}

/// A 5xx is Slack's side failing: transient whatever its body says (even a code that would be
/// permanent on a 4xx, or one we do not know).
fn server_error(status: u16, body: &[u8]) -> ApiError {
    let code = serde_json::from_slice::<ErrorWire>(body).ok().and_then(|w| w.error.map(|c| c.into_owned()));
    ApiError::Transient(match code {
        Some(code) => format!("Slack answered HTTP {status} ({code}); retrying"),
        None => format!("Slack answered HTTP {status}; retrying"),
    })
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
        other => format!(
            "Slack answered HTTP {status} with error `{other}`, a code slack-audit does not know; it is not retried. Check the token and the options, and Slack's documentation for `{other}`"
        ),
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
        assert_eq!((page.id(&page.entries[1]), page.entries[1].date_create), ("b", 4));
        assert_eq!(page.action(&page.entries[0]), Some("user_login"));
    }

    #[test]
    fn the_one_pass_key_reader_agrees_with_the_general_one() {
        let cases = [
            r#"{"id":"a","date_create":5,"action":"x"}"#,
            r#" { "x" : {"id":"no","date_create":1,"s":"}\"{["} , "y":[1,{"a":[]}],"id" : "b" ,"date_create": 7 ,"z":null} "#,
            r#"{"date_create":1700000000,"id":"c","n":1.5e3,"t":true,"action":"user_login"}"#,
            r#"{"id":"a\u0041","date_create":5}"#,
            r#"{"id":"a","date_create":5.5}"#,
            r#"{"id":"a","date_create":"5"}"#,
            r#"{"id":"a","id":"b","date_create":5}"#,
            r#"{"id":null,"date_create":5}"#,
            r#"{"id":"a","date_create":99999999999999999999}"#,
            r#"{"\u0069d":"a","date_create":5}"#,
            r#"{}"#,
            r#"[1]"#,
        ];
        for c in cases {
            let fast = scan_keys(c.as_bytes());
            let slow: Option<KeyWire> = serde_json::from_str(c).ok();
            if let Some(k) = &fast {
                let slow = slow.unwrap_or_else(|| panic!("{c}: the fast reader accepted what serde refuses"));
                let s = |span: Option<(usize, usize)>| span.map(|(a, b)| &c[a..b]);
                assert_eq!(s(k.id), slow.id.as_deref(), "{c}");
                assert_eq!(s(k.action), slow.action.as_deref(), "{c}");
                assert_eq!(k.date_create, slow.date_create.as_ref().and_then(Seconds::get), "{c}");
            }
        }
        assert!(scan_keys(cases[1].as_bytes()).is_some_and(|k| k.date_create == Some(7)));
        // a negative second is left to the general reader, which refuses it
        assert!(scan_keys(br#"{"id":"a","date_create":-7,"action":"x"}"#).is_none());
        for unusual in &cases[3..10] {
            assert!(
                scan_keys(unusual.as_bytes()).is_none_or(|k| k.id.is_none() || k.date_create.is_none()),
                "{unusual}"
            );
        }
        // Escaped values go the general way and come out decoded.
        let page =
            parse_audit_page(br#"{"entries":[{"id":"a\u0041","date_create":"5","action":"x\/y"}]}"#.to_vec()).unwrap();
        assert_eq!((page.id(&page.entries[0]), page.entries[0].date_create), ("aA", 5));
        assert_eq!(page.action(&page.entries[0]), Some("x/y"));
        assert!(matches!(
            parse_audit_page(br#"{"entries":[{"id":"","date_create":5}]}"#.to_vec()),
            Err(ApiError::Transient(_))
        ));
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
    fn web_pages_are_read_with_stable_ids_and_event_times() {
        let body = br#"{"ok":true,"logins":[{"user_id":"U1","username":"a","date_first":1,"date_last":9,"count":3,"ip":"1.2.3.4","user_agent":"x"}],"paging":{"page":1,"pages":1},"response_metadata":{"next_cursor":"b2Zmc2V0OjE="}}"#.to_vec();
        let page = parse_access_page(body).unwrap();
        assert_eq!(page.next_cursor, "b2Zmc2V0OjE=");
        assert_eq!(page.entries[0].date_create, 9);
        assert_eq!(page.id(&page.entries[0]), access_id(&access_key("U1", "1.2.3.4", "x"), 9));
        assert!(page.entry_bytes(&page.entries[0]).starts_with(br#"{"user_id":"U1""#));
        let log = |order: &str| {
            format!(r#"{{"ok":true,"logs":[{order}],"paging":{{"count":100,"total":1,"page":2,"pages":3}}}}"#)
        };
        let a = parse_integration_page(
            log(r#"{"user_id":"U1","date":"1700000000","change_type":"added"}"#).into_bytes(),
            2,
        )
        .unwrap();
        let b = parse_integration_page(
            log(r#"{"date":"1700000000","change_type":"added","user_id":"U1"}"#).into_bytes(),
            2,
        )
        .unwrap();
        assert_eq!(a.entries[0].date_create, 1_700_000_000);
        assert_eq!(a.id(&a.entries[0]), b.id(&b.entries[0]), "the id does not depend on key order");
        assert_eq!(a.next_cursor, "3");
        let last = parse_integration_page(log(r#"{"date":"5"}"#).into_bytes(), 3).unwrap();
        assert_eq!(last.next_cursor, "");
        let req = WebRequest { before: 77, cursor: Some("a+b=".into()) };
        assert_eq!(
            access_logs_url("http://x/api", 5000, &req),
            "http://x/api/team.accessLogs?before=77&limit=1000&cursor=a%2Bb%3D"
        );
        assert_eq!(
            integration_logs_url("http://x/api", 50, &WebRequest { before: 77, cursor: Some("4".into()) }),
            "http://x/api/team.integrationLogs?count=50&page=4"
        );
    }

    #[test]
    fn web_errors_say_what_the_web_api_needs() {
        let p = |b: &str| match parse_access_page(b.as_bytes().to_vec()) {
            Err(ApiError::Permanent { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(p(r#"{"ok":false,"error":"missing_scope","needed":"admin","provided":"identify"}"#)
            .contains("needed admin"));
        assert!(p(r#"{"ok":false,"error":"paid_only"}"#).contains("paid plan"));
        assert!(p(r#"{"ok":false,"error":"not_allowed_token_type"}"#).contains("user token"));
        assert!(p(r#"{"ok":false,"error":"invalid_auth"}"#).contains("`admin` scope"));
        assert_eq!(
            parse_access_page(br#"{"ok":false,"error":"ratelimited"}"#.to_vec()).unwrap_err(),
            ApiError::RateLimited(None)
        );
        assert_eq!(
            parse_access_page(br#"{"ok":false,"error":"invalid_cursor"}"#.to_vec()).unwrap_err(),
            ApiError::InvalidCursor
        );
        assert!(matches!(classify_web_failure(503, None, b"<html>"), ApiError::Transient(_)));
        let ApiError::Permanent { message, .. } = classify_web_failure(404, None, b"nope") else { panic!() };
        assert!(message.contains("web_api_url"), "{message}");
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
