//! The Web API envelope shared by `team.accessLogs` and `team.integrationLogs`: `ok: false` is
//! an error whatever the HTTP status, and their tokens need the `admin` scope on a paid
//! workspace rather than `auditlogs:read` on Enterprise Grid.

use super::{classify_answer, classify_error_code, without_code, ApiError, ErrorWire, MetaWire};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::time::Duration;

#[derive(Deserialize)]
pub(crate) struct WebPageWire<'a> {
    pub(crate) ok: Option<bool>,
    #[serde(borrow)]
    pub(crate) error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) logins: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    pub(crate) logs: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    pub(crate) response_metadata: Option<MetaWire<'a>>,
    pub(crate) paging: Option<PagingWire>,
}

#[derive(Deserialize)]
pub(crate) struct PagingWire {
    pub(crate) pages: Option<u32>,
}

/// The Web API envelope: `ok: false` is an error whatever the HTTP status.
pub(crate) fn web_envelope(body: &[u8]) -> Result<WebPageWire<'_>, ApiError> {
    let wire: WebPageWire = serde_json::from_slice(body)
        .map_err(|e| ApiError::Transient(format!("Slack's answer is not valid JSON ({e}); retrying")))?;
    if wire.ok != Some(true) {
        let code = wire.error.as_deref().unwrap_or("unknown_error");
        return Err(classify_web_error_code(200, code, body));
    }
    Ok(wire)
}

/// As the audit API's `classify_failure` (src/source/audit/wire.rs), for `team.accessLogs` and `team.integrationLogs`, whose token
/// needs the `admin` scope on a paid workspace rather than `auditlogs:read` on Enterprise Grid.
pub fn classify_web_failure(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiError {
    classify_answer(status, retry_after, body, classify_web_error_code, || without_code(status, "web_api_url", "/api"))
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

#[cfg(test)]
mod tests {
    use crate::source::access::wire::{access_logs_url, parse_access_page};
    use crate::source::integration::wire::{integration_logs_url, parse_integration_page};
    use super::*;
    use crate::source::weblogs::{access_id, access_key, WebRequest};

    #[test]
    fn web_pages_are_read_with_stable_ids_and_event_times() {
        let body = br#"{"ok":true,"logins":[{"user_id":"U1","username":"a","date_first":1,"date_last":9,"count":3,"ip":"1.2.3.4","user_agent":"x"}],"paging":{"page":1,"pages":1},"response_metadata":{"next_cursor":"b2Zmc2V0OjE="}}"#.to_vec();
        let page = parse_access_page(body).unwrap();
        assert_eq!(page.next_cursor, "b2Zmc2V0OjE=");
        assert_eq!(page.entries[0].time, 9);
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
        assert_eq!(a.entries[0].time, 1_700_000_000);
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
}
