//! `slack-audit stats`: reads a running `run --metrics-listen`'s /metrics and prints it as a
//! short table per stream (or `--raw`, the exposition as served).

use super::exit;
use slack_audit::error::ErrorKind;
use std::collections::BTreeMap;

/// One sample line of the text exposition: metric name, labels, value.
fn parse(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        // Our label values are stream names and versions: no commas or quotes inside.
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            if let Some((k, v)) = pair.split_once('=') {
                map.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
        out.push((name.to_string(), map, value));
    }
    out
}

pub fn stats(url: &str, raw: bool) -> i32 {
    let body = match ureq::get(url).call().and_then(|r| r.into_body().read_to_string()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "slack-audit stats: cannot read {url}: {e}. Is `slack-audit run --metrics-listen` running there? Give its address with --metrics-listen or the URL with --metrics-url"
            );
            return exit::code(ErrorKind::Transient);
        }
    };
    if raw {
        print!("{body}");
        return exit::OK;
    }
    let samples = parse(&body);
    let global = |name: &str| samples.iter().find(|(n, l, _)| n == name && l.is_empty()).map(|s| s.2);
    let version = samples
        .iter()
        .find(|(n, _, _)| n == "slack_audit_build_info")
        .and_then(|(_, l, _)| l.get("version").cloned())
        .unwrap_or_default();
    println!("slack-audit {version} at {url}");
    let mut streams: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (name, labels, value) in &samples {
        if let Some(stream) = labels.get("stream") {
            let short = name.trim_start_matches("slack_audit_").to_string();
            streams.entry(stream.clone()).or_default().insert(short, *value);
        }
    }
    println!("{:<40} {:>12} {:>12} {:>8} {:>12} {:>8}", "stream", "events", "acked", "calls", "lag", "stalled");
    for (stream, m) in &streams {
        let get = |k: &str| m.get(k).copied();
        let lag = get("checkpoint_lag_seconds")
            .map(|s| humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:>12} {:>12} {:>8} {:>12} {:>8}",
            stream,
            get("events_total").unwrap_or(0.0),
            get("events_acked_total").unwrap_or(0.0),
            get("calls_total").unwrap_or(0.0),
            lag,
            if get("stream_stalled") == Some(1.0) { "yes" } else { "no" }
        );
    }
    let last = global("slack_audit_last_success_timestamp_seconds").filter(|t| *t > 0.0);
    println!(
        "retries {}, 429s {}, duplicates dropped {}, budget waits {:.1} s, pending batches {}, caught up {}, last success {}",
        global("slack_audit_retries_total").unwrap_or(0.0),
        global("slack_audit_rate_limited_total").unwrap_or(0.0),
        global("slack_audit_duplicates_dropped_total").unwrap_or(0.0),
        global("slack_audit_budget_wait_seconds_total").unwrap_or(0.0),
        global("slack_audit_batches_pending").unwrap_or(0.0),
        if global("slack_audit_caught_up") == Some(1.0) { "yes" } else { "no" },
        last.map(|t| slack_audit::streams::rfc3339(t as i64)).unwrap_or_else(|| "none yet".into()),
    );
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labelled_and_plain_samples() {
        let s = parse(
            "# HELP x y\nslack_audit_events_total{stream=\"a\",source=\"audit\"} 4\nslack_audit_caught_up 1\n# EOF\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1.get("stream").map(String::as_str), Some("a"));
        assert_eq!((s[1].0.as_str(), s[1].2), ("slack_audit_caught_up", 1.0));
    }
}
