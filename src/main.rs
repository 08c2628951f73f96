//! The `slack-audit` command: `run` prints Slack entries as NDJSON for pipes (Logstash `pipe`,
//! Fluent Bit `in_exec`, Vector `exec`, cron); `sim` runs the bundled Slack simulator.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
