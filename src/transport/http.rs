//! The HTTP transport: one ureq Agent per collector, explicit timeouts, no hidden retries
//! (retrying belongs to the governor), HTTP statuses returned rather than raised so that a
//! 429's Retry-After and a 4xx's JSON body stay readable.

use crate::transport::bodypool::BodyPool;
use crate::config::Secret;
use crate::transport::wallclock::parse_http_date;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Large enough for a 9,999-entry page with big `details` objects.
const MAX_BODY: u64 = 512 * 1024 * 1024;

pub struct HttpResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// Slack's clock: the `Date` header in Unix seconds, if sent and valid.
    pub date: Option<i64>,
    pub body: Vec<u8>,
}

pub struct HttpClient {
    agent: ureq::Agent,
    /// Length of the last body read: the size to reserve when the length is not announced
    /// (chunked answers have no Content-Length), so a page is read into one allocation
    /// instead of a doubling series that leaves a body-sized hole behind each time.
    last_len: AtomicUsize,
    pool: Arc<BodyPool>,
    /// The compressed bytes of the last gzip answer, reused: a body is read whole, then
    /// inflated in one call ([`crate::transport::inflate`]).
    gz: Mutex<Vec<u8>>,
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
        HttpClient { agent: config.into(), last_len: AtomicUsize::new(0), pool: Arc::default(), gz: Mutex::default() }
    }

    /// Where pages built from this client's bodies give them back.
    pub fn pool(&self) -> &Arc<BodyPool> {
        &self.pool
    }

    /// GETs `url`, with the bearer token if given. Errors are transport failures (refused,
    /// reset, timeout, truncated body), described without the token or headers.
    pub fn get(&self, url: &str, token: Option<&Secret>) -> Result<HttpResponse, String> {
        // ureq is built without its gzip feature: the body arrives as sent and is inflated
        // whole here, which is much cheaper than ureq's streaming decoder.
        let mut req = self.agent.get(url).header("Accept", "application/json").header("Accept-Encoding", "gzip");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        let mut resp = req.call().map_err(describe)?;
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let date = resp.headers().get("date").and_then(|v| v.to_str().ok()).and_then(parse_http_date);
        let expected =
            resp.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        let encoding =
            resp.headers().get("content-encoding").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_ascii_lowercase());
        let guess = || {
            let last = self.last_len.load(Ordering::Relaxed);
            (last + last / 8).max(64 * 1024)
        };
        let body = match encoding.as_deref() {
            None | Some("") | Some("identity") => {
                let mut body = self.pool.take(expected.unwrap_or_else(guess).min(64 * 1024 * 1024));
                read_body(&mut resp, &mut body)?;
                body
            }
            Some("gzip") | Some("x-gzip") => {
                let mut gz = std::mem::take(&mut *self.gz.lock().unwrap_or_else(|e| e.into_inner()));
                gz.clear();
                gz.reserve(expected.unwrap_or(64 * 1024).min(64 * 1024 * 1024));
                let read = read_body(&mut resp, &mut gz);
                let mut body = self.pool.take(crate::transport::inflate::isize_hint(&gz).unwrap_or(0).min(64 * 1024 * 1024));
                let inflated = read.and_then(|()| {
                    crate::transport::inflate::gunzip_into(&gz, &mut body, MAX_BODY as usize)
                        .map_err(|e| format!("reading Slack's answer failed: {e}"))
                });
                // A buffer grown for an unusually large answer is not kept.
                if gz.capacity() <= 16 * 1024 * 1024 {
                    *self.gz.lock().unwrap_or_else(|e| e.into_inner()) = gz;
                }
                if let Err(e) = inflated {
                    self.pool.give(body);
                    return Err(e);
                }
                body
            }
            Some(other) => {
                return Err(format!(
                "Slack answered with Content-Encoding {other:?}, which slack-audit did not ask for and cannot decode"
            ))
            }
        };
        if status == 200 {
            self.last_len.store(body.len(), Ordering::Relaxed);
        }
        Ok(HttpResponse { status, retry_after, date, body })
    }
}

/// Reads the whole body as sent into `into`, up to [`MAX_BODY`].
fn read_body(resp: &mut ureq::http::Response<ureq::Body>, into: &mut Vec<u8>) -> Result<(), String> {
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .reader()
        .read_to_end(into)
        .map(|_| ())
        .map_err(|e| format!("reading Slack's answer failed after {} bytes: {e}", into.len()))
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

/// Parses a `Retry-After` header: seconds (Slack's form); anything else is ignored.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(3600)))
}
