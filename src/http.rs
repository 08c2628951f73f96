//! The HTTP transport: one ureq Agent per collector, explicit timeouts, no hidden retries
//! (retrying belongs to the governor), HTTP statuses returned rather than raised so that a
//! 429's Retry-After and a 4xx's JSON body stay readable.

use crate::config::Secret;
use crate::slack::parse_retry_after;
use std::io::Read;
use std::time::Duration;

/// Large enough for a 9,999-entry page with big `details` objects.
const MAX_BODY: u64 = 512 * 1024 * 1024;

pub struct HttpResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

pub struct HttpClient {
    agent: ureq::Agent,
}

impl HttpClient {
    pub fn new(timeout: Duration, tls_insecure: bool) -> HttpClient {
        let tls = ureq::tls::TlsConfig::builder().disable_verification(tls_insecure).build();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("slack-audit/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .max_idle_connections(4)
            .build();
        HttpClient { agent: config.into() }
    }

    /// GETs `url`, with the bearer token if given. Errors are transport failures (refused,
    /// reset, timeout, truncated body), described without the token or headers.
    pub fn get(&self, url: &str, token: Option<&Secret>) -> Result<HttpResponse, String> {
        let mut req = self.agent.get(url).header("Accept", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        let mut resp = req.call().map_err(describe)?;
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let expected =
            resp.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        let mut body = Vec::with_capacity(expected.unwrap_or(64 * 1024).min(64 * 1024 * 1024));
        resp.body_mut()
            .with_config()
            .limit(MAX_BODY)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| format!("reading Slack's answer failed after {} bytes: {e}", body.len()))?;
        Ok(HttpResponse { status, retry_after, body })
    }
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("request timed out ({t})"),
        ureq::Error::Io(io) => format!("network error: {io}"),
        ureq::Error::HostNotFound => "host not found (check api_url and DNS)".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => format!("HTTP error: {other}"),
    }
}
