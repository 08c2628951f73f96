//! The HTTP transport: one ureq Agent per collector, explicit timeouts, no hidden retries
//! (retrying belongs to the governor), HTTP statuses returned rather than raised so that a
//! 429's Retry-After and a 4xx's JSON body stay readable.

use crate::config::{Config, Secret};
use crate::error::Error;
use crate::transport::bodypool::BodyPool;
pub use crate::transport::net::{HttpError, Step};
use crate::transport::net::Network;
use crate::transport::wallclock::parse_http_date;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
    /// What is trusted and which proxy is used.
    net: Network,
}

impl HttpClient {
    /// A client for `cfg`'s network settings (`timeout`, `ca_file`, `proxy`, `no_proxy`,
    /// `tls_insecure`). Errors are [`crate::error::ErrorKind::Config`]: `ca_file` unusable, a
    /// proxy in the environment that is not an HTTP proxy.
    /// `reads`: the base URLs it will be asked for (whether TLS is needed from the start).
    pub fn new(cfg: &Config, reads: &[&str]) -> Result<HttpClient, Error> {
        let net = Network::new(cfg, reads)?;
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("slack-audit/", env!("CARGO_PKG_VERSION")))
            .proxy(net.proxy.clone())
            .max_idle_connections(4)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            crate::transport::net::connector(net.tls.clone()),
            ureq::unversioned::resolver::DefaultResolver::default(),
        );
        Ok(HttpClient { agent, last_len: AtomicUsize::new(0), pool: Arc::default(), net })
    }

    /// What this client trusts and which proxy it uses (file paths, no password), as the
    /// startup log and `check` say it.
    pub fn network_summary(&self) -> String {
        self.net.summary()
    }

    /// The proxy a request to `url` goes through, shown without its password.
    pub fn proxy_for(&self, url: &str) -> Option<String> {
        self.net.proxied(url).map(crate::transport::net::shown_proxy)
    }

    /// Where pages built from this client's bodies give them back.
    pub fn pool(&self) -> &Arc<BodyPool> {
        &self.pool
    }

    /// GETs `url`, with the bearer token if given. Errors are transport failures (refused,
    /// reset, timeout, truncated body: [`HttpError::Transient`]) or a refused certificate or a
    /// refusing proxy ([`HttpError::Setup`]), described without the token, the proxy password or
    /// headers.
    pub fn get(&self, url: &str, token: Option<&Secret>) -> Result<HttpResponse, HttpError> {
        self.get_inner(url, token).map_err(|e| match e {
            Failure::Ureq(e) => crate::transport::net::classify(e, url, &self.net),
            Failure::Body(message) => HttpError::Transient { step: Step::Http, message },
        })
    }

    fn get_inner(&self, url: &str, token: Option<&Secret>) -> Result<HttpResponse, Failure> {
        // ureq is built without its gzip feature: the body arrives as sent and is inflated
        // whole here, which is much cheaper than ureq's streaming decoder.
        let mut req = self.agent.get(url).header("Accept", "application/json").header("Accept-Encoding", "gzip");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {}", t.expose()));
        }
        let mut resp = req.call().map_err(Failure::Ureq)?;
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
                read_body(&mut resp, &mut body).map_err(Failure::Body)?;
                body
            }
            Some("gzip") | Some("x-gzip") => {
                // The compressed bytes are read whole, then inflated in one call
                // ([`crate::transport::inflate`]), and freed: kept for the next read, they were
                // 1 MB more of peak RSS in Fluent Bit (1.8 MB at `limit` 9999; PERFORMANCE.md).
                let mut gz = Vec::with_capacity(expected.unwrap_or(64 * 1024).min(64 * 1024 * 1024));
                let read = read_body(&mut resp, &mut gz);
                let mut body = self.pool.take(crate::transport::inflate::isize_hint(&gz).unwrap_or(0).min(64 * 1024 * 1024));
                let inflated = read.and_then(|()| {
                    crate::transport::inflate::gunzip_into(&gz, &mut body, MAX_BODY as usize)
                        .map_err(|e| format!("reading Slack's answer failed: {e}"))
                });
                drop(gz);
                if let Err(e) = inflated {
                    self.pool.give(body);
                    return Err(Failure::Body(e));
                }
                body
            }
            Some(other) => {
                return Err(Failure::Body(format!(
                "Slack answered with Content-Encoding {other:?}, which slack-audit did not ask for and cannot decode"
            )))
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

/// A failed request before it is classified.
enum Failure {
    Ureq(ureq::Error),
    Body(String),
}

/// Parses a `Retry-After` header: seconds (Slack's form); anything else is ignored.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(3600)))
}
