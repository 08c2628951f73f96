//! Running the Fluent Bit plugin inside tests/c/flb_host.c (a host that stores records the way
//! Fluent Bit's threaded proxy does), shared by tests/fluent_bit_plugin.rs and
//! tests/fluent_bit_durability.rs.
#![allow(dead_code)]

use crate::cbuild::{c_build, describe, root};
use slack_audit_sim::Sim;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The plugin under test: the one `make plugin` builds, or `SLACK_AUDIT_FLB_PLUGIN` (to check
/// that these tests fail against another build, e.g. an older plugin).
pub fn plugin() -> PathBuf {
    std::env::var_os("SLACK_AUDIT_FLB_PLUGIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("fluent-bit-plugin/build/slack_audit.so"))
}

pub const TOKEN_ENV: &str = "SLACK_AUDIT_FLB_TEST_TOKEN";

/// The properties every instance gets: the sim, a state dir, pages of `limit`, no budget waits.
pub fn props(sim: &Sim, state: &Path, limit: usize) -> Vec<String> {
    vec![
        format!("api_url={}", sim.audit_url()),
        format!("state_dir={}", state.display()),
        format!("limit={limit}"),
        "max_calls_per_minute=1000".into(),
        format!("token_env={TOKEN_ENV}"),
    ]
}

pub struct Run {
    pub out: Output,
    /// Per instance: the summary line's key=value pairs.
    pub summaries: Vec<HashMap<String, String>>,
}

impl Run {
    pub fn get(&self, i: usize, key: &str) -> f64 {
        self.summaries
            .get(i)
            .and_then(|s| s.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key}: {}", describe(&self.out)))
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

pub fn host() -> Command {
    Command::new(c_build().join("flb_host"))
}

/// `cmd` (flb_host or valgrind flb_host) with `host_args`, then the plugin, then per instance
/// `-i -o CHUNKS -p …`, with the token in the environment.
pub fn command(mut cmd: Command, host_args: &[&str], instances: &[(&Path, Vec<String>)], token: &str) -> Command {
    cmd.args(host_args).arg(plugin());
    for (out, props) in instances {
        cmd.arg("-i").arg("-o").arg(out);
        for p in props {
            cmd.arg("-p").arg(p);
        }
    }
    cmd.env(TOKEN_ENV, token);
    cmd
}

pub fn parse(out: Output) -> Run {
    let summaries = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("instance "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    Run { out, summaries }
}

pub fn run(cmd: Command, host_args: &[&str], instances: &[(&Path, Vec<String>)], token: &str) -> Run {
    parse(command(cmd, host_args, instances, token).output().expect("run flb_host"))
}

/// Starts the host in the background (stdout and stderr captured).
pub fn spawn(host_args: &[&str], instances: &[(&Path, Vec<String>)], token: &str) -> Child {
    command(host(), host_args, instances, token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flb_host")
}

/// (id, seconds, action) of every complete line of a chunk file.
pub fn records(path: &Path) -> Vec<(String, i64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            let mut it = l.trim_end().split(' ');
            let id = it.next().unwrap().to_string();
            let t = it.next().expect("time").parse().expect("seconds");
            (id, t, it.next().unwrap_or("-").to_string())
        })
        .collect()
}
