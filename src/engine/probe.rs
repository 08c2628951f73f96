//! One-off requests outside a collection: the live credential check and Slack's catalogs of
//! actions and schemas (which need no token). Used by `slack-audit check|actions|schemas`.

use crate::config::Config;
use crate::error::Error;
use crate::transport::http::{HttpClient, HttpError, Step};
use crate::source::audit::window::PageRequest;
use crate::source::audit::{audit_logs_url, classify_failure, parse_audit_page, AuditFilter};
use crate::source::slack::ApiError;
use std::collections::BTreeSet;

/// Makes one cheap audit request (the last minute, one entry) with the configured token.
/// `Ok` when the token works for the audit API. Each error says what was found and what to do:
/// [`ErrorKind::Config`](crate::error::ErrorKind::Config) "token missing: …" (none configured)
/// or "TLS failed: …" / "proxy CONNECT failed: …" (a certificate the trust store refuses, a
/// proxy that refuses), [`ErrorKind::Refused`](crate::error::ErrorKind::Refused) "HTTP auth
/// failed: refused (code): …" / "scope failed: …" (Slack refused the token, its scope or the
/// plan), [`ErrorKind::Transient`](crate::error::ErrorKind::Transient) "unreachable: …"
/// (network or Slack trouble: try again later).
pub fn check(cfg: &Config) -> Result<(), Error> {
    check_steps(cfg, &mut |_| {})
}

/// As [`check`], telling `say` each step that passed, in order: the network settings (trust
/// store, proxy), DNS, proxy CONNECT, TLS, HTTP auth, scope. The error names the step that
/// failed.
pub fn check_steps(cfg: &Config, say: &mut dyn FnMut(&str)) -> Result<(), Error> {
    let token = cfg.resolve_token().map_err(|e| Error::config(format!("token missing: {e}")))?;
    let http = HttpClient::new(cfg, &[&cfg.api_url])?;
    say(&http.network_summary());
    let now = crate::config::now_unix();
    let req = PageRequest { oldest: now - 60, latest: now, cursor: None };
    let url = audit_logs_url(&cfg.api_url, &AuditFilter::default(), 1, &req);
    let host_port = host_port(&cfg.api_url);
    let proxy = http.proxy_for(&url);
    // DNS: the name this machine resolves (the proxy's, when the proxy resolves Slack's).
    let lookup = match &proxy {
        Some(p) => p.rsplit_once('@').map(|(_, h)| h).unwrap_or_else(|| p.split("://").nth(1).unwrap_or(p)).to_string(),
        None => host_port.clone(),
    };
    match std::net::ToSocketAddrs::to_socket_addrs(&lookup.as_str()) {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => say(&format!("ok: DNS: {lookup} resolves to {}", a.ip())),
            None => return Err(Error::transient(format!("unreachable: DNS failed: {lookup} has no address"))),
        },
        Err(e) => {
            return Err(Error::transient(format!(
                "unreachable: DNS failed: {lookup} does not resolve ({e}); check the host name{} and the DNS",
                if proxy.is_some() { " in `proxy`" } else { " in api_url" }
            )))
        }
    }
    let resp = match http.get(&url, Some(&token)) {
        Ok(resp) => resp,
        Err(e) => {
            let step = e.step();
            if step > Step::ProxyConnect {
                if let Some(p) = &proxy {
                    say(&format!("ok: proxy CONNECT: {p} opened a tunnel to {host_port}"));
                }
            }
            return Err(match e {
                HttpError::Setup { message, .. } => Error::config(format!("{} failed: {message}", step.name())),
                HttpError::Transient { message, .. } => Error::transient(format!(
                    "unreachable: {} failed: cannot reach {}: {message}; check the network, proxies and api_url",
                    step.name(),
                    cfg.api_url
                )),
            });
        }
    };
    if let Some(p) = &proxy {
        say(&format!("ok: proxy CONNECT: {p} opened a tunnel to {host_port}"));
    }
    if cfg.api_url.starts_with("https://") {
        say(&format!("ok: TLS: the certificate of {host_port} is trusted"));
    }
    let refused = |code: String, message: String| {
        let step = if matches!(code.as_str(), "missing_scope" | "not_allowed_token_type" | "feature_not_enabled") {
            "scope"
        } else {
            "HTTP auth"
        };
        Error::refused(format!("{step} failed: refused ({code}): {message}"))
    };
    let unreachable = |why: String| Error::transient(format!("unreachable: {why}"));
    match resp {
        resp if resp.status == 200 => match parse_audit_page(resp.body) {
            Ok(_) => {
                say("ok: HTTP auth: Slack accepted the token");
                say("ok: scope: the token may read the audit logs (auditlogs:read)");
                Ok(())
            }
            Err(ApiError::Permanent { code, message }) => Err(refused(code, message)),
            Err(e) => Err(unreachable(format!("Slack's answer was not usable ({e}); try again later"))),
        },
        resp => match classify_failure(resp.status, resp.retry_after, &resp.body) {
            ApiError::Permanent { code, message } => Err(refused(code, message)),
            ApiError::RateLimited(_) => Err(unreachable(
                "Slack answered 429: the org's audit budget is in use by other apps right now; the token could not be checked, try again in a minute".into(),
            )),
            e => Err(unreachable(format!("Slack is failing ({e}); try again later or see status.slack.com"))),
        },
    }
}

/// `host:port` of a URL (the scheme's port when none is written).
fn host_port(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "http" { 80 } else { 443 })
    }
}

/// `GET {api_url}/actions` or `/schemas` (no token needed), as JSON. Errors are
/// [`ErrorKind::Transient`](crate::error::ErrorKind::Transient) (Slack or the network) or
/// [`ErrorKind::Config`](crate::error::ErrorKind::Config) (a refused certificate, a refusing
/// proxy, `ca_file` unusable).
pub fn catalog(cfg: &Config, which: &str) -> Result<serde_json::Value, Error> {
    let http = HttpClient::new(cfg, &[&cfg.api_url])?;
    let url = format!("{}/{which}", cfg.api_url);
    let resp = http.get(&url, None).map_err(|e| match e {
        HttpError::Setup { message, .. } => Error::config(message),
        HttpError::Transient { message, .. } => Error::transient(format!("cannot reach {url}: {message}")),
    })?;
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
