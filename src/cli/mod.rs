//! Command-line front end. Flags (and their `SLACK_AUDIT_*` variables and help) are generated
//! from the option table ([`slack_audit::config::OPTIONS`]) so the CLI, JSON config, C ABI and
//! Fluent Bit properties never drift apart.

mod check;
mod exit;
mod fds;
mod man;
mod metrics;
mod run;
mod signals;
#[cfg(feature = "sim")]
mod sim;
mod state_cmd;
mod state_json;
mod stats_cmd;
mod stdout;
mod ui;

use clap::{Arg, ArgAction, ArgMatches, Command};
use slack_audit::config::{self, Config, OPTIONS};
use slack_audit::error::{Error, ErrorKind};
use slack_audit::logs::Level;
use std::time::Duration;

fn option_args() -> Vec<Arg> {
    OPTIONS
        .iter()
        .map(|o| {
            let long: &'static str = Box::leak(o.name.replace('_', "-").into_boxed_str());
            let default = if o.default.is_empty() { String::new() } else { format!(" [default: {}]", o.default) };
            let help: &'static str =
                Box::leak(format!("{}. Accepts {}{default}", o.help, o.accepts()).into_boxed_str());
            let arg = Arg::new(o.name).long(long).value_name("VALUE").help(help).action(ArgAction::Set);
            // Every option can also come from SLACK_AUDIT_<NAME> (handy under Logstash or
            // systemd); the token has its own variable, named by `token_env`.
            if matches!(o.name, "token" | "token_env") {
                arg
            } else {
                let var: &'static str =
                    Box::leak(format!("SLACK_AUDIT_{}", o.name.to_ascii_uppercase()).into_boxed_str());
                arg.env(var)
            }
        })
        .collect()
}

/// The arguments every configured subcommand takes: `--config` and one flag per option.
fn config_args(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .env("SLACK_AUDIT_CONFIG")
            .help("JSON file of options; flags and SLACK_AUDIT_* variables override it"),
    )
    .args(option_args())
}

/// `slack-audit sim`, in builds with the `sim` feature (the default).
fn sim_subcommand() -> Option<Command> {
    #[cfg(feature = "sim")]
    return Some(sim::command());
    #[cfg(not(feature = "sim"))]
    None
}

fn command() -> Command {
    let exit_codes = exit::help();
    Command::new("slack-audit")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Collects Slack's audit logs into log pipelines, with durable checkpoints")
        .after_help(exit_codes.clone())
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("log_format")
                .long("log-format")
                .global(true)
                .value_parser(["text", "json"])
                .default_value("text")
                .help("stderr log lines as human text or one JSON object per line"),
        )
        .arg(
            Arg::new("log_level")
                .long("log-level")
                .global(true)
                .value_parser(["error", "warn", "info", "debug"])
                .default_value("info")
                .help("least severe level written to stderr"),
        )
        .subcommand(config_args(
            Command::new("run")
                .about("Collect events and print each Slack entry as one JSON line on stdout")
                .long_about(
                    "Collect events and print each Slack entry, unchanged, as one JSON line on stdout.\n\
                     Lines are flushed before the checkpoint moves, so a crash re-delivers at most the\n\
                     last batch and never skips one. Logs and progress go to stderr (a live line on a\n\
                     terminal, a plain line every --progress-every seconds otherwise). SIGTERM/SIGINT\n\
                     finish the current hand-over, commit and exit 0; when stdout's reader goes away\n\
                     (even while idle), or, stdout being a pipe, the process that started it, it exits\n\
                     0 within about a second without acknowledging what was not read. A batch is\n\
                     acknowledged once the reader has taken it out of the pipe. Descriptors inherited\n\
                     above 2 are closed at start, except those an argument names as /dev/fd/N.",
                )
                .after_help(exit_codes.clone())
                .arg(Arg::new("once").long("once").action(ArgAction::SetTrue).help("Drain everything available now, then exit 0"))
                .arg(
                    Arg::new("progress_every")
                        .long("progress-every")
                        .value_name("SECONDS")
                        .default_value("10")
                        .help("Seconds between plain progress lines on stderr when it is not a terminal (0: none)"),
                )
                .arg(
                    Arg::new("metrics_listen")
                        .long("metrics-listen")
                        .value_name("IP:PORT")
                        .env("SLACK_AUDIT_METRICS_LISTEN")
                        .help("Serve Prometheus metrics at http://IP:PORT/metrics (e.g. 127.0.0.1:9464); loopback only unless --metrics-allow-remote"),
                )
                .arg(
                    Arg::new("metrics_allow_remote")
                        .long("metrics-allow-remote")
                        .action(ArgAction::SetTrue)
                        .help("Allow --metrics-listen on a non-loopback address (the metrics carry no secrets, but reveal activity)"),
                ),
        ))
        .subcommand(config_args(
            Command::new("check")
                .about("Test the token against Slack once: tells apart a missing token, a refused token/scope/plan, and an outage")
                .after_help(exit_codes.clone()),
        ))
        .subcommand(config_args(
            Command::new("validate").about("Check a configuration offline: options, values, token source (nothing is contacted)"),
        ))
        .subcommand(config_args(Command::new("actions").about("Print Slack's catalog of audit action names (GET /actions; no token needed)")))
        .subcommand(config_args(Command::new("schemas").about("Print Slack's audit schemas (GET /schemas; no token needed)")))
        .subcommand(
            Command::new("state")
                .about("Inspect or move the checkpoints of this configuration's streams")
                .subcommand_required(true)
                .subcommand(config_args(
                    Command::new("show")
                        .about("Print each stream's checkpoint, in-flight window and counts")
                        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print one JSON object instead")),
                ))
                .subcommand(config_args(
                    Command::new("reset")
                        .about("Delete the checkpoints: the next run reads again from `since` (needs --yes)")
                        .arg(Arg::new("yes").long("yes").action(ArgAction::SetTrue).help("Really do it")),
                ))
                .subcommand(config_args(
                    Command::new("set")
                        .about("Move the checkpoints to a time (needs --yes); events after it are read next")
                        .arg(Arg::new("checkpoint").long("checkpoint").value_name("WHEN").required(true).help("Unix seconds, RFC 3339, or an age such as 2d"))
                        .arg(Arg::new("yes").long("yes").action(ArgAction::SetTrue).help("Really do it")),
                )),
        )
        .subcommand(
            Command::new("stats")
                .about("Show the counters of a running `run --metrics-listen` (reads its /metrics)")
                .arg(
                    Arg::new("metrics_listen")
                        .long("metrics-listen")
                        .value_name("IP:PORT")
                        .env("SLACK_AUDIT_METRICS_LISTEN")
                        .default_value("127.0.0.1:9464")
                        .help("Address the running instance serves its metrics on"),
                )
                .arg(Arg::new("metrics_url").long("metrics-url").value_name("URL").help("Full URL of /metrics (overrides --metrics-listen)"))
                .arg(Arg::new("raw").long("raw").action(ArgAction::SetTrue).help("Print the exposition as served")),
        )
        .subcommand(
            Command::new("options-doc")
                .hide(true)
                .about("Write the option table into Markdown files between their options:begin/end markers (`make options-doc`)")
                .arg(Arg::new("files").value_name("FILE").num_args(1..).required(true).help("Markdown files to update")),
        )
        .subcommand(
            Command::new("man")
                .hide(true)
                .about("Write one man page per command into a directory (used by `make deb`)")
                .arg(Arg::new("out").long("out").value_name("DIR").required(true).help("Directory for the .1 files")),
        )
        .subcommands(sim_subcommand())
}

pub fn main() -> i32 {
    // First, while this is the only thread.
    stdout::record_parent();
    fds::close_inherited();
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::code(ErrorKind::Config) } else { exit::OK };
        }
    };
    let (name, m) = match matches.subcommand() {
        Some(x) => x,
        None => return exit::code(ErrorKind::Config),
    };
    #[cfg(feature = "sim")]
    if name == "sim" {
        return sim::run(m);
    }
    if name == "stats" {
        let url = match m.get_one::<String>("metrics_url") {
            Some(u) => u.clone(),
            None => format!(
                "http://{}/metrics",
                m.get_one::<String>("metrics_listen").map(String::as_str).unwrap_or("127.0.0.1:9464")
            ),
        };
        return stats_cmd::stats(&url, m.get_flag("raw"));
    }
    if name == "options-doc" {
        return options_doc(m.get_many::<String>("files").into_iter().flatten());
    }
    if name == "man" {
        let dir = m.get_one::<String>("out").map(String::as_str).unwrap_or(".");
        return match man::write_pages(&command(), std::path::Path::new(dir)) {
            Ok(files) => {
                println!("{}", files.join("\n"));
                exit::OK
            }
            Err(e) => {
                eprintln!("slack-audit man: cannot write into {dir}: {e}");
                exit::code(ErrorKind::Output)
            }
        };
    }
    let format = if m.get_one::<String>("log_format").map(String::as_str) == Some("json") {
        ui::Format::Json
    } else {
        ui::Format::Text
    };
    let level = ui::parse_level(m.get_one::<String>("log_level").map(String::as_str).unwrap_or("info"));
    let (name, m) = match (name, m.subcommand()) {
        ("state", Some((sub, sm))) => (
            if sub == "show" {
                "state show"
            } else if sub == "reset" {
                "state reset"
            } else {
                "state set"
            },
            sm,
        ),
        _ => (name, m),
    };
    let progress = Duration::from_secs(
        m.try_get_one::<String>("progress_every").ok().flatten().and_then(|s| s.parse().ok()).unwrap_or(10),
    );
    let mut ui = ui::Ui::new(format, level, progress);
    let cfg = match load_config(m) {
        Ok(c) => c,
        Err(e) => return exit::report(&mut ui, &e),
    };
    let yes = m.try_get_one::<bool>("yes").ok().flatten().copied().unwrap_or(false);
    // `run` logs these through the collection (Collection::start); the commands that use the
    // token or contact Slack without one must say them too, or `check --tls-insecure true`
    // would skip verification silently.
    if matches!(name, "check" | "actions" | "schemas" | "validate") {
        for warning in cfg.warnings() {
            ui.log(Level::Warn, warning);
        }
    }
    match name {
        "run" => {
            let metrics = match m.get_one::<String>("metrics_listen") {
                Some(a) => match metrics::check_address(a, m.get_flag("metrics_allow_remote")) {
                    Ok(addr) => Some(addr),
                    Err(e) => return exit::report(&mut ui, &e),
                },
                None => None,
            };
            run::run(cfg, m.get_flag("once"), metrics, &mut ui)
        }
        "check" => check::check(&cfg, &mut ui),
        "validate" => validate(&cfg, &mut ui),
        "actions" => check::catalog(&cfg, "actions", &mut ui),
        "schemas" => check::catalog(&cfg, "schemas", &mut ui),
        "state show" if m.get_flag("json") => state_json::show(&cfg, &mut ui),
        "state show" => state_cmd::show(&cfg, &mut ui),
        "state reset" => state_cmd::reset(&cfg, yes, &mut ui),
        "state set" => {
            state_cmd::set(&cfg, m.get_one::<String>("checkpoint").map(String::as_str).unwrap_or(""), yes, &mut ui)
        }
        _ => exit::code(ErrorKind::Config),
    }
}

/// Regenerates the option table in each Markdown file (README.md, fluent-bit-plugin/README.md);
/// tests/repo_consistency.rs fails when one is out of date.
fn options_doc<'a>(files: impl Iterator<Item = &'a String>) -> i32 {
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("slack-audit options-doc: cannot read {path}: {e}");
                return exit::code(ErrorKind::Output);
            }
        };
        let Some(new) = config::splice_options_doc(&text) else {
            eprintln!(
                "slack-audit options-doc: {path} has no {} ... {} markers; add them where the table goes",
                config::OPTIONS_DOC_BEGIN,
                config::OPTIONS_DOC_END
            );
            return exit::code(ErrorKind::Config);
        };
        if new != text {
            if let Err(e) = std::fs::write(path, new) {
                eprintln!("slack-audit options-doc: cannot write {path}: {e}");
                return exit::code(ErrorKind::Output);
            }
            println!("updated {path}");
        }
    }
    exit::OK
}

/// Offline: options parse, the token can be found (not sent anywhere), state_dir is usable.
fn validate(cfg: &Config, ui: &mut ui::Ui) -> i32 {
    if let Err(e) = cfg.resolve_token() {
        ui.log(Level::Warn, e.message());
    }
    let streams: Vec<String> = slack_audit::streams::streams_for(cfg).into_iter().map(|s| s.name).collect();
    println!(
        "configuration is valid: sources {}, streams {}, state_dir {}, api_url {}",
        cfg.sources.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        streams.join(","),
        cfg.state_dir.display(),
        cfg.api_url
    );
    exit::OK
}

/// `--config FILE` (JSON), then every option flag given on the command line.
fn load_config(m: &ArgMatches) -> Result<Config, Error> {
    let json = match m.get_one::<String>("config") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| Error::config(format!("cannot read --config {path}: {e}")))?
        }
        None => "{}".to_string(),
    };
    let overrides: Vec<(String, String)> =
        OPTIONS.iter().filter_map(|o| m.get_one::<String>(o.name).map(|v| (o.name.to_string(), v.clone()))).collect();
    Config::from_json(&json, &overrides)
}
