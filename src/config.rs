//! The one option table shared by every front end.
//!
//! JSON config keys (C ABI and `--config FILE`), Fluent Bit `-p` properties and CLI flags
//! (`--state-dir` for `state_dir`) all go through [`Config::from_pairs`], so a key means the same
//! thing everywhere and every error names the key and what it accepts.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Slack's audit data starts in March 2018; a first run without `since` reads from here.
pub const AUDIT_EPOCH: i64 = 1_519_862_400;

/// The audit API accepts at most 30 action names per request.
pub const MAX_ACTIONS_PER_REQUEST: usize = 30;

/// One row of the option table: its name, its default as the user would write it, and what it means.
pub struct OptionSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every option, in the order the README documents them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec { name: "token", default: "", help: "Slack user token (xoxp-…) with auditlogs:read. Prefer token_env or token_file: a token on a command line is visible to other users" },
    OptionSpec { name: "token_env", default: "SLACK_AUDIT_TOKEN", help: "name of the environment variable holding the token" },
    OptionSpec { name: "token_file", default: "", help: "file whose first line is the token (should be mode 0600)" },
    OptionSpec { name: "api_url", default: "https://api.slack.com/audit/v1", help: "Audit Logs API base URL; http:// only to loopback" },
    OptionSpec { name: "web_api_url", default: "https://slack.com/api", help: "Web API base URL for the access and integration logs; http:// only to loopback" },
    OptionSpec { name: "sources", default: "audit", help: "comma list of audit, access, integration" },
    OptionSpec { name: "actions", default: "", help: "comma list of audit action names to collect (all when empty)" },
    OptionSpec { name: "exclude_actions", default: "", help: "comma list of audit action names to drop" },
    OptionSpec { name: "actor", default: "", help: "only events by this user id" },
    OptionSpec { name: "entity", default: "", help: "only events about this entity id" },
    OptionSpec { name: "since", default: "2018-03-01T00:00:00Z", help: "how far back the first run goes: Unix seconds, RFC 3339, or relative (30d, 12h)" },
    OptionSpec { name: "state_dir", default: "$STATE_DIRECTORY or ~/.local/state/slack-audit", help: "directory of the checkpoint files, one per stream" },
    OptionSpec { name: "lock_wait", default: "15", help: "seconds to wait for a stream locked by another collector (e.g. one still exiting after a Logstash restart) before failing (the CLI then exits 3); 0 fails at once" },
    OptionSpec { name: "limit", default: "9999", help: "page size, 1..9999 (bigger pages spend the rate budget better)" },
    OptionSpec { name: "interval", default: "60", help: "seconds between polls once caught up" },
    OptionSpec { name: "lag", default: "5", help: "seconds: each poll reads up to now - lag" },
    OptionSpec { name: "overlap", default: "600", help: "seconds: each poll re-reads this far before the checkpoint and drops ids already delivered, catching late events" },
    OptionSpec { name: "max_calls_per_minute", default: "50", help: "the share of the org-wide Audit Logs budget (Tier 3: 50/min) this process may use, retries included" },
    OptionSpec { name: "web_max_calls_per_minute", default: "20", help: "the same for the Web API log methods (Tier 2: 20/min)" },
    OptionSpec { name: "timeout", default: "30", help: "seconds per HTTP request" },
    OptionSpec { name: "max_retries", default: "8", help: "retries of one request on 5xx, resets, timeouts and bad bodies before giving up" },
    OptionSpec { name: "stall_warning_after", default: "0", help: "warn when a stream delivered nothing for this long (e.g. 24h); 0 disables" },
    OptionSpec { name: "format", default: "raw", help: "document format: raw (each entry exactly as Slack sent it) or ecs (an Elastic Common Schema 8.x document, the entry under slack.*; see docs/ECS.md)" },
    OptionSpec { name: "tls_insecure", default: "false", help: "DANGEROUS: skip TLS certificate verification (logged loudly)" },
];

/// A data source of the collector; each becomes one or more streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Audit,
    Access,
    Integration,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Audit => "audit",
            Source::Access => "access",
            Source::Integration => "integration",
        }
    }
}

/// The document handed to the host for each entry (`format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// The entry exactly as Slack sent it.
    Raw,
    /// An Elastic Common Schema document (crate::ecs).
    Ecs,
}

/// A token that never reaches a log, an error message or a state file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    /// The only way to read the token: for the Authorization header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where the token comes from, resolved lazily so `validate` can run without one.
#[derive(Clone, Debug)]
pub struct TokenSource {
    pub token: Option<Secret>,
    pub token_env: String,
    pub token_file: Option<PathBuf>,
}

/// A configuration error: which key, what was wrong, what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &str, value: &str, accepted: &str) -> ConfigError {
    ConfigError(format!("option `{key}`: invalid value {value:?}; expected {accepted}"))
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub token: TokenSource,
    pub api_url: String,
    pub web_api_url: String,
    pub sources: Vec<Source>,
    pub actions: Vec<String>,
    pub exclude_actions: Vec<String>,
    pub actor: Option<String>,
    pub entity: Option<String>,
    /// Unix seconds; the oldest second the first run reads.
    pub since: i64,
    pub state_dir: PathBuf,
    /// How long opening a stream waits for another process's lock to go away.
    pub lock_wait: Duration,
    pub limit: u32,
    pub interval: Duration,
    pub lag: i64,
    pub overlap: i64,
    pub max_calls_per_minute: u32,
    pub web_max_calls_per_minute: u32,
    pub timeout: Duration,
    pub max_retries: u32,
    pub stall_warning_after: Option<Duration>,
    pub format: OutputFormat,
    pub tls_insecure: bool,
}

impl Config {
    /// Builds a config from `key = value` pairs (later pairs override earlier ones), starting
    /// from the defaults. Keys are snake_case; `-` is accepted for `_`.
    pub fn from_pairs<K, V, I>(pairs: I) -> Result<Config, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        Self::from_pairs_at(pairs, now_unix())
    }

    /// As [`Config::from_pairs`], with "now" given (relative `since` values are resolved against it).
    pub fn from_pairs_at<K, V, I>(pairs: I, now: i64) -> Result<Config, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut c = Config::defaults();
        for (key, value) in pairs {
            let key = key.as_ref().trim().replace('-', "_").to_ascii_lowercase();
            c.set(&key, value.as_ref().trim(), now)?;
        }
        c.check()?;
        Ok(c)
    }

    /// Builds a config from a JSON object (the C ABI and `--config FILE`), then applies `overrides`.
    pub fn from_json(json: &str, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let pairs = json_pairs(json)?;
        Self::from_pairs(pairs.into_iter().chain(overrides.iter().cloned()))
    }

    fn defaults() -> Config {
        Config {
            token: TokenSource { token: None, token_env: "SLACK_AUDIT_TOKEN".into(), token_file: None },
            api_url: "https://api.slack.com/audit/v1".into(),
            web_api_url: "https://slack.com/api".into(),
            sources: vec![Source::Audit],
            actions: Vec::new(),
            exclude_actions: Vec::new(),
            actor: None,
            entity: None,
            since: AUDIT_EPOCH,
            state_dir: default_state_dir(),
            lock_wait: Duration::from_secs(15),
            limit: 9999,
            interval: Duration::from_secs(60),
            lag: 5,
            overlap: 600,
            max_calls_per_minute: 50,
            web_max_calls_per_minute: 20,
            timeout: Duration::from_secs(30),
            max_retries: 8,
            stall_warning_after: None,
            format: OutputFormat::Raw,
            tls_insecure: false,
        }
    }

    fn set(&mut self, key: &str, v: &str, now: i64) -> Result<(), ConfigError> {
        match key {
            "token" => self.token.token = non_empty(v).map(|t| Secret::new(t.to_string())),
            "token_env" => {
                if v.is_empty() || !v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                    return Err(bad(key, v, "an environment variable name such as SLACK_AUDIT_TOKEN"));
                }
                self.token.token_env = v.to_string();
            }
            "token_file" => self.token.token_file = non_empty(v).map(PathBuf::from),
            "api_url" => self.api_url = parse_url(key, v)?,
            "web_api_url" => self.web_api_url = parse_url(key, v)?,
            "sources" => {
                let mut sources = Vec::new();
                for s in split_list(v) {
                    let source = match s.as_str() {
                        "audit" => Source::Audit,
                        "access" => Source::Access,
                        "integration" => Source::Integration,
                        _ => return Err(bad(key, &s, "a comma list of audit, access, integration")),
                    };
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                }
                if sources.is_empty() {
                    return Err(bad(key, v, "at least one of audit, access, integration"));
                }
                self.sources = sources;
            }
            "actions" => self.actions = parse_actions(key, v)?,
            "exclude_actions" => self.exclude_actions = parse_actions(key, v)?,
            "actor" => self.actor = parse_id(key, v)?,
            "entity" => self.entity = parse_id(key, v)?,
            "since" => {
                self.since = parse_since(v, now).ok_or_else(|| {
                    bad(
                        key,
                        v,
                        "Unix seconds, an RFC 3339 time (2024-01-31T00:00:00Z) or a relative age (30d, 12h, 90m)",
                    )
                })?
            }
            "state_dir" => {
                if v.is_empty() {
                    return Err(bad(key, v, "a directory path"));
                }
                self.state_dir = PathBuf::from(v);
            }
            "lock_wait" => self.lock_wait = Duration::from_secs(parse_seconds(key, v, 0, 3600)?),
            "limit" => self.limit = parse_int(key, v, 1, 9999)? as u32,
            "interval" => self.interval = Duration::from_secs(parse_seconds(key, v, 1, 86_400)?),
            "lag" => self.lag = parse_seconds(key, v, 0, 86_400)? as i64,
            "overlap" => self.overlap = parse_seconds(key, v, 0, 7 * 86_400)? as i64,
            "max_calls_per_minute" => self.max_calls_per_minute = parse_int(key, v, 1, 1000)? as u32,
            "web_max_calls_per_minute" => self.web_max_calls_per_minute = parse_int(key, v, 1, 1000)? as u32,
            "timeout" => self.timeout = Duration::from_secs(parse_seconds(key, v, 1, 600)?),
            "max_retries" => self.max_retries = parse_int(key, v, 0, 100)? as u32,
            "stall_warning_after" => {
                let secs = parse_seconds(key, v, 0, 365 * 86_400)?;
                self.stall_warning_after = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "format" => {
                self.format = match v.to_ascii_lowercase().as_str() {
                    "raw" => OutputFormat::Raw,
                    "ecs" => OutputFormat::Ecs,
                    _ => return Err(bad(key, v, "raw or ecs")),
                }
            }
            "tls_insecure" => self.tls_insecure = parse_bool(key, v)?,
            _ => {
                let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
                return Err(ConfigError(format!("unknown option `{key}`; known options are: {}", known.join(", "))));
            }
        }
        Ok(())
    }

    /// Checks that need several options at once.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(a) = self.actions.iter().find(|a| self.exclude_actions.contains(a)) {
            return Err(ConfigError(format!(
                "action {a:?} is in both `actions` and `exclude_actions`; keep it in one of them"
            )));
        }
        Ok(())
    }

    /// Resolves the token from `token`, then `token_file`, then the `token_env` variable.
    pub fn resolve_token(&self) -> Result<Secret, ConfigError> {
        if let Some(t) = &self.token.token {
            return Ok(t.clone());
        }
        if let Some(path) = &self.token.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("option `token_file`: cannot read {}: {e}", path.display())))?;
            let line = text.lines().next().unwrap_or("").trim();
            if line.is_empty() {
                return Err(ConfigError(format!(
                    "option `token_file`: {} is empty; put the xoxp- token on its first line",
                    path.display()
                )));
            }
            return Ok(Secret::new(line.to_string()));
        }
        match std::env::var(&self.token.token_env) {
            Ok(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim().to_string())),
            _ => Err(ConfigError(format!(
                "no Slack token: set the environment variable {} (or the option `token_env` to another variable, or `token_file`) to a user token (xoxp-…) of the org owner with the auditlogs:read scope",
                self.token.token_env
            ))),
        }
    }

    /// True when `token_file` can be read by other users (worth a warning).
    pub fn token_file_world_readable(&self) -> bool {
        use std::os::unix::fs::PermissionsExt;
        match &self.token.token_file {
            Some(p) if self.token.token.is_none() => {
                std::fs::metadata(p).map(|m| m.permissions().mode() & 0o044 != 0).unwrap_or(false)
            }
            _ => false,
        }
    }
}

fn non_empty(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_actions(key: &str, v: &str) -> Result<Vec<String>, ConfigError> {
    let list = split_list(v);
    for a in &list {
        if !a.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
            return Err(bad(key, a, "a comma list of Slack action names such as user_login,file_downloaded"));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for a in list {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

fn parse_id(key: &str, v: &str) -> Result<Option<String>, ConfigError> {
    if v.is_empty() {
        return Ok(None);
    }
    if !v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
        return Err(bad(key, v, "a Slack id such as W123ABC456"));
    }
    Ok(Some(v.to_string()))
}

fn parse_int(key: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(key, v, &format!("a whole number from {min} to {max}"))),
    }
}

/// Seconds as a plain number or a duration with a unit (`90s`, `5m`, `24h`, `7d`).
fn parse_seconds(key: &str, v: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    let secs = v.parse::<u64>().ok().or_else(|| parse_duration(v));
    match secs {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(key, v, &format!("seconds from {min} to {max}, as a number or with a unit (90s, 5m, 24h, 7d)"))),
    }
}

fn parse_duration(v: &str) -> Option<u64> {
    humantime::parse_duration(v).ok().map(|d| d.as_secs())
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(bad(key, v, "true or false")),
    }
}

/// `since`: Unix seconds, RFC 3339, or an age relative to `now` such as `30d`.
pub fn parse_since(v: &str, now: i64) -> Option<i64> {
    if let Ok(n) = v.parse::<i64>() {
        return (n >= 0).then_some(n);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64);
    }
    parse_duration(v).map(|age| (now - age as i64).max(0))
}

/// Accepts `https://…` anywhere and `http://…` only to a loopback host, so a token never
/// travels in clear text over a network.
fn parse_url(key: &str, v: &str) -> Result<String, ConfigError> {
    let url = v.trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad(key, v, "an https:// URL"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() || host_port.contains('@') {
        return Err(bad(key, v, "an https:// URL with a host and no user info"));
    }
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(host_port) => Ok(url.to_string()),
        "http" => Err(ConfigError(format!(
            "option `{key}`: refusing plain http:// to the non-loopback host in {v:?}: the token would cross the network unencrypted; use https://"
        ))),
        _ => Err(bad(key, v, "an https:// URL")),
    }
}

fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map(|(h, _)| h).unwrap_or(host_port)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

fn default_state_dir() -> PathBuf {
    if let Ok(d) = std::env::var("STATE_DIRECTORY") {
        if let Some(first) = d.split(':').next().filter(|s| !s.is_empty()) {
            return PathBuf::from(first);
        }
    }
    if let Ok(d) = std::env::var("XDG_STATE_HOME") {
        if !d.is_empty() {
            return PathBuf::from(d).join("slack-audit");
        }
    }
    match std::env::var("HOME") {
        Ok(h) if !h.is_empty() => PathBuf::from(h).join(".local/state/slack-audit"),
        _ => PathBuf::from("slack-audit-state"),
    }
}

/// Flattens a JSON config object into `key = value` pairs: strings as they are, numbers and
/// booleans as written, arrays of strings joined with commas.
fn json_pairs(json: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ConfigError(format!("config is not valid JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| {
        ConfigError("config must be a JSON object such as {\"state_dir\": \"/var/lib/slack-audit\"}".into())
    })?;
    let mut pairs = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) => parts.push(s.to_string()),
                        None => return Err(ConfigError(format!("option `{k}`: arrays may hold only strings"))),
                    }
                }
                parts.join(",")
            }
            serde_json::Value::Null => continue,
            serde_json::Value::Object(_) => {
                return Err(ConfigError(format!("option `{k}`: expected a string, number or list, not an object")))
            }
        };
        pairs.push((k.clone(), text));
    }
    Ok(pairs)
}

pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs_at(pairs.iter().copied(), 1_700_000_000)
    }

    #[test]
    fn defaults_match_the_option_table() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.limit, 9999);
        assert_eq!(c.max_calls_per_minute, 50);
        assert_eq!(c.sources, vec![Source::Audit]);
        assert_eq!(c.since, AUDIT_EPOCH);
        assert_eq!(c.token.token_env, "SLACK_AUDIT_TOKEN");
    }

    #[test]
    fn unknown_key_is_named_with_the_known_ones() {
        let e = cfg(&[("limt", "5")]).unwrap_err();
        assert!(e.0.contains("`limt`") && e.0.contains("limit"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_accepted_range() {
        let e = cfg(&[("limit", "10000")]).unwrap_err();
        assert!(e.0.contains("`limit`") && e.0.contains("1 to 9999"), "{e}");
        let e = cfg(&[("sources", "audit,bogus")]).unwrap_err();
        assert!(e.0.contains("`sources`") && e.0.contains("bogus"), "{e}");
        let e = cfg(&[("since", "yesterday-ish")]).unwrap_err();
        assert!(e.0.contains("`since`"), "{e}");
    }

    #[test]
    fn since_accepts_seconds_rfc3339_and_relative() {
        assert_eq!(cfg(&[("since", "1600000000")]).unwrap().since, 1_600_000_000);
        assert_eq!(cfg(&[("since", "2024-01-01T00:00:00Z")]).unwrap().since, 1_704_067_200);
        assert_eq!(cfg(&[("since", "1d")]).unwrap().since, 1_700_000_000 - 86_400);
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(cfg(&[("api_url", "http://127.0.0.1:8080/audit/v1")]).is_ok());
        assert!(cfg(&[("api_url", "http://localhost:1/audit/v1")]).is_ok());
        assert!(cfg(&[("api_url", "http://[::1]:1/audit/v1")]).is_ok());
        let e = cfg(&[("api_url", "http://example.com/audit/v1")]).unwrap_err();
        assert!(e.0.contains("unencrypted"), "{e}");
        assert!(cfg(&[("api_url", "ftp://x")]).is_err());
    }

    #[test]
    fn later_pairs_override_earlier_ones_and_dashes_work() {
        let c = cfg(&[("limit", "5"), ("max-calls-per-minute", "10"), ("limit", "7")]).unwrap();
        assert_eq!((c.limit, c.max_calls_per_minute), (7, 10));
    }

    #[test]
    fn json_config_accepts_numbers_lists_and_overrides() {
        let c = Config::from_json(
            r#"{"limit": 100, "sources": ["audit","access"], "actions": "user_login"}"#,
            &[("limit".into(), "200".into())],
        )
        .unwrap();
        assert_eq!(c.limit, 200);
        assert_eq!(c.sources, vec![Source::Audit, Source::Access]);
        assert_eq!(c.actions, vec!["user_login".to_string()]);
        assert!(Config::from_json("[1]", &[]).unwrap_err().0.contains("JSON object"));
        assert!(Config::from_json("{", &[]).unwrap_err().0.contains("not valid JSON"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let c = cfg(&[("token", "xoxp-very-secret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn missing_token_says_what_to_set() {
        let c = cfg(&[("token_env", "SLACK_AUDIT_TEST_UNSET_VAR")]).unwrap();
        let e = c.resolve_token().unwrap_err();
        assert!(e.0.contains("SLACK_AUDIT_TEST_UNSET_VAR") && e.0.contains("auditlogs:read"), "{e}");
    }
}
