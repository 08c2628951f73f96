//! Command-line front end. Flags are generated from the option table
//! ([`slack_audit::config::OPTIONS`]) so the CLI, JSON config and Fluent Bit properties never
//! drift apart.

mod run;
mod signals;

use clap::{Arg, ArgAction, ArgMatches, Command};
use slack_audit::config::{Config, OPTIONS};
use slack_audit::sim::SimConfig;

/// Exit codes, documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// Bad usage or configuration (including a missing token).
    pub const CONFIG: i32 = 2;
    /// The state directory or a state file cannot be used.
    pub const STATE: i32 = 3;
    /// Slack refused for a reason retrying cannot fix (token, scope, plan, arguments).
    pub const PERMANENT: i32 = 4;
    /// Slack or the network kept failing; a later run may succeed (EX_TEMPFAIL).
    pub const TRANSIENT: i32 = 75;
    /// Writing the output failed for a reason other than a closed pipe.
    pub const OUTPUT: i32 = 5;
}

fn option_args() -> Vec<Arg> {
    OPTIONS
        .iter()
        .map(|o| {
            let long: &'static str = Box::leak(o.name.replace('_', "-").into_boxed_str());
            let help: &'static str = if o.default.is_empty() {
                o.help
            } else {
                Box::leak(format!("{} [default: {}]", o.help, o.default).into_boxed_str())
            };
            Arg::new(o.name).long(long).value_name("VALUE").help(help).action(ArgAction::Set)
        })
        .collect()
}

fn sim_args() -> Vec<Arg> {
    let defaults = serde_json::to_value(SimConfig::default()).unwrap_or_default();
    let mut names: Vec<String> = defaults.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let long: &'static str = Box::leak(name.replace('_', "-").into_boxed_str());
            let id: &'static str = Box::leak(name.clone().into_boxed_str());
            let help: &'static str = Box::leak(
                format!("simulator setting `{name}` (JSON value) [default: {}]", defaults[&name]).into_boxed_str(),
            );
            Arg::new(id).long(long).value_name("VALUE").help(help).action(ArgAction::Set)
        })
        .collect()
}

fn command() -> Command {
    Command::new("slack-audit")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Collects Slack's audit logs into log pipelines, with durable checkpoints")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("run")
                .about("Collect events and print each Slack entry as one JSON line on stdout")
                .long_about(
                    "Collect events and print each Slack entry, unchanged, as one JSON line on stdout.\n\
                     Lines are flushed before the checkpoint moves, so a crash re-delivers at most the\n\
                     last batch and never skips one. Logs and progress go to stderr.\n\n\
                     Exit codes: 0 done (or stopped by SIGTERM/SIGINT, or stdout closed), 2 bad\n\
                     configuration, 3 state directory problem, 4 Slack refused (token, scope, plan),\n\
                     75 Slack or the network kept failing (try again later), 5 output error.",
                )
                .arg(
                    Arg::new("once")
                        .long("once")
                        .action(ArgAction::SetTrue)
                        .help("Drain everything available now, then exit 0"),
                )
                .arg(
                    Arg::new("config")
                        .long("config")
                        .value_name("FILE")
                        .help("JSON file of options; flags override it"),
                )
                .arg(
                    Arg::new("progress_every")
                        .long("progress-every")
                        .value_name("SECONDS")
                        .default_value("10")
                        .help("Seconds between progress lines on stderr (0: none)"),
                )
                .args(option_args()),
        )
        .subcommand(
            Command::new("validate")
                .about("Check a configuration offline (no token needed, nothing contacted)")
                .arg(Arg::new("config").long("config").value_name("FILE").help("JSON file of options"))
                .args(option_args()),
        )
        .subcommand(
            Command::new("sim")
                .about("Run the bundled Slack simulator on 127.0.0.1 (for tests, benchmarks and demos)")
                .long_about(
                    "Run the bundled Slack simulator on 127.0.0.1. It prints `listening on http://127.0.0.1:PORT`\n\
                     on stdout, serves /audit/v1/logs, /audit/v1/actions, /audit/v1/schemas, /api/team.accessLogs,\n\
                     /api/team.integrationLogs, /sim/stats and /sim/dataset, and stops on SIGTERM/SIGINT or after\n\
                     --duration seconds. Its token is xoxp-sim-token unless --token is given.",
                )
                .arg(
                    Arg::new("sim_config")
                        .long("sim-config")
                        .value_name("FILE")
                        .help("JSON file of simulator settings"),
                )
                .arg(Arg::new("duration").long("duration").value_name("SECONDS").help("Stop after this many seconds"))
                .args(sim_args()),
        )
}

pub fn main() -> i32 {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::CONFIG } else { exit::OK };
        }
    };
    match matches.subcommand() {
        Some(("run", m)) => match load_config(m) {
            Ok(cfg) => run::run(cfg, m.get_flag("once"), progress_every(m)),
            Err(e) => {
                eprintln!("slack-audit: {e}");
                exit::CONFIG
            }
        },
        Some(("validate", m)) => match load_config(m) {
            Ok(cfg) => {
                println!("configuration is valid: sources {:?}, state_dir {}", cfg.sources, cfg.state_dir.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("slack-audit: {e}");
                exit::CONFIG
            }
        },
        Some(("sim", m)) => run_sim(m),
        _ => exit::CONFIG,
    }
}

fn progress_every(m: &ArgMatches) -> u64 {
    m.get_one::<String>("progress_every").and_then(|s| s.parse().ok()).unwrap_or(10)
}

/// `--config FILE` (JSON), then every option flag given on the command line.
fn load_config(m: &ArgMatches) -> Result<Config, String> {
    let json = match m.get_one::<String>("config") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read --config {path}: {e}"))?,
        None => "{}".to_string(),
    };
    let overrides: Vec<(String, String)> =
        OPTIONS.iter().filter_map(|o| m.get_one::<String>(o.name).map(|v| (o.name.to_string(), v.clone()))).collect();
    Config::from_json(&json, &overrides).map_err(|e| e.0)
}

fn run_sim(m: &ArgMatches) -> i32 {
    let mut value = match m.get_one::<String>("sim_config") {
        Some(path) => match std::fs::read_to_string(path).map(|t| serde_json::from_str::<serde_json::Value>(&t)) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                eprintln!("slack-audit sim: {path} is not valid JSON: {e}");
                return exit::CONFIG;
            }
            Err(e) => {
                eprintln!("slack-audit sim: cannot read {path}: {e}");
                return exit::CONFIG;
            }
        },
        None => serde_json::json!({}),
    };
    let defaults = serde_json::to_value(SimConfig::default()).unwrap_or_default();
    if let (Some(obj), Some(keys)) = (value.as_object_mut(), defaults.as_object()) {
        for key in keys.keys() {
            if let Some(v) = m.get_one::<String>(key.as_str()) {
                let parsed = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone()));
                obj.insert(key.clone(), parsed);
            }
        }
    }
    let config: SimConfig = match serde_json::from_value(value) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("slack-audit sim: bad setting: {e}");
            return exit::CONFIG;
        }
    };
    let duration = m.get_one::<String>("duration").and_then(|d| d.parse().ok());
    match slack_audit::sim::run_cli(config, 0, duration) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("slack-audit sim: {e}");
            exit::CONFIG
        }
    }
}
