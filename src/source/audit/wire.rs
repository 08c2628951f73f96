//! `/audit/v1/logs`: building the query, reading a page without copying its entries, and the
//! Audit Logs API's error answers.

use crate::source::slack::{classify_answer, classify_error_code, without_code, percent_encode, ApiError, EntryRef, Page, Seconds, Text};
use crate::transport::jsonscan::{self, ws};
use crate::source::audit::window::PageRequest;
use serde::Deserialize;
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
#[derive(Deserialize)]
struct KeyWire<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    date_create: Option<Seconds>,
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
}
/// Reads a 200 answer of `/audit/v1/logs`. A body that is not the documented shape is
/// `Transient` (a truncated or garbled transfer is the usual cause; the retry bound stops it).
/// One pass ([`jsonscan::scan_page`]) checks the JSON and its UTF-8 and finds the entries.
pub fn parse_audit_page(body: Vec<u8>) -> Result<Page, ApiError> {
    // Each entry's keys are read as soon as the scan has checked it, while its bytes are still
    // in cache. Entries the one-pass key reader does not handle are read after the scan.
    let mut entries = Vec::new();
    let mut unusual = Vec::new();
    let (body, scan) = jsonscan::Body::scan_page(body, |body, start, end| {
        let span = |(a, b): (usize, usize)| Text::Span((start + a) as u32, (start + b) as u32);
        match scan_keys(&body[start..end]).filter(|_| end <= u32::MAX as usize) {
            Some(Keys { id: Some(id), date_create: Some(date_create), action }) if id.1 > id.0 => {
                entries.push(EntryRef { start, end, id: span(id), time: date_create, action: action.map(span) })
            }
            _ => {
                unusual.push(entries.len());
                entries.push(EntryRef { start, end, id: Text::Owned("".into()), time: 0, action: None });
            }
        }
    })
    .map_err(|(body, e)| not_json(&body, e))?;
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
        e.time = key.date_create.as_ref().and_then(Seconds::get).ok_or_else(|| {
            ApiError::Transient(format!("entry {i} ({id}) of Slack's page has no numeric `date_create`; retrying"))
        })?;
        e.id = Text::Owned(id.into());
        e.action = key.action.map(|a| Text::Owned(a.into()));
    }
    let next_cursor = scan.next_cursor.map(|(a, b)| json_string(&body[a..b])).transpose()?.unwrap_or_default();
    Ok(Page { body, entries, next_cursor, recycle: None })
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
// `#[inline]` here and on its helpers: called once per entry from `scan_page`'s closure, and
// not inlined across codegen units without it (the page reader was 4-6 % slower in `cargo
// bench --bench floor` after the move to this file).
#[inline]
fn scan_keys(t: &[u8]) -> Option<Keys> {
    let mut k = Keys::default();
    let mut p = ws(t, 0);
    if t.get(p) != Some(&b'{') {
        return None;
    }
    p = ws(t, p + 1);
    if t.get(p) == Some(&b'}') {
        return Some(k);
    }
    loop {
        if t.get(p) != Some(&b'"') {
            return None;
        }
        let (ks, ke) = plain_string(t, p)?;
        p = ws(t, ke + 1);
        if t.get(p) != Some(&b':') {
            return None;
        }
        p = ws(t, p + 1);
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
                // A plain non-negative integer, read digit by digit. A negative second (refused
                // with a message), a fraction, an exponent or an overflow: the serde path.
                let mut e = p;
                let mut n: i64 = 0;
                while let Some(&c @ b'0'..=b'9') = t.get(e) {
                    n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
                    e += 1;
                }
                if e == p || matches!(t.get(e), Some(b'.' | b'e' | b'E')) {
                    return None;
                }
                k.date_create = Some(n);
                p = e;
            }
            _ => p = jsonscan::skip_value(t, p, usize::MAX)?,
        }
        if k.id.is_some() && k.date_create.is_some() && k.action.is_some() {
            // Slack sends these first: the rest of the entry (most of it) is not looked at.
            return Some(k);
        }
        p = ws(t, p);
        match t.get(p) {
            Some(b',') => p = ws(t, p + 1),
            Some(b'}') => return Some(k),
            _ => return None,
        }
    }
}

/// The content span of the string opening at `t[p]`, if it holds no escape (the scanner's
/// [`jsonscan::string_end`]: the entry was checked, so only `"` and `\` matter).
#[inline]
fn plain_string(t: &[u8], p: usize) -> Option<(usize, usize)> {
    match jsonscan::string_end(t, p)? {
        (end, false) => Some((p + 1, end)),
        (_, true) => None,
    }
}

/// Classifies a non-200 answer (or a 200 with `ok: false`).
pub fn classify_failure(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    classify_answer(status, retry_after, body, classify_error_code, || without_code(status, "api_url", "/audit/v1"))
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
        assert_eq!((page.id(&page.entries[1]), page.entries[1].time), ("b", 4));
        assert_eq!(page.action(&page.entries[0]), Some("user_login"));
    }

    /// `Page::ids` (what the sequence de-duplicates by, with its prefetch) gives every entry's id
    /// and time in page order, spans and decoded ids alike, also past the prefetch distance.
    #[test]
    fn ids_are_every_entry_in_page_order() {
        let mut body = String::from(r#"{"entries":["#);
        for i in 0..20 {
            let id = if i % 7 == 3 { format!("e\\u0041{i}") } else { format!("e{i}") };
            body.push_str(&format!(r#"{{"id":"{id}","date_create":{}}},"#, 100 - i));
        }
        body.pop();
        body.push_str("]}");
        let page = parse_audit_page(body.into_bytes()).unwrap();
        let ids: Vec<(String, i64)> = page.ids().map(|(id, t)| (id.to_string(), t)).collect();
        let want: Vec<(String, i64)> =
            (0..20).map(|i| (if i % 7 == 3 { format!("eA{i}") } else { format!("e{i}") }, 100 - i)).collect();
        assert_eq!(ids, want);
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
        assert_eq!((page.id(&page.entries[0]), page.entries[0].time), ("aA", 5));
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
