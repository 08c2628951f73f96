//! The HTTP transport: one ureq Agent per collector, explicit timeouts, no hidden retries
//! (retrying belongs to the governor), HTTP statuses returned rather than raised so that a
//! 429's Retry-After and a 4xx's JSON body stay readable.

use crate::config::Secret;
use crate::slack::parse_retry_after;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Length of the last body read: the size to reserve when the length is not announced
    /// (ureq drops Content-Length when it decodes gzip), so a page is read into one allocation
    /// instead of a doubling series that leaves a body-sized hole behind each time.
    last_len: AtomicUsize,
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
        HttpClient { agent: config.into(), last_len: AtomicUsize::new(0) }
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
        let guess = || {
            let last = self.last_len.load(Ordering::Relaxed);
            (last + last / 8).max(64 * 1024)
        };
        let mut body = Vec::with_capacity(expected.unwrap_or_else(guess).min(64 * 1024 * 1024));
        resp.body_mut()
            .with_config()
            .limit(MAX_BODY)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| format!("reading Slack's answer failed after {} bytes: {e}", body.len()))?;
        if status == 200 {
            self.last_len.store(body.len(), Ordering::Relaxed);
        }
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
