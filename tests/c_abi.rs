//! The C ABI from C: tests/c/test_abi.c (plain, ASan/UBSan, valgrind) and the example
//! examples/c/drain.c, against an in-process simulator.

mod cbuild;

use cbuild::{build_c, c_build, describe, have, sanitized, valgrind};
use slack_audit_sim::{Sim, SimConfig};
use std::collections::HashSet;
use std::process::Command;

const START: i64 = 1_650_000_000;
const END: i64 = START + 30 * 86_400;

/// 20,000 spread events plus a burst of 6,000 in one second: bigger than a page (limit 5000).
fn sim() -> Sim {
    Sim::start(SimConfig {
        events: 20_000,
        start: START,
        end: END,
        burst: vec![(START + 86_400, 6_000)],
        seed: 7,
        max_calls_per_minute: 0,
        ..SimConfig::default()
    })
    .expect("sim")
}

fn bad_auth_sim() -> Sim {
    Sim::start(SimConfig {
        events: 10,
        start: START,
        end: END,
        error_mode: Some("invalid_auth".into()),
        ..SimConfig::default()
    })
    .expect("sim")
}

fn run_test_abi(mut cmd: Command, label: &str) {
    let (good, bad) = (sim(), bad_auth_sim());
    let dir = tempfile::tempdir().unwrap();
    let n = good.dataset().len();
    let out = cmd
        .arg(good.audit_url())
        .arg(dir.path())
        .arg(n.to_string())
        .arg(bad.audit_url())
        .env_remove("SLACK_AUDIT_TOKEN")
        .output()
        .expect("run test_abi");
    let text = describe(&out);
    eprintln!("{label}: {text}");
    assert!(out.status.success(), "{label} failed: {text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(last.ends_with(" passed, 0 failed"), "{label}: last line {last:?}");
    assert!(stdout.contains(&format!("drain: {n} events")), "{label}: {stdout}");
}

/// Every check of test_abi.c passes in a plain -O1 build.
#[test]
fn c_abi_plain() {
    build_c();
    run_test_abi(Command::new(c_build().join("test_abi")), "test_abi");
}

/// The same under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included).
#[test]
fn c_abi_asan_ubsan() {
    build_c();
    run_test_abi(sanitized(&c_build().join("test_abi_asan")), "test_abi_asan");
}

/// The same under valgrind: no invalid access, no definite leak.
#[test]
fn c_abi_valgrind() {
    build_c();
    assert!(have("valgrind"), "valgrind is missing: run scripts/install-deps.sh");
    run_test_abi(valgrind(&c_build().join("test_abi")), "test_abi under valgrind");
}

/// The example program drains the dataset once: every id exactly once on stdout, as NDJSON.
#[test]
fn example_drain_prints_every_event_once() {
    build_c();
    let sim = sim();
    for bin in ["drain", "drain_asan"] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            r#"{{"api_url":"{}","state_dir":"{}","limit":5000,"max_calls_per_minute":1000}}"#,
            sim.audit_url(),
            dir.path().display()
        );
        let out = sanitized(&c_build().join(bin))
            .arg(&cfg)
            .env("SLACK_AUDIT_TOKEN", sim.token())
            .output()
            .expect("run drain");
        assert!(out.status.success(), "{bin}: {}", describe(&out));
        let want: HashSet<String> = sim.dataset().into_iter().map(|(id, _)| id).collect();
        let mut got = HashSet::new();
        let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
        for line in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let id = v["id"].as_str().expect("id").to_string();
            assert!(got.insert(id.clone()), "{bin}: duplicate {id}");
        }
        assert_eq!(got.len(), want.len(), "{bin}: {}", describe(&out));
        assert!(got == want, "{bin}: ids differ from the dataset");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("drain: {} events", want.len())));
        // A second run on the same state delivers nothing.
        let again = Command::new(c_build().join(bin)).arg(&cfg).env("SLACK_AUDIT_TOKEN", sim.token()).output().unwrap();
        assert!(again.status.success() && again.stdout.is_empty(), "{bin} rerun: {}", describe(&again));
        // A bad config is an error naming the key, exit 1, nothing on stdout.
        let bad = Command::new(c_build().join(bin)).arg(r#"{"limit":"lots"}"#).output().unwrap();
        assert_eq!(bad.status.code(), Some(1));
        assert!(
            bad.stdout.is_empty() && String::from_utf8_lossy(&bad.stderr).contains("`limit`"),
            "{}",
            describe(&bad)
        );
    }
}
