//! `logstash-example.conf` as shipped, run the way Logstash 8's `pipe` input runs it (the
//! harness in tests/common/logstash.rs names the plugin lines it reproduces): its exact
//! command and codec, settings from SLACK_AUDIT_* variables, stopped with SIGKILL and a close
//! that drops unread data, restarted after a sleep.

mod common;

use common::logstash::*;
use common::*;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn conf() -> PipeConf {
    parse_conf(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/logstash-example.conf")).unwrap())
}

/// The environment of the Logstash service: PATH finds `slack-audit`, the rest is SLACK_AUDIT_*.
fn env(sim: &slack_audit_sim::Sim, state: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let bin = test_bin();
    assert_eq!(bin.file_name().unwrap(), "slack-audit", "the commands call `slack-audit` through PATH");
    let bin_dir = bin.parent().unwrap().to_path_buf();
    let mut e = vec![
        ("PATH".to_string(), format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default())),
        ("SLACK_AUDIT_TOKEN".into(), TOKEN.into()),
        ("SLACK_AUDIT_API_URL".into(), sim.audit_url()),
        ("SLACK_AUDIT_STATE_DIR".into(), state.display().to_string()),
        ("SLACK_AUDIT_LAG".into(), "0".into()),
    ];
    e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    e
}

/// The field the conf uses as the Elasticsearch document id, traced back through its
/// `mutate { copy => ... }` to the decoded event: e.g. `[slack][audit][id]`.
fn id_field(conf: &PipeConf) -> String {
    let line = conf.text.lines().find(|l| l.trim_start().starts_with("document_id")).expect("document_id");
    let doc = line.split("%{").nth(1).and_then(|s| s.split('}').next()).expect("document_id => \"%{[field]}\"");
    let copy = conf
        .text
        .lines()
        .find(|l| l.contains("=>") && l.trim_end().ends_with(&format!("\"{doc}\"")))
        .map(|l| l.split('"').nth(1).unwrap().to_string());
    copy.unwrap_or_else(|| doc.to_string())
}

/// The field the conf's date filter reads `date_create` from.
fn date_field(conf: &PipeConf) -> String {
    let line =
        conf.text.lines().find(|l| l.trim_start().starts_with("match") && l.contains("UNIX")).expect("date match");
    line.split('"').nth(1).unwrap().to_string()
}

fn ids(events: &[serde_json::Value], field: &str) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            get(e, field).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("event without {field}: {e}")).to_string()
        })
        .collect()
}

/// Polls `done` every 10 ms; panics with `what` and the command's stderr after `limit`.
fn wait_for(limit: Duration, what: &str, stderr: &Path, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        if t0.elapsed() > limit {
            panic!("{what}: not within {limit:?}\nstderr:\n{}", std::fs::read_to_string(stderr).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `want` distinct ids arrived, or nothing arrived for 15 s (the caller's compare
/// then names what is missing).
fn wait_until_complete_or_quiet(pipe: &Pipe, id: &str, want: usize, stderr: &Path) {
    let (mut seen, mut since) = (0, Instant::now());
    wait_for(Duration::from_secs(180), "every event", stderr, || {
        let n = pipe.event_count();
        if n != seen {
            (seen, since) = (n, Instant::now());
        }
        since.elapsed() > Duration::from_secs(15)
            || ids(&pipe.events(), id).into_iter().collect::<HashSet<_>>().len() >= want
    });
}

/// The settings the conf's comments tell users to set are real options.
#[test]
fn the_conf_documents_real_settings_and_a_working_codec() {
    let conf = conf();
    let options: Vec<String> =
        slack_audit::config::OPTIONS.iter().map(|o| format!("SLACK_AUDIT_{}", o.name.to_ascii_uppercase())).collect();
    assert!(conf.env_vars.contains(&"SLACK_AUDIT_TOKEN".to_string()), "{:?}", conf.env_vars);
    assert!(conf.env_vars.contains(&"SLACK_AUDIT_STATE_DIR".to_string()), "{:?}", conf.env_vars);
    for v in &conf.env_vars {
        assert!(
            options.contains(v) || v == "SLACK_AUDIT_CONFIG" || v.ends_with('_'),
            "logstash-example.conf mentions {v}, which is not an option"
        );
    }
    // json_lines never emits on the pipe input (see json_lines_emits_nothing_on_the_pipe_input)
    assert!(
        matches!(conf.codec, Codec::Json { .. }),
        "the pipe input chomps lines: use codec json, not {:?}",
        conf.codec
    );
    assert!(!conf.text.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("json_lines")));
    // exec'd directly by Ruby's popen rule: the SIGKILL reaches the collector itself
    assert!(popen_argv(&conf.command)[0] == "slack-audit", "{:?}", popen_argv(&conf.command));
    assert!(!conf.command.contains("--once"), "the pipe input re-runs a --once command every 10 s");
    // the documented shell variant starts with exec
    assert!(conf.commented_commands.iter().any(|c| c.starts_with("exec ")), "{:?}", conf.commented_commands);
}

/// The conf as shipped, killed by Logstash (SIGKILL + close) at seeded moments of a backfill,
/// restarted each time: every event arrives, repeats stay within one page per kill, and the
/// filters' fields are where the conf says.
#[test]
fn shipped_conf_loses_nothing_when_logstash_kills_it_mid_backfill() {
    let conf = conf();
    let seed = seed();
    eprintln!("seed {seed} (replay with SLACK_AUDIT_SEED={seed})");
    let mut rng = Rng(seed);
    let s = sim(15_000, 2_000, |c| {
        c.slow_ms = 40;
        c.max_calls_per_minute = 0; // no 429 pauses: this test is about kills
    });
    let expected = s.dataset();
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let limit = 500;
    let mut pipe = Pipe::new(
        &conf.command,
        conf.codec.clone(),
        env(
            &s,
            &dir.path().join("state"),
            // The budget is shared by the restarted collectors through state_dir: at the default
            // 50/min the last session would wait out the earlier sessions' calls, which this test
            // would read as "quiet". This test is about kills, so the budget is out of the way.
            &[
                ("SLACK_AUDIT_LIMIT", "500"),
                ("SLACK_AUDIT_INTERVAL", "3600"),
                ("SLACK_AUDIT_MAX_CALLS_PER_MINUTE", "1000"),
            ],
        ),
        stderr.clone(),
    );
    pipe.restart_sleep = Duration::from_millis(200);
    let kills = 8;
    for k in 0..kills {
        let at = pipe.event_count() + 1 + rng.below(3 * limit);
        // After the first session the pipeline lags behind the collector, so the pipe is full
        // when the kill comes: what was written but not read must not have been acknowledged.
        pipe.slow_reader = (k > 0).then(|| Duration::from_millis(2));
        let session = pipe.start();
        wait_for(Duration::from_secs(120), &format!("kill {k}: {at} events"), &stderr, || pipe.event_count() >= at);
        session.stop();
        std::thread::sleep(pipe.restart_sleep);
    }
    let id = id_field(&conf);
    pipe.slow_reader = None;
    let session = pipe.start();
    wait_until_complete_or_quiet(&pipe, &id, expected.len(), &stderr);
    session.stop();
    let events = pipe.events();
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    eprintln!("collector stderr (last lines):\n{}", log.lines().rev().take(12).collect::<Vec<_>>().join("\n"));
    // whole-line atomic writes: a kill never leaves half a line (sim lines are under PIPE_BUF)
    let failures: Vec<&serde_json::Value> = events.iter().filter(|e| get(e, "tags").is_some()).collect();
    assert!(failures.is_empty(), "{} _jsonparsefailure events, e.g. {:?}", failures.len(), failures.first());
    let got = ids(&events, &id);
    let dups = compare(&got, &expected);
    eprintln!("{} events, {} kills, {dups} repeats (bound {})", got.len(), kills, kills * limit);
    assert!(dups <= kills * limit, "{dups} repeats for {kills} kills of pages of {limit}");
    // @timestamp comes from this field: every event has it, as Slack's date_create
    let times: std::collections::HashMap<&str, i64> = expected.iter().map(|(i, t)| (i.as_str(), *t)).collect();
    let date = date_field(&conf);
    for e in &events {
        let i = get(e, &id).unwrap().as_str().unwrap();
        assert_eq!(get(e, &date).and_then(|v| v.as_i64()), Some(times[i]), "{date} of {i}");
    }
}

/// `sh -c` (a redirect) without `exec`: Logstash's SIGKILL reaches only the shell, and (as on
/// JRuby) the input's reader thread, blocked in read(2), keeps the pipe's read end open after
/// `close`. The orphaned collector, idle (caught up, nothing new to write, sleeping through
/// `interval`), sees no POLLERR; it notices that its parent is gone and exits, which ends the
/// reader thread (the plugin's `run`); the restarted command then collects. The conf's `exec`
/// variant makes the kill reach the collector itself.
#[test]
fn orphan_of_a_shell_wrapped_command_exits_and_the_restart_collects() {
    let conf = conf();
    let s = sim(500, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let log = dir.path().join("collector.log");
    let command = format!("{} 2>>{}", conf.command, log.display());
    assert_eq!(popen_argv(&command)[0], "/bin/sh", "a redirect makes Ruby use the shell");
    let mut pipe = Pipe::new(
        &command,
        conf.codec.clone(),
        // the restart keeps the previous poll's schedule: a short interval lets it poll soon
        env(&s, &dir.path().join("state"), &[("SLACK_AUDIT_INTERVAL", "3")]),
        stderr.clone(),
    );
    pipe.restart_sleep = Duration::from_millis(300);
    let id = id_field(&conf);

    let session = pipe.start();
    wait_for(Duration::from_secs(60), "the first 500 events", &log, || pipe.event_count() >= 500);
    // dash does not exec the last command: the collector is the shell's child
    let mut collector = 0;
    wait_for(Duration::from_secs(10), "the collector under sh", &log, || {
        collector = children_of(session.pid()).first().copied().unwrap_or(0);
        collector != 0
    });
    assert_eq!(proc_stat(collector).unwrap().2, "slack-audit");
    std::thread::sleep(Duration::from_millis(300)); // idle: caught up, sleeping through interval
    let t0 = Instant::now();
    let stopped = session.stop(); // kills sh only
    wait_for(Duration::from_secs(10), "the orphaned collector to exit", &log, || !alive(collector));
    eprintln!("orphan {collector} gone {:?} after the stop", t0.elapsed());
    wait_for(Duration::from_secs(10), "the reader thread (`run`) to return", &log, || stopped.reader_returned());
    eprintln!("reader thread returned {:?} after the stop", t0.elapsed());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("the process that started this collector is gone"), "{logs}");

    std::thread::sleep(pipe.restart_sleep);
    let now = slack_audit::config::now_unix();
    let new = s.insert_events(&[now - 30, now - 20, now - 10]);
    let session = pipe.start();
    wait_for(Duration::from_secs(60), "the restart's events", &log, || pipe.event_count() >= 503);
    let collector = children_of(session.pid()).first().copied().unwrap_or(0);
    session.stop();
    wait_for(Duration::from_secs(30), "the second orphan to exit", &log, || collector == 0 || !alive(collector));
    let got = ids(&pipe.events(), &id);
    assert!(new.iter().all(|n| got.contains(n)), "the restarted command collects the new events");
    assert_eq!(compare(&got, &s.dataset()), 0);

    // The conf's documented variant: `exec` makes the shell become the collector.
    let variant = conf.commented_commands.iter().find(|c| c.starts_with("exec ")).expect("an exec variant");
    let variant = match variant.split_once("2>>") {
        Some((cmd, _)) => format!("{cmd}2>>{}", log.display()),
        None => variant.clone(),
    };
    assert_eq!(popen_argv(&variant)[0], "/bin/sh");
    let pipe = Pipe::new(&variant, conf.codec.clone(), pipe.env.clone(), stderr.clone());
    let session = pipe.start();
    let pid = session.pid();
    wait_for(Duration::from_secs(10), "sh to exec slack-audit", &log, || {
        proc_stat(pid).is_some_and(|(_, _, comm)| comm == "slack-audit")
    });
    assert!(children_of(pid).is_empty());
    session.stop();
    assert!(!alive(pid));
}

/// The pipe input removes the newline before the codec: `json_lines` buffers every line and
/// never emits; `json` (the conf's codec) emits one event per line.
#[test]
fn json_lines_emits_nothing_on_the_pipe_input() {
    let conf = conf();
    let s = sim(300, 0, |_| {});
    let Codec::Json { target } = conf.codec.clone() else { panic!("the conf's codec is {:?}", conf.codec) };
    for (codec, want) in [(Codec::JsonLines { target }, 0), (conf.codec.clone(), 300)] {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr.log");
        let pipe = Pipe::new(&conf.command, codec.clone(), env(&s, dir.path(), &[]), stderr.clone());
        let session = pipe.start();
        wait_for(Duration::from_secs(60), "300 lines read", &stderr, || {
            pipe.lines.load(std::sync::atomic::Ordering::SeqCst) >= 300
        });
        std::thread::sleep(Duration::from_millis(300));
        session.stop();
        assert_eq!(pipe.event_count(), want, "{codec:?}");
    }
}

/// SIGTERM sent straight to the collector (not by Logstash): it finishes the page, commits
/// once the reader has it, and exits 0; the restart continues with no repeat at all.
#[test]
fn sigterm_straight_to_the_collector_exits_zero_with_an_exact_union() {
    let conf = conf();
    let seed = seed();
    eprintln!("seed {seed} (replay with SLACK_AUDIT_SEED={seed})");
    let mut rng = Rng(seed);
    let s = sim(10_000, 1_000, |c| {
        c.slow_ms = 40;
        c.max_calls_per_minute = 0;
    });
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let mut pipe = Pipe::new(
        &conf.command,
        conf.codec.clone(),
        env(&s, &dir.path().join("state"), &[("SLACK_AUDIT_LIMIT", "1000")]),
        stderr.clone(),
    );
    pipe.restart_sleep = Duration::from_millis(200);
    let id = id_field(&conf);
    for _ in 0..2 {
        let at = pipe.event_count() + 1 + rng.below(3000);
        let session = pipe.start();
        wait_for(Duration::from_secs(120), &format!("{at} events"), &stderr, || pipe.event_count() >= at);
        // SAFETY: signalling our own child (exec'd directly: the collector itself).
        unsafe { libc::kill(session.pid() as i32, libc::SIGTERM) };
        let status = session.wait_eof(Duration::from_secs(30));
        assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&stderr).unwrap_or_default());
        std::thread::sleep(pipe.restart_sleep);
    }
    let expected = s.dataset();
    let session = pipe.start();
    wait_until_complete_or_quiet(&pipe, &id, expected.len(), &stderr);
    std::thread::sleep(Duration::from_millis(300));
    session.stop();
    assert_eq!(compare(&ids(&pipe.events(), &id), &expected), 0, "SIGTERM must commit exactly what was read");
}

/// A restarted collector that finds the stream still locked waits up to `lock_wait`, then
/// exits 3 naming the process that holds it.
#[test]
fn a_locked_stream_is_waited_for_then_refused_naming_the_holder() {
    let conf = conf();
    let s = sim(50, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let stderr = dir.path().join("stderr.log");
    let env = env(&s, &dir.path().join("state"), &[("SLACK_AUDIT_INTERVAL", "3600"), ("SLACK_AUDIT_LOCK_WAIT", "1")]);
    let holder = Pipe::new(&conf.command, conf.codec.clone(), env.clone(), stderr.clone());
    let session = holder.start();
    wait_for(Duration::from_secs(60), "the holder's events", &stderr, || holder.event_count() >= 50);
    let second = Pipe::new(&conf.command, conf.codec.clone(), env, stderr.clone());
    let status = second.start().wait_eof(Duration::from_secs(30));
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("pid {}: slack-audit run", session.pid())), "{err}");
    assert!(err.contains("lock_wait"), "{err}");
    session.stop();
}
