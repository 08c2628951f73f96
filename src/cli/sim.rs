//! `slack-audit sim`: the bundled Slack simulator (the `slack-audit-sim` crate) as a subcommand,
//! for `make demo`, `make bench` and trying the collector without a Slack account. Built only
//! with the `sim` feature (the default); the library and the C ABI never link the simulator.

use clap::{Arg, ArgAction, ArgMatches, Command};
use slack_audit_sim::SimConfig;

use super::exit;
use slack_audit::error::ErrorKind;

/// The subcommand: one flag per `SimConfig` setting, plus `--sim-config FILE` and `--duration`.
pub fn command() -> Command {
    Command::new("sim")
        .about("Run the bundled Slack simulator on 127.0.0.1 (for tests, benchmarks and demos)")
        .long_about(
            "Run the bundled Slack simulator on 127.0.0.1. It prints `listening on http://127.0.0.1:PORT`\n\
             on stdout, serves /audit/v1/logs, /audit/v1/actions, /audit/v1/schemas, /api/team.accessLogs,\n\
             /api/team.integrationLogs, /sim/stats and /sim/dataset, and stops on SIGTERM/SIGINT or after\n\
             --duration seconds. Its token is xoxp-sim-token unless --token is given.",
        )
        .arg(Arg::new("sim_config").long("sim-config").value_name("FILE").help("JSON file of simulator settings"))
        .arg(Arg::new("duration").long("duration").value_name("SECONDS").help("Stop after this many seconds"))
        .args(sim_args())
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

pub fn run(m: &ArgMatches) -> i32 {
    let mut value = match m.get_one::<String>("sim_config") {
        Some(path) => match std::fs::read_to_string(path).map(|t| serde_json::from_str::<serde_json::Value>(&t)) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                eprintln!("slack-audit sim: {path} is not valid JSON: {e}");
                return exit::code(ErrorKind::Config);
            }
            Err(e) => {
                eprintln!("slack-audit sim: cannot read {path}: {e}");
                return exit::code(ErrorKind::Config);
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
            return exit::code(ErrorKind::Config);
        }
    };
    let duration = m.get_one::<String>("duration").and_then(|d| d.parse().ok());
    match slack_audit_sim::run_cli(config, 0, duration) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("slack-audit sim: {e}");
            exit::code(ErrorKind::Config)
        }
    }
}
