//! The one option table shared by every front end.
//!
//! JSON config keys (C ABI `slack_audit_new` and `--config FILE`), the C config builder
//! (`slack_audit_config_set`), Fluent Bit `-p` properties and CLI flags (`--state-dir` for
//! `state_dir`) all go through [`ConfigBuilder::set`], so a key means the same thing everywhere
//! and every error names the key, the value and what it accepts. Adding an option is one row of
//! [`OPTIONS`] plus its [`Config`] field.

use crate::error::Error;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The sources a [`Config`] reads (`sources`); made from the table of sources (src/source/).
pub use crate::base::source_id::Source;

/// Slack's audit data starts in March 2018; a first run without `since` reads from here.
pub(crate) const AUDIT_EPOCH: i64 = 1_519_862_400;

/// The audit API accepts at most 30 action names per request.
pub(crate) const MAX_ACTIONS_PER_REQUEST: usize = 30;

/// One row of the option table: everything about an option lives here, and everything else is
/// derived from the rows: [`Config`]'s defaults, parsing and validation ([`ConfigBuilder::set`]),
/// the CLI flags and `SLACK_AUDIT_*` variables (src/cli), the README tables
/// ([`options_markdown`], drift-checked by tests/repo_consistency.rs) and the Fluent Bit plugin's
/// property list (`slack_audit_option_name`, src/ffi/config.rs).
pub struct OptionSpec {
    pub name: &'static str,
    /// What the option accepts and where the parsed value goes.
    pub kind: Kind,
    /// The default as the user would write it ("" = unset); applied through `kind` like any
    /// value. For `computed_default` options it only describes the default.
    pub default: &'static str,
    /// A default that depends on the environment (`state_dir`).
    pub computed_default: Option<fn() -> String>,
    pub help: &'static str,
}

/// What an option accepts, and how the parsed value reaches the [`Config`]. The text shown in
/// errors and in the README ([`OptionSpec::accepts`]) comes from the same variant as the parser,
/// so the two cannot disagree.
pub enum Kind {
    /// A whole number from `min` to `max`.
    Int { min: u64, max: u64, set: fn(&mut Config, u64) },
    /// Seconds from `min` to `max`, as a number or with a unit (`90s`, `5m`, `24h`, `7d`).
    Seconds { min: u64, max: u64, set: fn(&mut Config, u64) },
    /// `true` or `false` (also on/off, yes/no, 1/0).
    Bool(fn(&mut Config, bool)),
    /// An https:// URL; http:// only to a loopback host, so the token never crosses a network
    /// in clear text.
    Url(fn(&mut Config, String)),
    /// One of `choices`, case-insensitive.
    Choice { choices: &'static [&'static str], set: fn(&mut Config, &'static str) },
    /// A comma list of `choices`, at least one; repeats are dropped.
    ChoiceList { choices: &'static [&'static str], set: fn(&mut Config, Vec<&'static str>) },
    /// A comma list of Slack action names; repeats are dropped, empty means none.
    ActionList(fn(&mut Config, Vec<String>)),
    /// Text that `valid` accepts (`accepts` says what that is). Empty means unset (`None`)
    /// unless `required`.
    Text { accepts: &'static str, valid: fn(&str) -> bool, required: bool, set: fn(&mut Config, Option<String>) },
    /// A point in time: Unix seconds, RFC 3339, or an age relative to now (`30d`).
    Time(fn(&mut Config, i64)),
    /// An http:// or https:// proxy URL, optionally with `user:password@`; empty means unset.
    /// The value is never echoed: it may hold a password.
    Proxy(fn(&mut Config, Option<ProxyUrl>)),
}

fn any_text(_: &str) -> bool {
    true
}

/// Letters, digits and `_`: environment variable and Slack action names.
fn is_word(v: &str) -> bool {
    v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// A token is not an id: taken as `actor`, it would be sent as a query parameter and written
/// into the stream's name in its state file.
fn is_slack_id(v: &str) -> bool {
    !looks_like_token(v) && v.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// Every option, in the order the README documents them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "token",
        kind: Kind::Text { accepts: "a Slack user token (xoxp-…)", valid: any_text, required: false, set: |c, v| c.token.token = v.map(Secret::new) },
        default: "",
        computed_default: None,
        help: "Slack user token (xoxp-…) with auditlogs:read. Prefer token_env or token_file: a token on a command line is visible to other users",
    },
    OptionSpec {
        name: "token_env",
        kind: Kind::Text { accepts: "an environment variable name such as SLACK_AUDIT_TOKEN", valid: is_word, required: true, set: |c, v| c.token.token_env = v.unwrap_or_default() },
        default: "SLACK_AUDIT_TOKEN",
        computed_default: None,
        help: "name of the environment variable holding the token",
    },
    OptionSpec {
        name: "token_file",
        kind: Kind::Text { accepts: "a file path", valid: any_text, required: false, set: |c, v| c.token.token_file = v.map(PathBuf::from) },
        default: "",
        computed_default: None,
        help: "file whose first line is the token (should be mode 0600)",
    },
    OptionSpec {
        name: "api_url",
        kind: Kind::Url(|c, v| c.api_url = v),
        default: "https://api.slack.com/audit/v1",
        computed_default: None,
        help: "Audit Logs API base URL",
    },
    OptionSpec {
        name: "web_api_url",
        kind: Kind::Url(|c, v| c.web_api_url = v),
        default: "https://slack.com/api",
        computed_default: None,
        help: "Web API base URL for the access and integration logs",
    },
    OptionSpec {
        name: "sources",
        kind: Kind::ChoiceList {
            choices: Source::NAMES,
            set: |c, v| c.sources = v.into_iter().filter_map(Source::named).collect(),
        },
        default: "audit",
        computed_default: None,
        help: "where events come from: the Audit Logs API, team.accessLogs, team.integrationLogs",
    },
    OptionSpec {
        name: "actions",
        kind: Kind::ActionList(|c, v| c.actions = v),
        default: "",
        computed_default: None,
        help: "audit action names to collect (all when empty)",
    },
    OptionSpec {
        name: "exclude_actions",
        kind: Kind::ActionList(|c, v| c.exclude_actions = v),
        default: "",
        computed_default: None,
        help: "audit action names to drop",
    },
    OptionSpec {
        name: "actor",
        kind: Kind::Text { accepts: "a Slack id such as W123ABC456", valid: is_slack_id, required: false, set: |c, v| c.actor = v },
        default: "",
        computed_default: None,
        help: "only events by this user id",
    },
    OptionSpec {
        name: "entity",
        kind: Kind::Text { accepts: "a Slack id such as W123ABC456", valid: is_slack_id, required: false, set: |c, v| c.entity = v },
        default: "",
        computed_default: None,
        help: "only events about this entity id",
    },
    OptionSpec {
        name: "since",
        kind: Kind::Time(|c, v| c.since = v),
        default: "2018-03-01T00:00:00Z",
        computed_default: None,
        help: "how far back the first run goes",
    },
    OptionSpec {
        name: "state_dir",
        kind: Kind::Text { accepts: "a directory path", valid: any_text, required: true, set: |c, v| c.state_dir = PathBuf::from(v.unwrap_or_default()) },
        default: "$STATE_DIRECTORY or ~/.local/state/slack-audit",
        computed_default: Some(|| default_state_dir().to_string_lossy().into_owned()),
        help: "directory of the checkpoint files, one per stream",
    },
    OptionSpec {
        name: "lock_wait",
        kind: Kind::Seconds { min: 0, max: 3600, set: |c, v| c.lock_wait = Duration::from_secs(v) },
        default: "15",
        computed_default: None,
        help: "how long to wait for a stream locked by another collector (e.g. one still exiting after a Logstash restart) before failing (the CLI then exits 3, a Fluent Bit input fails its init); 0 fails at once",
    },
    OptionSpec {
        name: "limit",
        kind: Kind::Int { min: 1, max: 9999, set: |c, v| c.limit = v as u32 },
        default: "9999",
        computed_default: None,
        help: "page size (bigger pages spend the rate budget better)",
    },
    OptionSpec {
        name: "interval",
        kind: Kind::Seconds { min: 1, max: 86_400, set: |c, v| c.interval = Duration::from_secs(v) },
        default: "60",
        computed_default: None,
        help: "time between polls once caught up",
    },
    OptionSpec {
        name: "lag",
        kind: Kind::Seconds { min: 0, max: 86_400, set: |c, v| c.lag = v as i64 },
        default: "5",
        computed_default: None,
        help: "each poll reads up to now - lag",
    },
    OptionSpec {
        name: "overlap",
        kind: Kind::Seconds { min: 0, max: 7 * 86_400, set: |c, v| c.overlap = v as i64 },
        default: "600",
        computed_default: None,
        help: "each poll re-reads this far before the checkpoint and drops ids already delivered, catching late events",
    },
    OptionSpec {
        name: "max_calls_per_minute",
        kind: Kind::Int { min: 1, max: 1000, set: |c, v| c.max_calls_per_minute = v as u32 },
        default: "50",
        computed_default: None,
        help: "the share of the org-wide Audit Logs budget (Tier 3: 50/min) this process may use, retries included",
    },
    OptionSpec {
        name: "web_max_calls_per_minute",
        kind: Kind::Int { min: 1, max: 1000, set: |c, v| c.web_max_calls_per_minute = v as u32 },
        default: "20",
        computed_default: None,
        help: "the same for the Web API log methods (Tier 2: 20/min)",
    },
    OptionSpec {
        name: "timeout",
        kind: Kind::Seconds { min: 1, max: 600, set: |c, v| c.timeout = Duration::from_secs(v) },
        default: "30",
        computed_default: None,
        help: "time allowed for one HTTP request",
    },
    OptionSpec {
        name: "max_retries",
        kind: Kind::Int { min: 0, max: 100, set: |c, v| c.max_retries = v as u32 },
        default: "8",
        computed_default: None,
        help: "retries of one request on 5xx, resets, timeouts and bad bodies before giving up",
    },
    OptionSpec {
        name: "stall_warning_after",
        kind: Kind::Seconds {
            min: 0,
            max: 365 * 86_400,
            set: |c, v| c.stall_warning_after = (v > 0).then(|| Duration::from_secs(v)),
        },
        default: "0",
        computed_default: None,
        help: "warn when a stream delivered nothing for this long (e.g. 24h); 0 disables",
    },
    OptionSpec {
        name: "format",
        kind: Kind::Choice {
            choices: &["raw", "ecs"],
            set: |c, v| c.format = if v == "ecs" { OutputFormat::Ecs } else { OutputFormat::Raw },
        },
        default: "raw",
        computed_default: None,
        help: "document format: raw (each entry exactly as Slack sent it) or ecs (an Elastic Common Schema 8.x document, the entry under slack.*; see docs/ECS.md)",
    },
    OptionSpec {
        name: "ca_file",
        kind: Kind::Text { accepts: "a file path", valid: any_text, required: false, set: |c, v| c.ca_file = v.map(PathBuf::from) },
        default: "",
        computed_default: None,
        help: "a PEM file of CA certificates to trust in addition to the system's trust store (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs), e.g. the company CA of a TLS-inspecting proxy",
    },
    OptionSpec {
        name: "proxy",
        kind: Kind::Proxy(|c, v| c.proxy = v),
        default: "",
        computed_default: None,
        help: "the HTTP CONNECT proxy to reach Slack through, as http://[user:password@]host:port (the password is never logged); unset: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY from the environment",
    },
    OptionSpec {
        name: "no_proxy",
        kind: Kind::Text { accepts: "a comma list of host names, .domain suffixes, IP addresses or *", valid: any_text, required: false, set: |c, v| c.no_proxy = v },
        default: "",
        computed_default: None,
        help: "hosts reached without the proxy, as NO_PROXY (example.com also covers its subdomains); unset: NO_PROXY from the environment",
    },
    OptionSpec {
        name: "tls_insecure",
        kind: Kind::Bool(|c, v| c.tls_insecure = v),
        default: "false",
        computed_default: None,
        help: "DANGEROUS: skip TLS certificate verification (logged loudly)",
    },
];

impl OptionSpec {
    /// What the option accepts, as errors and the README say it.
    pub fn accepts(&self) -> String {
        match &self.kind {
            Kind::Int { min, max, .. } => format!("a whole number from {min} to {max}"),
            Kind::Seconds { min, max, .. } => {
                format!("seconds from {min} to {max}, as a number or with a unit (90s, 5m, 24h, 7d)")
            }
            Kind::Bool(_) => "true or false".into(),
            Kind::Url(_) => "an https:// URL (http:// only to a loopback host)".into(),
            Kind::Choice { choices, .. } => match choices {
                [a, b] => format!("{a} or {b}"),
                _ => format!("one of {}", choices.join(", ")),
            },
            Kind::ChoiceList { choices, .. } => format!("a comma list of {}", choices.join(", ")),
            Kind::ActionList(_) => "a comma list of Slack action names such as user_login,file_downloaded".into(),
            Kind::Text { accepts, .. } => accepts.to_string(),
            Kind::Time(_) => {
                "Unix seconds, an RFC 3339 time (2024-01-31T00:00:00Z) or a relative age (30d, 12h, 90m)".into()
            }
            Kind::Proxy(_) => "an http:// or https:// URL such as http://user:password@proxy.example.com:3128".into(),
        }
    }

    /// Parses `v` and stores it in `c`; the error names the option, the value and what is
    /// accepted. `now` resolves relative times.
    fn apply(&self, c: &mut Config, v: &str, now: i64) -> Result<(), Error> {
        let key = self.name;
        let invalid = |value: &str| bad(key, value, &self.accepts());
        match &self.kind {
            Kind::Int { min, max, set } => match v.parse::<u64>() {
                Ok(n) if (*min..=*max).contains(&n) => set(c, n),
                _ => return Err(invalid(v)),
            },
            Kind::Seconds { min, max, set } => match v.parse::<u64>().ok().or_else(|| parse_duration(v)) {
                Some(n) if (*min..=*max).contains(&n) => set(c, n),
                _ => return Err(invalid(v)),
            },
            Kind::Bool(set) => match v.to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" | "1" => set(c, true),
                "false" | "off" | "no" | "0" => set(c, false),
                _ => return Err(invalid(v)),
            },
            Kind::Url(set) => set(c, parse_url(key, v)?),
            Kind::Choice { choices, set } => {
                let lower = v.to_ascii_lowercase();
                match choices.iter().find(|ch| **ch == lower) {
                    Some(ch) => set(c, ch),
                    None => return Err(invalid(v)),
                }
            }
            Kind::ChoiceList { choices, set } => {
                let mut picked: Vec<&'static str> = Vec::new();
                for item in split_list(v) {
                    let Some(ch) = choices.iter().find(|ch| **ch == item) else {
                        return Err(invalid(&item));
                    };
                    if !picked.contains(ch) {
                        picked.push(ch);
                    }
                }
                if picked.is_empty() {
                    return Err(bad(key, v, &format!("at least one of {}", choices.join(", "))));
                }
                set(c, picked)
            }
            Kind::ActionList(set) => {
                let mut out: Vec<String> = Vec::new();
                for a in split_list(v) {
                    if !is_word(&a) {
                        return Err(invalid(&a));
                    }
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                set(c, out)
            }
            Kind::Text { valid, required, set, .. } => {
                if v.is_empty() {
                    if *required {
                        return Err(invalid(v));
                    }
                    set(c, None)
                } else if valid(v) {
                    set(c, Some(v.to_string()))
                } else {
                    return Err(invalid(v));
                }
            }
            Kind::Time(set) => set(c, parse_since(v, now).ok_or_else(|| invalid(v))?),
            Kind::Proxy(set) if v.is_empty() => set(c, None),
            Kind::Proxy(set) => set(
                c,
                Some(ProxyUrl::parse(v).map_err(|why| {
                    Error::config(format!(
                        "option `{key}`: invalid value {}: {why}; expected {}",
                        ProxyUrl::shown(v),
                        self.accepts()
                    ))
                })?),
            ),
        }
        Ok(())
    }
}

/// The option table as Markdown, for README.md and fluent-bit-plugin/README.md (between
/// `<!-- options:begin -->` and `<!-- options:end -->`; `make options-doc` writes it there).
pub fn options_markdown() -> String {
    let mut out = String::from("| option | accepts | default | meaning |\n|---|---|---|---|\n");
    for o in OPTIONS {
        let default = if o.default.is_empty() { "—".to_string() } else { format!("`{}`", o.default) };
        out.push_str(&format!("| `{}` | {} | {default} | {} |\n", o.name, o.accepts(), o.help));
    }
    out
}

/// The line before the generated option table in a Markdown file.
pub const OPTIONS_DOC_BEGIN: &str =
    "<!-- options:begin: generated from OPTIONS in src/config.rs by `make options-doc`; do not edit -->";
/// The line after it.
pub const OPTIONS_DOC_END: &str = "<!-- options:end -->";

/// `text` with the lines between [`OPTIONS_DOC_BEGIN`] and [`OPTIONS_DOC_END`] replaced by
/// [`options_markdown`]; `None` when the markers are missing.
pub fn splice_options_doc(text: &str) -> Option<String> {
    let (head, rest) = text.split_once(&format!("{OPTIONS_DOC_BEGIN}\n"))?;
    let (_, tail) = rest.split_once(OPTIONS_DOC_END)?;
    Some(format!("{head}{OPTIONS_DOC_BEGIN}\n{}{OPTIONS_DOC_END}{tail}", options_markdown()))
}

/// The warning every front end logs when `tls_insecure` is set.
pub const TLS_INSECURE_WARNING: &str = "tls_insecure=true: TLS certificates are NOT verified; anyone on the network path can read the token and forge audit events";

/// The warning logged when `token_file` can be read by other users.
pub const TOKEN_FILE_WARNING: &str = "token_file can be read by other users; run chmod 600 on it";

/// The document handed to the host for each entry (`format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// The entry exactly as Slack sent it.
    Raw,
    /// An Elastic Common Schema document (crate::format::ecs).
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

/// The `proxy` option: a CONNECT proxy, its password a [`Secret`]. `Display` and `Debug` show
/// `user:***@`, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl ProxyUrl {
    /// Parses `http[s]://[user[:password]@]host[:port][/]`; user and password may be
    /// %-encoded. The error never holds the value.
    pub fn parse(v: &str) -> Result<ProxyUrl, String> {
        let (scheme, rest) = v.split_once("://").ok_or("no scheme (write http://host:port)")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err("only http:// and https:// proxies are supported".into()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (userinfo, host_port) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if host_port.contains('/') || host_port.contains('?') {
            return Err("a proxy URL has no path".into());
        }
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (h, after) = bracketed.split_once(']').ok_or("unclosed [ in the host")?;
            (format!("[{h}]"), after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (host_port.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err("no host".into());
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| "the port is not a number from 1 to 65535".to_string())?,
            None if https => 443,
            None => 80,
        };
        let decode = |s: &str| percent_decode(s).ok_or_else(|| "bad %-encoding in the user or password".to_string());
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (Some(decode(name)?), Some(Secret::new(decode(pw)?))),
                None => (Some(decode(u)?), None),
            },
        };
        Ok(ProxyUrl { https, host, port, user, password })
    }

    /// A proxy value as an error may show it: without what follows `user:`.
    fn shown(v: &str) -> String {
        if looks_like_token(v) {
            return shown(v);
        }
        match v.rsplit_once('@') {
            Some((before, host)) => {
                let (scheme, userinfo) = before.split_once("://").unwrap_or(("", before));
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{:?}", format!("{scheme}://{user}:***@{host}"))
            }
            None => format!("{v:?}"),
        }
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        let pw = if self.password.is_some() { ":***" } else { "" };
        match &self.user {
            Some(u) => write!(f, "{scheme}://{u}{pw}@{}:{}", self.host, self.port),
            None if self.password.is_some() => write!(f, "{scheme}://***@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// `%XX` decoding of a URL's user or password; `None` on a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Where the token comes from, resolved lazily so `validate` can run without one.
#[derive(Clone, Debug)]
pub struct TokenSource {
    pub token: Option<Secret>,
    pub token_env: String,
    pub token_file: Option<PathBuf>,
}

/// A bad value: which key, what was wrong, what is accepted.
fn bad(key: &str, value: &str, accepted: &str) -> Error {
    let value = shown(value);
    Error::config(format!("option `{key}`: invalid value {value}; expected {accepted}"))
}

/// Whether `text` looks like a Slack token (`xoxp-…`, `xoxb-…`, `xoxe.xoxp-…`).
pub(crate) fn looks_like_token(text: &str) -> bool {
    text.trim_start().starts_with("xox")
}

/// A user's value as it may appear in a message, quoted. A token pasted into the wrong option
/// (`limit`, `token_env`, `token_file`…) is not echoed: the message would carry it into logs.
fn shown(value: &str) -> String {
    if looks_like_token(value) {
        "<a Slack token, not shown: it belongs in `token`, the `token_env` variable or the `token_file` file>".into()
    } else {
        format!("{value:?}")
    }
}

/// A `token_file` path as it may appear in a message (see [`shown`]).
fn shown_path(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    if looks_like_token(&text) {
        shown(&text)
    } else {
        text
    }
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
    /// Extra CA certificates (PEM) to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// The proxy; `None`: the environment's, if any.
    pub proxy: Option<ProxyUrl>,
    /// The hosts reached without the proxy; `None`: `NO_PROXY` from the environment.
    pub no_proxy: Option<String>,
    pub tls_insecure: bool,
}

/// A configuration being built one `key = value` at a time (the C ABI's `slack_audit_config`,
/// and the path every other front end takes). Each value is checked as it is set, so an error
/// names the one key at fault; checks across options run in [`ConfigBuilder::build`]. The token
/// is held as a [`Secret`], so `Debug` never shows it.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    config: Config,
    now: i64,
}

impl ConfigBuilder {
    /// Starts from the option table's defaults.
    pub fn new() -> Result<ConfigBuilder, Error> {
        Self::new_at(now_unix())
    }

    /// As [`ConfigBuilder::new`], resolving relative `since` values against `now`.
    pub fn new_at(now: i64) -> Result<ConfigBuilder, Error> {
        Ok(ConfigBuilder { config: Config::defaults_at(now)?, now })
    }

    /// Sets one option. Keys are snake_case (`-` is accepted for `_`, case is ignored); values
    /// are trimmed. An unknown key or a bad value leaves the builder as it was.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let key = key.trim().replace('-', "_").to_ascii_lowercase();
        let Some(spec) = OPTIONS.iter().find(|o| o.name == key) else {
            let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
            return Err(Error::config(format!("unknown option `{key}`; known options are: {}", known.join(", "))));
        };
        spec.apply(&mut self.config, value.trim(), self.now)
    }

    /// The validated configuration; the builder stays usable.
    pub fn build(&self) -> Result<Config, Error> {
        self.config.check()?;
        Ok(self.config.clone())
    }
}

impl Config {
    /// Builds a config from `key = value` pairs (later pairs override earlier ones), starting
    /// from the defaults. Keys are snake_case; `-` is accepted for `_`.
    pub fn from_pairs<K, V, I>(pairs: I) -> Result<Config, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        Self::from_pairs_at(pairs, now_unix())
    }

    /// As [`Config::from_pairs`], with "now" given (relative `since` values are resolved against it).
    pub fn from_pairs_at<K, V, I>(pairs: I, now: i64) -> Result<Config, Error>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut b = ConfigBuilder::new_at(now)?;
        for (key, value) in pairs {
            b.set(key.as_ref(), value.as_ref())?;
        }
        b.build()
    }

    /// Builds a config from a JSON object (the C ABI and `--config FILE`), then applies `overrides`.
    pub fn from_json(json: &str, overrides: &[(String, String)]) -> Result<Config, Error> {
        let pairs = json_pairs(json)?;
        Self::from_pairs(pairs.into_iter().chain(overrides.iter().cloned()))
    }

    /// Every field is set from the option table's defaults right after; nothing here is a default.
    fn unset() -> Config {
        Config {
            token: TokenSource { token: None, token_env: String::new(), token_file: None },
            api_url: String::new(),
            web_api_url: String::new(),
            sources: Vec::new(),
            actions: Vec::new(),
            exclude_actions: Vec::new(),
            actor: None,
            entity: None,
            since: 0,
            state_dir: PathBuf::new(),
            lock_wait: Duration::ZERO,
            limit: 0,
            interval: Duration::ZERO,
            lag: 0,
            overlap: 0,
            max_calls_per_minute: 0,
            web_max_calls_per_minute: 0,
            timeout: Duration::ZERO,
            max_retries: 0,
            stall_warning_after: None,
            format: OutputFormat::Raw,
            ca_file: None,
            proxy: None,
            no_proxy: None,
            tls_insecure: false,
        }
    }

    /// The defaults of the option table, each applied through its row's parser.
    fn defaults_at(now: i64) -> Result<Config, Error> {
        let mut c = Config::unset();
        for o in OPTIONS {
            let value = match o.computed_default {
                Some(f) => f(),
                None => o.default.to_string(),
            };
            if !value.is_empty() {
                o.apply(&mut c, &value, now)
                    .map_err(|e| Error::config(format!("the default of {} is unusable here: {e}", o.name)))?;
            }
        }
        Ok(c)
    }

    /// The warnings this configuration deserves (`tls_insecure`, a token file other users can
    /// read). The one place they come from: the collector logs them at start, the CLI commands
    /// that contact Slack without a collector log them once.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.tls_insecure {
            out.push(TLS_INSECURE_WARNING);
        }
        if self.token_file_world_readable() {
            out.push(TOKEN_FILE_WARNING);
        }
        out
    }

    /// Checks that need several options at once.
    fn check(&self) -> Result<(), Error> {
        if let Some(a) = self.actions.iter().find(|a| self.exclude_actions.contains(a)) {
            return Err(Error::config(format!(
                "action {a:?} is in both `actions` and `exclude_actions`; keep it in one of them"
            )));
        }
        Ok(())
    }

    /// Resolves the token from `token`, then `token_file`, then the `token_env` variable.
    pub fn resolve_token(&self) -> Result<Secret, Error> {
        if let Some(t) = &self.token.token {
            return Ok(t.clone());
        }
        if let Some(path) = &self.token.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::config(format!("option `token_file`: cannot read {}: {e}", shown_path(path))))?;
            let line = text.lines().next().unwrap_or("").trim();
            if line.is_empty() {
                return Err(Error::config(format!(
                    "option `token_file`: {} is empty; put the xoxp- token on its first line",
                    shown_path(path)
                )));
            }
            return Ok(Secret::new(line.to_string()));
        }
        match std::env::var(&self.token.token_env) {
            Ok(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim().to_string())),
            _ => Err(Error::config(format!(
                "no Slack token: set the environment variable {} (or the option `token_env` to another variable, or `token_file`) to a user token (xoxp-…) of the org owner with the auditlogs:read scope",
                if looks_like_token(&self.token.token_env) { shown(&self.token.token_env) } else { self.token.token_env.clone() }
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

fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_duration(v: &str) -> Option<u64> {
    humantime::parse_duration(v).ok().map(|d| d.as_secs())
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
fn parse_url(key: &str, v: &str) -> Result<String, Error> {
    let url = v.trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad(key, v, "an https:// URL"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    if host_port.is_empty() || host_port.contains('@') {
        return Err(bad(key, v, "an https:// URL with a host and no user info"));
    }
    match scheme {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(host_port) => Ok(url.to_string()),
        "http" => Err(Error::config(format!(
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
fn json_pairs(json: &str) -> Result<Vec<(String, String)>, Error> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::config(format!("config is not valid JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| {
        Error::config("config must be a JSON object such as {\"state_dir\": \"/var/lib/slack-audit\"}")
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
                        None => return Err(Error::config(format!("option `{k}`: arrays may hold only strings"))),
                    }
                }
                parts.join(",")
            }
            serde_json::Value::Null => continue,
            serde_json::Value::Object(_) => {
                return Err(Error::config(format!("option `{k}`: expected a string, number or list, not an object")))
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

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
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
        assert!(e.message().contains("`limt`") && e.message().contains("limit"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_accepted_range() {
        let e = cfg(&[("limit", "10000")]).unwrap_err();
        assert!(e.message().contains("`limit`") && e.message().contains("1 to 9999"), "{e}");
        let e = cfg(&[("sources", "audit,bogus")]).unwrap_err();
        assert!(e.message().contains("`sources`") && e.message().contains("bogus"), "{e}");
        let e = cfg(&[("since", "yesterday-ish")]).unwrap_err();
        assert!(e.message().contains("`since`"), "{e}");
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
        assert!(e.message().contains("unencrypted"), "{e}");
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
        assert!(Config::from_json("[1]", &[]).unwrap_err().into_message().contains("JSON object"));
        assert!(Config::from_json("{", &[]).unwrap_err().into_message().contains("not valid JSON"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let c = cfg(&[("token", "xoxp-very-secret")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn every_default_goes_through_its_rows_parser() {
        // A default the parser refuses would fail here rather than at a user's start-up.
        let c = Config::defaults_at(1_700_000_000).unwrap();
        for o in OPTIONS {
            let mut d = Config::unset();
            if !o.default.is_empty() && o.computed_default.is_none() {
                o.apply(&mut d, o.default, 1_700_000_000).unwrap_or_else(|e| panic!("{}: {e}", o.name));
            }
        }
        assert_eq!(c.api_url, "https://api.slack.com/audit/v1");
        assert_eq!(c.web_api_url, "https://slack.com/api");
        assert_eq!(
            (c.lock_wait, c.interval, c.timeout),
            (Duration::from_secs(15), Duration::from_secs(60), Duration::from_secs(30))
        );
        assert_eq!((c.lag, c.overlap, c.web_max_calls_per_minute, c.max_retries), (5, 600, 20, 8));
        assert_eq!((c.stall_warning_after, c.format, c.tls_insecure), (None, OutputFormat::Raw, false));
        assert!(c.token.token.is_none() && c.token.token_file.is_none() && c.actor.is_none());
        assert!(!c.state_dir.as_os_str().is_empty());
    }

    #[test]
    fn a_token_pasted_into_the_wrong_option_is_not_echoed() {
        let secret = "xoxp-pasted-in-the-wrong-place";
        for key in ["limit", "format", "since", "sources", "actor", "entity", "token_env"] {
            let m = cfg(&[(key, secret)]).unwrap_err().into_message();
            assert!(!m.contains("pasted"), "{key}: {m}");
            assert!(m.contains(&format!("option `{key}`")) && m.contains("not shown"), "{key}: {m}");
        }
        // A token_file that names no file: the message says it cannot be read, without the path.
        let m = cfg(&[("token_file", secret)]).unwrap().resolve_token().unwrap_err().into_message();
        assert!(!m.contains("pasted") && m.contains("not shown"), "{m}");
    }

    #[test]
    fn error_messages_name_the_option_the_value_and_what_is_accepted() {
        let e = |k: &str, v: &str| cfg(&[(k, v)]).unwrap_err().into_message();
        assert_eq!(e("limit", "0"), "option `limit`: invalid value \"0\"; expected a whole number from 1 to 9999");
        assert_eq!(
            e("interval", "0"),
            "option `interval`: invalid value \"0\"; expected seconds from 1 to 86400, as a number or with a unit (90s, 5m, 24h, 7d)"
        );
        assert_eq!(e("format", "xml"), "option `format`: invalid value \"xml\"; expected raw or ecs");
        assert_eq!(
            e("tls_insecure", "maybe"),
            "option `tls_insecure`: invalid value \"maybe\"; expected true or false"
        );
        assert_eq!(
            e("sources", " , "),
            "option `sources`: invalid value \",\"; expected at least one of audit, access, integration"
        );
        assert!(
            e("actions", "user_login,bad name").contains("\"bad name\"; expected a comma list of Slack action names")
        );
        assert!(e("actor", "W1 2").contains("expected a Slack id such as W123ABC456"));
        assert!(e("token_env", "").contains("expected an environment variable name"));
        assert!(e("state_dir", "").contains("`state_dir`") && e("state_dir", "").contains("a directory path"));
        assert!(e("api_url", "https://u@x/").contains("no user info"));
    }

    #[test]
    fn values_parse_to_the_fields() {
        let c = cfg(&[
            ("sources", "access, audit,access"),
            ("actions", "a,b,a"),
            ("format", "ECS"),
            ("tls_insecure", "on"),
            ("stall_warning_after", "1d"),
            ("lock_wait", "2m"),
            ("actor", "W1"),
            ("entity", ""),
            ("token_file", "/tmp/t"),
        ])
        .unwrap();
        assert_eq!(c.sources, vec![Source::Access, Source::Audit]);
        assert_eq!(c.actions, vec!["a".to_string(), "b".to_string()]);
        assert_eq!((c.format, c.tls_insecure), (OutputFormat::Ecs, true));
        assert_eq!(c.stall_warning_after, Some(Duration::from_secs(86_400)));
        assert_eq!(c.lock_wait, Duration::from_secs(120));
        assert_eq!((c.actor.as_deref(), c.entity.as_deref()), (Some("W1"), None));
        assert_eq!(c.token.token_file, Some(PathBuf::from("/tmp/t")));
    }

    #[test]
    fn builder_keeps_its_state_after_an_error_and_redacts_the_token() {
        let mut b = ConfigBuilder::new_at(1_700_000_000).unwrap();
        b.set("Limit", " 100 ").unwrap();
        b.set("token", "xoxp-builder-secret").unwrap();
        assert!(b.set("limit", "x").is_err());
        assert!(b.set("nope", "1").unwrap_err().into_message().contains("known options are: token,"));
        let shown = format!("{b:?}");
        assert!(!shown.contains("builder-secret"), "{shown}");
        let c = b.build().unwrap();
        assert_eq!(c.limit, 100);
        assert_eq!(c.token.token.as_ref().map(Secret::expose), Some("xoxp-builder-secret"));
        b.set("actions", "a").unwrap();
        b.set("exclude_actions", "a").unwrap();
        assert!(b.build().unwrap_err().into_message().contains("both `actions` and `exclude_actions`"));
    }

    #[test]
    fn warnings_come_from_one_place() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "xoxp-x\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = f.to_str().unwrap();
        assert!(cfg(&[]).unwrap().warnings().is_empty());
        let c = cfg(&[("tls_insecure", "true"), ("token_file", path)]).unwrap();
        assert_eq!(c.warnings(), vec![TLS_INSECURE_WARNING, TOKEN_FILE_WARNING]);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(cfg(&[("token_file", path)]).unwrap().warnings().is_empty());
    }

    #[test]
    fn the_markdown_table_has_a_row_per_option_with_what_it_accepts() {
        let md = options_markdown();
        assert_eq!(md.lines().count(), OPTIONS.len() + 2);
        assert!(md.contains("| `limit` | a whole number from 1 to 9999 | `9999` | page size"), "{md}");
        assert!(md.contains("| `token` | a Slack user token (xoxp-…) | — |"), "{md}");
    }

    #[test]
    fn the_table_is_spliced_between_the_markers() {
        let doc = format!("a\n{OPTIONS_DOC_BEGIN}\nold\n{OPTIONS_DOC_END}\nb\n");
        let out = splice_options_doc(&doc).unwrap();
        assert_eq!(out, format!("a\n{OPTIONS_DOC_BEGIN}\n{}{OPTIONS_DOC_END}\nb\n", options_markdown()));
        assert_eq!(splice_options_doc(&out).unwrap(), out);
        assert!(splice_options_doc("no markers").is_none());
    }

    #[test]
    fn the_proxy_password_is_a_secret_and_never_echoed() {
        let c = cfg(&[("proxy", "http://alice:s%40cret-canary@proxy.corp:3128/"), ("no_proxy", ".corp")]).unwrap();
        let p = c.proxy.as_ref().unwrap();
        assert_eq!((p.https, p.host.as_str(), p.port, p.user.as_deref()), (false, "proxy.corp", 3128, Some("alice")));
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("s@cret-canary"));
        assert_eq!(p.to_string(), "http://alice:***@proxy.corp:3128");
        assert!(!format!("{c:?}").contains("canary"), "{c:?}");
        assert_eq!(c.no_proxy.as_deref(), Some(".corp"));
        assert_eq!(cfg(&[("proxy", "https://p.example")]).unwrap().proxy.unwrap().port, 443);
        assert!(cfg(&[("proxy", "")]).unwrap().proxy.is_none());
        for bad in [
            "socks5://u:pw-canary@h:1",
            "http://u:pw-canary@h:port",
            "http://u:pw-canary@/",
            "u:pw-canary@h:1",
            "http://u:pw-canary@h:1/path",
        ] {
            let m = cfg(&[("proxy", bad)]).unwrap_err().into_message();
            assert!(m.starts_with("option `proxy`: invalid value") && !m.contains("canary"), "{bad}: {m}");
        }
    }

    #[test]
    fn missing_token_says_what_to_set() {
        let c = cfg(&[("token_env", "SLACK_AUDIT_TEST_UNSET_VAR")]).unwrap();
        let e = c.resolve_token().unwrap_err();
        assert!(e.message().contains("SLACK_AUDIT_TEST_UNSET_VAR") && e.message().contains("auditlogs:read"), "{e}");
    }
}
