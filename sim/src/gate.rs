//! The checks every log endpoint runs before answering: the call is counted, the org-wide
//! sliding-window budget may answer 429, `slow_ms` delays it, and the injected faults (reset,
//! 5xx, garbage, truncated body) are rolled from the request's reproducible generator.

use std::time::Instant;

use crate::data::Rng;
use crate::http::Response;
use crate::lock;
use crate::router::Outcome;
use crate::shared::{Knobs, Shared};
use crate::stats::inc;

/// Result of the checks shared by every log endpoint (budget, delay, injected faults).
pub(crate) enum Gate {
    Go { truncate: bool, knobs: Knobs },
    Stop(Outcome),
}

/// Counts the call, applies the sliding-window budget, the delay and the injected faults.
pub(crate) fn gate(s: &Shared, rng: &mut Rng, web: bool) -> Gate {
    let knobs = s.knobs();
    let now = Instant::now();
    let (window, limit) = if web {
        inc(&s.c.web_calls);
        (&s.web_window, knobs.web_max_calls_per_minute)
    } else {
        inc(&s.c.calls);
        (&s.audit_window, knobs.max_calls_per_minute)
    };
    let verdict = lock(window).hit(now, limit);
    if let Err(retry_after) = verdict {
        inc(if web { &s.c.web_calls_429 } else { &s.c.calls_429 });
        let mut r = Response::error(429, "ratelimited");
        r.headers.push(("Retry-After", retry_after.to_string()));
        return Gate::Stop(Outcome::Send(r));
    }
    if knobs.slow_ms > 0 {
        inc(&s.c.faults_slow);
        s.sleep(knobs.slow_ms);
    }
    let mut x = rng.unit();
    let mut roll = |p: f64| {
        let hit = x < p;
        x -= p;
        hit
    };
    if roll(knobs.p_reset) {
        inc(&s.c.faults_reset);
        return Gate::Stop(Outcome::Reset { rst: rng.below(2) == 0 });
    }
    if roll(knobs.p_5xx) {
        inc(&s.c.faults_5xx);
        let r = match rng.below(3) {
            0 => Response::error(500, "internal_error"),
            1 => Response {
                status: 502,
                content_type: "text/html",
                headers: Vec::new(),
                body: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n".to_vec(),
            },
            _ => Response {
                status: 503,
                content_type: "text/html; charset=utf-8",
                headers: Vec::new(),
                body: b"<!DOCTYPE html><html><body><h1>Slack is temporarily unavailable</h1></body></html>".to_vec(),
            },
        };
        return Gate::Stop(Outcome::Send(r));
    }
    if roll(knobs.p_garbage) {
        inc(&s.c.faults_garbage);
        let (ct, body): (&'static str, &[u8]) = match rng.below(3) {
            0 => ("text/html", b"<html><body>upstream connect error or disconnect/reset before headers</body></html>"),
            1 => ("application/json; charset=utf-8", b"{\"entries\":[{\"id\":\"8d3c"),
            _ => ("application/json; charset=utf-8", b"\x00\x1f\x8b garbage \xff\xfe"),
        };
        return Gate::Stop(Outcome::Send(Response {
            status: 200,
            content_type: ct,
            headers: Vec::new(),
            body: body.to_vec(),
        }));
    }
    let truncate = roll(knobs.p_truncate);
    if truncate {
        inc(&s.c.faults_truncate);
    }
    Gate::Go { truncate, knobs }
}

pub(crate) fn finish(resp: Response, truncate: bool) -> Outcome {
    if truncate {
        Outcome::Truncate(resp)
    } else {
        Outcome::Send(resp)
    }
}
