//! The Fluent Bit plugin (fluent-bit-plugin/slack_audit.so) loaded by tests/c/flb_host.c, a host
//! that behaves like Fluent Bit's proxy loader, against an in-process simulator.

mod cbuild;
mod flb;

use cbuild::{build_c, c_build, describe, have, root, valgrind};
use flb::{host, plugin, records, run};
use slack_audit_sim::{Sim, SimConfig};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const START: i64 = 1_650_000_000;
const END: i64 = START + 30 * 86_400;
const LIMIT: usize = 5000;

fn sim_with(events: usize, burst: usize, slow_ms: u64) -> Sim {
    Sim::start(SimConfig {
        events,
        start: START,
        end: END,
        burst: if burst > 0 { vec![(START + 86_400, burst)] } else { Vec::new() },
        seed: 11,
        max_calls_per_minute: 0,
        slow_ms,
        ..SimConfig::default()
    })
    .expect("sim")
}

/// The properties every instance gets: the sim, a state dir, pages of 5000, no budget waits.
fn props(sim: &Sim, state: &Path) -> Vec<String> {
    flb::props(sim, state, LIMIT)
}

/// Every (id, date_create) of the dataset exactly once, nothing else.
fn assert_exactly_once(sim: &Sim, got: &[(String, i64, String)]) {
    let want: HashMap<String, i64> = sim.dataset().into_iter().collect();
    let mut seen = HashSet::new();
    for (id, t, _) in got {
        assert!(seen.insert(id.clone()), "duplicate id {id}");
        assert_eq!(want.get(id), Some(t), "id {id}: wrong or unknown time");
    }
    assert_eq!(seen.len(), want.len(), "missing {} ids", want.len() - seen.len());
}

/// A full drain through the proxy interface, with a pause midway: every id once, EventTime ==
/// date_create, nothing handed over while paused, Exit quick.
#[test]
fn full_drain_with_pause() {
    build_c();
    let sim = sim_with(20_000, 6_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let n = sim.dataset().len();
    let r = run(
        host(),
        &["-n", &n.to_string(), "-t", "60000", "-P", "2:400"],
        &[(&out, props(&sim, &dir.path().join("state")))],
        sim.token(),
    );
    eprintln!("{}", describe(&r.out));
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert_eq!(r.get(0, "events") as usize, n);
    assert_eq!(r.get(0, "paused_data"), 0.0);
    assert!(r.get(0, "exit_ms") < 1000.0, "{}", describe(&r.out));
    assert_exactly_once(&sim, &records(&out));
    assert!(String::from_utf8_lossy(&r.out.stderr).contains("[info] [slack_audit #"), "no host log lines");
}

/// A callback far faster than Fluent Bit's (1 ms instead of 1 s) against a simulator that answers
/// at once: the plugin hands over at most one batch per ring drain period, so the ring holds
/// about one page's copy instead of every page fetched between two drains (20 pages of 500
/// here, which would all be in it; Fluent Bit's copies are the host's share of peak RSS).
#[test]
fn a_fast_callback_does_not_pile_pages_up_in_the_ring() {
    build_c();
    let sim = sim_with(10_000, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let n = sim.dataset().len();
    let r = run(
        host(),
        &["-c", "1", "-n", &n.to_string(), "-t", "60000"],
        &[(&out, flb::props(&sim, &dir.path().join("state"), 500))],
        sim.token(),
    );
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert_exactly_once(&sim, &records(&out));
    assert!(r.get(0, "handed") >= 20.0, "{}", describe(&r.out));
    // One per drain period (300 ms apart vs a 250 ms drain); 3 leaves room for a drain delayed
    // by a loaded machine.
    assert!(r.get(0, "ring_peak_entries") <= 3.0, "pages piled up in the ring: {}", describe(&r.out));
}

/// A crash (no PreExit/Exit) once three batches are in chunks, with Fluent Bit's 1 s callback,
/// then a restart on the same state: nothing missing, and only the batches not yet acknowledged
/// (the last two: a batch is acknowledged two callbacks after its hand-over) come again.
#[test]
fn restart_resumes_from_the_checkpoint() {
    build_c();
    let sim = sim_with(30_000, 6_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (out1, out2) = (dir.path().join("1.txt"), dir.path().join("2.txt"));
    let r1 = run(host(), &["-c", "1000", "-b", "3", "-X", "-t", "60000"], &[(&out1, props(&sim, &state))], sim.token());
    eprintln!("{}", describe(&r1.out));
    assert!(r1.out.status.success(), "{}", describe(&r1.out));
    let first = records(&out1);
    assert_eq!(r1.get(0, "batches"), 3.0);
    assert!(first.len() < sim.dataset().len());
    let r2 = run(host(), &["-w", "2500", "-t", "60000"], &[(&out2, props(&sim, &state))], sim.token());
    assert!(r2.out.status.success(), "{}", describe(&r2.out));
    let second = records(&out2);
    let ids1: HashSet<&String> = first.iter().map(|r| &r.0).collect();
    let dups = second.iter().filter(|r| ids1.contains(&r.0)).count();
    eprintln!("restart: first run {} events, second {}, duplicates {dups}", first.len(), second.len());
    assert!(dups > 0 && dups <= 2 * LIMIT, "duplicates {dups}: expected the two unacknowledged batches");
    let mut union: Vec<_> = first.into_iter().filter(|r| !second.iter().any(|s| s.0 == r.0)).collect();
    union.extend(second);
    assert_exactly_once(&sim, &union);
}

/// Two instances in one process, each with its own state and filter, side by side.
#[test]
fn two_instances_side_by_side() {
    build_c();
    let sim = sim_with(20_000, 6_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let pa = props(&sim, &dir.path().join("a"));
    let mut pb = props(&sim, &dir.path().join("b"));
    pb.push("actions=user_login".into());
    let r = run(host(), &["-w", "2500", "-t", "60000"], &[(&out_a, pa), (&out_b, pb)], sim.token());
    eprintln!("{}", describe(&r.out));
    assert!(r.out.status.success(), "{}", describe(&r.out));
    let (a, b) = (records(&out_a), records(&out_b));
    assert_exactly_once(&sim, &a);
    let want: HashSet<&String> = a.iter().filter(|r| r.2 == "user_login").map(|r| &r.0).collect();
    let got: HashSet<&String> = b.iter().map(|r| &r.0).collect();
    assert!(!want.is_empty());
    assert_eq!(got.len(), b.len(), "duplicates in the filtered instance");
    assert!(b.iter().all(|r| r.2 == "user_login"), "the filter let other actions through");
    assert_eq!(got, want, "the filtered instance missed or added events");
    for i in 0..2 {
        assert!(r.get(i, "exit_ms") < 1000.0);
    }
}

/// A malformed property makes Init fail, with the key and the accepted values in the host log.
#[test]
fn bad_property_fails_init_with_a_clear_message() {
    build_c();
    let sim = sim_with(100, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    for (prop, expect) in [("limit=abc", "`limit`"), ("sources=audit,nope", "`sources`"), ("lag=\"x\\", "`lag`")] {
        let mut p = props(&sim, &dir.path().join("state"));
        p.push(prop.into());
        let r = run(host(), &["-t", "5000"], &[(&out, p)], sim.token());
        let stderr = String::from_utf8_lossy(&r.out.stderr);
        assert_eq!(r.out.status.code(), Some(3), "{prop}: {}", describe(&r.out));
        assert!(stderr.contains("[error]") && stderr.contains(expect), "{prop}: {stderr}");
        assert!(r.out.stdout.starts_with(b"instance 0: init=failed"), "{}", describe(&r.out));
    }
    // A missing token is also an Init failure that says what to set.
    let r = run(host(), &["-t", "5000"], &[(&out, props(&sim, &dir.path().join("state")))], "");
    assert_eq!(r.out.status.code(), Some(3), "{}", describe(&r.out));
    assert!(String::from_utf8_lossy(&r.out.stderr).contains("SLACK_AUDIT_FLB_TEST_TOKEN"), "{}", describe(&r.out));
}

/// Shutdown while every request takes 3 s (a long backfill): callbacks never block and Exit
/// returns well within a second.
#[test]
fn exit_is_prompt_during_a_slow_backfill() {
    build_c();
    let sim = sim_with(200_000, 0, 3000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let t0 = Instant::now();
    let r = run(host(), &["-t", "1500"], &[(&out, props(&sim, &dir.path().join("state")))], sim.token());
    let wall = t0.elapsed();
    eprintln!("{} (wall {wall:?})", describe(&r.out));
    assert!(r.out.status.success(), "{}", describe(&r.out));
    let exit_ms = r.get(0, "exit_ms");
    assert!(exit_ms < 700.0, "Exit took {exit_ms} ms");
    assert!(r.get(0, "max_callback_ms") < 100.0, "a callback blocked: {}", describe(&r.out));
    assert!(wall.as_secs_f64() < 4.0, "the host took {wall:?} to stop");
}

/// The plugin under valgrind: a drain with a pause, two instances; no invalid access, no
/// definite leak (errors make valgrind exit 99).
#[test]
fn plugin_under_valgrind() {
    build_c();
    assert!(have("valgrind"), "valgrind is missing: run scripts/install-deps.sh");
    let sim = sim_with(6_000, 6_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let mut pb = props(&sim, &dir.path().join("b"));
    pb.push("actions=user_login".into());
    let r = run(
        valgrind(&c_build().join("flb_host")),
        &["-w", "3000", "-t", "120000", "-P", "1:200"],
        &[(&out_a, props(&sim, &dir.path().join("a"))), (&out_b, pb)],
        sim.token(),
    );
    eprintln!("{}", describe(&r.out));
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert_exactly_once(&sim, &records(&out_a));
}

/// The plugin reads every option of the table, under the same names: its property list comes
/// from the library (slack_audit_option_name), each property is passed to the library's config
/// builder, and Init logs the names it passed.
#[test]
fn plugin_option_list_matches_the_option_table() {
    build_c();
    let sim = sim_with(100, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", sim.token())).unwrap();
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let state = dir.path().join("state");
    let ca = dir.path().join("ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA", "-keyout"])
        .arg(dir.path().join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("openssl: run scripts/install-deps.sh");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // A valid value for every option (not necessarily its default).
    let values: HashMap<&str, String> = [
        ("token", sim.token().to_string()),
        ("token_env", flb::TOKEN_ENV.to_string()),
        ("token_file", token_file.display().to_string()),
        ("api_url", sim.audit_url()),
        ("web_api_url", sim.web_url()),
        ("sources", "audit".into()),
        ("actions", "user_login".into()),
        ("exclude_actions", "file_downloaded".into()),
        ("actor", "W0".into()),
        ("entity", "E0".into()),
        ("since", "2020-01-01T00:00:00Z".into()),
        ("state_dir", state.display().to_string()),
        ("lock_wait", "1".into()),
        ("limit", "77".into()),
        ("interval", "5m".into()),
        ("lag", "1".into()),
        ("overlap", "60".into()),
        ("max_calls_per_minute", "1000".into()),
        ("web_max_calls_per_minute", "10".into()),
        ("timeout", "20".into()),
        ("max_retries", "3".into()),
        ("stall_warning_after", "1h".into()),
        ("format", "ecs".into()),
        ("ca_file", ca.display().to_string()),
        // A proxy that is not there, bypassed for the simulator.
        ("proxy", "http://user:pw@127.0.0.1:1".into()),
        ("no_proxy", "127.0.0.1".into()),
        ("tls_insecure", "false".into()),
    ]
    .into_iter()
    .collect();
    let names: Vec<&str> = slack_audit::config::OPTIONS.iter().map(|o| o.name).collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !values.contains_key(**n)).collect();
    assert!(missing.is_empty(), "give this test a valid value for {missing:?}");
    let props: Vec<String> = names.iter().map(|n| format!("{n}={}", values[n])).collect();
    let out = dir.path().join("out.txt");
    let r = run(host(), &["-t", "1500"], &[(&out, props)], sim.token());
    let stderr = r.stderr();
    assert!(r.out.status.success(), "{}", describe(&r.out));
    let line =
        stderr.lines().find(|l| l.contains("options set from properties: ")).unwrap_or_else(|| panic!("{stderr}"));
    let listed = line.split_once("options set from properties: ").unwrap().1.split(" (").next().unwrap();
    assert_eq!(
        listed.split(", ").collect::<Vec<_>>(),
        names,
        "the plugin's property list differs from config::OPTIONS"
    );
    assert!(!stderr.contains(sim.token()), "the token reached a log line: {stderr}");
}

/// Only the FLB* entry points are exported by the deployable .so.
#[test]
fn plugin_exports_only_the_proxy_symbols() {
    build_c();
    assert!(have("nm"), "nm (binutils, installed with the C compiler) is missing: run scripts/install-deps.sh");
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(plugin()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert!(names.len() >= 9 && names.iter().all(|n| n.starts_with("FLBPlugin")), "{names:?}");
    assert!(root().join("target/release/slack_audit.so").exists());
}

/// A token Slack refuses: Init succeeds (the token is only checked by Slack), then the plugin
/// logs one error that says what to fix, stops collecting, and still exits promptly.
#[test]
fn permanent_error_is_logged_once_and_collecting_stops() {
    build_c();
    let sim = Sim::start(SimConfig {
        events: 100,
        start: START,
        end: END,
        error_mode: Some("invalid_auth".into()),
        ..SimConfig::default()
    })
    .expect("sim");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let r = run(host(), &["-t", "2000"], &[(&out, props(&sim, &dir.path().join("state")))], sim.token());
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    assert!(r.out.status.success(), "{}", describe(&r.out));
    assert_eq!(r.get(0, "events"), 0.0);
    let stopped: Vec<&str> = stderr.lines().filter(|l| l.contains("collecting stopped until restart")).collect();
    assert_eq!(stopped.len(), 1, "{stderr}");
    assert!(stopped[0].contains("[error]") && stopped[0].contains("token"), "{stderr}");
    assert!(!stderr.contains(sim.token()), "the token reached the log");
    assert!(r.get(0, "exit_ms") < 1000.0);
}

/// The shipped .so carries no DWARF (`make plugin` strips it) but points to its debug file.
#[test]
fn plugin_is_stripped_and_links_its_debug_info() {
    build_c();
    assert!(have("readelf"), "readelf (binutils) is missing: run scripts/install-deps.sh");
    let sections = |p: &Path| {
        let out = Command::new("readelf").args(["-S", "-W"]).arg(p).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shipped = sections(&plugin());
    assert!(!shipped.contains(".debug_info") && !shipped.contains(".symtab"), "not stripped:\n{shipped}");
    assert!(shipped.contains(".gnu_debuglink"), "no debug link:\n{shipped}");
    let debug = root().join("fluent-bit-plugin/build/slack_audit.so.debug");
    assert!(sections(&debug).contains(".debug_info"), "{} holds no debug info", debug.display());
}

/// With `threaded off` every input shares Fluent Bit's engine thread, where the proxy interface
/// cannot tell two instances apart: the second is refused at Init, with a message that says why.
#[test]
fn two_instances_with_threaded_off_are_refused_clearly() {
    build_c();
    let sim = sim_with(1_000, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let (pa, pb) = (props(&sim, &dir.path().join("a")), props(&sim, &dir.path().join("b")));
    let r = run(host(), &["-T", "off", "-t", "3000"], &[(&out_a, pa), (&out_b, pb)], sim.token());
    assert_eq!(r.out.status.code(), Some(3), "{}", describe(&r.out));
    assert_eq!(r.summaries[0]["init"], "ok");
    assert_eq!(r.summaries[1]["init"], "failed");
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    assert!(stderr.contains("[error]") && stderr.contains("'threaded off' on at most one"), "{stderr}");
}
