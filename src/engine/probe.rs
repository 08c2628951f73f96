//! One-off requests outside a collection: the live credential check and Slack's catalogs of
//! actions and schemas (which need no token). Used by `slack-audit check|actions|schemas`.

use crate::config::Config;
use crate::error::Error;
use crate::transport::http::HttpClient;
use crate::source::audit::window::PageRequest;
use crate::source::audit::{audit_logs_url, classify_failure, parse_audit_page, AuditFilter};
use crate::source::slack::ApiError;
use std::collections::BTreeSet;

/// Makes one cheap audit request (the last minute, one entry) with the configured token.
/// `Ok` when the token works for the audit API. Each error says what was found and what to do:
/// [`ErrorKind::Config`](crate::error::ErrorKind::Config) "token missing: …" (none configured),
/// [`ErrorKind::Refused`](crate::error::ErrorKind::Refused) "refused (code): …" (Slack refused
/// the token, its scope or the plan), [`ErrorKind::Transient`](crate::error::ErrorKind::Transient)
/// "unreachable: …" (network or Slack trouble: try again later).
pub fn check(cfg: &Config) -> Result<(), Error> {
    let token = cfg.resolve_token().map_err(|e| Error::config(format!("token missing: {e}")))?;
    let http = HttpClient::new(cfg.timeout, cfg.tls_insecure);
    let now = crate::config::now_unix();
    let req = PageRequest { oldest: now - 60, latest: now, cursor: None };
    let url = audit_logs_url(&cfg.api_url, &AuditFilter::default(), 1, &req);
    let refused = |code: String, message: String| Error::refused(format!("refused ({code}): {message}"));
    let unreachable = |why: String| Error::transient(format!("unreachable: {why}"));
    match http.get(&url, Some(&token)) {
        Err(e) => Err(unreachable(format!(
            "cannot reach {}: {e}; check the network, proxies and api_url",
            cfg.api_url
        ))),
        Ok(resp) if resp.status == 200 => match parse_audit_page(resp.body) {
            Ok(_) => Ok(()),
            Err(ApiError::Permanent { code, message }) => Err(refused(code, message)),
            Err(e) => Err(unreachable(format!("Slack's answer was not usable ({e}); try again later"))),
        },
        Ok(resp) => match classify_failure(resp.status, resp.retry_after, &resp.body) {
            ApiError::Permanent { code, message } => Err(refused(code, message)),
            ApiError::RateLimited(_) => Err(unreachable(
                "Slack answered 429: the org's audit budget is in use by other apps right now; the token could not be checked, try again in a minute".into(),
            )),
            e => Err(unreachable(format!("Slack is failing ({e}); try again later or see status.slack.com"))),
        },
    }
}

/// `GET {api_url}/actions` or `/schemas` (no token needed), as JSON. Every error is
/// [`ErrorKind::Transient`](crate::error::ErrorKind::Transient): Slack or the network.
pub fn catalog(cfg: &Config, which: &str) -> Result<serde_json::Value, Error> {
    let http = HttpClient::new(cfg.timeout, cfg.tls_insecure);
    let url = format!("{}/{which}", cfg.api_url);
    let resp = http.get(&url, None).map_err(|e| Error::transient(format!("cannot reach {url}: {e}")))?;
    if resp.status != 200 {
        return Err(Error::transient(format!(
            "{url} answered HTTP {}: {}",
            resp.status,
            classify_failure(resp.status, resp.retry_after, &resp.body)
        )));
    }
    serde_json::from_slice(&resp.body).map_err(|e| Error::transient(format!("{url} did not answer JSON: {e}")))
}

/// Every action name in an `/actions` answer (`{"actions": {"user": [...], ...}}`).
pub fn action_names(actions: &serde_json::Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(groups) = actions.get("actions").and_then(|a| a.as_object()) {
        for list in groups.values() {
            for name in list.as_array().into_iter().flatten() {
                if let Some(n) = name.as_str() {
                    names.insert(n.to_string());
                }
            }
        }
    }
    names
}

/// The configured action names (`actions` and `exclude_actions`) that Slack does not know.
pub fn unknown_actions(cfg: &Config, known: &BTreeSet<String>) -> Vec<String> {
    cfg.actions.iter().chain(&cfg.exclude_actions).filter(|a| !known.contains(*a)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing token is a configuration error, found before anything is sent.
    #[test]
    fn a_missing_token_is_a_config_error_that_says_so() {
        let cfg =
            Config::from_pairs([("token_env", "SLACK_AUDIT_TEST_PROBE_UNSET"), ("api_url", "http://127.0.0.1:9/x")])
                .unwrap();
        let e = check(&cfg).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Config, "{e}");
        assert!(
            e.message().starts_with("token missing: ") && e.message().contains("SLACK_AUDIT_TEST_PROBE_UNSET"),
            "{e}"
        );
    }

    #[test]
    fn action_names_are_collected_from_every_group() {
        let v = serde_json::json!({"actions": {"user": ["user_login", "user_logout"], "file": ["file_downloaded"]}});
        let names = action_names(&v);
        assert_eq!(names.len(), 3);
        let cfg =
            Config::from_pairs([("actions", "user_login,user_logn"), ("exclude_actions", "file_downloaded")]).unwrap();
        assert_eq!(unknown_actions(&cfg, &names), vec!["user_logn".to_string()]);
    }
}
