//! The HTTP transport: one ureq Agent per collector, explicit timeouts, no hidden retries
//! (retrying belongs to the governor), HTTP statuses returned rather than raised so that a
//! 429's Retry-After and a 4xx's JSON body stay readable.

use crate::config::Secret;
use crate::slack::parse_retry_after;
use crate::wallclock::parse_http_date;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Large enough for a 9,999-entry page with big `details` objects.
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// Page bodies given back when their page is dropped ([`crate::slack::AuditPage`]), reused by
/// the next reads. A backfill then reads every page into one of a few buffers allocated once,
/// instead of allocating and freeing a multi-megabyte buffer per page, which fragments the
/// allocator's heap (peak RSS then grows with the backfill) and faults fresh pages in each time.
#[derive(Default)]
pub struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// About the pages alive at once: one being read, one in the mailbox, one with the host.
const POOL_MAX: usize = 4;

impl BodyPool {
    /// An empty buffer with room for `want` bytes. A pooled buffer far larger than needed (the
    /// backfill is over, pages are small now) is freed rather than kept.
    fn take(&self, want: usize) -> Vec<u8> {
        let pooled = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(mut v) if v.capacity() >= want && v.capacity() <= want.saturating_mul(4) => {
                v.clear();
                v
            }
            // Too small (or far too large): freed before the new one is allocated. Growing it
            // instead would make realloc copy it, with both alive at once; and the slack lets
            // the next, slightly larger pages fit.
            other => {
                drop(other);
                Vec::with_capacity(want.saturating_add(want / 8))
            }
        }
    }

    /// Takes back a body that is no longer used.
    pub fn give(&self, v: Vec<u8>) {
        if v.capacity() >= 64 * 1024 {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < POOL_MAX {
                free.push(v);
            }
        }
    }
}

impl std::fmt::Debug for BodyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyPool")
    }
}

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
    /// inflated in one call ([`crate::inflate`]).
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
                let mut body = self.pool.take(crate::inflate::isize_hint(&gz).unwrap_or(0).min(64 * 1024 * 1024));
                let inflated = read.and_then(|()| {
                    crate::inflate::gunzip_into(&gz, &mut body, MAX_BODY as usize)
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
