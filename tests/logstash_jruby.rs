//! The collector under Logstash's `pipe` input on the runtime Logstash runs it on: JRuby
//! (Debian's `jruby`, installed by scripts/install-deps.sh). tests/jruby/pipe_input.rb does what
//! the plugin does (IO.popen, a reader thread in `pipe.each`, stop = SIGKILL + close; it names
//! the plugin's lines) and reports each stop as one JSON line. One JVM runs every scenario (it
//! takes seconds to start):
//!
//! - stops while the collector is idle, for the three command forms: plain (exec'd by Ruby),
//!   `exec ... 2>>log` and `... 2>>log` (sh -c without exec: the SIGKILL reaches only dash, and
//!   JRuby's close leaves the reader thread blocked in read(2) on the pipe);
//! - a backfill stopped at seeded moments in every form, restarted each time, then drained.
//!
//! Asserted: the collector is gone and the reader thread (the plugin's `run`) has returned
//! within 2 s of each stop (the bound the issue sets; the old binary's orphan stayed for as long
//! as the JVM ran), the state lock is free, no JVM descriptor is open in the collector, and the
//! backfill's union is exact with at most one page repeated per stop. `SLACK_AUDIT_TEST_BIN`
//! runs another build of `slack-audit` (to measure the old one); `SLACK_AUDIT_SEED` replays.

mod common;

use common::logstash::{parse_conf, test_bin, PipeConf};
use common::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: usize = 500;
/// The bound on collector exit and `run` return after a stop.
const BOUND_MS: u64 = 2000;

fn conf() -> PipeConf {
    parse_conf(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/logstash-example.conf")).unwrap())
}

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool} >/dev/null 2>&1")).status().is_ok_and(|s| s.success())
}

/// SLACK_AUDIT_* settings for one state_dir and simulator, and PATH finding the binary (the
/// Logstash service's environment).
fn env(sim: &slack_audit_sim::Sim, state: &Path, extra: &[(&str, &str)]) -> Value {
    let bin = test_bin();
    let dir = bin.parent().unwrap();
    assert_eq!(bin.file_name().unwrap(), "slack-audit", "the commands call `slack-audit` through PATH");
    let mut e = serde_json::Map::new();
    e.insert("PATH".into(), format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()).into());
    e.insert("SLACK_AUDIT_TOKEN".into(), TOKEN.into());
    e.insert("SLACK_AUDIT_API_URL".into(), sim.audit_url().into());
    e.insert("SLACK_AUDIT_STATE_DIR".into(), state.display().to_string().into());
    e.insert("SLACK_AUDIT_LAG".into(), "0".into());
    for (k, v) in extra {
        e.insert(k.to_string(), v.to_string().into());
    }
    Value::Object(e)
}

/// True when every lock file of `state` can be taken now (no collector holds it).
fn locks_free(state: &Path) -> Result<usize, String> {
    let mut n = 0;
    for e in std::fs::read_dir(state).map_err(|e| format!("{}: {e}", state.display()))?.flatten() {
        if e.path().extension().is_some_and(|x| x == "lock") {
            let f = std::fs::File::open(e.path()).unwrap();
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                return Err(format!(
                    "{} is still locked: {}",
                    e.path().display(),
                    std::fs::read_to_string(e.path()).unwrap_or_default()
                ));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// What is wrong with one stop's report: the collector not gone, the reader thread not
/// returned or the lock not free within the bound; JVM descriptors in the collector.
fn check_stop(r: &Value, logs: &str, failures: &mut Vec<String>) {
    let what = format!("{} stop of the {} form", r["scenario"], r["form"]);
    let mut bad = Vec::new();
    for (key, name) in [
        ("gone_ms", "collector gone"),
        ("reader_ms", "reader thread (`run`) returned"),
        ("lock_free_ms", "state lock free"),
    ] {
        if r[key].as_u64().is_none_or(|t| t > BOUND_MS) {
            bad.push(format!("{name} not within {BOUND_MS} ms"));
        }
    }
    if r["lock_files"].as_u64().unwrap_or(0) == 0 {
        bad.push("no lock file in state_dir".into());
    }
    if r["jvm_fds_in_collector"] != json!([]) {
        bad.push(format!("JVM descriptors open in the collector: {}", r["jvm_fds_in_collector"]));
    }
    if !bad.is_empty() {
        failures.push(format!("{what}: {}\n  report {r}\n  collector stderr (last lines):\n{logs}", bad.join("; ")));
    }
}

fn tail(path: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn jruby_pipe_input_stops_every_command_form_promptly_and_loses_nothing() {
    assert!(have("jruby"), "jruby is missing: run scripts/install-deps.sh (installs Debian's jruby)");
    let conf = conf();
    let seed = seed();
    eprintln!("seed {seed} (replay with SLACK_AUDIT_SEED={seed}); binary {}", test_bin().display());
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("collector.log");
    let plain = conf.command.clone();
    let forms = [
        ("plain", plain.clone()),
        ("exec", format!("exec {plain} --log-level debug 2>>{}", log.display())),
        ("sh", format!("{plain} --log-level debug 2>>{}", log.display())),
    ];
    assert_eq!(common::logstash::popen_argv(&forms[0].1)[0], "slack-audit", "the conf's command is exec'd by Ruby");
    assert_eq!(common::logstash::popen_argv(&forms[2].1)[0], "/bin/sh", "a redirect makes Ruby use the shell");

    let small = sim(300, 0, |_| {});
    let idle: Vec<Value> = forms
        .iter()
        .map(|(form, command)| {
            let state = dir.path().join(format!("idle-{form}"));
            json!({"form": form, "command": command, "events": 300, "idle_s": 0.5,
                   "env": env(&small, &state, &[("SLACK_AUDIT_INTERVAL", "3600")]), "state": state})
        })
        .collect();

    let big = sim(18_000, 2_000, |c| {
        c.slow_ms = 20;
        c.max_calls_per_minute = 0; // no 429 pauses: this test is about stops
    });
    let expected = big.dataset();
    let bf_state = dir.path().join("backfill");
    let mut at = 0;
    let stops: Vec<Value> = (0..6)
        .map(|k| {
            at += 500 + rng.below(3 * LIMIT);
            let (form, command) = &forms[(k + 2) % 3]; // sh, plain, exec, sh, plain, exec
            json!({"form": form, "command": command, "at": at})
        })
        .collect();
    let lines_file = dir.path().join("lines.ndjson");
    let params = json!({
        "give_up_s": 5,
        "idle": idle,
        "backfill": {
            "env": env(&big, &bf_state, &[("SLACK_AUDIT_LIMIT", &LIMIT.to_string()), ("SLACK_AUDIT_INTERVAL", "3600"), ("SLACK_AUDIT_MAX_CALLS_PER_MINUTE", "1000")]),
            "stops": stops, "final_command": forms[0].1, "lines_file": lines_file,
            "expected": expected.len(), "quiet_s": 15, "slow_s": 0.002, "restart_s": 0.2,
        },
    });
    let params_file = dir.path().join("params.json");
    std::fs::write(&params_file, params.to_string()).unwrap();

    let jruby_err = dir.path().join("jruby.stderr");
    let mut jruby = Command::new("jruby")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jruby/pipe_input.rb"))
        .arg(&params_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&jruby_err).unwrap())
        .spawn()
        .expect("start jruby");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = jruby.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    loop {
        let line = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(l) => l,
            Err(e) => {
                let _ = jruby.kill();
                let _ = jruby.wait();
                panic!(
                    "jruby: no report ({e:?}); failures so far: {failures:#?}\nits stderr:\n{}",
                    tail(&jruby_err, 40)
                );
            }
        };
        let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("jruby printed {line:?}: {e}"));
        eprintln!("{r}");
        let state = match r["scenario"].as_str() {
            Some("done") => break,
            Some("idle") => {
                assert_eq!(r["drained"], json!(true), "the {} form never delivered its 300 events: {r}", r["form"]);
                PathBuf::from(idle.iter().find(|i| i["form"] == r["form"]).unwrap()["state"].as_str().unwrap())
            }
            Some("stop") => {
                assert_eq!(
                    r["reached"],
                    json!(true),
                    "stop before {} lines never came: {r}\n{}",
                    r["at"],
                    tail(&log, 20)
                );
                bf_state.clone()
            }
            Some("final") => bf_state.clone(),
            _ => panic!("unknown report {r}"),
        };
        check_stop(&r, &tail(&log, 12), &mut failures);
        // and with flock(2) itself (the collector is gone by now, or was killed after 5 s)
        if let Err(e) = locks_free(&state) {
            failures.push(format!("after the {} stop of the {} form: {e}", r["scenario"], r["form"]));
        }
        reports.push(r);
    }
    let status = jruby.wait().unwrap();
    assert!(status.success(), "jruby exited {status}: {}", tail(&jruby_err, 40));
    for form in ["plain", "exec", "sh"] {
        assert!(
            reports.iter().any(|r| r["scenario"] == "idle" && r["form"] == form),
            "no idle stop of the {form} form"
        );
    }

    // The backfill's union, as Logstash queued it: every event, ≤ one page repeated per stop.
    let text = std::fs::read_to_string(&lines_file).unwrap();
    let mut got = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("half or bad line {line:?}: {e}"));
        got.push(v["id"].as_str().expect("entry id").to_string());
    }
    let n_stops = reports.iter().filter(|r| r["scenario"] == "stop").count();
    assert_eq!(n_stops, 6);
    let dups = compare(&got, &expected);
    eprintln!(
        "backfill: {} lines, {} distinct of {}, {n_stops} stops, {dups} repeats (bound {})",
        got.len(),
        expected.len(),
        expected.len(),
        n_stops * LIMIT
    );
    assert!(failures.is_empty(), "{} of {} stops failed:\n{}", failures.len(), reports.len(), failures.join("\n"));
    assert!(dups <= n_stops * LIMIT, "{dups} repeats for {n_stops} stops of pages of {LIMIT}");
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logs.contains("inherited descriptor"), "the debug line about closed descriptors: {logs}");
}
